/*
 * check_probe - the Check runner for probe/.  With an argument it runs only
 * the suite of that name, so ctest lists each suite as its own test.
 */
#include <stdlib.h>

#include <check.h>

#include "check_probe.h"

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
    srunner_run(sr, argc > 1 ? argv[1] : NULL, NULL, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
