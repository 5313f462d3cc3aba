/*
 * measure_io.c - the one-shot measurement, without a controller:
 *
 *   ixmesh-probe measure stamp TARGET... [--targets-file FILE] [--count N]
 *                [--interval MS] [--poisson] [--size OCTETS] [--dscp N]
 *                [--timeout MS] [--key-file FILE] [--json]
 *
 * One task per target, run by the daemon's own STAMP code.  Unlike the
 * daemon it keeps every RTT (up to MEASURE_SAMPLES_MAX in all), so that its
 * percentiles are exact rather than read from the sketch: it is the tool
 * the testbed checks the truth of our numbers with.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "probe.h"

#define MEASURE_SAMPLES_MAX (16u * 1024 * 1024) /* RTTs kept, over all targets */
#define MEASURE_TARGETS_MAX 100000

struct measure {
    struct probe *p;
    uint32_t count; /* packets per target */
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
    uv_timer_t done;
};

static void measure_usage(FILE *f)
{
    fprintf(
        f,
        "usage: ixmesh-probe measure stamp TARGET... [--targets-file FILE] [--count N]\n"
        "                            [--interval MS] [--poisson] [--size OCTETS]\n"
        "                            [--dscp N] [--timeout MS] [--key-file FILE] "
        "[--json]\n"
        "\n"
        "Sends STAMP test packets to each TARGET (ADDR[:PORT], port 862 by default,\n"
        "IPv6 in brackets), prints a line per reply and a summary per target, like\n"
        "ping.  Packets to different targets are spread evenly over the interval.\n"
        "Percentiles are exact (every RTT is kept).\n"
        "\n"
        "  --targets-file FILE  more targets, one per line ('#' starts a comment)\n"
        "  --count N            packets per target (default 10)\n"
        "  --interval MS        between two packets to the same target (default 1000)\n"
        "  --poisson            exponential gaps of mean MS instead (RFC 2330)\n"
        "  --size OCTETS        packet size, 44 to 1472 (default 44)\n"
        "  --dscp N             DSCP of the requests, 0 to 63 (default 0)\n"
        "  --timeout MS         a reply later than this is lost (default 1000)\n"
        "  --key-file FILE      64 hex digits: authenticated mode (112-octet packets)\n"
        "  --json               print one JSON summary object per target, nothing "
        "else\n");
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
        return probe_cmd_parse_num("--size", optarg, PROTO_STAMP_BASE_LEN,
                                   PROTO_STAMP_MAX_LEN, &m->size);
    case 'd':
        return probe_cmd_parse_num("--dscp", optarg, 0, 63, &m->dscp);
    case 't':
        return probe_cmd_parse_num("--timeout", optarg, 1, 60000, &m->timeout_ms);
    case 'j':
        m->json = 1;
        return 0;
    case 'k':
        return probe_cmd_read_keys(optarg, &m->p->reflector);
    case 'h':
        measure_usage(stdout);
        exit(EXIT_SUCCESS);
    }
    measure_usage(stderr);
    return -1;
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
    if (optind >= argc || strcmp(argv[optind], "stamp") != 0) {
        fprintf(stderr, "ixmesh-probe: measure: %s\n",
                optind >= argc ? "a method is required (stamp)" : "unknown method");
        measure_usage(stderr);
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

/* "ADDR port PORT" for humans. */
static void target_name(const struct probe_task *t, char *buf, size_t len)
{
    snprintf(buf, len, "%s port %u", t->spec.addr, t->spec.port);
}

static double ms(double ns)
{
    return round(ns / 1000.0) / 1000.0;
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

#define MS_OR_NULL(v) (ok ? json_real(ms(v)) : json_null())
    return json_pack(
        "{s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:f, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:b}",
        "target", t->spec.addr, "port", t->spec.port, "method",
        proto_method_name(t->spec.method), "sent", (json_int_t)r->sent, "received",
        (json_int_t)r->received, "duplicates", (json_int_t)r->duplicates, "reordered",
        (json_int_t)r->reordered, "loss_pct",
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
}

static void print_summary(const struct measure *m, size_t i, const struct probe_task *t,
                          const struct proto_result *r)
{
    char name[PROTO_ADDRSTR_MAX + 16];
    const char *pc = proto_path_class(r->ttl);

    if (m->json) {
        json_t *j = summary_json(m, i, t, r);

        json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
        putchar('\n');
        json_decref(j);
        return;
    }
    target_name(t, name, sizeof(name));
    printf("--- %s stamp statistics ---\n", name);
    printf("%u sent, %u received, %.1f%% loss, %u duplicates, %u reordered\n", r->sent,
           r->received, r->sent ? 100.0 * r->lost / r->sent : 0.0, r->duplicates,
           r->reordered);
    if (r->received > 0)
        printf("rtt min/p50/p90/p99/max = %.3f/%.3f/%.3f/%.3f/%.3f ms, jitter %.3f ms, "
               "path %s\n",
               ms((double)r->rtt_min_ns), ms(quantile(m, i, r, 0.5)),
               ms(quantile(m, i, r, 0.9)), ms(quantile(m, i, r, 0.99)),
               ms((double)r->rtt_max_ns),
               r->ipdv_count ? ms((double)r->ipdv_sum_ns / r->ipdv_count) : 0.0,
               pc ? pc : "unknown");
}

static void on_reply(struct probe *p, struct probe_task *t, const struct probe_reply *rep)
{
    struct measure *m = p->cmd;
    size_t i = t->spec.id - 1;
    char name[PROTO_ADDRSTR_MAX + 16];

    m->any_reply = 1;
    if (m->samples != NULL && m->nsamples[i] < m->count)
        m->samples[i * m->count + m->nsamples[i]++] = rep->rtt_ns;
    if (m->json)
        return;
    target_name(t, name, sizeof(name));
    printf("%zu octets from %s: seq=%u ttl=%u/%u rtt=%.3f ms\n", rep->len, name,
           rep->seq - t->first_seq, rep->ttl, rep->return_ttl, ms((double)rep->rtt_ns));
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
    if (!m->json)
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
    if (++m->finished == p->ntasks)
        uv_timer_start(&m->done, on_done_cb, m->timeout_ms, 0);
}

static struct probe_task *make_task(struct measure *m, size_t i)
{
    struct proto_task spec = {.id = (uint32_t)i + 1,
                              .method = PROTO_METHOD_STAMP,
                              .interval_ms = m->interval_ms,
                              .timeout_ms = m->timeout_ms,
                              .size = (uint16_t)m->size,
                              .dscp = (uint8_t)m->dscp,
                              .poisson = (uint8_t)m->poisson};
    struct sockaddr_storage ss;
    socklen_t sl;
    struct probe_task *t;

    if (proto_addr_parse(m->targets[i], PROBE_STAMP_PORT, &ss, &sl) < 0) {
        fprintf(stderr, "ixmesh-probe: '%s' is not ADDR[:PORT]\n", m->targets[i]);
        return NULL;
    }
    proto_addr_ntop((struct sockaddr *)&ss, spec.addr, sizeof(spec.addr));
    spec.port = proto_addr_port((struct sockaddr *)&ss);
    snprintf(spec.target_id, sizeof(spec.target_id), "target-%zu", i + 1);
    t = probe_task_new(&spec);
    if (t == NULL || probe_task_fit_family(t, m->p->stamp.family) < 0) {
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
    for (size_t i = 0; i < p->ntasks; i++)
        if (p->tasks[i]->dstlen == t->dstlen &&
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
    for (size_t i = 0; i < n; i++) {
        struct probe_task *t = make_task(m, i);

        if (t == NULL)
            return -EINVAL;
        if (!unique_target(p, t)) {
            probe_task_free(t);
            return -EINVAL;
        }
        t->count_left = m->count;
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
}

int probe_cmd_measure(int argc, char **argv)
{
    static struct probe p;
    struct measure m = {.p = &p,
                        .count = 10,
                        .interval_ms = 1000,
                        .timeout_ms = 1000,
                        .size = PROTO_STAMP_BASE_LEN};
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
    if (probe_stamp_io_open(&p) < 0) {
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
