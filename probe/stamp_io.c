/*
 * stamp_io.c - the one UDP socket that sends STAMP requests, reflects the
 * requests of other probes, and receives the replies to ours.
 *
 * libuv's UDP handle hides the ancillary data, so the socket is ours and
 * libuv only polls it: recvmsg() then hands us the kernel's receive
 * timestamp and the TTL or hop limit the packet arrived with, which the
 * reflector copies into its answer (RFC 8762 4.3.1).
 *
 * Times come from the kernel: SO_TIMESTAMPING software stamps for receive
 * and, for our requests, transmit (the driver stamps the packet as it
 * leaves; the stamp comes back on the socket's error queue); where the
 * kernel refuses SO_TIMESTAMPING, SO_TIMESTAMPNS for receive and the clock
 * read right before the syscall for transmit.
 */
#include <errno.h>
#include <time.h> /* before linux/errqueue.h, which needs struct timespec */

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"

#define RECV_BURST 64 /* datagrams per readable event, so other work runs too */

struct rx_meta {
    int64_t t_ns;    /* wall-clock receive time: T2 when we reflect */
    int64_t mono_ns; /* the same instant on the monotonic clock: T4 of a reply */
    int ttl;
    int tos;
    /* The address the datagram was sent to, so that a reflector on a
     * wildcard address answers from it (a peer matches replies by it). */
    int has_dst;
    struct in6_pktinfo dst; /* an IPv4 address is stored v4-mapped */
};

struct sockopt {
    int level, name, value;
};

/* TTL 255 on what we send (STAMP over a peering LAN is one hop), and the
 * TTL and TOS on what we receive. */
static const struct sockopt v4_opts[] = {
    {IPPROTO_IP, IP_TTL, 255},
    {IPPROTO_IP, IP_RECVTTL, 1},
    {IPPROTO_IP, IP_RECVTOS, 1},
    {IPPROTO_IP, IP_PKTINFO, 1},
};

/* An IPv6 socket also carries IPv4 as mapped addresses: both sets apply. */
static const struct sockopt v6_opts[] = {
    {IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255},
    {IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1},
    {IPPROTO_IPV6, IPV6_RECVTCLASS, 1},
    {IPPROTO_IP, IP_TTL, 255},
    {IPPROTO_IP, IP_RECVTTL, 1},
    {IPPROTO_IP, IP_RECVTOS, 1},
    {IPPROTO_IP, IP_PKTINFO, 1},
    {IPPROTO_IPV6, IPV6_RECVPKTINFO, 1},
};

static int set_int(int fd, int level, int opt, int v)
{
    return setsockopt(fd, level, opt, &v, sizeof(v)) == 0 ? 0 : -errno;
}

/*
 * Kernel software stamps: on receive for every datagram, on transmit only
 * for the sends that ask (our requests, not the reflector's answers), with
 * no copy of the packet on the error queue; OPT_ID numbers those sends
 * 0, 1, 2, ... so that a stamp names its request.  SO_SELECT_ERR_QUEUE flags a
 * queued stamp as POLLPRI, which libuv reports as UV_PRIORITIZED; a bare
 * POLLERR would make libuv stop polling the socket.  Returns 1 when
 * available, 0 when only SO_TIMESTAMPNS is.
 */
static int enable_timestamps(int fd)
{
    int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
                SOF_TIMESTAMPING_OPT_TSONLY | SOF_TIMESTAMPING_OPT_ID;

    if (set_int(fd, SOL_SOCKET, SO_TIMESTAMPING, flags) == 0 &&
        set_int(fd, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1) == 0)
        return 1;
    set_int(fd, SOL_SOCKET, SO_TIMESTAMPING, 0);
    return set_int(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1) == 0 ? 0 : -errno;
}

static int configure_socket(int fd, int family, const struct sockaddr *sa)
{
    const struct sockopt *o = family == AF_INET ? v4_opts : v6_opts;
    size_t n = family == AF_INET ? sizeof(v4_opts) / sizeof(v4_opts[0])
                                 : sizeof(v6_opts) / sizeof(v6_opts[0]);
    int rc = 0;

    /* A wildcard IPv6 socket serves IPv4 too. */
    if (family == AF_INET6 &&
        IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr))
        rc = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = set_int(fd, o[i].level, o[i].name, o[i].value);
    return rc;
}

/*
 * The kernel stamps arrivals on the wall clock; durations need the
 * monotonic one.  Both clocks read now give the offset between them, so
 * the kernel's stamp moves to the monotonic clock without the few
 * microseconds the packet waited in the socket.  No kernel timestamp: the
 * clocks read right after the syscall.
 */
static void read_clocks(struct rx_meta *meta)
{
    int64_t wall = probe_now_ns(), mono = probe_mono_ns();

    if (meta->t_ns == 0 || meta->t_ns > wall || wall - meta->t_ns > 1000000000) {
        meta->t_ns = wall;
        meta->mono_ns = mono;
        return;
    }
    meta->mono_ns = mono - (wall - meta->t_ns);
}

static void read_cmsgs(struct msghdr *mh, struct rx_meta *meta)
{
    meta->t_ns = 0;
    meta->ttl = 0;
    meta->tos = 0;
    meta->has_dst = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        int lv = c->cmsg_level, ty = c->cmsg_type;

        if (lv == SOL_SOCKET && (ty == SO_TIMESTAMPNS || ty == SO_TIMESTAMPING)) {
            struct timespec ts; /* the software stamp is the first of three */

            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            meta->t_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        } else if ((lv == IPPROTO_IP && ty == IP_TTL) ||
                   (lv == IPPROTO_IPV6 && ty == IPV6_HOPLIMIT)) {
            memcpy(&meta->ttl, CMSG_DATA(c), sizeof(int));
        } else if (lv == IPPROTO_IPV6 && ty == IPV6_TCLASS) {
            memcpy(&meta->tos, CMSG_DATA(c), sizeof(int));
        } else if (lv == IPPROTO_IP && ty == IP_PKTINFO) {
            struct in_pktinfo pi;

            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            memset(&meta->dst, 0, sizeof(meta->dst));
            meta->dst.ipi6_addr.s6_addr[10] = meta->dst.ipi6_addr.s6_addr[11] = 0xff;
            memcpy(&meta->dst.ipi6_addr.s6_addr[12], &pi.ipi_addr, 4);
            meta->dst.ipi6_ifindex = (unsigned)pi.ipi_ifindex;
            meta->has_dst = 1;
        } else if (lv == IPPROTO_IPV6 && ty == IPV6_PKTINFO) {
            memcpy(&meta->dst, CMSG_DATA(c), sizeof(meta->dst));
            meta->has_dst = 1;
        } else if (lv == IPPROTO_IP && ty == IP_TOS) {
            meta->tos = *(const uint8_t *)CMSG_DATA(c); /* one octet, unlike the rest */
        }
    }
    read_clocks(meta);
}

/*
 * Sends the answer from the address the request went to: IP_PKTINFO on an
 * IPv4 socket, IPV6_PKTINFO (v4-mapped for IPv4) on an IPv6 one.
 */
static ssize_t send_from(int fd, int family, const uint8_t *buf, size_t len,
                         const struct sockaddr_storage *to, socklen_t tolen,
                         const struct rx_meta *meta)
{
    union {
        char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {
        .msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *c;

    if (meta->has_dst) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        c = CMSG_FIRSTHDR(&mh);
        if (family == AF_INET) {
            struct in_pktinfo pi = {.ipi_ifindex = (int)meta->dst.ipi6_ifindex};

            memcpy(&pi.ipi_spec_dst, &meta->dst.ipi6_addr.s6_addr[12], 4);
            c->cmsg_level = IPPROTO_IP, c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(c), &pi, sizeof(pi));
            mh.msg_controllen = CMSG_SPACE(sizeof(pi));
        } else {
            c->cmsg_level = IPPROTO_IPV6, c->cmsg_type = IPV6_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(meta->dst));
            memcpy(CMSG_DATA(c), &meta->dst, sizeof(meta->dst));
            mh.msg_controllen = CMSG_SPACE(sizeof(meta->dst));
        }
    }
    return sendmsg(fd, &mh, 0);
}

static void reflect(struct probe *p, const uint8_t *buf, size_t len,
                    const struct sockaddr_storage *from, socklen_t fromlen,
                    const struct rx_meta *meta)
{
    uint8_t out[PROTO_STAMP_MAX_LEN];
    struct reflect_input x = {
        .req = buf,
        .len = len,
        .t2_ns = meta->t_ns,
        .ttl = (uint8_t)meta->ttl,
        .tos = (uint8_t)meta->tos,
    };
    int n;

    x.t3_ns = probe_now_ns();
    n = probe_reflect(&p->reflector, (const struct sockaddr *)from, &x, out, sizeof(out));
    probe_stamp_io_report(p, 0);
    if (n < 0)
        return;
    if (send_from(p->stamp.fd, p->stamp.family, out, (size_t)n, from, fromlen, meta) < 0)
        p->stamp.send_errors++;
}

/* In authenticated mode the peer's key, or NULL when it has none. */
static const uint8_t *peer_key(const struct probe *p, const struct sockaddr *peer)
{
    return p->reflector.authenticated ? probe_key_for(&p->reflector.keys, peer) : NULL;
}

/*
 * A reflected packet has a Receive Timestamp where requests have zeros; a
 * TWAMP-Light reply may be as short as PROTO_STAMP_LIGHT_MIN_LEN octets.
 * Anything else is a request for the reflector, which decides about it.
 */
static void on_datagram(struct probe *p, const uint8_t *buf, size_t len,
                        const struct sockaddr_storage *from, socklen_t fromlen,
                        const struct rx_meta *meta)
{
    int auth = p->reflector.authenticated;
    const uint8_t *key = peer_key(p, (const struct sockaddr *)from);
    struct probe_task *t;
    struct probe_reply rep;
    int reflected = auth ? proto_stamp_is_reflected_auth(buf, len)
                         : proto_stamp_is_reflected(buf, len);

    if (reflected) {
        t = probe_sched_find(p, (const struct sockaddr *)from);
        if (t != NULL && (!auth || key != NULL)) {
            if (probe_stamp_reply(t, key, buf, len, meta->mono_ns, &rep) == 0) {
                rep.return_ttl = (uint8_t)meta->ttl;
                probe_stamp_return_ttl(t, &rep);
                if (p->on_reply != NULL)
                    p->on_reply(p, t, &rep);
            }
            return;
        }
        /* An answer to nothing we asked, or from a peer without a key; but
         * a legacy TWAMP-Light request (41-43 octets) may carry padding
         * where a reply has its Receive Timestamp: the reflector judges. */
        if (auth || len >= PROTO_STAMP_BASE_LEN)
            return;
    }
    reflect(p, buf, len, from, fromlen, meta);
}

/*
 * Empties the error queue and returns the transmit stamp (wall-clock ns) of
 * the send numbered key if it lies in [lo, hi], else 0.  Called right after
 * a request's sendmsg with the clock readings around the call: the stamp is
 * that request's own, taken by the driver as it left.  Stamps of earlier
 * sends that left late are dropped.  *next_key learns the kernel's
 * numbering, so that a send that failed after taking a number cannot put
 * the two out of step for good.
 */
static int64_t drain_tx_stamps(int fd, uint32_t key, int64_t lo, int64_t hi,
                               uint32_t *next_key)
{
    int64_t found = 0;

    for (int i = 0; i < 64; i++) {
        union {
            char buf[CMSG_SPACE(sizeof(struct scm_timestamping)) +
                     CMSG_SPACE(sizeof(struct sock_extended_err) + 32)];
            struct cmsghdr align;
        } ctl;
        struct msghdr mh = {.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
        int64_t t = 0;
        int has_id = 0;
        uint32_t id = 0;

        if (recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            break;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING) {
                struct scm_timestamping ts;

                memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                t = (int64_t)ts.ts[0].tv_sec * 1000000000 + ts.ts[0].tv_nsec;
            } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                       (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
                struct sock_extended_err ee;

                memcpy(&ee, CMSG_DATA(c), sizeof(ee));
                if (ee.ee_origin == SO_EE_ORIGIN_TIMESTAMPING) {
                    id = ee.ee_data;
                    has_id = 1;
                }
            }
        }
        if (!has_id)
            continue;
        if ((int32_t)(id + 1 - *next_key) > 0)
            *next_key = id + 1;
        if (id == key && t >= lo && t <= hi)
            found = t;
    }
    return found;
}

static void on_readable_cb(uv_poll_t *h, int status, int events)
{
    struct probe *p = h->data;
    uint8_t buf[PROTO_STAMP_MAX_LEN + 1];
    union {
        char buf[CMSG_SPACE(sizeof(struct scm_timestamping)) +
                 4 * CMSG_SPACE(sizeof(int)) +
                 2 * CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } ctl;

    if (status < 0) {
        /* libuv stopped polling on an error condition: clear it (the
         * error queue, and a pending socket error), go on. */
        int err;
        socklen_t len = sizeof(err);

        drain_tx_stamps(p->stamp.fd, 0, 0, -1, &p->stamp.tx_key);
        getsockopt(p->stamp.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        uv_poll_start(h, UV_READABLE | UV_PRIORITIZED, on_readable_cb);
        return;
    }
    if (events & UV_PRIORITIZED) /* late stamps: those requests used the clock */
        drain_tx_stamps(p->stamp.fd, 0, 0, -1, &p->stamp.tx_key);
    if (!(events & UV_READABLE))
        return;
    for (int i = 0; i < RECV_BURST; i++) {
        struct sockaddr_storage from;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_name = &from,
                            .msg_namelen = sizeof(from),
                            .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.buf,
                            .msg_controllen = sizeof(ctl.buf)};
        struct rx_meta meta;
        ssize_t n = recvmsg(p->stamp.fd, &mh, MSG_DONTWAIT);

        if (n < 0)
            return; /* EAGAIN, or an ICMP error queued for a past send */
        if (mh.msg_flags & MSG_TRUNC)
            continue; /* larger than any STAMP packet we accept */
        read_cmsgs(&mh, &meta);
        on_datagram(p, buf, (size_t)n, &from, mh.msg_namelen, &meta);
    }
}

int probe_stamp_io_open(struct probe *p)
{
    const struct sockaddr *sa = (const struct sockaddr *)&p->cfg.stamp_addr;
    char a[PROTO_ADDRSTR_MAX];
    int fd, rc;

    proto_addr_ntop(sa, a, sizeof(a));
    fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    rc = configure_socket(fd, sa->sa_family, sa);
    if (rc == 0 && (rc = enable_timestamps(fd)) >= 0) {
        p->stamp.kernel_ts = rc;
        rc = 0;
    }
    if (rc == 0 && bind(fd, sa, p->cfg.stamp_len) < 0)
        rc = -errno;
    if (rc == 0)
        rc = uv_poll_init(p->loop, &p->stamp.poll, fd);
    if (rc < 0) {
        close(fd);
        goto fail;
    }
    p->stamp.fd = fd;
    p->stamp.family = sa->sa_family;
    p->stamp.poll.data = p;
    uv_poll_start(&p->stamp.poll, UV_READABLE | UV_PRIORITIZED, on_readable_cb);
    log_info("STAMP sender and reflector on %s port %u (%s timestamps)", a,
             proto_addr_port(sa),
             p->stamp.kernel_ts ? "kernel receive and transmit" : "kernel receive");
    return 0;
fail:
    log_error("cannot open STAMP socket on %s port %u: %s", a, proto_addr_port(sa),
              proto_strerror(rc));
    return rc;
}

static void on_poll_closed_cb(uv_handle_t *h)
{
    struct probe *p = h->data;

    close(p->stamp.fd);
    p->stamp.fd = -1;
}

void probe_stamp_io_report(struct probe *p, int force)
{
    char msg[1024];

    if (probe_reflect_report(&p->reflector, probe_now_ns(), force, msg, sizeof(msg)))
        log_warn("reflector: %s", msg);
}

void probe_stamp_io_close(struct probe *p)
{
    probe_stamp_io_report(p, 1);
    if (p->stamp.fd >= 0 && !uv_is_closing((uv_handle_t *)&p->stamp.poll))
        uv_close((uv_handle_t *)&p->stamp.poll, on_poll_closed_cb);
}

/*
 * The request's per-packet options: a transmit stamp when the socket has
 * them, and the task's DSCP.  A v4-mapped destination leaves as IPv4 and
 * takes IP_TOS; a native IPv6 one takes IPV6_TCLASS.
 */
static void request_cmsgs(const struct probe *p, const struct probe_task *t,
                          struct msghdr *mh, char *buf, size_t cap)
{
    const struct sockaddr_in6 *d6 = (const struct sockaddr_in6 *)&t->dst;
    int v4 = t->dst.ss_family == AF_INET || IN6_IS_ADDR_V4MAPPED(&d6->sin6_addr);
    int tos = t->spec.dscp << 2, tx = SOF_TIMESTAMPING_TX_SOFTWARE;
    struct cmsghdr *c;

    mh->msg_control = buf;
    mh->msg_controllen = cap;
    memset(buf, 0, cap);
    c = CMSG_FIRSTHDR(mh);
    mh->msg_controllen = 0;
    if (p->stamp.kernel_ts) {
        c->cmsg_level = SOL_SOCKET, c->cmsg_type = SO_TIMESTAMPING;
        c->cmsg_len = CMSG_LEN(sizeof(tx));
        memcpy(CMSG_DATA(c), &tx, sizeof(tx));
        mh->msg_controllen += CMSG_SPACE(sizeof(tx));
        c = (struct cmsghdr *)(buf + mh->msg_controllen);
    }
    if (tos != 0) {
        c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
        c->cmsg_type = v4 ? IP_TOS : IPV6_TCLASS;
        c->cmsg_len = CMSG_LEN(sizeof(tos));
        memcpy(CMSG_DATA(c), &tos, sizeof(tos));
        mh->msg_controllen += CMSG_SPACE(sizeof(tos));
    }
    if (mh->msg_controllen == 0)
        mh->msg_control = NULL;
}

/* Sends a built request; on success moves its T1 to the kernel's stamp. */
static int send_request(struct probe *p, struct probe_task *t, const uint8_t *buf,
                        size_t len, int64_t wall0, int64_t mono0)
{
    union {
        char buf[2 * CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {
        .msg_name = &t->dst, .msg_namelen = t->dstlen, .msg_iov = &iov, .msg_iovlen = 1};
    int64_t tx = 0, mono1;
    uint32_t key;

    request_cmsgs(p, t, &mh, ctl.buf, sizeof(ctl.buf));
    if (sendmsg(p->stamp.fd, &mh, 0) < 0)
        return -errno;
    key = p->stamp.tx_key++;
    mono1 = probe_mono_ns();
    /* The interval is measured on the monotonic clock, so that a wall-clock
     * step during the call cannot pass for the packet's time. */
    if (p->stamp.kernel_ts)
        tx = drain_tx_stamps(p->stamp.fd, key, wall0, wall0 + (mono1 - mono0),
                             &p->stamp.tx_key);
    if (tx != 0) {
        probe_stamp_sent_at(t, t->next_seq - 1, mono0 + (tx - wall0));
        p->stamp.tx_kernel++;
    } else {
        p->stamp.tx_user++;
    }
    return 0;
}

int probe_stamp_io_send(struct probe *p, struct probe_task *t)
{
    uint8_t buf[PROTO_STAMP_MAX_LEN];
    const uint8_t *key = peer_key(p, (const struct sockaddr *)&t->dst);
    size_t len = t->spec.size;
    int64_t wall0, mono0;
    int n;

    if (p->reflector.authenticated && key == NULL)
        return -ENOKEY; /* authenticated mode, and no key for this peer */

    /* Authenticated packets have a larger base: the size grows to fit. */
    if (key != NULL && len < PROTO_STAMP_AUTH_LEN)
        len = PROTO_STAMP_AUTH_LEN;
    if (len < PROTO_STAMP_BASE_LEN || len > sizeof(buf))
        return -EINVAL;
    /* The send time is read as late as possible before the syscall. */
    wall0 = probe_now_ns();
    mono0 = probe_mono_ns();
    n = probe_stamp_request(t, key, wall0, mono0, buf, len);
    if (n < 0)
        return n;
    n = send_request(p, t, buf, len, wall0, mono0);
    if (n < 0) {
        /* Not on the wire, so not a loss: take it back out of the count. */
        t->win[t->cur].sent--;
        p->stamp.send_errors++;
    }
    return n;
}
