/*
 * retention_io.c - runs the store's retention ([store]) on the writer thread
 * (writer_io.c), timed from the loop: a step deletes at most RETENTION_BATCH
 * rows of each level, each level in its own short transaction, and the next
 * step follows soon after while anything was deleted, so that storing
 * RESULTS is never held up for long; once nothing is older than its
 * horizon, a step a minute.
 *
 * What went and how large the file is are logged at start and then at most
 * once an hour: deleting is steady work, not news.  Each step first writes
 * the rollups' deltas of probes that went quiet (store/deltas.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "controller.h"
#include "log.h"

#define RETENTION_BATCH   2000
#define RETENTION_BUSY_MS 200   /* between steps while rows are going */
#define RETENTION_IDLE_MS 60000 /* between steps once none are */
#define RETENTION_LOG_MS  3600000

static void log_store(struct ctl *c, const char *when)
{
    struct ctl_retention_state *r = &c->retention;
    struct ctl_store *st = ctl_store_take(c);
    struct ctl_store_size sz;
    int rc = ctl_store_size(st, &sz);

    if (rc < 0)
        log_warn("store: cannot read the database's size: %s", ctl_store_error(st));
    ctl_store_give(c);
    if (rc < 0)
        return;
    log_info("store: %s: the database is %.1f MB (%.1f MB of it free pages, reused "
             "first); retention deleted %" PRIu64 " raw windows and %" PRIu64 ", %" PRIu64
             " and %" PRIu64 " rows of the minute, hour and day levels",
             when, (double)sz.file_octets / 1e6, (double)sz.free_octets / 1e6,
             r->gone.raw, r->gone.level[0], r->gone.level[1], r->gone.level[2]);
}

/* One step, on the writer thread (writer_io.c), between two batches. */
static int retention_step(struct ctl_store *st, void *arg)
{
    struct ctl *c = arg;
    struct ctl_retention_state *r = &c->retention;

    /* The rollups' deltas of probes that stopped sending: theirs are not
     * written by their own batches (store/deltas.c). */
    if (ctl_store_flush(st, ctl_now_ms(), 0) < 0)
        log_warn("store: writing the rollups: %s", ctl_store_error(st));
    memset(&r->step, 0, sizeof(r->step));
    if (ctl_store_expire(st, &c->cfg.retention, ctl_now_ms(), RETENTION_BATCH, &r->step) <
        0) {
        log_warn("store: retention: %s; trying again in a minute", ctl_store_error(st));
        return -1;
    }
    return 0;
}

static void on_retention_cb(uv_timer_t *h);

/* Back on the loop: counts what went, logs now and then, and goes on. */
static void retention_stepped(struct ctl *c, void *arg, int rc)
{
    struct ctl_retention_state *r = &c->retention;
    uint64_t n = r->step.raw;

    (void)arg;
    if (c->stopping)
        return; /* the timer is closed */
    if (rc < 0) {
        uv_timer_start(&r->timer, on_retention_cb, RETENTION_IDLE_MS, 0);
        return;
    }
    r->gone.raw += r->step.raw;
    for (int i = 0; i < CTL_ROLLUP_LEVELS; i++) {
        n += r->step.level[i];
        r->gone.level[i] += r->step.level[i];
    }
    if (n == 0 && uv_now(c->loop) >= r->next_log_ms) {
        log_store(c, r->next_log_ms == 0 ? "at start" : "in the last hour");
        memset(&r->gone, 0, sizeof(r->gone));
        r->next_log_ms = uv_now(c->loop) + RETENTION_LOG_MS;
    }
    uv_timer_start(&r->timer, on_retention_cb,
                   n > 0 ? RETENTION_BUSY_MS : RETENTION_IDLE_MS, 0);
}

static void on_retention_cb(uv_timer_t *h)
{
    struct ctl *c = h->data;

    if (ctl_writer_submit(c, retention_step, retention_stepped, c) < 0)
        uv_timer_start(h, on_retention_cb, RETENTION_IDLE_MS, 0);
}

static void describe(const struct ctl_retention *rt)
{
    char v[4][32];
    int64_t s[4] = {rt->raw_s, rt->level_s[0], rt->level_s[1], rt->level_s[2]};

    for (int i = 0; i < 4; i++) {
        if (s[i] == 0)
            snprintf(v[i], sizeof(v[i]), "forever");
        else if (s[i] % 86400 == 0)
            snprintf(v[i], sizeof(v[i]), "%" PRId64 " d", s[i] / 86400);
        else
            snprintf(v[i], sizeof(v[i]), "%.1f h", (double)s[i] / 3600);
    }
    log_info("store: keeping raw windows %s, minutes %s, hours %s, days %s", v[0], v[1],
             v[2], v[3]);
}

void ctl_retention_start(struct ctl *c)
{
    describe(&c->cfg.retention);
    uv_timer_init(c->loop, &c->retention.timer);
    c->retention.timer.data = c;
    uv_timer_start(&c->retention.timer, on_retention_cb, 0, 0);
}

void ctl_retention_stop(struct ctl *c)
{
    if (c->retention.timer.data != NULL) /* started */
        uv_close((uv_handle_t *)&c->retention.timer, NULL);
}
