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

/* ---- delivery_json.c ------------------------------------------------------- */

/* The "delivery" object of a probe in /api/v1/probes; NULL when out of memory. */
json_t *ctl_delivery_json(const struct ctl_delivery_row *r);

#endif
