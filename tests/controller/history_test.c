/*
 * history_test.c - the store's time dimension on a real SQLite file: the
 * rollups of every level equal the raw records they cover, whatever
 * arrives late or twice, and retention deletes what is past each horizon
 * and nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "analysis.h"
#include "check_controller.h"

#define BASE_MS 1700000000000LL

/*
 * The rows of level_s that differ from the raw records grouped into its
 * buckets, both ways: counts, sums, minimum and maximum of the windows
 * that received anything, the newest window's start.
 */
static int64_t rollup_mismatches(struct ctl_store *st, uint32_t level_s)
{
    char sql[2048];
    int64_t len = (int64_t)level_s * 1000;

    snprintf(
        sql, sizeof(sql),
        "WITH raw AS (SELECT probe_id, target_id, method,"
        " window_start_ms - ((window_start_ms %% %lld) + %lld) %% %lld,"
        " count(*), sum(sent), sum(received), sum(lost), sum(duplicates),"
        " sum(reordered), sum(ipdv_sum_ns), sum(ipdv_count),"
        " coalesce(min(CASE WHEN received > 0 THEN rtt_min_ns END), 0),"
        " coalesce(max(CASE WHEN received > 0 THEN rtt_max_ns END), 0),"
        " max(window_start_ms) FROM results GROUP BY 1, 2, 3, 4),"
        " roll AS (SELECT p.probe_id, p.target_id, p.method, r.bucket_ms,"
        " r.windows, r.sent, r.received, r.lost, r.duplicates, r.reordered,"
        " r.ipdv_sum_ns, r.ipdv_count, r.rtt_min_ns, r.rtt_max_ns, r.last_ms"
        " FROM rollup_%u r JOIN pairs p ON p.key = r.pair)"
        " SELECT (SELECT count(*) FROM (SELECT * FROM raw EXCEPT SELECT * FROM roll))"
        " + (SELECT count(*) FROM (SELECT * FROM roll EXCEPT SELECT * FROM raw))",
        (long long)len, (long long)len, (long long)len, level_s);
    return test_query_int(st, sql);
}

/* Every level against the raw records, once the deltas are written. */
static void assert_rollups_match(struct ctl_store *st)
{
    ck_assert_int_eq(ctl_store_flush(st, 0, 1), 0);
    for (int i = 0; i < CTL_ROLLUP_LEVELS; i++)
        ck_assert_msg(rollup_mismatches(st, ctl_rollup_levels[i]) == 0,
                      "the %u-s rollups differ from the raw records",
                      ctl_rollup_levels[i]);
}

static uint32_t next_rand(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return *seed >> 8;
}

/* Record i of a probe: targets b, c and d in turn, a window every 10 s
 * from at_ms on, with random counts and RTTs. */
static void make_record(struct proto_result *r, uint64_t seq, int64_t at_ms,
                        uint32_t *seed)
{
    static const char *const targets[] = {"b", "c", "d"};
    uint32_t got = next_rand(seed) % 4 == 0 ? 0 : 1 + next_rand(seed) % 10;

    *r = (struct proto_result){.seq = seq,
                               .task_id = 1,
                               .method = PROTO_METHOD_STAMP,
                               .window_start_ms = at_ms,
                               .window_s = 10,
                               .sent = 10,
                               .received = got,
                               .lost = 10 - got,
                               .duplicates = next_rand(seed) % 2,
                               .reordered = next_rand(seed) % 2,
                               .ipdv_sum_ns = next_rand(seed) % 5000,
                               .ipdv_count = got ? got - 1 : 0,
                               .ttl = 255};
    snprintf(r->target_id, sizeof(r->target_id), "%s", targets[seq % 3]);
    proto_sketch_init(&r->sketch);
    for (uint32_t k = 0; k < got; k++) {
        uint64_t ns = 1000000 + next_rand(seed) % 5000000;

        proto_sketch_add(&r->sketch, (double)ns);
        if (k == 0 || ns < r->rtt_min_ns)
            r->rtt_min_ns = ns;
        if (ns > r->rtt_max_ns)
            r->rtt_max_ns = ns;
    }
}

/* Stores records first..first+n-1 of probe, window i at base_ms + step * i. */
static void store_spaced(struct ctl_store *st, const char *probe, uint64_t first,
                         uint32_t n, int64_t base_ms, int64_t step_ms, uint32_t *seed,
                         struct ctl_ingest *in)
{
    struct proto_result *r = calloc(n, sizeof(*r));
    struct proto_results rs = {.nresults = n, .results = r};

    ck_assert_ptr_nonnull(r);
    for (uint32_t i = 0; i < n; i++)
        make_record(&r[i], first + i, base_ms + (int64_t)i * step_ms, seed);
    ck_assert_int_eq(ctl_store_results(st, probe, &rs, base_ms, in), 0);
    for (uint32_t i = 0; i < n; i++)
        proto_sketch_free(&r[i].sketch);
    free(r);
}

static void store_run(struct ctl_store *st, const char *probe, uint64_t first, uint32_t n,
                      int64_t base_ms, uint32_t *seed, struct ctl_ingest *in)
{
    store_spaced(st, probe, first, n, base_ms, 10000, seed, in);
}

/*
 * Batches out of time order (a backlog older than what came before), one
 * sent twice, two probes, and the file reopened: every level still sums
 * exactly what the raw records hold, and a resend changes nothing.
 */
START_TEST(rollups_equal_raw_records)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct ctl_ingest in;
    uint32_t seed = 7, again = 7;
    int64_t sent_before;

    store_run(st, "a", 1, 400, BASE_MS + 86400000LL, &seed, &in); /* a day later */
    store_run(st, "a", 401, 900, BASE_MS, &seed, &in);            /* the backlog */
    store_run(st, "b", 1, 300, BASE_MS + 3000000, &seed, &in);
    assert_rollups_match(st);
    sent_before = test_query_int(st, "SELECT sum(sent) FROM rollup_60");
    store_run(st, "a", 1, 400, BASE_MS + 86400000LL, &again, &in); /* sent again */
    ck_assert_uint_eq(in.duplicates, 400);
    ck_assert_int_eq(ctl_store_flush(st, 0, 1), 0);
    ck_assert_int_eq(test_query_int(st, "SELECT sum(sent) FROM rollup_60"), sent_before);
    ck_assert_int_eq(test_query_int(st, "SELECT sum(sent) FROM rollup_86400"),
                     sent_before);
    ctl_store_close(st);
    st = test_store_open(path);
    assert_rollups_match(st);
    ck_assert_int_eq(test_query_int(st, "SELECT sum(windows) FROM rollup_3600"), 1600);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

/* A database from before the rollups gets them, from its records, once. */
START_TEST(old_database_gains_rollups)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct ctl_ingest in;
    uint32_t seed = 11;

    store_run(st, "a", 1, 5000, BASE_MS, &seed, &in); /* more than one step */
    store_run(st, "b", 1, 700, BASE_MS - 7200000, &seed, &in);
    ck_assert_int_eq(ctl_store_flush(st, 0, 1), 0);
    ck_assert_int_eq(sqlite3_exec(ctl_store_db(st),
                                  "DROP TABLE rollup_60; DROP TABLE rollup_3600;"
                                  " DROP TABLE rollup_86400; DROP TABLE pairs;"
                                  " UPDATE delivery SET rolled_seq = 0",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ctl_store_close(st);
    st = test_store_open(path);
    ck_assert_int_eq(test_query_int(st, "SELECT sum(windows) FROM rollup_60"), 5700);
    assert_rollups_match(st);
    ck_assert_int_eq(test_query_int(st, "SELECT min(rolled_seq) FROM delivery"), 700);
    ctl_store_close(st);
    st = test_store_open(path); /* and only once */
    ck_assert_int_eq(test_query_int(st, "SELECT sum(windows) FROM rollup_86400"), 5700);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

/*
 * A controller that dies with windows only in its memory's deltas: the
 * next opening folds them again from the raw records, once.
 */
START_TEST(crash_loses_no_rollup)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct ctl_ingest in;
    uint32_t seed = 13;
    pid_t pid;
    int status;

    store_run(st, "a", 1, 300, BASE_MS, &seed, &in);
    ck_assert_int_eq(ctl_store_flush(st, 0, 1), 0);
    ctl_store_close(st);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) { /* stores more, then dies without closing */
        st = test_store_open(path);
        store_run(st, "a", 301, 500, BASE_MS + 3000000, &seed, &in);
        store_run(st, "b", 1, 200, BASE_MS, &seed, &in);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    st = test_store_open(path);
    ck_assert_int_eq(test_query_int(st, "SELECT count(*) FROM results"), 1000);
    assert_rollups_match(st);
    ck_assert_int_eq(test_query_int(st, "SELECT sum(windows) FROM rollup_86400"), 1000);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

/* A hole filled after its probe's deltas were written goes into the
 * rollups at once. */
START_TEST(late_hole_goes_in_at_once)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct ctl_ingest in;
    uint32_t seed = 17, hole;

    store_run(st, "a", 1, 50, BASE_MS, &seed, &in);
    hole = seed;
    store_run(st, "a", 60, 41, BASE_MS + 600000, &seed, &in);
    ck_assert_int_eq(ctl_store_flush(st, 0, 1), 0);
    ck_assert_int_eq(test_query_int(st, "SELECT rolled_seq FROM delivery"), 100);
    store_run(st, "a", 51, 9, BASE_MS + 500000, &hole, &in);
    ck_assert_uint_eq(in.duplicates, 0);
    for (int i = 0; i < CTL_ROLLUP_LEVELS; i++) /* no flush in between */
        ck_assert_int_eq(rollup_mismatches(st, ctl_rollup_levels[i]), 0);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

/* The check above sees a rollup that is off by one window. */
START_TEST(mismatch_is_seen)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct ctl_ingest in;
    uint32_t seed = 3;

    store_run(st, "a", 1, 50, BASE_MS, &seed, &in);
    ck_assert_int_gt(rollup_mismatches(st, 60), 0); /* still in memory */
    ck_assert_int_eq(ctl_store_flush(st, 0, 1), 0);
    ck_assert_int_eq(rollup_mismatches(st, 60), 0);
    ck_assert_int_eq(sqlite3_exec(ctl_store_db(st),
                                  "UPDATE rollup_60 SET sent = sent + 1 WHERE bucket_ms ="
                                  " (SELECT min(bucket_ms) FROM rollup_60)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_gt(rollup_mismatches(st, 60), 0);
    ck_assert_int_eq(rollup_mismatches(st, 3600), 0);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

/* Rows of table whose time column + len_sql ends at or before cutoff_ms. */
static int64_t count_ended(struct ctl_store *st, const char *table, const char *end_sql,
                           int64_t cutoff_ms)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE %s <= %lld", table, end_sql,
             (long long)cutoff_ms);
    return test_query_int(st, sql);
}

static void expire_all(struct ctl_store *st, const struct ctl_retention *rt, int64_t now,
                       struct ctl_expired *sum)
{
    struct ctl_expired e;
    uint64_t n;

    memset(sum, 0, sizeof(*sum));
    ck_assert_int_eq(ctl_store_flush(st, now, 1), 0); /* retention spares the rest */
    do {
        ck_assert_int_eq(ctl_store_expire(st, rt, now, 300, &e), 0);
        n = e.raw;
        sum->raw += e.raw;
        for (int i = 0; i < CTL_ROLLUP_LEVELS; i++) {
            n += e.level[i];
            sum->level[i] += e.level[i];
        }
    } while (n > 0);
}

/*
 * Three days of windows, then retention with a horizon per level: exactly
 * the rows that ended at or before each horizon go, in small batches, and
 * nothing else; the day level, kept for ever, keeps all.  A record resent
 * after its raw window went is taken for the resend it is.
 */
START_TEST(retention_deletes_past_each_horizon)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct ctl_retention rt = {.raw_s = 6 * 3600, .level_s = {86400, 2 * 86400, 0}};
    static const char *const table[] = {"rollup_60", "rollup_3600", "rollup_86400"};
    int64_t now = BASE_MS + 3 * 86400000LL, before[CTL_ROLLUP_LEVELS], raw_before;
    int64_t want_raw, want[CTL_ROLLUP_LEVELS], windows_day;
    struct ctl_expired gone;
    struct ctl_ingest in;
    uint32_t seed = 5, again = 5;

    store_spaced(st, "a", 1, 2600, BASE_MS, 100000, &seed, &in); /* 3 days */
    ck_assert_int_eq(ctl_store_flush(st, 0, 1), 0);
    raw_before = test_query_int(st, "SELECT count(*) FROM results");
    want_raw = count_ended(st, "results", "window_start_ms + window_s * 1000",
                           now - rt.raw_s * 1000);
    for (int i = 0; i < CTL_ROLLUP_LEVELS; i++) {
        char end[64];

        snprintf(end, sizeof(end), "bucket_ms + %u000", ctl_rollup_levels[i]);
        before[i] = test_query_int(st, i == 0   ? "SELECT count(*) FROM rollup_60"
                                       : i == 1 ? "SELECT count(*) FROM rollup_3600"
                                                : "SELECT count(*) FROM rollup_86400");
        want[i] = rt.level_s[i]
                      ? count_ended(st, table[i], end, now - rt.level_s[i] * 1000)
                      : 0;
        ck_assert_int_gt(before[i], want[i]);
    }
    ck_assert_int_gt(want_raw, 1000);
    ck_assert_int_lt(want_raw, raw_before);
    windows_day = test_query_int(st, "SELECT sum(windows) FROM rollup_86400");

    expire_all(st, &rt, now, &gone);
    ck_assert_int_eq((int64_t)gone.raw, want_raw);
    ck_assert_int_eq(test_query_int(st, "SELECT count(*) FROM results"),
                     raw_before - want_raw);
    ck_assert_int_eq(count_ended(st, "results", "window_start_ms + window_s * 1000",
                                 now - rt.raw_s * 1000),
                     0);
    for (int i = 0; i < CTL_ROLLUP_LEVELS; i++)
        ck_assert_int_eq((int64_t)gone.level[i], want[i]);
    ck_assert_int_eq(test_query_int(st, "SELECT count(*) FROM rollup_86400"), before[2]);
    ck_assert_int_eq(test_query_int(st, "SELECT sum(windows) FROM rollup_86400"),
                     windows_day);

    /* The first records again, long gone from the raw table. */
    store_spaced(st, "a", 1, 100, BASE_MS, 100000, &again, &in);
    ck_assert_uint_eq(in.duplicates, 100);
    ck_assert_int_eq(test_query_int(st, "SELECT sum(windows) FROM rollup_86400"),
                     windows_day);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

/*
 * A simulated month of one probe's windows (a fake clock), retention run
 * every simulated hour: once the longest finite horizon is behind, the file
 * stops growing (freed pages are reused); only the day level, kept for
 * ever, still adds its few rows a day.
 */
START_TEST(file_stops_growing)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct ctl_retention rt = {.raw_s = 86400, .level_s = {3 * 86400, 8 * 86400, 0}};
    struct ctl_store_size size[31];
    struct ctl_expired gone;
    struct ctl_ingest in;
    uint32_t seed = 9;
    uint64_t seq = 1;

    for (int day = 0; day < 30; day++) {
        for (int hour = 0; hour < 24; hour++) {
            int64_t t = BASE_MS + ((int64_t)day * 24 + hour) * 3600000;

            store_spaced(st, "a", seq, 120, t, 30000, &seed, &in); /* 3 targets */
            seq += 120;
            expire_all(st, &rt, t + 3600000, &gone);
        }
        ck_assert_int_eq(ctl_store_size(st, &size[day]), 0);
    }
    ck_assert_int_gt(size[9].file_octets, size[2].file_octets);
    /*
     * Past day 9 every finite horizon is reached: what is left is the day
     * level's few rows and the B-trees' own slack, which settles within 2 %
     * (measured: 1,896,448 octets on day 15, 1,916,928 on day 30, against
     * 426 kB a day while the horizons were still ahead).
     */
    ck_assert_msg(size[29].file_octets <=
                      size[14].file_octets + size[14].file_octets / 50,
                  "the file grew from %llu to %llu octets between days 15 and 30",
                  (unsigned long long)size[14].file_octets,
                  (unsigned long long)size[29].file_octets);
    ck_assert_int_eq(test_query_int(st, "SELECT count(*) FROM rollup_86400"), 3 * 30 + 3);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

static int fold_row(void *arg, const struct ctl_window_row *r)
{
    return ctl_fold_add(arg, r);
}

static void assert_same_fold(const struct ctl_fold *a, const struct ctl_fold *b)
{
    ck_assert_uint_eq(a->npairs, b->npairs);
    for (size_t k = 0; k < a->cap && k < b->cap; k++) {
        const struct ctl_pair *x = &a->v[k], *y = &b->v[k];

        ck_assert_uint_eq(x->windows, y->windows);
        ck_assert_uint_eq(x->sent, y->sent);
        ck_assert_uint_eq(x->received, y->received);
        ck_assert_uint_eq(x->lost, y->lost);
        ck_assert_uint_eq(x->min_ns, y->min_ns);
        ck_assert_uint_eq(x->max_ns, y->max_ns);
        ck_assert_uint_eq(x->ipdv_sum_ns, y->ipdv_sum_ns);
        ck_assert_uint_eq(x->duplicates, y->duplicates);
        ck_assert_int_eq(x->last_ms, y->last_ms);
        ck_assert(proto_sketch_equal(&x->sketch, &y->sketch));
    }
}

/*
 * A map over any range, from the pieces of the coarsest levels that cover
 * it, holds exactly what the raw windows of that range hold: the same
 * counts, extremes, newest window and merged sketch for every pair.
 */
START_TEST(range_from_levels_equals_raw)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct ctl_horizons h = {{INT64_MIN / 4, INT64_MIN / 4, INT64_MIN / 4, INT64_MIN / 4},
                             INT64_MAX / 4};
    struct ctl_ingest in;
    uint32_t seed = 23, pick = 5;

    store_spaced(st, "a", 1, 2600, BASE_MS, 100000, &seed, &in);
    store_spaced(st, "b", 1, 1300, BASE_MS + 50000, 200000, &seed, &in);
    ck_assert_int_eq(ctl_store_flush(st, 0, 1), 0);
    for (int k = 0; k < 12; k++) {
        int64_t from = BASE_MS + (int64_t)(next_rand(&pick) % 200000) * 1000;
        int64_t to = from + 1 + (int64_t)(next_rand(&pick) % 200000) * 1000;
        struct ctl_fold by_levels, raw;
        struct ctl_pieces p;
        struct ctl_window_range all;
        int coarse = 0;

        ctl_fold_init(&by_levels);
        ctl_fold_init(&raw);
        ctl_range_pieces(from, to, &h, &p);
        for (size_t i = 0; i < p.n; i++) {
            struct ctl_window_range r = {.from_ms = p.v[i].from_ms,
                                         .to_ms = p.v[i].to_ms};

            coarse += p.v[i].level != CTL_LEVEL_RAW;
            ck_assert_int_eq(
                ctl_store_level_rows(st, p.v[i].level, &r, fold_row, &by_levels), 0);
        }
        all = (struct ctl_window_range){.from_ms = p.from_ms, .to_ms = p.to_ms};
        ck_assert_int_eq(ctl_store_level_rows(st, CTL_LEVEL_RAW, &all, fold_row, &raw),
                         0);
        ck_assert_int_gt(raw.npairs, 0);
        assert_same_fold(&by_levels, &raw);
        ck_assert(coarse > 0 || to - from < 3600000);
        ctl_fold_free(&by_levels);
        ctl_fold_free(&raw);
    }
    ctl_store_close(st);
    unlink(path);
}
END_TEST

static int series_row(void *arg, const struct ctl_window_row *r)
{
    ctl_series_add(arg, r);
    return 0;
}

/* A pair's rows of a level, oldest first, only its own, only the range. */
START_TEST(pair_rows_of_a_level)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    /* Whole hours: 1700002800000 is 2023-11-14T23:00:00Z. */
    struct ctl_window_range r = {.from_ms = 1700002800000LL,
                                 .to_ms = 1700002800000LL + 4 * 3600000};
    struct ctl_series hour, raw;
    struct ctl_ingest in;
    uint32_t seed = 29;

    store_spaced(st, "a", 1, 2000, BASE_MS, 10000, &seed, &in); /* 5.5 hours */
    ck_assert_int_eq(ctl_store_flush(st, 0, 1), 0);
    ck_assert_int_eq(ctl_series_init(&hour, r.from_ms, r.to_ms, 3600000), 0);
    ck_assert_int_eq(ctl_series_init(&raw, r.from_ms, r.to_ms, 3600000), 0);
    ck_assert_int_eq(
        ctl_store_pair_rows(st, 1, "a", "c", PROTO_METHOD_STAMP, &r, series_row, &hour),
        0);
    ck_assert_int_eq(ctl_store_pair_rows(st, CTL_LEVEL_RAW, "a", "c", PROTO_METHOD_STAMP,
                                         &r, series_row, &raw),
                     0);
    ck_assert_uint_eq(hour.n, 4);
    for (size_t i = 0; i < hour.n; i++) {
        ck_assert_uint_eq(hour.points[i].windows, 120); /* a third of 360 */
        ck_assert_uint_eq(hour.points[i].sent, raw.points[i].sent);
        ck_assert_uint_eq(hour.points[i].received, raw.points[i].received);
        ck_assert(proto_sketch_equal(&hour.points[i].sketch, &raw.points[i].sketch));
    }
    ctl_series_free(&hour);
    ctl_series_free(&raw);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

/*
 * Retention keeps a raw window its probe's deltas still hold (above its
 * rolled_seq): after a crash the store would need it to fold it again.
 */
START_TEST(retention_spares_what_is_not_rolled_up)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct ctl_retention rt = {.raw_s = 3600, .level_s = {0, 0, 0}};
    int64_t now = BASE_MS + 10 * 86400000LL;
    struct ctl_expired gone;
    struct ctl_ingest in;
    uint32_t seed = 31;

    store_run(st, "a", 1, 200, BASE_MS, &seed, &in); /* days old, in memory only */
    ck_assert_int_eq(ctl_store_expire(st, &rt, now, 1000, &gone), 0);
    ck_assert_uint_eq(gone.raw, 0);
    ck_assert_int_eq(ctl_store_flush(st, now, 1), 0);
    ck_assert_int_eq(ctl_store_expire(st, &rt, now, 1000, &gone), 0);
    ck_assert_uint_eq(gone.raw, 200);
    ck_assert_int_eq(test_query_int(st, "SELECT sum(windows) FROM rollup_60"), 200);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

static json_int_t point_sent(json_t *doc, size_t i)
{
    return json_integer_value(
        json_object_get(json_array_get(json_object_get(doc, "points"), i), "sent"));
}

/*
 * A series whose newest part comes from the raw windows: the bucket that
 * holds the split is read once, raw, not whole from its rollup and again.
 */
START_TEST(series_counts_each_window_once)
{
    char path[] = "/tmp/ixmesh-history-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    int64_t hour0 = 1700002800000LL; /* a whole hour */
    struct ctl_query q = {.kind = CTL_Q_SERIES,
                          .from_ms = hour0,
                          .to_ms = hour0 + 3 * 3600000,
                          .step_ms = 3600000,
                          .method = PROTO_METHOD_STAMP,
                          .src = "a",
                          .dst = "b"};
    struct ctl_ingest in;
    uint32_t seed = 37;
    json_t *doc;
    char sql[256];
    int err;

    store_spaced(st, "a", 1, 1080, hour0, 10000, &seed, &in); /* 3 hours */
    ck_assert_int_eq(ctl_store_flush(st, 0, 1), 0);
    q.horizons.fresh_from = hour0 + 2 * 3600000 + 1800000; /* mid third hour */
    doc = ctl_pair_history(st, &q, &err);
    ck_assert_int_eq(err, 0);
    for (int i = 0; i < 3; i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT sum(sent) FROM results WHERE target_id = 'b' AND"
                 " window_start_ms >= %lld AND window_start_ms < %lld",
                 (long long)(hour0 + i * 3600000LL),
                 (long long)(hour0 + (i + 1) * 3600000LL));
        ck_assert_int_eq(point_sent(doc, (size_t)i), test_query_int(st, sql));
    }
    json_decref(doc);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

Suite *history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("history");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rollups_equal_raw_records);
    tcase_add_test(tc, mismatch_is_seen);
    tcase_add_test(tc, old_database_gains_rollups);
    tcase_add_test(tc, crash_loses_no_rollup);
    tcase_add_test(tc, late_hole_goes_in_at_once);
    tcase_add_test(tc, range_from_levels_equals_raw);
    tcase_add_test(tc, pair_rows_of_a_level);
    tcase_add_test(tc, retention_spares_what_is_not_rolled_up);
    tcase_add_test(tc, series_counts_each_window_once);
    tcase_add_test(tc, retention_deletes_past_each_horizon);
    tcase_add_test(tc, file_stops_growing);
    suite_add_tcase(s, tc);
    return s;
}
