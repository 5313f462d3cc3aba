/*
 * check_proto - the Check runner for proto/.  With an argument it runs only
 * the suite of that name, so ctest lists each suite as its own test.
 */
#include <stdlib.h>

#include <check.h>

#include "check_proto.h"

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    SRunner *sr = srunner_create(NULL);
    int failed;

    srunner_add_suite(sr, frame_suite());
    srunner_add_suite(sr, msg_suite());
    srunner_add_suite(sr, stamp_suite());
    srunner_add_suite(sr, stamp_auth_suite());
    srunner_add_suite(sr, stamp_tlv_suite());
    srunner_add_suite(sr, sketch_suite());
    srunner_run(sr, only, NULL, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
