/*
 * retention.c - old rows go: raw windows past [store] raw, each rollup
 * level past its own horizon, in small batches so that no transaction
 * holds the writer for long.  SQLite reuses the pages they free, so the
 * file stops growing once every level has reached its horizon.
 *
 * A raw window that is gone can no longer tell a resend from a new record:
 * so the highest sequence number deleted of each probe is kept
 * (delivery.expired_seq), and a record at or below it is taken for the
 * resend it must be (sqlite.c), not stored a second time into the rollups.
 * And a raw window not yet in the rollups (above its probe's rolled_seq,
 * deltas.c) stays until it is: the store may need it after a crash.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "delivery.h"
#include "retention.h"

static int exec_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *s;
    int rc = -EIO;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return -EIO;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = 0;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Notes the highest deleted sequence number of each probe of s's rows. */
static int note_expired(sqlite3 *db, sqlite3_stmt *s, uint64_t *deleted)
{
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        (*deleted)++;
        if (ctl_delivery_expired(db, (const char *)sqlite3_column_text(s, 0),
                                 sqlite3_column_int64(s, 1)) < 0)
            return -EIO;
    }
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Up to batch raw windows that ended at or before cutoff_ms. */
static int expire_raw(sqlite3 *db, int64_t cutoff_ms, uint32_t batch, uint64_t *deleted)
{
    sqlite3_stmt *s;
    int rc;

    if (sqlite3_prepare_v2(
            db,
            "DELETE FROM results WHERE (probe_id, seq) IN"
            " (SELECT probe_id, seq FROM results WHERE window_start_ms < ?1"
            " AND window_start_ms + window_s * 1000 <= ?1 AND seq <= coalesce("
            "(SELECT rolled_seq FROM delivery d WHERE d.probe_id = results.probe_id), 0)"
            " LIMIT ?2)"
            " RETURNING probe_id, seq",
            -1, &s, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_int64(s, 1, cutoff_ms);
    sqlite3_bind_int(s, 2, (int)batch);
    rc = note_expired(db, s, deleted);
    sqlite3_finalize(s);
    return rc;
}

/* Up to batch rows of rollup level i whose buckets ended by cutoff_ms. */
static int expire_level(sqlite3 *db, int i, int64_t cutoff_ms, uint32_t batch,
                        uint64_t *deleted)
{
    char sql[256];
    sqlite3_stmt *s;
    int rc;

    snprintf(sql, sizeof(sql),
             "DELETE FROM rollup_%u WHERE (bucket_ms, pair) IN (SELECT bucket_ms, pair"
             " FROM rollup_%u WHERE bucket_ms <= ? LIMIT ?)",
             ctl_rollup_levels[i], ctl_rollup_levels[i]);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_int64(s, 1, cutoff_ms - (int64_t)ctl_rollup_levels[i] * 1000);
    sqlite3_bind_int(s, 2, (int)batch);
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
    if (rc == 0)
        *deleted += (uint64_t)sqlite3_changes(db);
    sqlite3_finalize(s);
    return rc;
}

/* One transaction: fn's batch, or nothing. */
static int in_transaction(sqlite3 *db,
                          int (*fn)(sqlite3 *, int, int64_t, uint32_t, uint64_t *), int i,
                          int64_t cutoff_ms, uint32_t batch, uint64_t *deleted)
{
    uint64_t n = 0;
    int rc;

    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return -EIO;
    rc = fn(db, i, cutoff_ms, batch, &n);
    if (sqlite3_exec(db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        rc = -EIO;
    if (rc == 0)
        *deleted += n;
    return rc;
}

static int raw_step(sqlite3 *db, int i, int64_t cutoff_ms, uint32_t batch, uint64_t *n)
{
    (void)i;
    return expire_raw(db, cutoff_ms, batch, n);
}

int ctl_retention_step(sqlite3 *db, const struct ctl_retention *rt, int64_t now_ms,
                       uint32_t batch, struct ctl_expired *out)
{
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (rt->raw_s > 0)
        rc = in_transaction(db, raw_step, 0, now_ms - rt->raw_s * 1000, batch, &out->raw);
    for (int i = 0; rc == 0 && i < CTL_ROLLUP_LEVELS; i++)
        if (rt->level_s[i] > 0)
            rc = in_transaction(db, expire_level, i, now_ms - rt->level_s[i] * 1000,
                                batch, &out->level[i]);
    return rc;
}

int ctl_retention_size(sqlite3 *db, struct ctl_store_size *sz)
{
    int64_t pages, free_pages, page;

    if (exec_int(db, "PRAGMA page_count", &pages) < 0 ||
        exec_int(db, "PRAGMA freelist_count", &free_pages) < 0 ||
        exec_int(db, "PRAGMA page_size", &page) < 0)
        return -EIO;
    sz->file_octets = (uint64_t)(pages * page);
    sz->free_octets = (uint64_t)(free_pages * page);
    return 0;
}
