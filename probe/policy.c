/*
 * policy.c - what the member lets its probe do, whatever the controller
 * asks (no I/O).  The probe runs inside the member's network: a hostile
 * or compromised controller must not turn it into a packet cannon, nor
 * into a scanner of the member's own hosts.  A task list is checked as a
 * whole before it replaces the running one (probe_policy_check_tasks);
 * an address the probe resolves itself is checked before it is used
 * (probe_policy_check_addr); and the scheduler's token buckets
 * (probe_budget_*) hold the rate whatever the spacing of attempts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

/* Rough header octets of one packet: IPv6 (40) and UDP (8) or ICMP (8). */
#define HDR_OCTETS 48
/* What an attempt of a connection method sends, estimated from the
 * handshakes: SYN, ACK, FIN, RST for tcp; ClientHello and the client's
 * Finished on top for tls; the GET on top for http. */
#define TCP_PACKETS  4
#define TLS_PACKETS  7
#define HTTP_PACKETS 9
#define TCP_OCTETS   (TCP_PACKETS * 60)
#define TLS_OCTETS   (TLS_PACKETS * 60 + 700)
#define HTTP_OCTETS  (HTTP_PACKETS * 60 + 700)

void probe_policy_defaults(struct probe_policy *pol)
{
    memset(pol, 0, sizeof(*pol));
    probe_prefix_list_parse(PROBE_POLICY_TARGETS_DEFAULT, pol->targets, PROBE_PREFIX_MAX,
                            &pol->ntargets, NULL, 0);
    pol->max_rate = PROBE_POLICY_RATE_DEFAULT;
    pol->max_bitrate = PROBE_POLICY_BITRATE_DEFAULT;
    pol->min_interval_ms = PROBE_POLICY_INTERVAL_DEFAULT;
    pol->max_size = PROBE_POLICY_SIZE_DEFAULT;
    pol->max_tasks = PROBE_POLICY_TASKS_DEFAULT;
    pol->dscp = UINT64_MAX;
}

/* One value or range of allow_dscp, "46" or "8-15"; 0 or -EINVAL. */
static int dscp_item(const char *item, uint64_t *mask)
{
    unsigned long lo, hi;
    char *end;

    lo = strtoul(item, &end, 10);
    if (end == item || lo > 63)
        return -EINVAL;
    hi = lo;
    if (*end == '-') {
        const char *second = end + 1;

        hi = strtoul(second, &end, 10);
        if (end == second || hi > 63 || hi < lo)
            return -EINVAL;
    }
    if (*end != '\0')
        return -EINVAL;
    for (unsigned long d = lo; d <= hi; d++)
        *mask |= 1ull << d;
    return 0;
}

int probe_dscp_list_parse(const char *v, uint64_t *mask, char *why, size_t len)
{
    char buf[256], *save = NULL;

    *mask = 0;
    if (strcmp(v, "all") == 0) {
        *mask = UINT64_MAX;
        return 0;
    }
    if (snprintf(buf, sizeof(buf), "%s", v) >= (int)sizeof(buf)) {
        snprintf(why, len, "allow_dscp is longer than %zu characters", sizeof(buf) - 1);
        return -EINVAL;
    }
    for (char *it = strtok_r(buf, ", \t", &save); it != NULL;
         it = strtok_r(NULL, ", \t", &save)) {
        if (dscp_item(it, mask) < 0) {
            snprintf(why, len,
                     "allow_dscp: '%s' is not a DSCP value (0 to 63) or a range of them "
                     "(8-15)",
                     it);
            return -EINVAL;
        }
    }
    if (*mask == 0) {
        snprintf(why, len, "allow_dscp names no value: 'all', or values like '0, 46'");
        return -EINVAL;
    }
    return 0;
}

/* The address of sa as a prefix of full length; a v4-mapped IPv6 address
 * is its IPv4 address, so that ::ffff:127.0.0.1 is loopback. */
static int prefix_of(const struct sockaddr *sa, struct probe_prefix *pf)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(pf, 0, sizeof(*pf));
    if (sa->sa_family == AF_INET) {
        pf->family = AF_INET;
        pf->len = 32;
        memcpy(pf->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family != AF_INET6)
        return -EAFNOSUPPORT;
    {
        const uint8_t *a =
            ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;

        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            pf->family = AF_INET;
            pf->len = 32;
            memcpy(pf->addr, a + 12, 4);
        } else {
            pf->family = AF_INET6;
            pf->len = 128;
            memcpy(pf->addr, a, 16);
        }
    }
    return 0;
}

static int prefix_covers(const struct probe_prefix *pf, const struct probe_prefix *a)
{
    unsigned whole = pf->len / 8, rest = pf->len % 8;

    if (pf->family != a->family)
        return 0;
    if (memcmp(pf->addr, a->addr, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    return ((pf->addr[whole] ^ a->addr[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

int probe_prefix_match(const struct probe_prefix *pf, size_t n, const struct sockaddr *sa)
{
    struct probe_prefix a;

    if (prefix_of(sa, &a) < 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (prefix_covers(&pf[i], &a))
            return 1;
    return 0;
}

/* Clears the host bits, so that 10.1.2.3/8 means 10.0.0.0/8. */
static void clear_host_bits(struct probe_prefix *pf)
{
    unsigned whole = pf->len / 8, rest = pf->len % 8,
             size = pf->family == AF_INET ? 4 : 16;

    if (whole < size && rest != 0)
        pf->addr[whole++] &= (uint8_t)(0xff << (8 - rest));
    for (unsigned i = whole; i < size; i++)
        pf->addr[i] = 0;
}

int probe_prefix_parse(const char *s, struct probe_prefix *pf)
{
    char buf[PROTO_ADDRSTR_MAX + 5], *slash, *end;
    unsigned long len;
    unsigned max;

    if (strlen(s) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, s);
    memset(pf, 0, sizeof(*pf));
    slash = strchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    if (inet_pton(AF_INET, buf, pf->addr) == 1)
        pf->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, pf->addr) == 1)
        pf->family = AF_INET6;
    else
        return -EINVAL;
    max = pf->family == AF_INET ? 32 : 128;
    len = max;
    if (slash != NULL) {
        if (slash[1] < '0' || slash[1] > '9')
            return -EINVAL;
        len = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || len > max)
            return -EINVAL;
    }
    pf->len = (uint8_t)len;
    clear_host_bits(pf);
    return 0;
}

int probe_prefix_list_parse(const char *v, struct probe_prefix *out, size_t max,
                            uint32_t *n, char *err, size_t errlen)
{
    char tmp[2048], *save = NULL;

    *n = 0;
    if (strlen(v) >= sizeof(tmp)) {
        if (err != NULL)
            snprintf(err, errlen, "prefix list too long");
        return -EINVAL;
    }
    strcpy(tmp, v);
    if (strcmp(tmp, "none") == 0)
        return 0;
    for (char *tok = strtok_r(tmp, ", \t", &save); tok;
         tok = strtok_r(NULL, ", \t", &save)) {
        if (*n == max) {
            if (err != NULL)
                snprintf(err, errlen, "more than %zu prefixes", max);
            return -EINVAL;
        }
        if (probe_prefix_parse(tok, &out[*n]) < 0) {
            if (err != NULL)
                snprintf(err, errlen,
                         "'%.60s' is not an IPv4 or IPv6 prefix (ADDRESS[/LENGTH])", tok);
            return -EINVAL;
        }
        (*n)++;
    }
    return 0;
}

/* Loopback, link-local and unspecified addresses (a connect to 0.0.0.0
 * or :: reaches this host), in either family. */
static int is_local_kind(const struct sockaddr *sa)
{
    static struct probe_prefix local[6];
    static int ready;
    static const char *const text[] = {"127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/32",
                                       "::1/128",     "fe80::/10",      "::/128"};

    if (!ready) {
        for (size_t i = 0; i < 6; i++)
            probe_prefix_parse(text[i], &local[i]);
        ready = 1;
    }
    return probe_prefix_match(local, 6, sa);
}

/* Multicast and the limited broadcast reach every host of a LAN at once:
 * never a measurement target, whatever allow_targets says. */
static int is_group(const struct sockaddr *sa)
{
    static struct probe_prefix group[3];
    static int ready;
    static const char *const text[] = {"224.0.0.0/4", "255.255.255.255/32", "ff00::/8"};

    if (!ready) {
        for (size_t i = 0; i < 3; i++)
            probe_prefix_parse(text[i], &group[i]);
        ready = 1;
    }
    return probe_prefix_match(group, 3, sa);
}

int probe_policy_is_local(const struct probe_policy_own *own, const struct sockaddr *sa)
{
    return is_local_kind(sa) ||
           (own != NULL && probe_prefix_match(own->addrs, own->n, sa));
}

/* tcp, tls, http and dns talk to services: these are kept off the host. */
static int method_is_service(uint8_t method)
{
    return method == PROTO_METHOD_TCP || method == PROTO_METHOD_TLS ||
           method == PROTO_METHOD_HTTP || method == PROTO_METHOD_DNS;
}

int probe_policy_check_addr(const struct probe_policy *pol,
                            const struct probe_policy_own *own, uint8_t method,
                            const struct sockaddr *sa, char *why, size_t len)
{
    char a[PROTO_ADDRSTR_MAX] = "?";

    proto_addr_ntop(sa, a, sizeof(a));
    if (is_group(sa)) {
        snprintf(why, len, "policy allow_targets: %s is a multicast or broadcast address",
                 a);
        return -EACCES;
    }
    if (!probe_prefix_match(pol->targets, pol->ntargets, sa)) {
        snprintf(why, len, "policy allow_targets: %s is outside the allowed prefixes", a);
        return -EACCES;
    }
    if (method_is_service(method) && probe_policy_is_local(own, sa) &&
        !probe_prefix_match(pol->local, pol->nlocal, sa)) {
        snprintf(why, len,
                 "policy allow_local: %s is this host (loopback, link-local or its own)",
                 a);
        return -EACCES;
    }
    return 0;
}

uint32_t probe_policy_packets(const struct proto_task *t)
{
    switch (t->method) {
    case PROTO_METHOD_TCP:
        return TCP_PACKETS;
    case PROTO_METHOD_TLS:
        return TLS_PACKETS;
    case PROTO_METHOD_HTTP:
        return t->tls ? HTTP_PACKETS + TLS_PACKETS - TCP_PACKETS : HTTP_PACKETS;
    default:
        return 1; /* stamp, icmp, dns: one datagram per attempt */
    }
}

uint32_t probe_policy_octets(const struct proto_task *t)
{
    switch (t->method) {
    case PROTO_METHOD_STAMP:
        return t->size + HDR_OCTETS;
    case PROTO_METHOD_ICMP:
        return (uint32_t)probe_icmp_data_len(t->size) + PROBE_ICMP_HDR_LEN + 40;
    case PROTO_METHOD_TCP:
        return TCP_OCTETS;
    case PROTO_METHOD_TLS:
        return TLS_OCTETS;
    case PROTO_METHOD_HTTP:
        return (t->tls ? HTTP_OCTETS + TLS_OCTETS : HTTP_OCTETS) +
               (uint32_t)strlen(t->path) + (uint32_t)strlen(t->host);
    case PROTO_METHOD_DNS:
        return HDR_OCTETS + 12 + 4 + (uint32_t)strlen(t->qname) + 2;
    default:
        return HDR_OCTETS;
    }
}

/* "task 17 (stamp to 192.0.2.1)": how a refusal names the task. */
static void name_task(const struct proto_task *t, char *buf, size_t len)
{
    snprintf(buf, len, "task %u (%s to %s)", t->id, proto_method_name(t->method),
             t->addr[0] != '\0' ? t->addr : t->host);
}

/* The rules about one task alone; 0 or -EPERM with why. */
static int check_task(const struct probe_policy *pol, const struct probe_policy_own *own,
                      const struct proto_task *t, char *why, size_t len)
{
    char name[PROTO_HOST_MAX + 64], addr_why[PROTO_REASON_MAX];
    struct sockaddr_storage ss;
    socklen_t sl;

    name_task(t, name, sizeof(name));
    if (t->interval_ms < pol->min_interval_ms) {
        snprintf(why, len,
                 "policy min_interval: %.200s: interval %u ms, shortest allowed %u ms",
                 name, t->interval_ms, pol->min_interval_ms);
        return -EPERM;
    }
    if (!(pol->dscp >> t->dscp & 1)) {
        snprintf(why, len, "policy allow_dscp: %.200s: DSCP %u is not allowed", name,
                 t->dscp);
        return -EPERM;
    }
    if ((t->method == PROTO_METHOD_STAMP || t->method == PROTO_METHOD_ICMP) &&
        t->size > pol->max_size) {
        snprintf(why, len, "policy max_size: %.200s: %u octets, largest allowed %u", name,
                 t->size, pol->max_size);
        return -EPERM;
    }
    if (t->addr[0] == '\0')
        return 0; /* a name: its address is checked when it resolves */
    if (proto_addr_parse(t->addr, t->port, &ss, &sl) < 0) {
        snprintf(why, len, "policy allow_targets: %.200s: not an address", name);
        return -EPERM;
    }
    if (probe_policy_check_addr(pol, own, t->method, (struct sockaddr *)&ss, addr_why,
                                sizeof(addr_why)) < 0) {
        /* "policy RULE: task ...: ADDR is ..." */
        const char *rule_end = strchr(addr_why, ':');
        int rule_len = rule_end != NULL ? (int)(rule_end - addr_why) : 0;

        snprintf(why, len, "%.*s: %.120s:%.120s", rule_len, addr_why, name,
                 rule_end != NULL ? rule_end + 1 : addr_why);
        return -EPERM;
    }
    return 0;
}

int probe_policy_check_tasks(const struct probe_policy *pol,
                             const struct probe_policy_own *own,
                             const struct proto_tasks *tl, char *why, size_t len)
{
    double pps = 0, bps = 0;
    uint32_t top = 0;
    double top_pps = -1;

    if (tl->ntasks > pol->max_tasks) {
        snprintf(why, len, "policy max_tasks: %u tasks, at most %u allowed", tl->ntasks,
                 pol->max_tasks);
        return -EPERM;
    }
    for (uint32_t i = 0; i < tl->ntasks; i++) {
        const struct proto_task *t = &tl->tasks[i];
        double per_s = 1000.0 / (t->interval_ms ? t->interval_ms : 1);

        if (check_task(pol, own, t, why, len) < 0)
            return -EPERM;
        pps += per_s * probe_policy_packets(t);
        bps += per_s * probe_policy_octets(t) * 8.0;
        if (per_s * probe_policy_packets(t) > top_pps) {
            top_pps = per_s * probe_policy_packets(t);
            top = i;
        }
    }
    if (pps > pol->max_rate) {
        char name[PROTO_HOST_MAX + 64];

        name_task(&tl->tasks[top], name, sizeof(name));
        snprintf(why, len,
                 "policy max_rate: the list needs %.0f packets/s, at most %u allowed "
                 "(busiest %.120s)",
                 pps, pol->max_rate, name);
        return -EPERM;
    }
    if (bps > (double)pol->max_bitrate) {
        snprintf(why, len,
                 "policy max_bitrate: the list needs %.0f bits/s, at most %llu allowed",
                 bps, (unsigned long long)pol->max_bitrate);
        return -EPERM;
    }
    return 0;
}

/* ---- the runtime backstop -------------------------------------------------- */

/*
 * Two token buckets (packets and bits), each holding at most a tenth of a
 * second of its rate: whatever the spacing (Poisson gaps, many tasks due
 * in one tick) no second sends more than the budget and a tenth.
 */
void probe_budget_init(struct probe_budget *b, const struct probe_policy *pol,
                       uint64_t now_ms)
{
    b->rate = pol->max_rate;
    b->bitrate = pol->max_bitrate;
    b->pkt_cap = b->rate / 10.0 > 1 ? b->rate / 10.0 : 1;
    b->bit_cap = b->bitrate / 10.0 > 12000 ? b->bitrate / 10.0 : 12000;
    b->pkts = b->pkt_cap;
    b->bits = b->bit_cap;
    b->last_ms = now_ms;
}

static void refill(struct probe_budget *b, uint64_t now_ms)
{
    double dt = now_ms > b->last_ms ? (double)(now_ms - b->last_ms) / 1000.0 : 0;

    b->last_ms = now_ms > b->last_ms ? now_ms : b->last_ms;
    b->pkts = b->pkts + dt * b->rate < b->pkt_cap ? b->pkts + dt * b->rate : b->pkt_cap;
    b->bits =
        b->bits + dt * b->bitrate < b->bit_cap ? b->bits + dt * b->bitrate : b->bit_cap;
}

uint64_t probe_budget_take(struct probe_budget *b, uint32_t packets, uint32_t octets,
                           uint64_t now_ms)
{
    double need_p = packets, need_b = octets * 8.0, wait = 0;

    if (b->rate == 0)
        return 0; /* no budget set: the one-shot command */
    refill(b, now_ms);
    /* An attempt bigger than a bucket waits for a full one. */
    need_p = need_p < b->pkt_cap ? need_p : b->pkt_cap;
    need_b = need_b < b->bit_cap ? need_b : b->bit_cap;
    if (b->pkts >= need_p && b->bits >= need_b) {
        b->pkts -= need_p;
        b->bits -= need_b;
        return 0;
    }
    if (b->pkts < need_p)
        wait = (need_p - b->pkts) / b->rate;
    if (b->bits < need_b && (need_b - b->bits) / b->bitrate > wait)
        wait = (need_b - b->bits) / b->bitrate;
    b->deferred++;
    return (uint64_t)(wait * 1000.0) + 1;
}
