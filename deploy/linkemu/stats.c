/*
 * stats.c - counters and the lateness histogram.  Lateness is kept in 1 us
 * buckets, so quantiles are exact to the microsecond up to 16 ms, and the
 * maximum is kept exactly beside them.
 */
#include <stdio.h>

#include "linkemu.h"

void le_hist_add(struct le_hist *h, int64_t ns)
{
    uint64_t v = ns > 0 ? (uint64_t)ns : 0, us = v / 1000;

    h->bucket[us < LE_HIST_BUCKETS ? us : LE_HIST_BUCKETS - 1]++;
    h->n++;
    if (v > h->max_ns)
        h->max_ns = v;
}

uint64_t le_hist_quantile_us(const struct le_hist *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->n == 0)
        return 0;
    /* The smallest value with at least ceil(q * n) values at or below it. */
    rank = (uint64_t)(q * (double)h->n);
    if ((double)rank < q * (double)h->n)
        rank++;
    if (rank == 0)
        rank = 1;
    for (uint32_t i = 0; i < LE_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank)
            return i;
    }
    return LE_HIST_BUCKETS - 1;
}

static int format_dir(const char *name, const struct le_dir_stats *s, char *buf,
                      size_t len)
{
    return snprintf(
        buf, len,
        "%s_in=%llu %s_out=%llu %s_lost=%llu %s_held=%llu %s_reordered=%llu "
        "%s_duplicated=%llu %s_pool_drops=%llu %s_tx_drops=%llu "
        "%s_down_drops=%llu %s_oversize=%llu %s_late_p50_us=%llu "
        "%s_late_p99_us=%llu %s_late_max_us=%.1f",
        name, (unsigned long long)s->in, name, (unsigned long long)s->out, name,
        (unsigned long long)s->lost, name, (unsigned long long)s->held, name,
        (unsigned long long)s->reordered, name, (unsigned long long)s->duplicated, name,
        (unsigned long long)s->pool_drops, name, (unsigned long long)s->tx_drops, name,
        (unsigned long long)s->down_drops, name, (unsigned long long)s->oversize, name,
        (unsigned long long)le_hist_quantile_us(&s->late, 0.50), name,
        (unsigned long long)le_hist_quantile_us(&s->late, 0.99), name,
        (double)s->late.max_ns / 1e3);
}

int le_stats_format(const struct le_dir_stats *a2b, const struct le_dir_stats *b2a,
                    char *buf, size_t len)
{
    int n = format_dir("a2b", a2b, buf, len);

    if (n < 0)
        return n;
    /* No room for the rest: only measure it, as snprintf() does, so that a
     * truncated line never passes for a whole one. */
    if ((size_t)n + 1 >= len)
        return n + 1 + format_dir("b2a", b2a, NULL, 0);
    buf[n++] = ' ';
    buf[n] = '\0';
    return n + format_dir("b2a", b2a, buf + n, len - (size_t)n);
}
