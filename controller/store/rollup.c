/*
 * rollup.c - the coarse levels of the store: per (source, target, method),
 * one row a bucket of 1 minute, 1 hour and 1 day, each the fold of the
 * windows that start in it (analysis/pairs.c folds; this file only reads
 * and writes rows).
 *
 * The rows are brought up to date in the transaction that stores the
 * windows, from the windows that transaction newly stored: a resent record
 * is not stored again, so it changes nothing, and a late one lands in the
 * bucket of its own window.  The sums of every level are therefore the
 * sums of the raw windows they cover, exactly, whatever the order of
 * arrival and whatever failed in between (a failed transaction takes its
 * rollups with it).
 *
 * A pair is named by a small integer (table pairs), so that a row is the
 * key, the sums and the merged sketch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "analysis.h"
#include "rollup.h"

const uint32_t ctl_rollup_levels[CTL_ROLLUP_LEVELS] = {60, 3600, 86400};

struct ctl_rollup {
    sqlite3 *db;
    sqlite3_stmt *pair_key, *pair_add;
    sqlite3_stmt *get[CTL_ROLLUP_LEVELS], *put[CTL_ROLLUP_LEVELS];
    struct ctl_pair acc;
};

#define ROLLUP_COLUMNS                                                                   \
    "windows, sent, received, lost, duplicates, reordered, rtt_min_ns, rtt_max_ns,"      \
    " ipdv_sum_ns, ipdv_count, ttl, last_ms, last_sent, last_lost, sketch, extra"

int ctl_rollup_schema(sqlite3 *db)
{
    char sql[1024];
    int rc = sqlite3_exec(db,
                          "CREATE TABLE IF NOT EXISTS pairs ("
                          "  key INTEGER PRIMARY KEY,"
                          "  probe_id TEXT NOT NULL,"
                          "  target_id TEXT NOT NULL,"
                          "  method INTEGER NOT NULL,"
                          "  UNIQUE (probe_id, target_id, method));",
                          NULL, NULL, NULL);

    for (int i = 0; rc == SQLITE_OK && i < CTL_ROLLUP_LEVELS; i++) {
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE IF NOT EXISTS rollup_%u ("
                 "  pair INTEGER NOT NULL, bucket_ms INTEGER NOT NULL,"
                 "  windows INTEGER NOT NULL, sent INTEGER NOT NULL,"
                 "  received INTEGER NOT NULL, lost INTEGER NOT NULL,"
                 "  duplicates INTEGER NOT NULL, reordered INTEGER NOT NULL,"
                 "  rtt_min_ns INTEGER NOT NULL, rtt_max_ns INTEGER NOT NULL,"
                 "  ipdv_sum_ns INTEGER NOT NULL, ipdv_count INTEGER NOT NULL,"
                 "  ttl INTEGER NOT NULL, last_ms INTEGER NOT NULL,"
                 "  last_sent INTEGER NOT NULL, last_lost INTEGER NOT NULL,"
                 "  sketch BLOB NOT NULL, extra TEXT,"
                 "  PRIMARY KEY (pair, bucket_ms)) WITHOUT ROWID;"
                 "CREATE INDEX IF NOT EXISTS rollup_%u_by_time ON rollup_%u (bucket_ms);",
                 ctl_rollup_levels[i], ctl_rollup_levels[i], ctl_rollup_levels[i]);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    return rc == SQLITE_OK ? 0 : -EIO;
}

static int prepare_level(struct ctl_rollup *ru, int i)
{
    char sql[512];
    unsigned l = ctl_rollup_levels[i];

    snprintf(sql, sizeof(sql),
             "SELECT " ROLLUP_COLUMNS " FROM rollup_%u WHERE pair=? AND bucket_ms=?", l);
    if (sqlite3_prepare_v2(ru->db, sql, -1, &ru->get[i], NULL) != SQLITE_OK)
        return -EIO;
    snprintf(sql, sizeof(sql),
             "INSERT OR REPLACE INTO rollup_%u (pair, bucket_ms, " ROLLUP_COLUMNS
             ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
             l);
    return sqlite3_prepare_v2(ru->db, sql, -1, &ru->put[i], NULL) == SQLITE_OK ? 0 : -EIO;
}

int ctl_rollup_open(sqlite3 *db, struct ctl_rollup **out)
{
    struct ctl_rollup *ru = calloc(1, sizeof(*ru));
    int rc = ru != NULL ? 0 : -ENOMEM;

    *out = NULL;
    if (rc == 0) {
        ru->db = db;
        rc = ctl_pair_init(&ru->acc);
    }
    if (rc == 0 &&
        (sqlite3_prepare_v2(db,
                            "SELECT key FROM pairs WHERE probe_id=? AND target_id=?"
                            " AND method=?",
                            -1, &ru->pair_key, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(db,
                            "INSERT INTO pairs (probe_id, target_id, method)"
                            " VALUES (?,?,?) RETURNING key",
                            -1, &ru->pair_add, NULL) != SQLITE_OK))
        rc = -EIO;
    for (int i = 0; rc == 0 && i < CTL_ROLLUP_LEVELS; i++)
        rc = prepare_level(ru, i);
    if (rc < 0) {
        ctl_rollup_close(ru);
        return rc;
    }
    *out = ru;
    return 0;
}

void ctl_rollup_close(struct ctl_rollup *ru)
{
    if (ru == NULL)
        return;
    sqlite3_finalize(ru->pair_key);
    sqlite3_finalize(ru->pair_add);
    for (int i = 0; i < CTL_ROLLUP_LEVELS; i++) {
        sqlite3_finalize(ru->get[i]);
        sqlite3_finalize(ru->put[i]);
    }
    ctl_pair_free(&ru->acc);
    free(ru);
}

/* Runs s, a one-row query on (probe, target, method); -ENOENT when none. */
static int key_query(sqlite3_stmt *s, const struct ctl_window_row *r, int64_t *key)
{
    int rc = -ENOENT, step;

    sqlite3_bind_text(s, 1, r->probe_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r->target_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, r->method);
    if ((step = sqlite3_step(s)) == SQLITE_ROW) {
        *key = sqlite3_column_int64(s, 0);
        rc = 0;
        step = sqlite3_step(s);
    }
    if (step != SQLITE_DONE)
        rc = -EIO;
    sqlite3_reset(s);
    return rc;
}

int ctl_rollup_pair_key(struct ctl_rollup *ru, const struct ctl_window_row *r,
                        int64_t *key)
{
    int rc = key_query(ru->pair_key, r, key);

    return rc == -ENOENT ? key_query(ru->pair_add, r, key) : rc;
}

void ctl_rollup_row_read(sqlite3_stmt *s, int col, struct ctl_window_row *r)
{
    r->windows = (uint64_t)sqlite3_column_int64(s, col + 0);
    r->sent = (uint64_t)sqlite3_column_int64(s, col + 1);
    r->received = (uint64_t)sqlite3_column_int64(s, col + 2);
    r->lost = (uint64_t)sqlite3_column_int64(s, col + 3);
    r->duplicates = (uint64_t)sqlite3_column_int64(s, col + 4);
    r->reordered = (uint64_t)sqlite3_column_int64(s, col + 5);
    r->rtt_min_ns = (uint64_t)sqlite3_column_int64(s, col + 6);
    r->rtt_max_ns = (uint64_t)sqlite3_column_int64(s, col + 7);
    r->ipdv_sum_ns = (uint64_t)sqlite3_column_int64(s, col + 8);
    r->ipdv_count = (uint64_t)sqlite3_column_int64(s, col + 9);
    r->ttl = sqlite3_column_int(s, col + 10);
    r->last_ms = sqlite3_column_int64(s, col + 11);
    r->last_sent = (uint64_t)sqlite3_column_int64(s, col + 12);
    r->last_lost = (uint64_t)sqlite3_column_int64(s, col + 13);
    r->sketch = sqlite3_column_blob(s, col + 14);
    r->sketch_len = (size_t)sqlite3_column_bytes(s, col + 14);
    r->extra = (const char *)sqlite3_column_text(s, col + 15);
}

/* Folds the stored row of (pair, bucket) into ru->acc, if there is one. */
static int fold_stored(struct ctl_rollup *ru, int level, int64_t pair, int64_t bucket)
{
    sqlite3_stmt *s = ru->get[level];
    struct ctl_window_row r = {.probe_id = "", .target_id = ""};
    int step;

    sqlite3_bind_int64(s, 1, pair);
    sqlite3_bind_int64(s, 2, bucket);
    if ((step = sqlite3_step(s)) == SQLITE_ROW) {
        ctl_rollup_row_read(s, 0, &r);
        ctl_pair_add(&ru->acc, &r);
        step = sqlite3_step(s);
    }
    sqlite3_reset(s);
    return step == SQLITE_DONE ? 0 : -EIO;
}

static int write_row(struct ctl_rollup *ru, int level, int64_t pair, int64_t bucket)
{
    sqlite3_stmt *s = ru->put[level];
    struct ctl_window_row r;
    uint8_t *sketch;
    char *extra;
    int i = 1, rc = ctl_pair_row(&ru->acc, bucket, ctl_rollup_levels[level], &r, &sketch,
                                 &extra);

    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, i++, pair);
    sqlite3_bind_int64(s, i++, bucket);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.windows);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.sent);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.received);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.lost);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.duplicates);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.reordered);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.rtt_min_ns);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.rtt_max_ns);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.ipdv_sum_ns);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.ipdv_count);
    sqlite3_bind_int(s, i++, r.ttl);
    sqlite3_bind_int64(s, i++, r.last_ms);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.last_sent);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r.last_lost);
    sqlite3_bind_blob(s, i++, r.sketch, (int)r.sketch_len, SQLITE_STATIC);
    if (r.extra != NULL)
        sqlite3_bind_text(s, i++, r.extra, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i++);
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_reset(s);
    free(sketch);
    free(extra);
    return rc;
}

static int64_t bucket_of(const struct ctl_window_row *r, int level)
{
    return ctl_bucket_start(r->window_start_ms, ctl_rollup_levels[level]);
}

static int same_pair(const struct ctl_window_row *x, const struct ctl_window_row *y)
{
    return x->method == y->method && strcmp(x->target_id, y->target_id) == 0 &&
           strcmp(x->probe_id, y->probe_id) == 0;
}

/* Orders rows by probe, target, method and window start: a pair's buckets
 * are then runs, at every level. */
static int row_order(const void *a, const void *b)
{
    const struct ctl_window_row *x = *(const struct ctl_window_row *const *)a;
    const struct ctl_window_row *y = *(const struct ctl_window_row *const *)b;
    int c = strcmp(x->probe_id, y->probe_id);

    if (c == 0)
        c = strcmp(x->target_id, y->target_id);
    if (c != 0)
        return c;
    if (x->method != y->method)
        return x->method < y->method ? -1 : 1;
    return (x->window_start_ms > y->window_start_ms) -
           (x->window_start_ms < y->window_start_ms);
}

/* rows[0..n) are one pair's, by window start: each bucket of level is
 * folded with what is stored of it and written back. */
static int add_level(struct ctl_rollup *ru, int level, int64_t pair,
                     const struct ctl_window_row *const *rows, size_t n)
{
    int rc = 0;

    for (size_t i = 0, j; rc == 0 && i < n; i = j) {
        int64_t bucket = bucket_of(rows[i], level);

        ctl_pair_start(&ru->acc, rows[i]);
        rc = fold_stored(ru, level, pair, bucket);
        for (j = i; rc == 0 && j < n && bucket_of(rows[j], level) == bucket; j++)
            ctl_pair_add(&ru->acc, rows[j]);
        if (rc == 0)
            rc = write_row(ru, level, pair, bucket);
    }
    return rc;
}

int ctl_rollup_add(struct ctl_rollup *ru, const struct ctl_window_row **rows, size_t n)
{
    int64_t pair = 0;
    int rc = 0;

    qsort(rows, n, sizeof(*rows), row_order);
    for (size_t i = 0, j; rc == 0 && i < n; i = j) {
        for (j = i + 1; j < n && same_pair(rows[j], rows[i]); j++)
            ;
        rc = ctl_rollup_pair_key(ru, rows[i], &pair);
        for (int level = 0; rc == 0 && level < CTL_ROLLUP_LEVELS; level++)
            rc = add_level(ru, level, pair, rows + i, j - i);
    }
    return rc;
}
