/*
 * rollup_test.c - the coarse levels as pure folds (analysis/pairs.c), with
 * no database: windows arriving late and out of order are folded into the
 * rows of their buckets the way store/rollup.c does it (the stored row,
 * plus the new windows, written back), and every level must give back the
 * raw windows' sums and the sketch of all their RTTs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "check_controller.h"

#define NWIN     300
#define NBATCH   7
#define MAXBKT   NWIN
#define BASE_MS  1700000000000LL
#define WINDOW_S 10

struct window {
    uint8_t *bytes;
    char extra[64];
    struct ctl_window_row row;
};

/* A stored rollup row of one bucket, as the store would hold it. */
struct bucket {
    int64_t start;
    struct ctl_window_row row;
    uint8_t *sketch;
    char *extra;
};

static uint32_t next_rand(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return *seed >> 8;
}

/* Window i: 10-s windows 317 s apart over about 26 hours; some lose all. */
static void make_window(struct window *w, int i, uint32_t *seed, struct proto_sketch *all)
{
    struct proto_sketch sk;
    uint32_t n = next_rand(seed) % 5 == 0 ? 0 : 1 + next_rand(seed) % 20;
    uint64_t min = UINT64_MAX, max = 0;
    size_t len = 0;

    proto_sketch_init(&sk);
    for (uint32_t k = 0; k < n; k++) {
        double ns = 1e6 + (double)(next_rand(seed) % 90000) * 1000.0;

        ck_assert_int_eq(proto_sketch_add(&sk, ns), 0);
        ck_assert_int_eq(proto_sketch_add(all, ns), 0);
        min = (uint64_t)ns < min ? (uint64_t)ns : min;
        max = (uint64_t)ns > max ? (uint64_t)ns : max;
    }
    ck_assert_int_eq(proto_sketch_to_bytes(&sk, &w->bytes, &len), 0);
    proto_sketch_free(&sk);
    snprintf(w->extra, sizeof(w->extra), "{\"oc\":{\"timeout\":%u},\"hs\":%d}", 20 - n,
             200 + i);
    w->row = (struct ctl_window_row){
        .probe_id = "a",
        .target_id = "b",
        .method = PROTO_METHOD_HTTP,
        .seq = (uint64_t)i + 1,
        .window_start_ms = BASE_MS + (int64_t)i * 317 * 1000, /* crosses every level */
        .window_s = WINDOW_S,
        .sent = 20,
        .received = n,
        .lost = 20 - n,
        .duplicates = next_rand(seed) % 3,
        .reordered = next_rand(seed) % 2,
        .rtt_min_ns = n ? min : 0,
        .rtt_max_ns = max,
        .ipdv_sum_ns = next_rand(seed) % 100000,
        .ipdv_count = n ? n - 1 : 0,
        .ttl = 250 + (int)(next_rand(seed) % 6),
        .sketch = w->bytes,
        .sketch_len = len,
        .extra = w->extra,
    };
}

static struct bucket *find_bucket(struct bucket *b, size_t *nb, int64_t start)
{
    for (size_t i = 0; i < *nb; i++)
        if (b[i].start == start)
            return &b[i];
    ck_assert_uint_lt(*nb, MAXBKT);
    b[*nb] = (struct bucket){.start = start};
    return &b[(*nb)++];
}

/* One batch of windows folded into level_s's buckets: the stored row,
 * then the batch's windows of that bucket, written back as a row. */
static void add_batch(struct bucket *b, size_t *nb, uint32_t level_s,
                      struct window *const *batch, size_t n, struct ctl_pair *acc)
{
    for (size_t i = 0; i < n; i++) {
        int64_t start = ctl_bucket_start(batch[i]->row.window_start_ms, level_s);
        struct bucket *k = find_bucket(b, nb, start);
        uint8_t *sketch;
        char *extra;

        ck_assert(start <= batch[i]->row.window_start_ms &&
                  batch[i]->row.window_start_ms < start + (int64_t)level_s * 1000);
        ctl_pair_start(acc, &batch[i]->row);
        if (k->sketch != NULL)
            ctl_pair_add(acc, &k->row);
        ctl_pair_add(acc, &batch[i]->row);
        ck_assert_int_eq(ctl_pair_row(acc, start, level_s, &k->row, &sketch, &extra), 0);
        free(k->sketch);
        free(k->extra);
        k->sketch = sketch;
        k->extra = extra;
    }
}

static void assert_same(const struct ctl_pair *x, const struct ctl_pair *y)
{
    ck_assert_uint_eq(x->windows, y->windows);
    ck_assert_uint_eq(x->sent, y->sent);
    ck_assert_uint_eq(x->received, y->received);
    ck_assert_uint_eq(x->lost, y->lost);
    ck_assert_uint_eq(x->duplicates, y->duplicates);
    ck_assert_uint_eq(x->reordered, y->reordered);
    ck_assert_uint_eq(x->min_ns, y->min_ns);
    ck_assert_uint_eq(x->max_ns, y->max_ns);
    ck_assert_uint_eq(x->ipdv_sum_ns, y->ipdv_sum_ns);
    ck_assert_uint_eq(x->ipdv_count, y->ipdv_count);
    ck_assert_int_eq(x->ttl, y->ttl);
    ck_assert_int_eq(x->last_ms, y->last_ms);
    ck_assert_uint_eq(x->last_sent, y->last_sent);
    ck_assert_uint_eq(x->last_lost, y->last_lost);
    for (int i = 0; i < PROTO_OUTCOME_MAX; i++)
        ck_assert_uint_eq(x->outcomes[i], y->outcomes[i]);
    ck_assert(proto_sketch_equal(&x->sketch, &y->sketch));
    ck_assert(
        json_equal(json_object_get(x->latest, "hs"), json_object_get(y->latest, "hs")));
}

static void shuffle(struct window **v, size_t n, uint32_t *seed)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = next_rand(seed) % (i + 1);
        struct window *t = v[i];

        v[i] = v[j];
        v[j] = t;
    }
}

/*
 * Windows in a random order, in batches, as late backlogs arrive: at every
 * level, the fold of the bucket rows equals the fold of the raw windows
 * (sums, minimum and maximum, outcomes, the newest window, the merged
 * sketch, which is also the sketch of every RTT).
 */
START_TEST(levels_equal_raw)
{
    static const uint32_t levels[] = {60, 3600, 86400};
    static struct window w[NWIN];
    static struct bucket b[MAXBKT];
    struct window *order[NWIN];
    struct proto_sketch all;
    struct ctl_pair raw, acc, folded;
    uint32_t seed = 0xabcdu + (uint32_t)_i;

    proto_sketch_init(&all);
    ck_assert_int_eq(ctl_pair_init(&raw), 0);
    ck_assert_int_eq(ctl_pair_init(&acc), 0);
    ck_assert_int_eq(ctl_pair_init(&folded), 0);
    for (int i = 0; i < NWIN; i++) {
        make_window(&w[i], i, &seed, &all);
        order[i] = &w[i];
    }
    ctl_pair_start(&raw, &w[0].row);
    for (int i = 0; i < NWIN; i++) /* oldest first, as the map folds them */
        ctl_pair_add(&raw, &w[i].row);
    ck_assert(proto_sketch_equal(&raw.sketch, &all));
    ck_assert_uint_eq(raw.last_ms, w[NWIN - 1].row.window_start_ms);
    for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
        size_t nb = 0;

        shuffle(order, NWIN, &seed);
        for (size_t at = 0; at < NWIN; at += NWIN / NBATCH)
            add_batch(b, &nb, levels[l], order + at,
                      at + NWIN / NBATCH <= NWIN ? NWIN / NBATCH : NWIN - at, &acc);
        ctl_pair_start(&folded, &w[0].row);
        for (size_t i = 0; i < nb; i++) {
            ck_assert_uint_eq(b[i].row.window_s, levels[l]);
            ctl_pair_add(&folded, &b[i].row);
            free(b[i].sketch);
            free(b[i].extra);
        }
        assert_same(&folded, &raw);
    }
    for (int i = 0; i < NWIN; i++)
        free(w[i].bytes);
    proto_sketch_free(&all);
    ctl_pair_free(&raw);
    ctl_pair_free(&acc);
    ctl_pair_free(&folded);
}
END_TEST

/* Buckets start on their level's boundaries, before 1970 too. */
START_TEST(bucket_starts)
{
    ck_assert_int_eq(ctl_bucket_start(0, 60), 0);
    ck_assert_int_eq(ctl_bucket_start(59999, 60), 0);
    ck_assert_int_eq(ctl_bucket_start(60000, 60), 60000);
    ck_assert_int_eq(ctl_bucket_start(BASE_MS + 1234, 86400), 1699920000000LL);
    ck_assert_int_eq(ctl_bucket_start(-1, 3600), -3600000);
    ck_assert_int_eq(ctl_bucket_start(-3600000, 3600), -3600000);
}
END_TEST

/* ---- the history API's pure parts ------------------------------------------ */

START_TEST(times_parse)
{
    int64_t ms;

    ck_assert_int_eq(ctl_parse_time("1765000000", &ms), 0);
    ck_assert_int_eq(ms, 1765000000000LL);
    ck_assert_int_eq(ctl_parse_time("2026-12-07T06:00:00Z", &ms), 0);
    ck_assert_int_eq(ms, 1796623200000LL);
    ck_assert_int_eq(ctl_parse_time("2026-12-07T07:30:00+01:30", &ms), 0);
    ck_assert_int_eq(ms, 1796623200000LL);
    ck_assert_int_eq(ctl_parse_time("2026-12-07T06:00:00.25z", &ms), 0);
    ck_assert_int_eq(ms, 1796623200250LL);
    ck_assert_int_eq(ctl_parse_time("yesterday", &ms), -EINVAL);
    ck_assert_int_eq(ctl_parse_time("2026-12-07", &ms), -EINVAL);
    ck_assert_int_eq(ctl_parse_time("2026-12-07T06:00:00", &ms), -EINVAL); /* no zone */
    ck_assert_int_eq(ctl_parse_time("2026-12-07T06:00:00+25:00", &ms), -EINVAL);
    ck_assert_int_eq(ctl_parse_time("2026-12-07T06:00:00Zjunk", &ms), -EINVAL);
    ck_assert_int_eq(ctl_parse_time("17650000001765000000", &ms), -EINVAL);
    ck_assert_int_eq(ctl_parse_time("-5", &ms), -EINVAL);
    ck_assert_int_eq(ctl_parse_time("2026-12-07T06:00:00.5e300Z", &ms), -EINVAL);
    ck_assert_int_eq(ctl_parse_time("2026-12-07T06:00:00.Z", &ms), -EINVAL);
}
END_TEST

static int64_t level_ms(int level)
{
    return level == CTL_LEVEL_RAW ? 1 : (int64_t)ctl_rollup_levels[level] * 1000;
}

/* The pieces cover [from, to) once, in order, each whole buckets of its
 * level, and raw only where the rollups may lack windows or at the ends. */
static void assert_cover(const struct ctl_pieces *p, const struct ctl_horizons *h)
{
    int64_t at = p->from_ms;

    for (size_t i = 0; i < p->n; i++) {
        const struct ctl_piece *x = &p->v[i];

        ck_assert_int_eq(x->from_ms, at);
        ck_assert_int_lt(x->from_ms, x->to_ms);
        ck_assert_int_eq(x->from_ms % level_ms(x->level), 0);
        ck_assert_int_eq(x->to_ms % level_ms(x->level), 0);
        if (x->level != CTL_LEVEL_RAW)
            ck_assert_int_le(x->to_ms, h->fresh_from);
        at = x->to_ms;
    }
    ck_assert_int_eq(at, p->to_ms);
}

START_TEST(range_pieces)
{
    struct ctl_horizons all = {
        {INT64_MIN / 4, INT64_MIN / 4, INT64_MIN / 4, INT64_MIN / 4}, INT64_MAX / 4};
    int64_t from = 1796597970000LL; /* 2026-12-06T22:59:30Z */
    int64_t to = 1796691730000LL;   /* 2026-12-08T01:02:10Z */
    struct ctl_pieces p;
    uint32_t seed = 99 + (uint32_t)_i;
    int days = 0;

    ctl_range_pieces(from, to, &all, &p);
    assert_cover(&p, &all);
    ck_assert_int_eq(p.from_ms, from);
    for (size_t i = 0; i < p.n; i++)
        days += p.v[i].level == 2;
    ck_assert_int_eq(days, 1);                           /* the whole of 2026-12-07 */
    ck_assert_int_eq(p.v[0].level, CTL_LEVEL_RAW);       /* 22:59:30 to 23:00 */
    ck_assert_int_eq(p.v[p.n - 1].level, CTL_LEVEL_RAW); /* 01:02 to 01:02:10 */

    /* Raw windows gone before 23:30 on the 6th: from moves to its minute. */
    all.kept_from[0] = 1796599800000LL;
    ctl_range_pieces(from, to, &all, &p);
    ck_assert_int_eq(p.from_ms, 1796597940000LL);
    assert_cover(&p, &all);

    /* Random ranges and horizons. */
    for (int k = 0; k < 2000; k++) {
        struct ctl_horizons h;
        int64_t a = 1796600000000LL + (int64_t)(next_rand(&seed) % 2000000) * 1000;
        int64_t b = a + 1 + (int64_t)(next_rand(&seed) % 3000000) * 1000;

        for (int i = 0; i < 1 + CTL_ROLLUP_LEVELS; i++)
            h.kept_from[i] =
                1796600000000LL + (int64_t)(next_rand(&seed) % 4000000) * 1000;
        h.fresh_from = a + (int64_t)(next_rand(&seed) % 4000000) * 1000;
        ctl_range_pieces(a, b, &h, &p);
        ck_assert_int_le(p.from_ms, a);
        ck_assert_int_ge(p.to_ms, b);
        assert_cover(&p, &h);
    }
}
END_TEST

START_TEST(series_levels)
{
    ck_assert_int_eq(ctl_series_level(30000), CTL_LEVEL_RAW);
    ck_assert_int_eq(ctl_series_level(90000), CTL_LEVEL_RAW);
    ck_assert_int_eq(ctl_series_level(300000), 0);
    ck_assert_int_eq(ctl_series_level(3600000), 1);
    ck_assert_int_eq(ctl_series_level(5400000), 0);
    ck_assert_int_eq(ctl_series_level(2 * 86400000LL), 2);
}
END_TEST

Suite *rollup_suite(void)
{
    Suite *s = suite_create("rollup");
    TCase *tc = tcase_create("rollup");

    tcase_add_loop_test(tc, levels_equal_raw, 0, 4);
    tcase_add_test(tc, bucket_starts);
    tcase_add_test(tc, times_parse);
    tcase_add_loop_test(tc, range_pieces, 0, 3);
    tcase_add_test(tc, series_levels);
    suite_add_tcase(s, tc);
    return s;
}
