/*
 * icmp_io.c - the icmp method: echo requests over one socket per family,
 * an unprivileged ping socket (SOCK_DGRAM, IPPROTO_ICMP) where
 * net.ipv4.ping_group_range lets us, else a raw socket (CAP_NET_RAW).
 *
 * Built for a thousand targets at less cost than fping:
 *  - send() only builds the request into a preallocated batch; flush(),
 *    which the scheduler calls after each tick's sends, hands the batch to
 *    the kernel in one sendmmsg() per family;
 *  - replies are read 64 at a time with recvmmsg(), and a batch shorter
 *    than that means the socket is empty: no further read for EAGAIN;
 *    when the kernel answered within the send (a target on this host),
 *    they are read right after it, saving the loop a wakeup;
 *  - the loop may wake a millisecond late (timer slack), so that two
 *    ticks' requests share a wakeup and a sendmmsg();
 *  - a reply finds its task in a hash table of target addresses, not by
 *    scanning the task list;
 *  - nothing is allocated per packet, and nothing is logged per packet.
 *
 * Times come from the kernel, on the wall clock: SO_TIMESTAMPING software
 * stamps as each request leaves (read back from the error queue right
 * after the batch's sendmmsg(), numbered by OPT_ID) and as each reply
 * arrives; else SO_TIMESTAMPNS on arrival, and the clocks read once right
 * before the batch for the send.  RTTs are durations, so both ends are
 * taken to the monotonic clock by the offset between the two clocks read
 * once per batch right after the syscall that returned the stamps, which
 * is exact unless the wall clock steps in those microseconds.  A stamp
 * outside the interval it must lie in on the monotonic clock (a step, a
 * bad stamp) is not believed: the clock reading stands in for it.
 */
#include <errno.h>
#include <time.h> /* before linux/errqueue.h, which needs struct timespec */

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"

#ifndef ICMP_FILTER /* linux/icmp.h, whose includes clash with glibc's */
#define ICMP_FILTER 1
struct icmp_filter {
    uint32_t data; /* bit t set: type t is not delivered */
};
#endif

#define RX_LEN    2048 /* an IPv4 header, ICMP and our largest data, or an error */
#define RX_ROUNDS 8    /* batches per readable event, so that timers run too */
#define NFAM      2

/* One queued echo request: its task and attempt, and where its octets are
 * (PROBE_ICMP_PKT_MAX of them in the family's pkts, made at open and
 * touched only as the batch fills). */
struct probe_icmp_out {
    struct probe_task *t; /* NULL: cancelled while queued */
    uint32_t seq;
    struct sockaddr_in6 to; /* or a sockaddr_in */
    struct iovec iov;
    union {
        char buf[CMSG_SPACE(sizeof(int))]; /* IP_TOS or IPV6_TCLASS */
        struct cmsghdr align;
    } ctl;
};

/* The receive batch. */
struct probe_icmp_rx {
    struct mmsghdr msgs[PROBE_ICMP_BATCH];
    struct iovec iov[PROBE_ICMP_BATCH];
    struct sockaddr_in6 from[PROBE_ICMP_BATCH];
    /* A reply's stamp and TTL, or an error queue entry's stamp and error. */
    union {
        char buf[CMSG_SPACE(sizeof(struct scm_timestamping)) + CMSG_SPACE(sizeof(int)) +
                 CMSG_SPACE(sizeof(struct sock_extended_err) +
                            sizeof(struct sockaddr_in6))];
        struct cmsghdr align;
    } ctl[PROBE_ICMP_BATCH];
    uint8_t buf[PROBE_ICMP_BATCH][RX_LEN];
};

/*
 * A task's own state (t->mstate): for a task naming only a host, the
 * lookup of its name; for one with an address, only a mark that it is in
 * the table.
 */
struct probe_icmp_name {
    struct probe_task *t;
    struct probe_resolve *req;
    int resolving;
    int pending;             /* an attempt waits for the first answer */
    int64_t resolved_window; /* a name is looked up again in a new window */
};

static char known; /* t->mstate of a task with an address */

static int fam_index(int family)
{
    return family == AF_INET6 ? 1 : 0;
}

static int fam_v6(const struct probe_icmp_family *f)
{
    return f->sock == PROBE_ICMP_RAW6 || f->sock == PROBE_ICMP_PING6;
}

/* Our request's ICMP octets: a whole reply has as many (RFC 792). */
static size_t request_len(const struct probe_task *t)
{
    return PROBE_ICMP_HDR_LEN + probe_icmp_data_len(t->spec.size);
}

/* ---- tasks by address ---------------------------------------------------- */

/*
 * The table: open addressing with linear probing, at most half full, keyed
 * by the target address: a reply finds its task in a probe or two, and
 * the table costs 16 octets a task, not an allocation.  A task is in it
 * from its first attempt (or its name's first answer) until cancel().
 */

static uint32_t addr_hash(int family, const uint8_t *a)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    size_t n = family == AF_INET ? 4 : 16;

    for (size_t i = 0; i < n; i++)
        h = (h ^ a[i]) * 16777619u;
    return h;
}

/* The address of sa as the table keys it: IPv4 in 4 octets (a v4-mapped
 * IPv6 address too), IPv6 in 16.  0, or -EAFNOSUPPORT. */
static int addr_key(const struct sockaddr *sa, int *family, uint8_t a[16])
{
    memset(a, 0, 16);
    if (sa->sa_family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        *family = AF_INET;
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *s6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(s6)) {
            memcpy(a, &s6->s6_addr[12], 4);
            *family = AF_INET;
        } else {
            memcpy(a, s6, 16);
            *family = AF_INET6;
        }
        return 0;
    }
    return -EAFNOSUPPORT;
}

static int in_table(const struct probe_task *t)
{
    return t->mstate != NULL && t->dst.ss_family != AF_UNSPEC;
}

static uint32_t task_hash(const struct probe_task *t)
{
    uint8_t a[16];
    int family = AF_UNSPEC;

    addr_key((const struct sockaddr *)&t->dst, &family, a);
    return addr_hash(family, a);
}

static void table_put(struct probe_task **slots, uint32_t mask, struct probe_task *t)
{
    uint32_t i = task_hash(t) & mask;

    while (slots[i] != NULL)
        i = (i + 1) & mask;
    slots[i] = t;
}

/* Keeps the table at most half full. */
static int table_reserve(struct probe_icmp_io *io, uint32_t ntasks)
{
    uint32_t n = io->mask + 1, old = n;
    struct probe_task **slots;

    if (io->slots != NULL && 2 * (uint64_t)ntasks <= n)
        return 0;
    while (2 * (uint64_t)ntasks > n)
        n *= 2;
    slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; io->slots != NULL && i < old; i++)
        if (io->slots[i] != NULL)
            table_put(slots, n - 1, io->slots[i]);
    free(io->slots);
    io->slots = slots;
    io->mask = n - 1;
    return 0;
}

static int table_add(struct probe_icmp_io *io, struct probe_task *t)
{
    int rc = table_reserve(io, io->ntasks + 1);

    if (rc < 0)
        return rc;
    table_put(io->slots, io->mask, t);
    io->ntasks++;
    return 0;
}

/* Takes t out, under the address it went in with (t->dst unchanged since),
 * moving back the entries after it that probed past its slot. */
static void table_del(struct probe_icmp_io *io, struct probe_task *t)
{
    uint32_t i = task_hash(t) & io->mask, j, k;

    while (io->slots[i] != t) {
        if (io->slots[i] == NULL)
            return;
        i = (i + 1) & io->mask;
    }
    for (j = i;;) {
        j = (j + 1) & io->mask;
        if (io->slots[j] == NULL)
            break;
        k = task_hash(io->slots[j]) & io->mask;
        /* Stays when its home k lies cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        io->slots[i] = io->slots[j];
        i = j;
    }
    io->slots[i] = NULL;
    io->ntasks--;
}

/* Whether t's target is that address. */
static int task_is(const struct probe_task *t, int family, const uint8_t *a)
{
    uint8_t b[16];
    int f;

    return addr_key((const struct sockaddr *)&t->dst, &f, b) == 0 && f == family &&
           memcmp(a, b, 16) == 0;
}

/*
 * The task a message is about: the one with that target address and, when
 * the message names one, that task id.  A reply names it; an error quoting
 * only our request's first octets does not, and goes to the first task to
 * that address.
 */
static struct probe_task *lookup(const struct probe_icmp_io *io, int family,
                                 const uint8_t *a, const struct probe_icmp_msg *m)
{
    uint32_t i = addr_hash(family, a) & io->mask;

    for (struct probe_task *t; (t = io->slots[i]) != NULL; i = (i + 1) & io->mask)
        if ((!m->has_task || t->spec.id == m->task_id) && task_is(t, family, a))
            return t;
    return NULL;
}

/* ---- sockets --------------------------------------------------------------- */

static int set_int(int fd, int level, int opt, int v)
{
    return setsockopt(fd, level, opt, &v, sizeof(v)) == 0 ? 0 : -errno;
}

/* A raw socket sees every ICMP message: only echo replies and the errors
 * that may quote our requests get through its filter. */
static int set_filter(int fd, int v6)
{
    if (v6) {
        struct icmp6_filter f;

        ICMP6_FILTER_SETBLOCKALL(&f);
        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
        ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &f);
        ICMP6_FILTER_SETPASS(ICMP6_TIME_EXCEEDED, &f);
        return setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f)) == 0 ? 0
                                                                                : -errno;
    } else {
        struct icmp_filter f = {.data = ~(uint32_t)(1u << 0 | 1u << 3 | 1u << 11)};

        return setsockopt(fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f)) == 0 ? 0 : -errno;
    }
}

/*
 * Kernel stamps: SO_TIMESTAMPING's software stamps on receive and on
 * transmit (the driver stamps each request as it leaves; the stamp comes
 * back on the error queue, numbered by OPT_ID, without the packet), else
 * SO_TIMESTAMPNS on receive alone.  A ping socket also reports the errors
 * its requests met on its error queue (IP_RECVERR).  A queued entry is
 * flagged as POLLPRI (SO_SELECT_ERR_QUEUE): libuv stops polling a socket
 * on a bare POLLERR.  1: SO_TIMESTAMPING.
 */
static int configure(int fd, int sock)
{
    int v6 = sock == PROBE_ICMP_RAW6 || sock == PROBE_ICMP_PING6;
    int ping = sock == PROBE_ICMP_PING4 || sock == PROBE_ICMP_PING6;
    int ts = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE |
             SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
             SOF_TIMESTAMPING_OPT_TSONLY;
    int rc = 0, kts;

    kts = set_int(fd, SOL_SOCKET, SO_TIMESTAMPING, ts) == 0;
    if (!kts)
        rc = set_int(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
    if (rc == 0)
        rc = set_int(fd, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1);
    /* The IPv4 header of a raw socket carries the TTL already. */
    if (rc == 0 && sock == PROBE_ICMP_PING4)
        rc = set_int(fd, IPPROTO_IP, IP_RECVTTL, 1);
    if (rc == 0 && v6)
        rc = set_int(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
    if (rc == 0 && ping)
        rc = set_int(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVERR : IP_RECVERR,
                     1);
    if (rc == 0 && !ping)
        rc = set_filter(fd, v6);
    return rc < 0 ? rc : kts;
}

static void on_readable_cb(uv_poll_t *h, int status, int events);

/* The ping socket where the system allows one, else a raw socket. */
static int family_open(struct probe_icmp_io *io, struct probe_icmp_family *f, int family)
{
    int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    int type = SOCK_NONBLOCK | SOCK_CLOEXEC, fd, rc;

    fd = socket(family, SOCK_DGRAM | type, proto);
    f->sock = family == AF_INET ? PROBE_ICMP_PING4 : PROBE_ICMP_PING6;
    if (fd < 0) {
        fd = socket(family, SOCK_RAW | type, proto);
        f->sock = family == AF_INET ? PROBE_ICMP_RAW4 : PROBE_ICMP_RAW6;
    }
    if (fd < 0)
        return -errno;
    rc = configure(fd, f->sock);
    if (rc >= 0) {
        io->kernel_ts = rc; /* the same kernel answers for both */
        rc = uv_poll_init(io->p->loop, &f->poll, fd);
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    f->fd = fd;
    f->poll.data = io;
    io->handles++;
    uv_poll_start(&f->poll, UV_READABLE | UV_PRIORITIZED, on_readable_cb);
    return 0;
}

/* The batches' fixed parts, set once: each message's buffers. */
static void batch_init(struct probe_icmp_io *io)
{
    struct probe_icmp_rx *rx = io->rx;

    for (int f = 0; f < NFAM; f++)
        for (int i = 0; i < PROBE_ICMP_BATCH; i++) {
            struct probe_icmp_out *o = &io->fam[f].out[i];
            struct msghdr *mh = &io->fam[f].msgs[i].msg_hdr;

            o->iov.iov_base = io->fam[f].pkts + (size_t)i * PROBE_ICMP_PKT_MAX;
            mh->msg_name = &o->to;
            mh->msg_iov = &o->iov;
            mh->msg_iovlen = 1;
        }
    for (int i = 0; i < PROBE_ICMP_BATCH; i++) {
        rx->iov[i] = (struct iovec){.iov_base = rx->buf[i], .iov_len = RX_LEN};
        rx->msgs[i].msg_hdr = (struct msghdr){.msg_name = &rx->from[i],
                                              .msg_namelen = sizeof(rx->from[i]),
                                              .msg_iov = &rx->iov[i],
                                              .msg_iovlen = 1,
                                              .msg_control = rx->ctl[i].buf,
                                              .msg_controllen = sizeof(rx->ctl[i].buf)};
    }
}

static void io_free(struct probe_icmp_io *io)
{
    for (int f = 0; f < NFAM; f++) {
        free(io->fam[f].out);
        free(io->fam[f].msgs);
        free(io->fam[f].pkts);
    }
    free(io->rx);
    free(io->slots);
    free(io);
}

static int icmp_open(struct probe *p)
{
    static const int families[NFAM] = {AF_INET, AF_INET6};
    static unsigned warned[NFAM];
    struct probe_icmp_io *io = calloc(1, sizeof(*io));
    int rc = -ENOMEM, any = 0;

    if (io == NULL)
        return -ENOMEM;
    io->p = p;
    /* Large and mostly untouched until used: malloc() maps them lazily. */
    io->rx = malloc(sizeof(*io->rx));
    for (int f = 0; f < NFAM; f++) {
        io->fam[f].fd = -1;
        io->fam[f].out = calloc(PROBE_ICMP_BATCH, sizeof(*io->fam[f].out));
        io->fam[f].msgs = calloc(PROBE_ICMP_BATCH, sizeof(*io->fam[f].msgs));
        io->fam[f].pkts = malloc((size_t)PROBE_ICMP_BATCH * PROBE_ICMP_PKT_MAX);
        if (io->fam[f].out == NULL || io->fam[f].msgs == NULL || io->fam[f].pkts == NULL)
            goto fail;
    }
    if (io->rx == NULL || table_reserve(io, 64) < 0 ||
        getrandom(io->cookie, sizeof(io->cookie), 0) != (ssize_t)sizeof(io->cookie) ||
        getrandom(&io->ident, sizeof(io->ident), 0) != (ssize_t)sizeof(io->ident))
        goto fail;
    batch_init(io);
    for (int f = 0; f < NFAM; f++) {
        io->fam[f].err = family_open(io, &io->fam[f], families[f]);
        if (io->fam[f].err == 0) {
            any = 1;
            log_info(
                "icmp: IPv%c over a %s socket (kernel receive stamps: %s)", f ? '6' : '4',
                io->fam[f].sock == PROBE_ICMP_PING4 || io->fam[f].sock == PROBE_ICMP_PING6
                    ? "ping"
                    : "raw",
                io->kernel_ts ? "SO_TIMESTAMPING" : "SO_TIMESTAMPNS");
        } else {
            /* Opening is tried again at each attempt while it fails. */
            log_msg(warned[f]++ ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN,
                    "icmp: no IPv%c socket: %s (a ping socket needs our group in "
                    "net.ipv4.ping_group_range, a raw one CAP_NET_RAW)",
                    f ? '6' : '4', proto_strerror(io->fam[f].err));
        }
    }
    if (!any) {
        rc = io->fam[0].err;
        goto fail;
    }
    p->icmp = io;
    return 0;
fail:
    io_free(io);
    return rc;
}

static void on_poll_closed_cb(uv_handle_t *h)
{
    struct probe_icmp_io *io = h->data;
    struct probe_icmp_family *f = &io->fam[h == (uv_handle_t *)&io->fam[1].poll];

    close(f->fd);
    f->fd = -1;
    if (--io->handles == 0)
        io_free(io);
}

/* Forgets t: out of the table, its name's lookup cancelled. */
static void task_forget(struct probe_icmp_io *io, struct probe_task *t)
{
    struct probe_icmp_name *n = t->mstate != &known ? t->mstate : NULL;

    if (in_table(t))
        table_del(io, t);
    if (n != NULL && n->req != NULL)
        probe_resolve_cancel(n->req);
    free(n);
    t->mstate = NULL;
}

/* Tasks still running keep their state no longer: it goes with the sockets. */
static void icmp_close(struct probe *p)
{
    struct probe_icmp_io *io = p->icmp;

    if (io == NULL)
        return;
    log_debug("icmp: %llu sent, %llu send errors, %llu replies, %llu errors, "
              "%llu duplicates, %llu late, %llu strays; %llu timed by the kernel",
              (unsigned long long)io->sent, (unsigned long long)io->send_errors,
              (unsigned long long)io->replies, (unsigned long long)io->errors_in,
              (unsigned long long)io->duplicates, (unsigned long long)io->late,
              (unsigned long long)io->strays, (unsigned long long)io->tx_kernel);
    for (size_t i = 0; i < p->ntasks; i++)
        if (p->tasks[i]->spec.method == PROTO_METHOD_ICMP && p->tasks[i]->mstate != NULL)
            task_forget(io, p->tasks[i]);
    p->icmp = NULL;
    for (int f = 0; f < NFAM; f++)
        if (io->fam[f].fd >= 0)
            uv_close((uv_handle_t *)&io->fam[f].poll, on_poll_closed_cb);
    if (io->handles == 0)
        io_free(io);
}

/* ---- ends of attempts ---------------------------------------------------- */

/* Ends attempt seq of t with a failure. */
static void fail_attempt(struct probe *p, struct probe_task *t, uint32_t seq, int outcome,
                         const char *why)
{
    struct probe_reply rep = {.outcome = outcome, .why = why};

    probe_attempt_report(p, t, seq, &rep);
}

/* An attempt that cannot even be queued: counted, and failed at once. */
static void fail_now(struct probe *p, struct probe_task *t, int outcome, const char *why)
{
    fail_attempt(p, t, probe_attempt_start(t, probe_mono_ns()), outcome, why);
}

/* ---- receiving ------------------------------------------------------------- */

struct rx_meta {
    int64_t wall_ns; /* the kernel's receive stamp; 0: none */
    int ttl;
};

static void read_cmsgs(struct msghdr *mh, struct rx_meta *x)
{
    x->wall_ns = 0;
    x->ttl = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level == SOL_SOCKET &&
            (c->cmsg_type == SO_TIMESTAMPING || c->cmsg_type == SO_TIMESTAMPNS)) {
            struct timespec ts; /* the software stamp is the first of three */

            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            x->wall_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
                   (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
            memcpy(&x->ttl, CMSG_DATA(c), sizeof(int));
        }
    }
}

/* The attempt a 16-bit sequence number names: the latest one it can be. */
static uint32_t full_seq(const struct probe_task *t, uint16_t seq)
{
    return t->next_seq - (uint16_t)((uint16_t)t->next_seq - seq);
}

/*
 * An echo reply: its RTT from the send time to the kernel's receive stamp,
 * on the monotonic clock (see the top of the file).  (wall, mono) are the
 * clocks read after the batch was received.
 */
static void on_reply(struct probe_icmp_io *io, struct probe_task *t,
                     const struct probe_icmp_msg *m, const struct rx_meta *x,
                     int64_t wall, int64_t mono)
{
    uint32_t seq = full_seq(t, m->seq);
    struct probe_slot *s = &t->ring[seq & t->ring_mask];
    struct probe_window *w = probe_task_window(t, s->window_id);
    struct probe_reply rep = {.outcome = PROTO_OUT_OK, .len = m->len};
    int64_t t1, rx;

    if (m->len != request_len(t)) {
        io->strays++; /* cut short, or not our request's data */
        return;
    }
    if (s->seq == seq && s->answered && w != NULL) {
        w->duplicates++; /* RFC 4737 3.5 */
        io->duplicates++;
        return;
    }
    t1 = probe_attempt_t1(t, seq);
    if (t1 < 0 || w == NULL) {
        io->late++; /* its window closed: it counted as lost */
        return;
    }
    /* A stamp before the request left or after now is not believed. */
    rx = mono - (wall - x->wall_ns);
    if (x->wall_ns == 0 || rx < t1 || rx > mono)
        rx = mono;
    /* RFC 4737 3.3: a reply older than one already seen is reordered. */
    if ((int32_t)(seq - t->next_exp) < 0)
        w->reordered++;
    else
        t->next_exp = seq + 1;
    rep.rtt_ns = rx - t1;
    rep.return_ttl = (uint8_t)(m->ttl ? m->ttl : x->ttl);
    io->replies++;
    probe_attempt_report(io->p, t, seq, &rep);
}

/* An error quoting our request: the attempt ends as unreachable. */
static void on_error(struct probe_icmp_io *io, struct probe_task *t, int v6,
                     const struct probe_icmp_msg *m, const struct sockaddr *from)
{
    char a[PROTO_ADDRSTR_MAX] = "?", why[PROTO_WHY_MAX + 1];

    io->errors_in++;
    if (from != NULL)
        proto_addr_ntop(from, a, sizeof(a));
    probe_icmp_why(v6, m->kind, m->code, a, why, sizeof(why));
    fail_attempt(io->p, t, full_seq(t, m->seq), PROTO_OUT_UNREACHABLE, why);
}

static void on_message(struct probe_icmp_io *io, struct probe_icmp_family *f,
                       struct mmsghdr *mm, int64_t wall, int64_t mono)
{
    struct msghdr *mh = &mm->msg_hdr;
    const struct sockaddr *from = mh->msg_name;
    struct probe_task *t = NULL;
    struct probe_icmp_msg m;
    struct rx_meta x;
    uint8_t a[16];
    int family;

    if (mh->msg_flags & MSG_TRUNC ||
        probe_icmp_parse(mh->msg_iov->iov_base, mm->msg_len, f->sock, io->ident,
                         io->cookie, &m) < 0)
        return; /* not about ours: a raw socket sees others' too */
    if (m.kind == PROBE_ICMP_REPLY) {
        if (mh->msg_namelen >= sizeof(struct sockaddr_in) &&
            addr_key(from, &family, a) == 0)
            t = lookup(io, family, a, &m);
    } else {
        t = lookup(io, m.dst_family, m.dst, &m);
    }
    if (t == NULL) {
        io->strays++;
        return;
    }
    if (m.kind != PROBE_ICMP_REPLY) {
        on_error(io, t, fam_v6(f), &m, mh->msg_namelen ? from : NULL);
        return;
    }
    read_cmsgs(mh, &x);
    on_reply(io, t, &m, &x, wall, mono);
}

/* The requests of the batch just sent, by the kernel's number for them. */
struct tx_batch {
    uint32_t key0;                 /* OPT_ID of the first sent */
    unsigned n;                    /* sent */
    int64_t mono0;                 /* the clock read before the batch */
    uint8_t out[PROBE_ICMP_BATCH]; /* key - key0: its index in f->out */
};

/*
 * A transmit stamp: the send time of request key, when it was sent in
 * batch b and the stamp falls between the batch's start and now (mono,
 * with wall read at the same instant).  f->tx_key learns the kernel's
 * numbering, so that a send that failed after taking a number cannot put
 * the two out of step for good.
 */
static void on_tx_stamp(struct probe_icmp_io *io, struct probe_icmp_family *f,
                        const struct tx_batch *b, uint32_t key, int64_t ts, int64_t wall,
                        int64_t mono)
{
    struct probe_icmp_out *o;
    struct probe_slot *s;
    int64_t t1 = mono - (wall - ts);

    if ((int32_t)(key + 1 - f->tx_key) > 0)
        f->tx_key = key + 1;
    if (b == NULL || key - b->key0 >= b->n || ts == 0 || t1 < b->mono0 || t1 > mono)
        return; /* late: that request keeps the clock's time */
    o = &f->out[b->out[key - b->key0]];
    s = o->t != NULL ? &o->t->ring[o->seq & o->t->ring_mask] : NULL;
    if (s != NULL && s->used && s->seq == o->seq) {
        s->t1_ns = t1;
        io->tx_kernel++;
    }
}

/*
 * An error a ping socket queued: our request as sent, the router that
 * told (SO_EE_OFFENDER) and, as the message's name, the destination.
 */
static void on_queued_error(struct probe_icmp_io *io, struct probe_icmp_family *f,
                            struct mmsghdr *mm, const struct sock_extended_err *ee,
                            const struct sockaddr_in6 *offender)
{
    struct msghdr *mh = &mm->msg_hdr;
    int v6 = fam_v6(f), family;
    struct probe_icmp_msg m;
    struct probe_task *t;
    uint8_t a[16];

    if (probe_icmp_parse_quoted(mh->msg_iov->iov_base, mm->msg_len, v6, io->cookie, &m) <
            0 ||
        mh->msg_namelen < sizeof(struct sockaddr_in) ||
        addr_key(mh->msg_name, &family, a) < 0)
        return;
    m.kind = probe_icmp_kind(v6, ee->ee_type);
    m.code = ee->ee_code;
    if (m.kind != PROBE_ICMP_UNREACH && m.kind != PROBE_ICMP_EXCEEDED)
        return;
    t = lookup(io, family, a, &m);
    if (t == NULL) {
        io->strays++;
        return;
    }
    on_error(io, t, v6, &m,
             offender->sin6_family != AF_UNSPEC ? (const struct sockaddr *)offender
                                                : NULL);
}

/*
 * Empties the error queue, a batch at a time: transmit stamps, which give
 * the requests of batch b (NULL: none) their send times, and the errors a
 * ping socket's requests met.
 */
static void drain_errqueue(struct probe_icmp_io *io, struct probe_icmp_family *f,
                           const struct tx_batch *b)
{
    struct probe_icmp_rx *rx = io->rx;
    int n = PROBE_ICMP_BATCH;

    for (int round = 0; round < RX_ROUNDS && n == PROBE_ICMP_BATCH; round++) {
        int64_t wall, mono;

        n = recvmmsg(f->fd, rx->msgs, PROBE_ICMP_BATCH, MSG_ERRQUEUE | MSG_DONTWAIT,
                     NULL);
        if (n <= 0)
            return;
        wall = probe_now_ns();
        mono = probe_mono_ns();
        for (int i = 0; i < n; i++) {
            struct msghdr *mh = &rx->msgs[i].msg_hdr;
            struct sockaddr_in6 offender = {0};
            struct sock_extended_err ee = {0};
            int64_t ts = 0;

            for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                size_t len = c->cmsg_len - CMSG_LEN(0);

                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING &&
                    len >= sizeof(struct timespec)) {
                    struct timespec t; /* the software stamp is the first of three */

                    memcpy(&t, CMSG_DATA(c), sizeof(t));
                    ts = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
                } else if (((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                            (c->cmsg_level == IPPROTO_IPV6 &&
                             c->cmsg_type == IPV6_RECVERR)) &&
                           len >= sizeof(ee)) {
                    memcpy(&ee, CMSG_DATA(c), sizeof(ee));
                    len -= sizeof(ee);
                    memcpy(&offender, CMSG_DATA(c) + sizeof(ee),
                           len < sizeof(offender) ? len : sizeof(offender));
                }
            }
            if (ee.ee_origin == SO_EE_ORIGIN_TIMESTAMPING)
                on_tx_stamp(io, f, b, ee.ee_data, ts, wall, mono);
            else if (ee.ee_origin == SO_EE_ORIGIN_ICMP ||
                     ee.ee_origin == SO_EE_ORIGIN_ICMP6)
                on_queued_error(io, f, &rx->msgs[i], &ee, &offender);
            mh->msg_namelen = sizeof(rx->from[i]);
            mh->msg_controllen = sizeof(rx->ctl[i].buf);
        }
    }
}

/*
 * Reads what arrived, a batch at a time, until a batch comes back short
 * (the socket is empty: no read just to learn EAGAIN) or RX_ROUNDS batches
 * were read, so that the loop's timers get their turn.  How many.
 */
static int receive(struct probe_icmp_io *io, struct probe_icmp_family *f)
{
    struct probe_icmp_rx *rx = io->rx;
    int n = PROBE_ICMP_BATCH, got = 0;

    for (int round = 0; round < RX_ROUNDS && n == PROBE_ICMP_BATCH; round++) {
        int64_t wall, mono;

        n = recvmmsg(f->fd, rx->msgs, PROBE_ICMP_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            n = PROBE_ICMP_BATCH; /* a socket error, now cleared: read on */
            continue;
        }
        wall = probe_now_ns();
        mono = probe_mono_ns();
        for (int i = 0; i < n; i++) {
            on_message(io, f, &rx->msgs[i], wall, mono);
            rx->msgs[i].msg_hdr.msg_namelen = sizeof(rx->from[i]);
            rx->msgs[i].msg_hdr.msg_controllen = sizeof(rx->ctl[i].buf);
        }
        got += n;
    }
    return got;
}

static void on_readable_cb(uv_poll_t *h, int status, int events)
{
    struct probe_icmp_io *io = h->data;
    struct probe_icmp_family *f = &io->fam[h == &io->fam[1].poll];

    if (status < 0) {
        /* An ICMP error set a raw socket's error, and libuv stopped
         * polling it: clear the error, poll again. */
        int err;
        socklen_t len = sizeof(err);

        getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        drain_errqueue(io, f, NULL);
        uv_poll_start(h, UV_READABLE | UV_PRIORITIZED, on_readable_cb);
        return;
    }
    if (events & UV_PRIORITIZED) /* late stamps, and errors */
        drain_errqueue(io, f, NULL);
    if (events & UV_READABLE)
        receive(io, f);
}

/* ---- sending --------------------------------------------------------------- */

/* The send of queued request o failed with err: the attempt ends there. */
static void send_failed(struct probe_icmp_io *io, struct probe_icmp_out *o, int err)
{
    char a[PROTO_ADDRSTR_MAX] = "?", why[PROTO_WHY_MAX + 1];

    io->send_errors++;
    if (o->t == NULL)
        return; /* its task was cancelled */
    proto_addr_ntop((const struct sockaddr *)&o->to, a, sizeof(a));
    snprintf(why, sizeof(why), "cannot send to %s: %s", a, proto_strerror(err));
    fail_attempt(io->p, o->t, o->seq, probe_outcome_of_errno(err), why);
}

/*
 * Sends f's queued requests with as few sendmmsg() calls as the kernel
 * allows: it stops at the first message that fails, which then ends its
 * attempt, and the rest go in the next call.
 *
 * Then, when replies came back during the last such send (a target on
 * this host or next door: the kernel answered within the syscall), reads
 * them at once: that saves the loop a wakeup and a poll per tick.  When
 * such a read finds nothing, the next try waits EAGER_RETRY batches, so
 * that distant targets cost one read in vain per EAGER_RETRY ticks.
 */
#define EAGER_RETRY 64

static void family_flush(struct probe_icmp_io *io, struct probe_icmp_family *f)
{
    struct tx_batch b = {.key0 = f->tx_key};
    unsigned i = 0, n = f->nq;

    if (n == 0)
        return;
    f->nq = 0;
    /*
     * The clock read right before the batch is each request's send time
     * until the kernel's transmit stamp replaces it: without the stamp, a
     * request late in a batch would count the microseconds the kernel took
     * to send the ones before it (on loopback, their whole round trips).
     */
    b.mono0 = probe_mono_ns();
    for (unsigned k = 0; k < n; k++) {
        struct probe_task *t = f->out[k].t;
        struct probe_slot *s = t ? &t->ring[f->out[k].seq & t->ring_mask] : NULL;

        if (s != NULL && s->used && s->seq == f->out[k].seq)
            s->t1_ns = b.mono0;
    }
    while (i < n) {
        int r = sendmmsg(f->fd, &f->msgs[i], n - i, MSG_DONTWAIT);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            send_failed(io, &f->out[i], r < 0 ? -errno : -EIO);
            i++;
            continue;
        }
        for (int k = 0; k < r; k++)
            b.out[b.n++] = (uint8_t)(i + (unsigned)k);
        io->sent += (unsigned)r;
        i += (unsigned)r;
    }
    f->tx_key += b.n;
    /* The driver stamps a request as it leaves, within the call unless a
     * queue held it: those stamps are waiting already. */
    if (io->kernel_ts && b.n > 0)
        drain_errqueue(io, f, &b);
    if (f->eager_wait > 0) {
        f->eager_wait--;
        return;
    }
    if (receive(io, f) == 0)
        f->eager_wait = EAGER_RETRY;
}

static void icmp_flush(struct probe *p)
{
    struct probe_icmp_io *io = p->icmp;

    if (io == NULL)
        return;
    for (int f = 0; f < NFAM; f++)
        if (io->fam[f].fd >= 0)
            family_flush(io, &io->fam[f]);
}

/* Queues the next attempt of t for the tick's sendmmsg(). */
static void queue_request(struct probe_icmp_io *io, struct probe_icmp_family *f,
                          struct probe_task *t, int family, const uint8_t *addr)
{
    struct probe_icmp_out *o;
    struct msghdr *mh;
    int tos = t->spec.dscp << 2, v6 = fam_v6(f), len;

    if (f->nq == PROBE_ICMP_BATCH) /* a full batch within one tick goes now */
        family_flush(io, f);
    o = &f->out[f->nq];
    mh = &f->msgs[f->nq].msg_hdr;
    o->t = t;
    o->seq = probe_attempt_start(t, 0); /* timed when the batch leaves */
    len = probe_icmp_request(o->iov.iov_base, PROBE_ICMP_PKT_MAX, v6, io->ident,
                             (uint16_t)o->seq, io->cookie, t->spec.id, t->spec.size);
    if (len < 0) {
        fail_attempt(io->p, t, o->seq, PROTO_OUT_LOCAL, "request too large");
        return;
    }
    o->iov.iov_len = (size_t)len;
    /* The address as the table keys it (a v4-mapped one as IPv4), and no
     * port: a raw IPv6 socket would take it for a protocol number. */
    memset(&o->to, 0, sizeof(o->to));
    if (family == AF_INET6) {
        o->to.sin6_family = AF_INET6;
        memcpy(&o->to.sin6_addr, addr, 16);
        mh->msg_namelen = sizeof(struct sockaddr_in6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&o->to;

        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, addr, 4);
        mh->msg_namelen = sizeof(struct sockaddr_in);
    }
    mh->msg_control = NULL;
    mh->msg_controllen = 0;
    if (tos != 0) {
        struct cmsghdr *c = &o->ctl.align;

        c->cmsg_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
        c->cmsg_type = v6 ? IPV6_TCLASS : IP_TOS;
        c->cmsg_len = CMSG_LEN(sizeof(tos));
        memcpy(CMSG_DATA(c), &tos, sizeof(tos));
        mh->msg_control = o->ctl.buf;
        mh->msg_controllen = sizeof(o->ctl.buf);
    }
    f->nq++;
}

/* Queues t's next attempt on the socket of its address's family. */
static int send_now(struct probe_icmp_io *io, struct probe_task *t)
{
    struct probe_icmp_family *f;
    char why[PROTO_WHY_MAX + 1];
    uint8_t a[16];
    int family, rc;

    if ((rc = addr_key((const struct sockaddr *)&t->dst, &family, a)) < 0) {
        fail_now(io->p, t, PROTO_OUT_LOCAL, "no ICMP for this address family");
        return rc;
    }
    f = &io->fam[fam_index(family)];
    if (f->fd < 0) {
        snprintf(why, sizeof(why), "no IPv%c ICMP socket: %s",
                 family == AF_INET ? '4' : '6', proto_strerror(f->err));
        fail_now(io->p, t, PROTO_OUT_LOCAL, why);
        return f->err;
    }
    queue_request(io, f, t, family, a);
    return 0;
}

static void on_resolved_cb(void *arg, int outcome, const struct sockaddr *sa,
                           socklen_t salen, int64_t elapsed_ns, const char *why)
{
    struct probe_icmp_name *n = arg;
    struct probe_task *t = n->t;
    struct probe *p = t->probe;
    char pwhy[PROTO_REASON_MAX];

    (void)elapsed_ns;
    n->req = NULL;
    n->resolving = 0;
    if (outcome != PROTO_OUT_OK || p->icmp == NULL ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
        (size_t)salen > sizeof(t->dst)) {
        /* The attempt that waited fails, so that the record says why
         * nothing was sent; the next attempt asks again. */
        if (n->pending)
            fail_now(p, t, outcome != PROTO_OUT_OK ? outcome : PROTO_OUT_RESOLVE,
                     why != NULL ? why : "no usable address");
        n->pending = 0;
        return;
    }
    if (p->cmd == NULL && probe_policy_check_addr(&p->cfg.policy, NULL, t->spec.method,
                                                  sa, pwhy, sizeof(pwhy)) < 0) {
        /* The name points outside allow_targets: nothing goes there. */
        if (n->pending)
            fail_now(p, t, PROTO_OUT_LOCAL, pwhy);
        n->pending = 0;
        return;
    }
    if (in_table(t))
        table_del(p->icmp, t);
    memcpy(&t->dst, sa, salen);
    t->dstlen = salen;
    n->resolved_window = t->win[t->cur].id;
    if (table_add(p->icmp, t) < 0) {
        t->dst.ss_family = AF_UNSPEC; /* out of memory: asked again next time */
        t->dstlen = 0;
    } else if (n->pending) {
        /* The attempt that waited goes now, a lookup's time late. */
        send_now(p->icmp, t);
        icmp_flush(p);
    }
    n->pending = 0;
}

/*
 * A name without an address is looked up before the first attempt, which
 * waits for the answer, and again in each new window, while the address
 * known goes on being used.
 */
static int resolve(struct probe *p, struct probe_task *t)
{
    struct probe_icmp_name *n = t->mstate;
    struct probe_resolve *req = NULL;
    char why[PROTO_WHY_MAX + 1];
    int rc;

    if (n == NULL) {
        n = calloc(1, sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        n->t = t;
        t->mstate = n;
    }
    if (n->resolving ||
        (t->dst.ss_family != AF_UNSPEC && n->resolved_window == t->win[t->cur].id))
        return 0;
    n->resolving = 1;
    rc = probe_resolve_start(p, t->spec.host, 0, on_resolved_cb, n, &req);
    if (rc < 0) {
        n->resolving = 0;
        snprintf(why, sizeof(why), "cannot resolve %.80s: %s", t->spec.host,
                 proto_strerror(rc));
        if (t->dst.ss_family == AF_UNSPEC)
            fail_now(p, t, probe_outcome_of_errno(rc), why);
        return 0;
    }
    if (n->resolving) /* not answered within the call */
        n->req = req;
    return 0;
}

static int icmp_send(struct probe *p, struct probe_task *t)
{
    struct probe_icmp_io *io = p->icmp;
    struct probe_icmp_name *n;
    int rc = 0;

    if (io == NULL)
        return -ENOTCONN;
    /*
     * The address, when the task has one, is the target, and the host only
     * its name (PROTOCOL.md, the task's addr), as for tcp, tls and http.
     * Either way the task is in the table before its first request leaves:
     * a reply that finds no task is a stray, and its attempt a timeout.
     * (Looking the name up as well, and adding the task only on the answer,
     * lost each task's first echo to a target answering faster than the
     * resolver, and every echo while the resolver was silent.)
     */
    if (t->spec.addr[0] == '\0')
        rc = resolve(p, t);
    else if (t->mstate == NULL && (rc = table_add(io, t)) == 0)
        t->mstate = &known;
    if (rc < 0) {
        fail_now(p, t, PROTO_OUT_LOCAL, "out of memory");
        return rc;
    }
    if (t->dst.ss_family != AF_UNSPEC)
        return send_now(io, t);
    n = t->mstate;
    if (n->resolving)
        n->pending = 1; /* sent when the name resolves */
    return 0;
}

static void icmp_cancel(struct probe *p, struct probe_task *t)
{
    struct probe_icmp_io *io = p->icmp;

    if (io == NULL || t->mstate == NULL)
        return;
    /* A request still queued goes out, but must not outlive its task: no
     * reply can find the task once it is out of the table. */
    for (int k = 0; k < NFAM; k++)
        for (unsigned i = 0; i < io->fam[k].nq; i++)
            if (io->fam[k].out[i].t == t)
                io->fam[k].out[i].t = NULL;
    task_forget(io, t);
}

const struct probe_method_ops probe_icmp_ops = {
    .method = PROTO_METHOD_ICMP,
    .open = icmp_open,
    .close = icmp_close,
    .send = icmp_send,
    .flush = icmp_flush,
    .cancel = icmp_cancel,
};
