/*
 * cmd_io.c - the one-shot commands of ixmesh-probe, which run without a
 * controller:
 *
 *   ixmesh-probe reflect --listen ADDR:PORT [--key-file FILE] [--stateful] [--legacy]
 *   ixmesh-probe measure stamp TARGET... [--count N] [--interval MS] [--size OCTETS]
 *                [--timeout MS] [--key-file FILE] [--json]
 *
 * Both reuse the daemon's STAMP socket, reflector and task code, so what
 * they measure is measured exactly as the mesh measures it.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "probe.h"

struct measure {
    struct probe *p;
    uint32_t count; /* packets per target */
    uint32_t interval_ms, timeout_ms, size;
    size_t finished; /* targets that sent their last packet */
    int json;
    int any_reply;
    uint32_t *attempts; /* per target, indexed by task id - 1 */
    uv_timer_t done;
};

static void on_done_cb(uv_timer_t *h);

/* Interrupted: a measurement still prints its summary, as ping does. */
static void on_stop_signal_cb(uv_signal_t *h, int signum)
{
    struct probe *p = h->data;
    struct measure *m = p->cmd;

    (void)signum;
    if (m != NULL)
        on_done_cb(&m->done);
    else
        uv_stop(p->loop);
}

static void watch_signals(struct probe *p)
{
    uv_signal_init(p->loop, &p->sigint);
    uv_signal_init(p->loop, &p->sigterm);
    p->sigint.data = p->sigterm.data = p;
    uv_signal_start(&p->sigint, on_stop_signal_cb, SIGINT);
    uv_signal_start(&p->sigterm, on_stop_signal_cb, SIGTERM);
}

static void on_close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes every handle and runs the loop until they are gone. */
static void close_all(struct probe *p)
{
    probe_stamp_io_close(p);
    uv_walk(p->loop, on_close_walk_cb, NULL);
    uv_run(p->loop, UV_RUN_DEFAULT);
    uv_loop_close(p->loop);
}

/* Loads the key file into the reflector's keyring, or says why not. */
static int read_keys(const char *path, struct probe_reflector *r)
{
    char err[1200];

    if (probe_keys_load(path, &r->keys, err, sizeof(err)) == 0) {
        r->authenticated = 1;
        return 0;
    }
    fprintf(stderr, "ixmesh-probe: %s\n", err);
    return -1;
}

/* ---- reflect ---------------------------------------------------------------- */

static void reflect_usage(FILE *f)
{
    fprintf(f,
            "usage: ixmesh-probe reflect [--listen ADDR:PORT] [--key-file FILE]\n"
            "                            [--stateful] [--legacy] [--log-level LEVEL]\n"
            "\n"
            "Runs only a STAMP session-reflector (RFC 8762) until interrupted.\n"
            "\n"
            "  --listen ADDR:PORT  where to listen (default *:862; IPv6 in brackets)\n"
            "  --key-file FILE     64 hex digits: authenticated mode; unauthenticated\n"
            "                      packets are then ignored\n"
            "  --stateful          count our own sequence numbers per session\n"
            "  --legacy            also answer TWAMP-Light requests of 41-43 octets\n");
}

static int reflect_args(int argc, char **argv, struct probe *p)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'L'},
                                         {"key-file", required_argument, NULL, 'k'},
                                         {"stateful", no_argument, NULL, 's'},
                                         {"legacy", no_argument, NULL, 'g'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    enum log_level lvl = LOG_LEVEL_INFO;
    int c;

    proto_addr_parse("*", PROBE_STAMP_PORT, &p->cfg.stamp_addr, &p->cfg.stamp_len);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'L' && proto_addr_parse(optarg, PROBE_STAMP_PORT, &p->cfg.stamp_addr,
                                         &p->cfg.stamp_len) < 0) {
            fprintf(stderr, "ixmesh-probe: --listen: '%s' is not ADDR[:PORT]\n", optarg);
            return -1;
        } else if (c == 'k') {
            if (read_keys(optarg, &p->reflector) < 0)
                return -1;
        } else if (c == 's') {
            p->reflector.stateful = 1;
        } else if (c == 'g') {
            p->reflector.legacy = 1;
        } else if (c == 'l' && log_level_parse(optarg, &lvl) < 0) {
            fprintf(stderr, "ixmesh-probe: unknown log level '%s'\n", optarg);
            return -1;
        } else if (c == 'h') {
            reflect_usage(stdout);
            exit(EXIT_SUCCESS);
        } else if (c == '?') {
            reflect_usage(stderr);
            return -1;
        }
    }
    log_init("ixmesh-probe", lvl);
    return optind == argc ? 0 : -1;
}

int probe_cmd_reflect(int argc, char **argv)
{
    static struct probe p;

    p.loop = uv_default_loop();
    p.stamp.fd = -1;
    probe_reflector_init(&p.reflector);
    if (reflect_args(argc, argv, &p) < 0)
        return 2;
    if (probe_stamp_io_open(&p) < 0)
        return 1;
    watch_signals(&p);
    log_info("reflecting (%s, %s)", p.reflector.authenticated ? "authenticated" : "open",
             p.reflector.stateful ? "stateful" : "stateless");
    uv_run(p.loop, UV_RUN_DEFAULT);
    log_info("%llu reflected, %llu dropped, %llu over the rate limit",
             (unsigned long long)p.reflector.reflected,
             (unsigned long long)p.reflector.dropped,
             (unsigned long long)p.reflector.rate_limited);
    close_all(&p);
    return 0;
}

/* ---- measure ------------------------------------------------------------------ */

static void measure_usage(FILE *f)
{
    fprintf(
        f,
        "usage: ixmesh-probe measure stamp TARGET... [--count N] [--interval MS]\n"
        "                            [--size OCTETS] [--timeout MS] [--key-file FILE]\n"
        "                            [--json]\n"
        "\n"
        "Sends STAMP test packets to each TARGET (ADDR[:PORT], port 862 by default,\n"
        "IPv6 in brackets), prints a line per reply and a summary per target, like\n"
        "ping.  Packets to different targets are spread evenly over the interval.\n"
        "\n"
        "  --count N          packets per target (default 10)\n"
        "  --interval MS      between two packets to the same target (default 1000)\n"
        "  --size OCTETS      packet size, 44 to 1472 (default 44)\n"
        "  --timeout MS       a reply later than this is lost (default 1000)\n"
        "  --key-file FILE    64 hex digits: authenticated mode (112-octet packets)\n"
        "  --json             print one JSON summary object per target, nothing else\n");
}

static int parse_num(const char *opt, const char *v, unsigned long lo, unsigned long hi,
                     uint32_t *out)
{
    char *end;
    unsigned long x;

    errno = 0;
    x = strtoul(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || errno || *end || x < lo || x > hi) {
        fprintf(stderr,
                "ixmesh-probe: %s wants a whole number from %lu to %lu, not '%s'\n", opt,
                lo, hi, v);
        return -1;
    }
    *out = (uint32_t)x;
    return 0;
}

static int measure_option(struct measure *m, int c)
{
    switch (c) {
    case 'n':
        return parse_num("--count", optarg, 1, 1000000, &m->count);
    case 'i':
        return parse_num("--interval", optarg, 1, 3600000, &m->interval_ms);
    case 's':
        return parse_num("--size", optarg, PROTO_STAMP_BASE_LEN, PROTO_STAMP_MAX_LEN,
                         &m->size);
    case 't':
        return parse_num("--timeout", optarg, 1, 60000, &m->timeout_ms);
    case 'j':
        m->json = 1;
        return 0;
    case 'k':
        return read_keys(optarg, &m->p->reflector);
    case 'h':
        measure_usage(stdout);
        exit(EXIT_SUCCESS);
    }
    measure_usage(stderr);
    return -1;
}

static int measure_args(int argc, char **argv, struct measure *m)
{
    static const struct option opts[] = {{"count", required_argument, NULL, 'n'},
                                         {"interval", required_argument, NULL, 'i'},
                                         {"size", required_argument, NULL, 's'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"key-file", required_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;

    struct probe *p = m->p;

    *m = (struct measure){.p = p,
                          .count = 10,
                          .interval_ms = 1000,
                          .timeout_ms = 1000,
                          .size = PROTO_STAMP_BASE_LEN};
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
        if (measure_option(m, c) < 0)
            return -1;
    if (optind >= argc || strcmp(argv[optind], "stamp") != 0) {
        fprintf(stderr, "ixmesh-probe: measure: %s\n",
                optind >= argc ? "a method is required (stamp)" : "unknown method");
        measure_usage(stderr);
        return -1;
    }
    if (++optind >= argc) {
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

static double quantile(const struct proto_result *r, double q)
{
    return proto_sketch_quantile_within(&r->sketch, q, (double)r->rtt_min_ns,
                                        (double)r->rtt_max_ns);
}

static json_t *summary_json(const struct probe_task *t, const struct proto_result *r)
{
    int ok = r->received > 0;

#define MS_OR_NULL(v) (ok ? json_real(ms(v)) : json_null())
    return json_pack(
        "{s:s, s:i, s:s, s:I, s:I, s:I, s:f, s:o, s:o, s:o, s:o, s:o, s:o}", "target",
        t->spec.addr, "port", t->spec.port, "method", proto_method_name(t->spec.method),
        "sent", (json_int_t)r->sent, "received", (json_int_t)r->received, "duplicates",
        (json_int_t)r->duplicates, "loss_pct",
        r->sent ? round(r->lost * 10000.0 / r->sent) / 100 : 0.0, "rtt_min_ms",
        MS_OR_NULL((double)r->rtt_min_ns), "rtt_p50_ms", MS_OR_NULL(quantile(r, 0.5)),
        "rtt_p90_ms", MS_OR_NULL(quantile(r, 0.9)), "rtt_p99_ms",
        MS_OR_NULL(quantile(r, 0.99)), "rtt_max_ms", MS_OR_NULL((double)r->rtt_max_ns),
        "jitter_ms",
        r->ipdv_count ? json_real(ms((double)r->ipdv_sum_ns / r->ipdv_count))
                      : json_null());
#undef MS_OR_NULL
}

static void print_summary(const struct measure *m, const struct probe_task *t,
                          const struct proto_result *r)
{
    char name[PROTO_ADDRSTR_MAX + 16];

    if (m->json) {
        json_t *j = summary_json(t, r);

        json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
        putchar('\n');
        json_decref(j);
        return;
    }
    target_name(t, name, sizeof(name));
    printf("--- %s stamp statistics ---\n", name);
    printf("%u sent, %u received, %.1f%% loss\n", r->sent, r->received,
           r->sent ? 100.0 * r->lost / r->sent : 0.0);
    if (r->received > 0)
        printf("rtt min/p50/p90/p99/max = %.3f/%.3f/%.3f/%.3f/%.3f ms, jitter %.3f ms\n",
               ms((double)r->rtt_min_ns), ms(quantile(r, 0.5)), ms(quantile(r, 0.9)),
               ms(quantile(r, 0.99)), ms((double)r->rtt_max_ns),
               r->ipdv_count ? ms((double)r->ipdv_sum_ns / r->ipdv_count) : 0.0);
}

static void on_reply(struct probe *p, struct probe_task *t, const struct stamp_reply *rep)
{
    struct measure *m = p->cmd;
    char name[PROTO_ADDRSTR_MAX + 16];

    m->any_reply = 1;
    if (m->json)
        return;
    target_name(t, name, sizeof(name));
    printf("%zu octets from %s: seq=%u ttl=%u rtt=%.3f ms\n", rep->len, name,
           rep->seq - t->first_seq, rep->ttl, ms((double)rep->rtt_ns));
    fflush(stdout);
}

/* Every target had its packets and the last timeout passed: summarise. */
static void on_done_cb(uv_timer_t *h)
{
    struct measure *m = h->data;
    struct probe *p = m->p;

    for (size_t i = 0; i < p->ntasks; i++) {
        struct proto_result r;

        probe_window_close(p->tasks[i], &p->tasks[i]->win[0], 1, &r);
        print_summary(m, p->tasks[i], &r);
        proto_sketch_free(&r.sketch);
    }
    uv_stop(p->loop);
}

static void on_send_cb(uv_timer_t *h)
{
    struct probe_task *t = h->data;
    struct probe *p = t->probe;
    struct measure *m = p->cmd;
    int rc = probe_stamp_io_send(p, t);

    if (rc < 0 && !m->json)
        fprintf(stderr, "ixmesh-probe: send to %s: %s\n", t->spec.addr,
                proto_strerror(rc));
    if (++m->attempts[t->spec.id - 1] < m->count)
        return;
    uv_timer_stop(h);
    if (++m->finished == p->ntasks)
        uv_timer_start(&m->done, on_done_cb, m->timeout_ms, 0);
}

/* One task per target, their first packets spread evenly over an interval. */
static int make_tasks(struct measure *m, char **targets, size_t n)
{
    struct probe *p = m->p;

    p->tasks = calloc(n, sizeof(*p->tasks));
    m->attempts = calloc(n, sizeof(*m->attempts));
    if (p->tasks == NULL || m->attempts == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct proto_task spec = {.id = (uint32_t)i + 1,
                                  .method = PROTO_METHOD_STAMP,
                                  .interval_ms = m->interval_ms,
                                  .timeout_ms = m->timeout_ms,
                                  .size = (uint16_t)m->size};
        struct sockaddr_storage ss;
        socklen_t sl;
        struct probe_task *t;

        if (proto_addr_parse(targets[i], PROBE_STAMP_PORT, &ss, &sl) < 0) {
            fprintf(stderr, "ixmesh-probe: '%s' is not ADDR[:PORT]\n", targets[i]);
            return -EINVAL;
        }
        proto_addr_ntop((struct sockaddr *)&ss, spec.addr, sizeof(spec.addr));
        spec.port = proto_addr_port((struct sockaddr *)&ss);
        snprintf(spec.target_id, sizeof(spec.target_id), "target-%zu", i + 1);
        t = probe_task_new(&spec);
        if (t == NULL || probe_task_fit_family(t, p->stamp.family) < 0) {
            fprintf(stderr, "ixmesh-probe: cannot reach %s from this socket\n",
                    targets[i]);
            probe_task_free(t);
            return -EAFNOSUPPORT;
        }
        t->probe = p;
        probe_window_open(&t->win[0], 1);
        p->tasks[p->ntasks++] = t;
        uv_timer_init(p->loop, &t->timer);
        t->timer.data = t;
        uv_timer_start(&t->timer, on_send_cb, (uint64_t)m->interval_ms * i / n,
                       m->interval_ms);
    }
    return 0;
}

int probe_cmd_measure(int argc, char **argv)
{
    static struct probe p;
    struct measure m;
    int rc;

    log_init("ixmesh-probe", LOG_LEVEL_WARN);
    probe_reflector_init(&p.reflector);
    m.p = &p;
    if (measure_args(argc, argv, &m) < 0)
        return 2;
    p.cmd = &m;
    p.on_reply = on_reply;
    p.loop = uv_default_loop();
    p.stamp.fd = -1;
    /* A dual-stack socket on an ephemeral port reaches IPv4 and IPv6 targets. */
    proto_addr_parse("::", 0, &p.cfg.stamp_addr, &p.cfg.stamp_len);
    if (probe_stamp_io_open(&p) < 0)
        return 1;
    uv_timer_init(p.loop, &m.done);
    m.done.data = &m;
    rc = make_tasks(&m, argv + optind, (size_t)(argc - optind));
    if (rc == 0) {
        watch_signals(&p);
        uv_run(p.loop, UV_RUN_DEFAULT);
    }
    close_all(&p);
    for (size_t i = 0; i < p.ntasks; i++)
        probe_task_free(p.tasks[i]);
    free(p.tasks);
    free(m.attempts);
    if (rc < 0)
        return 2;
    return m.any_reply ? 0 : 1;
}
