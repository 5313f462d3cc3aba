/*
 * analysis.h - pure code over the rows the store hands out (no I/O, no
 * SQL): what the map and, later, the history and benefit pages compute.
 */
#ifndef IXMESH_CONTROLLER_ANALYSIS_H
#define IXMESH_CONTROLLER_ANALYSIS_H

#include <jansson.h>

#include "proto.h"
#include "store.h"

/* ---- pairs.c: one (source, target, method) merged over its windows -------- */

struct ctl_pair {
    char src[PROTO_ID_MAX + 1];
    char dst[PROTO_ID_MAX + 1];
    int method;
    uint64_t windows;
    uint64_t sent, received, lost;
    uint64_t min_ns, max_ns; /* over the windows that received anything */
    uint64_t ipdv_sum_ns, ipdv_count;
    uint64_t duplicates, reordered;
    int ttl;                    /* lowest known TTL of its windows, 0 when none is */
    struct proto_sketch sketch; /* the merge of its windows' sketches */
    uint64_t outcomes[PROTO_OUTCOME_MAX]; /* summed over the windows */
    int64_t last_ms;                      /* the newest window's start */
    uint64_t last_sent, last_lost;        /* of the newest window alone */
    json_t *latest; /* the newest value of each other key of the extra column;
                       NULL until one is seen */
};

/* 0, or -ENOMEM; ctl_pair_free() either way. */
int ctl_pair_init(struct ctl_pair *p);
void ctl_pair_free(struct ctl_pair *p);
/* 1 when r is a window of the pair p holds. */
int ctl_pair_is(const struct ctl_pair *p, const struct ctl_window_row *r);
/* Empties p and makes it r's pair (r is not added). */
void ctl_pair_start(struct ctl_pair *p, const struct ctl_window_row *r);
/*
 * Adds one window or rollup row, in any order: counts add up, the sketches
 * merge (percentiles come from the merge, never from averaging windows),
 * outcomes add up and every other key of the extra column keeps the value
 * of the newest row (a row older than the newest only fills keys not yet
 * set).  A sketch or extra column that does not decode is skipped; the
 * counts hold.
 */
void ctl_pair_add(struct ctl_pair *p, const struct ctl_window_row *r);
/* Adds the windows q holds to p, as ctl_pair_add() of each would. */
void ctl_pair_merge(struct ctl_pair *p, const struct ctl_pair *q);
/*
 * p as a rollup row of the bucket starting at bucket_ms, level_s long:
 * *sketch and *extra are malloc'd (extra NULL when there is nothing) and
 * the row points at them; ctl_pair_add() of the row gives back p's sums.
 * 0 or -ENOMEM.
 */
int ctl_pair_row(const struct ctl_pair *p, int64_t bucket_ms, uint32_t level_s,
                 struct ctl_window_row *row, uint8_t **sketch, char **extra);
/* The start of the bucket of level_s seconds that time ms falls in. */
int64_t ctl_bucket_start(int64_t ms, uint32_t level_s);
/* The q-quantile of the merged sketch, within [min, max] of the windows. */
double ctl_pair_quantile(const struct ctl_pair *p, double q);

/* ---- pair_json.c: how the API writes them ---------------------------------- */

struct ctl_config;

/* A node of the map with what the stretch needs. */
struct ctl_node {
    char id[PROTO_ID_MAX + 1];
    int has_location;
    double lat, lon;
};

/*
 * A pair of /api/v1/map: counts, loss, RTT percentiles from the merged
 * sketch, jitter, path class and stretch (probe pairs, with nodes for the
 * locations), outcomes and the last failure's reason, and for content
 * nodes what their method learnt (cfg may be NULL).  NULL when out of memory.
 */
json_t *ctl_pair_json(const struct ctl_pair *p, const struct ctl_node *nodes,
                      size_t nnodes, const struct ctl_config *cfg);
/* Appends the configuration's content nodes to a node list; 0 or -ENOMEM. */
int ctl_content_nodes_json(json_t *list, const struct ctl_config *cfg);
/* RFC 3339 in UTC to the second, or null for a time <= 0. */
json_t *ctl_iso_time(int64_t ms);
/* Nanoseconds as milliseconds to the microsecond, or null (not valid). */
json_t *ctl_ms_json(double ns, int valid);

/* ---- history.c: ranges, folds and series for the history API -------------- */

/* "1765000000" or RFC 3339: ms since the epoch, UTC; 0 or -EINVAL. */
int ctl_parse_time(const char *v, int64_t *ms);

/* What the store holds of each level: the earliest time still kept of the
 * raw windows and of each rollup level, and from when on the rollups may
 * still lack windows (the store's memory has them: read the raw ones). */
struct ctl_horizons {
    int64_t kept_from[1 + CTL_ROLLUP_LEVELS];
    int64_t fresh_from;
};
/* One piece of a range: the rows of level starting in [from_ms, to_ms). */
struct ctl_piece {
    int level; /* CTL_LEVEL_RAW or an index of ctl_rollup_levels */
    int64_t from_ms, to_ms;
};
#define CTL_PIECES_MAX 16
struct ctl_pieces {
    int64_t from_ms, to_ms; /* the range served: its ends moved out to what
                               is kept where the finer levels are gone */
    size_t n;
    struct ctl_piece v[CTL_PIECES_MAX];
};
/*
 * [from, to) cut so that every window in it comes from exactly one piece,
 * each piece from the coarsest level whose buckets it covers whole.
 */
void ctl_range_pieces(int64_t from, int64_t to, const struct ctl_horizons *h,
                      struct ctl_pieces *out);

/* Pairs folded by their key (ctl_window_row.pair): v[key]. */
#define CTL_FOLD_MAX (1 << 24)
struct ctl_fold {
    struct ctl_pair *v;
    size_t cap, npairs;
};
void ctl_fold_init(struct ctl_fold *f);
void ctl_fold_free(struct ctl_fold *f);
/* 0, -ERANGE (a key out of range) or -ENOMEM. */
int ctl_fold_add(struct ctl_fold *f, const struct ctl_window_row *r);

/* One pair's points of step_ms from from_ms on: points[i] folds the rows
 * starting in [from + i step, from + (i + 1) step). */
#define CTL_SERIES_MAX 20000
struct ctl_series {
    int64_t from_ms, step_ms;
    size_t n;
    struct ctl_pair *points;
};
/* 0, -EINVAL (an empty range, a step <= 0 or more than CTL_SERIES_MAX
 * points) or -ENOMEM. */
int ctl_series_init(struct ctl_series *s, int64_t from_ms, int64_t to_ms,
                    int64_t step_ms);
void ctl_series_free(struct ctl_series *s);
void ctl_series_add(struct ctl_series *s, const struct ctl_window_row *r);
/* The coarsest level whose buckets fit whole in a step; CTL_LEVEL_RAW. */
int ctl_series_level(int64_t step_ms);

/* ---- history_json.c -------------------------------------------------------- */

/* The pairs of a fold, as /api/v1/map writes them, by source, target and
 * method; NULL when out of memory. */
json_t *ctl_fold_pairs_json(const struct ctl_fold *f, const struct ctl_node *nodes,
                            size_t nnodes, const struct ctl_config *cfg);
/*
 * format=matrix: {"nodes": [ids], "methods": {METHOD: {METRIC: [n * n]}}},
 * the value of src i to dst j at i * n + j (null when there is none);
 * pairs whose ends are not in ids are left out.  NULL when out of memory.
 */
json_t *ctl_fold_matrix_json(const struct ctl_fold *f, const char *const *ids, size_t n);
/* {"step_s", "points": [{"t", "sent", "received", "loss_pct", "rtt_min_ms",
 * "rtt_p50_ms", "rtt_p90_ms", "rtt_p99_ms", "rtt_max_ms", "jitter_ms"}]}. */
json_t *ctl_series_json(const struct ctl_series *s);
/* One raw window as /windows lists it. */
json_t *ctl_window_json(const struct ctl_window_row *r);

/* ---- delivery_json.c ------------------------------------------------------- */

/* The "delivery" object of a probe in /api/v1/probes; NULL when out of memory. */
json_t *ctl_delivery_json(const struct ctl_delivery_row *r);

#endif
