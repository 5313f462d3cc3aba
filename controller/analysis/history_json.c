/*
 * history_json.c - how the history API writes a fold, a matrix and a
 * series.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"

static int pair_order(const void *a, const void *b)
{
    const struct ctl_pair *x = *(const struct ctl_pair *const *)a;
    const struct ctl_pair *y = *(const struct ctl_pair *const *)b;
    int c = strcmp(x->src, y->src);

    if (c == 0)
        c = strcmp(x->dst, y->dst);
    return c != 0 ? c : x->method - y->method;
}

/* The fold's pairs that hold windows, in the order of pair_order. */
static const struct ctl_pair **sorted_pairs(const struct ctl_fold *f, size_t *n)
{
    const struct ctl_pair **v = malloc((f->npairs ? f->npairs : 1) * sizeof(*v));

    *n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < f->cap && *n < f->npairs; i++)
        if (f->v[i].windows > 0)
            v[(*n)++] = &f->v[i];
    qsort(v, *n, sizeof(*v), pair_order);
    return v;
}

json_t *ctl_fold_pairs_json(const struct ctl_fold *f, const struct ctl_node *nodes,
                            size_t nnodes, const struct ctl_config *cfg)
{
    size_t n;
    const struct ctl_pair **v = sorted_pairs(f, &n);
    json_t *list = v != NULL ? json_array() : NULL;

    for (size_t i = 0; list != NULL && i < n; i++) {
        if (json_array_append_new(list, ctl_pair_json(v[i], nodes, nnodes, cfg)) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    free(v);
    return list;
}

/* ---- format=matrix --------------------------------------------------------- */

enum metric { SENT, RECEIVED, LOSS, MIN, P50, P90, P99, MAX, JITTER, NMETRICS };

static const char *const metric_names[NMETRICS] = {
    "sent",       "received",   "loss_pct",   "rtt_min_ms", "rtt_p50_ms",
    "rtt_p90_ms", "rtt_p99_ms", "rtt_max_ms", "jitter_ms"};

static json_t *metric_json(const struct ctl_pair *p, enum metric m)
{
    int ok = p->received > 0;

    switch (m) {
    case SENT:
        return json_integer((json_int_t)p->sent);
    case RECEIVED:
        return json_integer((json_int_t)p->received);
    case LOSS:
        return p->sent ? json_real(round(p->lost * 10000.0 / p->sent) / 100)
                       : json_null();
    case MIN:
        return ctl_ms_json((double)p->min_ns, ok);
    case P50:
        return ctl_ms_json(ctl_pair_quantile(p, 0.5), ok);
    case P90:
        return ctl_ms_json(ctl_pair_quantile(p, 0.9), ok);
    case P99:
        return ctl_ms_json(ctl_pair_quantile(p, 0.99), ok);
    case MAX:
        return ctl_ms_json((double)p->max_ns, ok);
    default:
        return p->ipdv_count ? ctl_ms_json((double)p->ipdv_sum_ns / p->ipdv_count, 1)
                             : json_null();
    }
}

static int id_order(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Index of id in ids (sorted copy in by, with the original order in pos). */
static long node_index(const char *const *by, const size_t *pos, size_t n, const char *id)
{
    const char *const *hit = bsearch(&id, by, n, sizeof(*by), id_order);

    return hit != NULL ? (long)pos[hit - by] : -1;
}

/* The metrics of one method: arrays of n * n nulls, filled where pairs are. */
static json_t *method_matrix(size_t n)
{
    json_t *m = json_object();

    for (int k = 0; m != NULL && k < NMETRICS; k++) {
        json_t *a = json_array();

        for (size_t i = 0; a != NULL && i < n * n; i++)
            if (json_array_append_new(a, json_null()) < 0) {
                json_decref(a);
                a = NULL;
            }
        if (a == NULL || json_object_set_new(m, metric_names[k], a) < 0) {
            json_decref(m);
            return NULL;
        }
    }
    return m;
}

static int fill(json_t *methods, const struct ctl_pair *p, size_t cell, size_t n)
{
    const char *name = proto_method_name((uint8_t)p->method);
    json_t *m = json_object_get(methods, name);

    if (m == NULL &&
        (json_object_set_new(methods, name, m = method_matrix(n)) < 0 || m == NULL))
        return -1;
    for (int k = 0; k < NMETRICS; k++)
        if (json_array_set_new(json_object_get(m, metric_names[k]), cell,
                               metric_json(p, (enum metric)k)) < 0)
            return -1;
    return 0;
}

/* Sorted ids for the lookups, with where each was in ids. */
static int index_ids(const char *const *ids, size_t n, const char ***by, size_t **pos)
{
    *by = malloc((n ? n : 1) * sizeof(**by));
    *pos = malloc((n ? n : 1) * sizeof(**pos));
    if (*by == NULL || *pos == NULL)
        return -1;
    memcpy(*by, ids, n * sizeof(**by));
    qsort(*by, n, sizeof(**by), id_order);
    for (size_t i = 0; i < n; i++) {
        const char *const *hit = bsearch(&ids[i], *by, n, sizeof(**by), id_order);

        (*pos)[hit - *by] = i;
    }
    return 0;
}

json_t *ctl_fold_matrix_json(const struct ctl_fold *f, const char *const *ids, size_t n)
{
    const char **by = NULL;
    size_t *pos = NULL;
    json_t *methods = json_object(), *nodes = json_array();
    int bad = methods == NULL || nodes == NULL || index_ids(ids, n, &by, &pos) < 0;

    for (size_t i = 0; !bad && i < n; i++)
        bad = json_array_append_new(nodes, json_string(ids[i])) < 0;
    for (size_t i = 0; !bad && i < f->cap; i++) {
        const struct ctl_pair *p = &f->v[i];
        long s, d;

        if (p->windows == 0)
            continue;
        s = node_index(by, pos, n, p->src);
        d = node_index(by, pos, n, p->dst);
        if (s >= 0 && d >= 0)
            bad = fill(methods, p, (size_t)s * n + (size_t)d, n) < 0;
    }
    free(by);
    free(pos);
    if (bad) {
        json_decref(methods);
        json_decref(nodes);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "nodes", nodes, "methods", methods);
}

/* ---- series and windows ---------------------------------------------------- */

static json_t *point_json(const struct ctl_pair *p, int64_t t_ms)
{
    json_t *o = json_pack("{s:o}", "t", ctl_iso_time(t_ms));

    for (int k = 0; o != NULL && k < NMETRICS; k++)
        if (json_object_set_new(o, metric_names[k],
                                p->windows      ? metric_json(p, (enum metric)k)
                                : k <= RECEIVED ? json_integer(0)
                                                : json_null()) < 0) {
            json_decref(o);
            o = NULL;
        }
    return o;
}

json_t *ctl_series_json(const struct ctl_series *s)
{
    json_t *points = json_array();

    for (size_t i = 0; points != NULL && i < s->n; i++)
        if (json_array_append_new(
                points, point_json(&s->points[i], s->from_ms + (int64_t)i * s->step_ms)) <
            0) {
            json_decref(points);
            points = NULL;
        }
    if (points == NULL)
        return NULL;
    return json_pack("{s:I, s:o}", "step_s", (json_int_t)(s->step_ms / 1000), "points",
                     points);
}

/* The extra column as JSON; null when there is none or it does not parse. */
static json_t *extra_json(const char *text)
{
    json_t *x = text != NULL ? json_loads(text, 0, NULL) : NULL;

    return x != NULL ? x : json_null();
}

json_t *ctl_window_json(const struct ctl_window_row *r)
{
    struct ctl_pair p;
    json_t *o;

    ctl_pair_init(&p);
    ctl_pair_start(&p, r);
    ctl_pair_add(&p, r);
    o = point_json(&p, r->window_start_ms);
    if (o != NULL &&
        (json_object_set_new(o, "start_ms", json_integer(r->window_start_ms)) < 0 ||
         json_object_set_new(o, "window_s", json_integer(r->window_s)) < 0 ||
         json_object_set_new(o, "seq", json_integer((json_int_t)r->seq)) < 0 ||
         json_object_set_new(o, "ttl", r->ttl ? json_integer(r->ttl) : json_null()) < 0 ||
         json_object_set_new(o, "extra", extra_json(r->extra)) < 0)) {
        json_decref(o);
        o = NULL;
    }
    ctl_pair_free(&p);
    return o;
}
