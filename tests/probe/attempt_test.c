/*
 * attempt_test.c - every attempt ends once, in the window it was sent in;
 * failures are counted by outcome, the unanswered as timeouts, and the
 * record's failures add up to its losses.
 */
#include <string.h>

#include "check_probe.h"
#include "probe.h"

static struct probe_task *new_task(void)
{
    struct proto_task spec = {.id = 9,
                              .method = PROTO_METHOD_HTTP,
                              .target_id = "cdn-1",
                              .host = "content.ixmesh.test",
                              .interval_ms = 1000,
                              .timeout_ms = 1000};
    struct probe_task *t = probe_task_new(&spec);

    ck_assert_ptr_nonnull(t);
    probe_window_open(&t->win[0], 10000, 1);
    return t;
}

START_TEST(outcomes_add_up)
{
    struct probe_task *t = new_task();
    struct proto_content_info info = {
        .http_status = 200, .connect_ns = 100, .ttfb_ns = 300};
    struct probe_reply ok = {.outcome = PROTO_OUT_OK, .rtt_ns = 400, .info = &info};
    struct probe_reply refused = {.outcome = PROTO_OUT_REFUSED,
                                  .why = "connect: refused"};
    struct proto_result r;
    uint32_t s[5];

    for (int i = 0; i < 5; i++)
        s[i] = probe_attempt_start(t, 1000 * i);
    ck_assert_int_eq(probe_attempt_t1(t, s[2]), 2000);
    ck_assert_int_eq(probe_attempt_end(t, s[0], &ok), 0);
    ck_assert_int_eq(probe_attempt_end(t, s[0], &ok), -ENOENT); /* once only */
    ck_assert_int_eq(probe_attempt_t1(t, s[0]), -1);
    info.connect_ns = 300;
    info.ttfb_ns = 500;
    info.http_status = 503;
    ok.rtt_ns = 800;
    ck_assert_int_eq(probe_attempt_end(t, s[1], &ok), 0);
    refused.info = &info;
    info.http_status = 0; /* a failure after a success: the success's info stays */
    ck_assert_int_eq(probe_attempt_end(t, s[2], &refused), 0);
    ck_assert_int_eq(probe_attempt_end(t, s[3], &refused), 0);
    /* s[4] never ends: a timeout. */
    probe_window_close(t, &t->win[0], 10, &r);
    ck_assert_uint_eq(r.sent, 5);
    ck_assert_uint_eq(r.received, 2);
    ck_assert_uint_eq(r.lost, 3);
    ck_assert_uint_eq(r.outcomes[PROTO_OUT_REFUSED], 2);
    ck_assert_uint_eq(r.outcomes[PROTO_OUT_TIMEOUT], 1);
    ck_assert_uint_eq(r.outcomes[PROTO_OUT_OK], 0);
    ck_assert_str_eq(r.why, "connect: refused");
    ck_assert_uint_eq(r.rtt_min_ns, 400);
    ck_assert_uint_eq(r.rtt_max_ns, 800);
    ck_assert_uint_eq(r.info.connect_ns, 200); /* means over the two that worked */
    ck_assert_uint_eq(r.info.ttfb_ns, 400);
    ck_assert_uint_eq(r.info.http_status, 503); /* the last success's */
    ck_assert_uint_eq(r.sketch.count, 2);
    /* The window is gone: a late end is refused. */
    ck_assert_int_eq(probe_attempt_end(t, s[4], &ok), -ENOENT);
    proto_sketch_free(&r.sketch);
    probe_task_free(t);
}
END_TEST

START_TEST(only_timeouts_say_so)
{
    struct probe_task *t = new_task();
    struct proto_content_info info = {.verify_result = 1 + 20};
    struct probe_reply bad = {.outcome = PROTO_OUT_TLS_VERIFY, .why = "x", .info = &info};
    struct proto_result r;

    probe_attempt_start(t, 0);
    probe_window_close(t, &t->win[0], 10, &r);
    ck_assert_uint_eq(r.outcomes[PROTO_OUT_TIMEOUT], 1);
    ck_assert_str_eq(r.why, "no answer within 1000 ms");
    proto_sketch_free(&r.sketch);
    /* With no success, the failure's details are kept. */
    probe_window_open(&t->win[0], 20000, 2);
    ck_assert_int_eq(probe_attempt_end(t, probe_attempt_start(t, 0), &bad), 0);
    probe_window_close(t, &t->win[0], 10, &r);
    ck_assert_uint_eq(r.info.verify_result, 21);
    ck_assert_uint_eq(r.outcomes[PROTO_OUT_TLS_VERIFY], 1);
    proto_sketch_free(&r.sketch);
    probe_task_free(t);
}
END_TEST

/* An attempt counts in the window it was sent in, even when it ends in
 * the next one. */
START_TEST(ends_in_its_own_window)
{
    struct probe_task *t = new_task();
    struct probe_reply ok = {.outcome = PROTO_OUT_OK, .rtt_ns = 5};
    struct proto_result r0, r1;
    uint32_t s;

    s = probe_attempt_start(t, 0);
    t->cur = 1;
    probe_window_open(&t->win[1], 20000, 2);
    ck_assert_int_eq(probe_attempt_end(t, s, &ok), 0);
    probe_window_close(t, &t->win[0], 10, &r0);
    probe_window_close(t, &t->win[1], 10, &r1);
    ck_assert_uint_eq(r0.received, 1);
    ck_assert_uint_eq(r1.sent, 0);
    ck_assert_uint_eq(r1.received, 0);
    proto_sketch_free(&r0.sketch);
    proto_sketch_free(&r1.sketch);
    probe_task_free(t);
}
END_TEST

Suite *attempt_suite(void)
{
    Suite *s = suite_create("attempt");
    TCase *tc = tcase_create("attempt");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, outcomes_add_up);
    tcase_add_test(tc, only_timeouts_say_so);
    tcase_add_test(tc, ends_in_its_own_window);
    suite_add_tcase(s, tc);
    return s;
}
