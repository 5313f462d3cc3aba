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

#endif
