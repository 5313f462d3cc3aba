/*
 * spool_bench.c - the probe's spool as a durable queue, against SQLite as
 * one (the reference: WAL, synchronous=FULL, a table keyed by sequence
 * number), in the same process on the same disk.
 *
 * Both take the same encoded records, one sync (commit) per 100 of them, as
 * a window close makes; both then give them back oldest first in batches of
 * 256, decoded, and forget each batch (the ACK).  Prints records per second
 * of each phase and the spool's ratio to SQLite.
 *
 * usage: spool_bench PARENT [RECORDS]   (default 100000); works in a new
 * directory under PARENT and removes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "probe.h"

#define PER_SYNC 100
#define BATCH    256

struct rec {
    uint8_t *payload;
    size_t len;
};

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "spool_bench: %s\n", what);
    exit(1);
}

/* Record i as a one-record RESULTS payload, as the probe spools it. */
static struct rec make_rec(uint64_t seq)
{
    struct proto_result r = {.schema = PROTO_SCHEMA,
                             .seq = seq,
                             .task_id = 7,
                             .method = PROTO_METHOD_STAMP,
                             .target_id = "p2",
                             .window_start_ms = 1764000000000LL + (int64_t)seq,
                             .window_s = 10,
                             .sent = 10,
                             .received = 10,
                             .rtt_min_ns = 1000,
                             .rtt_max_ns = 3000};
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};
    struct rec out;
    uint8_t *frame;
    size_t len;

    proto_sketch_init(&r.sketch);
    for (int k = 0; k < 10; k++)
        proto_sketch_add(&r.sketch, 1000.0 + k * 200 + (double)(seq % 97));
    m.u.results.nresults = 1;
    m.u.results.results = &r;
    if (proto_msg_encode(&m, &frame, &len) < 0)
        die("encode");
    proto_sketch_free(&r.sketch);
    out.len = len - PROTO_FRAME_HDR;
    out.payload = malloc(out.len);
    if (out.payload == NULL)
        die("out of memory");
    memcpy(out.payload, frame + PROTO_FRAME_HDR, out.len);
    free(frame);
    return out;
}

static void decode_one(const uint8_t *p, size_t len)
{
    struct proto_msg m;

    if (proto_msg_decode(p, len, &m) < 0)
        die("decode");
    proto_msg_free(&m);
}

/* ---- the spool ------------------------------------------------------------ */

static void spool_write(const char *dir, const struct rec *recs, uint64_t n,
                        struct probe_delivery *d)
{
    uint64_t seq;

    if (probe_delivery_open(d, dir, 1ull << 30, 1, &seq) < 0)
        die("spool open");
    for (uint64_t i = 0; i < n; i++) {
        if (probe_spool_append(&d->spool, seq + i, recs[i].payload, recs[i].len) < 0)
            die("spool append");
        if ((i + 1) % PER_SYNC == 0 && probe_delivery_commit(d, 0) < 0)
            die("spool sync");
    }
    if (probe_delivery_commit(d, 0) < 0)
        die("spool sync");
}

static uint64_t spool_drain(struct probe_delivery *d)
{
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};
    uint64_t got = 0;
    int k;

    while ((k = probe_delivery_next(d, &m.u.results, BATCH, 1764000000000LL)) > 0) {
        probe_delivery_sent(d, &m.u.results, (uint32_t)k);
        probe_delivery_ack(d, m.u.results.results[k - 1].seq);
        got += (uint64_t)k;
        proto_msg_free(&m);
    }
    return got;
}

/* ---- SQLite --------------------------------------------------------------- */

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die(sqlite3_errmsg(db));
}

static sqlite3 *sqlite_write(const char *path, const struct rec *recs, uint64_t n)
{
    sqlite3 *db;
    sqlite3_stmt *ins;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("sqlite open");
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
             "CREATE TABLE q (seq INTEGER PRIMARY KEY, rec BLOB NOT NULL)");
    if (sqlite3_prepare_v2(db, "INSERT INTO q VALUES (?, ?)", -1, &ins, NULL) !=
        SQLITE_OK)
        die(sqlite3_errmsg(db));
    exec(db, "BEGIN");
    for (uint64_t i = 0; i < n; i++) {
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)(i + 1));
        sqlite3_bind_blob(ins, 2, recs[i].payload, (int)recs[i].len, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            die(sqlite3_errmsg(db));
        sqlite3_reset(ins);
        if ((i + 1) % PER_SYNC == 0)
            exec(db, "COMMIT; BEGIN");
    }
    exec(db, "COMMIT");
    sqlite3_finalize(ins);
    return db;
}

static uint64_t sqlite_drain(sqlite3 *db)
{
    sqlite3_stmt *sel, *del;
    sqlite3_int64 after = 0, last;
    uint64_t got = 0, n;

    if (sqlite3_prepare_v2(db,
                           "SELECT seq, rec FROM q WHERE seq > ? ORDER BY seq LIMIT ?",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM q WHERE seq <= ?", -1, &del, NULL) !=
            SQLITE_OK)
        die(sqlite3_errmsg(db));
    do {
        n = 0;
        sqlite3_bind_int64(sel, 1, after);
        sqlite3_bind_int(sel, 2, BATCH);
        while (sqlite3_step(sel) == SQLITE_ROW) {
            last = sqlite3_column_int64(sel, 0);
            decode_one(sqlite3_column_blob(sel, 1), (size_t)sqlite3_column_bytes(sel, 1));
            n++;
        }
        sqlite3_reset(sel);
        if (n > 0) {
            sqlite3_bind_int64(del, 1, last);
            if (sqlite3_step(del) != SQLITE_DONE)
                die(sqlite3_errmsg(db));
            sqlite3_reset(del);
            after = last;
            got += n;
        }
    } while (n > 0);
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    return got;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
    char work[900], spool_dir[1024], db_path[1024], rm[1024];
    struct probe_delivery d;
    struct rec *recs;
    sqlite3 *db;
    double t0, sw, sd, qw, qd;

    if (argc < 2 || n == 0) {
        fprintf(stderr, "usage: spool_bench PARENT [RECORDS]\n");
        return 2;
    }
    snprintf(work, sizeof(work), "%s/ixmesh-spool-bench.XXXXXX", argv[1]);
    if (mkdtemp(work) == NULL)
        die(strerror(errno));
    snprintf(spool_dir, sizeof(spool_dir), "%s/spool", work);
    snprintf(db_path, sizeof(db_path), "%s/queue.db", work);
    if ((recs = calloc(n, sizeof(*recs))) == NULL)
        die("out of memory");
    for (uint64_t i = 0; i < n; i++)
        recs[i] = make_rec(i + 1);

    t0 = now_s();
    spool_write(spool_dir, recs, n, &d);
    sw = now_s() - t0;
    t0 = now_s();
    if (spool_drain(&d) != n)
        die("the spool did not give back every record");
    sd = now_s() - t0;
    probe_delivery_close(&d);

    t0 = now_s();
    db = sqlite_write(db_path, recs, n);
    qw = now_s() - t0;
    t0 = now_s();
    if (sqlite_drain(db) != n)
        die("sqlite did not give back every record");
    qd = now_s() - t0;
    sqlite3_close(db);

    printf("%-8s %14s %14s\n", "", "write+sync/s", "read+ack/s");
    printf("%-8s %14.0f %14.0f\n", "spool", n / sw, n / sd);
    printf("%-8s %14.0f %14.0f\n", "sqlite", n / qw, n / qd);
    printf(
        "spool_bench: records=%llu write_rps=%.0f drain_rps=%.0f sqlite_write_rps=%.0f "
        "sqlite_drain_rps=%.0f write_ratio=%.2f drain_ratio=%.2f\n",
        (unsigned long long)n, n / sw, n / sd, n / qw, n / qd, qw / sw, qd / sd);
    for (uint64_t i = 0; i < n; i++)
        free(recs[i].payload);
    free(recs);
    snprintf(rm, sizeof(rm), "rm -rf '%s'", work);
    return system(rm) == 0 ? 0 : 1;
}
