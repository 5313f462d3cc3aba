/*
 * queue.c - summary records waiting for the controller's acknowledgement,
 * oldest first.  It lives in memory; the crash-safe spool will sit beneath
 * it.  A full queue drops its oldest record and counts the drop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

void probe_queue_init(struct probe_queue *q)
{
    memset(q, 0, sizeof(*q));
}

void probe_queue_free(struct probe_queue *q)
{
    for (size_t i = 0; i < q->len; i++)
        proto_sketch_free(&q->recs[q->head + i].sketch);
    free(q->recs);
    memset(q, 0, sizeof(*q));
}

static void drop_oldest(struct probe_queue *q)
{
    proto_sketch_free(&q->recs[q->head].sketch);
    q->head++;
    q->len--;
    if (q->nsent > 0)
        q->nsent--;
    q->dropped++;
}

/* Keeps the records contiguous so a batch is one slice of the array. */
static int make_room(struct probe_queue *q)
{
    struct proto_result *n;
    size_t cap;

    if (q->head + q->len < q->cap)
        return 0;
    if (q->head > 0) {
        memmove(q->recs, q->recs + q->head, q->len * sizeof(*q->recs));
        q->head = 0;
        if (q->len < q->cap)
            return 0;
    }
    cap = q->cap ? q->cap * 2 : 64;
    n = realloc(q->recs, cap * sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    q->recs = n;
    q->cap = cap;
    return 0;
}

int probe_queue_push(struct probe_queue *q, struct proto_result *r)
{
    int rc;

    if (q->len >= PROBE_QUEUE_MAX)
        drop_oldest(q);
    rc = make_room(q);
    if (rc < 0)
        return rc;
    q->recs[q->head + q->len++] = *r;
    proto_sketch_init(&r->sketch);
    return 0;
}

size_t probe_queue_ack(struct probe_queue *q, uint64_t acked)
{
    size_t n = 0;

    while (q->len > 0 && q->recs[q->head].seq <= acked) {
        proto_sketch_free(&q->recs[q->head].sketch);
        q->head++;
        q->len--;
        if (q->nsent > 0)
            q->nsent--;
        n++;
    }
    return n;
}

size_t probe_queue_next_batch(struct probe_queue *q, size_t max,
                              struct proto_result **first)
{
    size_t n = q->len - q->nsent;

    if (n == 0) {
        *first = NULL;
        return 0;
    }
    *first = q->recs + q->head + q->nsent;
    return n < max ? n : max;
}

void probe_queue_mark_sent(struct probe_queue *q, size_t n)
{
    q->nsent += n;
}

void probe_queue_rewind(struct probe_queue *q)
{
    q->nsent = 0;
}
