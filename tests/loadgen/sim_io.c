/*
 * sim_io.c - one simulated probe's control connection.
 *
 * It behaves as probe/uplink_io.c does on the wire (PROTOCOL.md 6.3): HELLO
 * first, WELCOME checked against the versions offered, a HEARTBEAT every
 * `hb` s from WELCOME on, ERROR IDLE after `idle` s of silence, and after
 * any close a reconnect at a random delay in [0, min(60 s, 0.5 s x
 * 2^attempt)], attempt reset by TASKS (6.2).  It measures nothing: every
 * results_every_ms it makes one record and sends it alone in a RESULTS,
 * and makes no other until an ACK covers it.  A record not acknowledged
 * when the connection ends is sent again, unchanged, on the next one, as a
 * probe's spool would, so the controller sees real resends.
 *
 * Ownership: the TCP handle is initialised in sim_connect() and released
 * only by its close callback, which frees the channel and schedules the
 * next attempt; every way out of a connection goes through sim_close().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

#define WELCOME_TIMEOUT_MS 15000 /* the probe's: from TCP connect, TLS included */
#define RECORD_WINDOW_S    10
#define RECORD_SAMPLES     10
#define NOTES_MAX          40

static void sim_connect(struct lg_sim *s);
static void flush_results(struct lg_sim *s);

/* Writes a line to stderr, up to NOTES_MAX of them: a storm repeats itself. */
static void note(struct lg_sim *s, const char *what, const char *detail)
{
    struct lg_mesh *m = s->mesh;

    if (m->notes < NOTES_MAX)
        fprintf(stderr, "ixmesh-loadgen: %s: %s%s%s\n", s->id, what, detail ? ": " : "",
                detail ? detail : "");
    else if (m->notes == NOTES_MAX)
        fprintf(stderr, "ixmesh-loadgen: further messages suppressed\n");
    m->notes++;
}

static void on_retry_cb(uv_timer_t *h)
{
    sim_connect(h->data);
}

static void on_closed_cb(uv_handle_t *h)
{
    struct lg_sim *s = h->data;

    proto_chan_free(s->chan);
    s->chan = NULL;
    s->state = LG_IDLE;
    if (!s->mesh->stopping)
        uv_timer_start(
            &s->retry, on_retry_cb,
            s->mesh->flap ? 1 : proto_backoff_ms(s->attempt++, (uint64_t)random()), 0);
}

static void sim_close(struct lg_sim *s)
{
    struct lg_stats *st = &s->mesh->stats;

    if (s->state == LG_IDLE || s->state == LG_CLOSING)
        return;
    if (s->got_tasks) {
        st->connected--;
        st->disconnects++;
    } else {
        st->failed++;
    }
    s->got_tasks = 0;
    s->in_flight = 0; /* unacknowledged: it goes again on the next connection */
    memset(&s->welcome, 0, sizeof(s->welcome));
    uv_timer_stop(&s->beat);
    s->state = LG_CLOSING;
    uv_close((uv_handle_t *)&s->tcp, on_closed_cb);
}

static void on_write_cb(uv_write_t *req, int status)
{
    struct lg_sim *s = req->handle->data;

    free(req->data);
    free(req);
    if (status < 0 && status != UV_ECANCELED) {
        note(s, "write", uv_strerror(status));
        sim_close(s);
    }
}

/* Writes whatever ciphertext the channel holds. */
static void pump_out(struct lg_sim *s)
{
    uv_write_t *req;
    uint8_t *data;
    size_t len;
    uv_buf_t b;

    if (s->state != LG_SESSION || proto_chan_take_out(s->chan, &data, &len) < 0 ||
        len == 0)
        return;
    req = malloc(sizeof(*req));
    if (req == NULL) {
        free(data);
        sim_close(s);
        return;
    }
    req->data = data;
    b = uv_buf_init((char *)data, (unsigned)len);
    if (uv_write(req, (uv_stream_t *)&s->tcp, &b, 1, on_write_cb) < 0) {
        free(data);
        free(req);
        sim_close(s);
    }
}

static int send_msg(struct lg_sim *s, const struct proto_msg *m)
{
    int rc = proto_chan_send(s->chan, m);

    if (rc < 0) {
        note(s, "cannot send", proto_strerror(rc));
        sim_close(s);
    }
    return rc;
}

/* Says why, then closes; for the faults the probe answers with an ERROR. */
static void fail_with(struct lg_sim *s, uint32_t code, const char *reason)
{
    struct proto_msg m = {.type = PROTO_MSG_ERROR};

    note(s, "closing", reason);
    m.u.error.code = code;
    snprintf(m.u.error.reason, sizeof(m.u.error.reason), "%s", reason);
    if (send_msg(s, &m) == 0)
        pump_out(s);
    sim_close(s);
}

/*
 * Measures nothing, so announces no method (caps 0) and no address: the
 * planner then gives it an empty task list, where STAMP would make it a
 * thousand-by-thousand mesh of tasks that nobody runs (PROTOCOL.md 4.2).
 */
static void send_hello(struct lg_sim *s)
{
    struct proto_msg m = {.type = PROTO_MSG_HELLO};
    struct proto_hello *h = &m.u.hello;

    h->version_min = PROTO_VERSION_MIN;
    h->version_max = PROTO_VERSION_MAX;
    /* ICMP: a [content] node with icmp gives it one task, which its records
     * name (the controller refuses records of tasks it did not give). */
    h->caps = PROTO_CAP_ICMP;
    snprintf(h->probe_id, sizeof(h->probe_id), "%s", s->id);
    snprintf(h->name, sizeof(h->name), "loadgen %u", s->index);
    snprintf(h->sw_version, sizeof(h->sw_version), "loadgen-%s", IXMESH_VERSION);
    h->stamp_port = s->mesh->stamp_port ? s->mesh->stamp_port : 862;
    h->naddrs = s->mesh->nannounce;
    memcpy(h->addrs, s->mesh->announce, sizeof(h->addrs));
    if (h->naddrs > 0)
        h->caps |= PROTO_CAP_STAMP; /* so that the planner plans it into the mesh */
    if (s->mesh->delta)
        h->caps |= PROTO_CAP_DELTA;
    send_msg(s, &m);
}

/* What a hostile member gets wrong in record r (enum lg_hostile). */
static void spoil_record(int hostile, struct proto_result *r)
{
    if (hostile == LG_MIXED)
        hostile = LG_UNKNOWN_TASK + (int)(r->seq % (LG_MIXED - LG_UNKNOWN_TASK));
    switch (hostile) {
    case LG_UNKNOWN_TASK:
        r->task_id = 0x7ffffff0u;
        snprintf(r->target_id, sizeof(r->target_id), "invented-%llu",
                 (unsigned long long)r->seq);
        break;
    case LG_TARGETS:
        snprintf(r->target_id, sizeof(r->target_id), "invented-%llu",
                 (unsigned long long)r->seq);
        break;
    case LG_FUTURE:
        r->window_start_ms = 4102444800000LL; /* 2100-01-01 */
        break;
    case LG_RTT:
        r->rtt_max_ns = UINT64_MAX;
        break;
    case LG_VALUES:
        /* What the decoder lets through: it refuses received > sent itself. */
        if (r->seq % 2)
            r->lost = r->sent; /* received + lost = 2 x sent */
        else
            r->ipdv_sum_ns = r->ipdv_count * (r->rtt_max_ns - r->rtt_min_ns + 1000000);
        break;
    default:
        break;
    }
}

/*
 * Record seq of this probe: ten plausible RTTs around 1 ms, the same ones
 * each time it is made, so that a resend is the very record sent before.
 * With --all-tasks, record k of the batch is task k's, for the sim's
 * current window of results_every, with RTTs spread over 3 ms (sketches
 * of the size real ones have).  The caller frees r->sketch.
 */
static int make_record(const struct lg_sim *s, uint64_t seq, unsigned k,
                       struct proto_result *r)
{
    uint64_t prev = 0,
             every = s->mesh->results_every_ms ? s->mesh->results_every_ms : 1000;
    int spread = s->mesh->all_tasks && s->ntasks > 0;
    const struct proto_task *t = spread ? &s->tasks[k % s->ntasks] : &s->task;

    memset(r, 0, sizeof(*r));
    r->schema = PROTO_SCHEMA;
    r->seq = seq;
    r->method = s->has_task ? t->method : PROTO_METHOD_ICMP;
    r->task_id = s->has_task ? t->id : 0;
    snprintf(r->target_id, sizeof(r->target_id), "%s",
             s->has_task ? t->target_id : "loadgen-target");
    if (spread) {
        r->window_s = (uint32_t)(every / 1000 ? every / 1000 : 1);
        r->window_start_ms = s->mesh->epoch_ms + (int64_t)(s->window * every);
    } else {
        /* Made about every `every` ms: its window ends about when it is made. */
        r->window_start_ms =
            s->mesh->epoch_ms + (int64_t)(seq * every) - RECORD_WINDOW_S * 1000;
        r->window_s = RECORD_WINDOW_S;
    }
    r->sent = r->received = RECORD_SAMPLES;
    proto_sketch_init(&r->sketch);
    for (unsigned i = 0; i < RECORD_SAMPLES; i++) {
        uint64_t rtt = 1000000 + (s->index % 1000) * 100 + ((seq + i) % 7) * 2500;

        if (spread)
            rtt += ((seq * 2654435761u + i * 40503u) % 3000) * 1000;
        if (proto_sketch_add(&r->sketch, (double)rtt) < 0)
            return -ENOMEM;
        if (i == 0 || rtt < r->rtt_min_ns)
            r->rtt_min_ns = rtt;
        if (rtt > r->rtt_max_ns)
            r->rtt_max_ns = rtt;
        if (i > 0) {
            r->ipdv_sum_ns += rtt > prev ? rtt - prev : prev - rtt;
            r->ipdv_count++;
        }
        prev = rtt;
    }
    spoil_record(s->mesh->hostile, r);
    return 0;
}

/* Sends the records that are due (a batch of mesh->batch), once the session
 * has its TASKS (6.1). */
static void flush_results(struct lg_sim *s)
{
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};
    unsigned n = s->mesh->batch ? s->mesh->batch : 1, made = 0;
    struct proto_result *r;
    int rc = 0;

    if (s->state != LG_SESSION || !s->got_tasks || !s->due || s->in_flight)
        return;
    if (s->mesh->all_tasks && s->ntasks > 0)
        n = s->ntasks; /* one window of every task */
    if ((r = calloc(n, sizeof(*r))) == NULL)
        return;
    for (; made < n && rc == 0; made++)
        rc = make_record(s, s->next_seq + made, made, &r[made]);
    m.u.results.nresults = n;
    m.u.results.results = r;
    if (rc == 0)
        rc = send_msg(s, &m);
    for (unsigned i = 0; i < made; i++)
        proto_sketch_free(&r[i].sketch);
    free(r);
    if (rc < 0)
        return;
    s->in_flight = 1;
    s->flight_n = n;
    s->mesh->stats.records_sent += n;
    pump_out(s);
}

static void on_results_cb(uv_timer_t *h)
{
    struct lg_sim *s = h->data;

    s->due = 1; /* a record not yet acknowledged stays the one that is due */
    flush_results(s);
}

/* The ACK must cover exactly the record in flight: one record per batch. */
static void handle_ack(struct lg_sim *s, const struct proto_ack *a)
{
    struct lg_stats *st = &s->mesh->stats;
    char why[96];

    unsigned n = s->flight_n ? s->flight_n : 1;

    if (!s->in_flight || a->seq != s->next_seq + n - 1) {
        st->bad_acks++;
        snprintf(why, sizeof(why), "ACK %llu, expected %llu", (unsigned long long)a->seq,
                 s->in_flight ? (unsigned long long)(s->next_seq + n - 1) : 0ULL);
        note(s, "bad ACK", why);
        return;
    }
    s->acked = a->seq;
    s->next_seq += n;
    s->window++;
    s->in_flight = 0;
    s->due = 0;
    st->records_acked += n;
}

static void on_beat_cb(uv_timer_t *h)
{
    struct lg_sim *s = h->data;
    struct proto_msg m = {.type = PROTO_MSG_HEARTBEAT};
    uint64_t now = uv_now(s->mesh->loop), silent = now - s->last_rx_ms;
    char why[64];

    if (s->state != LG_SESSION)
        return;
    if (s->welcome.version == 0) {
        /* Before WELCOME this timer only bounds the wait for it. */
        if (now - s->connected_ms >= WELCOME_TIMEOUT_MS) {
            s->mesh->stats.protocol_faults++;
            note(s, "closing", "no WELCOME within 15 s");
            sim_close(s);
        }
        return;
    }
    if (silent >= (uint64_t)s->welcome.idle_s * 1000) {
        s->mesh->stats.idle_closes++;
        snprintf(why, sizeof(why), "controller silent for %llu s",
                 (unsigned long long)silent / 1000);
        fail_with(s, PROTO_ERR_IDLE, why);
        return;
    }
    if (send_msg(s, &m) == 0) {
        s->mesh->stats.heartbeats_sent++;
        pump_out(s);
    }
}

static void handle_welcome(struct lg_sim *s, const struct proto_welcome *w)
{
    char why[96];

    if (w->version < PROTO_VERSION_MIN || w->version > PROTO_VERSION_MAX) {
        s->mesh->stats.protocol_faults++;
        snprintf(why, sizeof(why),
                 "controller chose protocol version %u, we speak %u to %u", w->version,
                 PROTO_VERSION_MIN, PROTO_VERSION_MAX);
        fail_with(s, PROTO_ERR_VERSION, why);
        return;
    }
    s->welcome = *w;
    uv_timer_start(&s->beat, on_beat_cb, (uint64_t)w->heartbeat_s * 1000,
                   (uint64_t)w->heartbeat_s * 1000);
}

/* A delta on the list it has counts; on another, ERROR STALE (6.3). */
static void handle_delta(struct lg_sim *s, const struct proto_tasks *d)
{
    struct lg_stats *st = &s->mesh->stats;
    struct proto_msg m = {.type = PROTO_MSG_ERROR};

    if (s->got_tasks && d->base == s->generation) {
        st->deltas++;
        st->delta_tasks += d->ntasks + d->ndel;
        s->generation = d->generation;
        return;
    }
    st->stale++;
    m.u.error.code = PROTO_ERR_STALE;
    snprintf(m.u.error.reason, sizeof(m.u.error.reason),
             "task delta %llu changes list %llu, the list here is %llu",
             (unsigned long long)d->generation, (unsigned long long)d->base,
             (unsigned long long)s->generation);
    if (send_msg(s, &m) == 0)
        pump_out(s);
}

static void handle_tasks(struct lg_sim *s, const struct proto_tasks *tl)
{
    struct lg_stats *st = &s->mesh->stats;

    st->lists++;
    st->list_tasks += tl->ntasks;
    s->generation = tl->generation;
    if (tl->ntasks > 0) {
        s->task = tl->tasks[0];
        s->has_task = 1;
    }
    if (s->mesh->all_tasks && !s->in_flight) { /* a batch in flight keeps its own */
        struct proto_task *v = realloc(s->tasks, (tl->ntasks + 1) * sizeof(*v));

        if (v != NULL) {
            memcpy(v, tl->tasks, tl->ntasks * sizeof(*v));
            s->tasks = v;
            s->ntasks = tl->ntasks;
        }
    }
    if (s->mesh->flap) {
        sim_close(s); /* and back at once: a HELLO flood */
        return;
    }

    if (!s->got_tasks) {
        s->got_tasks = 1;
        st->connected++;
        st->sessions++;
    }
    s->attempt = 0;
    flush_results(s);
}

static void handle_msg(struct lg_sim *s, const struct proto_msg *m)
{
    struct lg_stats *st = &s->mesh->stats;

    if (m->type == PROTO_MSG_ERROR) {
        st->errors_recv++;
        note(s, "controller sent ERROR", m->u.error.reason);
        sim_close(s);
    } else if (s->welcome.version == 0) {
        if (m->type == PROTO_MSG_WELCOME) {
            handle_welcome(s, &m->u.welcome);
            return;
        }
        st->protocol_faults++;
        fail_with(s, PROTO_ERR_STATE, "WELCOME expected");
    } else if (m->type == PROTO_MSG_TASKS) {
        handle_tasks(s, &m->u.tasks);
    } else if (m->type == PROTO_MSG_TASKS_DELTA && s->mesh->delta) {
        handle_delta(s, &m->u.tasks);
    } else if (m->type == PROTO_MSG_ACK) {
        handle_ack(s, &m->u.ack);
    } else if (m->type == PROTO_MSG_HEARTBEAT) {
        st->heartbeats_recv++;
    } else {
        st->protocol_faults++;
        note(s, "closing", "unexpected message from the controller");
        sim_close(s);
    }
}

static void on_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct lg_sim *s = h->data;

    (void)suggested;
    *b = uv_buf_init((char *)s->mesh->rbuf, sizeof(s->mesh->rbuf));
}

static void on_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct lg_sim *s = stream->data;
    struct proto_msg m;
    int rc = 0;

    if (nread == 0)
        return;
    if (nread < 0) {
        sim_close(s); /* EOF or reset: the controller went away */
        return;
    }
    s->last_rx_ms = uv_now(s->mesh->loop);
    s->mesh->stats.rx_bytes += (uint64_t)nread;
    if (proto_chan_feed(s->chan, (const uint8_t *)b->base, (size_t)nread) < 0) {
        s->mesh->stats.protocol_faults++;
        note(s, "TLS", proto_chan_reason(s->chan));
        pump_out(s); /* the alert tells the controller why */
        sim_close(s);
        return;
    }
    while (s->state == LG_SESSION && (rc = proto_chan_recv(s->chan, &m)) > 0) {
        handle_msg(s, &m);
        proto_msg_free(&m);
    }
    if (rc < 0 && s->state == LG_SESSION) {
        s->mesh->stats.protocol_faults++;
        note(s, "closing", proto_chan_reason(s->chan));
        sim_close(s);
    }
    pump_out(s);
}

static void on_connect_cb(uv_connect_t *req, int status)
{
    struct lg_sim *s = req->data;

    free(req);
    if (s->state != LG_CONNECTING)
        return; /* stopped meanwhile */
    if (status < 0) {
        sim_close(s); /* refused while the controller is down: the usual case */
        return;
    }
    s->chan = proto_chan_new(s->tls, 0, s->mesh->server_name);
    if (s->chan == NULL) {
        note(s, "closing", "cannot start TLS");
        sim_close(s);
        return;
    }
    s->state = LG_SESSION;
    s->last_rx_ms = s->connected_ms = uv_now(s->mesh->loop);
    uv_timer_start(&s->beat, on_beat_cb, WELCOME_TIMEOUT_MS / 3, WELCOME_TIMEOUT_MS / 3);
    send_hello(s); /* queued until the handshake is done */
    if (s->state == LG_SESSION)
        uv_read_start((uv_stream_t *)&s->tcp, on_alloc_cb, on_read_cb);
    pump_out(s);
}

static void sim_connect(struct lg_sim *s)
{
    uv_connect_t *req = malloc(sizeof(*req));
    int rc;

    if (req == NULL) {
        uv_timer_start(&s->retry, on_retry_cb, PROTO_BACKOFF_CAP_MS, 0);
        return;
    }
    uv_tcp_init(s->mesh->loop, &s->tcp);
    s->tcp.data = s;
    req->data = s;
    s->state = LG_CONNECTING;
    s->mesh->stats.connects++;
    rc = uv_tcp_connect(req, &s->tcp, (const struct sockaddr *)&s->mesh->controller,
                        on_connect_cb);
    if (rc < 0) {
        free(req);
        note(s, "connect", uv_strerror(rc));
        sim_close(s);
    }
}

void lg_sim_init(struct lg_sim *s, struct lg_mesh *m, unsigned index, uint64_t delay_ms)
{
    uint64_t phase = m->results_every_ms ? (uint64_t)random() % m->results_every_ms : 0;

    s->mesh = m;
    s->index = index;
    s->state = LG_IDLE;
    s->next_seq = 1;
    uv_timer_init(m->loop, &s->retry);
    uv_timer_init(m->loop, &s->beat);
    uv_timer_init(m->loop, &s->results);
    s->retry.data = s->beat.data = s->results.data = s;
    uv_timer_start(&s->retry, on_retry_cb, delay_ms, 0);
    /* A random phase, so that records do not all come in the same tick. */
    if (m->results_every_ms > 0)
        uv_timer_start(&s->results, on_results_cb, phase + 1, m->results_every_ms);
}

void lg_sim_stop(struct lg_sim *s)
{
    uv_close((uv_handle_t *)&s->retry, NULL);
    uv_close((uv_handle_t *)&s->beat, NULL);
    uv_close((uv_handle_t *)&s->results, NULL);
    sim_close(s); /* no ERROR: a probe that stops just closes (6.3) */
}
