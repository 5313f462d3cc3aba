/*
 * wheel.c - a hashed timer wheel of 1 ms slots (G. Varghese and T. Lauck,
 * "Hashed and Hierarchical Timing Wheels", 1987, scheme 6).
 *
 * Slot i holds the entries whose due time is i modulo the number of slots;
 * an entry due more than one turn ahead stays in its slot, skipped until
 * its turn comes.  Invariant: every entry in the wheel is due at or after
 * now_ms (an entry added late is moved to now_ms), so expiring walks the
 * slots from now_ms forward and never looks back.
 */
#include <errno.h>
#include <stdlib.h>

#include "probe.h"

int probe_wheel_init(struct probe_wheel *w, uint32_t slots, uint64_t now_ms)
{
    uint32_t n = 1;

    while (n < slots && n < (1u << 24))
        n <<= 1;
    w->slots = calloc(n, sizeof(*w->slots));
    if (w->slots == NULL)
        return -ENOMEM;
    w->mask = n - 1;
    w->now_ms = now_ms;
    w->count = 0;
    return 0;
}

void probe_wheel_free(struct probe_wheel *w)
{
    free(w->slots);
    w->slots = NULL;
    w->count = 0;
}

void probe_wheel_add(struct probe_wheel *w, struct probe_wheel_entry *e, uint64_t due_ms)
{
    struct probe_wheel_entry **head;

    if (due_ms < w->now_ms)
        due_ms = w->now_ms;
    e->due_ms = due_ms;
    head = &w->slots[due_ms & w->mask];
    e->next = *head;
    if (e->next != NULL)
        e->next->pprev = &e->next;
    e->pprev = head;
    *head = e;
    w->count++;
}

void probe_wheel_del(struct probe_wheel *w, struct probe_wheel_entry *e)
{
    if (e->pprev == NULL)
        return;
    *e->pprev = e->next;
    if (e->next != NULL)
        e->next->pprev = e->pprev;
    e->next = NULL;
    e->pprev = NULL;
    w->count--;
}

/* The first entry of slot s due at or before t, or NULL. */
static struct probe_wheel_entry *due_in_slot(struct probe_wheel *w, uint64_t s,
                                             uint64_t t)
{
    for (struct probe_wheel_entry *e = w->slots[s & w->mask]; e != NULL; e = e->next)
        if (e->due_ms <= t)
            return e;
    return NULL;
}

/*
 * Walks from now_ms to t one slot at a time, but never more than one turn:
 * after a long stall every slot has been seen once, and what is due in
 * any of them is found in that turn.
 */
struct probe_wheel_entry *probe_wheel_expire(struct probe_wheel *w, uint64_t now_ms)
{
    struct probe_wheel_entry *e;
    uint64_t steps = 0;

    if (w->count == 0) {
        if (now_ms > w->now_ms)
            w->now_ms = now_ms;
        return NULL;
    }
    while (w->now_ms <= now_ms) {
        e = due_in_slot(w, w->now_ms, now_ms);
        if (e != NULL) {
            probe_wheel_del(w, e);
            return e;
        }
        if (w->now_ms == now_ms)
            break;
        if (++steps > w->mask) {
            w->now_ms = now_ms; /* a whole turn seen: nothing else can be due */
            break;
        }
        w->now_ms++;
    }
    return NULL;
}

/* Scans at most one turn from now_ms: the first slot holding an entry due
 * in this turn has the earliest one; when no slot does, the scan has seen
 * every entry, and best is the earliest of all. */
uint64_t probe_wheel_next(const struct probe_wheel *w)
{
    uint64_t best = UINT64_MAX, end = w->now_ms + w->mask + 1;

    if (w->count == 0)
        return UINT64_MAX;
    for (uint64_t s = w->now_ms; s < end; s++) {
        for (const struct probe_wheel_entry *e = w->slots[s & w->mask]; e != NULL;
             e = e->next)
            if (e->due_ms < best)
                best = e->due_ms;
        if (best <= s)
            return best < w->now_ms ? w->now_ms : best;
    }
    return best;
}
