/*
 * dns_test.c - the DNS answer reader (dns.c) without a network, and
 * dns_io.c on a real libuv loop against a real unbound on loopback: the
 * dns method's outcomes, cancellation, and the probe's own resolver.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_probe.h"
#include "probe.h"

#define QNAME "content.ixmesh.test"

/* ---- answers built by hand (RFC 1035 4.1) ---------------------------------- */

static void put_name(struct proto_wr *w, const char *name)
{
    const char *s = name;

    while (*s != '\0') {
        size_t n = strcspn(s, ".");

        ck_assert_int_eq(proto_wr_u8(w, (uint8_t)n), 0);
        for (size_t i = 0; i < n; i++)
            ck_assert_int_eq(proto_wr_u8(w, (uint8_t)s[i]), 0);
        s += n;
        if (*s == '.')
            s++;
    }
    ck_assert_int_eq(proto_wr_u8(w, 0), 0);
}

/*
 * An answer with the given flags word and RCODE, question qname/qtype, an
 * answers (A records named by a pointer to the question, 4.1.4), one
 * authority record and one additional record.  Returns its length.
 */
static size_t build(uint8_t *buf, size_t cap, uint16_t flags, uint8_t rcode,
                    const char *qname, uint16_t qtype, uint16_t an)
{
    struct proto_wr w;

    proto_wr_init(&w, buf, cap);
    proto_wr_u16(&w, 0x1234);
    proto_wr_u16(&w, (uint16_t)(flags | rcode));
    proto_wr_u16(&w, 1);
    proto_wr_u16(&w, an);
    proto_wr_u16(&w, 1);
    proto_wr_u16(&w, 1);
    put_name(&w, qname);
    proto_wr_u16(&w, qtype);
    proto_wr_u16(&w, 1);
    for (uint16_t i = 0; i < an; i++) {
        proto_wr_u16(&w, 0xc00c); /* the question's name */
        proto_wr_u16(&w, 1);
        proto_wr_u16(&w, 1);
        proto_wr_u32(&w, 60);
        proto_wr_u16(&w, 4);
        proto_wr_u32(&w, 0x7f000035u + i);
    }
    /* Authority: an SOA-sized blob under the zone's name. */
    put_name(&w, "ixmesh.test");
    proto_wr_u16(&w, 6);
    proto_wr_u16(&w, 1);
    proto_wr_u32(&w, 60);
    proto_wr_u16(&w, 3);
    proto_wr_zero(&w, 3);
    /* Additional: an EDNS OPT record (RFC 6891 6.1.2), root name. */
    proto_wr_u8(&w, 0);
    proto_wr_u16(&w, 41);
    proto_wr_u16(&w, 1232);
    proto_wr_u32(&w, 0);
    ck_assert_int_eq(proto_wr_u16(&w, 0), 0);
    return w.off;
}

#define RESP 0x8180 /* QR, RD, RA */

START_TEST(every_rcode)
{
    static const int want[16] = {[0] = PROTO_OUT_OK,         [1] = PROTO_OUT_DNS_ERROR,
                                 [2] = PROTO_OUT_SERVFAIL,   [3] = PROTO_OUT_NXDOMAIN,
                                 [4] = PROTO_OUT_DNS_ERROR,  [5] = PROTO_OUT_DNS_REFUSED,
                                 [6] = PROTO_OUT_DNS_ERROR,  [7] = PROTO_OUT_DNS_ERROR,
                                 [8] = PROTO_OUT_DNS_ERROR,  [9] = PROTO_OUT_DNS_ERROR,
                                 [10] = PROTO_OUT_DNS_ERROR, [11] = PROTO_OUT_DNS_ERROR,
                                 [12] = PROTO_OUT_DNS_ERROR, [13] = PROTO_OUT_DNS_ERROR,
                                 [14] = PROTO_OUT_DNS_ERROR, [15] = PROTO_OUT_DNS_ERROR};
    uint8_t buf[512];

    for (uint8_t rc = 0; rc < 16; rc++) {
        struct probe_dns_answer a;
        size_t len = build(buf, sizeof(buf), RESP, rc, QNAME, 1, rc == 0 ? 2 : 0);

        ck_assert_int_eq(probe_dns_parse(buf, len, QNAME, 1, &a), 0);
        ck_assert(a.has_header);
        ck_assert_uint_eq(a.rcode, rc);
        ck_assert_uint_eq(a.id, 0x1234);
        ck_assert_uint_eq(a.ancount, rc == 0 ? 2 : 0);
        ck_assert_int_eq(probe_dns_outcome(rc), want[rc]);
    }
    ck_assert_str_eq(proto_dns_rcode_name(3), "NXDOMAIN");
    ck_assert_str_eq(proto_dns_rcode_name(2), "SERVFAIL");
    ck_assert_ptr_null(proto_dns_rcode_name(15));
}
END_TEST

/* Every prefix of an answer is cut short, whatever section the cut hits. */
START_TEST(truncated_at_every_length)
{
    uint8_t buf[512];
    size_t len = build(buf, sizeof(buf), RESP, 0, QNAME, 1, 3);

    for (size_t n = 0; n < len; n++) {
        struct probe_dns_answer a;
        uint8_t *copy = malloc(n ? n : 1); /* exactly n octets: ASan sees overreads */

        ck_assert_ptr_nonnull(copy);
        memcpy(copy, buf, n);
        ck_assert_msg(probe_dns_parse(copy, n, QNAME, 1, &a) == -EBADMSG,
                      "a %zu-octet prefix of %zu was accepted", n, len);
        ck_assert_int_eq(a.has_header, n >= 12);
        free(copy);
    }
    /* TC (4.1.1): what follows the question may be missing. */
    len = build(buf, sizeof(buf), RESP | 0x0200, 0, QNAME, 1, 3);
    {
        struct probe_dns_answer a;

        ck_assert_int_eq(probe_dns_parse(buf, 12 + 21 + 4, QNAME, 1, &a), 0);
        ck_assert(a.tc);
        ck_assert_int_eq(probe_dns_parse(buf, 12 + 21 + 3, QNAME, 1, &a), -EBADMSG);
    }
}
END_TEST

START_TEST(answer_counts)
{
    uint8_t buf[1024];

    for (uint16_t an = 0; an <= 20; an++) {
        struct probe_dns_answer a;
        size_t len = build(buf, sizeof(buf), RESP, 0, QNAME, 1, an);

        ck_assert_int_eq(probe_dns_parse(buf, len, QNAME, 1, &a), 0);
        ck_assert_uint_eq(a.ancount, an);
        ck_assert_uint_eq(a.nscount, 1);
        ck_assert_uint_eq(a.arcount, 1);
        /* A count one too high promises a record that is not there. */
        buf[7] = (uint8_t)(an + 1);
        ck_assert_int_eq(probe_dns_parse(buf, len, QNAME, 1, &a), -EBADMSG);
    }
}
END_TEST

START_TEST(our_question_only)
{
    uint8_t buf[512];
    struct probe_dns_answer a;
    size_t len;

    /* Names compare without regard to case (RFC 4343); a final dot is fine. */
    len = build(buf, sizeof(buf), RESP, 0, "Content.IXMESH.test", 1, 1);
    ck_assert_int_eq(probe_dns_parse(buf, len, QNAME, 1, &a), 0);
    ck_assert_int_eq(probe_dns_parse(buf, len, QNAME ".", 1, &a), 0);
    ck_assert_int_eq(probe_dns_parse(buf, len, "content.ixmesh", 1, &a), -EPROTO);
    ck_assert_int_eq(probe_dns_parse(buf, len, "content.ixmesh.test.x", 1, &a), -EPROTO);
    ck_assert_int_eq(probe_dns_parse(buf, len, "content.ixmesh.tesu", 1, &a), -EPROTO);
    ck_assert_int_eq(probe_dns_parse(buf, len, "contentixmesh.test", 1, &a), -EPROTO);
    ck_assert_int_eq(probe_dns_parse(buf, len, QNAME, 28, &a), -EPROTO);
    /* Not a response (QR clear), or another opcode (2, STATUS). */
    len = build(buf, sizeof(buf), 0x0100, 0, QNAME, 1, 1);
    ck_assert_int_eq(probe_dns_parse(buf, len, QNAME, 1, &a), -EPROTO);
    len = build(buf, sizeof(buf), RESP | (2 << 11), 0, QNAME, 1, 1);
    ck_assert_int_eq(probe_dns_parse(buf, len, QNAME, 1, &a), -EPROTO);
    /* Class CH, not IN. */
    len = build(buf, sizeof(buf), RESP, 0, QNAME, 1, 1);
    buf[12 + 21 + 3] = 3;
    ck_assert_int_eq(probe_dns_parse(buf, len, QNAME, 1, &a), -EPROTO);
    /* A pointer in the question has nothing before it to point to. */
    buf[12] = 0xc0;
    ck_assert_int_eq(probe_dns_parse(buf, len, QNAME, 1, &a), -EBADMSG);
    /* An error answer without the question (FORMERR) is an answer; a
     * NOERROR without it is not. */
    len = build(buf, sizeof(buf), RESP, 1, QNAME, 1, 0);
    buf[5] = 0;
    ck_assert_int_eq(probe_dns_parse(buf, 12, QNAME, 1, &a), 0);
    ck_assert_uint_eq(a.rcode, 1);
    buf[3] = 0x80;
    ck_assert_int_eq(probe_dns_parse(buf, 12, QNAME, 1, &a), -EPROTO);
    /* Two questions: not what we asked. */
    len = build(buf, sizeof(buf), RESP, 0, QNAME, 1, 0);
    buf[5] = 2;
    ck_assert_int_eq(probe_dns_parse(buf, len, QNAME, 1, &a), -EPROTO);
}
END_TEST

START_TEST(why_text)
{
    char why[PROTO_WHY_MAX + 1], small[12], name[300];

    probe_dns_why(why, sizeof(why), 3, QNAME);
    ck_assert_str_eq(why, "NXDOMAIN for content.ixmesh.test");
    probe_dns_why(why, sizeof(why), 2, QNAME);
    ck_assert_str_eq(why, "SERVFAIL for content.ixmesh.test");
    probe_dns_why(why, sizeof(why), 5, QNAME);
    ck_assert_str_eq(why, "REFUSED for content.ixmesh.test");
    probe_dns_why(why, sizeof(why), 12, QNAME);
    ck_assert_str_eq(why, "rcode 12 for content.ixmesh.test");
    probe_dns_why(why, sizeof(why), 3, "a\x01\nb\xff");
    ck_assert_str_eq(why, "NXDOMAIN for a??b?");
    probe_dns_why(small, sizeof(small), 3, QNAME);
    ck_assert_str_eq(small, "NXDOMAIN fo");
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    probe_dns_why(why, sizeof(why), 2, name);
    ck_assert_uint_eq(strlen(why), PROTO_WHY_MAX);
}
END_TEST

START_TEST(server_lists)
{
    struct sockaddr_storage ss[4];
    char err[160];
    size_t n;

    ck_assert_int_eq(probe_dns_servers_parse("127.0.0.1, [::1]:5353 192.0.2.1:1", ss, 4,
                                             &n, err, sizeof(err)),
                     0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(proto_addr_port((struct sockaddr *)&ss[0]), 53);
    ck_assert_uint_eq(proto_addr_port((struct sockaddr *)&ss[1]), 5353);
    ck_assert_int_eq(ss[1].ss_family, AF_INET6);
    ck_assert_uint_eq(proto_addr_port((struct sockaddr *)&ss[2]), 1);
    ck_assert_int_eq(probe_dns_servers_parse("ns.example", ss, 4, &n, err, sizeof(err)),
                     -EINVAL);
    ck_assert_msg(strstr(err, "'ns.example'") != NULL, "%s", err);
    ck_assert_int_eq(probe_dns_servers_parse("127.0.0.1:0", ss, 4, &n, err, sizeof(err)),
                     -EINVAL);
    ck_assert_int_eq(probe_dns_servers_parse("*", ss, 4, &n, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(probe_dns_servers_parse(" , ", ss, 4, &n, err, sizeof(err)),
                     -EINVAL);
    ck_assert_int_eq(
        probe_dns_servers_parse("1.1.1.1 2.2.2.2 3.3.3.3", ss, 2, &n, err, sizeof(err)),
        -EINVAL);
    ck_assert_msg(strstr(err, "more than 2") != NULL, "%s", err);
}
END_TEST

/* ---- a real unbound on loopback ------------------------------------------- */

static pid_t unbound_pid = -1;
static char unbound_dir[64];
static uint16_t unbound_port;

/* A UDP port free on both loopback addresses right now. */
static uint16_t free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    ck_assert_int_ge(fd, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

/* Asks unbound something until it answers: 1 when it did within ~5 s. */
static int unbound_answers(void)
{
    static const uint8_t q[] = {0xab, 0xcd, 1,   0,   0,   1,   0,   0,   0,   0,
                                0,    0,    6,   'i', 'x', 'm', 'e', 's', 'h', 4,
                                't',  'e',  's', 't', 0,   0,   6,   0,   1};
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(unbound_port)};
    struct timeval tv = {.tv_usec = 100000};
    uint8_t ans[512];
    int fd = socket(AF_INET, SOCK_DGRAM, 0), ok = 0;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (int i = 0; i < 50 && !ok; i++) {
        sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&sin, sizeof(sin));
        ok = recv(fd, ans, sizeof(ans), 0) > 0;
        if (!ok)
            usleep(100000);
    }
    close(fd);
    return ok;
}

static void write_unbound_conf(char *conf, size_t len)
{
    FILE *f;

    snprintf(conf, len, "%s/unbound.conf", unbound_dir);
    f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "server:\n  username: \"\"\n  chroot: \"\"\n  directory: \"%s\"\n"
            "  pidfile: \"%s/unbound.pid\"\n  do-daemonize: no\n  use-syslog: no\n"
            "  verbosity: 0\n  interface: 127.0.0.1@%u\n  interface: ::1@%u\n"
            "  access-control: 127.0.0.0/8 allow\n  access-control: ::1 allow\n"
            "  module-config: \"iterator\"\n  local-zone: \"test.\" nodefault\n"
            "  local-zone: \"ixmesh.test.\" static\n"
            "  local-data: \"content.ixmesh.test. 60 IN A 127.0.0.53\"\n"
            "  local-data: \"content.ixmesh.test. 60 IN AAAA ::1\"\n"
            "  local-zone: \"refuse.test.\" refuse\n",
            unbound_dir, unbound_dir, unbound_port, unbound_port);
    fclose(f);
}

/*
 * Starts unbound in the foreground as ourselves: ixmesh.test is a static
 * zone with content.ixmesh.test (A 127.0.0.53, AAAA ::1), refuse.test is
 * refused.  0, or -1 when there is no unbound (the test then skips, loudly).
 */
static int start_unbound(void)
{
    char conf[128];

    if (access("/usr/sbin/unbound", X_OK) != 0) {
        fprintf(stderr, "SKIP: no /usr/sbin/unbound: dns_io tests not run\n");
        return -1;
    }
    strcpy(unbound_dir, "/tmp/ixmesh-dns-test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(unbound_dir));
    /* Three tries, each on a fresh port: the port free_port() saw free
     * may be taken before unbound binds it, and then unbound exits. */
    for (int attempt = 0; attempt < 3; attempt++) {
        if (attempt > 0) {
            kill(unbound_pid, SIGTERM);
            waitpid(unbound_pid, NULL, 0);
        }
        unbound_port = free_port();
        write_unbound_conf(conf, sizeof(conf));
        unbound_pid = fork();
        ck_assert_int_ge(unbound_pid, 0);
        if (unbound_pid == 0) {
            /* It goes with the test process, whatever ends that. */
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            execl("/usr/sbin/unbound", "unbound", "-d", "-c", conf, (char *)NULL);
            _exit(127);
        }
        if (unbound_answers())
            return 0;
    }
    ck_abort_msg("unbound did not answer on port %u (three tries)", unbound_port);
    return -1;
}

static void stop_unbound(void)
{
    char cmd[128];

    if (unbound_pid > 0) {
        kill(unbound_pid, SIGTERM);
        waitpid(unbound_pid, NULL, 0);
        unbound_pid = -1;
        snprintf(cmd, sizeof(cmd), "rm -rf %s", unbound_dir);
        ck_assert_int_eq(system(cmd), 0);
    }
}

/* What the loop saw. */
struct seen {
    int replies;
    struct probe_reply rep;
    char why[PROTO_WHY_MAX + 1];
    struct proto_content_info info;
    int lookups;
    int outcome;
    struct sockaddr_storage ss;
    int64_t elapsed_ns;
};

static struct seen seen;
static struct probe prb;

static void on_reply(struct probe *p, struct probe_task *t, const struct probe_reply *rep)
{
    (void)t;
    seen.replies++;
    seen.rep = *rep;
    snprintf(seen.why, sizeof(seen.why), "%s", rep->why ? rep->why : "");
    if (rep->info != NULL)
        seen.info = *rep->info;
    uv_stop(p->loop);
}

static void on_guard_cb(uv_timer_t *h)
{
    uv_stop(h->loop);
}

/* Runs the loop until a reply or a lookup stops it, or ms pass. */
static void run_for(uint64_t ms)
{
    uv_timer_t guard;

    uv_timer_init(prb.loop, &guard);
    uv_timer_start(&guard, on_guard_cb, ms, 0);
    uv_run(prb.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(prb.loop, UV_RUN_NOWAIT);
}

static void loop_setup(void)
{
    memset(&prb, 0, sizeof(prb));
    memset(&seen, 0, sizeof(seen));
    prb.loop = malloc(sizeof(uv_loop_t));
    ck_assert_ptr_nonnull(prb.loop);
    ck_assert_int_eq(uv_loop_init(prb.loop), 0);
    prb.stamp.fd = -1;
    prb.on_reply = on_reply;
}

/* Closes the methods (the resolver with them), then checks nothing is left
 * on the loop: every handle of dns_io.c closed itself. */
static void loop_teardown(void)
{
    probe_method_close_all(&prb);
    uv_run(prb.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(prb.loop), 0);
    free(prb.loop);
}

static struct probe_task *dns_task(const char *addr, uint16_t port, const char *qname,
                                   uint16_t qtype, uint32_t timeout_ms)
{
    struct proto_task spec = {.id = 1,
                              .method = PROTO_METHOD_DNS,
                              .target_id = "res-1",
                              .port = port,
                              .interval_ms = 1000,
                              .timeout_ms = timeout_ms,
                              .qtype = qtype};
    struct probe_task *t;

    snprintf(spec.addr, sizeof(spec.addr), "%s", addr);
    snprintf(spec.qname, sizeof(spec.qname), "%s", qname);
    t = probe_task_new(&spec);
    ck_assert_ptr_nonnull(t);
    t->probe = &prb;
    probe_window_open(&t->win[0], 0, 1);
    return t;
}

/* One attempt of t; the loop runs until it reports. */
static void attempt(struct probe_task *t, uint64_t guard_ms)
{
    seen.replies = 0;
    ck_assert_int_eq(probe_method_ready(&prb, PROTO_METHOD_DNS), 0);
    ck_assert_int_eq(probe_dns_ops.send(&prb, t), 0);
    run_for(guard_ms);
    ck_assert_int_eq(seen.replies, 1);
}

START_TEST(method_outcomes)
{
    struct probe_task *t;

    if (start_unbound() < 0)
        return;
    loop_setup();
    t = dns_task("127.0.0.1", unbound_port, QNAME, 0, 1000);
    attempt(t, 2000);
    ck_assert_int_eq(seen.rep.outcome, PROTO_OUT_OK);
    ck_assert_int_gt(seen.rep.rtt_ns, 0);
    ck_assert_int_lt(seen.rep.rtt_ns, 500000000);
    ck_assert_uint_eq(seen.info.dns_rcode, 1);
    ck_assert_uint_eq(seen.info.dns_answers, 1);
    probe_dns_ops.cancel(&prb, t);
    probe_task_free(t);

    t = dns_task("::1", unbound_port, QNAME, 28, 1000);
    attempt(t, 2000);
    ck_assert_int_eq(seen.rep.outcome, PROTO_OUT_OK);
    ck_assert_uint_eq(seen.info.dns_answers, 1);
    probe_dns_ops.cancel(&prb, t);
    probe_task_free(t);

    t = dns_task("127.0.0.1", unbound_port, "nope.ixmesh.test", 1, 1000);
    attempt(t, 2000);
    ck_assert_int_eq(seen.rep.outcome, PROTO_OUT_NXDOMAIN);
    ck_assert_str_eq(seen.why, "NXDOMAIN for nope.ixmesh.test");
    ck_assert_uint_eq(seen.info.dns_rcode, 3 + 1);
    ck_assert_uint_eq(seen.info.dns_answers, 0);
    probe_dns_ops.cancel(&prb, t);
    probe_task_free(t);

    t = dns_task("127.0.0.1", unbound_port, "x.refuse.test", 1, 1000);
    attempt(t, 2000);
    ck_assert_int_eq(seen.rep.outcome, PROTO_OUT_DNS_REFUSED);
    ck_assert_str_eq(seen.why, "REFUSED for x.refuse.test");
    ck_assert_uint_eq(seen.info.dns_rcode, 5 + 1);
    probe_dns_ops.cancel(&prb, t);
    probe_task_free(t);
    loop_teardown();
    stop_unbound();
}
END_TEST

/* A socket that takes queries and never answers. */
static int silent_socket(uint16_t *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    ck_assert_int_ge(fd, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

START_TEST(method_timeout_and_cancel)
{
    struct probe_task *t;
    uint16_t port;
    int fd = silent_socket(&port);
    char want[PROTO_WHY_MAX + 1];
    int64_t t0;

    loop_setup();
    t = dns_task("127.0.0.1", port, QNAME, 1, 300);
    t0 = probe_mono_ns();
    attempt(t, 2000);
    ck_assert_int_eq(seen.rep.outcome, PROTO_OUT_TIMEOUT);
    snprintf(want, sizeof(want), "no answer from 127.0.0.1 port %u within 300 ms", port);
    ck_assert_str_eq(seen.why, want);
    ck_assert_int_ge(probe_mono_ns() - t0, 300000000);
    ck_assert_int_lt(probe_mono_ns() - t0, 1000000000);
    ck_assert_uint_eq(seen.info.dns_rcode, 0);

    /* Cancelled and freed while its query is out: the query's end (its
     * timeout) must neither report nor touch the freed task (ASan). */
    ck_assert_int_eq(probe_dns_ops.send(&prb, t), 0);
    ck_assert_int_eq(probe_dns_ops.send(&prb, t), 0);
    probe_dns_ops.cancel(&prb, t);
    probe_task_free(t);
    seen.replies = 0;
    run_for(700);
    ck_assert_int_eq(seen.replies, 0);
    ck_assert_ptr_nonnull(prb.dns);
    ck_assert_uint_eq(prb.dns->queries, 3);

    /* A query still out when the method closes ends without a report. */
    t = dns_task("127.0.0.1", port, QNAME, 1, 5000);
    ck_assert_int_eq(probe_dns_ops.send(&prb, t), 0);
    loop_teardown();
    ck_assert_ptr_null(prb.dns);
    ck_assert_int_eq(seen.replies, 0);
    probe_dns_ops.cancel(&prb, t);
    probe_task_free(t);
    close(fd);
}
END_TEST

static void on_lookup(void *arg, int outcome, const struct sockaddr *sa, socklen_t salen,
                      int64_t elapsed_ns, const char *why)
{
    (void)arg;
    seen.lookups++;
    seen.outcome = outcome;
    seen.elapsed_ns = elapsed_ns;
    snprintf(seen.why, sizeof(seen.why), "%s", why ? why : "");
    if (sa != NULL) {
        ck_assert_uint_le(salen, sizeof(seen.ss));
        memcpy(&seen.ss, sa, salen);
    }
    uv_stop(prb.loop);
}

START_TEST(resolver)
{
    struct probe_resolve *req;
    char a[PROTO_ADDRSTR_MAX];

    if (start_unbound() < 0)
        return;
    loop_setup();
    snprintf(prb.cfg.resolvers, sizeof(prb.cfg.resolvers), "127.0.0.1:%u", unbound_port);
    /* Before any dns task: the resolver opens what it needs. */
    ck_assert_int_eq(probe_resolve_start(&prb, QNAME, 8443, on_lookup, NULL, &req), 0);
    ck_assert_ptr_nonnull(req);
    ck_assert_int_eq(seen.lookups, 0); /* never within start() */
    run_for(3000);
    ck_assert_int_eq(seen.lookups, 1);
    ck_assert_int_eq(seen.outcome, PROTO_OUT_OK);
    ck_assert_int_eq(proto_addr_ntop((struct sockaddr *)&seen.ss, a, sizeof(a)), 0);
    ck_assert_msg(strcmp(a, "127.0.0.53") == 0 || strcmp(a, "::1") == 0, "got %s", a);
    ck_assert_uint_eq(proto_addr_port((struct sockaddr *)&seen.ss), 8443);
    ck_assert_int_gt(seen.elapsed_ns, 0);

    ck_assert_int_eq(
        probe_resolve_start(&prb, "nope.ixmesh.test", 80, on_lookup, NULL, NULL), 0);
    run_for(3000);
    ck_assert_int_eq(seen.lookups, 2);
    ck_assert_int_eq(seen.outcome, PROTO_OUT_RESOLVE);
    ck_assert_msg(strstr(seen.why, "nope.ixmesh.test does not resolve") != NULL, "%s",
                  seen.why);

    /* An address answers at once, yet on the next turn; a cancelled
     * lookup is never told, whether c-ares or the deferral holds it. */
    ck_assert_int_eq(probe_resolve_start(&prb, "192.0.2.7", 443, on_lookup, NULL, &req),
                     0);
    ck_assert_int_eq(seen.lookups, 2);
    run_for(1000);
    ck_assert_int_eq(seen.lookups, 3);
    ck_assert_int_eq(proto_addr_ntop((struct sockaddr *)&seen.ss, a, sizeof(a)), 0);
    ck_assert_str_eq(a, "192.0.2.7");
    ck_assert_int_eq(probe_resolve_start(&prb, "192.0.2.8", 443, on_lookup, NULL, &req),
                     0);
    probe_resolve_cancel(req);
    ck_assert_int_eq(probe_resolve_start(&prb, QNAME, 443, on_lookup, NULL, &req), 0);
    probe_resolve_cancel(req);
    run_for(500);
    ck_assert_int_eq(seen.lookups, 3);
    /* A lookup still out when the methods close is dropped with them. */
    ck_assert_int_eq(probe_resolve_start(&prb, QNAME, 443, on_lookup, NULL, &req), 0);
    loop_teardown();
    ck_assert_int_eq(seen.lookups, 3);
    stop_unbound();
}
END_TEST

Suite *dns_suite(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("answer");
    TCase *io = tcase_create("io");

    tcase_add_test(tc, every_rcode);
    tcase_add_test(tc, truncated_at_every_length);
    tcase_add_test(tc, answer_counts);
    tcase_add_test(tc, our_question_only);
    tcase_add_test(tc, why_text);
    tcase_add_test(tc, server_lists);
    suite_add_tcase(s, tc);
    tcase_set_timeout(io, 20);
    tcase_add_test(io, method_outcomes);
    tcase_add_test(io, method_timeout_and_cancel);
    tcase_add_test(io, resolver);
    suite_add_tcase(s, io);
    return s;
}
