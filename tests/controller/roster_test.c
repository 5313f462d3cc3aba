/*
 * roster_test.c - a probe that leaves stays in the mesh for the grace
 * period, then goes; one that returns in time is simply connected again.
 */
#include <string.h>

#include "check_controller.h"

START_TEST(grace_then_expiry)
{
    struct ctl_roster r = {0};
    struct proto_hello a, b;

    test_hello(&a, "a", "127.0.0.1");
    test_hello(&b, "b", "127.0.0.2");
    ck_assert_int_eq(ctl_roster_join(&r, &a, 1, 0), 0);
    ck_assert_int_eq(ctl_roster_join(&r, &b, 2, 0), 0);
    ck_assert_uint_eq(ctl_roster_next_expiry(&r, 1000), 0);
    ctl_roster_leave(&r, "a", 5000);
    ck_assert_uint_eq(ctl_roster_next_expiry(&r, 1000), 6000);
    ck_assert_uint_eq(ctl_roster_expire(&r, 5999, 1000, NULL, NULL), 0);
    ck_assert_uint_eq(r.n, 2);
    ck_assert_uint_eq(ctl_roster_expire(&r, 6000, 1000, NULL, NULL), 1);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_str_eq(r.v[0].hello.probe_id, "b");
    ctl_roster_free(&r);
}
END_TEST

START_TEST(return_within_grace)
{
    struct ctl_roster r = {0};
    struct proto_hello a;

    test_hello(&a, "a", "127.0.0.1");
    ctl_roster_join(&r, &a, 1, 0);
    ctl_roster_leave(&r, "a", 100);
    strcpy(a.addrs[0], "127.0.0.9"); /* it may come back from elsewhere */
    ck_assert_int_eq(ctl_roster_join(&r, &a, 1, 0), 0);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_str_eq(r.v[0].hello.addrs[0], "127.0.0.9");
    ck_assert_uint_eq(ctl_roster_expire(&r, 1000000, 1000, NULL, NULL), 0);
    ctl_roster_free(&r);
}
END_TEST

Suite *roster_suite(void)
{
    Suite *s = suite_create("roster");
    TCase *tc = tcase_create("members");

    tcase_add_test(tc, grace_then_expiry);
    tcase_add_test(tc, return_within_grace);
    suite_add_tcase(s, tc);
    return s;
}
