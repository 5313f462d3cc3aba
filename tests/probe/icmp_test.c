/*
 * icmp_test.c - echo requests and their replies as round trips, without a
 * network: what we build, answered the way a host answers it (RFC 792,
 * RFC 4443 4.2) and read back the way each socket hands it over; strangers'
 * replies, wrong types and cut packets refused; errors quoting our request
 * recognised.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "check_probe.h"
#include "probe.h"

#define IDENT   0x4242
#define TASK_ID 77u
#define SEQ     0xbeef

static const uint8_t cookie[PROBE_ICMP_COOKIE_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t other_cookie[PROBE_ICMP_COOKIE_LEN] = {1, 2, 3, 4, 5, 6, 7, 9};
static const uint8_t target4[4] = {198, 18, 0, 2};
static const uint8_t us4[4] = {198, 18, 0, 1};
static const uint8_t target6[16] = {0xfd, 0x49, 0x58, 0x4d, 0, 0xc8, [15] = 2};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Sets an ICMP message's checksum (RFC 1071) over len octets. */
static void fix_checksum(uint8_t *icmp, size_t len)
{
    put16(icmp + 2, 0);
    put16(icmp + 2, probe_icmp_checksum(icmp, len));
}

/* An IPv4 header (RFC 791 3.1) of 20 + optlen octets before len octets of
 * ICMP, from src to dst; returns its length. */
static size_t ipv4_header(uint8_t *buf, size_t optlen, size_t len, uint8_t ttl,
                          const uint8_t *src, const uint8_t *dst)
{
    size_t hlen = 20 + optlen;

    memset(buf, 0, hlen);
    buf[0] = (uint8_t)(0x40 | hlen / 4);
    put16(buf + 2, (uint16_t)(hlen + len));
    buf[8] = ttl;
    buf[9] = IPPROTO_ICMP;
    memcpy(buf + 12, src, 4);
    memcpy(buf + 16, dst, 4);
    for (size_t i = 20; i < hlen; i++)
        buf[i] = 1; /* NOP options */
    put16(buf + 10, probe_icmp_checksum(buf, hlen));
    return hlen;
}

/* What a host answers (RFC 792 "Echo or Echo Reply", RFC 4443 4.2): the
 * request with the reply's type, and a ping socket's identifier when the
 * kernel rewrote it. */
static void answer(uint8_t *icmp, size_t len, int v6, int ident)
{
    icmp[0] = v6 ? 129 : 0;
    if (ident >= 0)
        put16(icmp + 4, (uint16_t)ident);
    if (!v6)
        fix_checksum(icmp, len);
}

static int request(uint8_t *buf, int v6, uint16_t size)
{
    int n = probe_icmp_request(buf, PROBE_ICMP_PKT_MAX, v6, IDENT, SEQ, cookie, TASK_ID,
                               size);

    ck_assert_int_eq(n, (int)(PROBE_ICMP_HDR_LEN + probe_icmp_data_len(size)));
    return n;
}

static void check_reply(const struct probe_icmp_msg *m, size_t len, uint16_t ident)
{
    ck_assert_int_eq(m->kind, PROBE_ICMP_REPLY);
    ck_assert_uint_eq(m->seq, SEQ);
    ck_assert_uint_eq(m->ident, ident);
    ck_assert_int_eq(m->has_task, 1);
    ck_assert_uint_eq(m->task_id, TASK_ID);
    ck_assert_uint_eq(m->len, len);
}

START_TEST(request_layout)
{
    uint8_t buf[PROBE_ICMP_PKT_MAX];
    int n = request(buf, 0, 56);

    ck_assert_int_eq(n, 64);
    ck_assert_uint_eq(buf[0], 8); /* echo request */
    ck_assert_uint_eq(buf[1], 0);
    ck_assert_uint_eq(buf[4] << 8 | buf[5], IDENT);
    ck_assert_uint_eq(buf[6] << 8 | buf[7], SEQ);
    ck_assert_mem_eq(buf + 8, cookie, sizeof(cookie));
    ck_assert_uint_eq(buf[19], TASK_ID);
    ck_assert_uint_eq(probe_icmp_checksum(buf, (size_t)n), 0); /* sums to ~0 */
    /* Smaller than our data: the data is there anyway. */
    ck_assert_int_eq(request(buf, 0, 0), 20);
    ck_assert_int_eq(request(buf, 1, 5), 20);
    n = request(buf, 1, 100);
    ck_assert_uint_eq(buf[0], 128);
    ck_assert_uint_eq(buf[2] << 8 | buf[3], 0); /* the kernel's to fill */
    ck_assert_int_eq(probe_icmp_request(buf, 40, 0, IDENT, SEQ, cookie, TASK_ID, 56),
                     -ENOBUFS);
    ck_assert_int_eq(request(buf, 0, PROBE_ICMP_DATA_MAX), PROBE_ICMP_PKT_MAX);
}
END_TEST

/* Raw IPv4: the IP header first, with options or without; its TTL. */
START_TEST(raw4_round_trip)
{
    uint8_t pkt[80 + PROBE_ICMP_PKT_MAX];
    struct probe_icmp_msg m;

    for (size_t opt = 0; opt <= 40; opt += 20) {
        uint8_t req[PROBE_ICMP_PKT_MAX];
        int n = request(req, 0, 56);
        size_t h = ipv4_header(pkt, opt, (size_t)n, 61, target4, us4);

        memcpy(pkt + h, req, (size_t)n);
        answer(pkt + h, (size_t)n, 0, -1);
        ck_assert_int_eq(
            probe_icmp_parse(pkt, h + (size_t)n, PROBE_ICMP_RAW4, IDENT, cookie, &m), 0);
        check_reply(&m, (size_t)n, IDENT);
        ck_assert_uint_eq(m.ttl, 61);
        /* Link-layer padding after the IP datagram is not ICMP. */
        memset(pkt + h + n, 0, 6);
        ck_assert_int_eq(
            probe_icmp_parse(pkt, h + (size_t)n + 6, PROBE_ICMP_RAW4, IDENT, cookie, &m),
            0);
        ck_assert_uint_eq(m.len, (size_t)n);
    }
}
END_TEST

/* A ping socket: no IP header, and the kernel's identifier, not ours. */
START_TEST(ping4_round_trip)
{
    uint8_t buf[PROBE_ICMP_PKT_MAX];
    struct probe_icmp_msg m;
    int n = request(buf, 0, 56);

    answer(buf, (size_t)n, 0, 0x1234);
    ck_assert_int_eq(
        probe_icmp_parse(buf, (size_t)n, PROBE_ICMP_PING4, IDENT, cookie, &m), 0);
    check_reply(&m, (size_t)n, 0x1234);
    ck_assert_uint_eq(m.ttl, 0);
    /* A raw socket would not take someone else's identifier. */
    ck_assert_int_eq(probe_icmp_parse(buf, (size_t)n, PROBE_ICMP_RAW6, IDENT, cookie, &m),
                     -ENOENT);
}
END_TEST

START_TEST(v6_round_trip)
{
    uint8_t buf[PROBE_ICMP_PKT_MAX];
    struct probe_icmp_msg m;
    int n = request(buf, 1, 1000);

    answer(buf, (size_t)n, 1, -1);
    ck_assert_int_eq(probe_icmp_parse(buf, (size_t)n, PROBE_ICMP_RAW6, IDENT, cookie, &m),
                     0);
    check_reply(&m, (size_t)n, IDENT);
    answer(buf, (size_t)n, 1, 7);
    ck_assert_int_eq(
        probe_icmp_parse(buf, (size_t)n, PROBE_ICMP_PING6, IDENT, cookie, &m), 0);
    check_reply(&m, (size_t)n, 7);
    /* An IPv4 reply's type means nothing in ICMPv6. */
    buf[0] = 0;
    ck_assert_int_eq(probe_icmp_parse(buf, (size_t)n, PROBE_ICMP_RAW6, IDENT, cookie, &m),
                     -ENOENT);
}
END_TEST

/* Someone else's echo, a request, a wrong code: none of ours. */
START_TEST(strangers_refused)
{
    uint8_t buf[PROBE_ICMP_PKT_MAX], pkt[20 + PROBE_ICMP_PKT_MAX];
    struct probe_icmp_msg m;
    int n =
        probe_icmp_request(buf, sizeof(buf), 0, IDENT, SEQ, other_cookie, TASK_ID, 56);
    size_t h;

    answer(buf, (size_t)n, 0, -1);
    ck_assert_int_eq(
        probe_icmp_parse(buf, (size_t)n, PROBE_ICMP_PING4, IDENT, cookie, &m), -ENOENT);
    n = request(buf, 0, 56);
    answer(buf, (size_t)n, 0, IDENT + 1);
    h = ipv4_header(pkt, 0, (size_t)n, 64, target4, us4);
    memcpy(pkt + h, buf, (size_t)n);
    ck_assert_int_eq(
        probe_icmp_parse(pkt, h + (size_t)n, PROBE_ICMP_RAW4, IDENT, cookie, &m),
        -ENOENT);            /* another program's identifier */
    n = request(buf, 0, 56); /* our own request, as a raw socket on lo sees it */
    memcpy(pkt + h, buf, (size_t)n);
    ck_assert_int_eq(
        probe_icmp_parse(pkt, h + (size_t)n, PROBE_ICMP_RAW4, IDENT, cookie, &m),
        -ENOENT);
    answer(buf, (size_t)n, 0, -1);
    buf[1] = 1; /* code */
    fix_checksum(buf, (size_t)n);
    ck_assert_int_eq(
        probe_icmp_parse(buf, (size_t)n, PROBE_ICMP_PING4, IDENT, cookie, &m), -ENOENT);
    /* Another protocol in the IP header, a bad checksum. */
    answer(buf, (size_t)n, 0, -1);
    memcpy(pkt + h, buf, (size_t)n);
    pkt[9] = IPPROTO_UDP;
    ck_assert_int_eq(
        probe_icmp_parse(pkt, h + (size_t)n, PROBE_ICMP_RAW4, IDENT, cookie, &m),
        -ENOENT);
    pkt[9] = IPPROTO_ICMP;
    pkt[h + 30] ^= 0x40;
    ck_assert_int_eq(
        probe_icmp_parse(pkt, h + (size_t)n, PROBE_ICMP_RAW4, IDENT, cookie, &m),
        -EBADMSG);
}
END_TEST

/*
 * A reply cut short at any length is refused, or read as shorter than our
 * request (its length, which icmp_io.c compares with the request's): never
 * taken for a whole reply.
 */
START_TEST(truncated_refused)
{
    static const enum probe_icmp_sock socks[] = {PROBE_ICMP_RAW4, PROBE_ICMP_PING4,
                                                 PROBE_ICMP_RAW6, PROBE_ICMP_PING6};
    uint8_t pkt[20 + PROBE_ICMP_PKT_MAX];
    struct probe_icmp_msg m;

    for (size_t k = 0; k < sizeof(socks) / sizeof(*socks); k++) {
        int v6 = socks[k] == PROBE_ICMP_RAW6 || socks[k] == PROBE_ICMP_PING6;
        size_t h = 0, total;
        uint8_t req[PROBE_ICMP_PKT_MAX];
        int n = request(req, v6, 56);

        if (socks[k] == PROBE_ICMP_RAW4)
            h = ipv4_header(pkt, 0, (size_t)n, 64, target4, us4);
        memcpy(pkt + h, req, (size_t)n);
        answer(pkt + h, (size_t)n, v6, -1);
        total = h + (size_t)n;
        ck_assert_int_eq(probe_icmp_parse(pkt, total, socks[k], IDENT, cookie, &m), 0);
        for (size_t len = 0; len < total; len++) {
            int rc = probe_icmp_parse(pkt, len, socks[k], IDENT, cookie, &m);

            if (rc == 0)
                ck_assert_uint_lt(m.len, (size_t)n);
            else
                ck_assert(rc == -EBADMSG || rc == -ENOENT);
            /* Too short for our data: refused outright. */
            if (len < h + PROBE_ICMP_HDR_LEN + PROBE_ICMP_DATA_MIN)
                ck_assert_int_eq(rc, -EBADMSG);
        }
    }
}
END_TEST

/* An error quoting our request (RFC 792 type 3, RFC 4443 type 1), as a
 * router sends it: its IP header, then ours with our request after it. */
static size_t unreachable4(uint8_t *pkt, uint8_t type, uint8_t code, size_t quote)
{
    uint8_t req[PROBE_ICMP_PKT_MAX], *icmp;
    int n = request(req, 0, 56);
    size_t inner = 20 + (quote < (size_t)n ? quote : (size_t)n);
    size_t h = ipv4_header(pkt, 0, 8 + inner, 255, us4, us4);

    icmp = pkt + h;
    memset(icmp, 0, 8);
    icmp[0] = type;
    icmp[1] = code;
    ipv4_header(icmp + 8, 0, (size_t)n, 1, us4, target4); /* what we sent */
    memcpy(icmp + 28, req, inner - 20);
    fix_checksum(icmp, 8 + inner);
    return h + 8 + inner;
}

START_TEST(unreachable_recognised)
{
    uint8_t pkt[600], err6[8 + 40 + PROBE_ICMP_PKT_MAX], req[PROBE_ICMP_PKT_MAX];
    struct probe_icmp_msg m;
    char why[PROTO_WHY_MAX + 1];
    size_t len = unreachable4(pkt, 3, 1, 1000);
    int n;

    ck_assert_int_eq(probe_icmp_parse(pkt, len, PROBE_ICMP_RAW4, IDENT, cookie, &m), 0);
    ck_assert_int_eq(m.kind, PROBE_ICMP_UNREACH);
    ck_assert_uint_eq(m.code, 1);
    ck_assert_uint_eq(m.seq, SEQ);
    ck_assert_int_eq(m.has_task, 1);
    ck_assert_uint_eq(m.task_id, TASK_ID);
    ck_assert_int_eq(m.dst_family, AF_INET);
    ck_assert_mem_eq(m.dst, target4, 4);
    probe_icmp_why(0, m.kind, m.code, "198.18.0.1", why, sizeof(why));
    ck_assert_str_eq(why, "host unreachable from 198.18.0.1");
    probe_icmp_why(0, PROBE_ICMP_UNREACH, 0, "198.18.0.1", why, sizeof(why));
    ck_assert_str_eq(why, "net unreachable from 198.18.0.1");
    probe_icmp_why(0, PROBE_ICMP_UNREACH, 13, "198.18.0.1", why, sizeof(why));
    ck_assert_str_eq(why, "administratively prohibited from 198.18.0.1");
    probe_icmp_why(1, PROBE_ICMP_UNREACH, 3, "fd49::1", why, sizeof(why));
    ck_assert_str_eq(why, "address unreachable from fd49::1");
    probe_icmp_why(0, PROBE_ICMP_UNREACH, 99, "x", why, sizeof(why));
    ck_assert_str_eq(why, "unreachable (code 99) from x");

    /* RFC 792's minimum quote, 8 octets: ours by identifier alone. */
    len = unreachable4(pkt, 3, 0, 8);
    ck_assert_int_eq(probe_icmp_parse(pkt, len, PROBE_ICMP_RAW4, IDENT, cookie, &m), 0);
    ck_assert_int_eq(m.has_task, 0);
    ck_assert_uint_eq(m.seq, SEQ);
    /* Time exceeded in transit. */
    len = unreachable4(pkt, 11, 0, 1000);
    ck_assert_int_eq(probe_icmp_parse(pkt, len, PROBE_ICMP_RAW4, IDENT, cookie, &m), 0);
    ck_assert_int_eq(m.kind, PROBE_ICMP_EXCEEDED);
    /* Quoting someone else's request: not ours. */
    len = unreachable4(pkt, 3, 1, 1000);
    pkt[20 + 8 + 20 + 8] ^= 1; /* the cookie */
    fix_checksum(pkt + 20, len - 20);
    ck_assert_int_eq(probe_icmp_parse(pkt, len, PROBE_ICMP_RAW4, IDENT, cookie, &m),
                     -ENOENT);
    /* A redirect (type 5) is not about our attempt. */
    len = unreachable4(pkt, 5, 1, 1000);
    ck_assert_int_eq(probe_icmp_parse(pkt, len, PROBE_ICMP_RAW4, IDENT, cookie, &m),
                     -ENOENT);
    /* Cut anywhere: refused, or at most without our data. */
    len = unreachable4(pkt, 3, 1, 1000);
    for (size_t l = 0; l < len; l++) {
        int rc = probe_icmp_parse(pkt, l, PROBE_ICMP_RAW4, IDENT, cookie, &m);

        ck_assert(rc == -EBADMSG || rc == -ENOENT);
    }

    /* ICMPv6 (RFC 4443 3.1): no route, our IPv6 header quoted. */
    n = request(req, 1, 56);
    memset(err6, 0, sizeof(err6));
    err6[0] = 1;
    err6[8] = 0x60;
    put16(err6 + 8 + 4, (uint16_t)n);
    err6[8 + 6] = IPPROTO_ICMPV6;
    err6[8 + 7] = 64;
    memcpy(err6 + 8 + 24, target6, 16);
    memcpy(err6 + 48, req, (size_t)n);
    ck_assert_int_eq(
        probe_icmp_parse(err6, 48 + (size_t)n, PROBE_ICMP_RAW6, IDENT, cookie, &m), 0);
    ck_assert_int_eq(m.kind, PROBE_ICMP_UNREACH);
    ck_assert_int_eq(m.dst_family, AF_INET6);
    ck_assert_mem_eq(m.dst, target6, 16);
    ck_assert_uint_eq(m.task_id, TASK_ID);
    err6[8 + 6] = 44; /* a fragment header first: we send none */
    ck_assert_int_eq(
        probe_icmp_parse(err6, 48 + (size_t)n, PROBE_ICMP_RAW6, IDENT, cookie, &m),
        -ENOENT);

    /* A ping socket's error queue hands back our request alone. */
    n = request(req, 0, 56);
    put16(req + 4, 999); /* the kernel's identifier */
    ck_assert_int_eq(probe_icmp_parse_quoted(req, (size_t)n, 0, cookie, &m), 0);
    ck_assert_uint_eq(m.seq, SEQ);
    ck_assert_uint_eq(m.task_id, TASK_ID);
    ck_assert_int_eq(probe_icmp_parse_quoted(req, 8, 0, cookie, &m), 0);
    ck_assert_int_eq(m.has_task, 0);
    ck_assert_int_eq(probe_icmp_parse_quoted(req, 7, 0, cookie, &m), -EBADMSG);
    ck_assert_int_eq(probe_icmp_parse_quoted(req, (size_t)n, 0, other_cookie, &m),
                     -ENOENT);
    ck_assert_int_eq(probe_icmp_kind(0, 3), PROBE_ICMP_UNREACH);
    ck_assert_int_eq(probe_icmp_kind(1, 3), PROBE_ICMP_EXCEEDED);
    ck_assert_int_eq(probe_icmp_kind(1, 1), PROBE_ICMP_UNREACH);
    ck_assert_int_eq(probe_icmp_kind(0, 5), 0);
}
END_TEST

Suite *icmp_suite(void)
{
    Suite *s = suite_create("icmp");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, request_layout);
    tcase_add_test(tc, raw4_round_trip);
    tcase_add_test(tc, ping4_round_trip);
    tcase_add_test(tc, v6_round_trip);
    tcase_add_test(tc, strangers_refused);
    tcase_add_test(tc, truncated_refused);
    tcase_add_test(tc, unreachable_recognised);
    suite_add_tcase(s, tc);
    return s;
}
