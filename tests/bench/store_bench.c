/*
 * store_bench.c - what storing a mesh's windows costs the controller's
 * store (raw windows, delivery bookkeeping and the three rollup levels,
 * one transaction a batch, synchronous=FULL), against bare SQLite storing
 * the same records into one table of the same columns and key (the
 * reference: no rollups, nothing else), in the same process on the same
 * disk.
 *
 * A full mesh of PROBES probes, each measuring the others with 10-s windows
 * of 10 RTTs (a per-pair base with jitter, as STAMP at one packet a second
 * gives), for MINUTES minutes of simulated time: every window, each probe
 * sends its PROBES-1 records as one batch (split at 256), as a probe whose
 * spool keeps up does.  Prints the time and CPU per record of each, their
 * ratio, and the octets each level takes per row (SQLite's dbstat).
 *
 * usage: store_bench DIR [PROBES [MINUTES]]   (default 30 probes, 30 min);
 * works in a new directory under DIR and removes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mesh_gen.h"
#include "store.h"

#define BATCH_MAX 256
#define BASE_MS   1764000000000LL

struct clock_pair {
    double wall, cpu;
};

static struct clock_pair now(void)
{
    struct timespec w, c;

    clock_gettime(CLOCK_MONOTONIC, &w);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    return (struct clock_pair){(double)w.tv_sec + (double)w.tv_nsec / 1e9,
                               (double)c.tv_sec + (double)c.tv_nsec / 1e9};
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "store_bench: %s: %s\n", what, why);
    exit(1);
}

/* The reference: one table with the results' columns and key. */
struct bare {
    sqlite3 *db;
    sqlite3_stmt *ins;
};

static void bare_open(struct bare *b, const char *path)
{
    if (sqlite3_open(path, &b->db) != SQLITE_OK ||
        sqlite3_exec(b->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE results (probe_id TEXT NOT NULL, seq INTEGER NOT NULL,"
                     " task_id INTEGER NOT NULL, method INTEGER NOT NULL,"
                     " target_id TEXT NOT NULL, window_start_ms INTEGER NOT NULL,"
                     " window_s INTEGER NOT NULL, sent INTEGER NOT NULL,"
                     " received INTEGER NOT NULL, lost INTEGER NOT NULL,"
                     " rtt_min_ns INTEGER NOT NULL, rtt_max_ns INTEGER NOT NULL,"
                     " ipdv_sum_ns INTEGER NOT NULL, ipdv_count INTEGER NOT NULL,"
                     " sketch BLOB NOT NULL, PRIMARY KEY (probe_id, seq)) WITHOUT ROWID;"
                     "CREATE INDEX by_window ON results (window_start_ms)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b->db,
                           "INSERT OR IGNORE INTO results VALUES"
                           " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &b->ins, NULL) != SQLITE_OK)
        die(path, sqlite3_errmsg(b->db));
}

static void bare_store(struct bare *b, const char *probe, const struct proto_results *rs)
{
    sqlite3_stmt *s = b->ins;

    sqlite3_exec(b->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (uint32_t i = 0; i < rs->nresults; i++) {
        const struct proto_result *r = &rs->results[i];
        uint8_t *sk;
        size_t len;
        int k = 1;

        if (proto_sketch_to_bytes(&r->sketch, &sk, &len) < 0)
            die("sketch", "out of memory");
        sqlite3_bind_text(s, k++, probe, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, k++, (sqlite3_int64)r->seq);
        sqlite3_bind_int64(s, k++, r->task_id);
        sqlite3_bind_int(s, k++, r->method);
        sqlite3_bind_text(s, k++, r->target_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, k++, r->window_start_ms);
        sqlite3_bind_int64(s, k++, r->window_s);
        sqlite3_bind_int64(s, k++, r->sent);
        sqlite3_bind_int64(s, k++, r->received);
        sqlite3_bind_int64(s, k++, r->lost);
        sqlite3_bind_int64(s, k++, (sqlite3_int64)r->rtt_min_ns);
        sqlite3_bind_int64(s, k++, (sqlite3_int64)r->rtt_max_ns);
        sqlite3_bind_int64(s, k++, (sqlite3_int64)r->ipdv_sum_ns);
        sqlite3_bind_int64(s, k++, r->ipdv_count);
        sqlite3_bind_blob(s, k++, sk, (int)len, SQLITE_TRANSIENT);
        if (sqlite3_step(s) != SQLITE_DONE)
            die("bare insert", sqlite3_errmsg(b->db));
        sqlite3_reset(s);
        free(sk);
    }
    if (sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        die("bare commit", sqlite3_errmsg(b->db));
}

struct run {
    int probes, windows;
    struct ctl_store *st; /* one of these two */
    struct bare *bare;
    uint64_t records;
    double wall, cpu;
};

/* Every window, every probe's batch, stored by the store or the reference. */
static void run_mesh(struct run *run)
{
    struct proto_result *r = calloc(BATCH_MAX, sizeof(*r));
    uint64_t *seq = calloc((size_t)run->probes, sizeof(*seq));
    struct clock_pair t0 = now(), t1;
    uint32_t seed = 42;
    char probe[32];

    if (r == NULL || seq == NULL)
        die("memory", strerror(ENOMEM));
    for (int64_t w = 0; w < run->windows; w++) {
        for (int p = 0; p < run->probes; p++) {
            snprintf(probe, sizeof(probe), "probe-%04d", p);
            for (int t = 0; t < run->probes;) {
                struct proto_results rs = {.results = r};
                struct ctl_ingest in;

                for (; t < run->probes && rs.nresults < BATCH_MAX; t++)
                    if (t != p)
                        mesh_gen_record(&r[rs.nresults++], p, t,
                                        BASE_MS + w * MESH_WINDOW_S * 1000, ++seq[p],
                                        &seed);
                if (run->st != NULL &&
                    ctl_store_results(run->st, probe, &rs, BASE_MS + w * 10000, &in) < 0)
                    die("store", ctl_store_error(run->st));
                if (run->bare != NULL)
                    bare_store(run->bare, probe, &rs);
                run->records += rs.nresults;
                for (uint32_t i = 0; i < rs.nresults; i++)
                    proto_sketch_free(&r[i].sketch);
            }
        }
    }
    t1 = now();
    run->wall = t1.wall - t0.wall;
    run->cpu = t1.cpu - t0.cpu;
    free(r);
    free(seq);
}

/* Octets of a table with its indexes, and its rows. */
static void table_size(sqlite3 *db, const char *table, double *octets, double *rows)
{
    char sql[256];
    sqlite3_stmt *s;

    *octets = *rows = 0;
    snprintf(sql, sizeof(sql), "SELECT 1 FROM sqlite_master WHERE name = '%s'", table);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        die("sqlite_master", sqlite3_errmsg(db));
    if (sqlite3_step(s) != SQLITE_ROW) /* a store from before the rollups */
        table = NULL;
    sqlite3_finalize(s);
    if (table == NULL)
        return;
    snprintf(
        sql, sizeof(sql),
        "SELECT (SELECT sum(pgsize) FROM dbstat WHERE name = '%s' OR name IN"
        " (SELECT name FROM sqlite_master WHERE tbl_name = '%s' AND type = 'index')),"
        " (SELECT count(*) FROM %s)",
        table, table, table);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        die("dbstat", sqlite3_errmsg(db));
    if (sqlite3_step(s) == SQLITE_ROW) {
        *octets = sqlite3_column_double(s, 0);
        *rows = sqlite3_column_double(s, 1);
    }
    sqlite3_finalize(s);
}

static void report(const struct run *ix, const struct run *bare, sqlite3 *db)
{
    static const char *const tables[] = {"results", "rollup_60", "rollup_3600",
                                         "rollup_86400"};
    double octets[4], rows[4];

    printf("%-28s %10s %12s %12s %14s\n", "", "records", "records/s", "us/record",
           "CPU us/record");
    printf("%-28s %10llu %12.0f %12.2f %14.2f\n", "ixmesh store (with rollups)",
           (unsigned long long)ix->records, ix->records / ix->wall,
           ix->wall * 1e6 / ix->records, ix->cpu * 1e6 / ix->records);
    printf("%-28s %10llu %12.0f %12.2f %14.2f\n", "bare SQLite (reference)",
           (unsigned long long)bare->records, bare->records / bare->wall,
           bare->wall * 1e6 / bare->records, bare->cpu * 1e6 / bare->records);
    printf("ratio ixmesh/bare: time %.2f, CPU %.2f\n", ix->wall / bare->wall,
           ix->cpu / bare->cpu);
    for (int i = 0; i < 4; i++) {
        table_size(db, tables[i], &octets[i], &rows[i]);
        printf("%-14s %10.0f rows %8.1f octets/row %8.1f octets per raw record\n",
               tables[i], rows[i], rows[i] ? octets[i] / rows[i] : 0,
               octets[i] / (double)ix->records);
    }
    printf("probes=%d records=%llu store_rps=%.0f bare_rps=%.0f store_cpu_us=%.2f "
           "bare_cpu_us=%.2f ratio_time=%.2f raw_octets=%.1f minute_octets=%.1f "
           "hour_octets=%.1f day_octets=%.1f\n",
           ix->probes, (unsigned long long)ix->records, ix->records / ix->wall,
           bare->records / bare->wall, ix->cpu * 1e6 / ix->records,
           bare->cpu * 1e6 / bare->records, ix->wall / bare->wall, octets[0] / rows[0],
           rows[1] ? octets[1] / rows[1] : 0, rows[2] ? octets[2] / rows[2] : 0,
           rows[3] ? octets[3] / rows[3] : 0);
}

int main(int argc, char **argv)
{
    char dir[4096], a[4200], b[4200], err[256];
    struct run ix = {0}, ref = {0};
    struct bare bare;

    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: store_bench DIR [PROBES [MINUTES]]\n");
        return 2;
    }
    ix.probes = argc > 2 ? atoi(argv[2]) : 30;
    ix.windows = (argc > 3 ? atoi(argv[3]) : 30) * 60 / MESH_WINDOW_S;
    if (ix.probes < 2 || ix.probes > 2000 || ix.windows < 1)
        die("usage", "PROBES from 2 to 2000, MINUTES at least 1");
    snprintf(dir, sizeof(dir), "%s/ixmesh-store-bench-XXXXXX", argv[1]);
    if (mkdtemp(dir) == NULL)
        die(dir, strerror(errno));
    snprintf(a, sizeof(a), "%s/store.db", dir);
    snprintf(b, sizeof(b), "%s/bare.db", dir);
    if (ctl_store_open(a, &ix.st, err, sizeof(err)) < 0)
        die(a, err);
    bare_open(&bare, b);
    ref = (struct run){.probes = ix.probes, .windows = ix.windows, .bare = &bare};
    printf("%d probes, %d windows of %d s: %d records a window\n", ix.probes, ix.windows,
           MESH_WINDOW_S, ix.probes * (ix.probes - 1));
    run_mesh(&ref);
    run_mesh(&ix);
    report(&ix, &ref, ctl_store_db(ix.st));
    ctl_store_close(ix.st);
    sqlite3_finalize(bare.ins);
    sqlite3_close(bare.db);
    for (const char *const *s = (const char *const[]){"", "-wal", "-shm", NULL}; *s;
         s++) {
        snprintf(err, sizeof(err), "%.200s%s", a, *s);
        unlink(err);
        snprintf(err, sizeof(err), "%.200s%s", b, *s);
        unlink(err);
    }
    rmdir(dir);
    return 0;
}
