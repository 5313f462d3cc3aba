/*
 * rollup.c - the coarse levels of the store: per (source, target, method),
 * one row a bucket of 1 minute, 1 hour and 1 day, each the fold of the
 * windows that start in it (analysis/pairs.c folds; this file only reads
 * and writes rows).
 *
 * A row is written from what was stored of it, merged with windows newly
 * stored or with a delta of them gathered in memory (store/deltas.c says
 * when, and why the sums stay exact).
 *
 * A pair is named by a small integer (table pairs), so that a row is the
 * key, the sums and the merged sketch.  The key is (bucket, pair): a
 * bucket's rows are together, so writing a probe's rows of one minute
 * touches a page or two (a key of (pair, bucket) touched a page per pair,
 * and the write-ahead log took them all at each commit), a map over a
 * range is one range of the table, and retention takes from its start; a
 * pair's series looks its buckets up one by one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "analysis.h"
#include "rollup.h"

const uint32_t ctl_rollup_levels[CTL_ROLLUP_LEVELS] = {60, 3600, 86400};

/* A pair's key, remembered: looking it up is most of a record's cost. */
struct known_pair {
    uint64_t hash; /* 0: an empty slot */
    int64_t key;
    int method;
    char probe_id[PROTO_ID_MAX + 1], target_id[PROTO_ID_MAX + 1];
};

struct ctl_rollup {
    sqlite3 *db;
    struct known_pair *known; /* open addressing, nknown_slots a power of two */
    size_t nknown, nknown_slots;
    int made_keys; /* pairs added by the open transaction */
    sqlite3_stmt *pair_key, *pair_add;
    sqlite3_stmt *get[CTL_ROLLUP_LEVELS], *insert[CTL_ROLLUP_LEVELS],
        *update[CTL_ROLLUP_LEVELS];
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
                 "  PRIMARY KEY (bucket_ms, pair)) WITHOUT ROWID;",
                 ctl_rollup_levels[i]);
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
    /* The same order of parameters for both: the columns, then the key. */
    snprintf(sql, sizeof(sql),
             "INSERT INTO rollup_%u (" ROLLUP_COLUMNS ", pair, bucket_ms)"
             " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
             l);
    if (sqlite3_prepare_v2(ru->db, sql, -1, &ru->insert[i], NULL) != SQLITE_OK)
        return -EIO;
    snprintf(sql, sizeof(sql),
             "UPDATE rollup_%u SET windows=?, sent=?, received=?, lost=?, duplicates=?,"
             " reordered=?, rtt_min_ns=?, rtt_max_ns=?, ipdv_sum_ns=?, ipdv_count=?,"
             " ttl=?, last_ms=?, last_sent=?, last_lost=?, sketch=?, extra=?"
             " WHERE pair=? AND bucket_ms=?",
             l);
    return sqlite3_prepare_v2(ru->db, sql, -1, &ru->update[i], NULL) == SQLITE_OK ? 0
                                                                                  : -EIO;
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
        sqlite3_finalize(ru->insert[i]);
        sqlite3_finalize(ru->update[i]);
    }
    ctl_pair_free(&ru->acc);
    free(ru->known);
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

static uint64_t pair_hash(const struct ctl_window_row *r)
{
    uint64_t h = 1469598103934665603ULL;

    for (const char *c = r->probe_id; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const char *c = r->target_id; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ULL;
    h = (h ^ (uint64_t)(r->method + 1)) * 1099511628211ULL;
    return h ? h : 1;
}

static struct known_pair *known_slot(struct known_pair *v, size_t nslots, uint64_t h,
                                     const struct ctl_window_row *r)
{
    for (size_t i = h & (nslots - 1);; i = (i + 1) & (nslots - 1))
        if (v[i].hash == 0 || (v[i].hash == h && v[i].method == r->method &&
                               strcmp(v[i].probe_id, r->probe_id) == 0 &&
                               strcmp(v[i].target_id, r->target_id) == 0))
            return &v[i];
}

/* Room for one more, at most half full. */
static int known_grow(struct ctl_rollup *ru)
{
    size_t n = ru->nknown_slots ? ru->nknown_slots * 2 : 1024;
    struct known_pair *v;

    if (2 * (ru->nknown + 1) <= ru->nknown_slots)
        return 0;
    if ((v = calloc(n, sizeof(*v))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ru->nknown_slots; i++) {
        struct known_pair *k = &ru->known[i];
        struct ctl_window_row r = {
            .probe_id = k->probe_id, .target_id = k->target_id, .method = k->method};

        if (k->hash != 0)
            *known_slot(v, n, k->hash, &r) = *k;
    }
    free(ru->known);
    ru->known = v;
    ru->nknown_slots = n;
    return 0;
}

int ctl_rollup_pair_key(struct ctl_rollup *ru, const struct ctl_window_row *r,
                        int64_t *key)
{
    uint64_t h = pair_hash(r);
    struct known_pair *k;
    int rc;

    if (ru->nknown_slots > 0 && (k = known_slot(ru->known, ru->nknown_slots, h, r))->hash)
        return *key = k->key, 0;
    rc = key_query(ru->pair_key, r, key);
    if (rc == -ENOENT) {
        rc = key_query(ru->pair_add, r, key);
        ru->made_keys |= rc == 0;
    }
    if (rc < 0 || known_grow(ru) < 0)
        return rc;
    k = known_slot(ru->known, ru->nknown_slots, h, r);
    *k = (struct known_pair){.hash = h, .key = *key, .method = r->method};
    snprintf(k->probe_id, sizeof(k->probe_id), "%s", r->probe_id);
    snprintf(k->target_id, sizeof(k->target_id), "%s", r->target_id);
    ru->nknown++;
    return 0;
}

void ctl_rollup_end(struct ctl_rollup *ru, int committed)
{
    /* Keys made by a transaction rolled back were never made. */
    if (!committed && ru->made_keys) {
        free(ru->known);
        ru->known = NULL;
        ru->nknown = ru->nknown_slots = 0;
    }
    ru->made_keys = 0;
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

/* Folds the stored row of (pair, bucket) into ru->acc; 1 if there is one. */
static int fold_stored(struct ctl_rollup *ru, int level, int64_t pair, int64_t bucket)
{
    sqlite3_stmt *s = ru->get[level];
    struct ctl_window_row r = {.probe_id = "", .target_id = ""};
    int step, found = 0;

    sqlite3_bind_int64(s, 1, pair);
    sqlite3_bind_int64(s, 2, bucket);
    if ((step = sqlite3_step(s)) == SQLITE_ROW) {
        ctl_rollup_row_read(s, 0, &r);
        ctl_pair_add(&ru->acc, &r);
        found = 1;
        step = sqlite3_step(s);
    }
    sqlite3_reset(s);
    return step == SQLITE_DONE ? found : -EIO;
}

/* Writes ru->acc as the row of (pair, bucket): an UPDATE of the row there
 * (its key, and so the time index, unchanged), else an INSERT. */
static int write_row(struct ctl_rollup *ru, int level, int64_t pair, int64_t bucket,
                     int exists)
{
    sqlite3_stmt *s = exists ? ru->update[level] : ru->insert[level];
    struct ctl_window_row r;
    uint8_t *sketch;
    char *extra;
    int i = 1, rc = ctl_pair_row(&ru->acc, bucket, ctl_rollup_levels[level], &r, &sketch,
                                 &extra);

    if (rc < 0)
        return rc;
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
    sqlite3_bind_int64(s, i++, pair);
    sqlite3_bind_int64(s, i++, bucket);
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_reset(s);
    free(sketch);
    free(extra);
    return rc;
}

int ctl_rollup_write(struct ctl_rollup *ru, int level, int64_t pair, int64_t bucket,
                     const struct ctl_pair *delta,
                     const struct ctl_window_row *const *rows, size_t nrows)
{
    static const struct ctl_window_row nameless = {.probe_id = "", .target_id = ""};
    int exists;

    ctl_pair_start(&ru->acc, nrows > 0 ? rows[0] : &nameless);
    exists = fold_stored(ru, level, pair, bucket);
    if (exists < 0)
        return exists;
    if (delta != NULL)
        ctl_pair_merge(&ru->acc, delta);
    for (size_t i = 0; i < nrows; i++)
        ctl_pair_add(&ru->acc, rows[i]);
    return write_row(ru, level, pair, bucket, exists);
}
