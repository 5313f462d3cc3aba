/*
 * pairs_test.c - a pair's windows merged (controller/analysis/pairs.c),
 * with no database: the rows are made here as the store would hand them.
 */
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "check_controller.h"

#define WINDOWS 6

/* Window i of a pair: its RTTs into sk, its row pointing at sk's bytes. */
struct window {
    struct proto_sketch sk;
    uint8_t *bytes;
    struct ctl_window_row row;
};

static uint32_t next_rand(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return *seed >> 8;
}

/* Fills window i: n RTTs of 5 to 40 ms, also added to all. */
static void make_window(struct window *w, int i, uint32_t *seed, struct proto_sketch *all)
{
    uint32_t n = i == 2 ? 0 : 20 + next_rand(seed) % 30; /* window 2 got nothing back */
    size_t len = 0;

    memset(w, 0, sizeof(*w));
    proto_sketch_init(&w->sk);
    w->row.rtt_min_ns = UINT64_MAX;
    for (uint32_t k = 0; k < n; k++) {
        double ns = 5e6 + (double)(next_rand(seed) % 35000) * 1000.0;

        ck_assert_int_eq(proto_sketch_add(&w->sk, ns), 0);
        ck_assert_int_eq(proto_sketch_add(all, ns), 0);
        if ((uint64_t)ns < w->row.rtt_min_ns)
            w->row.rtt_min_ns = (uint64_t)ns;
        if ((uint64_t)ns > w->row.rtt_max_ns)
            w->row.rtt_max_ns = (uint64_t)ns;
    }
    if (n == 0)
        w->row.rtt_min_ns = 0;
    ck_assert_int_eq(proto_sketch_to_bytes(&w->sk, &w->bytes, &len), 0);
    w->row = (struct ctl_window_row){
        .probe_id = "a",
        .target_id = "b",
        .method = PROTO_METHOD_STAMP,
        .seq = (uint64_t)i + 1,
        .window_start_ms = 1700000000000 + i * 10000,
        .window_s = 10,
        .sent = 50,
        .received = n,
        .lost = 50 - n,
        .duplicates = (uint64_t)i,
        .reordered = 2,
        .rtt_min_ns = w->row.rtt_min_ns,
        .rtt_max_ns = w->row.rtt_max_ns,
        .ipdv_sum_ns = 1000 * (uint64_t)i,
        .ipdv_count = n ? n - 1 : 0,
        .ttl = 64 - i,
        .sketch = w->bytes,
        .sketch_len = len,
    };
}

/* The merge of the windows' sketches is the sketch of all their RTTs, and
 * every count is the sum of the windows'. */
START_TEST(merge_equals_union)
{
    struct window w[WINDOWS];
    struct proto_sketch all;
    struct ctl_pair p;
    uint32_t seed = 0x1234u + (uint32_t)_i;
    uint64_t received = 0, min = UINT64_MAX, max = 0, ipdv = 0, dups = 0;

    proto_sketch_init(&all);
    ck_assert_int_eq(ctl_pair_init(&p), 0);
    for (int i = 0; i < WINDOWS; i++)
        make_window(&w[i], i, &seed, &all);
    ctl_pair_start(&p, &w[0].row);
    for (int i = 0; i < WINDOWS; i++) {
        ck_assert(ctl_pair_is(&p, &w[i].row));
        ctl_pair_add(&p, &w[i].row);
        received += w[i].row.received;
        ipdv += w[i].row.ipdv_sum_ns;
        dups += w[i].row.duplicates;
        if (w[i].row.received > 0 && w[i].row.rtt_min_ns < min)
            min = w[i].row.rtt_min_ns;
        if (w[i].row.received > 0 && w[i].row.rtt_max_ns > max)
            max = w[i].row.rtt_max_ns;
    }
    ck_assert(proto_sketch_equal(&p.sketch, &all));
    ck_assert_uint_eq(p.windows, WINDOWS);
    ck_assert_uint_eq(p.sent, 50 * WINDOWS);
    ck_assert_uint_eq(p.received, received);
    ck_assert_uint_eq(p.lost, 50 * WINDOWS - received);
    ck_assert_uint_eq(p.min_ns, min); /* window 2's zero minimum left out */
    ck_assert_uint_eq(p.max_ns, max);
    ck_assert_uint_eq(p.ipdv_sum_ns, ipdv);
    ck_assert_uint_eq(p.duplicates, dups);
    ck_assert_uint_eq(p.reordered, 2 * WINDOWS);
    ck_assert_int_eq(p.ttl, 64 - (WINDOWS - 1));
    ck_assert_uint_eq(p.last_sent, 50);
    ck_assert_uint_eq(p.last_lost, w[WINDOWS - 1].row.lost);
    ck_assert(ctl_pair_quantile(&p, 0.5) >= (double)min);
    ck_assert(ctl_pair_quantile(&p, 0.99) <= (double)max);
    for (int i = 0; i < WINDOWS; i++) {
        proto_sketch_free(&w[i].sk);
        free(w[i].bytes);
    }
    proto_sketch_free(&all);
    ctl_pair_free(&p);
}
END_TEST

/* Outcomes add up; other keys keep the newest; what does not decode is
 * skipped and the counts still hold; a new pair starts from nothing. */
START_TEST(extra_and_damage)
{
    struct ctl_window_row r = {.probe_id = "a",
                               .target_id = "web",
                               .method = 5,
                               .sent = 4,
                               .received = 0,
                               .lost = 4};
    struct ctl_pair p;

    ck_assert_int_eq(ctl_pair_init(&p), 0);
    ctl_pair_start(&p, &r);
    r.extra = "{\"oc\":{\"timeout\":3,\"refused\":1},\"hv\":\"MISS\",\"st\":200}";
    ctl_pair_add(&p, &r);
    r.extra = "{\"oc\":{\"timeout\":1},\"hv\":\"HIT\"}";
    ctl_pair_add(&p, &r);
    r.extra = "{not json";
    r.received = 2;
    r.rtt_min_ns = 7;
    r.rtt_max_ns = 9;
    r.sketch = "garbage";
    r.sketch_len = 7;
    ctl_pair_add(&p, &r);
    ck_assert_uint_eq(p.outcomes[proto_outcome_parse("timeout")], 4);
    ck_assert_uint_eq(p.outcomes[proto_outcome_parse("refused")], 1);
    ck_assert_str_eq(json_string_value(json_object_get(p.latest, "hv")), "HIT");
    ck_assert_int_eq(json_integer_value(json_object_get(p.latest, "st")), 200);
    ck_assert_uint_eq(p.sent, 12);
    ck_assert_uint_eq(p.received, 2);
    ck_assert_uint_eq(p.min_ns, 7);
    ck_assert_uint_eq(p.sketch.count, 0); /* the bad sketch was not merged */

    r.target_id = "other";
    ck_assert(!ctl_pair_is(&p, &r));
    ctl_pair_start(&p, &r);
    ck_assert_str_eq(p.dst, "other");
    ck_assert_uint_eq(p.sent, 0);
    ck_assert_uint_eq(p.outcomes[proto_outcome_parse("timeout")], 0);
    ck_assert_uint_eq(json_object_size(p.latest), 0);
    ctl_pair_free(&p);
}
END_TEST

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    ck_assert_msg(json_is_number(v), "%s is not a number", key);
    return json_number_value(v);
}

/* A probe pair as the map writes it: loss, percentiles within the range,
 * path class from the TTL, stretch only with both locations. */
START_TEST(probe_pair_json)
{
    struct ctl_node nodes[2] = {{"a", 1, 24.86, 67.01}, {"b", 1, 33.68, 73.05}};
    struct ctl_window_row r = {.probe_id = "a", .target_id = "b", .method = 1};
    struct proto_sketch sk;
    struct ctl_pair p;
    uint8_t *bytes;
    size_t len;
    json_t *o;

    proto_sketch_init(&sk);
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(proto_sketch_add(&sk, 20e6 + i * 1e6), 0);
    ck_assert_int_eq(proto_sketch_to_bytes(&sk, &bytes, &len), 0);
    r = (struct ctl_window_row){.probe_id = "a",
                                .target_id = "b",
                                .method = 1,
                                .sent = 10,
                                .received = 9,
                                .lost = 1,
                                .rtt_min_ns = 20000000,
                                .rtt_max_ns = 28000000,
                                .ipdv_sum_ns = 8000000,
                                .ipdv_count = 8,
                                .ttl = 255,
                                .sketch = bytes,
                                .sketch_len = len};
    ck_assert_int_eq(ctl_pair_init(&p), 0);
    ctl_pair_start(&p, &r);
    ctl_pair_add(&p, &r);
    r.lost = 0;
    r.received = 0;
    r.extra = "{\"why\":\"timeout\"}";
    ctl_pair_add(&p, &r); /* a second window: 10 sent, nothing back, none lost */
    o = ctl_pair_json(&p, nodes, 2, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "method")), "stamp");
    ck_assert_double_eq(num(o, "sent"), 20);
    ck_assert_double_eq(num(o, "loss_pct"), 5);
    ck_assert_double_eq(num(o, "rtt_min_ms"), 20);
    ck_assert(num(o, "rtt_p50_ms") >= 20 && num(o, "rtt_p50_ms") <= 28);
    ck_assert(num(o, "rtt_p50_ms") <= num(o, "rtt_p90_ms"));
    ck_assert_double_eq(num(o, "rtt_max_ms"), 28);
    ck_assert_double_eq(num(o, "jitter_ms"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(o, "path_class")),
                     proto_path_class(255));
    ck_assert(num(o, "stretch") > 1); /* Karachi to Islamabad: ~ 11 ms of fibre */
    ck_assert(json_is_null(json_object_get(o, "why"))); /* the newest window lost none */
    ck_assert_double_eq(num(o, "last_loss_pct"), 0);
    json_decref(o);
    nodes[1].has_location = 0;
    o = ctl_pair_json(&p, nodes, 2, NULL);
    ck_assert(json_is_null(json_object_get(o, "stretch")));
    json_decref(o);

    /* A content node over http: what the method learnt, no path class. */
    r = (struct ctl_window_row){.probe_id = "a",
                                .target_id = "web",
                                .method = 5,
                                .sent = 4,
                                .received = 3,
                                .lost = 1,
                                .rtt_min_ns = 20000000,
                                .rtt_max_ns = 28000000,
                                .sketch = bytes,
                                .sketch_len = len,
                                .extra = "{\"hs\":200,\"hv\":\"HIT\",\"tfb\":12000000,"
                                         "\"why\":\"reset\"}"};
    ctl_pair_start(&p, &r);
    ctl_pair_add(&p, &r);
    o = ctl_pair_json(&p, nodes, 2, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(o, "method")), "http");
    ck_assert_double_eq(num(o, "http_status"), 200);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(o, "header"), "value")), "HIT");
    ck_assert_double_eq(num(json_object_get(o, "phases_ms"), "ttfb"), 12);
    ck_assert(json_is_null(json_object_get(o, "path_class")));
    ck_assert_str_eq(json_string_value(json_object_get(o, "why")), "reset");
    ck_assert_double_eq(num(o, "last_loss_pct"), 25);
    json_decref(o);
    ctl_pair_free(&p);
    proto_sketch_free(&sk);
    free(bytes);
}
END_TEST

/* The delivery object from a row, no database: health with when it came,
 * the newest holes and drops; a health that does not parse is null. */
START_TEST(delivery_json_from_row)
{
    struct ctl_delivery_row r = {.stored = 8,
                                 .duplicates = 6,
                                 .refused = 1,
                                 .missing = 6,
                                 .dropped_reported = 6,
                                 .health = "{\"seq0\":5000}",
                                 .health_ms = 1234,
                                 .ngaps = 1,
                                 .ndrops = 2,
                                 .gaps = {{104, 109}},
                                 .drops = {{2000, 4}, {1000, 2}}};
    json_t *j = ctl_delivery_json(&r), *h;

    ck_assert_ptr_nonnull(j);
    ck_assert_double_eq(num(j, "stored"), 8);
    ck_assert_double_eq(num(j, "duplicates"), 6);
    ck_assert_double_eq(num(j, "refused"), 1);
    ck_assert_double_eq(num(j, "missing"), 6);
    ck_assert_double_eq(num(j, "dropped_reported"), 6);
    h = json_object_get(j, "health");
    ck_assert_double_eq(num(h, "seq0"), 5000);
    ck_assert_double_eq(num(h, "reported_ms"), 1234);
    ck_assert_double_eq(num(json_array_get(json_object_get(j, "gaps"), 0), "last"), 109);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "drop_windows")), 2);
    ck_assert_double_eq(
        num(json_array_get(json_object_get(j, "drop_windows"), 1), "window_start_ms"),
        1000);
    json_decref(j);
    r.health = "[1,2";
    j = ctl_delivery_json(&r);
    ck_assert(json_is_null(json_object_get(j, "health")));
    json_decref(j);
}
END_TEST

Suite *pairs_suite(void)
{
    Suite *s = suite_create("pairs");
    TCase *tc = tcase_create("pairs");

    tcase_add_loop_test(tc, merge_equals_union, 0, 8);
    tcase_add_test(tc, extra_and_damage);
    tcase_add_test(tc, probe_pair_json);
    tcase_add_test(tc, delivery_json_from_row);
    suite_add_tcase(s, tc);
    return s;
}
