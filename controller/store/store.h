/*
 * store.h - the controller's store: every line of SQL is behind this
 * interface (store/sqlite.c and store/delivery.c, the SQLite backend), so
 * that another backend is another file.  Writes take what the channel
 * decoded; reads hand decoded rows to a callback.
 */
#ifndef IXMESH_CONTROLLER_STORE_H
#define IXMESH_CONTROLLER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "proto.h"

/*
 * A store is one SQLite connection, used by one thread at a time: its user
 * serializes (the controller's store lock, writer_io.c; the query lock,
 * query_io.c), so SQLite's own mutex around every call is left out
 * (SQLITE_OPEN_NOMUTEX: it was 11 % of a map's time).
 */
struct ctl_store;

/* Opens (creating if needed) the SQLite database at path, in WAL mode. */
int ctl_store_open(const char *path, struct ctl_store **out, char *err, size_t errlen);
/* A second connection, read-only, for reads off the loop (WAL lets it read
 * while the writer writes); only the reads may be used on it. */
int ctl_store_open_ro(const char *path, struct ctl_store **out, char *err, size_t errlen);
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
    uint32_t refused;    /* records not stored: they broke a rule (guard.c) */
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
 * The same, but the records i with refused[i] set (refused may be NULL) are
 * not stored: they are counted, and their numbers count as used, so that
 * acknowledging them leaves no hole.
 */
int ctl_store_results_checked(struct ctl_store *st, const char *probe_id,
                              const struct proto_results *rs, const uint8_t *refused,
                              int64_t now_ms, struct ctl_ingest *in);
/* The store key's probe id into id (PROTO_ID_MAX + 1); -ENOENT when none. */
int ctl_store_probe_id(struct ctl_store *st, int64_t key, char *id);
/*
 * A record's outcomes, why and content fields as the compact JSON of the
 * results.extra column; *out is NULL when there are none, else malloc'd
 * and freed by the caller.  0 or -ENOMEM.
 */
int ctl_store_extra_json(const struct proto_result *r, char **out);
const char *ctl_store_error(const struct ctl_store *st);
/* The SQLite backend's handle: for its own files and its tests only. */
struct sqlite3 *ctl_store_db(struct ctl_store *st);
/* What the store knows of a probe's delivery (store/delivery.c). */
#define CTL_DELIVERY_LIST_MAX 20
struct ctl_delivery_row {
    int64_t stored, duplicates, refused;
    int64_t missing;          /* records in the holes of its sequence numbers */
    int64_t dropped_reported; /* records its health said it dropped */
    char *health;             /* its latest health as JSON (malloc'd), or NULL */
    int64_t health_ms;        /* when that came */
    size_t ngaps, ndrops;
    int64_t gaps[CTL_DELIVERY_LIST_MAX][2];  /* first and last seq, newest first */
    int64_t drops[CTL_DELIVERY_LIST_MAX][2]; /* window start (ms) and records */
};
/* 0 (a probe that delivered nothing reads as zeros), or -EIO or -ENOMEM;
 * ctl_delivery_row_free() afterwards either way. */
int ctl_store_delivery(struct ctl_store *st, const char *probe_id,
                       struct ctl_delivery_row *r);
void ctl_delivery_row_free(struct ctl_delivery_row *r);

/* ---- reads: decoded rows handed to a callback ------------------------------ */

/* A probe as it last said HELLO; the strings live until the callback returns. */
struct ctl_probe_row {
    const char *id, *name;
    const char *addresses; /* a JSON array of address texts */
    int has_location;
    double lat, lon;
    int64_t last_seen_ms;
};
/* Return nonzero to stop; that value is returned by the read. */
typedef int (*ctl_probe_row_fn)(void *arg, const struct ctl_probe_row *row);
/* Every probe ever seen, by id; 0, fn's nonzero return, or -EIO (the
 * reason in ctl_store_error()). */
int ctl_store_probes(struct ctl_store *st, ctl_probe_row_fn fn, void *arg);

/* One stored summary record: one task of one probe over one window. */
struct ctl_window_row {
    const char *probe_id, *target_id;
    int method;
    uint64_t seq;
    int64_t window_start_ms;
    uint32_t window_s;
    uint64_t sent, received, lost, duplicates, reordered;
    uint64_t rtt_min_ns, rtt_max_ns, ipdv_sum_ns, ipdv_count;
    int ttl;            /* 0: unknown */
    const void *sketch; /* proto_sketch_to_bytes() */
    size_t sketch_len;
    const char *extra; /* the JSON of ctl_store_extra_json(), or NULL */
    /*
     * A rollup row (ctl_store_rollups) sums windows of its bucket: how many,
     * and the newest one's start, sent and lost.  0 windows: a raw window,
     * which is its own newest.
     */
    uint64_t windows;
    int64_t last_ms;
    uint64_t last_sent, last_lost;
    int64_t pair; /* the pair's key, when the read gives it (else 0) */
};
typedef int (*ctl_window_row_fn)(void *arg, const struct ctl_window_row *row);
/* The windows that end after from_ms and start before to_ms. */
struct ctl_window_range {
    int64_t from_ms, to_ms;
    /* ctl_store_windows(): no window is longer (0: CTL_RECORD_WINDOW_MAX_S);
     * what it reads before from_ms to find those ending after it. */
    int64_t longest_ms;
};
/*
 * Every stored window of range, grouped by (probe, target, method) in that
 * order, oldest first within a group (then by seq); 0, fn's nonzero
 * return, or -EIO.
 */
int ctl_store_windows(struct ctl_store *st, const struct ctl_window_range *range,
                      ctl_window_row_fn fn, void *arg);
/*
 * The coarse levels, in seconds: every stored window is also folded into
 * the bucket of each level that its start falls in (store/rollup.c).
 */
#define CTL_ROLLUP_LEVELS 3
extern const uint32_t ctl_rollup_levels[CTL_ROLLUP_LEVELS];
/*
 * The rows of level (an index into ctl_rollup_levels) whose buckets start
 * in [from_ms, to_ms), grouped by (probe, target, method), oldest first;
 * each is a ctl_window_row with windows > 0.  Windows stored within about
 * the last minute may not be in them yet (ctl_store_flush).  0, fn's
 * nonzero, or -EIO.
 */
int ctl_store_rollups(struct ctl_store *st, int level,
                      const struct ctl_window_range *range, ctl_window_row_fn fn,
                      void *arg);

/* ---- history: any level, any range ------------------------------------------ */

#define CTL_LEVEL_RAW (-1) /* the raw windows; else an index of ctl_rollup_levels */
/*
 * The rows of level whose window or bucket starts in [from_ms, to_ms), each
 * with its pair's key (a small number: an index for the caller), in no
 * promised order.  0, fn's nonzero, -EINVAL or -EIO.
 */
int ctl_store_level_rows(struct ctl_store *st, int level,
                         const struct ctl_window_range *range, ctl_window_row_fn fn,
                         void *arg);
/* One pair's rows of level starting in [from_ms, to_ms), oldest first; a
 * pair never seen has none.  0, fn's nonzero, -EINVAL or -EIO. */
int ctl_store_pair_rows(struct ctl_store *st, int level, const char *src, const char *dst,
                        int method, const struct ctl_window_range *range,
                        ctl_window_row_fn fn, void *arg);

/*
 * The rollups take new windows from memory about once a minute a probe
 * (store/deltas.c): this writes what is due (all: everything) now, a
 * probe a transaction.  ctl_store_close() does it for all.  0 or -EIO.
 */
int ctl_store_flush(struct ctl_store *st, int64_t now_ms, int all);

/* ---- retention (store/retention.c) ---------------------------------------- */

/* How long each level is kept, in seconds; 0 keeps it for ever. */
struct ctl_retention {
    int64_t raw_s;
    int64_t level_s[CTL_ROLLUP_LEVELS]; /* as ctl_rollup_levels */
};
/* What one step deleted. */
struct ctl_expired {
    uint64_t raw, level[CTL_ROLLUP_LEVELS];
};
/*
 * Deletes up to batch rows of each level that ended at or before now_ms
 * minus its horizon, each level in a transaction of its own: call again
 * while anything was deleted.  0 or -EIO.
 */
int ctl_store_expire(struct ctl_store *st, const struct ctl_retention *rt, int64_t now_ms,
                     uint32_t batch, struct ctl_expired *out);
/* The database file's size and what of it is free pages (reused first). */
struct ctl_store_size {
    uint64_t file_octets, free_octets;
};
int ctl_store_size(struct ctl_store *st, struct ctl_store_size *sz);

/* No window is longer than this ("wl" in PROTOCOL.md 4.3). */
#define CTL_RECORD_WINDOW_MAX_S 3600

#endif
