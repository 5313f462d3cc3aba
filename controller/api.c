/*
 * api.c - the parameters of the map and the history API, checked: every
 * refusal says which argument and why (DESIGN.md's paths).
 *
 *   /api/v1/map?window=S                    the live map (last S seconds)
 *   /api/v1/map?from=T&to=T[&format=matrix] any range, from the rollups
 *   /api/v1/pairs/SRC/DST/series?method=M&from=T&to=T&step=S
 *   /api/v1/pairs/SRC/DST/windows?method=M&from=T&to=T
 *
 * T is RFC 3339 or Unix seconds, in UTC; to defaults to now, from to a
 * day before to.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_io.h"

#define WINDOW_DEFAULT_S 60
#define RANGE_MAX_MS     (400LL * 86400 * 1000) /* "a year", and some */
#define RANGE_DEFAULT_MS (86400LL * 1000)
#define PAIRS_PREFIX     "/api/v1/pairs/"

static int refuse(char *why, size_t len, const char *fmt, const char *arg)
{
    snprintf(why, len, fmt, arg);
    return -1;
}

/* from and to, each optional; to after from, within RANGE_MAX_MS. */
static int parse_range(ctl_arg_fn args, void *arg, int64_t now_ms, struct ctl_query *q,
                       char *why, size_t len)
{
    const char *f = args(arg, "from"), *t = args(arg, "to");

    q->to_ms = now_ms;
    if (t != NULL && ctl_parse_time(t, &q->to_ms) < 0)
        return refuse(why, len, "to: '%.40s' is not a time (RFC 3339 or Unix seconds)",
                      t);
    q->from_ms = q->to_ms - RANGE_DEFAULT_MS;
    if (f != NULL && ctl_parse_time(f, &q->from_ms) < 0)
        return refuse(why, len, "from: '%.40s' is not a time (RFC 3339 or Unix seconds)",
                      f);
    if (q->from_ms >= q->to_ms)
        return refuse(why, len, "from must be before to%s", "");
    if (q->to_ms - q->from_ms > RANGE_MAX_MS)
        return refuse(why, len, "the range may be at most 400 days%s", "");
    return 0;
}

static int parse_map(ctl_arg_fn args, void *arg, int64_t now_ms, struct ctl_query_req *r,
                     char *why, size_t len)
{
    const char *w = args(arg, "window"), *fmt = args(arg, "format");

    if (w != NULL && (args(arg, "from") != NULL || args(arg, "to") != NULL))
        return refuse(why, len, "window, or from and to: not both%s", "");
    if (fmt != NULL && strcmp(fmt, "matrix") != 0 && strcmp(fmt, "pairs") != 0)
        return refuse(why, len, "format: '%.20s' is not matrix or pairs", fmt);
    r->q.kind = CTL_Q_RANGE;
    r->q.matrix = fmt != NULL && strcmp(fmt, "matrix") == 0;
    if (args(arg, "from") == NULL && args(arg, "to") == NULL) {
        if (r->q.matrix)
            return refuse(why, len, "format=matrix needs from and to%s", "");
        r->window_s = WINDOW_DEFAULT_S;
        if (w != NULL && ctl_parse_window(w, &r->window_s) < 0)
            return refuse(why, len,
                          "window must be a whole number of seconds from 1 to 2592000%s",
                          "");
        snprintf(r->key, sizeof(r->key), "map window=%u", r->window_s);
        return 1;
    }
    if (parse_range(args, arg, now_ms, &r->q, why, len) < 0)
        return -1;
    snprintf(r->key, sizeof(r->key), "map from=%lld to=%lld%s", (long long)r->q.from_ms,
             (long long)r->q.to_ms, r->q.matrix ? " matrix" : "");
    return 1;
}

/* "SRC/DST/WHAT" after the prefix: both ids valid, WHAT series or windows. */
static int parse_pair_path(const char *rest, struct ctl_query *q, char *why, size_t len)
{
    char buf[2 * PROTO_ID_MAX + 32], *src = buf, *dst, *what;

    if (strlen(rest) >= sizeof(buf))
        return refuse(why, len, "no such resource%s", "");
    strcpy(buf, rest);
    if ((dst = strchr(src, '/')) == NULL || (what = strchr(dst + 1, '/')) == NULL)
        return refuse(why, len, "no such resource%s", "");
    *dst++ = '\0';
    *what++ = '\0';
    if (!proto_id_valid(src))
        return refuse(why, len, "'%.64s' is not a probe id", src);
    if (!proto_id_valid(dst))
        return refuse(why, len, "'%.64s' is not a probe or content node id", dst);
    if (strcmp(what, "series") == 0)
        q->kind = CTL_Q_SERIES;
    else if (strcmp(what, "windows") == 0)
        q->kind = CTL_Q_WINDOWS;
    else
        return refuse(why, len, "no such resource: %.20s (series or windows)", what);
    snprintf(q->src, sizeof(q->src), "%s", src);
    snprintf(q->dst, sizeof(q->dst), "%s", dst);
    return 0;
}

/* ?step=S: whole seconds; default a 200th of the range, at least 60 s. */
static int parse_step(ctl_arg_fn args, void *arg, struct ctl_query *q, char *why,
                      size_t len)
{
    const char *v = args(arg, "step");
    char *end;
    long long s;

    if (v == NULL) {
        s = (q->to_ms - q->from_ms) / 1000 / 200;
        s = s < 60 ? 60 : s - s % 60;
    } else {
        s = v[0] >= '1' && v[0] <= '9' ? strtoll(v, &end, 10) : 0;
        if (s <= 0 || *end != '\0' || s > 366LL * 86400)
            return refuse(why, len, "step: '%.20s' is not a whole number of seconds", v);
    }
    q->step_ms = s * 1000;
    if ((q->to_ms - q->from_ms) / q->step_ms >= CTL_SERIES_MAX)
        return refuse(why, len, "step: too small for the range: at most 20000 points%s",
                      "");
    return 0;
}

static int parse_pair(const char *rest, ctl_arg_fn args, void *arg, int64_t now_ms,
                      struct ctl_query_req *r, char *why, size_t len)
{
    const char *m = args(arg, "method");

    if (parse_pair_path(rest, &r->q, why, len) < 0)
        return -1;
    r->q.method = m != NULL ? proto_method_parse(m) : PROTO_METHOD_STAMP;
    if (r->q.method < 0)
        return refuse(why, len,
                      "method: '%.20s' is not stamp, icmp, tcp, tls, http or dns", m);
    if (parse_range(args, arg, now_ms, &r->q, why, len) < 0)
        return -1;
    if (r->q.kind == CTL_Q_SERIES && parse_step(args, arg, &r->q, why, len) < 0)
        return -1;
    snprintf(r->key, sizeof(r->key), "%s %s %s %d from=%lld to=%lld step=%lld",
             r->q.kind == CTL_Q_SERIES ? "series" : "windows", r->q.src, r->q.dst,
             r->q.method, (long long)r->q.from_ms, (long long)r->q.to_ms,
             (long long)r->q.step_ms);
    return 1;
}

int ctl_api_parse(const char *url, ctl_arg_fn args, void *arg,
                  const struct ctl_config *cfg, int64_t now_ms, struct ctl_query_req *out,
                  char *why, size_t whylen)
{
    int rc;

    memset(out, 0, sizeof(*out));
    out->q.now_ms = now_ms;
    if (strcmp(url, "/api/v1/map") == 0)
        rc = parse_map(args, arg, now_ms, out, why, whylen);
    else if (strncmp(url, PAIRS_PREFIX, strlen(PAIRS_PREFIX)) == 0)
        rc = parse_pair(url + strlen(PAIRS_PREFIX), args, arg, now_ms, out, why, whylen);
    else
        return 0;
    if (rc > 0)
        ctl_query_horizons(&cfg->retention, now_ms, &out->q.horizons);
    return rc;
}
