/*
 * main.c - ixmesh-linkemu: a user-space wire that delays frames between two
 * TAP devices, for testbeds whose kernel has no tc netem.
 *
 * Usage:
 *     ixmesh-linkemu run --a IFA --b IFB --ctl PATH [--delay-ms D]
 *         [--jitter-ms J] [--loss-pct L] [--reorder-every N] [--dup-every N]
 *         [--impair-dir a2b|b2a|both] [--ready-file F] [--seed S]
 *     ixmesh-linkemu ctl PATH set [--delay-ms D] ... | stats | reset
 *
 * run makes the TAP devices IFA and IFB in the current network namespace and
 * copies every frame from one to the other after the one-way delay.  The
 * caller moves them wherever it likes (ip link set IFA netns NS) and brings
 * them up; our descriptors stay valid across the move.  They are not
 * persistent, so they vanish when this process ends, however it ends.
 *
 * Why TAP: it hands whole Ethernet frames to exactly one reader, and lets us
 * inject frames that the far namespace's stack receives as if from a wire.
 *
 * Design.  One thread, one epoll loop over the two TAPs, a timerfd, the
 * control socket and a signalfd.  A frame read is stamped on CLOCK_MONOTONIC,
 * given its departure (link.c says how), and put on a hashed timer wheel of
 * 65536 slots of 65.5 us (wheel.c; horizon 4.29 s, so delay + jitter may be
 * at most 4 s).  The wheel only finds the earliest frame cheaply: the timerfd
 * is armed with TFD_TIMER_ABSTIME relative to that frame's exact departure,
 * not to a slot boundary, and the timer slack is set to 1 ns so the kernel
 * does not add its default 50 us.  Even so, waking a sleeping thread takes
 * 30 to 80 us on a virtual machine, so the timer is armed --spin-us (200 us)
 * early and the loop polls epoll from there to the departure: the median
 * lateness drops from ~60 us to under 1 us, for at most 200 us of CPU per
 * departure.  (SCHED_FIFO was tried and made things worse: 55 to 85 us more
 * per traversal, as real-time wakeups went to another, halted vCPU.)
 * Buffers come from a pool allocated at start (16384 frames of 2048 octets);
 * when it is empty a frame is dropped and counted.
 *
 * Lateness is the time a frame was handed to write() minus its departure;
 * the stats request reports its p50, p99 and maximum per direction.  It does
 * not include the time between the frame reaching the TAP and our read(),
 * which a round trip measured from outside does include.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "linkemu.h"
#include "log.h"

#define EXIT_USAGE 2

enum { EV_TAP_A, EV_TAP_B, EV_TIMER, EV_CTL, EV_SIGNAL };

struct run_opts {
    const char *ifa, *ifb, *ctl, *ready;
    uint64_t seed;
    uint64_t spin_us;
    struct le_params params;
};

/* The emulator's state: large (histograms, scratch), so not on the stack. */
static struct le_link link_state;

static const struct option param_options[] = {
    {"delay-ms", required_argument, NULL, 'p'},
    {"jitter-ms", required_argument, NULL, 'p'},
    {"loss-pct", required_argument, NULL, 'p'},
    {"reorder-every", required_argument, NULL, 'p'},
    {"dup-every", required_argument, NULL, 'p'},
    {"impair-dir", required_argument, NULL, 'p'},
    {"slow-us", required_argument, NULL, 'p'},
    {"help", no_argument, NULL, 'h'},
    {"a", required_argument, NULL, 'a'},
    {"b", required_argument, NULL, 'b'},
    {"ctl", required_argument, NULL, 'c'},
    {"ready-file", required_argument, NULL, 'r'},
    {"seed", required_argument, NULL, 's'},
    {"spin-us", required_argument, NULL, 'S'},
    {NULL, 0, NULL, 0},
};

/* The ctl subcommand takes the parameter options and --help only. */
#define CTL_OPTION_COUNT 8

static const char params_help[] =
    "  --delay-ms D        one-way delay in each direction, ms (default 0; may be\n"
    "                      fractional)\n"
    "  --jitter-ms J       each frame's delay is D + uniform(-J, +J), at least 0;\n"
    "                      frames are never reordered by jitter (D + J <= 4000)\n"
    "  --loss-pct L        drop eligible frames at random with this chance\n"
    "  --reorder-every N   hold every Nth eligible frame back 5 ms more, so\n"
    "                      later frames overtake it (0: off)\n"
    "  --dup-every N       send every Nth eligible frame twice (0: off); when\n"
    "                      both apply to a frame, reorder wins\n"
    "  --impair-dir DIR    a2b, b2a or both (default): where loss, reorder and\n"
    "                      dup apply\n"
    "  --slow-us U         every frame leaves U us later still, unseen by the\n"
    "                      stats (neither delay nor lateness): stands for a host\n"
    "                      whose wires are slower, for tests that must find that\n"
    "                      out by measuring (default 0, at most 100000)\n"
    "Eligible frames: IPv4 or IPv6 UDP, ICMP and ICMPv6 echo request and reply.\n"
    "ARP, neighbour discovery and everything else are only delayed.\n";

static void usage(FILE *f)
{
    fprintf(f, "usage: ixmesh-linkemu run --a IFA --b IFB --ctl PATH [OPTIONS]\n"
               "       ixmesh-linkemu ctl PATH set [OPTIONS] | stats | reset\n"
               "\n"
               "A user-space wire between two TAP devices that delays every frame\n"
               "by a known one-way delay.  See 'run --help' and 'ctl --help'.\n");
}

static void usage_run(FILE *f)
{
    fprintf(f,
            "usage: ixmesh-linkemu run --a IFA --b IFB --ctl PATH [OPTIONS]\n"
            "\n"
            "Makes the TAP devices IFA and IFB here and copies frames between them\n"
            "after the delay.  They disappear when the process ends.\n"
            "\n"
            "  --a IFA, --b IFB    names of the TAP devices to make (at most 15 chars)\n"
            "  --ctl PATH          control socket (see 'ctl --help'), removed at exit\n"
            "  --ready-file F      written once everything is set up, removed at exit\n"
            "  --seed S            seed for loss and jitter (default: from the clock)\n"
            "  --spin-us U         poll instead of sleeping from U us before each\n"
            "                      departure (default %d; 0: always sleep); costs CPU,\n"
            "                      saves the tens of us a sleeping thread takes to wake\n"
            "%s"
            "\n"
            "Exit status: 0 after SIGTERM or SIGINT, 1 on a runtime failure, 2 on bad\n"
            "arguments.\n",
            LE_SPIN_US, params_help);
}

static void usage_ctl(FILE *f)
{
    fprintf(f,
            "usage: ixmesh-linkemu ctl PATH set [OPTIONS]\n"
            "       ixmesh-linkemu ctl PATH stats\n"
            "       ixmesh-linkemu ctl PATH reset\n"
            "\n"
            "set changes the given settings of the running emulator (frames in flight\n"
            "keep their departures) and prints all settings.  stats prints counters\n"
            "per direction (a2b_..., b2a_...) and the settings as KEY=VALUE on one\n"
            "line; late_* is write time minus departure in us since start or reset.\n"
            "reset zeroes the counters and restarts the count of every Nth frame.\n"
            "\n"
            "%s",
            params_help);
}

static int bad_args(const char *fmt, const char *what)
{
    fprintf(stderr, "ixmesh-linkemu: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    return -1;
}

static int check_ifname(const char *opt, const char *name)
{
    if (name == NULL)
        return bad_args("run: %s is required", opt);
    if (name[0] == '\0' || strlen(name) >= IFNAMSIZ || strpbrk(name, "/: \t") != NULL)
        return bad_args("run: bad interface name '%s' (1 to 15 characters, no '/', ':' "
                        "or spaces)",
                        name);
    return 0;
}

/* Fills o from argv; returns 0, 1 after --help, or -1 after an error message. */
static int parse_run(int argc, char **argv, struct run_opts *o)
{
    char err[256], *end;
    int c, idx;

    memset(o, 0, sizeof(*o));
    le_params_default(&o->params);
    o->seed = le_now_ns() ^ ((uint64_t)getpid() << 32);
    o->spin_us = LE_SPIN_US;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", param_options, &idx)) != -1) {
        switch (c) {
        case 'p':
            if (le_params_set(&o->params, param_options[idx].name, optarg, err,
                              sizeof(err)) < 0)
                return bad_args("run: %s", err);
            break;
        case 'a':
            o->ifa = optarg;
            break;
        case 'b':
            o->ifb = optarg;
            break;
        case 'c':
            o->ctl = optarg;
            break;
        case 'r':
            o->ready = optarg;
            break;
        case 's':
            o->seed = strtoull(optarg, &end, 0);
            if (*optarg == '\0' || *end != '\0')
                return bad_args("run: --seed wants a number, got '%s'", optarg);
            break;
        case 'S':
            o->spin_us = strtoull(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end != '\0' || o->spin_us > 100000)
                return bad_args("run: --spin-us wants 0 to 100000, got '%s'", optarg);
            break;
        case 'h':
            usage_run(stdout);
            return 1;
        default:
            return bad_args("run: %s", "see 'ixmesh-linkemu run --help'");
        }
    }
    if (optind < argc)
        return bad_args("run: unexpected argument '%s'", argv[optind]);
    if (check_ifname("--a", o->ifa) < 0 || check_ifname("--b", o->ifb) < 0)
        return -1;
    if (strcmp(o->ifa, o->ifb) == 0)
        return bad_args("run: --a and --b must differ, both are '%s'", o->ifa);
    if (o->ctl == NULL)
        return bad_args("run: %s is required", "--ctl");
    if (le_params_check(&o->params, err, sizeof(err)) < 0)
        return bad_args("run: %s", err);
    return 0;
}

/* Writes our pid to path through a temporary file and rename(2), so a reader
 * never sees it half written. */
static int write_ready(const char *path)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL)
        return -errno;
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0 || rename(tmp, path) < 0) {
        int rc = -errno;

        unlink(tmp);
        return rc;
    }
    return 0;
}

static int epoll_add(int ep, int fd, uint32_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};

    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Turns until SIGTERM or SIGINT; 0, or a negative errno if epoll fails. */
static int run_loop(struct le_link *l, int ep, int ctl_fd, int sig_fd)
{
    struct epoll_event ev[8];
    struct signalfd_siginfo si;
    uint64_t ticks;
    ssize_t n;

    for (;;) {
        int k = epoll_wait(ep, ev, 8, le_link_wait_ms(l));

        if (k < 0 && errno != EINTR)
            return -errno;
        for (int i = 0; i < k; i++) {
            switch (ev[i].data.u32) {
            case EV_TAP_A:
                le_link_read(l, LE_A2B);
                break;
            case EV_TAP_B:
                le_link_read(l, LE_B2A);
                break;
            case EV_TIMER:
                n = read(l->timer_fd, &ticks, sizeof(ticks));
                (void)n; /* EAGAIN when re-armed meanwhile: fine */
                break;
            case EV_CTL:
                le_ctl_serve(l, ctl_fd);
                break;
            case EV_SIGNAL:
                if (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                    log_info("got signal %u", si.ssi_signo);
                return 0;
            }
        }
        le_link_flush(l);
    }
}

/* Opens what the loop watches; on failure says why and returns -1. */
static int setup(const struct run_opts *o, int *ep, int *ctl_fd, int *sig_fd)
{
    int fa = -1, fb = -1, tfd, rc;
    sigset_t set;

    if ((rc = le_tap_open(o->ifa, &fa)) < 0 || (rc = le_tap_open(o->ifb, &fb)) < 0) {
        log_error("cannot make TAP device %s: %s%s", fa < 0 ? o->ifa : o->ifb,
                  strerror(-rc),
                  rc == -EEXIST   ? " (an interface of that name exists)"
                  : rc == -ENOENT ? " (no /dev/net/tun)"
                                  : "");
        if (fa >= 0)
            close(fa);
        return -1;
    }
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0 || (rc = le_link_init(&link_state, fa, fb, tfd, &o->params, o->seed,
                                      o->spin_us * 1000)) < 0) {
        log_error("cannot set up: %s", strerror(tfd < 0 ? errno : -rc));
        return -1;
    }
    if ((rc = le_ctl_listen(o->ctl, ctl_fd)) < 0) {
        log_error("cannot listen on %s: %s", o->ctl, strerror(-rc));
        return -1;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    *sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    *ep = epoll_create1(EPOLL_CLOEXEC);
    if (*sig_fd < 0 || *ep < 0 || (rc = epoll_add(*ep, fa, EV_TAP_A)) < 0 ||
        (rc = epoll_add(*ep, fb, EV_TAP_B)) < 0 ||
        (rc = epoll_add(*ep, tfd, EV_TIMER)) < 0 ||
        (rc = epoll_add(*ep, *ctl_fd, EV_CTL)) < 0 ||
        (rc = epoll_add(*ep, *sig_fd, EV_SIGNAL)) < 0) {
        log_error("cannot set up the event loop: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    struct run_opts o;
    char buf[LE_CTL_MAX];
    int ep = -1, ctl_fd = -1, sig_fd = -1, rc, status = 1;

    rc = parse_run(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : EXIT_USAGE;
    /* Departures are timed to the microsecond; the default 50 us of slack
     * would be most of the error. */
    if (prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) < 0)
        log_warn("cannot set the timer slack: %s", strerror(errno));
    if (setup(&o, &ep, &ctl_fd, &sig_fd) < 0)
        goto done;
    if (o.ready != NULL && (rc = write_ready(o.ready)) < 0) {
        log_error("cannot write %s: %s", o.ready, strerror(-rc));
        goto done;
    }
    le_params_format(&o.params, buf, sizeof(buf));
    log_info("made TAP devices a=%s b=%s, control socket %s; %s; pool %u frames of %u "
             "octets; spin %llu us",
             o.ifa, o.ifb, o.ctl, buf, LE_POOL_FRAMES, LE_FRAME_MAX,
             (unsigned long long)o.spin_us);
    rc = run_loop(&link_state, ep, ctl_fd, sig_fd);
    if (rc < 0) {
        log_error("epoll_wait: %s", strerror(-rc));
        goto done;
    }
    le_stats_format(&link_state.dir[LE_A2B].st, &link_state.dir[LE_B2A].st, buf,
                    sizeof(buf));
    log_info("stopping: %s", buf);
    status = 0;
done:
    if (ctl_fd >= 0) {
        close(ctl_fd);
        unlink(o.ctl);
    }
    if (o.ready != NULL)
        unlink(o.ready);
    if (link_state.wheel != NULL)
        le_link_close(&link_state);
    if (sig_fd >= 0)
        close(sig_fd);
    if (ep >= 0)
        close(ep);
    return status;
}

/* Turns "set --delay-ms 5 ..." into the request "set delay-ms=5 ...". */
static int build_set(int argc, char **argv, char *req, size_t len)
{
    struct le_params scratch;
    struct option opts[CTL_OPTION_COUNT + 1];
    char err[256];
    size_t n = (size_t)snprintf(req, len, "set");
    int c, idx;

    memcpy(opts, param_options, sizeof(opts[0]) * CTL_OPTION_COUNT);
    memset(&opts[CTL_OPTION_COUNT], 0, sizeof(opts[0]));
    le_params_default(&scratch);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        if (c == 'h') {
            usage_ctl(stdout);
            return 1;
        }
        if (c != 'p')
            return bad_args("ctl: %s", "see 'ixmesh-linkemu ctl --help'");
        /* Checked here too, so a typo is a usage error before anything is sent. */
        if (le_params_set(&scratch, opts[idx].name, optarg, err, sizeof(err)) < 0)
            return bad_args("ctl: %s", err);
        n += (size_t)snprintf(req + n, len - n, " %s=%s", opts[idx].name, optarg);
        if (n >= len)
            return bad_args("ctl: %s", "request too long");
    }
    if (optind < argc)
        return bad_args("ctl: unexpected argument '%s'", argv[optind]);
    return 0;
}

static int cmd_ctl(int argc, char **argv)
{
    char req[LE_CTL_MAX], reply[LE_CTL_MAX];
    const char *path, *verb;
    int rc;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage_ctl(stdout);
        return 0;
    }
    if (argc < 3) {
        bad_args("ctl: %s", "want PATH and one of set, stats, reset");
        return EXIT_USAGE;
    }
    path = argv[1];
    verb = argv[2];
    if (strcmp(verb, "set") == 0) {
        rc = build_set(argc - 2, argv + 2, req, sizeof(req));
        if (rc != 0)
            return rc > 0 ? 0 : EXIT_USAGE;
    } else if ((strcmp(verb, "stats") == 0 || strcmp(verb, "reset") == 0) && argc == 3) {
        snprintf(req, sizeof(req), "%s", verb);
    } else {
        bad_args("ctl: want set, stats or reset, got '%s'", verb);
        return EXIT_USAGE;
    }
    rc = le_ctl_request(path, req, reply, sizeof(reply));
    if (rc < 0) {
        fprintf(stderr, "ixmesh-linkemu: ctl %s: %s\n", path, strerror(-rc));
        return 1;
    }
    if (strncmp(reply, "ok ", 3) != 0) {
        fprintf(stderr, "ixmesh-linkemu: ctl: %s\n",
                strncmp(reply, "err ", 4) == 0 ? reply + 4 : reply);
        return EXIT_USAGE;
    }
    printf("%s\n", reply + 3);
    return 0;
}

int main(int argc, char **argv)
{
    log_init("ixmesh-linkemu", LOG_LEVEL_INFO);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
        return cmd_ctl(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("ixmesh-linkemu %s\n", IXMESH_VERSION);
        return 0;
    }
    usage(stderr);
    return EXIT_USAGE;
}
