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
Suite *rollup_suite(void);
Suite *history_suite(void);
Suite *api_suite(void);

/* The "delivery" object of /api/v1/probes for a probe of st. */
json_t *test_delivery_json(struct ctl_store *st, const char *probe_id);

/* A store on a database file of its own, made from path's template
 * ("/tmp/...-XXXXXX", rewritten), open. */
struct ctl_store *test_store_new(char *path);
/* The store at path, opened (again). */
struct ctl_store *test_store_open(const char *path);
/* The integer a one-row query gives. */
int64_t test_query_int(struct ctl_store *st, const char *sql);

/* A HELLO for tests: id, one address. */
void test_hello(struct proto_hello *h, const char *id, const char *addr);

#endif
