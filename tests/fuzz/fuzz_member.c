/*
 * fuzz_member.c - what the controller checks of a member's HELLO and
 * records (controller/guard.c), on whatever the message decoder accepts.
 *
 * The input is a control message payload (as fuzz_msg).  A HELLO is checked
 * against a fixed [exchange]; one it accepts must have every address inside
 * the prefixes and its port in range.  Each record of a RESULTS is checked
 * against its own task (so that the window and value rules are reached) at
 * a fixed clock; one accepted must hold what the map relies on.
 */
#include <string.h>

#include "controller.h"
#include "fuzz.h"

#define NOW_MS 1800000000000LL

static void check_hello(const struct proto_hello *h)
{
    struct ctl_exchange x = {.port_lo = 862, .port_hi = 40000};
    char why[PROTO_REASON_MAX] = "";
    enum ctl_hello_rule rule;

    FUZZ_CHECK(ctl_prefix_parse("127.0.0.0/8", &x.prefixes[0]) == 0);
    FUZZ_CHECK(ctl_prefix_parse("fd00::/8", &x.prefixes[1]) == 0);
    x.nprefixes = 2;
    rule = ctl_hello_check(&x, h, why, sizeof(why));
    FUZZ_CHECK((rule == CTL_HELLO_OK) == (why[0] == '\0'));
    if (rule != CTL_HELLO_OK)
        return;
    FUZZ_CHECK(h->stamp_port >= 862 && h->stamp_port <= 40000);
    for (uint32_t i = 0; i < h->naddrs; i++)
        FUZZ_CHECK(ctl_prefix_contains(&x.prefixes[0], h->addrs[i]) ||
                   ctl_prefix_contains(&x.prefixes[1], h->addrs[i]));
}

/* Checks r at the clock now; what it accepts must hold. */
static void check_record_at(const struct proto_result *r, int64_t now)
{
    struct ctl_task_ref t = {.method = r->method, .rtt_max_ms = 1000};
    char why[PROTO_REASON_MAX] = "";
    enum ctl_record_rule rule;

    memcpy(t.target_id, r->target_id, sizeof(t.target_id));
    rule = ctl_record_check(&t, r, now, why, sizeof(why));
    FUZZ_CHECK(rule < CTL_REC_RULES && (rule == CTL_REC_OK) == (why[0] == '\0'));
    FUZZ_CHECK(ctl_record_check(NULL, r, now, why, sizeof(why)) == CTL_REC_TASK);
    if (rule != CTL_REC_OK)
        return;
    FUZZ_CHECK((uint64_t)r->received + r->lost <= r->sent);
    FUZZ_CHECK(r->window_start_ms >= now - CTL_RECORD_AGE_MS &&
               r->window_start_ms <= now + CTL_CLOCK_SKEW_MS);
    if (r->received > 0)
        FUZZ_CHECK(r->rtt_min_ns <= r->rtt_max_ns &&
                   r->rtt_max_ns <= (1000 + CTL_TIMEOUT_SLACK_MS) * 1000000ull);
}

/* At a fixed clock, and at the end of the record's own window, so that the
 * value rules are reached whatever its date. */
static void check_record(const struct proto_result *r)
{
    check_record_at(r, NOW_MS);
    if (r->window_start_ms > -(INT64_C(1) << 60) && r->window_start_ms < INT64_C(1) << 60)
        check_record_at(r, r->window_start_ms + (int64_t)r->window_s * 1000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_msg m;

    if (proto_msg_decode(data, size, &m) < 0)
        return 0;
    if (m.type == PROTO_MSG_HELLO)
        check_hello(&m.u.hello);
    for (uint32_t i = 0; m.type == PROTO_MSG_RESULTS && i < m.u.results.nresults; i++)
        check_record(&m.u.results.results[i]);
    proto_msg_free(&m);
    return 0;
}
