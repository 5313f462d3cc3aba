/*
 * pair_json.c - how the API writes a pair, a node and a time: pure code
 * over a merged pair (pairs.c) and the configuration.
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

json_t *ctl_iso_time(int64_t ms)
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

json_t *ctl_ms_json(double ns, int valid)
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

static json_t *text_or_null(const char *v)
{
    return v[0] != '\0' ? json_string(v) : json_null();
}

/* The configuration's content nodes, appended to the node list. */
int ctl_content_nodes_json(json_t *list, const struct ctl_config *cfg)
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

static const struct ctl_node *find_node(const struct ctl_node *nodes, size_t n,
                                        const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(nodes[i].id, id) == 0)
            return &nodes[i];
    return NULL;
}

/* Speed-of-light stretch of the pair: p50 over the fibre minimum. */
static json_t *stretch_json(const struct ctl_node *a, const struct ctl_node *b,
                            double p50_ns, int valid)
{
    double min_ms;

    if (!valid || a == NULL || b == NULL || !a->has_location || !b->has_location)
        return json_null();
    min_ms = ctl_fibre_rtt_ms(a->lat, a->lon, b->lat, b->lon);
    if (min_ms < 0.001)
        return json_null(); /* co-located: the ratio means nothing */
    return json_real(round(p50_ns / 1e6 / min_ms * 100) / 100);
}

static json_t *probe_pair_json(const struct ctl_pair *p, const struct ctl_node *nodes,
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
            json_object_set_new(o, keys[i][1], ctl_ms_json((double)ns, 1));
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
        o,
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "http_status",
                  hs > 0 ? json_integer(hs) : json_null(), "header",
                  header ? header : json_null(), "tls_version", latest_text(p, "tv"),
                  "tls_cipher", latest_text(p, "tc"), "cert_not_after",
                  ce > 0 && ce < INT64_MAX / 1000 ? ctl_iso_time(ce * 1000) : json_null(),
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

json_t *ctl_pair_json(const struct ctl_pair *p, const struct ctl_node *nodes,
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

static json_t *probe_pair_json(const struct ctl_pair *p, const struct ctl_node *nodes,
                               size_t nnodes)
{
    int ok = p->received > 0;
    double p50 = ctl_pair_quantile(p, 0.5);
    json_t *loss =
        p->sent ? json_real(round(p->lost * 10000.0 / p->sent) / 100) : json_null();
    json_t *jitter = p->ipdv_count
                         ? ctl_ms_json((double)p->ipdv_sum_ns / p->ipdv_count, 1)
                         : json_null();

    const char *pc = proto_path_class((uint8_t)p->ttl);

    return json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o}",
        "src", p->src, "dst", p->dst, "method", proto_method_name((uint8_t)p->method),
        "sent", (json_int_t)p->sent, "received", (json_int_t)p->received, "duplicates",
        (json_int_t)p->duplicates, "reordered", (json_int_t)p->reordered, "loss_pct",
        loss, "rtt_min_ms", ctl_ms_json((double)p->min_ns, ok), "rtt_p50_ms",
        ctl_ms_json(p50, ok), "rtt_p90_ms", ctl_ms_json(ctl_pair_quantile(p, 0.9), ok),
        "rtt_p99_ms", ctl_ms_json(ctl_pair_quantile(p, 0.99), ok), "rtt_max_ms",
        ctl_ms_json((double)p->max_ns, ok), "jitter_ms", jitter, "path_class",
        pc ? json_string(pc) : json_null(), "stretch",
        stretch_json(find_node(nodes, nnodes, p->src), find_node(nodes, nnodes, p->dst),
                     p50, ok));
}
