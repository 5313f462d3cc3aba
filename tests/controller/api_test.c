/*
 * api_test.c - the history API's parameters (controller/api.c), with no
 * HTTP: each refusal names the argument and why; what passes is normalized
 * so that identical requests share an answer.
 */
#include <string.h>

#include "check_controller.h"
#include "query_io.h"

#define NOW_MS 1796623200000LL /* 2026-12-07T06:00:00Z */

/* Arguments as "name=value" strings, NULL-terminated. */
static const char *args_of(void *arg, const char *name)
{
    for (const char *const *a = arg; *a != NULL; a++) {
        size_t n = strlen(name);

        if (strncmp(*a, name, n) == 0 && (*a)[n] == '=')
            return *a + n + 1;
    }
    return NULL;
}

static int parse(const char *url, const char *const *args, struct ctl_query_req *r,
                 char *why)
{
    static struct ctl_config cfg = {
        .retention = {.raw_s = 6 * 3600, .level_s = {2 * 86400, 30 * 86400, 0}}};

    why[0] = '\0';
    return ctl_api_parse(url, args_of, (void *)args, &cfg, NOW_MS, r, why, 256);
}

START_TEST(map_arguments)
{
    struct ctl_query_req r;
    char why[256];

    ck_assert_int_eq(parse("/api/v1/map", (const char *[]){NULL}, &r, why), 1);
    ck_assert_uint_eq(r.window_s, 60);
    ck_assert_str_eq(r.key, "map window=60");
    ck_assert_int_eq(parse("/api/v1/map",
                           (const char *[]){"from=2026-12-06T06:00:00Z", "to=1796623200",
                                            "format=matrix", NULL},
                           &r, why),
                     1);
    ck_assert_int_eq(r.q.kind, CTL_Q_RANGE);
    ck_assert(r.q.matrix);
    ck_assert_int_eq(r.q.to_ms - r.q.from_ms, 86400000);
    ck_assert_int_eq(r.q.horizons.kept_from[0], NOW_MS - 6 * 3600000LL);
    ck_assert_int_lt(r.q.horizons.kept_from[3], 0); /* days kept for ever */
    ck_assert_int_eq(
        parse("/api/v1/map", (const char *[]){"format=matrix", NULL}, &r, why), -1);
    ck_assert_str_eq(why, "format=matrix needs from and to");
    ck_assert_int_eq(parse("/api/v1/map", (const char *[]){"window=0", NULL}, &r, why),
                     -1);
    ck_assert_int_eq(parse("/api/v1/map",
                           (const char *[]){"from=1796623200", "to=1796600000", NULL}, &r,
                           why),
                     -1);
    ck_assert_str_eq(why, "from must be before to");
    ck_assert_int_eq(parse("/api/v1/map",
                           (const char *[]){"from=1700000000", "to=1796623200", NULL}, &r,
                           why),
                     -1);
    ck_assert_str_eq(why, "the range may be at most 400 days");
    ck_assert_int_eq(parse("/api/v1/map", (const char *[]){"format=csv", NULL}, &r, why),
                     -1);
    ck_assert_int_eq(parse("/api/v1/probes", (const char *[]){NULL}, &r, why), 0);
}
END_TEST

START_TEST(pair_arguments)
{
    struct ctl_query_req r;
    char why[256];

    ck_assert_int_eq(
        parse("/api/v1/pairs/p1/web/series",
              (const char *[]){"method=http", "from=1796536800", "step=3600", NULL}, &r,
              why),
        1);
    ck_assert_int_eq(r.q.kind, CTL_Q_SERIES);
    ck_assert_str_eq(r.q.src, "p1");
    ck_assert_str_eq(r.q.dst, "web");
    ck_assert_int_eq(r.q.method, PROTO_METHOD_HTTP);
    ck_assert_int_eq(r.q.step_ms, 3600000);
    ck_assert_int_eq(r.q.to_ms, NOW_MS);
    /* A default step: a 200th of the range, in whole minutes. */
    ck_assert_int_eq(parse("/api/v1/pairs/p1/p2/series", (const char *[]){NULL}, &r, why),
                     1);
    ck_assert_int_eq(r.q.method, PROTO_METHOD_STAMP);
    ck_assert_int_eq(r.q.step_ms, 420000);
    ck_assert_int_eq(
        parse("/api/v1/pairs/p1/p2/windows", (const char *[]){NULL}, &r, why), 1);
    ck_assert_int_eq(r.q.kind, CTL_Q_WINDOWS);
    ck_assert_int_eq(parse("/api/v1/pairs/p1/p2/paths", (const char *[]){NULL}, &r, why),
                     -1);
    ck_assert_int_eq(parse("/api/v1/pairs/p1/p2", (const char *[]){NULL}, &r, why), -1);
    ck_assert_int_eq(
        parse("/api/v1/pairs/p 1/p2/series", (const char *[]){NULL}, &r, why), -1);
    ck_assert_str_eq(why, "'p 1' is not a probe id");
    ck_assert_int_eq(parse("/api/v1/pairs/p1/p2/series",
                           (const char *[]){"method=ftp", NULL}, &r, why),
                     -1);
    ck_assert_int_eq(
        parse("/api/v1/pairs/p1/p2/series", (const char *[]){"step=1", NULL}, &r, why),
        -1);
    ck_assert_str_eq(why, "step: too small for the range: at most 20000 points");
    ck_assert_int_eq(
        parse("/api/v1/pairs/p1/p2/series", (const char *[]){"step=-60", NULL}, &r, why),
        -1);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");

    tcase_add_test(tc, map_arguments);
    tcase_add_test(tc, pair_arguments);
    suite_add_tcase(s, tc);
    return s;
}
