/*
 * http_io.c - the map, the JSON API and (later) /metrics, served by
 * libmicrohttpd from inside our libuv loop.
 *
 * MHD runs without a thread of its own, in epoll mode: its one epoll
 * descriptor is watched by a uv_poll and MHD_run() is called when it is
 * readable or when MHD's own timeout expires.  Handlers therefore run on
 * the loop thread and read the store and the connection table without
 * locks.
 *
 * What a client may hold is bounded ([controller] http_*): connections
 * per address (MHD's limit), and time: a connection must send a request's
 * head within http_timeout of connecting or of its previous answer, or it
 * is cut (MHD's timeout alone is reset by every octet, so a client sending
 * one a second would keep its connection forever), and it may stay idle no
 * longer than that.  Past http_max_connections, a new connection closes
 * the one that has waited longest for its request head: slow clients from
 * many addresses then cannot keep the others out (MHD would stop accepting,
 * and the next in the kernel's queue would be theirs); MHD refuses only at
 * twice that.  What MHD says about the clients goes to the log within a
 * quota (quota.c).
 *
 * MHD_USE_TURBO makes MHD read a connection as soon as it accepts it: in
 * epoll mode it otherwise waits for an edge that never comes to a
 * connection whose client had already sent its octets and closed, and
 * such dead connections held their places until the timeout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "controller.h"
#include "log.h"
#include "query_io.h"

#define IDLE_TICK_MS 1000        /* how often MHD is run when it names no timeout */
#define CONN_MEMORY  (16 * 1024) /* MHD's pool per connection: a GET's head */
#define HARD_LIMIT   2           /* MHD refuses at this times http_max_connections */

/* One open connection, from MHD's STARTED notice to its CLOSED one. */
struct ctl_http_conn {
    struct MHD_Connection *conn;
    int fd;
    uint64_t head_due_ms; /* loop time its next request head must be in by; 0: none */
    struct ctl_http_conn *next;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
                               const char *type, void *body, size_t len,
                               enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends doc (taking the reference) as JSON. */
static enum MHD_Result respond_json(struct MHD_Connection *conn, unsigned status,
                                    json_t *doc)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;

    json_decref(doc);
    if (body == NULL)
        return respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                       (void *)"{\"error\":\"internal error\"}", 26,
                       MHD_RESPMEM_PERSISTENT);
    return respond(conn, status, "application/json", body, strlen(body),
                   MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned status,
                                     const char *msg)
{
    return respond_json(conn, status, json_pack("{s:s}", "error", msg));
}

/*
 * A GET or HEAD announcing a body (RFC 9110 9.3.1: it has no defined
 * meaning): refused before the body is read, and the connection closed
 * after the answer, so the body is never waited for.
 */
static int announces_body(struct MHD_Connection *conn)
{
    const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_LENGTH);

    return (len != NULL && strcmp(len, "0") != 0) ||
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

static enum MHD_Result refuse_body(struct MHD_Connection *conn)
{
    static const char body[] = "{\"error\":\"a GET has no body\"}";
    struct MHD_Response *r = MHD_create_response_from_buffer(
        sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(conn, MHD_HTTP_BAD_REQUEST, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *arg_of(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* The map and the history API: parsed here, run off the loop (query_io.c). */
static enum MHD_Result serve_query(struct ctl *c, struct MHD_Connection *conn,
                                   const char *url, void **state, int *mine)
{
    struct ctl_query_req r;
    char why[256];
    int rc;

    *mine = 1;
    if (*state != NULL) /* resumed: its answer is ready */
        return ctl_query_serve(c, conn, NULL, state);
    rc = ctl_api_parse(url, arg_of, conn, &c->cfg, ctl_now_ms(), &r, why, sizeof(why));
    if (rc == 0) {
        *mine = 0;
        return MHD_NO;
    }
    if (rc < 0)
        return respond_error(conn, MHD_HTTP_BAD_REQUEST, why);
    return ctl_query_serve(c, conn, &r, state);
}

/* The probes from the store, with what the channel refused of each. */
static json_t *probes_doc(struct ctl *c)
{
    json_t *doc = ctl_map_probes(ctl_store_take(c), ctl_channel_connected, c);

    ctl_store_give(c);
    if (doc != NULL)
        ctl_channel_annotate(c, doc);
    return doc;
}

static enum MHD_Result on_request_cb(void *cls, struct MHD_Connection *conn,
                                     const char *url, const char *method,
                                     const char *version, const char *upload,
                                     size_t *upload_len, void **state)
{
    struct ctl *c = cls;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    enum MHD_Result ret;
    int mine;

    (void)version, (void)upload;
    if (*state != NULL) /* a query resumed */
        return serve_query(c, conn, url, state, &mine);
    /* The head is in: from now on MHD's timeout applies. */
    if (info != NULL && info->socket_context != NULL)
        ((struct ctl_http_conn *)info->socket_context)->head_due_ms = 0;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is supported");
    if (*upload_len != 0 || announces_body(conn))
        return refuse_body(conn);
    if (strcmp(url, "/") == 0)
        return respond(conn, MHD_HTTP_OK, "text/html; charset=utf-8",
                       (void *)ctl_web_index_html, ctl_web_index_html_len,
                       MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/api/v1/probes") == 0)
        return respond_json(conn, MHD_HTTP_OK, probes_doc(c));
    ret = serve_query(c, conn, url, state, &mine);
    if (mine)
        return ret;
    return respond_error(conn, MHD_HTTP_NOT_FOUND, "no such resource");
}

static void run_mhd(struct ctl *c);

static uint64_t head_deadline(struct ctl *c)
{
    return uv_now(c->loop) + (uint64_t)c->cfg.limits.http_timeout_s * 1000;
}

static const char *client_name(struct MHD_Connection *conn, char *buf, size_t len);

/* Cuts connection h: its next read ends, and MHD closes it. */
static void cut(struct ctl_http_conn *h)
{
    h->head_due_ms = 0;
    shutdown(h->fd, SHUT_RDWR);
}

/* Over http_max_connections: the oldest still waiting for a head goes. */
static void make_room(struct ctl *c)
{
    struct ctl_http_guard *g = &c->http_guard;
    struct ctl_http_conn *oldest = NULL;
    char a[PROTO_ADDRSTR_MAX];

    if (g->nconns <= c->cfg.limits.http_max)
        return;
    for (struct ctl_http_conn *h = g->conns; h != NULL; h = h->next)
        if (h->head_due_ms != 0)
            oldest = h; /* newest first: the last one is the oldest */
    if (oldest == NULL)
        return;
    cut(oldest);
    g->evicted++;
    g->evicted_minute++;
    if (ctl_quota_take(&g->quota, uv_now(c->loop)))
        log_warn("http: closing the connection of %s, the longest without a request "
                 "head: %u connections are open (http_max_connections %u)",
                 client_name(oldest->conn, a, sizeof(a)), g->nconns,
                 c->cfg.limits.http_max);
}

static void on_http_conn_cb(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                            enum MHD_ConnectionNotificationCode what)
{
    struct ctl *c = cls;
    struct ctl_http_guard *g = &c->http_guard;
    struct ctl_http_conn *h = *socket_ctx;
    const union MHD_ConnectionInfo *info;

    if (what == MHD_CONNECTION_NOTIFY_STARTED) {
        info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        h = calloc(1, sizeof(*h));
        if (h == NULL || info == NULL) {
            free(h); /* unwatched: MHD's idle timeout still ends it */
            return;
        }
        h->conn = conn;
        h->fd = info->connect_fd;
        h->head_due_ms = head_deadline(c);
        h->next = g->conns;
        g->conns = h;
        g->nconns++;
        *socket_ctx = h;
        make_room(c);
        return;
    }
    for (struct ctl_http_conn **pp = &g->conns; h != NULL && *pp != NULL;
         pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            g->nconns--;
            free(h);
            break;
        }
    }
    *socket_ctx = NULL;
}

/* An answer went out: the next request's head has its deadline. */
static void on_http_done_cb(void *cls, struct MHD_Connection *conn, void **state,
                            enum MHD_RequestTerminationCode toe)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    (void)toe;
    ctl_query_done(cls, state);
    if (info != NULL && info->socket_context != NULL)
        ((struct ctl_http_conn *)info->socket_context)->head_due_ms = head_deadline(cls);
}

static const char *client_name(struct MHD_Connection *conn, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    snprintf(buf, len, "?");
    if (info != NULL && info->client_addr != NULL)
        proto_addr_ntop(info->client_addr, buf, len);
    return buf;
}

/*
 * Cuts the connections whose request head is late.  MHD has no call to
 * close one from outside its handlers: shutdown() makes its next read see
 * the end, and MHD closes it and frees what it held.
 */
static void cut_late_heads(struct ctl *c)
{
    struct ctl_http_guard *g = &c->http_guard;
    uint64_t now = uv_now(c->loop), held;
    char a[PROTO_ADDRSTR_MAX];

    for (struct ctl_http_conn *h = g->conns; h != NULL; h = h->next) {
        if (h->head_due_ms == 0 || now < h->head_due_ms)
            continue;
        cut(h);
        g->cut++;
        g->cut_minute++;
        if (ctl_quota_take(&g->quota, now))
            log_warn("http: closing the connection of %s: no request head within %u s",
                     client_name(h->conn, a, sizeof(a)), c->cfg.limits.http_timeout_s);
    }
    if (ctl_quota_roll(&g->quota, now, &held) && held > 0)
        log_warn("http: in the last minute %llu lines not logged; %llu connections "
                 "closed for a late request head, %llu to make room (since the start: "
                 "%llu and %llu)",
                 (unsigned long long)held, (unsigned long long)g->cut_minute,
                 (unsigned long long)g->evicted_minute, (unsigned long long)g->cut,
                 (unsigned long long)g->evicted);
    if (g->quota.start_ms == 0)
        g->cut_minute = g->evicted_minute = 0;
}

static void on_http_timer_cb(uv_timer_t *h)
{
    run_mhd(h->data);
}

static void on_http_poll_cb(uv_poll_t *h, int status, int events)
{
    (void)status, (void)events;
    run_mhd(h->data);
}

/* Lets MHD do its work, then waits for its next deadline. */
static void run_mhd(struct ctl *c)
{
    MHD_UNSIGNED_LONG_LONG timeout;
    uint64_t ms = IDLE_TICK_MS;

    MHD_run(c->http);
    cut_late_heads(c);
    if (MHD_get_timeout(c->http, &timeout) == MHD_YES && timeout < ms)
        ms = timeout;
    uv_timer_start(&c->http_timer, on_http_timer_cb, ms, 0);
}

static void log_mhd_cb(void *cls, const char *fmt, va_list ap)
{
    struct ctl *c = cls;
    char line[512];

    /* Mostly about what clients did: anyone can make MHD say something. */
    if (!ctl_quota_take(&c->http_guard.quota, uv_now(c->loop)))
        return;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_warn("http: %s", line);
}

int ctl_http_start(struct ctl *c)
{
    const struct sockaddr *sa = (const struct sockaddr *)&c->cfg.http_addr;
    const struct ctl_limits *lim = &c->cfg.limits;
    unsigned flags =
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME;
    const union MHD_DaemonInfo *info;
    char a[PROTO_ADDRSTR_MAX];

    proto_addr_ntop(sa, a, sizeof(a));
    if (sa->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger goes first, or MHD reports the options before it on stderr. */
    c->http = MHD_start_daemon(
        flags, proto_addr_port(sa), NULL, NULL, on_request_cb, c,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd_cb, c, MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)lim->http_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(lim->http_max * HARD_LIMIT),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)lim->http_per_client,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
        MHD_OPTION_NOTIFY_CONNECTION, on_http_conn_cb, c, MHD_OPTION_NOTIFY_COMPLETED,
        on_http_done_cb, c, MHD_OPTION_END);
    if (c->http == NULL) {
        log_error("cannot serve HTTP on %s port %u (in use?)", a, proto_addr_port(sa));
        return -EADDRINUSE;
    }
    info = MHD_get_daemon_info(c->http, MHD_DAEMON_INFO_EPOLL_FD);
    uv_poll_init(c->loop, &c->http_poll, info->epoll_fd);
    uv_timer_init(c->loop, &c->http_timer);
    c->http_poll.data = c->http_timer.data = c;
    uv_poll_start(&c->http_poll, UV_READABLE, on_http_poll_cb);
    run_mhd(c);
    log_info("HTTP on http://%s%s%s:%u/", sa->sa_family == AF_INET6 ? "[" : "", a,
             sa->sa_family == AF_INET6 ? "]" : "", proto_addr_port(sa));
    return 0;
}

static void on_http_closed_cb(uv_handle_t *h)
{
    struct ctl *c = h->data;

    /* The poll handle no longer watches the epoll descriptor MHD closes. */
    MHD_stop_daemon(c->http);
    c->http = NULL;
}

void ctl_http_kick(struct ctl *c)
{
    if (c->http != NULL && !c->stopping)
        run_mhd(c);
}

void ctl_http_stop(struct ctl *c)
{
    if (c->http == NULL)
        return;
    ctl_query_stop(c);
    MHD_run(c->http); /* the resumed ones are closed */
    uv_close((uv_handle_t *)&c->http_timer, NULL);
    uv_close((uv_handle_t *)&c->http_poll, on_http_closed_cb);
}
