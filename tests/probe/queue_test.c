/*
 * queue_test.c - records wait in order until acknowledged, go again after a
 * reconnect, and a full queue drops its oldest and says how many.
 */
#include "check_probe.h"
#include "probe.h"

static void push_seq(struct probe_queue *q, uint64_t seq)
{
    struct proto_result r = {.seq = seq, .sent = 1};

    proto_sketch_init(&r.sketch);
    proto_sketch_add(&r.sketch, 1000.0 * (double)seq);
    ck_assert_int_eq(probe_queue_push(q, &r), 0);
}

START_TEST(batches_ack_and_rewind)
{
    struct probe_queue q;
    struct proto_result *first;

    probe_queue_init(&q);
    ck_assert_uint_eq(probe_queue_next_batch(&q, 4, &first),
                      0); /* empty, never allocated */
    for (uint64_t s = 1; s <= 10; s++)
        push_seq(&q, s);
    ck_assert_uint_eq(probe_queue_next_batch(&q, 4, &first), 4);
    ck_assert_uint_eq(first[0].seq, 1);
    probe_queue_mark_sent(&q, 4);
    ck_assert_uint_eq(probe_queue_next_batch(&q, 100, &first), 6);
    ck_assert_uint_eq(first[0].seq, 5);
    probe_queue_mark_sent(&q, 6);
    ck_assert_uint_eq(probe_queue_ack(&q, 4), 4);
    ck_assert_uint_eq(q.len, 6);
    ck_assert_uint_eq(probe_queue_next_batch(&q, 100, &first), 0);
    ck_assert_ptr_null(first);
    /* A new connection sends everything not acknowledged again. */
    probe_queue_rewind(&q);
    ck_assert_uint_eq(probe_queue_next_batch(&q, 100, &first), 6);
    ck_assert_uint_eq(first[0].seq, 5);
    ck_assert_uint_eq(probe_queue_ack(&q, 10), 6);
    ck_assert_uint_eq(q.len, 0);
    probe_queue_free(&q);
}
END_TEST

START_TEST(full_queue_drops_oldest)
{
    struct probe_queue q;
    struct proto_result *first;

    probe_queue_init(&q);
    for (uint64_t s = 1; s <= PROBE_QUEUE_MAX + 5; s++)
        push_seq(&q, s);
    ck_assert_uint_eq(q.len, PROBE_QUEUE_MAX);
    ck_assert_uint_eq(q.dropped, 5);
    probe_queue_next_batch(&q, 1, &first);
    ck_assert_uint_eq(first[0].seq, 6);
    probe_queue_free(&q);
}
END_TEST

Suite *queue_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("queue");

    tcase_add_test(tc, batches_ack_and_rewind);
    tcase_add_test(tc, full_queue_drops_oldest);
    suite_add_tcase(s, tc);
    return s;
}
