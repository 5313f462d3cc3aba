/*
 * map_test.c - the map document: a pair's percentiles come from the merge
 * of its windows' sketches, loss from the sums, old windows stay out.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_controller.h"

#define NOW_MS 1800000000000LL

static int none_connected(void *arg, const char *id)
{
    (void)arg;
    return strcmp(id, "a") == 0;
}

/* One record of n RTTs: base, base + step, ... (ns). */
static void add_window(struct ctl_store *st, const char *probe, const char *dst,
                       uint64_t seq, int64_t start_ms, int n, double base, double step,
                       uint32_t lost)
{
    struct proto_result r = {.seq = seq,
                             .task_id = 1,
                             .method = PROTO_METHOD_STAMP,
                             .window_start_ms = start_ms,
                             .window_s = 10,
                             .sent = (uint32_t)n + lost,
                             .received = (uint32_t)n,
                             .lost = lost};
    struct proto_results rs = {.nresults = 1, .results = &r};
    uint64_t acked;

    strcpy(r.target_id, dst);
    proto_sketch_init(&r.sketch);
    for (int i = 0; i < n; i++)
        proto_sketch_add(&r.sketch, base + step * i);
    r.rtt_min_ns = (uint64_t)base;
    r.rtt_max_ns = (uint64_t)(base + step * (n - 1));
    ck_assert_int_eq(ctl_store_results(st, probe, &rs, NOW_MS, &acked), 0);
    proto_sketch_free(&r.sketch);
}

static json_t *find_pair(json_t *doc, const char *src, const char *dst)
{
    size_t i;
    json_t *p;

    json_array_foreach(json_object_get(doc, "pairs"), i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "src")), src) == 0 &&
            strcmp(json_string_value(json_object_get(p, "dst")), dst) == 0)
            return p;
    }
    return NULL;
}

static double num(json_t *p, const char *key)
{
    json_t *v = json_object_get(p, key);

    ck_assert_msg(json_is_number(v), "%s is not a number", key);
    return json_number_value(v);
}

START_TEST(percentiles_from_merged_sketches)
{
    struct ctl_store *st;
    char err[256];
    json_t *doc, *p;

    ck_assert_int_eq(ctl_store_open(":memory:", &st, err, sizeof(err)), 0);
    /* Window 1: 100 RTTs of 1.00..1.99 ms; window 2: 300 RTTs of 10..12.99 ms.
     * The merged p50 lies in window 2 (rank 199 of 400): 10 + 0.01 * 99 ms. */
    add_window(st, "a", "b", 1, NOW_MS - 30000, 100, 1e6, 1e4, 0);
    add_window(st, "a", "b", 2, NOW_MS - 20000, 300, 10e6, 1e4, 4);
    /* Outside a 60 s window: must not count. */
    add_window(st, "a", "b", 3, NOW_MS - 120000, 50, 100e6, 0, 50);
    doc = ctl_map_matrix(st, NOW_MS, 60, none_connected, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "window_s")), 60);
    p = find_pair(doc, "a", "b");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "method")), "stamp");
    ck_assert_int_eq(num(p, "sent"), 404);
    ck_assert_int_eq(num(p, "received"), 400);
    ck_assert_double_eq_tol(num(p, "loss_pct"), 0.99, 0.005);
    ck_assert_double_eq_tol(num(p, "rtt_min_ms"), 1.0, 1e-9);
    ck_assert_double_eq_tol(num(p, "rtt_max_ms"), 12.99, 1e-9);
    ck_assert_double_le(fabs(num(p, "rtt_p50_ms") - 10.99) / 10.99, 0.01);
    ck_assert_double_le(fabs(num(p, "rtt_p90_ms") - 12.59) / 12.59, 0.01);
    ck_assert(json_is_null(json_object_get(p, "path_class")));
    ck_assert(json_is_null(json_object_get(p, "stretch")));
    json_decref(doc);
    ctl_store_close(st);
}
END_TEST

/* Duplicates and reordering are summed over the windows; the path class
 * follows the lowest TTL any window saw (RFC 8762 Sender TTL), and a window
 * that saw none (0) does not count. */
START_TEST(duplicates_reordering_and_path_class)
{
    struct ctl_store *st;
    struct proto_result r[3];
    struct proto_results rs = {.nresults = 3, .results = r};
    static const uint8_t ttls[2][3] = {{255, 0, 255}, {255, 254, 0}};
    static const char *const dst[2] = {"b", "c"};
    uint64_t acked;
    char err[256];
    json_t *doc, *p;

    ck_assert_int_eq(ctl_store_open(":memory:", &st, err, sizeof(err)), 0);
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < 3; i++) {
            r[i] = (struct proto_result){.seq = (uint64_t)(d * 3 + i + 1),
                                         .task_id = 1,
                                         .method = PROTO_METHOD_STAMP,
                                         .window_start_ms = NOW_MS - 30000 + i * 10000,
                                         .window_s = 10,
                                         .sent = 10,
                                         .received = 10,
                                         .duplicates = (uint32_t)i,
                                         .reordered = (uint32_t)(2 * i + 1),
                                         .rtt_min_ns = 1000000,
                                         .rtt_max_ns = 1000000,
                                         .ttl = ttls[d][i]};
            strcpy(r[i].target_id, dst[d]);
            proto_sketch_init(&r[i].sketch);
            proto_sketch_add(&r[i].sketch, 1e6);
        }
        ck_assert_int_eq(ctl_store_results(st, "a", &rs, NOW_MS, &acked), 0);
        for (int i = 0; i < 3; i++)
            proto_sketch_free(&r[i].sketch);
    }
    doc = ctl_map_matrix(st, NOW_MS, 60, none_connected, NULL);
    p = find_pair(doc, "a", "b");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(num(p, "duplicates"), 0 + 1 + 2);
    ck_assert_int_eq(num(p, "reordered"), 1 + 3 + 5);
    ck_assert_str_eq(json_string_value(json_object_get(p, "path_class")), "one-hop");
    p = find_pair(doc, "a", "c");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "path_class")), "routed");
    json_decref(doc);
    ctl_store_close(st);
}
END_TEST

START_TEST(stretch_from_locations)
{
    struct ctl_store *st;
    struct proto_hello a, b;
    int64_t k;
    char err[256];
    json_t *doc, *p, *node;

    ck_assert_int_eq(ctl_store_open(":memory:", &st, err, sizeof(err)), 0);
    test_hello(&a, "a", "127.0.0.1");
    test_hello(&b, "b", "127.0.0.2");
    /* Karachi and Islamabad: about 1140 km, so at least ~11.2 ms over fibre. */
    a.has_location = b.has_location = 1;
    a.lat = 24.86, a.lon = 67.01, b.lat = 33.68, b.lon = 73.05;
    ctl_store_probe_seen(st, &a, NOW_MS, &k);
    ctl_store_probe_seen(st, &b, NOW_MS, &k);
    add_window(st, "a", "b", 1, NOW_MS - 10000, 10, 150e6, 0, 0);
    doc = ctl_map_matrix(st, NOW_MS, 60, none_connected, NULL);
    p = find_pair(doc, "a", "b");
    ck_assert_double_eq_tol(ctl_fibre_rtt_ms(a.lat, a.lon, b.lat, b.lon), 11.2, 0.3);
    ck_assert_double_gt(num(p, "stretch"), 12.0);
    ck_assert_double_lt(num(p, "stretch"), 14.0);
    node = json_array_get(json_object_get(doc, "nodes"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(node, "id")), "a");
    ck_assert(json_is_true(json_object_get(node, "connected")));
    json_decref(doc);
    ctl_store_close(st);
}
END_TEST

START_TEST(window_parameter)
{
    static const struct {
        const char *in;
        int rc;
        uint32_t want;
    } cases[] = {
        {"60", 0, 60},           {"1", 0, 1},
        {"2592000", 0, 2592000}, {"0", -EINVAL, 0},
        {"2592001", -EINVAL, 0}, {"-5", -EINVAL, 0},
        {"+5", -EINVAL, 0},      {" 5", -EINVAL, 0},
        {"5 ", -EINVAL, 0},      {"5s", -EINVAL, 0},
        {"", -EINVAL, 0},        {"99999999999999999999", -EINVAL, 0},
        {"0x10", -EINVAL, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t w = 0;

        ck_assert_msg(ctl_parse_window(cases[i].in, &w) == cases[i].rc, "'%s'",
                      cases[i].in);
        if (cases[i].rc == 0)
            ck_assert_uint_eq(w, cases[i].want);
    }
}
END_TEST

Suite *map_suite(void)
{
    Suite *s = suite_create("map");
    TCase *tc = tcase_create("matrix");

    tcase_add_test(tc, percentiles_from_merged_sketches);
    tcase_add_test(tc, duplicates_reordering_and_path_class);
    tcase_add_test(tc, stretch_from_locations);
    tcase_add_test(tc, window_parameter);
    suite_add_tcase(s, tc);
    return s;
}
