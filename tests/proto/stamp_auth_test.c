/*
 * stamp_auth_test.c - STAMP authenticated mode (RFC 8762 4.2.2, 4.3.2) with
 * the SSID of RFC 8972 3, against packets written out octet by octet.
 *
 * The HMAC octets below were computed apart from this code, with Python's
 * hmac module over the hand-built octets 0-95 (key 00 01 .. 1f):
 *   hmac.new(key, octets_0_95, hashlib.sha256).digest()[:16]
 * proto.stamp_hmac does the same at run time with openssl dgst.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check_proto.h"
#include "proto.h"

static const uint8_t key[PROTO_STAMP_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

/*
 * Session-Sender packet, authenticated mode, RFC 8762 4.2.2 Figure 3 with
 * RFC 8972 3 Figure 3's SSID: the values of stamp_test.c's sender_pkt.
 */
static const uint8_t sender_pkt[PROTO_STAMP_AUTH_LEN] = {
    0x01,        0x02, 0x03, 0x04, /* 0-3 Sequence Number */
    0,           0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, /* 4-15 MBZ */
    0x83,        0xaa, 0x7e, 0x80, 0x80, 0x00, 0x00, 0x00, /* 16-23 Timestamp */
    0x95,        0xa7,                                     /* 24-25 Error Estimate */
    0xbe,        0xef,                                     /* 26-27 SSID */
    [28] = 0,                                              /* 28-95 MBZ */
    [96] = 0x01, 0x62, 0x03, 0x8a, 0xaf, 0x3d, 0x34, 0xf3, /* 96-111 HMAC */
    0xf7,        0x58, 0x1a, 0x41, 0xf2, 0x89, 0x4e, 0xa9,
};

static const struct proto_stamp_sender sender_val = {
    .seq = 0x01020304,
    .ts = 0x83aa7e8080000000ull,
    .err = {.sync = 1, .ptp = 0, .scale = 21, .mult = 167},
    .ssid = 0xbeef,
};

/* Session-Reflector packet, authenticated mode, RFC 8762 4.3.2 Figure 5. */
static const uint8_t reflector_pkt[PROTO_STAMP_AUTH_LEN] = {
    0xde,        0xad, 0xbe, 0xef, /* 0-3 Sequence Number */
    0,           0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, /* 4-15 MBZ */
    0xe9,        0xb1, 0xf2, 0xc3, 0x12, 0x34, 0x56, 0x78, /* 16-23 Timestamp */
    0x7f,        0x01,                                     /* 24-25 Error Estimate */
    0xbe,        0xef,                                     /* 26-27 SSID */
    0,           0,    0,    0,                            /* 28-31 MBZ */
    0xe9,        0xb1, 0xf2, 0xc3, 0x00, 0xab, 0xcd, 0xef, /* 32-39 Receive Timestamp */
    0,           0,    0,    0,    0,    0,    0,    0,    /* 40-47 MBZ */
    0x01,        0x02, 0x03, 0x04,                         /* 48-51 Session-Sender Seq */
    0,           0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, /* 52-63 MBZ */
    0x83,        0xaa, 0x7e, 0x80, 0x80, 0x00, 0x00, 0x00, /* 64-71 Session-Sender
                                                              Timestamp */
    0x95,        0xa7,                      /* 72-73 Session-Sender Err Est */
    0,           0,    0,    0,    0,    0, /* 74-79 MBZ */
    0x40,                                   /* 80 Session-Sender TTL */
    [81] = 0,                               /* 81-95 MBZ */
    [96] = 0x46, 0x45, 0xd5, 0xf8, 0x00, 0x95, 0x36, 0x9b, /* 96-111 HMAC */
    0x61,        0x37, 0xea, 0xfb, 0x58, 0xbb, 0xb5, 0x07,
};

static const struct proto_stamp_reflector reflector_val = {
    .seq = 0xdeadbeef,
    .ts = 0xe9b1f2c312345678ull,
    .err = {.sync = 0, .ptp = 1, .scale = 63, .mult = 1},
    .ssid = 0xbeef,
    .rx_ts = 0xe9b1f2c300abcdefull,
    .sender_seq = 0x01020304,
    .sender_ts = 0x83aa7e8080000000ull,
    .sender_err = {.sync = 1, .ptp = 0, .scale = 21, .mult = 167},
    .sender_ttl = 64,
};

static void assert_bytes(const uint8_t *got, const uint8_t *want, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "octet %zu: got 0x%02x, want 0x%02x", i, got[i],
                      want[i]);
}

static void assert_sender(const struct proto_stamp_sender *a,
                          const struct proto_stamp_sender *b)
{
    ck_assert_uint_eq(a->seq, b->seq);
    ck_assert_uint_eq(a->ts, b->ts);
    ck_assert_uint_eq(proto_stamp_errest_pack(&a->err), proto_stamp_errest_pack(&b->err));
    ck_assert_uint_eq(a->ssid, b->ssid);
}

static void assert_reflector(const struct proto_stamp_reflector *a,
                             const struct proto_stamp_reflector *b)
{
    ck_assert_uint_eq(a->seq, b->seq);
    ck_assert_uint_eq(a->ts, b->ts);
    ck_assert_uint_eq(proto_stamp_errest_pack(&a->err), proto_stamp_errest_pack(&b->err));
    ck_assert_uint_eq(a->ssid, b->ssid);
    ck_assert_uint_eq(a->rx_ts, b->rx_ts);
    ck_assert_uint_eq(a->sender_seq, b->sender_seq);
    ck_assert_uint_eq(a->sender_ts, b->sender_ts);
    ck_assert_uint_eq(proto_stamp_errest_pack(&a->sender_err),
                      proto_stamp_errest_pack(&b->sender_err));
    ck_assert_uint_eq(a->sender_ttl, b->sender_ttl);
}

START_TEST(sender_encode_matches_rfc_layout)
{
    uint8_t buf[PROTO_STAMP_AUTH_LEN];

    memset(buf, 0xaa, sizeof(buf));
    ck_assert_int_eq(proto_stamp_sender_encode_auth(&sender_val, key, buf, sizeof(buf)),
                     PROTO_STAMP_AUTH_LEN);
    assert_bytes(buf, sender_pkt, sizeof(buf));
}
END_TEST

START_TEST(reflector_encode_matches_rfc_layout)
{
    uint8_t buf[PROTO_STAMP_AUTH_LEN];

    memset(buf, 0xaa, sizeof(buf));
    ck_assert_int_eq(
        proto_stamp_reflector_encode_auth(&reflector_val, key, buf, sizeof(buf)),
        PROTO_STAMP_AUTH_LEN);
    assert_bytes(buf, reflector_pkt, sizeof(buf));
}
END_TEST

START_TEST(decoders_read_rfc_layout)
{
    struct proto_stamp_reflector r;
    struct proto_stamp_sender s;

    ck_assert_int_eq(
        proto_stamp_sender_decode_auth(sender_pkt, sizeof(sender_pkt), key, &s), 0);
    assert_sender(&s, &sender_val);
    ck_assert_int_eq(
        proto_stamp_reflector_decode_auth(reflector_pkt, sizeof(reflector_pkt), key, &r),
        0);
    assert_reflector(&r, &reflector_val);
}
END_TEST

/* The packet's own HMAC, as a function of its own, over octets 0-95. */
START_TEST(hmac_known_answer)
{
    uint8_t mac[PROTO_STAMP_HMAC_LEN];

    ck_assert_int_eq(proto_stamp_hmac(key, sender_pkt, 96, mac), 0);
    assert_bytes(mac, sender_pkt + 96, sizeof(mac));
    ck_assert_int_eq(proto_stamp_hmac(key, reflector_pkt, 96, mac), 0);
    assert_bytes(mac, reflector_pkt + 96, sizeof(mac));
}
END_TEST

/*
 * Every single bit flipped anywhere in octets 0-111, fields and MBZ and
 * the HMAC itself, is refused with -EACCES and the output left alone.
 */
START_TEST(every_bit_flip_is_refused)
{
    struct proto_stamp_reflector r, r0;
    struct proto_stamp_sender s, s0;
    uint8_t buf[PROTO_STAMP_AUTH_LEN];
    int bit;

    memset(&s0, 0x5a, sizeof(s0));
    memset(&r0, 0x5a, sizeof(r0));
    for (bit = 0; bit < PROTO_STAMP_AUTH_LEN * 8; bit++) {
        s = s0;
        r = r0;
        memcpy(buf, sender_pkt, sizeof(buf));
        buf[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
        if (proto_stamp_sender_decode_auth(buf, sizeof(buf), key, &s) != -EACCES ||
            memcmp(&s, &s0, sizeof(s)) != 0)
            ck_abort_msg("sender: flipped bit %d was accepted", bit);
        memcpy(buf, reflector_pkt, sizeof(buf));
        buf[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
        if (proto_stamp_reflector_decode_auth(buf, sizeof(buf), key, &r) != -EACCES ||
            memcmp(&r, &r0, sizeof(r)) != 0)
            ck_abort_msg("reflector: flipped bit %d was accepted", bit);
    }
}
END_TEST

START_TEST(wrong_key_is_refused)
{
    uint8_t other[PROTO_STAMP_KEY_LEN];
    struct proto_stamp_reflector r;
    struct proto_stamp_sender s;
    int i;

    for (i = 0; i < PROTO_STAMP_KEY_LEN; i++) {
        memcpy(other, key, sizeof(other));
        other[i] ^= 1;
        ck_assert_int_eq(
            proto_stamp_sender_decode_auth(sender_pkt, sizeof(sender_pkt), other, &s),
            -EACCES);
        ck_assert_int_eq(proto_stamp_reflector_decode_auth(
                             reflector_pkt, sizeof(reflector_pkt), other, &r),
                         -EACCES);
    }
}
END_TEST

/* An unauthenticated packet is not an authenticated one, padded or not. */
START_TEST(unauthenticated_packet_is_refused)
{
    uint8_t buf[PROTO_STAMP_AUTH_LEN];
    struct proto_stamp_sender in = sender_val, s;

    ck_assert_int_eq(proto_stamp_sender_encode(&in, buf, sizeof(buf)), (int)sizeof(buf));
    ck_assert_int_eq(proto_stamp_sender_decode_auth(buf, sizeof(buf), key, &s), -EACCES);
}
END_TEST

START_TEST(short_input_and_buffers)
{
    uint8_t buf[PROTO_STAMP_AUTH_LEN];
    struct proto_stamp_reflector r;
    struct proto_stamp_sender s;
    size_t len;

    for (len = 0; len < PROTO_STAMP_AUTH_LEN; len++) {
        ck_assert_int_eq(proto_stamp_sender_decode_auth(sender_pkt, len, key, &s),
                         -EBADMSG);
        ck_assert_int_eq(proto_stamp_reflector_decode_auth(reflector_pkt, len, key, &r),
                         -EBADMSG);
        memset(buf, 0xaa, sizeof(buf));
        ck_assert_int_eq(proto_stamp_sender_encode_auth(&sender_val, key, buf, len),
                         -ENOBUFS);
        ck_assert_int_eq(proto_stamp_reflector_encode_auth(&reflector_val, key, buf, len),
                         -ENOBUFS);
        ck_assert_uint_eq(buf[0], 0xaa);
    }
    ck_assert_int_eq(proto_stamp_sender_decode_auth(NULL, 0, key, &s), -EBADMSG);
}
END_TEST

/* Past octet 111: zero padding on the way out, ignored on the way in (the
 * TLVs there have their own HMAC TLV, RFC 8972 4.8). */
START_TEST(padding_is_zero_and_outside_the_hmac)
{
    uint8_t buf[300];
    struct proto_stamp_reflector r;
    struct proto_stamp_sender s;
    size_t i, len = 257;

    memset(buf, 0xaa, sizeof(buf));
    ck_assert_int_eq(proto_stamp_sender_encode_auth(&sender_val, key, buf, len),
                     (int)len);
    assert_bytes(buf, sender_pkt, PROTO_STAMP_AUTH_LEN);
    for (i = PROTO_STAMP_AUTH_LEN; i < len; i++)
        ck_assert_uint_eq(buf[i], 0);
    ck_assert_uint_eq(buf[len], 0xaa);
    memset(buf + PROTO_STAMP_AUTH_LEN, 0xee, len - PROTO_STAMP_AUTH_LEN);
    ck_assert_int_eq(proto_stamp_sender_decode_auth(buf, len, key, &s), 0);
    assert_sender(&s, &sender_val);

    ck_assert_int_eq(proto_stamp_reflector_encode_auth(&reflector_val, key, buf, len),
                     (int)len);
    assert_bytes(buf, reflector_pkt, PROTO_STAMP_AUTH_LEN);
    memset(buf + PROTO_STAMP_AUTH_LEN, 0xee, len - PROTO_STAMP_AUTH_LEN);
    ck_assert_int_eq(proto_stamp_reflector_decode_auth(buf, len, key, &r), 0);
    assert_reflector(&r, &reflector_val);
}
END_TEST

static uint64_t rng(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static struct proto_stamp_errest errest_from(uint64_t v)
{
    struct proto_stamp_errest e;

    proto_stamp_errest_unpack((uint16_t)v, &e);
    return e;
}

START_TEST(random_round_trips)
{
    uint8_t buf[PROTO_STAMP_AUTH_LEN];
    struct proto_stamp_reflector r, r2;
    struct proto_stamp_sender s, s2;
    uint64_t x = 11;
    int k;

    for (k = 0; k < 2000; k++) {
        s = (struct proto_stamp_sender){.seq = (uint32_t)rng(&x),
                                        .ts = rng(&x),
                                        .err = errest_from(rng(&x)),
                                        .ssid = (uint16_t)rng(&x)};
        r = (struct proto_stamp_reflector){.seq = (uint32_t)rng(&x),
                                           .ts = rng(&x),
                                           .err = errest_from(rng(&x)),
                                           .ssid = s.ssid,
                                           .rx_ts = rng(&x),
                                           .sender_seq = s.seq,
                                           .sender_ts = s.ts,
                                           .sender_err = s.err,
                                           .sender_ttl = (uint8_t)rng(&x)};
        ck_assert_int_eq(proto_stamp_sender_encode_auth(&s, key, buf, sizeof(buf)),
                         PROTO_STAMP_AUTH_LEN);
        ck_assert_int_eq(proto_stamp_sender_decode_auth(buf, sizeof(buf), key, &s2), 0);
        assert_sender(&s2, &s);
        ck_assert_int_eq(proto_stamp_reflector_encode_auth(&r, key, buf, sizeof(buf)),
                         PROTO_STAMP_AUTH_LEN);
        ck_assert_int_eq(proto_stamp_reflector_decode_auth(buf, sizeof(buf), key, &r2),
                         0);
        assert_reflector(&r2, &r);
    }
}
END_TEST

Suite *stamp_auth_suite(void)
{
    Suite *s = suite_create("stamp_auth");
    TCase *tc = tcase_create("packets");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sender_encode_matches_rfc_layout);
    tcase_add_test(tc, reflector_encode_matches_rfc_layout);
    tcase_add_test(tc, decoders_read_rfc_layout);
    tcase_add_test(tc, hmac_known_answer);
    tcase_add_test(tc, every_bit_flip_is_refused);
    tcase_add_test(tc, wrong_key_is_refused);
    tcase_add_test(tc, unauthenticated_packet_is_refused);
    tcase_add_test(tc, short_input_and_buffers);
    tcase_add_test(tc, padding_is_zero_and_outside_the_hmac);
    tcase_add_test(tc, random_round_trips);
    suite_add_tcase(s, tc);
    return s;
}
