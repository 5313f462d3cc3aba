/*
 * icmp.c - ICMP echo request and reply (RFC 792; ICMPv6, RFC 4443 4.1 and
 * 4.2), and the errors that quote a request back: destination unreachable
 * (RFC 792, RFC 4443 3.1) and time exceeded (RFC 792, RFC 4443 3.3).
 * Nothing here does I/O: icmp_io.c moves the octets.
 *
 * Our request's data is an 8-octet cookie, random per process, and the
 * task id, then zeros up to the task's size.  A raw socket sees every ICMP
 * message the host receives, other programs' replies included: a reply is
 * ours only when it carries our identifier (raw sockets; a ping socket's
 * identifier is the kernel's, which delivers only its own), our cookie and
 * the id of a task we run.
 *
 * All reading of received octets goes through struct proto_rd.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "probe.h"

/* Message types, RFC 792 and RFC 4443 2.1. */
#define V4_ECHO_REPLY   0
#define V4_UNREACH      3
#define V4_ECHO_REQUEST 8
#define V4_EXCEEDED     11
#define V6_UNREACH      1
#define V6_EXCEEDED     3
#define V6_ECHO_REQUEST 128
#define V6_ECHO_REPLY   129

#define IPV4_HDR_MIN 20
#define IPV6_HDR_LEN 40

size_t probe_icmp_data_len(uint16_t size)
{
    return size > PROBE_ICMP_DATA_MIN ? size : PROBE_ICMP_DATA_MIN;
}

uint16_t probe_icmp_checksum(const uint8_t *buf, size_t len)
{
    uint32_t sum = 0;
    size_t i;

    /* RFC 1071: the ones' complement of the ones' complement sum of the
     * 16-bit words, an odd last octet padded with zero. */
    for (i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)buf[i] << 8 | buf[i + 1];
    if (i < len)
        sum += (uint32_t)buf[i] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

int probe_icmp_request(uint8_t *buf, size_t cap, int v6, uint16_t ident, uint16_t seq,
                       const uint8_t cookie[PROBE_ICMP_COOKIE_LEN], uint32_t task_id,
                       uint16_t size)
{
    size_t data = probe_icmp_data_len(size), len = PROBE_ICMP_HDR_LEN + data;
    struct proto_wr w;
    uint16_t sum;

    if (len > cap || data > PROBE_ICMP_DATA_MAX)
        return -ENOBUFS;
    proto_wr_init(&w, buf, cap);
    proto_wr_u8(&w, v6 ? V6_ECHO_REQUEST : V4_ECHO_REQUEST);
    proto_wr_u8(&w, 0);  /* code */
    proto_wr_u16(&w, 0); /* checksum, below */
    proto_wr_u16(&w, ident);
    proto_wr_u16(&w, seq);
    memcpy(buf + w.off, cookie, PROBE_ICMP_COOKIE_LEN);
    w.off += PROBE_ICMP_COOKIE_LEN;
    proto_wr_u32(&w, task_id);
    proto_wr_zero(&w, data - PROBE_ICMP_DATA_MIN);
    /* ICMPv6's checksum covers a pseudo-header of the addresses the kernel
     * chooses: an ICMPv6 socket fills it in (RFC 3542 3.1). */
    if (!v6) {
        sum = probe_icmp_checksum(buf, len);
        buf[2] = (uint8_t)(sum >> 8);
        buf[3] = (uint8_t)sum;
    }
    return (int)len;
}

/*
 * The ICMP checksum of len octets from off, read through r's buffer: the
 * sum of a message whose checksum is right is 0 (RFC 1071).
 */
static int checksum_ok(const struct proto_rd *r, size_t off, size_t len)
{
    struct proto_rd c;
    uint32_t sum = 0;
    uint16_t w;
    uint8_t b;

    proto_rd_init(&c, r->p, off + len);
    if (proto_rd_skip(&c, off) < 0)
        return 0;
    while (proto_rd_u16(&c, &w) == 0)
        sum += w;
    if (proto_rd_u8(&c, &b) == 0)
        sum += (uint32_t)b << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

/*
 * The echo data after the identifier and sequence number: ours when it
 * starts with our cookie, and then it names the task.  -EBADMSG when
 * shorter than the cookie and task id, -ENOENT when someone else's.
 */
static int read_data(struct proto_rd *r, const uint8_t cookie[PROBE_ICMP_COOKIE_LEN],
                     struct probe_icmp_msg *m)
{
    uint8_t c[PROBE_ICMP_COOKIE_LEN];
    uint32_t id;

    if (proto_rd_bytes(r, c, sizeof(c)) < 0 || proto_rd_u32(r, &id) < 0)
        return -EBADMSG;
    if (memcmp(c, cookie, sizeof(c)) != 0)
        return -ENOENT;
    m->task_id = id;
    m->has_task = 1;
    return 0;
}

/*
 * The echo request an error quotes (RFC 792: the IP header and at least
 * 8 octets of data; RFC 1812 4.3.2.3 and RFC 4443 3.1: as much as fits).
 * A quote without our data is taken on the identifier alone, when the
 * caller can check it, or on the kernel's word (a ping socket's error
 * queue); a quote with data must carry our cookie.
 */
static int read_quoted_echo(struct proto_rd *r, int v6, int check_ident, uint16_t ident,
                            int short_ok, const uint8_t cookie[PROBE_ICMP_COOKIE_LEN],
                            struct probe_icmp_msg *m)
{
    uint8_t type, code;
    uint16_t id;
    int rc;

    if (proto_rd_u8(r, &type) < 0 || proto_rd_u8(r, &code) < 0 ||
        proto_rd_skip(r, 2) < 0 || proto_rd_u16(r, &id) < 0 ||
        proto_rd_u16(r, &m->seq) < 0)
        return -EBADMSG;
    if (type != (v6 ? V6_ECHO_REQUEST : V4_ECHO_REQUEST) || code != 0)
        return -ENOENT;
    if (check_ident && id != ident)
        return -ENOENT;
    m->ident = id;
    rc = read_data(r, cookie, m);
    if (rc == -EBADMSG && short_ok)
        return 0; /* too short a quote to carry our data */
    return rc;
}

/* The IP header an error quotes: our request's, to its destination. */
static int read_quoted_ip(struct proto_rd *r, int v6, struct probe_icmp_msg *m)
{
    uint8_t vihl, proto;

    memset(m->dst, 0, sizeof(m->dst));
    if (v6) {
        /* RFC 8200 3: version, class and flow; payload length; next
         * header; hop limit; source; destination.  An extension header
         * before ICMPv6 is not ours: we send none. */
        if (proto_rd_u8(r, &vihl) < 0 || proto_rd_skip(r, 5) < 0 ||
            proto_rd_u8(r, &proto) < 0 || proto_rd_skip(r, 1 + 16) < 0 ||
            proto_rd_bytes(r, m->dst, 16) < 0)
            return -EBADMSG;
        if (vihl >> 4 != 6 || proto != IPPROTO_ICMPV6)
            return -ENOENT;
        m->dst_family = AF_INET6;
        return 0;
    }
    /* RFC 791 3.1. */
    if (proto_rd_u8(r, &vihl) < 0)
        return -EBADMSG;
    if (vihl >> 4 != 4 || (vihl & 0x0f) * 4 < IPV4_HDR_MIN)
        return -EBADMSG;
    if (proto_rd_skip(r, 8) < 0 || proto_rd_u8(r, &proto) < 0 ||
        proto_rd_skip(r, 2 + 4) < 0 || proto_rd_bytes(r, m->dst, 4) < 0 ||
        proto_rd_skip(r, (vihl & 0x0fu) * 4u - IPV4_HDR_MIN) < 0)
        return -EBADMSG;
    if (proto != IPPROTO_ICMP)
        return -ENOENT;
    m->dst_family = AF_INET;
    return 0;
}

/*
 * A raw IPv4 socket hands over the IP header (RFC 791 3.1): its length
 * says where ICMP starts, its total length where it ends, and its TTL is
 * the reply's.  On return r covers the ICMP message only.
 */
static int read_ipv4(struct proto_rd *r, struct probe_icmp_msg *m)
{
    uint8_t vihl, proto;
    uint16_t total;
    size_t hlen;

    if (proto_rd_u8(r, &vihl) < 0 || proto_rd_skip(r, 1) < 0 ||
        proto_rd_u16(r, &total) < 0 || proto_rd_skip(r, 4) < 0 ||
        proto_rd_u8(r, &m->ttl) < 0 || proto_rd_u8(r, &proto) < 0 ||
        proto_rd_skip(r, 2 + 4 + 4) < 0)
        return -EBADMSG;
    hlen = (vihl & 0x0fu) * 4u;
    if (vihl >> 4 != 4 || hlen < IPV4_HDR_MIN || total < hlen || total > r->len)
        return -EBADMSG; /* a total beyond what we hold: cut short */
    if (proto != IPPROTO_ICMP)
        return -ENOENT;
    r->len = total; /* link-layer padding is not ICMP */
    return proto_rd_skip(r, hlen - IPV4_HDR_MIN);
}

int probe_icmp_parse(const uint8_t *buf, size_t len, enum probe_icmp_sock sock,
                     uint16_t ident, const uint8_t cookie[PROBE_ICMP_COOKIE_LEN],
                     struct probe_icmp_msg *m)
{
    int v6 = sock == PROBE_ICMP_RAW6 || sock == PROBE_ICMP_PING6;
    int raw = sock == PROBE_ICMP_RAW4 || sock == PROBE_ICMP_RAW6;
    struct proto_rd r;
    size_t start;
    uint8_t type;
    uint16_t id;
    int rc;

    memset(m, 0, sizeof(*m));
    proto_rd_init(&r, buf, len);
    if (sock == PROBE_ICMP_RAW4 && (rc = read_ipv4(&r, m)) < 0)
        return rc;
    start = r.off;
    m->len = proto_rd_left(&r);
    if (proto_rd_u8(&r, &type) < 0 || proto_rd_u8(&r, &m->code) < 0 ||
        proto_rd_skip(&r, 2) < 0)
        return -EBADMSG;
    /* The kernel checks what it hands a ping socket, and ICMPv6's sum
     * (RFC 4443 2.3) on every ICMPv6 socket; not an IPv4 raw socket's. */
    if (sock == PROBE_ICMP_RAW4 && !checksum_ok(&r, start, m->len))
        return -EBADMSG;
    if (type == (v6 ? V6_ECHO_REPLY : V4_ECHO_REPLY)) {
        if (proto_rd_u16(&r, &id) < 0 || proto_rd_u16(&r, &m->seq) < 0)
            return -EBADMSG;
        if (m->code != 0 || (raw && id != ident))
            return -ENOENT;
        m->ident = id;
        m->kind = PROBE_ICMP_REPLY;
        return read_data(&r, cookie, m);
    }
    if (type == (v6 ? V6_UNREACH : V4_UNREACH))
        m->kind = PROBE_ICMP_UNREACH;
    else if (type == (v6 ? V6_EXCEEDED : V4_EXCEEDED))
        m->kind = PROBE_ICMP_EXCEEDED;
    else
        return -ENOENT;           /* another program's business */
    if (proto_rd_skip(&r, 4) < 0) /* unused, or MTU and length (RFC 4884) */
        return -EBADMSG;
    if ((rc = read_quoted_ip(&r, v6, m)) < 0)
        return rc;
    return read_quoted_echo(&r, v6, raw, ident, raw, cookie, m);
}

int probe_icmp_parse_quoted(const uint8_t *buf, size_t len, int v6,
                            const uint8_t cookie[PROBE_ICMP_COOKIE_LEN],
                            struct probe_icmp_msg *m)
{
    struct proto_rd r;

    memset(m, 0, sizeof(*m));
    proto_rd_init(&r, buf, len);
    m->len = len;
    return read_quoted_echo(&r, v6, 0, 0, 1, cookie, m);
}

int probe_icmp_kind(int v6, uint8_t type)
{
    if (type == (v6 ? V6_UNREACH : V4_UNREACH))
        return PROBE_ICMP_UNREACH;
    if (type == (v6 ? V6_EXCEEDED : V4_EXCEEDED))
        return PROBE_ICMP_EXCEEDED;
    if (type == (v6 ? V6_ECHO_REPLY : V4_ECHO_REPLY))
        return PROBE_ICMP_REPLY;
    return 0;
}

/* RFC 792 and RFC 1812 5.2.7.1 codes of destination unreachable. */
static const char *const v4_unreach[] = {
    "net unreachable",
    "host unreachable",
    "protocol unreachable",
    "port unreachable",
    "fragmentation needed",
    "source route failed",
    "net unknown",
    "host unknown",
    "source host isolated",
    "net administratively prohibited",
    "host administratively prohibited",
    "net unreachable for TOS",
    "host unreachable for TOS",
    "administratively prohibited",
    "host precedence violation",
    "precedence cutoff",
};

/* RFC 4443 3.1, RFC 6550 20.17 (code 7, "error in source routing header"). */
static const char *const v6_unreach[] = {
    "no route",
    "administratively prohibited",
    "beyond scope of source address",
    "address unreachable",
    "port unreachable",
    "source address failed policy",
    "reject route",
    "error in source routing header",
};

void probe_icmp_why(int v6, int kind, uint8_t code, const char *from, char *buf,
                    size_t len)
{
    const char *what = NULL;

    if (kind == PROBE_ICMP_UNREACH && !v6 &&
        code < sizeof(v4_unreach) / sizeof(*v4_unreach))
        what = v4_unreach[code];
    else if (kind == PROBE_ICMP_UNREACH && v6 &&
             code < sizeof(v6_unreach) / sizeof(*v6_unreach))
        what = v6_unreach[code];
    else if (kind == PROBE_ICMP_EXCEEDED && code <= 1)
        what = code == 0
                   ? (v6 ? "hop limit exceeded in transit" : "TTL exceeded in transit")
                   : "fragment reassembly time exceeded";
    if (what != NULL)
        snprintf(buf, len, "%s from %s", what, from);
    else
        snprintf(buf, len, "%s (code %u) from %s",
                 kind == PROBE_ICMP_EXCEEDED ? "time exceeded" : "unreachable", code,
                 from);
}
