/*
 * fuzz_stamp_tlv.c - the STAMP TLV parser, the HMAC TLV check and the
 * Session-Reflector's answer, RFC 8972 4.
 *
 * Input: an 8-octet prefix that sets up the reflector, then the TLV area
 * as it follows a base packet.
 *
 *   octet 0     bit 0: the reflector has the key; bit 1: it requires an
 *               HMAC TLV; bit 2: sign the request's first HMAC TLV with
 *               the key before anything reads it, as a sender holding the
 *               key would, so the paths behind a good digest are reached
 *   octet 1     DSCP (6 bits) and ECN (2 bits) the request arrived with
 *   octets 2-5  the request's Sequence Number
 *   octets 6-7  spare
 *
 * Checked: the parser's views stay inside the area and add up to it; the
 * value decoders accept exactly their type and length and survive an
 * encode round trip; the reflector's answer is exactly as long as the
 * request, keeps every TLV's type and length, copies what it does not
 * understand, and signs its reply so that the reply verifies whenever the
 * request did; answering in place gives the same octets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define PREFIX_LEN    8
#define OPT_KEY       0x01
#define OPT_REQUIRE   0x02
#define OPT_SIGN      0x04
#define FLAGS_KNOWN   (PROTO_STAMP_TLV_U | PROTO_STAMP_TLV_M | PROTO_STAMP_TLV_I)
#define REPLY_SEQ     0x01020304u
#define DSCP1_ALLOWED 0x00000000ffff0f0full

static const uint8_t *const key = FUZZ_STAMP_KEY;

/* The value decoders, and an encode round trip of what they accept. */
static void check_values(const struct proto_stamp_tlv *t)
{
    struct proto_stamp_tsinfo ts, ts2;
    struct proto_stamp_direct d, d2;
    struct proto_stamp_cos c, c2;
    struct proto_stamp_tlv back;
    uint8_t buf[PROTO_STAMP_TLV_HDR + PROTO_STAMP_TLV_DIRECT_LEN];
    struct proto_rd r;
    struct proto_wr w;
    int rc;

    proto_wr_init(&w, buf, sizeof(buf));
    rc = proto_stamp_tlv_tsinfo(t, &ts);
    FUZZ_CHECK((rc == 0) == (t->type == PROTO_STAMP_TLV_TSINFO &&
                             t->len == PROTO_STAMP_TLV_TSINFO_LEN));
    if (rc == 0) {
        FUZZ_CHECK(proto_stamp_tlv_put_tsinfo(&w, &ts) == 0);
        proto_rd_init(&r, buf, w.off);
        FUZZ_CHECK(proto_stamp_tlv_next(&r, &back) == 1);
        FUZZ_CHECK(back.flags == PROTO_STAMP_TLV_SENDER_FLAGS);
        FUZZ_CHECK(proto_stamp_tlv_tsinfo(&back, &ts2) == 0 &&
                   memcmp(&ts, &ts2, sizeof(ts)) == 0);
    }
    rc = proto_stamp_tlv_cos(t, &c);
    FUZZ_CHECK((rc == 0) ==
               (t->type == PROTO_STAMP_TLV_COS && t->len == PROTO_STAMP_TLV_COS_LEN));
    if (rc == 0) {
        FUZZ_CHECK(c.dscp1 <= 63 && c.dscp2 <= 63 && c.ecn <= 3 && c.rp <= 3);
        FUZZ_CHECK(proto_stamp_tlv_put_cos(&w, &c) == 0);
        proto_rd_init(&r, buf, w.off);
        FUZZ_CHECK(proto_stamp_tlv_next(&r, &back) == 1);
        FUZZ_CHECK(proto_stamp_tlv_cos(&back, &c2) == 0 &&
                   memcmp(&c, &c2, sizeof(c)) == 0);
    }
    rc = proto_stamp_tlv_direct(t, &d);
    FUZZ_CHECK((rc == 0) == (t->type == PROTO_STAMP_TLV_DIRECT &&
                             t->len == PROTO_STAMP_TLV_DIRECT_LEN));
    if (rc == 0) {
        FUZZ_CHECK(proto_stamp_tlv_put_direct(&w, &d) == 0);
        proto_rd_init(&r, buf, w.off);
        FUZZ_CHECK(proto_stamp_tlv_next(&r, &back) == 1);
        FUZZ_CHECK(proto_stamp_tlv_direct(&back, &d2) == 0 && d.s_txc == d2.s_txc &&
                   d.r_rxc == d2.r_rxc && d.r_txc == d2.r_txc);
    }
}

/* Walks the area; returns the offset where parsing stopped. */
static size_t check_parse(const uint8_t *area, size_t len)
{
    struct proto_stamp_tlv t;
    struct proto_rd r;
    size_t at;
    int rc;

    proto_rd_init(&r, area, len);
    for (;;) {
        at = r.off;
        rc = proto_stamp_tlv_next(&r, &t);
        if (rc != 1)
            break;
        FUZZ_CHECK(r.off == at + PROTO_STAMP_TLV_HDR + t.len && r.off <= len);
        FUZZ_CHECK(t.len == 0 ? t.value == NULL
                              : t.value == area + at + PROTO_STAMP_TLV_HDR);
        check_values(&t);
    }
    FUZZ_CHECK(r.off == at);
    if (rc == 0) {
        FUZZ_CHECK(at == len);
    } else {
        FUZZ_CHECK(rc == -EBADMSG && at < len);
    }
    return at;
}

/* Writes the right digest into the first HMAC TLV of 16 octets, if any. */
static void sign_request(uint8_t *area, size_t len, uint32_t seq)
{
    struct proto_stamp_tlv t;
    struct proto_rd r;
    size_t at;
    int rc;

    proto_rd_init(&r, area, len);
    for (at = 0; proto_stamp_tlv_next(&r, &t) == 1; at = r.off) {
        if (t.type == PROTO_STAMP_TLV_HMAC && t.len == PROTO_STAMP_TLV_HMAC_LEN) {
            /* What precedes it may be longer than any packet: -EMSGSIZE then. */
            rc =
                proto_stamp_tlv_hmac(key, seq, area, at, area + at + PROTO_STAMP_TLV_HDR);
            FUZZ_CHECK(rc == (at > PROTO_STAMP_MAX_LEN ? -EMSGSIZE : 0));
            return;
        }
    }
}

/* The reply against the request, TLV by TLV. */
static void check_reply(const uint8_t *req, const uint8_t *out, size_t len, size_t parsed,
                        const struct proto_stamp_tlv_result *res)
{
    struct proto_stamp_tlv a, b;
    struct proto_rd ra, rb;
    unsigned n = 0, with_i = 0;

    FUZZ_CHECK(res->unrecognised <= res->tlvs && res->malformed <= res->tlvs);
    FUZZ_CHECK(res->integrity >= -1 && res->integrity <= 1);
    proto_rd_init(&ra, req, len);
    proto_rd_init(&rb, out, len);
    while (proto_stamp_tlv_next(&ra, &a) == 1) {
        FUZZ_CHECK(proto_stamp_tlv_next(&rb, &b) == 1);
        FUZZ_CHECK(a.type == b.type && a.len == b.len && (b.flags & ~FLAGS_KNOWN) == 0);
        if ((b.flags & PROTO_STAMP_TLV_U) || a.type == PROTO_STAMP_TLV_PADDING)
            FUZZ_CHECK(a.len == 0 || memcmp(a.value, b.value, a.len) == 0);
        with_i += (b.flags & PROTO_STAMP_TLV_I) != 0;
        n++;
    }
    FUZZ_CHECK(ra.off == parsed && rb.off == parsed);
    if (parsed < len) {
        /* Cut short: M on its flags octet, everything after it as received. */
        FUZZ_CHECK((out[parsed] & (PROTO_STAMP_TLV_M | ~FLAGS_KNOWN)) ==
                   PROTO_STAMP_TLV_M);
        FUZZ_CHECK(memcmp(req + parsed + 1, out + parsed + 1, len - parsed - 1) == 0);
        with_i += (out[parsed] & PROTO_STAMP_TLV_I) != 0;
        n++;
    }
    FUZZ_CHECK(res->tlvs == n);
    FUZZ_CHECK(with_i == (res->integrity < 0 ? n : 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_stamp_tlv_ctx ctx = {0};
    struct proto_stamp_tlv_result res, res2;
    uint8_t *area = NULL, *out = NULL;
    size_t len, parsed;
    struct proto_rd r;
    uint8_t opt, tos;
    int rc, verified;

    proto_rd_init(&r, data, size);
    if (proto_rd_u8(&r, &opt) != 0 || proto_rd_u8(&r, &tos) != 0 ||
        proto_rd_u32(&r, &ctx.req_seq) != 0 || proto_rd_skip(&r, 2) != 0)
        return 0;
    len = proto_rd_left(&r);
    /* Buffers of exactly the area's size (one octet when empty), for ASan. */
    area = malloc(len + !len);
    out = malloc(len + !len);
    FUZZ_CHECK(area != NULL && out != NULL);
    memcpy(area, data + PREFIX_LEN, len);
    if (opt & OPT_SIGN)
        sign_request(area, len, ctx.req_seq);
    ctx.key = (opt & OPT_KEY) ? key : NULL;
    ctx.require_hmac = (opt & OPT_REQUIRE) != 0;
    ctx.seq = REPLY_SEQ;
    ctx.tsinfo = (struct proto_stamp_tsinfo){PROTO_STAMP_SYNC_NTP, PROTO_STAMP_TSM_SW,
                                             PROTO_STAMP_SYNC_NTP, PROTO_STAMP_TSM_SW};
    ctx.rx_dscp = tos >> 2;
    ctx.rx_ecn = tos & 3;
    ctx.dscp1_allowed = DSCP1_ALLOWED;
    ctx.rx_count = 1000;
    ctx.tx_count = 999;

    parsed = check_parse(area, len);

    verified = proto_stamp_tlv_hmac_verify(area, len, ctx.req_seq, key);
    if (len > PROTO_STAMP_MAX_LEN) {
        FUZZ_CHECK(verified == -EMSGSIZE);
    } else {
        FUZZ_CHECK(verified == 0 || verified == -ENOENT || verified == -EACCES ||
                   verified == -EBADMSG);
        FUZZ_CHECK(verified != -EBADMSG || parsed < len);
    }

    if (len > 0)
        FUZZ_CHECK(proto_stamp_tlv_reflect(area, len, &ctx, out, len - 1, &res) ==
                   (len > PROTO_STAMP_MAX_LEN ? -EMSGSIZE : -ENOBUFS));
    rc = proto_stamp_tlv_reflect(area, len, &ctx, out, len, &res);
    if (len > PROTO_STAMP_MAX_LEN) {
        FUZZ_CHECK(rc == -EMSGSIZE);
        goto done;
    }
    FUZZ_CHECK(rc == (int)len);
    if (len == 0)
        goto done;
    check_reply(area, out, len, parsed, &res);
    if (verified == 0 && ctx.key != NULL) {
        FUZZ_CHECK(res.integrity == 1);
        FUZZ_CHECK(proto_stamp_tlv_hmac_verify(out, len, ctx.seq, key) == 0);
    }
    /* In place: the same answer. */
    FUZZ_CHECK(proto_stamp_tlv_reflect(area, len, &ctx, area, len, &res2) == (int)len);
    FUZZ_CHECK(memcmp(area, out, len) == 0);
    FUZZ_CHECK(res.tlvs == res2.tlvs && res.unrecognised == res2.unrecognised &&
               res.malformed == res2.malformed && res.integrity == res2.integrity &&
               res.has_cos == res2.has_cos &&
               (!res.has_cos || res.reply_dscp == res2.reply_dscp));
done:
    free(area);
    free(out);
    return 0;
}
