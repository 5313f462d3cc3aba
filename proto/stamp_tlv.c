/*
 * stamp_tlv.c - STAMP TLVs, RFC 8972 4: the parser, the Session-Sender's
 * encoders, the HMAC TLV and the Session-Reflector's answer.
 *
 * The reflector's answer is a pure function of the request's TLV area and
 * what the caller knows (struct proto_stamp_tlv_ctx).  It rewrites TLVs in
 * place and never adds or drops one, so the reply is exactly as long as the
 * request: a reflector must not amplify (RFC 8762 4.3, RFC 8972 4).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>

#include "proto.h"

#define SEQ_LEN      4
#define FLAGS_KNOWN  (PROTO_STAMP_TLV_U | PROTO_STAMP_TLV_M | PROTO_STAMP_TLV_I)
#define TLV_LEN_MAX  0xffffu
#define DSCP_SHIFT   2 /* DSCP1 and DSCP2 are 6 bits each, ECN and RP 2 (4.4) */
#define DSCP_MASK    0x3fu
#define TWO_BIT_MASK 0x3u

/* Takes n octets at r as a view into r's buffer; r is unchanged on failure. */
static int rd_view(struct proto_rd *r, size_t n, const uint8_t **v)
{
    const uint8_t *at = r->p != NULL ? r->p + r->off : NULL;
    int rc = proto_rd_skip(r, n);

    if (rc == 0)
        *v = n > 0 ? at : NULL;
    return rc;
}

int proto_stamp_tlv_next(struct proto_rd *r, struct proto_stamp_tlv *t)
{
    struct proto_stamp_tlv x;
    size_t start = r->off;
    int rc;

    if (proto_rd_left(r) == 0)
        return 0;
    if ((rc = proto_rd_u8(r, &x.flags)) < 0 || (rc = proto_rd_u8(r, &x.type)) < 0 ||
        (rc = proto_rd_u16(r, &x.len)) < 0 || (rc = rd_view(r, x.len, &x.value)) < 0) {
        r->off = start;
        return rc;
    }
    *t = x;
    return 1;
}

/* ---- Session-Sender encoders ------------------------------------------- */

/* The header, once the whole TLV is known to fit, so w is never half-written. */
static int wr_header(struct proto_wr *w, uint8_t type, size_t len)
{
    if (len > TLV_LEN_MAX || w->cap - w->off < PROTO_STAMP_TLV_HDR + len)
        return -ENOBUFS;
    proto_wr_u8(w, PROTO_STAMP_TLV_SENDER_FLAGS);
    proto_wr_u8(w, type);
    proto_wr_u16(w, (uint16_t)len);
    return 0;
}

/* Extra Padding, 4.1: zeros, which the RFC allows in place of random octets. */
int proto_stamp_tlv_put_padding(struct proto_wr *w, size_t value_len)
{
    int rc = wr_header(w, PROTO_STAMP_TLV_PADDING, value_len);

    return rc < 0 ? rc : proto_wr_zero(w, value_len);
}

/* Timestamp Information, 4.3: Sync Src In, Timestamp In, Sync Src Out,
 * Timestamp Out, one octet each. */
static void wr_tsinfo(struct proto_wr *w, const struct proto_stamp_tsinfo *v)
{
    proto_wr_u8(w, v->sync_in);
    proto_wr_u8(w, v->method_in);
    proto_wr_u8(w, v->sync_out);
    proto_wr_u8(w, v->method_out);
}

int proto_stamp_tlv_put_tsinfo(struct proto_wr *w, const struct proto_stamp_tsinfo *v)
{
    int rc = wr_header(w, PROTO_STAMP_TLV_TSINFO, PROTO_STAMP_TLV_TSINFO_LEN);

    if (rc == 0)
        wr_tsinfo(w, v);
    return rc;
}

/* Class of Service, 4.4: DSCP1 (6 bits), DSCP2 (6), ECN (2), RP (2), and 16
 * reserved bits written as zero. */
static void wr_cos(struct proto_wr *w, const struct proto_stamp_cos *v)
{
    uint16_t bits =
        (uint16_t)((v->dscp1 & DSCP_MASK) << 10 | (v->dscp2 & DSCP_MASK) << 4 |
                   (v->ecn & TWO_BIT_MASK) << 2 | (v->rp & TWO_BIT_MASK));

    proto_wr_u16(w, bits);
    proto_wr_u16(w, 0);
}

int proto_stamp_tlv_put_cos(struct proto_wr *w, const struct proto_stamp_cos *v)
{
    int rc = wr_header(w, PROTO_STAMP_TLV_COS, PROTO_STAMP_TLV_COS_LEN);

    if (rc == 0)
        wr_cos(w, v);
    return rc;
}

/* Direct Measurement, 4.5: S_TxC, R_RxC, R_TxC, four octets each. */
static void wr_direct(struct proto_wr *w, const struct proto_stamp_direct *v)
{
    proto_wr_u32(w, v->s_txc);
    proto_wr_u32(w, v->r_rxc);
    proto_wr_u32(w, v->r_txc);
}

int proto_stamp_tlv_put_direct(struct proto_wr *w, const struct proto_stamp_direct *v)
{
    int rc = wr_header(w, PROTO_STAMP_TLV_DIRECT, PROTO_STAMP_TLV_DIRECT_LEN);

    if (rc == 0)
        wr_direct(w, v);
    return rc;
}

/* ---- value decoders ------------------------------------------------------ */

static int value_reader(const struct proto_stamp_tlv *t, uint8_t type, uint16_t len,
                        struct proto_rd *r)
{
    if (t->type != type || t->len != len)
        return -EBADMSG;
    proto_rd_init(r, t->value, t->len);
    return 0;
}

int proto_stamp_tlv_tsinfo(const struct proto_stamp_tlv *t, struct proto_stamp_tsinfo *v)
{
    struct proto_stamp_tsinfo x;
    struct proto_rd r;
    int rc;

    if ((rc = value_reader(t, PROTO_STAMP_TLV_TSINFO, PROTO_STAMP_TLV_TSINFO_LEN, &r)) <
            0 ||
        (rc = proto_rd_u8(&r, &x.sync_in)) < 0 ||
        (rc = proto_rd_u8(&r, &x.method_in)) < 0 ||
        (rc = proto_rd_u8(&r, &x.sync_out)) < 0 ||
        (rc = proto_rd_u8(&r, &x.method_out)) < 0)
        return rc;
    *v = x;
    return 0;
}

int proto_stamp_tlv_cos(const struct proto_stamp_tlv *t, struct proto_stamp_cos *v)
{
    struct proto_rd r;
    uint16_t bits;
    int rc;

    if ((rc = value_reader(t, PROTO_STAMP_TLV_COS, PROTO_STAMP_TLV_COS_LEN, &r)) < 0 ||
        (rc = proto_rd_u16(&r, &bits)) < 0)
        return rc;
    v->dscp1 = (uint8_t)(bits >> 10 & DSCP_MASK);
    v->dscp2 = (uint8_t)(bits >> 4 & DSCP_MASK);
    v->ecn = (uint8_t)(bits >> 2 & TWO_BIT_MASK);
    v->rp = (uint8_t)(bits & TWO_BIT_MASK);
    return 0;
}

int proto_stamp_tlv_direct(const struct proto_stamp_tlv *t, struct proto_stamp_direct *v)
{
    struct proto_stamp_direct x;
    struct proto_rd r;
    int rc;

    if ((rc = value_reader(t, PROTO_STAMP_TLV_DIRECT, PROTO_STAMP_TLV_DIRECT_LEN, &r)) <
            0 ||
        (rc = proto_rd_u32(&r, &x.s_txc)) < 0 || (rc = proto_rd_u32(&r, &x.r_rxc)) < 0 ||
        (rc = proto_rd_u32(&r, &x.r_txc)) < 0)
        return rc;
    *v = x;
    return 0;
}

/* ---- the HMAC TLV, 4.8 ---------------------------------------------------- */

int proto_stamp_tlv_hmac(const uint8_t key[PROTO_STAMP_KEY_LEN], uint32_t seq,
                         const uint8_t *tlvs, size_t len,
                         uint8_t out[PROTO_STAMP_HMAC_LEN])
{
    uint8_t text[SEQ_LEN + PROTO_STAMP_MAX_LEN];
    struct proto_wr w;
    int rc;

    if (len > PROTO_STAMP_MAX_LEN)
        return -EMSGSIZE;
    proto_wr_init(&w, text, sizeof(text));
    if ((rc = proto_wr_u32(&w, seq)) < 0)
        return rc;
    if (len > 0)
        memcpy(text + SEQ_LEN, tlvs, len);
    rc = proto_stamp_hmac(key, text, SEQ_LEN + len, out);
    OPENSSL_cleanse(text, SEQ_LEN + len);
    return rc;
}

int proto_stamp_tlv_put_hmac(struct proto_wr *w, size_t tlv_start, uint32_t seq,
                             const uint8_t key[PROTO_STAMP_KEY_LEN])
{
    uint8_t mac[PROTO_STAMP_HMAC_LEN];
    size_t i, covered_off = w->off;
    int rc;

    if (tlv_start > w->off)
        return -EINVAL;
    if (w->cap - w->off < PROTO_STAMP_TLV_HDR + PROTO_STAMP_TLV_HMAC_LEN)
        return -ENOBUFS;
    if ((rc = proto_stamp_tlv_hmac(key, seq, w->p + tlv_start, covered_off - tlv_start,
                                   mac)) < 0)
        return rc;
    wr_header(w, PROTO_STAMP_TLV_HMAC, PROTO_STAMP_TLV_HMAC_LEN);
    for (i = 0; i < sizeof(mac); i++)
        proto_wr_u8(w, mac[i]);
    return 0;
}

/* The HMAC TLV found in an area: offset of its header (-1 when absent),
 * length and value as parsed. */
struct hmac_place {
    long off;
    uint16_t len;
    const uint8_t *value;
};

/*
 * Where the HMAC TLV is and whether it stands where 4.8 wants it: after
 * every TLV but Extra Padding, and alone.  Returns 0; -EACCES when it is
 * misplaced or repeated; -EBADMSG when the area does not parse to its end
 * (h still tells what was found before the break).
 */
static int find_hmac(const uint8_t *tlvs, size_t len, struct hmac_place *h)
{
    struct proto_stamp_tlv t;
    struct proto_rd r;
    int rc, bad = 0;
    size_t at;

    *h = (struct hmac_place){.off = -1};
    proto_rd_init(&r, tlvs, len);
    for (at = r.off; (rc = proto_stamp_tlv_next(&r, &t)) == 1; at = r.off) {
        if (t.type == PROTO_STAMP_TLV_HMAC) {
            bad |= h->off >= 0;
            h->off = (long)at;
            h->len = t.len;
            h->value = t.value;
        } else if (h->off >= 0 && t.type != PROTO_STAMP_TLV_PADDING) {
            bad = 1;
        }
    }
    if (bad)
        return -EACCES;
    return rc < 0 ? rc : 0;
}

/* Checks the digest found at h: 0 right, -EACCES wrong or of a wrong length. */
static int check_digest(const uint8_t *tlvs, const struct hmac_place *h, uint32_t seq,
                        const uint8_t key[PROTO_STAMP_KEY_LEN])
{
    uint8_t want[PROTO_STAMP_HMAC_LEN];
    int rc;

    if (h->len != PROTO_STAMP_TLV_HMAC_LEN)
        return -EACCES;
    if ((rc = proto_stamp_tlv_hmac(key, seq, tlvs, (size_t)h->off, want)) < 0)
        return rc;
    return CRYPTO_memcmp(want, h->value, sizeof(want)) == 0 ? 0 : -EACCES;
}

int proto_stamp_tlv_hmac_verify(const uint8_t *tlvs, size_t len, uint32_t seq,
                                const uint8_t key[PROTO_STAMP_KEY_LEN])
{
    struct hmac_place h;
    int rc;

    if (len > PROTO_STAMP_MAX_LEN)
        return -EMSGSIZE;
    if ((rc = find_hmac(tlvs, len, &h)) < 0)
        return rc;
    if (h.off < 0)
        return -ENOENT;
    return check_digest(tlvs, &h, seq, key);
}

/* ---- the Session-Reflector's answer, 4 ----------------------------------- */

/*
 * The request's integrity, judged before anything is rewritten: 1
 * verified, -1 failed, 0 nothing to check (or -ENOMEM).  Without a key an
 * HMAC TLV cannot be checked: that fails only when one is required.  A TLV
 * area cut short is judged on the HMAC TLV found before the break.
 */
static int request_integrity(const uint8_t *tlvs, size_t len,
                             const struct proto_stamp_tlv_ctx *ctx)
{
    struct hmac_place h;
    int rc;

    if (len == 0)
        return 0;
    if (ctx->key == NULL)
        return ctx->require_hmac ? -1 : 0;
    if (find_hmac(tlvs, len, &h) == -EACCES)
        return -1;
    if (h.off < 0)
        return ctx->require_hmac ? -1 : 0;
    rc = check_digest(tlvs, &h, ctx->req_seq, ctx->key);
    if (rc == -ENOMEM)
        return rc;
    return rc == 0 ? 1 : -1;
}

/* Whether we understand a TLV (*known) and, returned, whether its length
 * suits its type (4: otherwise it is malformed). */
static int classify(uint8_t type, uint16_t len, int have_key, int *known)
{
    switch (type) {
    case PROTO_STAMP_TLV_PADDING:
        *known = 1;
        return 1;
    case PROTO_STAMP_TLV_TSINFO:
        *known = 1;
        return len == PROTO_STAMP_TLV_TSINFO_LEN;
    case PROTO_STAMP_TLV_COS:
        *known = 1;
        return len == PROTO_STAMP_TLV_COS_LEN;
    case PROTO_STAMP_TLV_DIRECT:
        *known = 1;
        return len == PROTO_STAMP_TLV_DIRECT_LEN;
    case PROTO_STAMP_TLV_HMAC:
        *known = have_key;
        return len == PROTO_STAMP_TLV_HMAC_LEN;
    default:
        *known = 0; /* among them Return Path: see proto.h */
        return 1;
    }
}

/* Class of Service, 4.4: DSCP1 stays, DSCP2 and ECN as received, RP = 1
 * when local policy (ctx->dscp1_allowed) refuses DSCP1.  classify() has
 * checked the length, so the value decodes; were it not to, it would stay
 * as received rather than be built from nothing. */
static void answer_cos(struct proto_wr *w, const struct proto_stamp_tlv *t,
                       const struct proto_stamp_tlv_ctx *ctx,
                       struct proto_stamp_tlv_result *res)
{
    struct proto_stamp_cos v;
    int allowed;

    if (proto_stamp_tlv_cos(t, &v) < 0)
        return;
    allowed = (ctx->dscp1_allowed >> v.dscp1 & 1u) != 0;
    v.dscp2 = ctx->rx_dscp;
    v.ecn = ctx->rx_ecn;
    v.rp = allowed ? 0 : 1;
    wr_cos(w, &v);
    res->has_cos = 1;
    res->reply_dscp = allowed ? v.dscp1 : (uint8_t)(ctx->rx_dscp & DSCP_MASK);
}

/* Direct Measurement, 4.5: the sender's S_TxC stays, our counters go in
 * (an undecodable value stays as received, as in answer_cos). */
static void answer_direct(struct proto_wr *w, const struct proto_stamp_tlv *t,
                          const struct proto_stamp_tlv_ctx *ctx)
{
    struct proto_stamp_direct v;

    if (proto_stamp_tlv_direct(t, &v) < 0)
        return;
    v.r_rxc = ctx->rx_count;
    v.r_txc = ctx->tx_count;
    wr_direct(w, &v);
}

/* Rewrites the value of one recognised, well-formed TLV; w is at its value. */
static void answer_value(struct proto_wr *w, const struct proto_stamp_tlv *t,
                         const struct proto_stamp_tlv_ctx *ctx,
                         struct proto_stamp_tlv_result *res)
{
    switch (t->type) {
    case PROTO_STAMP_TLV_TSINFO:
        wr_tsinfo(w, &ctx->tsinfo);
        break;
    case PROTO_STAMP_TLV_COS:
        answer_cos(w, t, ctx, res);
        break;
    case PROTO_STAMP_TLV_DIRECT:
        answer_direct(w, t, ctx);
        break;
    default: /* Extra Padding is copied; HMAC is written last */
        break;
    }
}

/* Sets the flags octet of the TLV at off (reserved bits zeroed). */
static void set_flags(uint8_t *out, size_t len, size_t off, uint8_t flags)
{
    struct proto_wr w;

    proto_wr_init(&w, out, len);
    w.off = off;
    proto_wr_u8(&w, flags & FLAGS_KNOWN);
}

/*
 * Walks the copy in out, one TLV at a time: reads its header from out
 * before touching it, then rewrites its flags and, if we understand it, its
 * value.  Lengths never change.  *hmac_off gets the HMAC TLV to sign.
 */
static void answer_all(uint8_t *out, size_t len, const struct proto_stamp_tlv_ctx *ctx,
                       uint8_t iflag, struct proto_stamp_tlv_result *res, long *hmac_off)
{
    struct proto_stamp_tlv t;
    struct proto_rd r;
    struct proto_wr w;
    size_t at;
    int known, ok;

    *hmac_off = -1;
    proto_rd_init(&r, out, len);
    proto_wr_init(&w, out, len);
    for (at = 0; proto_stamp_tlv_next(&r, &t) == 1; at = r.off) {
        res->tlvs++;
        ok = classify(t.type, t.len, ctx->key != NULL, &known);
        set_flags(out, len, at,
                  (uint8_t)((known ? 0 : PROTO_STAMP_TLV_U) |
                            (ok ? 0 : PROTO_STAMP_TLV_M) | iflag));
        res->unrecognised += !known;
        res->malformed += !ok;
        if (!known || !ok)
            continue;
        w.off = at + PROTO_STAMP_TLV_HDR;
        answer_value(&w, &t, ctx, res);
        if (t.type == PROTO_STAMP_TLV_HMAC && *hmac_off < 0)
            *hmac_off = (long)at;
    }
    if (r.off < len) { /* cut short (4): M on what is there, the rest as is */
        res->tlvs++;
        res->malformed++;
        set_flags(out, len, r.off, PROTO_STAMP_TLV_M | iflag);
    }
}

/* Our digest over ctx->seq and the reply's TLVs before the HMAC TLV. */
static int sign_reply(uint8_t *out, size_t len, long hmac_off,
                      const struct proto_stamp_tlv_ctx *ctx)
{
    uint8_t mac[PROTO_STAMP_HMAC_LEN];
    struct proto_wr w;
    size_t i;
    int rc;

    if (hmac_off < 0 || ctx->key == NULL)
        return 0;
    if ((rc = proto_stamp_tlv_hmac(ctx->key, ctx->seq, out, (size_t)hmac_off, mac)) < 0)
        return rc;
    proto_wr_init(&w, out, len);
    w.off = (size_t)hmac_off + PROTO_STAMP_TLV_HDR;
    for (i = 0; i < sizeof(mac); i++)
        proto_wr_u8(&w, mac[i]);
    return 0;
}

int proto_stamp_tlv_reflect(const uint8_t *req_tlvs, size_t req_len,
                            const struct proto_stamp_tlv_ctx *ctx, uint8_t *out,
                            size_t out_cap, struct proto_stamp_tlv_result *res)
{
    struct proto_stamp_tlv_result scratch;
    long hmac_off;
    int integrity, rc;

    if (res == NULL)
        res = &scratch;
    memset(res, 0, sizeof(*res));
    if (req_len > PROTO_STAMP_MAX_LEN)
        return -EMSGSIZE;
    if (out == NULL || out_cap < req_len)
        return -ENOBUFS;
    if (req_len == 0)
        return 0;
    /* Judged on the octets as received, before any is rewritten. */
    if ((integrity = request_integrity(req_tlvs, req_len, ctx)) == -ENOMEM)
        return -ENOMEM;
    res->integrity = integrity;
    memmove(out, req_tlvs, req_len);
    answer_all(out, req_len, ctx, integrity < 0 ? PROTO_STAMP_TLV_I : 0, res, &hmac_off);
    if ((rc = sign_reply(out, req_len, hmac_off, ctx)) < 0)
        return rc;
    return (int)req_len;
}
