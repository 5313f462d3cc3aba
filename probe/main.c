/*
 * main.c - ixmesh-probe: arguments, signals and the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"

#define DEFAULT_WINDOW_S 10

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ixmesh-probe --config FILE [--log-level LEVEL]\n"
        "       ixmesh-probe reflect [OPTIONS]      (see ixmesh-probe reflect --help)\n"
        "       ixmesh-probe measure stamp TARGET... (see ixmesh-probe measure --help)\n"
        "\n"
        "Measures round-trip latency and loss to the targets the ixmesh controller\n"
        "assigns, reflects other probes' STAMP packets, and streams one summary\n"
        "record per task and window to the controller over TLS.\n"
        "\n"
        "  -c, --config FILE      INI configuration (see deploy/probe.ini.example)\n"
        "  -l, --log-level LEVEL  error, warn, info (default) or debug\n"
        "      --protocol-versions MIN:MAX\n"
        "                         offer only these control protocol versions\n"
        "                         (for interoperability tests; default %u:%u)\n"
        "  -h, --help             this text\n"
        "  -V, --version          print the version\n",
        PROTO_VERSION_MIN, PROTO_VERSION_MAX);
}

static void begin_stop(struct probe *p)
{
    if (p->stopping)
        return;
    p->stopping = 1;
    log_info("stopping: %llu records not yet acknowledged",
             (unsigned long long)probe_spool_pending(&p->delivery.spool));
    probe_uplink_stop(p);
    probe_sched_stop(p);
    probe_stamp_io_close(p);
    uv_close((uv_handle_t *)&p->sigint, NULL);
    uv_close((uv_handle_t *)&p->sigterm, NULL);
}

static void on_signal_cb(uv_signal_t *h, int signum)
{
    log_info("got signal %d", signum);
    begin_stop(h->data);
}

/* "MIN:MAX", two whole numbers with 1 <= MIN <= MAX. */
static int parse_versions(const char *s, struct probe_uplink *u)
{
    unsigned a, b;
    char end;

    if (sscanf(s, "%u:%u%c", &a, &b, &end) != 2 || a < 1 || a > b) {
        fprintf(stderr, "ixmesh-probe: --protocol-versions wants MIN:MAX, not '%s'\n", s);
        return -1;
    }
    u->version_min = a;
    u->version_max = b;
    return 0;
}

static int parse_args(int argc, char **argv, const char **config, const char **level,
                      struct probe_uplink *u)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"protocol-versions", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "c:l:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            *config = optarg;
            break;
        case 'l':
            *level = optarg;
            break;
        case 'P':
            if (parse_versions(optarg, u) < 0)
                return -1;
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_SUCCESS);
        case 'V':
            printf("ixmesh-probe %s\n", IXMESH_VERSION);
            exit(EXIT_SUCCESS);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || *config == NULL) {
        fprintf(stderr, "ixmesh-probe: %s\n",
                optind != argc ? "unexpected argument" : "--config FILE is required");
        usage(stderr);
        return -1;
    }
    return 0;
}

static int open_spool(struct probe *p)
{
    struct probe_spool *s = &p->delivery.spool;
    int rc = probe_delivery_open(&p->delivery, p->cfg.spool_dir, p->cfg.spool_max,
                                 (uint64_t)(probe_now_ns() / 1000), &p->next_seq);

    if (rc == -EBUSY) {
        log_error("spool %s: another probe is using it", p->cfg.spool_dir);
        return -1;
    }
    if (rc < 0) {
        log_error("spool %s: %s", p->cfg.spool_dir, strerror(-rc));
        return -1;
    }
    if (s->torn_bytes > 0)
        log_warn("spool %s: cut off a torn tail of %llu octets (a write a crash "
                 "interrupted)",
                 p->cfg.spool_dir, (unsigned long long)s->torn_bytes);
    log_info("spool %s: %llu records in %llu octets (bound %llu); sequence numbers go "
             "on at %llu",
             p->cfg.spool_dir, (unsigned long long)s->records,
             (unsigned long long)s->bytes, (unsigned long long)s->max_bytes,
             (unsigned long long)p->next_seq);
    return 0;
}

/*
 * Started as root, the spool becomes the user's (the directory and the
 * files in it) and is opened as the user: the segments it makes later,
 * after the drop, go into a directory the user owns.
 */
static int open_spool_as(struct probe *p, const struct privs_user *u)
{
    char err[1400];
    int rc;

    if (u == NULL)
        return open_spool(p);
    if (privs_take_dir(p->cfg.spool_dir, u, 1, 1, err, sizeof(err)) < 0) {
        log_error("spool_dir: %s", err);
        return -1;
    }
    if (privs_enter(u) < 0) {
        log_error("cannot act as user %s: %s", u->name, strerror(errno));
        return -1;
    }
    rc = open_spool(p);
    if (rc < 0 && privs_check_reach(p->cfg.spool_dir, W_OK | X_OK, err, sizeof(err)) < 0)
        log_error("spool_dir as user %s: %s", u->name, err);
    if (privs_leave() < 0) {
        log_error("cannot go back to root: %s", strerror(errno));
        return -1;
    }
    return rc;
}

static int setup(struct probe *p, const struct privs_user *u)
{
    p->loop = uv_default_loop();
    p->window_s = DEFAULT_WINDOW_S;
    p->stamp.fd = -1;
    probe_reflector_init(&p->reflector);
    p->reflector.stateful = p->cfg.stamp_stateful;
    p->reflector.legacy = p->cfg.stamp_legacy;
    p->reflector.rate_pps = p->cfg.stamp_rate;
    p->reflector.burst = 2.0 * p->cfg.stamp_rate;
    p->reflector.rate_total_pps = p->cfg.stamp_rate_total;
    p->reflector.burst_total = 2.0 * p->cfg.stamp_rate_total;
    if (p->cfg.stamp_key_file[0] != '\0') {
        char err[1200];

        if (probe_keys_load(p->cfg.stamp_key_file, &p->reflector.keys, err, sizeof(err)) <
            0) {
            log_error("%s", err);
            return -1;
        }
        p->reflector.authenticated = 1;
    }
    if (open_spool_as(p, u) < 0)
        return -1;
    if (probe_stamp_io_open(p) < 0)
        return -1;
    if (probe_uplink_start(p) < 0) {
        probe_stamp_io_close(p);
        return -1;
    }
    if (probe_sched_init(p) < 0) {
        log_error("out of memory");
        probe_uplink_stop(p);
        probe_stamp_io_close(p);
        return -1;
    }
    uv_signal_init(p->loop, &p->sigint);
    uv_signal_init(p->loop, &p->sigterm);
    p->sigint.data = p->sigterm.data = p;
    uv_signal_start(&p->sigint, on_signal_cb, SIGINT);
    uv_signal_start(&p->sigterm, on_signal_cb, SIGTERM);
    return 0;
}

/* The user to become, looked up before anything is opened. */
static int find_user(const struct probe_config *cfg, const char *config,
                     struct privs_user *u)
{
    char err[256];
    int rc = privs_user_find(cfg->user, config, u, err, sizeof(err));

    if (rc < 0)
        log_error("%s", err);
    return rc;
}

/*
 * Keys, certificates, the reflector's socket and the spool are open: the
 * rest runs as the user, with raw sockets for ICMP (opened when a task
 * needs them) and, for a reflector below port 1024, binding there.
 */
static int leave_root(struct probe *p, const struct privs_user *u)
{
    uint16_t port = proto_addr_port((const struct sockaddr *)&p->cfg.stamp_addr);
    unsigned caps = privs_probe_caps(port);
    char err[1400], text[64];

    if (privs_drop(u, caps, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    privs_caps_text(caps, text, sizeof(text));
    log_info("running as user %s (uid %u, gid %u), keeping %s", u->name, (unsigned)u->uid,
             (unsigned)u->gid, text);
    /* The tls and http methods read it when they start, long after this. */
    if (p->cfg.content_ca[0] != '\0' &&
        privs_check_reach(p->cfg.content_ca, R_OK, err, sizeof(err)) < 0) {
        log_error("content_ca as user %s: %s", u->name, err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct probe p;
    const char *config = NULL, *level = NULL;
    enum log_level lvl = LOG_LEVEL_INFO;
    struct privs_user user;
    char err[1024];
    int status = 0, as_root = geteuid() == 0;

    if (argc > 1 && strcmp(argv[1], "reflect") == 0)
        return probe_cmd_reflect(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "measure") == 0)
        return probe_cmd_measure(argc - 1, argv + 1);
    if (parse_args(argc, argv, &config, &level, &p.uplink) < 0)
        return 2;
    if (probe_config_load(config, &p.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "ixmesh-probe: %s\n", err);
        return 2;
    }
    if (level == NULL)
        level = p.cfg.log_level;
    if (log_level_parse(level, &lvl) < 0) {
        fprintf(stderr, "ixmesh-probe: unknown log level '%s'\n", level);
        return 2;
    }
    log_init("ixmesh-probe", lvl);
    srandom((unsigned)(probe_now_ns() ^ getpid()));
    umask(077);
    if (as_root && find_user(&p.cfg, config, &user) < 0)
        return 1;
    if (!as_root)
        log_info("not started as root: running as uid %u with the privileges it has "
                 "(user = %s applies to a start as root)",
                 (unsigned)geteuid(), p.cfg.user);
    if (setup(&p, as_root ? &user : NULL) < 0) {
        uv_run(p.loop, UV_RUN_DEFAULT);
        return 1;
    }
    if (as_root && leave_root(&p, &user) < 0) {
        status = 1;
        begin_stop(&p);
    } else {
        log_info("probe %s (%s) started, controller %s", p.cfg.id, p.cfg.name,
                 p.cfg.controller);
    }
    uv_run(p.loop, UV_RUN_DEFAULT);
    probe_uplink_free(&p);
    probe_delivery_close(&p.delivery);
    uv_loop_close(p.loop);
    log_info("stopped");
    return status;
}
