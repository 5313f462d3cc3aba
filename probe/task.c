/*
 * task.c - the task table entries and their per-window statistics.
 * Nothing here does I/O; sched_io.c drives it from timers.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

/* Wall-clock time: STAMP timestamps are wall-clock by definition (RFC 8762),
 * and the kernel's receive timestamps are on the same clock. */
int64_t probe_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The clock of durations: a wall-clock step cannot bend an RTT. */
int64_t probe_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Slots for every request that may still be answered: those sent within
 * one timeout, twice as many (plus some) for Poisson sending, whose gaps
 * can be far shorter than the mean.  A power of two, at most
 * PROBE_STAMP_RING: a thousand tasks at the usual 1 s interval and 1 s
 * timeout then take 8 slots each, not 256.
 */
static uint32_t ring_slots(const struct proto_task *spec)
{
    uint32_t interval = spec->interval_ms ? spec->interval_ms : 1;
    uint64_t need = (uint64_t)spec->timeout_ms / interval + 2;
    uint32_t n = 8;

    if (spec->poisson)
        need = 2 * need + 4;
    while (n < need && n < PROBE_STAMP_RING)
        n *= 2;
    return n;
}

struct probe_task *probe_task_new(const struct proto_task *spec)
{
    struct probe_task *t = calloc(1, sizeof(*t));
    uint32_t slots = ring_slots(spec);

    if (t == NULL)
        return NULL;
    t->spec = *spec;
    t->ring = calloc(slots, sizeof(*t->ring));
    t->ring_mask = slots - 1;
    if (t->ring == NULL ||
        proto_addr_parse(spec->addr, spec->port, &t->dst, &t->dstlen) < 0) {
        free(t->ring);
        free(t);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        proto_sketch_init(&t->win[i].sketch);
        t->win[i].last_rtt_ns = -1;
    }
    /* A random first sequence number, so a restarted task is not mistaken
     * by the reflector's peer for the previous one. */
    t->first_seq = t->next_seq = t->next_exp = (uint32_t)random();
    t->ssid = (uint16_t)(1 + random() % 65535);
    return t;
}

void probe_task_free(struct probe_task *t)
{
    if (t == NULL)
        return;
    proto_sketch_free(&t->win[0].sketch);
    proto_sketch_free(&t->win[1].sketch);
    free(t->ring);
    free(t);
}

int probe_task_same(const struct proto_task *a, const struct proto_task *b)
{
    return a->id == b->id && a->method == b->method && a->port == b->port &&
           a->interval_ms == b->interval_ms && a->timeout_ms == b->timeout_ms &&
           a->size == b->size && a->dscp == b->dscp && a->poisson == b->poisson &&
           strcmp(a->addr, b->addr) == 0 && strcmp(a->target_id, b->target_id) == 0;
}

void probe_window_open(struct probe_window *w, int64_t start_ms, int64_t id)
{
    proto_sketch_reset(&w->sketch);
    w->id = id;
    w->start_ms = start_ms;
    w->ttl_min = 0;
    w->sent = 0;
    w->received = 0;
    w->rtt_min_ns = 0;
    w->rtt_max_ns = 0;
    w->ipdv_sum_ns = 0;
    w->ipdv_count = 0;
    w->duplicates = 0;
    w->reordered = 0;
    w->last_rtt_ns = -1;
}

void probe_window_add_rtt(struct probe_window *w, int64_t rtt_ns)
{
    uint64_t v = (uint64_t)rtt_ns;

    if (w->received == 0 || v < w->rtt_min_ns)
        w->rtt_min_ns = v;
    if (v > w->rtt_max_ns)
        w->rtt_max_ns = v;
    /* RFC 3393 delay variation between consecutive replies, as |D|. */
    if (w->last_rtt_ns >= 0) {
        int64_t d = rtt_ns - w->last_rtt_ns;

        w->ipdv_sum_ns += (uint64_t)(d < 0 ? -d : d);
        w->ipdv_count++;
    }
    w->last_rtt_ns = rtt_ns;
    w->received++;
    proto_sketch_add(&w->sketch, (double)rtt_ns);
}

void probe_window_add_ttl(struct probe_window *w, uint8_t ttl)
{
    if (ttl != 0 && (w->ttl_min == 0 || ttl < w->ttl_min))
        w->ttl_min = ttl;
}

/* Windows are found by their monotonic id: a wall-clock step may give two
 * windows the same label, never the same id. */
struct probe_window *probe_task_window(struct probe_task *t, int64_t id)
{
    for (int i = 0; i < 2; i++)
        if (t->win[i].id != 0 && t->win[i].id == id)
            return &t->win[i];
    return NULL;
}

int probe_window_close(struct probe_task *t, struct probe_window *w, uint32_t window_s,
                       struct proto_result *r)
{
    memset(r, 0, sizeof(*r));
    r->schema = PROTO_SCHEMA;
    r->task_id = t->spec.id;
    r->method = t->spec.method;
    strcpy(r->target_id, t->spec.target_id);
    r->window_start_ms = w->start_ms;
    r->window_s = window_s;
    r->sent = w->sent;
    r->received = w->received;
    /* Whatever has not come back within the timeout is lost (RFC 7680). */
    r->lost = w->sent - w->received;
    r->rtt_min_ns = w->rtt_min_ns;
    r->rtt_max_ns = w->rtt_max_ns;
    r->ipdv_sum_ns = w->ipdv_sum_ns;
    r->ipdv_count = w->ipdv_count;
    r->duplicates = w->duplicates;
    r->reordered = w->reordered;
    r->ttl = w->ttl_min;
    r->sketch = w->sketch; /* the record takes the bins */
    proto_sketch_init(&w->sketch);
    w->id = 0;
    return 0;
}

/* A v4 target on a dual-stack v6 socket is addressed as ::ffff:a.b.c.d. */
int probe_task_fit_family(struct probe_task *t, int family)
{
    struct sockaddr_in v4;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&t->dst;

    if (t->dst.ss_family == family)
        return 0;
    if (family != AF_INET6)
        return -EAFNOSUPPORT;
    memcpy(&v4, &t->dst, sizeof(v4));
    memset(v6, 0, sizeof(*v6));
    v6->sin6_family = AF_INET6;
    v6->sin6_port = v4.sin_port;
    v6->sin6_addr.s6_addr[10] = 0xff;
    v6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&v6->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
    t->dstlen = sizeof(*v6);
    return 0;
}

/*
 * The next boundary is one window after the last, on the monotonic clock,
 * but for two things that must not last:
 *  - the loop stalled (a paused VM, SIGSTOP) past whole windows: they are
 *    skipped, rather than fired one after another, which would close
 *    windows before their replies were read;
 *  - a wall-clock step (NTP at boot on a device without a real-time clock,
 *    a resume) left the boundaries off the wall-clock multiples, so that
 *    this probe's windows no longer cover the same intervals as the
 *    others': a boundary more than PROBE_REALIGN_MS off moves to the
 *    nearest multiple, making that one window shorter or longer.
 */
int64_t probe_next_boundary(int64_t last_mono, int64_t mono, int64_t wall, int64_t w,
                            int64_t *off)
{
    int64_t next = last_mono + w, o;

    if (next <= mono)
        next += (mono - next) / w * w + w;
    o = (wall + (next - mono)) % w; /* where it falls past a wall-clock multiple */
    if (o > w / 2)
        o -= w; /* nearer the next multiple: negative, so it moves later */
    *off = 0;
    if (o > PROBE_REALIGN_MS || o < -PROBE_REALIGN_MS) {
        *off = o;
        next -= o;
        if (next <= mono)
            next += w;
    }
    return next;
}
