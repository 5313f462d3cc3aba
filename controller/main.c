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
#include <sys/stat.h>
#include <unistd.h>

#include "controller.h"
#include "log.h"
#include "query_io.h"

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
    ctl_retention_stop(c);
    ctl_writer_stop(c); /* what is queued is still written */
    uv_close((uv_handle_t *)&c->sigint, NULL);
    uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void on_signal_cb(uv_signal_t *h, int signum)
{
    log_info("got signal %d", signum);
    begin_stop(h->data);
}

/*
 * Started as root, the database's directory and files become the user's
 * (0700, 0600) and SQLite opens them as the user: the -wal and -shm files
 * it makes, then or after the drop, are the user's too.  A directory that
 * does not exist is not made: a mistyped path is told, not created.
 */
static int open_store_as(struct ctl *c, const struct privs_user *u, char *err,
                         size_t errlen)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char dir[sizeof(c->cfg.database)], path[sizeof(c->cfg.database) + 16];
    char *slash;
    int rc;

    if (u == NULL)
        return ctl_store_open(c->cfg.database, &c->store, err, errlen);
    snprintf(dir, sizeof(dir), "%s", c->cfg.database);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        slash[slash == dir] = '\0'; /* "/x.db": the root, refused below */
    if (access(dir, F_OK) < 0)
        return snprintf(err, errlen, "%s: unable to open: its directory: %s",
                        c->cfg.database, strerror(errno)),
               -ENOENT;
    rc = privs_take_dir(dir, u, 0, 0, err, errlen);
    for (size_t i = 0; rc == 0 && i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", c->cfg.database, suffixes[i]);
        rc = privs_take_file(path, u, i == 0, err, errlen);
    }
    if (rc < 0)
        return rc;
    if (privs_enter(u) < 0)
        return snprintf(err, errlen, "cannot act as user %s: %s", u->name,
                        strerror(errno)),
               -EPERM;
    rc = ctl_store_open(c->cfg.database, &c->store, err, errlen);
    if (rc < 0 && privs_check_reach(c->cfg.database, R_OK | W_OK, path, sizeof(path)) < 0)
        snprintf(err, errlen, "as user %s: %s", u->name, path);
    if (privs_leave() < 0)
        return snprintf(err, errlen, "cannot go back to root: %s", strerror(errno)),
               -EPERM;
    return rc;
}

static int setup(struct ctl *c, const struct privs_user *u)
{
    char err[1400];

    /* Signals first: begin_stop() closes them whatever else failed. */
    c->loop = uv_default_loop();
    uv_signal_init(c->loop, &c->sigint);
    uv_signal_init(c->loop, &c->sigterm);
    c->sigint.data = c->sigterm.data = c;
    uv_signal_start(&c->sigint, on_signal_cb, SIGINT);
    uv_signal_start(&c->sigterm, on_signal_cb, SIGTERM);
    if (open_store_as(c, u, err, sizeof(err)) < 0) {
        log_error("database: %s", err);
        return -1;
    }
    if (ctl_writer_init(c) < 0 || ctl_query_init(c) < 0 || ctl_channel_start(c) < 0 ||
        ctl_http_start(c) < 0)
        return -1;
    ctl_retention_start(c);
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

/* The user to become, looked up before anything is opened. */
static int find_user(const struct ctl_config *cfg, const char *config,
                     struct privs_user *u)
{
    char err[256];
    int rc = privs_user_find(cfg->user, config, u, err, sizeof(err));

    if (rc < 0)
        log_error("%s", err);
    return rc;
}

/* Keys read, ports bound, database open: the rest needs no privilege. */
static int leave_root(const struct privs_user *u)
{
    char err[512];

    if (privs_drop(u, 0, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    log_info("running as user %s (uid %u, gid %u), keeping no capability", u->name,
             (unsigned)u->uid, (unsigned)u->gid);
    return 0;
}

int main(int argc, char **argv)
{
    static struct ctl c;
    const char *config = NULL, *level = NULL;
    enum log_level lvl = LOG_LEVEL_INFO;
    struct privs_user user;
    char err[1024];
    int status = 0, as_root = geteuid() == 0;

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
    umask(077); /* the database, and SQLite's files beside it: 0600 */
    if (as_root && find_user(&c.cfg, config, &user) < 0) {
        ctl_config_free(&c.cfg);
        return 1;
    }
    if (!as_root)
        log_info("not started as root: running as uid %u with the privileges it has "
                 "(user = %s applies to a start as root)",
                 (unsigned)geteuid(), c.cfg.user);
    if (setup(&c, as_root ? &user : NULL) < 0 || (as_root && leave_root(&user) < 0) ||
        ctl_writer_start(&c) < 0) {
        status = 1;
        begin_stop(&c);
    } else {
        log_info("controller started, database %s", c.cfg.database);
    }
    uv_run(c.loop, UV_RUN_DEFAULT);
    ctl_query_close(&c);
    ctl_writer_free(&c);
    ctl_store_close(c.store);
    ctl_roster_free(&c.roster);
    ctl_config_free(&c.cfg);
    SSL_CTX_free(c.tls);
    uv_loop_close(c.loop);
    log_info("stopped");
    return status;
}
