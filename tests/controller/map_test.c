/*
 * map_test.c - the map document: a pair's percentiles come from the merge
 * of its windows' sketches, loss from the sums, old windows stay out.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
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
    struct ctl_ingest in;

    strcpy(r.target_id, dst);
    proto_sketch_init(&r.sketch);
    for (int i = 0; i < n; i++)
        proto_sketch_add(&r.sketch, base + step * i);
    r.rtt_min_ns = (uint64_t)base;
    r.rtt_max_ns = (uint64_t)(base + step * (n - 1));
    ck_assert_int_eq(ctl_store_results(st, probe, &rs, NOW_MS, &in), 0);
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
    doc = ctl_map_matrix(st, NULL, NOW_MS, 60, none_connected, NULL);
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
    struct ctl_ingest in;
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
        ck_assert_int_eq(ctl_store_results(st, "a", &rs, NOW_MS, &in), 0);
        for (int i = 0; i < 3; i++)
            proto_sketch_free(&r[i].sketch);
    }
    doc = ctl_map_matrix(st, NULL, NOW_MS, 60, none_connected, NULL);
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
    doc = ctl_map_matrix(st, NULL, NOW_MS, 60, none_connected, NULL);
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

static json_t *find_pair_m(json_t *doc, const char *src, const char *dst,
                           const char *method)
{
    size_t i;
    json_t *p;

    json_array_foreach(json_object_get(doc, "pairs"), i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "src")), src) == 0 &&
            strcmp(json_string_value(json_object_get(p, "dst")), dst) == 0 &&
            strcmp(json_string_value(json_object_get(p, "method")), method) == 0)
            return p;
    }
    return NULL;
}

static json_t *find_node(json_t *doc, const char *id)
{
    size_t i;
    json_t *n;

    json_array_foreach(json_object_get(doc, "nodes"), i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "id")), id) == 0)
            return n;
    }
    return NULL;
}

static const char *text(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    ck_assert_msg(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

/* One content record: n RTTs of rtt_ns, lost attempts by outcome in oc. */
static void add_content(struct ctl_store *st, const char *probe, const char *dst,
                        int method, uint64_t seq, int64_t start_ms, uint32_t n,
                        double rtt_ns, const uint32_t oc[PROTO_OUTCOME_MAX],
                        const char *why, const struct proto_content_info *info)
{
    struct proto_result r = {.seq = seq,
                             .task_id = CTL_CONTENT_TASK_BIT | (uint32_t)method,
                             .method = (uint8_t)method,
                             .window_start_ms = start_ms,
                             .window_s = 10,
                             .received = n};
    struct proto_results rs = {.nresults = 1, .results = &r};
    struct ctl_ingest in;

    strcpy(r.target_id, dst);
    snprintf(r.why, sizeof(r.why), "%s", why ? why : "");
    if (info != NULL)
        r.info = *info;
    for (int i = 0; oc != NULL && i < PROTO_OUTCOME_MAX; i++) {
        r.outcomes[i] = oc[i];
        r.lost += oc[i];
    }
    r.sent = r.received + r.lost;
    proto_sketch_init(&r.sketch);
    for (uint32_t i = 0; i < n; i++)
        proto_sketch_add(&r.sketch, rtt_ns);
    r.rtt_min_ns = r.rtt_max_ns = n ? (uint64_t)rtt_ns : 0;
    ck_assert_int_eq(ctl_store_results(st, probe, &rs, NOW_MS, &in), 0);
    proto_sketch_free(&r.sketch);
}

START_TEST(content_nodes_and_pairs)
{
    static struct ctl_content cdn = {
        .id = "cdn",
        .name = "CDN cache",
        .host = "cdn.example.net",
        .addr = "192.0.2.10",
        .methods = (1u << PROTO_METHOD_TCP) | (1u << PROTO_METHOD_HTTP) |
                   (1u << PROTO_METHOD_DNS),
        .header = "X-Cache",
    };
    struct ctl_config cfg = {.content = &cdn, .ncontent = 1};
    struct proto_content_info older = {.http_status = 200,
                                       .tls_version = "TLSv1.3",
                                       .tls_cipher = "TLS_AES_128_GCM_SHA256",
                                       .header_value = "MISS",
                                       .cert_not_after = 1900000000, /* 2030-03-17 */
                                       .verify_result = 1,
                                       .connect_ns = 900000,
                                       .total_ns = 9000000};
    struct proto_content_info newer = {.http_status = 200,
                                       .header_value = "HIT",
                                       .connect_ns = 1000000,
                                       .ttfb_ns = 2500000};
    struct proto_content_info nx = {.dns_rcode = 3 + 1, .dns_answers = 0};
    struct proto_content_info odd = {.dns_rcode = 12 + 1, .verify_result = 10 + 1};
    uint32_t oc_new[PROTO_OUTCOME_MAX] = {
        [PROTO_OUT_REFUSED] = 2, [PROTO_OUT_TIMEOUT] = 1};
    uint32_t oc_old[PROTO_OUTCOME_MAX] = {[PROTO_OUT_HTTP_5XX] = 7};
    uint32_t oc_down[PROTO_OUTCOME_MAX] = {[PROTO_OUT_REFUSED] = 4};
    struct ctl_store *st;
    struct proto_hello h;
    int64_t key;
    char err[256];
    json_t *doc, *n, *p, *x;

    ck_assert_int_eq(ctl_store_open(":memory:", &st, err, sizeof(err)), 0);
    test_hello(&h, "a", "127.0.1.1");
    ck_assert_int_eq(ctl_store_probe_seen(st, &h, NOW_MS, &key), 0);
    add_window(st, "a", "b", 1, NOW_MS - 30000, 10, 1e6, 0, 0);
    /* http: too old to count, then two windows of the last minute */
    add_content(st, "a", "cdn", PROTO_METHOD_HTTP, 2, NOW_MS - 300000, 1, 5e6, oc_old,
                "HTTP 503 Service Unavailable", NULL);
    add_content(st, "a", "cdn", PROTO_METHOD_HTTP, 3, NOW_MS - 30000, 5, 3e6, NULL, NULL,
                &older);
    add_content(st, "a", "cdn", PROTO_METHOD_HTTP, 4, NOW_MS - 20000, 2, 3e6, oc_new,
                "connect: connection refused", &newer);
    add_content(st, "a", "cdn", PROTO_METHOD_TCP, 5, NOW_MS - 20000, 0, 0, oc_down,
                "connect: connection refused", NULL);
    add_content(st, "a", "cdn", PROTO_METHOD_DNS, 6, NOW_MS - 20000, 3, 1e6, NULL, NULL,
                &nx);
    add_content(st, "b", "cdn", PROTO_METHOD_DNS, 1, NOW_MS - 20000, 3, 1e6, NULL, NULL,
                &odd);
    doc = ctl_map_matrix(st, &cfg, NOW_MS, 60, none_connected, NULL);
    ck_assert_ptr_nonnull(doc);

    /* the content node among the nodes, with its methods */
    ck_assert_ptr_nonnull(n = find_node(doc, "cdn"));
    ck_assert_str_eq(text(n, "kind"), "content");
    ck_assert_str_eq(text(n, "name"), "CDN cache");
    ck_assert_str_eq(text(n, "host"), "cdn.example.net");
    ck_assert_str_eq(text(n, "address"), "192.0.2.10");
    x = json_object_get(n, "methods");
    ck_assert_uint_eq(json_array_size(x), 3);
    ck_assert_str_eq(json_string_value(json_array_get(x, 0)), "tcp");
    ck_assert_str_eq(json_string_value(json_array_get(x, 2)), "dns");
    ck_assert_str_eq(text(find_node(doc, "a"), "kind"), "probe");

    /* http: counts and outcomes over the range, details from the newest */
    ck_assert_ptr_nonnull(p = find_pair_m(doc, "a", "cdn", "http"));
    ck_assert_int_eq(num(p, "sent"), 10);
    ck_assert_int_eq(num(p, "received"), 7);
    ck_assert_double_eq_tol(num(p, "loss_pct"), 30, 1e-9);
    ck_assert_double_le(fabs(num(p, "rtt_p50_ms") - 3) / 3, 0.01);
    x = json_object_get(p, "outcomes");
    ck_assert_uint_eq(json_object_size(x), 2); /* the old http_5xx is out of range */
    ck_assert_int_eq(num(x, "refused"), 2);
    ck_assert_int_eq(num(x, "timeout"), 1);
    ck_assert_str_eq(text(p, "why"), "connect: connection refused");
    ck_assert_int_eq(num(p, "http_status"), 200);
    x = json_object_get(p, "header");
    ck_assert_str_eq(text(x, "name"), "X-Cache");
    ck_assert_str_eq(text(x, "value"), "HIT");
    ck_assert_str_eq(text(p, "tls_version"), "TLSv1.3"); /* only the older had it */
    ck_assert_str_eq(text(p, "tls_cipher"), "TLS_AES_128_GCM_SHA256");
    ck_assert_str_eq(text(p, "cert_not_after"), "2030-03-17T17:46:40Z");
    ck_assert_str_eq(text(p, "verify"), "ok");
    x = json_object_get(p, "phases_ms");
    ck_assert_double_eq_tol(num(x, "connect"), 1.0, 1e-9);
    ck_assert_double_eq_tol(num(x, "ttfb"), 2.5, 1e-9);
    ck_assert_double_eq_tol(num(x, "total"), 9.0, 1e-9);
    ck_assert_ptr_null(json_object_get(x, "dns")); /* zero: left out */
    ck_assert(json_is_null(json_object_get(p, "path_class")));
    ck_assert(json_is_null(json_object_get(p, "stretch")));
    ck_assert(json_is_null(json_object_get(p, "dns_rcode")));

    /* tcp to a closed port: all lost, refused */
    ck_assert_ptr_nonnull(p = find_pair_m(doc, "a", "cdn", "tcp"));
    ck_assert_double_eq_tol(num(p, "loss_pct"), 100, 1e-9);
    ck_assert(json_is_null(json_object_get(p, "rtt_p50_ms")));
    ck_assert_int_eq(num(json_object_get(p, "outcomes"), "refused"), 4);
    ck_assert(json_is_null(json_object_get(p, "http_status")));
    ck_assert(json_is_null(json_object_get(p, "header")));
    ck_assert(json_is_null(json_object_get(p, "phases_ms")));

    /* dns: RCODE by name, or by number when it has none */
    ck_assert_ptr_nonnull(p = find_pair_m(doc, "a", "cdn", "dns"));
    ck_assert_str_eq(text(p, "dns_rcode"), "NXDOMAIN");
    ck_assert_int_eq(num(p, "dns_answers"), 0);
    ck_assert_ptr_nonnull(p = find_pair_m(doc, "b", "cdn", "dns"));
    ck_assert_int_eq(num(p, "dns_rcode"), 12); /* unassigned (RFC 6895 2.3) */
    ck_assert_str_eq(text(p, "verify"), "certificate has expired");

    /* STAMP pairs: outcomes and why, no content fields */
    ck_assert_ptr_nonnull(p = find_pair_m(doc, "a", "b", "stamp"));
    ck_assert_uint_eq(json_object_size(json_object_get(p, "outcomes")), 0);
    ck_assert(json_is_null(json_object_get(p, "why")));
    ck_assert_ptr_null(json_object_get(p, "http_status"));
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
    tcase_add_test(tc, content_nodes_and_pairs);
    suite_add_tcase(s, tc);
    return s;
}
