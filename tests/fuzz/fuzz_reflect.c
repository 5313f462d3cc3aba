/*
 * fuzz_reflect.c - the probe's STAMP session-reflector and its reply
 * matcher on raw datagrams: probe_reflect() and probe_stamp_reply().
 *
 * Input: a flags octet (FUZZ_REFLECT_* in fuzz.h: authenticated or not,
 * stateful, legacy, IPv4 or IPv6 source, ...), the TOS octet the request
 * arrived with, then the datagram, at most PROTO_STAMP_MAX_LEN octets.
 *
 * The reflector must never answer with more octets than it received (no
 * amplification), must not write beyond the answer buffer, must stay
 * silent in authenticated mode unless the HMAC is right, and must answer
 * every request it is configured to take, with its fields copied back.
 * Its answer and the datagram itself are then given to a session-sender
 * task with a few requests outstanding: a reply matches a request we sent
 * or is refused, and a match yields a plausible RTT.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "probe.h"

#define COVERED    (PROTO_STAMP_AUTH_LEN - PROTO_STAMP_HMAC_LEN)
#define LIGHT_LEN  41 /* a TWAMP-Light reply ends with the Sender TTL */
#define GUARD      32 /* octets after the answer buffer that must stay as they were */
#define GUARD_FILL 0xa5

/* Wall-clock times of the exchange: T1 of the first request (Nov 2023),
 * one request a millisecond, T2 and T3 at the reflector, T4 back home. */
#define T1_NS   INT64_C(1700000000000000000)
#define T1_STEP INT64_C(1000000)
#define T2_NS   (T1_NS + INT64_C(10000000))
#define T3_NS   (T2_NS + INT64_C(50000))
#define T4_NS   (T1_NS + INT64_C(20000000))
#define RX_TTL  250

static const uint8_t *const key = FUZZ_STAMP_KEY;

/* Fixed in size and about 80 KB: static, initialised again for each input. */
static struct probe_reflector reflector;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void source(struct sockaddr_storage *ss, int ipv6)
{
    memset(ss, 0, sizeof(*ss));
    if (ipv6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(862);
        s6->sin6_addr.s6_addr[0] = 0x20; /* 2001:db8::7 */
        s6->sin6_addr.s6_addr[1] = 0x01;
        s6->sin6_addr.s6_addr[2] = 0x0d;
        s6->sin6_addr.s6_addr[3] = 0xb8;
        s6->sin6_addr.s6_addr[15] = 7;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons(862);
        s4->sin_addr.s_addr = htonl(0xc0000207); /* 192.0.2.7 */
    }
}

/*
 * A task that sent FUZZ_REFLECT_PRIMED requests in its open window.  Its
 * first sequence number and SSID are random in the probe; here they are
 * fixed, so that an input always means the same.
 */
static struct probe_task *sender_task(int auth)
{
    const struct proto_task spec = {
        .id = 1,
        .method = PROTO_METHOD_STAMP,
        .target_id = "t",
        .addr = "192.0.2.1",
        .port = 862,
        .interval_ms = 1000,
        .timeout_ms = 1000,
        .size = PROTO_STAMP_BASE_LEN,
    };
    size_t len = auth ? PROTO_STAMP_AUTH_LEN : spec.size;
    uint8_t buf[PROTO_STAMP_AUTH_LEN];
    struct probe_task *t;
    int i;

    t = probe_task_new(&spec);
    FUZZ_CHECK(t != NULL);
    t->first_seq = t->next_seq = FUZZ_REFLECT_FIRST_SEQ;
    t->ssid = FUZZ_REFLECT_SSID;
    probe_window_open(&t->win[0], 1, 1);
    for (i = 0; i < FUZZ_REFLECT_PRIMED; i++)
        FUZZ_CHECK(probe_stamp_request(t, auth ? key : NULL, T1_NS + i * T1_STEP,
                                       T1_NS + i * T1_STEP, buf, len) == (int)len);
    FUZZ_CHECK(t->win[0].sent == FUZZ_REFLECT_PRIMED);
    return t;
}

/* Whatever comes back, a match must describe the packet and a sane RTT. */
static int match(struct probe_task *t, int auth, const uint8_t *buf, size_t len)
{
    struct probe_reply rep;
    int rc;

    memset(&rep, 0xff, sizeof(rep));
    rc = probe_stamp_reply(t, auth ? key : NULL, buf, len, T4_NS, &rep);
    FUZZ_CHECK(rc <= 0);
    if (rc == 0) {
        FUZZ_CHECK(rep.rtt_ns >= 0 && rep.rtt_ns <= T4_NS - T1_NS);
        FUZZ_CHECK(rep.len == len);
        FUZZ_CHECK(rep.seq - FUZZ_REFLECT_FIRST_SEQ < FUZZ_REFLECT_PRIMED);
    }
    return rc;
}

/* Decodes an answer the way the session-sender will. */
static void decode_answer(int auth, const uint8_t *out, size_t len,
                          struct proto_stamp_reflector *m)
{
    if (auth)
        FUZZ_CHECK(proto_stamp_reflector_decode_auth(out, len, key, m) == 0);
    else if (len >= PROTO_STAMP_BASE_LEN)
        FUZZ_CHECK(proto_stamp_reflector_decode(out, len, m) == 0);
    else
        FUZZ_CHECK(proto_stamp_reflector_decode_light(out, len, m) == 0);
}

/* Whether the reflector must answer req (it is never rate-limited here). */
static int must_answer(int flags, const uint8_t *req, size_t len)
{
    uint8_t mac[PROTO_STAMP_HMAC_LEN];

    if (flags & FUZZ_REFLECT_SHORT_OUT)
        return 0;
    if (flags & FUZZ_REFLECT_AUTH) {
        if (len < PROTO_STAMP_AUTH_LEN)
            return 0;
        FUZZ_CHECK(proto_stamp_hmac(key, req, COVERED, mac) == 0);
        return memcmp(mac, req + COVERED, sizeof(mac)) == 0;
    }
    if (len >= PROTO_STAMP_BASE_LEN)
        return 1;
    return (flags & FUZZ_REFLECT_LEGACY) && len >= LIGHT_LEN;
}

static void check_answer(int flags, struct probe_task *t, const uint8_t *req, size_t len,
                         const uint8_t *out)
{
    int auth = flags & FUZZ_REFLECT_AUTH;
    struct proto_stamp_reflector m;
    int rc;

    decode_answer(auth, out, len, &m);
    FUZZ_CHECK(m.sender_seq == be32(req));
    FUZZ_CHECK(m.seq == ((flags & FUZZ_REFLECT_STATEFUL) ? 0 : be32(req)));
    FUZZ_CHECK(m.sender_ttl == RX_TTL);
    FUZZ_CHECK(m.rx_ts == probe_ns_to_ntp(T2_NS) && m.ts == probe_ns_to_ntp(T3_NS));

    /* The answer to one of our outstanding requests is ours. */
    rc = match(t, auth, out, len);
    if (m.sender_seq - FUZZ_REFLECT_FIRST_SEQ < FUZZ_REFLECT_PRIMED &&
        (m.ssid == FUZZ_REFLECT_SSID || m.ssid == 0)) {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(match(t, auth, out, len) == -EALREADY); /* a duplicate, counted */
        FUZZ_CHECK(t->win[0].duplicates == 1);
    } else {
        FUZZ_CHECK(rc == -ENOENT);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage from;
    struct reflect_input x;
    struct probe_task *t;
    uint8_t *signed_req = NULL, *out;
    const uint8_t *req;
    size_t len, outlen, i;
    int flags, auth, rc;

    if (size < 2 || size - 2 > PROTO_STAMP_MAX_LEN)
        return 0;
    flags = data[0];
    auth = flags & FUZZ_REFLECT_AUTH;
    req = data + 2;
    len = size - 2;
    if ((flags & FUZZ_REFLECT_SIGN) && len >= PROTO_STAMP_AUTH_LEN) {
        /* As a peer holding the key would send it; exactly len octets. */
        signed_req = malloc(len);
        FUZZ_CHECK(signed_req != NULL);
        memcpy(signed_req, req, len);
        FUZZ_CHECK(proto_stamp_hmac(key, signed_req, COVERED, signed_req + COVERED) == 0);
        req = signed_req;
    }

    probe_reflector_init(&reflector);
    reflector.authenticated = auth;
    if (auth) {
        reflector.keys.has_default = 1;
        memcpy(reflector.keys.def, key, PROTO_STAMP_KEY_LEN);
    }
    reflector.stateful = !!(flags & FUZZ_REFLECT_STATEFUL);
    reflector.legacy = !!(flags & FUZZ_REFLECT_LEGACY);
    source(&from, flags & FUZZ_REFLECT_IPV6);
    x = (struct reflect_input){.req = req,
                               .len = len,
                               .t2_ns = T2_NS,
                               .t3_ns = T3_NS,
                               .ttl = RX_TTL,
                               .tos = data[1]};

    outlen = (flags & FUZZ_REFLECT_SHORT_OUT) && len > 0 ? len - 1 : len;
    out = malloc(outlen + GUARD);
    FUZZ_CHECK(out != NULL);
    memset(out, GUARD_FILL, outlen + GUARD);

    rc = probe_reflect(&reflector, (const struct sockaddr *)&from, &x, out, outlen);
    FUZZ_CHECK(rc < 0 || (size_t)rc == len);
    FUZZ_CHECK(rc < 0 || (size_t)rc <= outlen);
    for (i = outlen; i < outlen + GUARD; i++)
        FUZZ_CHECK(out[i] == GUARD_FILL);
    FUZZ_CHECK((rc >= 0) == must_answer(flags, req, len));
    FUZZ_CHECK(reflector.reflected == (rc >= 0) && reflector.rate_limited == 0);

    t = sender_task(auth);
    if (rc >= 0)
        check_answer(flags, t, req, len, out);
    match(t, auth, req, len);
    probe_task_free(t);

    free(out);
    free(signed_req);
    return 0;
}
