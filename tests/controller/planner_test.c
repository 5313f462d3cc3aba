/*
 * planner_test.c - the full mesh: every probe measures every other, at an
 * address of a family it has, with task ids that survive a re-plan.
 */
#include <string.h>

#include "check_controller.h"

static const struct ctl_mesh mesh = {
    .window_s = 10, .interval_ms = 1000, .timeout_ms = 1000, .size = 44};

START_TEST(full_mesh)
{
    struct proto_hello h[3];
    struct ctl_peer peers[3];
    struct proto_tasks tl;

    test_hello(&h[0], "a", "127.0.1.1");
    test_hello(&h[1], "b", "127.0.1.2");
    test_hello(&h[2], "c", "127.0.1.3");
    for (int i = 0; i < 3; i++)
        peers[i] = (struct ctl_peer){.key = 10 + i, .hello = &h[i]};
    ck_assert_int_eq(ctl_plan_tasks(peers, 3, 1, &mesh, 7, &tl), 0);
    ck_assert_uint_eq(tl.generation, 7);
    ck_assert_uint_eq(tl.window_s, 10);
    ck_assert_uint_eq(tl.ntasks, 2);
    ck_assert_str_eq(tl.tasks[0].target_id, "a");
    ck_assert_str_eq(tl.tasks[0].addr, "127.0.1.1");
    ck_assert_str_eq(tl.tasks[1].target_id, "c");
    ck_assert_uint_eq(tl.tasks[1].port, 8620);
    ck_assert_uint_eq(tl.tasks[1].method, PROTO_METHOD_STAMP);
    ck_assert_uint_ne(tl.tasks[0].id, tl.tasks[1].id);
    free(tl.tasks);
}
END_TEST

START_TEST(ids_stable_when_mesh_changes)
{
    struct proto_hello h[3];
    struct ctl_peer peers[3];
    struct proto_tasks before, after;

    test_hello(&h[0], "a", "127.0.1.1");
    test_hello(&h[1], "b", "127.0.1.2");
    test_hello(&h[2], "c", "127.0.1.3");
    for (int i = 0; i < 3; i++)
        peers[i] = (struct ctl_peer){.key = 10 + i, .hello = &h[i]};
    ctl_plan_tasks(peers, 2, 0, &mesh, 1, &before);
    ctl_plan_tasks(peers, 3, 0, &mesh, 2, &after);
    ck_assert_uint_eq(before.ntasks, 1);
    ck_assert_uint_eq(after.ntasks, 2);
    ck_assert_uint_eq(before.tasks[0].id, after.tasks[0].id);
    free(before.tasks);
    free(after.tasks);
}
END_TEST

START_TEST(address_family_must_match)
{
    struct proto_hello h[3];
    struct ctl_peer peers[3];
    struct proto_tasks tl;

    test_hello(&h[0], "v4", "192.0.2.1");
    test_hello(&h[1], "v6", "2001:db8::2");
    test_hello(&h[2], "dual", "2001:db8::3");
    strcpy(h[2].addrs[1], "192.0.2.3");
    h[2].naddrs = 2;
    for (int i = 0; i < 3; i++)
        peers[i] = (struct ctl_peer){.key = i + 1, .hello = &h[i]};
    ctl_plan_tasks(peers, 3, 0, &mesh, 1, &tl);
    ck_assert_uint_eq(tl.ntasks, 1); /* v6-only is out of reach */
    ck_assert_str_eq(tl.tasks[0].addr, "192.0.2.3");
    free(tl.tasks);
    ctl_plan_tasks(peers, 3, 2, &mesh, 1, &tl);
    ck_assert_uint_eq(tl.ntasks, 2);
    ck_assert_str_eq(tl.tasks[0].addr, "192.0.2.1");
    ck_assert_str_eq(tl.tasks[1].addr, "2001:db8::2");
    free(tl.tasks);
}
END_TEST

Suite *planner_suite(void)
{
    Suite *s = suite_create("planner");
    TCase *tc = tcase_create("mesh");

    tcase_add_test(tc, full_mesh);
    tcase_add_test(tc, ids_stable_when_mesh_changes);
    tcase_add_test(tc, address_family_must_match);
    suite_add_tcase(s, tc);
    return s;
}
