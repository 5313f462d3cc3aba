/*
 * sqlite.c - the store's SQLite backend: the probes that ever said HELLO,
 * and every summary record, keyed by (probe id, sequence number) so that a
 * batch sent twice is stored once.
 *
 * WAL mode with synchronous=FULL: a commit is on disk when it returns,
 * which is what lets the channel acknowledge right after it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "controller.h"
#include "deltas.h"
#include "delivery.h"
#include "retention.h"
#include "stmt.h"
#include "store_int.h"

/* A window stored by the current transaction, for the rollups. */
struct stored_window {
    struct ctl_window_row row; /* pointing at the members below */
    uint8_t *sketch;
    char *extra;
    char probe_id[PROTO_ID_MAX + 1], target_id[PROTO_ID_MAX + 1];
};

struct ctl_store {
    sqlite3 *db;
    struct ctl_rollup *rollup;
    struct ctl_deltas *deltas;
    struct stored_window *stored;
    const struct ctl_window_row **stored_rows;
    size_t nstored, stored_cap;
    sqlite3_stmt *insert_result;
    sqlite3_stmt *upsert_probe;
    sqlite3_stmt *touch_probe;
    char err[256];
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS probes ("
    "  key INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  addresses TEXT NOT NULL," /* a JSON array */
    "  stamp_port INTEGER NOT NULL,"
    "  lat REAL, lon REAL,"
    "  sw_version TEXT NOT NULL,"
    "  caps INTEGER NOT NULL DEFAULT 0,"
    "  first_seen_ms INTEGER NOT NULL,"
    "  last_seen_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS results ("
    "  probe_id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  task_id INTEGER NOT NULL,"
    "  method INTEGER NOT NULL,"
    "  target_id TEXT NOT NULL,"
    "  window_start_ms INTEGER NOT NULL,"
    "  window_s INTEGER NOT NULL,"
    "  sent INTEGER NOT NULL,"
    "  received INTEGER NOT NULL,"
    "  lost INTEGER NOT NULL,"
    "  duplicates INTEGER NOT NULL,"
    "  reordered INTEGER NOT NULL,"
    "  rtt_min_ns INTEGER NOT NULL,"
    "  rtt_max_ns INTEGER NOT NULL,"
    "  ipdv_sum_ns INTEGER NOT NULL,"
    "  ipdv_count INTEGER NOT NULL,"
    "  sketch BLOB NOT NULL,"
    "  stored_ms INTEGER NOT NULL,"
    "  ttl INTEGER NOT NULL DEFAULT 0," /* added later: see add_columns() */
    "  extra TEXT,"                     /* likewise; see extra_json() */
    "  PRIMARY KEY (probe_id, seq)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS results_by_window ON results (window_start_ms);";

/*
 * Columns added after a database may have been made: a database from before
 * gets them, with their defaults, at the end of the table.  The INSERT names
 * its columns, so their order does not matter.
 */
static const struct {
    const char *probe, *add;
} added_columns[] = {
    {"SELECT ttl FROM results LIMIT 0",
     "ALTER TABLE results ADD COLUMN ttl INTEGER NOT NULL DEFAULT 0"},
    {"SELECT extra FROM results LIMIT 0", "ALTER TABLE results ADD COLUMN extra TEXT"},
    {"SELECT refused FROM delivery LIMIT 0",
     "ALTER TABLE delivery ADD COLUMN refused INTEGER NOT NULL DEFAULT 0"},
    {"SELECT refused_seq FROM delivery LIMIT 0",
     "ALTER TABLE delivery ADD COLUMN refused_seq INTEGER NOT NULL DEFAULT 0"},
    /* The records stored per probe, kept as they are stored: counting them
     * for /api/v1/probes took seconds at 300 probes.  Counted once here. */
    {"SELECT stored FROM delivery LIMIT 0",
     "ALTER TABLE delivery ADD COLUMN stored INTEGER NOT NULL DEFAULT 0;"
     "INSERT OR IGNORE INTO delivery (probe_id) SELECT DISTINCT probe_id FROM results;"
     "UPDATE delivery SET stored ="
     " (SELECT count(*) FROM results r WHERE r.probe_id = delivery.probe_id)"},
    /* The highest sequence number retention deleted (retention.c), and the
     * highest whose windows are all in the rollups (deltas.c). */
    {"SELECT expired_seq FROM delivery LIMIT 0",
     "ALTER TABLE delivery ADD COLUMN expired_seq INTEGER NOT NULL DEFAULT 0"},
    {"SELECT rolled_seq FROM delivery LIMIT 0",
     "ALTER TABLE delivery ADD COLUMN rolled_seq INTEGER NOT NULL DEFAULT 0"},
};

static int add_columns(sqlite3 *db)
{
    int rc = SQLITE_OK;

    /* One writer at a time: two controllers opening one old database
     * must not both add the column. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    /* In the order they were added, which is the order of the table. */
    for (size_t i = 0;
         rc == SQLITE_OK && i < sizeof(added_columns) / sizeof(added_columns[0]); i++) {
        rc = sqlite3_exec(db, added_columns[i].probe, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            rc = sqlite3_exec(db, added_columns[i].add, NULL, NULL, NULL);
    }
    if (sqlite3_exec(db, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) !=
        SQLITE_OK)
        rc = SQLITE_ERROR;
    return rc;
}

int ctl_store_fail(struct ctl_store *st, const char *what)
{
    snprintf(st->err, sizeof(st->err), "%s: %s", what, sqlite3_errmsg(st->db));
    return -EIO;
}

static int prepare(struct ctl_store *st)
{
    static const char ins[] =
        "INSERT OR IGNORE INTO results (probe_id, seq, task_id, method, target_id,"
        " window_start_ms, window_s, sent, received, lost, duplicates, reordered,"
        " rtt_min_ns, rtt_max_ns, ipdv_sum_ns, ipdv_count, sketch, stored_ms, ttl, extra)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    static const char ups[] =
        "INSERT INTO probes (id, name, addresses, stamp_port, lat, lon, sw_version, caps,"
        " first_seen_ms, last_seen_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?9,?8,?8)"
        " ON CONFLICT (id) DO UPDATE SET name=?2, addresses=?3, stamp_port=?4, lat=?5,"
        " lon=?6, sw_version=?7, caps=?9, last_seen_ms=?8 RETURNING key";
    static const char touch[] = "UPDATE probes SET last_seen_ms=?2 WHERE id=?1";

    if (sqlite3_prepare_v2(st->db, ins, -1, &st->insert_result, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, ups, -1, &st->upsert_probe, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, touch, -1, &st->touch_probe, NULL) != SQLITE_OK)
        return ctl_store_fail(st, "prepare");
    return 0;
}

static int recover_rollups(struct ctl_store *st);

int ctl_store_open(const char *path, struct ctl_store **out, char *err, size_t errlen)
{
    struct ctl_store *st = calloc(1, sizeof(*st));
    int rc = -EIO;

    *out = NULL;
    if (st == NULL)
        return -ENOMEM;
    if (sqlite3_open_v2(path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        ctl_store_fail(st, path);
        goto done;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if (sqlite3_exec(st->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        ctl_delivery_schema(st->db) < 0 || ctl_rollup_schema(st->db) < 0 ||
        add_columns(st->db) != SQLITE_OK) {
        ctl_store_fail(st, path);
        goto done;
    }
    rc = prepare(st);
    if (rc == 0 && (ctl_rollup_open(st->db, &st->rollup) < 0 ||
                    ctl_deltas_new(st->rollup, &st->deltas) < 0))
        rc = ctl_store_fail(st, "prepare the rollups");
    if (rc == 0)
        rc = recover_rollups(st);
done:
    if (rc < 0) {
        snprintf(err, errlen, "%s", st->err);
        ctl_store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

int ctl_store_open_ro(const char *path, struct ctl_store **out, char *err, size_t errlen)
{
    struct ctl_store *st = calloc(1, sizeof(*st));

    *out = NULL;
    if (st == NULL)
        return -ENOMEM;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(st->db));
        ctl_store_close(st);
        return -EIO;
    }
    sqlite3_busy_timeout(st->db, 5000);
    *out = st;
    return 0;
}

void ctl_store_close(struct ctl_store *st)
{
    if (st == NULL)
        return;
    if (st->deltas != NULL && ctl_store_flush(st, 0, 1) < 0)
        fprintf(stderr,
                "ixmesh: store: the rollups' last minute was not written (%s);"
                " it is folded again at the next opening\n",
                st->err);
    sqlite3_finalize(st->insert_result);
    sqlite3_finalize(st->upsert_probe);
    sqlite3_finalize(st->touch_probe);
    ctl_deltas_free(st->deltas);
    ctl_rollup_close(st->rollup);
    ctl_stmt_finalize_all(st->db); /* stmt.c's, after those finalized above */
    free(st->stored);
    free(st->stored_rows);
    sqlite3_close(st->db);
    free(st);
}

const char *ctl_store_error(const struct ctl_store *st)
{
    return st->err;
}

struct sqlite3 *ctl_store_db(struct ctl_store *st)
{
    return st->db;
}

static char *addresses_json(const struct proto_hello *h)
{
    json_t *a = json_array();
    char *s;

    for (uint32_t i = 0; a != NULL && i < h->naddrs; i++)
        json_array_append_new(a, json_string(h->addrs[i]));
    s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

int ctl_store_probe_seen(struct ctl_store *st, const struct proto_hello *h,
                         int64_t now_ms, int64_t *key)
{
    sqlite3_stmt *s = st->upsert_probe;
    char *addrs = addresses_json(h);
    int rc = -EIO;

    if (addrs == NULL)
        return -ENOMEM;
    sqlite3_bind_text(s, 1, h->probe_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, h->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, addrs, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, h->stamp_port);
    if (h->has_location) {
        sqlite3_bind_double(s, 5, h->lat);
        sqlite3_bind_double(s, 6, h->lon);
    } else {
        sqlite3_bind_null(s, 5);
        sqlite3_bind_null(s, 6);
    }
    sqlite3_bind_text(s, 7, h->sw_version, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, now_ms);
    sqlite3_bind_int64(s, 9, h->caps);
    if (sqlite3_step(s) == SQLITE_ROW) {
        *key = sqlite3_column_int64(s, 0);
        rc = 0;
    }
    if (sqlite3_step(s) != SQLITE_DONE || rc < 0)
        rc = ctl_store_fail(st, "store probe");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    free(addrs);
    return rc;
}

int ctl_store_probe_touch(struct ctl_store *st, const char *id, int64_t now_ms)
{
    sqlite3_stmt *s = st->touch_probe;
    int rc = 0;

    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now_ms);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = ctl_store_fail(st, "touch probe");
    sqlite3_reset(s);
    return rc;
}

static int set_uint(json_t *o, const char *key, uint64_t v)
{
    /* SQLite and jansson hold signed 64-bit: a larger value is nonsense. */
    if (v == 0)
        return 0;
    return json_object_set_new(o, key,
                               json_integer((json_int_t)(v > INT64_MAX ? INT64_MAX : v)));
}

static int set_text(json_t *o, const char *key, const char *v)
{
    return v[0] == '\0' ? 0 : json_object_set_new(o, key, json_string(v));
}

/*
 * What a record tells beyond the counts and the sketch, as compact JSON
 * under the wire's keys (PROTOCOL.md 4.3): "oc" {outcome name: count} of
 * the non-zero outcomes, "why", and the content fields that are not zero.
 * Sets *out to NULL when there is nothing (a healthy STAMP window), else
 * to a malloc'd string the caller frees.  Returns 0 or -ENOMEM.
 */
int ctl_store_extra_json(const struct proto_result *r, char **out)
{
    const struct proto_content_info *in = &r->info;
    json_t *o = json_object(), *oc = json_object();
    int rc = -ENOMEM, bad = 0;

    *out = NULL;
    if (o == NULL || oc == NULL)
        goto done;
    for (unsigned i = PROTO_OUT_OK + 1; i < PROTO_OUTCOME_MAX; i++)
        bad |= set_uint(oc, proto_outcome_name(i), r->outcomes[i]);
    if (json_object_size(oc) > 0)
        bad |= json_object_set(o, "oc", oc);
    bad |= set_text(o, "why", r->why);
    bad |= set_uint(o, "tdns", in->dns_ns);
    bad |= set_uint(o, "tcon", in->connect_ns);
    bad |= set_uint(o, "ttls", in->tls_ns);
    bad |= set_uint(o, "tfb", in->ttfb_ns);
    bad |= set_uint(o, "ttot", in->total_ns);
    bad |= set_uint(o, "hs", in->http_status);
    bad |= set_uint(o, "hb", in->http_bytes);
    bad |= set_text(o, "hv", in->header_value);
    bad |= set_text(o, "tv", in->tls_version);
    bad |= set_text(o, "tc", in->tls_cipher);
    if (in->cert_not_after != 0)
        bad |= json_object_set_new(o, "ce", json_integer(in->cert_not_after));
    bad |= set_uint(o, "vr", in->verify_result);
    bad |= set_uint(o, "rc", in->dns_rcode);
    /* An answer count of 0 means something once an answer came. */
    if (in->dns_rcode != 0)
        bad |= json_object_set_new(o, "an", json_integer(in->dns_answers));
    if (bad)
        goto done;
    rc = 0;
    if (json_object_size(o) == 0)
        goto done;
    *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    if (*out == NULL)
        rc = -ENOMEM;
done:
    json_decref(oc);
    json_decref(o);
    return rc;
}

/* A new entry at the end of st->stored, its row pointing at its names. */
static struct stored_window *new_stored(struct ctl_store *st, const char *probe_id,
                                        const char *target_id)
{
    struct stored_window *w;

    if (st->nstored == st->stored_cap) {
        size_t cap = st->stored_cap ? st->stored_cap * 2 : 256;
        struct stored_window *v = realloc(st->stored, cap * sizeof(*v));

        if (v == NULL)
            return NULL;
        st->stored = v;
        st->stored_cap = cap;
        /* The rows point into the entries, which have moved. */
        for (size_t i = 0; i < st->nstored; i++) {
            v[i].row.probe_id = v[i].probe_id;
            v[i].row.target_id = v[i].target_id;
        }
    }
    w = &st->stored[st->nstored++];
    snprintf(w->probe_id, sizeof(w->probe_id), "%s", probe_id);
    snprintf(w->target_id, sizeof(w->target_id), "%s", target_id);
    return w;
}

/* Keeps what r's row needs for the rollups; takes sketch and extra. */
static int keep_stored(struct ctl_store *st, const char *probe_id,
                       const struct proto_result *r, uint8_t *sketch, size_t len,
                       char *extra)
{
    struct stored_window *w = new_stored(st, probe_id, r->target_id);

    if (w == NULL)
        return -ENOMEM;
    w->sketch = sketch;
    w->extra = extra;
    w->row = (struct ctl_window_row){
        .probe_id = w->probe_id,
        .target_id = w->target_id,
        .method = r->method,
        .seq = r->seq,
        .window_start_ms = r->window_start_ms,
        .window_s = r->window_s,
        .sent = r->sent,
        .received = r->received,
        .lost = r->lost,
        .duplicates = r->duplicates,
        .reordered = r->reordered,
        .rtt_min_ns = r->rtt_min_ns,
        .rtt_max_ns = r->rtt_max_ns,
        .ipdv_sum_ns = r->ipdv_sum_ns,
        .ipdv_count = r->ipdv_count,
        .ttl = r->ttl,
        .sketch = sketch,
        .sketch_len = len,
        .extra = extra,
    };
    return 0;
}

static void drop_stored(struct ctl_store *st)
{
    for (size_t i = 0; i < st->nstored; i++) {
        free(st->stored[i].sketch);
        free(st->stored[i].extra);
    }
    st->nstored = 0;
}

/*
 * Hands the windows this transaction stored to the rollups' deltas; those
 * at or below rolled_seq go into the rollups at once.  When the probe's
 * deltas were written, its rolled_seq moves in the same transaction.
 */
static int roll_up_stored(struct ctl_store *st, const char *probe_id, uint64_t rolled_seq,
                          int64_t now_ms)
{
    const struct ctl_window_row **rows = NULL;
    uint64_t rolled = 0;
    int rc;

    if (st->nstored == 0)
        return 0;
    rows = realloc(st->stored_rows, st->stored_cap * sizeof(*rows));
    if (rows == NULL)
        return -ENOMEM;
    st->stored_rows = rows;
    for (size_t i = 0; i < st->nstored; i++)
        rows[i] = &st->stored[i].row;
    rc = ctl_deltas_stage(st->deltas, probe_id, rows, st->nstored, rolled_seq, now_ms,
                          &rolled);
    if (rc == 0 && rolled > 0 &&
        ctl_delivery_rolled(st->db, probe_id, (int64_t)rolled) < 0)
        rc = -EIO;
    if (rc == -ENOMEM)
        snprintf(st->err, sizeof(st->err), "store rollups: out of memory");
    return rc == -EIO ? ctl_store_fail(st, "store rollups") : rc;
}

/* Ends the open transaction: COMMIT when rc >= 0, else ROLLBACK; the deltas
 * follow.  rc, or -EIO when the commit failed. */
static int end_transaction(struct ctl_store *st, int rc, int64_t now_ms)
{
    if (rc >= 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = ctl_store_fail(st, "commit");
    if (rc < 0)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    ctl_deltas_end(st->deltas, rc >= 0, now_ms);
    drop_stored(st);
    return rc;
}

int ctl_store_flush(struct ctl_store *st, int64_t now_ms, int all)
{
    const char *id;
    uint64_t rolled;
    size_t from = 0;
    int rc = 0, found = 1;

    while (found > 0 && rc == 0) {
        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            return ctl_store_fail(st, "begin");
        found = rc = ctl_deltas_stage_flush(st->deltas, now_ms, all, &from, &id, &rolled);
        if (found > 0)
            rc = ctl_delivery_rolled(st->db, id, (int64_t)rolled);
        if (rc < 0)
            ctl_store_fail(st, "write the rollups");
        rc = end_transaction(st, rc, now_ms);
        from++;
    }
    return rc < 0 ? rc : 0;
}

#define RECOVER_CHUNK 4096 /* windows read back a rollup step */

/* A stored window read back for the rollups (recover_rollups). */
static int keep_row(void *arg, const struct ctl_window_row *r)
{
    struct ctl_store *st = arg;
    struct stored_window *w = new_stored(st, r->probe_id, r->target_id);
    int rc;

    if (w == NULL)
        return -ENOMEM;
    w->sketch = malloc(r->sketch_len + 1);
    w->extra = r->extra != NULL ? strdup(r->extra) : NULL;
    if (w->sketch == NULL || (r->extra != NULL && w->extra == NULL)) {
        free(w->sketch);
        free(w->extra);
        st->nstored--;
        return -ENOMEM;
    }
    memcpy(w->sketch, r->sketch, r->sketch_len);
    w->row = *r;
    w->row.probe_id = w->probe_id;
    w->row.target_id = w->target_id;
    w->row.sketch = w->sketch;
    w->row.extra = w->extra;
    if (st->nstored < RECOVER_CHUNK)
        return 0;
    /* Every record is at or below "rolled": all go into the rollups now. */
    rc = roll_up_stored(st, r->probe_id, UINT64_MAX, 0);
    ctl_deltas_unstage(st->deltas); /* all written: nothing kept for memory */
    drop_stored(st);
    return rc;
}

/* Folds the probe's records above rolled into the rollups, in one
 * transaction with its new rolled_seq. */
static int recover_probe(struct ctl_store *st, const char *probe_id, int64_t rolled)
{
    int64_t top = 0;
    int rc;

    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return ctl_store_fail(st, "begin");
    rc = ctl_store_probe_windows(st, probe_id, rolled, keep_row, st);
    if (rc == 0)
        rc = roll_up_stored(st, probe_id, UINT64_MAX, 0);
    if (rc == 0)
        rc = ctl_store_max_seq(st, probe_id, &top);
    if (rc == 0 && ctl_delivery_rolled(st->db, probe_id, top) < 0)
        rc = ctl_store_fail(st, "rolled_seq");
    return end_transaction(st, rc, 0);
}

/*
 * The records above a probe's rolled_seq are in no rollup: their deltas
 * were in the memory of a controller that did not stop cleanly, or the
 * database is from before the rollups.  Folded again at opening.
 */
static int recover_rollups(struct ctl_store *st)
{
    struct todo {
        char id[PROTO_ID_MAX + 1];
        int64_t rolled;
    } *v = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s;
    int rc = 0;

    if (sqlite3_prepare_v2(st->db,
                           "SELECT probe_id, rolled_seq FROM delivery d WHERE EXISTS"
                           " (SELECT 1 FROM results r WHERE r.probe_id = d.probe_id"
                           " AND r.seq > d.rolled_seq)",
                           -1, &s, NULL) != SQLITE_OK)
        return ctl_store_fail(st, "rollups to recover");
    while (rc == 0 && sqlite3_step(s) == SQLITE_ROW) {
        struct todo *t = v;

        if (n == cap && (t = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v))) == NULL)
            rc = -ENOMEM;
        else {
            v = t;
            snprintf(v[n].id, sizeof(v[n].id), "%s", sqlite3_column_text(s, 0));
            v[n++].rolled = sqlite3_column_int64(s, 1);
        }
    }
    sqlite3_finalize(s);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = recover_probe(st, v[i].id, v[i].rolled);
    free(v);
    return rc;
}

static int insert_one(struct ctl_store *st, const char *probe_id,
                      const struct proto_result *r, int64_t now_ms)
{
    sqlite3_stmt *s = st->insert_result;
    uint8_t *sk;
    size_t sklen;
    char *extra;
    int rc = ctl_store_extra_json(r, &extra);
    int i = 1;

    if (rc < 0)
        return rc;
    rc = proto_sketch_to_bytes(&r->sketch, &sk, &sklen);
    if (rc < 0) {
        free(extra);
        return rc;
    }
    sqlite3_bind_text(s, i++, probe_id, -1, SQLITE_STATIC);
    /* SQLite integers are signed 64-bit; sequence numbers fit below 2^63. */
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r->seq);
    sqlite3_bind_int64(s, i++, r->task_id);
    sqlite3_bind_int(s, i++, r->method);
    sqlite3_bind_text(s, i++, r->target_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, i++, r->window_start_ms);
    sqlite3_bind_int64(s, i++, r->window_s);
    sqlite3_bind_int64(s, i++, r->sent);
    sqlite3_bind_int64(s, i++, r->received);
    sqlite3_bind_int64(s, i++, r->lost);
    sqlite3_bind_int64(s, i++, r->duplicates);
    sqlite3_bind_int64(s, i++, r->reordered);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r->rtt_min_ns);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r->rtt_max_ns);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)r->ipdv_sum_ns);
    sqlite3_bind_int64(s, i++, r->ipdv_count);
    sqlite3_bind_blob(s, i++, sk, (int)sklen, SQLITE_STATIC);
    sqlite3_bind_int64(s, i++, now_ms);
    sqlite3_bind_int(s, i++, r->ttl);
    if (extra != NULL)
        sqlite3_bind_text(s, i++, extra, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i++);
    rc = sqlite3_step(s) == SQLITE_DONE ? 0 : ctl_store_fail(st, "store result");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = 1; /* there already: the key de-duplicates */
    sqlite3_reset(s);
    if (rc == 0 && keep_stored(st, probe_id, r, sk, sklen, extra) == 0)
        return 0;
    free(sk);
    free(extra);
    return rc == 0 ? -ENOMEM : rc;
}

/* Stores the records of rs but those refused, counting what was there and
 * what is missing. */
static int insert_all(struct ctl_store *st, const char *probe_id,
                      const struct proto_results *rs, const uint8_t *refused,
                      int64_t now_ms, struct ctl_ingest *in)
{
    uint64_t refused_seq = 0;
    uint32_t stored = 0;
    /* A probe that does not send its health (older than the spool) may
     * number from its clock at each start: no hole can be told there. */
    uint64_t prev, expired, rolled, seq0 = rs->has_health ? rs->health.seq0 : 0;
    int rc = 0;

    if (ctl_delivery_max_seq(st->db, probe_id, &prev, &expired, &rolled) < 0)
        return ctl_store_fail(st, "highest sequence number");
    for (uint32_t i = 0; i < rs->nresults && rc >= 0; i++) {
        uint64_t seq = rs->results[i].seq;

        if (seq > INT64_MAX) {
            snprintf(st->err, sizeof(st->err), "sequence number beyond 2^63");
            return -ERANGE;
        }
        /* A refused record is not stored, but its number is used: no hole. */
        if (refused != NULL && refused[i]) {
            in->refused++;
            refused_seq = seq;
            rc = 2;
        } else if (seq <= expired) {
            rc = 1; /* stored once and since deleted: a resend (retention.c) */
        } else {
            rc = insert_one(st, probe_id, &rs->results[i], now_ms);
        }
        if (rc == 0)
            stored++;
        if (rc == 1)
            in->duplicates++;
        else if (rc == 0 && seq > prev && rs->has_health &&
                 ctl_delivery_gap(st->db, probe_id, prev, seq, seq0, now_ms,
                                  &in->missing) < 0)
            rc = ctl_store_fail(st, "store gap");
        if (rc >= 0 && seq > prev)
            prev = seq;
        if (seq > in->acked)
            in->acked = seq;
    }
    if (rc >= 0)
        rc = roll_up_stored(st, probe_id, rolled, now_ms);
    if (rc >= 0 &&
        ctl_delivery_note(st->db, probe_id, rs, in->duplicates, stored, now_ms) < 0)
        rc = ctl_store_fail(st, "store delivery");
    if (rc >= 0 && in->refused > 0 &&
        ctl_delivery_refused(st->db, probe_id, in->refused, refused_seq) < 0)
        rc = ctl_store_fail(st, "store refusals");
    /* In the same commit: one fsync a batch, not two. */
    if (rc >= 0 && ctl_store_probe_touch(st, probe_id, now_ms) < 0)
        rc = -EIO;
    return rc < 0 ? rc : 0;
}

int ctl_store_results(struct ctl_store *st, const char *probe_id,
                      const struct proto_results *rs, int64_t now_ms,
                      struct ctl_ingest *in)
{
    return ctl_store_results_checked(st, probe_id, rs, NULL, now_ms, in);
}

int ctl_store_results_checked(struct ctl_store *st, const char *probe_id,
                              const struct proto_results *rs, const uint8_t *refused,
                              int64_t now_ms, struct ctl_ingest *in)
{
    int rc;

    memset(in, 0, sizeof(*in));
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return ctl_store_fail(st, "begin");
    rc = insert_all(st, probe_id, rs, refused, now_ms, in);
    return end_transaction(st, rc, now_ms);
}

int ctl_store_probe_id(struct ctl_store *st, int64_t key, char *id)
{
    sqlite3_stmt *s;
    int rc = -ENOENT;

    if (sqlite3_prepare_v2(st->db, "SELECT id FROM probes WHERE key=?", -1, &s, NULL) !=
        SQLITE_OK)
        return ctl_store_fail(st, "probe by key");
    sqlite3_bind_int64(s, 1, key);
    if (sqlite3_step(s) == SQLITE_ROW) {
        snprintf(id, PROTO_ID_MAX + 1, "%s", (const char *)sqlite3_column_text(s, 0));
        rc = 0;
    }
    sqlite3_finalize(s);
    return rc;
}

/* A stored HELLO back into its structure; addresses that do not fit are
 * skipped (the store only ever held what a decoded HELLO had). */
static void row_to_hello(sqlite3_stmt *s, struct proto_hello *h)
{
    json_t *addrs = json_loads((const char *)sqlite3_column_text(s, 3), 0, NULL);
    size_t i;
    json_t *a;

    memset(h, 0, sizeof(*h));
    snprintf(h->probe_id, sizeof(h->probe_id), "%s", sqlite3_column_text(s, 1));
    snprintf(h->name, sizeof(h->name), "%s", sqlite3_column_text(s, 2));
    json_array_foreach(addrs, i, a)
    {
        if (h->naddrs < PROTO_ADDR_MAX && json_is_string(a) &&
            strlen(json_string_value(a)) < PROTO_ADDRSTR_MAX)
            strcpy(h->addrs[h->naddrs++], json_string_value(a));
    }
    json_decref(addrs);
    h->stamp_port = (uint16_t)sqlite3_column_int(s, 4);
    h->has_location = sqlite3_column_type(s, 5) != SQLITE_NULL;
    h->lat = sqlite3_column_double(s, 5);
    h->lon = sqlite3_column_double(s, 6);
    snprintf(h->sw_version, sizeof(h->sw_version), "%s", sqlite3_column_text(s, 7));
    h->caps = (uint32_t)sqlite3_column_int64(s, 8);
}

int ctl_store_recent_probes(struct ctl_store *st, int64_t since_ms,
                            void (*fn)(void *arg, const struct proto_hello *h,
                                       int64_t key),
                            void *arg)
{
    sqlite3_stmt *s;
    struct proto_hello h;
    int rc;

    if (sqlite3_prepare_v2(
            st->db,
            "SELECT key, id, name, addresses, stamp_port, lat, lon, sw_version,"
            " caps FROM probes WHERE last_seen_ms >= ? ORDER BY id",
            -1, &s, NULL) != SQLITE_OK)
        return ctl_store_fail(st, "recent probes");
    sqlite3_bind_int64(s, 1, since_ms);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row_to_hello(s, &h);
        fn(arg, &h, sqlite3_column_int64(s, 0));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : ctl_store_fail(st, "recent probes");
}

int ctl_store_delivery(struct ctl_store *st, const char *probe_id,
                       struct ctl_delivery_row *r)
{
    int rc = ctl_delivery_read(st->db, probe_id, r);

    if (rc == -EIO)
        ctl_store_fail(st, "read delivery");
    return rc;
}

int ctl_store_expire(struct ctl_store *st, const struct ctl_retention *rt, int64_t now_ms,
                     uint32_t batch, struct ctl_expired *out)
{
    return ctl_retention_step(st->db, rt, now_ms, batch, out) < 0
               ? ctl_store_fail(st, "retention")
               : 0;
}

int ctl_store_size(struct ctl_store *st, struct ctl_store_size *sz)
{
    return ctl_retention_size(st->db, sz) < 0 ? ctl_store_fail(st, "database size") : 0;
}
