/*
 * planner.c - builds each probe's task list: the full mesh of the probes
 * connected now, one STAMP task per ordered pair.
 *
 * Task ids are the target's stable store key, so a probe that receives a
 * new list keeps measuring the targets it already had without a gap.
 *
 * Then the content nodes of the configuration: every probe measures each
 * with every method of the node that it announced in its HELLO caps.  Their
 * task ids are CTL_CONTENT_TASK_BIT | node index x 16 + method: the same as
 * long as the configuration is, and apart from the STAMP ids (store keys
 * stay far below 2^27).
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

uint32_t ctl_method_cap(int method)
{
    switch (method) {
    case PROTO_METHOD_STAMP:
        return PROTO_CAP_STAMP;
    case PROTO_METHOD_ICMP:
        return PROTO_CAP_ICMP;
    case PROTO_METHOD_TCP:
        return PROTO_CAP_TCP;
    case PROTO_METHOD_TLS:
        return PROTO_CAP_TLS;
    case PROTO_METHOD_HTTP:
        return PROTO_CAP_HTTP;
    case PROTO_METHOD_DNS:
        return PROTO_CAP_DNS;
    default:
        return 0;
    }
}

uint32_t ctl_content_missing(const struct ctl_config *cfg, uint32_t caps)
{
    uint32_t missing = 0;

    for (size_t i = 0; i < cfg->ncontent; i++)
        for (int m = PROTO_METHOD_ICMP; m <= PROTO_METHOD_MAX; m++)
            if ((cfg->content[i].methods & (1u << m)) && !(caps & ctl_method_cap(m)))
                missing |= 1u << m;
    return missing;
}

/* The task of one content node and method; the node's config was checked. */
static void content_task(const struct ctl_content *n, size_t index, int method,
                         const struct ctl_mesh *mesh, struct proto_task *t)
{
    memset(t, 0, sizeof(*t));
    t->id = CTL_CONTENT_TASK_BIT | (uint32_t)(index * 16 + (size_t)method);
    t->method = (uint8_t)method;
    strcpy(t->target_id, n->id);
    strcpy(t->addr, n->addr);
    strcpy(t->host, n->host);
    t->interval_ms = n->interval_ms ? n->interval_ms : CTL_CONTENT_INTERVAL;
    t->timeout_ms = n->timeout_ms;
    t->dscp = mesh->dscp;
    switch (method) {
    case PROTO_METHOD_ICMP:
        /* Echo paces like the mesh; its port is ignored, but the wire
         * wants one in 1..65535. */
        if (n->interval_ms == 0)
            t->interval_ms = mesh->interval_ms;
        t->port = 1;
        t->size = CTL_ICMP_SIZE;
        break;
    case PROTO_METHOD_TCP:
        t->port = n->port;
        break;
    case PROTO_METHOD_TLS:
        t->port = n->tls_port;
        break;
    case PROTO_METHOD_HTTP:
        t->port = n->http_port;
        t->tls = n->https;
        strcpy(t->path, n->path);
        strcpy(t->header, n->header);
        break;
    case PROTO_METHOD_DNS:
        t->port = n->dns_port;
        strcpy(t->qname, n->query);
        t->qtype = n->qtype;
        break;
    default:
        break;
    }
}

int ctl_plan_tasks(const struct ctl_peer *peers, size_t npeers, size_t self,
                   const struct ctl_config *cfg, uint64_t generation,
                   struct proto_tasks *tl)
{
    const struct proto_hello *me = peers[self].hello;
    const struct ctl_mesh *mesh = &cfg->mesh;
    size_t cap = npeers + cfg->ncontent * PROTO_METHOD_MAX;

    memset(tl, 0, sizeof(*tl));
    tl->generation = generation;
    tl->window_s = mesh->window_s;
    tl->tasks = calloc(cap ? cap : 1, sizeof(*tl->tasks));
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
    /* Methods in their numeric order, whatever order the file listed. */
    for (size_t i = 0; i < cfg->ncontent; i++) {
        for (int m = PROTO_METHOD_ICMP; m <= PROTO_METHOD_MAX; m++) {
            if (!(cfg->content[i].methods & (1u << m)) ||
                !(me->caps & ctl_method_cap(m)) || tl->ntasks >= PROTO_TASKS_MAX)
                continue;
            content_task(&cfg->content[i], i, m, mesh, &tl->tasks[tl->ntasks++]);
        }
    }
    return 0;
}
