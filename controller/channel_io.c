/*
 * channel_io.c - the TLS server the probes connect to.
 *
 * A connection is refused unless its client certificate is signed by our
 * CA (OpenSSL checks that in the handshake) and its first message is a
 * HELLO offering a protocol version we speak, whose probe id is the
 * certificate's CN.  We answer WELCOME with the version chosen, then TASKS.
 * After that it may only send RESULTS, which are acknowledged once stored.
 * Anything malformed closes that one connection, logged and counted.
 *
 * Ownership: a ctl_conn lives from accept until the close callback of its
 * TCP handle, which unlinks and frees it; everything that ends a
 * connection goes through conn_close().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"

#define REPLAN_DELAY_MS   100   /* joins and leaves within this share one push */
#define HELLO_TIMEOUT_MS  10000 /* from accept to a HELLO, handshake included */
#define TICK_MS           1000
#define CLOSE_DEADLINE_MS 3000 /* for what is queued to reach a peer that closes */

struct ctl_conn {
    struct ctl *ctl;
    uv_tcp_t tcp;
    uv_shutdown_t shutdown;
    struct proto_chan *chan;
    char peer[PROTO_ADDRSTR_MAX + 8];
    char cn[PROTO_ID_MAX + 1];
    char label[PROTO_ID_MAX + PROTO_ADDRSTR_MAX + 16]; /* "CN at ADDR:PORT" */
    int hello_done;
    int closing;
    uint64_t closing_ms; /* when a graceful close began: it has a deadline */
    uint32_t version;    /* negotiated in the HELLO */
    uint64_t accepted_ms, last_rx_ms, last_tx_ms; /* loop time */
    struct proto_hello hello;
    int64_t key;
    struct ctl_conn *next;
};

static void schedule_replan(struct ctl *c);
static void note_content(struct ctl *c, const struct proto_hello *h);
static void schedule_expiry(struct ctl *c);
static struct ctl_conn *conn_of(struct ctl *c, const char *id);

/* How logs name a connection: by its certificate once known. */
static const char *conn_name(const struct ctl_conn *k)
{
    return k->label[0] ? k->label : k->peer;
}

static void unlink_conn(struct ctl *c, struct ctl_conn *k)
{
    for (struct ctl_conn **pp = &c->conns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            c->nconns--;
            return;
        }
    }
}

static void on_closed_cb(uv_handle_t *h)
{
    struct ctl_conn *k = h->data;
    struct ctl *c = k->ctl;

    unlink_conn(c, k);
    /* A probe with a newer live connection has not left. */
    if (k->hello_done && !c->stopping && conn_of(c, k->hello.probe_id) == NULL) {
        log_info("probe %s disconnected; it stays in the mesh for %u s",
                 k->hello.probe_id, c->cfg.grace_s);
        ctl_roster_leave(&c->roster, k->hello.probe_id, uv_now(c->loop));
        schedule_expiry(c);
    }
    proto_chan_free(k->chan);
    free(k);
}

static void on_shutdown_cb(uv_shutdown_t *req, int status)
{
    (void)status;
    /* The deadline in check_conn() may have closed it already. */
    if (!uv_is_closing((uv_handle_t *)req->handle))
        uv_close((uv_handle_t *)req->handle, on_closed_cb);
}

/* Ends k; with graceful set, what is queued (an ERROR, an alert) goes first. */
static void conn_close(struct ctl_conn *k, int graceful)
{
    if (k->closing)
        return;
    k->closing = 1;
    k->closing_ms = uv_now(k->ctl->loop);
    uv_read_stop((uv_stream_t *)&k->tcp);
    if (graceful &&
        uv_shutdown(&k->shutdown, (uv_stream_t *)&k->tcp, on_shutdown_cb) == 0)
        return;
    uv_close((uv_handle_t *)&k->tcp, on_closed_cb);
}

static void on_write_cb(uv_write_t *req, int status)
{
    struct ctl_conn *k = req->handle->data;

    free(req->data);
    free(req);
    if (status < 0 && status != UV_ECANCELED) {
        log_warn("write to %s failed: %s", conn_name(k), uv_strerror(status));
        conn_close(k, 0);
    }
}

/* Writes the ciphertext the channel holds. */
static void pump_out(struct ctl_conn *k)
{
    uint8_t *data;
    size_t len;
    uv_write_t *req;
    uv_buf_t b;

    if (proto_chan_take_out(k->chan, &data, &len) < 0 || len == 0)
        return;
    req = malloc(sizeof(*req));
    if (req == NULL) {
        free(data);
        conn_close(k, 0);
        return;
    }
    req->data = data;
    b = uv_buf_init((char *)data, (unsigned)len);
    k->last_tx_ms = uv_now(k->ctl->loop);
    if (uv_write(req, (uv_stream_t *)&k->tcp, &b, 1, on_write_cb) < 0) {
        free(data);
        free(req);
        conn_close(k, 0);
    }
}

/* Tells the probe why, then closes. */
static void refuse(struct ctl_conn *k, uint32_t code, const char *reason)
{
    struct proto_msg m = {.type = PROTO_MSG_ERROR};

    log_warn("refusing %s: %s", conn_name(k), reason);
    m.u.error.code = code;
    snprintf(m.u.error.reason, sizeof(m.u.error.reason), "%s", reason);
    proto_chan_send(k->chan, &m);
    pump_out(k);
    conn_close(k, 1);
}

/* A second connection of the same probe replaces the first. */
static void drop_older(struct ctl *c, struct ctl_conn *k)
{
    for (struct ctl_conn *o = c->conns; o != NULL; o = o->next) {
        if (o != k && o->hello_done && !o->closing &&
            strcmp(o->hello.probe_id, k->hello.probe_id) == 0) {
            log_info("probe %s reconnected from %s: closing its old connection",
                     k->hello.probe_id, k->peer);
            o->hello_done = 0; /* its close must not look like a leave */
            refuse(o, PROTO_ERR_REPLACED, "a newer connection of this probe took over");
        }
    }
}

/* Picks the protocol version, or tells the probe why there is none. */
static int negotiate(struct ctl_conn *k, const struct proto_hello *h)
{
    char reason[PROTO_REASON_MAX];

    if (proto_version_pick(h->version_min, h->version_max, &k->version) == 0)
        return 0;
    snprintf(reason, sizeof(reason),
             "no common protocol version: probe speaks %u to %u, controller %u to %u",
             h->version_min, h->version_max, PROTO_VERSION_MIN, PROTO_VERSION_MAX);
    refuse(k, PROTO_ERR_VERSION, reason);
    return -1;
}

static void send_welcome(struct ctl_conn *k)
{
    struct proto_msg m = {.type = PROTO_MSG_WELCOME};

    m.u.welcome.version = k->version;
    m.u.welcome.heartbeat_s = k->ctl->cfg.heartbeat_s;
    m.u.welcome.idle_s = k->ctl->cfg.idle_s;
    proto_chan_send(k->chan, &m);
}

static void handle_hello(struct ctl_conn *k, const struct proto_hello *h)
{
    struct ctl *c = k->ctl;
    char reason[PROTO_REASON_MAX];

    if (negotiate(k, h) < 0)
        return;
    if (strcmp(h->probe_id, k->cn) != 0) {
        snprintf(reason, sizeof(reason), "probe id '%s' is not the certificate's CN '%s'",
                 h->probe_id, k->cn);
        refuse(k, PROTO_ERR_IDENTITY, reason);
        return;
    }
    if (ctl_store_probe_seen(c->store, h, ctl_now_ms(), &k->key) < 0) {
        log_error("store: %s", ctl_store_error(c->store));
        refuse(k, PROTO_ERR_INTERNAL, "controller store failure");
        return;
    }
    if (ctl_roster_join(&c->roster, h, k->key, 0) < 0) {
        refuse(k, PROTO_ERR_INTERNAL, "controller out of memory");
        return;
    }
    k->hello = *h;
    k->hello_done = 1;
    send_welcome(k);
    log_info("probe %s (%s, software %s, protocol %u) connected from %s, %u addresses",
             h->probe_id, h->name, h->sw_version, k->version, k->peer, h->naddrs);
    note_content(c, h);
    drop_older(c, k);
    schedule_replan(c);
}

/*
 * Said once per connection, as the planner leaves it out silently at every
 * re-plan: which content methods a probe does not run, and a probe id that
 * is also a content node's (the map would mix their columns).
 */
static void note_content(struct ctl *c, const struct proto_hello *h)
{
    uint32_t missing = ctl_content_missing(&c->cfg, h->caps);
    char names[64] = "";

    for (int m = PROTO_METHOD_ICMP; m <= PROTO_METHOD_MAX; m++)
        if (missing & (1u << m))
            snprintf(names + strlen(names), sizeof(names) - strlen(names), " %s",
                     proto_method_name((uint8_t)m));
    if (missing != 0)
        log_info("probe %s does not announce%s: it gets no content task of %s",
                 h->probe_id, names, (missing & (missing - 1)) ? "those methods" : "it");
    if (ctl_config_content(&c->cfg, h->probe_id) != NULL)
        log_warn("probe %s has the id of [content %s]: the map cannot tell them apart",
                 h->probe_id, h->probe_id);
}

static void handle_results(struct ctl_conn *k, const struct proto_results *rs)
{
    struct ctl *c = k->ctl;
    struct proto_msg ack = {.type = PROTO_MSG_ACK};
    int64_t now = ctl_now_ms();
    struct ctl_ingest in;

    if (ctl_store_results(c->store, k->hello.probe_id, rs, now, &in) < 0) {
        /* Not acknowledged: the probe keeps the records and sends them again. */
        log_error("store: %s", ctl_store_error(c->store));
        refuse(k, PROTO_ERR_INTERNAL, "controller store failure");
        return;
    }
    ack.u.ack.seq = in.acked;
    if (in.duplicates > 0)
        log_info("probe %s: %u of %u records were stored already (sent again)",
                 k->hello.probe_id, in.duplicates, rs->nresults);
    log_debug("probe %s: stored %u records up to %llu", k->hello.probe_id,
              rs->nresults - in.duplicates, (unsigned long long)ack.u.ack.seq);
    proto_chan_send(k->chan, &ack);
}

static void on_peer_error(struct ctl_conn *k, const struct proto_error *e)
{
    log_warn("%s ended the session: error %u: %s", conn_name(k), e->code, e->reason);
    conn_close(k, 0);
}

static void handle_msg(struct ctl_conn *k, struct proto_msg *m)
{
    if (m->type == PROTO_MSG_HELLO && !k->hello_done)
        handle_hello(k, &m->u.hello);
    else if (m->type == PROTO_MSG_RESULTS && k->hello_done)
        handle_results(k, &m->u.results);
    else if (m->type == PROTO_MSG_HEARTBEAT && k->hello_done)
        return; /* reading it was the point */
    else if (m->type == PROTO_MSG_ERROR)
        on_peer_error(k, &m->u.error);
    else
        refuse(k, PROTO_ERR_STATE,
               k->hello_done ? "unexpected message" : "HELLO expected");
}

/* After the handshake: the verified certificate names the probe. */
static int check_identity(struct ctl_conn *k)
{
    if (k->cn[0] != '\0' || !proto_chan_ready(k->chan))
        return 0;
    if (proto_chan_peer_cn(k->chan, k->cn, sizeof(k->cn)) < 0 || !proto_id_valid(k->cn)) {
        k->cn[0] = '\0';
        refuse(k, PROTO_ERR_IDENTITY, "client certificate has no usable CN");
        return -1;
    }
    snprintf(k->label, sizeof(k->label), "%s at %s", k->cn, k->peer);
    return 0;
}

static void on_malformed(struct ctl_conn *k)
{
    k->ctl->malformed++;
    log_warn("closing connection of %s: %s", conn_name(k), proto_chan_reason(k->chan));
    conn_close(k, 0);
}

static void on_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct ctl_conn *k = s->data;
    struct proto_msg m;
    int rc = 0;

    if (nread < 0) {
        if (nread != UV_EOF)
            log_info("connection of %s: %s", conn_name(k), uv_strerror((int)nread));
        conn_close(k, 0);
        goto done;
    }
    k->last_rx_ms = uv_now(k->ctl->loop);
    if (proto_chan_feed(k->chan, (uint8_t *)b->base, (size_t)nread) < 0) {
        log_warn("%s %s: %s", k->cn[0] ? "closing" : "refused TLS connection from",
                 k->peer, proto_chan_reason(k->chan));
        pump_out(k); /* the alert tells the peer why */
        conn_close(k, 1);
        goto done;
    }
    if (check_identity(k) < 0)
        goto done;
    while (!k->closing && (rc = proto_chan_recv(k->chan, &m)) > 0) {
        handle_msg(k, &m);
        proto_msg_free(&m);
    }
    if (rc < 0 && !k->closing)
        on_malformed(k);
    else
        pump_out(k);
done:
    free(b->base);
}

static void on_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    b->base = malloc(suggested);
    b->len = b->base ? suggested : 0;
}

static void set_peer_name(struct ctl_conn *k)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char a[PROTO_ADDRSTR_MAX] = "?";

    if (uv_tcp_getpeername(&k->tcp, (struct sockaddr *)&ss, &len) == 0)
        proto_addr_ntop((struct sockaddr *)&ss, a, sizeof(a));
    snprintf(k->peer, sizeof(k->peer), "%s%s%s:%u", strchr(a, ':') ? "[" : "", a,
             strchr(a, ':') ? "]" : "", proto_addr_port((struct sockaddr *)&ss));
}

static void on_connection_cb(uv_stream_t *server, int status)
{
    struct ctl *c = server->data;
    struct ctl_conn *k;

    if (status < 0) {
        log_warn("accept: %s", uv_strerror(status));
        return;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return;
    k->ctl = c;
    uv_tcp_init(c->loop, &k->tcp);
    k->tcp.data = k;
    k->next = c->conns;
    c->conns = k;
    c->nconns++;
    if (uv_accept(server, (uv_stream_t *)&k->tcp) < 0 ||
        (k->chan = proto_chan_new(c->tls, 1, NULL)) == NULL) {
        conn_close(k, 0);
        return;
    }
    set_peer_name(k);
    k->accepted_ms = k->last_rx_ms = k->last_tx_ms = uv_now(c->loop);
    log_debug("connection from %s", k->peer);
    uv_read_start((uv_stream_t *)&k->tcp, on_alloc_cb, on_read_cb);
}

/* Sends every connected probe its task list for the current mesh. */
static struct ctl_conn *conn_of(struct ctl *c, const char *id)
{
    for (struct ctl_conn *k = c->conns; k != NULL; k = k->next)
        if (k->hello_done && !k->closing && strcmp(k->hello.probe_id, id) == 0)
            return k;
    return NULL;
}

/* Sends every connected probe its task list for the mesh of the roster. */
static void on_replan_cb(uv_timer_t *h)
{
    struct ctl *c = h->data;
    struct ctl_roster *r = &c->roster;
    struct ctl_peer *peers = calloc(r->n ? r->n : 1, sizeof(*peers));
    size_t sent = 0;

    if (peers == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        peers[i] = (struct ctl_peer){.key = r->v[i].key, .hello = &r->v[i].hello};
    c->generation++;
    for (size_t i = 0; i < r->n; i++) {
        struct ctl_conn *k = conn_of(c, r->v[i].hello.probe_id);
        struct proto_msg m = {.type = PROTO_MSG_TASKS};

        if (k == NULL ||
            ctl_plan_tasks(peers, r->n, i, &c->cfg, c->generation, &m.u.tasks) < 0)
            continue;
        proto_chan_send(k->chan, &m);
        free(m.u.tasks.tasks);
        pump_out(k);
        sent++;
    }
    log_info("mesh of %zu probes (%zu connected): task lists of generation %llu sent",
             r->n, sent, (unsigned long long)c->generation);
    free(peers);
}

/* A member's grace ended: it leaves the mesh, and the others stop measuring it. */
static void on_expiry_cb(uv_timer_t *h)
{
    struct ctl *c = h->data;
    size_t n =
        ctl_roster_expire(&c->roster, uv_now(c->loop), (uint64_t)c->cfg.grace_s * 1000);

    if (n > 0) {
        log_info("%zu probe%s left the mesh after %u s away", n, n == 1 ? "" : "s",
                 c->cfg.grace_s);
        schedule_replan(c);
    }
    schedule_expiry(c);
}

static void schedule_expiry(struct ctl *c)
{
    uint64_t grace = (uint64_t)c->cfg.grace_s * 1000;
    uint64_t at = ctl_roster_next_expiry(&c->roster, grace), now = uv_now(c->loop);

    if (at != 0)
        uv_timer_start(&c->expire, on_expiry_cb, at > now ? at - now : 0, 0);
}

/* After a restart the probes seen lately are still the mesh: they are on
 * their way back, and the first to return must not get an empty list. */
static void recall_member(void *arg, const struct proto_hello *h, int64_t key)
{
    struct ctl *c = arg;

    ctl_roster_join(&c->roster, h, key, uv_now(c->loop));
}

static void recall_roster(struct ctl *c)
{
    int64_t since = ctl_now_ms() - (int64_t)c->cfg.grace_s * 1000;

    if (ctl_store_recent_probes(c->store, since, recall_member, c) < 0)
        log_warn("store: %s", ctl_store_error(c->store));
    if (c->roster.n > 0)
        log_info(
            "%zu probes seen in the last %u s are kept in the mesh while they return",
            c->roster.n, c->cfg.grace_s);
    schedule_expiry(c);
}

static void schedule_replan(struct ctl *c)
{
    if (!uv_is_active((uv_handle_t *)&c->replan))
        uv_timer_start(&c->replan, on_replan_cb, REPLAN_DELAY_MS, 0);
}

/* One connection's clock: a HELLO in time, a heartbeat due, or silence. */
static void check_conn(struct ctl_conn *k, uint64_t now)
{
    struct ctl *c = k->ctl;
    struct proto_msg hb = {.type = PROTO_MSG_HEARTBEAT};
    char why[96];

    if (k->closing) {
        /* A peer that does not read would hold a graceful close forever. */
        if (now - k->closing_ms >= CLOSE_DEADLINE_MS &&
            !uv_is_closing((uv_handle_t *)&k->tcp))
            uv_close((uv_handle_t *)&k->tcp, on_closed_cb);
        return;
    }
    if (!k->hello_done) {
        if (now - k->accepted_ms >= HELLO_TIMEOUT_MS) {
            log_warn("closing connection of %s: no HELLO within %d s", conn_name(k),
                     HELLO_TIMEOUT_MS / 1000);
            conn_close(k, 0);
        }
        return;
    }
    if (now - k->last_rx_ms >= (uint64_t)c->cfg.idle_s * 1000) {
        snprintf(why, sizeof(why), "silent for %llu s",
                 (unsigned long long)(now - k->last_rx_ms) / 1000);
        refuse(k, PROTO_ERR_IDLE, why);
        return;
    }
    if (now - k->last_tx_ms >= (uint64_t)c->cfg.heartbeat_s * 1000) {
        proto_chan_send(k->chan, &hb);
        pump_out(k);
    }
}

static void on_tick_cb(uv_timer_t *h)
{
    struct ctl *c = h->data;
    uint64_t now = uv_now(c->loop);

    for (struct ctl_conn *k = c->conns; k != NULL; k = k->next)
        check_conn(k, now);
    /* Stopping: the tick outlives the connections, to enforce deadlines. */
    if (c->stopping && c->conns == NULL && !uv_is_closing((uv_handle_t *)&c->tick))
        uv_close((uv_handle_t *)&c->tick, NULL);
}

int ctl_channel_connected(void *ctl, const char *probe_id)
{
    struct ctl *c = ctl;

    for (struct ctl_conn *k = c->conns; k != NULL; k = k->next)
        if (k->hello_done && !k->closing && strcmp(k->hello.probe_id, probe_id) == 0)
            return 1;
    return 0;
}

int ctl_channel_start(struct ctl *c)
{
    const struct sockaddr *sa = (const struct sockaddr *)&c->cfg.listen_addr;
    char a[PROTO_ADDRSTR_MAX], err[512];
    int rc;

    c->tls = proto_chan_ctx_new(1, c->cfg.ca, c->cfg.cert, c->cfg.key, err, sizeof(err));
    if (c->tls == NULL) {
        log_error("%s", err);
        return -EINVAL;
    }
    uv_timer_init(c->loop, &c->replan);
    uv_timer_init(c->loop, &c->tick);
    uv_timer_init(c->loop, &c->expire);
    c->replan.data = c->tick.data = c->expire.data = c;
    /* Task-list generations keep rising across restarts. */
    c->generation = (uint64_t)ctl_now_ms();
    recall_roster(c);
    uv_timer_start(&c->tick, on_tick_cb, TICK_MS, TICK_MS);
    uv_tcp_init(c->loop, &c->listener);
    c->listener.data = c;
    proto_addr_ntop(sa, a, sizeof(a));
    rc = uv_tcp_bind(&c->listener, sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->listener, 1024, on_connection_cb);
    if (rc < 0) {
        log_error("cannot listen on %s port %u: %s", a, proto_addr_port(sa),
                  uv_strerror(rc));
        return rc;
    }
    log_info("probe channel listening on %s port %u", a, proto_addr_port(sa));
    return 0;
}

void ctl_channel_stop(struct ctl *c)
{
    if (c->tls == NULL)
        return; /* never started: no handle to close */
    uv_close((uv_handle_t *)&c->listener, NULL);
    uv_close((uv_handle_t *)&c->replan, NULL);
    uv_close((uv_handle_t *)&c->expire, NULL);
    if (c->conns == NULL)
        uv_close((uv_handle_t *)&c->tick, NULL);
    /* Tell each probe why: it reconnects with backoff, not at once. */
    for (struct ctl_conn *k = c->conns; k != NULL; k = k->next) {
        struct proto_msg m = {.type = PROTO_MSG_ERROR};

        if (k->closing || k->chan == NULL || !proto_chan_ready(k->chan)) {
            conn_close(k, 0);
            continue;
        }
        m.u.error.code = PROTO_ERR_SHUTDOWN;
        snprintf(m.u.error.reason, sizeof(m.u.error.reason), "controller is stopping");
        proto_chan_send(k->chan, &m);
        pump_out(k);
        conn_close(k, 1);
    }
}
