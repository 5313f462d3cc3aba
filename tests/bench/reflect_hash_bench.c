/*
 * reflect_hash_bench.c - what the reflector's keyed bucket hash costs a
 * packet (issue 13), against the unkeyed FNV-1a it replaced, against the
 * same SipHash through OpenSSL 3's EVP_MAC (the alternative not taken: a
 * context re-initialised per packet, which may fail), and against the
 * whole decision on one request (probe_reflect), for scale.  Run by hand;
 * figures only, no bound to pass:
 *
 *   reflect_hash_bench [ROUNDS]
 *
 * Each figure is the best of 5 runs of ROUNDS calls (default 2,000,000)
 * over changing IPv4 and IPv6 source addresses.
 */
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"

#define RUNS 5

static volatile uint64_t sink; /* keeps the work from being optimised away */

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The bucket before issue 13 (probe/reflect.c): FNV-1a over the address
 * octets and a zero port and SSID. */
static uint32_t old_bucket(const struct sockaddr *sa)
{
    const uint8_t *p;
    size_t n;
    uint32_t h = 2166136261u;

    if (sa->sa_family == AF_INET6)
        p = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, n = 16;
    else
        p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr, n = 4;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    for (int i = 0; i < 4; i++)
        h = h * 16777619u;
    return h % PROBE_REFLECT_BUCKETS;
}

/* Source i: 10.x.y.z, or 2001:db8::x:y:z. */
static void source(uint32_t i, int v6, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_addr.s6_addr[0] = 0x20, s6->sin6_addr.s6_addr[1] = 0x01;
        s6->sin6_addr.s6_addr[2] = 0x0d, s6->sin6_addr.s6_addr[3] = 0xb8;
        memcpy(&s6->sin6_addr.s6_addr[12], &i, sizeof(i));
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(0x0a000000u | (i & 0xffffff));
    }
}

static EVP_MAC_CTX *ossl; /* SipHash-2-4, 8 octets out, keyed once */

static int ossl_init(const uint8_t *key)
{
    size_t outlen = 8;
    OSSL_PARAM p[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen),
                      OSSL_PARAM_END};
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);

    ossl = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);
    return ossl != NULL && EVP_MAC_init(ossl, key, PROBE_REFLECT_HASH_KEY, p) == 1 ? 0
                                                                                   : -1;
}

/* The bucket as OpenSSL would give it: the context re-initialised with the
 * key it holds, per packet. */
static uint32_t ossl_bucket(const struct sockaddr *sa)
{
    const uint8_t *p;
    size_t n, outlen;
    uint8_t out[8];
    uint64_t h;

    if (sa->sa_family == AF_INET6)
        p = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, n = 16;
    else
        p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr, n = 4;
    if (EVP_MAC_init(ossl, NULL, 0, NULL) != 1 || EVP_MAC_update(ossl, p, n) != 1 ||
        EVP_MAC_final(ossl, out, &outlen, sizeof(out)) != 1)
        return 0;
    memcpy(&h, out, sizeof(h));
    return (uint32_t)(h % PROBE_REFLECT_BUCKETS);
}

enum what { OLD_FNV, KEYED, OPENSSL_KEYED, WHOLE_REFLECT };

/* Nanoseconds per call, best of RUNS. */
static double time_calls(struct probe_reflector *r, enum what w, int v6, uint32_t rounds)
{
    struct sockaddr_storage ss[256];
    uint8_t req[PROTO_STAMP_BASE_LEN] = {0}, out[PROTO_STAMP_MAX_LEN];
    struct reflect_input x = {.req = req, .len = sizeof(req), .ttl = 255};
    double best = 1e9;

    for (uint32_t i = 0; i < 256; i++)
        source(i * 2654435761u, v6, &ss[i]);
    req[12] = 0x80, req[13] = 1; /* error estimate: synchronised, 1 */
    for (int run = 0; run < RUNS; run++) {
        double t0 = mono_s(), dt;
        uint64_t acc = 0;

        for (uint32_t i = 0; i < rounds; i++) {
            const struct sockaddr *sa = (const struct sockaddr *)&ss[i & 255];

            if (w == OLD_FNV) {
                acc += old_bucket(sa);
            } else if (w == KEYED) {
                acc += probe_reflect_bucket(r, sa);
            } else if (w == OPENSSL_KEYED) {
                acc += ossl_bucket(sa);
            } else {
                x.t2_ns = x.t3_ns = 1764000000000000000LL + (int64_t)i * 1000;
                acc += (uint64_t)probe_reflect(r, sa, &x, out, sizeof(out));
            }
        }
        dt = (mono_s() - t0) * 1e9 / rounds;
        sink += acc;
        if (dt < best)
            best = dt;
    }
    return best;
}

int main(int argc, char **argv)
{
    static struct probe_reflector r;
    uint32_t rounds = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 2000000;
    static const char *const names[] = {
        "old FNV-1a bucket (unkeyed)", "keyed bucket (SipHash-2-4)",
        "same through OpenSSL EVP_MAC", "whole probe_reflect(), 44 octets"};

    if (rounds == 0) {
        fprintf(stderr, "usage: reflect_hash_bench [ROUNDS]\n");
        return 2;
    }
    probe_reflector_init(&r);
    if (ossl_init(r.hash_key) < 0) {
        fprintf(stderr, "reflect_hash_bench: OpenSSL has no SIPHASH MAC\n");
        return 1;
    }
    r.rate_pps = r.burst = r.rate_total_pps = r.burst_total = 1e12; /* answer all */
    for (uint32_t i = 0; i < 1000; i++) { /* the same function, both ways */
        struct sockaddr_storage ss;

        source(i * 2654435761u, i & 1, &ss);
        if (ossl_bucket((struct sockaddr *)&ss) !=
            probe_reflect_bucket(&r, (struct sockaddr *)&ss)) {
            fprintf(stderr, "reflect_hash_bench: OpenSSL's SipHash differs\n");
            return 1;
        }
    }
    printf("%-34s %10s %10s\n", "ns per packet, best of 5", "IPv4", "IPv6");
    for (int w = OLD_FNV; w <= WHOLE_REFLECT; w++)
        printf("%-34s %10.1f %10.1f\n", names[w], time_calls(&r, (enum what)w, 0, rounds),
               time_calls(&r, (enum what)w, 1, rounds));
    EVP_MAC_CTX_free(ossl);
    return 0;
}
