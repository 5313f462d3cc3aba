/*
 * hostile.c - ixmesh-hostile, a controller that does what a hostile or
 * compromised one would: it accepts one probe over real TLS (a certificate
 * the probe's CA signed), speaks the real protocol (HELLO, WELCOME,
 * HEARTBEAT, ACK) and sends the TASKS lists it is told to, one after the
 * other.  It prints each ERROR the probe sends back and what the records
 * it gets say, so that a test can tell what the probe did with each list.
 *
 *   ixmesh-hostile --listen ADDR:PORT --ca CA --cert CERT --key KEY
 *                  [--gap S] [--hold S] TASKFILE...
 *
 * A task file has one task a line:
 *   METHOD ADDR PORT INTERVAL_MS SIZE DSCP [HOST [PATH [HEADER]]]
 * with ADDR "-" for a task that names only HOST, INTERVAL_MS ending in "p"
 * for Poisson gaps; "#" starts a comment.  Tasks are numbered from 1, or
 * from N after a line "id N".  A file whose first line is "delta BASE" is
 * a TASKS_DELTA on the list of generation BASE (the Nth list sent has
 * generation N): its tasks are put, and "del ID..." lines delete.
 * Each list goes --gap seconds after the one before (the first right after
 * WELCOME); --hold seconds after the last, the program exits 0.
 *
 * Output, one line each: "hello ID", "tasks GEN N", "delta GEN on BASE put N
 * del N", "error CODE REASON",
 * "results N sent S received R", "why TASK REASON" (a record's last failure,
 * the first 20), "closed WHY".
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

struct opts {
    const char *listen, *ca, *cert, *key;
    double gap_s, hold_s;
    char **files;
    int nfiles;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One line of a task file into t; 0, or -EINVAL. */
static int parse_task(char *line, uint32_t id, struct proto_task *t)
{
    char method[16], addr[PROTO_ADDRSTR_MAX],
        host[PROTO_HOST_MAX + 1] = "", path[PROTO_PATH_MAX + 1] = "",
                              hdr[PROTO_TOKEN_MAX + 1] = "";
    char iv_text[16], *end;
    unsigned port, size, dscp;
    unsigned long iv;
    int m, n = sscanf(line, "%15s %45s %u %15s %u %u %253s %255s %64s", method, addr,
                      &port, iv_text, &size, &dscp, host, path, hdr);

    if (n < 6 || (m = proto_method_parse(method)) <= 0)
        return -EINVAL;
    iv = strtoul(iv_text, &end, 10); /* "1000p": Poisson gaps of that mean */
    if (*end != '\0' && strcmp(end, "p") != 0)
        return -EINVAL;
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->method = (uint8_t)m;
    snprintf(t->target_id, sizeof(t->target_id), "t%u", id);
    if (strcmp(addr, "-") != 0)
        snprintf(t->addr, sizeof(t->addr), "%s", addr);
    t->port = (uint16_t)port;
    t->interval_ms = (uint32_t)iv;
    t->poisson = *end == 'p';
    t->timeout_ms = 1000;
    t->size = (uint16_t)size;
    t->dscp = (uint8_t)dscp;
    snprintf(t->host, sizeof(t->host), "%s", host);
    snprintf(t->path, sizeof(t->path), "%s", path);
    snprintf(t->header, sizeof(t->header), "%s", hdr);
    if (t->method == PROTO_METHOD_DNS)
        snprintf(t->qname, sizeof(t->qname), "%s", host[0] ? host : "example.net");
    return 0;
}

/* A line "delta B", "id N" or "del ID...": 1 when it was one, -EINVAL when bad. */
static int parse_directive(const char *line, struct proto_msg *m, uint32_t *next_id)
{
    struct proto_tasks *tl = &m->u.tasks;
    unsigned long long v;
    int n;

    if (sscanf(line, "delta %llu", &v) == 1) {
        m->type = PROTO_MSG_TASKS_DELTA;
        tl->base = v;
        return 1;
    }
    if (sscanf(line, "id %llu", &v) == 1) {
        *next_id = (uint32_t)v;
        return 1;
    }
    if (strncmp(line, "del ", 4) != 0)
        return 0;
    for (line += 4; sscanf(line, "%llu%n", &v, &n) == 1; line += n) {
        if (tl->ndel == PROTO_TASKS_MAX)
            return -EINVAL;
        tl->del[tl->ndel++] = (uint32_t)v;
    }
    return 1;
}

static int load_tasks(const char *file, uint64_t gen, struct proto_msg *m)
{
    struct proto_tasks *tl = &m->u.tasks;
    FILE *f = fopen(file, "r");
    uint32_t next_id = 1;
    char line[1024];
    int rc = 0, d;

    tl->generation = gen;
    tl->window_s = 1;
    tl->tasks = calloc(PROTO_TASKS_MAX, sizeof(*tl->tasks));
    tl->del = calloc(PROTO_TASKS_MAX, sizeof(*tl->del));
    if (f == NULL || tl->tasks == NULL || tl->del == NULL) {
        fprintf(stderr, "hostile: %s: %s\n", file, strerror(errno));
        rc = -EIO;
        goto done;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if ((d = parse_directive(line, m, &next_id)) != 0) {
            if (d > 0)
                continue;
            fprintf(stderr, "hostile: %s: bad line: %s", file, line);
            rc = -EINVAL;
            goto done;
        }
        if (tl->ntasks == PROTO_TASKS_MAX ||
            parse_task(line, next_id++, &tl->tasks[tl->ntasks]) < 0) {
            fprintf(stderr, "hostile: %s: bad line: %s", file, line);
            rc = -EINVAL;
            goto done;
        }
        tl->ntasks++;
    }
done:
    if (f != NULL)
        fclose(f);
    return rc;
}

/* Writes what the channel has for the socket. */
static int pump(int fd, struct proto_chan *ch)
{
    uint8_t *out;
    size_t len;

    while (proto_chan_take_out(ch, &out, &len) == 0 && out != NULL) {
        size_t off = 0;

        while (off < len) {
            ssize_t w = write(fd, out + off, len - off);

            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                free(out);
                return -errno;
            }
            off += (size_t)w;
        }
        free(out);
    }
    return 0;
}

static void send_msg(int fd, struct proto_chan *ch, const struct proto_msg *m)
{
    if (proto_chan_send(ch, m) < 0)
        fprintf(stderr, "hostile: the encoder refused message type %d\n", m->type);
    pump(fd, ch);
}

/* What the probe said; 1 when it was its HELLO. */
static int on_msg(int fd, struct proto_chan *ch, const struct proto_msg *m)
{
    if (m->type == PROTO_MSG_HELLO) {
        struct proto_msg w = {.type = PROTO_MSG_WELCOME};

        printf("hello %s\n", m->u.hello.probe_id);
        w.u.welcome =
            (struct proto_welcome){.version = 1, .heartbeat_s = 2, .idle_s = 30};
        send_msg(fd, ch, &w);
        return 1;
    }
    if (m->type == PROTO_MSG_ERROR)
        printf("error %u %s\n", m->u.error.code, m->u.error.reason);
    if (m->type == PROTO_MSG_RESULTS && m->u.results.nresults > 0) {
        static int whys; /* the first reasons only: a test greps them */
        struct proto_msg a = {.type = PROTO_MSG_ACK};
        uint64_t sent = 0, received = 0;

        for (uint32_t i = 0; i < m->u.results.nresults; i++) {
            const struct proto_result *r = &m->u.results.results[i];

            sent += r->sent;
            received += r->received;
            if (r->why[0] != '\0' && whys < 20) {
                printf("why %u %s\n", r->task_id, r->why);
                whys++;
            }
            a.u.ack.seq = r->seq > a.u.ack.seq ? r->seq : a.u.ack.seq;
        }
        printf("results %u sent %llu received %llu\n", m->u.results.nresults,
               (unsigned long long)sent, (unsigned long long)received);
        send_msg(fd, ch, &a);
    }
    fflush(stdout);
    return 0;
}

static int accept_one(const char *listen_at)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1, lfd, fd;

    if (proto_addr_parse(listen_at, 7862, &ss, &sl) < 0)
        return -EINVAL;
    lfd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (lfd < 0)
        return -errno;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, 1) < 0) {
        close(lfd);
        return -errno;
    }
    printf("listening %s\n", listen_at);
    fflush(stdout);
    fd = accept(lfd, NULL, NULL);
    close(lfd);
    return fd < 0 ? -errno : fd;
}

/* Reads and answers until the next list is due (or the end). */
static int serve(int fd, struct proto_chan *ch, double until, int *welcomed)
{
    static double last_hb;
    double now;

    while ((now = now_s()) < until) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        uint8_t buf[65536];
        struct proto_msg m;
        ssize_t n;
        int rc;

        if (*welcomed && now - last_hb >= 1.0) {
            struct proto_msg hb = {.type = PROTO_MSG_HEARTBEAT};

            send_msg(fd, ch, &hb);
            last_hb = now;
        }
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            printf("closed %s\n", n == 0 ? "by the probe" : strerror(errno));
            return -EPIPE;
        }
        if (proto_chan_feed(ch, buf, (size_t)n) < 0) {
            printf("closed %s\n", proto_chan_reason(ch));
            return -EPROTO;
        }
        while ((rc = proto_chan_recv(ch, &m)) > 0) {
            *welcomed |= on_msg(fd, ch, &m);
            proto_msg_free(&m);
        }
        pump(fd, ch);
        if (rc < 0) {
            printf("closed malformed: %s\n", proto_chan_reason(ch));
            return -EPROTO;
        }
    }
    return 0;
}

static int run(const struct opts *o)
{
    char err[256];
    SSL_CTX *ctx = proto_chan_ctx_new(1, o->ca, o->cert, o->key, err, sizeof(err));
    struct proto_chan *ch = NULL;
    int fd = -1, welcomed = 0, rc = 1;

    if (ctx == NULL) {
        fprintf(stderr, "hostile: %s\n", err);
        return 1;
    }
    fd = accept_one(o->listen);
    if (fd < 0) {
        fprintf(stderr, "hostile: %s: %s\n", o->listen, strerror(-fd));
        goto done;
    }
    ch = proto_chan_new(ctx, 1, NULL);
    if (ch == NULL)
        goto done;
    /* Up to the WELCOME, then each list in turn. */
    for (double end = now_s() + 15; !welcomed && now_s() < end;)
        if (serve(fd, ch, now_s() + 0.2, &welcomed) < 0)
            goto done;
    if (!welcomed) {
        fprintf(stderr, "hostile: no HELLO within 15 s\n");
        goto done;
    }
    for (int i = 0; i < o->nfiles; i++) {
        struct proto_msg m = {.type = PROTO_MSG_TASKS};

        if (load_tasks(o->files[i], (uint64_t)i + 1, &m) < 0) {
            proto_msg_free(&m);
            goto done;
        }
        if (m.type == PROTO_MSG_TASKS)
            printf("tasks %d %u\n", i + 1, m.u.tasks.ntasks);
        else
            printf("delta %d on %llu put %u del %u\n", i + 1,
                   (unsigned long long)m.u.tasks.base, m.u.tasks.ntasks, m.u.tasks.ndel);
        fflush(stdout);
        send_msg(fd, ch, &m);
        proto_msg_free(&m);
        if (serve(fd, ch, now_s() + (i + 1 < o->nfiles ? o->gap_s : o->hold_s),
                  &welcomed) < 0)
            goto done;
    }
    rc = 0;
done:
    fflush(stdout);
    if (ch != NULL)
        proto_chan_free(ch);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"listen", required_argument, NULL, 'l'},
                                             {"ca", required_argument, NULL, 'a'},
                                             {"cert", required_argument, NULL, 'c'},
                                             {"key", required_argument, NULL, 'k'},
                                             {"gap", required_argument, NULL, 'g'},
                                             {"hold", required_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct opts o = {.gap_s = 5, .hold_s = 10};
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            o.listen = optarg;
            break;
        case 'a':
            o.ca = optarg;
            break;
        case 'c':
            o.cert = optarg;
            break;
        case 'k':
            o.key = optarg;
            break;
        case 'g':
            o.gap_s = atof(optarg);
            break;
        case 'h':
            o.hold_s = atof(optarg);
            break;
        default:
            return 2;
        }
    }
    o.files = argv + optind;
    o.nfiles = argc - optind;
    if (o.listen == NULL || o.ca == NULL || o.cert == NULL || o.key == NULL ||
        o.nfiles < 1) {
        fprintf(stderr, "usage: ixmesh-hostile --listen ADDR:PORT --ca CA --cert CERT "
                        "--key KEY [--gap S] [--hold S] TASKFILE...\n");
        return 2;
    }
    return run(&o);
}
