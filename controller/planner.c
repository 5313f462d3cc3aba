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

/* The STAMP task of src to dst; 0 when that pair is not measured. */
static int stamp_task(const struct ctl_peer *src, const struct ctl_peer *dst,
                      const struct ctl_mesh *mesh, struct proto_task *t)
{
    const struct proto_hello *me = src->hello, *h = dst->hello;
    const char *addr;

    if (src == dst || strcmp(h->probe_id, me->probe_id) == 0)
        return 0;
    /* Both ends run STAMP: one sends, the other reflects. */
    if (!(me->caps & PROTO_CAP_STAMP) || !(h->caps & PROTO_CAP_STAMP))
        return 0;
    addr = pick_addr(me, h);
    if (addr == NULL)
        return 0; /* no common address family: nothing to measure */
    memset(t, 0, sizeof(*t));
    t->id = ctl_stamp_task_id(dst->key);
    t->method = PROTO_METHOD_STAMP;
    strcpy(t->target_id, h->probe_id);
    strcpy(t->addr, addr);
    t->port = h->stamp_port;
    t->interval_ms = mesh->interval_ms;
    t->timeout_ms = mesh->timeout_ms;
    t->size = mesh->size;
    t->dscp = mesh->dscp;
    t->poisson = mesh->poisson;
    return 1;
}

uint32_t ctl_stamp_task_id(int64_t key)
{
    return (uint32_t)(key * 16 + PROTO_METHOD_STAMP);
}

int ctl_plan_tasks(const struct ctl_peer *peers, size_t npeers, size_t self,
                   const struct ctl_config *cfg, uint64_t generation,
                   struct proto_tasks *tl)
{
    const struct ctl_mesh *mesh = &cfg->mesh;
    uint32_t caps = peers[self].hello->caps;
    size_t cap = npeers + cfg->ncontent * PROTO_METHOD_MAX;

    memset(tl, 0, sizeof(*tl));
    tl->generation = generation;
    tl->window_s = mesh->window_s;
    tl->tasks = calloc(cap ? cap : 1, sizeof(*tl->tasks));
    if (tl->tasks == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < npeers && tl->ntasks < PROTO_TASKS_MAX; i++)
        tl->ntasks +=
            (uint32_t)stamp_task(&peers[self], &peers[i], mesh, &tl->tasks[tl->ntasks]);
    /* Methods in their numeric order, whatever order the file listed. */
    for (size_t i = 0; i < cfg->ncontent; i++) {
        for (int m = PROTO_METHOD_ICMP; m <= PROTO_METHOD_MAX; m++) {
            if (!(cfg->content[i].methods & (1u << m)) || !(caps & ctl_method_cap(m)) ||
                tl->ntasks >= PROTO_TASKS_MAX)
                continue;
            content_task(&cfg->content[i], i, m, mesh, &tl->tasks[tl->ntasks++]);
        }
    }
    return 0;
}

static int has_id(const uint32_t *ids, size_t n, uint32_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id;
}

int ctl_plan_delta(const struct ctl_peer *peers, size_t self,
                   const struct ctl_config *cfg, const struct ctl_change *changes,
                   size_t nchanges, const uint32_t *have, size_t nhave,
                   struct proto_tasks *d)
{
    size_t room = nhave < PROTO_TASKS_MAX ? PROTO_TASKS_MAX - nhave : 0;

    memset(d, 0, sizeof(*d));
    d->window_s = cfg->mesh.window_s;
    d->tasks = calloc(nchanges ? nchanges : 1, sizeof(*d->tasks));
    d->del = calloc(nchanges ? nchanges : 1, sizeof(*d->del));
    if (d->tasks == NULL || d->del == NULL) {
        free(d->tasks);
        free(d->del);
        d->tasks = NULL;
        d->del = NULL;
        return -ENOMEM;
    }
    for (size_t i = 0; i < nchanges; i++) {
        uint32_t id = ctl_stamp_task_id(changes[i].key);
        struct proto_task *t = &d->tasks[d->ntasks];
        int had = has_id(have, nhave, id);

        if (changes[i].peer != CTL_GONE &&
            stamp_task(&peers[self], &peers[changes[i].peer], &cfg->mesh, t)) {
            /* A new task only while the list has room, as the whole
             * list is cut at PROTO_TASKS_MAX. */
            if (had || room > 0) {
                room -= had ? 0 : 1;
                d->ntasks++;
            }
        } else if (had) {
            d->del[d->ndel++] = id;
            room++;
        }
    }
    return 0;
}
