/*
 * params_test.c - the settings as the command line and the control socket
 * give them: good values land exactly, bad ones (negative, NaN, infinite,
 * too big, not a plain decimal, junk) are refused with a message that names
 * the option and the value, and leave the setting as it was.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check_linkemu.h"
#include "linkemu.h"

static void assert_same(const struct le_params *a, const struct le_params *b)
{
    ck_assert_int_eq(a->delay_ns, b->delay_ns);
    ck_assert_int_eq(a->jitter_ns, b->jitter_ns);
    ck_assert_double_eq(a->loss_pct, b->loss_pct);
    ck_assert_uint_eq(a->reorder_every, b->reorder_every);
    ck_assert_uint_eq(a->dup_every, b->dup_every);
    ck_assert_uint_eq(a->impair_dirs, b->impair_dirs);
}

/* Settings where every field differs from the default. */
static void odd_params(struct le_params *p)
{
    le_params_default(p);
    p->delay_ns = 11;
    p->jitter_ns = 22;
    p->loss_pct = 3.25;
    p->reorder_every = 44;
    p->dup_every = 55;
    p->impair_dirs = 1u << LE_B2A;
}

START_TEST(defaults)
{
    struct le_params p;
    char buf[256];

    memset(&p, 0xff, sizeof(p));
    le_params_default(&p);
    ck_assert_int_eq(p.delay_ns, 0);
    ck_assert_int_eq(p.jitter_ns, 0);
    ck_assert_double_eq(p.loss_pct, 0.0);
    ck_assert_uint_eq(p.reorder_every, 0);
    ck_assert_uint_eq(p.dup_every, 0);
    ck_assert_uint_eq(p.impair_dirs, (1u << LE_A2B) | (1u << LE_B2A));
    ck_assert_int_gt(le_params_format(&p, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "delay_ms=0.000 jitter_ms=0.000 loss_pct=0 reorder_every=0 "
                          "dup_every=0 impair_dir=both slow_us=0.0");
}
END_TEST

static void set_ok(struct le_params *p, const char *name, const char *val)
{
    char err[256] = "";

    ck_assert_msg(le_params_set(p, name, val, err, sizeof(err)) == 0, "%s=%s: %s", name,
                  val, err);
}

START_TEST(good_values)
{
    static const struct {
        const char *val;
        int64_t ns;
    } ms[] = {
        {"0", 0},
        {"5", 5000000},
        {"2.5", 2500000},
        {"0.001", 1000},
        {"0.0000006", 1}, /* rounded to the nearest nanosecond */
        {"0.0000004", 0},
        {".5", 500000},
        {"7.", 7000000},
        {"0004000", 4000000000},
        {"4000", 4000000000},
        {"4000.000", 4000000000},
        {"1234.567891", 1234567891},
    };
    struct le_params p;
    char buf[256];

    for (size_t k = 0; k < sizeof(ms) / sizeof(ms[0]); k++) {
        odd_params(&p);
        set_ok(&p, "delay-ms", ms[k].val);
        ck_assert_int_eq(p.delay_ns, ms[k].ns);
        ck_assert_int_eq(p.jitter_ns, 22); /* nothing else moved */
        set_ok(&p, "jitter-ms", ms[k].val);
        ck_assert_int_eq(p.jitter_ns, ms[k].ns);
    }
    odd_params(&p);
    set_ok(&p, "loss-pct", "0");
    ck_assert_double_eq(p.loss_pct, 0.0);
    set_ok(&p, "loss-pct", "100");
    ck_assert_double_eq(p.loss_pct, 100.0);
    set_ok(&p, "loss-pct", "12.5");
    ck_assert_double_eq(p.loss_pct, 12.5);
    set_ok(&p, "reorder-every", "0");
    ck_assert_uint_eq(p.reorder_every, 0);
    set_ok(&p, "reorder-every", "1000000000");
    ck_assert_uint_eq(p.reorder_every, 1000000000);
    set_ok(&p, "dup-every", "007");
    ck_assert_uint_eq(p.dup_every, 7);
    ck_assert_uint_eq(p.reorder_every, 1000000000);
    set_ok(&p, "impair-dir", "a2b");
    ck_assert_uint_eq(p.impair_dirs, 1u << LE_A2B);
    set_ok(&p, "impair-dir", "b2a");
    ck_assert_uint_eq(p.impair_dirs, 1u << LE_B2A);
    set_ok(&p, "impair-dir", "both");
    ck_assert_uint_eq(p.impair_dirs, (1u << LE_A2B) | (1u << LE_B2A));
    set_ok(&p, "slow-us", "100000");
    ck_assert_int_eq(p.slow_ns, 100000000);
    set_ok(&p, "slow-us", "12.5");
    ck_assert_int_eq(p.slow_ns, 12500);
    set_ok(&p, "delay-ms", "5");
    set_ok(&p, "jitter-ms", "0.5");
    set_ok(&p, "impair-dir", "a2b");
    le_params_format(&p, buf, sizeof(buf));
    ck_assert_str_eq(buf,
                     "delay_ms=5.000 jitter_ms=0.500 loss_pct=12.5 "
                     "reorder_every=1000000000 dup_every=7 impair_dir=a2b slow_us=12.5");
}
END_TEST

/* Refused: -EINVAL, a message naming the option and the value, no change. */
static void assert_refused(const char *name, const char *val, const char *want_in_err)
{
    struct le_params p, before;
    char err[256] = "";

    odd_params(&p);
    before = p;
    ck_assert_msg(le_params_set(&p, name, val, err, sizeof(err)) == -EINVAL,
                  "%s=%s accepted", name, val);
    assert_same(&p, &before);
    ck_assert_msg(strstr(err, want_in_err) != NULL, "%s=%s: '%s' lacks '%s'", name, val,
                  err, want_in_err);
    if (strlen(val) < 64 && strncmp(want_in_err, "unknown", 7) != 0) {
        char quoted[80];

        snprintf(quoted, sizeof(quoted), "'%s'", val);
        ck_assert_msg(strstr(err, quoted) != NULL, "'%s' does not quote %s", err, quoted);
    }
}

START_TEST(bad_values)
{
    static const char *const numbers[] = {
        "-1",
        "-0",
        "+5",
        "nan",
        "NaN",
        "inf",
        "infinity",
        "1e3",
        "0x10",
        "",
        " 5",
        "5 ",
        "5ms",
        "1.2.3",
        ".",
        "..",
        "4000.001",
        "4001",
        "1,5",
        "5\n",
        "\xff",
        /* 400 digits: past a double's range */
        "1000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000",
    };
    static const char *const counts[] = {"-1",
                                         "+1",
                                         "1.5",
                                         "",
                                         "1e3",
                                         "0x10",
                                         " 1",
                                         "1000000001",
                                         "4294967296",
                                         "18446744073709551616",
                                         "99999999999999999999999999",
                                         "ten"};
    static const char *const dirs[] = {"", "A2B", "a2b ", "ab", "none", "both,a2b", "-"};
    static const char *const slow[] = {"", "-1", "1e3", "0x10", "inf", "100000.1", "5 "};

    for (size_t k = 0; k < sizeof(numbers) / sizeof(numbers[0]); k++) {
        assert_refused("delay-ms", numbers[k], "--delay-ms: want milliseconds");
        assert_refused("jitter-ms", numbers[k], "--jitter-ms: want milliseconds");
        assert_refused("loss-pct", numbers[k], "--loss-pct: want a percentage");
    }
    for (size_t k = 0; k < sizeof(slow) / sizeof(slow[0]); k++)
        assert_refused("slow-us", slow[k],
                       "--slow-us: want microseconds from 0 to 100000");
    assert_refused("loss-pct", "100.0001", "--loss-pct");
    assert_refused("loss-pct", "101", "--loss-pct");
    assert_refused("loss-pct", "1000", "--loss-pct");
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        assert_refused("reorder-every", counts[k], "--reorder-every: want a count");
        assert_refused("dup-every", counts[k], "--dup-every: want a count");
    }
    for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++)
        assert_refused("impair-dir", dirs[k], "--impair-dir: want a2b, b2a or both");
    assert_refused("delay", "5", "unknown parameter 'delay'");
    assert_refused("--delay-ms", "5", "unknown parameter '--delay-ms'");
    assert_refused("delay_ms", "5", "unknown parameter");
    assert_refused("", "5", "unknown parameter ''");
    assert_refused("rate", "5", "unknown parameter 'rate'");
}
END_TEST

/* A short error buffer truncates the message and is not overrun. */
START_TEST(short_error_buffer)
{
    struct le_params p;
    char err[8];

    le_params_default(&p);
    memset(err, 'x', sizeof(err));
    ck_assert_int_eq(le_params_set(&p, "delay-ms", "-1", err, 4), -EINVAL);
    ck_assert_str_eq(err, "--d");
    ck_assert_int_eq(err[4], 'x');
}
END_TEST

START_TEST(delay_and_jitter_within_horizon)
{
    struct le_params p;
    char err[256];

    le_params_default(&p);
    p.delay_ns = 4000000000;
    ck_assert_int_eq(le_params_check(&p, err, sizeof(err)), 0);
    p.delay_ns = 3000000000;
    p.jitter_ns = 1000000000;
    ck_assert_int_eq(le_params_check(&p, err, sizeof(err)), 0);
    p.jitter_ns = 1000000001;
    ck_assert_int_eq(le_params_check(&p, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "delay 3000.000 ms + jitter 1000.000 ms + slow 0.000 ms is "
                          "beyond the 4000 ms the timer wheel can hold");
    p.jitter_ns = 999000000;
    p.slow_ns = 1000000;
    ck_assert_int_eq(le_params_check(&p, err, sizeof(err)), 0);
    p.slow_ns = 1000001;
    ck_assert_int_eq(le_params_check(&p, err, sizeof(err)), -EINVAL);
    p.slow_ns = 0;
    /* Each alone is within range; together they are not. */
    set_ok(&p, "delay-ms", "4000");
    set_ok(&p, "jitter-ms", "4000");
    ck_assert_int_eq(le_params_check(&p, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "beyond"));
}
END_TEST

Suite *params_suite(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("params");

    tcase_add_test(tc, defaults);
    tcase_add_test(tc, good_values);
    tcase_add_test(tc, bad_values);
    tcase_add_test(tc, short_error_buffer);
    tcase_add_test(tc, delay_and_jitter_within_horizon);
    suite_add_tcase(s, tc);
    return s;
}
