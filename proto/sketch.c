/*
 * sketch.c - the mergeable latency sketch (DDSketch style, see proto.h).
 *
 * Invariants: count == zero + sum(bins); bins[k] counts bucket offset + k;
 * every bucket index lies in [0, max_index()], so offset + nbins never
 * overflows.  Two sketches holding the same samples may differ in offset,
 * nbins and cap, which is why proto_sketch_equal() compares content and
 * proto_sketch_pack() writes only the span of non-empty bins.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* More bins than max_index() + 1 can never be valid; this is a hard cap. */
#define SKETCH_BINS_MAX 4096
#define SKETCH_CAP_MIN  64
/* Tolerance for the alpha a peer sends: the float64 of 0.01, not a range. */
#define SKETCH_ALPHA_EPS 1e-12
/* Depth of msgpack nesting accepted before decoding; a sketch needs 2. */
#define MP_DEPTH_MAX 32

/* gamma = (1 + a) / (1 - a): a bucket's upper bound over its lower bound. */
static double sketch_gamma(void)
{
    return (1 + PROTO_SKETCH_ALPHA) / (1 - PROTO_SKETCH_ALPHA);
}

static double log_gamma(void)
{
    return log(sketch_gamma());
}

/* Bucket i holds (gamma^(i-1), gamma^i]; v >= PROTO_SKETCH_MIN_NS here. */
static int32_t bucket_index(double v)
{
    if (v > PROTO_SKETCH_MAX_NS)
        v = PROTO_SKETCH_MAX_NS;
    return (int32_t)ceil(log(v) / log_gamma());
}

static int32_t max_index(void)
{
    return bucket_index(PROTO_SKETCH_MAX_NS);
}

/* The middle of bucket i in the relative sense: at most alpha from any value. */
static double bucket_estimate(int32_t i)
{
    double gamma = sketch_gamma();

    return 2 * pow(gamma, i) / (gamma + 1);
}

void proto_sketch_init(struct proto_sketch *s)
{
    memset(s, 0, sizeof(*s));
}

void proto_sketch_free(struct proto_sketch *s)
{
    free(s->bins);
    proto_sketch_init(s);
}

/* Empties s but keeps its array, so the next window allocates nothing. */
void proto_sketch_reset(struct proto_sketch *s)
{
    s->offset = 0;
    s->nbins = 0;
    s->zero = 0;
    s->count = 0;
}

static int grow_cap(struct proto_sketch *s, uint32_t n)
{
    uint32_t cap = s->cap * 2;
    uint64_t *p;

    if (cap < n)
        cap = n;
    if (cap < SKETCH_CAP_MIN)
        cap = SKETCH_CAP_MIN;
    p = realloc(s->bins, (size_t)cap * sizeof(*p));
    if (p == NULL)
        return -ENOMEM; /* s->bins is untouched and still valid */
    s->bins = p;
    s->cap = cap;
    return 0;
}

/*
 * Makes the bins cover buckets lo..hi (inclusive) as well as what they cover
 * now.  Reallocates only when the array is too small; on failure s is as it
 * was.  Indices come from bucket_index() or a validated peer, so the int64
 * arithmetic below cannot overflow.
 */
static int ensure_range(struct proto_sketch *s, int32_t lo, int32_t hi)
{
    int64_t new_lo = lo, new_hi = hi;
    uint32_t n, shift;
    int rc;

    if (s->nbins > 0) {
        int64_t cur_hi = (int64_t)s->offset + s->nbins - 1;

        if (lo >= s->offset && hi <= cur_hi)
            return 0;
        new_lo = s->offset < new_lo ? s->offset : new_lo;
        new_hi = cur_hi > new_hi ? cur_hi : new_hi;
    }
    n = (uint32_t)(new_hi - new_lo + 1);
    if (n > s->cap && (rc = grow_cap(s, n)) < 0)
        return rc;
    shift = s->nbins > 0 ? (uint32_t)(s->offset - new_lo) : 0;
    memmove(s->bins + shift, s->bins, (size_t)s->nbins * sizeof(*s->bins));
    memset(s->bins, 0, (size_t)shift * sizeof(*s->bins));
    memset(s->bins + shift + s->nbins, 0,
           (size_t)(n - shift - s->nbins) * sizeof(*s->bins));
    s->offset = (int32_t)new_lo;
    s->nbins = n;
    return 0;
}

int proto_sketch_add(struct proto_sketch *s, double value_ns)
{
    int32_t i;
    int rc;

    if (isnan(value_ns) || value_ns < 0)
        return -EINVAL;
    if (value_ns < PROTO_SKETCH_MIN_NS) {
        s->zero++;
        s->count++;
        return 0;
    }
    i = bucket_index(value_ns);
    if ((rc = ensure_range(s, i, i)) < 0)
        return rc;
    s->bins[i - s->offset]++;
    s->count++;
    return 0;
}

/* The non-empty part of s->bins as array positions [*lo, *hi); empty if equal. */
static void nonzero_span(const struct proto_sketch *s, uint32_t *lo, uint32_t *hi)
{
    uint32_t a = 0, b = s->nbins;

    while (a < b && s->bins[a] == 0)
        a++;
    while (b > a && s->bins[b - 1] == 0)
        b--;
    *lo = a;
    *hi = b;
}

/*
 * Adds src's samples to dst.  Buckets are a pure function of the value, so
 * the result holds exactly the bins of a sketch fed both sample sets.  On
 * error dst is unchanged.  dst == src is allowed.
 */
int proto_sketch_merge(struct proto_sketch *dst, const struct proto_sketch *src)
{
    uint64_t zero = src->zero, count = src->count;
    uint32_t lo, hi, k;
    int32_t base;
    int rc;

    if (count > UINT64_MAX - dst->count)
        return -EOVERFLOW;
    nonzero_span(src, &lo, &hi);
    if (lo < hi) {
        base = src->offset;
        rc = ensure_range(dst, base + (int32_t)lo, base + (int32_t)hi - 1);
        if (rc < 0)
            return rc;
        for (k = lo; k < hi; k++)
            dst->bins[base + (int32_t)k - dst->offset] += src->bins[k];
    }
    dst->zero += zero;
    dst->count += count;
    return 0;
}

/* Rank floor(q * (count - 1)), as in the exact sorted-array percentile. */
double proto_sketch_quantile(const struct proto_sketch *s, double q)
{
    uint64_t rank, cum;
    double r;
    uint32_t k;

    if (s->count == 0 || !(q >= 0 && q <= 1))
        return NAN;
    r = floor(q * (double)(s->count - 1));
    rank = r >= (double)(s->count - 1) ? s->count - 1 : (uint64_t)r;
    cum = s->zero;
    if (cum > rank)
        return 0;
    for (k = 0; k < s->nbins; k++) {
        cum += s->bins[k];
        if (cum > rank)
            return bucket_estimate(s->offset + (int32_t)k);
    }
    return NAN; /* only if count disagrees with the bins */
}

static uint64_t bin_at(const struct proto_sketch *s, int64_t i)
{
    if (s->nbins == 0 || i < s->offset || i >= (int64_t)s->offset + s->nbins)
        return 0;
    return s->bins[i - s->offset];
}

/* 1 when a and b hold the same samples, whatever their layout; else 0. */
int proto_sketch_equal(const struct proto_sketch *a, const struct proto_sketch *b)
{
    int64_t lo, hi, i;

    if (a->count != b->count || a->zero != b->zero)
        return 0;
    lo = a->offset < b->offset ? a->offset : b->offset;
    hi = (int64_t)a->offset + a->nbins;
    if ((int64_t)b->offset + b->nbins > hi)
        hi = (int64_t)b->offset + b->nbins;
    for (i = lo; i < hi; i++)
        if (bin_at(a, i) != bin_at(b, i))
            return 0;
    return 1;
}

/* ---- msgpack form -------------------------------------------------------- */

static int pack_key(msgpack_packer *pk, const char *k)
{
    size_t n = strlen(k);

    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, k, n);
}

/*
 * Writes only the non-empty span, so equal sketches pack to equal bytes.
 * msgpack's writers fail only when their buffer cannot grow: -ENOMEM.
 */
int proto_sketch_pack(const struct proto_sketch *s, msgpack_packer *pk)
{
    uint32_t lo, hi, k;
    int64_t offset;

    nonzero_span(s, &lo, &hi);
    offset = lo < hi ? (int64_t)s->offset + lo : 0;
    if (msgpack_pack_map(pk, 4) || pack_key(pk, "a") ||
        msgpack_pack_double(pk, PROTO_SKETCH_ALPHA) || pack_key(pk, "o") ||
        msgpack_pack_int64(pk, offset) || pack_key(pk, "z") ||
        msgpack_pack_uint64(pk, s->zero) || pack_key(pk, "b") ||
        msgpack_pack_array(pk, hi - lo))
        return -ENOMEM;
    for (k = lo; k < hi; k++)
        if (msgpack_pack_uint64(pk, s->bins[k]))
            return -ENOMEM;
    return 0;
}

/* The four fields of the msgpack form, as found before validation. */
struct sketch_wire {
    double alpha;
    int64_t offset;
    uint64_t zero;
    const msgpack_object_array *bins;
    unsigned seen; /* bit per key, in the order a, o, z, b */
};

static int wire_int(const msgpack_object *v, int64_t *out)
{
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -EBADMSG;
    /* Anything above INT32_MAX is out of range anyway; keep it so. */
    *out = v->via.u64 > INT32_MAX ? (int64_t)INT32_MAX + 1 : (int64_t)v->via.u64;
    return 0;
}

/* Stores one known key's value after checking its type; others are ignored. */
static int wire_field(struct sketch_wire *w, const msgpack_object_kv *kv)
{
    static const char keys[] = "aozb";
    const msgpack_object *v = &kv->val;
    const char *at;
    unsigned bit;

    if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != 1 ||
        (at = memchr(keys, kv->key.via.str.ptr[0], 4)) == NULL)
        return 0; /* unknown keys are ignored, for later versions */
    bit = 1u << (at - keys);
    if (w->seen & bit)
        return -EBADMSG;
    w->seen |= bit;
    switch (*at) {
    case 'a':
        if (v->type != MSGPACK_OBJECT_FLOAT64)
            return -EBADMSG;
        w->alpha = v->via.f64;
        return 0;
    case 'o':
        return wire_int(v, &w->offset);
    case 'z':
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return -EBADMSG;
        w->zero = v->via.u64;
        return 0;
    default:
        if (v->type != MSGPACK_OBJECT_ARRAY)
            return -EBADMSG;
        w->bins = &v->via.array;
        return 0;
    }
}

/* Checks everything a sketch must satisfy and computes its count. */
static int wire_check(const struct sketch_wire *w, uint64_t *count)
{
    const msgpack_object_array *b = w->bins;
    uint64_t sum = w->zero;
    uint32_t k;

    if (w->seen != 0xf)
        return -EBADMSG;
    if (!(fabs(w->alpha - PROTO_SKETCH_ALPHA) <= SKETCH_ALPHA_EPS))
        return -EPROTO; /* another alpha means other buckets: not mergeable */
    if (b->size > SKETCH_BINS_MAX)
        return -EMSGSIZE;
    if (w->offset < 0 || w->offset + (int64_t)b->size - 1 > max_index() ||
        w->offset > max_index())
        return -EBADMSG;
    for (k = 0; k < b->size; k++) {
        if (b->ptr[k].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            b->ptr[k].via.u64 > UINT64_MAX - sum)
            return -EBADMSG;
        sum += b->ptr[k].via.u64;
    }
    *count = sum;
    return 0;
}

/* Copies validated wire bins into s, dropping empty bins at either end. */
static int wire_load(struct proto_sketch *s, const struct sketch_wire *w, uint64_t count)
{
    const msgpack_object *p = w->bins->ptr;
    uint32_t lo = 0, hi = w->bins->size, k;
    int rc;

    while (lo < hi && p[lo].via.u64 == 0)
        lo++;
    while (hi > lo && p[hi - 1].via.u64 == 0)
        hi--;
    if (hi - lo > s->cap && (rc = grow_cap(s, hi - lo)) < 0)
        return rc;
    for (k = lo; k < hi; k++)
        s->bins[k - lo] = p[k].via.u64;
    s->offset = lo < hi ? (int32_t)(w->offset + lo) : 0;
    s->nbins = hi - lo;
    s->zero = w->zero;
    s->count = count;
    return 0;
}

/* Validates o completely before touching s, so on error s is unchanged. */
int proto_sketch_unpack(struct proto_sketch *s, const msgpack_object *o)
{
    struct sketch_wire w = {0};
    uint64_t count;
    uint32_t i;
    int rc;

    if (o->type != MSGPACK_OBJECT_MAP)
        return -EBADMSG;
    for (i = 0; i < o->via.map.size; i++)
        if ((rc = wire_field(&w, &o->via.map.ptr[i])) < 0)
            return rc;
    if ((rc = wire_check(&w, &count)) < 0)
        return rc;
    return wire_load(s, &w, count);
}

int proto_sketch_to_bytes(const struct proto_sketch *s, uint8_t **out, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if ((rc = proto_sketch_pack(s, &pk)) < 0)
        goto done;
    *len = sb.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&sb);
done:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/*
 * How each first octet 0xc0..0xdf of a msgpack object continues (the
 * msgpack specification, "formats"): a fixed number of octets, or a length
 * field of `width` octets followed by that many octets (plus `extra`), or a
 * container of that many elements.
 */
enum mp_kind { MP_BAD, MP_FIXED, MP_RAW, MP_ARRAY, MP_MAP };

static const struct {
    uint8_t kind, width, extra;
} mp_formats[32] = {
    [0x00] = {MP_FIXED, 0, 0},  [0x01] = {MP_BAD, 0, 0},   [0x02] = {MP_FIXED, 0, 0},
    [0x03] = {MP_FIXED, 0, 0},  [0x04] = {MP_RAW, 1, 0},   [0x05] = {MP_RAW, 2, 0},
    [0x06] = {MP_RAW, 4, 0},    [0x07] = {MP_RAW, 1, 1},   [0x08] = {MP_RAW, 2, 1},
    [0x09] = {MP_RAW, 4, 1},    [0x0a] = {MP_FIXED, 0, 4}, [0x0b] = {MP_FIXED, 0, 8},
    [0x0c] = {MP_FIXED, 0, 1},  [0x0d] = {MP_FIXED, 0, 2}, [0x0e] = {MP_FIXED, 0, 4},
    [0x0f] = {MP_FIXED, 0, 8},  [0x10] = {MP_FIXED, 0, 1}, [0x11] = {MP_FIXED, 0, 2},
    [0x12] = {MP_FIXED, 0, 4},  [0x13] = {MP_FIXED, 0, 8}, [0x14] = {MP_FIXED, 0, 2},
    [0x15] = {MP_FIXED, 0, 3},  [0x16] = {MP_FIXED, 0, 5}, [0x17] = {MP_FIXED, 0, 9},
    [0x18] = {MP_FIXED, 0, 17}, [0x19] = {MP_RAW, 1, 0},   [0x1a] = {MP_RAW, 2, 0},
    [0x1b] = {MP_RAW, 4, 0},    [0x1c] = {MP_ARRAY, 2, 0}, [0x1d] = {MP_ARRAY, 4, 0},
    [0x1e] = {MP_MAP, 2, 0},    [0x1f] = {MP_MAP, 4, 0},
};

static int rd_width(struct proto_rd *r, uint8_t width, uint64_t *n)
{
    uint8_t v8;
    uint16_t v16;
    uint32_t v32;
    int rc = -EBADMSG;

    if (width == 1 && (rc = proto_rd_u8(r, &v8)) == 0)
        *n = v8;
    else if (width == 2 && (rc = proto_rd_u16(r, &v16)) == 0)
        *n = v16;
    else if (width == 4 && (rc = proto_rd_u32(r, &v32)) == 0)
        *n = v32;
    return rc;
}

/*
 * Steps over one msgpack object with the bounded reader.  msgpack-c
 * allocates a container's elements as soon as it reads the declared count,
 * so a few hostile octets could ask it for 100 GB; every element takes at
 * least one octet, so a count beyond what is left is refused here first.
 */
static int mp_skip(struct proto_rd *r, int depth)
{
    uint8_t b, kind = MP_FIXED, extra = 0;
    uint64_t n = 0, i;
    int rc;

    if (depth > MP_DEPTH_MAX)
        return -EBADMSG;
    if ((rc = proto_rd_u8(r, &b)) < 0)
        return rc;
    if (b <= 0x7f || b >= 0xe0)
        return 0; /* fixint */
    if (b <= 0x9f) {
        kind = b <= 0x8f ? MP_MAP : MP_ARRAY;
        n = b & 0x0f;
    } else if (b <= 0xbf) {
        return proto_rd_skip(r, b & 0x1f); /* fixstr */
    } else {
        kind = mp_formats[b - 0xc0].kind;
        extra = mp_formats[b - 0xc0].extra;
        if (kind == MP_BAD)
            return -EBADMSG;
        if (kind != MP_FIXED && (rc = rd_width(r, mp_formats[b - 0xc0].width, &n)) < 0)
            return rc;
    }
    if (kind == MP_FIXED || kind == MP_RAW)
        return n + extra > proto_rd_left(r) ? -EBADMSG
                                            : proto_rd_skip(r, (size_t)(n + extra));
    if (kind == MP_MAP)
        n *= 2;
    if (n > proto_rd_left(r))
        return -EBADMSG;
    for (i = 0; i < n; i++)
        if ((rc = mp_skip(r, depth + 1)) < 0)
            return rc;
    return 0;
}

/* p must hold exactly one msgpack object; s is replaced only on success. */
int proto_sketch_from_bytes(struct proto_sketch *s, const uint8_t *p, size_t len)
{
    msgpack_unpacked u;
    struct proto_rd r;
    size_t off = 0;
    int rc;

    proto_rd_init(&r, p, len);
    if ((rc = mp_skip(&r, 0)) < 0)
        return rc;
    if (proto_rd_left(&r) != 0)
        return -EBADMSG;
    msgpack_unpacked_init(&u);
    switch (msgpack_unpack_next(&u, (const char *)p, len, &off)) {
    case MSGPACK_UNPACK_SUCCESS:
        rc = off == len ? proto_sketch_unpack(s, &u.data) : -EBADMSG;
        break;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        rc = -ENOMEM;
        break;
    default:
        rc = -EBADMSG;
        break;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

double proto_sketch_quantile_within(const struct proto_sketch *s, double q, double lo,
                                    double hi)
{
    double v = proto_sketch_quantile(s, q);

    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    return v;
}
