/*
 * check_controller - the Check runner for controller/.  With an argument it
 * runs only the suite of that name, so ctest lists each suite on its own.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "analysis.h"

#include "check_controller.h"

void test_hello(struct proto_hello *h, const char *id, const char *addr)
{
    memset(h, 0, sizeof(*h));
    h->version_min = h->version_max = PROTO_VERSION;
    h->caps = PROTO_CAP_STAMP;
    strcpy(h->probe_id, id);
    strcpy(h->name, id);
    strcpy(h->sw_version, "test");
    strcpy(h->addrs[0], addr);
    h->naddrs = 1;
    h->stamp_port = 8620;
}

struct ctl_store *test_store_open(const char *path)
{
    struct ctl_store *st;
    char err[256];

    ck_assert_msg(ctl_store_open(path, &st, err, sizeof(err)) == 0, "%s", err);
    return st;
}

struct ctl_store *test_store_new(char *path)
{
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    close(fd);
    return test_store_open(path);
}

int64_t test_query_int(struct ctl_store *st, const char *sql)
{
    sqlite3_stmt *s;
    int64_t n;

    ck_assert_msg(sqlite3_prepare_v2(ctl_store_db(st), sql, -1, &s, NULL) == SQLITE_OK,
                  "%s: %s", sql, sqlite3_errmsg(ctl_store_db(st)));
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

json_t *test_delivery_json(struct ctl_store *st, const char *probe_id)
{
    struct ctl_delivery_row r;
    json_t *j;

    ck_assert_int_eq(ctl_store_delivery(st, probe_id, &r), 0);
    j = ctl_delivery_json(&r);
    ctl_delivery_row_free(&r);
    ck_assert_ptr_nonnull(j);
    return j;
}

int main(int argc, char **argv)
{
    SRunner *sr = srunner_create(NULL);
    int failed;

    srunner_add_suite(sr, config_suite());
    srunner_add_suite(sr, planner_suite());
    srunner_add_suite(sr, store_suite());
    srunner_add_suite(sr, map_suite());
    srunner_add_suite(sr, roster_suite());
    srunner_add_suite(sr, guard_suite());
    srunner_add_suite(sr, quota_suite());
    srunner_add_suite(sr, pairs_suite());
    srunner_add_suite(sr, rollup_suite());
    srunner_add_suite(sr, history_suite());
    srunner_add_suite(sr, api_suite());
    srunner_run(sr, argc > 1 ? argv[1] : NULL, NULL, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
