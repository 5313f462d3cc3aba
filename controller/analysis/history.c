/*
 * history.c - what the history API computes, with no I/O: times as the
 * API takes them, a range cut into the pieces each level covers exactly,
 * pairs folded by their key, and a pair's series of points.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis.h"

/* "1765000000" (Unix seconds) or RFC 3339 ("2026-12-07T06:00:00Z",
 * "...T06:00:00.5+01:00"): ms since the epoch, UTC. */
int ctl_parse_time(const char *v, int64_t *ms)
{
    struct tm tm = {0};
    const char *p;
    char *end;
    double frac = 0; /* of a second: below 1 */
    long long secs;
    int sign, oh, om;

    if (v[0] >= '0' && v[0] <= '9' && strchr(v, '-') == NULL) {
        errno = 0;
        secs = strtoll(v, &end, 10);
        if (errno != 0 || *end != '\0' || secs > 32503680000LL) /* year 3000 */
            return -EINVAL;
        *ms = secs * 1000;
        return 0;
    }
    p = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL && (p = strptime(v, "%Y-%m-%dt%H:%M:%S", &tm)) == NULL)
        return -EINVAL;
    if (*p == '.') { /* digits only: strtod would take "5e300" */
        double unit = 0.1;

        if (p[1] < '0' || p[1] > '9')
            return -EINVAL;
        for (p++; *p >= '0' && *p <= '9'; p++, unit /= 10)
            frac += (*p - '0') * unit;
    }
    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
        oh = om = 0;
        sign = 1;
    } else if ((p[0] == '+' || p[0] == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 &&
               strlen(p) == 6 && oh < 24 && om < 60) {
        sign = p[0] == '+' ? 1 : -1;
    } else {
        return -EINVAL;
    }
    secs = (long long)timegm(&tm) - sign * (oh * 3600 + om * 60);
    *ms = secs * 1000 + (int64_t)llround(frac * 1000);
    return 0;
}

/* Cuts [from, to) at level i's boundaries: the whole buckets from level i,
 * what is left at each end from the finer levels. */
static void cut(int64_t from, int64_t to, int i, struct ctl_pieces *out)
{
    int64_t len, a, b;

    if (from >= to)
        return;
    if (i < 0) {
        if (out->n < CTL_PIECES_MAX)
            out->v[out->n++] = (struct ctl_piece){CTL_LEVEL_RAW, from, to};
        return;
    }
    len = (int64_t)ctl_rollup_levels[i] * 1000;
    a = ctl_bucket_start(from, ctl_rollup_levels[i]);
    a = a < from ? a + len : a;
    b = ctl_bucket_start(to, ctl_rollup_levels[i]);
    if (a >= b) {
        cut(from, to, i - 1, out);
        return;
    }
    cut(from, a, i - 1, out);
    if (out->n < CTL_PIECES_MAX)
        out->v[out->n++] = (struct ctl_piece){i, a, b};
    cut(b, to, i - 1, out);
}

/* The finest granularity kept at time t (0: raw windows), in ms. */
static int64_t grain_at(int64_t t, const struct ctl_horizons *h)
{
    if (t >= h->kept_from[0])
        return 0;
    for (int i = 0; i < CTL_ROLLUP_LEVELS; i++)
        if (t >= h->kept_from[i + 1] || i == CTL_ROLLUP_LEVELS - 1)
            return (int64_t)ctl_rollup_levels[i] * 1000;
    return 0;
}

void ctl_range_pieces(int64_t from, int64_t to, const struct ctl_horizons *h,
                      struct ctl_pieces *out)
{
    int64_t g, fresh = h->fresh_from;

    out->n = 0;
    /* Ends older than what is kept finely move out to what is. */
    if ((g = grain_at(from, h)) > 0)
        from = ctl_bucket_start(from, (uint32_t)(g / 1000));
    if ((g = grain_at(to, h)) > 0 && ctl_bucket_start(to, (uint32_t)(g / 1000)) != to)
        to = ctl_bucket_start(to, (uint32_t)(g / 1000)) + g;
    out->from_ms = from;
    out->to_ms = to;
    /* The newest part from the raw windows: its rollups may still be in
     * the store's memory (store/deltas.c). */
    if (fresh < from)
        fresh = from;
    if (fresh > to)
        fresh = to;
    cut(from, fresh, CTL_ROLLUP_LEVELS - 1, out);
    cut(fresh, to, -1, out);
}

/* ---- pairs folded by key -------------------------------------------------- */

void ctl_fold_init(struct ctl_fold *f)
{
    memset(f, 0, sizeof(*f));
}

void ctl_fold_free(struct ctl_fold *f)
{
    for (size_t i = 0; i < f->cap; i++)
        ctl_pair_free(&f->v[i]);
    free(f->v);
    memset(f, 0, sizeof(*f));
}

int ctl_fold_add(struct ctl_fold *f, const struct ctl_window_row *r)
{
    size_t k = (size_t)r->pair;

    if (r->pair <= 0 || r->pair > CTL_FOLD_MAX)
        return -ERANGE;
    if (k >= f->cap) {
        size_t cap = f->cap ? f->cap : 1024;
        struct ctl_pair *v;

        while (cap <= k)
            cap *= 2;
        if ((v = realloc(f->v, cap * sizeof(*v))) == NULL)
            return -ENOMEM;
        for (size_t i = f->cap; i < cap; i++)
            ctl_pair_init(&v[i]);
        f->v = v;
        f->cap = cap;
    }
    if (f->v[k].windows == 0) {
        ctl_pair_start(&f->v[k], r);
        f->npairs++;
    }
    ctl_pair_add(&f->v[k], r);
    return 0;
}

/* ---- a pair's series ------------------------------------------------------ */

int ctl_series_init(struct ctl_series *s, int64_t from_ms, int64_t to_ms, int64_t step_ms)
{
    memset(s, 0, sizeof(*s));
    if (step_ms <= 0 || to_ms <= from_ms || (to_ms - from_ms) / step_ms >= CTL_SERIES_MAX)
        return -EINVAL;
    s->from_ms = from_ms;
    s->step_ms = step_ms;
    s->n = (size_t)((to_ms - from_ms + step_ms - 1) / step_ms);
    if ((s->points = calloc(s->n, sizeof(*s->points))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++)
        ctl_pair_init(&s->points[i]);
    return 0;
}

void ctl_series_free(struct ctl_series *s)
{
    for (size_t i = 0; i < s->n; i++)
        ctl_pair_free(&s->points[i]);
    free(s->points);
    memset(s, 0, sizeof(*s));
}

void ctl_series_add(struct ctl_series *s, const struct ctl_window_row *r)
{
    int64_t off = r->window_start_ms - s->from_ms;
    struct ctl_pair *p;

    if (off < 0 || (size_t)(off / s->step_ms) >= s->n)
        return;
    p = &s->points[off / s->step_ms];
    if (p->windows == 0)
        ctl_pair_start(p, r);
    ctl_pair_add(p, r);
}

/* The coarsest level whose rows fit whole in a step (-1: raw windows). */
int ctl_series_level(int64_t step_ms)
{
    for (int i = CTL_ROLLUP_LEVELS - 1; i >= 0; i--)
        if (step_ms % ((int64_t)ctl_rollup_levels[i] * 1000) == 0)
            return i;
    return CTL_LEVEL_RAW;
}
