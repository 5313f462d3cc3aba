/*
 * cmd_io.c - the one-shot commands of ixmesh-probe, which run without a
 * controller:
 *
 *   ixmesh-probe reflect --listen ADDR:PORT [--key-file FILE] [--stateful] [--legacy]
 *                        [--rate PPS] [--rate-total PPS] [--user NAME]
 *   ixmesh-probe measure ...      (measure_io.c)
 *
 * and what the one-shot commands share.  They reuse the daemon's STAMP
 * socket, reflector and task code, so what they measure is measured exactly
 * as the mesh measures it.
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
#include "privs.h"
#include "probe.h"

/* Interrupted: a measurement still prints its summary, as ping does. */
static void on_stop_signal_cb(uv_signal_t *h, int signum)
{
    struct probe *p = h->data;

    (void)signum;
    if (p->on_interrupt != NULL)
        p->on_interrupt(p);
    else
        uv_stop(p->loop);
}

void probe_cmd_watch_signals(struct probe *p)
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
void probe_cmd_close_all(struct probe *p)
{
    probe_stamp_io_close(p);
    uv_walk(p->loop, on_close_walk_cb, NULL);
    uv_run(p->loop, UV_RUN_DEFAULT);
    uv_loop_close(p->loop);
}

/* Loads the key file into the reflector's keyring, or says why not. */
int probe_cmd_read_keys(const char *path, struct probe_reflector *r)
{
    char err[1200];

    if (probe_keys_load(path, &r->keys, err, sizeof(err)) == 0) {
        r->authenticated = 1;
        return 0;
    }
    fprintf(stderr, "ixmesh-probe: %s\n", err);
    return -1;
}

int probe_cmd_parse_num(const char *opt, const char *v, unsigned long lo,
                        unsigned long hi, uint32_t *out)
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

/* ---- reflect ---------------------------------------------------------------- */

static void reflect_usage(FILE *f)
{
    fprintf(f,
            "usage: ixmesh-probe reflect [--listen ADDR:PORT] [--key-file FILE]\n"
            "                            [--stateful] [--legacy] [--rate PPS]\n"
            "                            [--rate-total PPS] [--user NAME]\n"
            "                            [--log-level LEVEL]\n"
            "\n"
            "Runs only a STAMP session-reflector (RFC 8762) until interrupted.\n"
            "\n"
            "  --listen ADDR:PORT  where to listen (default *:862; IPv6 in brackets)\n"
            "  --key-file FILE     64 hex digits: authenticated mode; unauthenticated\n"
            "                      packets are then ignored\n"
            "  --stateful          count our own sequence numbers per session\n"
            "  --legacy            also answer TWAMP-Light requests of 41-43 octets\n"
            "  --rate PPS          answers per second per source address (default %.0f,\n"
            "                      twice the fastest 'measure'; burst twice the rate).\n"
            "                      What it refuses is logged per source, at most once a\n"
            "                      minute\n"
            "  --rate-total PPS    answers per second over all sources (default %.0f;\n"
            "                      burst twice the rate), logged likewise\n"
            "  --user NAME         started as root, it answers strangers as this user,\n"
            "                      with no capability, once its socket is open\n"
            "                      (default %s)\n",
            PROBE_REFLECT_RATE, PROBE_REFLECT_RATE_TOTAL, PRIVS_USER_DEFAULT);
}

static int reflect_args(int argc, char **argv, struct probe *p)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'L'},
                                         {"key-file", required_argument, NULL, 'k'},
                                         {"stateful", no_argument, NULL, 's'},
                                         {"legacy", no_argument, NULL, 'g'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"rate-total", required_argument, NULL, 'R'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"user", required_argument, NULL, 'u'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    enum log_level lvl = LOG_LEVEL_INFO;
    uint32_t rate;
    int c;

    proto_addr_parse("*", PROBE_STAMP_PORT, &p->cfg.stamp_addr, &p->cfg.stamp_len);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'L' && proto_addr_parse(optarg, PROBE_STAMP_PORT, &p->cfg.stamp_addr,
                                         &p->cfg.stamp_len) < 0) {
            fprintf(stderr, "ixmesh-probe: --listen: '%s' is not ADDR[:PORT]\n", optarg);
            return -1;
        } else if (c == 'k') {
            if (probe_cmd_read_keys(optarg, &p->reflector) < 0)
                return -1;
        } else if (c == 's') {
            p->reflector.stateful = 1;
        } else if (c == 'g') {
            p->reflector.legacy = 1;
        } else if (c == 'r') {
            if (probe_cmd_parse_num("--rate", optarg, 1, 1000000, &rate) < 0)
                return -1;
            p->reflector.rate_pps = rate;
            p->reflector.burst = 2.0 * rate;
        } else if (c == 'R') {
            if (probe_cmd_parse_num("--rate-total", optarg, 1, 1000000, &rate) < 0)
                return -1;
            p->reflector.rate_total_pps = rate;
            p->reflector.burst_total = 2.0 * rate;
        } else if (c == 'u') {
            if (privs_user_refused(optarg) != NULL) {
                fprintf(stderr, "ixmesh-probe: --user: %s\n", privs_user_refused(optarg));
                return -1;
            }
            snprintf(p->cfg.user, sizeof(p->cfg.user), "%s", optarg);
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

/* Started as root, the reflector becomes its user once its socket is
 * open: it answers whoever sends, and needs no privilege for that. */
static int reflect_leave_root(const char *user)
{
    struct privs_user u;
    char err[1400];
    int rc;

    if (geteuid() != 0)
        return 0;
    rc = privs_user_lookup(user, &u);
    if (rc == -ENOENT)
        log_error("user '%s' does not exist: create it (useradd --system "
                  "--no-create-home %s) or name another with --user",
                  user, user);
    else if (rc < 0)
        log_error("user '%s': %s", user, rc == -EPERM ? "is uid 0" : strerror(-rc));
    if (rc == 0 && (rc = privs_drop(&u, 0, err, sizeof(err))) < 0)
        log_error("%s", err);
    if (rc == 0)
        log_info("running as user %s (uid %u, gid %u), keeping none", u.name,
                 (unsigned)u.uid, (unsigned)u.gid);
    return rc;
}

int probe_cmd_reflect(int argc, char **argv)
{
    static struct probe p;

    p.loop = uv_default_loop();
    p.stamp.fd = -1;
    probe_reflector_init(&p.reflector);
    snprintf(p.cfg.user, sizeof(p.cfg.user), "%s", PRIVS_USER_DEFAULT);
    if (reflect_args(argc, argv, &p) < 0)
        return 2;
    if (probe_stamp_io_open(&p) < 0)
        return 1;
    if (reflect_leave_root(p.cfg.user) < 0) {
        probe_cmd_close_all(&p);
        return 1;
    }
    probe_cmd_watch_signals(&p);
    log_info("reflecting (%s, %s, at most %.0f answers a second per source and %.0f "
             "over all)",
             p.reflector.authenticated ? "authenticated" : "open",
             p.reflector.stateful ? "stateful" : "stateless", p.reflector.rate_pps,
             p.reflector.rate_total_pps);
    uv_run(p.loop, UV_RUN_DEFAULT);
    log_info("%llu reflected, %llu dropped, %llu over the rate limit, %llu over the cap",
             (unsigned long long)p.reflector.reflected,
             (unsigned long long)p.reflector.dropped,
             (unsigned long long)p.reflector.rate_limited,
             (unsigned long long)p.reflector.total_limited);
    probe_cmd_close_all(&p);
    return 0;
}
