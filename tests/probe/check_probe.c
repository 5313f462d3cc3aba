/*
 * check_probe - the Check runner for probe/.  With an argument it runs only
 * the suite of that name, so ctest lists each suite as its own test.
 */
#include <stdio.h>
#include <stdlib.h>

#include <check.h>

#include "check_probe.h"

void test_tmpdir_make(char *dir, size_t len, const char *name)
{
    snprintf(dir, len, "/tmp/ixmesh-%s-test.XXXXXX", name);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

void test_tmpdir_remove(const char *dir)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

int main(int argc, char **argv)
{
    SRunner *sr = srunner_create(NULL);
    int failed;

    srunner_add_suite(sr, config_suite());
    srunner_add_suite(sr, stamp_suite());
    srunner_add_suite(sr, deliver_suite());
    srunner_add_suite(sr, reflect_suite());
    srunner_add_suite(sr, wheel_suite());
    srunner_add_suite(sr, attempt_suite());
    srunner_add_suite(sr, spool_suite());
    srunner_add_suite(sr, icmp_suite());
    srunner_add_suite(sr, http_suite());
    srunner_add_suite(sr, dns_suite());
    srunner_add_suite(sr, policy_suite());
    srunner_run(sr, argc > 1 ? argv[1] : NULL, NULL, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
