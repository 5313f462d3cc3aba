/*
 * controller.h - ixmesh-controller: one libuv loop that serves the probes'
 * TLS channel, plans their tasks and publishes the map; a writer thread
 * stores their results, and libuv's pool answers the history queries.
 *
 * Files, and who touches libuv:
 *   main.c        arguments, signals, the loop
 *   config.c      the INI configuration
 *   guard.c       what a member may say: addresses, records, budgets (no I/O)
 *   planner.c     task lists: the full mesh of connected probes and the
 *                 content nodes of the configuration (no I/O)
 *   clock.c       the wall clock
 *   store/        every line of SQL, behind store/store.h: probes, summary
 *                 records, delivery (store/sqlite.c, store/delivery.c)
 *   analysis/     pure code over stored rows: merging a pair's windows
 *   map.c         the JSON documents of the HTTP API (no I/O)
 *   channel_io.c  the TLS server for probes: HELLO, TASKS, RESULTS, ACK
 *   http_io.c     libmicrohttpd driven from the loop: the API and the page
 *   quota.c       how many lines a minute the log gives to noise
 *   writer_io.c   the store's writes (RESULTS, retention) on their own thread
 *   query_io.c    the map and history queries in libuv's pool, read-only
 */
#ifndef IXMESH_CONTROLLER_H
#define IXMESH_CONTROLLER_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <uv.h>

#include "privs.h"
#include "proto.h"
#include "analysis.h"
#include "store.h"

#define CTL_CHANNEL_PORT 7862
#define CTL_HTTP_PORT    8080

/* ---- config.c ---------------------------------------------------------- */

struct ctl_mesh {
    uint32_t window_s;
    uint32_t interval_ms;
    uint32_t timeout_ms;
    uint16_t size;
    uint8_t dscp;
    uint8_t poisson; /* schedule = poisson: exponential gaps (RFC 2330) */
};

/*
 * A content node of the configuration ([content ID]): a target that every
 * probe measures with each of its methods.  Strings are "" when not set;
 * interval_ms 0 means the method's default (see the planner).
 */
#define CTL_CONTENT_MAX 256

struct ctl_content {
    char id[PROTO_ID_MAX + 1];
    char name[PROTO_NAME_MAX + 1];
    char host[PROTO_HOST_MAX + 1]; /* TLS SNI, HTTP Host, what the probe resolves */
    char addr[PROTO_ADDRSTR_MAX];  /* connect here when set; the resolver of dns */
    uint32_t methods;              /* bit (1 << enum proto_method) */
    uint16_t port, tls_port, http_port, dns_port;
    uint8_t https;                    /* http over TLS */
    char path[PROTO_PATH_MAX + 1];    /* http request target */
    char header[PROTO_TOKEN_MAX + 1]; /* http response header to record */
    char query[PROTO_HOST_MAX + 1];   /* dns: the name asked */
    uint16_t qtype;                   /* dns: 1 (A) or 28 (AAAA) */
    uint32_t interval_ms;             /* 0: the method's default */
    uint32_t timeout_ms;
    int line; /* of its section header, for messages */
};

/* An address prefix of the configuration (CIDR), IPv4 or IPv6. */
struct ctl_prefix {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint8_t len; /* prefix length in bits */
};

#define CTL_PREFIX_MAX 32 /* prefixes in one list */

/* [exchange] probe.ID = PREFIX ...: where one probe may be, instead of the
 * exchange's prefixes. */
struct ctl_probe_prefixes {
    char id[PROTO_ID_MAX + 1];
    struct ctl_prefix v[CTL_PREFIX_MAX];
    size_t n;
};

/* [exchange]: what a member may announce and send (guard.c). */
struct ctl_exchange {
    struct ctl_prefix prefixes[CTL_PREFIX_MAX];
    size_t nprefixes; /* 0: prefixes not set, loopback only */
    /* nprobes lists; owned */
    struct ctl_probe_prefixes *probes;
    size_t nprobes;
    uint16_t port_lo, port_hi; /* stamp_ports */
    uint32_t addr_change_s;    /* between two changes of a probe's addresses */
    uint32_t hello_burst;      /* HELLOs a probe may send at once */
    uint32_t hello_every_s;    /* and one more each this many seconds */
    uint32_t backlog_rate;     /* records/s a probe may send beyond its tasks' */
};

/* A HELLO is due this long after accept, TLS handshake included (PROTOCOL.md 6.2). */
#define CTL_HELLO_TIMEOUT_S 10

/* [controller] bounds on what connections may hold (channel_io.c, http_io.c). */
struct ctl_limits {
    uint32_t handshake_s;        /* a TLS handshake ends this long after accept */
    uint32_t pending_max;        /* channel connections before their HELLO, in all */
    uint32_t pending_per_source; /* and from one address (IPv6: one /64) */
    uint32_t http_max;           /* HTTP connections, in all (past it: see http_io.c) */
    uint32_t http_per_client;    /* and from one address */
    uint32_t http_timeout_s;     /* to send a request's head; idle between requests */
};

struct ctl_config {
    struct ctl_exchange exchange;
    struct sockaddr_storage listen_addr;
    socklen_t listen_len;
    struct sockaddr_storage http_addr;
    socklen_t http_len;
    char ca[1024], cert[1024], key[1024];
    char database[1024];
    char log_level[16];
    /* Who it becomes when started as root. */
    char user[PRIVS_USER_MAX + 1];
    uint32_t heartbeat_s; /* told to probes in WELCOME; we send as often */
    uint32_t idle_s;      /* a probe silent for this long is dropped */
    uint32_t grace_s;     /* a probe that left stays in the mesh this long */
    struct ctl_limits limits;
    struct ctl_mesh mesh;
    struct ctl_content *content; /* ncontent nodes, in file order; owned */
    size_t ncontent;
    struct ctl_retention retention; /* [store] */
};
/* [store]'s defaults: see README's "How long history is kept". */
#define CTL_KEEP_RAW_S    (6 * 3600)
#define CTL_KEEP_MINUTE_S (2 * 86400)
#define CTL_KEEP_HOUR_S   (30 * 86400)
#define CTL_KEEP_DAY_S    (3 * 365 * 86400LL)

/*
 * On failure returns -1 with "FILE:LINE: reason" (or "FILE: reason") in err
 * and cfg holds nothing to free.  On success the caller releases cfg with
 * ctl_config_free().
 */
int ctl_config_load(const char *path, struct ctl_config *cfg, char *err, size_t errlen);
void ctl_config_free(struct ctl_config *cfg);
/* The content node of that id, or NULL. */
const struct ctl_content *ctl_config_content(const struct ctl_config *cfg,
                                             const char *id);

/* ---- guard.c: what a member may say (no I/O) ------------------------------- */

/* "ADDR/LEN" or a bare address (all its bits); 0 or -EINVAL. */
int ctl_prefix_parse(const char *s, struct ctl_prefix *p);
/* 1 when the numeric address text a lies inside p, else 0. */
int ctl_prefix_contains(const struct ctl_prefix *p, const char *a);

/* Why a HELLO is refused (0: it is not). */
enum ctl_hello_rule {
    CTL_HELLO_OK = 0,
    CTL_HELLO_ADDRESS, /* an address outside the prefixes allowed to the probe */
    CTL_HELLO_PORT,    /* the STAMP port outside [exchange] stamp_ports */
};

/* Checks a HELLO's addresses and STAMP port against x; the reason, naming
 * the rule, goes to why. */
enum ctl_hello_rule ctl_hello_check(const struct ctl_exchange *x,
                                    const struct proto_hello *h, char *why, size_t len);

/* What max_pending_per_source counts a connection against: its IPv4
 * address (an IPv4-mapped one too), or the /64 of an IPv6 one, which one
 * host may hold whole; all zero for another family. */
#define CTL_SOURCE_KEY 9
void ctl_source_key(const struct sockaddr *sa, uint8_t key[CTL_SOURCE_KEY]);

/* A token bucket: rate tokens a second up to burst. */
struct ctl_bucket {
    double tokens;
    uint64_t at_ms; /* when tokens was last brought up to date; 0: never */
};

/* Takes n tokens, even into debt; returns what is left (negative: the debt,
 * which rate repays in -left / rate seconds). */
double ctl_bucket_spend(struct ctl_bucket *b, double rate, double burst, double n,
                        uint64_t now_ms);

/* Why a record is refused (0: it is not); also the index of its counter. */
enum ctl_record_rule {
    CTL_REC_OK = 0,
    CTL_REC_TASK,   /* a task id not given to the probe, or not its target or method */
    CTL_REC_WINDOW, /* a window in the future, or older than any map shows */
    CTL_REC_VALUES, /* values that cannot be */
    CTL_REC_RULES
};
const char *ctl_record_rule_name(enum ctl_record_rule r);

/* What the controller gave: the task a record claims to be from. */
struct ctl_task_ref {
    uint8_t method;
    char target_id[PROTO_ID_MAX + 1];
    /* The longest RTT the probe may report for it: a reply after the task's
     * timeout still counts while its window is open, and a window closes a
     * timeout (the longest of the probe's tasks) after its end; so the
     * window plus the longest timeout of the configuration. */
    uint32_t rtt_max_ms;
};

/* A window may end this far ahead of the controller's clock (probe clocks
 * drift; NTP keeps them well within this), and start this far behind it. */
#define CTL_CLOCK_SKEW_MS 300000
#define CTL_RECORD_AGE_MS ((int64_t)CTL_WINDOW_MAX_S * 1000)
/* An RTT may pass rtt_max_ms by this much: the probe's timer fires on a
 * busy loop. */
#define CTL_TIMEOUT_SLACK_MS 100

/* Checks record r against the task t it names (NULL: no such task was
 * given) and the controller's clock; the reason goes to why. */
enum ctl_record_rule ctl_record_check(const struct ctl_task_ref *t,
                                      const struct proto_result *r, int64_t now_ms,
                                      char *why, size_t len);

/* ---- planner.c ----------------------------------------------------------- */

/* What the planner knows of one connected probe. */
struct ctl_peer {
    int64_t key; /* the probe's row in the store: stable across restarts */
    const struct proto_hello *hello;
};

/*
 * Builds the task list of peers[self]: a STAMP task to every other peer,
 * at an address of a family both can use, and one task per content node of
 * cfg and method that the probe announced in its caps.  tl->tasks is
 * malloc'd; the caller frees it.
 */
int ctl_plan_tasks(const struct ctl_peer *peers, size_t npeers, size_t self,
                   const struct ctl_config *cfg, uint64_t generation,
                   struct proto_tasks *tl);
/* A member that joined, changed what the planner reads, or left (CTL_GONE). */
struct ctl_change {
    int64_t key; /* unique among the changes of one delta */
    size_t peer; /* its index in the peers planned, CTL_GONE when it left */
};
#define CTL_GONE SIZE_MAX
/*
 * The TASKS_DELTA that brings the list of peers[self], whose sorted task ids
 * are have, up to date after changes: for each, its STAMP task put when
 * peers[self] measures it now, its id deleted when it did and does no more.
 * Content tasks do not change while the configuration does not.  d->tasks
 * and d->del are malloc'd; the caller sets generation and base.
 */
int ctl_plan_delta(const struct ctl_peer *peers, size_t self,
                   const struct ctl_config *cfg, const struct ctl_change *changes,
                   size_t nchanges, const uint32_t *have, size_t nhave,
                   struct proto_tasks *d);
/* The id of the STAMP task to the member of store key key. */
uint32_t ctl_stamp_task_id(int64_t key);
/* The capability a method needs (PROTO_CAP_*), 0 for an unknown method. */
uint32_t ctl_method_cap(int method);
/* The content methods of cfg (bit 1 << method) a probe with caps cannot run. */
uint32_t ctl_content_missing(const struct ctl_config *cfg, uint32_t caps);
/* Task ids of content tasks: this bit set, then node index x 16 + method;
 * STAMP tasks stay below it (store key x 16 + method). */
#define CTL_CONTENT_TASK_BIT 0x80000000u
#define CTL_ICMP_SIZE        56   /* echo payload octets: ping's default, 64 in all */
#define CTL_CONTENT_INTERVAL 5000 /* ms between attempts of tcp, tls, http, dns */

/* ---- roster.c ---------------------------------------------------------- */

struct ctl_member {
    struct proto_hello hello;
    int64_t key;
    uint64_t gone_ms; /* loop time it left; 0 while connected */
};

/* Every probe in the mesh, by id; a flat array, fine for hundreds. */
struct ctl_roster {
    struct ctl_member *v;
    size_t n, cap;
};

void ctl_roster_free(struct ctl_roster *r);
/* Adds or updates a member; gone_ms 0 for a probe connected now. */
int ctl_roster_join(struct ctl_roster *r, const struct proto_hello *h, int64_t key,
                    uint64_t gone_ms);
void ctl_roster_leave(struct ctl_roster *r, const char *id, uint64_t now_ms);
/* Removes members gone for grace_ms or longer, telling gone (when not
 * NULL) the key of each; returns how many. */
size_t ctl_roster_expire(struct ctl_roster *r, uint64_t now_ms, uint64_t grace_ms,
                         void (*gone)(void *arg, int64_t key), void *arg);
/* When the next member's grace ends (loop time), 0 when none is pending. */
uint64_t ctl_roster_next_expiry(const struct ctl_roster *r, uint64_t grace_ms);

/* ---- map.c --------------------------------------------------------------- */

/* Tells whether a probe has a live channel now. */
typedef int (*ctl_connected_fn)(void *arg, const char *probe_id);

/* Builds the /api/v1/probes document; NULL on a store error. */
json_t *ctl_map_probes(struct ctl_store *st, ctl_connected_fn connected, void *arg);
/* Builds the /api/v1/map document over the last window_s seconds; the
 * content nodes of cfg (may be NULL) are listed among its nodes. */
json_t *ctl_map_matrix(struct ctl_store *st, const struct ctl_config *cfg, int64_t now_ms,
                       uint32_t window_s, ctl_connected_fn connected, void *arg);
/* A history request (/api/v1/map?from&to, a pair's series or windows), as
 * the HTTP layer parsed it; what it reads is fixed when it is made. */
enum ctl_query_kind { CTL_Q_RANGE, CTL_Q_SERIES, CTL_Q_WINDOWS };
struct ctl_query {
    enum ctl_query_kind kind;
    int64_t now_ms, from_ms, to_ms, step_ms;
    int matrix; /* format=matrix */
    int method;
    char src[PROTO_ID_MAX + 1], dst[PROTO_ID_MAX + 1];
    struct ctl_horizons horizons;
    /* Looked at every few thousand rows: nonzero abandons the request. */
    int (*cancelled)(void *arg);
    void *cancel_arg;
};
/* What each level holds at now_ms under retention (analysis.h). */
void ctl_query_horizons(const struct ctl_retention *rt, int64_t now_ms,
                        struct ctl_horizons *h);
/*
 * /api/v1/map over [from, to) from the coarsest levels that cover it; *err
 * is 0, or -ECANCELED, -EIO, -ENOMEM (NULL then).
 */
json_t *ctl_map_range(struct ctl_store *st, const struct ctl_config *cfg,
                      const struct ctl_query *q, ctl_connected_fn connected, void *arg,
                      int *err);
/* A pair's series or raw windows (history.c); as ctl_map_range. */
json_t *ctl_pair_history(struct ctl_store *st, const struct ctl_query *q, int *err);
#define CTL_WINDOWS_MAX 20000 /* raw windows in one answer */
/* The map's ?window=SECONDS: a whole number in [1, CTL_WINDOW_MAX_S]; -EINVAL
 * for anything else (signs, spaces, trailing text, overflow). */
#define CTL_WINDOW_MAX_S (30 * 86400)
int ctl_parse_window(const char *v, uint32_t *window_s);
/* Minimum RTT over fibre between two points, in ms (2 x d / (c / 1.47)). */
double ctl_fibre_rtt_ms(double lat1, double lon1, double lat2, double lon2);

/* ---- quota.c: log lines about noise, bounded ------------------------------- */

/*
 * At most CTL_QUOTA_LINES lines a minute about one kind of event that
 * anyone may cause (a connection that never authenticates, a broken HTTP
 * request); the others are counted and told in one line when the minute ends.
 */
#define CTL_QUOTA_LINES 10
#define CTL_QUOTA_MS    60000

struct ctl_quota {
    uint64_t start_ms; /* loop time the current minute began; 0: none yet */
    uint32_t lines;    /* logged in it */
    uint64_t held;     /* not logged in it */
};

/* 1 when one more line may be logged now, else 0 (the event is counted). */
int ctl_quota_take(struct ctl_quota *q, uint64_t now_ms);
/* 1 once the minute is over, with how many lines it held back in *held
 * (the caller then says so); a new minute begins with the next event.
 * 0 while it lasts, or when none began. */
int ctl_quota_roll(struct ctl_quota *q, uint64_t now_ms, uint64_t *held);

/* ---- channel_io.c -------------------------------------------------------- */

/* How a connection ended, or was refused, before it authenticated. */
enum ctl_gate_reason {
    CTL_GATE_FULL,    /* refused at accept: limits.pending_max */
    CTL_GATE_SOURCE,  /* refused at accept: limits.pending_per_source */
    CTL_GATE_TIMEOUT, /* no TLS handshake within limits.handshake_s */
    CTL_GATE_TLS,     /* the handshake failed */
    CTL_GATE_CLOSED,  /* the peer closed or reset it */
    CTL_GATE_REASONS
};

/* Connections before authentication: what became of them, and the log. */
struct ctl_gate {
    uint64_t total[CTL_GATE_REASONS];  /* since the start */
    uint64_t minute[CTL_GATE_REASONS]; /* in the quota's minute */
    struct ctl_quota quota;
    size_t freed;        /* unauthenticated connections freed since the last trim */
    uint64_t trimmed_ms; /* loop time of the last malloc_trim() */
    uint64_t turn_ms;    /* loop time of the turn that accepted the last connections */
    uint32_t accepted;   /* how many, in that turn */
    uv_timer_t later;    /* takes the connection held over to the next turn */
};

struct ctl;
struct ctl_conn;
struct ctl_watch;

int ctl_channel_start(struct ctl *c);
void ctl_channel_stop(struct ctl *c);
int ctl_channel_connected(void *ctl, const char *probe_id);
/* Adds to each probe of a /api/v1/probes document what it had refused. */
void ctl_channel_annotate(struct ctl *c, json_t *doc);

/* ---- http_io.c ------------------------------------------------------------ */

struct ctl_http_conn;

/* The HTTP connections open, and what became of those that misbehaved. */
struct ctl_http_guard {
    struct ctl_http_conn *conns; /* every open one, newest first */
    uint32_t nconns;
    uint64_t cut;        /* closed for not sending a request head in time */
    uint64_t cut_minute; /* the same, in the quota's minute */
    uint64_t evicted;    /* closed to make room: the longest waiting for a head */
    uint64_t evicted_minute;
    struct ctl_quota quota; /* libmicrohttpd's messages and our own */
};

int ctl_http_start(struct ctl *c);
void ctl_http_stop(struct ctl *c);

/* ---- web assets, generated at build time from web/ -------------------------- */

extern const unsigned char ctl_web_index_html[];
extern const size_t ctl_web_index_html_len;

/* ---- main.c -------------------------------------------------------------- */

/* query_io.c: the map and history queries run off the loop. */
struct ctl_job;
struct ctl_queries {
    uv_mutex_t lock;          /* the reader, used by one worker at a time */
    struct ctl_store *reader; /* read-only, opened by the first query */
    struct ctl_job *jobs;     /* running or answered, newest first */
    size_t njobs;
    unsigned running;
    int stopping;       /* ctl_query_stop() was called */
    uv_timer_t sweeper; /* drops kept answers once their time is up */
    int has_sweeper;
};
/* http_io.c: lets MHD run now (a suspended connection was resumed). */
void ctl_http_kick(struct ctl *c);

/* retention_io.c: the store's retention, on the writer thread. */
struct ctl_retention_state {
    uv_timer_t timer;
    struct ctl_expired gone; /* since the last log line */
    struct ctl_expired step; /* the last step's, written by the writer thread */
    uint64_t next_log_ms;    /* loop time of the next; 0: not logged yet */
};
void ctl_retention_start(struct ctl *c);
void ctl_retention_stop(struct ctl *c);

/*
 * writer_io.c: the store's writes on a thread of their own.  work runs
 * there with the write connection, in the order submitted; done runs on
 * the loop afterwards with what work returned.
 */
typedef int (*ctl_write_fn)(struct ctl_store *st, void *arg);
typedef void (*ctl_written_fn)(struct ctl *c, void *arg, int rc);
struct ctl_write;
struct ctl_writer {
    uv_thread_t thread;
    uv_mutex_t lock; /* the lists below */
    uv_cond_t wake;
    uv_mutex_t store_lock; /* c->store: the thread's, or the loop's for a moment */
    atomic_int loop_waiting;
    uv_async_t async; /* the writer tells the loop */
    struct ctl_write *todo, *todo_tail, *done, *done_tail;
    int inited, has_async, running, stopping, ended;
};
int ctl_writer_init(struct ctl *c);
/* The thread: after the privileges are dropped (it would keep them). */
int ctl_writer_start(struct ctl *c);
/* 0, or -ESHUTDOWN once stopping (work will not run), or -ENOMEM. */
int ctl_writer_submit(struct ctl *c, ctl_write_fn work, ctl_written_fn done, void *arg);
/* Writes what is queued, then ends the thread; the loop's handle closes after. */
void ctl_writer_stop(struct ctl *c);
void ctl_writer_free(struct ctl *c);
/* The write connection, for the loop's short uses; give it back at once. */
struct ctl_store *ctl_store_take(struct ctl *c);
void ctl_store_give(struct ctl *c);

struct ctl {
    uv_loop_t *loop;
    struct ctl_config cfg;
    struct ctl_store *store; /* the writer's (writer_io.c) */
    struct ctl_writer writer;
    SSL_CTX *tls;
    uv_tcp_t listener;
    struct ctl_conn *conns; /* every open probe connection */
    size_t nconns;
    uint64_t generation;      /* of the task lists, bumped when the mesh changes */
    uint64_t malformed;       /* connections closed for a malformed frame */
    uv_timer_t replan;        /* coalesces joins and leaves into one push */
    uv_timer_t tick;          /* heartbeats and idle timeouts, once a second */
    struct ctl_roster roster; /* the mesh the planner plans */
    struct {
        int64_t *keys; /* members changed since the last re-plan (tasks_io.c) */
        size_t n, cap;
    } changed;
    uv_timer_t expire; /* ends the grace of a probe that left */
    /* What each probe was given and did (channel_io.c). */
    struct ctl_watch *watches;
    size_t nwatches;
    struct MHD_Daemon *http;
    uv_poll_t http_poll;
    uv_timer_t http_timer;
    uv_signal_t sigint, sigterm;
    /* Connections not yet authenticated (channel_io.c), and HTTP's (http_io.c). */
    struct ctl_gate gate;
    struct ctl_http_guard http_guard;
    struct ctl_retention_state retention;
    struct ctl_queries queries;
    int stopping;
};

/* clock.c: the wall clock, ms since the Unix epoch. */
int64_t ctl_now_ms(void);

#endif
