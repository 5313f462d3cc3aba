/*
 * roster.c - the probes in the mesh: those connected now, and those gone
 * for less than a grace period.
 *
 * A probe whose control channel drops (a controller restart, a short
 * outage of its uplink) usually still answers STAMP, and will be back.
 * Keeping it in the mesh for a while means the others go on measuring it
 * without a gap, and a restarted controller does not hand the first probe
 * to return an empty task list.  If it is really gone, its pairs show the
 * loss, which is the truth.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

void ctl_roster_free(struct ctl_roster *r)
{
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static struct ctl_member *find(struct ctl_roster *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].hello.probe_id, id) == 0)
            return &r->v[i];
    return NULL;
}

int ctl_roster_join(struct ctl_roster *r, const struct proto_hello *h, int64_t key,
                    uint64_t gone_ms)
{
    struct ctl_member *m = find(r, h->probe_id);

    if (m == NULL) {
        if (r->n == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 16;
            struct ctl_member *v = realloc(r->v, cap * sizeof(*v));

            if (v == NULL)
                return -ENOMEM;
            r->v = v;
            r->cap = cap;
        }
        m = &r->v[r->n++];
    }
    m->hello = *h;
    m->key = key;
    m->gone_ms = gone_ms;
    return 0;
}

void ctl_roster_leave(struct ctl_roster *r, const char *id, uint64_t now_ms)
{
    struct ctl_member *m = find(r, id);

    if (m != NULL)
        m->gone_ms = now_ms ? now_ms : 1; /* 0 means connected */
}

size_t ctl_roster_expire(struct ctl_roster *r, uint64_t now_ms, uint64_t grace_ms,
                         void (*gone)(void *arg, int64_t key), void *arg)
{
    size_t kept = 0, n = r->n;

    for (size_t i = 0; i < n; i++) {
        const struct ctl_member *m = &r->v[i];

        if (m->gone_ms == 0 || now_ms - m->gone_ms < grace_ms)
            r->v[kept++] = *m;
        else if (gone != NULL)
            gone(arg, m->key);
    }
    r->n = kept;
    return n - kept;
}

uint64_t ctl_roster_next_expiry(const struct ctl_roster *r, uint64_t grace_ms)
{
    uint64_t next = 0;

    for (size_t i = 0; i < r->n; i++) {
        uint64_t at = r->v[i].gone_ms + grace_ms;

        if (r->v[i].gone_ms != 0 && (next == 0 || at < next))
            next = at;
    }
    return next;
}
