/*
 * stamp_tlv_test.c - STAMP TLVs (RFC 8972 4): the parser on hand-built,
 * truncated, overlong and zero-length TLVs; the encoders octet by octet;
 * the HMAC TLV; and the reflector's answer, which must never change the
 * length, must send unknown types (Return Path among them) back with U set,
 * and must survive any octets at all.
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

#define REQ_SEQ 0x01020304u
#define OUR_SEQ 0x0a0b0c0du

/*
 * A Session-Sender's TLV area, RFC 8972 4, written out by hand; flags as a
 * sender sends them (U = 1).  The HMAC TLV's octets are filled in by
 * sign_request() at offset HMAC_OFF.
 */
#define HMAC_OFF 64
static const uint8_t request[] = {
    0x80, 0x01, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, /* 0 Extra Padding, 4 octets */
    0x80, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, /* 8 Timestamp Information */
    0x80, 0x04, 0x00, 0x04, 0xb8, 0x00, 0x00, 0x00, /* 16 CoS: DSCP1 46 (101110) */
    0x80, 0x05, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x07, /* 24 Direct Measurement: S_TxC 7 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /*    R_RxC, R_TxC */
    0x80, 0xc8, 0x00, 0x03, 0x01, 0x02, 0x03,       /* 40 unknown type 200 */
    0x80, 0x0a, 0x00, 0x08, 0x00, 0x01, 0x00, 0x04, /* 47 Return Path (RFC 9503) */
    0x0a, 0x00, 0x00, 0x01,                         /*    with a sub-TLV */
    0x80, 0x00, 0x00, 0x01, 0x55,                   /* 59 type 0 (reserved) */
    0x80, 0x08, 0x00, 0x10,                         /* 64 HMAC */
    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0, /*    digest */
};

static void assert_bytes(const uint8_t *got, const uint8_t *want, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "octet %zu: got 0x%02x, want 0x%02x", i, got[i],
                      want[i]);
}

static void sign_request(uint8_t *buf)
{
    ck_assert_int_eq(
        proto_stamp_tlv_hmac(key, REQ_SEQ, buf, HMAC_OFF, buf + HMAC_OFF + 4), 0);
}

static struct proto_stamp_tlv_ctx make_ctx(void)
{
    return (struct proto_stamp_tlv_ctx){
        .key = key,
        .req_seq = REQ_SEQ,
        .seq = OUR_SEQ,
        .tsinfo = {.sync_in = PROTO_STAMP_SYNC_NTP,
                   .method_in = PROTO_STAMP_TSM_SW,
                   .sync_out = PROTO_STAMP_SYNC_NTP,
                   .method_out = PROTO_STAMP_TSM_SW},
        .rx_dscp = 10,
        .rx_ecn = 2,
        .dscp1_allowed = (uint64_t)1 << 46,
        .rx_count = 1000,
        .tx_count = 999,
    };
}

/* ---- parser ---------------------------------------------------------------- */

START_TEST(parse_hand_built_area)
{
    static const uint8_t types[] = {1, 3, 4, 5, 200, 10, 0, 8};
    static const uint16_t lens[] = {4, 4, 4, 12, 3, 8, 1, 16};
    struct proto_stamp_tlv t;
    struct proto_rd r;
    size_t i;

    proto_rd_init(&r, request, sizeof(request));
    for (i = 0; i < sizeof(types); i++) {
        ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), 1);
        ck_assert_uint_eq(t.flags, PROTO_STAMP_TLV_U);
        ck_assert_uint_eq(t.type, types[i]);
        ck_assert_uint_eq(t.len, lens[i]);
        ck_assert_ptr_eq(t.value, request + r.off - t.len);
    }
    ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), 0);
    ck_assert_uint_eq(r.off, sizeof(request));
}
END_TEST

START_TEST(parse_zero_length_tlvs)
{
    static const uint8_t area[] = {0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    struct proto_stamp_tlv t;
    struct proto_rd r;

    proto_rd_init(&r, area, sizeof(area));
    ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), 1);
    ck_assert_uint_eq(t.type, 1);
    ck_assert_uint_eq(t.len, 0);
    ck_assert_ptr_null(t.value);
    ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), 1);
    ck_assert_uint_eq(t.flags, 0);
    ck_assert_uint_eq(t.type, 0);
    ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), 0);
    proto_rd_init(&r, NULL, 0);
    ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), 0);
}
END_TEST

/* Every prefix that cuts a TLV short, header or value, is -EBADMSG and
 * leaves the reader where the TLV starts. */
START_TEST(parse_truncated_and_overlong)
{
    static const uint8_t overlong[] = {0x80, 0x01, 0xff, 0xff, 0x00, 0x00};
    struct proto_stamp_tlv t, t0;
    struct proto_rd r;
    size_t len, before;

    memset(&t0, 0x5a, sizeof(t0));
    for (len = 1; len < sizeof(request); len++) {
        proto_rd_init(&r, request, len);
        for (before = r.off; proto_stamp_tlv_next(&r, &t) == 1; before = r.off)
            ;
        if (len == 8 || len == 16 || len == 24 || len == 40 || len == 47 || len == 59 ||
            len == 64)
            continue; /* a TLV boundary: a clean end */
        t = t0;
        ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), -EBADMSG);
        ck_assert_uint_eq(r.off, before);
        ck_assert_int_eq(memcmp(&t, &t0, sizeof(t)), 0);
    }
    proto_rd_init(&r, overlong, sizeof(overlong));
    ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), -EBADMSG);
    ck_assert_uint_eq(r.off, 0);
}
END_TEST

/* ---- encoders ---------------------------------------------------------------- */

START_TEST(encoders_match_rfc_layout)
{
    static const uint8_t want[] = {
        0x80, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00,       /* Extra Padding, 3 zeros */
        0x80, 0x03, 0x00, 0x04, 0x02, 0x01, 0x05, 0x03, /* Timestamp Information */
        0x80, 0x04, 0x00, 0x04, 0xb8, 0xa7, 0x00, 0x00, /* CoS 46, 10, ECN 1, RP 3 */
        0x80, 0x05, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, /* Direct Measurement */
        0x00, 0x00, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff,
    };
    const struct proto_stamp_tsinfo ts = {PROTO_STAMP_SYNC_PTP, PROTO_STAMP_TSM_HW,
                                          PROTO_STAMP_SYNC_LOCAL,
                                          PROTO_STAMP_TSM_CONTROL_PLANE};
    const struct proto_stamp_cos cos = {.dscp1 = 46, .dscp2 = 10, .ecn = 1, .rp = 3};
    const struct proto_stamp_direct dm = {1, 2, 0xffffffffu};
    uint8_t buf[sizeof(want) + 8];
    struct proto_wr w;

    memset(buf, 0xaa, sizeof(buf));
    proto_wr_init(&w, buf, sizeof(buf));
    ck_assert_int_eq(proto_stamp_tlv_put_padding(&w, 3), 0);
    ck_assert_int_eq(proto_stamp_tlv_put_tsinfo(&w, &ts), 0);
    ck_assert_int_eq(proto_stamp_tlv_put_cos(&w, &cos), 0);
    ck_assert_int_eq(proto_stamp_tlv_put_direct(&w, &dm), 0);
    ck_assert_uint_eq(w.off, sizeof(want));
    assert_bytes(buf, want, sizeof(want));
    ck_assert_uint_eq(buf[sizeof(want)], 0xaa);
}
END_TEST

/*
 * HMAC TLV, RFC 8972 4.8, over the Sequence Number and the TLVs before it.
 * The digest was computed apart from this code, with Python:
 *   hmac.new(key, bytes.fromhex("01020304" "8001000400000000"),
 *            hashlib.sha256).digest()[:16]
 */
START_TEST(hmac_tlv_known_answer)
{
    static const uint8_t want[] = {
        0x80, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, /* Extra Padding */
        0x80, 0x08, 0x00, 0x10,                         /* HMAC */
        0xa2, 0x2d, 0x08, 0x1c, 0x95, 0x18, 0x20, 0x44,
        0xbc, 0xb6, 0x45, 0xbd, 0x49, 0xba, 0x86, 0x8c,
    };
    uint8_t buf[PROTO_STAMP_BASE_LEN + sizeof(want)];
    struct proto_wr w;

    proto_wr_init(&w, buf, sizeof(buf));
    ck_assert_int_eq(proto_wr_zero(&w, PROTO_STAMP_BASE_LEN), 0);
    ck_assert_int_eq(proto_stamp_tlv_put_padding(&w, 4), 0);
    ck_assert_int_eq(proto_stamp_tlv_put_hmac(&w, PROTO_STAMP_BASE_LEN, REQ_SEQ, key), 0);
    ck_assert_uint_eq(w.off, sizeof(buf));
    assert_bytes(buf + PROTO_STAMP_BASE_LEN, want, sizeof(want));
    ck_assert_int_eq(proto_stamp_tlv_hmac_verify(want, sizeof(want), REQ_SEQ, key), 0);
    ck_assert_int_eq(proto_stamp_tlv_hmac_verify(want, sizeof(want), REQ_SEQ + 1, key),
                     -EACCES);
    ck_assert_int_eq(proto_stamp_tlv_hmac_verify(want, 8, REQ_SEQ, key), -ENOENT);
    ck_assert_int_eq(proto_stamp_tlv_hmac_verify(want, sizeof(want) - 1, REQ_SEQ, key),
                     -EBADMSG);
}
END_TEST

START_TEST(encoders_refuse_short_buffers)
{
    const struct proto_stamp_direct dm = {0};
    uint8_t buf[40];
    struct proto_wr w;
    size_t cap;

    for (cap = 0; cap < PROTO_STAMP_TLV_HDR + PROTO_STAMP_TLV_DIRECT_LEN; cap++) {
        memset(buf, 0xaa, sizeof(buf));
        proto_wr_init(&w, buf, cap);
        ck_assert_int_eq(proto_stamp_tlv_put_direct(&w, &dm), -ENOBUFS);
        ck_assert_int_eq(proto_stamp_tlv_put_padding(&w, cap), -ENOBUFS);
        ck_assert_uint_eq(w.off, 0);
        ck_assert_uint_eq(buf[0], 0xaa);
    }
    proto_wr_init(&w, buf, 2 * (PROTO_STAMP_TLV_HDR + PROTO_STAMP_TLV_HMAC_LEN) - 1);
    ck_assert_int_eq(proto_stamp_tlv_put_hmac(&w, 0, 0, key), 0);
    ck_assert_int_eq(proto_stamp_tlv_put_hmac(&w, 0, 0, key), -ENOBUFS);
    ck_assert_uint_eq(w.off, 20);
    ck_assert_int_eq(proto_stamp_tlv_put_padding(&w, 70000), -ENOBUFS);
}
END_TEST

START_TEST(value_decoders)
{
    struct proto_stamp_tlv t;
    struct proto_stamp_tsinfo ts;
    struct proto_stamp_cos cos;
    struct proto_stamp_direct dm;
    struct proto_rd r;

    proto_rd_init(&r, request, sizeof(request));
    ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), 1); /* padding */
    ck_assert_int_eq(proto_stamp_tlv_tsinfo(&t, &ts), -EBADMSG);
    ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), 1);
    ck_assert_int_eq(proto_stamp_tlv_tsinfo(&t, &ts), 0);
    ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), 1);
    ck_assert_int_eq(proto_stamp_tlv_cos(&t, &cos), 0);
    ck_assert_uint_eq(cos.dscp1, 46);
    ck_assert_uint_eq(cos.dscp2 | cos.ecn | cos.rp, 0);
    t.len = 3;
    ck_assert_int_eq(proto_stamp_tlv_cos(&t, &cos), -EBADMSG);
    ck_assert_int_eq(proto_stamp_tlv_next(&r, &t), 1);
    ck_assert_int_eq(proto_stamp_tlv_direct(&t, &dm), 0);
    ck_assert_uint_eq(dm.s_txc, 7);
}
END_TEST

/* ---- the reflector ------------------------------------------------------------ */

/* The request answered octet by octet as RFC 8972 4.1-4.8 say. */
START_TEST(reflect_answers_each_type)
{
    uint8_t req[sizeof(request)], want[sizeof(request)], out[sizeof(request) + 4];
    struct proto_stamp_tlv_ctx ctx = make_ctx();
    struct proto_stamp_tlv_result res;

    memcpy(req, request, sizeof(req));
    sign_request(req);
    memcpy(want, req, sizeof(want));
    want[0] = 0; /* padding: understood */
    want[8] = 0, want[12] = 1, want[13] = 2, want[14] = 1, want[15] = 2; /* NTP, SW */
    want[16] = 0, want[20] = 0xb8, want[21] = 0xa8; /* DSCP2 10, ECN 2, RP 0 */
    want[24] = 0;                                   /* direct: counters */
    want[32] = 0, want[33] = 0, want[34] = 0x03, want[35] = 0xe8;
    want[36] = 0, want[37] = 0, want[38] = 0x03, want[39] = 0xe7;
    /* 40, 47, 59: unknown, Return Path, reserved type keep U and their value. */
    want[64] = 0; /* HMAC: ours, checked below */
    memset(out, 0xaa, sizeof(out));
    ck_assert_int_eq(
        proto_stamp_tlv_reflect(req, sizeof(req), &ctx, out, sizeof(out), &res),
        (int)sizeof(req));
    assert_bytes(out, want, HMAC_OFF + 4);
    ck_assert_uint_eq(out[sizeof(req)], 0xaa);
    ck_assert_int_eq(proto_stamp_tlv_hmac_verify(out, sizeof(req), OUR_SEQ, key), 0);
    ck_assert_uint_eq(res.tlvs, 8);
    ck_assert_uint_eq(res.unrecognised, 3);
    ck_assert_uint_eq(res.malformed, 0);
    ck_assert_int_eq(res.integrity, 1);
    ck_assert_int_eq(res.has_cos, 1);
    ck_assert_uint_eq(res.reply_dscp, 46);

    /* Local policy refuses DSCP1: RP = 1, the reply keeps the received DSCP. */
    ctx.dscp1_allowed = ~((uint64_t)1 << 46);
    ck_assert_int_eq(
        proto_stamp_tlv_reflect(req, sizeof(req), &ctx, out, sizeof(out), &res),
        (int)sizeof(req));
    ck_assert_uint_eq(out[21], 0xa9);
    ck_assert_uint_eq(res.reply_dscp, 10);
}
END_TEST

/* In place, with out == the request, gives the same answer. */
START_TEST(reflect_in_place)
{
    uint8_t req[sizeof(request)], out[sizeof(request)];
    struct proto_stamp_tlv_ctx ctx = make_ctx();

    memcpy(req, request, sizeof(req));
    sign_request(req);
    ck_assert_int_eq(
        proto_stamp_tlv_reflect(req, sizeof(req), &ctx, out, sizeof(out), NULL),
        (int)sizeof(req));
    ck_assert_int_eq(
        proto_stamp_tlv_reflect(req, sizeof(req), &ctx, req, sizeof(req), NULL),
        (int)sizeof(req));
    assert_bytes(req, out, sizeof(req));
}
END_TEST

static void assert_all_flagged(const uint8_t *area, size_t len, uint8_t flag)
{
    struct proto_stamp_tlv t;
    struct proto_rd r;

    proto_rd_init(&r, area, len);
    while (proto_stamp_tlv_next(&r, &t) == 1)
        ck_assert_msg(t.flags & flag, "type %u lacks flag 0x%02x", t.type, flag);
}

/* A tampered request, or an HMAC TLV out of place, sets I everywhere (4.8). */
START_TEST(reflect_integrity_failures)
{
    uint8_t req[sizeof(request)], out[sizeof(request)];
    struct proto_stamp_tlv_ctx ctx = make_ctx();
    struct proto_stamp_tlv_result res;
    int bit;

    for (bit = 0; bit < (HMAC_OFF + 4 + 16) * 8; bit++) {
        if (bit / 8 == HMAC_OFF)
            continue; /* the HMAC TLV's own flags: not covered (4.8) */
        memcpy(req, request, sizeof(req));
        sign_request(req);
        req[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
        ck_assert_int_eq(
            proto_stamp_tlv_reflect(req, sizeof(req), &ctx, out, sizeof(out), &res),
            (int)sizeof(req));
        if (res.integrity == 1)
            ck_abort_msg("flipped bit %d of the request passed the HMAC", bit);
    }
    memcpy(req, request, sizeof(req));
    sign_request(req);
    ctx.req_seq++;
    proto_stamp_tlv_reflect(req, sizeof(req), &ctx, out, sizeof(out), &res);
    ck_assert_int_eq(res.integrity, -1);
    assert_all_flagged(out, sizeof(out), PROTO_STAMP_TLV_I);
    /* Still signed by us, so the sender can trust the I flags. */
    ck_assert_int_eq(proto_stamp_tlv_hmac_verify(out, sizeof(out), OUR_SEQ, key), 0);
}
END_TEST

START_TEST(reflect_hmac_placement)
{
    /* HMAC, then Extra Padding (allowed after it), then a CoS (not allowed). */
    uint8_t req[4 + 16 + 6 + 8];
    struct proto_stamp_tlv_ctx ctx = make_ctx();
    struct proto_stamp_tlv_result res;
    uint8_t out[sizeof(req)];
    struct proto_wr w;
    const struct proto_stamp_cos cos = {0};

    proto_wr_init(&w, req, sizeof(req));
    ck_assert_int_eq(proto_stamp_tlv_put_hmac(&w, 0, REQ_SEQ, key), 0);
    ck_assert_int_eq(proto_stamp_tlv_put_padding(&w, 2), 0);
    proto_stamp_tlv_reflect(req, w.off, &ctx, out, sizeof(out), &res);
    ck_assert_int_eq(res.integrity, 1);
    ck_assert_int_eq(proto_stamp_tlv_put_cos(&w, &cos), 0);
    proto_stamp_tlv_reflect(req, w.off, &ctx, out, sizeof(out), &res);
    ck_assert_int_eq(res.integrity, -1);
    assert_all_flagged(out, w.off, PROTO_STAMP_TLV_I);
    ck_assert_int_eq(proto_stamp_tlv_hmac_verify(req, w.off, REQ_SEQ, key), -EACCES);
}
END_TEST

/* Authenticated mode requires the HMAC TLV; without a key it is unknown. */
START_TEST(reflect_required_and_keyless)
{
    uint8_t out[sizeof(request)];
    struct proto_stamp_tlv_ctx ctx = make_ctx();
    struct proto_stamp_tlv_result res;

    ctx.require_hmac = 1;
    proto_stamp_tlv_reflect(request, HMAC_OFF, &ctx, out, sizeof(out), &res);
    ck_assert_int_eq(res.integrity, -1);
    assert_all_flagged(out, HMAC_OFF, PROTO_STAMP_TLV_I);

    ctx = make_ctx();
    ctx.key = NULL;
    proto_stamp_tlv_reflect(request, sizeof(request), &ctx, out, sizeof(out), &res);
    ck_assert_int_eq(res.integrity, 0);
    ck_assert_uint_eq(res.unrecognised, 4);
    ck_assert_uint_eq(out[HMAC_OFF], PROTO_STAMP_TLV_U);
    assert_bytes(out + HMAC_OFF + 4, request + HMAC_OFF + 4, 16);
    ctx.require_hmac = 1;
    proto_stamp_tlv_reflect(request, sizeof(request), &ctx, out, sizeof(out), &res);
    ck_assert_int_eq(res.integrity, -1);
}
END_TEST

/* Wrong lengths for known types set M (4); a TLV cut short sets M and the
 * rest is copied; reserved flag bits are zeroed. */
START_TEST(reflect_malformed)
{
    static const uint8_t req[] = {
        0x9f, 0x04, 0x00, 0x03, 0xb8, 0x00, 0x00, /* CoS of 3 octets; reserved flags */
        0x80, 0x03, 0x00, 0x05, 1,    2,    3,    4, 5, /* Timestamp Information of 5 */
        0x80, 0x05, 0x00, 0x10, 0x00, 0x00,             /* Direct Measurement cut short */
    };
    static const uint8_t want[] = {
        0x40, 0x04, 0x00, 0x03, 0xb8, 0x00, 0x00, 0x40, 0x03, 0x00, 0x05,
        1,    2,    3,    4,    5,    0x40, 0x05, 0x00, 0x10, 0x00, 0x00,
    };
    struct proto_stamp_tlv_ctx ctx = make_ctx();
    struct proto_stamp_tlv_result res;
    uint8_t out[sizeof(req)];
    size_t len;

    ck_assert_int_eq(
        proto_stamp_tlv_reflect(req, sizeof(req), &ctx, out, sizeof(out), &res),
        (int)sizeof(req));
    assert_bytes(out, want, sizeof(want));
    ck_assert_uint_eq(res.malformed, 3);
    ck_assert_int_eq(res.has_cos, 0);
    /* 1-3 stray octets: M on the first, which is where flags would be. */
    for (len = 1; len < 4; len++) {
        ck_assert_int_eq(proto_stamp_tlv_reflect(req + 16, len, &ctx, out, len, &res),
                         (int)len);
        ck_assert_uint_eq(out[0], PROTO_STAMP_TLV_M);
        assert_bytes(out + 1, req + 17, len - 1);
    }
}
END_TEST

START_TEST(reflect_errors)
{
    struct proto_stamp_tlv_ctx ctx = make_ctx();
    uint8_t big[PROTO_STAMP_MAX_LEN + 1] = {0};
    uint8_t out[sizeof(request)];

    ck_assert_int_eq(proto_stamp_tlv_reflect(request, sizeof(request), &ctx, out,
                                             sizeof(request) - 1, NULL),
                     -ENOBUFS);
    ck_assert_int_eq(
        proto_stamp_tlv_reflect(big, sizeof(big), &ctx, big, sizeof(big), NULL),
        -EMSGSIZE);
    ck_assert_int_eq(proto_stamp_tlv_reflect(request, 0, &ctx, out, 0, NULL), 0);
}
END_TEST

static uint64_t rng(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A random area, half of the time made of plausible TLVs with small lengths. */
static size_t random_area(uint64_t *x, uint8_t *buf, size_t cap)
{
    size_t len = (size_t)(rng(x) % cap), i = 0, n;

    if (rng(x) & 1) {
        for (i = 0; i < len; i++)
            buf[i] = (uint8_t)rng(x);
        return len;
    }
    while (i + PROTO_STAMP_TLV_HDR <= len) {
        n = (size_t)(rng(x) % 24);
        buf[i] = (uint8_t)rng(x);
        buf[i + 1] = (uint8_t)(rng(x) % 12);
        buf[i + 2] = 0;
        buf[i + 3] = (uint8_t)n;
        for (i += PROTO_STAMP_TLV_HDR; n > 0 && i < len; n--)
            buf[i++] = (uint8_t)rng(x);
    }
    for (; i < len; i++)
        buf[i] = (uint8_t)rng(x);
    return len;
}

/*
 * No amplification, ever: the answer to any octets is exactly as long, and
 * nothing past it is written.  Unknown types always come back with U.
 */
START_TEST(reflect_never_changes_length)
{
    uint8_t req[600], out[600 + 16];
    struct proto_stamp_tlv_ctx ctx = make_ctx();
    struct proto_stamp_tlv_result res;
    struct proto_stamp_tlv t;
    struct proto_rd r;
    uint64_t x = 5;
    size_t len, i;
    int k;

    for (k = 0; k < 50000; k++) {
        len = random_area(&x, req, sizeof(req));
        ctx.key = (k & 2) ? key : NULL;
        ctx.require_hmac = k & 4;
        memset(out, 0xaa, sizeof(out));
        if (proto_stamp_tlv_reflect(req, len, &ctx, out, len, &res) != (int)len)
            ck_abort_msg("iteration %d: length %zu not kept", k, len);
        for (i = len; i < sizeof(out); i++)
            if (out[i] != 0xaa)
                ck_abort_msg("iteration %d: octet %zu past the answer written", k, i);
        proto_rd_init(&r, out, len);
        while (proto_stamp_tlv_next(&r, &t) == 1)
            if (t.type != 1 && t.type != 3 && t.type != 4 && t.type != 5 && t.type != 8 &&
                !(t.flags & PROTO_STAMP_TLV_U))
                ck_abort_msg("iteration %d: type %u came back without U", k, t.type);
    }
}
END_TEST

Suite *stamp_tlv_suite(void)
{
    Suite *s = suite_create("stamp_tlv");
    TCase *tp = tcase_create("parse");
    TCase *te = tcase_create("encode");
    TCase *tr = tcase_create("reflect");

    tcase_add_test(tp, parse_hand_built_area);
    tcase_add_test(tp, parse_zero_length_tlvs);
    tcase_add_test(tp, parse_truncated_and_overlong);
    suite_add_tcase(s, tp);
    tcase_add_test(te, encoders_match_rfc_layout);
    tcase_add_test(te, hmac_tlv_known_answer);
    tcase_add_test(te, encoders_refuse_short_buffers);
    tcase_add_test(te, value_decoders);
    suite_add_tcase(s, te);
    tcase_set_timeout(tr, 120);
    tcase_add_test(tr, reflect_answers_each_type);
    tcase_add_test(tr, reflect_in_place);
    tcase_add_test(tr, reflect_integrity_failures);
    tcase_add_test(tr, reflect_hmac_placement);
    tcase_add_test(tr, reflect_required_and_keyless);
    tcase_add_test(tr, reflect_malformed);
    tcase_add_test(tr, reflect_errors);
    tcase_add_test(tr, reflect_never_changes_length);
    suite_add_tcase(s, tr);
    return s;
}
