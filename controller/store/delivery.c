/*
 * delivery.c - what the store learns of each probe's delivery, inside the
 * transaction that stores a batch: records that were already there (a
 * resend), holes in the sequence numbers (records the probe dropped), the
 * drops it reports per window, and its health.  And the JSON of all that
 * for /api/v1/probes.
 *
 * A probe numbers its records one by one from its spool's seq0 (PROTOCOL.md
 * 4.3), and sends them oldest first.  So, per probe, a record stored above
 * the highest one before it, with numbers between them at or above seq0,
 * is a hole, and a hole is records that will never come.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "delivery.h"
#include "stmt.h"
#include "log.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS gaps ("
    "  probe_id TEXT NOT NULL,"
    "  first_seq INTEGER NOT NULL,"
    "  last_seq INTEGER NOT NULL,"
    "  found_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (probe_id, first_seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS drops ("
    "  probe_id TEXT NOT NULL,"
    "  window_start_ms INTEGER NOT NULL,"
    "  records INTEGER NOT NULL,"
    "  reported_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (probe_id, window_start_ms)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS delivery ("
    "  probe_id TEXT PRIMARY KEY,"
    "  duplicates INTEGER NOT NULL DEFAULT 0," /* records received again */
    "  health TEXT,"                           /* the latest, as JSON */
    "  health_ms INTEGER) WITHOUT ROWID;"; /* refused, refused_seq, stored: sqlite.c */

int ctl_delivery_schema(sqlite3 *db)
{
    return sqlite3_exec(db, schema, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static int exec_bound(sqlite3 *db, const char *sql, const char *probe_id, int64_t a,
                      int64_t b, int64_t c)
{
    sqlite3_stmt *s;
    int rc;

    if ((s = ctl_stmt(db, sql)) == NULL)
        return -EIO;
    sqlite3_bind_text(s, 1, probe_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a);
    sqlite3_bind_int64(s, 3, b);
    sqlite3_bind_int64(s, 4, c);
    rc = sqlite3_step(s);
    ctl_stmt_done(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

int ctl_delivery_max_seq(sqlite3 *db, const char *probe_id, uint64_t *max,
                         uint64_t *expired, uint64_t *rolled)
{
    sqlite3_stmt *s;
    int rc;

    *max = *expired = *rolled = 0;
    /* Refused records used their numbers too (ctl_delivery_refused), and
     * so did those retention deleted (ctl_delivery_expired). */
    if ((s = ctl_stmt(db, "SELECT max(coalesce((SELECT max(seq) FROM results"
                          " WHERE probe_id=?1), 0), coalesce((SELECT max(refused_seq,"
                          " expired_seq) FROM delivery WHERE probe_id=?1), 0)),"
                          " coalesce((SELECT expired_seq FROM delivery"
                          " WHERE probe_id=?1), 0), coalesce((SELECT rolled_seq"
                          " FROM delivery WHERE probe_id=?1), 0)")) == NULL)
        return -EIO;
    sqlite3_bind_text(s, 1, probe_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *max = (uint64_t)sqlite3_column_int64(s, 0);
        *expired = (uint64_t)sqlite3_column_int64(s, 1);
        *rolled = (uint64_t)sqlite3_column_int64(s, 2);
    }
    ctl_stmt_done(s);
    return rc == SQLITE_ROW ? 0 : -EIO;
}

int ctl_delivery_rolled(sqlite3 *db, const char *probe_id, int64_t seq)
{
    return exec_bound(db,
                      "INSERT INTO delivery (probe_id, rolled_seq) VALUES (?1, ?2)"
                      " ON CONFLICT (probe_id) DO UPDATE"
                      " SET rolled_seq = max(rolled_seq, ?2)",
                      probe_id, seq, 0, 0);
}

int ctl_delivery_expired(sqlite3 *db, const char *probe_id, int64_t seq)
{
    return exec_bound(db,
                      "INSERT INTO delivery (probe_id, expired_seq) VALUES (?1, ?2)"
                      " ON CONFLICT (probe_id) DO UPDATE"
                      " SET expired_seq = max(expired_seq, ?2)",
                      probe_id, seq, 0, 0);
}

/*
 * Record seq was just stored; prev is the highest stored before it (0:
 * none).  Notes the hole between them that lies at or above seq0.
 */
int ctl_delivery_gap(sqlite3 *db, const char *probe_id, uint64_t prev, uint64_t seq,
                     uint64_t seq0, int64_t now_ms, uint64_t *missing)
{
    uint64_t first = prev + 1 > seq0 ? prev + 1 : seq0;

    if (seq <= first)
        return 0;
    log_warn("probe %s: records %llu to %llu are missing: the probe dropped them",
             probe_id, (unsigned long long)first, (unsigned long long)seq - 1);
    *missing += seq - first;
    return exec_bound(
        db,
        "INSERT OR IGNORE INTO gaps (probe_id, first_seq, last_seq, found_ms)"
        " VALUES (?,?,?,?)",
        probe_id, (int64_t)first, (int64_t)(seq - 1), now_ms);
}

static json_t *health_json(const struct proto_health *h)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "seq0", (json_int_t)h->seq0,
                     "spool_bytes", (json_int_t)h->spool_bytes, "pending",
                     (json_int_t)h->pending, "oldest_pending_s", (json_int_t)h->oldest_s,
                     "dropped", (json_int_t)h->dropped, "reconnects",
                     (json_int_t)h->reconnects, "torn_bytes", (json_int_t)h->torn_bytes);
}

static int note_drops(sqlite3 *db, const char *probe_id, const struct proto_health *h,
                      int64_t now_ms)
{
    int rc = 0;

    /* Sent again until acknowledged, and merged when many wait: the
     * larger count of a window is the one that holds. */
    for (uint32_t i = 0; rc == 0 && i < h->ndrops; i++)
        rc = exec_bound(
            db,
            "INSERT INTO drops (probe_id, window_start_ms, records, reported_ms)"
            " VALUES (?1,?2,?3,?4) ON CONFLICT (probe_id, window_start_ms)"
            " DO UPDATE SET records=max(records, ?3)",
            probe_id, h->drops[i].window_start_ms, h->drops[i].records, now_ms);
    return rc;
}

int ctl_delivery_refused(sqlite3 *db, const char *probe_id, uint32_t n, uint64_t seq)
{
    return exec_bound(db,
                      "UPDATE delivery SET refused=refused+?2,"
                      " refused_seq=max(refused_seq, ?3) WHERE probe_id=?1",
                      probe_id, n, (int64_t)seq, 0);
}

int ctl_delivery_note(sqlite3 *db, const char *probe_id, const struct proto_results *rs,
                      uint32_t duplicates, uint32_t stored, int64_t now_ms)
{
    sqlite3_stmt *s;
    char *health = NULL;
    json_t *j;
    int rc;

    if (rs->has_health) {
        if ((j = health_json(&rs->health)) == NULL)
            return -ENOMEM;
        health = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (health == NULL || note_drops(db, probe_id, &rs->health, now_ms) < 0) {
            free(health);
            return health == NULL ? -ENOMEM : -EIO;
        }
    }
    if ((s = ctl_stmt(
             db, "INSERT INTO delivery (probe_id, duplicates, health, health_ms, stored)"
                 " VALUES (?1,?2,?3,?4,?5) ON CONFLICT (probe_id) DO UPDATE SET"
                 " duplicates=duplicates+?2, health=coalesce(?3, health),"
                 " health_ms=coalesce(?4, health_ms), stored=stored+?5")) == NULL) {
        free(health);
        return -EIO;
    }
    sqlite3_bind_text(s, 1, probe_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, duplicates);
    sqlite3_bind_int64(s, 5, stored);
    if (health != NULL) {
        sqlite3_bind_text(s, 3, health, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, now_ms);
    }
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
    ctl_stmt_done(s);
    free(health);
    return rc;
}

/* ---- what /api/v1/probes shows (analysis/delivery_json.c writes it) ------ */

static int64_t int_query(sqlite3 *db, const char *sql, const char *probe_id, int *rc)
{
    sqlite3_stmt *s;
    int64_t v = 0;

    if ((s = ctl_stmt(db, sql)) == NULL) {
        *rc = -EIO;
        return 0;
    }
    sqlite3_bind_text(s, 1, probe_id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    ctl_stmt_done(s);
    return v;
}

/* The newest rows of sql, two integer columns each, up to CTL_DELIVERY_LIST_MAX. */
static size_t pairs_query(sqlite3 *db, const char *sql, const char *probe_id,
                          int64_t (*out)[2], int *rc)
{
    sqlite3_stmt *s;
    size_t n = 0;

    if ((s = ctl_stmt(db, sql)) == NULL) {
        *rc = -EIO;
        return 0;
    }
    sqlite3_bind_text(s, 1, probe_id, -1, SQLITE_STATIC);
    while (n < CTL_DELIVERY_LIST_MAX && sqlite3_step(s) == SQLITE_ROW) {
        out[n][0] = sqlite3_column_int64(s, 0);
        out[n][1] = sqlite3_column_int64(s, 1);
        n++;
    }
    ctl_stmt_done(s);
    return n;
}

/* The probe's row of the delivery table: counts and its latest health. */
static int delivery_counts(sqlite3 *db, const char *probe_id, struct ctl_delivery_row *r)
{
    sqlite3_stmt *s;
    int rc = 0;

    if ((s = ctl_stmt(db, "SELECT duplicates, health, health_ms, stored, refused"
                          " FROM delivery WHERE probe_id=?")) == NULL)
        return -EIO;
    sqlite3_bind_text(s, 1, probe_id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        r->duplicates = sqlite3_column_int64(s, 0);
        r->health_ms = sqlite3_column_int64(s, 2);
        r->stored = sqlite3_column_int64(s, 3);
        r->refused = sqlite3_column_int64(s, 4);
        if (sqlite3_column_type(s, 1) != SQLITE_NULL &&
            (r->health = strdup((const char *)sqlite3_column_text(s, 1))) == NULL)
            rc = -ENOMEM;
    }
    ctl_stmt_done(s);
    return rc;
}

int ctl_delivery_read(sqlite3 *db, const char *probe_id, struct ctl_delivery_row *r)
{
    int rc;

    memset(r, 0, sizeof(*r));
    rc = delivery_counts(db, probe_id, r);
    r->missing = int_query(db,
                           "SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM gaps"
                           " WHERE probe_id=?",
                           probe_id, &rc);
    r->ngaps = pairs_query(db,
                           "SELECT first_seq, last_seq FROM gaps WHERE probe_id=?"
                           " ORDER BY first_seq DESC LIMIT 20",
                           probe_id, r->gaps, &rc);
    r->dropped_reported =
        int_query(db, "SELECT coalesce(sum(records), 0) FROM drops WHERE probe_id=?",
                  probe_id, &rc);
    r->ndrops = pairs_query(db,
                            "SELECT window_start_ms, records FROM drops WHERE probe_id=?"
                            " ORDER BY window_start_ms DESC LIMIT 20",
                            probe_id, r->drops, &rc);
    if (rc < 0)
        ctl_delivery_row_free(r);
    return rc;
}

void ctl_delivery_row_free(struct ctl_delivery_row *r)
{
    free(r->health);
    r->health = NULL;
}
