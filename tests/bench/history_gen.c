/*
 * history_gen.c - a controller database with history, for the history
 * benchmark and the tests that need a large one: a full mesh of PROBES
 * probes (mesh_gen.c), its raw windows of the last RAW minutes written
 * through the store (so with their rollups), and before them rollup rows
 * of each level written directly, one a bucket and pair (the same sketch
 * for all: what is measured is reading them, not their values).
 *
 * usage: history_gen DB PROBES RAW_MINUTES [MINUTE_DAYS HOUR_DAYS DAY_DAYS]
 * The raw windows end now; the coarse rows end where they begin.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "mesh_gen.h"
#include "store.h"

static void die(const char *what, const char *why)
{
    fprintf(stderr, "history_gen: %s: %s\n", what, why);
    exit(1);
}

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Each probe's HELLO, as /api/v1/probes lists them. */
static void write_probes(struct ctl_store *st, int probes, int64_t now)
{
    struct proto_hello h;
    int64_t key;

    for (int p = 0; p < probes; p++) {
        memset(&h, 0, sizeof(h));
        h.version_min = h.version_max = PROTO_VERSION;
        h.caps = PROTO_CAP_STAMP;
        snprintf(h.probe_id, sizeof(h.probe_id), "probe-%04d", p);
        snprintf(h.name, sizeof(h.name), "Probe %d", p);
        snprintf(h.addrs[0], sizeof(h.addrs[0]), "10.%d.%d.1", p / 250, p % 250);
        h.naddrs = 1;
        h.stamp_port = 862;
        snprintf(h.sw_version, sizeof(h.sw_version), "history_gen");
        if (ctl_store_probe_seen(st, &h, now, &key) < 0)
            die("store a probe", ctl_store_error(st));
    }
}

/* The raw windows of [from_ms, from_ms + minutes): one batch a probe a window. */
static uint64_t write_raw(struct ctl_store *st, int probes, int64_t from_ms, int minutes)
{
    struct proto_result *r = calloc((size_t)probes, sizeof(*r));
    uint64_t *seq = calloc((size_t)probes, sizeof(*seq)), n = 0;
    uint32_t seed = 7;
    char id[32];

    if (r == NULL || seq == NULL)
        die("memory", strerror(ENOMEM));
    for (int64_t w = 0; w < (int64_t)minutes * 60 / MESH_WINDOW_S; w++) {
        for (int p = 0; p < probes; p++) {
            struct proto_results rs = {.results = r};
            struct ctl_ingest in;

            snprintf(id, sizeof(id), "probe-%04d", p);
            for (int t = 0; t < probes; t++)
                if (t != p)
                    mesh_gen_record(&r[rs.nresults++], p, t,
                                    from_ms + w * MESH_WINDOW_S * 1000, ++seq[p], &seed);
            if (ctl_store_results(st, id, &rs, from_ms + w * MESH_WINDOW_S * 1000, &in) <
                0)
                die("store", ctl_store_error(st));
            n += rs.nresults;
            for (uint32_t i = 0; i < rs.nresults; i++)
                proto_sketch_free(&r[i].sketch);
        }
    }
    free(r);
    free(seq);
    return n;
}

/* A sketch of a level's bucket: 60 RTTs around 1 ms. */
static void bucket_sketch(uint8_t **bytes, size_t *len)
{
    struct proto_sketch sk;
    uint32_t seed = 3;

    proto_sketch_init(&sk);
    for (int i = 0; i < 60; i++)
        proto_sketch_add(&sk, 1e6 + (double)(mesh_gen_rand(&seed) % 200000));
    if (proto_sketch_to_bytes(&sk, bytes, len) < 0)
        die("sketch", strerror(ENOMEM));
    proto_sketch_free(&sk);
}

/* Rows of level i for every pair, in the days before end_ms. */
static uint64_t write_level(sqlite3 *db, int i, int64_t end_ms, int days)
{
    int64_t len = (int64_t)ctl_rollup_levels[i] * 1000;
    int64_t first = end_ms - (int64_t)days * 86400000, b;
    uint64_t n = 0;
    sqlite3_stmt *s;
    uint8_t *sk;
    size_t sklen;
    char sql[512];

    first -= first % len;
    bucket_sketch(&sk, &sklen);
    snprintf(sql, sizeof(sql),
             "INSERT OR IGNORE INTO rollup_%u (bucket_ms, pair, windows, sent, received,"
             " lost, duplicates, reordered, rtt_min_ns, rtt_max_ns, ipdv_sum_ns,"
             " ipdv_count, ttl, last_ms, last_sent, last_lost, sketch, extra)"
             " SELECT ?1, key, ?2, ?2 * 10, ?2 * 10 - 1, 1, 0, 0, 1000000, 1200000,"
             " 5000000, ?2 * 9, 255, ?1, 10, 0, ?3, NULL FROM pairs",
             ctl_rollup_levels[i]);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        die("prepare", sqlite3_errmsg(db));
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (b = first; b < end_ms - end_ms % len; b += len) {
        sqlite3_bind_int64(s, 1, b);
        sqlite3_bind_int64(s, 2, len / (MESH_WINDOW_S * 1000));
        sqlite3_bind_blob(s, 3, sk, (int)sklen, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            die("insert", sqlite3_errmsg(db));
        n += (uint64_t)sqlite3_changes(db);
        sqlite3_reset(s);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_finalize(s);
    free(sk);
    return n;
}

int main(int argc, char **argv)
{
    struct ctl_store *st;
    char err[512];
    int probes, minutes, days[CTL_ROLLUP_LEVELS] = {0, 0, 0};
    int64_t now = now_ms(), from;
    uint64_t raw, rows[CTL_ROLLUP_LEVELS] = {0, 0, 0};

    if (argc != 4 && argc != 7) {
        fprintf(stderr, "usage: history_gen DB PROBES RAW_MINUTES [MINUTE_DAYS HOUR_DAYS "
                        "DAY_DAYS]\n");
        return 2;
    }
    probes = atoi(argv[2]);
    minutes = atoi(argv[3]);
    for (int i = 0; argc == 7 && i < CTL_ROLLUP_LEVELS; i++)
        days[i] = atoi(argv[4 + i]);
    if (probes < 2 || probes > 2000 || minutes < 1)
        die("usage", "PROBES from 2 to 2000, RAW_MINUTES at least 1");
    if (ctl_store_open(argv[1], &st, err, sizeof(err)) < 0)
        die(argv[1], err);
    from = now - (int64_t)minutes * 60000;
    from -= from % (MESH_WINDOW_S * 1000);
    write_probes(st, probes, now);
    raw = write_raw(st, probes, from, minutes);
    if (ctl_store_flush(st, now, 1) < 0)
        die("flush", ctl_store_error(st));
    for (int i = 0; i < CTL_ROLLUP_LEVELS; i++)
        if (days[i] > 0)
            rows[i] = write_level(ctl_store_db(st), i, from, days[i]);
    ctl_store_close(st);
    printf("history_gen: %d probes, %llu raw windows over %d min, %llu + %llu + %llu "
           "rollup rows before them\n",
           probes, (unsigned long long)raw, minutes, (unsigned long long)rows[0],
           (unsigned long long)rows[1], (unsigned long long)rows[2]);
    return 0;
}
