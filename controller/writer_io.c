/*
 * writer_io.c - the store's writes run on a thread of their own, so that
 * the loop never waits for an fsync: the loop decodes and checks a batch of
 * RESULTS, hands it over (ctl_writer_submit), goes on reading and
 * answering, and sends the ACK when the writer says the batch is durable.
 *
 * One thread, one queue, in order: a probe's batches are stored in the
 * order they arrived, and its ACKs (cumulative) go out in that order too.
 * The write connection (c->store) belongs to the thread; the loop's few
 * other uses of it take the store lock, and the thread lets them in
 * between two jobs, so such a use may wait for one job: a HELLO (whose
 * upsert, at most once a minute for an unchanged probe, still commits on
 * the loop), /api/v1/probes, and the ids of members that left the roster
 * (once per batch).
 *
 * Stopping: what is queued is still written (stored without an ACK is safe:
 * the probe sends it again and the store knows it), then the thread ends
 * and the loop's handle closes.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "controller.h"
#include "log.h"

struct ctl_write {
    struct ctl_write *next;
    ctl_write_fn work;
    ctl_written_fn done;
    void *arg;
    int rc;
};

/* Appends j to the list (head, tail). */
static void push(struct ctl_write **head, struct ctl_write **tail, struct ctl_write *j)
{
    j->next = NULL;
    if (*tail != NULL)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static struct ctl_write *pop(struct ctl_write **head, struct ctl_write **tail)
{
    struct ctl_write *j = *head;

    if (j != NULL && (*head = j->next) == NULL)
        *tail = NULL;
    return j;
}

/* The loop asked for the store: it goes first, it is the one waiting. */
static void store_lock_for_writer(struct ctl_writer *w)
{
    while (atomic_load(&w->loop_waiting) > 0)
        sched_yield();
    uv_mutex_lock(&w->store_lock);
}

static void writer_main(void *arg)
{
    struct ctl *c = arg;
    struct ctl_writer *w = &c->writer;
    struct ctl_write *j;

    pthread_setname_np(pthread_self(), "ixmesh-writer");
    uv_mutex_lock(&w->lock);
    for (;;) {
        while (w->todo == NULL && !w->stopping)
            uv_cond_wait(&w->wake, &w->lock);
        if ((j = pop(&w->todo, &w->todo_tail)) == NULL)
            break; /* stopping, and nothing is left */
        uv_mutex_unlock(&w->lock);
        store_lock_for_writer(w);
        j->rc = j->work(c->store, j->arg);
        uv_mutex_unlock(&w->store_lock);
        uv_mutex_lock(&w->lock);
        push(&w->done, &w->done_tail, j);
        uv_async_send(&w->async);
    }
    w->ended = 1;
    uv_mutex_unlock(&w->lock);
    uv_async_send(&w->async);
}

/* On the loop: what the writer finished, in the order it was submitted. */
static void on_written_cb(uv_async_t *h)
{
    struct ctl *c = h->data;
    struct ctl_writer *w = &c->writer;
    struct ctl_write *list, *j;
    int ended;

    uv_mutex_lock(&w->lock);
    list = w->done;
    w->done = w->done_tail = NULL;
    ended = w->ended;
    uv_mutex_unlock(&w->lock);
    while ((j = list) != NULL) {
        list = j->next;
        j->done(c, j->arg, j->rc);
        free(j);
    }
    if (ended && w->running) {
        uv_thread_join(&w->thread);
        w->running = 0;
        uv_close((uv_handle_t *)&w->async, NULL);
    }
}

int ctl_writer_init(struct ctl *c)
{
    struct ctl_writer *w = &c->writer;
    int rc;

    if (uv_mutex_init(&w->lock) < 0 || uv_mutex_init(&w->store_lock) < 0 ||
        uv_cond_init(&w->wake) < 0)
        return -ENOMEM;
    w->inited = 1;
    if ((rc = uv_async_init(c->loop, &w->async, on_written_cb)) < 0)
        return rc;
    w->async.data = c;
    w->has_async = 1;
    return 0;
}

/*
 * Capabilities belong to each thread: one made before the privileges went
 * would keep root's.  So the thread is made after (main.c).
 */
int ctl_writer_start(struct ctl *c)
{
    struct ctl_writer *w = &c->writer;
    int rc;

    if (!w->has_async || w->stopping)
        return -ESHUTDOWN;
    if ((rc = uv_thread_create(&w->thread, writer_main, c)) < 0) {
        log_error("cannot start the store's writer thread: %s", uv_strerror(rc));
        return rc;
    }
    w->running = 1;
    return 0;
}

int ctl_writer_submit(struct ctl *c, ctl_write_fn work, ctl_written_fn done, void *arg)
{
    struct ctl_writer *w = &c->writer;
    struct ctl_write *j;

    if (!w->running || w->stopping)
        return -ESHUTDOWN;
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return -ENOMEM;
    j->work = work;
    j->done = done;
    j->arg = arg;
    uv_mutex_lock(&w->lock);
    push(&w->todo, &w->todo_tail, j);
    uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
    return 0;
}

void ctl_writer_stop(struct ctl *c)
{
    struct ctl_writer *w = &c->writer;

    if (!w->running) {
        if (w->has_async && !w->stopping)
            uv_close((uv_handle_t *)&w->async, NULL);
        w->stopping = 1;
        return;
    }
    uv_mutex_lock(&w->lock);
    w->stopping = 1;
    uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
}

void ctl_writer_free(struct ctl *c)
{
    struct ctl_writer *w = &c->writer;

    if (!w->inited)
        return;
    uv_cond_destroy(&w->wake);
    uv_mutex_destroy(&w->store_lock);
    uv_mutex_destroy(&w->lock);
    w->inited = 0;
}

struct ctl_store *ctl_store_take(struct ctl *c)
{
    struct ctl_writer *w = &c->writer;

    if (!w->inited)
        return c->store;
    atomic_fetch_add(&w->loop_waiting, 1);
    uv_mutex_lock(&w->store_lock);
    atomic_fetch_sub(&w->loop_waiting, 1);
    return c->store;
}

void ctl_store_give(struct ctl *c)
{
    if (c->writer.inited)
        uv_mutex_unlock(&c->writer.store_lock);
}
