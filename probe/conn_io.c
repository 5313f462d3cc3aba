/*
 * conn_io.c - the tcp, tls and http methods on the loop.
 *
 * All three share one state machine per attempt:
 *
 *   resolve (host only) -> connect -> [TLS over memory BIOs] -> [GET, response]
 *
 * tcp stops after connect, tls after the handshake, http after the
 * response.  Each attempt has its own timer for the task's timeout, and
 * a task's attempts in flight are a list (t->mstate), so that each is timed
 * on its own when the timeout is longer than the interval; past
 * CONN_INFLIGHT_MAX of them the oldest ends as a timeout, so that a dead
 * server is not flooded, and every due attempt is still made and counted.
 *
 * Ownership: an attempt embeds its timer and its TCP handle and is freed
 * in the close callback of the last of them; cancel() detaches it from
 * its task first, so nothing touches the task afterwards.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "probe.h"

enum conn_phase {
    PHASE_RESOLVE,
    PHASE_CONNECT,
    PHASE_TLS,
    PHASE_RESPONSE,
    PHASE_DONE,
};

static const char *const phase_names[] = {
    [PHASE_RESOLVE] = "resolve",   [PHASE_CONNECT] = "connect",
    [PHASE_TLS] = "TLS handshake", [PHASE_RESPONSE] = "response",
    [PHASE_DONE] = "done",
};

#define CONN_INFLIGHT_MAX 8 /* attempts of one task at a time */

struct conn_attempt {
    struct probe *p;
    struct probe_task *t;               /* NULL once cancelled: the task is gone */
    struct conn_attempt *next, **pprev; /* in t->mstate while t is set */
    uint32_t seq;
    enum conn_phase phase;
    uv_timer_t timer;
    uv_tcp_t tcp;
    uv_connect_t creq;
    int nhandles; /* handles open; the attempt is freed when this reaches 0 */
    int tcp_open;
    struct probe_resolve *res;
    SSL *ssl; /* owns its two memory BIOs */
    BIO *rbio, *wbio;
    int use_tls;
    int64_t t_connect, t_connected, t_request, t_first; /* monotonic ns */
    struct proto_content_info info;
    struct probe_http_resp resp;
};

/* A write and its buffer, freed in its callback. */
struct conn_write {
    uv_write_t req;
    struct conn_attempt *a;
    char data[];
};

static void attempt_close(struct conn_attempt *a);

static void on_handle_closed_cb(uv_handle_t *h)
{
    struct conn_attempt *a = h->data;

    if (--a->nhandles > 0)
        return;
    SSL_free(a->ssl);
    free(a);
}

/* Closes everything the attempt holds; it is freed when the handles are. */
static void attempt_close(struct conn_attempt *a)
{
    if (a->pprev != NULL) {
        *a->pprev = a->next;
        if (a->next != NULL)
            a->next->pprev = a->pprev;
        a->next = NULL;
        a->pprev = NULL;
    }
    a->t = NULL;
    a->phase = PHASE_DONE;
    if (a->res != NULL) {
        probe_resolve_cancel(a->res);
        a->res = NULL;
    }
    if (a->p->conn != NULL && a->p->conn->inflight > 0)
        a->p->conn->inflight--;
    uv_close((uv_handle_t *)&a->timer, on_handle_closed_cb);
    if (a->tcp_open)
        uv_close((uv_handle_t *)&a->tcp, on_handle_closed_cb);
}

/* Records how the attempt ended (once) and closes it. */
static void attempt_end(struct conn_attempt *a, int outcome, int64_t rtt_ns,
                        const char *why)
{
    struct probe_reply rep = {.outcome = outcome, .rtt_ns = rtt_ns, .info = &a->info};
    char clean[PROTO_WHY_MAX + 1];

    if (a->phase == PHASE_DONE)
        return;
    if (outcome != PROTO_OUT_OK && why != NULL) {
        probe_sanitize(clean, sizeof(clean), why, strlen(why));
        rep.why = clean;
    }
    if (a->t != NULL)
        (void)probe_attempt_report(a->p, a->t, a->seq, &rep); /* -ENOENT: window closed */
    attempt_close(a);
}

/* Ends the attempt with the outcome a libuv error means, naming the step. */
static void attempt_fail_errno(struct conn_attempt *a, const char *what, int err)
{
    char why[PROTO_WHY_MAX + 1];

    snprintf(why, sizeof(why), "%s: %s", what, uv_strerror(err));
    attempt_end(a, probe_outcome_of_errno(err), 0, why);
}

static void on_timeout_cb(uv_timer_t *h)
{
    struct conn_attempt *a = h->data;
    char why[PROTO_WHY_MAX + 1];

    snprintf(why, sizeof(why), "%s timed out after %u ms", phase_names[a->phase],
             a->t != NULL ? a->t->spec.timeout_ms : 0);
    attempt_end(a, PROTO_OUT_TIMEOUT, 0, why);
}

static void on_write_cb(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct conn_attempt *a = w->a;

    free(w);
    if (status < 0 && status != UV_ECANCELED && a->phase != PHASE_DONE)
        attempt_fail_errno(a, "write", status);
}

/* Queues n octets for the socket; 0 or a negative errno. */
static int conn_write(struct conn_attempt *a, const void *data, size_t n)
{
    struct conn_write *w = malloc(sizeof(*w) + n);
    uv_buf_t b;
    int rc;

    if (w == NULL)
        return -ENOMEM;
    w->a = a;
    memcpy(w->data, data, n);
    b = uv_buf_init(w->data, (unsigned)n);
    rc = uv_write(&w->req, (uv_stream_t *)&a->tcp, &b, 1, on_write_cb);
    if (rc < 0)
        free(w);
    return rc;
}

/* Writes whatever ciphertext OpenSSL left in the outgoing memory BIO. */
static int pump_tls_out(struct conn_attempt *a)
{
    char buf[16384];
    int n, rc = 0;

    while (rc == 0 && (n = BIO_read(a->wbio, buf, sizeof(buf))) > 0)
        rc = conn_write(a, buf, (size_t)n);
    return rc;
}

static void on_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    b->base = malloc(suggested);
    b->len = b->base != NULL ? suggested : 0;
}

/* The response is complete: the outcome is the status class (RFC 9110 15). */
static void http_done(struct conn_attempt *a)
{
    struct probe_http_resp *r = &a->resp;
    int64_t now = probe_mono_ns();
    char why[PROTO_WHY_MAX + 1];
    int outcome = PROTO_OUT_OK;

    a->info.http_status = r->status;
    a->info.http_bytes = r->body;
    a->info.total_ns = (uint64_t)(now - a->t_connect);
    snprintf(a->info.header_value, sizeof(a->info.header_value), "%s", r->value);
    if (r->status >= 500)
        outcome = PROTO_OUT_HTTP_5XX;
    else if (r->status >= 400)
        outcome = PROTO_OUT_HTTP_4XX;
    snprintf(why, sizeof(why), "HTTP %u %s", r->status, r->reason);
    /* The RTT is time to first byte from the connect start: DNS excluded. */
    attempt_end(a, outcome, a->t_first - a->t_connect, why);
}

static void http_malformed(struct conn_attempt *a)
{
    char why[PROTO_WHY_MAX + 1];

    snprintf(why, sizeof(why), "malformed response: %s", probe_http_resp_error(&a->resp));
    attempt_end(a, PROTO_OUT_PROTOCOL, 0, why);
}

/* Response octets, decrypted or plain. */
static void http_feed(struct conn_attempt *a, const uint8_t *p, size_t n)
{
    int rc;

    if (n == 0 || a->phase != PHASE_RESPONSE)
        return;
    if (a->t_first == 0) {
        a->t_first = probe_mono_ns();
        a->info.ttfb_ns = (uint64_t)(a->t_first - a->t_request);
    }
    rc = probe_http_resp_feed(&a->resp, p, n);
    if (rc > 0)
        http_done(a);
    else if (rc < 0)
        http_malformed(a);
}

static void http_eof(struct conn_attempt *a)
{
    int rc = probe_http_resp_eof(&a->resp);

    if (rc > 0)
        http_done(a);
    else if (!a->resp.got_bytes) /* a clean close, not a reset: the server said nothing */
        attempt_end(a, PROTO_OUT_PROTOCOL, 0, "connection closed before a response");
    else
        http_malformed(a);
}

/* Sends the GET (through TLS when it is up) and waits for the answer. */
static void http_send(struct conn_attempt *a)
{
    char req[PROTO_PATH_MAX + PROTO_HOST_MAX + 256];
    int n = probe_http_request(&a->t->spec, req, sizeof(req)), rc;

    if (n < 0) {
        attempt_end(a, PROTO_OUT_LOCAL, 0, "cannot build the request");
        return;
    }
    probe_http_resp_init(&a->resp, a->t->spec.header);
    a->phase = PHASE_RESPONSE;
    a->t_request = probe_mono_ns();
    if (a->use_tls) {
        /* After the handshake a memory BIO takes the whole record at once. */
        rc = SSL_write(a->ssl, req, n) == n ? pump_tls_out(a) : -EPROTO;
    } else {
        rc = conn_write(a, req, (size_t)n);
    }
    if (rc < 0)
        attempt_fail_errno(a, "write", rc);
}

/* The handshake finished: tls ends here, http goes on to the request. */
static void tls_done(struct conn_attempt *a)
{
    int64_t now = probe_mono_ns();

    a->info.tls_ns = (uint64_t)(now - a->t_connected);
    probe_tls_info(a->ssl, &a->info);
    if (a->t->spec.method == PROTO_METHOD_TLS)
        attempt_end(a, PROTO_OUT_OK, (int64_t)a->info.tls_ns, NULL);
    else
        http_send(a);
}

/* Runs the handshake as far as the octets that came allow. */
static void tls_step(struct conn_attempt *a)
{
    int rc = SSL_do_handshake(a->ssl), e;
    char why[PROTO_WHY_MAX + 1];

    if (rc == 1) {
        if (pump_tls_out(a) < 0)
            attempt_end(a, PROTO_OUT_LOCAL, 0, "out of memory");
        else
            tls_done(a);
        return;
    }
    e = SSL_get_error(a->ssl, rc);
    if (pump_tls_out(a) < 0) {
        attempt_end(a, PROTO_OUT_LOCAL, 0, "out of memory");
        return;
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    /* What verification found is kept even when it failed the handshake. */
    a->info.verify_result = (uint32_t)SSL_get_verify_result(a->ssl) + 1;
    rc = probe_tls_failure(a->ssl, why, sizeof(why));
    attempt_end(a, rc, 0, why);
}

/* Decrypts what TLS holds and hands it to the response reader. */
static void tls_read_plain(struct conn_attempt *a)
{
    uint8_t buf[16384];

    while (a->phase == PHASE_RESPONSE) {
        int n = SSL_read(a->ssl, buf, sizeof(buf)), e;

        if (n > 0) {
            http_feed(a, buf, (size_t)n);
            continue;
        }
        e = SSL_get_error(a->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: RFC 8446 6.1 */
            http_eof(a);
            break;
        }
        ERR_clear_error();
        attempt_end(a, PROTO_OUT_PROTOCOL, 0, "TLS record error in the response");
        break;
    }
}

/* Octets from the server: handshake records, or the response (through TLS
 * or not).  An end of stream is judged by the phase it cuts short. */
static void on_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn_attempt *a = s->data;

    if (a->phase == PHASE_DONE || nread == 0)
        goto done;
    if (nread < 0) {
        if (nread == UV_EOF && a->phase == PHASE_RESPONSE)
            http_eof(a);
        else if (nread == UV_EOF)
            attempt_end(a, PROTO_OUT_TLS, 0, "TLS handshake: connection closed by peer");
        else
            attempt_fail_errno(a, phase_names[a->phase], (int)nread);
        goto done;
    }
    if (!a->use_tls) {
        http_feed(a, (const uint8_t *)b->base, (size_t)nread);
        goto done;
    }
    if (BIO_write(a->rbio, b->base, (int)nread) != (int)nread) {
        attempt_end(a, PROTO_OUT_LOCAL, 0, "out of memory");
        goto done;
    }
    if (a->phase == PHASE_TLS)
        tls_step(a);
    if (a->phase == PHASE_RESPONSE)
        tls_read_plain(a);
done:
    free(b->base);
}

/* Starts TLS over two memory BIOs: libuv moves the octets, OpenSSL never
 * sees the socket (as the control channel does, proto/chan.c). */
static int tls_start(struct conn_attempt *a)
{
    struct probe_conn_io *c = a->p->conn;
    char err[256];

    if (c->ctx == NULL) {
        c->ctx = probe_tls_ctx_new(a->p->cfg.content_ca, err, sizeof(err));
        if (c->ctx == NULL) {
            attempt_end(a, PROTO_OUT_LOCAL, 0, err);
            return -EINVAL;
        }
    }
    a->ssl = SSL_new(c->ctx);
    a->rbio = BIO_new(BIO_s_mem());
    a->wbio = BIO_new(BIO_s_mem());
    if (a->ssl == NULL || a->rbio == NULL || a->wbio == NULL) {
        BIO_free(a->rbio);
        BIO_free(a->wbio);
        attempt_end(a, PROTO_OUT_LOCAL, 0, "out of memory");
        return -ENOMEM;
    }
    SSL_set_bio(a->ssl, a->rbio, a->wbio); /* the SSL owns both BIOs now */
    SSL_set_connect_state(a->ssl);
    if (probe_tls_prepare(a->ssl, a->t->spec.host, a->t->spec.addr) < 0) {
        attempt_end(a, PROTO_OUT_LOCAL, 0, "cannot set the name to verify");
        return -EINVAL;
    }
    a->phase = PHASE_TLS;
    tls_step(a); /* writes the ClientHello */
    return 0;
}

/* The handshake (RFC 9293 3.5) is done: tcp ends here with its RTT. */
static void on_connect_cb(uv_connect_t *req, int status)
{
    struct conn_attempt *a = req->data;
    int rc;

    if (status == UV_ECANCELED || a->phase != PHASE_CONNECT)
        return;
    if (status < 0) {
        attempt_fail_errno(a, "connect", status);
        return;
    }
    a->t_connected = probe_mono_ns();
    a->info.connect_ns = (uint64_t)(a->t_connected - a->t_connect);
    if (a->t->spec.method == PROTO_METHOD_TCP) {
        attempt_end(a, PROTO_OUT_OK, (int64_t)a->info.connect_ns, NULL);
        return;
    }
    rc = uv_read_start((uv_stream_t *)&a->tcp, on_alloc_cb, on_read_cb);
    if (rc < 0) {
        attempt_fail_errno(a, "read", rc);
        return;
    }
    if (a->use_tls)
        tls_start(a);
    else
        http_send(a);
}

/*
 * DSCP (RFC 2474 3) in the TOS octet or Traffic Class; and SO_LINGER 0, so
 * that our close is a RST: a probe connecting to each target every second
 * would otherwise leave a TIME_WAIT (RFC 9293 3.6.1) per attempt on one
 * side or the other, minutes of them per target, for no information.
 */
static int set_socket_options(struct conn_attempt *a, int family)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    int tos = a->t->spec.dscp << 2;
    uv_os_fd_t fd;
    int rc = uv_fileno((uv_handle_t *)&a->tcp, &fd);

    if (rc < 0)
        return rc;
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
        return -errno;
    if (tos == 0)
        return 0;
    if (family == AF_INET6)
        rc = setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
    else
        rc = setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
    return rc < 0 ? -errno : 0;
}

static void attempt_connect(struct conn_attempt *a, const struct sockaddr *sa)
{
    int rc = uv_tcp_init_ex(a->p->loop, &a->tcp, sa->sa_family);

    if (rc < 0) {
        attempt_fail_errno(a, "socket", rc);
        return;
    }
    a->tcp.data = a;
    a->tcp_open = 1;
    a->nhandles++;
    rc = set_socket_options(a, sa->sa_family);
    if (rc == 0)
        rc = uv_tcp_nodelay(&a->tcp, 1);
    if (rc < 0) {
        attempt_fail_errno(a, "socket options", rc);
        return;
    }
    a->phase = PHASE_CONNECT;
    a->creq.data = a;
    a->t_connect = probe_mono_ns(); /* read right before the SYN goes */
    rc = uv_tcp_connect(&a->creq, &a->tcp, sa, on_connect_cb);
    if (rc < 0) /* unreachable networks fail here, not in the callback */
        attempt_fail_errno(a, "connect", rc);
}

/* A resolved address the policy refuses ends the attempt as a local failure. */
static int policy_refuses(struct conn_attempt *a, const struct sockaddr *sa)
{
    char why[PROTO_REASON_MAX];

    if (a->p->cmd != NULL)
        return 0; /* the one-shot command: the operator asked, not a controller */
    probe_sched_read_own(a->p);
    if (probe_policy_check_addr(&a->p->cfg.policy, &a->p->own, a->t->spec.method, sa, why,
                                sizeof(why)) == 0)
        return 0;
    log_warn("task %u to %s: %s resolved: %s", a->t->spec.id, a->t->spec.target_id,
             a->t->spec.host, why);
    attempt_end(a, PROTO_OUT_LOCAL, 0, why);
    return 1;
}

/* The name resolved (or not): its time is the attempt's DNS phase. */
static void on_resolved_cb(void *arg, int outcome, const struct sockaddr *sa,
                           socklen_t salen, int64_t elapsed_ns, const char *why)
{
    struct conn_attempt *a = arg;

    (void)salen;
    a->res = NULL;
    if (a->phase != PHASE_RESOLVE)
        return;
    a->info.dns_ns = elapsed_ns > 0 ? (uint64_t)elapsed_ns : 0;
    if (outcome != PROTO_OUT_OK || sa == NULL) {
        attempt_end(a, outcome != PROTO_OUT_OK ? outcome : PROTO_OUT_RESOLVE, 0,
                    why != NULL ? why : "name did not resolve");
        return;
    }
    /* The name is the controller's, the answer anyone's: the policy holds
     * for where it points, before a SYN goes (probe.ini allow_local). */
    if (policy_refuses(a, sa))
        return;
    attempt_connect(a, sa);
}

/* With CONN_INFLIGHT_MAX attempts of t in flight, the oldest ends now. */
static void end_oldest_if_full(struct probe *p, struct probe_task *t)
{
    struct conn_attempt *a = t->mstate, *oldest = NULL;
    int n = 0;
    char why[PROTO_WHY_MAX + 1];

    for (; a != NULL; a = a->next, n++)
        oldest = a;
    if (n < CONN_INFLIGHT_MAX)
        return;
    p->conn->overdue++;
    snprintf(why, sizeof(why), "%s still running after %d more attempts were due",
             phase_names[oldest->phase], CONN_INFLIGHT_MAX - 1);
    attempt_end(oldest, PROTO_OUT_TIMEOUT, 0, why);
}

/*
 * One attempt of t, timed on its own even while earlier ones still run
 * (a timeout longer than the interval), so that every due attempt is made
 * and counted, and a dead server shows as loss, never as fewer attempts.
 */
static int conn_send(struct probe *p, struct probe_task *t)
{
    struct conn_attempt *a;
    int rc;

    end_oldest_if_full(p, t);
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    a->p = p;
    a->t = t;
    a->use_tls = t->spec.method == PROTO_METHOD_TLS ||
                 (t->spec.method == PROTO_METHOD_HTTP && t->spec.tls);
    uv_timer_init(p->loop, &a->timer);
    a->timer.data = a;
    a->nhandles = 1;
    a->next = t->mstate; /* newest first */
    if (a->next != NULL)
        a->next->pprev = &a->next;
    a->pprev = (struct conn_attempt **)&t->mstate;
    t->mstate = a;
    p->conn->inflight++;
    a->seq = probe_attempt_start(t, probe_mono_ns());
    uv_timer_start(&a->timer, on_timeout_cb, t->spec.timeout_ms, 0);
    if (t->spec.addr[0] != '\0') {
        attempt_connect(a, (const struct sockaddr *)&t->dst);
        return 0;
    }
    a->phase = PHASE_RESOLVE;
    rc = probe_resolve_start(p, t->spec.host, t->spec.port, on_resolved_cb, a, &a->res);
    if (a->phase != PHASE_RESOLVE) /* it answered at once */
        a->res = NULL;
    if (rc < 0) {
        a->res = NULL;
        attempt_fail_errno(a, "resolve", rc);
    }
    return 0;
}

static int conn_open(struct probe *p, uint8_t method)
{
    if (p->conn == NULL) {
        p->conn = calloc(1, sizeof(*p->conn));
        if (p->conn == NULL)
            return -ENOMEM;
    }
    p->conn->open |= 1u << method;
    return 0;
}

/* The last of the three methods to close frees what they share. */
static void conn_close(struct probe *p, uint8_t method)
{
    if (p->conn == NULL)
        return;
    p->conn->open &= ~(1u << method);
    if (p->conn->open != 0)
        return;
    /* Attempts still closing hold their SSL, which holds its own
     * reference to the context. */
    SSL_CTX_free(p->conn->ctx);
    free(p->conn);
    p->conn = NULL;
}

/* The task goes: its attempts end unreported, and never touch it again. */
static void conn_cancel(struct probe *p, struct probe_task *t)
{
    (void)p;
    while (t->mstate != NULL)
        attempt_close(t->mstate); /* unlinks it, and forgets t: never reported */
}

static int tcp_open(struct probe *p)
{
    return conn_open(p, PROTO_METHOD_TCP);
}

static void tcp_close(struct probe *p)
{
    conn_close(p, PROTO_METHOD_TCP);
}

/* The TLS context is made at once, so that a bad CA file is told when the
 * method opens rather than at every attempt. */
static int tls_open(struct probe *p)
{
    char err[256];
    int rc = conn_open(p, PROTO_METHOD_TLS);

    if (rc < 0 || p->conn->ctx != NULL)
        return rc;
    p->conn->ctx = probe_tls_ctx_new(p->cfg.content_ca, err, sizeof(err));
    if (p->conn->ctx == NULL) {
        log_error("tls: %s", err);
        conn_close(p, PROTO_METHOD_TLS);
        return -EINVAL;
    }
    return 0;
}

static void tls_close(struct probe *p)
{
    conn_close(p, PROTO_METHOD_TLS);
}

static int http_open(struct probe *p)
{
    return conn_open(p, PROTO_METHOD_HTTP);
}

static void http_close(struct probe *p)
{
    conn_close(p, PROTO_METHOD_HTTP);
}

const struct probe_method_ops probe_tcp_ops = {
    .method = PROTO_METHOD_TCP,
    .open = tcp_open,
    .close = tcp_close,
    .send = conn_send,
    .cancel = conn_cancel,
};

const struct probe_method_ops probe_tls_ops = {
    .method = PROTO_METHOD_TLS,
    .open = tls_open,
    .close = tls_close,
    .send = conn_send,
    .cancel = conn_cancel,
};

const struct probe_method_ops probe_http_ops = {
    .method = PROTO_METHOD_HTTP,
    .open = http_open,
    .close = http_close,
    .send = conn_send,
    .cancel = conn_cancel,
};
