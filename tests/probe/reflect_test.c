/*
 * reflect_test.c - the reflector's promises: never more octets out than in,
 * short requests only for legacy peers, a tail copied back untouched, own
 * sequence numbers per session in stateful mode, a per-source limit whose
 * buckets nobody outside can aim at, and a cap over all sources.
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
    /* A fixed key, so that which test sources share a bucket is known (none
     * do); the tests of the key itself make their own. */
    for (size_t i = 0; i < sizeof(refl.hash_key); i++)
        refl.hash_key[i] = (uint8_t)(i * 17 + 1);
    ck_assert_uint_ne(probe_reflect_bucket(&refl, (struct sockaddr *)&src_a),
                      probe_reflect_bucket(&refl, (struct sockaddr *)&src_b));
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
    /* 5,000 requests within 50 us: the burst passes, no more. */
    for (int i = 0; i < 5000; i++)
        answered += answer(&src_a, req, sizeof(req), T0 + i * 10, out) > 0;
    ck_assert_int_eq(answered, (int)PROBE_REFLECT_BURST);
    ck_assert_uint_eq(refl.rate_limited, 5000 - PROBE_REFLECT_BURST);
    /* Another source has its own budget; the first recovers with time. */
    ck_assert_int_gt(answer(&src_b, req, sizeof(req), T0 + 100000, out), 0);
    ck_assert_int_lt(answer(&src_a, req, sizeof(req), T0 + 100000, out), 0);
    ck_assert_int_gt(answer(&src_a, req, sizeof(req), T0 + 1000000000, out), 0);
}
END_TEST

/* The default lets the fastest measure (1,000 a second, 10 s) through
 * untouched, and still limits a source that sends faster than the rate. */
START_TEST(default_rate_passes_any_measure)
{
    uint8_t req[PROTO_STAMP_BASE_LEN], out[PROTO_STAMP_MAX_LEN];
    int64_t t = T0;
    uint64_t refused;

    sender_packet(1, 0, req, sizeof(req));
    for (int i = 0; i < 10000; i++, t += 1000000)
        ck_assert_int_gt(answer(&src_a, req, sizeof(req), t, out), 0);
    ck_assert_uint_eq(refl.rate_limited, 0);
    /* 4,000 a second for 10 s: the burst, then the rate. */
    for (int i = 0; i < 40000; i++, t += 250000)
        answer(&src_b, req, sizeof(req), t, out);
    refused = 40000 - (uint64_t)(PROBE_REFLECT_BURST + 10 * PROBE_REFLECT_RATE);
    ck_assert_uint_le(refl.rate_limited, refused + 2);
    ck_assert_uint_ge(refl.rate_limited, refused - 2);
}
END_TEST

/* Refusals are reported per source, at most once a minute unless forced,
 * and each report starts the count afresh. */
START_TEST(refusals_reported_per_source)
{
    uint8_t req[PROTO_STAMP_BASE_LEN], out[PROTO_STAMP_MAX_LEN];
    struct sockaddr_storage many;
    char msg[512];
    socklen_t l;

    refl.rate_pps = 1, refl.burst = 1;
    sender_packet(1, 0, req, sizeof(req));
    ck_assert_int_eq(probe_reflect_report(&refl, T0, 1, msg, sizeof(msg)), 0);
    for (int i = 0; i < 4; i++)
        answer(&src_a, req, sizeof(req), T0 + i, out);
    answer(&src_b, req, sizeof(req), T0, out);
    answer(&src_b, req, sizeof(req), T0 + 1, out);
    ck_assert_int_eq(probe_reflect_report(&refl, T0 + 2, 0, msg, sizeof(msg)), 1);
    ck_assert_str_eq(msg, "refused 4 requests: 4 over the rate limit of 1/s per source "
                          "(192.0.2.1 3, 2001:db8::2 1)");
    /* Within the minute: counted, not reported, unless forced. */
    answer(&src_a, req, sizeof(req), T0 + 3, out);
    ck_assert_int_eq(probe_reflect_report(&refl, T0 + 59000000000LL, 0, msg, sizeof(msg)),
                     0);
    ck_assert_int_eq(probe_reflect_report(&refl, T0 + 60000000002LL, 0, msg, sizeof(msg)),
                     1);
    ck_assert_str_eq(msg, "refused 1 requests: 1 over the rate limit of 1/s per source "
                          "(192.0.2.1 1)");
    ck_assert_int_eq(probe_reflect_report(&refl, T0 + 60000000003LL, 1, msg, sizeof(msg)),
                     0);
    /* Past the sources it names, the rest are counted together. */
    for (int k = 0; k < PROBE_REFLECT_REFUSED + 3; k++) {
        char a[32];

        snprintf(a, sizeof(a), "198.51.100.%d:9", k + 1);
        ck_assert_int_eq(proto_addr_parse(a, 0, &many, &l), 0);
        answer(&many, req, sizeof(req), T0 + 70000000000LL, out);
        answer(&many, req, sizeof(req), T0 + 70000000000LL, out);
    }
    ck_assert_int_eq(probe_reflect_report(&refl, T0 + 70000000001LL, 1, msg, sizeof(msg)),
                     1);
    ck_assert_ptr_nonnull(strstr(msg, "refused 11 requests: 11 over"));
    ck_assert_ptr_nonnull(strstr(msg, "(198.51.100.1 1, 198.51.100.2 1,"));
    ck_assert_ptr_nonnull(strstr(msg, ", 198.51.100.8 1, and 3 from other sources)"));
    ck_assert_ptr_null(strstr(msg, "198.51.100.9 "));
    ck_assert_uint_eq(refl.rate_limited, 16);
}
END_TEST

/* Replies per second to send_pps requests through a real reflector limited
 * to limit_pps, over secs seconds. */
static void through_limit(double limit_pps, uint32_t send_pps, size_t secs, uint32_t *rx)
{
    uint8_t req[PROTO_STAMP_BASE_LEN], out[PROTO_STAMP_MAX_LEN];
    int64_t gap = 1000000000 / send_pps;

    refl.rate_pps = limit_pps;
    refl.burst = 2 * limit_pps;
    sender_packet(1, 0, req, sizeof(req));
    for (size_t s = 0; s < secs; s++) {
        rx[s] = 0;
        for (uint32_t k = 0; k < send_pps; k++)
            rx[s] += answer(&src_a, req, sizeof(req),
                            T0 + (int64_t)(s * send_pps + k) * gap, out) > 0;
    }
}

/* Binomial replies: each of per_s requests lost with chance q. */
static void random_loss(uint32_t *seed, double q, uint32_t per_s, size_t secs,
                        uint32_t *rx)
{
    for (size_t s = 0; s < secs; s++) {
        rx[s] = 0;
        for (uint32_t k = 0; k < per_s; k++) {
            *seed = *seed * 1103515245u + 12345u;
            rx[s] += (double)(*seed >> 8) / (double)(1u << 24) >= q;
        }
    }
}

/* The sender's side: a limiter's steady replies are told from random loss
 * of the same size, and nothing is said of too little to judge. */
START_TEST(limit_told_from_random_loss)
{
    uint32_t rx[60], seed = 7;
    double rate = 0;
    int false_alarms = 0;

    /* measure --count 3000 --interval 5 against reflect --rate 100. */
    through_limit(100, 200, 15, rx);
    /* The burst of 200 lasts two seconds: half a token lost a request. */
    ck_assert_uint_eq(rx[0], 200);
    ck_assert_uint_ge(rx[1], 199);
    ck_assert_uint_eq(rx[5], 100);
    ck_assert_int_eq(probe_reflect_limit_suspected(rx, 15, 200, &rate), 1);
    ck_assert_double_eq_tol(rate, 100, 1);
    /* Just over the limit: the burst lasts 38 s, then 5 % are refused,
     * steadily. */
    through_limit(190, 200, 60, rx);
    ck_assert_uint_eq(rx[36], 200);
    ck_assert_uint_eq(rx[50], 190);
    ck_assert_int_eq(probe_reflect_limit_suspected(rx, 45, 200, &rate), 0);
    ck_assert_int_eq(probe_reflect_limit_suspected(rx, 60, 200, &rate), 1);
    ck_assert_double_eq_tol(rate, 190, 1);
    /* Under the default, nothing is refused, nothing is said. */
    through_limit(PROBE_REFLECT_RATE, 1000, 12, rx);
    ck_assert_uint_eq(rx[11], 1000);
    ck_assert_int_eq(probe_reflect_limit_suspected(rx, 12, 1000, &rate), 0);
    /* 10 % and 50 % random loss, 500 runs each: about one false alarm in a
     * thousand is the design. */
    for (int run = 0; run < 500; run++) {
        random_loss(&seed, 0.10, 200, 15, rx);
        false_alarms += probe_reflect_limit_suspected(rx, 15, 200, &rate);
        random_loss(&seed, 0.50, 200, 15, rx);
        false_alarms += probe_reflect_limit_suspected(rx, 15, 200, &rate);
    }
    ck_assert_int_le(false_alarms, 5);
    /* Too few seconds, too few requests a second, or no loss: no verdict. */
    through_limit(100, 200, 9, rx);
    ck_assert_int_eq(probe_reflect_limit_suspected(rx, 9, 200, &rate), 0);
    through_limit(5, 9, 30, rx);
    ck_assert_int_eq(probe_reflect_limit_suspected(rx, 30, 9, &rate), 0);
    for (size_t s = 0; s < 30; s++)
        rx[s] = 200;
    ck_assert_int_eq(probe_reflect_limit_suspected(rx, 30, 200, &rate), 0);
    /* Nothing came back at all: that is no limiter's doing. */
    memset(rx, 0, sizeof(rx));
    ck_assert_int_eq(probe_reflect_limit_suspected(rx, 30, 200, &rate), 0);
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

/* ---- the keyed buckets (issue 13) ---------------------------------------- */

/* The bucket the reflector used before issue 13: FNV-1a, unkeyed, over the
 * IPv4 address and a zero port and SSID, modulo the table.  Anybody could
 * compute it, and so pick an address sharing a victim's bucket. */
static uint32_t old_fnv_bucket(uint32_t ip_host_order)
{
    uint8_t o[8] = {(uint8_t)(ip_host_order >> 24), (uint8_t)(ip_host_order >> 16),
                    (uint8_t)(ip_host_order >> 8), (uint8_t)ip_host_order};
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < sizeof(o); i++)
        h = (h ^ o[i]) * 16777619u;
    return h % PROBE_REFLECT_BUCKETS;
}

static void v4(uint32_t ip_host_order, struct sockaddr_storage *ss)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;

    memset(ss, 0, sizeof(*ss));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(862);
    sin->sin_addr.s_addr = htonl(ip_host_order);
}

static uint32_t bucket_of(const struct probe_reflector *r, uint32_t ip)
{
    struct sockaddr_storage ss;

    v4(ip, &ss);
    return probe_reflect_bucket(r, (struct sockaddr *)&ss);
}

/* Two random keys (each process draws its own) put the same addresses in
 * unrelated buckets: of 2,000 addresses, about 2000 / 4096 = 0.5 land in the
 * same bucket under both by chance; 8 or more happens with chance below
 * 1e-6 (Poisson).  The port does not count: the limit is per address. */
START_TEST(keyed_hash_differs_between_keys)
{
    static struct probe_reflector other;
    struct sockaddr_storage a, b;
    int same = 0;

    probe_reflector_init(&refl);
    probe_reflector_init(&other);
    ck_assert_mem_ne(refl.hash_key, other.hash_key, sizeof(refl.hash_key));
    for (uint32_t i = 0; i < 2000; i++) {
        uint32_t ip = 0xc6336400u + i; /* 198.51.100.0 on */

        ck_assert_uint_lt(bucket_of(&refl, ip), PROBE_REFLECT_BUCKETS);
        same += bucket_of(&refl, ip) == bucket_of(&other, ip);
    }
    ck_assert_int_lt(same, 8);
    v4(0x7f000001u, &a);
    v4(0x7f000001u, &b);
    ((struct sockaddr_in *)&b)->sin_port = htons(9999);
    ck_assert_uint_eq(probe_reflect_bucket(&refl, (struct sockaddr *)&a),
                      probe_reflect_bucket(&refl, (struct sockaddr *)&b));
}
END_TEST

/*
 * Pairs of addresses that shared a bucket under the old FNV-1a (found here
 * the way an attacker would: for 127.0.0.1, the address `measure` sends
 * from on loopback, and for 192.0.2.1, among 64Ki addresses each) share one
 * under a random key only by chance, 1 in 4,096 per pair: of the pairs
 * found (about 32), 3 or more still sharing happens with chance below 1e-5.
 * 127.0.93.74, the source e2e.reflector_aim floods from, is one of them.
 */
START_TEST(old_collisions_no_longer_share_a_bucket)
{
    static const uint32_t victims[] = {0x7f000001u, 0xc0000201u};
    int pairs = 0, shared = 0, has_e2e_source = 0;

    probe_reflector_init(&refl);
    for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
        uint32_t want = old_fnv_bucket(victims[v]);

        for (uint32_t lo = 0; lo < 65536; lo++) {
            uint32_t ip = (victims[v] & 0xffff0000u) | lo;

            if (ip == victims[v] || old_fnv_bucket(ip) != want)
                continue;
            pairs++;
            has_e2e_source |= ip == 0x7f005d4au; /* 127.0.93.74 */
            shared += bucket_of(&refl, ip) == bucket_of(&refl, victims[v]);
        }
    }
    ck_assert_int_ge(pairs, 16); /* the attack had a choice */
    ck_assert_int_eq(has_e2e_source, 1);
    ck_assert_int_lt(shared, 3);
}
END_TEST

/* 500 sources at 10 a second each, 5,000 in all, for 10 s, against a cap of
 * 1,000 a second over all: the cap's burst and its rate pass, no more, and
 * the refusals are the cap's, not any source's. */
START_TEST(cap_holds_over_many_sources)
{
    uint8_t req[PROTO_STAMP_BASE_LEN], out[PROTO_STAMP_MAX_LEN];
    struct sockaddr_storage from;
    uint64_t answered = 0, sent = 0, allowed;

    refl.rate_total_pps = 1000;
    refl.burst_total = 2000;
    sender_packet(1, 0, req, sizeof(req));
    for (int tick = 0; tick < 100; tick++)   /* every 100 ms */
        for (uint32_t s = 0; s < 500; s++) { /* spread over the tick */
            v4(0x0a000000u + s, &from);
            answered += answer(&from, req, sizeof(req),
                               T0 + tick * 100000000LL + s * 200000LL, out) > 0;
            sent++;
        }
    allowed = (uint64_t)(refl.burst_total + 10 * refl.rate_total_pps);
    ck_assert_uint_le(answered, allowed);
    ck_assert_uint_ge(answered, allowed - 2);
    ck_assert_uint_eq(refl.rate_limited, 0);
    ck_assert_uint_eq(refl.total_limited, sent - answered);
}
END_TEST

/* What a source is refused by its own limit costs the others nothing of the
 * cap: one source flooding takes at most its own rate out of it. */
START_TEST(cap_not_spent_by_refused_requests)
{
    uint8_t req[PROTO_STAMP_BASE_LEN], out[PROTO_STAMP_MAX_LEN];
    int answered = 0;

    refl.rate_pps = 100, refl.burst = 100;
    refl.rate_total_pps = 1000, refl.burst_total = 1000;
    sender_packet(1, 0, req, sizeof(req));
    for (int i = 0; i < 100000; i++) /* 100,000 within 10 ms */
        answered += answer(&src_a, req, sizeof(req), T0 + i * 100, out) > 0;
    ck_assert_int_le(answered, 102);
    ck_assert_uint_eq(refl.total_limited, 0);
    answered = 0;
    for (int i = 0; i < 100; i++)
        answered += answer(&src_b, req, sizeof(req), T0 + 10000000 + i, out) > 0;
    ck_assert_int_eq(answered, 100);
}
END_TEST

/* The report tells the two limits apart, per source. */
START_TEST(refusals_by_cap_told_apart)
{
    uint8_t req[PROTO_STAMP_BASE_LEN], out[PROTO_STAMP_MAX_LEN];
    struct sockaddr_storage third;
    char msg[512];

    refl.rate_pps = 2, refl.burst = 2;
    refl.rate_total_pps = 3, refl.burst_total = 3;
    sender_packet(1, 0, req, sizeof(req));
    /* a: 2 answered, 1 refused by its limit; b: 1 answered, 2 by the cap. */
    for (int i = 0; i < 3; i++)
        answer(&src_a, req, sizeof(req), T0 + i, out);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(answer(&src_b, req, sizeof(req), T0 + 10 + i, out),
                         i == 0 ? (int)sizeof(req) : -EBUSY);
    ck_assert_uint_eq(refl.rate_limited, 1);
    ck_assert_uint_eq(refl.total_limited, 2);
    ck_assert_int_eq(probe_reflect_report(&refl, T0 + 20, 1, msg, sizeof(msg)), 1);
    ck_assert_str_eq(msg, "refused 3 requests: 1 over the rate limit of 2/s per source "
                          "(192.0.2.1 1), 2 over the cap of 3/s over all sources "
                          "(2001:db8::2 2)");
    /* The cap alone: a third source, its own bucket full. */
    v4(0xc0000203u, &third);
    ck_assert_int_eq(answer(&third, req, sizeof(req), T0 + 30, out), -EBUSY);
    ck_assert_int_eq(probe_reflect_report(&refl, T0 + 40, 1, msg, sizeof(msg)), 1);
    ck_assert_str_eq(msg, "refused 1 requests: 1 over the cap of 3/s over all sources "
                          "(192.0.2.3 1)");
    /* A report cut short by its buffer is still a string. */
    for (int i = 0; i < 3; i++)
        answer(&src_b, req, sizeof(req), T0 + 50 + i, out);
    ck_assert_int_eq(probe_reflect_report(&refl, T0 + 60, 1, msg, 20), 1);
    ck_assert_uint_eq(strlen(msg), 19);
}
END_TEST

/* Receive stamps a little out of order (two CPUs) earn no tokens: before,
 * one older than the last refilled the whole burst (an attacker drew 7,596
 * answers in one second at a limit of 2,000).  A step back of more than a
 * second is the clock's, and starts afresh. */
START_TEST(older_stamp_earns_nothing)
{
    uint8_t req[PROTO_STAMP_BASE_LEN], out[PROTO_STAMP_MAX_LEN];

    refl.rate_pps = 10, refl.burst = 10;
    refl.rate_total_pps = 10, refl.burst_total = 10;
    sender_packet(1, 0, req, sizeof(req));
    for (int i = 0; i < 10; i++)
        ck_assert_int_gt(answer(&src_a, req, sizeof(req), T0 + 1000000 + i, out), 0);
    ck_assert_int_eq(answer(&src_a, req, sizeof(req), T0 + 1000000 + 10, out), -EAGAIN);
    ck_assert_int_eq(answer(&src_a, req, sizeof(req), T0 + 1000000 - 5000, out), -EAGAIN);
    ck_assert_int_eq(answer(&src_b, req, sizeof(req), T0 + 1000000 - 5000, out), -EBUSY);
    ck_assert_int_gt(answer(&src_a, req, sizeof(req), T0 - 2000000000LL, out), 0);
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
    tcase_add_test(tc, default_rate_passes_any_measure);
    tcase_add_test(tc, refusals_reported_per_source);
    tcase_add_test(tc, limit_told_from_random_loss);
    tcase_add_test(tc, authenticated_mode_checks_hmac_first);
    tcase_add_test(tc, tlvs_answered_at_the_same_length);
    tcase_add_test(tc, zero_padding_is_not_tlvs);
    tcase_add_test(tc, key_per_peer);
    tcase_add_test(tc, key_file_errors);
    tcase_add_test(tc, peer_without_key_is_not_answered);
    tcase_add_test(tc, keyed_hash_differs_between_keys);
    tcase_add_test(tc, old_collisions_no_longer_share_a_bucket);
    tcase_add_test(tc, cap_holds_over_many_sources);
    tcase_add_test(tc, cap_not_spent_by_refused_requests);
    tcase_add_test(tc, refusals_by_cap_told_apart);
    tcase_add_test(tc, older_stamp_earns_nothing);
    suite_add_tcase(s, tc);
    return s;
}
