/*
 * fuzz_stamp.c - the STAMP packet parsers, RFC 8762 4.2.1 and 4.3.1, and
 * the TWAMP-Light reflector's reply, RFC 5357 4.2.1 (38 octets and up).
 *
 * The input is one UDP payload as the probe's STAMP socket receives it.
 * Every decoder and proto_stamp_is_reflected() see every input; what a
 * decoder accepts is encoded again at the input's length (clamped to what
 * an encoder takes) and must decode to the same fields, with the octets
 * the decoder read unchanged.  The authenticated decoders and the TLVs
 * after the base packet have harnesses of their own (fuzz_stamp_auth.c,
 * fuzz_stamp_tlv.c).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"

/*
 * Where the encoders write the fields the decoders read (RFC 8762 4.2.1,
 * 4.3.1; the SSID of RFC 8972 3 in octets 14-15).
 */
#define SENDER_FIELDS_LEN 16 /* Sequence Number, Timestamp, Error Estimate, SSID */
#define REFL_FIELDS_LEN   38 /* the same, Receive Timestamp, the sender's fields */
#define REFL_TTL_OFF      40

static size_t encode_len(size_t size)
{
    if (size < PROTO_STAMP_BASE_LEN)
        return PROTO_STAMP_BASE_LEN;
    return size > PROTO_STAMP_MAX_LEN ? PROTO_STAMP_MAX_LEN : size;
}

static void check_sender(const uint8_t *data, size_t size)
{
    uint8_t out[PROTO_STAMP_MAX_LEN], again[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_sender m, m2;
    size_t len = encode_len(size);
    int rc;

    rc = proto_stamp_sender_decode(data, size, &m);
    FUZZ_CHECK(rc == (size < PROTO_STAMP_BASE_LEN ? -EBADMSG : 0));
    if (rc != 0)
        return;
    FUZZ_CHECK(proto_stamp_sender_encode(&m, out, len) == (int)len);
    FUZZ_CHECK(memcmp(out, data, SENDER_FIELDS_LEN) == 0);
    FUZZ_CHECK(!proto_stamp_is_reflected(out, len));
    FUZZ_CHECK(proto_stamp_sender_decode(out, len, &m2) == 0);
    FUZZ_CHECK(proto_stamp_sender_encode(&m2, again, len) == (int)len);
    FUZZ_CHECK(memcmp(out, again, len) == 0);
}

static void check_reflector(const uint8_t *data, size_t size)
{
    uint8_t out[PROTO_STAMP_MAX_LEN], again[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_reflector m, m2;
    size_t len = encode_len(size);
    int rc;

    rc = proto_stamp_reflector_decode(data, size, &m);
    FUZZ_CHECK(rc == (size < PROTO_STAMP_BASE_LEN ? -EBADMSG : 0));
    if (rc != 0)
        return;
    FUZZ_CHECK(proto_stamp_is_reflected(data, size) == (m.rx_ts != 0));
    FUZZ_CHECK(proto_stamp_reflector_encode(&m, out, len) == (int)len);
    FUZZ_CHECK(memcmp(out, data, REFL_FIELDS_LEN) == 0);
    FUZZ_CHECK(out[REFL_TTL_OFF] == data[REFL_TTL_OFF]);
    FUZZ_CHECK(proto_stamp_is_reflected(out, len) == (m.rx_ts != 0));
    FUZZ_CHECK(proto_stamp_reflector_decode(out, len, &m2) == 0);
    FUZZ_CHECK(proto_stamp_reflector_encode(&m2, again, len) == (int)len);
    FUZZ_CHECK(memcmp(out, again, len) == 0);
}

static int reflector_equal(const struct proto_stamp_reflector *a,
                           const struct proto_stamp_reflector *b)
{
    uint8_t pa[PROTO_STAMP_BASE_LEN], pb[PROTO_STAMP_BASE_LEN];

    FUZZ_CHECK(proto_stamp_reflector_encode(a, pa, sizeof(pa)) == (int)sizeof(pa));
    FUZZ_CHECK(proto_stamp_reflector_encode(b, pb, sizeof(pb)) == (int)sizeof(pb));
    return memcmp(pa, pb, sizeof(pa)) == 0;
}

/*
 * TWAMP-Light: 38 octets suffice, the Sender TTL is read only when the
 * input reaches octet 40, and where both decoders take the input they agree.
 */
static void check_light(const uint8_t *data, size_t size)
{
    struct proto_stamp_reflector light, full;
    uint8_t out[PROTO_STAMP_BASE_LEN];
    int rc;

    rc = proto_stamp_reflector_decode_light(data, size, &light);
    FUZZ_CHECK(rc == (size < PROTO_STAMP_LIGHT_MIN_LEN ? -EBADMSG : 0));
    if (rc != 0)
        return;
    FUZZ_CHECK(light.has_sender_ttl == (size > REFL_TTL_OFF));
    FUZZ_CHECK(light.sender_ttl == (light.has_sender_ttl ? data[REFL_TTL_OFF] : 0));
    FUZZ_CHECK(proto_stamp_is_reflected(data, size) == (light.rx_ts != 0));
    FUZZ_CHECK(proto_stamp_reflector_encode(&light, out, sizeof(out)) ==
               (int)sizeof(out));
    FUZZ_CHECK(memcmp(out, data, REFL_FIELDS_LEN) == 0);
    if (proto_stamp_reflector_decode(data, size, &full) == 0) {
        FUZZ_CHECK(full.has_sender_ttl && light.has_sender_ttl);
        FUZZ_CHECK(reflector_equal(&light, &full));
    }
}

/* The Error Estimate's fields cover all 16 bits (RFC 4656 4.1.2). */
static void check_errest(const uint8_t *data, size_t size)
{
    struct proto_stamp_errest e;
    struct proto_rd r;
    uint16_t v;
    double ns;

    proto_rd_init(&r, data, size);
    if (proto_rd_u16(&r, &v) != 0)
        return;
    proto_stamp_errest_unpack(v, &e);
    FUZZ_CHECK(proto_stamp_errest_pack(&e) == v);
    FUZZ_CHECK(proto_stamp_errest_valid(&e) == (e.mult != 0));
    ns = proto_stamp_errest_ns(&e);
    FUZZ_CHECK(isfinite(ns) && ns >= 0 && (ns == 0) == (e.mult == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PROTO_STAMP_LIGHT_MIN_LEN)
        FUZZ_CHECK(!proto_stamp_is_reflected(data, size));
    check_sender(data, size);
    check_reflector(data, size);
    check_light(data, size);
    check_errest(data, size);
    return 0;
}
