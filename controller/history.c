/*
 * history.c - one pair over time: its series of points and its raw
 * windows, read from the store's levels and written by analysis/.
 */
#include <errno.h>
#include <stdlib.h>

#include "controller.h"

/* Rollups newer than this may still be in the store's memory: a probe's
 * deltas are written a minute after they begin, an idle one's within the
 * next minute (store/deltas.c, retention_io.c). */
#define FRESH_MS (2 * 60 * 1000 + 10000)

void ctl_query_horizons(const struct ctl_retention *rt, int64_t now_ms,
                        struct ctl_horizons *h)
{
    h->kept_from[0] = rt->raw_s > 0 ? now_ms - rt->raw_s * 1000 : INT64_MIN / 4;
    for (int i = 0; i < CTL_ROLLUP_LEVELS; i++)
        h->kept_from[i + 1] =
            rt->level_s[i] > 0 ? now_ms - rt->level_s[i] * 1000 : INT64_MIN / 4;
    h->fresh_from = now_ms - FRESH_MS;
}

struct pair_doc {
    const struct ctl_query *q;
    struct ctl_series series;
    json_t *windows;
    uint64_t rows;
};

static int cancelled(struct pair_doc *d)
{
    return ++d->rows % 4096 == 0 && d->q->cancelled != NULL &&
           d->q->cancelled(d->q->cancel_arg);
}

static int series_row(void *arg, const struct ctl_window_row *r)
{
    struct pair_doc *d = arg;

    if (cancelled(d))
        return -ECANCELED;
    ctl_series_add(&d->series, r);
    return 0;
}

static int window_row(void *arg, const struct ctl_window_row *r)
{
    struct pair_doc *d = arg;

    if (cancelled(d))
        return -ECANCELED;
    if (json_array_size(d->windows) >= CTL_WINDOWS_MAX)
        return 1; /* enough: the answer says it was cut */
    return json_array_append_new(d->windows, ctl_window_json(r)) < 0 ? -ENOMEM : 0;
}

/*
 * The points of step from from (moved back to a step's boundary): the
 * coarsest level whose buckets fit a step whole, the newest minutes from
 * the raw windows.
 */
static json_t *series(struct ctl_store *st, struct pair_doc *d, int *err)
{
    const struct ctl_query *q = d->q;
    int64_t from = q->from_ms - q->from_ms % q->step_ms;
    int64_t fresh = q->horizons.fresh_from;
    int level = ctl_series_level(q->step_ms);
    struct ctl_window_range old, recent;
    json_t *doc;

    if ((*err = ctl_series_init(&d->series, from, q->to_ms, q->step_ms)) < 0)
        return NULL;
    /* Split at a boundary of the level: the bucket holding `fresh` is read
     * from the raw windows, not whole from its rollup and again raw. */
    if (level != CTL_LEVEL_RAW)
        fresh = ctl_bucket_start(fresh, ctl_rollup_levels[level]);
    fresh = fresh < from ? from : fresh > q->to_ms ? q->to_ms : fresh;
    old = (struct ctl_window_range){.from_ms = from, .to_ms = fresh};
    recent = (struct ctl_window_range){.from_ms = fresh, .to_ms = q->to_ms};
    *err = ctl_store_pair_rows(st, level, q->src, q->dst, q->method, &old, series_row, d);
    if (*err == 0 && recent.from_ms < recent.to_ms)
        *err = ctl_store_pair_rows(st, CTL_LEVEL_RAW, q->src, q->dst, q->method, &recent,
                                   series_row, d);
    doc = *err == 0 ? ctl_series_json(&d->series) : NULL;
    if (*err == 0 && doc == NULL)
        *err = -ENOMEM;
    if (doc != NULL)
        json_object_set_new(doc, "from", ctl_iso_time(from));
    ctl_series_free(&d->series);
    return doc;
}

static json_t *windows(struct ctl_store *st, struct pair_doc *d, int *err)
{
    const struct ctl_query *q = d->q;
    struct ctl_window_range r = {.from_ms = q->from_ms, .to_ms = q->to_ms};
    int rc;

    if ((d->windows = json_array()) == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    rc = ctl_store_pair_rows(st, CTL_LEVEL_RAW, q->src, q->dst, q->method, &r, window_row,
                             d);
    *err = rc < 0 ? rc : 0;
    if (*err < 0) {
        json_decref(d->windows);
        return NULL;
    }
    return json_pack("{s:o, s:b, s:o}", "windows", d->windows, "truncated", rc == 1,
                     "kept_from", ctl_iso_time(q->horizons.kept_from[0]));
}

json_t *ctl_pair_history(struct ctl_store *st, const struct ctl_query *q, int *err)
{
    struct pair_doc d = {.q = q};
    json_t *doc = q->kind == CTL_Q_SERIES ? series(st, &d, err) : windows(st, &d, err);

    if (doc == NULL)
        return NULL;
    json_object_set_new(doc, "src", json_string(q->src));
    json_object_set_new(doc, "dst", json_string(q->dst));
    json_object_set_new(doc, "method",
                        json_string(proto_method_name((uint8_t)q->method)));
    json_object_set_new(doc, "generated_at", ctl_iso_time(q->now_ms));
    json_object_set_new(doc, "to", ctl_iso_time(q->to_ms));
    if (q->kind == CTL_Q_WINDOWS)
        json_object_set_new(doc, "from", ctl_iso_time(q->from_ms));
    return doc;
}
