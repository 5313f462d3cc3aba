/*
 * stamp_auth.c - STAMP test packets in authenticated mode, RFC 8762 4.2.2
 * and 4.3.2, with the SSID of RFC 8972 3.
 *
 * The layouts are those of the unauthenticated packets, each field moved
 * to the start of a 16-octet block with MBZ octets around it, and octets
 * 96-111 an HMAC-SHA-256 over octets 0-95, truncated to 128 bits.  A
 * decoder checks that HMAC, in constant time, before it reads any field:
 * nothing an attacker wrote is interpreted unless the key holder wrote it.
 */
#include <errno.h>
#include <limits.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proto.h"

/* The octets the HMAC covers (RFC 8762 4.2.2: the first six blocks). */
#define AUTH_COVERED (PROTO_STAMP_AUTH_LEN - PROTO_STAMP_HMAC_LEN)

int proto_stamp_hmac(const uint8_t key[PROTO_STAMP_KEY_LEN], const uint8_t *p, size_t n,
                     uint8_t out[PROTO_STAMP_HMAC_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t i;

    if (HMAC(EVP_sha256(), key, PROTO_STAMP_KEY_LEN, p, n, md, &mdlen) == NULL ||
        mdlen < PROTO_STAMP_HMAC_LEN)
        return -ENOMEM;
    for (i = 0; i < PROTO_STAMP_HMAC_LEN; i++)
        out[i] = md[i];
    OPENSSL_cleanse(md, sizeof(md));
    return 0;
}

static int check_out_len(size_t len)
{
    if (len < PROTO_STAMP_AUTH_LEN)
        return -ENOBUFS;
    if (len > INT_MAX)
        return -EMSGSIZE;
    return 0;
}

/* Sequence Number, MBZ (12), Timestamp, Error Estimate: octets 0-25. */
static int wr_block(struct proto_wr *w, uint32_t seq, uint64_t ts,
                    const struct proto_stamp_errest *e)
{
    int rc;

    if ((rc = proto_wr_u32(w, seq)) < 0 || (rc = proto_wr_zero(w, 12)) < 0 ||
        (rc = proto_wr_u64(w, ts)) < 0 ||
        (rc = proto_wr_u16(w, proto_stamp_errest_pack(e))) < 0)
        return rc;
    return 0;
}

static int rd_block(struct proto_rd *r, uint32_t *seq, uint64_t *ts,
                    struct proto_stamp_errest *e)
{
    uint16_t v;
    int rc;

    if ((rc = proto_rd_u32(r, seq)) < 0 || (rc = proto_rd_skip(r, 12)) < 0 ||
        (rc = proto_rd_u64(r, ts)) < 0 || (rc = proto_rd_u16(r, &v)) < 0)
        return rc;
    proto_stamp_errest_unpack(v, e);
    return 0;
}

/* Octets 0-95 are written; now the HMAC over them and the zero tail. */
static int wr_hmac_and_pad(struct proto_wr *w, const uint8_t key[PROTO_STAMP_KEY_LEN],
                           size_t len)
{
    uint8_t mac[PROTO_STAMP_HMAC_LEN];
    size_t i;
    int rc;

    if (w->off != AUTH_COVERED)
        return -EINVAL;
    if ((rc = proto_stamp_hmac(key, w->p, AUTH_COVERED, mac)) < 0)
        return rc;
    for (i = 0; i < sizeof(mac); i++)
        if ((rc = proto_wr_u8(w, mac[i])) < 0)
            return rc;
    if ((rc = proto_wr_zero(w, len - w->off)) < 0)
        return rc;
    return (int)len;
}

/* Session-Sender packet, authenticated mode: RFC 8762 4.2.2, Figure 3. */
int proto_stamp_sender_encode_auth(const struct proto_stamp_sender *m,
                                   const uint8_t key[PROTO_STAMP_KEY_LEN], uint8_t *buf,
                                   size_t len)
{
    struct proto_wr w;
    int rc;

    if ((rc = check_out_len(len)) < 0)
        return rc;
    proto_wr_init(&w, buf, len);
    /* 0-25 as above, 26-27 SSID (RFC 8972 3), 28-95 MBZ. */
    if ((rc = wr_block(&w, m->seq, m->ts, &m->err)) < 0 ||
        (rc = proto_wr_u16(&w, m->ssid)) < 0 ||
        (rc = proto_wr_zero(&w, AUTH_COVERED - w.off)) < 0)
        return rc;
    return wr_hmac_and_pad(&w, key, len);
}

/* Session-Reflector packet, authenticated mode: RFC 8762 4.3.2, Figure 5. */
int proto_stamp_reflector_encode_auth(const struct proto_stamp_reflector *m,
                                      const uint8_t key[PROTO_STAMP_KEY_LEN],
                                      uint8_t *buf, size_t len)
{
    struct proto_wr w;
    int rc;

    if ((rc = check_out_len(len)) < 0)
        return rc;
    proto_wr_init(&w, buf, len);
    /* 0-25, 26-27 SSID, 28-31 MBZ, 32-39 Receive Timestamp, 40-47 MBZ. */
    if ((rc = wr_block(&w, m->seq, m->ts, &m->err)) < 0 ||
        (rc = proto_wr_u16(&w, m->ssid)) < 0 || (rc = proto_wr_zero(&w, 4)) < 0 ||
        (rc = proto_wr_u64(&w, m->rx_ts)) < 0 || (rc = proto_wr_zero(&w, 8)) < 0)
        return rc;
    /* 48-73 the Session-Sender's block, 74-79 MBZ, 80 TTL, 81-95 MBZ. */
    if ((rc = wr_block(&w, m->sender_seq, m->sender_ts, &m->sender_err)) < 0 ||
        (rc = proto_wr_zero(&w, 6)) < 0 || (rc = proto_wr_u8(&w, m->sender_ttl)) < 0 ||
        (rc = proto_wr_zero(&w, AUTH_COVERED - w.off)) < 0)
        return rc;
    return wr_hmac_and_pad(&w, key, len);
}

/*
 * The gate every authenticated decoder passes first: the length, then the
 * HMAC over octets 0-95 against octets 96-111 with CRYPTO_memcmp(), which
 * takes the same time wherever the first difference is.
 */
static int check_hmac(const uint8_t *buf, size_t len,
                      const uint8_t key[PROTO_STAMP_KEY_LEN])
{
    uint8_t want[PROTO_STAMP_HMAC_LEN], got[PROTO_STAMP_HMAC_LEN];
    struct proto_rd r;
    int rc;

    if (buf == NULL || len < PROTO_STAMP_AUTH_LEN)
        return -EBADMSG;
    proto_rd_init(&r, buf, len);
    if ((rc = proto_rd_skip(&r, AUTH_COVERED)) < 0 ||
        (rc = proto_rd_bytes(&r, got, sizeof(got))) < 0)
        return rc;
    if ((rc = proto_stamp_hmac(key, buf, AUTH_COVERED, want)) < 0)
        return rc;
    return CRYPTO_memcmp(want, got, sizeof(want)) == 0 ? 0 : -EACCES;
}

int proto_stamp_sender_decode_auth(const uint8_t *buf, size_t len,
                                   const uint8_t key[PROTO_STAMP_KEY_LEN],
                                   struct proto_stamp_sender *m)
{
    struct proto_stamp_sender t;
    struct proto_rd r;
    int rc;

    if ((rc = check_hmac(buf, len, key)) < 0)
        return rc;
    proto_rd_init(&r, buf, len);
    if ((rc = rd_block(&r, &t.seq, &t.ts, &t.err)) < 0 ||
        (rc = proto_rd_u16(&r, &t.ssid)) < 0)
        return rc;
    *m = t;
    return 0;
}

int proto_stamp_reflector_decode_auth(const uint8_t *buf, size_t len,
                                      const uint8_t key[PROTO_STAMP_KEY_LEN],
                                      struct proto_stamp_reflector *m)
{
    struct proto_stamp_reflector t;
    struct proto_rd r;
    int rc;

    if ((rc = check_hmac(buf, len, key)) < 0)
        return rc;
    proto_rd_init(&r, buf, len);
    if ((rc = rd_block(&r, &t.seq, &t.ts, &t.err)) < 0 ||
        (rc = proto_rd_u16(&r, &t.ssid)) < 0 || (rc = proto_rd_skip(&r, 4)) < 0 ||
        (rc = proto_rd_u64(&r, &t.rx_ts)) < 0 || (rc = proto_rd_skip(&r, 8)) < 0 ||
        (rc = rd_block(&r, &t.sender_seq, &t.sender_ts, &t.sender_err)) < 0 ||
        (rc = proto_rd_skip(&r, 6)) < 0 || (rc = proto_rd_u8(&r, &t.sender_ttl)) < 0)
        return rc;
    t.has_sender_ttl = 1; /* the HMAC covers a whole packet: octet 80 is there */
    *m = t;
    return 0;
}
