/*
 * map.c - the JSON documents of the HTTP API: the store's rows, folded and
 * written by analysis/ (pairs.c merges, pair_json.c writes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "controller.h"

int ctl_parse_window(const char *v, uint32_t *window_s)
{
    char *end;
    unsigned long x;

    if (v[0] < '0' || v[0] > '9')
        return -EINVAL;
    errno = 0;
    x = strtoul(v, &end, 10);
    if (errno != 0 || *end != '\0' || x < 1 || x > CTL_WINDOW_MAX_S)
        return -EINVAL;
    *window_s = (uint32_t)x;
    return 0;
}

struct probes_doc {
    struct ctl_store *st;
    ctl_connected_fn connected;
    void *arg;
    json_t *list;
};

static int probe_row_json(void *arg, const struct ctl_probe_row *r)
{
    struct probes_doc *d = arg;
    struct ctl_delivery_row dr;
    int rc = ctl_store_delivery(d->st, r->id, &dr);
    json_t *delivery = rc == 0 ? ctl_delivery_json(&dr) : NULL;
    json_t *addrs, *loc;

    ctl_delivery_row_free(&dr);
    if (delivery == NULL) /* a probe without it would be a wrong document */
        return rc < 0 ? rc : -ENOMEM;
    addrs = json_loads(r->addresses, 0, NULL);
    loc = r->has_location ? json_pack("{s:f, s:f}", "lat", r->lat, "lon", r->lon)
                          : json_null();
    return json_array_append_new(
               d->list,
               json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:o}", "id", r->id, "name",
                         r->name, "addresses", addrs ? addrs : json_array(), "location",
                         loc ? loc : json_null(), "last_seen",
                         ctl_iso_time(r->last_seen_ms), "connected",
                         d->connected(d->arg, r->id), "delivery", delivery)) < 0
               ? -ENOMEM
               : 0;
}

json_t *ctl_map_probes(struct ctl_store *st, ctl_connected_fn connected, void *arg)
{
    struct probes_doc d = {st, connected, arg, json_array()};

    if (d.list == NULL || ctl_store_probes(st, probe_row_json, &d) != 0) {
        json_decref(d.list);
        return NULL;
    }
    return json_pack("{s:o}", "probes", d.list);
}

struct ctl_nodes_doc {
    ctl_connected_fn connected;
    void *arg;
    json_t *list;
    struct ctl_node *v;
    size_t n, cap;
};

static int node_row(void *arg, const struct ctl_probe_row *r)
{
    struct ctl_nodes_doc *d = arg;
    struct ctl_node *nd;

    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;

        if ((nd = realloc(d->v, cap * sizeof(*nd))) == NULL)
            return -ENOMEM;
        d->v = nd;
        d->cap = cap;
    }
    nd = &d->v[d->n++];
    snprintf(nd->id, sizeof(nd->id), "%s", r->id);
    nd->has_location = r->has_location;
    nd->lat = r->lat;
    nd->lon = r->lon;
    return json_array_append_new(d->list,
                                 json_pack("{s:s, s:s, s:s, s:b}", "id", r->id, "name",
                                           r->name, "kind", "probe", "connected",
                                           d->connected(d->arg, r->id))) < 0
               ? -ENOMEM
               : 0;
}

/* Loads the nodes (probes) of the map and their locations. */
static json_t *load_nodes(struct ctl_store *st, struct ctl_node **nodes, size_t *n,
                          ctl_connected_fn connected, void *arg)
{
    struct ctl_nodes_doc d = {.connected = connected, .arg = arg, .list = json_array()};

    if (d.list == NULL || ctl_store_probes(st, node_row, &d) != 0) {
        /* a partial list would be a wrong map */
        json_decref(d.list);
        free(d.v);
        *nodes = NULL;
        *n = 0;
        return NULL;
    }
    *nodes = d.v;
    *n = d.n;
    return d.list;
}

struct pairs_doc {
    const struct ctl_node *nodes;
    size_t nnodes;
    const struct ctl_config *cfg;
    struct ctl_pair acc;
    int have;
    json_t *list;
};

/* Rows come grouped by pair, oldest first: a new pair closes the last. */
static int pair_row(void *arg, const struct ctl_window_row *r)
{
    struct pairs_doc *d = arg;

    if (d->have && !ctl_pair_is(&d->acc, r)) {
        if (json_array_append_new(
                d->list, ctl_pair_json(&d->acc, d->nodes, d->nnodes, d->cfg)) < 0)
            return -ENOMEM;
        d->have = 0;
    }
    if (!d->have)
        ctl_pair_start(&d->acc, r);
    d->have = 1;
    ctl_pair_add(&d->acc, r);
    return 0;
}

/* The pairs whose windows ended after since_ms: the last complete window is
 * always in a range of one window's length. */
static json_t *load_pairs(struct ctl_store *st, int64_t since_ms,
                          const struct ctl_node *nodes, size_t nnodes,
                          const struct ctl_config *cfg)
{
    struct pairs_doc d = {
        .nodes = nodes, .nnodes = nnodes, .cfg = cfg, .list = json_array()};
    /* Windows are the mesh's length (TASKS "win"): reading further back for
     * longer ones scanned an hour of every pair's windows for a minute's
     * map.  Right after the window was shortened, the longer windows of
     * before are left out of the live map, for one of their lengths. */
    struct ctl_window_range range = {
        .from_ms = since_ms,
        .to_ms = INT64_MAX,
        .longest_ms = cfg != NULL ? (int64_t)cfg->mesh.window_s * 1000 : 0};
    int rc = ctl_pair_init(&d.acc);

    if (rc == 0 && d.list != NULL)
        rc = ctl_store_windows(st, &range, pair_row, &d);
    if (rc == 0 && d.have &&
        json_array_append_new(d.list, ctl_pair_json(&d.acc, nodes, nnodes, cfg)) < 0)
        rc = -ENOMEM;
    ctl_pair_free(&d.acc);
    if (rc != 0 || d.list == NULL) {
        json_decref(d.list);
        return NULL;
    }
    return d.list;
}

json_t *ctl_map_matrix(struct ctl_store *st, const struct ctl_config *cfg, int64_t now_ms,
                       uint32_t window_s, ctl_connected_fn connected, void *arg)
{
    struct ctl_node *nodes;
    size_t nnodes;
    json_t *nodes_json = load_nodes(st, &nodes, &nnodes, connected, arg);
    json_t *pairs = load_pairs(st, now_ms - (int64_t)window_s * 1000, nodes, nnodes, cfg);

    free(nodes);
    if (nodes_json != NULL && ctl_content_nodes_json(nodes_json, cfg) < 0) {
        json_decref(nodes_json);
        nodes_json = NULL;
    }
    if (nodes_json == NULL || pairs == NULL) { /* the HTTP layer answers 500 */
        json_decref(nodes_json);
        json_decref(pairs);
        return NULL;
    }
    return json_pack("{s:o, s:I, s:o, s:o}", "generated_at", ctl_iso_time(now_ms),
                     "window_s", (json_int_t)window_s, "nodes", nodes_json, "pairs",
                     pairs);
}

/* ---- any range, from the rollups (issue 14) -------------------------------- */

struct range_doc {
    struct ctl_fold fold;
    const struct ctl_query *q;
    uint64_t rows;
    int err;
};

#define CANCEL_EVERY 4096 /* rows between two looks at the client */

static int fold_row(void *arg, const struct ctl_window_row *r)
{
    struct range_doc *d = arg;

    if (++d->rows % CANCEL_EVERY == 0 && d->q->cancelled != NULL &&
        d->q->cancelled(d->q->cancel_arg))
        return -ECANCELED;
    return ctl_fold_add(&d->fold, r);
}

/* Every piece of the range folded by pair; 0 or a negative errno. */
static int fold_range(struct ctl_store *st, const struct ctl_query *q,
                      struct ctl_pieces *pieces, struct range_doc *d)
{
    int rc = 0;

    ctl_range_pieces(q->from_ms, q->to_ms, &q->horizons, pieces);
    for (size_t i = 0; rc == 0 && i < pieces->n; i++) {
        struct ctl_window_range r = {.from_ms = pieces->v[i].from_ms,
                                     .to_ms = pieces->v[i].to_ms};

        rc = ctl_store_level_rows(st, pieces->v[i].level, &r, fold_row, d);
    }
    return rc;
}

/* The nodes' ids, in the order of the node list. */
static const char **node_ids(json_t *nodes, size_t *n)
{
    const char **ids = malloc((json_array_size(nodes) + 1) * sizeof(*ids));
    size_t i;
    json_t *v;

    *n = 0;
    if (ids == NULL)
        return NULL;
    json_array_foreach(nodes, i, v)
    {
        ids[(*n)++] = json_string_value(json_object_get(v, "id"));
    }
    return ids;
}

static json_t *range_body(struct range_doc *d, json_t *nodes_json,
                          const struct ctl_node *nodes, size_t nnodes,
                          const struct ctl_config *cfg)
{
    size_t n;
    const char **ids;
    json_t *m, *methods;

    if (!d->q->matrix)
        return json_pack("{s:o}", "pairs",
                         ctl_fold_pairs_json(&d->fold, nodes, nnodes, cfg));
    ids = node_ids(nodes_json, &n);
    m = ids != NULL ? ctl_fold_matrix_json(&d->fold, ids, n) : NULL;
    free((void *)ids);
    methods = json_incref(json_object_get(m, "methods"));
    json_decref(m);
    return methods != NULL
               ? json_pack("{s:s, s:o}", "format", "matrix", "methods", methods)
               : NULL;
}

json_t *ctl_map_range(struct ctl_store *st, const struct ctl_config *cfg,
                      const struct ctl_query *q, ctl_connected_fn connected, void *arg,
                      int *err)
{
    struct range_doc d = {.q = q};
    struct ctl_pieces pieces;
    struct ctl_node *nodes;
    size_t nnodes;
    json_t *nodes_json = load_nodes(st, &nodes, &nnodes, connected, arg), *body = NULL;

    ctl_fold_init(&d.fold);
    *err = nodes_json != NULL ? fold_range(st, q, &pieces, &d) : -EIO;
    if (*err == 0 && ctl_content_nodes_json(nodes_json, cfg) < 0)
        *err = -ENOMEM;
    if (*err == 0 && (body = range_body(&d, nodes_json, nodes, nnodes, cfg)) == NULL)
        *err = -ENOMEM;
    ctl_fold_free(&d.fold);
    free(nodes);
    if (*err != 0) {
        json_decref(nodes_json);
        json_decref(body);
        return NULL;
    }
    json_object_set_new(body, "generated_at", ctl_iso_time(q->now_ms));
    json_object_set_new(body, "from", ctl_iso_time(pieces.from_ms));
    json_object_set_new(body, "to", ctl_iso_time(pieces.to_ms));
    json_object_set_new(body, "nodes", nodes_json);
    return body;
}
