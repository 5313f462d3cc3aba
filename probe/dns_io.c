/*
 * dns_io.c - c-ares on the libuv loop: the dns method (one query to one
 * resolver per attempt) and the probe's own resolver for names.
 *
 * Each c-ares channel tells us its sockets through ARES_OPT_SOCK_STATE_CB;
 * each socket gets a uv_poll, and one uv_timer per channel wakes c-ares at
 * the deadline ares_timeout() names.  Both end in ares_process_fd().
 *
 * The dns method keeps a channel per resolver address, port and timeout,
 * with one server and one try: an attempt is one query and its timeout is
 * the task's.  ARES_FLAG_NOCHECKRESP keeps c-ares from skipping a server
 * that answers SERVFAIL or REFUSED, and ares_send() hands back the raw
 * answer whatever its RCODE, which dns.c reads.  ARES_FLAG_IGNTC keeps a
 * truncated answer on UDP rather than repeating the query over TCP.
 *
 * c-ares 1.18 cannot cancel one query.  A query's state outlives its task:
 * cancel() only clears the task pointer, and the state is freed when c-ares
 * calls back (an answer, its timeout, or the channel's destruction).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

#include "log.h"
#include "probe.h"

#define DNS_PORT           53
#define RESOLVE_TIMEOUT_MS 1000 /* first try; c-ares doubles it for the next round */
#define RESOLVE_TRIES      2
#define RESOLVERS_MAX      8

/* A socket of a channel, polled for what c-ares waits for. */
struct dns_poll {
    uv_poll_t h;
    ares_socket_t fd;
    struct probe_dns_chan *chan;
    struct dns_poll *next;
};

struct probe_dns_chan {
    ares_channel ch;
    uv_timer_t timer;
    struct dns_poll *polls;
    struct probe_dns_chan *next;
    /* The dns method's channels: the one server and the timeout. */
    struct sockaddr_storage server;
    uint32_t timeout_ms;
    int busy; /* c-ares calls running on it: destroying it must wait */
    int dead; /* closed while busy: destroyed when the call returns */
};

/* One query of the dns method, in its task's list (t->mstate) until it ends. */
struct dns_query {
    struct probe *p;
    struct probe_task *t; /* NULL once the task was cancelled */
    struct dns_query *next;
    uint32_t seq;
    int64_t t1_ns;
    int in_send; /* inside ares_send(): a callback there must not free it */
    int ended;
};

struct probe_resolve {
    struct probe_dns_io *io;
    probe_resolve_cb cb;
    void *arg;
    char host[PROTO_HOST_MAX + 1];
    uint16_t port;
    int64_t t0_ns;
    int starting;  /* inside ares_getaddrinfo(): results wait for the next turn */
    int cancelled; /* freed when c-ares calls back, cb not called */
    int deferred;  /* the defer timer runs */
    int delivered;
    int answered; /* the result below is set */
    /* The result, kept when it came within ares_getaddrinfo(). */
    int outcome;
    struct sockaddr_storage ss;
    socklen_t sslen;
    int64_t elapsed_ns;
    char why[PROTO_WHY_MAX + 1];
    uv_timer_t defer;
    struct probe_resolve *next; /* in io->deferred */
};

static void chan_process(struct probe_dns_chan *c, ares_socket_t rfd, ares_socket_t wfd);
static void on_timer_cb(uv_timer_t *h);

/* ---- channels on the loop ------------------------------------------------ */

static void on_handle_free_cb(uv_handle_t *h)
{
    free(h->data);
}

/* Arms the channel's timer for c-ares' next deadline, if it has one. */
static void chan_arm(struct probe_dns_chan *c)
{
    struct timeval tv, *tvp = ares_timeout(c->ch, NULL, &tv);
    uint64_t ms;

    if (tvp == NULL) {
        uv_timer_stop(&c->timer);
        return;
    }
    /* Rounded up: waking before the deadline would only wake again. */
    ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
    uv_timer_start(&c->timer, on_timer_cb, ms, 0);
}

/*
 * Destroys the channel: c-ares ends its queries (ARES_EDESTRUCTION) and
 * reports each socket closed, which closes its poll; the channel's memory
 * goes with its timer's close callback.
 */
static void chan_destroy(struct probe_dns_chan *c)
{
    struct dns_poll *s;

    ares_destroy(c->ch);
    /* c-ares reported every socket closed; anything left is closed here. */
    while ((s = c->polls) != NULL) {
        c->polls = s->next;
        uv_close((uv_handle_t *)&s->h, on_handle_free_cb);
    }
    uv_close((uv_handle_t *)&c->timer, on_handle_free_cb);
}

/* Ends a c-ares call on c: a channel closed meanwhile goes now, else its
 * timer follows the new deadline. */
static void chan_leave(struct probe_dns_chan *c)
{
    if (--c->busy > 0)
        return;
    if (c->dead)
        chan_destroy(c);
    else
        chan_arm(c);
}

static void chan_kill(struct probe_dns_chan *c)
{
    c->dead = 1;
    if (c->busy == 0)
        chan_destroy(c);
}

static void chan_process(struct probe_dns_chan *c, ares_socket_t rfd, ares_socket_t wfd)
{
    c->busy++;
    ares_process_fd(c->ch, rfd, wfd);
    chan_leave(c);
}

static void on_timer_cb(uv_timer_t *h)
{
    chan_process(h->data, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

static void on_poll_cb(uv_poll_t *h, int status, int events)
{
    struct dns_poll *s = h->data;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

    if (s->chan == NULL)
        return;
    /* An error on the socket: c-ares reads it and sees the failure. */
    if (status < 0 || (events & UV_READABLE))
        rfd = s->fd;
    if (status < 0 || (events & UV_WRITABLE))
        wfd = s->fd;
    chan_process(s->chan, rfd, wfd);
}

/*
 * c-ares' word on a socket: what to wait for, or nothing (it is about to
 * close it, so the poll stops before the descriptor goes).
 */
static void on_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    struct probe_dns_chan *c = data;
    struct dns_poll *s, **pp;
    int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);

    for (pp = &c->polls; (s = *pp) != NULL; pp = &s->next)
        if (s->fd == fd)
            break;
    if (events == 0) {
        if (s != NULL) {
            *pp = s->next;
            s->chan = NULL;
            uv_close((uv_handle_t *)&s->h, on_handle_free_cb);
        }
        return;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL || uv_poll_init_socket(c->timer.loop, &s->h, fd) < 0) {
            /* The query on it times out: c-ares still keeps its deadline. */
            log_warn("dns: cannot poll a resolver socket");
            free(s);
            return;
        }
        s->h.data = s;
        s->fd = fd;
        s->chan = c;
        s->next = c->polls;
        c->polls = s;
    }
    uv_poll_start(&s->h, events, on_poll_cb);
}

static int err_of_ares(int ar)
{
    return ar == ARES_ENOMEM ? -ENOMEM : -EIO;
}

/*
 * A channel asking servers[0..n) (none: those of /etc/resolv.conf) with
 * the given flags, first timeout and tries.  lookups "b": DNS only, no
 * hosts file.  0 with *out, or a negative errno.
 */
static int chan_new(struct probe *p, const struct sockaddr_storage *servers, size_t n,
                    int flags, uint32_t timeout_ms, int tries, const char *lookups,
                    struct probe_dns_chan **out)
{
    struct ares_addr_port_node nodes[RESOLVERS_MAX];
    struct ares_options o;
    struct probe_dns_chan *c = calloc(1, sizeof(*c));
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
               ARES_OPT_SOCK_STATE_CB | ARES_OPT_DOMAINS;
    int rc = -ENOMEM, ar;

    if (c == NULL)
        goto done;
    memset(&o, 0, sizeof(o));
    o.flags = flags;
    o.timeout = (int)timeout_ms;
    o.tries = tries;
    o.sock_state_cb = on_sock_state_cb;
    o.sock_state_cb_data = c;
    o.domains = NULL; /* no search list: names are asked as given */
    o.ndomains = 0;
    if (lookups != NULL) {
        o.lookups = (char *)lookups;
        mask |= ARES_OPT_LOOKUPS;
    }
    ar = ares_init_options(&c->ch, &o, mask);
    if (ar != ARES_SUCCESS) {
        rc = err_of_ares(ar);
        goto done;
    }
    memset(nodes, 0, sizeof(nodes));
    for (size_t i = 0; i < n && i < RESOLVERS_MAX; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&servers[i];

        nodes[i].family = sa->sa_family;
        if (sa->sa_family == AF_INET)
            memcpy(&nodes[i].addr.addr4, &((const struct sockaddr_in *)sa)->sin_addr,
                   sizeof(nodes[i].addr.addr4));
        else
            memcpy(&nodes[i].addr.addr6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                   sizeof(nodes[i].addr.addr6));
        nodes[i].udp_port = nodes[i].tcp_port = proto_addr_port(sa);
        nodes[i].next = i + 1 < n && i + 1 < RESOLVERS_MAX ? &nodes[i + 1] : NULL;
    }
    ar = n > 0 ? ares_set_servers_ports(c->ch, nodes) : ARES_SUCCESS;
    if (ar != ARES_SUCCESS) {
        ares_destroy(c->ch);
        rc = err_of_ares(ar);
        goto done;
    }
    uv_timer_init(p->loop, &c->timer);
    c->timer.data = c;
    *out = c;
    c = NULL;
    rc = 0;
done:
    free(c);
    return rc;
}

/* ---- the dns method ---------------------------------------------------- */

static int same_server(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    return memcmp(a, b, sizeof(struct sockaddr_in6)) == 0;
}

static uint32_t task_timeout_ms(const struct probe_task *t)
{
    return t->spec.timeout_ms ? t->spec.timeout_ms : 1000;
}

static uint16_t task_qtype(const struct probe_task *t)
{
    return t->spec.qtype ? t->spec.qtype : 1; /* A (RFC 1035 3.2.2) */
}

/* The channel for t's resolver and timeout, made when first needed. */
static int method_chan(struct probe *p, struct probe_task *t, struct probe_dns_chan **out)
{
    struct probe_dns_io *io = p->dns;
    struct sockaddr_storage server;
    struct probe_dns_chan *c;
    socklen_t sl;
    int rc;

    rc = proto_addr_parse(t->spec.addr, t->spec.port ? t->spec.port : DNS_PORT, &server,
                          &sl);
    if (rc < 0)
        return rc;
    for (c = io->chans; c != NULL; c = c->next)
        if (c->timeout_ms == t->spec.timeout_ms && same_server(&c->server, &server))
            break;
    if (c == NULL) {
        /* One server, one try; STAYOPEN keeps its socket between attempts,
         * so that one attempt's time is one query's. */
        rc = chan_new(p, &server, 1,
                      ARES_FLAG_NOCHECKRESP | ARES_FLAG_IGNTC | ARES_FLAG_STAYOPEN |
                          ARES_FLAG_NOSEARCH,
                      task_timeout_ms(t), 1, "b", &c);
        if (rc < 0)
            return rc;
        c->server = server;
        c->timeout_ms = t->spec.timeout_ms;
        c->next = io->chans;
        io->chans = c;
    }
    *out = c;
    return 0;
}

static void query_unlink(struct probe_task *t, struct dns_query *q)
{
    struct dns_query *x;

    if (t->mstate == q) {
        t->mstate = q->next;
        return;
    }
    for (x = t->mstate; x != NULL; x = x->next) {
        if (x->next == q) {
            x->next = q->next;
            return;
        }
    }
}

/* What a query that c-ares ended with status came to. */
static void query_outcome(struct probe_task *t, const struct dns_query *q, int status,
                          const unsigned char *abuf, int alen, int64_t now,
                          struct probe_reply *rep, struct proto_content_info *info,
                          char *why, size_t whylen)
{
    char addr[PROTO_ADDRSTR_MAX], name[PROTO_HOST_MAX + 1];
    unsigned port = t->spec.port ? t->spec.port : DNS_PORT;
    struct probe_dns_answer a;
    int rc;

    probe_sanitize(addr, sizeof(addr), t->spec.addr, strlen(t->spec.addr));
    probe_sanitize(name, sizeof(name), t->spec.qname, strlen(t->spec.qname));
    switch (status) {
    case ARES_SUCCESS:
        rc = probe_dns_parse(abuf, alen > 0 ? (size_t)alen : 0, t->spec.qname,
                             task_qtype(t), &a);
        if (a.has_header) {
            info->dns_rcode = (uint8_t)(a.rcode + 1);
            info->dns_answers = a.ancount;
        }
        if (rc < 0) {
            rep->outcome = PROTO_OUT_PROTOCOL;
            snprintf(why, whylen, "%s answer (%d octets) from %s port %u for %.30s",
                     rc == -EPROTO ? "unrelated" : "malformed", alen, addr, port, name);
        } else {
            rep->outcome = probe_dns_outcome(a.rcode);
            if (rep->outcome == PROTO_OUT_OK)
                rep->rtt_ns = now - q->t1_ns;
            else
                probe_dns_why(why, whylen, a.rcode, t->spec.qname);
        }
        break;
    case ARES_ETIMEOUT:
        rep->outcome = PROTO_OUT_TIMEOUT;
        snprintf(why, whylen, "no answer from %s port %u within %u ms", addr, port,
                 task_timeout_ms(t));
        break;
    case ARES_ECONNREFUSED:
        /* UDP: an ICMP port unreachable came back (RFC 1122 4.1.3.3); but
         * c-ares 1.18 reports every error of the socket so (host or
         * network unreachable too), so the reason says both. */
        rep->outcome = PROTO_OUT_REFUSED;
        snprintf(why, whylen, "%s port %u refused the query or is unreachable", addr,
                 port);
        break;
    case ARES_EBADRESP:
    case ARES_EFORMERR:
        rep->outcome = PROTO_OUT_PROTOCOL;
        snprintf(why, whylen, "bad answer from %s port %u: %s", addr, port,
                 ares_strerror(status));
        break;
    default:
        rep->outcome = PROTO_OUT_LOCAL;
        snprintf(why, whylen, "query to %s port %u failed: %s", addr, port,
                 ares_strerror(status));
        break;
    }
    rep->why = rep->outcome != PROTO_OUT_OK ? why : NULL;
}

/*
 * c-ares is done with a query: its answer, its timeout, or the channel's
 * end.  The task is reported to last, since the report may free it.
 */
static void on_answer_cb(void *arg, int status, int timeouts, unsigned char *abuf,
                         int alen)
{
    struct dns_query *q = arg;
    struct probe_task *t = q->t;
    struct proto_content_info info;
    struct probe_reply rep;
    char why[PROTO_WHY_MAX + 1] = "";
    int64_t now = probe_mono_ns();

    (void)timeouts;
    memset(&info, 0, sizeof(info));
    memset(&rep, 0, sizeof(rep));
    rep.info = &info;
    if (t != NULL)
        query_unlink(t, q);
    if (t != NULL && status != ARES_EDESTRUCTION && status != ARES_ECANCELLED) {
        query_outcome(t, q, status, abuf, alen, now, &rep, &info, why, sizeof(why));
        if (status == ARES_ETIMEOUT && q->p->dns != NULL)
            q->p->dns->timeouts++;
        /* -ENOENT: its window closed, where it counted as lost already. */
        probe_attempt_report(q->p, t, q->seq, &rep);
    } else if (t == NULL && status == ARES_SUCCESS && q->p->dns != NULL) {
        q->p->dns->late++;
    }
    if (q->in_send)
        q->ended = 1;
    else
        free(q);
}

static int dns_open(struct probe *p)
{
    struct probe_dns_io *io;
    int ar;

    if (p->dns != NULL)
        return 0;
    io = calloc(1, sizeof(*io));
    if (io == NULL)
        return -ENOMEM;
    ar = ares_library_init(ARES_LIB_INIT_ALL);
    if (ar != ARES_SUCCESS) {
        free(io);
        return err_of_ares(ar);
    }
    p->dns = io;
    return 0;
}

/*
 * Ends every channel (the method's and the resolver's): their queries end
 * without a report, lookups without a call; lookups waiting for their
 * next-turn call are dropped too.  Safe to call twice, and before or
 * after the resolver was used.
 */
static void dns_close(struct probe *p)
{
    struct probe_dns_io *io = p->dns;
    struct probe_dns_chan *c;
    struct probe_resolve *r;

    if (io == NULL)
        return;
    p->dns = NULL; /* callbacks during destruction see the method closed */
    while ((c = io->chans) != NULL) {
        io->chans = c->next;
        chan_kill(c);
    }
    if (io->resolver != NULL)
        chan_kill(io->resolver);
    while ((r = io->deferred) != NULL) {
        io->deferred = r->next;
        uv_close((uv_handle_t *)&r->defer, on_handle_free_cb);
    }
    if (io->queries > 0)
        log_debug("dns: %llu queries, %llu timed out, %llu answered after a cancel",
                  (unsigned long long)io->queries, (unsigned long long)io->timeouts,
                  (unsigned long long)io->late);
    free(io);
    ares_library_cleanup();
}

/* Ends attempt seq of t as a local failure (no query went out). */
static void report_local(struct probe *p, struct probe_task *t, uint32_t seq,
                         const char *why)
{
    struct proto_content_info info;
    struct probe_reply rep = {.outcome = PROTO_OUT_LOCAL, .why = why, .info = &info};

    memset(&info, 0, sizeof(info));
    probe_attempt_report(p, t, seq, &rep);
}

/* One attempt: one query for t's name to t's resolver. */
static int dns_send(struct probe *p, struct probe_task *t)
{
    struct probe_dns_chan *c = NULL;
    struct dns_query *q = NULL;
    unsigned char *qbuf = NULL;
    int qlen = 0, rc, ar;
    uint32_t seq = probe_attempt_start(t, probe_mono_ns());
    char why[PROTO_WHY_MAX + 1], name[PROTO_HOST_MAX + 1];

    probe_sanitize(name, sizeof(name), t->spec.qname, strlen(t->spec.qname));
    rc = p->dns != NULL ? method_chan(p, t, &c) : -ESHUTDOWN;
    if (rc < 0) {
        snprintf(why, sizeof(why), "no channel to resolver %.46s: %s", t->spec.addr,
                 proto_strerror(rc));
        goto fail;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL) {
        rc = -ENOMEM;
        snprintf(why, sizeof(why), "out of memory");
        goto fail;
    }
    /* RD set (RFC 1035 4.1.1): the resolver is asked to recurse.  The ID
     * is c-ares' to choose; it matches the answer by it. */
    ar = ares_create_query(t->spec.qname, 1 /* IN */, task_qtype(t), 0, 1, &qbuf, &qlen,
                           0);
    if (ar != ARES_SUCCESS) {
        rc = ar == ARES_ENOMEM ? -ENOMEM : -EINVAL;
        snprintf(why, sizeof(why), "cannot ask for %.80s: %s", name, ares_strerror(ar));
        goto fail;
    }
    q->p = p;
    q->t = t;
    q->seq = seq;
    q->next = t->mstate;
    t->mstate = q;
    q->in_send = 1;
    p->dns->queries++;
    c->busy++;
    /* The RTT counts from here: ares_send() writes the datagram at once
     * (a channel's first query also opens its socket, microseconds). */
    q->t1_ns = probe_mono_ns();
    ares_send(c->ch, qbuf, qlen, on_answer_cb, q);
    /* c-ares may have failed the query within ares_send(); it reported. */
    if (q->ended)
        free(q);
    else
        q->in_send = 0;
    ares_free_string(qbuf);
    chan_leave(c);
    return 0;
fail:
    free(q);
    report_local(p, t, seq, why);
    return rc;
}

/* The task goes: its queries stay with c-ares, but will not report to it. */
static void dns_cancel(struct probe *p, struct probe_task *t)
{
    struct dns_query *q;

    (void)p;
    for (q = t->mstate; q != NULL; q = q->next)
        q->t = NULL;
    t->mstate = NULL;
}

const struct probe_method_ops probe_dns_ops = {
    .method = PROTO_METHOD_DNS,
    .open = dns_open,
    .close = dns_close,
    .send = dns_send,
    .cancel = dns_cancel,
};

/* ---- the resolver for names ---------------------------------------------- */

/* The resolver's channel: cfg.resolvers, or /etc/resolv.conf (and the
 * hosts file) when none are configured. */
static int resolver_chan(struct probe *p, struct probe_dns_chan **out)
{
    struct sockaddr_storage servers[RESOLVERS_MAX];
    size_t n = 0;
    char err[160];

    if (p->cfg.resolvers[0] != '\0' &&
        probe_dns_servers_parse(p->cfg.resolvers, servers, RESOLVERS_MAX, &n, err,
                                sizeof(err)) < 0) {
        log_warn("dns: resolvers: %s", err);
        return -EINVAL;
    }
    return chan_new(p, servers, n, ARES_FLAG_NOSEARCH, RESOLVE_TIMEOUT_MS, RESOLVE_TRIES,
                    n > 0 ? "b" : NULL, out);
}

static void resolve_unlink_deferred(struct probe_resolve *r)
{
    struct probe_resolve **pp, *x;

    for (pp = &r->io->deferred; (x = *pp) != NULL; pp = &x->next) {
        if (x == r) {
            *pp = r->next;
            break;
        }
    }
}

static void resolve_deliver(struct probe_resolve *r)
{
    r->delivered = 1;
    r->cb(r->arg, r->outcome,
          r->outcome == PROTO_OUT_OK ? (struct sockaddr *)&r->ss : NULL, r->sslen,
          r->elapsed_ns, r->outcome == PROTO_OUT_OK ? NULL : r->why);
}

static void on_defer_cb(uv_timer_t *h)
{
    struct probe_resolve *r = h->data;

    resolve_unlink_deferred(r);
    r->deferred = 0;
    resolve_deliver(r);
    uv_close((uv_handle_t *)&r->defer, on_handle_free_cb);
}

/* The lookup is done: its first address, or why there is none. */
static void on_addrinfo_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct probe_resolve *r = arg;
    struct ares_addrinfo_node *n = res != NULL ? res->nodes : NULL;
    char name[PROTO_HOST_MAX + 1];

    (void)timeouts;
    if (r->cancelled || status == ARES_EDESTRUCTION) {
        free(r);
        goto done;
    }
    r->elapsed_ns = probe_mono_ns() - r->t0_ns;
    probe_sanitize(name, sizeof(name), r->host, strlen(r->host));
    if (status == ARES_SUCCESS && n != NULL && n->ai_addrlen <= sizeof(r->ss) &&
        (n->ai_family == AF_INET || n->ai_family == AF_INET6)) {
        memcpy(&r->ss, n->ai_addr, n->ai_addrlen);
        r->sslen = (socklen_t)n->ai_addrlen;
        if (n->ai_family == AF_INET)
            ((struct sockaddr_in *)&r->ss)->sin_port = htons(r->port);
        else
            ((struct sockaddr_in6 *)&r->ss)->sin6_port = htons(r->port);
        r->outcome = PROTO_OUT_OK;
    } else if (status == ARES_ETIMEOUT) {
        r->outcome = PROTO_OUT_TIMEOUT;
        snprintf(r->why, sizeof(r->why), "no answer from the resolver for %.90s", name);
    } else {
        r->outcome = PROTO_OUT_RESOLVE;
        snprintf(r->why, sizeof(r->why), "%.80s does not resolve: %s", name,
                 status == ARES_SUCCESS ? "no address" : ares_strerror(status));
    }
    r->answered = 1;
    if (r->starting)
        goto done; /* probe_resolve_start() defers the call */
    resolve_deliver(r);
    free(r);
done:
    if (res != NULL)
        ares_freeaddrinfo(res);
}

/* host as a numeric IPv4 or IPv6 address with port; -EINVAL when it is a
 * name (names never contain ':', so no port is read from one). */
static int numeric_host(const char *host, uint16_t port, struct sockaddr_storage *ss,
                        socklen_t *len)
{
    if (strcmp(host, "*") == 0)
        return -EINVAL; /* proto_addr_parse's wildcard is no target */
    return proto_addr_parse(host, port, ss, len);
}

int probe_resolve_start(struct probe *p, const char *host, uint16_t port,
                        probe_resolve_cb cb, void *arg, struct probe_resolve **req)
{
    struct ares_addrinfo_hints hints;
    struct probe_resolve *r = NULL;
    struct probe_dns_io *io;
    int rc;

    if (req != NULL)
        *req = NULL;
    if (strlen(host) > PROTO_HOST_MAX)
        return -EINVAL;
    /* The dns method holds the channels: opening it here means that
     * probe_method_close_all() also tears the resolver down. */
    rc = probe_method_ready(p, PROTO_METHOD_DNS);
    if (rc < 0)
        goto done;
    io = p->dns;
    if (io == NULL) {
        rc = -ESHUTDOWN; /* asked while closing */
        goto done;
    }
    if (io->resolver == NULL) {
        rc = resolver_chan(p, &io->resolver);
        if (rc < 0)
            goto done;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    r->io = io;
    r->cb = cb;
    r->arg = arg;
    r->port = port;
    strcpy(r->host, host);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    r->starting = 1;
    r->t0_ns = probe_mono_ns();
    io->resolver->busy++;
    /* c-ares 1.18 asks the resolver about an IPv4 literal when the family
     * is AF_UNSPEC: an address is answered here. */
    if (numeric_host(r->host, port, &r->ss, &r->sslen) == 0) {
        r->outcome = PROTO_OUT_OK;
        r->answered = 1;
    } else {
        ares_getaddrinfo(io->resolver->ch, r->host, NULL, &hints, on_addrinfo_cb, r);
    }
    r->starting = 0;
    /* Answered at once (an address, the hosts file, a local failure): the
     * caller hears it on the next turn, after this returns, as always. */
    if (r->answered) {
        uv_timer_init(p->loop, &r->defer);
        r->defer.data = r;
        r->deferred = 1;
        r->next = io->deferred;
        io->deferred = r;
        uv_timer_start(&r->defer, on_defer_cb, 0, 0);
    }
    chan_leave(io->resolver);
    if (req != NULL)
        *req = r;
    rc = 0;
done:
    return rc;
}

void probe_resolve_cancel(struct probe_resolve *req)
{
    if (req == NULL || req->delivered)
        return;
    if (req->deferred) {
        resolve_unlink_deferred(req);
        req->deferred = 0;
        req->delivered = 1;
        uv_close((uv_handle_t *)&req->defer, on_handle_free_cb);
        return;
    }
    req->cancelled = 1; /* freed when c-ares calls back */
}
