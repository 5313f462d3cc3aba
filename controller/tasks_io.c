/*
 * tasks_io.c - sends each probe its task list, and after that only what
 * changes in it.
 *
 * A member that joins, leaves or changes its addresses changes one task in
 * every other probe's list.  Sending every probe its whole list again made
 * a join cost N lists of N-1 tasks, a million at 1,000 probes, all planned
 * and encoded on the loop.  A probe that announced PROTO_CAP_DELTA gets a
 * TASKS_DELTA instead: the tasks to put and the ids to delete, applying to
 * the list of the generation it names.  The probe applies it only to that
 * list (ERROR STALE otherwise, answered with the whole list) and checks its
 * policy on the result, so a delta can do nothing a whole list could not.
 *
 * Per connection we keep the generation the probe runs and its sorted task
 * ids (4 octets a task): enough to delete only what it has, and to keep a
 * list within PROTO_TASKS_MAX, without keeping the tasks themselves.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "log.h"

#define REPLAN_DELAY_MS 100 /* joins and leaves within this share one push */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The roster as the planner reads it; NULL when out of memory. */
static struct ctl_peer *roster_peers(struct ctl *c)
{
    struct ctl_roster *r = &c->roster;
    struct ctl_peer *peers = calloc(r->n ? r->n : 1, sizeof(*peers));

    for (size_t i = 0; peers != NULL && i < r->n; i++)
        peers[i] = (struct ctl_peer){.key = r->v[i].key, .hello = &r->v[i].hello};
    return peers;
}

/* Peer indices sorted by key, to find a member by key in log n. */
static size_t *index_by_key(const struct ctl_peer *peers, size_t n)
{
    size_t *ix = malloc((n ? n : 1) * sizeof(*ix));

    for (size_t i = 0; ix != NULL && i < n; i++) {
        size_t j = i;

        /* Keys arrive mostly in order (the store hands them out rising). */
        for (; j > 0 && peers[ix[j - 1]].key > peers[i].key; j--)
            ix[j] = ix[j - 1];
        ix[j] = i;
    }
    return ix;
}

static size_t find_key(const struct ctl_peer *peers, const size_t *ix, size_t n,
                       int64_t key)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (peers[ix[mid]].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && peers[ix[lo]].key == key ? ix[lo] : CTL_GONE;
}

/* Remembers the ids of the list sent to k; -ENOMEM leaves k without one. */
static int keep_ids(struct ctl_conn *k, const struct proto_task *t, uint32_t n)
{
    uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));

    free(k->ids);
    k->ids = ids;
    k->nids = 0;
    if (ids == NULL) {
        k->list_gen = 0;
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++)
        ids[i] = t[i].id;
    qsort(ids, n, sizeof(*ids), cmp_u32);
    k->nids = n;
    return 0;
}

/* Plans peers[i]'s whole list and sends it on k; its task count, or -errno. */
static int send_list(struct ctl *c, const struct ctl_peer *peers, size_t npeers, size_t i,
                     struct ctl_conn *k)
{
    struct proto_msg m = {.type = PROTO_MSG_TASKS};
    struct ctl_watch *w = ctl_watch_of(c, k->hello.probe_id);
    struct proto_tasks *tl = &m.u.tasks;
    int rc = ctl_plan_tasks(peers, npeers, i, &c->cfg, c->generation, tl);

    if (rc == 0 && w == NULL)
        rc = -ENOMEM;
    if (rc == 0)
        rc = ctl_conn_send(k, &m);
    /* What the probe runs changes only with what was sent. */
    if (rc == 0 && (rc = keep_ids(k, tl->tasks, tl->ntasks)) == 0) {
        ctl_watch_given(w, tl->tasks, tl->ntasks, tl->ntasks);
        k->list_gen = c->generation;
        k->last_delta = 0;
        rc = (int)tl->ntasks;
    }
    if (rc < 0) {
        k->list_gen = 0;
        log_error("probe %s: its task list of generation %llu was not sent: %s",
                  k->hello.probe_id, (unsigned long long)c->generation, strerror(-rc));
    }
    free(tl->tasks);
    return rc;
}

/* k's ids after delta d: those deleted out, those put in. */
static int patch_ids(struct ctl_conn *k, const struct proto_tasks *d)
{
    size_t n = 0, cap = k->nids + d->ntasks;
    uint32_t *ids = malloc((cap ? cap : 1) * sizeof(*ids));

    if (ids == NULL)
        return -ENOMEM;
    /* Both arrays exist (malloc'd with room for one) though they may be empty. */
    for (size_t i = 0; i < k->nids; i++)
        if (bsearch(&k->ids[i], d->del, d->ndel, sizeof(*d->del), cmp_u32) == NULL)
            ids[n++] = k->ids[i];
    for (uint32_t i = 0; i < d->ntasks; i++)
        if (bsearch(&d->tasks[i].id, k->ids, k->nids, sizeof(*ids), cmp_u32) == NULL)
            ids[n++] = d->tasks[i].id;
    qsort(ids, n, sizeof(*ids), cmp_u32);
    free(k->ids);
    k->ids = ids;
    k->nids = n;
    return 0;
}

/*
 * Sends k, peers[i]'s connection, the delta of changes; nothing when it
 * changes nothing.  How many tasks it put and deleted in *put and *del;
 * 0, or -errno and k then gets its whole list at the next re-plan.
 */
static int send_delta(struct ctl *c, const struct ctl_peer *peers, size_t i,
                      const struct ctl_change *changes, size_t nchanges,
                      struct ctl_conn *k, size_t *put, size_t *del)
{
    struct proto_msg m = {.type = PROTO_MSG_TASKS_DELTA};
    struct proto_tasks *d = &m.u.tasks;
    struct ctl_watch *w = ctl_watch_of(c, k->hello.probe_id);
    int rc = ctl_plan_delta(peers, i, &c->cfg, changes, nchanges, k->ids, k->nids, d);

    if (rc == 0 && w == NULL)
        rc = -ENOMEM;
    if (rc == 0 && (d->ntasks > 0 || d->ndel > 0)) {
        qsort(d->del, d->ndel, sizeof(*d->del), cmp_u32);
        d->base = k->list_gen;
        d->generation = c->generation;
        rc = ctl_conn_send(k, &m);
        if (rc == 0)
            rc = patch_ids(k, d);
    }
    if (rc == 0 && (d->ntasks > 0 || d->ndel > 0)) {
        ctl_watch_given(w, d->tasks, d->ntasks, (uint32_t)k->nids);
        k->list_gen = c->generation;
        k->last_delta = 1;
        *put += d->ntasks;
        *del += d->ndel;
    }
    if (rc < 0)
        k->list_gen = 0;
    free(d->tasks);
    free(d->del);
    return rc;
}

/* The changes since the last re-plan, each with its member's place in peers. */
static struct ctl_change *resolve_changes(struct ctl *c, const struct ctl_peer *peers,
                                          const size_t *ix, size_t *n)
{
    struct ctl_change *v = calloc(c->changed.n ? c->changed.n : 1, sizeof(*v));
    int64_t *keys = c->changed.keys;

    *n = 0;
    if (v == NULL)
        return NULL;
    if (c->changed.n > 1)
        qsort(keys, c->changed.n, sizeof(*keys), cmp_i64);
    for (size_t i = 0; i < c->changed.n; i++) {
        if (i > 0 && keys[i] == keys[i - 1])
            continue; /* changed twice in one re-plan */
        v[*n].key = keys[i];
        v[*n].peer = find_key(peers, ix, c->roster.n, keys[i]);
        (*n)++;
    }
    return v;
}

struct replan_tally {
    size_t lists, tasks, deltas, put, del;
};

/* One connected probe's share of a re-plan: a delta when it can take one. */
static void replan_one(struct ctl *c, const struct ctl_peer *peers, size_t i,
                       const struct ctl_change *changes, size_t nchanges,
                       struct ctl_conn *k, struct replan_tally *t)
{
    size_t put = t->put, del = t->del;
    int rc;

    if (k->list_gen != 0 && (k->hello.caps & PROTO_CAP_DELTA)) {
        if (send_delta(c, peers, i, changes, nchanges, k, &t->put, &t->del) == 0) {
            t->deltas += t->put != put || t->del != del;
            return;
        }
    }
    rc = send_list(c, peers, c->roster.n, i, k);
    if (rc >= 0) {
        t->lists++;
        t->tasks += (size_t)rc;
    }
}

/* Sends every connected probe what changed in its list since the last push. */
static void on_replan_cb(uv_timer_t *h)
{
    struct ctl *c = h->data;
    struct ctl_peer *peers = roster_peers(c);
    size_t *ix = peers ? index_by_key(peers, c->roster.n) : NULL;
    struct ctl_change *changes = NULL;
    struct replan_tally t = {0};
    uint64_t t0 = uv_hrtime();
    size_t nchanges = 0;

    if (ix != NULL)
        changes = resolve_changes(c, peers, ix, &nchanges);
    if (changes == NULL) {
        /* Tried again in a second, the changes kept. */
        log_error("re-plan: out of memory");
        uv_timer_start(&c->replan, on_replan_cb, 1000, 0);
        goto out;
    }
    c->changed.n = 0;
    c->generation++;
    for (struct ctl_conn *k = c->conns; k != NULL; k = k->next) {
        size_t i;

        if (!k->hello_done || k->closing)
            continue;
        if ((i = find_key(peers, ix, c->roster.n, k->key)) != CTL_GONE)
            replan_one(c, peers, i, changes, nchanges, k, &t);
    }
    log_info("mesh of %zu probes, %zu changed: generation %llu: %zu deltas (%zu tasks "
             "put, %zu deleted), %zu whole task lists (%zu tasks), in %.1f ms",
             c->roster.n, nchanges, (unsigned long long)c->generation, t.deltas, t.put,
             t.del, t.lists, t.tasks, (double)(uv_hrtime() - t0) / 1e6);
out:
    free(changes);
    free(ix);
    free(peers);
}

void ctl_tasks_changed(struct ctl *c, int64_t key)
{
    if (c->changed.n == c->changed.cap) {
        size_t cap = c->changed.cap ? 2 * c->changed.cap : 64;
        int64_t *v = realloc(c->changed.keys, cap * sizeof(*v));

        if (v == NULL) {
            /* Without the change, every probe gets its whole list. */
            for (struct ctl_conn *k = c->conns; k != NULL; k = k->next)
                k->list_gen = 0;
            log_error("re-plan: out of memory, whole lists follow");
        } else {
            c->changed.keys = v;
            c->changed.cap = cap;
        }
    }
    if (c->changed.n < c->changed.cap)
        c->changed.keys[c->changed.n++] = key;
    if (!uv_is_active((uv_handle_t *)&c->replan))
        uv_timer_start(&c->replan, on_replan_cb, REPLAN_DELAY_MS, 0);
}

void ctl_tasks_send_list(struct ctl *c, struct ctl_conn *k)
{
    struct ctl_peer *peers = roster_peers(c);

    for (size_t i = 0; peers != NULL && i < c->roster.n; i++) {
        if (peers[i].key == k->key) {
            c->generation++;
            if (send_list(c, peers, c->roster.n, i, k) >= 0)
                log_info("probe %s: its task list of generation %llu sent",
                         k->hello.probe_id, (unsigned long long)c->generation);
            break;
        }
    }
    free(peers);
}

/* A probe's answers are its own words: CTL_QUOTA_LINES of them a minute. */
static int list_log_take(struct ctl_conn *k)
{
    uint64_t now = uv_now(k->ctl->loop), held;

    if (ctl_quota_roll(&k->list_log, now, &held) && held > 0)
        log_warn("probe %s: %llu more answers about its task list in the last minute "
                 "(not logged)",
                 k->hello.probe_id, (unsigned long long)held);
    return ctl_quota_take(&k->list_log, now);
}

void ctl_tasks_refused(struct ctl_conn *k, const struct proto_error *e)
{
    const char *id = k->hello.probe_id;
    int say = list_log_take(k);

    if (e->code == PROTO_ERR_POLICY) {
        /* It runs the list it had, which we no longer know: the next
         * re-plan sends a whole list.  Not at once, or a probe and a
         * controller that disagree would trade lists for ever. */
        if (say)
            log_warn("probe %s refused its task list (its own policy): %s", id,
                     e->reason);
        k->list_gen = 0;
        return;
    }
    /* STALE: one whole list per delta sent, however often it asks. */
    if (!k->last_delta) {
        if (say)
            log_info("probe %s: ERROR STALE ignored, its whole list went last: %s", id,
                     e->reason);
        return;
    }
    if (say)
        log_info("probe %s does not run the list our delta changes (%s): the whole "
                 "list follows",
                 id, e->reason);
    k->list_gen = 0;
    ctl_tasks_send_list(k->ctl, k);
}

void ctl_tasks_stop(struct ctl *c)
{
    free(c->changed.keys);
    memset(&c->changed, 0, sizeof(c->changed));
}
