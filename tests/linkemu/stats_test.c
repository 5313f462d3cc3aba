/*
 * stats_test.c - the lateness histogram's quantiles are exact to the
 * microsecond, early frames count as on time, the maximum is exact past
 * the last bucket; the statistics line truncates like snprintf().
 */
#include <stdlib.h>
#include <string.h>

#include "check_linkemu.h"
#include "linkemu.h"

START_TEST(quantiles)
{
    struct le_hist *h = calloc(1, sizeof(*h));

    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(le_hist_quantile_us(h, 0.5), 0);
    ck_assert_uint_eq(le_hist_quantile_us(h, 1.0), 0);
    /* 1 to 100 us, in reverse, each in the middle of its bucket. */
    for (int64_t us = 100; us >= 1; us--)
        le_hist_add(h, us * 1000 + 500);
    ck_assert_uint_eq(h->n, 100);
    ck_assert_uint_eq(h->max_ns, 100500);
    ck_assert_uint_eq(le_hist_quantile_us(h, 0.001), 1);
    ck_assert_uint_eq(le_hist_quantile_us(h, 0.01), 1);
    ck_assert_uint_eq(le_hist_quantile_us(h, 0.5), 50);
    ck_assert_uint_eq(le_hist_quantile_us(h, 0.505), 51); /* rank 50.5 rounds up */
    ck_assert_uint_eq(le_hist_quantile_us(h, 0.99), 99);
    ck_assert_uint_eq(le_hist_quantile_us(h, 1.0), 100);
    free(h);
}
END_TEST

START_TEST(early_and_very_late)
{
    struct le_hist *h = calloc(1, sizeof(*h));

    ck_assert_ptr_nonnull(h);
    le_hist_add(h, -5000); /* written before its departure: on time */
    le_hist_add(h, INT64_MIN);
    le_hist_add(h, 0);
    ck_assert_uint_eq(h->bucket[0], 3);
    ck_assert_uint_eq(h->max_ns, 0);
    le_hist_add(h, 3 * 1000000000ll); /* 3 s: the last bucket, exact maximum */
    le_hist_add(h, INT64_MAX);
    ck_assert_uint_eq(h->bucket[LE_HIST_BUCKETS - 1], 2);
    ck_assert_uint_eq(h->max_ns, (uint64_t)INT64_MAX);
    ck_assert_uint_eq(le_hist_quantile_us(h, 0.6), 0);
    ck_assert_uint_eq(le_hist_quantile_us(h, 0.8), LE_HIST_BUCKETS - 1);
    ck_assert_uint_eq(le_hist_quantile_us(h, 1.0), LE_HIST_BUCKETS - 1);
    free(h);
}
END_TEST

/*
 * At every buffer size the line is the full one cut short and
 * NUL-terminated, and the return value is the full length.
 */
START_TEST(format_truncates)
{
    struct le_dir_stats *s = calloc(2, sizeof(*s));
    char full[2048];
    int n;

    ck_assert_ptr_nonnull(s);
    s[0].in = 1;
    s[0].reordered = UINT64_MAX;
    s[1].out = 2;
    le_hist_add(&s[1].late, 1234567);
    n = le_stats_format(&s[0], &s[1], full, sizeof(full));
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, (int)sizeof(full));
    ck_assert_uint_eq(strlen(full), (size_t)n);
    ck_assert_msg(strncmp(full, "a2b_in=1 a2b_out=0 ", 19) == 0, "%s", full);
    ck_assert_ptr_nonnull(strstr(full, " a2b_reordered=18446744073709551615 "));
    ck_assert_ptr_nonnull(strstr(full, " a2b_late_max_us=0.0 b2a_in=0 b2a_out=2 "));
    ck_assert_ptr_nonnull(strstr(full, " b2a_late_p50_us=1234 "));
    ck_assert_msg(strcmp(full + n - 23, " b2a_late_max_us=1234.6") == 0, "%s", full);
    for (size_t len = 0; len <= (size_t)n + 1; len++) {
        char *buf = malloc(len > 0 ? len : 1);

        ck_assert_ptr_nonnull(buf);
        buf[0] = 'x';
        ck_assert_int_eq(le_stats_format(&s[0], &s[1], buf, len), n);
        if (len > 0) {
            ck_assert_uint_eq(strlen(buf), len - 1 < (size_t)n ? len - 1 : (size_t)n);
            ck_assert(strncmp(buf, full, len - 1) == 0);
        } else {
            ck_assert_int_eq(buf[0], 'x'); /* nothing written at all */
        }
        free(buf);
    }
    free(s);
}
END_TEST

Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, quantiles);
    tcase_add_test(tc, early_and_very_late);
    tcase_add_test(tc, format_truncates);
    suite_add_tcase(s, tc);
    return s;
}
