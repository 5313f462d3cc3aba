/*
 * controller.h - ixmesh-controller: one libuv loop that serves the probes'
 * TLS channel, plans their tasks, stores their results and publishes the map.
 *
 * Files, and who touches libuv:
 *   main.c        arguments, signals, the loop
 *   config.c      the INI configuration
 *   planner.c     task lists: the full mesh of connected probes and the
 *                 content nodes of the configuration (no I/O)
 *   store.c       SQLite: probes and summary records (outcomes, why and
 *                 content fields as JSON in results.extra)
 *   delivery.c    per probe: duplicates, holes in its sequence, drops, health
 *   map.c         the JSON documents of the HTTP API (no I/O)
 *   channel_io.c  the TLS server for probes: HELLO, TASKS, RESULTS, ACK
 *   http_io.c     libmicrohttpd driven from the loop: the API and the page
 */
#ifndef IXMESH_CONTROLLER_H
#define IXMESH_CONTROLLER_H

#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <sqlite3.h>
#include <uv.h>

#include "proto.h"

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

struct ctl_config {
    struct sockaddr_storage listen_addr;
    socklen_t listen_len;
    struct sockaddr_storage http_addr;
    socklen_t http_len;
    char ca[1024], cert[1024], key[1024];
    char database[1024];
    char log_level[16];
    uint32_t heartbeat_s; /* told to probes in WELCOME; we send as often */
    uint32_t idle_s;      /* a probe silent for this long is dropped */
    uint32_t grace_s;     /* a probe that left stays in the mesh this long */
    struct ctl_mesh mesh;
    struct ctl_content *content; /* ncontent nodes, in file order; owned */
    size_t ncontent;
};

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
/* Removes members gone for grace_ms or longer; returns how many. */
size_t ctl_roster_expire(struct ctl_roster *r, uint64_t now_ms, uint64_t grace_ms);
/* When the next member's grace ends (loop time), 0 when none is pending. */
uint64_t ctl_roster_next_expiry(const struct ctl_roster *r, uint64_t grace_ms);

/* ---- store.c ------------------------------------------------------------- */

struct ctl_store;

/* Opens (creating if needed) the SQLite database at path, in WAL mode. */
int ctl_store_open(const char *path, struct ctl_store **out, char *err, size_t errlen);
void ctl_store_close(struct ctl_store *st);
/* Records a probe's HELLO; *key receives its stable row id. */
int ctl_store_probe_seen(struct ctl_store *st, const struct proto_hello *h,
                         int64_t now_ms, int64_t *key);
int ctl_store_probe_touch(struct ctl_store *st, const char *id, int64_t now_ms);
/* Calls fn for every probe seen since since_ms, with its last HELLO. */
int ctl_store_recent_probes(struct ctl_store *st, int64_t since_ms,
                            void (*fn)(void *arg, const struct proto_hello *h,
                                       int64_t key),
                            void *arg);
/* What storing one batch did. */
struct ctl_ingest {
    uint64_t acked;      /* the batch's highest sequence number: durable */
    uint32_t duplicates; /* records already stored: a resend */
    uint64_t missing;    /* records found missing before these: dropped */
};

/*
 * Stores a batch in one transaction; records already stored (same probe
 * and sequence number) are ignored and counted, holes in the sequence
 * numbers are recorded (delivery.c), and so are the batch's health and
 * drop reports.  in->acked is durable once this returns 0.
 */
int ctl_store_results(struct ctl_store *st, const char *probe_id,
                      const struct proto_results *rs, int64_t now_ms,
                      struct ctl_ingest *in);
/*
 * A record's outcomes, why and content fields as the compact JSON of the
 * results.extra column; *out is NULL when there are none, else malloc'd
 * and freed by the caller.  0 or -ENOMEM.
 */
int ctl_store_extra_json(const struct proto_result *r, char **out);
const char *ctl_store_error(const struct ctl_store *st);
sqlite3 *ctl_store_db(struct ctl_store *st);

/* ---- delivery.c: duplicates, holes, drops and health per probe ------------ */

int ctl_delivery_schema(sqlite3 *db);
/* The highest sequence number stored for the probe, 0 when none. */
int ctl_delivery_max_seq(sqlite3 *db, const char *probe_id, uint64_t *max);
/* Records the hole between prev (highest stored before, 0: none) and seq,
 * at or above seq0 (the probe's health says it, and it is >= 1); adds its
 * size to *missing. */
int ctl_delivery_gap(sqlite3 *db, const char *probe_id, uint64_t prev, uint64_t seq,
                     uint64_t seq0, int64_t now_ms, uint64_t *missing);
/* Records a batch's duplicates, drop reports and health. */
int ctl_delivery_note(sqlite3 *db, const char *probe_id, const struct proto_results *rs,
                      uint32_t duplicates, int64_t now_ms);
/* The "delivery" object of a probe in /api/v1/probes. */
json_t *ctl_delivery_json(sqlite3 *db, const char *probe_id);

/* ---- map.c --------------------------------------------------------------- */

/* Tells whether a probe has a live channel now. */
typedef int (*ctl_connected_fn)(void *arg, const char *probe_id);

/* Builds the /api/v1/probes document; NULL on a store error. */
json_t *ctl_map_probes(struct ctl_store *st, ctl_connected_fn connected, void *arg);
/* Builds the /api/v1/map document over the last window_s seconds; the
 * content nodes of cfg (may be NULL) are listed among its nodes. */
json_t *ctl_map_matrix(struct ctl_store *st, const struct ctl_config *cfg, int64_t now_ms,
                       uint32_t window_s, ctl_connected_fn connected, void *arg);
/* The map's ?window=SECONDS: a whole number in [1, CTL_WINDOW_MAX_S]; -EINVAL
 * for anything else (signs, spaces, trailing text, overflow). */
#define CTL_WINDOW_MAX_S (30 * 86400)
int ctl_parse_window(const char *v, uint32_t *window_s);
/* Minimum RTT over fibre between two points, in ms (2 x d / (c / 1.47)). */
double ctl_fibre_rtt_ms(double lat1, double lon1, double lat2, double lon2);

/* ---- channel_io.c -------------------------------------------------------- */

struct ctl;
struct ctl_conn;

int ctl_channel_start(struct ctl *c);
void ctl_channel_stop(struct ctl *c);
int ctl_channel_connected(void *ctl, const char *probe_id);

/* ---- http_io.c ------------------------------------------------------------ */

int ctl_http_start(struct ctl *c);
void ctl_http_stop(struct ctl *c);

/* ---- web assets, generated at build time from web/ -------------------------- */

extern const unsigned char ctl_web_index_html[];
extern const size_t ctl_web_index_html_len;

/* ---- main.c -------------------------------------------------------------- */

struct ctl {
    uv_loop_t *loop;
    struct ctl_config cfg;
    struct ctl_store *store;
    SSL_CTX *tls;
    uv_tcp_t listener;
    struct ctl_conn *conns; /* every open probe connection */
    size_t nconns;
    uint64_t generation;      /* of the task lists, bumped when the mesh changes */
    uint64_t malformed;       /* connections closed for a malformed frame */
    uv_timer_t replan;        /* coalesces joins and leaves into one push */
    uv_timer_t tick;          /* heartbeats and idle timeouts, once a second */
    struct ctl_roster roster; /* the mesh the planner plans */
    uv_timer_t expire;        /* ends the grace of a probe that left */
    struct MHD_Daemon *http;
    uv_poll_t http_poll;
    uv_timer_t http_timer;
    uv_signal_t sigint, sigterm;
    int stopping;
};

int64_t ctl_now_ms(void);

#endif
