/*
 * task.c - the task table entries and their per-window statistics.
 * Nothing here does I/O; sched_io.c drives it from timers.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
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
    /* A task naming only a host is resolved by its method, per attempt. */
    if (t->ring == NULL ||
        (spec->addr[0] != '\0' &&
         proto_addr_parse(spec->addr, spec->port, &t->dst, &t->dstlen) < 0)) {
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
           strcmp(a->addr, b->addr) == 0 && strcmp(a->target_id, b->target_id) == 0 &&
           strcmp(a->host, b->host) == 0 && strcmp(a->path, b->path) == 0 &&
           strcmp(a->header, b->header) == 0 && strcmp(a->qname, b->qname) == 0 &&
           a->qtype == b->qtype && a->tls == b->tls;
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
    memset(w->outcomes, 0, sizeof(w->outcomes));
    w->why[0] = '\0';
    memset(&w->info, 0, sizeof(w->info));
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
    if (!w->no_sketch)
        proto_sketch_add(&w->sketch, (double)rtt_ns);
}

void probe_window_add_ttl(struct probe_window *w, uint8_t ttl)
{
    if (ttl != 0 && (w->ttl_min == 0 || ttl < w->ttl_min))
        w->ttl_min = ttl;
}

uint32_t probe_attempt_start(struct probe_task *t, int64_t mono_ns)
{
    struct probe_window *w = &t->win[t->cur];
    uint32_t seq = t->next_seq++;
    struct probe_slot *slot = &t->ring[seq & t->ring_mask];

    /* A slot still in use belongs to an attempt older than the ring: its
     * window has closed, and it counted as lost there. */
    *slot = (struct probe_slot){
        .seq = seq, .t1_ns = mono_ns, .window_id = w->id, .used = 1, .answered = 0};
    w->sent++;
    return seq;
}

static struct probe_slot *outstanding_slot(const struct probe_task *t, uint32_t seq)
{
    struct probe_slot *slot = &t->ring[seq & t->ring_mask];

    return slot->used && slot->seq == seq && !slot->answered ? slot : NULL;
}

int64_t probe_attempt_t1(const struct probe_task *t, uint32_t seq)
{
    const struct probe_slot *slot = outstanding_slot(t, seq);

    return slot != NULL ? slot->t1_ns : -1;
}

/*
 * Keeps what an attempt learnt: the last successful attempt's, or while
 * none has succeeded the last failure's (the 503, the certificate that did
 * not verify).  The phases of successful attempts add up, to become means.
 */
static void window_add_info(struct probe_window *w, const struct proto_content_info *in,
                            int ok)
{
    struct proto_content_info *o = &w->info;
    uint64_t dns = o->dns_ns, con = o->connect_ns, tls = o->tls_ns, fb = o->ttfb_ns,
             tot = o->total_ns;

    if (!ok && w->received > 0)
        return;
    *o = *in;
    o->dns_ns = dns + (ok ? in->dns_ns : 0);
    o->connect_ns = con + (ok ? in->connect_ns : 0);
    o->tls_ns = tls + (ok ? in->tls_ns : 0);
    o->ttfb_ns = fb + (ok ? in->ttfb_ns : 0);
    o->total_ns = tot + (ok ? in->total_ns : 0);
}

int probe_attempt_end(struct probe_task *t, uint32_t seq, const struct probe_reply *rep)
{
    struct probe_slot *slot = outstanding_slot(t, seq);
    struct probe_window *w = slot ? probe_task_window(t, slot->window_id) : NULL;

    if (w == NULL)
        return -ENOENT;
    slot->answered = 1;
    slot->used = 0;
    if (rep->outcome == PROTO_OUT_OK) {
        probe_window_add_rtt(w, rep->rtt_ns);
        probe_window_add_ttl(w, rep->ttl);
    } else if (rep->outcome > 0 && rep->outcome < PROTO_OUTCOME_MAX) {
        w->outcomes[rep->outcome]++;
        if (rep->why != NULL)
            snprintf(w->why, sizeof(w->why), "%s", rep->why);
    }
    if (rep->info != NULL)
        window_add_info(w, rep->info, rep->outcome == PROTO_OUT_OK);
    return 0;
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

/*
 * Every attempt that neither came back nor failed in a way we saw timed
 * out (RFC 7680), so the failures add up to lost.  Phases become means over
 * the successful attempts.
 */
static void close_outcomes(const struct probe_task *t, const struct probe_window *w,
                           struct proto_result *r)
{
    uint32_t failed = 0;

    for (int i = 1; i < PROTO_OUTCOME_MAX; i++) {
        r->outcomes[i] = w->outcomes[i];
        failed += w->outcomes[i];
    }
    /* Each attempt ends once, so failed <= lost. */
    r->outcomes[PROTO_OUT_TIMEOUT] += r->lost > failed ? r->lost - failed : 0;
    snprintf(r->why, sizeof(r->why), "%s", w->why);
    if (r->why[0] == '\0' && r->outcomes[PROTO_OUT_TIMEOUT] > 0)
        snprintf(r->why, sizeof(r->why), "no answer within %u ms", t->spec.timeout_ms);
    r->info = w->info;
    if (w->received > 0) {
        r->info.dns_ns /= w->received;
        r->info.connect_ns /= w->received;
        r->info.tls_ns /= w->received;
        r->info.ttfb_ns /= w->received;
        r->info.total_ns /= w->received;
    }
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
    close_outcomes(t, w, r);
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
