/*
 * uplink_io.c - the probe's TLS connection to the controller.
 *
 * States: IDLE (waiting to retry) -> CONNECTING (TCP) -> CONNECTED (TLS
 * handshake, HELLO, then TASKS, RESULTS and ACK) -> CLOSING -> IDLE.
 * Whatever ends a connection ends in close_conn(), and only the TCP
 * handle's close callback frees it and schedules the next attempt, with
 * exponential backoff and full jitter (a random delay in [0, min(cap,
 * base * 2^attempt)]) so that a thousand probes do not return in one second.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "probe.h"

#define WELCOME_TIMEOUT_MS 15000 /* from TCP connect, TLS handshake included */
#define CONNECT_TIMEOUT_MS 15000 /* a SYN nobody answers: not the kernel's 2 min */

static void connect_now(struct probe *p);

static void on_retry_cb(uv_timer_t *h)
{
    connect_now(h->data);
}

static void on_tcp_closed_cb(uv_handle_t *h)
{
    struct probe *p = h->data;
    struct probe_uplink *u = &p->uplink;
    uint64_t delay;

    free(h);
    u->tcp = NULL;
    uv_timer_stop(&u->heartbeat);
    proto_chan_free(u->chan);
    u->chan = NULL;
    u->state = UPLINK_IDLE;
    probe_delivery_rewind(&p->delivery); /* unacknowledged records go again */
    if (p->stopping)
        return;
    delay = proto_backoff_ms(u->attempt++, (uint64_t)random());
    log_info("reconnecting to controller %s in %llu ms", p->cfg.controller,
             (unsigned long long)delay);
    uv_timer_start(&u->retry, on_retry_cb, delay, 0);
}

static void close_conn(struct probe *p, const char *why)
{
    struct probe_uplink *u = &p->uplink;

    if (u->tcp == NULL || u->state == UPLINK_CLOSING)
        return;
    if (why != NULL)
        log_warn("connection to controller %s closed: %s", p->cfg.controller, why);
    u->state = UPLINK_CLOSING;
    u->got_tasks = 0;
    /* The list goes on running, but the next controller (or this one
     * again) may count generations otherwise: a delta needs a whole list
     * of the new session first. */
    p->have_list = 0;
    memset(&u->welcome, 0, sizeof(u->welcome));
    uv_close((uv_handle_t *)u->tcp, on_tcp_closed_cb);
}

static void on_write_cb(uv_write_t *req, int status)
{
    struct probe *p = req->handle->data;

    free(req->data);
    free(req);
    if (status < 0 && status != UV_ECANCELED)
        close_conn(p, uv_strerror(status));
    else if (status == 0)
        probe_uplink_flush(p);
}

/* Writes whatever ciphertext the channel holds. */
static void pump_out(struct probe *p)
{
    struct probe_uplink *u = &p->uplink;
    uint8_t *data;
    size_t len;
    uv_write_t *req;
    uv_buf_t b;

    if (u->chan == NULL || u->state != UPLINK_CONNECTED)
        return;
    if (proto_chan_take_out(u->chan, &data, &len) < 0 || len == 0)
        return;
    req = malloc(sizeof(*req));
    if (req == NULL) {
        free(data);
        close_conn(p, "out of memory");
        return;
    }
    req->data = data;
    b = uv_buf_init((char *)data, (unsigned)len);
    if (uv_write(req, (uv_stream_t *)u->tcp, &b, 1, on_write_cb) < 0) {
        free(data);
        free(req);
        close_conn(p, "write failed");
    }
}

static int send_msg(struct probe *p, const struct proto_msg *m)
{
    int rc = proto_chan_send(p->uplink.chan, m);

    if (rc < 0)
        close_conn(p, proto_strerror(rc));
    return rc;
}

/*
 * Sends the batch in m; one too large for a frame is halved until it fits
 * (sketches make record sizes vary), and what did not go waits its turn.
 */
static int send_batch(struct probe *p, struct proto_msg *m)
{
    struct proto_results *rs = &m->u.results;
    uint32_t n = rs->nresults;
    int rc;

    for (;;) {
        rs->nresults = n;
        rc = proto_chan_send(p->uplink.chan, m);
        if (rc != -EMSGSIZE || n == 1)
            break;
        n /= 2;
    }
    if (rc < 0) {
        close_conn(p, proto_strerror(rc));
        return rc;
    }
    probe_delivery_sent(&p->delivery, rs, n);
    return 0;
}

void probe_uplink_flush(struct probe *p)
{
    struct probe_uplink *u = &p->uplink;
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};
    int n, rc;

    if (u->state != UPLINK_CONNECTED || !u->got_tasks)
        return;
    /* A slow link fills the socket's queue: wait for it to drain
     * (on_write_cb calls us again) instead of piling up memory. */
    while (uv_stream_get_write_queue_size((uv_stream_t *)u->tcp) <
           PROBE_WRITE_QUEUE_MAX) {
        n = probe_delivery_next(&p->delivery, &m.u.results, PROBE_BATCH_MAX,
                                (int64_t)(probe_now_ns() / 1000000));
        if (n <= 0) {
            if (n < 0)
                log_error("spool: cannot read records to send: %s", strerror(-n));
            return;
        }
        rc = send_batch(p, &m);
        m.u.results.nresults = (uint32_t)n; /* all of them are freed */
        proto_msg_free(&m);
        if (rc < 0)
            return;
        pump_out(p);
    }
}

static void send_hello(struct probe *p)
{
    struct proto_msg m = {.type = PROTO_MSG_HELLO};
    struct proto_hello *h = &m.u.hello;

    h->version_min = p->uplink.version_min;
    h->version_max = p->uplink.version_max;
    h->caps = PROTO_CAP_STAMP | PROTO_CAP_KERNEL_TS | PROTO_CAP_DELTA;
    h->caps |= PROTO_CAP_ICMP;
    h->caps |= PROTO_CAP_TCP | PROTO_CAP_TLS | PROTO_CAP_HTTP;
    h->caps |= PROTO_CAP_DNS;
    if (p->stamp.family == AF_INET6)
        h->caps |= PROTO_CAP_IPV6;
    strcpy(h->probe_id, p->cfg.id);
    strcpy(h->name, p->cfg.name);
    snprintf(h->sw_version, sizeof(h->sw_version), "%s", IXMESH_VERSION);
    h->naddrs = p->cfg.naddrs;
    memcpy(h->addrs, p->cfg.addrs, sizeof(h->addrs));
    h->stamp_port = proto_addr_port((struct sockaddr *)&p->cfg.stamp_addr);
    h->has_location = p->cfg.has_location;
    h->lat = p->cfg.lat;
    h->lon = p->cfg.lon;
    send_msg(p, &m);
}

static void send_error(struct probe *p, uint32_t code, const char *reason)
{
    struct proto_msg m = {.type = PROTO_MSG_ERROR};

    m.u.error.code = code;
    snprintf(m.u.error.reason, sizeof(m.u.error.reason), "%s", reason);
    if (send_msg(p, &m) == 0)
        pump_out(p);
}

static void on_heartbeat_cb(uv_timer_t *h)
{
    struct probe *p = h->data;
    struct probe_uplink *u = &p->uplink;
    struct proto_msg m = {.type = PROTO_MSG_HEARTBEAT};
    uint64_t now = uv_now(p->loop), silent_ms = now - u->last_rx_ms;
    char why[96];

    if (u->state == UPLINK_CONNECTING) {
        if (now - u->connected_ms >= CONNECT_TIMEOUT_MS)
            close_conn(p, "no answer to the connection attempt within 15 s");
        return;
    }
    if (u->state != UPLINK_CONNECTED)
        return;
    if (u->welcome.version == 0) {
        /* Before WELCOME this timer only bounds the wait for it. */
        if (now - u->connected_ms >= WELCOME_TIMEOUT_MS)
            close_conn(p, "no WELCOME from the controller within 15 s");
        return;
    }
    if (silent_ms >= (uint64_t)u->welcome.idle_s * 1000) {
        snprintf(why, sizeof(why), "controller silent for %llu s",
                 (unsigned long long)silent_ms / 1000);
        send_error(p, PROTO_ERR_IDLE, why);
        close_conn(p, why);
        return;
    }
    if (send_msg(p, &m) == 0)
        pump_out(p);
}

/* The controller chose a version: it must be one we offered. */
static void handle_welcome(struct probe *p, const struct proto_welcome *w)
{
    struct probe_uplink *u = &p->uplink;
    char why[128];

    /* It must be one we offered, and one this build speaks. */
    if (w->version < u->version_min || w->version > u->version_max ||
        w->version < PROTO_VERSION_MIN || w->version > PROTO_VERSION_MAX) {
        snprintf(why, sizeof(why),
                 "controller chose protocol version %u, we speak %u to %u", w->version,
                 u->version_min, u->version_max);
        log_error("%s", why);
        send_error(p, PROTO_ERR_VERSION, why);
        close_conn(p, NULL);
        return;
    }
    u->welcome = *w;
    log_info(
        "controller %s speaks protocol version %u, heartbeat %u s, idle timeout %u s",
        p->cfg.controller, w->version, w->heartbeat_s, w->idle_s);
    uv_timer_start(&u->heartbeat, on_heartbeat_cb, (uint64_t)w->heartbeat_s * 1000,
                   (uint64_t)w->heartbeat_s * 1000);
}

/*
 * A whole list, or the changes to one.  What is refused leaves the running
 * list alone and the session open (PROTOCOL.md 6.3): POLICY names the rule,
 * STALE says the delta was for a list this probe does not run, and the
 * controller answers that with the whole list.
 */
static void handle_tasks(struct probe *p, const struct proto_msg *m)
{
    struct probe_uplink *u = &p->uplink;
    const struct proto_tasks *tl = &m->u.tasks;
    char why[PROTO_REASON_MAX + 1];
    int rc;

    if (!u->got_tasks)
        log_info("connected to controller %s", p->cfg.controller);
    if (m->type == PROTO_MSG_TASKS)
        rc = probe_sched_apply(p, tl, why, sizeof(why));
    else
        rc = probe_sched_apply_delta(p, tl, why, sizeof(why));
    if (rc == -EPERM) {
        log_warn("task list %llu refused, the previous one goes on: %s",
                 (unsigned long long)tl->generation, why);
        send_error(p, PROTO_ERR_POLICY, why);
    } else if (rc == -ESTALE) {
        log_info("%s: asking for the whole list", why);
        send_error(p, PROTO_ERR_STALE, why);
    } else if (rc < 0) {
        log_warn("task list %llu: %s", (unsigned long long)tl->generation, strerror(-rc));
    }
    u->got_tasks = 1;
    u->attempt = 0;
    probe_uplink_flush(p);
}

static void handle_msg(struct probe *p, struct proto_msg *m)
{
    struct probe_uplink *u = &p->uplink;

    if (u->welcome.version == 0 && m->type != PROTO_MSG_WELCOME &&
        m->type != PROTO_MSG_ERROR) {
        send_error(p, PROTO_ERR_STATE, "WELCOME expected");
        close_conn(p, "controller sent a message before WELCOME");
        return;
    }
    switch (m->type) {
    case PROTO_MSG_WELCOME:
        if (u->welcome.version != 0) {
            close_conn(p, "second WELCOME from controller");
            break;
        }
        handle_welcome(p, &m->u.welcome);
        break;
    case PROTO_MSG_HEARTBEAT:
        break;
    case PROTO_MSG_TASKS:
    case PROTO_MSG_TASKS_DELTA:
        handle_tasks(p, m);
        break;
    case PROTO_MSG_ACK:
        probe_delivery_ack(&p->delivery, m->u.ack.seq);
        break;
    case PROTO_MSG_ERROR:
        log_error("controller ended the session: error %u: %s", m->u.error.code,
                  m->u.error.reason);
        close_conn(p, NULL);
        break;
    default:
        close_conn(p, "unexpected message from controller");
        break;
    }
}

static void on_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    b->base = malloc(suggested);
    b->len = b->base ? suggested : 0;
}

static void on_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct probe *p = s->data;
    struct probe_uplink *u = &p->uplink;
    struct proto_msg m;
    int rc = 0;

    if (nread < 0) {
        close_conn(p, nread == UV_EOF ? "controller closed the connection"
                                      : uv_strerror((int)nread));
        goto done;
    }
    u->last_rx_ms = uv_now(p->loop);
    if (proto_chan_feed(u->chan, (uint8_t *)b->base, (size_t)nread) < 0) {
        pump_out(p); /* let the controller see our alert */
        close_conn(p, proto_chan_reason(u->chan));
        goto done;
    }
    while (u->state == UPLINK_CONNECTED && (rc = proto_chan_recv(u->chan, &m)) > 0) {
        handle_msg(p, &m);
        proto_msg_free(&m);
    }
    if (rc < 0)
        close_conn(p, proto_chan_reason(u->chan));
    pump_out(p);
done:
    free(b->base);
}

static void on_connect_cb(uv_connect_t *req, int status)
{
    struct probe *p = req->data;
    struct probe_uplink *u = &p->uplink;

    free(req);
    if (status < 0) {
        close_conn(p, uv_strerror(status));
        return;
    }
    if (u->state != UPLINK_CONNECTING)
        return;
    u->chan = proto_chan_new(u->ctx, 0, p->cfg.controller_name);
    if (u->chan == NULL) {
        close_conn(p, "cannot start TLS");
        return;
    }
    u->state = UPLINK_CONNECTED;
    u->last_rx_ms = u->connected_ms = uv_now(p->loop);
    uv_timer_start(&u->heartbeat, on_heartbeat_cb, WELCOME_TIMEOUT_MS / 3,
                   WELCOME_TIMEOUT_MS / 3);
    send_hello(p); /* queued until the handshake is done */
    uv_read_start((uv_stream_t *)u->tcp, on_alloc_cb, on_read_cb);
    pump_out(p);
}

static void connect_now(struct probe *p)
{
    struct probe_uplink *u = &p->uplink;
    uv_connect_t *req = malloc(sizeof(*req));
    int rc;

    u->tcp = malloc(sizeof(*u->tcp));
    if (req == NULL || u->tcp == NULL) {
        free(req);
        free(u->tcp);
        u->tcp = NULL;
        uv_timer_start(&u->retry, on_retry_cb, PROTO_BACKOFF_CAP_MS, 0);
        return;
    }
    uv_tcp_init(p->loop, u->tcp);
    u->tcp->data = p;
    req->data = p;
    u->state = UPLINK_CONNECTING;
    p->delivery.reconnects++;
    u->connected_ms = uv_now(p->loop); /* the attempt's start, until it connects */
    uv_timer_start(&u->heartbeat, on_heartbeat_cb, CONNECT_TIMEOUT_MS / 3,
                   CONNECT_TIMEOUT_MS / 3);
    rc = uv_tcp_connect(req, u->tcp, (struct sockaddr *)&p->cfg.controller_addr,
                        on_connect_cb);
    if (rc < 0) {
        free(req);
        close_conn(p, uv_strerror(rc));
    }
}

int probe_uplink_start(struct probe *p)
{
    struct probe_uplink *u = &p->uplink;
    char err[512];

    u->ctx = proto_chan_ctx_new(0, p->cfg.ca, p->cfg.cert, p->cfg.key, err, sizeof(err));
    if (u->ctx == NULL) {
        log_error("%s", err);
        return -EINVAL;
    }
    uv_timer_init(p->loop, &u->retry);
    uv_timer_init(p->loop, &u->heartbeat);
    u->retry.data = u->heartbeat.data = p;
    if (u->version_min == 0) {
        u->version_min = PROTO_VERSION_MIN;
        u->version_max = PROTO_VERSION_MAX;
    }
    connect_now(p);
    return 0;
}

void probe_uplink_stop(struct probe *p)
{
    struct probe_uplink *u = &p->uplink;

    uv_timer_stop(&u->retry);
    uv_close((uv_handle_t *)&u->retry, NULL);
    uv_close((uv_handle_t *)&u->heartbeat, NULL);
    close_conn(p, NULL);
}

void probe_uplink_free(struct probe *p)
{
    SSL_CTX_free(p->uplink.ctx);
    p->uplink.ctx = NULL;
}
