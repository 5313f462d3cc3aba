/*
 * deliver_test.c - records go out of a real spool only once synced, in
 * order and in batches; an ACK lets them go, a lost connection sends the
 * rest again; numbers go on across a reopen; drops are reported per window
 * until acknowledged; the health says what the spool holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_probe.h"
#include "probe.h"

static char dir[64];

static void setup(void)
{
    test_tmpdir_make(dir, sizeof(dir), "deliver");
}

static void teardown(void)
{
    test_tmpdir_remove(dir);
}

#define T0_MS 1764000000000LL

static void append(struct probe_delivery *d, uint64_t seq, int64_t window_ms)
{
    struct proto_result r = {.schema = PROTO_SCHEMA,
                             .seq = seq,
                             .task_id = 7,
                             .method = PROTO_METHOD_STAMP,
                             .target_id = "p2",
                             .window_start_ms = window_ms,
                             .window_s = 10,
                             .sent = 10,
                             .received = 10,
                             .rtt_min_ns = 1000,
                             .rtt_max_ns = 1000 + seq};

    proto_sketch_init(&r.sketch);
    ck_assert_int_eq(proto_sketch_add(&r.sketch, 1000.0 + (double)seq), 0);
    ck_assert_int_eq(probe_delivery_append(d, &r), 0);
    proto_sketch_free(&r.sketch);
}

/* Takes the next batch, checks it holds from..to in order, marks it sent. */
static void expect_batch(struct probe_delivery *d, uint32_t max, uint64_t from,
                         uint64_t to)
{
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};
    int n = probe_delivery_next(d, &m.u.results, max, T0_MS + 60000);

    ck_assert_int_eq(n, (int)(to - from + 1));
    for (int i = 0; i < n; i++) {
        ck_assert_uint_eq(m.u.results.results[i].seq, from + (uint64_t)i);
        ck_assert_uint_eq(m.u.results.results[i].rtt_max_ns, 1000 + from + (uint64_t)i);
    }
    ck_assert_int_eq(m.u.results.has_health, 1);
    probe_delivery_sent(d, &m.u.results, (uint32_t)n);
    proto_msg_free(&m);
}

static void expect_nothing(struct probe_delivery *d)
{
    struct proto_results rs;

    ck_assert_int_eq(probe_delivery_next(d, &rs, 8, T0_MS), 0);
}

START_TEST(synced_batched_acked_resent)
{
    struct probe_delivery d;
    uint64_t seq;

    ck_assert_int_eq(probe_delivery_open(&d, dir, 1u << 20, 5000, &seq), 0);
    ck_assert_uint_eq(seq, 5000); /* a new spool starts at the clock */
    ck_assert_uint_eq(d.spool.seq0, 5000);
    for (int i = 0; i < 10; i++)
        append(&d, seq + (uint64_t)i, T0_MS);
    expect_nothing(&d); /* not synced: not sent */
    ck_assert_int_eq(probe_delivery_commit(&d, T0_MS), 0);
    expect_batch(&d, 4, 5000, 5003);
    expect_batch(&d, 4, 5004, 5007);
    probe_delivery_ack(&d, 5003);
    ck_assert_uint_eq(probe_spool_pending(&d.spool), 6);
    probe_delivery_ack(&d, 9999); /* beyond what went: taken as 5007 */
    ck_assert_uint_eq(probe_spool_pending(&d.spool), 2);
    probe_delivery_rewind(&d); /* the connection is lost */
    expect_batch(&d, 8, 5008, 5009);
    probe_delivery_rewind(&d);
    expect_batch(&d, 8, 5008, 5009); /* again, as it was not acknowledged */
    expect_nothing(&d);
    probe_delivery_close(&d);

    /* A restart goes on at the next number, and sends what is held. */
    ck_assert_int_eq(probe_delivery_open(&d, dir, 1u << 20, 99999, &seq), 0);
    ck_assert_uint_eq(seq, 5010);
    ck_assert_uint_eq(d.spool.seq0, 5000);
    expect_batch(&d, 100, 5008, 5009); /* the acknowledged ones stay acknowledged */
    probe_delivery_close(&d);
}
END_TEST

START_TEST(health_and_drop_reports)
{
    struct probe_delivery d;
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};
    struct proto_health *h = &m.u.results.health;
    uint64_t seq, q;
    int64_t w = T0_MS;

    ck_assert_int_eq(probe_delivery_open(&d, dir, 256u << 10, 1, &seq), 0);
    /* Windows of 50 records, about 250 octets each, until the bound drops
     * (256 KiB hold some 1,000: long before 100 windows). */
    for (q = seq; d.spool.dropped == 0; w += 10000) {
        ck_assert_int_lt(w, T0_MS + 100 * 10000);
        for (int i = 0; i < 50; i++)
            append(&d, q++, w);
        ck_assert_int_eq(probe_delivery_commit(&d, w), 0);
    }
    ck_assert_uint_eq(d.ndrops, 1);
    ck_assert_int_eq(d.drops[0].window_start_ms, w - 10000);
    ck_assert_uint_eq(d.drops[0].records, d.spool.dropped);
    ck_assert_int_gt(probe_delivery_next(&d, &m.u.results, 8, w + 5000), 0);
    ck_assert_uint_eq(m.u.results.results[0].seq, d.spool.dropped + 1); /* oldest went */
    ck_assert_uint_eq(h->seq0, 1);
    ck_assert_uint_eq(h->pending, q - 1 - d.spool.dropped);
    ck_assert_uint_eq(h->spool_bytes, d.spool.bytes);
    ck_assert_uint_eq(h->dropped, d.spool.dropped);
    /* The oldest held record's window ended at window_start + 10 s. */
    ck_assert_uint_eq(
        h->oldest_s,
        (uint64_t)(w + 5000 - (m.u.results.results[0].window_start_ms + 10000)) / 1000);
    ck_assert_uint_eq(h->ndrops, 1);
    probe_delivery_sent(&d, &m.u.results, m.u.results.nresults);
    probe_delivery_ack(&d, m.u.results.results[0].seq - 1); /* not that batch */
    ck_assert_uint_eq(d.ndrops, 1);
    probe_delivery_ack(&d, m.u.results.results[m.u.results.nresults - 1].seq);
    ck_assert_uint_eq(d.ndrops, 0); /* the controller has it */
    proto_msg_free(&m);
    probe_delivery_close(&d);
}
END_TEST

/* A record that does not decode is skipped, and counted once. */
START_TEST(unreadable_record_is_skipped_once)
{
    struct probe_delivery d;
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};
    uint64_t seq;

    ck_assert_int_eq(probe_delivery_open(&d, dir, 1u << 20, 1, &seq), 0);
    append(&d, 1, T0_MS);
    ck_assert_int_eq(probe_spool_append(&d.spool, 2, (const uint8_t *)"\xc1", 1), 0);
    append(&d, 3, T0_MS);
    ck_assert_int_eq(probe_delivery_commit(&d, T0_MS), 0);
    expect_batch(&d, 8, 1, 1); /* the batch ends before it */
    expect_batch(&d, 8, 3, 3); /* and the next goes past it */
    ck_assert_uint_eq(d.unreadable, 1);
    probe_delivery_rewind(&d); /* a reconnect reads past it again */
    ck_assert_int_eq(probe_delivery_next(&d, &m.u.results, 8, T0_MS), 1);
    ck_assert_uint_eq(m.u.results.health.dropped, 1);
    probe_delivery_sent(&d, &m.u.results, 1);
    proto_msg_free(&m);
    expect_batch(&d, 8, 3, 3);
    ck_assert_uint_eq(d.unreadable, 1);
    probe_delivery_close(&d);
}
END_TEST

/* Past the limit, the two oldest reports merge; their sum is kept. */
START_TEST(drop_reports_merge)
{
    struct probe_delivery d;
    uint64_t seq, total = 0;

    ck_assert_int_eq(probe_delivery_open(&d, dir, 1u << 20, 1, &seq), 0);
    for (uint32_t i = 0; i < PROTO_DROPWIN_MAX + 3; i++) {
        d.spool.dropped += i + 1;
        total += i + 1;
        ck_assert_int_eq(probe_delivery_commit(&d, T0_MS + 10000 * (int64_t)i), 0);
    }
    ck_assert_uint_eq(d.ndrops, PROTO_DROPWIN_MAX);
    ck_assert_int_eq(d.drops[0].window_start_ms, T0_MS);
    for (uint32_t i = 0; i < d.ndrops; i++)
        total -= d.drops[i].records;
    ck_assert_uint_eq(total, 0);
    probe_delivery_close(&d);
}
END_TEST

Suite *deliver_suite(void)
{
    Suite *s = suite_create("deliver");
    TCase *tc = tcase_create("deliver");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, synced_batched_acked_resent);
    tcase_add_test(tc, health_and_drop_reports);
    tcase_add_test(tc, drop_reports_merge);
    tcase_add_test(tc, unreadable_record_is_skipped_once);
    suite_add_tcase(s, tc);
    return s;
}
