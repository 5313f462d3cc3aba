/*
 * guard_test.c - what a member may say (controller/guard.c): prefixes, the
 * HELLO's addresses and port, the token bucket and the record checks; and
 * the [exchange] section of the configuration, loaded from a real file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_controller.h"

#define NOW_MS 1800000000000LL

START_TEST(prefix_parse)
{
    struct ctl_prefix p;

    ck_assert_int_eq(ctl_prefix_parse("192.0.2.0/24", &p), 0);
    ck_assert_int_eq(p.family, AF_INET);
    ck_assert_int_eq(p.len, 24);
    ck_assert_int_eq(ctl_prefix_parse("2001:db8::/32", &p), 0);
    ck_assert_int_eq(p.family, AF_INET6);
    ck_assert_int_eq(p.len, 32);
    ck_assert_int_eq(ctl_prefix_parse("192.0.2.7", &p), 0);
    ck_assert_int_eq(p.len, 32);
    ck_assert_int_eq(ctl_prefix_parse("::1", &p), 0);
    ck_assert_int_eq(p.len, 128);
    ck_assert_int_eq(ctl_prefix_parse("0.0.0.0/0", &p), 0);
    /* Host bits, lengths out of range, junk. */
    ck_assert_int_lt(ctl_prefix_parse("192.0.2.1/24", &p), 0);
    ck_assert_int_lt(ctl_prefix_parse("192.0.2.0/33", &p), 0);
    ck_assert_int_lt(ctl_prefix_parse("2001:db8::/129", &p), 0);
    ck_assert_int_lt(ctl_prefix_parse("192.0.2.0/", &p), 0);
    ck_assert_int_lt(ctl_prefix_parse("192.0.2.0/-1", &p), 0);
    ck_assert_int_lt(ctl_prefix_parse("192.0.2.0/24x", &p), 0);
    ck_assert_int_lt(ctl_prefix_parse("/24", &p), 0);
    ck_assert_int_lt(ctl_prefix_parse("example.net/24", &p), 0);
    ck_assert_int_lt(ctl_prefix_parse("", &p), 0);
}
END_TEST

START_TEST(prefix_contains)
{
    struct ctl_prefix p;

    ck_assert_int_eq(ctl_prefix_parse("127.0.60.0/24", &p), 0);
    ck_assert_int_eq(ctl_prefix_contains(&p, "127.0.60.5"), 1);
    ck_assert_int_eq(ctl_prefix_contains(&p, "127.0.60.255"), 1);
    ck_assert_int_eq(ctl_prefix_contains(&p, "127.0.61.1"), 0);
    ck_assert_int_eq(ctl_prefix_contains(&p, "127.0.0.99"), 0);
    ck_assert_int_eq(ctl_prefix_contains(&p, "::ffff:127.0.60.5"), 0); /* family */
    ck_assert_int_eq(ctl_prefix_contains(&p, "not an address"), 0);
    /* A length that is not a whole octet. */
    ck_assert_int_eq(ctl_prefix_parse("198.18.0.0/15", &p), 0);
    ck_assert_int_eq(ctl_prefix_contains(&p, "198.19.255.1"), 1);
    ck_assert_int_eq(ctl_prefix_contains(&p, "198.20.0.1"), 0);
    ck_assert_int_eq(ctl_prefix_contains(&p, "198.17.255.255"), 0);
    ck_assert_int_eq(ctl_prefix_parse("fd49:584d::/64", &p), 0);
    ck_assert_int_eq(ctl_prefix_contains(&p, "fd49:584d::fa"), 1);
    ck_assert_int_eq(ctl_prefix_contains(&p, "fd49:584d:0:1::fa"), 0);
    ck_assert_int_eq(ctl_prefix_contains(&p, "198.18.0.1"), 0);
    ck_assert_int_eq(ctl_prefix_parse("0.0.0.0/0", &p), 0);
    ck_assert_int_eq(ctl_prefix_contains(&p, "203.0.113.9"), 1);
}
END_TEST

static void exchange_init(struct ctl_exchange *x)
{
    memset(x, 0, sizeof(*x));
    x->port_lo = 862;
    x->port_hi = 65535;
}

static void hello_init(struct proto_hello *h, const char *id, const char *a1,
                       const char *a2)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->probe_id, sizeof(h->probe_id), "%s", id);
    h->stamp_port = 8620;
    if (a1 != NULL)
        strcpy(h->addrs[h->naddrs++], a1);
    if (a2 != NULL)
        strcpy(h->addrs[h->naddrs++], a2);
}

START_TEST(hello_default_loopback)
{
    struct ctl_exchange x;
    struct proto_hello h;
    char why[PROTO_REASON_MAX] = "";

    exchange_init(&x);
    hello_init(&h, "p1", "127.0.0.99", "::1");
    ck_assert_int_eq(ctl_hello_check(&x, &h, why, sizeof(why)), CTL_HELLO_OK);
    hello_init(&h, "p1", "127.0.0.1", "192.0.2.1");
    ck_assert_int_eq(ctl_hello_check(&x, &h, why, sizeof(why)), CTL_HELLO_ADDRESS);
    ck_assert_msg(strstr(why, "192.0.2.1") &&
                      strstr(why, "[exchange] prefixes is not set"),
                  "%s", why);
    /* No address: nobody measures it, nothing to check. */
    hello_init(&h, "p1", NULL, NULL);
    ck_assert_int_eq(ctl_hello_check(&x, &h, why, sizeof(why)), CTL_HELLO_OK);
}
END_TEST

START_TEST(hello_prefixes_and_port)
{
    struct ctl_exchange x;
    struct proto_hello h;
    char why[PROTO_REASON_MAX] = "";

    exchange_init(&x);
    ck_assert_int_eq(ctl_prefix_parse("127.0.60.0/24", &x.prefixes[0]), 0);
    ck_assert_int_eq(ctl_prefix_parse("fd00:60::/64", &x.prefixes[1]), 0);
    x.nprefixes = 2;
    hello_init(&h, "p1", "127.0.60.1", "fd00:60::1");
    ck_assert_int_eq(ctl_hello_check(&x, &h, why, sizeof(why)), CTL_HELLO_OK);
    /* One address out is enough to refuse the HELLO. */
    hello_init(&h, "p1", "127.0.60.1", "127.0.0.99");
    ck_assert_int_eq(ctl_hello_check(&x, &h, why, sizeof(why)), CTL_HELLO_ADDRESS);
    ck_assert_msg(strstr(why, "127.0.0.99 is outside the [exchange] prefixes"), "%s",
                  why);
    hello_init(&h, "p1", "127.0.60.1", NULL);
    h.stamp_port = 53;
    ck_assert_int_eq(ctl_hello_check(&x, &h, why, sizeof(why)), CTL_HELLO_PORT);
    ck_assert_msg(strstr(why, "port 53") && strstr(why, "stamp_ports 862-65535"), "%s",
                  why);
    h.stamp_port = 862;
    ck_assert_int_eq(ctl_hello_check(&x, &h, why, sizeof(why)), CTL_HELLO_OK);
}
END_TEST

START_TEST(hello_probe_list)
{
    struct ctl_exchange x;
    struct ctl_probe_prefixes own = {.id = "p2", .n = 1};
    struct proto_hello h;
    char why[PROTO_REASON_MAX] = "";

    exchange_init(&x);
    ck_assert_int_eq(ctl_prefix_parse("127.0.60.0/24", &x.prefixes[0]), 0);
    x.nprefixes = 1;
    ck_assert_int_eq(ctl_prefix_parse("127.0.60.2/32", &own.v[0]), 0);
    x.probes = &own;
    x.nprobes = 1;
    /* p2 has its own list, which replaces the exchange's. */
    hello_init(&h, "p2", "127.0.60.2", NULL);
    ck_assert_int_eq(ctl_hello_check(&x, &h, why, sizeof(why)), CTL_HELLO_OK);
    hello_init(&h, "p2", "127.0.60.3", NULL);
    ck_assert_int_eq(ctl_hello_check(&x, &h, why, sizeof(why)), CTL_HELLO_ADDRESS);
    ck_assert_msg(strstr(why, "probe.ID"), "%s", why);
    hello_init(&h, "p3", "127.0.60.3", NULL);
    ck_assert_int_eq(ctl_hello_check(&x, &h, why, sizeof(why)), CTL_HELLO_OK);
}
END_TEST

START_TEST(bucket)
{
    struct ctl_bucket b = {0};

    /* Starts full: a burst of 3, then debt. */
    ck_assert(ctl_bucket_spend(&b, 1.0, 3, 1, 1000) >= 0);
    ck_assert(ctl_bucket_spend(&b, 1.0, 3, 1, 1000) >= 0);
    ck_assert(ctl_bucket_spend(&b, 1.0, 3, 1, 1000) >= 0);
    ck_assert(ctl_bucket_spend(&b, 1.0, 3, 1, 1000) < 0);
    /* One token a second repays it. */
    ck_assert(ctl_bucket_spend(&b, 1.0, 3, 0, 2000) >= 0);
    ck_assert(fabs(b.tokens) < 1e-9);
    /* And it fills no further than the burst. */
    ck_assert(fabs(ctl_bucket_spend(&b, 1.0, 3, 0, 100000) - 3) < 1e-9);
    ck_assert(ctl_bucket_spend(&b, 1.0, 3, 1000, 100000) < -990);
}
END_TEST

/* A healthy STAMP record of task t: ten replies around 1 ms. */
static void record_init(struct proto_result *r, const struct ctl_task_ref *t)
{
    memset(r, 0, sizeof(*r));
    r->schema = PROTO_SCHEMA;
    r->seq = 7;
    r->task_id = 33;
    r->method = t->method;
    strcpy(r->target_id, t->target_id);
    r->window_s = 10;
    r->window_start_ms = NOW_MS - 20000;
    r->sent = 10;
    r->received = 10;
    proto_sketch_init(&r->sketch);
    for (int i = 0; i < 10; i++)
        proto_sketch_add(&r->sketch, 1000000.0 + i * 10000);
    r->rtt_min_ns = 1000000;
    r->rtt_max_ns = 1090000;
    r->ipdv_sum_ns = 9 * 10000;
    r->ipdv_count = 9;
}

static enum ctl_record_rule check(const struct ctl_task_ref *t,
                                  const struct proto_result *r)
{
    char why[PROTO_REASON_MAX] = "";
    enum ctl_record_rule rule = ctl_record_check(t, r, NOW_MS, why, sizeof(why));

    ck_assert_msg((rule == CTL_REC_OK) == (why[0] == '\0'), "rule %d, why '%s'", rule,
                  why);
    return rule;
}

START_TEST(record_task)
{
    struct ctl_task_ref t = {
        .method = PROTO_METHOD_STAMP, .target_id = "p2", .rtt_max_ms = 1000};
    struct proto_result r;

    record_init(&r, &t);
    ck_assert_int_eq(check(&t, &r), CTL_REC_OK);
    ck_assert_int_eq(check(NULL, &r), CTL_REC_TASK);
    strcpy(r.target_id, "invented-17");
    ck_assert_int_eq(check(&t, &r), CTL_REC_TASK);
    strcpy(r.target_id, "p2");
    r.method = PROTO_METHOD_ICMP;
    ck_assert_int_eq(check(&t, &r), CTL_REC_TASK);
    proto_sketch_free(&r.sketch);
}
END_TEST

START_TEST(record_window)
{
    struct ctl_task_ref t = {
        .method = PROTO_METHOD_STAMP, .target_id = "p2", .rtt_max_ms = 1000};
    struct proto_result r;

    record_init(&r, &t);
    /* Ends just inside the allowed skew, then just past it. */
    r.window_start_ms = NOW_MS + CTL_CLOCK_SKEW_MS - 10000;
    ck_assert_int_eq(check(&t, &r), CTL_REC_OK);
    r.window_start_ms++;
    ck_assert_int_eq(check(&t, &r), CTL_REC_WINDOW);
    r.window_start_ms = 4102444800000LL; /* 2100-01-01 */
    ck_assert_int_eq(check(&t, &r), CTL_REC_WINDOW);
    r.window_start_ms = INT64_MAX;
    ck_assert_int_eq(check(&t, &r), CTL_REC_WINDOW);
    r.window_start_ms = INT64_MIN;
    ck_assert_int_eq(check(&t, &r), CTL_REC_WINDOW);
    r.window_start_ms = NOW_MS - CTL_RECORD_AGE_MS;
    ck_assert_int_eq(check(&t, &r), CTL_REC_OK);
    r.window_start_ms--;
    ck_assert_int_eq(check(&t, &r), CTL_REC_WINDOW);
    proto_sketch_free(&r.sketch);
}
END_TEST

START_TEST(record_values)
{
    struct ctl_task_ref t = {
        .method = PROTO_METHOD_STAMP, .target_id = "p2", .rtt_max_ms = 1000};
    struct proto_result r;

    record_init(&r, &t);
    r.received = 11;
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES);
    r.received = 10;
    r.lost = 1;
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES); /* 10 + 1 > 10 sent */
    r.lost = 0;
    r.outcomes[PROTO_OUT_TIMEOUT] = 1;
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES);
    r.outcomes[PROTO_OUT_TIMEOUT] = 0;
    r.rtt_min_ns = 2000000;
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES); /* min above max */
    r.rtt_min_ns = 1000000;
    r.ipdv_sum_ns = 9 * 100000;
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES); /* jitter above the range */
    r.ipdv_sum_ns = 9 * 10000;
    r.ipdv_count = 11;
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES);
    r.ipdv_count = 9;
    ck_assert_int_eq(check(&t, &r), CTL_REC_OK);
    /* RTT beyond the timeout (and slack), and 2^64-1. */
    r.rtt_max_ns = (1000 + CTL_TIMEOUT_SLACK_MS) * 1000000ull;
    ck_assert_int_eq(check(&t, &r), CTL_REC_OK);
    r.rtt_max_ns++;
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES);
    r.rtt_max_ns = UINT64_MAX;
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES);
    proto_sketch_free(&r.sketch);
}
END_TEST

START_TEST(record_sketch)
{
    struct ctl_task_ref t = {
        .method = PROTO_METHOD_STAMP, .target_id = "p2", .rtt_max_ms = 1000};
    struct proto_result r;

    /* A sketch far above the maximum: the p50 it would show cannot be. */
    record_init(&r, &t);
    proto_sketch_reset(&r.sketch);
    for (int i = 0; i < 10; i++)
        proto_sketch_add(&r.sketch, 9e12);
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES);
    /* More samples than replies. */
    proto_sketch_reset(&r.sketch);
    for (int i = 0; i < 20; i++)
        proto_sketch_add(&r.sketch, 1000000.0);
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES);
    /* No reply, but RTTs. */
    r.received = 0;
    ck_assert_int_eq(check(&t, &r), CTL_REC_VALUES);
    proto_sketch_reset(&r.sketch);
    r.ipdv_count = 0;
    r.lost = 10;
    r.outcomes[PROTO_OUT_TIMEOUT] = 10;
    ck_assert_int_eq(check(&t, &r), CTL_REC_OK);
    proto_sketch_free(&r.sketch);
}
END_TEST

/* [exchange] from a real file, through the parser. */
START_TEST(config_exchange)
{
    char path[] = "/tmp/ixmesh-guard-XXXXXX", err[512] = "";
    struct ctl_config cfg;
    FILE *f;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
    fputs("[controller]\nca = a\ncert = b\nkey = c\ndatabase = d\n"
          "[exchange]\nprefixes = 198.18.0.0/24, fd49:584d::/64\n"
          "probe.pk-1 = 203.0.113.7 2001:db8::7\nstamp_ports = 862-9000\n"
          "address_change_interval = 30\nhello_burst = 4\nhello_interval = 2\n"
          "backlog_rate = 50\n",
          f);
    fclose(f);
    ck_assert_msg(ctl_config_load(path, &cfg, err, sizeof(err)) == 0, "%s", err);
    unlink(path);
    ck_assert_uint_eq(cfg.exchange.nprefixes, 2);
    ck_assert_uint_eq(cfg.exchange.nprobes, 1);
    ck_assert_str_eq(cfg.exchange.probes[0].id, "pk-1");
    ck_assert_uint_eq(cfg.exchange.probes[0].n, 2);
    ck_assert_int_eq(ctl_prefix_contains(&cfg.exchange.prefixes[1], "fd49:584d::1"), 1);
    ck_assert_uint_eq(cfg.exchange.port_lo, 862);
    ck_assert_uint_eq(cfg.exchange.port_hi, 9000);
    ck_assert_uint_eq(cfg.exchange.addr_change_s, 30);
    ck_assert_uint_eq(cfg.exchange.hello_burst, 4);
    ck_assert_uint_eq(cfg.exchange.hello_every_s, 2);
    ck_assert_uint_eq(cfg.exchange.backlog_rate, 50);
    ctl_config_free(&cfg);
}
END_TEST

/* Refused records are not stored, and their numbers leave no hole. */
START_TEST(store_refused)
{
    struct ctl_task_ref t = {
        .method = PROTO_METHOD_STAMP, .target_id = "p2", .rtt_max_ms = 1000};
    struct proto_result r[3];
    struct proto_results rs = {.nresults = 3, .results = r, .has_health = 1};
    uint8_t refused[3] = {0, 1, 0};
    struct ctl_store *st;
    struct ctl_ingest in;
    char err[256];
    json_t *d;

    ck_assert_int_eq(ctl_store_open(":memory:", &st, err, sizeof(err)), 0);
    for (int i = 0; i < 3; i++) {
        record_init(&r[i], &t);
        r[i].seq = 10 + (uint64_t)i;
    }
    rs.health.seq0 = 10;
    rs.nresults = 2;
    rs.results = &r[0]; /* 10 stored, 11 refused */
    ck_assert_int_eq(ctl_store_results_checked(st, "p1", &rs, refused, NOW_MS, &in), 0);
    ck_assert_uint_eq(in.acked, 11);
    ck_assert_uint_eq(in.refused, 1);
    rs.nresults = 1;
    rs.results = &r[2]; /* 12: after the refused 11, no hole */
    ck_assert_int_eq(ctl_store_results_checked(st, "p1", &rs, NULL, NOW_MS, &in), 0);
    ck_assert_uint_eq(in.missing, 0);
    ck_assert_ptr_nonnull(d = test_delivery_json(st, "p1"));
    ck_assert_int_eq(json_integer_value(json_object_get(d, "stored")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "refused")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "missing")), 0);
    json_decref(d);
    for (int i = 0; i < 3; i++)
        proto_sketch_free(&r[i].sketch);
    ctl_store_close(st);
}
END_TEST

static void key_of(const char *addr, uint8_t key[CTL_SOURCE_KEY])
{
    struct sockaddr_storage ss;
    socklen_t len;

    ck_assert_int_eq(proto_addr_parse(addr, 7862, &ss, &len), 0);
    ctl_source_key((const struct sockaddr *)&ss, key);
}

/* A host holds a whole IPv6 /64: its addresses count as one source. */
START_TEST(source_key)
{
    uint8_t a[CTL_SOURCE_KEY], b[CTL_SOURCE_KEY];

    key_of("[2001:db8:1:2::1]:7862", a);
    key_of("[2001:db8:1:2:ffff:ffff:ffff:ffff]:7862", b);
    ck_assert_mem_eq(a, b, CTL_SOURCE_KEY);
    key_of("[2001:db8:1:3::1]:7862", b);
    ck_assert(memcmp(a, b, CTL_SOURCE_KEY) != 0);
    key_of("192.0.2.1:7862", a);
    key_of("[::ffff:192.0.2.1]:7862", b);
    ck_assert_mem_eq(a, b, CTL_SOURCE_KEY);
    key_of("192.0.2.2:7862", b);
    ck_assert(memcmp(a, b, CTL_SOURCE_KEY) != 0);
    /* An IPv4 address is not the /64 whose first octets it matches. */
    key_of("[c000:201::]:7862", b);
    ck_assert(memcmp(a, b, CTL_SOURCE_KEY) != 0);
}
END_TEST

Suite *guard_suite(void)
{
    Suite *s = suite_create("guard");
    TCase *tc = tcase_create("guard");

    tcase_add_test(tc, prefix_parse);
    tcase_add_test(tc, prefix_contains);
    tcase_add_test(tc, hello_default_loopback);
    tcase_add_test(tc, hello_prefixes_and_port);
    tcase_add_test(tc, hello_probe_list);
    tcase_add_test(tc, bucket);
    tcase_add_test(tc, record_task);
    tcase_add_test(tc, record_window);
    tcase_add_test(tc, record_values);
    tcase_add_test(tc, record_sketch);
    tcase_add_test(tc, config_exchange);
    tcase_add_test(tc, store_refused);
    tcase_add_test(tc, source_key);
    suite_add_tcase(s, tc);
    return s;
}
