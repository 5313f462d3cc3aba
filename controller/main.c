/*
 * main.c - ixmesh-controller: arguments, signals and the loop.
 */
#include <signal.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "controller.h"
#include "log.h"

int64_t ctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ixmesh-controller --config FILE [--log-level LEVEL]\n"
        "\n"
        "Accepts ixmesh probes over TLS (client certificates signed by its CA),\n"
        "gives them the full mesh to measure, stores their results in SQLite and\n"
        "serves the map and the JSON API over HTTP.\n"
        "\n"
        "  -c, --config FILE      INI configuration (see deploy/controller.ini.example)\n"
        "  -l, --log-level LEVEL  error, warn, info (default) or debug\n"
        "  -h, --help             this text\n"
        "  -V, --version          print the version\n");
}

static int parse_args(int argc, char **argv, const char **config, const char **level)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int o;

    while ((o = getopt_long(argc, argv, "c:l:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            *config = optarg;
            break;
        case 'l':
            *level = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_SUCCESS);
        case 'V':
            printf("ixmesh-controller %s\n", IXMESH_VERSION);
            exit(EXIT_SUCCESS);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || *config == NULL) {
        fprintf(stderr, "ixmesh-controller: %s\n",
                optind != argc ? "unexpected argument" : "--config FILE is required");
        usage(stderr);
        return -1;
    }
    return 0;
}

static void begin_stop(struct ctl *c)
{
    if (c->stopping)
        return;
    c->stopping = 1;
    log_info("stopping");
    ctl_http_stop(c);
    ctl_channel_stop(c);
    uv_close((uv_handle_t *)&c->sigint, NULL);
    uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void on_signal_cb(uv_signal_t *h, int signum)
{
    log_info("got signal %d", signum);
    begin_stop(h->data);
}

static int setup(struct ctl *c)
{
    char err[512];

    /* Signals first: begin_stop() closes them whatever else failed. */
    c->loop = uv_default_loop();
    uv_signal_init(c->loop, &c->sigint);
    uv_signal_init(c->loop, &c->sigterm);
    c->sigint.data = c->sigterm.data = c;
    uv_signal_start(&c->sigint, on_signal_cb, SIGINT);
    uv_signal_start(&c->sigterm, on_signal_cb, SIGTERM);
    if (ctl_store_open(c->cfg.database, &c->store, err, sizeof(err)) < 0) {
        log_error("database: %s", err);
        return -1;
    }
    if (ctl_channel_start(c) < 0 || ctl_http_start(c) < 0)
        return -1;
    return 0;
}

/*
 * A descriptor a probe: the usual soft limit of 1024 would refuse the
 * thousandth.  The hard limit is as far as an unprivileged process goes.
 */
static void raise_fd_limit(void)
{
    struct rlimit r;

    if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur >= r.rlim_max)
        return;
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) < 0)
        log_warn("cannot raise the open file limit: %s", strerror(errno));
    else
        log_debug("open file limit raised to %llu", (unsigned long long)r.rlim_cur);
}

int main(int argc, char **argv)
{
    static struct ctl c;
    const char *config = NULL, *level = NULL;
    enum log_level lvl = LOG_LEVEL_INFO;
    char err[1024];
    int status = 0;

    /* A peer that closed its end must cost a write's EPIPE, not the
     * process (delivery.full_disk saw exit 141 while stopping). */
    signal(SIGPIPE, SIG_IGN);
    if (parse_args(argc, argv, &config, &level) < 0)
        return 2;
    if (ctl_config_load(config, &c.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "ixmesh-controller: %s\n", err);
        return 2;
    }
    if (level == NULL)
        level = c.cfg.log_level;
    if (log_level_parse(level, &lvl) < 0) {
        fprintf(stderr, "ixmesh-controller: unknown log level '%s'\n", level);
        return 2;
    }
    log_init("ixmesh-controller", lvl);
    raise_fd_limit();
    if (setup(&c) < 0) {
        status = 1;
        begin_stop(&c);
    } else {
        log_info("controller started, database %s", c.cfg.database);
    }
    uv_run(c.loop, UV_RUN_DEFAULT);
    ctl_store_close(c.store);
    ctl_roster_free(&c.roster);
    ctl_config_free(&c.cfg);
    SSL_CTX_free(c.tls);
    uv_loop_close(c.loop);
    log_info("stopped");
    return status;
}
