/*
 * stamp_test.c - STAMP packets (RFC 8762) against packets built by hand from
 * the RFC's figures, and the NTP timestamp helpers.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check_proto.h"
#include "proto.h"

/*
 * Session-Sender packet, RFC 8762 4.2.1 Figure 2, written out octet by octet:
 * seq 0x01020304; timestamp 0x83AA7E80.80000000 (Unix 0 plus half a second);
 * Error Estimate S=1 Z=0 Scale=21 Multiplier=167 (1 0 010101 10100111);
 * SSID 0xBEEF (RFC 8972 3, Figure 1).
 */
static const uint8_t sender_pkt[PROTO_STAMP_BASE_LEN] = {
    0x01, 0x02, 0x03, 0x04,                         /* 0-3 Sequence Number */
    0x83, 0xaa, 0x7e, 0x80, 0x80, 0x00, 0x00, 0x00, /* 4-11 Timestamp */
    0x95, 0xa7,                                     /* 12-13 Error Estimate */
    0xbe, 0xef,                                     /* 14-15 SSID */
    /* 16-43 MBZ */
};

static const struct proto_stamp_sender sender_val = {
    .seq = 0x01020304,
    .ts = 0x83aa7e8080000000ull,
    .err = {.sync = 1, .ptp = 0, .scale = 21, .mult = 167},
    .ssid = 0xbeef,
};

/*
 * Session-Reflector packet, RFC 8762 4.3.1 Figure 4: seq 0xDEADBEEF;
 * timestamp 0xE9B1F2C3.12345678; Error Estimate S=0 Z=1 Scale=63 Mult=1;
 * SSID 0xBEEF copied from the request (RFC 8972 3, Figure 2); receive
 * timestamp 0xE9B1F2C3.00ABCDEF; the sender's fields copied from
 * sender_pkt; Session-Sender TTL 64.
 */
static const uint8_t reflector_pkt[PROTO_STAMP_BASE_LEN] = {
    0xde, 0xad, 0xbe, 0xef,                         /* 0-3 Sequence Number */
    0xe9, 0xb1, 0xf2, 0xc3, 0x12, 0x34, 0x56, 0x78, /* 4-11 Timestamp */
    0x7f, 0x01,                                     /* 12-13 Error Estimate */
    0xbe, 0xef,                                     /* 14-15 SSID */
    0xe9, 0xb1, 0xf2, 0xc3, 0x00, 0xab, 0xcd, 0xef, /* 16-23 Receive Timestamp */
    0x01, 0x02, 0x03, 0x04,                         /* 24-27 Session-Sender Seq */
    0x83, 0xaa, 0x7e, 0x80, 0x80, 0x00, 0x00, 0x00, /* 28-35 Session-Sender Timestamp */
    0x95, 0xa7,                                     /* 36-37 Session-Sender Err Est */
    0x00, 0x00,                                     /* 38-39 MBZ */
    0x40,                                           /* 40 Session-Sender TTL */
    0x00, 0x00, 0x00,                               /* 41-43 MBZ */
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

static void assert_errest(const struct proto_stamp_errest *a,
                          const struct proto_stamp_errest *b)
{
    ck_assert_uint_eq(a->sync, b->sync);
    ck_assert_uint_eq(a->ptp, b->ptp);
    ck_assert_uint_eq(a->scale, b->scale);
    ck_assert_uint_eq(a->mult, b->mult);
}

static void assert_reflector(const struct proto_stamp_reflector *a,
                             const struct proto_stamp_reflector *b)
{
    ck_assert_uint_eq(a->seq, b->seq);
    ck_assert_uint_eq(a->ts, b->ts);
    assert_errest(&a->err, &b->err);
    ck_assert_uint_eq(a->ssid, b->ssid);
    ck_assert_uint_eq(a->rx_ts, b->rx_ts);
    ck_assert_uint_eq(a->sender_seq, b->sender_seq);
    ck_assert_uint_eq(a->sender_ts, b->sender_ts);
    assert_errest(&a->sender_err, &b->sender_err);
    ck_assert_uint_eq(a->sender_ttl, b->sender_ttl);
}

START_TEST(sender_encode_matches_rfc_layout)
{
    uint8_t buf[PROTO_STAMP_BASE_LEN];

    memset(buf, 0xaa, sizeof(buf));
    ck_assert_int_eq(proto_stamp_sender_encode(&sender_val, buf, sizeof(buf)),
                     PROTO_STAMP_BASE_LEN);
    assert_bytes(buf, sender_pkt, sizeof(buf));
}
END_TEST

START_TEST(sender_decode_matches_rfc_layout)
{
    struct proto_stamp_sender m;

    memset(&m, 0xaa, sizeof(m));
    ck_assert_int_eq(proto_stamp_sender_decode(sender_pkt, sizeof(sender_pkt), &m), 0);
    ck_assert_uint_eq(m.seq, sender_val.seq);
    ck_assert_uint_eq(m.ts, sender_val.ts);
    assert_errest(&m.err, &sender_val.err);
    ck_assert_uint_eq(m.ssid, sender_val.ssid);
}
END_TEST

START_TEST(reflector_encode_matches_rfc_layout)
{
    uint8_t buf[PROTO_STAMP_BASE_LEN];

    memset(buf, 0xaa, sizeof(buf));
    ck_assert_int_eq(proto_stamp_reflector_encode(&reflector_val, buf, sizeof(buf)),
                     PROTO_STAMP_BASE_LEN);
    assert_bytes(buf, reflector_pkt, sizeof(buf));
}
END_TEST

START_TEST(reflector_decode_matches_rfc_layout)
{
    struct proto_stamp_reflector m;

    memset(&m, 0xaa, sizeof(m));
    ck_assert_int_eq(
        proto_stamp_reflector_decode(reflector_pkt, sizeof(reflector_pkt), &m), 0);
    assert_reflector(&m, &reflector_val);
}
END_TEST

/* Padding up to the task's size is zero (4.2.1) and nothing past len is touched. */
START_TEST(encoders_zero_fill_padding)
{
    uint8_t buf[160];
    size_t i, len = 131;

    memset(buf, 0xaa, sizeof(buf));
    ck_assert_int_eq(proto_stamp_sender_encode(&sender_val, buf, len), (int)len);
    assert_bytes(buf, sender_pkt, PROTO_STAMP_BASE_LEN);
    for (i = PROTO_STAMP_BASE_LEN; i < len; i++)
        ck_assert_uint_eq(buf[i], 0);
    for (i = len; i < sizeof(buf); i++)
        ck_assert_uint_eq(buf[i], 0xaa);

    memset(buf, 0xaa, sizeof(buf));
    ck_assert_int_eq(proto_stamp_reflector_encode(&reflector_val, buf, len), (int)len);
    assert_bytes(buf, reflector_pkt, PROTO_STAMP_BASE_LEN);
    for (i = PROTO_STAMP_BASE_LEN; i < len; i++)
        ck_assert_uint_eq(buf[i], 0);
    for (i = len; i < sizeof(buf); i++)
        ck_assert_uint_eq(buf[i], 0xaa);
}
END_TEST

START_TEST(encoders_refuse_short_buffers)
{
    uint8_t buf[PROTO_STAMP_BASE_LEN];
    size_t len, i;

    for (len = 0; len < PROTO_STAMP_BASE_LEN; len++) {
        memset(buf, 0xaa, sizeof(buf));
        ck_assert_int_eq(proto_stamp_sender_encode(&sender_val, buf, len), -ENOBUFS);
        ck_assert_int_eq(proto_stamp_reflector_encode(&reflector_val, buf, len),
                         -ENOBUFS);
        for (i = 0; i < sizeof(buf); i++)
            ck_assert_uint_eq(buf[i], 0xaa);
    }
}
END_TEST

/* Every truncation of a valid packet is refused and leaves the output alone. */
START_TEST(decoders_refuse_truncated_input)
{
    struct proto_stamp_sender s, s0;
    struct proto_stamp_reflector r, r0;
    size_t len;

    memset(&s0, 0x5a, sizeof(s0));
    memset(&r0, 0x5a, sizeof(r0));
    for (len = 0; len < PROTO_STAMP_BASE_LEN; len++) {
        s = s0;
        r = r0;
        ck_assert_int_eq(proto_stamp_sender_decode(sender_pkt, len, &s), -EBADMSG);
        ck_assert_int_eq(proto_stamp_reflector_decode(reflector_pkt, len, &r), -EBADMSG);
        ck_assert_int_eq(memcmp(&s, &s0, sizeof(s)), 0);
        ck_assert_int_eq(memcmp(&r, &r0, sizeof(r)), 0);
    }
    ck_assert_int_eq(proto_stamp_sender_decode(NULL, 0, &s), -EBADMSG);
    ck_assert_int_eq(proto_stamp_reflector_decode(NULL, 0, &r), -EBADMSG);
}
END_TEST

/* MBZ octets and padding are not ours to judge (a later RFC may reuse them). */
START_TEST(decoders_ignore_mbz_and_padding)
{
    uint8_t buf[200];
    struct proto_stamp_reflector r;
    struct proto_stamp_sender s;

    memset(buf, 0xee, sizeof(buf));
    memcpy(buf, reflector_pkt, PROTO_STAMP_BASE_LEN);
    buf[38] = buf[39] = buf[41] = buf[42] = buf[43] = 0xee;
    ck_assert_int_eq(proto_stamp_reflector_decode(buf, sizeof(buf), &r), 0);
    assert_reflector(&r, &reflector_val);

    memset(buf, 0xee, sizeof(buf));
    memcpy(buf, sender_pkt, 16);
    ck_assert_int_eq(proto_stamp_sender_decode(buf, sizeof(buf), &s), 0);
    ck_assert_uint_eq(s.seq, sender_val.seq);
    ck_assert_uint_eq(s.ts, sender_val.ts);
    assert_errest(&s.err, &sender_val.err);
    ck_assert_uint_eq(s.ssid, sender_val.ssid);
}
END_TEST

START_TEST(round_trip_through_encoders)
{
    uint8_t buf[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_reflector r;
    struct proto_stamp_sender s;

    ck_assert_int_eq(proto_stamp_reflector_encode(&reflector_val, buf, sizeof(buf)),
                     PROTO_STAMP_MAX_LEN);
    ck_assert_int_eq(proto_stamp_reflector_decode(buf, sizeof(buf), &r), 0);
    assert_reflector(&r, &reflector_val);
    ck_assert_int_eq(proto_stamp_sender_encode(&sender_val, buf, sizeof(buf)),
                     PROTO_STAMP_MAX_LEN);
    ck_assert_int_eq(proto_stamp_sender_decode(buf, sizeof(buf), &s), 0);
    ck_assert_uint_eq(s.seq, sender_val.seq);
    ck_assert_uint_eq(s.ts, sender_val.ts);
    assert_errest(&s.err, &sender_val.err);
    ck_assert_uint_eq(s.ssid, sender_val.ssid);
}
END_TEST

/*
 * A TWAMP-Light reply, RFC 5357 4.2.1, built by hand: 41 octets, octets
 * 14-15 MBZ, Sender TTL 0 (the reflector could not read it) and T2 == T3.
 */
static const uint8_t light_pkt[41] = {
    0x00, 0x00, 0x00, 0x07,                         /* 0-3 Sequence Number */
    0xe9, 0xb1, 0xf2, 0xc3, 0x40, 0x00, 0x00, 0x00, /* 4-11 Timestamp (T3) */
    0x00, 0x01,                                     /* 12-13 Error Estimate */
    0x00, 0x00,                                     /* 14-15 MBZ */
    0xe9, 0xb1, 0xf2, 0xc3, 0x40, 0x00, 0x00, 0x00, /* 16-23 Receive Timestamp (T2) */
    0x00, 0x00, 0x00, 0x07,                         /* 24-27 Sender Sequence Number */
    0xe9, 0xb1, 0xf2, 0xc2, 0xc0, 0x00, 0x00, 0x00, /* 28-35 Sender Timestamp */
    0x80, 0x0e,                                     /* 36-37 Sender Error Estimate */
    0x00, 0x00,                                     /* 38-39 MBZ */
    0x00,                                           /* 40 Sender TTL */
};

START_TEST(light_reply_decodes_from_41_octets)
{
    struct proto_stamp_reflector r, r0;
    uint8_t buf[64];
    size_t len;

    memset(&r0, 0x5a, sizeof(r0));
    for (len = 0; len < PROTO_STAMP_LIGHT_MIN_LEN; len++) {
        r = r0;
        ck_assert_int_eq(proto_stamp_reflector_decode_light(light_pkt, len, &r),
                         -EBADMSG);
        ck_assert_int_eq(memcmp(&r, &r0, sizeof(r)), 0);
    }
    ck_assert_int_eq(proto_stamp_reflector_decode(light_pkt, sizeof(light_pkt), &r),
                     -EBADMSG);
    ck_assert_int_eq(proto_stamp_reflector_decode_light(light_pkt, sizeof(light_pkt), &r),
                     0);
    ck_assert_uint_eq(r.has_sender_ttl, 1); /* a TTL of 0, but one that was sent */
    ck_assert_uint_eq(r.seq, 7);
    ck_assert_uint_eq(r.ts, 0xe9b1f2c340000000ull);
    ck_assert_uint_eq(r.rx_ts, r.ts);
    ck_assert_uint_eq(r.ssid, 0);
    ck_assert_uint_eq(r.sender_seq, 7);
    ck_assert_uint_eq(r.sender_ts, 0xe9b1f2c2c0000000ull);
    ck_assert_uint_eq(r.sender_err.sync, 1);
    ck_assert_uint_eq(r.sender_err.scale, 0);
    ck_assert_uint_eq(r.sender_err.mult, 14);
    ck_assert_uint_eq(r.sender_ttl, 0);
    ck_assert_uint_eq(r.err.mult, 1);
    /* Padding after octet 40, and a whole STAMP reply, read the same. */
    memset(buf, 0xee, sizeof(buf));
    memcpy(buf, light_pkt, sizeof(light_pkt));
    ck_assert_int_eq(proto_stamp_reflector_decode_light(buf, sizeof(buf), &r0), 0);
    ck_assert_int_eq(memcmp(&r, &r0, sizeof(r)), 0);
    ck_assert_int_eq(
        proto_stamp_reflector_decode_light(reflector_pkt, sizeof(reflector_pkt), &r), 0);
    assert_reflector(&r, &reflector_val);
}
END_TEST

/*
 * The shortest TWAMP-Light reply some reflectors send: RFC 5357 4.2.1 up to
 * and including the Sender Error Estimate, 38 octets, no MBZ and no Sender
 * TTL after it.  Built by hand: seq 0x0000002A; T3 0xE9B1F2C3.40000000;
 * Error Estimate S=1 Z=0 Scale=0 Mult=3; MBZ; T2 0xE9B1F2C3.3FF00000;
 * the sender's seq 0x11223344, T1 0xE9B1F2C2.C0000000 and Error Estimate
 * S=0 Z=0 Scale=14 Mult=1.
 */
static const uint8_t light38_pkt[38] = {
    0x00, 0x00, 0x00, 0x2a,                         /* 0-3 Sequence Number */
    0xe9, 0xb1, 0xf2, 0xc3, 0x40, 0x00, 0x00, 0x00, /* 4-11 Timestamp (T3) */
    0x80, 0x03,                                     /* 12-13 Error Estimate */
    0x00, 0x00,                                     /* 14-15 MBZ */
    0xe9, 0xb1, 0xf2, 0xc3, 0x3f, 0xf0, 0x00, 0x00, /* 16-23 Receive Timestamp (T2) */
    0x11, 0x22, 0x33, 0x44,                         /* 24-27 Sender Sequence Number */
    0xe9, 0xb1, 0xf2, 0xc2, 0xc0, 0x00, 0x00, 0x00, /* 28-35 Sender Timestamp (T1) */
    0x0e, 0x01,                                     /* 36-37 Sender Error Estimate */
};

static void assert_light38(const struct proto_stamp_reflector *r)
{
    ck_assert_uint_eq(r->seq, 0x2a);
    ck_assert_uint_eq(r->ts, 0xe9b1f2c340000000ull);
    ck_assert_uint_eq(r->err.sync, 1);
    ck_assert_uint_eq(r->err.ptp, 0);
    ck_assert_uint_eq(r->err.scale, 0);
    ck_assert_uint_eq(r->err.mult, 3);
    ck_assert_uint_eq(r->ssid, 0);
    ck_assert_uint_eq(r->rx_ts, 0xe9b1f2c33ff00000ull);
    ck_assert_uint_eq(r->sender_seq, 0x11223344);
    ck_assert_uint_eq(r->sender_ts, 0xe9b1f2c2c0000000ull);
    ck_assert_uint_eq(r->sender_err.sync, 0);
    ck_assert_uint_eq(r->sender_err.scale, 14);
    ck_assert_uint_eq(r->sender_err.mult, 1);
}

START_TEST(light_reply_of_38_octets_has_no_ttl)
{
    struct proto_stamp_reflector r, r0;
    uint8_t buf[PROTO_STAMP_LIGHT_MIN_LEN + 2];

    memset(&r, 0x5a, sizeof(r));
    ck_assert_int_eq(
        proto_stamp_reflector_decode_light(light38_pkt, sizeof(light38_pkt), &r), 0);
    assert_light38(&r);
    ck_assert_uint_eq(r.has_sender_ttl, 0);
    ck_assert_uint_eq(r.sender_ttl, 0); /* not the 0x5a it held, not a value */
    ck_assert_int_ne(proto_stamp_is_reflected(light38_pkt, sizeof(light38_pkt)), 0);
    /* The STAMP decoder still wants its 44 octets. */
    ck_assert_int_eq(proto_stamp_reflector_decode(light38_pkt, sizeof(light38_pkt), &r),
                     -EBADMSG);

    /* 37 octets lack half the Sender Error Estimate: refused, r untouched. */
    memset(&r0, 0x5a, sizeof(r0));
    r = r0;
    ck_assert_int_eq(
        proto_stamp_reflector_decode_light(light38_pkt, sizeof(light38_pkt) - 1, &r),
        -EBADMSG);
    ck_assert_int_eq(memcmp(&r, &r0, sizeof(r)), 0);
    ck_assert_int_eq(proto_stamp_is_reflected(light38_pkt, sizeof(light38_pkt) - 1), 0);

    /* 39 and 40 octets: the MBZ octets, still no TTL, whatever they hold. */
    memcpy(buf, light38_pkt, sizeof(light38_pkt));
    buf[38] = buf[39] = 0xee;
    ck_assert_int_eq(proto_stamp_reflector_decode_light(buf, 39, &r), 0);
    assert_light38(&r);
    ck_assert_uint_eq(r.has_sender_ttl, 0);
    ck_assert_int_eq(proto_stamp_reflector_decode_light(buf, 40, &r), 0);
    assert_light38(&r);
    ck_assert_uint_eq(r.has_sender_ttl, 0);
    ck_assert_uint_eq(r.sender_ttl, 0);
}
END_TEST

/*
 * The same reply padded as TWAMP-Light reflectors do: to 41 octets (MBZ
 * 38-39, Sender TTL at 40, RFC 5357 4.2.1), to the 44 of RFC 8762, and with
 * zeros to the request's size.  From 41 octets on the TTL is there.
 */
START_TEST(light_reply_padding_variants)
{
    static const size_t lens[] = {41, 44, 64, 128, PROTO_STAMP_MAX_LEN};
    uint8_t buf[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_reflector r, full;
    size_t i;

    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        memset(buf, 0, sizeof(buf));
        memcpy(buf, light38_pkt, sizeof(light38_pkt));
        buf[40] = 0x3f; /* Sender TTL 63: one router on the way */
        memset(&r, 0x5a, sizeof(r));
        ck_assert_int_eq(proto_stamp_reflector_decode_light(buf, lens[i], &r), 0);
        assert_light38(&r);
        ck_assert_msg(r.has_sender_ttl == 1 && r.sender_ttl == 63,
                      "%zu octets: has_sender_ttl %u, sender_ttl %u", lens[i],
                      r.has_sender_ttl, r.sender_ttl);
        ck_assert_int_ne(proto_stamp_is_reflected(buf, lens[i]), 0);
        if (lens[i] >= PROTO_STAMP_BASE_LEN) {
            memset(&full, 0xa5, sizeof(full));
            ck_assert_int_eq(proto_stamp_reflector_decode(buf, lens[i], &full), 0);
            assert_reflector(&full, &r);
            ck_assert_uint_eq(full.has_sender_ttl, 1);
        } else {
            ck_assert_int_eq(proto_stamp_reflector_decode(buf, lens[i], &full), -EBADMSG);
        }
    }
}
END_TEST

/* A 38-octet packet whose octets 16-23 are zero is a request's MBZ, not a
 * reply: it decodes (the codec does not judge), but is not reflected. */
START_TEST(light_reply_without_receive_timestamp_is_not_reflected)
{
    uint8_t buf[sizeof(light38_pkt)];
    struct proto_stamp_reflector r;

    memcpy(buf, light38_pkt, sizeof(buf));
    memset(buf + 16, 0, 8);
    ck_assert_int_eq(proto_stamp_is_reflected(buf, sizeof(buf)), 0);
    ck_assert_int_eq(proto_stamp_reflector_decode_light(buf, sizeof(buf), &r), 0);
    ck_assert_uint_eq(r.rx_ts, 0);
    /* One non-zero octet of the Receive Timestamp is enough. */
    buf[23] = 1;
    ck_assert_int_ne(proto_stamp_is_reflected(buf, sizeof(buf)), 0);
}
END_TEST

/* Authenticated mode keeps its own lengths: nothing short of 112 octets. */
START_TEST(auth_reply_lengths_unchanged)
{
    static const uint8_t key[PROTO_STAMP_KEY_LEN] = {1, 2, 3};
    uint8_t buf[PROTO_STAMP_AUTH_LEN];
    struct proto_stamp_reflector r;
    size_t len;

    ck_assert_int_eq(
        proto_stamp_reflector_encode_auth(&reflector_val, key, buf, sizeof(buf)),
        PROTO_STAMP_AUTH_LEN);
    memset(&r, 0x5a, sizeof(r));
    ck_assert_int_eq(proto_stamp_reflector_decode_auth(buf, sizeof(buf), key, &r), 0);
    assert_reflector(&r, &reflector_val);
    ck_assert_uint_eq(r.has_sender_ttl, 1);
    ck_assert_int_ne(proto_stamp_is_reflected_auth(buf, sizeof(buf)), 0);
    for (len = 0; len < PROTO_STAMP_AUTH_LEN; len++) {
        ck_assert_int_lt(proto_stamp_reflector_decode_auth(buf, len, key, &r), 0);
        ck_assert_int_eq(proto_stamp_is_reflected_auth(buf, len), 0);
    }
}
END_TEST

/* A zero Multiplier is invalid (RFC 4656 4.1.2) but still decodes. */
START_TEST(errest_validity_and_value)
{
    struct proto_stamp_errest e = {.mult = 0};
    struct proto_stamp_sender s;
    uint8_t buf[PROTO_STAMP_BASE_LEN];

    ck_assert_int_eq(proto_stamp_errest_valid(&e), 0);
    e.mult = 1;
    ck_assert_int_ne(proto_stamp_errest_valid(&e), 0);
    /* Multiplier x 2^-32 x 2^Scale seconds, exact in a double. */
    e = (struct proto_stamp_errest){.scale = 32, .mult = 1};
    ck_assert_double_eq(proto_stamp_errest_ns(&e), 1e9);
    e = (struct proto_stamp_errest){.scale = 14, .mult = 1};
    ck_assert_double_eq(proto_stamp_errest_ns(&e), 3814.697265625);
    e = (struct proto_stamp_errest){.scale = 0, .mult = 255};
    ck_assert_double_eq(proto_stamp_errest_ns(&e), 255e9 / 4294967296.0);
    e = (struct proto_stamp_errest){.scale = 63, .mult = 255};
    ck_assert_double_eq(proto_stamp_errest_ns(&e), 255e9 * 2147483648.0);
    e.mult = 0;
    ck_assert_double_eq(proto_stamp_errest_ns(&e), 0);

    memcpy(buf, sender_pkt, sizeof(buf));
    buf[13] = 0;
    ck_assert_int_eq(proto_stamp_sender_decode(buf, sizeof(buf), &s), 0);
    ck_assert_uint_eq(s.err.mult, 0);
    ck_assert_int_eq(proto_stamp_errest_valid(&s.err), 0);
}
END_TEST

START_TEST(is_reflected_reads_receive_timestamp)
{
    uint8_t buf[PROTO_STAMP_BASE_LEN];
    int i;

    ck_assert_int_eq(proto_stamp_is_reflected(sender_pkt, sizeof(sender_pkt)), 0);
    ck_assert_int_ne(proto_stamp_is_reflected(reflector_pkt, sizeof(reflector_pkt)), 0);
    ck_assert_int_ne(proto_stamp_is_reflected(reflector_pkt, PROTO_STAMP_BASE_LEN - 1),
                     0);
    ck_assert_int_ne(proto_stamp_is_reflected(reflector_pkt, PROTO_STAMP_LIGHT_MIN_LEN),
                     0);
    ck_assert_int_eq(
        proto_stamp_is_reflected(reflector_pkt, PROTO_STAMP_LIGHT_MIN_LEN - 1), 0);
    ck_assert_int_eq(proto_stamp_is_reflected(NULL, 0), 0);
    /* Any single non-zero octet of 16..23 counts, and only those octets. */
    for (i = 0; i < PROTO_STAMP_BASE_LEN; i++) {
        memset(buf, 0, sizeof(buf));
        buf[i] = 1;
        ck_assert_int_eq(proto_stamp_is_reflected(buf, sizeof(buf)) != 0,
                         i >= 16 && i <= 23);
    }
}
END_TEST

/* RFC 4656 4.1.2: S is bit 0, Z bit 1, Scale bits 2-7, Multiplier bits 8-15. */
START_TEST(errest_layout)
{
    struct proto_stamp_errest e = {.sync = 1, .ptp = 1, .scale = 0x3f, .mult = 0xff};
    struct proto_stamp_errest f;
    uint32_t v;

    ck_assert_uint_eq(proto_stamp_errest_pack(&e), 0xffff);
    e = (struct proto_stamp_errest){.sync = 1};
    ck_assert_uint_eq(proto_stamp_errest_pack(&e), 0x8000);
    e = (struct proto_stamp_errest){.ptp = 1};
    ck_assert_uint_eq(proto_stamp_errest_pack(&e), 0x4000);
    e = (struct proto_stamp_errest){.scale = 1};
    ck_assert_uint_eq(proto_stamp_errest_pack(&e), 0x0100);
    e = (struct proto_stamp_errest){.mult = 1};
    ck_assert_uint_eq(proto_stamp_errest_pack(&e), 0x0001);
    /* Out-of-range field values cannot spill into their neighbours. */
    e = (struct proto_stamp_errest){.sync = 2, .ptp = 2, .scale = 0x40};
    ck_assert_uint_eq(proto_stamp_errest_pack(&e), 0);
    /* Check records each passing assertion, so hot loops assert on failure only. */
    for (v = 0; v <= 0xffff; v++) {
        proto_stamp_errest_unpack((uint16_t)v, &f);
        if (proto_stamp_errest_pack(&f) != v)
            ck_abort_msg("0x%04x does not survive unpack and pack", v);
    }
}
END_TEST

/* RFC 5905 6: Unix 0 is NTP 2208988800 = 0x83AA7E80 seconds. */
START_TEST(ntp_known_values)
{
    struct timespec ts = {0, 0};

    ck_assert_uint_eq(proto_ntp_from_timespec(&ts), 0x83aa7e80ull << 32);
    ts.tv_nsec = 500000000;
    ck_assert_uint_eq(proto_ntp_from_timespec(&ts), 0x83aa7e8080000000ull);
    ts.tv_nsec = 1; /* 4.294967296 units, rounded */
    ck_assert_uint_eq(proto_ntp_from_timespec(&ts), 0x83aa7e8000000004ull);
    ts.tv_nsec = 999999999; /* 4294967291.7 units, rounded */
    ck_assert_uint_eq(proto_ntp_from_timespec(&ts), 0x83aa7e80fffffffcull);
    ts = (struct timespec){1700000000, 0}; /* 2023-11-14 22:13:20 UTC */
    ck_assert_uint_eq(proto_ntp_from_timespec(&ts),
                      (uint64_t)(1700000000ull + 2208988800ull) << 32);

    proto_ntp_to_timespec(0x83aa7e8080000000ull, &ts);
    ck_assert_int_eq(ts.tv_sec, 0);
    ck_assert_int_eq(ts.tv_nsec, 500000000);
    /* A fraction just below one second rounds up into the next second. */
    proto_ntp_to_timespec(0x83aa7e80ffffffffull, &ts);
    ck_assert_int_eq(ts.tv_sec, 1);
    ck_assert_int_eq(ts.tv_nsec, 0);
    /* NTP era 1 starts 2036-02-07 06:28:16 UTC = Unix 2085978496. */
    proto_ntp_to_timespec(0, &ts);
    ck_assert_int_eq(ts.tv_sec, 2085978496LL);
    ck_assert_int_eq(ts.tv_nsec, 0);
    ts = (struct timespec){2085978496LL, 0};
    ck_assert_uint_eq(proto_ntp_from_timespec(&ts), 0);
}
END_TEST

static uint64_t test_rng(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ns -> NTP -> ns is exact: a 2^-32 s step is smaller than half a ns. */
START_TEST(ntp_round_trip)
{
    /* Up to the last second of NTP era 1 that Unix time reaches, in 2106. */
    static const int64_t secs[] = {0,          1,          1000000000,  1700000000,
                                   2085978495, 2085978496, 4294967295LL};
    struct timespec in, out;
    uint64_t x = 42;
    size_t i;
    int k;

    for (i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
        for (k = 0; k < 20000; k++) {
            in.tv_sec = (time_t)secs[i];
            in.tv_nsec =
                k < 2 ? (k == 0 ? 0 : 999999999) : (long)(test_rng(&x) % 1000000000);
            proto_ntp_to_timespec(proto_ntp_from_timespec(&in), &out);
            if (out.tv_sec != in.tv_sec || out.tv_nsec != in.tv_nsec)
                ck_abort_msg("%lld.%09ld came back as %lld.%09ld", (long long)in.tv_sec,
                             in.tv_nsec, (long long)out.tv_sec, out.tv_nsec);
        }
    }
}
END_TEST

START_TEST(ntp_diff)
{
    struct timespec a, b;
    uint64_t x = 7, na, nb;
    int64_t want, got;
    int k;

    ck_assert_int_eq(proto_ntp_diff_ns(0x83aa7e8180000000ull, 0x83aa7e8000000000ull),
                     1500000000);
    ck_assert_int_eq(proto_ntp_diff_ns(0x83aa7e8000000000ull, 0x83aa7e8180000000ull),
                     -1500000000);
    ck_assert_int_eq(proto_ntp_diff_ns(5, 5), 0);
    /* Across the 2036 era rollover: one second apart, not 136 years. */
    ck_assert_int_eq(proto_ntp_diff_ns(0x0000000080000000ull, 0xffffffff80000000ull),
                     1000000000);
    ck_assert_int_eq(proto_ntp_diff_ns(0xffffffff80000000ull, 0x0000000080000000ull),
                     -1000000000);
    /* Against exact nanosecond arithmetic, within the 1 ns of rounding. */
    for (k = 0; k < 100000; k++) {
        a.tv_sec = (time_t)(1700000000 + test_rng(&x) % 100);
        a.tv_nsec = (long)(test_rng(&x) % 1000000000);
        b.tv_sec = (time_t)(1700000000 + test_rng(&x) % 100);
        b.tv_nsec = (long)(test_rng(&x) % 1000000000);
        na = proto_ntp_from_timespec(&a);
        nb = proto_ntp_from_timespec(&b);
        want = ((int64_t)a.tv_sec - b.tv_sec) * 1000000000 + (a.tv_nsec - b.tv_nsec);
        got = proto_ntp_diff_ns(na, nb);
        if (got - want < -1 || got - want > 1 || proto_ntp_diff_ns(nb, na) != -got)
            ck_abort_msg("diff %lld, want %lld", (long long)got, (long long)want);
    }
}
END_TEST

/* By the Z bit: NTP 32.32 for Z=0, PTPv2 truncated (s, ns since 1970) for Z=1. */
START_TEST(stamp_ts_known_values)
{
    ck_assert_int_eq(proto_stamp_ts_to_ns(0x83aa7e8080000000ull, 0), 500000000);
    ck_assert_uint_eq(proto_stamp_ts_from_ns(500000000, 0), 0x83aa7e8080000000ull);
    ck_assert_int_eq(proto_stamp_ts_to_ns(0x6553f100075bcd15ull, 1),
                     1700000000123456789LL);
    ck_assert_uint_eq(proto_stamp_ts_from_ns(1700000000123456789LL, 1),
                      0x6553f100075bcd15ull);
    ck_assert_int_eq(proto_stamp_ts_to_ns(0, 1), 0);
    /* Before 1970 a PTP timestamp wraps its 32-bit seconds, as NTP does its era. */
    ck_assert_uint_eq(proto_stamp_ts_from_ns(-1, 1), 0xffffffff3b9ac9ffull);
    /* One instant in both formats. */
    ck_assert_int_eq(
        proto_stamp_ts_to_ns(proto_stamp_ts_from_ns(1700000000123456789LL, 0), 0),
        1700000000123456789LL);
}
END_TEST

START_TEST(stamp_ts_round_trip)
{
    uint64_t x = 99;
    int64_t ns;
    int k, ptp;

    for (k = 0; k < 100000; k++) {
        /* 1970 to 2106, where both formats' 32-bit seconds reach. */
        ns = (int64_t)(test_rng(&x) % (4294967295ull * 1000000000ull));
        for (ptp = 0; ptp <= 1; ptp++)
            if (proto_stamp_ts_to_ns(proto_stamp_ts_from_ns(ns, ptp), ptp) != ns)
                ck_abort_msg("%lld ns, ptp=%d, does not survive", (long long)ns, ptp);
    }
}
END_TEST

Suite *stamp_suite(void)
{
    Suite *s = suite_create("stamp");
    TCase *tc = tcase_create("packets");
    TCase *tn = tcase_create("ntp");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, sender_encode_matches_rfc_layout);
    tcase_add_test(tc, sender_decode_matches_rfc_layout);
    tcase_add_test(tc, reflector_encode_matches_rfc_layout);
    tcase_add_test(tc, reflector_decode_matches_rfc_layout);
    tcase_add_test(tc, encoders_zero_fill_padding);
    tcase_add_test(tc, encoders_refuse_short_buffers);
    tcase_add_test(tc, decoders_refuse_truncated_input);
    tcase_add_test(tc, decoders_ignore_mbz_and_padding);
    tcase_add_test(tc, round_trip_through_encoders);
    tcase_add_test(tc, is_reflected_reads_receive_timestamp);
    tcase_add_test(tc, errest_layout);
    tcase_add_test(tc, light_reply_decodes_from_41_octets);
    tcase_add_test(tc, light_reply_of_38_octets_has_no_ttl);
    tcase_add_test(tc, light_reply_padding_variants);
    tcase_add_test(tc, light_reply_without_receive_timestamp_is_not_reflected);
    tcase_add_test(tc, auth_reply_lengths_unchanged);
    tcase_add_test(tc, errest_validity_and_value);
    suite_add_tcase(s, tc);

    tcase_set_timeout(tn, 30);
    tcase_add_test(tn, ntp_known_values);
    tcase_add_test(tn, ntp_round_trip);
    tcase_add_test(tn, ntp_diff);
    tcase_add_test(tn, stamp_ts_known_values);
    tcase_add_test(tn, stamp_ts_round_trip);
    suite_add_tcase(s, tn);
    return s;
}
