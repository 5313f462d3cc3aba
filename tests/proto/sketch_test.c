/*
 * sketch_test.c - the latency sketch: accuracy against exact percentiles,
 * merging, the msgpack form and its validation.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_proto.h"
#include "proto.h"

#define NSAMPLES 100000

/* splitmix64: a fixed-seed generator, so every run sees the same samples. */
static uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so log() below is finite. */
static double rng_unit(uint64_t *x)
{
    return ((double)(rng_next(x) >> 11) + 1) * 0x1p-53;
}

static double rng_normal(uint64_t *x)
{
    double u1 = rng_unit(x), u2 = rng_unit(x);

    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* Lognormal RTTs around 2 ms with a long tail. */
static void gen_lognormal(double *v, size_t n, uint64_t seed)
{
    size_t i;

    for (i = 0; i < n; i++)
        v[i] = exp(log(2e6) + 1.0 * rng_normal(&seed));
}

/*
 * Half uniform over 0.1-50 ms, half exponential (mean 5 ms past 0.5 ms),
 * and 0.5 % below one nanosecond, for the zero bucket.
 */
static void gen_mix(double *v, size_t n, uint64_t seed)
{
    size_t i;
    double u;

    for (i = 0; i < n; i++) {
        u = rng_unit(&seed);
        if (u < 0.005)
            v[i] = 0.999 * rng_unit(&seed);
        else if (u < 0.5)
            v[i] = 1e5 + (50e6 - 1e5) * rng_unit(&seed);
        else
            v[i] = 5e5 - 5e6 * log(rng_unit(&seed));
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/*
 * Check records every passing assertion through its parent process, so hot
 * loops test with a plain if and assert only on failure.
 */
static void fill(struct proto_sketch *s, const double *v, size_t n)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++)
        if ((rc = proto_sketch_add(s, v[i])) != 0)
            ck_abort_msg("add(%g): %d", v[i], rc);
}

/* The sketch against sorted[floor(q * (n - 1))], the definition it follows. */
static void check_accuracy(const double *v, size_t n)
{
    static const double qs[] = {0.5, 0.9, 0.99, 0.25, 0.75, 0.999};
    struct proto_sketch s;
    double *sorted = malloc(n * sizeof(*sorted));
    double exact, est;
    size_t i;

    ck_assert_ptr_nonnull(sorted);
    memcpy(sorted, v, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_double);
    proto_sketch_init(&s);
    fill(&s, v, n);
    ck_assert_uint_eq(s.count, n);
    for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        exact = sorted[(size_t)floor(qs[i] * (double)(n - 1))];
        est = proto_sketch_quantile(&s, qs[i]);
        ck_assert_msg(fabs(est - exact) <= PROTO_SKETCH_ALPHA * exact * (1 + 1e-9),
                      "q=%g: sketch %.1f, exact %.1f (%.4f %%)", qs[i], est, exact,
                      100 * fabs(est - exact) / exact);
    }
    proto_sketch_free(&s);
    free(sorted);
}

START_TEST(quantiles_lognormal)
{
    double *v = malloc(NSAMPLES * sizeof(*v));

    ck_assert_ptr_nonnull(v);
    gen_lognormal(v, NSAMPLES, 1);
    check_accuracy(v, NSAMPLES);
    free(v);
}
END_TEST

START_TEST(quantiles_mix)
{
    double *v = malloc(NSAMPLES * sizeof(*v));

    ck_assert_ptr_nonnull(v);
    gen_mix(v, NSAMPLES, 2);
    check_accuracy(v, NSAMPLES);
    free(v);
}
END_TEST

START_TEST(empty_is_nan)
{
    struct proto_sketch s;

    proto_sketch_init(&s);
    ck_assert(isnan(proto_sketch_quantile(&s, 0.5)));
    ck_assert(isnan(proto_sketch_quantile(&s, 0)));
    ck_assert(isnan(proto_sketch_quantile(&s, 1)));
    ck_assert_int_eq(proto_sketch_add(&s, 1e6), 0);
    ck_assert(isnan(proto_sketch_quantile(&s, -0.1)));
    ck_assert(isnan(proto_sketch_quantile(&s, 1.1)));
    ck_assert(isnan(proto_sketch_quantile(&s, NAN)));
    proto_sketch_reset(&s);
    ck_assert(isnan(proto_sketch_quantile(&s, 0.5)));
    proto_sketch_free(&s);
}
END_TEST

START_TEST(zero_bucket_and_limits)
{
    struct proto_sketch s;

    proto_sketch_init(&s);
    ck_assert_int_eq(proto_sketch_add(&s, 0), 0);
    ck_assert_int_eq(proto_sketch_add(&s, 0.5), 0);
    ck_assert_int_eq(proto_sketch_add(&s, nextafter(PROTO_SKETCH_MIN_NS, 0)), 0);
    ck_assert_uint_eq(s.zero, 3);
    ck_assert_uint_eq(s.nbins, 0);
    ck_assert(proto_sketch_quantile(&s, 1) == 0);

    ck_assert_int_eq(proto_sketch_add(&s, PROTO_SKETCH_MIN_NS), 0);
    ck_assert_uint_eq(s.zero, 3);
    ck_assert_uint_eq(s.count, 4);
    ck_assert(proto_sketch_quantile(&s, 0.5) == 0);
    ck_assert_double_eq_tol(proto_sketch_quantile(&s, 1), PROTO_SKETCH_MIN_NS,
                            PROTO_SKETCH_ALPHA * PROTO_SKETCH_MIN_NS);

    /* Beyond the maximum: clamped into the top bucket. */
    ck_assert_int_eq(proto_sketch_add(&s, 1e18), 0);
    ck_assert_int_eq(proto_sketch_add(&s, INFINITY), 0);
    ck_assert_double_eq_tol(proto_sketch_quantile(&s, 1), PROTO_SKETCH_MAX_NS,
                            PROTO_SKETCH_ALPHA * PROTO_SKETCH_MAX_NS);

    ck_assert_int_eq(proto_sketch_add(&s, -1), -EINVAL);
    ck_assert_int_eq(proto_sketch_add(&s, -INFINITY), -EINVAL);
    ck_assert_int_eq(proto_sketch_add(&s, NAN), -EINVAL);
    ck_assert_uint_eq(s.count, 6);
    proto_sketch_free(&s);
}
END_TEST

/* Once the range is covered, adding and resetting allocate nothing. */
START_TEST(steady_state_does_not_allocate)
{
    struct proto_sketch s;
    uint64_t *bins;
    uint32_t cap;
    int i;

    proto_sketch_init(&s);
    ck_assert_int_eq(proto_sketch_add(&s, 1e5), 0);
    ck_assert_int_eq(proto_sketch_add(&s, 1e8), 0);
    bins = s.bins;
    cap = s.cap;
    for (i = 0; i < 10000; i++)
        if (proto_sketch_add(&s, 1e5 + i * 9990.0) != 0)
            ck_abort_msg("add failed");
    ck_assert_ptr_eq(s.bins, bins);
    ck_assert_uint_eq(s.cap, cap);
    proto_sketch_reset(&s);
    ck_assert_uint_eq(s.count, 0);
    ck_assert_uint_eq(s.cap, cap);
    ck_assert_int_eq(proto_sketch_add(&s, 5e6), 0);
    ck_assert_ptr_eq(s.bins, bins);
    ck_assert_uint_eq(s.count, 1);
    proto_sketch_free(&s);
}
END_TEST

static void assert_same_quantiles(const struct proto_sketch *a,
                                  const struct proto_sketch *b)
{
    double q;

    for (q = 0; q <= 1; q += 0.001)
        if (proto_sketch_quantile(a, q) != proto_sketch_quantile(b, q))
            ck_abort_msg("quantile %g differs", q);
    ck_assert(proto_sketch_quantile(a, 1) == proto_sketch_quantile(b, 1));
}

/* Merging is exactly adding the union, whatever order built each side. */
START_TEST(merge_equals_union)
{
    double *v = malloc(2 * NSAMPLES * sizeof(*v));
    struct proto_sketch a, b, all, empty;
    size_t i, half = 30000, n = 2 * NSAMPLES;

    ck_assert_ptr_nonnull(v);
    gen_lognormal(v, NSAMPLES, 3);
    gen_mix(v + NSAMPLES, NSAMPLES, 4);
    proto_sketch_init(&a);
    proto_sketch_init(&b);
    proto_sketch_init(&all);
    proto_sketch_init(&empty);
    fill(&a, v, half);
    for (i = n; i > half; i--) /* reverse order: another growth history */
        if (proto_sketch_add(&b, v[i - 1]) != 0)
            ck_abort_msg("add failed");
    fill(&all, v, n);
    ck_assert(!proto_sketch_equal(&a, &all));

    ck_assert_int_eq(proto_sketch_merge(&empty, &b), 0);
    ck_assert(proto_sketch_equal(&empty, &b));
    ck_assert_int_eq(proto_sketch_merge(&empty, &a), 0); /* b then a */
    ck_assert_int_eq(proto_sketch_merge(&a, &b), 0);     /* a then b */
    ck_assert_uint_eq(a.count, n);
    ck_assert(proto_sketch_equal(&a, &all));
    ck_assert(proto_sketch_equal(&all, &a));
    ck_assert(proto_sketch_equal(&empty, &all));
    assert_same_quantiles(&a, &all);
    assert_same_quantiles(&empty, &all);

    ck_assert_int_eq(proto_sketch_add(&a, 123456.0), 0);
    ck_assert(!proto_sketch_equal(&a, &all));

    /* Merging into itself doubles every bin. */
    proto_sketch_reset(&b);
    fill(&b, v, n);
    fill(&b, v, n);
    ck_assert_int_eq(proto_sketch_merge(&all, &all), 0);
    ck_assert(proto_sketch_equal(&all, &b));

    proto_sketch_free(&a);
    proto_sketch_free(&b);
    proto_sketch_free(&all);
    proto_sketch_free(&empty);
    free(v);
}
END_TEST

START_TEST(merge_refuses_count_overflow)
{
    struct proto_sketch a, b;

    proto_sketch_init(&a);
    proto_sketch_init(&b);
    a.zero = a.count = UINT64_MAX;
    b.zero = b.count = 1;
    ck_assert_int_eq(proto_sketch_merge(&a, &b), -EOVERFLOW);
    ck_assert_uint_eq(a.count, UINT64_MAX);
    ck_assert_uint_eq(a.zero, UINT64_MAX);
}
END_TEST

static void sample_sketch(struct proto_sketch *s, uint64_t seed)
{
    double v[5000];

    gen_mix(v, 5000, seed);
    proto_sketch_init(s);
    fill(s, v, 5000);
}

START_TEST(pack_unpack_round_trip)
{
    struct proto_sketch s, t;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    size_t off = 0;

    sample_sketch(&s, 5);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    ck_assert_int_eq(proto_sketch_pack(&s, &pk), 0);
    msgpack_unpacked_init(&u);
    ck_assert_int_eq(msgpack_unpack_next(&u, sb.data, sb.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    ck_assert_uint_eq(off, sb.size);
    sample_sketch(&t, 6); /* unpack replaces what was there */
    ck_assert_int_eq(proto_sketch_unpack(&t, &u.data), 0);
    ck_assert(proto_sketch_equal(&s, &t));
    assert_same_quantiles(&s, &t);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    proto_sketch_free(&s);
    proto_sketch_free(&t);
}
END_TEST

START_TEST(bytes_round_trip)
{
    struct proto_sketch s, t, r;
    uint8_t *p, *q;
    size_t n, m;

    sample_sketch(&s, 7);
    ck_assert_int_eq(proto_sketch_to_bytes(&s, &p, &n), 0);
    proto_sketch_init(&t);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, p, n), 0);
    ck_assert(proto_sketch_equal(&s, &t));
    assert_same_quantiles(&s, &t);

    /* Equal content packs to equal bytes, whatever the layout: here empty
     * bins on both sides, as growth can leave them. */
    proto_sketch_init(&r);
    r.nbins = r.cap = s.nbins + 12;
    r.bins = calloc(r.cap, sizeof(*r.bins));
    ck_assert_ptr_nonnull(r.bins);
    r.offset = s.offset - 5;
    memcpy(r.bins + 5, s.bins, s.nbins * sizeof(*s.bins));
    r.zero = s.zero;
    r.count = s.count;
    ck_assert(proto_sketch_equal(&r, &s));
    ck_assert(proto_sketch_equal(&s, &r));
    ck_assert_int_eq(proto_sketch_to_bytes(&r, &q, &m), 0);
    ck_assert_uint_eq(m, n);
    ck_assert_int_eq(memcmp(p, q, n), 0);
    free(q);

    /* The empty sketch too. */
    proto_sketch_reset(&r);
    ck_assert_int_eq(proto_sketch_to_bytes(&r, &q, &m), 0);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, q, m), 0);
    ck_assert_uint_eq(t.count, 0);
    ck_assert(isnan(proto_sketch_quantile(&t, 0.5)));
    free(q);

    free(p);
    proto_sketch_free(&s);
    proto_sketch_free(&t);
    proto_sketch_free(&r);
}
END_TEST

/* Every proper prefix is refused, and the target keeps its old content. */
START_TEST(from_bytes_refuses_truncation)
{
    struct proto_sketch s, t, t0;
    uint8_t *p, *twice;
    size_t n, len;

    sample_sketch(&s, 8);
    sample_sketch(&t, 9);
    sample_sketch(&t0, 9);
    ck_assert_int_eq(proto_sketch_to_bytes(&s, &p, &n), 0);
    for (len = 0; len < n; len++) {
        ck_assert_int_eq(proto_sketch_from_bytes(&t, p, len), -EBADMSG);
        ck_assert(proto_sketch_equal(&t, &t0));
    }
    ck_assert_int_eq(proto_sketch_from_bytes(&t, NULL, 0), -EBADMSG);

    /* Exactly one object: trailing octets or a second object are refused. */
    twice = malloc(2 * n);
    ck_assert_ptr_nonnull(twice);
    memcpy(twice, p, n);
    memcpy(twice + n, p, n);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, twice, n + 1), -EBADMSG);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, twice, 2 * n), -EBADMSG);
    ck_assert(proto_sketch_equal(&t, &t0));
    free(twice);
    free(p);
    proto_sketch_free(&s);
    proto_sketch_free(&t);
    proto_sketch_free(&t0);
}
END_TEST

/* ---- hand-made msgpack forms -------------------------------------------- */

typedef void field_fn(msgpack_packer *pk);

static int32_t max_bucket(void)
{
    double gamma = (1 + PROTO_SKETCH_ALPHA) / (1 - PROTO_SKETCH_ALPHA);

    return (int32_t)ceil(log(PROTO_SKETCH_MAX_NS) / log(gamma));
}

static void a_ok(msgpack_packer *pk)
{
    msgpack_pack_double(pk, PROTO_SKETCH_ALPHA);
}
static void a_close(msgpack_packer *pk)
{
    msgpack_pack_double(pk, PROTO_SKETCH_ALPHA + 1e-13);
}
static void a_other(msgpack_packer *pk)
{
    msgpack_pack_double(pk, 0.02);
}
static void a_near(msgpack_packer *pk)
{
    msgpack_pack_double(pk, PROTO_SKETCH_ALPHA + 1e-9);
}
static void a_nan(msgpack_packer *pk)
{
    msgpack_pack_double(pk, NAN);
}
static void a_float32(msgpack_packer *pk)
{
    msgpack_pack_float(pk, (float)PROTO_SKETCH_ALPHA);
}
static void a_str(msgpack_packer *pk)
{
    msgpack_pack_str_with_body(pk, "0.01", 4);
}
static void o_ok(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 100);
}
static void o_neg(msgpack_packer *pk)
{
    msgpack_pack_int(pk, -1);
}
static void o_huge(msgpack_packer *pk)
{
    msgpack_pack_uint64(pk, UINT64_MAX);
}
static void o_top(msgpack_packer *pk)
{
    msgpack_pack_int(pk, max_bucket() - 1); /* 3 bins would pass the top */
}
static void o_float(msgpack_packer *pk)
{
    msgpack_pack_double(pk, 100);
}
static void o_nil(msgpack_packer *pk)
{
    msgpack_pack_nil(pk);
}
static void z_ok(msgpack_packer *pk)
{
    msgpack_pack_uint64(pk, 2);
}
static void z_max(msgpack_packer *pk)
{
    msgpack_pack_uint64(pk, UINT64_MAX);
}
static void z_neg(msgpack_packer *pk)
{
    msgpack_pack_int(pk, -2);
}
static void z_float(msgpack_packer *pk)
{
    msgpack_pack_double(pk, 2);
}
static void z_bool(msgpack_packer *pk)
{
    msgpack_pack_true(pk);
}
static void b_ok(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint64(pk, 1);
    msgpack_pack_uint64(pk, 0);
    msgpack_pack_uint64(pk, 3);
}
static void b_neg(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint64(pk, 1);
    msgpack_pack_int(pk, -3);
}
static void b_str(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_str_with_body(pk, "1", 1);
}
static void b_float(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_double(pk, 1);
}
static void b_map(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_uint64(pk, 0);
    msgpack_pack_uint64(pk, 1);
}
static void b_too_many(msgpack_packer *pk)
{
    int i;

    msgpack_pack_array(pk, 4097);
    for (i = 0; i < 4097; i++)
        msgpack_pack_uint64(pk, 0);
}
static void b_overflow(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint64(pk, UINT64_MAX);
    msgpack_pack_uint64(pk, 1);
}
static void b_empty(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 0);
}

struct form {
    const char *name;
    field_fn *a, *o, *z, *b;
    int want;
};

static const struct form forms[] = {
    {"valid", a_ok, o_ok, z_ok, b_ok, 0},
    {"alpha within 1e-12", a_close, o_ok, z_ok, b_ok, 0},
    {"empty bins", a_ok, o_ok, z_ok, b_empty, 0},
    {"no alpha", NULL, o_ok, z_ok, b_ok, -EBADMSG},
    {"no offset", a_ok, NULL, z_ok, b_ok, -EBADMSG},
    {"no zero", a_ok, o_ok, NULL, b_ok, -EBADMSG},
    {"no bins", a_ok, o_ok, z_ok, NULL, -EBADMSG},
    {"alpha 0.02", a_other, o_ok, z_ok, b_ok, -EPROTO},
    {"alpha 0.01+1e-9", a_near, o_ok, z_ok, b_ok, -EPROTO},
    {"alpha NaN", a_nan, o_ok, z_ok, b_ok, -EPROTO},
    {"alpha float32", a_float32, o_ok, z_ok, b_ok, -EBADMSG},
    {"alpha string", a_str, o_ok, z_ok, b_ok, -EBADMSG},
    {"offset negative", a_ok, o_neg, z_ok, b_ok, -EBADMSG},
    {"offset huge", a_ok, o_huge, z_ok, b_ok, -EBADMSG},
    {"offset past top", a_ok, o_top, z_ok, b_ok, -EBADMSG},
    {"offset float", a_ok, o_float, z_ok, b_ok, -EBADMSG},
    {"offset nil", a_ok, o_nil, z_ok, b_ok, -EBADMSG},
    {"zero negative", a_ok, o_ok, z_neg, b_ok, -EBADMSG},
    {"zero float", a_ok, o_ok, z_float, b_ok, -EBADMSG},
    {"zero bool", a_ok, o_ok, z_bool, b_ok, -EBADMSG},
    {"count overflow via zero", a_ok, o_ok, z_max, b_ok, -EBADMSG},
    {"count overflow in bins", a_ok, o_ok, z_ok, b_overflow, -EBADMSG},
    {"bin negative", a_ok, o_ok, z_ok, b_neg, -EBADMSG},
    {"bin string", a_ok, o_ok, z_ok, b_str, -EBADMSG},
    {"bin float", a_ok, o_ok, z_ok, b_float, -EBADMSG},
    {"bins as map", a_ok, o_ok, z_ok, b_map, -EBADMSG},
    {"too many bins", a_ok, o_ok, z_ok, b_too_many, -EMSGSIZE},
};

static void put_key(msgpack_packer *pk, const char *k)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
}

/* Writes the map of one form; extra > 0 adds unknown keys in between. */
static void build_form(msgpack_sbuffer *sb, const struct form *f, int extra)
{
    field_fn *fns[4] = {f->a, f->o, f->z, f->b};
    static const char *keys[4] = {"a", "o", "z", "b"};
    msgpack_packer pk;
    size_t n = (size_t)extra;
    int i;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    for (i = 0; i < 4; i++)
        n += fns[i] != NULL;
    msgpack_pack_map(&pk, n);
    for (i = 0; i < 4; i++) {
        if (extra > 0 && i == 1) { /* unknown keys, a nested value, a non-string key */
            put_key(&pk, "x-later");
            msgpack_pack_array(&pk, 2);
            msgpack_pack_map(&pk, 0);
            msgpack_pack_str_with_body(&pk, "b", 1);
            msgpack_pack_int(&pk, 7);
            msgpack_pack_nil(&pk);
        }
        if (fns[i] != NULL) {
            put_key(&pk, keys[i]);
            fns[i](&pk);
        }
    }
}

START_TEST(unpack_validates_form)
{
    const struct form *f = &forms[_i];
    struct proto_sketch t, t0;
    msgpack_sbuffer sb;
    int extra, rc;

    for (extra = 0; extra <= 2; extra += 2) {
        sample_sketch(&t, 10);
        sample_sketch(&t0, 10);
        msgpack_sbuffer_init(&sb);
        build_form(&sb, f, extra);
        rc = proto_sketch_from_bytes(&t, (const uint8_t *)sb.data, sb.size);
        ck_assert_msg(rc == f->want, "%s (extra %d): got %d, want %d", f->name, extra, rc,
                      f->want);
        if (rc < 0) {
            ck_assert(proto_sketch_equal(&t, &t0));
        } else {
            ck_assert_uint_eq(t.zero, 2);
            ck_assert_uint_eq(t.count, f->b == b_ok ? 6 : 2);
        }
        msgpack_sbuffer_destroy(&sb);
        proto_sketch_free(&t);
        proto_sketch_free(&t0);
    }
}
END_TEST

/* The valid form read back: leading and inner empty bins, values where expected. */
START_TEST(unpack_reads_values)
{
    struct proto_sketch t;
    msgpack_sbuffer sb;
    double gamma = (1 + PROTO_SKETCH_ALPHA) / (1 - PROTO_SKETCH_ALPHA);

    msgpack_sbuffer_init(&sb);
    build_form(&sb, &forms[0], 0);
    proto_sketch_init(&t);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, (const uint8_t *)sb.data, sb.size), 0);
    ck_assert_uint_eq(t.count, 6);
    /* Ranks 0-1 zero bucket, 2 bucket 100, 3-5 bucket 102. */
    ck_assert(proto_sketch_quantile(&t, 0.2) == 0);
    ck_assert_double_eq_tol(proto_sketch_quantile(&t, 0.4),
                            2 * pow(gamma, 100) / (gamma + 1), 1e-6);
    ck_assert_double_eq_tol(proto_sketch_quantile(&t, 1),
                            2 * pow(gamma, 102) / (gamma + 1), 1e-6);
    msgpack_sbuffer_destroy(&sb);
    proto_sketch_free(&t);
}
END_TEST

START_TEST(unpack_refuses_other_shapes)
{
    static const uint8_t dup[] = {0x85, 0xa1, 'a',  0xcb, 0x3f, 0x84, 0x7a, 0xe1,
                                  0x47, 0xae, 0x14, 0x7b, 0xa1, 'o',  0x00, 0xa1,
                                  'o',  0x00, 0xa1, 'z',  0x00, 0xa1, 'b',  0x90};
    static const uint8_t arr[] = {0x94, 0xcb, 0x3f, 0x84, 0x7a, 0xe1, 0x47,
                                  0xae, 0x14, 0x7b, 0x00, 0x00, 0x90};
    /* Containers claiming 2^32 - 1 elements in five octets. */
    static const uint8_t huge_arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x00};
    static const uint8_t huge_str[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    static const uint8_t reserved[] = {0xc1};
    uint8_t deep[200];
    struct proto_sketch t;

    proto_sketch_init(&t);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, dup, sizeof(dup)), -EBADMSG);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, arr, sizeof(arr)), -EBADMSG);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, huge_arr, sizeof(huge_arr)), -EBADMSG);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, huge_map, sizeof(huge_map)), -EBADMSG);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, huge_str, sizeof(huge_str)), -EBADMSG);
    ck_assert_int_eq(proto_sketch_from_bytes(&t, reserved, sizeof(reserved)), -EBADMSG);
    memset(deep, 0x91, sizeof(deep)); /* [[[[...]]]] */
    deep[sizeof(deep) - 1] = 0x00;
    ck_assert_int_eq(proto_sketch_from_bytes(&t, deep, sizeof(deep)), -EBADMSG);
    ck_assert_uint_eq(t.count, 0);
    proto_sketch_free(&t);
}
END_TEST

/* Damaged encodings never crash, and whatever is accepted is consistent. */
START_TEST(from_bytes_survives_damage)
{
    struct proto_sketch s, t;
    uint8_t *p, *q;
    uint64_t x = 11, sum;
    size_t n, j, k;
    uint32_t b;
    int i;

    sample_sketch(&s, 12);
    ck_assert_int_eq(proto_sketch_to_bytes(&s, &p, &n), 0);
    q = malloc(n);
    ck_assert_ptr_nonnull(q);
    proto_sketch_init(&t);
    for (i = 0; i < 20000; i++) {
        memcpy(q, p, n);
        for (k = 0; k < 1 + rng_next(&x) % 4; k++) {
            j = rng_next(&x) % n;
            q[j] = i % 3 == 0 ? (uint8_t)rng_next(&x)
                              : q[j] ^ (uint8_t)(1u << (rng_next(&x) % 8));
        }
        if (proto_sketch_from_bytes(&t, q, 1 + rng_next(&x) % n) < 0)
            continue;
        for (sum = t.zero, b = 0; b < t.nbins; b++)
            sum += t.bins[b];
        if (sum != t.count || (t.count > 0 && isnan(proto_sketch_quantile(&t, 0.5))))
            ck_abort_msg("accepted an inconsistent sketch at iteration %d", i);
    }
    free(q);
    free(p);
    proto_sketch_free(&s);
    proto_sketch_free(&t);
}
END_TEST

Suite *sketch_suite(void)
{
    Suite *s = suite_create("sketch");
    TCase *tq = tcase_create("quantiles");
    TCase *tm = tcase_create("merge");
    TCase *tw = tcase_create("wire");

    tcase_set_timeout(tq, 60);
    tcase_add_test(tq, quantiles_lognormal);
    tcase_add_test(tq, quantiles_mix);
    tcase_add_test(tq, empty_is_nan);
    tcase_add_test(tq, zero_bucket_and_limits);
    tcase_add_test(tq, steady_state_does_not_allocate);
    suite_add_tcase(s, tq);

    tcase_set_timeout(tm, 60);
    tcase_add_test(tm, merge_equals_union);
    tcase_add_test(tm, merge_refuses_count_overflow);
    suite_add_tcase(s, tm);

    tcase_set_timeout(tw, 60);
    tcase_add_test(tw, pack_unpack_round_trip);
    tcase_add_test(tw, bytes_round_trip);
    tcase_add_test(tw, from_bytes_refuses_truncation);
    tcase_add_loop_test(tw, unpack_validates_form, 0,
                        (int)(sizeof(forms) / sizeof(forms[0])));
    tcase_add_test(tw, unpack_reads_values);
    tcase_add_test(tw, unpack_refuses_other_shapes);
    tcase_add_test(tw, from_bytes_survives_damage);
    suite_add_tcase(s, tw);
    return s;
}
