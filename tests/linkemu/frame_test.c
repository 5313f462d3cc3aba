/*
 * frame_test.c - which frames the impairments apply to: exactly IPv4 and
 * IPv6 UDP and ICMP or ICMPv6 echo, behind no or one VLAN tag.  Address
 * resolution, TCP, other ICMP, extension headers and frames cut short are
 * only delayed.  Every input sits in a buffer of exactly its length, so the
 * sanitizer build catches a read past the end.
 */
#include <stdlib.h>
#include <string.h>

#include "check_linkemu.h"
#include "linkemu.h"

enum { V4, V6 };

/* The frame built by the last frame_*() call. */
static uint8_t fb[256];

static size_t put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

static size_t put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    return 2 + put16(p + 2, (uint16_t)v);
}

/* Ethernet II (IEEE 802.3 clause 3), with one 802.1Q tag when vlan. */
static size_t eth(uint8_t *p, int vlan, uint16_t type)
{
    size_t n = 12;

    memset(p, 0, 12);
    p[0] = 0x02; /* locally administered */
    p[6] = 0x02;
    p[11] = 0x01;
    if (vlan) {
        n += put16(p + n, 0x8100);
        n += put16(p + n, 42);
    }
    n += put16(p + n, type);
    return n;
}

/* An IPv4 header of ihl words (5: no options) carrying proto. */
static size_t ipv4(uint8_t *p, unsigned ihl, uint8_t proto, uint16_t frag)
{
    memset(p, 0, ihl * 4);
    p[0] = (uint8_t)(0x40 | ihl);
    put16(p + 6, frag);
    p[8] = 64;
    p[9] = proto;
    p[12] = 198, p[13] = 18, p[15] = 1;
    p[16] = 198, p[17] = 18, p[19] = 2;
    if (ihl > 5)
        p[20] = 1; /* NOP options */
    return ihl * 4;
}

static size_t ipv6(uint8_t *p, uint8_t next)
{
    memset(p, 0, 40);
    p[0] = 0x60;
    p[6] = next;
    p[7] = 64;
    p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 1;
    p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 2;
    return 40;
}

/* An 8-octet transport header: UDP ports, or an ICMP type and code. */
static size_t l4(uint8_t *p, uint8_t first, uint8_t second)
{
    memset(p, 0, 8);
    p[0] = first;
    p[1] = second;
    return 8;
}

static size_t frame_udp(int fam, int vlan)
{
    size_t n = eth(fb, vlan, fam == V4 ? 0x0800 : 0x86dd);

    n += fam == V4 ? ipv4(fb + n, 5, 17, 0) : ipv6(fb + n, 17);
    return n + l4(fb + n, 0x10, 0x00);
}

static size_t frame_icmp(int fam, int vlan, uint8_t type)
{
    size_t n = eth(fb, vlan, fam == V4 ? 0x0800 : 0x86dd);

    n += fam == V4 ? ipv4(fb + n, 5, 1, 0) : ipv6(fb + n, 58);
    return n + l4(fb + n, type, 0);
}

/* Classifies the first len octets of fb from a buffer of exactly len. */
static int eligible(size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    int e;

    ck_assert_ptr_nonnull(p);
    memcpy(p, fb, len);
    e = le_frame_eligible(p, len);
    free(p);
    ck_assert_msg(e == 0 || e == 1, "le_frame_eligible gave %d", e);
    return e;
}

/* Eligible whole, with a payload after it, and at no shorter length. */
static void assert_eligible_only_whole(size_t len, const char *what)
{
    ck_assert_msg(eligible(len), "%s: not eligible", what);
    memset(fb + len, 0xa5, 64);
    ck_assert_msg(eligible(len + 64), "%s + payload: not eligible", what);
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_msg(!eligible(cut), "%s cut to %zu of %zu octets: eligible", what, cut,
                      len);
}

START_TEST(udp_and_echo_eligible)
{
    for (int vlan = 0; vlan <= 1; vlan++) {
        assert_eligible_only_whole(frame_udp(V4, vlan), "IPv4 UDP");
        assert_eligible_only_whole(frame_udp(V6, vlan), "IPv6 UDP");
        assert_eligible_only_whole(frame_icmp(V4, vlan, 8), "ICMP echo");
        assert_eligible_only_whole(frame_icmp(V4, vlan, 0), "ICMP echo reply");
        assert_eligible_only_whole(frame_icmp(V6, vlan, 128), "ICMPv6 echo");
        assert_eligible_only_whole(frame_icmp(V6, vlan, 129), "ICMPv6 echo reply");
    }
}
END_TEST

/* IPv4 options move the transport header; its type is read behind them. */
START_TEST(ipv4_options)
{
    for (unsigned ihl = 6; ihl <= 15; ihl++) {
        size_t n = eth(fb, 0, 0x0800);

        n += ipv4(fb + n, ihl, 1, 0);
        n += l4(fb + n, 8, 0);
        assert_eligible_only_whole(n, "ICMP echo with options");
        fb[14 + ihl * 4] = 3; /* destination unreachable */
        ck_assert(!eligible(n));
        fb[14 + 9] = 17;
        assert_eligible_only_whole(n, "UDP with options");
    }
    /* A header length below the minimum is no IPv4 header. */
    for (unsigned ihl = 0; ihl < 5; ihl++) {
        frame_udp(V4, 0);
        fb[14] = (uint8_t)(0x40 | ihl);
        ck_assert(!eligible(64));
    }
}
END_TEST

/* RFC 791 3.1: only a first fragment carries the ICMP type. */
START_TEST(ipv4_fragments)
{
    size_t n = frame_udp(V4, 0);

    put16(fb + 14 + 6, 0x2000); /* first fragment, more to come */
    assert_eligible_only_whole(n, "first UDP fragment");
    put16(fb + 14 + 6, 0x00b9); /* a later one: no UDP header in it */
    assert_eligible_only_whole(14 + 20, "later UDP fragment");
    n = frame_icmp(V4, 0, 8);
    put16(fb + 14 + 6, 0x2000);
    assert_eligible_only_whole(n, "first ICMP fragment");
    for (uint16_t off = 1; off != 0 && off <= 0x1fff; off = (uint16_t)(off * 3)) {
        put16(fb + 14 + 6, off);
        ck_assert_msg(!eligible(n + 64), "later ICMP fragment %u eligible", off);
    }
    put16(fb + 14 + 6, 0x4000); /* don't fragment changes nothing */
    ck_assert(eligible(n));
}
END_TEST

START_TEST(other_icmp_not_eligible)
{
    for (int vlan = 0; vlan <= 1; vlan++) {
        for (unsigned t = 0; t < 256; t++) {
            frame_icmp(V4, vlan, (uint8_t)t);
            ck_assert_int_eq(eligible(100), t == 0 || t == 8);
            frame_icmp(V6, vlan, (uint8_t)t);
            ck_assert_int_eq(eligible(100), t == 128 || t == 129);
        }
    }
}
END_TEST

/* Address resolution must never be lost, so it is never eligible. */
START_TEST(arp_and_neighbour_discovery)
{
    static const uint8_t nd[] = {133, 134, 135, 136, 137};
    size_t n;

    for (int vlan = 0; vlan <= 1; vlan++) {
        n = eth(fb, vlan, 0x0806);
        memset(fb + n, 0x11, 28);
        ck_assert(!eligible(n + 28));
        /* ARP octets that would read as IPv4 UDP if mistaken for it. */
        ipv4(fb + n, 5, 17, 0);
        ck_assert(!eligible(n + 64));
        for (size_t k = 0; k < sizeof(nd); k++) {
            n = frame_icmp(V6, vlan, nd[k]);
            ck_assert(!eligible(n + 24));
        }
    }
    ck_assert(!eligible(test_frame_arp(fb, 7)));
}
END_TEST

START_TEST(other_protocols_not_eligible)
{
    static const uint8_t protos[] = {0,  2,  4,  6,  41,  43,  44,
                                     47, 50, 51, 60, 132, 136, 255};
    static const uint16_t types[] = {0x0000, 0x0801, 0x86dc, 0x88a8, 0x88cc,
                                     0x8847, 0x9100, 0x0600, 0xffff};
    size_t n;

    for (int vlan = 0; vlan <= 1; vlan++) {
        for (size_t k = 0; k < sizeof(protos); k++) {
            n = eth(fb, vlan, 0x0800);
            n += ipv4(fb + n, 5, protos[k], 0);
            ck_assert_msg(!eligible(n + 40), "IPv4 protocol %u eligible", protos[k]);
            /* IPv6: TCP, and UDP behind an extension header, are not. */
            n = eth(fb, vlan, 0x86dd);
            n += ipv6(fb + n, protos[k]);
            fb[n] = 17;
            ck_assert_msg(!eligible(n + 40), "IPv6 next header %u eligible", protos[k]);
        }
        /* The version inside must match the EtherType. */
        n = frame_udp(V4, vlan);
        fb[vlan ? 18 : 14] = 0x65;
        ck_assert(!eligible(n + 40));
        n = frame_udp(V6, vlan);
        fb[vlan ? 18 : 14] = 0x45;
        ck_assert(!eligible(n + 40));
    }
    /* Other EtherTypes (QinQ among them), and two VLAN tags. */
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        n = frame_udp(V4, 0);
        put16(fb + 12, types[k]);
        ck_assert_msg(!eligible(n), "EtherType %04x eligible", types[k]);
    }
    n = eth(fb, 1, 0x8100);
    n += put16(fb + n, 7);
    n += put16(fb + n, 0x0800);
    n += ipv4(fb + n, 5, 17, 0);
    n += l4(fb + n, 0, 0);
    ck_assert(!eligible(n));
}
END_TEST

/* Noise of every length, each in an exact buffer: 0 or 1 and no overread. */
START_TEST(random_octets_stay_in_bounds)
{
    uint32_t x = 2463534242u;

    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(round % 97);

        for (size_t k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            fb[k] = (uint8_t)x;
        }
        /* Now and then a plausible start, so the IP decoders run too. */
        if (round % 3 == 0 && len >= 15) {
            put16(fb + 12, (round & 4) ? 0x86dd : 0x0800);
            fb[14] = (uint8_t)((round & 4) ? 0x60 : 0x40 | (fb[14] & 0x0f));
        }
        eligible(len);
    }
}
END_TEST

size_t test_frame_udp4(uint8_t *buf, uint32_t tag)
{
    size_t n = eth(buf, 0, 0x0800);

    n += ipv4(buf + n, 5, 17, 0);
    n += l4(buf + n, 0x30, 0x39);
    if (tag != 0)
        n += put32(buf + n, tag);
    return n;
}

size_t test_frame_arp(uint8_t *buf, uint32_t tag)
{
    size_t n = eth(buf, 0, 0x0806);

    /* RFC 826: Ethernet, IPv4, a request. */
    memset(buf + n, 0, 28);
    put16(buf + n, 1);
    put16(buf + n + 2, 0x0800);
    buf[n + 4] = 6;
    buf[n + 5] = 4;
    put16(buf + n + 6, 1);
    n += 28;
    if (tag != 0)
        n += put32(buf + n, tag);
    return n;
}

uint32_t test_frame_tag(const uint8_t *buf, size_t len)
{
    const uint8_t *p = buf + len - 4;

    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

START_TEST(link_suite_frames)
{
    uint8_t buf[128];
    size_t n = test_frame_udp4(buf, 0x01020304);

    ck_assert_uint_eq(n, 14 + 20 + 8 + 4);
    ck_assert(le_frame_eligible(buf, n));
    ck_assert_uint_eq(test_frame_tag(buf, n), 0x01020304);
    n = test_frame_arp(buf, 77);
    ck_assert(!le_frame_eligible(buf, n));
    ck_assert_uint_eq(test_frame_tag(buf, n), 77);
}
END_TEST

Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("frame");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, udp_and_echo_eligible);
    tcase_add_test(tc, ipv4_options);
    tcase_add_test(tc, ipv4_fragments);
    tcase_add_test(tc, other_icmp_not_eligible);
    tcase_add_test(tc, arp_and_neighbour_discovery);
    tcase_add_test(tc, other_protocols_not_eligible);
    tcase_add_test(tc, random_octets_stay_in_bounds);
    tcase_add_test(tc, link_suite_frames);
    suite_add_tcase(s, tc);
    return s;
}
