/*
 * deltas.c - what the rollups still lack, gathered in memory per probe and
 * written about once a minute, so that a rollup row is written once for
 * several windows (six a minute at 10-s windows) instead of at each.
 *
 * Memory holds the minute level only.  The hour and day rows a flush
 * writes are merged from the probe's minute deltas at that moment (minutes
 * nest in hours and days): a window costs one sketch merge, not three, and
 * a pair one delta, not three.
 *
 * Why the sums stay exact:
 *  - Memory changes only after the transaction that stored the windows has
 *    committed (ctl_deltas_end): a rolled-back batch leaves no delta.
 *  - A probe's deltas are written to the rollups in a transaction that also
 *    sets its delivery.rolled_seq to the highest number they hold: every
 *    stored record of the probe at or below it is in the rollups.
 *  - A probe numbers its records in order, so what is stored above
 *    rolled_seq is exactly what is in memory; after a crash the store folds
 *    those records again from the raw table at opening (sqlite.c), and
 *    retention deletes no record above rolled_seq.
 *  - A record stored at or below rolled_seq (a hole filled late) goes into
 *    the rollups at once, in its own transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "deltas.h"

#define FLUSH_AGE_MS        60000 /* a probe's deltas are written this old */
#define FLUSH_MAX_PER_PROBE 50000 /* or once it holds this many */

/* What one bucket of one level of one pair lacks. */
struct delta {
    int64_t pair, bucket;
    int level;
    uint32_t gen; /* the flush that wrote it with rows, if that flush is gen */
    struct ctl_pair acc;
};

struct probe_deltas {
    char id[PROTO_ID_MAX + 1];
    int64_t since_ms; /* when its oldest delta came; 0: it has none */
    uint64_t max_seq; /* the highest record number in its deltas */
    struct delta *v;
    size_t n, cap;
    uint32_t *slot; /* open addressing on (pair, level, bucket): index + 1 */
    size_t nslots;
};

/* A window stored by the open transaction, with its pair's key. */
struct staged {
    const struct ctl_window_row *row;
    int64_t pair, bucket;
};

struct ctl_deltas {
    struct ctl_rollup *ru;
    struct probe_deltas *probes;
    size_t nprobes, cap;
    struct staged *stg; /* the open transaction's windows, for ctl_deltas_end */
    size_t nstg, stg_cap;
    size_t stg_probe;
    int stg_flushed;
    uint32_t gen;
    /* The hour and day deltas of the probe being written, merged from its
     * minute deltas by make_coarse(); empty outside write_all(). */
    struct probe_deltas coarse;
};

int ctl_deltas_new(struct ctl_rollup *ru, struct ctl_deltas **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return -ENOMEM;
    (*out)->ru = ru;
    (*out)->stg_probe = SIZE_MAX;
    return 0;
}

static void clear_probe(struct probe_deltas *p)
{
    for (size_t i = 0; i < p->n; i++)
        ctl_pair_free(&p->v[i].acc);
    p->n = 0;
    p->since_ms = 0;
    p->max_seq = 0;
    if (p->slot != NULL)
        memset(p->slot, 0, p->nslots * sizeof(*p->slot));
}

void ctl_deltas_free(struct ctl_deltas *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nprobes; i++) {
        clear_probe(&d->probes[i]);
        free(d->probes[i].v);
        free(d->probes[i].slot);
    }
    free(d->probes);
    clear_probe(&d->coarse);
    free(d->coarse.v);
    free(d->coarse.slot);
    free(d->stg);
    free(d);
}

static size_t probe_index(struct ctl_deltas *d, const char *id)
{
    struct probe_deltas *v;

    for (size_t i = 0; i < d->nprobes; i++)
        if (strcmp(d->probes[i].id, id) == 0)
            return i;
    if (d->nprobes == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;

        if ((v = realloc(d->probes, cap * sizeof(*v))) == NULL)
            return SIZE_MAX;
        d->probes = v;
        d->cap = cap;
    }
    v = &d->probes[d->nprobes];
    memset(v, 0, sizeof(*v));
    snprintf(v->id, sizeof(v->id), "%s", id);
    return d->nprobes++;
}

static size_t slot_of(const struct probe_deltas *p, int64_t pair, int level,
                      int64_t bucket)
{
    uint64_t h = ((uint64_t)pair * 0x9e3779b97f4a7c15ULL) ^
                 ((uint64_t)bucket * 0xc2b2ae3d27d4eb4fULL) ^ (uint64_t)level;

    for (size_t i = (h ^ (h >> 29)) & (p->nslots - 1);; i = (i + 1) & (p->nslots - 1)) {
        const struct delta *x;

        if (p->slot[i] == 0)
            return i;
        x = &p->v[p->slot[i] - 1];
        if (x->pair == pair && x->level == level && x->bucket == bucket)
            return i;
    }
}

static struct delta *find(const struct probe_deltas *p, int64_t pair, int level,
                          int64_t bucket)
{
    size_t i;

    if (p->nslots == 0)
        return NULL;
    i = slot_of(p, pair, level, bucket);
    return p->slot[i] ? &p->v[p->slot[i] - 1] : NULL;
}

/* Room for want deltas: the array, and a table at most half full. */
static int reserve(struct probe_deltas *p, size_t want)
{
    if (want > p->cap) {
        size_t cap = p->cap ? p->cap : 256;
        struct delta *v;

        while (cap < want)
            cap *= 2;
        if ((v = realloc(p->v, cap * sizeof(*v))) == NULL)
            return -ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    if (2 * want > p->nslots) {
        size_t n = p->nslots ? p->nslots : 1024;
        uint32_t *s;

        while (n < 2 * want)
            n *= 2;
        if ((s = calloc(n, sizeof(*s))) == NULL)
            return -ENOMEM;
        free(p->slot);
        p->slot = s;
        p->nslots = n;
        for (size_t i = 0; i < p->n; i++)
            p->slot[slot_of(p, p->v[i].pair, p->v[i].level, p->v[i].bucket)] =
                (uint32_t)i + 1;
    }
    return 0;
}

/* The delta of (pair, level, bucket), made empty if p has none; NULL when
 * out of memory (never when room was reserved). */
static struct delta *find_or_add(struct probe_deltas *p, int64_t pair, int level,
                                 int64_t bucket, int *added)
{
    struct delta *x = find(p, pair, level, bucket);

    *added = 0;
    if (x != NULL || reserve(p, p->n + 1) < 0)
        return x;
    x = &p->v[p->n];
    *x = (struct delta){.pair = pair, .bucket = bucket, .level = level};
    ctl_pair_init(&x->acc);
    p->slot[slot_of(p, pair, level, bucket)] = (uint32_t)++p->n;
    *added = 1;
    return x;
}

/* d->coarse: the hour and day deltas of p's minute deltas. */
static int make_coarse(struct ctl_deltas *d, const struct probe_deltas *p)
{
    struct probe_deltas *c = &d->coarse;
    int added;

    clear_probe(c);
    if (reserve(c, (CTL_ROLLUP_LEVELS - 1) * p->n) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < p->n; i++) {
        const struct ctl_pair *m = &p->v[i].acc;

        for (int level = 1; level < CTL_ROLLUP_LEVELS; level++) {
            int64_t b = ctl_bucket_start(p->v[i].bucket, ctl_rollup_levels[level]);
            struct delta *x = find_or_add(c, p->v[i].pair, level, b, &added);

            if (added) {
                memcpy(x->acc.src, m->src, sizeof(m->src));
                memcpy(x->acc.dst, m->dst, sizeof(m->dst));
                x->acc.method = m->method;
            }
            ctl_pair_merge(&x->acc, m);
        }
    }
    return 0;
}

static int staged_order(const void *a, const void *b)
{
    const struct staged *x = a, *y = b;

    if (x->pair != y->pair)
        return x->pair < y->pair ? -1 : 1;
    return (x->bucket > y->bucket) - (x->bucket < y->bucket);
}

/*
 * Writes stg[0..n) into level's rows, each bucket's run with its delta of
 * p (if any; marked as written by flush gen), in the caller's transaction.
 */
static int write_runs(struct ctl_deltas *d, struct probe_deltas *p, int level,
                      struct staged *stg, size_t n, uint32_t gen)
{
    const struct ctl_window_row *rows[256];
    int rc = 0;

    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        stg[i].bucket =
            ctl_bucket_start(stg[i].row->window_start_ms, ctl_rollup_levels[level]);
    qsort(stg, n, sizeof(*stg), staged_order);
    for (size_t i = 0, j; rc == 0 && i < n; i = j) {
        struct delta *x = p != NULL ? find(level == 0 ? p : &d->coarse, stg[i].pair,
                                           level, stg[i].bucket)
                                    : NULL;
        size_t k = 0;

        for (j = i; j < n && k < 256 && stg[j].pair == stg[i].pair &&
                    stg[j].bucket == stg[i].bucket;
             j++)
            rows[k++] = stg[j].row;
        if (x != NULL && x->gen == gen)
            x = NULL; /* a run of more than 256: its delta went with the first */
        rc = ctl_rollup_write(d->ru, level, stg[i].pair, stg[i].bucket,
                              x ? &x->acc : NULL, rows, k);
        if (x != NULL)
            x->gen = gen;
    }
    return rc;
}

/* The deltas of p (or of the coarse levels made from it) that no window of
 * the batch touched: written alone. */
static int write_rest(struct ctl_deltas *d, const struct probe_deltas *p, uint32_t gen)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < p->n; i++)
        if (p->v[i].gen != gen)
            rc = ctl_rollup_write(d->ru, p->v[i].level, p->v[i].pair, p->v[i].bucket,
                                  &p->v[i].acc, NULL, 0);
    return rc;
}

/* Every level's rows of stg, with p's deltas when p is given: those of p
 * no window of stg touched are written alone. */
static int write_all(struct ctl_deltas *d, struct probe_deltas *p, struct staged *stg,
                     size_t n)
{
    uint32_t gen = ++d->gen ? d->gen : ++d->gen;
    int rc = p != NULL ? make_coarse(d, p) : 0;

    for (int level = 0; rc == 0 && level < CTL_ROLLUP_LEVELS; level++)
        rc = write_runs(d, p, level, stg, n, gen);
    if (p != NULL && rc == 0)
        rc = write_rest(d, p, gen);
    if (p != NULL && rc == 0)
        rc = write_rest(d, &d->coarse, gen);
    if (p != NULL)
        clear_probe(&d->coarse);
    return rc;
}

static int due(const struct probe_deltas *p, int64_t now_ms)
{
    return p->n > 0 &&
           (now_ms - p->since_ms >= FLUSH_AGE_MS || p->n >= FLUSH_MAX_PER_PROBE);
}

int ctl_deltas_stage(struct ctl_deltas *d, const char *probe_id,
                     const struct ctl_window_row *const *rows, size_t n,
                     uint64_t rolled_seq, int64_t now_ms, uint64_t *new_rolled)
{
    struct probe_deltas *p;
    size_t late = 0;
    int rc = 0;

    *new_rolled = 0;
    d->nstg = 0;
    d->stg_flushed = 0;
    if ((d->stg_probe = probe_index(d, probe_id)) == SIZE_MAX)
        return -ENOMEM;
    if (n > d->stg_cap) {
        struct staged *v = realloc(d->stg, n * sizeof(*v));

        if (v == NULL)
            return -ENOMEM;
        d->stg = v;
        d->stg_cap = n;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        d->stg[i] = (struct staged){.row = rows[i]};
        rc = ctl_rollup_pair_key(d->ru, rows[i], &d->stg[i].pair);
    }
    /* Late holes (at or below rolled_seq) go to the rollups at once. */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (rows[i]->seq <= rolled_seq) {
            struct staged t = d->stg[i];

            d->stg[i] = d->stg[late];
            d->stg[late++] = t;
        }
    }
    if (rc == 0 && late > 0)
        rc = write_all(d, NULL, d->stg, late);
    memmove(d->stg, d->stg + late, (n - late) * sizeof(*d->stg));
    d->nstg = n - late;
    p = &d->probes[d->stg_probe];
    if (rc < 0 || d->nstg == 0)
        return rc;
    if (!due(p, now_ms) && p->n + d->nstg < FLUSH_MAX_PER_PROBE)
        /* Kept for ctl_deltas_end(), which then cannot fail for memory. */
        return reserve(p, p->n + d->nstg);
    rc = write_all(d, p, d->stg, d->nstg);
    d->stg_flushed = 1;
    *new_rolled = p->max_seq;
    for (size_t i = 0; i < d->nstg; i++)
        if (d->stg[i].row->seq > *new_rolled)
            *new_rolled = d->stg[i].row->seq;
    return rc;
}

int ctl_deltas_stage_flush(struct ctl_deltas *d, int64_t now_ms, int all, size_t *from,
                           const char **probe_id, uint64_t *new_rolled)
{
    for (; *from < d->nprobes; (*from)++) {
        struct probe_deltas *p = &d->probes[*from];

        if (p->n == 0 || (!all && !due(p, now_ms)))
            continue;
        d->nstg = 0;
        d->stg_probe = *from;
        d->stg_flushed = 1;
        *probe_id = p->id;
        *new_rolled = p->max_seq;
        return write_all(d, p, NULL, 0) < 0 ? -EIO : 1;
    }
    return 0;
}

void ctl_deltas_end(struct ctl_deltas *d, int committed, int64_t now_ms)
{
    struct probe_deltas *p;

    ctl_rollup_end(d->ru, committed);
    if (!committed || d->stg_probe >= d->nprobes) {
        ctl_deltas_unstage(d); /* a later commit must not act on it */
        return;
    }
    p = &d->probes[d->stg_probe];
    if (d->stg_flushed) {
        clear_probe(p);
    } else {
        for (size_t i = 0; i < d->nstg; i++) {
            const struct ctl_window_row *r = d->stg[i].row;
            int64_t b = ctl_bucket_start(r->window_start_ms, ctl_rollup_levels[0]);
            int added;
            struct delta *x = find_or_add(p, d->stg[i].pair, 0, b, &added);

            if (x != NULL) { /* room was reserved: it is not NULL */
                if (added)
                    ctl_pair_start(&x->acc, r);
                ctl_pair_add(&x->acc, r);
            }
            if (d->stg[i].row->seq > p->max_seq)
                p->max_seq = d->stg[i].row->seq;
        }
        if (p->since_ms == 0 && p->n > 0)
            p->since_ms = now_ms;
    }
    ctl_deltas_unstage(d);
}

void ctl_deltas_unstage(struct ctl_deltas *d)
{
    d->nstg = 0;
    d->stg_probe = SIZE_MAX;
    d->stg_flushed = 0;
}
