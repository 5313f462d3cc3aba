/*
 * fuzz_stamp_auth.c - the authenticated STAMP packet parsers, RFC 8762
 * 4.2.2 and 4.3.2.
 *
 * The decoders check the HMAC over octets 0-95 before they read a field,
 * so random input stops there.  Each input is therefore decoded twice:
 * as received, where only a short packet or a wrong HMAC may come back,
 * and with octets 96-111 replaced by the right HMAC, as a peer holding the
 * key would send it, so that the field parsers behind the gate are fuzzed
 * too.  Whatever decodes must re-encode to the same fields, and one
 * flipped bit in the covered octets must make the packet fail the check.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define COVERED (PROTO_STAMP_AUTH_LEN - PROTO_STAMP_HMAC_LEN)

/* Where the fields sit in the 112-octet packets (RFC 8762 Figures 3 and 5). */
struct span {
    size_t off, len;
};

static const struct span sender_spans[] = {
    {0, 4},   /* Sequence Number */
    {16, 12}, /* Timestamp, Error Estimate, SSID (RFC 8972 3) */
};

static const struct span reflector_spans[] = {
    {0, 4},   /* Sequence Number */
    {16, 12}, /* Timestamp, Error Estimate, SSID */
    {32, 8},  /* Receive Timestamp */
    {48, 4},  /* Session-Sender Sequence Number */
    {64, 10}, /* Session-Sender Timestamp and Error Estimate */
    {80, 1},  /* Session-Sender TTL */
};

static const uint8_t *const key = FUZZ_STAMP_KEY;

static size_t encode_len(size_t size)
{
    if (size < PROTO_STAMP_AUTH_LEN)
        return PROTO_STAMP_AUTH_LEN;
    return size > PROTO_STAMP_MAX_LEN ? PROTO_STAMP_MAX_LEN : size;
}

static int spans_equal(const uint8_t *a, const uint8_t *b, const struct span *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (memcmp(a + s[i].off, b + s[i].off, s[i].len) != 0)
            return 0;
    }
    return 1;
}

/* rc of a decoder on size octets; signed_ok: the HMAC was made right. */
static void check_rc(int rc, size_t size, int signed_ok)
{
    if (size < PROTO_STAMP_AUTH_LEN)
        FUZZ_CHECK(rc == -EBADMSG);
    else if (signed_ok)
        FUZZ_CHECK(rc == 0);
    else
        FUZZ_CHECK(rc == 0 || rc == -EACCES);
}

/* A packet that passed must fail once any covered bit changes. */
static void check_flip(uint8_t *pkt, size_t len, size_t at, int reflector)
{
    struct proto_stamp_reflector rf;
    struct proto_stamp_sender sd;

    pkt[at % COVERED] ^= (uint8_t)(1u << (at % 8));
    if (reflector)
        FUZZ_CHECK(proto_stamp_reflector_decode_auth(pkt, len, key, &rf) == -EACCES);
    else
        FUZZ_CHECK(proto_stamp_sender_decode_auth(pkt, len, key, &sd) == -EACCES);
    pkt[at % COVERED] ^= (uint8_t)(1u << (at % 8));
}

static void check_sender(const uint8_t *data, size_t size, int signed_ok)
{
    uint8_t out[PROTO_STAMP_MAX_LEN], again[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_sender m, m2;
    size_t len = encode_len(size);
    int rc;

    rc = proto_stamp_sender_decode_auth(data, size, key, &m);
    check_rc(rc, size, signed_ok);
    if (rc != 0)
        return;
    FUZZ_CHECK(proto_stamp_sender_encode_auth(&m, key, out, len) == (int)len);
    FUZZ_CHECK(spans_equal(out, data, sender_spans,
                           sizeof(sender_spans) / sizeof(sender_spans[0])));
    FUZZ_CHECK(proto_stamp_sender_decode_auth(out, len, key, &m2) == 0);
    FUZZ_CHECK(proto_stamp_sender_encode_auth(&m2, key, again, len) == (int)len);
    FUZZ_CHECK(memcmp(out, again, len) == 0);
    check_flip(out, len, m.seq, 0);
}

static void check_reflector(const uint8_t *data, size_t size, int signed_ok)
{
    uint8_t out[PROTO_STAMP_MAX_LEN], again[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_reflector m, m2;
    size_t len = encode_len(size);
    int rc;

    rc = proto_stamp_reflector_decode_auth(data, size, key, &m);
    check_rc(rc, size, signed_ok);
    if (rc != 0)
        return;
    FUZZ_CHECK(proto_stamp_reflector_encode_auth(&m, key, out, len) == (int)len);
    FUZZ_CHECK(spans_equal(out, data, reflector_spans,
                           sizeof(reflector_spans) / sizeof(reflector_spans[0])));
    FUZZ_CHECK(proto_stamp_reflector_decode_auth(out, len, key, &m2) == 0);
    FUZZ_CHECK(proto_stamp_reflector_encode_auth(&m2, key, again, len) == (int)len);
    FUZZ_CHECK(memcmp(out, again, len) == 0);
    check_flip(out, len, m.seq, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *pkt;

    check_sender(data, size, 0);
    check_reflector(data, size, 0);
    if (size < PROTO_STAMP_AUTH_LEN)
        return 0;
    /* A buffer of exactly the input's size, so overreads still show. */
    pkt = malloc(size);
    FUZZ_CHECK(pkt != NULL);
    memcpy(pkt, data, size);
    FUZZ_CHECK(proto_stamp_hmac(key, pkt, COVERED, pkt + COVERED) == 0);
    check_sender(pkt, size, 1);
    check_reflector(pkt, size, 1);
    free(pkt);
    return 0;
}
