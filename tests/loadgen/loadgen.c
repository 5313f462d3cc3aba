/*
 * loadgen.c - ixmesh-loadgen: a reconnect-storm load generator.
 *
 * Starts N simulated probes (sim_io.c) against one controller and prints,
 * every --report-every seconds, on SIGUSR1 and at the end, one line of
 * key=value figures on stdout, for scripts to read (tests/e2e/
 * delivery_storm.sh).  Diagnostics go to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "loadgen.h"

#define PROBES_MAX   60000
#define FDS_SPARE    64 /* stdio, the loop's own descriptors, the signal pipe */
#define DEFAULT_PORT 7862

struct lg_opts {
    const char *controller, *server_name, *ca, *ca_key, *id_prefix, *acked_file;
    unsigned probes;
    double report_every_s, results_every_s, duration_s, ramp_s;
    unsigned seed;
    const char *announce, *hostile; /* a hostile member: see usage() */
    unsigned stamp_port, batch;
    int flap, delta, all_tasks;
};

struct lg_main {
    struct lg_opts o;
    struct lg_ca ca;
    struct lg_mesh mesh;
    struct lg_sim *sims;
    uv_timer_t status, finish;
    uv_signal_t sigint, sigterm, sigusr1;
    uint64_t start_ms;
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ixmesh-loadgen --controller ADDR[:PORT] --ca CA.pem --ca-key CA.key\n"
        "                      [options]\n"
        "\n"
        "Simulates many probes, each with its own client certificate (CN = its id,\n"
        "EC P-256, signed in memory by the CA), over real TLS and real frames:\n"
        "HELLO, WELCOME, TASKS, RESULTS and ACK, heartbeats, and reconnects with\n"
        "the probe's backoff.  Runs until SIGINT or SIGTERM (or --duration).\n"
        "\n"
        "  --controller ADDR[:PORT]  the controller's probe channel (port %d)\n"
        "  --ca FILE                 the CA certificate: trust anchor and issuer\n"
        "  --ca-key FILE             the CA's private key, to sign the probes' certs\n"
        "  --server-name NAME        name or address the controller's certificate\n"
        "                            must carry (default: the address)\n"
        "  --probes N                simulated probes (default 1000, at most %d)\n"
        "  --id-prefix TEXT          probe ids are TEXT0001, TEXT0002, ... (lg-)\n"
        "  --results-every S         one RESULTS record per probe every S s\n"
        "                            (default 10; 0: none)\n"
        "  --report-every S          a status line every S s (default 1; 0: only\n"
        "                            on SIGUSR1 and at the end)\n"
        "  --ramp S                  spread the first connects over S s (default 0)\n"
        "  --duration S              stop after S s (default 0: on a signal)\n"
        "  --acked-file FILE         at the end, write 'ID ACKED' per probe: every\n"
        "                            record 1..ACKED was acknowledged\n"
        "  --seed N                  seed for the backoff and phases (default: pid)\n"
        "  --batch N                 records per RESULTS (default 1, at most 1024)\n"
        "A hostile member, to test what the controller refuses:\n"
        "  --announce ADDR[,ADDR]    addresses in the HELLO (default none), with\n"
        "  --stamp-port N            this STAMP port (default 862)\n"
        "  --hostile KIND            records that break a rule: unknown-task,\n"
        "                            targets (invented), future, rtt, values, mixed\n"
        "  --flap                    reconnect at once after TASKS or ERROR\n"
        "  --all-tasks               each RESULTS holds one window of every task it\n"
        "                            was given, the window results-every long\n"
        "                            (ingest at a mesh's rate: tests/bench/ingest.sh)\n"
        "  --delta                   announce that it takes TASKS_DELTA (checked\n"
        "                            against its generation; ERROR STALE if not)\n"
        "  -h, --help                this text\n"
        "\n"
        "Status lines: t=SECONDS probes= connected= sessions= connects= failed=\n"
        "disconnects= records_sent= acked_records= bad_acks= hb_sent= hb_recv=\n"
        "errors_recv= protocol_faults= idle_closes= lists= list_tasks= deltas=\n"
        "delta_tasks= stale= rx_bytes=; the last starts with 'final '.\n",
        DEFAULT_PORT, PROBES_MAX);
}

static int parse_seconds(const char *name, const char *v, double *out)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(d) || d < 0 || d > 86400) {
        fprintf(stderr, "ixmesh-loadgen: --%s wants seconds from 0 to 86400, not '%s'\n",
                name, v);
        return -1;
    }
    *out = d;
    return 0;
}

static int parse_uint(const char *name, const char *v, unsigned long max, unsigned *out)
{
    char *end;
    unsigned long n;

    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n > max) {
        fprintf(stderr, "ixmesh-loadgen: --%s wants a number from 0 to %lu, not '%s'\n",
                name, max, v);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

static int parse_option(struct lg_opts *o, int c, const char *arg, const char *name)
{
    switch (c) {
    case 'c':
        o->controller = arg;
        return 0;
    case 'a':
        o->ca = arg;
        return 0;
    case 'k':
        o->ca_key = arg;
        return 0;
    case 'n':
        o->server_name = arg;
        return 0;
    case 'i':
        o->id_prefix = arg;
        return 0;
    case 'f':
        o->acked_file = arg;
        return 0;
    case 'p':
        return parse_uint(name, arg, PROBES_MAX, &o->probes);
    case 'r':
        return parse_seconds(name, arg, &o->results_every_s);
    case 's':
        return parse_seconds(name, arg, &o->report_every_s);
    case 'm':
        return parse_seconds(name, arg, &o->ramp_s);
    case 'd':
        return parse_seconds(name, arg, &o->duration_s);
    case 'e':
        return parse_uint(name, arg, UINT32_MAX, &o->seed);
    case 'A':
        o->announce = arg;
        return 0;
    case 'P':
        return parse_uint(name, arg, 65535, &o->stamp_port);
    case 'H':
        o->hostile = arg;
        return 0;
    case 'B':
        return parse_uint(name, arg, PROTO_RESULTS_MAX, &o->batch);
    case 'F':
        o->flap = 1;
        return 0;
    case 'D':
        o->delta = 1;
        return 0;
    case 'T':
        o->all_tasks = 1;
        return 0;
    default:
        return -1;
    }
}

/* Returns 0 to run, 1 after --help, -1 on a usage error (already reported). */
static int parse_args(int argc, char **argv, struct lg_opts *o)
{
    static const struct option opts[] = {
        {"controller", required_argument, NULL, 'c'},
        {"ca", required_argument, NULL, 'a'},
        {"ca-key", required_argument, NULL, 'k'},
        {"server-name", required_argument, NULL, 'n'},
        {"id-prefix", required_argument, NULL, 'i'},
        {"acked-file", required_argument, NULL, 'f'},
        {"probes", required_argument, NULL, 'p'},
        {"results-every", required_argument, NULL, 'r'},
        {"report-every", required_argument, NULL, 's'},
        {"ramp", required_argument, NULL, 'm'},
        {"duration", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 'e'},
        {"announce", required_argument, NULL, 'A'},
        {"stamp-port", required_argument, NULL, 'P'},
        {"hostile", required_argument, NULL, 'H'},
        {"batch", required_argument, NULL, 'B'},
        {"flap", no_argument, NULL, 'F'},
        {"delta", no_argument, NULL, 'D'},
        {"all-tasks", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, idx;

    *o = (struct lg_opts){.probes = 1000,
                          .id_prefix = "lg-",
                          .report_every_s = 1,
                          .results_every_s = 10,
                          .seed = (unsigned)getpid()};
    while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (c == '?' || parse_option(o, c, optarg, opts[idx].name) < 0) {
            fprintf(stderr, "try ixmesh-loadgen --help\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ixmesh-loadgen: unexpected argument '%s' (try --help)\n",
                argv[optind]);
        return -1;
    }
    if (o->controller == NULL || o->ca == NULL || o->ca_key == NULL) {
        fprintf(stderr, "ixmesh-loadgen: --controller, --ca and --ca-key are required "
                        "(try --help)\n");
        return -1;
    }
    if (o->probes == 0) {
        fprintf(stderr, "ixmesh-loadgen: --probes must be at least 1\n");
        return -1;
    }
    return 0;
}

/* --announce, --stamp-port, --hostile, --batch, --flap into the mesh. */
static int set_hostile(const struct lg_opts *o, struct lg_mesh *m)
{
    static const char *const kinds[] = {"honest", "unknown-task", "targets", "future",
                                        "rtt",    "values",       "mixed"};
    char list[PROTO_ADDR_MAX * PROTO_ADDRSTR_MAX], *save = NULL, *a;

    m->stamp_port = (uint16_t)o->stamp_port;
    m->batch = o->batch ? o->batch : 1;
    m->flap = o->flap;
    m->delta = o->delta;
    m->all_tasks = o->all_tasks;
    for (size_t i = 0; o->hostile != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(o->hostile, kinds[i]) == 0)
            m->hostile = (int)i + 1;
    if (o->hostile != NULL && m->hostile-- == 0) {
        fprintf(stderr, "ixmesh-loadgen: --hostile: no such kind '%s'\n", o->hostile);
        return -1;
    }
    snprintf(list, sizeof(list), "%s", o->announce ? o->announce : "");
    for (a = strtok_r(list, ",", &save); a != NULL; a = strtok_r(NULL, ",", &save)) {
        if (m->nannounce == PROTO_ADDR_MAX || strlen(a) >= PROTO_ADDRSTR_MAX) {
            fprintf(stderr, "ixmesh-loadgen: --announce: too many or too long\n");
            return -1;
        }
        strcpy(m->announce[m->nannounce++], a);
    }
    return 0;
}

/* The probe ids must be valid ids (PROTOCOL.md 3): checked on the longest. */
static int check_ids(const struct lg_opts *o, const struct sockaddr_storage *ss,
                     struct lg_mesh *m)
{
    char id[PROTO_ID_MAX + 8];

    snprintf(id, sizeof(id), "%s%04u", o->id_prefix, o->probes);
    if (strlen(id) > PROTO_ID_MAX || !proto_id_valid(id)) {
        fprintf(stderr,
                "ixmesh-loadgen: '%s' is not a valid probe id "
                "([A-Za-z0-9._-]{1,64}); change --id-prefix\n",
                id);
        return -1;
    }
    m->controller = *ss;
    return 0;
}

/* Room for one socket per probe: a thousand passes the usual soft limit of 1024. */
static int raise_fd_limit(unsigned probes)
{
    rlim_t want = (rlim_t)probes + FDS_SPARE;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        perror("ixmesh-loadgen: getrlimit");
        return -1;
    }
    if (rl.rlim_cur >= want)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        fprintf(stderr,
                "ixmesh-loadgen: %u probes need %llu descriptors, the hard limit is %llu "
                "(ulimit -Hn)\n",
                probes, (unsigned long long)want, (unsigned long long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        perror("ixmesh-loadgen: setrlimit(RLIMIT_NOFILE)");
        return -1;
    }
    return 0;
}

static int64_t wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Makes every probe's identity before the first connect, so that key
 * generation does not count as connection time. */
static int make_sims(struct lg_main *lg)
{
    const struct lg_opts *o = &lg->o;
    uint64_t ramp_ms = (uint64_t)(o->ramp_s * 1000);
    char err[512];

    lg->sims = calloc(o->probes, sizeof(*lg->sims));
    if (lg->sims == NULL) {
        fprintf(stderr, "ixmesh-loadgen: out of memory\n");
        return -1;
    }
    for (unsigned i = 0; i < o->probes; i++) {
        struct lg_sim *s = &lg->sims[i];

        snprintf(s->id, sizeof(s->id), "%s%04u", o->id_prefix, i + 1);
        s->tls = lg_client_ctx(&lg->ca, s->id, err, sizeof(err));
        if (s->tls == NULL) {
            fprintf(stderr, "ixmesh-loadgen: %s: %s\n", s->id, err);
            return -1;
        }
    }
    for (unsigned i = 0; i < o->probes; i++)
        lg_sim_init(&lg->sims[i], &lg->mesh, i + 1,
                    ramp_ms ? (uint64_t)random() % (ramp_ms + 1) : 0);
    return 0;
}

static void print_status(struct lg_main *lg, const char *prefix)
{
    const struct lg_stats *st = &lg->mesh.stats;

    printf("%st=%.3f probes=%u connected=%u sessions=%llu connects=%llu failed=%llu "
           "disconnects=%llu records_sent=%llu acked_records=%llu bad_acks=%llu "
           "hb_sent=%llu hb_recv=%llu errors_recv=%llu protocol_faults=%llu "
           "idle_closes=%llu lists=%llu list_tasks=%llu deltas=%llu delta_tasks=%llu "
           "stale=%llu rx_bytes=%llu\n",
           prefix, (double)(uv_now(lg->mesh.loop) - lg->start_ms) / 1000, lg->o.probes,
           st->connected, (unsigned long long)st->sessions,
           (unsigned long long)st->connects, (unsigned long long)st->failed,
           (unsigned long long)st->disconnects, (unsigned long long)st->records_sent,
           (unsigned long long)st->records_acked, (unsigned long long)st->bad_acks,
           (unsigned long long)st->heartbeats_sent,
           (unsigned long long)st->heartbeats_recv, (unsigned long long)st->errors_recv,
           (unsigned long long)st->protocol_faults, (unsigned long long)st->idle_closes,
           (unsigned long long)st->lists, (unsigned long long)st->list_tasks,
           (unsigned long long)st->deltas, (unsigned long long)st->delta_tasks,
           (unsigned long long)st->stale, (unsigned long long)st->rx_bytes);
    fflush(stdout);
}

static void on_status_cb(uv_timer_t *h)
{
    print_status(h->data, "");
}

/* The final figures first: closing the connections changes the counters. */
static void stop_all(struct lg_main *lg)
{
    if (lg->mesh.stopping)
        return;
    uv_update_time(lg->mesh.loop);
    print_status(lg, "final ");
    lg->mesh.stopping = 1;
    for (unsigned i = 0; i < lg->o.probes; i++)
        lg_sim_stop(&lg->sims[i]);
    uv_close((uv_handle_t *)&lg->status, NULL);
    uv_close((uv_handle_t *)&lg->finish, NULL);
    uv_close((uv_handle_t *)&lg->sigint, NULL);
    uv_close((uv_handle_t *)&lg->sigterm, NULL);
    uv_close((uv_handle_t *)&lg->sigusr1, NULL);
}

static void on_finish_cb(uv_timer_t *h)
{
    stop_all(h->data);
}

static void on_signal_cb(uv_signal_t *h, int signum)
{
    if (signum == SIGUSR1)
        print_status(h->data, "");
    else
        stop_all(h->data);
}

static void start_handles(struct lg_main *lg)
{
    uv_loop_t *loop = lg->mesh.loop;
    uint64_t every = (uint64_t)(lg->o.report_every_s * 1000);

    uv_timer_init(loop, &lg->status);
    uv_timer_init(loop, &lg->finish);
    uv_signal_init(loop, &lg->sigint);
    uv_signal_init(loop, &lg->sigterm);
    uv_signal_init(loop, &lg->sigusr1);
    lg->status.data = lg->finish.data = lg;
    lg->sigint.data = lg->sigterm.data = lg->sigusr1.data = lg;
    if (every > 0)
        uv_timer_start(&lg->status, on_status_cb, every, every);
    if (lg->o.duration_s > 0)
        uv_timer_start(&lg->finish, on_finish_cb, (uint64_t)(lg->o.duration_s * 1000), 0);
    uv_signal_start(&lg->sigint, on_signal_cb, SIGINT);
    uv_signal_start(&lg->sigterm, on_signal_cb, SIGTERM);
    uv_signal_start(&lg->sigusr1, on_signal_cb, SIGUSR1);
}

static int write_acked(const struct lg_main *lg)
{
    FILE *f = fopen(lg->o.acked_file, "w");

    if (f == NULL) {
        fprintf(stderr, "ixmesh-loadgen: cannot write %s: %s\n", lg->o.acked_file,
                strerror(errno));
        return -1;
    }
    for (unsigned i = 0; i < lg->o.probes; i++)
        fprintf(f, "%s %llu\n", lg->sims[i].id, (unsigned long long)lg->sims[i].acked);
    if (fclose(f) != 0) {
        fprintf(stderr, "ixmesh-loadgen: cannot write %s: %s\n", lg->o.acked_file,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Sets up the shared state from the options; reports what is wrong. */
static int prepare(struct lg_main *lg)
{
    const struct lg_opts *o = &lg->o;
    struct sockaddr_storage ss;
    socklen_t sl;
    char err[512];

    if (proto_addr_parse(o->controller, DEFAULT_PORT, &ss, &sl) < 0) {
        fprintf(stderr,
                "ixmesh-loadgen: --controller wants ADDR[:PORT] with a numeric "
                "address, not '%s'\n",
                o->controller);
        return -1;
    }
    if (check_ids(o, &ss, &lg->mesh) < 0 || raise_fd_limit(o->probes) < 0)
        return -1;
    if (lg_ca_load(&lg->ca, o->ca, o->ca_key, err, sizeof(err)) < 0) {
        fprintf(stderr, "ixmesh-loadgen: %s\n", err);
        return -1;
    }
    srandom(o->seed);
    lg->mesh.loop = uv_default_loop();
    lg->mesh.results_every_ms = (uint64_t)(o->results_every_s * 1000);
    lg->mesh.epoch_ms = wall_ms();
    if (set_hostile(o, &lg->mesh) < 0)
        return -1;
    /* Like the probe's controller_name: the address itself by default. */
    if (o->server_name != NULL) {
        lg->mesh.server_name = o->server_name;
    } else {
        static char host[PROTO_ADDRSTR_MAX];

        proto_addr_ntop((const struct sockaddr *)&ss, host, sizeof(host));
        lg->mesh.server_name = host;
    }
    return make_sims(lg);
}

static void free_all(struct lg_main *lg)
{
    for (unsigned i = 0; lg->sims != NULL && i < lg->o.probes; i++) {
        SSL_CTX_free(lg->sims[i].tls);
        free(lg->sims[i].tasks);
    }
    free(lg->sims);
    lg_ca_free(&lg->ca);
    if (lg->mesh.loop != NULL)
        uv_loop_close(lg->mesh.loop);
}

int main(int argc, char **argv)
{
    static struct lg_main lg; /* large (the read buffer): not on the stack */
    int rc = parse_args(argc, argv, &lg.o);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    rc = 1;
    if (prepare(&lg) < 0)
        goto done;
    fprintf(stderr, "ixmesh-loadgen: %u probes against %s (server name %s)\n",
            lg.o.probes, lg.o.controller, lg.mesh.server_name);
    uv_update_time(lg.mesh.loop);
    lg.start_ms = uv_now(lg.mesh.loop);
    start_handles(&lg);
    uv_run(lg.mesh.loop, UV_RUN_DEFAULT);
    rc = 0;
    if (lg.o.acked_file != NULL && write_acked(&lg) < 0)
        rc = 1;
done:
    free_all(&lg);
    return rc;
}
