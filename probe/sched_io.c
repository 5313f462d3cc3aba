/*
 * sched_io.c - runs the task list: each task's next attempt waits in one
 * timer wheel (wheel.c), driven by one libuv timer, with a random phase per
 * task so that the probe never bursts all its targets in one tick
 * (periodic, or Poisson when the task asks: RFC 2330 11.1.1); and the
 * window boundaries.
 *
 * Windows are timed on the monotonic clock, so that a wall-clock step can
 * neither stretch nor shrink one; the first boundary falls on a wall-clock
 * multiple of the window, so that every probe's records cover the same
 * intervals, and each window is labelled with the wall-clock multiple
 * nearest to its start.
 *
 * At a boundary each task's open window becomes the closing one and a new
 * one opens; the closing one waits for the longest task timeout, then
 * becomes a record.  Replies arriving later count as lost (RFC 7680).
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>

#include "log.h"
#include "probe.h"

static void schedule_boundary(struct probe *p, int align);
static void on_wheel_cb(uv_timer_t *h);

static int64_t now_ms(void)
{
    return probe_now_ns() / 1000000;
}

static int64_t mono_ms(void)
{
    return probe_mono_ns() / 1000000;
}

static int64_t window_ms(const struct probe *p)
{
    return (int64_t)p->window_s * 1000;
}

/* The label of a window opening now: the nearest wall-clock multiple. */
static int64_t label_now(const struct probe *p)
{
    int64_t w = window_ms(p), now = now_ms();

    return (now + w / 2) / w * w;
}

/*
 * An exponential gap of mean m ms (Poisson sending, RFC 2330 11.1.1),
 * truncated at 10 m, as RFC 2330 allows, so that a task is never silent
 * for most of a window.
 */
uint64_t probe_poisson_gap_ms(uint32_t m)
{
    double u = (double)random() / ((double)RAND_MAX + 1.0); /* [0, 1) */
    double gap = -log1p(-u) * m;

    /* Rounded, not truncated, to the timer's whole milliseconds: the mean
     * stays m (truncating would send 5 % too often at m = 10). */
    return (uint64_t)((gap < 10.0 * m ? gap : 10.0 * m) + 0.5);
}

static int same_sockaddr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return 0;
    if (b->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (b->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return 0;
}

struct probe_task *probe_sched_find(struct probe *p, const struct sockaddr *from)
{
    for (size_t i = 0; i < p->ntasks; i++)
        if (same_sockaddr(&p->tasks[i]->dst, from))
            return p->tasks[i];
    return NULL;
}

#define WHEEL_SLOTS 4096 /* 1 ms each: intervals up to 4 s take one turn */

static struct probe_task *task_of(struct probe_wheel_entry *e)
{
    return (struct probe_task *)((char *)e - offsetof(struct probe_task, tick));
}

/* Arms the libuv timer for the wheel's earliest entry. */
static void arm_wheel(struct probe *p)
{
    uint64_t next = probe_wheel_next(&p->wheel), now = uv_now(p->loop);

    if (next == UINT64_MAX)
        uv_timer_stop(&p->wheel_timer);
    else
        uv_timer_start(&p->wheel_timer, on_wheel_cb, next > now ? next - now : 0, 0);
}

/*
 * The next attempt after one due at due: one interval on, keeping the
 * phase (a stalled loop skips what it missed rather than bursting), or a
 * Poisson gap.
 */
static uint64_t next_due(const struct probe_task *t, uint64_t due, uint64_t now)
{
    uint64_t iv = t->spec.interval_ms;

    if (t->spec.poisson)
        return now + probe_poisson_gap_ms(t->spec.interval_ms);
    due += iv;
    if (due <= now)
        due += (now - due) / iv * iv + iv;
    return due;
}

/* Re-arms t, or retires it when it has made its last attempt: 1 if so. */
static int rearm(struct probe *p, struct probe_task *t, uint64_t now)
{
    if (t->count_left > 0 && --t->count_left == 0)
        return 1;
    probe_wheel_add(&p->wheel, &t->tick, next_due(t, t->tick.due_ms, now));
    return 0;
}

/*
 * A method that cannot run here (no permission for its socket, say) still
 * makes its attempts, each a local failure with the reason: the map shows
 * why, rather than a silent gap.  Opening is tried again every 10 s
 * (probe_method_ready).
 */
static int fail_attempt(struct probe *p, struct probe_task *t, int err)
{
    char why[PROTO_WHY_MAX + 1];
    struct probe_reply rep = {.outcome = PROTO_OUT_LOCAL, .why = why};

    snprintf(why, sizeof(why), "%s cannot run on this probe: %s",
             proto_method_name(t->spec.method), proto_strerror(err));
    probe_attempt_report(p, t, probe_attempt_start(t, probe_mono_ns()), &rep);
    return err;
}

/* Every task due makes its attempt; then each method that batches sends
 * the tick's packets at once. */
static void on_wheel_cb(uv_timer_t *h)
{
    struct probe *p = h->data;
    struct probe_wheel_entry *e;
    unsigned used = 0;
    uint64_t now;

    uv_update_time(p->loop);
    now = uv_now(p->loop);
    while ((e = probe_wheel_expire(&p->wheel, now)) != NULL) {
        struct probe_task *t = task_of(e);
        const struct probe_method_ops *ops = probe_method_ops(t->spec.method);
        uint64_t wait = probe_budget_take(&p->budget, probe_policy_packets(&t->spec),
                                          probe_policy_octets(&t->spec), now);
        int done, rc;

        if (wait > 0) { /* over budget: the attempt waits, it is not lost */
            probe_wheel_add(&p->wheel, &t->tick, now + wait);
            continue;
        }
        done = rearm(p, t, now);
        rc = probe_method_ready(p, t->spec.method);
        rc = rc == 0 ? ops->send(p, t) : fail_attempt(p, t, rc);
        if (rc < 0)
            log_debug("task %u to %s: %s: send failed: %s", t->spec.id, t->spec.target_id,
                      proto_method_name(t->spec.method), proto_strerror(rc));
        used |= 1u << t->spec.method;
        if (done && p->on_task_done != NULL)
            p->on_task_done(p, t);
    }
    for (uint8_t m = 1; m <= PROTO_METHOD_MAX; m++) {
        const struct probe_method_ops *ops = probe_method_ops(m);

        if ((used & (1u << m)) && ops != NULL && ops->flush != NULL)
            ops->flush(p);
    }
    arm_wheel(p);
}

int probe_sched_start_task(struct probe *p, struct probe_task *t, uint64_t first_ms)
{
    int rc = probe_method_ready(p, t->spec.method);

    if (rc < 0 && (p->cmd != NULL || probe_method_ops(t->spec.method) == NULL))
        return rc; /* the one-shot command says so at once; unknown methods never run */
    t->probe = p;
    probe_window_open(&t->win[t->cur], p->window_label_ms, p->window_serial);
    uv_update_time(p->loop);
    probe_wheel_add(&p->wheel, &t->tick, uv_now(p->loop) + first_ms);
    arm_wheel(p);
    return rc;
}

void probe_sched_drop_task(struct probe *p, struct probe_task *t)
{
    const struct probe_method_ops *ops = probe_method_ops(t->spec.method);

    probe_wheel_del(&p->wheel, &t->tick);
    if (ops != NULL && ops->cancel != NULL)
        ops->cancel(p, t);
    probe_task_free(t);
}

/* A random phase within the first interval.  A method that cannot open
 * its sockets still runs its task: each attempt then says why it failed. */
static int start_task(struct probe *p, struct probe_task *t)
{
    int rc = probe_sched_start_task(p, t, (uint64_t)random() % t->spec.interval_ms);

    if (rc < 0)
        log_warn("task %u to %s: %s cannot run here: %s", t->spec.id, t->spec.target_id,
                 proto_method_name(t->spec.method), proto_strerror(rc));
    return t->probe != NULL ? 0 : rc;
}

static int cmp_task_id(const void *a, const void *b)
{
    uint32_t x = (*(struct probe_task *const *)a)->spec.id;
    uint32_t y = (*(struct probe_task *const *)b)->spec.id;

    return (x > y) - (x < y);
}

/*
 * The index of the current task equal to spec in old, which is sorted by
 * id (ids are unique in a list), or -1: a list of n tasks is applied in
 * n log n, not n^2, since a delta re-applies the whole list.
 */
static ssize_t find_same(struct probe_task *const *old, size_t nold,
                         const struct proto_task *spec)
{
    struct probe_task key = {.spec.id = spec->id}, *kp = &key, *const * hit;

    if (nold == 0)
        return -1;
    hit = bsearch(&kp, old, nold, sizeof(*old), cmp_task_id);
    if (hit == NULL || !probe_task_same(&(*hit)->spec, spec))
        return -1;
    return hit - old;
}

static struct probe_task *make_task(struct probe *p, const struct proto_task *spec)
{
    struct probe_task *t = probe_task_new(spec);

    if (t == NULL) {
        log_warn("task %u: bad target address %s", spec->id, spec->addr);
        return NULL;
    }
    if (t->spec.method == PROTO_METHOD_STAMP &&
        probe_task_fit_family(t, p->stamp.family) < 0) {
        log_warn("task %u: cannot reach %s from an IPv4-only STAMP socket", spec->id,
                 spec->addr);
        probe_task_free(t);
        return NULL;
    }
    return t;
}

void probe_sched_read_own(struct probe *p)
{
    uv_interface_address_t *ifs;
    int count;

    p->own.n = 0;
    if (uv_interface_addresses(&ifs, &count) < 0)
        return;
    for (int i = 0; i < count && p->own.n < PROBE_PREFIX_MAX; i++) {
        char a[PROTO_ADDRSTR_MAX];

        if (proto_addr_ntop((struct sockaddr *)&ifs[i].address, a, sizeof(a)) == 0 &&
            probe_prefix_parse(a, &p->own.addrs[p->own.n]) == 0)
            p->own.n++;
    }
    uv_free_interface_addresses(ifs, count);
}

/* The tasks of tl, those equal to a current one kept with their state. */
static size_t build_list(struct probe *p, const struct proto_tasks *tl,
                         struct probe_task **next, uint8_t *taken)
{
    size_t n = 0;

    for (uint32_t i = 0; i < tl->ntasks; i++) {
        ssize_t k = find_same(p->tasks, p->ntasks, &tl->tasks[i]);
        struct probe_task *t;

        if (k >= 0 && !taken[k]) {
            taken[k] = 1;
            next[n++] = p->tasks[k];
            continue;
        }
        t = make_task(p, &tl->tasks[i]);
        if (t == NULL)
            continue;
        if (start_task(p, t) < 0) {
            probe_task_free(t);
            continue;
        }
        next[n++] = t;
    }
    return n;
}

int probe_sched_apply(struct probe *p, const struct proto_tasks *tl, char *why,
                      size_t len)
{
    struct probe_task **next;
    uint8_t *taken;
    size_t n, kept = 0;

    /* Checked as a whole first: a refused list changes nothing. */
    probe_sched_read_own(p);
    if (probe_policy_check_tasks(&p->cfg.policy, &p->own, tl, why, len) < 0)
        return -EPERM;
    next = calloc(tl->ntasks ? tl->ntasks : 1, sizeof(*next));
    taken = calloc(p->ntasks ? p->ntasks : 1, 1);
    if (next == NULL || taken == NULL) {
        free(next);
        free(taken);
        return -ENOMEM;
    }
    if (tl->window_s != p->window_s) {
        p->window_s = tl->window_s;
        schedule_boundary(p, 1);
    }
    if (p->ntasks > 1)
        qsort(p->tasks, p->ntasks, sizeof(*p->tasks), cmp_task_id);
    n = build_list(p, tl, next, taken);
    for (size_t i = 0; i < p->ntasks; i++) {
        if (taken[i])
            kept++;
        else
            probe_sched_drop_task(p, p->tasks[i]); /* its open windows go with it */
    }
    free(taken);
    free(p->tasks);
    p->tasks = next;
    p->ntasks = n;
    p->generation = tl->generation;
    /* A task that could not start is missing from the list the controller
     * believes we run: its next delta gets STALE, and the whole list. */
    p->have_list = n == tl->ntasks;
    log_info("task list %llu: %zu tasks (%zu kept, %zu new)",
             (unsigned long long)tl->generation, n, kept, n - kept);
    if (n < tl->ntasks)
        log_warn("task list %llu: %zu tasks could not start; deltas will ask for the "
                 "whole list",
                 (unsigned long long)tl->generation, tl->ntasks - n);
    return 0;
}

int probe_sched_apply_delta(struct probe *p, const struct proto_tasks *delta, char *why,
                            size_t len)
{
    struct proto_task *cur = calloc(p->ntasks ? p->ntasks : 1, sizeof(*cur));
    struct proto_tasks next;
    int rc;

    if (!p->have_list || delta->base != p->generation) {
        free(cur);
        if (p->have_list)
            snprintf(why, len, "task delta %llu changes list %llu, the list here is %llu",
                     (unsigned long long)delta->generation,
                     (unsigned long long)delta->base, (unsigned long long)p->generation);
        else
            snprintf(why, len, "task delta %llu changes list %llu, no list here yet",
                     (unsigned long long)delta->generation,
                     (unsigned long long)delta->base);
        return -ESTALE;
    }
    if (cur == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < p->ntasks; i++)
        cur[i] = p->tasks[i]->spec;
    rc = proto_tasks_patch(cur, (uint32_t)p->ntasks, delta, &next);
    free(cur);
    if (rc == -E2BIG) {
        snprintf(why, len, "policy max_tasks: task delta %llu makes more than %d tasks",
                 (unsigned long long)delta->generation, PROTO_TASKS_MAX);
        return -EPERM;
    }
    if (rc == 0)
        rc = probe_sched_apply(p, &next, why, len);
    free(next.tasks);
    return rc;
}

static uint32_t max_timeout_ms(const struct probe *p)
{
    uint32_t m = 0;

    for (size_t i = 0; i < p->ntasks; i++)
        if (p->tasks[i]->spec.timeout_ms > m)
            m = p->tasks[i]->spec.timeout_ms;
    return m;
}

/* The closing windows have waited a timeout: they become records. */
static void on_close_cb(uv_timer_t *h)
{
    struct probe *p = h->data;
    size_t made = 0;
    int64_t label = 0;
    int rc;

    for (size_t i = 0; i < p->ntasks; i++) {
        struct probe_task *t = p->tasks[i];
        struct probe_window *w = &t->win[t->cur ^ 1];
        struct proto_result r;

        if (w->id == 0)
            continue;
        if (w->sent == 0) {
            probe_window_open(w, 0, 0); /* nothing measured: no record */
            continue;
        }
        probe_window_close(t, w, p->window_s, &r);
        r.seq = p->next_seq++;
        label = r.window_start_ms;
        /* A record the encoder refuses would stall the uplink, which could
         * never send the batch holding it: it never reaches the spool. */
        rc = probe_delivery_append(&p->delivery, &r);
        proto_sketch_free(&r.sketch);
        if (rc == -EINVAL || rc == -EMSGSIZE)
            log_error("task %u: dropping a record the protocol rejects (a bug)",
                      t->spec.id);
        else if (rc < 0)
            log_error(
                "spool: record %llu of task %u not written: %s (counted as dropped)",
                (unsigned long long)r.seq, t->spec.id, strerror(-rc));
        else
            made++;
    }
    rc = probe_delivery_commit(&p->delivery, label);
    if (rc < 0)
        log_error(
            "spool: sync failed: %s (what it could not keep is dropped, and counted)",
            strerror(-rc));
    log_debug("closed %zu windows, %llu records pending", made,
              (unsigned long long)probe_spool_pending(&p->delivery.spool));
    probe_uplink_flush(p);
}

static void on_boundary_cb(uv_timer_t *h)
{
    struct probe *p = h->data;
    int64_t start = label_now(p);

    /* The previous windows must be records before their slots are reused. */
    if (uv_is_active((uv_handle_t *)&p->close_timer)) {
        uv_timer_stop(&p->close_timer);
        on_close_cb(&p->close_timer);
    }
    for (size_t i = 0; i < p->ntasks; i++) {
        struct probe_task *t = p->tasks[i];

        t->cur ^= 1;
        probe_window_open(&t->win[t->cur], start, p->window_serial + 1);
    }
    p->window_serial++;
    p->window_label_ms = start;
    uv_timer_start(&p->close_timer, on_close_cb, max_timeout_ms(p) + 1, 0);
    schedule_boundary(p, 0);
}

/*
 * Arms the next boundary, one window after the last on the monotonic
 * clock; with align, at the next wall-clock multiple of the window instead
 * (at start, and when the window length changes).  Re-armed at each
 * boundary rather than repeating, so that it does not drift.
 */
static void schedule_boundary(struct probe *p, int align)
{
    int64_t w = window_ms(p), mono, wall, next;

    /* Timers count from the loop's cached time: bring it up to date. */
    uv_update_time(p->loop);
    mono = mono_ms();
    if (align) {
        wall = now_ms();
        next = wall - wall % w + w;
        p->boundary_mono_ms = mono + (next - wall);
        p->window_label_ms = next - w; /* of the windows open until then */
    } else {
        int64_t off = 0;

        p->boundary_mono_ms =
            probe_next_boundary(p->boundary_mono_ms, mono, now_ms(), w, &off);
        if (off != 0)
            log_info("window boundaries were %+lld ms off the wall clock: realigned",
                     (long long)off);
    }
    uv_timer_start(
        &p->window_timer, on_boundary_cb,
        (uint64_t)(p->boundary_mono_ms > mono ? p->boundary_mono_ms - mono : 0), 0);
}

int probe_sched_wheel_init(struct probe *p)
{
    int rc = probe_wheel_init(&p->wheel, WHEEL_SLOTS, uv_now(p->loop));

    if (rc < 0)
        return rc;
    /*
     * The loop may wake up to a wheel slot (1 ms) late: send times are
     * read, not assumed, and the wheel keeps each task's phase, so the pace
     * holds; but the kernel then wakes us once for two or three slots'
     * attempts, which go out in one sendmmsg().  At a thousand targets a
     * second the wakeups cost as much CPU as the packets (the default slack
     * is 50 us).
     */
    prctl(PR_SET_TIMERSLACK, 1000000UL);
    uv_timer_init(p->loop, &p->wheel_timer);
    p->wheel_timer.data = p;
    return 0;
}

int probe_sched_init(struct probe *p)
{
    int rc = probe_sched_wheel_init(p);

    if (rc < 0)
        return rc;
    uv_timer_init(p->loop, &p->window_timer);
    uv_timer_init(p->loop, &p->close_timer);
    p->window_timer.data = p;
    p->close_timer.data = p;
    p->window_serial = 1;
    probe_budget_init(&p->budget, &p->cfg.policy, uv_now(p->loop));
    schedule_boundary(p, 1);
    return 0;
}

void probe_sched_stop(struct probe *p)
{
    for (size_t i = 0; i < p->ntasks; i++)
        probe_sched_drop_task(p, p->tasks[i]);
    free(p->tasks);
    p->tasks = NULL;
    p->ntasks = 0;
    probe_method_close_all(p);
    probe_wheel_free(&p->wheel);
    uv_close((uv_handle_t *)&p->wheel_timer, NULL);
    uv_close((uv_handle_t *)&p->window_timer, NULL);
    uv_close((uv_handle_t *)&p->close_timer, NULL);
}
