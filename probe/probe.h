/*
 * probe.h - ixmesh-probe: one libuv loop that measures the tasks the
 * controller sends and streams one summary record per task and window.
 *
 * Files, and who touches libuv:
 *   main.c       arguments, signals, the loop
 *   config.c     the INI configuration
 *   task.c       the task table and per-window statistics (no I/O)
 *   stamp.c      STAMP session-sender and reflector logic (no I/O)
 *   spool.c      records on disk until the controller has them (no libuv)
 *   deliver.c    from window to spool to uplink, and the probe's health (no libuv)
 *   stamp_io.c   the UDP socket that sends, reflects and receives STAMP
 *   sched_io.c   send timers and window boundaries
 *   uplink_io.c  the TLS connection to the controller
 *   cmd_io.c     the one-shot reflect command, and what one-shot commands share
 *   measure_io.c the one-shot measure command
 *   wheel.c      the timer wheel every task's next attempt waits in (no I/O)
 *   method.c     the table of measurement methods and their common record keeping
 *   icmp.c, icmp_io.c        echo request and reply; the raw or ping sockets
 *   conn_io.c                tcp, tls and http: resolve, connect, handshake, GET
 *   http.c                   the HTTP/1.1 request and response (no I/O)
 *   tls.c                    what a TLS handshake tells (no I/O)
 *   dns.c, dns_io.c          DNS answers (no I/O); c-ares on the loop
 *   policy.c     what the member lets the controller ask for (no I/O)
 */
#ifndef IXMESH_PROBE_H
#define IXMESH_PROBE_H

#include <stdint.h>
#include <sys/socket.h>

#include <http_parser.h>
#include <uv.h>

#include "privs.h"
#include "proto.h"

#define PROBE_CONTROLLER_PORT 7862
#define PROBE_STAMP_PORT      862
#define PROBE_STAMP_RING      256 /* most outstanding requests remembered per task */
#define PROBE_SPOOL_DIR       "/var/spool/ixmesh-probe"
#define PROBE_SPOOL_DEFAULT   (256ull << 20)
#define PROBE_SPOOL_MIN       (128ull << 10) /* eight segments of 16 KiB */
#define PROBE_SPOOL_MAX       (1024ull << 30)
#define PROBE_BATCH_MAX       256          /* records per RESULTS message */
#define PROBE_WRITE_QUEUE_MAX (256 * 1024) /* octets waiting for the socket */

/* ---- policy.c: what the member allows (no I/O) ---------------------------- */

#define PROBE_PREFIX_MAX              64
#define PROBE_POLICY_TARGETS_DEFAULT  "0.0.0.0/0, ::/0"
#define PROBE_POLICY_RATE_DEFAULT     1000    /* packets/s over all tasks */
#define PROBE_POLICY_BITRATE_DEFAULT  8000000 /* bits/s over all tasks */
#define PROBE_POLICY_INTERVAL_DEFAULT 100     /* ms */
#define PROBE_POLICY_SIZE_DEFAULT     512     /* octets of a stamp or icmp payload */
#define PROBE_POLICY_TASKS_DEFAULT    2048

/* An IPv4 or IPv6 prefix; host bits are zero. */
struct probe_prefix {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t len;
    uint8_t addr[16];
};

struct probe_policy {
    uint32_t ntargets, nlocal;
    struct probe_prefix targets[PROBE_PREFIX_MAX]; /* allow_targets */
    struct probe_prefix local[PROBE_PREFIX_MAX];   /* allow_local */
    uint32_t max_rate;                             /* packets/s */
    uint64_t max_bitrate;                          /* bits/s */
    uint32_t min_interval_ms;
    uint32_t max_size;
    uint32_t max_tasks;
    uint64_t dscp; /* allow_dscp: bit d set when DSCP d may be marked */
};

/* The probe host's own addresses, read from its interfaces by the caller. */
struct probe_policy_own {
    uint32_t n;
    struct probe_prefix addrs[PROBE_PREFIX_MAX];
};

/* The runtime backstop: token buckets of packets and bits (rate 0: none). */
struct probe_budget {
    double rate, bitrate, pkts, bits, pkt_cap, bit_cap;
    uint64_t last_ms;
    uint64_t deferred; /* attempts that had to wait */
};

void probe_policy_defaults(struct probe_policy *pol);
/* "10.0.0.0/8", "2001:db8::/32", or an address alone; 0 or -EINVAL. */
int probe_prefix_parse(const char *s, struct probe_prefix *pf);
/* Comma- or space-separated prefixes, or "none"; err (may be NULL) says why not. */
/* allow_dscp: "all", or DSCP values and ranges "0, 8-15, 46" into a mask;
 * 0, or -EINVAL with why. */
int probe_dscp_list_parse(const char *v, uint64_t *mask, char *why, size_t len);
int probe_prefix_list_parse(const char *v, struct probe_prefix *out, size_t max,
                            uint32_t *n, char *err, size_t errlen);
/* 1 when one of the n prefixes covers sa's address (v4-mapped counts as IPv4). */
int probe_prefix_match(const struct probe_prefix *pf, size_t n,
                       const struct sockaddr *sa);
/* Loopback, link-local, unspecified, or one of own's addresses (own may be NULL). */
int probe_policy_is_local(const struct probe_policy_own *own, const struct sockaddr *sa);
/* May method send to sa?  0, or -EACCES with why ("policy RULE: ..."). */
int probe_policy_check_addr(const struct probe_policy *pol,
                            const struct probe_policy_own *own, uint8_t method,
                            const struct sockaddr *sa, char *why, size_t len);
/* May the list run?  0, or -EPERM with why, naming the rule and the task. */
int probe_policy_check_tasks(const struct probe_policy *pol,
                             const struct probe_policy_own *own,
                             const struct proto_tasks *tl, char *why, size_t len);
/* What one attempt of t sends: packets and octets (estimates for tcp, tls, http). */
uint32_t probe_policy_packets(const struct proto_task *t);
uint32_t probe_policy_octets(const struct proto_task *t);
void probe_budget_init(struct probe_budget *b, const struct probe_policy *pol,
                       uint64_t now_ms);
/* Takes an attempt's cost: 0 when it may go now, else the ms to wait. */
uint64_t probe_budget_take(struct probe_budget *b, uint32_t packets, uint32_t octets,
                           uint64_t now_ms);

/* ---- config.c ---------------------------------------------------------- */

struct probe_config {
    char id[PROTO_ID_MAX + 1];
    char name[PROTO_NAME_MAX + 1];
    char controller[128];      /* "host:port" as written */
    char controller_name[256]; /* what the controller's certificate must match */
    struct sockaddr_storage controller_addr;
    socklen_t controller_len;
    char ca[1024], cert[1024], key[1024];
    struct sockaddr_storage stamp_addr;
    socklen_t stamp_len;
    uint32_t naddrs;
    char addrs[PROTO_ADDR_MAX][PROTO_ADDRSTR_MAX];
    int has_location;
    double lat, lon;
    char stamp_key_file[1024]; /* empty: unauthenticated STAMP */
    int stamp_stateful;
    int stamp_legacy;
    uint32_t stamp_rate;       /* reflector answers per second per source */
    uint32_t stamp_rate_total; /* reflector answers per second over all sources */
    char log_level[16];
    /* Content methods. */
    char content_ca[1024]; /* CA file to verify content nodes with; "": the system's */
    char resolvers[256];   /* "ADDR[:PORT],..." for names; "": /etc/resolv.conf */
    /* Delivery. */
    char spool_dir[900]; /* with a segment's name, well within the spool's paths */
    uint64_t spool_max;
    struct probe_policy policy;    /* allow_targets, allow_local, max_rate, ... */
    char user[PRIVS_USER_MAX + 1]; /* who it becomes when started as root */
};

/*
 * Reads path into cfg.  On failure returns -1 and writes "FILE:LINE: reason"
 * (or "FILE: reason") into err.
 */
int probe_config_load(const char *path, struct probe_config *cfg, char *err,
                      size_t errlen);

/* ---- task.c -------------------------------------------------------------- */

/* One window of one task: what becomes one summary record. */
struct probe_window {
    int64_t id;       /* the scheduler's window serial number; 0: slot not in use */
    int64_t start_ms; /* its start on the wall clock: a label only */
    uint32_t sent;
    uint32_t received;
    uint64_t rtt_min_ns;
    uint64_t rtt_max_ns;
    uint64_t ipdv_sum_ns;
    uint32_t ipdv_count;
    uint32_t duplicates; /* RFC 4737 3.5 */
    uint32_t reordered;  /* RFC 4737 3.3: arrived after a later one */
    int64_t last_rtt_ns; /* -1 before the first reply */
    uint8_t ttl_min;     /* lowest TTL either leg arrived with; 0: none seen */
    uint8_t no_sketch;   /* the one-shot command keeps every RTT itself; kept by open */
    uint32_t outcomes[PROTO_OUTCOME_MAX]; /* failed attempts by outcome */
    char why[PROTO_WHY_MAX + 1];          /* the last failure's reason */
    struct proto_content_info
        info; /* the last attempt's; phases summed over the OK ones */
    struct proto_sketch sketch;
};

/* One attempt (a packet, a connection, a query) waiting for its end. */
struct probe_slot {
    uint32_t seq;
    int64_t t1_ns;     /* send time on the monotonic clock: RTTs are durations */
    int64_t window_id; /* the probe_window it counts in */
    int used;
    int answered; /* a further reply to it is a duplicate (RFC 4737 3.5) */
};

/* What one attempt came to, for the window and for the one-shot printout. */
struct probe_reply {
    uint32_t seq;       /* the attempt's sequence number */
    int outcome;        /* enum proto_outcome */
    int64_t rtt_ns;     /* PROTO_OUT_OK: the method's time (echo, connect, ...) */
    uint8_t ttl;        /* the reflector's Sender TTL: our request's TTL on arrival */
    uint8_t has_ttl;    /* stamp: 0 when the reply ended before its Sender TTL */
    uint8_t return_ttl; /* the reply's TTL on arrival (both 255: one hop each way) */
    size_t len;
    const char *why;                       /* a failure's reason, or NULL */
    const struct proto_content_info *info; /* what else was learnt, or NULL */
};

/* A timer wheel entry: sched_io.c keeps one per task (intrusive, so that
 * arming it allocates nothing). */
struct probe_wheel_entry {
    struct probe_wheel_entry *next, **pprev; /* pprev NULL: not in the wheel */
    uint64_t due_ms;
};

struct probe;
struct probe_icmp_io;
struct probe_conn_io;
struct probe_dns_io;
struct probe_reflector;

struct probe_task {
    struct proto_task spec;
    struct sockaddr_storage dst;
    socklen_t dstlen;
    uint32_t first_seq, next_seq;
    uint32_t next_exp; /* RFC 4737 NextExp: one past the highest seq answered */
    uint16_t ssid;     /* non-zero, ours for this session (RFC 8972 3) */
    /* Outstanding requests by sequence number: ring_mask + 1 slots, enough
     * for every request still within its timeout (probe_task_new). */
    struct probe_slot *ring;
    uint32_t ring_mask;
    /* Two windows: the open one, and the one that closed at the last
     * boundary and waits one timeout for late replies. */
    struct probe_window win[2];
    int cur;
    struct probe_wheel_entry tick; /* its next attempt; owned by sched_io.c */
    uint32_t count_left;           /* attempts still to make; 0: no limit */
    /* A method's own state (in-flight connections, ...): owned by the
     * method, released by its cancel(); NULL when it keeps none. */
    void *mstate;
    struct probe *probe;
};

/* Allocates a task for spec; NULL when the target address does not parse. */
struct probe_task *probe_task_new(const struct proto_task *spec);
void probe_task_free(struct probe_task *t);
/* Readdresses an IPv4 target as ::ffff:a.b.c.d for a dual-stack socket. */
int probe_task_fit_family(struct probe_task *t, int family);
/* Tasks are the same measurement (kept across task-list pushes) when equal. */
int probe_task_same(const struct proto_task *a, const struct proto_task *b);
/* Opens w as window id (a serial number, non-zero) labelled start_ms; id 0 frees it. */
void probe_window_open(struct probe_window *w, int64_t start_ms, int64_t id);
void probe_window_add_rtt(struct probe_window *w, int64_t rtt_ns);
/* Notes a TTL a packet of the pair arrived with (RFC 8762 4.3.1's Sender TTL). */
void probe_window_add_ttl(struct probe_window *w, uint8_t ttl);
/* Turns a closed window into a record (moving the sketch) and clears it. */
int probe_window_close(struct probe_task *t, struct probe_window *w, uint32_t window_s,
                       struct proto_result *r);
struct probe_window *probe_task_window(struct probe_task *t, int64_t id);
/*
 * Starts an attempt of t now (mono_ns): takes its sequence number, counts
 * it as sent in the open window, and keeps its slot until it ends.
 */
uint32_t probe_attempt_start(struct probe_task *t, int64_t mono_ns);
/* The send time of attempt seq while it is outstanding, else -1. */
int64_t probe_attempt_t1(const struct probe_task *t, uint32_t seq);
/*
 * Ends attempt seq with rep (rep->seq is ignored): an OK adds rep->rtt_ns
 * to the window the attempt was sent in, anything else counts as that
 * outcome with rep->why; rep->info is copied.  -ENOENT when seq is not
 * outstanding (its window closed: it counted as lost).
 */
int probe_attempt_end(struct probe_task *t, uint32_t seq, const struct probe_reply *rep);
#define PROBE_REALIGN_MS 250
/*
 * The monotonic time (ms) of the window boundary after last_mono, given the
 * clocks now (mono, wall, ms) and the window w (ms).  Skips boundaries a
 * stalled loop missed; *off is how far it was off the wall-clock multiples
 * when it had to be realigned, else 0.
 */
int64_t probe_next_boundary(int64_t last_mono, int64_t mono, int64_t wall, int64_t w,
                            int64_t *off);

/* ---- wheel.c ------------------------------------------------------------------ */

/*
 * A hashed timer wheel of 1 ms slots (Varghese and Lauck): adding,
 * removing and expiring an entry are O(1), and a thousand tasks need one
 * libuv timer, not a thousand.  Entries due beyond one turn wait in their
 * slot for the turns to pass.  Nothing here reads a clock: the caller
 * passes the time.
 */
struct probe_wheel {
    struct probe_wheel_entry **slots;
    uint32_t mask;   /* slots - 1, a power of two */
    uint64_t now_ms; /* every entry due before this has been expired */
    size_t count;
};

int probe_wheel_init(struct probe_wheel *w, uint32_t slots, uint64_t now_ms);
void probe_wheel_free(struct probe_wheel *w);
/* Arms e (not in a wheel) for due_ms; a time already past is due at once. */
void probe_wheel_add(struct probe_wheel *w, struct probe_wheel_entry *e, uint64_t due_ms);
/* Disarms e; harmless when it is not armed. */
void probe_wheel_del(struct probe_wheel *w, struct probe_wheel_entry *e);
/* One entry due at or before now_ms, taken out of the wheel, or NULL. */
struct probe_wheel_entry *probe_wheel_expire(struct probe_wheel *w, uint64_t now_ms);
/* When the earliest entry is due (at least now_ms), or UINT64_MAX when empty. */
uint64_t probe_wheel_next(const struct probe_wheel *w);

/* ---- method.c ----------------------------------------------------------------- */

/*
 * A measurement method as the scheduler sees it.  open() is called once,
 * before the method's first task starts (it opens the shared sockets:
 * one per family); send() makes one attempt of t now; flush(), when there
 * is one, runs after each tick's sends so that a method can hand the
 * tick's packets to the kernel in one sendmmsg(); cancel() is called
 * before t is freed, and afterwards the method must never touch t.
 */
struct probe_method_ops {
    uint8_t method;
    int (*open)(struct probe *p);
    void (*close)(struct probe *p);
    int (*send)(struct probe *p, struct probe_task *t);
    void (*flush)(struct probe *p);
    void (*cancel)(struct probe *p, struct probe_task *t);
};

/* The method's operations, or NULL when this build cannot run it. */
const struct probe_method_ops *probe_method_ops(uint8_t method);
/* Opens the method's shared state unless open; 0, or why it cannot run. */
int probe_method_ready(struct probe *p, uint8_t method);
/* After every task is dropped: a task's cancel() may release what a
 * method owns (a dns lookup of the conn methods' attempts). */
void probe_method_close_all(struct probe *p);
/*
 * Copies n octets of src into dst (dstlen octets, NUL-terminated, cut to
 * fit), each octet outside 0x20..0x7e replaced by '?': what came from the
 * network becomes printable text the wire encoder accepts.  Every method's
 * reasons and recorded values go through it.
 */
void probe_sanitize(char *dst, size_t dstlen, const char *src, size_t n);
/* The outcome an errno (negative, as libuv and our functions return it) means. */
int probe_outcome_of_errno(int err);
/*
 * Ends attempt seq of t with rep (probe_attempt_end) and tells the one-shot
 * command (p->on_reply).  Every method reports through this, so that the
 * record and the printout agree.  -ENOENT: the attempt was no longer awaited.
 */
int probe_attempt_report(struct probe *p, struct probe_task *t, uint32_t seq,
                         struct probe_reply *rep);

/* ---- dns_io.c: names, resolved with the probe's own resolver -------------- */

/*
 * Called once per probe_resolve_start() unless cancelled first: outcome
 * PROTO_OUT_OK with sa (port set to the one asked for; valid during the
 * call only), or PROTO_OUT_RESOLVE / PROTO_OUT_TIMEOUT with why.
 * elapsed_ns is how long the lookup took (the http method's DNS phase).
 */
typedef void (*probe_resolve_cb)(void *arg, int outcome, const struct sockaddr *sa,
                                 socklen_t salen, int64_t elapsed_ns, const char *why);
struct probe_resolve;

/*
 * Looks host up (A and AAAA) through c-ares with cfg.resolvers, or
 * /etc/resolv.conf when that is empty: CDNs answer by location, so the
 * probe asks its own resolver.  The first address of the answer wins.
 * *req (may be NULL) lets the caller cancel.  0 or a negative errno.
 */
int probe_resolve_start(struct probe *p, const char *host, uint16_t port,
                        probe_resolve_cb cb, void *arg, struct probe_resolve **req);
/* cb is never called for req afterwards.  req is gone once cb was called,
 * and when the dns method closes (probe_method_close_all(): lookups still
 * out end there without a call). */
void probe_resolve_cancel(struct probe_resolve *req);

/* ---- dns_io.c: the dns method ---------------------------------------------- */

struct probe_dns_chan; /* one c-ares channel on the loop */

/*
 * The dns method's state, and the resolver's (p->dns).  One channel per
 * resolver address, port and timeout that tasks query (one server, one
 * try, so that an attempt is one query), and one for names.  Opened by the
 * method's open() or by the first probe_resolve_start(); the method's
 * close() tears down both.
 */
struct probe_dns_io {
    struct probe_dns_chan *chans;     /* the dns method's, in a list */
    struct probe_dns_chan *resolver;  /* for names; NULL until first asked */
    struct probe_resolve *deferred;   /* answered within start(): told next turn */
    uint64_t queries, timeouts, late; /* late: answers after a cancel */
};

extern const struct probe_method_ops probe_dns_ops;

/* ---- dns.c ------------------------------------------------------------------ */

/* What the header of a DNS answer says (RFC 1035 4.1.1). */
struct probe_dns_answer {
    int has_header; /* the 12 octets were there: the fields below are read */
    uint16_t id;
    uint8_t rcode;
    int tc;
    uint16_t qdcount, ancount, nscount, arcount;
};

/*
 * Reads the answer in buf (len octets, untrusted) to our question qname
 * (text) of type qtype, class IN.  0 when it is a well-formed answer to
 * it; -EBADMSG when it is cut short or malformed; -EPROTO when it is no
 * answer to that question (a query, another opcode, another question).  a
 * is filled as far as it was read: the header's fields whenever
 * a->has_header.
 */
int probe_dns_parse(const uint8_t *buf, size_t len, const char *qname, uint16_t qtype,
                    struct probe_dns_answer *a);
/* The outcome an RCODE means: 0 OK, 2 servfail, 3 nxdomain, 5 dns_refused,
 * others dns_error. */
int probe_dns_outcome(uint8_t rcode);
/* "NXDOMAIN for NAME" (or "rcode 12 for NAME"), printable and cut to len. */
void probe_dns_why(char *out, size_t len, uint8_t rcode, const char *qname);
/*
 * Parses a resolver list "ADDR[:PORT],..." (commas or blanks; IPv6 in
 * brackets when a port follows; port 53 by default) into out[0..*n), at
 * most max.  0, or -EINVAL with the reason in err.
 */
int probe_dns_servers_parse(const char *s, struct sockaddr_storage *out, size_t max,
                            size_t *n, char *err, size_t errlen);

/* ---- http.c: the HTTP/1.1 request and response (no I/O) ------------------- */

#define PROBE_HTTP_BODY_MAX   (16u << 20) /* body octets counted before we stop reading */
#define PROBE_HTTP_REASON_MAX 63

/* One response as it arrives: what the method records of it, and nothing else
 * (the body is counted, never stored). */
struct probe_http_resp {
    http_parser parser;
    const char *want; /* the header to record ("": none); must outlive the reader */
    char field[PROTO_TOKEN_MAX + 1];
    size_t field_len;
    int field_long; /* the current field name is longer than any we match */
    int in_value;   /* the last callback was a header value */
    int want_value; /* the value being read belongs to the wanted header */
    size_t nwanted; /* occurrences of the wanted header seen */
    char value[PROTO_VALUE_MAX + 1]; /* sanitised, cut to PROTO_VALUE_MAX */
    size_t value_len;
    char reason[PROBE_HTTP_REASON_MAX + 1]; /* sanitised reason phrase */
    size_t reason_len;
    uint16_t status;
    uint64_t body; /* body octets (after chunked decoding) */
    int got_bytes; /* any octet of the response has arrived */
    int complete;
    int capped;     /* PROBE_HTTP_BODY_MAX reached: we stopped reading */
    int bad_status; /* not three digits (the parser is lenient) */
};

/*
 * Writes the GET request of spec into buf (NUL-terminated) and returns its
 * length, -ENOBUFS when it does not fit, -EINVAL when the path or host
 * holds octets a request line or header must not carry.
 */
int probe_http_request(const struct proto_task *spec, char *buf, size_t len);
/* Starts reading a response; header (may be "" or NULL) names the header to record. */
void probe_http_resp_init(struct probe_http_resp *r, const char *header);
/*
 * Feeds n octets of the response: 1 when it is complete (or the body cap is
 * reached), 0 when more are needed, -EBADMSG when it is malformed.
 */
int probe_http_resp_feed(struct probe_http_resp *r, const uint8_t *p, size_t n);
/* The connection ended: 1 when that completes the response, else -EBADMSG. */
int probe_http_resp_eof(struct probe_http_resp *r);
/* Why the parser refused the response (valid after -EBADMSG). */
const char *probe_http_resp_error(const struct probe_http_resp *r);

/* ---- tls.c: what a TLS handshake tells (no I/O) ---------------------------- */

/*
 * The client context of the content methods: verifies against ca_file, or
 * the system store when it is NULL or "".  NULL on failure, with the
 * reason in err.  Freed with SSL_CTX_free().
 */
SSL_CTX *probe_tls_ctx_new(const char *ca_file, char *err, size_t errlen);
/*
 * Sets up ssl for a server: SNI and the name to verify are host (RFC 6066
 * 3: never an address literal), or without a host the address addr must
 * be in the certificate.  0 or -EINVAL.
 */
int probe_tls_prepare(SSL *ssl, const char *host, const char *addr);
/* Fills version, cipher, the leaf's notAfter and verify result + 1 into in. */
void probe_tls_info(SSL *ssl, struct proto_content_info *in);
/* The outcome of a failed handshake (TLS_VERIFY or TLS), with why. */
int probe_tls_failure(SSL *ssl, char *why, size_t len);
/* Unix seconds of an ASN1_TIME, or 0 when it does not convert. */
int64_t probe_tls_time(const ASN1_TIME *t);

/* ---- conn_io.c: tcp, tls and http on the loop ----------------------------- */

/* What the three connection methods share: opened by the first, freed
 * when the last closes. */
struct probe_conn_io {
    unsigned open;     /* bit m: method m is open */
    SSL_CTX *ctx;      /* made on the first TLS attempt (or tls open()) */
    uint64_t inflight; /* attempts not yet freed */
    uint64_t overdue;  /* attempts ended early: too many of one task in flight */
};

extern const struct probe_method_ops probe_tcp_ops, probe_tls_ops, probe_http_ops;

/* ---- cmd_io.c -------------------------------------------------------------- */

int probe_cmd_reflect(int argc, char **argv);
/* What the one-shot commands share: SIGINT/SIGTERM call p->on_interrupt
 * (or stop the loop); closing every handle; reading a key file into the
 * reflector; a whole number option in [lo, hi] (a message on stderr). */
void probe_cmd_watch_signals(struct probe *p);
void probe_cmd_close_all(struct probe *p);
int probe_cmd_read_keys(const char *path, struct probe_reflector *r);
int probe_cmd_parse_num(const char *opt, const char *v, unsigned long lo,
                        unsigned long hi, uint32_t *out);

/* ---- measure_io.c ----------------------------------------------------------- */

int probe_cmd_measure(int argc, char **argv);

/* ---- stamp.c ------------------------------------------------------------- */

/*
 * Builds the next session-sender packet of t into buf (len octets: the
 * task's size, at least the base packet of the mode) stamped with wall_ns
 * (T1 on the wire), remembers mono_ns (the same instant on the monotonic
 * clock) for the RTT, and counts it as sent in the open window.  key (PROTO_STAMP_KEY_LEN
 * octets) selects authenticated mode; NULL is unauthenticated.
 */
int probe_stamp_request(struct probe_task *t, const uint8_t *key, int64_t wall_ns,
                        int64_t mono_ns, uint8_t *buf, size_t len);
/*
 * Matches a reflected packet to its request and adds its RTT; -ENOENT when
 * it answers nothing we are waiting for (late, duplicate, or unknown),
 * -EBADMSG when it is no reflected packet (too short, no Receive Timestamp).
 * Unauthenticated, a TWAMP-Light reply of PROTO_STAMP_LIGHT_MIN_LEN octets
 * will do.  t4_ns is the receive time on the monotonic clock.  rep may be NULL.
 */
int probe_stamp_reply(struct probe_task *t, const uint8_t *key, const uint8_t *buf,
                      size_t len, int64_t t4_ns, struct probe_reply *rep);
/* Moves the send time of request seq to the kernel's transmit stamp. */
void probe_stamp_sent_at(struct probe_task *t, uint32_t seq, int64_t mono_ns);
/*
 * Notes rep->return_ttl, the TTL the reply rep->seq arrived with: the return
 * leg's hops.  The path class needs both legs of a reply, so a reply without
 * the Sender TTL (rep->has_ttl 0: a 38-octet TWAMP-Light reply) adds neither.
 */
void probe_stamp_return_ttl(struct probe_task *t, const struct probe_reply *rep);
extern const struct proto_stamp_errest probe_stamp_errest;
int64_t probe_ntp_to_ns(uint64_t ntp);
uint64_t probe_ns_to_ntp(int64_t ns);

/* ---- keys.c ----------------------------------------------------------------- */

#define PROBE_KEYS_MAX 256

/* STAMP keys: a default one and/or one per peer address. */
struct probe_keyring {
    int has_default;
    uint8_t def[PROTO_STAMP_KEY_LEN];
    size_t n;
    struct {
        uint8_t addr[16]; /* IPv6, or IPv4 v4-mapped */
        uint8_t key[PROTO_STAMP_KEY_LEN];
    } peers[PROBE_KEYS_MAX];
};

/* Reads a key file; on failure -1 with "FILE:LINE: reason" in err. */
int probe_keys_load(const char *path, struct probe_keyring *k, char *err, size_t errlen);
/* The key for a peer (its own, else the default), or NULL: no key, no answer. */
const uint8_t *probe_key_for(const struct probe_keyring *k, const struct sockaddr *peer);

/* ---- reflect.c ------------------------------------------------------------ */

/* Twice the fastest test `measure` offers (1,000 packets a second, at
 * --interval 1), so that no test rate is ever cut; still a limit on what a
 * spoofed source can draw towards one address. */
#define PROBE_REFLECT_RATE     2000.0 /* answers per second per source address */
#define PROBE_REFLECT_BURST    4000.0
#define PROBE_REFLECT_BUCKETS  4096
#define PROBE_REFLECT_SESSIONS 1024
#define PROBE_REFLECT_REFUSED  8  /* sources named in a refusal report */
#define PROBE_REFLECT_REPORT_S 60 /* at most one refusal report a minute */

/* Over all sources: a mesh of 1,000 probes at 1 a second and four 'measure'
 * at the per-source rate pass untouched; many sources together cannot draw
 * more from the reflector than this. */
#define PROBE_REFLECT_RATE_TOTAL  10000.0
#define PROBE_REFLECT_BURST_TOTAL 20000.0
#define PROBE_REFLECT_HASH_KEY    16 /* octets: SipHash-2-4 (crypto_shorthash) */

struct reflect_bucket {
    double tokens;
    int64_t last_ns;
};

struct reflect_session {
    uint32_t hash; /* of source address, port and SSID */
    uint32_t next_seq;
    int used;
};

/* Requests one source had refused since the last report: by its own rate
 * limit, and by the cap over all sources. */
struct reflect_refused {
    struct sockaddr_storage addr;
    uint64_t count, count_total;
};

/* A STAMP reflector's configuration, limits and counters.  Fixed in size:
 * reflecting a packet allocates nothing. */
struct probe_reflector {
    int authenticated; /* keys loaded: only authenticated packets count */
    struct probe_keyring keys;
    int stateful; /* own sequence numbers per session (RFC 8762 4.3) */
    int legacy;   /* answer TWAMP-Light requests shorter than 44 octets */
    /* Answers a second, and bursts: per source, and over all sources. */
    double rate_pps, burst;
    double rate_total_pps, burst_total;
    uint64_t reflected, dropped, rate_limited, total_limited;
    /* Random per process: which bucket or session slot a source falls in
     * cannot be known, so not aimed at, from outside. */
    uint8_t hash_key[PROBE_REFLECT_HASH_KEY];
    struct reflect_bucket buckets[PROBE_REFLECT_BUCKETS];
    struct reflect_bucket total;
    struct reflect_session sessions[PROBE_REFLECT_SESSIONS];
    /* Refusals since the last report: the first sources by address, the
     * rest in one count. */
    struct reflect_refused refused[PROBE_REFLECT_REFUSED];
    size_t nrefused;
    uint64_t refused_other, refused_other_total, refused_since;
    int64_t reported_ns; /* when the last report was made; 0: never */
};

/* One received request: its octets, times and the TTL it arrived with. */
struct reflect_input {
    const uint8_t *req;
    size_t len;
    int64_t t2_ns; /* receive time */
    int64_t t3_ns; /* transmit time, read just before the answer is built */
    uint8_t ttl;
    uint8_t tos; /* DSCP and ECN as received */
};

/* Default limits, and a fresh random hash key. */
void probe_reflector_init(struct probe_reflector *r);
/* The rate bucket of a source address (any port): keyed with r->hash_key. */
uint32_t probe_reflect_bucket(const struct probe_reflector *r,
                              const struct sockaddr *from);
/*
 * Decides and builds the answer to one request into out: returns its
 * length (always x->len) or a negative reason to stay silent: -EACCES (bad
 * HMAC), -EMSGSIZE (too short), -EBADMSG, -EAGAIN (rate limit per source),
 * -EBUSY (cap over all sources).
 */
int probe_reflect(struct probe_reflector *r, const struct sockaddr *from,
                  const struct reflect_input *x, uint8_t *out, size_t outlen);
/*
 * When requests were refused by the rate limit or the cap since the last
 * report and the last one is PROBE_REFLECT_REPORT_S old (or force is set),
 * writes a report naming them per source and per limit into buf, starts
 * counting afresh and returns 1; else returns 0 and leaves buf alone.
 */
int probe_reflect_report(struct probe_reflector *r, int64_t now_ns, int force, char *buf,
                         size_t len);
/*
 * The sender's side: rx[b] replies came to the per_bin requests sent in
 * second b (nbins full seconds).  1 when the loss looks like a reflector's
 * rate limit rather than the path's: after the first seconds (the
 * limiter's burst), replies arrive at a rate far steadier than random loss
 * of the same size allows.  *rate is then that steady rate, per second.
 */
int probe_reflect_limit_suspected(const uint32_t *rx, size_t nbins, uint32_t per_bin,
                                  double *rate);

/* ---- spool.c: result records on disk, crash-safe (no libuv) --------------- */

struct probe_spool_seg {
    uint64_t name_seq;            /* the file's name: its first record's, when made */
    uint64_t first_seq, last_seq; /* of its records */
    uint64_t bytes;               /* the file's size, up to its last whole record */
    uint32_t nrecs;
    int sealed; /* takes no more records (full, or a failed write or sync) */
};

struct probe_spool {
    char dir[1024];
    int fd;       /* the newest segment, open for appending; -1 when none is */
    int lock_fd;  /* holds the directory's lock */
    int acked_fd; /* the file "acked" */
    uint64_t max_bytes;
    uint64_t fs_bytes;            /* the filesystem's size (0: unknown) */
    uint64_t seq0;                /* the file seq0: the spool's first number (0: none) */
    uint64_t acked;               /* highest sequence number acknowledged */
    uint64_t bytes;               /* in all segments: never above max_bytes */
    uint64_t records;             /* in all segments, acknowledged or not */
    struct probe_spool_seg *segs; /* oldest first */
    size_t nsegs, cap;
    uint64_t dropped;    /* records dropped to stay within bounds or a full disk */
    uint64_t torn_bytes; /* cut off torn tails when it was opened */
    int dirty;           /* appended since the last sync */
    /* The newest segment as the last good sync left it; synced_last is
     * the highest number on disk for sure (older segments were synced
     * before a newer one opened): what may be sent. */
    uint64_t synced_bytes, synced_last;
    uint32_t synced_nrecs;
    uint64_t acked_file; /* what the file "acked" said at open: a floor for numbers */
    uint8_t *cache;      /* one segment's octets, as last read */
    size_t cache_len;
    uint64_t cache_name;
};

/* Called for each record in order; a non-zero return stops the scan. */
typedef int (*probe_spool_fn)(void *arg, uint64_t seq, const uint8_t *rec, size_t len);

/*
 * Opens (creating) the spool in dir, bounded to max_bytes, and recovers
 * what is there: every complete record is kept, a torn tail is cut off
 * (torn_bytes).  0 or a negative errno (-EBUSY: another process has it).
 */
int probe_spool_open(struct probe_spool *s, const char *dir, uint64_t max_bytes);
/* Where the sequence numbers go on; 0 for a new spool (see set_seq0). */
uint64_t probe_spool_next_seq(const struct probe_spool *s);
/* Records the first sequence number of a new spool, durably. */
int probe_spool_set_seq0(struct probe_spool *s, uint64_t seq0);
void probe_spool_close(struct probe_spool *s);
/*
 * Appends record seq (above every one held).  Makes room by dropping the
 * oldest segments (counted in dropped); on a full disk drops the oldest
 * and tries again, and if that fails drops this record (counted) and
 * returns -ENOSPC, leaving the files as they were.
 */
int probe_spool_append(struct probe_spool *s, uint64_t seq, const uint8_t *rec,
                       size_t len);
/* Makes what was appended durable (fdatasync): once per window. */
int probe_spool_sync(struct probe_spool *s);
/* Forgets every segment but the newest whose records are all <= acked;
 * how many went. */
int probe_spool_ack(struct probe_spool *s, uint64_t acked);
/* Calls fn for each record above after, oldest first; fn's value, or an errno. */
int probe_spool_scan(struct probe_spool *s, uint64_t after, probe_spool_fn fn, void *arg);
/* Where a scan stopped: the next through it goes on from there. */
struct probe_spool_cursor {
    uint64_t name, off, seq; /* a segment, an offset in it, the record before it */
};
/* probe_spool_scan, faster through a cursor that follows rising afters. */
int probe_spool_scan_at(struct probe_spool *s, struct probe_spool_cursor *c,
                        uint64_t after, probe_spool_fn fn, void *arg);
/* Records held and not acknowledged. */
uint64_t probe_spool_pending(const struct probe_spool *s);
/* The highest sequence number held, 0 when empty. */
uint64_t probe_spool_last_seq(const struct probe_spool *s);

/* ---- deliver.c: records from window to spool to uplink (no libuv) -------- */

struct probe_delivery {
    struct probe_spool spool;
    uint64_t sent;             /* highest sent on this connection */
    uint64_t unreadable;       /* records that could not be read back: dropped */
    uint64_t unreadable_seq;   /* the last of them */
    uint64_t dropped_reported; /* spool.dropped when the last report was made */
    uint32_t reconnects;       /* connections opened since the start */
    int64_t oldest_end_ms;     /* the oldest pending record's window end (0: unread) */
    uint64_t oldest_acked, oldest_dropped;        /* spool.acked, .dropped when read */
    struct probe_spool_cursor load_at, oldest_at; /* where the two readers are */
    uint32_t ndrops;                              /* drop reports not yet acknowledged */
    struct proto_drop_window drops[PROTO_DROPWIN_MAX];
    uint64_t drop_sent_with[PROTO_DROPWIN_MAX]; /* last seq of its batch; 0: unsent */
};

/*
 * Opens the spool in dir and says where sequence numbers go on (a new
 * spool starts at now_us).  0 or a negative errno.
 */
int probe_delivery_open(struct probe_delivery *d, const char *dir, uint64_t max_bytes,
                        uint64_t now_us, uint64_t *next_seq);
void probe_delivery_close(struct probe_delivery *d);
/* Spools r (its seq set); -EINVAL if the protocol rejects it, -ENOSPC, ... */
int probe_delivery_append(struct probe_delivery *d, struct proto_result *r);
/* Ends a window's close: syncs, and reports what the spool dropped. */
int probe_delivery_commit(struct probe_delivery *d, int64_t window_start_ms);
/* Loads the next batch (at most max) with the health; its size, 0 or -errno.
 * The caller frees rs's records. */
int probe_delivery_next(struct probe_delivery *d, struct proto_results *rs, uint32_t max,
                        int64_t now_ms);
/* The first n records of rs went out. */
void probe_delivery_sent(struct probe_delivery *d, const struct proto_results *rs,
                         uint32_t n);
void probe_delivery_ack(struct probe_delivery *d, uint64_t seq);
/* The connection is gone: what it did not see acknowledged goes again. */
void probe_delivery_rewind(struct probe_delivery *d);

/* ---- stamp_io.c ---------------------------------------------------------- */

struct probe_stamp_io {
    uv_poll_t poll;
    int fd;
    int family;
    int kernel_ts;   /* SO_TIMESTAMPING: kernel receive and transmit stamps */
    uint32_t tx_key; /* the kernel's number (OPT_ID) for our next request */
    uint64_t send_errors;
    uint64_t tx_kernel; /* requests timed by the kernel's transmit stamp */
    uint64_t tx_user;   /* requests timed by the clock read before sendmsg */
};

int probe_stamp_io_open(struct probe *p);
void probe_stamp_io_close(struct probe *p);
/* Logs what the reflector's rate limit refused, per source: at most once a
 * minute, or now when force is set. */
void probe_stamp_io_report(struct probe *p, int force);
int probe_stamp_io_send(struct probe *p, struct probe_task *t);

/* ---- icmp.c: echo request and reply (no I/O) ------------------------------ */

#define PROBE_ICMP_HDR_LEN    8  /* type, code, checksum, identifier, sequence */
#define PROBE_ICMP_COOKIE_LEN 8  /* random per process: the first data octets */
#define PROBE_ICMP_DATA_MIN   12 /* the cookie and the task id */
#define PROBE_ICMP_DATA_MAX   1472
#define PROBE_ICMP_PKT_MAX    (PROBE_ICMP_HDR_LEN + PROBE_ICMP_DATA_MAX)

/* The socket a message was read from, which decides its layout. */
enum probe_icmp_sock {
    PROBE_ICMP_RAW4,  /* SOCK_RAW, IPv4: the IP header first, our identifier */
    PROBE_ICMP_PING4, /* SOCK_DGRAM IPPROTO_ICMP: the kernel's identifier */
    PROBE_ICMP_RAW6,  /* SOCK_RAW IPPROTO_ICMPV6: no IP header, our identifier */
    PROBE_ICMP_PING6, /* SOCK_DGRAM IPPROTO_ICMPV6 */
};

enum probe_icmp_kind {
    PROBE_ICMP_REPLY = 1, /* echo reply */
    PROBE_ICMP_UNREACH,   /* destination unreachable quoting our request */
    PROBE_ICMP_EXCEEDED,  /* time exceeded quoting our request */
};

/* What a received message says, when it is about one of our requests. */
struct probe_icmp_msg {
    int kind; /* enum probe_icmp_kind */
    uint8_t code;
    uint16_t ident, seq;
    uint32_t task_id;
    int has_task;   /* our data was there (a short error quote may lack it) */
    uint8_t ttl;    /* PROBE_ICMP_RAW4: the TTL in the IP header; else 0 */
    size_t len;     /* ICMP octets: header and data */
    int dst_family; /* errors: the address our request went to */
    uint8_t dst[16];
};

/* The echo data octets of a task of that size: at least the cookie and id. */
size_t probe_icmp_data_len(uint16_t size);
/* The Internet checksum (RFC 1071) of octets we made. */
uint16_t probe_icmp_checksum(const uint8_t *buf, size_t len);
/*
 * Builds an echo request (RFC 792; RFC 4443 4.1 with v6, its checksum left
 * to the kernel) into buf: identifier, sequence number, the cookie, the
 * task id, zeros up to size data octets.  Its length, or -ENOBUFS.
 */
int probe_icmp_request(uint8_t *buf, size_t cap, int v6, uint16_t ident, uint16_t seq,
                       const uint8_t cookie[PROBE_ICMP_COOKIE_LEN], uint32_t task_id,
                       uint16_t size);
/*
 * Reads a message from a socket of that kind: an echo reply with our cookie
 * (and, from a raw socket, our identifier), or an error quoting such a
 * request.  0 and m filled in; -EBADMSG when malformed or cut short;
 * -ENOENT when it is not about one of ours.
 */
int probe_icmp_parse(const uint8_t *buf, size_t len, enum probe_icmp_sock sock,
                     uint16_t ident, const uint8_t cookie[PROBE_ICMP_COOKIE_LEN],
                     struct probe_icmp_msg *m);
/* Our echo request as a ping socket's error queue returns it: only seq,
 * ident and the task (when quoted) are filled in. */
int probe_icmp_parse_quoted(const uint8_t *buf, size_t len, int v6,
                            const uint8_t cookie[PROBE_ICMP_COOKIE_LEN],
                            struct probe_icmp_msg *m);
/* enum probe_icmp_kind of an ICMP or ICMPv6 type; 0 for any other. */
int probe_icmp_kind(int v6, uint8_t type);
/* "host unreachable from 198.18.0.1": an error's reason, for the record. */
void probe_icmp_why(int v6, int kind, uint8_t code, const char *from, char *buf,
                    size_t len);

/* ---- icmp_io.c: the icmp method's sockets ---------------------------------- */

#define PROBE_ICMP_BATCH 64 /* requests per sendmmsg(), replies per recvmmsg() */

/* One family's socket and the requests waiting for the tick's sendmmsg(). */
struct probe_icmp_family {
    uv_poll_t poll;
    int fd;                     /* -1: none (err says why) */
    int sock;                   /* enum probe_icmp_sock */
    int err;                    /* why there is no socket, a negative errno */
    unsigned nq;                /* requests queued */
    unsigned eager_wait;        /* flushes before replies are read right after one */
    uint32_t tx_key;            /* the kernel's number (OPT_ID) for our next request */
    struct probe_icmp_out *out; /* PROBE_ICMP_BATCH queued requests, made at open */
    struct mmsghdr *msgs;       /* their headers, for sendmmsg() */
    uint8_t *pkts;              /* their octets, PROBE_ICMP_PKT_MAX each */
};

struct probe_icmp_io {
    struct probe *p;
    struct probe_icmp_family fam[2]; /* IPv4, IPv6 */
    uint8_t cookie[PROBE_ICMP_COOKIE_LEN];
    uint16_t ident;           /* raw sockets' identifier */
    int kernel_ts;            /* SO_TIMESTAMPING; else SO_TIMESTAMPNS */
    int handles;              /* polls not yet closed: freed after the last */
    struct probe_icmp_rx *rx; /* the receive batch, shared by the families */
    /* The tasks by target address: open addressing, at most half full. */
    struct probe_task **slots;
    uint32_t mask, ntasks;
    uint64_t sent, send_errors, replies, errors_in, duplicates, late, strays;
    uint64_t tx_kernel; /* requests timed by the kernel's transmit stamp */
};

extern const struct probe_method_ops probe_icmp_ops;

/* ---- sched_io.c ---------------------------------------------------------- */

/* The wheel and the window boundaries (the daemon); 0 or -ENOMEM. */
int probe_sched_init(struct probe *p);
/* The wheel alone (the one-shot command). */
int probe_sched_wheel_init(struct probe *p);
/*
 * Starts t: first attempt after first_ms, then every interval (or Poisson
 * gaps).  Used by the daemon and the one-shot command.  Returns why its
 * method cannot open, if it cannot: the one-shot command (p->cmd) stops
 * there; the daemon runs the task anyway, each attempt a local failure
 * with the reason, so that the map shows it.
 */
int probe_sched_start_task(struct probe *p, struct probe_task *t, uint64_t first_ms);
/* Cancels t's attempts and frees it. */
void probe_sched_drop_task(struct probe *p, struct probe_task *t);
/*
 * Replaces the task list; tasks equal to a current one keep their state.
 * A list the policy refuses leaves the running one alone: -EPERM, and why
 * (naming the rule and the task) in why.
 */
int probe_sched_apply(struct probe *p, const struct proto_tasks *tl, char *why,
                      size_t len);
/*
 * Applies a TASKS_DELTA to the list of its base generation, as a whole list
 * (the policy checks the result).  -ESTALE when the running list is not of
 * that generation (the controller then sends the whole list), -EPERM as
 * above; why says which.
 */
int probe_sched_apply_delta(struct probe *p, const struct proto_tasks *delta, char *why,
                            size_t len);
/* Rereads this host's addresses into p->own (the policy's allow_local). */
void probe_sched_read_own(struct probe *p);
void probe_sched_stop(struct probe *p);
/* An exponential gap of mean m ms, truncated at 10 m (RFC 2330 11.1.1). */
uint64_t probe_poisson_gap_ms(uint32_t m);
struct probe_task *probe_sched_find(struct probe *p, const struct sockaddr *from);

/* ---- uplink_io.c --------------------------------------------------------- */

enum probe_uplink_state {
    UPLINK_IDLE,
    UPLINK_CONNECTING,
    UPLINK_CONNECTED,
    UPLINK_CLOSING
};

struct probe_uplink {
    enum probe_uplink_state state;
    SSL_CTX *ctx;
    uv_tcp_t *tcp; /* freed in its close callback */
    struct proto_chan *chan;
    uv_timer_t retry;
    uv_timer_t heartbeat; /* sends HEARTBEAT, and notices a silent controller */
    unsigned attempt;
    int got_tasks;
    struct proto_welcome welcome; /* version 0 until the controller welcomed us */
    uint64_t last_rx_ms;          /* loop time of the last octets received */
    uint64_t connected_ms;        /* loop time of the attempt, then of the connection */
    uint32_t version_min, version_max; /* what our HELLO offers */
};

int probe_uplink_start(struct probe *p);
void probe_uplink_stop(struct probe *p);
void probe_uplink_free(struct probe *p);
/* Sends what the queue holds beyond what is in flight. */
void probe_uplink_flush(struct probe *p);

/* ---- main.c -------------------------------------------------------------- */

struct probe {
    uv_loop_t *loop;
    struct probe_config cfg;
    struct probe_stamp_io stamp;
    struct probe_reflector reflector;
    /* The methods' shared state, each owned by its *_io.c (NULL: not open). */
    struct probe_icmp_io *icmp;
    struct probe_conn_io *conn;
    struct probe_dns_io *dns;
    unsigned methods_open; /* bit m: method m's open() succeeded */
    /* A method whose open() failed is tried again after this (monotonic
     * ms), not at every attempt; meanwhile its attempts fail with err. */
    int64_t method_retry_ms[PROTO_METHOD_MAX + 1];
    int method_err[PROTO_METHOD_MAX + 1];
    struct probe_wheel wheel;
    uv_timer_t wheel_timer; /* fires when the wheel's earliest entry is due */
    struct probe_task **tasks;
    size_t ntasks;
    uint64_t generation; /* of the running list, when have_list */
    int have_list;
    struct probe_budget budget;  /* the policy's runtime backstop (sched_io.c) */
    struct probe_policy_own own; /* this host's addresses, as last read */
    uint32_t window_s;
    /* A one-shot command's state and its per-reply hook (NULL in the daemon). */
    void *cmd;
    void (*on_reply)(struct probe *p, struct probe_task *t,
                     const struct probe_reply *rep);
    void (*on_task_done)(struct probe *p, struct probe_task *t); /* count_left ran out */
    void (*on_interrupt)(struct probe *p);
    uv_timer_t window_timer;
    int64_t boundary_mono_ms; /* when the next boundary falls, monotonic ms */
    int64_t window_label_ms;  /* wall-clock label of the windows open now */
    int64_t window_serial;    /* id of the windows open now (1, 2, ...) */
    uv_timer_t close_timer;
    struct probe_delivery delivery;
    uint64_t next_seq;
    struct probe_uplink uplink;
    uv_signal_t sigint, sigterm;
    int stopping;
};

int64_t probe_now_ns(void);
int64_t probe_mono_ns(void);

#endif
