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
#include <string.h>

#include "analysis.h"

int ctl_pair_init(struct ctl_pair *p)
{
    memset(p, 0, sizeof(*p));
    proto_sketch_init(&p->sketch);
    p->latest = json_object();
    return p->latest != NULL ? 0 : -ENOMEM;
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
    json_object_clear(p->latest);
    snprintf(p->src, sizeof(p->src), "%s", r->probe_id);
    snprintf(p->dst, sizeof(p->dst), "%s", r->target_id);
    p->method = r->method;
}

/* Outcomes add up; every other key keeps its newest value. */
static void add_extra(struct ctl_pair *p, const char *text)
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
            json_object_set(p->latest, key, v);
        }
    }
    json_decref(x);
}

void ctl_pair_add(struct ctl_pair *p, const struct ctl_window_row *r)
{
    struct proto_sketch sk;

    p->windows++;
    p->last_sent = r->sent;
    p->last_lost = r->lost;
    p->sent += r->sent;
    p->lost += r->lost;
    p->ipdv_sum_ns += r->ipdv_sum_ns;
    p->ipdv_count += r->ipdv_count;
    p->duplicates += r->duplicates;
    p->reordered += r->reordered;
    if (r->ttl > 0 && (p->ttl == 0 || r->ttl < p->ttl))
        p->ttl = r->ttl;
    add_extra(p, r->extra);
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

double ctl_pair_quantile(const struct ctl_pair *p, double q)
{
    return proto_sketch_quantile_within(&p->sketch, q, (double)p->min_ns,
                                        (double)p->max_ns);
}
