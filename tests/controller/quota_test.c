/*
 * quota_test.c - the log quota (controller/quota.c): how many lines a
 * minute, what is held back, and when a new minute begins.
 */
#include "check_controller.h"

START_TEST(first_lines_pass_then_held)
{
    struct ctl_quota q = {0};
    uint64_t held;
    int logged = 0;

    for (int i = 0; i < 3 * CTL_QUOTA_LINES; i++)
        logged += ctl_quota_take(&q, 1000 + (uint64_t)i);
    ck_assert_int_eq(logged, CTL_QUOTA_LINES);
    ck_assert_int_eq(ctl_quota_roll(&q, 1000 + CTL_QUOTA_MS - 1, &held), 0);
    ck_assert_uint_eq(held, 0);
    ck_assert_int_eq(ctl_quota_roll(&q, 1000 + CTL_QUOTA_MS, &held), 1);
    ck_assert_uint_eq(held, 2 * CTL_QUOTA_LINES);
    /* Rolled: nothing more to report until the next event. */
    ck_assert_int_eq(ctl_quota_roll(&q, 1000 + 5 * CTL_QUOTA_MS, &held), 0);
}
END_TEST

START_TEST(new_minute_starts_with_next_event)
{
    struct ctl_quota q = {0};
    uint64_t held;

    for (int i = 0; i < CTL_QUOTA_LINES; i++)
        ck_assert_int_eq(ctl_quota_take(&q, 5), 1);
    ck_assert_int_eq(ctl_quota_take(&q, 6), 0);
    ck_assert_int_eq(ctl_quota_roll(&q, 5 + CTL_QUOTA_MS, &held), 1);
    ck_assert_uint_eq(held, 1);
    /* A quiet hour later, an event is logged again, and its minute begins then. */
    ck_assert_int_eq(ctl_quota_take(&q, 3600000), 1);
    ck_assert_int_eq(ctl_quota_roll(&q, 3600000 + CTL_QUOTA_MS - 1, &held), 0);
    ck_assert_int_eq(ctl_quota_roll(&q, 3600000 + CTL_QUOTA_MS, &held), 1);
    ck_assert_uint_eq(held, 0);
}
END_TEST

START_TEST(loop_time_zero)
{
    struct ctl_quota q = {0};
    uint64_t held;

    /* The loop's clock may read 0 at start: that must still open a minute. */
    ck_assert_int_eq(ctl_quota_take(&q, 0), 1);
    ck_assert_int_eq(ctl_quota_roll(&q, CTL_QUOTA_MS + 1, &held), 1);
}
END_TEST

Suite *quota_suite(void)
{
    Suite *s = suite_create("quota");
    TCase *tc = tcase_create("quota");

    tcase_add_test(tc, first_lines_pass_then_held);
    tcase_add_test(tc, new_minute_starts_with_next_event);
    tcase_add_test(tc, loop_time_zero);
    suite_add_tcase(s, tc);
    return s;
}
