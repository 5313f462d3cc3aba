/*
 * reflect_test.c - the reflector's promises: never more octets out than in,
 * short requests only for legacy peers, a tail copied back untouched, own
 * sequence numbers per session in stateful mode, and a per-source limit.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_probe.h"
#include "probe.h"

#define T0 1764000000000000000LL

static struct probe_reflector refl;
static struct sockaddr_storage src_a, src_b;

static void setup(void)
{
    socklen_t l;

    probe_reflector_init(&refl);
    ck_assert_int_eq(proto_addr_parse("192.0.2.1:4000", 0, &src_a, &l), 0);
    ck_assert_int_eq(proto_addr_parse("[2001:db8::2]:4000", 0, &src_b, &l), 0);
}

static int answer(const struct sockaddr_storage *from, const uint8_t *req, size_t len,
                  int64_t t, uint8_t *out)
{
    struct reflect_input x = {
        .req = req, .len = len, .t2_ns = t, .t3_ns = t + 1000, .ttl = 255};

    return probe_reflect(&refl, (const struct sockaddr *)from, &x, out,
                         PROTO_STAMP_MAX_LEN);
}

static size_t sender_packet(uint32_t seq, uint16_t ssid, uint8_t *buf, size_t len)
{
    struct proto_stamp_sender m = {.seq = seq,
                                   .ts = 0x83aa7e8000000001ull,
                                   .ssid = ssid,
                                   .err = {.scale = 18, .mult = 1}};

    ck_assert_int_eq(proto_stamp_sender_encode(&m, buf, len), (int)len);
    return len;
}

START_TEST(random_datagrams_never_amplified)
{
    uint8_t req[PROTO_STAMP_MAX_LEN], out[PROTO_STAMP_MAX_LEN];
    uint32_t x = 12345;

    refl.rate_pps = 1e9; /* this test is about sizes, not rates */
    refl.burst = 1e9;
    for (size_t len = 0; len <= PROTO_STAMP_MAX_LEN; len++) {
        for (size_t i = 0; i < len; i++)
            req[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
        int n = answer(&src_a, req, len, T0 + (int64_t)len, out);

        ck_assert_int_le(n, (int)len);
        if (len < PROTO_STAMP_BASE_LEN)
            ck_assert_int_lt(n, 0);
    }
}
END_TEST

START_TEST(tail_copied_octet_for_octet)
{
    uint8_t req[100], out[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_reflector m;

    sender_packet(7, 0x1234, req, sizeof(req));
    for (size_t i = PROTO_STAMP_BASE_LEN; i < sizeof(req); i++)
        req[i] = (uint8_t)(i * 7);
    ck_assert_int_eq(answer(&src_a, req, sizeof(req), T0, out), (int)sizeof(req));
    ck_assert_mem_eq(out + PROTO_STAMP_BASE_LEN, req + PROTO_STAMP_BASE_LEN,
                     sizeof(req) - PROTO_STAMP_BASE_LEN);
    ck_assert_int_eq(proto_stamp_reflector_decode(out, sizeof(req), &m), 0);
    ck_assert_uint_eq(m.seq, 7); /* stateless: the sender's number */
    ck_assert_uint_eq(m.sender_seq, 7);
    ck_assert_uint_eq(m.ssid, 0x1234);
    ck_assert_uint_eq(m.sender_ttl, 255);
    ck_assert_uint_eq(m.sender_ts, 0x83aa7e8000000001ull);
}
END_TEST

START_TEST(short_requests_only_for_legacy_peers)
{
    uint8_t req[PROTO_STAMP_BASE_LEN], out[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_reflector m;
    uint8_t padded[PROTO_STAMP_BASE_LEN] = {0};

    sender_packet(9, 0, req, sizeof(req));
    ck_assert_int_eq(answer(&src_a, req, 41, T0, out), -EMSGSIZE);
    refl.legacy = 1;
    ck_assert_int_eq(answer(&src_a, req, 40, T0, out), -EMSGSIZE); /* would amplify */
    ck_assert_int_eq(answer(&src_a, req, 41, T0, out), 41);
    memcpy(padded, out, 41);
    ck_assert_int_eq(proto_stamp_reflector_decode(padded, sizeof(padded), &m), 0);
    ck_assert_uint_eq(m.sender_seq, 9);
    ck_assert_uint_eq(m.sender_ttl, 255); /* octet 40, the last one TWAMP-Light has */
}
END_TEST

START_TEST(stateful_sequence_per_session)
{
    uint8_t req[PROTO_STAMP_BASE_LEN], out[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_reflector m;
    uint32_t want_a = 0;

    refl.stateful = 1;
    for (uint32_t i = 0; i < 6; i++) {
        /* Sender sequence numbers with a gap: the reflector counts its own. */
        sender_packet(100 + 2 * i, 1, req, sizeof(req));
        ck_assert_int_eq(answer(i % 3 ? &src_a : &src_b, req, sizeof(req), T0 + i, out),
                         (int)sizeof(req));
        proto_stamp_reflector_decode(out, sizeof(req), &m);
        ck_assert_uint_eq(m.sender_seq, 100 + 2 * i);
        if (i % 3)
            ck_assert_uint_eq(m.seq, want_a++);
    }
    ck_assert_uint_eq(want_a, 4);
}
END_TEST

START_TEST(rate_limit_per_source)
{
    uint8_t req[PROTO_STAMP_BASE_LEN], out[PROTO_STAMP_MAX_LEN];
    int answered = 0;

    sender_packet(1, 0, req, sizeof(req));
    /* 1,000 requests within one millisecond: the burst passes, no more. */
    for (int i = 0; i < 1000; i++)
        answered += answer(&src_a, req, sizeof(req), T0 + i * 1000, out) > 0;
    ck_assert_int_eq(answered, (int)PROBE_REFLECT_BURST);
    ck_assert_uint_eq(refl.rate_limited, 1000 - PROBE_REFLECT_BURST);
    /* Another source has its own budget; the first recovers with time. */
    ck_assert_int_gt(answer(&src_b, req, sizeof(req), T0 + 2000000, out), 0);
    ck_assert_int_lt(answer(&src_a, req, sizeof(req), T0 + 2000000, out), 0);
    ck_assert_int_gt(answer(&src_a, req, sizeof(req), T0 + 1000000000, out), 0);
}
END_TEST

START_TEST(authenticated_mode_checks_hmac_first)
{
    uint8_t key[PROTO_STAMP_KEY_LEN], other[PROTO_STAMP_KEY_LEN];
    uint8_t req[PROTO_STAMP_AUTH_LEN + 8], out[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_sender m = {.seq = 77, .ssid = 5, .err = {.scale = 18, .mult = 1}};
    struct proto_stamp_reflector r;

    memset(key, 0x11, sizeof(key));
    memset(other, 0x22, sizeof(other));
    refl.authenticated = 1;
    refl.keys.has_default = 1;
    memcpy(refl.keys.def, key, sizeof(key));
    ck_assert_int_eq(proto_stamp_sender_encode_auth(&m, key, req, sizeof(req)),
                     (int)sizeof(req));
    ck_assert_int_eq(answer(&src_a, req, sizeof(req), T0, out), (int)sizeof(req));
    ck_assert(proto_stamp_is_reflected_auth(out, sizeof(req)));
    ck_assert(!proto_stamp_is_reflected_auth(req, sizeof(req)));
    ck_assert_int_eq(proto_stamp_reflector_decode_auth(out, sizeof(req), key, &r), 0);
    ck_assert_uint_eq(r.sender_seq, 77);
    ck_assert_uint_eq(r.ssid, 5);
    /* Another key, a flipped bit, or an unauthenticated packet: silence. */
    ck_assert_int_eq(proto_stamp_sender_encode_auth(&m, other, req, sizeof(req)),
                     (int)sizeof(req));
    ck_assert_int_eq(answer(&src_a, req, sizeof(req), T0, out), -EACCES);
    proto_stamp_sender_encode_auth(&m, key, req, sizeof(req));
    req[3] ^= 1;
    ck_assert_int_eq(answer(&src_a, req, sizeof(req), T0, out), -EACCES);
    ck_assert_int_eq(sender_packet(1, 0, req, PROTO_STAMP_BASE_LEN),
                     PROTO_STAMP_BASE_LEN);
    ck_assert_int_lt(answer(&src_a, req, PROTO_STAMP_BASE_LEN, T0, out), 0);
    ck_assert_uint_eq(refl.reflected, 1);
}
END_TEST

START_TEST(tlvs_answered_at_the_same_length)
{
    uint8_t req[PROTO_STAMP_BASE_LEN + 40], out[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_tlv t;
    struct proto_wr w;
    struct proto_rd r;
    int n = 0;

    sender_packet(3, 9, req, PROTO_STAMP_BASE_LEN);
    proto_wr_init(&w, req + PROTO_STAMP_BASE_LEN, sizeof(req) - PROTO_STAMP_BASE_LEN);
    ck_assert_int_eq(proto_stamp_tlv_put_tsinfo(&w, &(struct proto_stamp_tsinfo){0}), 0);
    ck_assert_int_eq(proto_stamp_tlv_put_padding(&w, w.cap - w.off - PROTO_STAMP_TLV_HDR),
                     0);
    ck_assert_uint_eq(w.off, w.cap);
    ck_assert_int_eq(answer(&src_a, req, sizeof(req), T0, out), (int)sizeof(req));
    /* Both TLVs understood: U cleared, our timestamping method filled in. */
    proto_rd_init(&r, out + PROTO_STAMP_BASE_LEN, sizeof(req) - PROTO_STAMP_BASE_LEN);
    while (proto_stamp_tlv_next(&r, &t) == 1) {
        ck_assert_uint_eq(t.flags & PROTO_STAMP_TLV_U, 0);
        if (t.type == PROTO_STAMP_TLV_TSINFO) {
            struct proto_stamp_tsinfo ti;

            ck_assert_int_eq(proto_stamp_tlv_tsinfo(&t, &ti), 0);
            ck_assert_uint_eq(ti.method_in, PROTO_STAMP_TSM_SW);
        }
        n++;
    }
    ck_assert_int_eq(n, 2);
}
END_TEST

START_TEST(zero_padding_is_not_tlvs)
{
    uint8_t req[PROTO_STAMP_BASE_LEN + 20], out[PROTO_STAMP_MAX_LEN];

    sender_packet(4, 0, req, sizeof(req)); /* zero-filled after the base */
    ck_assert_int_eq(answer(&src_a, req, sizeof(req), T0, out), (int)sizeof(req));
    ck_assert_mem_eq(out + PROTO_STAMP_BASE_LEN, req + PROTO_STAMP_BASE_LEN, 20);
}
END_TEST

/* Writes text to a temporary key file and loads it. */
static int load_keys(const char *text, struct probe_keyring *k, char *err, size_t errlen)
{
    char path[] = "/tmp/ixmesh-keys-XXXXXX";
    int fd = mkstemp(path), rc;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    rc = probe_keys_load(path, k, err, errlen);
    if (rc < 0) /* the message names the file: keep what follows it */
        memmove(err, err + strlen(path), strlen(err + strlen(path)) + 1);
    unlink(path);
    return rc;
}

#define K64A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define K64B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

START_TEST(key_per_peer)
{
    static struct probe_keyring k;
    struct sockaddr_storage other;
    socklen_t l;
    char err[256];

    ck_assert_int_eq(load_keys("# mesh\n" K64A "\n2001:db8::2 " K64B "  # router\n", &k,
                               err, sizeof(err)),
                     0);
    ck_assert_uint_eq(probe_key_for(&k, (struct sockaddr *)&src_a)[0], 0x00);
    ck_assert_uint_eq(probe_key_for(&k, (struct sockaddr *)&src_b)[0], 0xff);
    ck_assert_int_eq(load_keys("2001:db8::2 " K64B "\n", &k, err, sizeof(err)), 0);
    ck_assert_ptr_null(probe_key_for(&k, (struct sockaddr *)&src_a)); /* no default */
    proto_addr_parse("::ffff:192.0.2.1", 0, &other, &l);
    ck_assert_int_eq(load_keys("192.0.2.1 " K64A "\n", &k, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(probe_key_for(&k, (struct sockaddr *)&other)); /* v4-mapped */
}
END_TEST

START_TEST(key_file_errors)
{
    static struct probe_keyring k;
    char err[256];

    ck_assert_int_eq(load_keys("", &k, err, sizeof(err)), -1);
    ck_assert_str_eq(err, ": no key in the file");
    ck_assert_int_eq(load_keys(K64A "\n" K64B "\n", &k, err, sizeof(err)), -1);
    ck_assert_str_eq(err, ":2: a second default key");
    ck_assert_int_eq(load_keys("\n\n0011\n", &k, err, sizeof(err)), -1);
    ck_assert_str_eq(err, ":3: a key is 64 hexadecimal digits");
    ck_assert_int_eq(load_keys("host.example " K64A "\n", &k, err, sizeof(err)), -1);
    ck_assert_str_eq(err,
                     ":1: not ADDRESS KEY with a numeric address (no port, no brackets)");
    ck_assert_int_eq(load_keys("192.0.2.1 " K64A "x\n", &k, err, sizeof(err)), -1);
    ck_assert_str_eq(err, ":1: a key is 64 hexadecimal digits");
    /* Keys go by address: a port would be ignored, a second key never used. */
    ck_assert_int_eq(load_keys("192.0.2.1:862 " K64A "\n", &k, err, sizeof(err)), -1);
    ck_assert_str_eq(err,
                     ":1: not ADDRESS KEY with a numeric address (no port, no brackets)");
    ck_assert_int_eq(load_keys("[2001:db8::2] " K64A "\n", &k, err, sizeof(err)), -1);
    ck_assert_int_eq(
        load_keys("2001:db8::2 " K64A "\n2001:db8:0::2 " K64B "\n", &k, err, sizeof(err)),
        -1);
    ck_assert_str_eq(err, ":2: a second key for this address (only one would be used)");
}
END_TEST

START_TEST(peer_without_key_is_not_answered)
{
    uint8_t key[PROTO_STAMP_KEY_LEN], req[PROTO_STAMP_AUTH_LEN], out[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_sender m = {.seq = 1, .err = {.scale = 18, .mult = 1}};

    memset(key, 0x33, sizeof(key));
    refl.authenticated = 1;
    refl.keys.n = 1;
    memcpy(refl.keys.peers[0].key, key, sizeof(key));
    refl.keys.peers[0].addr[10] = refl.keys.peers[0].addr[11] = 0xff;
    memcpy(&refl.keys.peers[0].addr[12], &((struct sockaddr_in *)&src_a)->sin_addr, 4);
    proto_stamp_sender_encode_auth(&m, key, req, sizeof(req));
    ck_assert_int_eq(answer(&src_a, req, sizeof(req), T0, out), (int)sizeof(req));
    ck_assert_int_eq(answer(&src_b, req, sizeof(req), T0, out), -EACCES);
}
END_TEST

Suite *reflect_suite(void)
{
    Suite *s = suite_create("reflect");
    TCase *tc = tcase_create("reflector");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, random_datagrams_never_amplified);
    tcase_add_test(tc, tail_copied_octet_for_octet);
    tcase_add_test(tc, short_requests_only_for_legacy_peers);
    tcase_add_test(tc, stateful_sequence_per_session);
    tcase_add_test(tc, rate_limit_per_source);
    tcase_add_test(tc, authenticated_mode_checks_hmac_first);
    tcase_add_test(tc, tlvs_answered_at_the_same_length);
    tcase_add_test(tc, zero_padding_is_not_tlvs);
    tcase_add_test(tc, key_per_peer);
    tcase_add_test(tc, key_file_errors);
    tcase_add_test(tc, peer_without_key_is_not_answered);
    suite_add_tcase(s, tc);
    return s;
}
