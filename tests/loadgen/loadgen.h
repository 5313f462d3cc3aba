/*
 * loadgen.h - ixmesh-loadgen: many simulated probes in one libuv loop, each
 * with its own client certificate, speaking the real control protocol over
 * real TLS to a controller (PROTOCOL.md sections 1, 4 and 6).
 *
 * Files:
 *   loadgen.c  options, the loop, signals, the status lines
 *   cert.c     the CA, and one key and certificate per simulated probe (no I/O)
 *   sim_io.c   one simulated probe's connection: HELLO, WELCOME, TASKS,
 *              RESULTS and ACK, heartbeats, reconnect with backoff
 */
#ifndef IXMESH_LOADGEN_H
#define IXMESH_LOADGEN_H

#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

#include "proto.h"

/* ---- cert.c ------------------------------------------------------------ */

/* The CA that signs the simulated probes' certificates; owned, lg_ca_free(). */
struct lg_ca {
    X509 *cert;
    EVP_PKEY *key;
    X509_STORE *trust; /* the CA as trust anchor for the controller's cert */
};

/* Loads the CA certificate and its key; on failure the reason is in err. */
int lg_ca_load(struct lg_ca *ca, const char *cert_file, const char *key_file, char *err,
               size_t errlen);
void lg_ca_free(struct lg_ca *ca);
/*
 * A TLS 1.3 client context that presents a fresh EC P-256 key and a
 * certificate with CN = cn signed by ca, and verifies the controller
 * against ca->trust.  The caller frees it with SSL_CTX_free(); NULL on
 * failure, with the reason in err.
 */
SSL_CTX *lg_client_ctx(const struct lg_ca *ca, const char *cn, char *err, size_t errlen);

/* ---- sim_io.c ---------------------------------------------------------- */

/* Counters over every simulated probe; they only grow, but for `connected`. */
struct lg_stats {
    unsigned connected;         /* probes whose current session has had TASKS */
    uint64_t connects;          /* TCP connects started */
    uint64_t sessions;          /* connections that reached TASKS */
    uint64_t failed;            /* connections that ended before TASKS */
    uint64_t disconnects;       /* sessions that ended after TASKS */
    uint64_t records_sent;      /* RESULTS frames (one record each), resends included */
    uint64_t records_acked;     /* records covered by a correct ACK */
    uint64_t bad_acks;          /* an ACK for a seq we did not have in flight */
    uint64_t heartbeats_sent;   /* by us */
    uint64_t heartbeats_recv;   /* from the controller */
    uint64_t errors_recv;       /* ERROR messages from the controller */
    uint64_t protocol_faults;   /* malformed frames, unexpected messages, TLS failures */
    uint64_t idle_closes;       /* the controller was silent for `idle` s */
    uint64_t lists, list_tasks; /* whole task lists received, and their tasks */
    uint64_t deltas, delta_tasks; /* TASKS_DELTA received, tasks put plus deleted */
    uint64_t stale;               /* deltas on a generation it did not have */
    uint64_t rx_bytes;            /* octets read from the controller, TLS included */
};

/* What every simulated probe shares. */
struct lg_mesh {
    uv_loop_t *loop;
    struct sockaddr_storage controller;
    const char *server_name;   /* the controller's certificate must carry it */
    uint64_t results_every_ms; /* 0: no RESULTS */
    int64_t epoch_ms;          /* record seq n's window ends near epoch + n x every */
    /* A hostile member (tests/e2e/hostile.sh): what the HELLO announces, and
     * records that break the controller's rules (enum lg_hostile). */
    char announce[PROTO_ADDR_MAX][PROTO_ADDRSTR_MAX];
    uint32_t nannounce;
    uint16_t stamp_port;
    int hostile;
    unsigned batch; /* records per RESULTS */
    int flap;       /* reconnect at once after each TASKS or ERROR: a HELLO flood */
    int delta;      /* announce PROTO_CAP_DELTA */
    int all_tasks;  /* each RESULTS: one window of every task it was given */
    int stopping;
    unsigned notes; /* stderr lines written, so that a storm does not flood it */
    struct lg_stats stats;
    uint8_t rbuf[65536]; /* every read lands here: libuv reads one stream at a time */
};

enum lg_state {
    LG_IDLE,       /* waiting for the reconnect timer */
    LG_CONNECTING, /* TCP connect under way */
    LG_SESSION,    /* TLS, HELLO, then the session */
    LG_CLOSING,    /* uv_close() called; the close callback schedules the retry */
};

/* What the records of a hostile member get wrong; LG_MIXED cycles through
 * them by sequence number. */
enum lg_hostile {
    LG_HONEST = 0,
    LG_UNKNOWN_TASK, /* a task id never given, to an invented target */
    LG_TARGETS,      /* the task's id, an invented target per record */
    LG_FUTURE,       /* a window in 2100 */
    LG_RTT,          /* a maximum RTT of 2^64-1 ns */
    LG_VALUES,       /* replies plus losses above sent, or jitter above the RTT range */
    LG_MIXED,
};

/* One simulated probe. */
struct lg_sim {
    struct lg_mesh *mesh;
    unsigned index;
    char id[PROTO_ID_MAX + 1];
    SSL_CTX *tls; /* owned */
    uv_tcp_t tcp; /* valid from connect to its close callback */
    uv_timer_t retry, beat, results;
    struct proto_chan *chan; /* owned while a connection lives */
    enum lg_state state;
    unsigned attempt;             /* for the backoff; 0 again when TASKS arrives */
    struct proto_welcome welcome; /* version 0 until WELCOME */
    int got_tasks;
    uint64_t generation;    /* of the list it has, when got_tasks */
    struct proto_task task; /* the first of its list: its records name it */
    int has_task;
    uint64_t connected_ms, last_rx_ms; /* loop time */
    uint64_t next_seq;                 /* the record to send next, or the one in flight */
    uint64_t acked;                    /* highest seq acknowledged */
    int due;                           /* record next_seq is made and waits to be sent */
    int in_flight;                     /* it was sent on this connection, ACK pending */
    unsigned flight_n;                 /* records in that batch */
    struct proto_task *tasks;          /* --all-tasks: its list (malloc'd) */
    uint32_t ntasks;
    uint64_t window; /* --all-tasks: the window its next batch is of */
};

/* Initialises the timers; the first connect comes after delay_ms. */
void lg_sim_init(struct lg_sim *s, struct lg_mesh *m, unsigned index, uint64_t delay_ms);
/* Closes the connection and the timers for good (the loop then ends). */
void lg_sim_stop(struct lg_sim *s);

#endif
