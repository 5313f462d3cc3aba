/*
 * channel.h - what the files of the probes' channel share (channel_io.c,
 * tasks_io.c), and nothing else includes.
 */
#ifndef IXMESH_CONTROLLER_CHANNEL_H
#define IXMESH_CONTROLLER_CHANNEL_H

#include "controller.h"

struct ctl_conn {
    struct ctl *ctl;
    uv_tcp_t tcp;
    uv_shutdown_t shutdown;
    struct proto_chan *chan;
    char peer[PROTO_ADDRSTR_MAX + 8];
    char cn[PROTO_ID_MAX + 1];
    char label[PROTO_ID_MAX + PROTO_ADDRSTR_MAX + 16]; /* "CN at ADDR:PORT" */
    int hello_done;
    int closing;
    uint64_t closing_ms; /* when a graceful close began: it has a deadline */
    uint32_t version;    /* negotiated in the HELLO */
    uint64_t accepted_ms, last_rx_ms, last_tx_ms; /* loop time */
    struct proto_hello hello;
    int64_t key;
    int paused;         /* reads stopped: the probe spent its record budget */
    uint64_t resume_ms; /* loop time they start again */
    uint32_t writing;   /* its batches at the store (writer_io.c), not yet back */
    int gone;           /* closed while some were: the last one back frees it */
    int store_failed;   /* one of them failed: the writer drops the rest (its own) */
    uint8_t
        source[CTL_SOURCE_KEY]; /* what max_pending_per_source counts: see set_peer() */
    /* What the probe runs, as far as it said (tasks_io.c). */
    uint64_t list_gen; /* of the last list or delta sent; 0: it runs none of ours */
    uint32_t *ids;     /* the task ids of that list, sorted */
    size_t nids;
    int last_delta; /* the last sent was a delta: a STALE gets the whole list */
    struct ctl_quota list_log; /* lines about its POLICY and STALE answers */
    struct ctl_conn *next;
};

/*
 * What the controller knows of one probe beyond its HELLO, for as long as it
 * runs: the task ids it gave it (any of them may still be in its spool), its
 * budgets of HELLOs and records, and what it refused of it.
 */
struct ctl_watch {
    char id[PROTO_ID_MAX + 1];
    uint32_t *given; /* sorted task ids, ngiven of cap */
    size_t ngiven, cap;
    int64_t given_since_ms; /* wall clock of its first TASKS from this run; 0: none */
    uint32_t ntasks;        /* in its current list */
    struct ctl_bucket hellos, records;
    uint64_t addrs_changed_ms; /* loop time; 0: not in this run */
    uint64_t stored_ms;        /* loop time its HELLO was last written; 0: never */
    uint64_t refused[CTL_REC_RULES];
    uint64_t hellos_refused, throttled_ms;
    uint64_t unlogged; /* refusals and pauses not yet in the log */
    uint64_t logged_ms;
    char last_why[PROTO_REASON_MAX];
};

/* Queues m on k and writes what the channel holds; 0 or the encoder's
 * -errno (nothing queued then). */
int ctl_conn_send(struct ctl_conn *k, const struct proto_msg *m);
/* The probe's record of this run, made on first use; NULL when out of memory. */
struct ctl_watch *ctl_watch_of(struct ctl *c, const char *id);
/* Notes tasks sent to the probe (its records will name their ids) and the
 * size of its list now. */
void ctl_watch_given(struct ctl_watch *w, const struct proto_task *t, uint32_t n,
                     uint32_t ntasks);

/* ---- tasks_io.c: task lists and their deltas ------------------------------ */

/* A member joined, changed what the planner reads, or left: re-plan soon. */
void ctl_tasks_changed(struct ctl *c, int64_t key);
/* Sends k its whole list now, when the mesh did not change but k did. */
void ctl_tasks_send_list(struct ctl *c, struct ctl_conn *k);
/* A probe's ERROR POLICY or STALE about a list: the session goes on. */
void ctl_tasks_refused(struct ctl_conn *k, const struct proto_error *e);
void ctl_tasks_stop(struct ctl *c);

#endif
