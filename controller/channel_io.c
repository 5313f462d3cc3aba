/*
 * channel_io.c - the TLS server the probes connect to.
 *
 * A connection is refused unless its client certificate is signed by our
 * CA (OpenSSL checks that in the handshake) and its first message is a
 * HELLO offering a protocol version we speak, whose probe id is the
 * certificate's CN.  We answer WELCOME with the version chosen, then TASKS.
 * After that it may only send RESULTS, which are acknowledged once stored.
 * Anything malformed closes that one connection, logged and counted.
 *
 * Ownership: a ctl_conn lives from accept until the close callback of its
 * TCP handle, which unlinks and frees it; everything that ends a
 * connection goes through conn_close().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "channel.h"
#include "log.h"

#define HELLO_TIMEOUT_MS     (CTL_HELLO_TIMEOUT_S * 1000)
#define TICK_MS              1000
#define CLOSE_DEADLINE_MS    3000  /* for what is queued to reach a peer that closes */
#define HELLO_STORE_EVERY_MS 60000 /* an unchanged HELLO is written so often at most */
#define REFUSAL_LOG_MS       60000 /* one line a minute per probe about refusals */
#define GIVEN_MAX            (4 * PROTO_TASKS_MAX)
/* A probe's batches waiting for the store at most; then its reads stop. */
#define WRITING_MAX 4

static void on_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void resume_reads(struct ctl_conn *k, uint64_t now);
static void note_content(struct ctl *c, const struct proto_hello *h);
static void schedule_expiry(struct ctl *c);
static struct ctl_conn *conn_of(struct ctl *c, const char *id);

/* How logs name a connection: by its certificate once known. */
static const char *conn_name(const struct ctl_conn *k)
{
    return k->label[0] ? k->label : k->peer;
}

static void unlink_conn(struct ctl *c, struct ctl_conn *k)
{
    for (struct ctl_conn **pp = &c->conns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            c->nconns--;
            return;
        }
    }
}

static void conn_free(struct ctl_conn *k)
{
    proto_chan_free(k->chan);
    free(k->ids);
    free(k);
}

static void on_closed_cb(uv_handle_t *h)
{
    struct ctl_conn *k = h->data;
    struct ctl *c = k->ctl;

    unlink_conn(c, k);
    if (!k->hello_done)
        c->gate.freed++;
    /* A probe with a newer live connection has not left. */
    if (k->hello_done && !c->stopping && conn_of(c, k->hello.probe_id) == NULL) {
        log_info("probe %s disconnected; it stays in the mesh for %u s",
                 k->hello.probe_id, c->cfg.grace_s);
        ctl_roster_leave(&c->roster, k->hello.probe_id, uv_now(c->loop));
        schedule_expiry(c);
    }
    /* A batch still at the store holds it: the last one back frees it. */
    if (k->writing > 0)
        k->gone = 1;
    else
        conn_free(k);
}

static void on_shutdown_cb(uv_shutdown_t *req, int status)
{
    (void)status;
    /* The deadline in check_conn() may have closed it already. */
    if (!uv_is_closing((uv_handle_t *)req->handle))
        uv_close((uv_handle_t *)req->handle, on_closed_cb);
}

/* Ends k; with graceful set, what is queued (an ERROR, an alert) goes first. */
static void conn_close(struct ctl_conn *k, int graceful)
{
    if (k->closing)
        return;
    k->closing = 1;
    k->closing_ms = uv_now(k->ctl->loop);
    uv_read_stop((uv_stream_t *)&k->tcp);
    if (graceful &&
        uv_shutdown(&k->shutdown, (uv_stream_t *)&k->tcp, on_shutdown_cb) == 0)
        return;
    uv_close((uv_handle_t *)&k->tcp, on_closed_cb);
}

static void on_write_cb(uv_write_t *req, int status)
{
    struct ctl_conn *k = req->handle->data;

    free(req->data);
    free(req);
    if (status < 0 && status != UV_ECANCELED) {
        log_warn("write to %s failed: %s", conn_name(k), uv_strerror(status));
        conn_close(k, 0);
    }
}

/* Writes the ciphertext the channel holds. */
static void pump_out(struct ctl_conn *k)
{
    uint8_t *data;
    size_t len;
    uv_write_t *req;
    uv_buf_t b;

    if (proto_chan_take_out(k->chan, &data, &len) < 0 || len == 0)
        return;
    req = malloc(sizeof(*req));
    if (req == NULL) {
        free(data);
        conn_close(k, 0);
        return;
    }
    req->data = data;
    b = uv_buf_init((char *)data, (unsigned)len);
    k->last_tx_ms = uv_now(k->ctl->loop);
    if (uv_write(req, (uv_stream_t *)&k->tcp, &b, 1, on_write_cb) < 0) {
        free(data);
        free(req);
        conn_close(k, 0);
    }
}

int ctl_conn_send(struct ctl_conn *k, const struct proto_msg *m)
{
    int rc = proto_chan_send(k->chan, m);

    pump_out(k);
    return rc;
}

/* Tells the probe why, then closes. */
static void tell_and_close(struct ctl_conn *k, uint32_t code, const char *reason)
{
    struct proto_msg m = {.type = PROTO_MSG_ERROR};

    m.u.error.code = code;
    snprintf(m.u.error.reason, sizeof(m.u.error.reason), "%s", reason);
    proto_chan_send(k->chan, &m);
    pump_out(k);
    conn_close(k, 1);
}

static void refuse(struct ctl_conn *k, uint32_t code, const char *reason)
{
    log_warn("refusing %s: %s", conn_name(k), reason);
    tell_and_close(k, code, reason);
}

/* A second connection of the same probe replaces the first. */
static void drop_older(struct ctl *c, struct ctl_conn *k)
{
    for (struct ctl_conn *o = c->conns; o != NULL; o = o->next) {
        if (o != k && o->hello_done && !o->closing &&
            strcmp(o->hello.probe_id, k->hello.probe_id) == 0) {
            log_info("probe %s reconnected from %s: closing its old connection",
                     k->hello.probe_id, k->peer);
            o->hello_done = 0; /* its close must not look like a leave */
            refuse(o, PROTO_ERR_REPLACED, "a newer connection of this probe took over");
        }
    }
}

/* Picks the protocol version, or tells the probe why there is none. */
static int negotiate(struct ctl_conn *k, const struct proto_hello *h)
{
    char reason[PROTO_REASON_MAX];

    if (proto_version_pick(h->version_min, h->version_max, &k->version) == 0)
        return 0;
    snprintf(reason, sizeof(reason),
             "no common protocol version: probe speaks %u to %u, controller %u to %u",
             h->version_min, h->version_max, PROTO_VERSION_MIN, PROTO_VERSION_MAX);
    refuse(k, PROTO_ERR_VERSION, reason);
    return -1;
}

static void send_welcome(struct ctl_conn *k)
{
    struct proto_msg m = {.type = PROTO_MSG_WELCOME};

    m.u.welcome.version = k->version;
    m.u.welcome.heartbeat_s = k->ctl->cfg.heartbeat_s;
    m.u.welcome.idle_s = k->ctl->cfg.idle_s;
    proto_chan_send(k->chan, &m);
}

/* ---- what each probe was given and did ----------------------------------- */

struct ctl_watch *ctl_watch_of(struct ctl *c, const char *id)
{
    struct ctl_watch *w;

    for (size_t i = 0; i < c->nwatches; i++)
        if (strcmp(c->watches[i].id, id) == 0)
            return &c->watches[i];
    w = realloc(c->watches, (c->nwatches + 1) * sizeof(*w));
    if (w == NULL)
        return NULL;
    c->watches = w;
    w = &c->watches[c->nwatches++];
    memset(w, 0, sizeof(*w));
    snprintf(w->id, sizeof(w->id), "%s", id);
    return w;
}

static void watch_free_all(struct ctl *c)
{
    for (size_t i = 0; i < c->nwatches; i++)
        free(c->watches[i].given);
    free(c->watches);
    c->watches = NULL;
    c->nwatches = 0;
}

/* Where id is in the sorted w->given, or where it would go. */
static size_t given_index(const struct ctl_watch *w, uint32_t id)
{
    size_t lo = 0, hi = w->ngiven;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (w->given[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int was_given(const struct ctl_watch *w, uint32_t id)
{
    size_t i = given_index(w, id);

    return i < w->ngiven && w->given[i] == id;
}

void ctl_watch_given(struct ctl_watch *w, const struct proto_task *t, uint32_t n,
                     uint32_t ntasks)
{
    w->ntasks = ntasks;
    if (w->given_since_ms == 0)
        w->given_since_ms = ctl_now_ms();
    for (uint32_t k = 0; k < n; k++) {
        size_t i = given_index(w, t[k].id);

        if (i < w->ngiven && w->given[i] == t[k].id)
            continue;
        if (w->ngiven == w->cap) {
            size_t cap = w->cap ? 2 * w->cap : 64;
            uint32_t *v = cap <= GIVEN_MAX ? realloc(w->given, cap * sizeof(*v)) : NULL;

            if (v == NULL)
                return; /* its later records are then refused: said in the log */
            w->given = v;
            w->cap = cap;
        }
        memmove(&w->given[i + 1], &w->given[i], (w->ngiven - i) * sizeof(*w->given));
        w->given[i] = t[k].id;
        w->ngiven++;
    }
}

/*
 * The task a record names, from its id, which the planner derives from the
 * target and method (planner.c): a content node's or another probe's.  The
 * same ids come back after a restart, so records spooled before it can be
 * told apart from invented ones.  0, or -ENOENT when there is no such task.
 */
static uint32_t rtt_max_ms(const struct ctl_config *cfg)
{
    uint32_t longest = cfg->mesh.timeout_ms;

    for (size_t i = 0; i < cfg->ncontent; i++)
        if (cfg->content[i].timeout_ms > longest)
            longest = cfg->content[i].timeout_ms;
    return cfg->mesh.window_s * 1000 + longest;
}

/*
 * The target of task id.  A member that left the roster is looked up in the
 * store: *st is the store, taken on first need and kept for the rest of the
 * batch (check_batch() gives it back), so that a backlog of records for
 * members gone waits for the writer once, not once a record.
 */
static int task_of_id(struct ctl *c, uint32_t id, struct ctl_task_ref *t,
                      struct ctl_store **st)
{
    uint32_t method = id % 16;

    memset(t, 0, sizeof(*t));
    t->method = (uint8_t)method;
    t->rtt_max_ms = rtt_max_ms(&c->cfg);
    if (id & CTL_CONTENT_TASK_BIT) {
        size_t node = (id & ~CTL_CONTENT_TASK_BIT) / 16;

        if (node >= c->cfg.ncontent || !(c->cfg.content[node].methods & (1u << method)))
            return -ENOENT;
        strcpy(t->target_id, c->cfg.content[node].id);
        return 0;
    }
    if (method != PROTO_METHOD_STAMP)
        return -ENOENT;
    for (size_t i = 0; i < c->roster.n; i++) {
        if (c->roster.v[i].key == (int64_t)(id / 16)) {
            strcpy(t->target_id, c->roster.v[i].hello.probe_id);
            return 0;
        }
    }
    if (*st == NULL)
        *st = ctl_store_take(c);
    return ctl_store_probe_id(*st, id / 16, t->target_id) == 0 ? 0 : -ENOENT;
}

/* Checks one record of probe w; the rule it broke, or CTL_REC_OK. */
static enum ctl_record_rule check_record(struct ctl *c, struct ctl_watch *w,
                                         const struct proto_result *r, int64_t now_ms,
                                         struct ctl_store **st, char *why, size_t len)
{
    struct ctl_task_ref t;
    int known = task_of_id(c, r->task_id, &t, st) == 0;

    /* Windows since its first list from this run come from tasks we gave;
     * older ones from the lists of a run before (its clock may be ahead). */
    if (known && w->given_since_ms != 0 &&
        r->window_start_ms >= w->given_since_ms + CTL_CLOCK_SKEW_MS &&
        !was_given(w, r->task_id))
        known = 0;
    return ctl_record_check(known ? &t : NULL, r, now_ms, why, len);
}

/* At most one line a minute per probe about what it had refused. */
static void log_refusals(struct ctl_watch *w, uint64_t now)
{
    if (w->unlogged == 0 || (w->logged_ms != 0 && now - w->logged_ms < REFUSAL_LOG_MS))
        return;
    log_warn("probe %s: %llu refusals since the last report; in all %llu records "
             "refused (task %llu, window %llu, values %llu), %llu HELLOs refused, "
             "reads paused %llu s for its record budget; the last: %s",
             w->id, (unsigned long long)w->unlogged,
             (unsigned long long)(w->refused[CTL_REC_TASK] + w->refused[CTL_REC_WINDOW] +
                                  w->refused[CTL_REC_VALUES]),
             (unsigned long long)w->refused[CTL_REC_TASK],
             (unsigned long long)w->refused[CTL_REC_WINDOW],
             (unsigned long long)w->refused[CTL_REC_VALUES],
             (unsigned long long)w->hellos_refused,
             (unsigned long long)w->throttled_ms / 1000, w->last_why);
    w->unlogged = 0;
    w->logged_ms = now;
}

static void note_refusal(struct ctl_watch *w, const char *why, uint64_t now)
{
    snprintf(w->last_why, sizeof(w->last_why), "%s", why);
    w->unlogged++;
    log_refusals(w, now);
}

void ctl_channel_annotate(struct ctl *c, json_t *doc)
{
    size_t i;
    json_t *p;

    json_array_foreach(json_object_get(doc, "probes"), i, p)
    {
        const char *id = json_string_value(json_object_get(p, "id"));
        struct ctl_watch *w = NULL;

        for (size_t j = 0; id != NULL && j < c->nwatches; j++)
            if (strcmp(c->watches[j].id, id) == 0)
                w = &c->watches[j];
        json_object_set_new(
            p, "refused",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:s?}", "task",
                      (json_int_t)(w ? w->refused[CTL_REC_TASK] : 0), "window",
                      (json_int_t)(w ? w->refused[CTL_REC_WINDOW] : 0), "values",
                      (json_int_t)(w ? w->refused[CTL_REC_VALUES] : 0), "hellos",
                      (json_int_t)(w ? w->hellos_refused : 0), "paused_s",
                      (json_int_t)(w ? w->throttled_ms / 1000 : 0), "last",
                      w && w->last_why[0] ? w->last_why : NULL));
    }
}

/* ---- HELLO --------------------------------------------------------------- */

static int same_addresses(const struct proto_hello *a, const struct proto_hello *b)
{
    if (a->naddrs != b->naddrs || a->stamp_port != b->stamp_port)
        return 0;
    for (uint32_t i = 0; i < a->naddrs; i++)
        if (strcmp(a->addrs[i], b->addrs[i]) != 0)
            return 0;
    return 1;
}

/* What the store keeps of a HELLO is unchanged. */
static int same_hello(const struct proto_hello *a, const struct proto_hello *b)
{
    return same_addresses(a, b) && a->caps == b->caps && strcmp(a->name, b->name) == 0 &&
           strcmp(a->sw_version, b->sw_version) == 0 &&
           a->has_location == b->has_location &&
           (!a->has_location || (a->lat == b->lat && a->lon == b->lon));
}

static const struct ctl_member *member_of(const struct ctl *c, const char *id)
{
    for (size_t i = 0; i < c->roster.n; i++)
        if (strcmp(c->roster.v[i].hello.probe_id, id) == 0)
            return &c->roster.v[i];
    return NULL;
}

/*
 * The rules of membership (guard.c): addresses and port, HELLOs per probe,
 * changes of its addresses.  0, or -1 once the probe was told why.
 */
static int admit(struct ctl_conn *k, struct ctl_watch *w, const struct proto_hello *h,
                 const struct ctl_member *m)
{
    const struct ctl_exchange *x = &k->ctl->cfg.exchange;
    uint64_t now = uv_now(k->ctl->loop);
    double rate = 1.0 / x->hello_every_s;
    char why[PROTO_REASON_MAX];

    if (ctl_bucket_spend(&w->hellos, rate, x->hello_burst, 1, now) < 0) {
        w->hellos.tokens += 1; /* a refused HELLO costs nothing more */
        snprintf(why, sizeof(why),
                 "more than %u HELLOs within %u s: one more is allowed every %u s",
                 x->hello_burst, x->hello_burst * x->hello_every_s, x->hello_every_s);
        w->hellos_refused++;
        /* A flood would flood the log too: its lines come once a minute. */
        note_refusal(w, why, now);
        tell_and_close(k, PROTO_ERR_RATE, why);
        return -1;
    }
    if (ctl_hello_check(x, h, why, sizeof(why)) != CTL_HELLO_OK) {
        w->hellos_refused++;
        note_refusal(w, why, now);
        refuse(k, PROTO_ERR_MEMBER, why);
        return -1;
    }
    if (m != NULL && !same_addresses(&m->hello, h) && w->addrs_changed_ms != 0 &&
        now - w->addrs_changed_ms < (uint64_t)x->addr_change_s * 1000) {
        snprintf(why, sizeof(why),
                 "addresses or STAMP port changed %llu s ago: at most one change in %u s",
                 (unsigned long long)(now - w->addrs_changed_ms) / 1000,
                 x->addr_change_s);
        w->hellos_refused++;
        note_refusal(w, why, now);
        refuse(k, PROTO_ERR_RATE, why);
        return -1;
    }
    return 0;
}

/* Records the HELLO unless the store has it, unchanged, from lately. */
static int remember(struct ctl_conn *k, struct ctl_watch *w, const struct proto_hello *h,
                    const struct ctl_member *m)
{
    struct ctl *c = k->ctl;
    uint64_t now = uv_now(c->loop);
    struct ctl_store *st;
    int rc;

    if (m != NULL && same_hello(&m->hello, h) && w->stored_ms != 0 &&
        now - w->stored_ms < HELLO_STORE_EVERY_MS) {
        log_debug("probe %s: HELLO unchanged, stored %llu s ago: not stored again",
                  h->probe_id, (unsigned long long)(now - w->stored_ms) / 1000);
        k->key = m->key;
        return 0;
    }
    st = ctl_store_take(c);
    rc = ctl_store_probe_seen(st, h, ctl_now_ms(), &k->key);
    if (rc < 0)
        log_error("store: %s", ctl_store_error(st));
    ctl_store_give(c);
    if (rc < 0)
        return -1;
    w->stored_ms = now;
    return 0;
}

static void handle_hello(struct ctl_conn *k, const struct proto_hello *h)
{
    struct ctl *c = k->ctl;
    char reason[PROTO_REASON_MAX];
    const struct ctl_member *m;
    struct ctl_watch *w;
    int changed;

    if (negotiate(k, h) < 0)
        return;
    if (strcmp(h->probe_id, k->cn) != 0) {
        snprintf(reason, sizeof(reason), "probe id '%s' is not the certificate's CN '%s'",
                 h->probe_id, k->cn);
        refuse(k, PROTO_ERR_IDENTITY, reason);
        return;
    }
    if ((w = ctl_watch_of(c, h->probe_id)) == NULL) {
        refuse(k, PROTO_ERR_INTERNAL, "controller out of memory");
        return;
    }
    m = member_of(c, h->probe_id);
    if (admit(k, w, h, m) < 0)
        return;
    /* The others' lists change only with what the planner reads of it. */
    changed = m == NULL || !same_addresses(&m->hello, h) || m->hello.caps != h->caps;
    if (m != NULL && !same_addresses(&m->hello, h))
        w->addrs_changed_ms = uv_now(c->loop);
    if (remember(k, w, h, m) < 0) {
        refuse(k, PROTO_ERR_INTERNAL, "controller store failure");
        return;
    }
    if (ctl_roster_join(&c->roster, h, k->key, 0) < 0) {
        refuse(k, PROTO_ERR_INTERNAL, "controller out of memory");
        return;
    }
    k->hello = *h;
    k->hello_done = 1;
    send_welcome(k);
    log_info("probe %s (%s, software %s, protocol %u) connected from %s, %u addresses",
             h->probe_id, h->name, h->sw_version, k->version, k->peer, h->naddrs);
    note_content(c, h);
    drop_older(c, k);
    if (changed)
        ctl_tasks_changed(c, k->key);
    else
        ctl_tasks_send_list(c, k); /* the mesh is as it was: only it needs its list */
}

/*
 * Said once per connection, as the planner leaves it out silently at every
 * re-plan: which content methods a probe does not run, and a probe id that
 * is also a content node's (the map would mix their columns).
 */
static void note_content(struct ctl *c, const struct proto_hello *h)
{
    uint32_t missing = ctl_content_missing(&c->cfg, h->caps);
    char names[64] = "";

    for (int m = PROTO_METHOD_ICMP; m <= PROTO_METHOD_MAX; m++)
        if (missing & (1u << m))
            snprintf(names + strlen(names), sizeof(names) - strlen(names), " %s",
                     proto_method_name((uint8_t)m));
    if (missing != 0)
        log_info("probe %s does not announce%s: it gets no content task of %s",
                 h->probe_id, names, (missing & (missing - 1)) ? "those methods" : "it");
    if (ctl_config_content(&c->cfg, h->probe_id) != NULL)
        log_warn("probe %s has the id of [content %s]: the map cannot tell them apart",
                 h->probe_id, h->probe_id);
}

/* Checks each record of a batch; refused[i] set for those that broke a rule. */
static void check_batch(struct ctl_conn *k, struct ctl_watch *w,
                        const struct proto_results *rs, uint8_t *refused)
{
    struct ctl *c = k->ctl;
    int64_t now = ctl_now_ms();
    char why[PROTO_REASON_MAX], full[PROTO_REASON_MAX];
    struct ctl_store *st = NULL; /* taken if a record needs it */

    for (uint32_t i = 0; i < rs->nresults; i++) {
        const struct proto_result *r = &rs->results[i];
        enum ctl_record_rule rule = check_record(c, w, r, now, &st, why, sizeof(why));

        if (rule == CTL_REC_OK)
            continue;
        refused[i] = 1;
        w->refused[rule]++;
        snprintf(full, sizeof(full), "record %llu refused (%s): %.200s",
                 (unsigned long long)r->seq, ctl_record_rule_name(rule), why);
        note_refusal(w, full, uv_now(c->loop));
    }
    if (st != NULL)
        ctl_store_give(c);
}

/*
 * The probe's record budget: what its tasks produce (one record per task
 * and window), doubled, plus [exchange] backlog_rate for a spool that
 * catches up.  Beyond it, its reads pause until the budget has refilled:
 * TCP holds the probe back, and nothing is refused or lost.
 */
static void spend_budget(struct ctl_conn *k, struct ctl_watch *w, uint32_t n)
{
    struct ctl *c = k->ctl;
    uint64_t now = uv_now(c->loop);
    double rate = 2.0 * w->ntasks / c->cfg.mesh.window_s + c->cfg.exchange.backlog_rate;
    double burst = rate * 10 > PROTO_RESULTS_MAX ? rate * 10 : PROTO_RESULTS_MAX;
    double left = ctl_bucket_spend(&w->records, rate, burst, n, now);
    uint64_t wait_ms;

    if (left >= 0)
        return;
    wait_ms = (uint64_t)(-left / rate * 1000) + 1;
    k->paused = 1;
    k->resume_ms = now + wait_ms;
    w->throttled_ms += wait_ms;
    uv_read_stop((uv_stream_t *)&k->tcp);
    log_debug("probe %s: record budget spent, reads paused for %llu ms", w->id,
              (unsigned long long)wait_ms);
}

/*
 * A batch on its way to the store (writer_io.c): the records, taken from
 * the message, and what the writer made of them.  The connection stays
 * allocated until every batch of it is back (batch_stored()).
 */
struct batch {
    struct ctl_conn *k;
    char probe_id[PROTO_ID_MAX + 1];
    struct proto_results rs;
    uint8_t *refused;
    uint32_t n; /* records in the batch */
    int64_t now_ms;
    struct ctl_ingest in;
    char err[256];
};

static void batch_free(struct batch *b)
{
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};

    m.u.results = b->rs;
    proto_msg_free(&m);
    free(b->refused);
    free(b);
}

/* On the writer thread. */
static int store_batch(struct ctl_store *st, void *arg)
{
    struct batch *b = arg;
    int rc;

    /* After a batch failed, the later ones of its connection are not
     * stored: they would leave a hole where the failed one was, taken for
     * records the probe dropped.  The probe sends them all again. */
    if (b->k->store_failed)
        return -ECANCELED;
    rc =
        ctl_store_results_checked(st, b->probe_id, &b->rs, b->refused, b->now_ms, &b->in);
    if (rc < 0) {
        b->k->store_failed = 1;
        snprintf(b->err, sizeof(b->err), "%s", ctl_store_error(st));
    }
    return rc;
}

static int reads_may_run(const struct ctl_conn *k)
{
    return !k->closing && !k->paused && k->writing < WRITING_MAX;
}

/* Back on the loop: the ACK, once the batch is durable. */
static void batch_stored(struct ctl *c, void *arg, int rc)
{
    struct batch *b = arg;
    struct ctl_conn *k = b->k;
    struct proto_msg ack = {.type = PROTO_MSG_ACK};
    int held = k->writing >= WRITING_MAX;

    k->writing--;
    /* Not acknowledged: the probe keeps the records and sends them again.
     * ECANCELED: after a failed batch of the same connection, said then. */
    if (rc < 0 && rc != -ECANCELED)
        log_error("store: probe %s: %s", b->probe_id, b->err);
    if (k->gone) {
        if (k->writing == 0)
            conn_free(k);
    } else if (rc < 0) {
        if (rc != -ECANCELED && !k->closing)
            refuse(k, PROTO_ERR_INTERNAL, "controller store failure");
    } else if (!k->closing) {
        ack.u.ack.seq = b->in.acked;
        if (b->in.duplicates > 0)
            log_info("probe %s: %u of %u records were stored already (sent again)",
                     b->probe_id, b->in.duplicates, b->n);
        log_debug("probe %s: stored %u records up to %llu, refused %u", b->probe_id,
                  b->n - b->in.duplicates - b->in.refused,
                  (unsigned long long)ack.u.ack.seq, b->in.refused);
        proto_chan_send(k->chan, &ack);
        pump_out(k);
        if (held && reads_may_run(k))
            resume_reads(k, uv_now(c->loop));
    }
    batch_free(b);
}

static void handle_results(struct ctl_conn *k, struct proto_results *rs)
{
    struct ctl *c = k->ctl;
    struct ctl_watch *w = ctl_watch_of(c, k->hello.probe_id);
    struct batch *b = calloc(1, sizeof(*b));
    int rc;

    if (w == NULL || b == NULL ||
        (b->refused = calloc(rs->nresults ? rs->nresults : 1, 1)) == NULL) {
        free(b);
        refuse(k, PROTO_ERR_INTERNAL, "controller out of memory");
        return;
    }
    check_batch(k, w, rs, b->refused);
    /* Refused records are acknowledged too: sent again, they would be
     * refused again, forever.  They are counted, not stored. */
    b->k = k;
    snprintf(b->probe_id, sizeof(b->probe_id), "%s", k->hello.probe_id);
    b->rs = *rs; /* the batch owns the records now */
    rs->results = NULL;
    rs->nresults = 0;
    b->n = b->rs.nresults;
    b->now_ms = ctl_now_ms();
    if ((rc = ctl_writer_submit(c, store_batch, batch_stored, b)) < 0) {
        batch_free(b);
        refuse(k, rc == -ESHUTDOWN ? PROTO_ERR_SHUTDOWN : PROTO_ERR_INTERNAL,
               rc == -ESHUTDOWN ? "controller is stopping" : "controller out of memory");
        return;
    }
    /* Enough of it waits for the disk: TCP holds the probe back meanwhile. */
    if (++k->writing >= WRITING_MAX)
        uv_read_stop((uv_stream_t *)&k->tcp);
    spend_budget(k, w, b->n);
}

static void on_peer_error(struct ctl_conn *k, const struct proto_error *e)
{
    /* The probe keeps its previous list and the session (PROTOCOL.md 7). */
    if ((e->code == PROTO_ERR_POLICY || e->code == PROTO_ERR_STALE) && k->hello_done) {
        ctl_tasks_refused(k, e);
        return;
    }
    log_warn("%s ended the session: error %u: %s", conn_name(k), e->code, e->reason);
    conn_close(k, 0);
}

static void handle_msg(struct ctl_conn *k, struct proto_msg *m)
{
    if (m->type == PROTO_MSG_HELLO && !k->hello_done)
        handle_hello(k, &m->u.hello);
    else if (m->type == PROTO_MSG_RESULTS && k->hello_done)
        handle_results(k, &m->u.results);
    else if (m->type == PROTO_MSG_HEARTBEAT && k->hello_done)
        return; /* reading it was the point */
    else if (m->type == PROTO_MSG_ERROR)
        on_peer_error(k, &m->u.error);
    else
        refuse(k, PROTO_ERR_STATE,
               k->hello_done ? "unexpected message" : "HELLO expected");
}

/* ---- before authentication ----------------------------------------------- */

/*
 * Anyone may open a connection and leave it half-way through the handshake.
 * Until a HELLO is accepted a connection is pending: the pending ones are
 * capped (limits.pending_max, and pending_per_source from one address), the
 * TLS handshake has limits.handshake_s to finish, and what becomes of them
 * is counted and logged within a quota (quota.c), so a flood costs neither
 * memory nor the disk.
 */

#define TRIM_EVERY_MS   10000 /* malloc_trim() at most this often */
#define ACCEPT_BATCH    64    /* connections accepted in one turn of the loop */
#define ACCEPT_RETRY_MS 100   /* after calloc() failed */

static const char *const gate_reason_names[CTL_GATE_REASONS] = {
    [CTL_GATE_FULL] = "refused at accept (max_pending)",
    [CTL_GATE_SOURCE] = "refused at accept (max_pending_per_source)",
    [CTL_GATE_TIMEOUT] = "no TLS handshake in time (handshake_timeout)",
    [CTL_GATE_TLS] = "TLS handshake failed",
    [CTL_GATE_CLOSED] = "closed by the peer",
};

/* Counts what became of a connection before it authenticated, and logs
 * the line fmt makes (none when fmt is NULL) if the quota allows. */
static void gate_note(struct ctl *c, enum ctl_gate_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void gate_note(struct ctl *c, enum ctl_gate_reason r, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    c->gate.total[r]++;
    c->gate.minute[r]++;
    if (fmt == NULL || !ctl_quota_take(&c->gate.quota, uv_now(c->loop)))
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_warn("%s", line);
}

/* When a quota's minute ends with lines held back: one line with the counts. */
static void gate_report(struct ctl *c, uint64_t now)
{
    struct ctl_gate *g = &c->gate;
    char counts[512] = "";
    uint64_t held, sum = 0, total = 0;

    if (!ctl_quota_roll(&g->quota, now, &held))
        return;
    for (int r = 0; r < CTL_GATE_REASONS; r++) {
        sum += g->minute[r];
        total += g->total[r];
        if (g->minute[r] != 0)
            snprintf(counts + strlen(counts), sizeof(counts) - strlen(counts),
                     "%s%llu %s", counts[0] ? ", " : "", (unsigned long long)g->minute[r],
                     gate_reason_names[r]);
    }
    memset(g->minute, 0, sizeof(g->minute));
    if (held > 0)
        log_warn("in the last minute %llu connections ended before they authenticated "
                 "(%llu not logged): %s; %llu since the start",
                 (unsigned long long)sum, (unsigned long long)held, counts,
                 (unsigned long long)total);
}

/*
 * Gives back to the kernel what a wave of closed connections left free in
 * the heap: glibc keeps it otherwise, and the controller would stay at the
 * size of the largest flood it met.
 */
static void gate_trim(struct ctl *c, uint64_t now)
{
    if (c->gate.freed == 0 || now - c->gate.trimmed_ms < TRIM_EVERY_MS)
        return;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    log_debug("memory of %zu closed connections given back", c->gate.freed);
    c->gate.freed = 0;
    c->gate.trimmed_ms = now;
}

/* Which limit a new connection k would break; CTL_GATE_REASONS for none. */
static enum ctl_gate_reason gate_check(const struct ctl *c, const struct ctl_conn *k)
{
    size_t all = 0, same = 0;

    for (const struct ctl_conn *o = c->conns; o != NULL; o = o->next) {
        if (o->hello_done)
            continue;
        all++;
        same += memcmp(o->source, k->source, sizeof(k->source)) == 0;
    }
    if (all >= c->cfg.limits.pending_max)
        return CTL_GATE_FULL;
    if (same >= c->cfg.limits.pending_per_source)
        return CTL_GATE_SOURCE;
    return CTL_GATE_REASONS;
}

static void on_refused_closed_cb(uv_handle_t *h)
{
    free(h->data);
}

/* Over a limit: a reset at once, before any TLS state exists. */
static void gate_refuse(struct ctl *c, struct ctl_conn *k, enum ctl_gate_reason r)
{
    if (r == CTL_GATE_FULL)
        gate_note(c, r,
                  "refused connection from %s: %u connections already wait for their "
                  "HELLO (max_pending)",
                  k->peer, c->cfg.limits.pending_max);
    else
        gate_note(c, r,
                  "refused connection from %s: %u connections from its address already "
                  "wait for their HELLO (max_pending_per_source)",
                  k->peer, c->cfg.limits.pending_per_source);
    if (uv_tcp_close_reset(&k->tcp, on_refused_closed_cb) < 0)
        uv_close((uv_handle_t *)&k->tcp, on_refused_closed_cb);
}

/* After the handshake: the verified certificate names the probe. */
static int check_identity(struct ctl_conn *k)
{
    if (k->cn[0] != '\0' || !proto_chan_ready(k->chan))
        return 0;
    if (proto_chan_peer_cn(k->chan, k->cn, sizeof(k->cn)) < 0 || !proto_id_valid(k->cn)) {
        k->cn[0] = '\0';
        refuse(k, PROTO_ERR_IDENTITY, "client certificate has no usable CN");
        return -1;
    }
    snprintf(k->label, sizeof(k->label), "%s at %s", k->cn, k->peer);
    return 0;
}

static void on_malformed(struct ctl_conn *k)
{
    k->ctl->malformed++;
    log_warn("closing connection of %s: %s", conn_name(k), proto_chan_reason(k->chan));
    conn_close(k, 0);
}

/* Handles the messages the channel holds, until a pause or a close. */
static void drain(struct ctl_conn *k)
{
    struct proto_msg m;
    int rc = 0;

    while (reads_may_run(k) && (rc = proto_chan_recv(k->chan, &m)) > 0) {
        handle_msg(k, &m);
        proto_msg_free(&m);
    }
    if (rc < 0 && !k->closing)
        on_malformed(k);
    else
        pump_out(k);
}

static void on_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct ctl_conn *k = s->data;

    if (nread < 0) {
        if (k->cn[0] == '\0')
            gate_note(k->ctl, CTL_GATE_CLOSED,
                      nread == UV_EOF ? NULL : "connection of %s: %s", conn_name(k),
                      uv_strerror((int)nread));
        else if (nread != UV_EOF)
            log_info("connection of %s: %s", conn_name(k), uv_strerror((int)nread));
        conn_close(k, 0);
        return;
    }
    k->last_rx_ms = uv_now(k->ctl->loop);
    if (proto_chan_feed(k->chan, (uint8_t *)b->base, (size_t)nread) < 0) {
        if (k->cn[0] == '\0')
            gate_note(k->ctl, CTL_GATE_TLS, "refused TLS connection from %s: %s", k->peer,
                      proto_chan_reason(k->chan));
        else
            log_warn("closing %s: %s", k->peer, proto_chan_reason(k->chan));
        pump_out(k); /* the alert tells the peer why */
        conn_close(k, 1);
        return;
    }
    if (check_identity(k) < 0)
        return;
    drain(k);
}

/* The budget has refilled: the messages already read first, then the socket. */
static void resume_reads(struct ctl_conn *k, uint64_t now)
{
    k->paused = 0;
    k->last_rx_ms = now; /* it was not silent: we did not listen */
    drain(k);
    if (reads_may_run(k))
        uv_read_start((uv_stream_t *)&k->tcp, on_alloc_cb, on_read_cb);
}

/*
 * Every read lands in this one buffer: on_read_cb() hands it to the channel,
 * which copies it, before the loop reads again; no malloc() and free() of
 * 64 KiB for each read of each connection.
 */
static void on_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char buf[65536];

    (void)h, (void)suggested;
    *b = uv_buf_init(buf, sizeof(buf));
}

/*
 * The peer's address for the log, and the source it counts against in
 * max_pending_per_source: an IPv4 address (IPv4-mapped too), or the /64 of
 * an IPv6 one, as a single host may hold a whole /64.
 */
static void set_peer(struct ctl_conn *k)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char a[PROTO_ADDRSTR_MAX] = "?";

    memset(&ss, 0, sizeof(ss));
    if (uv_tcp_getpeername(&k->tcp, (struct sockaddr *)&ss, &len) == 0)
        proto_addr_ntop((struct sockaddr *)&ss, a, sizeof(a));
    snprintf(k->peer, sizeof(k->peer), "%s%s%s:%u", strchr(a, ':') ? "[" : "", a,
             strchr(a, ':') ? "]" : "", proto_addr_port((struct sockaddr *)&ss));
    ctl_source_key((const struct sockaddr *)&ss, k->source);
}

static void on_accept_later_cb(uv_timer_t *h);

/*
 * Takes the connection libuv holds for us: admitted, or refused at once.
 * Until uv_accept() is called libuv does not watch the listener, so out of
 * memory it tries again a little later.
 */
static void accept_held(struct ctl *c)
{
    enum ctl_gate_reason reason;
    struct ctl_conn *k = calloc(1, sizeof(*k));

    if (k == NULL) {
        uv_timer_start(&c->gate.later, on_accept_later_cb, ACCEPT_RETRY_MS, 0);
        return;
    }
    k->ctl = c;
    uv_tcp_init(c->loop, &k->tcp);
    k->tcp.data = k;
    if (uv_accept((uv_stream_t *)&c->listener, (uv_stream_t *)&k->tcp) < 0) {
        uv_close((uv_handle_t *)&k->tcp, on_refused_closed_cb);
        return;
    }
    set_peer(k);
    reason = gate_check(c, k);
    if (reason != CTL_GATE_REASONS) {
        gate_refuse(c, k, reason);
        return;
    }
    k->next = c->conns;
    c->conns = k;
    c->nconns++;
    if ((k->chan = proto_chan_new(c->tls, 1, NULL)) == NULL) {
        conn_close(k, 0);
        return;
    }
    k->accepted_ms = k->last_rx_ms = k->last_tx_ms = uv_now(c->loop);
    log_debug("connection from %s", k->peer);
    uv_read_start((uv_stream_t *)&k->tcp, on_alloc_cb, on_read_cb);
}

static void on_accept_later_cb(uv_timer_t *h)
{
    struct ctl *c = h->data;

    c->gate.turn_ms = uv_now(c->loop);
    c->gate.accepted = 1;
    accept_held(c);
}

/*
 * libuv accepts for as long as the kernel has connections ready, and a
 * flood never runs dry: past ACCEPT_BATCH in one turn of the loop, the
 * next connection waits in libuv until the next turn, so that the probes'
 * connections and the HTTP server are served in between.
 */
static void on_connection_cb(uv_stream_t *server, int status)
{
    struct ctl *c = server->data;
    uint64_t now = uv_now(c->loop);

    if (status < 0) {
        if (ctl_quota_take(&c->gate.quota, now))
            log_warn("accept: %s", uv_strerror(status));
        return;
    }
    if (now != c->gate.turn_ms) {
        c->gate.turn_ms = now;
        c->gate.accepted = 0;
    }
    if (++c->gate.accepted > ACCEPT_BATCH) {
        uv_timer_start(&c->gate.later, on_accept_later_cb, 0, 0);
        return;
    }
    accept_held(c);
}

/* The live connection of a probe, NULL when it has none. */
static struct ctl_conn *conn_of(struct ctl *c, const char *id)
{
    for (struct ctl_conn *k = c->conns; k != NULL; k = k->next)
        if (k->hello_done && !k->closing && strcmp(k->hello.probe_id, id) == 0)
            return k;
    return NULL;
}

static void member_gone(void *arg, int64_t key)
{
    ctl_tasks_changed(arg, key);
}

/* A member's grace ended: it leaves the mesh, and the others stop measuring it. */
static void on_expiry_cb(uv_timer_t *h)
{
    struct ctl *c = h->data;
    size_t n = ctl_roster_expire(&c->roster, uv_now(c->loop),
                                 (uint64_t)c->cfg.grace_s * 1000, member_gone, c);

    if (n > 0)
        log_info("%zu probe%s left the mesh after %u s away", n, n == 1 ? "" : "s",
                 c->cfg.grace_s);
    schedule_expiry(c);
}

static void schedule_expiry(struct ctl *c)
{
    uint64_t grace = (uint64_t)c->cfg.grace_s * 1000;
    uint64_t at = ctl_roster_next_expiry(&c->roster, grace), now = uv_now(c->loop);

    if (at != 0)
        uv_timer_start(&c->expire, on_expiry_cb, at > now ? at - now : 0, 0);
}

/* After a restart the probes seen lately are still the mesh: they are on
 * their way back, and the first to return must not get an empty list. */
static void recall_member(void *arg, const struct proto_hello *h, int64_t key)
{
    struct ctl *c = arg;
    char why[PROTO_REASON_MAX];

    /* Stored before these rules, or before the configuration changed. */
    if (ctl_hello_check(&c->cfg.exchange, h, why, sizeof(why)) != CTL_HELLO_OK) {
        log_warn("probe %s is not kept in the mesh: %s", h->probe_id, why);
        return;
    }
    ctl_roster_join(&c->roster, h, key, uv_now(c->loop));
}

static void recall_roster(struct ctl *c)
{
    int64_t since = ctl_now_ms() - (int64_t)c->cfg.grace_s * 1000;
    struct ctl_store *st = ctl_store_take(c);

    if (ctl_store_recent_probes(st, since, recall_member, c) < 0)
        log_warn("store: %s", ctl_store_error(st));
    ctl_store_give(c);
    if (c->roster.n > 0)
        log_info(
            "%zu probes seen in the last %u s are kept in the mesh while they return",
            c->roster.n, c->cfg.grace_s);
    schedule_expiry(c);
}

/* One connection's clock: a HELLO in time, a heartbeat due, or silence. */
/*
 * Octets the probe sent that we have not read yet: when the loop was busy,
 * or its reads are paused, the idle timeout must judge the probe by what
 * it sent, not by when we got round to reading it.
 */
static int unread(struct ctl_conn *k)
{
    uv_os_fd_t fd;
    int n = 0;

    return uv_fileno((uv_handle_t *)&k->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &n) == 0 &&
           n > 0;
}

static void check_conn(struct ctl_conn *k, uint64_t now)
{
    struct ctl *c = k->ctl;
    struct proto_msg hb = {.type = PROTO_MSG_HEARTBEAT};
    char why[96];

    if (k->closing) {
        /* A peer that does not read would hold a graceful close forever. */
        if (now - k->closing_ms >= CLOSE_DEADLINE_MS &&
            !uv_is_closing((uv_handle_t *)&k->tcp))
            uv_close((uv_handle_t *)&k->tcp, on_closed_cb);
        return;
    }
    if (k->paused && now >= k->resume_ms)
        resume_reads(k, now);
    if (!reads_may_run(k)) {
        /* Not silent: we are not listening.  It still hears from us. */
        if (!k->closing && now - k->last_tx_ms >= (uint64_t)c->cfg.heartbeat_s * 1000) {
            proto_chan_send(k->chan, &hb);
            pump_out(k);
        }
        return;
    }
    if (!k->hello_done) {
        if (!proto_chan_ready(k->chan) &&
            now - k->accepted_ms >= (uint64_t)c->cfg.limits.handshake_s * 1000) {
            gate_note(c, CTL_GATE_TIMEOUT,
                      "closing connection of %s: no TLS handshake within %u s", k->peer,
                      c->cfg.limits.handshake_s);
            conn_close(k, 0);
        } else if (now - k->accepted_ms >= HELLO_TIMEOUT_MS) {
            log_warn("closing connection of %s: no HELLO within %d s", conn_name(k),
                     HELLO_TIMEOUT_MS / 1000);
            conn_close(k, 0);
        }
        return;
    }
    if (now - k->last_rx_ms >= (uint64_t)c->cfg.idle_s * 1000 && !unread(k)) {
        snprintf(why, sizeof(why), "silent for %llu s",
                 (unsigned long long)(now - k->last_rx_ms) / 1000);
        refuse(k, PROTO_ERR_IDLE, why);
        return;
    }
    if (now - k->last_tx_ms >= (uint64_t)c->cfg.heartbeat_s * 1000) {
        proto_chan_send(k->chan, &hb);
        pump_out(k);
    }
}

static void on_tick_cb(uv_timer_t *h)
{
    struct ctl *c = h->data;
    uint64_t now = uv_now(c->loop);

    for (struct ctl_conn *k = c->conns; k != NULL; k = k->next)
        check_conn(k, now);
    for (size_t i = 0; i < c->nwatches; i++)
        log_refusals(&c->watches[i], now);
    gate_report(c, now);
    gate_trim(c, now);
    /* Stopping: the tick outlives the connections, to enforce deadlines. */
    if (c->stopping && c->conns == NULL && !uv_is_closing((uv_handle_t *)&c->tick))
        uv_close((uv_handle_t *)&c->tick, NULL);
}

int ctl_channel_connected(void *ctl, const char *probe_id)
{
    struct ctl *c = ctl;

    for (struct ctl_conn *k = c->conns; k != NULL; k = k->next)
        if (k->hello_done && !k->closing && strcmp(k->hello.probe_id, probe_id) == 0)
            return 1;
    return 0;
}

int ctl_channel_start(struct ctl *c)
{
    const struct sockaddr *sa = (const struct sockaddr *)&c->cfg.listen_addr;
    char a[PROTO_ADDRSTR_MAX], err[512];
    int rc;

    c->tls = proto_chan_ctx_new(1, c->cfg.ca, c->cfg.cert, c->cfg.key, err, sizeof(err));
    if (c->tls == NULL) {
        log_error("%s", err);
        return -EINVAL;
    }
    /*
     * OpenSSL gives each connection a read and a write buffer (about 36 KiB,
     * from the first octet it reads): an idle probe's connection gives them
     * back between records.  A half-open one keeps them, which is why the
     * pending connections are capped.
     */
    SSL_CTX_set_mode(c->tls, SSL_MODE_RELEASE_BUFFERS);
    uv_timer_init(c->loop, &c->replan);
    uv_timer_init(c->loop, &c->tick);
    uv_timer_init(c->loop, &c->expire);
    uv_timer_init(c->loop, &c->gate.later);
    c->replan.data = c->tick.data = c->expire.data = c->gate.later.data = c;
    if (c->cfg.exchange.nprefixes == 0)
        log_warn("[exchange] prefixes is not set: probes may announce loopback "
                 "addresses only");
    /* Task-list generations keep rising across restarts. */
    c->generation = (uint64_t)ctl_now_ms();
    recall_roster(c);
    uv_timer_start(&c->tick, on_tick_cb, TICK_MS, TICK_MS);
    uv_tcp_init(c->loop, &c->listener);
    c->listener.data = c;
    proto_addr_ntop(sa, a, sizeof(a));
    rc = uv_tcp_bind(&c->listener, sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->listener, 1024, on_connection_cb);
    if (rc < 0) {
        log_error("cannot listen on %s port %u: %s", a, proto_addr_port(sa),
                  uv_strerror(rc));
        return rc;
    }
    log_info("probe channel listening on %s port %u", a, proto_addr_port(sa));
    return 0;
}

void ctl_channel_stop(struct ctl *c)
{
    if (c->tls == NULL)
        return; /* never started: no handle to close */
    uv_close((uv_handle_t *)&c->listener, NULL);
    uv_close((uv_handle_t *)&c->gate.later, NULL);
    uv_close((uv_handle_t *)&c->replan, NULL);
    ctl_tasks_stop(c);
    uv_close((uv_handle_t *)&c->expire, NULL);
    if (c->conns == NULL)
        uv_close((uv_handle_t *)&c->tick, NULL);
    /* Tell each probe why: it reconnects with backoff, not at once. */
    for (struct ctl_conn *k = c->conns; k != NULL; k = k->next) {
        struct proto_msg m = {.type = PROTO_MSG_ERROR};

        if (k->closing || k->chan == NULL || !proto_chan_ready(k->chan)) {
            conn_close(k, 0);
            continue;
        }
        m.u.error.code = PROTO_ERR_SHUTDOWN;
        snprintf(m.u.error.reason, sizeof(m.u.error.reason), "controller is stopping");
        proto_chan_send(k->chan, &m);
        pump_out(k);
        conn_close(k, 1);
    }
    watch_free_all(c);
}
