#ifndef IXMESH_CHECK_PROBE_H
#define IXMESH_CHECK_PROBE_H

#include <check.h>

Suite *config_suite(void);
Suite *stamp_suite(void);
Suite *deliver_suite(void);
Suite *reflect_suite(void);
Suite *wheel_suite(void);
Suite *attempt_suite(void);
Suite *spool_suite(void);
Suite *icmp_suite(void);
Suite *http_suite(void);
Suite *dns_suite(void);
Suite *policy_suite(void);

/* A fresh directory under /tmp named after what uses it, and its removal
 * with all it holds (fixtures of the suites on real files). */
void test_tmpdir_make(char *dir, size_t len, const char *name);
void test_tmpdir_remove(const char *dir);

#endif
