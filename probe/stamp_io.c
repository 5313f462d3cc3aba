/*
 * stamp_io.c - the one UDP socket that sends STAMP requests, reflects the
 * requests of other probes, and receives the replies to ours.
 *
 * libuv's UDP handle hides the ancillary data, so the socket is ours and
 * libuv only polls it: recvmsg() then hands us the kernel's receive
 * timestamp (SO_TIMESTAMPNS) and the TTL or hop limit the packet arrived
 * with, which the reflector copies into its answer (RFC 8762 4.3.1).
 */
#include <errno.h>
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
 * kernel's timestamp, TTL and TOS on what we receive. */
static const struct sockopt v4_opts[] = {
    {SOL_SOCKET, SO_TIMESTAMPNS, 1}, {IPPROTO_IP, IP_TTL, 255},
    {IPPROTO_IP, IP_RECVTTL, 1},     {IPPROTO_IP, IP_RECVTOS, 1},
    {IPPROTO_IP, IP_PKTINFO, 1},
};

/* An IPv6 socket also carries IPv4 as mapped addresses: both sets apply. */
static const struct sockopt v6_opts[] = {
    {SOL_SOCKET, SO_TIMESTAMPNS, 1},
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

        if (lv == SOL_SOCKET && ty == SO_TIMESTAMPNS) {
            struct timespec ts;

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
 * A reflected packet has a Receive Timestamp where requests have zeros.
 * TWAMP-Light replies are shorter than any STAMP request: from a peer we
 * measure, a short datagram is taken for one.
 */
static void on_datagram(struct probe *p, const uint8_t *buf, size_t len,
                        const struct sockaddr_storage *from, socklen_t fromlen,
                        const struct rx_meta *meta)
{
    int auth = p->reflector.authenticated;
    const uint8_t *key = peer_key(p, (const struct sockaddr *)from);
    struct probe_task *t;
    struct stamp_reply rep;
    int reflected = auth ? proto_stamp_is_reflected_auth(buf, len)
                         : proto_stamp_is_reflected(buf, len);

    if (reflected || (!auth && len < PROTO_STAMP_BASE_LEN)) {
        t = probe_sched_find(p, (const struct sockaddr *)from);
        if (t != NULL && (!auth || key != NULL)) {
            if (probe_stamp_reply(t, key, buf, len, meta->mono_ns, &rep) == 0 &&
                p->on_reply != NULL)
                p->on_reply(p, t, &rep);
            return;
        }
        if (reflected)
            return; /* an answer to nothing we asked, or from a peer without a key */
    }
    reflect(p, buf, len, from, fromlen, meta);
}

static void on_readable_cb(uv_poll_t *h, int status, int events)
{
    struct probe *p = h->data;
    uint8_t buf[PROTO_STAMP_MAX_LEN + 1];
    union {
        char buf[CMSG_SPACE(sizeof(struct timespec)) + 4 * CMSG_SPACE(sizeof(int)) +
                 2 * CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } ctl;

    if (status < 0 || !(events & UV_READABLE))
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
    uv_poll_start(&p->stamp.poll, UV_READABLE, on_readable_cb);
    log_info("STAMP sender and reflector on %s port %u", a, proto_addr_port(sa));
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

void probe_stamp_io_close(struct probe *p)
{
    if (p->stamp.fd >= 0 && !uv_is_closing((uv_handle_t *)&p->stamp.poll))
        uv_close((uv_handle_t *)&p->stamp.poll, on_poll_closed_cb);
}

int probe_stamp_io_send(struct probe *p, struct probe_task *t)
{
    uint8_t buf[PROTO_STAMP_MAX_LEN];
    const uint8_t *key = peer_key(p, (const struct sockaddr *)&t->dst);
    size_t len = t->spec.size;
    int n;

    if (p->reflector.authenticated && key == NULL)
        return -ENOKEY; /* authenticated mode, and no key for this peer */

    /* Authenticated packets have a larger base: the size grows to fit. */
    if (key != NULL && len < PROTO_STAMP_AUTH_LEN)
        len = PROTO_STAMP_AUTH_LEN;
    if (len < PROTO_STAMP_BASE_LEN || len > sizeof(buf))
        return -EINVAL;
    /* The send time is read as late as possible before the syscall. */
    n = probe_stamp_request(t, key, probe_now_ns(), probe_mono_ns(), buf, len);
    if (n < 0)
        return n;
    if (sendto(p->stamp.fd, buf, len, 0, (struct sockaddr *)&t->dst, t->dstlen) < 0) {
        /* Not on the wire, so not a loss: take it back out of the count. */
        t->win[t->cur].sent--;
        p->stamp.send_errors++;
        return -errno;
    }
    return 0;
}
