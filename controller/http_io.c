/*
 * http_io.c - the map, the JSON API and (later) /metrics, served by
 * libmicrohttpd from inside our libuv loop.
 *
 * MHD runs without a thread of its own, in epoll mode: its one epoll
 * descriptor is watched by a uv_poll and MHD_run() is called when it is
 * readable or when MHD's own timeout expires.  Handlers therefore run on
 * the loop thread and read the store and the connection table without
 * locks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "controller.h"
#include "log.h"

#define WINDOW_DEFAULT_S 60
#define IDLE_TICK_MS     1000 /* how often MHD is run when it names no timeout */

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

/* ?window=SECONDS; absent means 60. */
static int parse_window(struct MHD_Connection *conn, uint32_t *window_s)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "window");

    *window_s = WINDOW_DEFAULT_S;
    return v == NULL ? 0 : ctl_parse_window(v, window_s);
}

static enum MHD_Result serve_map(struct ctl *c, struct MHD_Connection *conn)
{
    uint32_t window_s;

    if (parse_window(conn, &window_s) < 0)
        return respond_error(
            conn, MHD_HTTP_BAD_REQUEST,
            "window must be a whole number of seconds from 1 to 2592000");
    return respond_json(conn, MHD_HTTP_OK,
                        ctl_map_matrix(c->store, &c->cfg, ctl_now_ms(), window_s,
                                       ctl_channel_connected, c));
}

static enum MHD_Result on_request_cb(void *cls, struct MHD_Connection *conn,
                                     const char *url, const char *method,
                                     const char *version, const char *upload,
                                     size_t *upload_len, void **state)
{
    struct ctl *c = cls;

    (void)version, (void)upload, (void)state;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET is supported");
    if (*upload_len != 0)
        return respond_error(conn, MHD_HTTP_BAD_REQUEST, "a GET has no body");
    if (strcmp(url, "/") == 0)
        return respond(conn, MHD_HTTP_OK, "text/html; charset=utf-8",
                       (void *)ctl_web_index_html, ctl_web_index_html_len,
                       MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/api/v1/probes") == 0)
        return respond_json(conn, MHD_HTTP_OK,
                            ctl_map_probes(c->store, ctl_channel_connected, c));
    if (strcmp(url, "/api/v1/map") == 0)
        return serve_map(c, conn);
    return respond_error(conn, MHD_HTTP_NOT_FOUND, "no such resource");
}

static void run_mhd(struct ctl *c);

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
    if (MHD_get_timeout(c->http, &timeout) == MHD_YES && timeout < ms)
        ms = timeout;
    uv_timer_start(&c->http_timer, on_http_timer_cb, ms, 0);
}

static void log_mhd_cb(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_warn("http: %s", line);
}

int ctl_http_start(struct ctl *c)
{
    const struct sockaddr *sa = (const struct sockaddr *)&c->cfg.http_addr;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    char a[PROTO_ADDRSTR_MAX];

    proto_addr_ntop(sa, a, sizeof(a));
    if (sa->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger goes first, or MHD reports the options before it on stderr. */
    c->http = MHD_start_daemon(flags, proto_addr_port(sa), NULL, NULL, on_request_cb, c,
                               MHD_OPTION_EXTERNAL_LOGGER, log_mhd_cb, NULL,
                               MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_TIMEOUT,
                               (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                               MHD_OPTION_END);
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

void ctl_http_stop(struct ctl *c)
{
    if (c->http == NULL)
        return;
    uv_close((uv_handle_t *)&c->http_timer, NULL);
    uv_close((uv_handle_t *)&c->http_poll, on_http_closed_cb);
}
