/*
 * guard.c - what a member may say, as pure functions: the addresses and
 * STAMP port of a HELLO against the exchange's prefixes, a record against
 * the task it names and the clock, and the token buckets that bound how
 * often a probe may say HELLO and how many records it may send.
 *
 * A client certificate makes a probe a member, not a trusted one: every
 * other probe sends STAMP to the addresses it announces, and the map shows
 * what it reports.  channel_io.c refuses what breaks these rules.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

/* Loopback only: what a controller without [exchange] prefixes allows. */
static const struct ctl_prefix loopback[] = {
    {.family = AF_INET, .addr = {127}, .len = 8},
    {.family = AF_INET6, .addr = {[15] = 1}, .len = 128},
};

static int parse_addr(const char *s, int *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -EINVAL;
}

int ctl_prefix_parse(const char *s, struct ctl_prefix *p)
{
    char a[PROTO_ADDRSTR_MAX];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    unsigned long len;
    char *end;
    int max;

    if (alen == 0 || alen >= sizeof(a))
        return -EINVAL;
    memcpy(a, s, alen);
    a[alen] = '\0';
    if (parse_addr(a, &p->family, p->addr) < 0)
        return -EINVAL;
    max = p->family == AF_INET ? 32 : 128;
    len = (unsigned long)max;
    if (slash != NULL) {
        if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
            return -EINVAL;
        len = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || len > (unsigned long)max)
            return -EINVAL;
    }
    p->len = (uint8_t)len;
    /* Host bits set (192.0.2.1/24) are most likely a typo: refuse them. */
    for (int bit = p->len; bit < max; bit++)
        if (p->addr[bit / 8] & (0x80 >> (bit % 8)))
            return -EINVAL;
    return 0;
}

int ctl_prefix_contains(const struct ctl_prefix *p, const char *a)
{
    uint8_t addr[16];
    int family;
    unsigned full = p->len / 8, rest = p->len % 8;

    if (parse_addr(a, &family, addr) < 0 || family != p->family)
        return 0;
    if (memcmp(addr, p->addr, full) != 0)
        return 0;
    return rest == 0 || ((addr[full] ^ p->addr[full]) & (0xff00 >> rest) & 0xff) == 0;
}

static int inside_any(const struct ctl_prefix *v, size_t n, const char *a)
{
    for (size_t i = 0; i < n; i++)
        if (ctl_prefix_contains(&v[i], a))
            return 1;
    return 0;
}

/* The prefixes a probe's addresses must lie in, and how to name them. */
static const struct ctl_prefix *allowed(const struct ctl_exchange *x, const char *id,
                                        size_t *n, const char **what)
{
    for (size_t i = 0; i < x->nprobes; i++) {
        if (strcmp(x->probes[i].id, id) == 0) {
            *n = x->probes[i].n;
            *what = "its [exchange] probe.ID prefixes";
            return x->probes[i].v;
        }
    }
    if (x->nprefixes == 0) {
        *n = sizeof(loopback) / sizeof(loopback[0]);
        *what = "loopback, as [exchange] prefixes is not set";
        return loopback;
    }
    *n = x->nprefixes;
    *what = "the [exchange] prefixes";
    return x->prefixes;
}

enum ctl_hello_rule ctl_hello_check(const struct ctl_exchange *x,
                                    const struct proto_hello *h, char *why, size_t len)
{
    const char *what;
    size_t n;
    const struct ctl_prefix *v = allowed(x, h->probe_id, &n, &what);

    for (uint32_t i = 0; i < h->naddrs; i++) {
        if (!inside_any(v, n, h->addrs[i])) {
            snprintf(why, len, "address %s is outside %s", h->addrs[i], what);
            return CTL_HELLO_ADDRESS;
        }
    }
    if (h->stamp_port < x->port_lo || h->stamp_port > x->port_hi) {
        snprintf(why, len, "STAMP port %u is outside [exchange] stamp_ports %u-%u",
                 h->stamp_port, x->port_lo, x->port_hi);
        return CTL_HELLO_PORT;
    }
    return CTL_HELLO_OK;
}

double ctl_bucket_spend(struct ctl_bucket *b, double rate, double burst, double n,
                        uint64_t now_ms)
{
    if (b->at_ms == 0)
        b->tokens = burst; /* a new bucket starts full */
    else if (now_ms > b->at_ms)
        b->tokens = fmin(burst, b->tokens + rate * (double)(now_ms - b->at_ms) / 1000.0);
    b->at_ms = now_ms ? now_ms : 1;
    b->tokens -= n;
    return b->tokens;
}

const char *ctl_record_rule_name(enum ctl_record_rule r)
{
    static const char *const names[CTL_REC_RULES] = {"ok", "task", "window", "values"};

    return (unsigned)r < CTL_REC_RULES ? names[r] : "?";
}

static enum ctl_record_rule check_task(const struct ctl_task_ref *t,
                                       const struct proto_result *r, char *why,
                                       size_t len)
{
    if (t == NULL) {
        snprintf(why, len, "task %u was not given to this probe", r->task_id);
        return CTL_REC_TASK;
    }
    if (t->method != r->method || strcmp(t->target_id, r->target_id) != 0) {
        snprintf(why, len, "task %u is %s to %s, not %s to %s", r->task_id,
                 proto_method_name(t->method), t->target_id, proto_method_name(r->method),
                 r->target_id);
        return CTL_REC_TASK;
    }
    return CTL_REC_OK;
}

/* A record is sent after its window closed; a probe's clock may be off. */
static enum ctl_record_rule check_window(const struct proto_result *r, int64_t now_ms,
                                         char *why, size_t len)
{
    /* Its end, start + wl, past now + skew; written so as not to overflow,
     * since window_start_ms is any int64. */
    if (r->window_start_ms > now_ms + CTL_CLOCK_SKEW_MS - (int64_t)r->window_s * 1000) {
        snprintf(why, len, "window %lld ends more than %d s ahead of now",
                 (long long)r->window_start_ms, CTL_CLOCK_SKEW_MS / 1000);
        return CTL_REC_WINDOW;
    }
    if (r->window_start_ms < now_ms - CTL_RECORD_AGE_MS) {
        snprintf(why, len, "window %lld is older than %lld days",
                 (long long)r->window_start_ms,
                 (long long)(CTL_RECORD_AGE_MS / 86400000));
        return CTL_REC_WINDOW;
    }
    return CTL_REC_OK;
}

static enum ctl_record_rule bad_value(char *why, size_t len, const char *what)
{
    snprintf(why, len, "%s", what);
    return CTL_REC_VALUES;
}

static uint64_t outcomes_sum(const struct proto_result *r)
{
    uint64_t sum = 0;

    for (unsigned i = PROTO_OUT_OK + 1; i < PROTO_OUTCOME_MAX; i++)
        sum += r->outcomes[i];
    return sum;
}

/* The sketch must hold the replies, inside [min, max] up to its error. */
static int sketch_fits(const struct proto_result *r)
{
    const struct proto_sketch *s = &r->sketch;
    double lo, hi, slack = 2 * PROTO_SKETCH_ALPHA;

    if (s->count > (uint64_t)r->received + r->duplicates)
        return 0;
    if (s->count == 0)
        return 1;
    lo = proto_sketch_quantile(s, 0.0);
    hi = proto_sketch_quantile(s, 1.0);
    if (isnan(lo) || isnan(hi) || lo > hi)
        return 0;
    return hi <= (double)r->rtt_max_ns * (1 + slack) + PROTO_SKETCH_MIN_NS &&
           lo >= (double)r->rtt_min_ns * (1 - slack) - PROTO_SKETCH_MIN_NS;
}

static enum ctl_record_rule check_values(const struct ctl_task_ref *t,
                                         const struct proto_result *r, char *why,
                                         size_t len)
{
    uint64_t limit_ns = ((uint64_t)t->rtt_max_ms + CTL_TIMEOUT_SLACK_MS) * 1000000u;

    if (r->received > r->sent || r->lost > r->sent ||
        (uint64_t)r->received + r->lost > r->sent)
        return bad_value(why, len, "received plus lost exceed sent");
    if (outcomes_sum(r) > r->lost)
        return bad_value(why, len, "the outcomes add up to more than lost");
    if (r->received == 0)
        return r->sketch.count == 0 && r->ipdv_count == 0
                   ? CTL_REC_OK
                   : bad_value(why, len, "RTTs of a window without replies");
    if (r->rtt_min_ns > r->rtt_max_ns)
        return bad_value(why, len, "minimum RTT above the maximum");
    if (r->rtt_max_ns > limit_ns) {
        snprintf(why, len, "RTT of %llu ns beyond the %u ms the task can measure",
                 (unsigned long long)r->rtt_max_ns, t->rtt_max_ms);
        return CTL_REC_VALUES;
    }
    /* Each |RTT(i) - RTT(i-1)| is at most max - min (RFC 3393). */
    if (r->ipdv_count > r->received ||
        (r->ipdv_count > 0 &&
         r->ipdv_sum_ns / r->ipdv_count > r->rtt_max_ns - r->rtt_min_ns))
        return bad_value(why, len, "jitter beyond the RTT's range");
    if (!sketch_fits(r))
        return bad_value(why, len, "RTT distribution outside the minimum and maximum");
    return CTL_REC_OK;
}

enum ctl_record_rule ctl_record_check(const struct ctl_task_ref *t,
                                      const struct proto_result *r, int64_t now_ms,
                                      char *why, size_t len)
{
    enum ctl_record_rule rule = check_task(t, r, why, len);

    if (rule == CTL_REC_OK)
        rule = check_window(r, now_ms, why, len);
    if (rule == CTL_REC_OK)
        rule = check_values(t, r, why, len);
    return rule;
}

void ctl_source_key(const struct sockaddr *sa, uint8_t key[CTL_SOURCE_KEY])
{
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

    memset(key, 0, CTL_SOURCE_KEY);
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
        key[0] = 4;
        memcpy(key + 1, s6->sin6_addr.s6_addr + 12, 4);
    } else if (sa->sa_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, s6->sin6_addr.s6_addr, 8);
    }
}
