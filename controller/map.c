/*
 * map.c - the JSON documents of the HTTP API, built from the store.
 *
 * A pair's percentiles are read from the merge of its windows' sketches,
 * never averaged from per-window percentiles (DESIGN.md, measurement rules).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "analysis.h"
#include "controller.h"

#define FIBRE_KM_PER_MS (299792.458 / 1.47 / 1000.0) /* light in fibre, km per ms */
#define EARTH_RADIUS_KM 6371.0

struct node {
    char id[PROTO_ID_MAX + 1];
    int has_location;
    double lat, lon;
};

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

static json_t *iso_time(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];

    if (ms <= 0)
        return json_null();
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

/* Milliseconds with microsecond resolution, or null. */
static json_t *ms_value(double ns, int valid)
{
    if (!valid || !isfinite(ns))
        return json_null();
    return json_real(round(ns / 1000.0) / 1000.0);
}

double ctl_fibre_rtt_ms(double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * M_PI / 180, p2 = lat2 * M_PI / 180;
    double dp = p2 - p1, dl = (lon2 - lon1) * M_PI / 180;
    double a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
    double km = 2 * EARTH_RADIUS_KM * atan2(sqrt(a), sqrt(1 - a));

    return 2 * km / FIBRE_KM_PER_MS;
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
    json_t *addrs = json_loads(r->addresses, 0, NULL);
    json_t *loc = r->has_location ? json_pack("{s:f, s:f}", "lat", r->lat, "lon", r->lon)
                                  : json_null();

    return json_array_append_new(
               d->list,
               json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:o}", "id", r->id, "name",
                         r->name, "addresses", addrs ? addrs : json_array(), "location",
                         loc ? loc : json_null(), "last_seen", iso_time(r->last_seen_ms),
                         "connected", d->connected(d->arg, r->id), "delivery",
                         ctl_store_delivery_json(d->st, r->id))) < 0
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

struct nodes_doc {
    ctl_connected_fn connected;
    void *arg;
    json_t *list;
    struct node *v;
    size_t n, cap;
};

static int node_row(void *arg, const struct ctl_probe_row *r)
{
    struct nodes_doc *d = arg;
    struct node *nd;

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
static json_t *load_nodes(struct ctl_store *st, struct node **nodes, size_t *n,
                          ctl_connected_fn connected, void *arg)
{
    struct nodes_doc d = {.connected = connected, .arg = arg, .list = json_array()};

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

static json_t *text_or_null(const char *v)
{
    return v[0] != '\0' ? json_string(v) : json_null();
}

/* The configuration's content nodes, appended to the node list. */
static int content_nodes(json_t *list, const struct ctl_config *cfg)
{
    for (size_t i = 0; cfg != NULL && i < cfg->ncontent; i++) {
        const struct ctl_content *n = &cfg->content[i];
        json_t *methods = json_array();

        for (int m = PROTO_METHOD_ICMP; methods != NULL && m <= PROTO_METHOD_MAX; m++)
            if (n->methods & (1u << m))
                json_array_append_new(methods,
                                      json_string(proto_method_name((uint8_t)m)));
        if (json_array_append_new(
                list, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "id", n->id, "name",
                                n->name, "kind", "content", "host", text_or_null(n->host),
                                "address", text_or_null(n->addr), "methods",
                                methods ? methods : json_null())) < 0)
            return -ENOMEM;
    }
    return 0;
}

static const struct node *find_node(const struct node *nodes, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(nodes[i].id, id) == 0)
            return &nodes[i];
    return NULL;
}

/* Speed-of-light stretch of the pair: p50 over the fibre minimum. */
static json_t *stretch_json(const struct node *a, const struct node *b, double p50_ns,
                            int valid)
{
    double min_ms;

    if (!valid || a == NULL || b == NULL || !a->has_location || !b->has_location)
        return json_null();
    min_ms = ctl_fibre_rtt_ms(a->lat, a->lon, b->lat, b->lon);
    if (min_ms < 0.001)
        return json_null(); /* co-located: the ratio means nothing */
    return json_real(round(p50_ns / 1e6 / min_ms * 100) / 100);
}

static json_t *probe_pair_json(const struct ctl_pair *p, const struct node *nodes,
                               size_t nnodes);

/* RFC 1035 4.1.1 and RFC 6895 2.3: the common RCODEs by name, others by number. */
static json_t *rcode_json(json_int_t rc)
{
    const char *name = rc >= 0 && rc < 65536 ? proto_dns_rcode_name((unsigned)rc) : NULL;

    return name != NULL ? json_string(name) : json_integer(rc);
}

static json_int_t latest_int(const struct ctl_pair *p, const char *key)
{
    return json_integer_value(json_object_get(p->latest, key));
}

static json_t *latest_text(const struct ctl_pair *p, const char *key)
{
    const char *v = json_string_value(json_object_get(p->latest, key));

    return v != NULL ? json_string(v) : json_null();
}

static json_t *phases_json(const struct ctl_pair *p)
{
    static const char *const keys[][2] = {{"tdns", "dns"},
                                          {"tcon", "connect"},
                                          {"ttls", "tls"},
                                          {"tfb", "ttfb"},
                                          {"ttot", "total"}};
    json_t *o = json_object();

    for (size_t i = 0; o != NULL && i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_int_t ns = latest_int(p, keys[i][0]);

        if (ns > 0)
            json_object_set_new(o, keys[i][1], ms_value((double)ns, 1));
    }
    if (o != NULL && json_object_size(o) == 0) {
        json_decref(o);
        return json_null();
    }
    return o;
}

/*
 * What a content method learnt, each from the newest window that had it;
 * null where none did.  header's name comes from the configuration, which
 * the record does not repeat.
 */
static int add_content_fields(json_t *o, const struct ctl_pair *p,
                              const struct ctl_content *n)
{
    json_int_t hs = latest_int(p, "hs"), ce = latest_int(p, "ce");
    json_int_t vr = latest_int(p, "vr"), rc = latest_int(p, "rc");
    const char *hv = json_string_value(json_object_get(p->latest, "hv"));
    json_t *header = json_null(), *verify = json_null();

    if (hv != NULL)
        header = json_pack("{s:o, s:s}", "name",
                           n != NULL ? json_string(n->header) : json_null(), "value", hv);
    if (vr == 1)
        verify = json_string("ok");
    else if (vr > 1 && vr - 1 <= INT32_MAX)
        verify = json_string(X509_verify_cert_error_string((long)(vr - 1)));
    return json_object_update_new(
        o, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "http_status",
                     hs > 0 ? json_integer(hs) : json_null(), "header",
                     header ? header : json_null(), "tls_version", latest_text(p, "tv"),
                     "tls_cipher", latest_text(p, "tc"), "cert_not_after",
                     ce > 0 && ce < INT64_MAX / 1000 ? iso_time(ce * 1000) : json_null(),
                     "verify", verify ? verify : json_null(), "dns_rcode",
                     rc > 0 ? rcode_json(rc - 1) : json_null(), "dns_answers",
                     json_object_get(p->latest, "an") != NULL
                         ? json_integer(latest_int(p, "an"))
                         : json_null(),
                     "phases_ms", phases_json(p)));
}

static json_t *outcomes_json(const struct ctl_pair *p)
{
    json_t *o = json_object();

    for (unsigned i = PROTO_OUT_OK + 1; o != NULL && i < PROTO_OUTCOME_MAX; i++)
        if (p->outcomes[i] > 0)
            json_object_set_new(o, proto_outcome_name(i),
                                json_integer((json_int_t)p->outcomes[i]));
    return o;
}

/* The newest window's loss alone: a server that just stopped shows at once,
 * however long the range the rest of the pair is summed over. */
static json_t *last_loss_json(const struct ctl_pair *p)
{
    if (p->last_sent == 0)
        return json_null();
    return json_real(round((double)p->last_lost * 10000.0 / (double)p->last_sent) /
                     100.0);
}

static json_t *pair_json(const struct ctl_pair *p, const struct node *nodes,
                         size_t nnodes, const struct ctl_config *cfg)
{
    json_t *o = probe_pair_json(p, nodes, nnodes);
    json_t *oc = outcomes_json(p);

    if (o == NULL || oc == NULL) {
        json_decref(oc);
        goto fail;
    }
    /* The last failure's reason, while the newest window still fails: once
     * the pair has recovered, an old reason would only mislead. */
    if (json_object_set_new(o, "outcomes", oc) < 0 ||
        json_object_set_new(o, "why",
                            p->last_lost > 0 ? latest_text(p, "why") : json_null()) < 0 ||
        json_object_set_new(o, "last_loss_pct", last_loss_json(p)) < 0)
        goto fail;
    if (p->method != PROTO_METHOD_STAMP) {
        /* Path class and stretch are about probe pairs (TTL 255 both ways,
         * two known locations): a content node has neither. */
        if (json_object_set_new(o, "path_class", json_null()) < 0 ||
            json_object_set_new(o, "stretch", json_null()) < 0 ||
            add_content_fields(o, p, cfg ? ctl_config_content(cfg, p->dst) : NULL) < 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *probe_pair_json(const struct ctl_pair *p, const struct node *nodes,
                               size_t nnodes)
{
    int ok = p->received > 0;
    double p50 = ctl_pair_quantile(p, 0.5);
    json_t *loss =
        p->sent ? json_real(round(p->lost * 10000.0 / p->sent) / 100) : json_null();
    json_t *jitter =
        p->ipdv_count ? ms_value((double)p->ipdv_sum_ns / p->ipdv_count, 1) : json_null();

    const char *pc = proto_path_class((uint8_t)p->ttl);

    return json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o}",
        "src", p->src, "dst", p->dst, "method", proto_method_name((uint8_t)p->method),
        "sent", (json_int_t)p->sent, "received", (json_int_t)p->received, "duplicates",
        (json_int_t)p->duplicates, "reordered", (json_int_t)p->reordered, "loss_pct",
        loss, "rtt_min_ms", ms_value((double)p->min_ns, ok), "rtt_p50_ms",
        ms_value(p50, ok), "rtt_p90_ms", ms_value(ctl_pair_quantile(p, 0.9), ok),
        "rtt_p99_ms", ms_value(ctl_pair_quantile(p, 0.99), ok), "rtt_max_ms",
        ms_value((double)p->max_ns, ok), "jitter_ms", jitter, "path_class",
        pc ? json_string(pc) : json_null(), "stretch",
        stretch_json(find_node(nodes, nnodes, p->src), find_node(nodes, nnodes, p->dst),
                     p50, ok));
}

struct pairs_doc {
    const struct node *nodes;
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
        if (json_array_append_new(d->list,
                                  pair_json(&d->acc, d->nodes, d->nnodes, d->cfg)) < 0)
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
                          const struct node *nodes, size_t nnodes,
                          const struct ctl_config *cfg)
{
    struct pairs_doc d = {
        .nodes = nodes, .nnodes = nnodes, .cfg = cfg, .list = json_array()};
    struct ctl_window_range range = {.from_ms = since_ms, .to_ms = INT64_MAX};
    int rc = ctl_pair_init(&d.acc);

    if (rc == 0 && d.list != NULL)
        rc = ctl_store_windows(st, &range, pair_row, &d);
    if (rc == 0 && d.have &&
        json_array_append_new(d.list, pair_json(&d.acc, nodes, nnodes, cfg)) < 0)
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
    struct node *nodes;
    size_t nnodes;
    json_t *nodes_json = load_nodes(st, &nodes, &nnodes, connected, arg);
    json_t *pairs = load_pairs(st, now_ms - (int64_t)window_s * 1000, nodes, nnodes, cfg);

    free(nodes);
    if (nodes_json != NULL && content_nodes(nodes_json, cfg) < 0) {
        json_decref(nodes_json);
        nodes_json = NULL;
    }
    if (nodes_json == NULL || pairs == NULL) { /* the HTTP layer answers 500 */
        json_decref(nodes_json);
        json_decref(pairs);
        return NULL;
    }
    return json_pack("{s:o, s:I, s:o, s:o}", "generated_at", iso_time(now_ms), "window_s",
                     (json_int_t)window_s, "nodes", nodes_json, "pairs", pairs);
}
