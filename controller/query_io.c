/*
 * query_io.c - the map and the history API, computed off the loop.
 *
 * A request is parsed on the loop, its connection suspended (MHD), and the
 * query run by libuv's thread pool on a read-only connection of its own
 * (SQLite's WAL lets it read while the loop writes); when it is done, the
 * loop resumes the connection and MHD calls the handler again, which
 * answers.  The loop meanwhile goes on reading RESULTS, sending ACKs and
 * heartbeats.
 *
 * Identical requests (the same normalized key) share one computation, and
 * its answer for SHARE_MS afterwards: a page polled by many browsers costs
 * one query.  Queries run one at a time (one reader connection): on two
 * cores a second concurrent scan would only slow the first.  A query whose
 * only client has gone (its socket reads end-of-file) stops at its next
 * look, a few thousand rows on.  Kept answers go once their time is up,
 * whether or not another request comes (on_sweep_cb): a map of a large
 * mesh must not stay in memory until the next one.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "channel.h"
#include "controller.h"
#include "log.h"
#include "query_io.h"

#define SHARE_MS    5000       /* an answer serves identical requests this long */
#define JOBS_MAX    64         /* jobs kept (running or answered) */
#define TRIM_OVER   (1 << 20)  /* answers larger than this return memory after */
#define KEEP_OCTETS (64 << 20) /* answers kept for sharing, at most */

struct ctl_waiter {
    struct MHD_Connection *conn;
    struct ctl_job *job;
    struct ctl_waiter *next;
};

struct ctl_job {
    char key[768];
    struct ctl_query q;
    uint32_t window_s; /* the live map (?window=), when q.kind is CTL_Q_RANGE
                          and this is not 0 */
    struct ctl *c;
    uv_work_t work;
    int done;
    atomic_int stopping; /* the controller stops: the query ends, nobody waits */
    unsigned status;
    char *body;
    size_t len;
    double ms; /* the time it took, for Server-Timing */
    uint64_t expires_ms;
    struct ctl_waiter *waiters;
    atomic_int nwaiters;
    int fd;           /* the first client's: watched for its leaving */
    char **connected; /* sorted ids: a snapshot for the worker */
    size_t nconnected;
    struct ctl_job *next;
};

static void sweep(struct ctl_queries *qs, uint64_t now);
static void arm_sweeper(struct ctl *c);

static int id_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int snapshot_connected(void *arg, const char *id)
{
    const struct ctl_job *j = arg;

    return bsearch(&id, j->connected, j->nconnected, sizeof(char *), id_cmp) != NULL;
}

/* The ids with a live channel now, for the worker, which must not look at
 * the connection table. */
static int take_snapshot(struct ctl *c, struct ctl_job *j)
{
    j->connected = calloc(c->nconns + 1, sizeof(char *));
    if (j->connected == NULL)
        return -ENOMEM;
    for (struct ctl_conn *x = c->conns; x != NULL; x = x->next)
        if (x->hello_done && !x->closing &&
            (j->connected[j->nconnected] = strdup(x->hello.probe_id)) != NULL)
            j->nconnected++;
    qsort(j->connected, j->nconnected, sizeof(char *), id_cmp);
    return 0;
}

static int client_gone(void *arg)
{
    struct ctl_job *j = arg;
    char b;

    if (atomic_load(&j->stopping))
        return 1;
    /* Only when it is the one waiting: others share the answer. */
    return atomic_load(&j->nwaiters) <= 1 && j->fd >= 0 &&
           recv(j->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static json_t *run_query(struct ctl_store *st, struct ctl_job *j, int *err)
{
    if (j->q.kind == CTL_Q_RANGE && j->window_s > 0) {
        json_t *doc = ctl_map_matrix(st, &j->c->cfg, j->q.now_ms, j->window_s,
                                     snapshot_connected, j);

        *err = doc != NULL ? 0 : -EIO;
        return doc;
    }
    if (j->q.kind == CTL_Q_RANGE)
        return ctl_map_range(st, &j->c->cfg, &j->q, snapshot_connected, j, err);
    return ctl_pair_history(st, &j->q, err);
}

static double mono_ms(void)
{
    return (double)uv_hrtime() / 1e6;
}

static void work_cb(uv_work_t *w)
{
    struct ctl_job *j = w->data;
    struct ctl_queries *qs = &j->c->queries;
    double t0 = mono_ms();
    char err[512];
    json_t *doc = NULL;
    int rc = 0;

    uv_mutex_lock(&qs->lock);
    if (qs->reader == NULL &&
        ctl_store_open_ro(j->c->cfg.database, &qs->reader, err, sizeof(err)) < 0)
        rc = -EIO;
    if (rc == 0)
        doc = run_query(qs->reader, j, &rc);
    uv_mutex_unlock(&qs->lock);
    j->status = rc == 0 ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
    if (rc == 0)
        j->body = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10));
    else
        j->body =
            strdup(rc == -ECANCELED ? "{\"error\":\"the client left\"}"
                                    : "{\"error\":\"the store could not be read\"}");
    j->len = j->body != NULL ? strlen(j->body) : 0;
    j->ms = mono_ms() - t0;
    json_decref(doc);
#ifdef __GLIBC__
    /* A map of a large mesh folds hundreds of MB: give them back. */
    if (j->len > TRIM_OVER)
        malloc_trim(0);
#endif
}

static void free_job(struct ctl_job *j)
{
    for (size_t i = 0; i < j->nconnected; i++)
        free(j->connected[i]);
    free(j->connected);
    free(j->body);
    free(j);
}

static void after_work_cb(uv_work_t *w, int status)
{
    struct ctl_job *j = w->data;
    struct ctl *c = j->c;

    (void)status;
    j->done = 1;
    j->expires_ms = uv_now(c->loop) + SHARE_MS;
    c->queries.running--;
    if (j->status != MHD_HTTP_OK)
        log_warn("http: %s: %s", j->key, j->body ? j->body : "out of memory");
    else
        log_debug("http: %s: %zu octets in %.1f ms", j->key, j->len, j->ms);
    for (struct ctl_waiter *x = j->waiters; x != NULL; x = x->next)
        MHD_resume_connection(x->conn);
    ctl_http_kick(c);
    sweep(&c->queries, uv_now(c->loop));
    arm_sweeper(c);
}

/* Octets of the answers kept. */
static size_t kept_octets(const struct ctl_queries *qs);

static void on_sweep_cb(uv_timer_t *h)
{
    struct ctl *c = h->data;
    size_t before = kept_octets(&c->queries);

    sweep(&c->queries, uv_now(c->loop));
#ifdef __GLIBC__
    /* The worker trimmed after folding; this gives back the answer itself. */
    if (before - kept_octets(&c->queries) > TRIM_OVER)
        malloc_trim(0);
#endif
    if (c->queries.jobs != NULL)
        arm_sweeper(c);
}

/* A sweep once the newest answer's time is up. */
static void arm_sweeper(struct ctl *c)
{
    struct ctl_queries *qs = &c->queries;

    if (qs->stopping)
        return;
    if (!qs->has_sweeper) {
        if (uv_timer_init(c->loop, &qs->sweeper) < 0)
            return; /* the next request sweeps */
        qs->sweeper.data = c;
        qs->has_sweeper = 1;
    }
    uv_timer_start(&qs->sweeper, on_sweep_cb, SHARE_MS + 100, 0);
}

static size_t kept_octets(const struct ctl_queries *qs)
{
    size_t n = 0;

    for (const struct ctl_job *j = qs->jobs; j != NULL; j = j->next)
        n += j->done ? j->len : 0;
    return n;
}

/*
 * Drops answers past their time that nobody waits for, and beyond
 * KEEP_OCTETS the oldest answers (the list is newest first): a map of a
 * large mesh is tens of MB, and sharing must not keep many of them.
 */
static void sweep(struct ctl_queries *qs, uint64_t now)
{
    int over = kept_octets(qs) > KEEP_OCTETS;
    size_t keep = 0;

    if (qs->stopping)
        return; /* MHD may still hold waiters of any job: free none */
    for (struct ctl_job **pp = &qs->jobs; *pp != NULL;) {
        struct ctl_job *j = *pp;
        int drop = j->done && j->waiters == NULL &&
                   (now >= j->expires_ms || qs->njobs > JOBS_MAX ||
                    (over && keep + j->len > KEEP_OCTETS));

        if (j->done && !drop)
            keep += j->len;
        if (drop) {
            *pp = j->next;
            qs->njobs--;
            free_job(j);
        } else {
            pp = &j->next;
        }
    }
}

static struct ctl_job *find_job(struct ctl_queries *qs, const char *key, uint64_t now)
{
    for (struct ctl_job *j = qs->jobs; j != NULL; j = j->next)
        if (strcmp(j->key, key) == 0 && (!j->done || now < j->expires_ms))
            return j;
    return NULL;
}

static struct ctl_job *start_job(struct ctl *c, const struct ctl_query_req *r, int fd)
{
    struct ctl_queries *qs = &c->queries;
    struct ctl_job *j = calloc(1, sizeof(*j));

    if (j == NULL || take_snapshot(c, j) < 0) {
        if (j != NULL)
            free_job(j);
        return NULL;
    }
    snprintf(j->key, sizeof(j->key), "%s", r->key);
    j->q = r->q;
    j->q.cancelled = client_gone;
    j->q.cancel_arg = j;
    j->window_s = r->window_s;
    j->c = c;
    j->fd = fd;
    j->work.data = j;
    if (uv_queue_work(c->loop, &j->work, work_cb, after_work_cb) < 0) {
        free_job(j);
        return NULL;
    }
    qs->running++;
    j->next = qs->jobs;
    qs->jobs = j;
    qs->njobs++;
    return j;
}

static enum MHD_Result answer(struct MHD_Connection *conn, const struct ctl_job *j)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    char timing[64];

    if (j->body == NULL)
        return MHD_NO;
    r = MHD_create_response_from_buffer(j->len, j->body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    snprintf(timing, sizeof(timing), "db;dur=%.1f", j->ms);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Server-Timing", timing);
    ret = MHD_queue_response(conn, j->status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result ctl_query_serve(struct ctl *c, struct MHD_Connection *conn,
                                const struct ctl_query_req *r, void **state)
{
    struct ctl_queries *qs = &c->queries;
    struct ctl_waiter *w = *state;
    const union MHD_ConnectionInfo *info;
    uint64_t now = uv_now(c->loop);
    struct ctl_job *j;

    if (c->stopping || (w != NULL && atomic_load(&w->job->stopping)))
        return MHD_NO; /* the controller is stopping: close */
    if (w != NULL)     /* resumed: the job is done */
        return answer(conn, w->job);
    sweep(qs, now);
    j = find_job(qs, r->key, now);
    if (j != NULL && j->done)
        return answer(conn, j);
    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (j == NULL && (j = start_job(c, r, info ? info->connect_fd : -1)) == NULL)
        return MHD_NO;
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return MHD_NO;
    w->conn = conn;
    w->job = j;
    w->next = j->waiters;
    j->waiters = w;
    atomic_fetch_add(&j->nwaiters, 1);
    *state = w;
    MHD_suspend_connection(conn);
    return MHD_YES;
}

void ctl_query_done(struct ctl *c, void **state)
{
    struct ctl_waiter *w = *state;

    (void)c;
    if (w == NULL)
        return;
    for (struct ctl_waiter **pp = &w->job->waiters; *pp != NULL; pp = &(*pp)->next) {
        /* (after ctl_query_stop() the list is empty: MHD holds the waiters) */
        if (*pp == w) {
            *pp = w->next;
            atomic_fetch_sub(&w->job->nwaiters, 1);
            break;
        }
    }
    free(w);
    *state = NULL;
}

void ctl_query_stop(struct ctl *c)
{
    if (c->queries.has_sweeper && !c->queries.stopping)
        uv_close((uv_handle_t *)&c->queries.sweeper, NULL);
    c->queries.stopping = 1;
    for (struct ctl_job *j = c->queries.jobs; j != NULL; j = j->next) {
        atomic_store(&j->stopping, 1);
        for (struct ctl_waiter *w = j->waiters; w != NULL; w = w->next)
            MHD_resume_connection(w->conn);
        j->waiters = NULL; /* MHD closes them: ctl_query_done() must not look */
    }
}

int ctl_query_init(struct ctl *c)
{
    memset(&c->queries, 0, sizeof(c->queries));
    return uv_mutex_init(&c->queries.lock) == 0 ? 0 : -ENOMEM;
}

void ctl_query_close(struct ctl *c)
{
    struct ctl_queries *qs = &c->queries;

    while (qs->jobs != NULL) {
        struct ctl_job *j = qs->jobs;

        qs->jobs = j->next;
        for (struct ctl_waiter *w = j->waiters, *n; w != NULL; w = n) {
            n = w->next;
            free(w);
        }
        free_job(j);
    }
    ctl_store_close(qs->reader);
    qs->reader = NULL;
    uv_mutex_destroy(&qs->lock);
}
