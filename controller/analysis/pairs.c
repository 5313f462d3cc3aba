/*
 * pairs.c - a pair's windows merged into one: sums of the counts, the merge
 * of the sketches, the newest of what the content methods report.
 *
 * The store hands the windows of a pair one by one, oldest first, so that
 * a map, a series point or a rollup is the same fold over a different set
 * of windows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"

int ctl_pair_init(struct ctl_pair *p)
{
    memset(p, 0, sizeof(*p));
    proto_sketch_init(&p->sketch);
    return 0;
}

void ctl_pair_free(struct ctl_pair *p)
{
    proto_sketch_free(&p->sketch);
    json_decref(p->latest);
    p->latest = NULL;
}

int ctl_pair_is(const struct ctl_pair *p, const struct ctl_window_row *r)
{
    return p->method == r->method && strcmp(p->src, r->probe_id) == 0 &&
           strcmp(p->dst, r->target_id) == 0;
}

void ctl_pair_start(struct ctl_pair *p, const struct ctl_window_row *r)
{
    struct proto_sketch sketch = p->sketch; /* kept: their memory is reused */
    json_t *latest = p->latest;

    memset(p, 0, sizeof(*p));
    p->sketch = sketch;
    p->latest = latest;
    proto_sketch_reset(&p->sketch);
    if (p->latest != NULL)
        json_object_clear(p->latest);
    snprintf(p->src, sizeof(p->src), "%s", r->probe_id);
    snprintf(p->dst, sizeof(p->dst), "%s", r->target_id);
    p->method = r->method;
}

/* Sets key unless p has it from a newer row; the object is made when
 * first needed (most pairs never need it: STAMP has no extra column). */
static void set_latest(struct ctl_pair *p, const char *key, json_t *v, int newest)
{
    if (p->latest == NULL && (p->latest = json_object()) == NULL)
        return;
    if (newest || json_object_get(p->latest, key) == NULL)
        json_object_set(p->latest, key, v);
}

/* Outcomes add up; every other key keeps the newest row's value. */
static void add_extra(struct ctl_pair *p, const char *text, int newest)
{
    json_t *x = text != NULL ? json_loads(text, 0, NULL) : NULL;
    const char *key;
    json_t *v;

    json_object_foreach(x, key, v)
    {
        if (strcmp(key, "oc") == 0) {
            const char *name;
            json_t *n;

            json_object_foreach(v, name, n)
            {
                int i = proto_outcome_parse(name);

                if (i > PROTO_OUT_OK && json_integer_value(n) > 0)
                    p->outcomes[i] += (uint64_t)json_integer_value(n);
            }
        } else {
            set_latest(p, key, v, newest);
        }
    }
    json_decref(x);
}

/* Keeps the newest window's start, sent and lost; 1 when that was it. */
static int note_newest(struct ctl_pair *p, int64_t ms, uint64_t sent, uint64_t lost)
{
    if (p->windows > 0 && ms < p->last_ms)
        return 0;
    p->last_ms = ms;
    p->last_sent = sent;
    p->last_lost = lost;
    return 1;
}

void ctl_pair_add(struct ctl_pair *p, const struct ctl_window_row *r)
{
    struct proto_sketch sk;
    int rollup = r->windows > 0;
    int newest =
        note_newest(p, rollup ? r->last_ms : r->window_start_ms,
                    rollup ? r->last_sent : r->sent, rollup ? r->last_lost : r->lost);

    p->windows += rollup ? r->windows : 1;
    p->sent += r->sent;
    p->lost += r->lost;
    p->ipdv_sum_ns += r->ipdv_sum_ns;
    p->ipdv_count += r->ipdv_count;
    p->duplicates += r->duplicates;
    p->reordered += r->reordered;
    if (r->ttl > 0 && (p->ttl == 0 || r->ttl < p->ttl))
        p->ttl = r->ttl;
    add_extra(p, r->extra, newest);
    if (r->received == 0)
        return; /* its min and max mean nothing */
    if (p->received == 0 || r->rtt_min_ns < p->min_ns)
        p->min_ns = r->rtt_min_ns;
    if (r->rtt_max_ns > p->max_ns)
        p->max_ns = r->rtt_max_ns;
    p->received += r->received;
    proto_sketch_init(&sk);
    if (proto_sketch_from_bytes(&sk, r->sketch, r->sketch_len) == 0)
        proto_sketch_merge(&p->sketch, &sk);
    proto_sketch_free(&sk);
}

void ctl_pair_merge(struct ctl_pair *p, const struct ctl_pair *q)
{
    int newest;
    const char *key;
    json_t *v;

    if (q->windows == 0)
        return;
    newest = note_newest(p, q->last_ms, q->last_sent, q->last_lost);
    p->windows += q->windows;
    p->sent += q->sent;
    p->lost += q->lost;
    p->ipdv_sum_ns += q->ipdv_sum_ns;
    p->ipdv_count += q->ipdv_count;
    p->duplicates += q->duplicates;
    p->reordered += q->reordered;
    if (q->ttl > 0 && (p->ttl == 0 || q->ttl < p->ttl))
        p->ttl = q->ttl;
    for (int i = 0; i < PROTO_OUTCOME_MAX; i++)
        p->outcomes[i] += q->outcomes[i];
    json_object_foreach((json_t *)q->latest, key, v) set_latest(p, key, v, newest);
    if (q->received == 0)
        return;
    if (p->received == 0 || q->min_ns < p->min_ns)
        p->min_ns = q->min_ns;
    if (q->max_ns > p->max_ns)
        p->max_ns = q->max_ns;
    p->received += q->received;
    proto_sketch_merge(&p->sketch, &q->sketch);
}

/* The outcomes under "oc" and the newest other keys; NULL when none. */
static int pair_extra(const struct ctl_pair *p, char **out)
{
    json_t *o = p->latest ? json_deep_copy(p->latest) : json_object(),
           *oc = json_object();
    int bad = o == NULL || oc == NULL;

    for (unsigned i = PROTO_OUT_OK + 1; !bad && i < PROTO_OUTCOME_MAX; i++)
        if (p->outcomes[i] > 0)
            bad = json_object_set_new(oc, proto_outcome_name(i),
                                      json_integer((json_int_t)p->outcomes[i])) < 0;
    if (!bad && json_object_size(oc) > 0)
        bad = json_object_set(o, "oc", oc) < 0;
    *out = NULL;
    if (!bad && json_object_size(o) > 0)
        bad = (*out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL;
    json_decref(oc);
    json_decref(o);
    return bad ? -ENOMEM : 0;
}

int ctl_pair_row(const struct ctl_pair *p, int64_t bucket_ms, uint32_t level_s,
                 struct ctl_window_row *row, uint8_t **sketch, char **extra)
{
    size_t len = 0;

    *sketch = NULL;
    if (pair_extra(p, extra) < 0)
        return -ENOMEM;
    if (proto_sketch_to_bytes(&p->sketch, sketch, &len) < 0) {
        free(*extra);
        *extra = NULL;
        return -ENOMEM;
    }
    *row = (struct ctl_window_row){
        .probe_id = p->src,
        .target_id = p->dst,
        .method = p->method,
        .window_start_ms = bucket_ms,
        .window_s = level_s,
        .sent = p->sent,
        .received = p->received,
        .lost = p->lost,
        .duplicates = p->duplicates,
        .reordered = p->reordered,
        .rtt_min_ns = p->min_ns,
        .rtt_max_ns = p->max_ns,
        .ipdv_sum_ns = p->ipdv_sum_ns,
        .ipdv_count = p->ipdv_count,
        .ttl = p->ttl,
        .sketch = *sketch,
        .sketch_len = len,
        .extra = *extra,
        .windows = p->windows,
        .last_ms = p->last_ms,
        .last_sent = p->last_sent,
        .last_lost = p->last_lost,
    };
    return 0;
}

int64_t ctl_bucket_start(int64_t ms, uint32_t level_s)
{
    int64_t len = (int64_t)level_s * 1000, r = ms % len;

    return r < 0 ? ms - r - len : ms - r;
}

double ctl_pair_quantile(const struct ctl_pair *p, double q)
{
    return proto_sketch_quantile_within(&p->sketch, q, (double)p->min_ns,
                                        (double)p->max_ns);
}
