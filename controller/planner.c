/*
 * planner.c - builds each probe's task list: the full mesh of the probes
 * connected now, one STAMP task per ordered pair.
 *
 * Task ids are the target's stable store key, so a probe that receives a
 * new list keeps measuring the targets it already had without a gap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

static int addr_family(const char *a)
{
    return strchr(a, ':') != NULL ? AF_INET6 : AF_INET;
}

static int has_family(const struct proto_hello *h, int family)
{
    for (uint32_t i = 0; i < h->naddrs; i++)
        if (addr_family(h->addrs[i]) == family)
            return 1;
    return 0;
}

/* The first address of dst that src can reach: same family as one of src's. */
static const char *pick_addr(const struct proto_hello *src, const struct proto_hello *dst)
{
    for (uint32_t i = 0; i < dst->naddrs; i++)
        if (has_family(src, addr_family(dst->addrs[i])))
            return dst->addrs[i];
    return NULL;
}

int ctl_plan_tasks(const struct ctl_peer *peers, size_t npeers, size_t self,
                   const struct ctl_mesh *mesh, uint64_t generation,
                   struct proto_tasks *tl)
{
    const struct proto_hello *me = peers[self].hello;

    memset(tl, 0, sizeof(*tl));
    tl->generation = generation;
    tl->window_s = mesh->window_s;
    tl->tasks = calloc(npeers ? npeers : 1, sizeof(*tl->tasks));
    if (tl->tasks == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < npeers && tl->ntasks < PROTO_TASKS_MAX; i++) {
        const struct proto_hello *dst = peers[i].hello;
        struct proto_task *t = &tl->tasks[tl->ntasks];
        const char *addr;

        if (i == self || strcmp(dst->probe_id, me->probe_id) == 0)
            continue;
        /* Both ends run STAMP: one sends, the other reflects. */
        if (!(me->caps & PROTO_CAP_STAMP) || !(dst->caps & PROTO_CAP_STAMP))
            continue;
        addr = pick_addr(me, dst);
        if (addr == NULL)
            continue; /* no common address family: nothing to measure */
        t->id = (uint32_t)(peers[i].key * 16 + PROTO_METHOD_STAMP);
        t->method = PROTO_METHOD_STAMP;
        strcpy(t->target_id, dst->probe_id);
        strcpy(t->addr, addr);
        t->port = dst->stamp_port;
        t->interval_ms = mesh->interval_ms;
        t->timeout_ms = mesh->timeout_ms;
        t->size = mesh->size;
        t->dscp = mesh->dscp;
        t->poisson = mesh->poisson;
        tl->ntasks++;
    }
    return 0;
}
