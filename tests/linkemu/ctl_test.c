/*
 * ctl_test.c - control requests, without the socket: "set" applies all or
 * nothing, "stats" reports both directions and the settings, "reset" zeroes
 * the counters, anything else is refused; a reply never overruns its buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_linkemu.h"
#include "linkemu.h"
#include "log.h"

/* Large (histograms, scratch): not on the stack.  No wheel, no descriptor:
 * requests touch neither. */
static struct le_link *l;

static void setup(void)
{
    log_init("check_linkemu", LOG_LEVEL_ERROR);
    l = calloc(1, sizeof(*l));
    ck_assert_ptr_nonnull(l);
    le_params_default(&l->params);
}

static void teardown(void)
{
    free(l);
    l = NULL;
}

/* Sends req (copied: set cuts it up) and returns the reply. */
static const char *ask(const char *req)
{
    static char reply[LE_CTL_MAX];
    char buf[LE_CTL_MAX];
    int n;

    snprintf(buf, sizeof(buf), "%s", req);
    n = le_ctl_handle(l, buf, reply, sizeof(reply));
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, (int)sizeof(reply));
    ck_assert_uint_eq(strlen(reply), (size_t)n);
    return reply;
}

START_TEST(set_applies)
{
    ck_assert_str_eq(ask("set delay-ms=5 jitter-ms=0.5 loss-pct=1 reorder-every=10 "
                         "dup-every=20 impair-dir=b2a"),
                     "ok delay_ms=5.000 jitter_ms=0.500 loss_pct=1 reorder_every=10 "
                     "dup_every=20 impair_dir=b2a slow_us=0.0");
    ck_assert_int_eq(l->params.delay_ns, 5000000);
    ck_assert_int_eq(l->params.jitter_ns, 500000);
    ck_assert_double_eq(l->params.loss_pct, 1.0);
    ck_assert_uint_eq(l->params.reorder_every, 10);
    ck_assert_uint_eq(l->params.dup_every, 20);
    ck_assert_uint_eq(l->params.impair_dirs, 1u << LE_B2A);
    /* Nothing to set still answers with the settings; extra blanks are fine;
     * the last of two values wins. */
    ck_assert_str_eq(ask("set"),
                     "ok delay_ms=5.000 jitter_ms=0.500 loss_pct=1 "
                     "reorder_every=10 dup_every=20 impair_dir=b2a slow_us=0.0");
    ck_assert_str_eq(ask("set   delay-ms=7   delay-ms=8  "),
                     "ok delay_ms=8.000 jitter_ms=0.500 loss_pct=1 reorder_every=10 "
                     "dup_every=20 impair_dir=b2a slow_us=0.0");
}
END_TEST

START_TEST(set_all_or_nothing)
{
    ask("set delay-ms=5");
    ck_assert_str_eq(ask("set jitter-ms=1 loss-pct=200"),
                     "err --loss-pct: want a percentage from 0 to 100, got '200'");
    ck_assert_str_eq(ask("set delay-ms=3000 jitter-ms=1500"),
                     "err delay 3000.000 ms + jitter 1500.000 ms + slow 0.000 ms is "
                     "beyond the 4000 ms the timer wheel can hold");
    ck_assert_str_eq(ask("set jitter-ms=1 delay-ms"),
                     "err want NAME=VALUE, got 'delay-ms'");
    ck_assert_str_eq(ask("set jitter-ms=1 bogus=1"), "err unknown parameter 'bogus'");
    ck_assert_str_eq(ask("set jitter-ms=1 =1"), "err unknown parameter ''");
    ck_assert_str_eq(ask("set delay-ms=1=2"),
                     "err --delay-ms: want milliseconds from 0 to 4000, got '1=2'");
    /* A tab is no separator: it stays in the value, which is then refused. */
    ck_assert_str_eq(
        ask("set delay-ms=1\tjitter-ms=2"),
        "err --delay-ms: want milliseconds from 0 to 4000, got '1\tjitter-ms=2'");
    ck_assert_int_eq(l->params.delay_ns, 5000000);
    ck_assert_int_eq(l->params.jitter_ns, 0);
    ck_assert_double_eq(l->params.loss_pct, 0.0);
}
END_TEST

START_TEST(unknown_requests)
{
    static const char *const bad[] = {"",          "setx",   "set=1",  "sett delay-ms=1",
                                      "stat",      "stats ", " stats", "STATS",
                                      "reset now", "resetx", "help",   "\tset"};

    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        ck_assert_str_eq(ask(bad[k]), "err unknown request");
}
END_TEST

START_TEST(stats_and_reset)
{
    const char *r;

    l->dir[LE_A2B].st.in = 12;
    l->dir[LE_A2B].st.duplicated = 3;
    l->dir[LE_B2A].st.out = 34;
    l->dir[LE_B2A].st.held = 5;
    l->dir[LE_A2B].nth = 9;
    le_hist_add(&l->dir[LE_B2A].st.late, 2500);
    ask("set delay-ms=1.5");
    r = ask("stats");
    ck_assert_msg(strncmp(r, "ok a2b_in=12 a2b_out=0 ", 23) == 0, "%s", r);
    ck_assert_ptr_nonnull(strstr(r, " a2b_duplicated=3 "));
    ck_assert_ptr_nonnull(strstr(r, " b2a_in=0 b2a_out=34 "));
    ck_assert_ptr_nonnull(strstr(r, " b2a_held=5 "));
    ck_assert_ptr_nonnull(strstr(r, " b2a_late_p50_us=2 "));
    ck_assert_ptr_nonnull(strstr(r, " b2a_late_max_us=2.5 "));
    ck_assert_msg(strstr(r, " delay_ms=1.500 jitter_ms=0.000") != NULL, "%s", r);
    ck_assert_msg(strcmp(r + strlen(r) - 28, " impair_dir=both slow_us=0.0") == 0, "%s",
                  r);
    ck_assert_str_eq(ask("reset"), "ok counters reset");
    ck_assert_uint_eq(l->dir[LE_A2B].st.in, 0);
    ck_assert_uint_eq(l->dir[LE_A2B].nth, 0);
    ck_assert_uint_eq(l->dir[LE_B2A].st.late.n, 0);
    ck_assert_int_eq(l->params.delay_ns, 1500000); /* settings stay */
    r = ask("stats");
    ck_assert_ptr_nonnull(strstr(r, " a2b_duplicated=0 "));
    ck_assert_ptr_nonnull(strstr(r, " b2a_late_max_us=0.0 "));
}
END_TEST

/*
 * Every reply at every buffer size, in a buffer of exactly that size: the
 * reply is the full one cut short, NUL-terminated, and the return value is
 * the full length, as snprintf() gives it.
 */
START_TEST(short_reply_buffers)
{
    static const char *const reqs[] = {"stats", "set delay-ms=2", "set delay-ms=-2",
                                       "set x", "reset",          "what"};

    for (int d = 0; d < 2; d++) {
        l->dir[d].st.in = l->dir[d].st.out = l->dir[d].st.pool_drops = UINT64_MAX;
        l->dir[d].st.late.n = 1;
        l->dir[d].st.late.max_ns = UINT64_MAX;
    }
    for (size_t k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
        char full[LE_CTL_MAX], req[64];
        int n;

        snprintf(req, sizeof(req), "%s", reqs[k]);
        n = le_ctl_handle(l, req, full, sizeof(full));
        ck_assert_int_gt(n, 0);
        ck_assert_int_lt(n, (int)sizeof(full));
        for (size_t len = 1; len <= (size_t)n + 1; len++) {
            char *reply = malloc(len);

            ck_assert_ptr_nonnull(reply);
            snprintf(req, sizeof(req), "%s", reqs[k]);
            ck_assert_int_eq(le_ctl_handle(l, req, reply, len), n);
            ck_assert_uint_eq(strlen(reply), len - 1 < (size_t)n ? len - 1 : (size_t)n);
            ck_assert(strncmp(reply, full, len - 1) == 0);
            free(reply);
        }
    }
}
END_TEST

Suite *ctl_suite(void)
{
    Suite *s = suite_create("ctl");
    TCase *tc = tcase_create("ctl");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, set_applies);
    tcase_add_test(tc, set_all_or_nothing);
    tcase_add_test(tc, unknown_requests);
    tcase_add_test(tc, stats_and_reset);
    tcase_add_test(tc, short_reply_buffers);
    suite_add_tcase(s, tc);
    return s;
}
