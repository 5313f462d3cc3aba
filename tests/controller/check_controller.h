#ifndef IXMESH_CHECK_CONTROLLER_H
#define IXMESH_CHECK_CONTROLLER_H

#include <check.h>

#include "controller.h"

Suite *config_suite(void);
Suite *planner_suite(void);
Suite *store_suite(void);
Suite *map_suite(void);
Suite *roster_suite(void);
Suite *guard_suite(void);
Suite *quota_suite(void);
Suite *pairs_suite(void);

/* A HELLO for tests: id, one address. */
void test_hello(struct proto_hello *h, const char *id, const char *addr);

#endif
