/*
 * quota.c - how many lines a minute the log gives to one kind of noise.
 *
 * Anyone who can open a TCP connection can make the controller fail a
 * handshake or an HTTP request; a line for each would let them fill the
 * disk and drown what matters.  The first CTL_QUOTA_LINES of a minute are
 * logged in full (a single misconfigured client is then still diagnosed),
 * the rest counted, and the caller says how many in one line at its end.
 * No I/O here: the caller logs.
 */
#include "controller.h"

int ctl_quota_take(struct ctl_quota *q, uint64_t now_ms)
{
    if (q->start_ms == 0) {
        /* Loop time may be 0 at the very start: the minute is never 0. */
        q->start_ms = now_ms ? now_ms : 1;
        q->lines = 0;
        q->held = 0;
    }
    if (q->lines < CTL_QUOTA_LINES) {
        q->lines++;
        return 1;
    }
    q->held++;
    return 0;
}

int ctl_quota_roll(struct ctl_quota *q, uint64_t now_ms, uint64_t *held)
{
    *held = 0;
    if (q->start_ms == 0 || now_ms - q->start_ms < CTL_QUOTA_MS)
        return 0;
    *held = q->held;
    q->start_ms = 0;
    q->lines = 0;
    q->held = 0;
    return 1;
}
