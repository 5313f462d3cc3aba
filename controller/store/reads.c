/*
 * reads.c - the store's reads: rows decoded and handed to a callback (the
 * SQLite backend; sqlite.c writes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "analysis.h"
#include "rollup.h"
#include "store_int.h"

/* Steps s to its end, handing each row to row(); 0, row's nonzero, or -EIO. */
static int each_row(struct ctl_store *st, sqlite3_stmt *s,
                    int (*row)(sqlite3_stmt *s, void *ctx), void *ctx)
{
    int rc = SQLITE_DONE, stop = 0;

    if (s == NULL)
        return ctl_store_fail(st, "prepare a read");
    while (stop == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
        stop = row(s, ctx);
    if (stop == 0 && rc != SQLITE_DONE)
        stop = ctl_store_fail(st, "read");
    sqlite3_finalize(s);
    return stop;
}

static const char *text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);

    return t != NULL ? (const char *)t : "";
}

struct probe_reader {
    ctl_probe_row_fn fn;
    void *arg;
};

static int probe_row(sqlite3_stmt *s, void *ctx)
{
    const struct probe_reader *rd = ctx;
    struct ctl_probe_row r = {
        .id = text(s, 0),
        .name = text(s, 1),
        .addresses = text(s, 2),
        .has_location = sqlite3_column_type(s, 3) != SQLITE_NULL,
        .lat = sqlite3_column_double(s, 3),
        .lon = sqlite3_column_double(s, 4),
        .last_seen_ms = sqlite3_column_int64(s, 5),
    };

    return rd->fn(rd->arg, &r);
}

int ctl_store_probes(struct ctl_store *st, ctl_probe_row_fn fn, void *arg)
{
    struct probe_reader rd = {fn, arg};
    sqlite3_stmt *s = NULL;

    sqlite3_prepare_v2(ctl_store_db(st),
                       "SELECT id, name, addresses, lat, lon, last_seen_ms FROM probes"
                       " ORDER BY id",
                       -1, &s, NULL);
    return each_row(st, s, probe_row, &rd);
}

static uint64_t u64(sqlite3_stmt *s, int col)
{
    return (uint64_t)sqlite3_column_int64(s, col);
}

struct window_reader {
    ctl_window_row_fn fn;
    void *arg;
};

static int window_row(sqlite3_stmt *s, void *ctx)
{
    const struct window_reader *rd = ctx;
    struct ctl_window_row r = {
        .probe_id = text(s, 0),
        .target_id = text(s, 1),
        .method = sqlite3_column_int(s, 2),
        .sent = u64(s, 3),
        .received = u64(s, 4),
        .lost = u64(s, 5),
        .rtt_min_ns = u64(s, 6),
        .rtt_max_ns = u64(s, 7),
        .ipdv_sum_ns = u64(s, 8),
        .ipdv_count = u64(s, 9),
        .sketch = sqlite3_column_blob(s, 10),
        .sketch_len = (size_t)sqlite3_column_bytes(s, 10),
        .duplicates = u64(s, 11),
        .reordered = u64(s, 12),
        .ttl = sqlite3_column_int(s, 13),
        .extra = (const char *)sqlite3_column_text(s, 14),
        .window_start_ms = sqlite3_column_int64(s, 15),
        .window_s = (uint32_t)sqlite3_column_int64(s, 16),
        .seq = u64(s, 17),
        .pair = sqlite3_column_count(s) > 18 ? sqlite3_column_int64(s, 18) : 0,
    };

    return rd->fn(rd->arg, &r);
}

int ctl_store_windows(struct ctl_store *st, const struct ctl_window_range *range,
                      ctl_window_row_fn fn, void *arg)
{
    struct window_reader rd = {fn, arg};
    sqlite3_stmt *s = NULL;

    /* The look-back of the longest window bounds the index scan. */
    sqlite3_prepare_v2(
        ctl_store_db(st),
        "SELECT probe_id, target_id, method, sent, received, lost, rtt_min_ns,"
        " rtt_max_ns, ipdv_sum_ns, ipdv_count, sketch, duplicates, reordered, ttl,"
        " extra, window_start_ms, window_s, seq FROM results"
        " WHERE window_start_ms >= ? AND window_start_ms < ?"
        " AND window_start_ms + window_s * 1000 > ?"
        " ORDER BY probe_id, target_id, method, window_start_ms, seq",
        -1, &s, NULL);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1,
                           range->from_ms -
                               (range->longest_ms > 0
                                    ? range->longest_ms
                                    : (int64_t)CTL_RECORD_WINDOW_MAX_S * 1000));
        sqlite3_bind_int64(s, 2, range->to_ms);
        sqlite3_bind_int64(s, 3, range->from_ms);
    }
    return each_row(st, s, window_row, &rd);
}

#define WINDOW_COLUMNS                                                                   \
    "probe_id, target_id, method, sent, received, lost, rtt_min_ns, rtt_max_ns,"         \
    " ipdv_sum_ns, ipdv_count, sketch, duplicates, reordered, ttl, extra,"               \
    " window_start_ms, window_s, seq"

/* The probe's windows numbered above seq, in their order. */
int ctl_store_probe_windows(struct ctl_store *st, const char *probe_id, int64_t seq,
                            ctl_window_row_fn fn, void *arg)
{
    struct window_reader rd = {fn, arg};
    sqlite3_stmt *s = NULL;

    sqlite3_prepare_v2(ctl_store_db(st),
                       "SELECT " WINDOW_COLUMNS " FROM results WHERE probe_id = ?"
                       " AND seq > ? ORDER BY seq",
                       -1, &s, NULL);
    if (s != NULL) {
        sqlite3_bind_text(s, 1, probe_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, seq);
    }
    return each_row(st, s, window_row, &rd);
}

int ctl_store_max_seq(struct ctl_store *st, const char *probe_id, int64_t *top)
{
    sqlite3_stmt *s;
    int rc = -EIO;

    if (sqlite3_prepare_v2(ctl_store_db(st),
                           "SELECT coalesce(max(seq), 0) FROM results"
                           " WHERE probe_id = ?",
                           -1, &s, NULL) != SQLITE_OK)
        return ctl_store_fail(st, "highest stored");
    sqlite3_bind_text(s, 1, probe_id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        *top = sqlite3_column_int64(s, 0);
        rc = 0;
    }
    sqlite3_finalize(s);
    return rc < 0 ? ctl_store_fail(st, "highest stored") : 0;
}

static int rollup_row(sqlite3_stmt *s, void *ctx)
{
    const struct window_reader *rd = ctx;
    struct ctl_window_row r = {
        .probe_id = text(s, 0),
        .target_id = text(s, 1),
        .method = sqlite3_column_int(s, 2),
        .window_start_ms = sqlite3_column_int64(s, 3),
        .window_s = (uint32_t)sqlite3_column_int64(s, 4),
    };

    ctl_rollup_row_read(s, 5, &r);
    r.pair = sqlite3_column_count(s) > 21 ? sqlite3_column_int64(s, 21) : 0;
    return rd->fn(rd->arg, &r);
}

int ctl_store_rollups(struct ctl_store *st, int level,
                      const struct ctl_window_range *range, ctl_window_row_fn fn,
                      void *arg)
{
    struct window_reader rd = {fn, arg};
    sqlite3_stmt *s = NULL;
    char sql[512];

    if (level < 0 || level >= CTL_ROLLUP_LEVELS)
        return -EINVAL;
    snprintf(sql, sizeof(sql),
             "SELECT p.probe_id, p.target_id, p.method, r.bucket_ms, %u, r.windows,"
             " r.sent, r.received, r.lost, r.duplicates, r.reordered, r.rtt_min_ns,"
             " r.rtt_max_ns, r.ipdv_sum_ns, r.ipdv_count, r.ttl, r.last_ms, r.last_sent,"
             " r.last_lost, r.sketch, r.extra FROM rollup_%u r JOIN pairs p"
             " ON p.key = r.pair WHERE r.bucket_ms >= ? AND r.bucket_ms < ?"
             " ORDER BY p.probe_id, p.target_id, p.method, r.bucket_ms",
             ctl_rollup_levels[level], ctl_rollup_levels[level]);
    sqlite3_prepare_v2(ctl_store_db(st), sql, -1, &s, NULL);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, range->from_ms);
        sqlite3_bind_int64(s, 2, range->to_ms);
    }
    return each_row(st, s, rollup_row, &rd);
}

/* A rollup level's columns, in rollup_row()'s order, then the pair's key. */
#define ROLLUP_SELECT                                                                    \
    "SELECT p.probe_id, p.target_id, p.method, r.bucket_ms, %u, r.windows, r.sent,"      \
    " r.received, r.lost, r.duplicates, r.reordered, r.rtt_min_ns, r.rtt_max_ns,"        \
    " r.ipdv_sum_ns, r.ipdv_count, r.ttl, r.last_ms, r.last_sent, r.last_lost,"          \
    " r.sketch, r.extra, r.pair"

int ctl_store_level_rows(struct ctl_store *st, int level,
                         const struct ctl_window_range *range, ctl_window_row_fn fn,
                         void *arg)
{
    struct window_reader rd = {fn, arg};
    sqlite3_stmt *s = NULL;
    char sql[1024];

    if (level < CTL_LEVEL_RAW || level >= CTL_ROLLUP_LEVELS)
        return -EINVAL;
    if (level == CTL_LEVEL_RAW)
        snprintf(sql, sizeof(sql),
                 "SELECT r.probe_id, r.target_id, r.method, sent, received, lost,"
                 " rtt_min_ns, rtt_max_ns, ipdv_sum_ns, ipdv_count, sketch, duplicates,"
                 " reordered, ttl, extra, window_start_ms, window_s, seq, p.key"
                 " FROM results r JOIN pairs p ON p.probe_id = r.probe_id"
                 " AND p.target_id = r.target_id AND p.method = r.method"
                 " WHERE window_start_ms >= ?1 AND window_start_ms < ?2");
    else /* the key's first column is the bucket: one range of the table */
        snprintf(sql, sizeof(sql),
                 ROLLUP_SELECT " FROM rollup_%u r JOIN pairs p ON p.key = r.pair"
                               " WHERE r.bucket_ms >= ?1 AND r.bucket_ms < ?2",
                 ctl_rollup_levels[level], ctl_rollup_levels[level]);
    sqlite3_prepare_v2(ctl_store_db(st), sql, -1, &s, NULL);
    if (s != NULL) {
        sqlite3_bind_int64(s, 1, range->from_ms);
        sqlite3_bind_int64(s, 2, range->to_ms);
    }
    return each_row(st, s, level == CTL_LEVEL_RAW ? window_row : rollup_row, &rd);
}

/* The key of (src, dst, method): 0 and *key, -ENOENT, or -EIO. */
static int pair_key(struct ctl_store *st, const char *src, const char *dst, int method,
                    int64_t *key)
{
    sqlite3_stmt *s;
    int rc;

    if (sqlite3_prepare_v2(ctl_store_db(st),
                           "SELECT key FROM pairs WHERE probe_id = ? AND target_id = ?"
                           " AND method = ?",
                           -1, &s, NULL) != SQLITE_OK)
        return ctl_store_fail(st, "pair");
    sqlite3_bind_text(s, 1, src, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, dst, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, method);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *key = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? -ENOENT : ctl_store_fail(st, "pair");
}

int ctl_store_pair_rows(struct ctl_store *st, int level, const char *src, const char *dst,
                        int method, const struct ctl_window_range *range,
                        ctl_window_row_fn fn, void *arg)
{
    struct window_reader rd = {fn, arg};
    sqlite3_stmt *s = NULL;
    int64_t key = 0, len;
    char sql[1024];
    int rc;

    if (level < CTL_LEVEL_RAW || level >= CTL_ROLLUP_LEVELS)
        return -EINVAL;
    rc = pair_key(st, src, dst, method, &key);
    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    if (level == CTL_LEVEL_RAW) {
        sqlite3_prepare_v2(ctl_store_db(st),
                           "SELECT " WINDOW_COLUMNS " FROM results WHERE probe_id = ?1"
                           " AND target_id = ?2 AND method = ?3 AND window_start_ms >= ?4"
                           " AND window_start_ms < ?5 ORDER BY window_start_ms, seq",
                           -1, &s, NULL);
        if (s != NULL) {
            sqlite3_bind_text(s, 1, src, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, dst, -1, SQLITE_STATIC);
            sqlite3_bind_int(s, 3, method);
            sqlite3_bind_int64(s, 4, range->from_ms);
            sqlite3_bind_int64(s, 5, range->to_ms);
        }
        return each_row(st, s, window_row, &rd);
    }
    /*
     * The key is (bucket, pair): the pair's buckets are looked up one by
     * one, from the first boundary at or after from_ms.
     */
    len = (int64_t)ctl_rollup_levels[level] * 1000;
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE b(x) AS (SELECT ?1 UNION ALL SELECT x + ?2 FROM b"
             " WHERE x + ?2 < ?3) " ROLLUP_SELECT " FROM b JOIN rollup_%u r"
             " ON r.bucket_ms = b.x AND r.pair = ?4 JOIN pairs p ON p.key = r.pair"
             " WHERE b.x < ?3 ORDER BY b.x",
             ctl_rollup_levels[level], ctl_rollup_levels[level]);
    sqlite3_prepare_v2(ctl_store_db(st), sql, -1, &s, NULL);
    if (s != NULL) {
        int64_t first = ctl_bucket_start(range->from_ms, ctl_rollup_levels[level]);

        sqlite3_bind_int64(s, 1, first < range->from_ms ? first + len : first);
        sqlite3_bind_int64(s, 2, len);
        sqlite3_bind_int64(s, 3, range->to_ms);
        sqlite3_bind_int64(s, 4, key);
    }
    return each_row(st, s, rollup_row, &rd);
}
