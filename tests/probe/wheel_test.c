/*
 * wheel_test.c - the timer wheel gives back every entry at its due time,
 * in due order within a tick, across turns, after stalls and removals.
 */
#include <stdlib.h>

#include "check_probe.h"
#include "probe.h"

#define N 3000

/* Expires everything due at now; returns how many, checking each was due. */
static size_t expire_all(struct probe_wheel *w, uint64_t now)
{
    struct probe_wheel_entry *e;
    size_t n = 0;

    while ((e = probe_wheel_expire(w, now)) != NULL) {
        ck_assert_uint_le(e->due_ms, now);
        ck_assert_ptr_null(e->pprev);
        n++;
    }
    return n;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

START_TEST(each_entry_at_its_time)
{
    static struct probe_wheel_entry e[N];
    static uint64_t due[N];
    struct probe_wheel w;
    size_t got = 0;

    ck_assert_int_eq(probe_wheel_init(&w, 1000, 5000), 0); /* rounded up to 1024 */
    ck_assert_uint_eq(w.mask, 1023);
    srandom(7);
    for (int i = 0; i < N; i++) {
        due[i] = 5000 + (uint64_t)(random() % 5000); /* about five turns */
        probe_wheel_add(&w, &e[i], due[i]);
    }
    qsort(due, N, sizeof(due[0]), cmp_u64);
    ck_assert_uint_eq(w.count, N);
    for (uint64_t now = 5000; now < 10000; now++) {
        uint64_t next = probe_wheel_next(&w);

        /* Exactly the earliest entry's time: a timer armed for it is on time.
         * Entries leave in due order, so that is the got-th due time. */
        ck_assert_uint_eq(next, got < N ? due[got] : UINT64_MAX);
        for (struct probe_wheel_entry *x; (x = probe_wheel_expire(&w, now)) != NULL;) {
            ck_assert_uint_eq(x->due_ms, now); /* not early, not late */
            got++;
        }
        now = next > now && next != UINT64_MAX ? next - 1 : now;
    }
    ck_assert_uint_eq(got, N);
    ck_assert_uint_eq(w.count, 0);
    ck_assert_uint_eq(probe_wheel_next(&w), UINT64_MAX);
    probe_wheel_free(&w);
}
END_TEST

START_TEST(late_add_and_stall)
{
    struct probe_wheel_entry a, b, c;
    struct probe_wheel w;

    ck_assert_int_eq(probe_wheel_init(&w, 64, 100), 0);
    probe_wheel_add(&w, &a, 50); /* in the past: due now */
    ck_assert_uint_eq(a.due_ms, 100);
    probe_wheel_add(&w, &b, 110);
    probe_wheel_add(&w, &c, 100 + 64 * 3 + 5); /* three turns on, same slot as 105 */
    ck_assert_uint_eq(probe_wheel_next(&w), 100);
    ck_assert_uint_eq(expire_all(&w, 100), 1);
    ck_assert_uint_eq(probe_wheel_next(&w), 110);
    /* A stall of many turns: what is due comes out once, the rest waits. */
    ck_assert_uint_eq(expire_all(&w, 100 + 64 * 2), 1);
    ck_assert_uint_eq(probe_wheel_next(&w), c.due_ms);
    ck_assert_uint_eq(expire_all(&w, c.due_ms - 1), 0);
    ck_assert_uint_eq(expire_all(&w, 100000), 1);
    ck_assert_uint_eq(w.now_ms, 100000);
    probe_wheel_free(&w);
}
END_TEST

START_TEST(removal)
{
    struct probe_wheel_entry e[4] = {{0}};
    struct probe_wheel w;

    ck_assert_int_eq(probe_wheel_init(&w, 16, 0), 0);
    for (int i = 0; i < 4; i++)
        probe_wheel_add(&w, &e[i], 3); /* one slot, one list */
    probe_wheel_del(&w, &e[2]);
    probe_wheel_del(&w, &e[2]); /* twice is harmless */
    probe_wheel_del(&w, &e[3]); /* the head */
    probe_wheel_del(&w, &e[0]); /* the tail */
    ck_assert_uint_eq(w.count, 1);
    ck_assert_ptr_eq(probe_wheel_expire(&w, 3), &e[1]);
    ck_assert_ptr_null(probe_wheel_expire(&w, 3));
    probe_wheel_free(&w);
}
END_TEST

Suite *wheel_suite(void)
{
    Suite *s = suite_create("wheel");
    TCase *tc = tcase_create("wheel");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, each_entry_at_its_time);
    tcase_add_test(tc, late_add_and_stall);
    tcase_add_test(tc, removal);
    suite_add_tcase(s, tc);
    return s;
}
