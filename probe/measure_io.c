/*
 * measure_io.c - the one-shot measurement, without a controller:
 *
 *   ixmesh-probe measure METHOD TARGET... [--targets-file FILE] [--count N]
 *                [--interval MS] [--timeout MS] [--json] [method options]
 *
 * One task per target, run by the daemon's own scheduler and method code.
 * Unlike the daemon it keeps every RTT (up to MEASURE_SAMPLES_MAX in all),
 * so that its percentiles are exact rather than read from the sketch: it
 * is the tool the testbed checks the truth of our numbers with.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "log.h"
#include "probe.h"

#define MEASURE_SAMPLES_MAX (16u * 1024 * 1024) /* RTTs kept, over all targets */
#define MEASURE_SECONDS_MAX (1u * 1024 * 1024)  /* rx_per_s counters, over all */
#define MEASURE_TARGETS_MAX 100000

struct measure {
    struct probe *p;
    int method;
    char header[PROTO_TOKEN_MAX + 1]; /* http */
    char qname[PROTO_HOST_MAX + 1];   /* dns */
    uint16_t qtype;
    const char *connect; /* an address to use instead of resolving names */
    uint32_t count;      /* packets per target */
    uint32_t interval_ms, timeout_ms, size, dscp;
    int poisson;
    int json;
    int any_reply;
    size_t finished; /* targets that sent their last packet */
    char **targets;  /* the command line's, then the file's (owned) */
    size_t ntargets, nowned;
    /* Every RTT of target i in samples[i * count ...], nsamples[i] of them;
     * NULL when that would be too many, and the sketch answers instead. */
    int64_t *samples;
    uint32_t *nsamples;
    /* STAMP: replies to the requests of each second, rx_per_s[i * nsecs
     * ...] for target i, to tell a reflector's rate limit from loss;
     * NULL when not STAMP or too many. */
    uint32_t *rx_per_s;
    size_t nsecs;
    uv_timer_t done;
};

static void measure_usage(FILE *f)
{
    fprintf(
        f,
        "usage: ixmesh-probe measure METHOD TARGET... [--targets-file FILE] [--count N]\n"
        "                            [--interval MS] [--timeout MS] [--json] [options]\n"
        "\n"
        "Measures each TARGET COUNT times, prints a line per attempt and a summary\n"
        "per target, like ping.  Attempts to different targets are spread evenly over\n"
        "the interval.  Percentiles are exact (every RTT is kept).\n"
        "\n"
        "  stamp ADDR[:PORT]        STAMP test packets (RFC 8762) to a reflector, port "
        "862\n"
        "  icmp  ADDR|NAME          echo requests (like fping)\n"
        "  tcp   HOST:PORT          connect time\n"
        "  tls   HOST[:PORT]        TLS handshake time after connect, port 443\n"
        "  http  http[s]://HOST[:PORT][/PATH]  time to first byte, status, a header\n"
        "  dns   RESOLVER[:PORT]    a query to that resolver, port 53 (--query)\n"
        "IPv6 addresses go in brackets when a port follows.\n"
        "\n"
        "  --targets-file FILE  more targets, one per line ('#' starts a comment)\n"
        "  --count N            attempts per target (default 10)\n"
        "  --interval MS        between two attempts to the same target (default 1000)\n"
        "  --poisson            exponential gaps of mean MS instead (RFC 2330)\n"
        "  --timeout MS         an answer later than this is lost (default 1000)\n"
        "  --dscp N             DSCP of the packets, 0 to 63 (default 0)\n"
        "  --size OCTETS        stamp: packet size, 44 to 1472 (default 44);\n"
        "                       icmp: payload octets, 0 to 1472 (default 56)\n"
        "  --key-file FILE      stamp: 64 hex digits, authenticated mode\n"
        "  --query NAME         dns: the name to ask about (required)\n"
        "  --qtype A|AAAA       dns: the record type (default A)\n"
        "  --header NAME        http: a response header to record (default X-Cache)\n"
        "  --ca-file FILE       tls, http: verify against this CA, not the system's\n"
        "  --connect ADDR       icmp, tcp, tls, http: use this address, not HOST's\n"
        "  --resolver ADDR[:PORT],...  resolve names here, not as /etc/resolv.conf says\n"
        "  --json               print one JSON summary object per target, nothing "
        "else\n");
}

static int opt_error(const char *opt, const char *v, const char *why)
{
    fprintf(stderr, "ixmesh-probe: %s '%s' %s\n", opt, v, why);
    return -1;
}

/* The content methods' options. */
static int content_option(struct measure *m, int c)
{
    struct probe_config *cfg = &m->p->cfg;

    switch (c) {
    case 'Q':
        if (!proto_host_valid(optarg))
            return opt_error("--query", optarg, "is not a DNS name");
        snprintf(m->qname, sizeof(m->qname), "%s", optarg);
        return 0;
    case 'T':
        if (strcasecmp(optarg, "A") == 0 || strcasecmp(optarg, "AAAA") == 0) {
            m->qtype = optarg[1] != '\0' ? 28 : 1;
            return 0;
        }
        return opt_error("--qtype", optarg, "is neither A nor AAAA");
    case 'H':
        if (strlen(optarg) > PROTO_TOKEN_MAX || strpbrk(optarg, " \t:") != NULL)
            return opt_error("--header", optarg, "is not a header name");
        snprintf(m->header, sizeof(m->header), "%s", optarg);
        return 0;
    case 'C':
        if (access(optarg, R_OK) != 0)
            return opt_error("--ca-file", optarg, strerror(errno));
        snprintf(cfg->content_ca, sizeof(cfg->content_ca), "%s", optarg);
        return 0;
    case 'c':
        m->connect = optarg;
        return 0;
    case 'R':
        snprintf(cfg->resolvers, sizeof(cfg->resolvers), "%s", optarg);
        return 0;
    case 'h':
        measure_usage(stdout);
        exit(EXIT_SUCCESS);
    }
    measure_usage(stderr);
    return -1;
}

static int measure_option(struct measure *m, int c)
{
    switch (c) {
    case 'n':
        return probe_cmd_parse_num("--count", optarg, 1, 1000000, &m->count);
    case 'i':
        return probe_cmd_parse_num("--interval", optarg, 1, 3600000, &m->interval_ms);
    case 'P':
        m->poisson = 1;
        return 0;
    case 's':
        return probe_cmd_parse_num("--size", optarg, 0, PROTO_STAMP_MAX_LEN, &m->size);
    case 'd':
        return probe_cmd_parse_num("--dscp", optarg, 0, 63, &m->dscp);
    case 't':
        return probe_cmd_parse_num("--timeout", optarg, 1, 60000, &m->timeout_ms);
    case 'j':
        m->json = 1;
        return 0;
    case 'k':
        return probe_cmd_read_keys(optarg, &m->p->reflector);
    default:
        return content_option(m, c);
    }
}

static int add_target(struct measure *m, char *t, int owned)
{
    char **more;

    if (m->ntargets >= MEASURE_TARGETS_MAX) {
        fprintf(stderr, "ixmesh-probe: more than %d targets\n", MEASURE_TARGETS_MAX);
        return -1;
    }
    more = realloc(m->targets, (m->ntargets + 1) * sizeof(*more));
    if (more == NULL)
        return -1;
    m->targets = more;
    m->targets[m->ntargets++] = t;
    m->nowned += owned;
    return 0;
}

/* Reads one target a line; blank lines and '#' comments are skipped. */
static int read_targets(struct measure *m, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512], *s, *e, *t;
    unsigned lineno = 0;
    int rc = 0;

    if (f == NULL) {
        fprintf(stderr, "ixmesh-probe: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if ((e = strchr(line, '#')) != NULL)
            *e = '\0';
        s = line + strspn(line, " \t\r\n");
        e = s + strcspn(s, " \t\r\n");
        if (*(e + strspn(e, " \t\r\n")) != '\0') {
            fprintf(stderr, "ixmesh-probe: %s:%u: one target per line\n", path, lineno);
            rc = -1;
        } else if (e > s) {
            *e = '\0';
            t = strdup(s);
            rc = t != NULL ? add_target(m, t, 1) : -1;
            if (rc < 0)
                free(t);
        }
    }
    fclose(f);
    return rc;
}

static int measure_args(int argc, char **argv, struct measure *m)
{
    static const struct option opts[] = {{"count", required_argument, NULL, 'n'},
                                         {"interval", required_argument, NULL, 'i'},
                                         {"poisson", no_argument, NULL, 'P'},
                                         {"size", required_argument, NULL, 's'},
                                         {"dscp", required_argument, NULL, 'd'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"key-file", required_argument, NULL, 'k'},
                                         {"targets-file", required_argument, NULL, 'f'},
                                         {"query", required_argument, NULL, 'Q'},
                                         {"qtype", required_argument, NULL, 'T'},
                                         {"header", required_argument, NULL, 'H'},
                                         {"ca-file", required_argument, NULL, 'C'},
                                         {"connect", required_argument, NULL, 'c'},
                                         {"resolver", required_argument, NULL, 'R'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *file = NULL;
    int c;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'f')
            file = optarg;
        else if (measure_option(m, c) < 0)
            return -1;
    }
    m->method = optind < argc ? proto_method_parse(argv[optind]) : -EINVAL;
    if (m->method < 0) {
        fprintf(stderr, "ixmesh-probe: measure: %s\n",
                optind >= argc ? "a method is required (stamp, icmp, tcp, tls, http, dns)"
                               : "unknown method");
        measure_usage(stderr);
        return -1;
    }
    if (m->method == PROTO_METHOD_DNS && m->qname[0] == '\0') {
        fprintf(stderr, "ixmesh-probe: measure dns: --query NAME is required\n");
        return -1;
    }
    if (m->size == UINT32_MAX)
        m->size = m->method == PROTO_METHOD_STAMP ? PROTO_STAMP_BASE_LEN : 56;
    if (m->method == PROTO_METHOD_STAMP && m->size < PROTO_STAMP_BASE_LEN) {
        fprintf(stderr, "ixmesh-probe: measure stamp: --size is 44 to 1472\n");
        return -1;
    }
    for (int i = optind + 1; i < argc; i++)
        if (add_target(m, argv[i], 0) < 0)
            return -1;
    if (file != NULL && read_targets(m, file) < 0)
        return -1;
    srandom((unsigned)(probe_mono_ns() ^ getpid())); /* Poisson gaps, SSIDs */
    if (m->ntargets == 0) {
        fprintf(stderr, "ixmesh-probe: measure: at least one TARGET is required\n");
        return -1;
    }
    return 0;
}

static double ms(double ns)
{
    return round(ns / 1000.0) / 1000.0;
}

/* "ADDR port PORT" for STAMP, as typed for the others. */
static void target_name(const struct measure *m, const struct probe_task *t, char *buf,
                        size_t len)
{
    if (t->spec.method == PROTO_METHOD_STAMP)
        snprintf(buf, len, "%s port %u", t->spec.addr, t->spec.port);
    else
        snprintf(buf, len, "%s", m->targets[t->spec.id - 1]);
}

/* What the content methods learnt, as the map's pair fields name it. */
static void add_info_json(json_t *o, const struct probe_task *t,
                          const struct proto_content_info *in)
{
    json_t *ph = json_object();
    char when[32];

    if (in->http_status != 0)
        json_object_set_new(o, "http_status", json_integer(in->http_status));
    if (t->spec.method == PROTO_METHOD_HTTP) {
        json_object_set_new(o, "http_bytes", json_integer((json_int_t)in->http_bytes));
        json_object_set_new(
            o, "header",
            json_pack("{s:s, s:o}", "name", t->spec.header, "value",
                      in->header_value[0] ? json_string(in->header_value) : json_null()));
    }
    if (in->tls_version[0] != '\0')
        json_object_set_new(o, "tls_version", json_string(in->tls_version));
    if (in->tls_cipher[0] != '\0')
        json_object_set_new(o, "tls_cipher", json_string(in->tls_cipher));
    if (in->cert_not_after != 0) {
        time_t s = (time_t)in->cert_not_after;
        struct tm tm;

        gmtime_r(&s, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(o, "cert_not_after", json_string(when));
    }
    if (in->verify_result != 0)
        json_object_set_new(o, "verify",
                            json_string(in->verify_result == 1
                                            ? "ok"
                                            : X509_verify_cert_error_string(
                                                  (long)in->verify_result - 1)));
    if (in->dns_rcode != 0) {
        const char *rc = proto_dns_rcode_name(in->dns_rcode - 1u);

        json_object_set_new(o, "dns_rcode",
                            rc ? json_string(rc) : json_integer(in->dns_rcode - 1));
        json_object_set_new(o, "dns_answers", json_integer(in->dns_answers));
    }
#define PHASE(k, v)                                                                      \
    if ((v) != 0)                                                                        \
    json_object_set_new(ph, k, json_real(ms((double)(v))))
    PHASE("dns", in->dns_ns);
    PHASE("connect", in->connect_ns);
    PHASE("tls", in->tls_ns);
    PHASE("ttfb", in->ttfb_ns);
    PHASE("total", in->total_ns);
#undef PHASE
    if (json_object_size(ph) > 0)
        json_object_set(o, "phases_ms", ph);
    json_decref(ph);
}

/* "outcomes": the failures by name, and "why": the last one's reason. */
static void add_outcomes_json(json_t *o, const struct proto_result *r)
{
    json_t *oc = json_object();

    for (unsigned k = 1; k < PROTO_OUTCOME_MAX; k++)
        if (r->outcomes[k] != 0)
            json_object_set_new(oc, proto_outcome_name(k), json_integer(r->outcomes[k]));
    json_object_set_new(o, "outcomes", oc);
    json_object_set_new(o, "why", r->why[0] ? json_string(r->why) : json_null());
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The q-quantile of target i: nearest rank of its RTTs, else the sketch. */
static double quantile(const struct measure *m, size_t i, const struct proto_result *r,
                       double q)
{
    uint32_t n = m->samples ? m->nsamples[i] : 0;
    size_t rank;

    if (n == 0)
        return proto_sketch_quantile_within(&r->sketch, q, (double)r->rtt_min_ns,
                                            (double)r->rtt_max_ns);
    rank = (size_t)ceil(q * n);
    return (double)m->samples[i * m->count + (rank > 0 ? rank - 1 : 0)];
}

static json_t *summary_json(const struct measure *m, size_t i, const struct probe_task *t,
                            const struct proto_result *r)
{
    int ok = r->received > 0;
    const char *pc = proto_path_class(r->ttl);
    char name[PROTO_HOST_MAX + 32];
    json_t *o;

    target_name(m, t, name, sizeof(name));
#define MS_OR_NULL(v) (ok ? json_real(ms(v)) : json_null())
    o = json_pack(
        "{s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:f, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:b}",
        "target", t->spec.method == PROTO_METHOD_STAMP ? t->spec.addr : name, "port",
        t->spec.port, "method", proto_method_name(t->spec.method), "sent",
        (json_int_t)r->sent, "received", (json_int_t)r->received, "duplicates",
        (json_int_t)r->duplicates, "reordered", (json_int_t)r->reordered, "loss_pct",
        r->sent ? round(r->lost * 10000.0 / r->sent) / 100 : 0.0, "rtt_min_ms",
        MS_OR_NULL((double)r->rtt_min_ns), "rtt_p50_ms",
        MS_OR_NULL(quantile(m, i, r, 0.5)), "rtt_p90_ms",
        MS_OR_NULL(quantile(m, i, r, 0.9)), "rtt_p99_ms",
        MS_OR_NULL(quantile(m, i, r, 0.99)), "rtt_max_ms",
        MS_OR_NULL((double)r->rtt_max_ns), "jitter_ms",
        r->ipdv_count ? json_real(ms((double)r->ipdv_sum_ns / r->ipdv_count))
                      : json_null(),
        "path_class", pc ? json_string(pc) : json_null(), "exact", m->samples != NULL);
#undef MS_OR_NULL
    if (o == NULL)
        return NULL;
    if (t->spec.addr[0] != '\0')
        json_object_set_new(o, "addr", json_string(t->spec.addr));
    add_outcomes_json(o, r);
    add_info_json(o, t, &r->info);
    return o;
}

/* "failures: refused 3, timeout 1 (last: ...)" when there were any. */
static void print_outcomes(const struct proto_result *r)
{
    const char *sep = "failures: ";

    for (unsigned k = 1; k < PROTO_OUTCOME_MAX; k++)
        if (r->outcomes[k] != 0) {
            printf("%s%s %u", sep, proto_outcome_name(k), r->outcomes[k]);
            sep = ", ";
        }
    if (*sep == ',')
        printf(" (last: %s)\n", r->why);
}

/* Counts a reply under the second its request was sent in. */
static void count_reply_second(struct measure *m, size_t i, uint32_t k)
{
    uint64_t sec = (uint64_t)k * m->interval_ms / 1000;

    if (m->rx_per_s != NULL && sec < m->nsecs)
        m->rx_per_s[i * m->nsecs + sec]++;
}

/*
 * A reflector's rate limit passes for loss on the path: the sender cannot
 * tell a refusal from a drop.  Says so when the replies look like it.
 */
static void warn_rate_limit(const struct measure *m, size_t i, const struct probe_task *t,
                            json_t *j)
{
    uint32_t per_s = m->interval_ms <= 1000 ? 1000 / m->interval_ms : 0;
    char name[PROTO_HOST_MAX + 32];
    double rate;

    if (m->rx_per_s == NULL || per_s == 0 || m->poisson ||
        !probe_reflect_limit_suspected(m->rx_per_s + i * m->nsecs, m->nsecs, per_s,
                                       &rate))
        return;
    target_name(m, t, name, sizeof(name));
    log_warn("%s: replies came at a steady %.0f a second while %u a second were sent: "
             "the loss looks like a reflector's rate limit, not the path's (ixmesh "
             "'reflect --rate' and '--rate-total', probe.ini stamp_rate and "
             "stamp_rate_total)",
             name, rate, per_s);
    if (j != NULL)
        json_object_set_new(j, "reflector_rate_limit_pps", json_real(round(rate)));
}

static void print_summary(const struct measure *m, size_t i, const struct probe_task *t,
                          const struct proto_result *r)
{
    char name[PROTO_HOST_MAX + 32];
    const char *pc = proto_path_class(r->ttl);

    if (m->json) {
        json_t *j = summary_json(m, i, t, r);

        warn_rate_limit(m, i, t, j);
        json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
        putchar('\n');
        json_decref(j);
        return;
    }
    target_name(m, t, name, sizeof(name));
    printf("--- %s %s statistics ---\n", name, proto_method_name(t->spec.method));
    printf("%u sent, %u received, %.1f%% loss, %u duplicates, %u reordered\n", r->sent,
           r->received, r->sent ? 100.0 * r->lost / r->sent : 0.0, r->duplicates,
           r->reordered);
    if (r->received > 0) {
        printf("rtt min/p50/p90/p99/max = %.3f/%.3f/%.3f/%.3f/%.3f ms, jitter %.3f ms",
               ms((double)r->rtt_min_ns), ms(quantile(m, i, r, 0.5)),
               ms(quantile(m, i, r, 0.9)), ms(quantile(m, i, r, 0.99)),
               ms((double)r->rtt_max_ns),
               r->ipdv_count ? ms((double)r->ipdv_sum_ns / r->ipdv_count) : 0.0);
        /* Only STAMP learns both legs' TTLs, which the path class needs. */
        if (t->spec.method == PROTO_METHOD_STAMP)
            printf(", path %s", pc ? pc : "unknown");
        putchar('\n');
    }
    print_outcomes(r);
    fflush(stdout);
    warn_rate_limit(m, i, t, NULL);
}

/* One attempt's line: the method's time, or its failure, and what it learnt. */
static void print_attempt(const struct measure *m, const struct probe_task *t,
                          const struct probe_reply *rep)
{
    const struct proto_content_info *in = rep->info;
    char name[PROTO_HOST_MAX + 32];

    target_name(m, t, name, sizeof(name));
    printf("%s %s: seq=%u ", proto_method_name(t->spec.method), name,
           rep->seq - t->first_seq);
    if (rep->outcome != PROTO_OUT_OK)
        printf("%s: %s", proto_outcome_name((unsigned)rep->outcome),
               rep->why ? rep->why : "");
    else
        printf("time=%.3f ms", ms((double)rep->rtt_ns));
    if (in != NULL && in->http_status != 0)
        printf(" status=%u bytes=%llu %s=%s", in->http_status,
               (unsigned long long)in->http_bytes, t->spec.header,
               in->header_value[0] ? in->header_value : "(none)");
    if (in != NULL && in->tls_version[0] != '\0')
        printf(" %s %s", in->tls_version, in->tls_cipher);
    if (in != NULL && in->dns_rcode != 0)
        printf(" answers=%u", in->dns_answers);
    putchar('\n');
}

static void on_reply(struct probe *p, struct probe_task *t, const struct probe_reply *rep)
{
    struct measure *m = p->cmd;
    size_t i = t->spec.id - 1;
    char name[PROTO_HOST_MAX + 32];

    if (rep->outcome == PROTO_OUT_OK) {
        m->any_reply = 1;
        if (m->samples != NULL && m->nsamples[i] < m->count)
            m->samples[i * m->count + m->nsamples[i]++] = rep->rtt_ns;
        count_reply_second(m, i, rep->seq - t->first_seq);
    }
    if (m->json)
        return;
    if (t->spec.method != PROTO_METHOD_STAMP) {
        print_attempt(m, t, rep);
    } else {
        char ttl[8] = "unknown"; /* a TWAMP-Light reply without the Sender TTL */

        if (rep->has_ttl)
            snprintf(ttl, sizeof(ttl), "%u", rep->ttl);
        target_name(m, t, name, sizeof(name));
        printf("%zu octets from %s: seq=%u ttl=%s/%u rtt=%.3f ms\n", rep->len, name,
               rep->seq - t->first_seq, ttl, rep->return_ttl, ms((double)rep->rtt_ns));
    }
    fflush(stdout);
}

/* Every target had its packets and the last timeout passed: summarise. */
static void on_done_cb(uv_timer_t *h)
{
    struct measure *m = h->data;
    struct probe *p = m->p;

    for (size_t i = 0; i < p->ntasks; i++) {
        struct proto_result r;

        probe_wheel_del(&p->wheel, &p->tasks[i]->tick); /* interrupted: no more */
        if (m->samples != NULL)
            qsort(m->samples + i * m->count, m->nsamples[i], sizeof(int64_t), cmp_i64);
        probe_window_close(p->tasks[i], &p->tasks[i]->win[0], 1, &r);
        print_summary(m, i, p->tasks[i], &r);
        proto_sketch_free(&r.sketch);
    }
    if (!m->json && m->method == PROTO_METHOD_STAMP)
        printf("transmit times: %llu from the kernel, %llu from the clock\n",
               (unsigned long long)p->stamp.tx_kernel,
               (unsigned long long)p->stamp.tx_user);
    uv_stop(p->loop);
}

static void on_interrupt(struct probe *p)
{
    struct measure *m = p->cmd;

    on_done_cb(&m->done);
}

/* A target made its last attempt: after the last one's timeout, summarise. */
static void on_task_done(struct probe *p, struct probe_task *t)
{
    struct measure *m = p->cmd;

    (void)t;
    /* A few ms past the last timeout: the methods' own timers (c-ares
     * rounds up from the loop's cached time) end it first, with a reason. */
    if (++m->finished == p->ntasks) {
        uv_update_time(p->loop);
        uv_timer_start(&m->done, on_done_cb, m->timeout_ms + 10, 0);
    }
}

static uint16_t default_port(int method, int tls)
{
    switch (method) {
    case PROTO_METHOD_STAMP:
        return PROBE_STAMP_PORT;
    case PROTO_METHOD_TLS:
        return 443;
    case PROTO_METHOD_DNS:
        return 53;
    case PROTO_METHOD_HTTP:
        return tls ? 443 : 80;
    default:
        return 0;
    }
}

/*
 * Splits "HOST", "HOST:PORT", "[ADDR6]:PORT" or a bare IPv6 address into
 * spec's addr (a literal) or host (a name), and port.  -EINVAL when it is
 * neither.
 */
static int split_host_port(const char *s, size_t n, struct proto_task *spec,
                           uint16_t def_port)
{
    char buf[PROTO_HOST_MAX + 8], *host = buf, *port = NULL, *end;
    struct sockaddr_storage ss;
    socklen_t sl;
    unsigned long v;

    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (buf[0] == '[') {
        host = buf + 1;
        if ((end = strchr(host, ']')) == NULL || (end[1] != '\0' && end[1] != ':'))
            return -EINVAL;
        *end = '\0';
        port = end[1] == ':' ? end + 2 : NULL;
    } else if ((end = strchr(buf, ':')) != NULL && strchr(end + 1, ':') == NULL) {
        *end = '\0';
        port = end + 1;
    }
    spec->port = def_port;
    if (port != NULL) {
        v = strtoul(port, &end, 10);
        if (*port == '\0' || *end != '\0' || v == 0 || v > 65535)
            return -EINVAL;
        spec->port = (uint16_t)v;
    }
    if (proto_addr_parse(host, 1, &ss, &sl) == 0)
        return proto_addr_ntop((struct sockaddr *)&ss, spec->addr, sizeof(spec->addr));
    if (!proto_host_valid(host) || buf[0] == '[')
        return -EINVAL;
    memcpy(spec->host, host, strlen(host) + 1); /* valid: at most PROTO_HOST_MAX */
    return 0;
}

/* "http[s]://HOST[:PORT][/PATH]" into spec. */
static int parse_url(const char *s, struct proto_task *spec)
{
    const char *rest, *slash;

    if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        rest = s + 8, spec->tls = 1;
    else
        return -EINVAL;
    slash = strchr(rest, '/');
    snprintf(spec->path, sizeof(spec->path), "%s", slash ? slash : "/");
    if (slash != NULL && strlen(slash) > PROTO_PATH_MAX)
        return -EINVAL;
    for (const char *c = spec->path; *c != '\0'; c++)
        if (*c < 0x21 || *c > 0x7e) /* RFC 9110 7.1: no spaces, no controls */
            return -EINVAL;
    return split_host_port(rest, slash ? (size_t)(slash - rest) : strlen(rest), spec,
                           spec->tls ? 443 : 80);
}

/* A command-line target as the task the method runs. */
static int parse_target(const struct measure *m, const char *s, struct proto_task *spec)
{
    int rc;

    if (m->method == PROTO_METHOD_HTTP)
        rc = parse_url(s, spec);
    else
        rc = split_host_port(s, strlen(s), spec, default_port(m->method, 0));
    if (rc < 0)
        return rc;
    if ((m->method == PROTO_METHOD_STAMP || m->method == PROTO_METHOD_DNS) &&
        spec->addr[0] == '\0')
        return -EINVAL; /* a reflector or a resolver is an address */
    if (m->method == PROTO_METHOD_TCP && spec->port == 0)
        return -EINVAL;
    if (m->method == PROTO_METHOD_ICMP)
        spec->port = 0;
    if (m->connect != NULL && spec->host[0] != '\0') {
        struct sockaddr_storage ss;
        socklen_t sl;

        if (proto_addr_parse(m->connect, 1, &ss, &sl) < 0)
            return -EINVAL;
        proto_addr_ntop((struct sockaddr *)&ss, spec->addr, sizeof(spec->addr));
    }
    return 0;
}

static const char *target_forms[] = {
    [PROTO_METHOD_STAMP] = "ADDR[:PORT]",
    [PROTO_METHOD_ICMP] = "ADDR or NAME",
    [PROTO_METHOD_TCP] = "HOST:PORT",
    [PROTO_METHOD_TLS] = "HOST[:PORT]",
    [PROTO_METHOD_HTTP] = "http[s]://HOST[:PORT][/PATH]",
    [PROTO_METHOD_DNS] = "ADDR[:PORT]",
};

static struct probe_task *make_task(struct measure *m, size_t i)
{
    struct proto_task spec = {.id = (uint32_t)i + 1,
                              .method = (uint8_t)m->method,
                              .interval_ms = m->interval_ms,
                              .timeout_ms = m->timeout_ms,
                              .size = (uint16_t)m->size,
                              .dscp = (uint8_t)m->dscp,
                              .poisson = (uint8_t)m->poisson,
                              .qtype = m->qtype};
    struct probe_task *t;

    if (parse_target(m, m->targets[i], &spec) < 0) {
        fprintf(stderr, "ixmesh-probe: '%s' is not %s%s\n", m->targets[i],
                target_forms[m->method],
                m->connect != NULL ? " (or --connect is not an address)" : "");
        return NULL;
    }
    snprintf(spec.target_id, sizeof(spec.target_id), "target-%zu", i + 1);
    snprintf(spec.header, sizeof(spec.header), "%s", m->header);
    snprintf(spec.qname, sizeof(spec.qname), "%s", m->qname);
    t = probe_task_new(&spec);
    if (t == NULL || (m->method == PROTO_METHOD_STAMP &&
                      probe_task_fit_family(t, m->p->stamp.family) < 0)) {
        fprintf(stderr, "ixmesh-probe: cannot reach %s from this socket\n",
                m->targets[i]);
        probe_task_free(t);
        return NULL;
    }
    return t;
}

/* Replies are matched to tasks by address: a target listed twice would
 * have every reply counted for its first listing only. */
static int unique_target(const struct probe *p, const struct probe_task *t)
{
    if (t->spec.method != PROTO_METHOD_STAMP && t->spec.method != PROTO_METHOD_ICMP)
        return 1; /* connections and queries know their own */
    for (size_t i = 0; i < p->ntasks; i++)
        if (t->dstlen != 0 && p->tasks[i]->dstlen == t->dstlen &&
            memcmp(&p->tasks[i]->dst, &t->dst, t->dstlen) == 0) {
            fprintf(stderr, "ixmesh-probe: %s port %u is listed twice\n", t->spec.addr,
                    t->spec.port);
            return 0;
        }
    return 1;
}

/* One task per target, their first packets spread evenly over an interval. */
static int make_tasks(struct measure *m)
{
    struct probe *p = m->p;
    size_t n = m->ntargets;
    int rc;

    p->window_serial = 1;
    p->window_label_ms = 1;
    p->tasks = calloc(n, sizeof(*p->tasks));
    if (p->tasks == NULL)
        return -ENOMEM;
    if ((uint64_t)n * m->count <= MEASURE_SAMPLES_MAX) {
        m->samples = malloc(n * m->count * sizeof(*m->samples));
        m->nsamples = calloc(n, sizeof(*m->nsamples));
        if (m->samples == NULL || m->nsamples == NULL) { /* the sketch will do */
            free(m->samples);
            free(m->nsamples);
            m->samples = NULL;
            m->nsamples = NULL;
        }
    }
    m->nsecs = (uint64_t)m->count * m->interval_ms / 1000;
    if (m->method == PROTO_METHOD_STAMP && m->nsecs > 0 &&
        (uint64_t)n * m->nsecs <= MEASURE_SECONDS_MAX)
        m->rx_per_s = calloc(n * m->nsecs, sizeof(*m->rx_per_s)); /* NULL: no warning */
    for (size_t i = 0; i < n; i++) {
        struct probe_task *t = make_task(m, i);

        if (t == NULL)
            return -EINVAL;
        if (!unique_target(p, t)) {
            probe_task_free(t);
            return -EINVAL;
        }
        t->count_left = m->count;
        /* Exact percentiles come from the samples: a sketch per target
         * would only cost memory (a thousand targets, about 1 MiB). */
        t->win[0].no_sketch = t->win[1].no_sketch = m->samples != NULL;
        p->tasks[p->ntasks++] = t;
        rc = probe_sched_start_task(p, t, (uint64_t)m->interval_ms * i / n);
        if (rc < 0) {
            fprintf(stderr, "ixmesh-probe: %s: %s\n", proto_method_name(t->spec.method),
                    proto_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Before the loop closes: a method's cancel() closes its handles. */
static void drop_tasks(struct probe *p)
{
    for (size_t i = 0; i < p->ntasks; i++)
        probe_sched_drop_task(p, p->tasks[i]);
    p->ntasks = 0;
}

static void measure_free(struct measure *m)
{
    struct probe *p = m->p;

    drop_tasks(p);
    free(p->tasks);
    probe_wheel_free(&p->wheel);
    /* The file's targets follow the command line's. */
    for (size_t i = m->ntargets - m->nowned; i < m->ntargets; i++)
        free(m->targets[i]);
    free(m->targets);
    free(m->samples);
    free(m->nsamples);
    free(m->rx_per_s);
}

int probe_cmd_measure(int argc, char **argv)
{
    static struct probe p;
    struct measure m = {.p = &p,
                        .count = 10,
                        .interval_ms = 1000,
                        .timeout_ms = 1000,
                        .size = UINT32_MAX, /* by method */
                        .header = "X-Cache"};
    int rc = -EINVAL;

    log_init("ixmesh-probe", LOG_LEVEL_WARN);
    probe_reflector_init(&p.reflector);
    p.loop = uv_default_loop();
    p.stamp.fd = -1;
    if (measure_args(argc, argv, &m) < 0)
        goto done;
    p.cmd = &m;
    p.on_reply = on_reply;
    p.on_interrupt = on_interrupt;
    p.on_task_done = on_task_done;
    /* A dual-stack socket on an ephemeral port reaches IPv4 and IPv6 targets. */
    proto_addr_parse("::", 0, &p.cfg.stamp_addr, &p.cfg.stamp_len);
    if (m.method == PROTO_METHOD_STAMP && probe_stamp_io_open(&p) < 0) {
        rc = -EIO;
        goto done;
    }
    uv_timer_init(p.loop, &m.done);
    m.done.data = &m;
    rc = probe_sched_wheel_init(&p);
    if (rc == 0)
        rc = make_tasks(&m);
    if (rc == 0) {
        probe_cmd_watch_signals(&p);
        uv_run(p.loop, UV_RUN_DEFAULT);
    }
    drop_tasks(&p);
    probe_method_close_all(&p);
    probe_cmd_close_all(&p);
done:
    measure_free(&m);
    if (rc == -EIO)
        return 1;
    if (rc < 0)
        return 2;
    return m.any_reply ? 0 : 1;
}
