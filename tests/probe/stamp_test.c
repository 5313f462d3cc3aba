/*
 * stamp_test.c - the probe's STAMP logic without a socket: a request goes
 * through our reflector and back, and the RTT comes out as T4 - T1 minus the
 * reflector's turnaround.
 */
#include <stdlib.h>
#include <string.h>

#include "check_probe.h"
#include "probe.h"

#define T0 1764000000000000000LL /* some wall-clock time, ns */

static struct probe_task *make_task(void)
{
    struct proto_task spec = {.id = 17,
                              .method = PROTO_METHOD_STAMP,
                              .target_id = "p2",
                              .addr = "127.0.1.2",
                              .port = 8620,
                              .interval_ms = 100,
                              .timeout_ms = 500,
                              .size = 60};
    struct probe_task *t = probe_task_new(&spec);

    ck_assert_ptr_nonnull(t);
    probe_window_open(&t->win[0], T0 / 1000000, 1);
    return t;
}

/* Our reflector in its default configuration, answering from 192.0.2.1. */
static int reflect(const uint8_t *req, size_t len, int64_t t2, int64_t t3, uint8_t ttl,
                   uint8_t *out, size_t outlen)
{
    static struct probe_reflector r;
    struct sockaddr_storage from;
    socklen_t fromlen;
    struct reflect_input x = {
        .req = req, .len = len, .t2_ns = t2, .t3_ns = t3, .ttl = ttl};

    probe_reflector_init(&r);
    ck_assert_int_eq(proto_addr_parse("192.0.2.1:862", 0, &from, &fromlen), 0);
    return probe_reflect(&r, (struct sockaddr *)&from, &x, out, outlen);
}

/* Sends one request at t1, reflects it (t2 -> t3) and feeds the reply at t4. */
static int exchange(struct probe_task *t, int64_t t1, int64_t t2, int64_t t3, int64_t t4)
{
    uint8_t req[60], rep[60];

    ck_assert_int_eq(probe_stamp_request(t, NULL, t1, t1, req, sizeof(req)), 60);
    ck_assert_int_eq(reflect(req, sizeof(req), t2, t3, 64, rep, sizeof(rep)), 60);
    ck_assert(proto_stamp_is_reflected(rep, sizeof(rep)));
    ck_assert(!proto_stamp_is_reflected(req, sizeof(req)));
    return probe_stamp_reply(t, NULL, rep, sizeof(rep), t4, NULL);
}

START_TEST(rtt_excludes_turnaround)
{
    struct probe_task *t = make_task();

    /* 1 ms out, 5 ms at the reflector, 1 ms back: RTT 2 ms. */
    ck_assert_int_eq(exchange(t, T0, T0 + 1000000, T0 + 6000000, T0 + 7000000), 0);
    ck_assert_uint_eq(t->win[0].sent, 1);
    ck_assert_uint_eq(t->win[0].received, 1);
    /* NTP fractions carry 232 ps steps, so allow a few ns of rounding. */
    ck_assert_uint_le(t->win[0].rtt_min_ns > 2000000 ? t->win[0].rtt_min_ns - 2000000
                                                     : 2000000 - t->win[0].rtt_min_ns,
                      4);
    probe_task_free(t);
}
END_TEST

START_TEST(duplicate_reply_counted_once)
{
    struct probe_task *t = make_task();
    uint8_t req[60], rep[60];

    probe_stamp_request(t, NULL, T0, T0, req, sizeof(req));
    reflect(req, sizeof(req), T0 + 100, T0 + 200, 255, rep, sizeof(rep));
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, sizeof(rep), T0 + 500000, NULL), 0);
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, sizeof(rep), T0 + 600000, NULL),
                     -EALREADY);
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, sizeof(rep), T0 + 700000, NULL),
                     -EALREADY);
    ck_assert_uint_eq(t->win[0].received, 1);
    ck_assert_uint_eq(t->win[0].duplicates, 2);
    probe_task_free(t);
}
END_TEST

START_TEST(reply_after_window_closed_is_lost)
{
    struct probe_task *t = make_task();
    struct proto_result r;
    uint8_t req[60], rep[60];

    probe_stamp_request(t, NULL, T0, T0, req, sizeof(req));
    reflect(req, sizeof(req), T0 + 100, T0 + 200, 255, rep, sizeof(rep));
    probe_window_close(t, &t->win[0], 10, &r);
    ck_assert_uint_eq(r.sent, 1);
    ck_assert_uint_eq(r.lost, 1);
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, sizeof(rep), T0 + 500000, NULL),
                     -ENOENT);
    proto_sketch_free(&r.sketch);
    probe_task_free(t);
}
END_TEST

START_TEST(window_record_fields)
{
    struct probe_task *t = make_task();
    struct proto_result r;
    int64_t rtts[] = {1000000, 3000000, 2000000};

    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(
            exchange(t, T0 + i * 100000000LL, 0, 0, T0 + i * 100000000LL + rtts[i]), 0);
    probe_window_close(t, &t->win[0], 10, &r);
    ck_assert_uint_eq(r.task_id, 17);
    ck_assert_str_eq(r.target_id, "p2");
    ck_assert_uint_eq(r.sent, 3);
    ck_assert_uint_eq(r.received, 3);
    ck_assert_uint_eq(r.lost, 0);
    ck_assert_uint_eq(r.rtt_min_ns / 1000, 1000);
    ck_assert_uint_eq(r.rtt_max_ns / 1000, 3000);
    /* |3-1| + |2-3| = 3 ms over two differences (RFC 3393). */
    ck_assert_uint_eq(r.ipdv_count, 2);
    ck_assert_uint_eq((r.ipdv_sum_ns + 500) / 1000, 3000);
    ck_assert_uint_eq(r.sketch.count, 3);
    proto_sketch_free(&r.sketch);
    probe_task_free(t);
}
END_TEST

START_TEST(reflector_never_amplifies)
{
    uint8_t req[PROTO_STAMP_BASE_LEN + 20] = {0}, rep[PROTO_STAMP_MAX_LEN];

    ck_assert_int_eq(reflect(req, sizeof(req), T0, T0, 1, rep, sizeof(rep)),
                     (int)sizeof(req));
    ck_assert_int_lt(reflect(req, 43, T0, T0, 1, rep, sizeof(rep)), 0);
}
END_TEST

START_TEST(reply_with_zero_multiplier_is_invalid)
{
    struct probe_task *t = make_task();
    uint8_t req[60], rep[60];
    struct proto_stamp_reflector m;

    probe_stamp_request(t, NULL, T0, T0, req, sizeof(req));
    reflect(req, sizeof(req), T0 + 100, T0 + 200, 255, rep, sizeof(rep));
    ck_assert_int_eq(proto_stamp_reflector_decode(rep, sizeof(rep), &m), 0);
    m.err.mult = 0;
    ck_assert_int_eq(proto_stamp_reflector_encode(&m, rep, PROTO_STAMP_BASE_LEN), 44);
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, sizeof(rep), T0 + 500000, NULL),
                     -EBADMSG);
    ck_assert_uint_eq(t->win[0].received, 0);
    probe_task_free(t);
}
END_TEST

/* Replies to 0, 2, 1, 3: one arrived after a later one (RFC 4737 3.3). */
START_TEST(reordering_counted)
{
    struct probe_task *t = make_task();
    uint8_t req[4][60], rep[4][60];
    static const int order[] = {0, 2, 1, 3};
    struct proto_result r;

    for (int i = 0; i < 4; i++) {
        probe_stamp_request(t, NULL, T0 + i * 1000, T0 + i * 1000, req[i],
                            sizeof(req[i]));
        reflect(req[i], sizeof(req[i]), T0 + 100, T0 + 200, 255, rep[i], sizeof(rep[i]));
    }
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(probe_stamp_reply(t, NULL, rep[order[i]], sizeof(rep[0]),
                                           T0 + 900000 + i, NULL),
                         0);
    probe_window_close(t, &t->win[0], 10, &r);
    ck_assert_uint_eq(r.received, 4);
    ck_assert_uint_eq(r.reordered, 1);
    ck_assert_uint_eq(r.duplicates, 0);
    proto_sketch_free(&r.sketch);
    probe_task_free(t);
}
END_TEST

/*
 * A wall-clock step back can give the open window the label of the closing
 * one; windows are told apart by their monotonic id, so each reply still
 * counts in the window its request was sent in.
 */
START_TEST(windows_with_one_label_stay_apart)
{
    struct probe_task *t = make_task();
    uint8_t req[2][60], rep[2][60];

    probe_stamp_request(t, NULL, T0, T0, req[0], sizeof(req[0]));
    t->cur = 1;
    probe_window_open(&t->win[1], T0 / 1000000, 2); /* same label, next id */
    probe_stamp_request(t, NULL, T0 + 1000, T0 + 1000, req[1], sizeof(req[1]));
    for (int i = 0; i < 2; i++)
        reflect(req[i], sizeof(req[i]), T0 + 2000, T0 + 3000, 255, rep[i],
                sizeof(rep[i]));
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep[1], sizeof(rep[1]), T0 + 9000, NULL),
                     0);
    ck_assert_uint_eq(t->win[1].received, 1);
    ck_assert_uint_eq(t->win[0].received, 0);
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep[0], sizeof(rep[0]), T0 + 9000, NULL),
                     0);
    ck_assert_uint_eq(t->win[0].received, 1);
    ck_assert_uint_eq(t->win[1].received, 1);
    /* The reflector's Sender TTL went into each window. */
    ck_assert_uint_eq(t->win[0].ttl_min, 255);
    probe_stamp_return_ttl(
        t, &(struct probe_reply){.seq = t->first_seq, .has_ttl = 1, .return_ttl = 254});
    ck_assert_uint_eq(t->win[0].ttl_min, 254);
    ck_assert_uint_eq(t->win[1].ttl_min, 255);
    probe_task_free(t);
}
END_TEST

/* A kernel transmit stamp moves T1, and so the RTT, of an outstanding request. */
START_TEST(transmit_stamp_moves_t1)
{
    struct probe_task *t = make_task();
    uint8_t req[60], rep[60];

    probe_stamp_request(t, NULL, T0, T0, req, sizeof(req));
    probe_stamp_sent_at(t, t->first_seq, T0 + 30000); /* left 30 us later */
    reflect(req, sizeof(req), T0 + 100000, T0 + 100000, 255, rep, sizeof(rep));
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, sizeof(rep), T0 + 1000000, NULL), 0);
    ck_assert_int_le(llabs((long long)t->win[0].rtt_min_ns - 970000), 4);
    probe_task_free(t);
}
END_TEST

/* Big-endian octets, as the RFCs draw them. */
static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/*
 * A TWAMP-Light reflector's reply to req, written octet by octet in the
 * layout of RFC 5357 4.2.1: len octets (38 and up), the reflector's T2 and
 * T3 (wall-clock ns), and from 41 octets on the Sender TTL; zero padding.
 */
static void light_reply(uint8_t *out, size_t len, const uint8_t *req, int64_t t2,
                        int64_t t3, uint8_t ttl)
{
    memset(out, 0, len);
    memcpy(out, req, 4);                     /* 0-3 Sequence Number: stateless */
    put_be(out + 4, probe_ns_to_ntp(t3), 8); /* 4-11 Timestamp */
    out[12] = 0x00;                          /* 12-13 Error Estimate: S=0 Z=0 */
    out[13] = 0x01;                          /* Scale 0, Multiplier 1 */
    /* 14-15 MBZ */
    put_be(out + 16, probe_ns_to_ntp(t2), 8); /* 16-23 Receive Timestamp */
    memcpy(out + 24, req, 14); /* 24-37 Sender Sequence Number, Timestamp, Err Est */
    if (len > 40)
        out[40] = ttl; /* 38-39 MBZ, 40 Sender TTL, then padding */
}

static uint64_t rtt_error(uint64_t rtt, uint64_t want)
{
    return rtt > want ? rtt - want : want - rtt;
}

/*
 * Issue 12: a 38-octet reply carries all four timestamps and counts, with
 * its TTL unknown: not 0, not a value.  Its return TTL is not counted
 * either, so the window's path class stays unknown.
 */
START_TEST(light_reply_of_38_octets_counts_without_ttl)
{
    struct probe_task *t = make_task();
    uint8_t req[60], rep[PROTO_STAMP_LIGHT_MIN_LEN];
    struct probe_reply r;
    struct proto_result res;

    ck_assert_int_eq(probe_stamp_request(t, NULL, T0, T0, req, sizeof(req)), 60);
    /* 1 ms out, 5 ms at the reflector, 1 ms back: RTT 2 ms. */
    light_reply(rep, sizeof(rep), req, T0 + 1000000, T0 + 6000000, 0);
    ck_assert(proto_stamp_is_reflected(rep, sizeof(rep)));
    memset(&r, 0x5a, sizeof(r));
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, sizeof(rep), T0 + 7000000, &r), 0);
    ck_assert_uint_eq(r.seq, t->first_seq);
    ck_assert_uint_eq(r.len, 38);
    ck_assert_uint_eq(r.has_ttl, 0);
    ck_assert_uint_eq(r.ttl, 0);
    ck_assert_uint_le(rtt_error((uint64_t)r.rtt_ns, 2000000), 4);
    ck_assert_uint_eq(t->win[0].received, 1);
    ck_assert_uint_le(rtt_error(t->win[0].rtt_min_ns, 2000000), 4);
    /* The reply came back with 255, but alone that is half a path. */
    r.return_ttl = 255;
    probe_stamp_return_ttl(t, &r);
    ck_assert_uint_eq(t->win[0].ttl_min, 0);
    probe_window_close(t, &t->win[0], 10, &res);
    ck_assert_uint_eq(res.sent, 1);
    ck_assert_uint_eq(res.received, 1);
    ck_assert_uint_eq(res.lost, 0);
    ck_assert_uint_eq(res.ttl, 0);
    ck_assert_ptr_null(proto_path_class(res.ttl));
    proto_sketch_free(&res.sketch);
    probe_task_free(t);
}
END_TEST

/*
 * The padded variants: 41 octets (RFC 5357 4.2.1 up to the TTL), 44, and
 * zeros up to the request's size.  Each carries the Sender TTL at octet 40.
 */
START_TEST(light_reply_padding_variants_carry_ttl)
{
    static const size_t lens[] = {41, 44, 64, 128, PROTO_STAMP_MAX_LEN};

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        struct probe_task *t = make_task();
        size_t reqlen = lens[i] < PROTO_STAMP_BASE_LEN ? PROTO_STAMP_BASE_LEN : lens[i];
        uint8_t req[PROTO_STAMP_MAX_LEN], rep[PROTO_STAMP_MAX_LEN];
        struct probe_reply r;

        ck_assert_int_eq(probe_stamp_request(t, NULL, T0, T0, req, reqlen), (int)reqlen);
        light_reply(rep, lens[i], req, T0 + 100000, T0 + 100000, 254);
        memset(&r, 0x5a, sizeof(r));
        ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, lens[i], T0 + 300000, &r), 0);
        ck_assert_msg(r.has_ttl == 1 && r.ttl == 254 && r.len == lens[i],
                      "%zu octets: has_ttl %u ttl %u len %zu", lens[i], r.has_ttl, r.ttl,
                      r.len);
        ck_assert_uint_le(rtt_error((uint64_t)r.rtt_ns, 300000), 4);
        ck_assert_uint_eq(t->win[0].ttl_min, 254);
        r.return_ttl = 253;
        probe_stamp_return_ttl(t, &r);
        ck_assert_uint_eq(t->win[0].ttl_min, 253);
        probe_task_free(t);
    }
}
END_TEST

/* 37 octets, or 38 without a Receive Timestamp: no reply, and the request
 * stays outstanding for the real one. */
START_TEST(short_or_unreflected_light_reply_refused)
{
    struct probe_task *t = make_task();
    uint8_t req[60], rep[PROTO_STAMP_LIGHT_MIN_LEN], bad[PROTO_STAMP_LIGHT_MIN_LEN];

    probe_stamp_request(t, NULL, T0, T0, req, sizeof(req));
    light_reply(rep, sizeof(rep), req, T0 + 100000, T0 + 200000, 0);
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, sizeof(rep) - 1, T0 + 500000, NULL),
                     -EBADMSG);
    memcpy(bad, rep, sizeof(bad));
    memset(bad + 16, 0, 8);
    ck_assert(!proto_stamp_is_reflected(bad, sizeof(bad)));
    ck_assert_int_eq(probe_stamp_reply(t, NULL, bad, sizeof(bad), T0 + 500000, NULL),
                     -EBADMSG);
    ck_assert_uint_eq(t->win[0].received, 0);
    ck_assert_uint_eq(t->win[0].duplicates, 0);
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, sizeof(rep), T0 + 500000, NULL), 0);
    ck_assert_uint_eq(t->win[0].received, 1);
    probe_task_free(t);
}
END_TEST

/*
 * Path class with replies of both kinds in one window: it comes from the
 * replies that carry a Sender TTL, with their return TTLs; a 38-octet
 * reply's return TTL (here 200) is left out.
 */
START_TEST(path_class_from_replies_with_ttl)
{
    struct probe_task *t = make_task();
    uint8_t req[2][60], rep38[PROTO_STAMP_LIGHT_MIN_LEN], rep44[PROTO_STAMP_BASE_LEN];
    struct probe_reply r;
    struct proto_result res;

    probe_stamp_request(t, NULL, T0, T0, req[0], sizeof(req[0]));
    probe_stamp_request(t, NULL, T0 + 1000, T0 + 1000, req[1], sizeof(req[1]));
    light_reply(rep38, sizeof(rep38), req[0], T0 + 100000, T0 + 100000, 0);
    light_reply(rep44, sizeof(rep44), req[1], T0 + 100000, T0 + 100000, 255);
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep38, sizeof(rep38), T0 + 200000, &r),
                     0);
    r.return_ttl = 200;
    probe_stamp_return_ttl(t, &r);
    ck_assert_int_eq(probe_stamp_reply(t, NULL, rep44, sizeof(rep44), T0 + 200000, &r),
                     0);
    r.return_ttl = 255;
    probe_stamp_return_ttl(t, &r);
    probe_window_close(t, &t->win[0], 10, &res);
    ck_assert_uint_eq(res.received, 2);
    ck_assert_uint_eq(res.ttl, 255);
    ck_assert_str_eq(proto_path_class(res.ttl), "one-hop");
    proto_sketch_free(&res.sketch);
    probe_task_free(t);
}
END_TEST

/* Poisson gaps (RFC 2330 11.1.1): mean interval, truncated at 10 x. */
START_TEST(poisson_gaps)
{
    const int n = 200000;
    double sum = 0;
    int below = 0;

    srandom(7);
    for (int i = 0; i < n; i++) {
        uint64_t g = probe_poisson_gap_ms(100);

        ck_assert_uint_le(g, 1000);
        sum += (double)g;
        below += g < 100;
    }
    /* Rounded to whole milliseconds, the mean stays m. */
    ck_assert_double_eq_tol(sum / n, 100.0, 1.0);
    /* P(round(X) < m) = P(X < m - 0.5) = 1 - e^-0.995 for an exponential. */
    ck_assert_double_eq_tol((double)below / n, 0.630, 0.01);
}
END_TEST

/* A task list that changes only the schedule replaces the task: the new
 * schedule must take effect on a running probe. */
START_TEST(schedule_is_part_of_a_task)
{
    struct proto_task a = {.id = 1, .method = PROTO_METHOD_STAMP, .addr = "192.0.2.1"};
    struct proto_task b = a;

    ck_assert(probe_task_same(&a, &b));
    b.poisson = 1;
    ck_assert(!probe_task_same(&a, &b));
    b = a;
    b.dscp = 46;
    ck_assert(!probe_task_same(&a, &b));
}
END_TEST

/* Window boundaries: one window apart; a stall skips, a clock step realigns. */
START_TEST(window_boundaries)
{
    const int64_t w = 10000, wall0 = 1800000000000LL; /* a wall-clock multiple */
    int64_t off = 7;

    /* On time: the next one a window later, on a wall multiple. */
    ck_assert_int_eq(probe_next_boundary(50000, 50003, wall0 + 3, w, &off), 60000);
    ck_assert_int_eq(off, 0);
    /* Stalled 35 s: the missed boundaries are skipped, the next is ahead. */
    ck_assert_int_eq(probe_next_boundary(50000, 85000, wall0 + 35000, w, &off), 90000);
    ck_assert_int_eq(off, 0);
    /* The wall clock stepped 3.2 s forward: the next boundary moves 3.2 s
     * earlier, onto the multiple; 1.1 s back: 1.1 s later. */
    ck_assert_int_eq(probe_next_boundary(50000, 50003, wall0 + 3203, w, &off), 56800);
    ck_assert_int_eq(off, 3200);
    ck_assert_int_eq(probe_next_boundary(50000, 50003, wall0 - 1097, w, &off), 61100);
    ck_assert_int_eq(off, -1100);
    /* Within PROBE_REALIGN_MS: left alone (NTP slews, it does not step). */
    ck_assert_int_eq(probe_next_boundary(50000, 50003, wall0 + 203, w, &off), 60000);
    ck_assert_int_eq(off, 0);
    /* A step that would put the boundary in the past (1.5 s forward, 1 s
     * before the boundary) moves it a window on instead. */
    ck_assert_int_eq(probe_next_boundary(50000, 59000, wall0 + 10500, w, &off), 68500);
    ck_assert_int_eq(off, 1500);
}
END_TEST

/* The ring holds every request still within its timeout, and no more than
 * that needs: memory per task follows timeout / interval. */
START_TEST(ring_fits_the_timeout)
{
    struct proto_task spec = {.id = 1,
                              .method = PROTO_METHOD_STAMP,
                              .addr = "192.0.2.1",
                              .port = 862,
                              .interval_ms = 1000,
                              .timeout_ms = 1000,
                              .size = 44};
    struct probe_task *t = probe_task_new(&spec);

    ck_assert_uint_eq(t->ring_mask + 1, 8);
    probe_task_free(t);
    spec.interval_ms = 100;
    spec.timeout_ms = 2000; /* 20 in flight, + 2 */
    t = probe_task_new(&spec);
    ck_assert_uint_eq(t->ring_mask + 1, 32);
    probe_task_free(t);
    spec.poisson = 1; /* 2 x 22 + 4 */
    t = probe_task_new(&spec);
    ck_assert_uint_eq(t->ring_mask + 1, 64);
    probe_task_free(t);
    spec.interval_ms = 10;
    spec.timeout_ms = 60000;
    t = probe_task_new(&spec);
    ck_assert_uint_eq(t->ring_mask + 1, PROBE_STAMP_RING);
    probe_task_free(t);

    /* make_task(): 100 ms interval, 500 ms timeout: 8 slots; the reply to
     * the 1st of 7 outstanding requests still finds it. */
    t = make_task();
    {
        uint8_t req[7][60], rep[60];

        for (int i = 0; i < 7; i++)
            probe_stamp_request(t, NULL, T0 + i, T0 + i, req[i], sizeof(req[i]));
        reflect(req[0], sizeof(req[0]), T0 + 10, T0 + 20, 255, rep, sizeof(rep));
        ck_assert_int_eq(probe_stamp_reply(t, NULL, rep, sizeof(rep), T0 + 100000, NULL),
                         0);
    }
    probe_task_free(t);
}
END_TEST

Suite *stamp_suite(void)
{
    Suite *s = suite_create("stamp");
    TCase *tc = tcase_create("sender and reflector");

    tcase_add_test(tc, rtt_excludes_turnaround);
    tcase_add_test(tc, duplicate_reply_counted_once);
    tcase_add_test(tc, reply_after_window_closed_is_lost);
    tcase_add_test(tc, window_record_fields);
    tcase_add_test(tc, reflector_never_amplifies);
    tcase_add_test(tc, reply_with_zero_multiplier_is_invalid);
    tcase_add_test(tc, reordering_counted);
    tcase_add_test(tc, windows_with_one_label_stay_apart);
    tcase_add_test(tc, transmit_stamp_moves_t1);
    tcase_add_test(tc, light_reply_of_38_octets_counts_without_ttl);
    tcase_add_test(tc, light_reply_padding_variants_carry_ttl);
    tcase_add_test(tc, short_or_unreflected_light_reply_refused);
    tcase_add_test(tc, path_class_from_replies_with_ttl);
    tcase_add_test(tc, poisson_gaps);
    tcase_add_test(tc, schedule_is_part_of_a_task);
    tcase_add_test(tc, window_boundaries);
    tcase_add_test(tc, ring_fits_the_timeout);
    suite_add_tcase(s, tc);
    return s;
}
