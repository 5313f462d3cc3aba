/*
 * policy_test.c - the probe's own policy (policy.c): prefix matching in
 * both families, each rule of a task list, the refusal's wording, and the
 * runtime token buckets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_probe.h"
#include "probe.h"

static struct sockaddr_storage addr_of(const char *s)
{
    struct sockaddr_storage ss;
    socklen_t sl;

    ck_assert_int_eq(proto_addr_parse(s, 862, &ss, &sl), 0);
    return ss;
}

static int matches(const char *prefixes, const char *addr)
{
    struct probe_prefix pf[PROBE_PREFIX_MAX];
    struct sockaddr_storage ss = addr_of(addr);
    uint32_t n;
    char err[128];

    ck_assert_int_eq(
        probe_prefix_list_parse(prefixes, pf, PROBE_PREFIX_MAX, &n, err, sizeof(err)), 0);
    return probe_prefix_match(pf, n, (struct sockaddr *)&ss);
}

START_TEST(prefix_v4)
{
    ck_assert(matches("192.0.2.0/24", "192.0.2.255"));
    ck_assert(!matches("192.0.2.0/24", "192.0.3.0"));
    ck_assert(matches("10.0.0.0/8", "10.255.1.2"));
    ck_assert(!matches("10.0.0.0/8", "11.0.0.1"));
    ck_assert(matches("198.18.0.0/15", "198.19.7.7"));
    ck_assert(!matches("198.18.0.0/15", "198.20.0.0"));
    ck_assert(matches("203.0.113.7", "203.0.113.7")); /* an address is a /32 */
    ck_assert(!matches("203.0.113.7", "203.0.113.6"));
    ck_assert(matches("0.0.0.0/0", "8.8.8.8"));
    ck_assert(!matches("0.0.0.0/0", "2001:db8::1")); /* families apart */
    ck_assert(matches("10.1.2.3/8", "10.9.9.9"));    /* host bits ignored */
}
END_TEST

START_TEST(prefix_v6)
{
    ck_assert(matches("2001:db8::/32", "2001:db8:ffff::1"));
    ck_assert(!matches("2001:db8::/32", "2001:db9::1"));
    ck_assert(matches("2001:db8:0:1::/63", "2001:db8:0:0::5"));
    ck_assert(!matches("2001:db8:0:2::/63", "2001:db8:0:1::5"));
    ck_assert(matches("::/0", "fe80::1"));
    ck_assert(!matches("::/0", "192.0.2.1"));
    /* A v4-mapped address is its IPv4 address. */
    ck_assert(matches("127.0.0.0/8", "::ffff:127.0.0.1"));
    ck_assert(!matches("::/0", "::ffff:127.0.0.1"));
}
END_TEST

START_TEST(prefix_bad)
{
    struct probe_prefix pf[2];
    uint32_t n;
    char err[128] = "";

    ck_assert_int_eq(probe_prefix_list_parse("10.0.0.0/33", pf, 2, &n, err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "'10.0.0.0/33' is not an IPv4 or IPv6 prefix"));
    ck_assert_int_eq(probe_prefix_list_parse("::/129", pf, 2, &n, err, sizeof(err)),
                     -EINVAL);
    ck_assert_int_eq(probe_prefix_list_parse("10.0.0.0/", pf, 2, &n, err, sizeof(err)),
                     -EINVAL);
    ck_assert_int_eq(probe_prefix_list_parse("10.0.0.0/-1", pf, 2, &n, err, sizeof(err)),
                     -EINVAL);
    ck_assert_int_eq(probe_prefix_list_parse("example.net", pf, 2, &n, err, sizeof(err)),
                     -EINVAL);
    ck_assert_int_eq(probe_prefix_list_parse("10.0.0.0/8 10.0.0.0/8 10.0.0.0/8", pf, 2,
                                             &n, err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "more than 2 prefixes"));
    ck_assert_int_eq(probe_prefix_list_parse("none", pf, 2, &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

static struct proto_task stamp_task(uint32_t id, const char *addr, uint32_t iv)
{
    struct proto_task t = {.id = id,
                           .method = PROTO_METHOD_STAMP,
                           .port = 862,
                           .interval_ms = iv,
                           .timeout_ms = 1000,
                           .size = 44};

    strcpy(t.target_id, "peer");
    strcpy(t.addr, addr);
    return t;
}

/* Checks a list of n copies of t (ids 1..n); the refusal in why. */
static int check_list(const struct probe_policy *pol, const struct probe_policy_own *own,
                      const struct proto_task *t, uint32_t n, char *why, size_t len)
{
    struct proto_task *v = calloc(n ? n : 1, sizeof(*v));
    struct proto_tasks tl = {.generation = 1, .window_s = 10, .ntasks = n, .tasks = v};
    int rc;

    ck_assert_ptr_nonnull(v);
    for (uint32_t i = 0; i < n; i++) {
        v[i] = *t;
        v[i].id = i + 1;
    }
    why[0] = '\0';
    rc = probe_policy_check_tasks(pol, own, &tl, why, len);
    free(v);
    return rc;
}

static void policy_of(struct probe_policy *pol, const char *targets)
{
    probe_policy_defaults(pol);
    ck_assert_int_eq(probe_prefix_list_parse(targets, pol->targets, PROBE_PREFIX_MAX,
                                             &pol->ntargets, NULL, 0),
                     0);
}

START_TEST(rule_targets)
{
    struct probe_policy pol;
    struct proto_task t = stamp_task(1, "192.0.2.9", 1000);
    char why[PROTO_REASON_MAX + 1];

    policy_of(&pol, "198.51.100.0/24, 2001:db8::/32");
    ck_assert_int_eq(check_list(&pol, NULL, &t, 3, why, sizeof(why)), -EPERM);
    ck_assert_str_eq(why, "policy allow_targets: task 1 (stamp to 192.0.2.9): 192.0.2.9 "
                          "is outside the allowed prefixes");
    strcpy(t.addr, "198.51.100.200");
    ck_assert_int_eq(check_list(&pol, NULL, &t, 3, why, sizeof(why)), 0);
    strcpy(t.addr, "2001:db8::7");
    ck_assert_int_eq(check_list(&pol, NULL, &t, 3, why, sizeof(why)), 0);
    strcpy(t.addr, "2001:db9::7");
    ck_assert_int_eq(check_list(&pol, NULL, &t, 3, why, sizeof(why)), -EPERM);
    /* Groups never, even when listed. */
    policy_of(&pol, "0.0.0.0/0, ::/0");
    strcpy(t.addr, "224.0.0.1");
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), -EPERM);
    ck_assert_str_eq(why, "policy allow_targets: task 1 (stamp to 224.0.0.1): 224.0.0.1 "
                          "is a multicast or broadcast address");
    strcpy(t.addr, "255.255.255.255");
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), -EPERM);
    strcpy(t.addr, "ff02::1");
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), -EPERM);
    policy_of(&pol, "none");
    strcpy(t.addr, "198.51.100.200");
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), -EPERM);
    ck_assert_int_eq(check_list(&pol, NULL, &t, 0, why, sizeof(why)), 0); /* empty list */
}
END_TEST

START_TEST(rule_rate)
{
    struct probe_policy pol;
    struct proto_task t = stamp_task(1, "192.0.2.9", 1000);
    char why[PROTO_REASON_MAX + 1];

    policy_of(&pol, "0.0.0.0/0");
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1000, why, sizeof(why)), 0);
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1001, why, sizeof(why)), -EPERM);
    ck_assert_str_eq(why, "policy max_rate: the list needs 1001 packets/s, at most 1000 "
                          "allowed (busiest task 1 (stamp to 192.0.2.9))");
    /* The cannon: 4096 tasks at 10 ms.  The interval rule speaks first. */
    t.interval_ms = 10;
    pol.max_tasks = 4096;
    ck_assert_int_eq(check_list(&pol, NULL, &t, 4096, why, sizeof(why)), -EPERM);
    ck_assert_ptr_nonnull(strstr(why, "policy min_interval: task 1 "));
    pol.min_interval_ms = 10;
    ck_assert_int_eq(check_list(&pol, NULL, &t, 4096, why, sizeof(why)), -EPERM);
    ck_assert_ptr_nonnull(strstr(why, "needs 409600 packets/s"));
    /* tcp costs more than one packet an attempt. */
    t = stamp_task(1, "192.0.2.9", 1000);
    t.method = PROTO_METHOD_TCP;
    ck_assert_int_eq(
        check_list(&pol, NULL, &t, 1000 / probe_policy_packets(&t), why, sizeof(why)), 0);
    ck_assert_int_eq(
        check_list(&pol, NULL, &t, 1000 / probe_policy_packets(&t) + 1, why, sizeof(why)),
        -EPERM);
}
END_TEST

START_TEST(rule_bitrate)
{
    struct probe_policy pol;
    struct proto_task t = stamp_task(1, "192.0.2.9", 1000);
    char why[PROTO_REASON_MAX + 1];

    policy_of(&pol, "0.0.0.0/0");
    pol.max_bitrate = 100000; /* 100 kbit/s: 1000-octet packets, 12 a second */
    t.size = 512 - 48;
    ck_assert_int_eq(check_list(&pol, NULL, &t, 24, why, sizeof(why)), 0);
    ck_assert_int_eq(check_list(&pol, NULL, &t, 25, why, sizeof(why)), -EPERM);
    ck_assert_str_eq(why, "policy max_bitrate: the list needs 102400 bits/s, at most "
                          "100000 allowed");
}
END_TEST

START_TEST(rule_interval_size_tasks)
{
    struct probe_policy pol;
    struct proto_task t = stamp_task(7, "192.0.2.9", 99);
    char why[PROTO_REASON_MAX + 1];

    policy_of(&pol, "0.0.0.0/0");
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), -EPERM);
    ck_assert_str_eq(why, "policy min_interval: task 1 (stamp to 192.0.2.9): interval 99 "
                          "ms, shortest allowed 100 ms");
    t.interval_ms = 100;
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), 0);
    t.size = 513;
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), -EPERM);
    ck_assert_str_eq(why, "policy max_size: task 1 (stamp to 192.0.2.9): 513 octets, "
                          "largest allowed 512");
    t.method = PROTO_METHOD_ICMP;
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), -EPERM);
    t.size = 44;
    t.interval_ms = 10000;
    pol.max_tasks = 3;
    ck_assert_int_eq(check_list(&pol, NULL, &t, 3, why, sizeof(why)), 0);
    ck_assert_int_eq(check_list(&pol, NULL, &t, 4, why, sizeof(why)), -EPERM);
    ck_assert_str_eq(why, "policy max_tasks: 4 tasks, at most 3 allowed");
}
END_TEST

START_TEST(rule_dscp)
{
    struct probe_policy pol;
    struct proto_task t = stamp_task(7, "192.0.2.9", 1000);
    char why[PROTO_REASON_MAX + 1];
    uint64_t mask;

    policy_of(&pol, "0.0.0.0/0");
    t.dscp = 46;
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)),
                     0); /* all by default */
    ck_assert_int_eq(probe_dscp_list_parse("0, 8-15", &pol.dscp, why, sizeof(why)), 0);
    ck_assert_uint_eq(pol.dscp, 0xff01);
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), -EPERM);
    ck_assert_str_eq(why,
                     "policy allow_dscp: task 1 (stamp to 192.0.2.9): DSCP 46 is not "
                     "allowed");
    t.dscp = 15;
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), 0);
    t.dscp = 16;
    ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), -EPERM);
    ck_assert_int_eq(probe_dscp_list_parse("63", &mask, why, sizeof(why)), 0);
    ck_assert_uint_eq(mask, 1ull << 63);
    ck_assert_int_eq(probe_dscp_list_parse("all", &mask, why, sizeof(why)), 0);
    ck_assert_uint_eq(mask, UINT64_MAX);
    ck_assert_int_eq(probe_dscp_list_parse("64", &mask, why, sizeof(why)), -EINVAL);
    ck_assert_int_eq(probe_dscp_list_parse("1-", &mask, why, sizeof(why)), -EINVAL);
    ck_assert_int_eq(probe_dscp_list_parse("-1", &mask, why, sizeof(why)), -EINVAL);
    ck_assert_int_eq(probe_dscp_list_parse("ef", &mask, why, sizeof(why)), -EINVAL);
    ck_assert_int_eq(probe_dscp_list_parse(",", &mask, why, sizeof(why)), -EINVAL);
    ck_assert_str_eq(why, "allow_dscp names no value: 'all', or values like '0, 46'");
}
END_TEST

START_TEST(rule_local)
{
    static const char *const local[] = {"127.0.0.1",   "127.9.9.9",        "::1",
                                        "169.254.1.1", "fe80::1",          "0.0.0.0",
                                        "::",          "::ffff:127.0.0.1", "192.0.2.50"};
    static const uint8_t service[] = {PROTO_METHOD_TCP, PROTO_METHOD_TLS,
                                      PROTO_METHOD_HTTP, PROTO_METHOD_DNS};
    struct probe_policy pol;
    struct probe_policy_own own = {.n = 1};
    struct proto_task t = stamp_task(1, "127.0.0.1", 1000);
    char why[PROTO_REASON_MAX + 1];

    policy_of(&pol, "0.0.0.0/0, ::/0");
    ck_assert_int_eq(probe_prefix_parse("192.0.2.50", &own.addrs[0]), 0);
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
        for (size_t m = 0; m < sizeof(service); m++) {
            t.method = service[m];
            strcpy(t.addr, local[i]);
            strcpy(t.qname, "example.net");
            ck_assert_msg(check_list(&pol, &own, &t, 1, why, sizeof(why)) == -EPERM,
                          "%s %s", local[i], proto_method_name(t.method));
            ck_assert_ptr_nonnull(strstr(why, "policy allow_local: task 1 ("));
        }
    /* Another host is not local; stamp and icmp go by allow_targets alone. */
    t.method = PROTO_METHOD_TCP;
    strcpy(t.addr, "192.0.2.51");
    ck_assert_int_eq(check_list(&pol, &own, &t, 1, why, sizeof(why)), 0);
    t.method = PROTO_METHOD_STAMP;
    strcpy(t.addr, "127.0.0.1");
    ck_assert_int_eq(check_list(&pol, &own, &t, 1, why, sizeof(why)), 0);
    /* Listed, it may. */
    ck_assert_int_eq(probe_prefix_list_parse("127.0.0.0/8", pol.local, PROBE_PREFIX_MAX,
                                             &pol.nlocal, NULL, 0),
                     0);
    t.method = PROTO_METHOD_HTTP;
    ck_assert_int_eq(check_list(&pol, &own, &t, 1, why, sizeof(why)), 0);
    strcpy(t.addr, "::1");
    ck_assert_int_eq(check_list(&pol, &own, &t, 1, why, sizeof(why)), -EPERM);
}
END_TEST

START_TEST(check_addr_resolved)
{
    struct probe_policy pol;
    struct sockaddr_storage ss = addr_of("127.0.0.1");
    char why[PROTO_REASON_MAX];

    policy_of(&pol, "0.0.0.0/0");
    ck_assert_int_eq(probe_policy_check_addr(&pol, NULL, PROTO_METHOD_HTTP,
                                             (struct sockaddr *)&ss, why, sizeof(why)),
                     -EACCES);
    ck_assert_str_eq(why, "policy allow_local: 127.0.0.1 is this host (loopback, "
                          "link-local or its own)");
    ss = addr_of("2001:db8::1");
    ck_assert_int_eq(probe_policy_check_addr(&pol, NULL, PROTO_METHOD_TCP,
                                             (struct sockaddr *)&ss, why, sizeof(why)),
                     -EACCES);
    ck_assert_str_eq(why, "policy allow_targets: 2001:db8::1 is outside the allowed "
                          "prefixes");
    /* A name-only task passes the list check: its address is checked later. */
    {
        struct proto_task t = stamp_task(1, "", 1000);

        t.method = PROTO_METHOD_HTTP;
        strcpy(t.host, "content.example");
        ck_assert_int_eq(check_list(&pol, NULL, &t, 1, why, sizeof(why)), 0);
    }
}
END_TEST

START_TEST(budget)
{
    struct probe_policy pol;
    struct probe_budget b;
    uint64_t now = 1000, sent = 0, wait;

    probe_policy_defaults(&pol);
    probe_budget_init(&b, &pol, now);
    /* A tick with 4096 attempts due: a tenth of a second's budget goes. */
    for (int i = 0; i < 4096; i++)
        if (probe_budget_take(&b, 1, 92, now) == 0)
            sent++;
    ck_assert_uint_eq(sent, 100);
    wait = probe_budget_take(&b, 1, 92, now);
    ck_assert_uint_ge(wait, 1);
    ck_assert_uint_le(wait, 2);
    /* Asked every ms for ten seconds, it lets the rate through, no more. */
    sent = 0;
    for (uint64_t t = now + 1; t <= now + 10000; t++)
        while (probe_budget_take(&b, 1, 92, t) == 0)
            sent++;
    ck_assert_uint_le(sent, 10000);
    ck_assert_uint_ge(sent, 9990);
    /* Large packets: the bit rate binds (8 Mbit/s, 1520 octets: 657/s). */
    probe_budget_init(&b, &pol, 0);
    sent = 0;
    for (uint64_t t = 0; t < 10000; t++)
        while (probe_budget_take(&b, 1, 1520, t) == 0)
            sent++;
    ck_assert_uint_le(sent, 8000000ull * 10 / (1520 * 8) + 100);
    ck_assert_uint_ge(sent, 8000000ull * 10 / (1520 * 8) - 10);
    /* Without a budget (the one-shot command) nothing waits. */
    memset(&b, 0, sizeof(b));
    ck_assert_uint_eq(probe_budget_take(&b, 100, 100000, 5), 0);
}
END_TEST

Suite *policy_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, prefix_v4);
    tcase_add_test(tc, prefix_v6);
    tcase_add_test(tc, prefix_bad);
    tcase_add_test(tc, rule_targets);
    tcase_add_test(tc, rule_rate);
    tcase_add_test(tc, rule_bitrate);
    tcase_add_test(tc, rule_interval_size_tasks);
    tcase_add_test(tc, rule_dscp);
    tcase_add_test(tc, rule_local);
    tcase_add_test(tc, check_addr_resolved);
    tcase_add_test(tc, budget);
    suite_add_tcase(s, tc);
    return s;
}
