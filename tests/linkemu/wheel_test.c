/*
 * wheel_test.c - the frame pool and the timer wheel: frames leave in due
 * order, equal times in the order they came, never early; the next due time
 * is exact; the horizon is enforced; an idle wheel starts over from now; the
 * pool hands out every buffer once.  A long random run checks all of it
 * against a plain priority queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_linkemu.h"
#include "linkemu.h"

/* A boot some days old, not on a slot boundary. */
#define T0       (400000ull * 1000000000ull + 12345)
#define MS       1000000ull
#define SLOT_NS  (1ull << LE_SLOT_SHIFT)
#define HORIZON  ((uint64_t)LE_WHEEL_SLOTS << LE_SLOT_SHIFT)
#define MAX_AWAY ((uint64_t)(LE_MAX_DELAY_MS * 1e6) + LE_HOLD_NS)

static struct le_wheel *w;

static void setup(void)
{
    ck_assert_int_eq(le_wheel_new(&w), 0);
}

static void teardown(void)
{
    le_wheel_free(w);
    w = NULL;
}

/* Takes a buffer, gives it due and tag (in ordinal), and puts it on the wheel. */
static uint32_t put(uint64_t due, uint64_t tag, uint64_t now)
{
    uint32_t i = le_pool_get(w);
    struct le_frame *f;

    ck_assert_uint_ne(i, LE_NONE);
    f = le_frame_meta(w, i);
    memset(f, 0, sizeof(*f));
    f->due_ns = due;
    f->ordinal = tag;
    ck_assert_int_eq(le_wheel_insert(w, i, now), 0);
    return i;
}

/* Pops at now, expects a frame, returns its tag and frees its buffer. */
static uint64_t pop_tag(uint64_t now)
{
    uint32_t i = le_wheel_pop(w, now);
    uint64_t tag;

    ck_assert_uint_ne(i, LE_NONE);
    ck_assert_uint_le(le_frame_meta(w, i)->due_ns, now);
    tag = le_frame_meta(w, i)->ordinal;
    le_pool_put(w, i);
    return tag;
}

START_TEST(pops_in_due_order)
{
    /* Same slot, neighbouring slots, far slots, inserted out of order. */
    static const uint64_t away[] = {
        300000, 100000, 5 * MS, 100001,    2000 * MS, SLOT_NS,      SLOT_NS - 1,
        0,      1,      70000,  4000 * MS, 65536 * 3, 65536 * 3 + 1};
    const size_t n = sizeof(away) / sizeof(away[0]);
    uint64_t last = 0, due;

    for (size_t k = 0; k < n; k++)
        put(T0 + away[k], T0 + away[k], T0);
    ck_assert_int_eq(le_wheel_next(w, &due), 0);
    ck_assert_uint_eq(due, T0);
    for (size_t k = 0; k < n; k++) {
        uint64_t tag = pop_tag(T0 + 5000 * MS);

        ck_assert_uint_ge(tag, last);
        last = tag;
    }
    ck_assert_uint_eq(le_wheel_pop(w, T0 + 5000 * MS), LE_NONE);
    ck_assert_int_eq(le_wheel_next(w, &due), -ENOENT);
}
END_TEST

START_TEST(equal_due_in_insertion_order)
{
    /* A later one first, then four at the same time, then an earlier one,
     * all in one slot: the four keep their order around the others. */
    put(T0 + 2000, 100, T0);
    for (uint64_t tag = 1; tag <= 4; tag++)
        put(T0 + 1000, tag, T0);
    put(T0 + 500, 0, T0);
    put(T0 + 1000, 5, T0);
    for (uint64_t tag = 0; tag <= 5; tag++)
        ck_assert_uint_eq(pop_tag(T0 + 3000), tag);
    ck_assert_uint_eq(pop_tag(T0 + 3000), 100);
}
END_TEST

START_TEST(nothing_before_due)
{
    uint64_t base = (T0 >> LE_SLOT_SHIFT) << LE_SLOT_SHIFT; /* a slot's start */

    /* Two in one slot and one in the next: each waits for its own time. */
    put(base + 10, 1, base);
    put(base + 20000, 2, base);
    put(base + SLOT_NS + 5, 3, base);
    ck_assert_uint_eq(le_wheel_pop(w, base + 9), LE_NONE);
    ck_assert_uint_eq(pop_tag(base + 10), 1);
    ck_assert_uint_eq(le_wheel_pop(w, base + 19999), LE_NONE);
    ck_assert_uint_eq(pop_tag(base + 20000), 2);
    ck_assert_uint_eq(le_wheel_pop(w, base + SLOT_NS), LE_NONE);
    ck_assert_uint_eq(le_wheel_pop(w, base + SLOT_NS + 4), LE_NONE);
    ck_assert_uint_eq(pop_tag(base + SLOT_NS + 5), 3);
}
END_TEST

START_TEST(next_is_exact)
{
    uint64_t due;

    ck_assert_int_eq(le_wheel_next(w, &due), -ENOENT);
    put(T0 + 3 * MS + 7, 1, T0);
    ck_assert_int_eq(le_wheel_next(w, &due), 0);
    ck_assert_uint_eq(due, T0 + 3 * MS + 7);
    put(T0 + 3 * MS + 3, 2, T0); /* the same slot, earlier */
    ck_assert_int_eq(le_wheel_next(w, &due), 0);
    ck_assert_uint_eq(due, T0 + 3 * MS + 3);
    put(T0 + 1000 * MS, 3, T0);
    put(T0 + 1, 4, T0);
    ck_assert_int_eq(le_wheel_next(w, &due), 0);
    ck_assert_uint_eq(due, T0 + 1);
    ck_assert_uint_eq(pop_tag(T0 + 2 * MS), 4);
    ck_assert_int_eq(le_wheel_next(w, &due), 0);
    ck_assert_uint_eq(due, T0 + 3 * MS + 3);
    ck_assert_uint_eq(pop_tag(T0 + 4 * MS), 2);
    ck_assert_uint_eq(pop_tag(T0 + 4 * MS), 1);
    ck_assert_int_eq(le_wheel_next(w, &due), 0);
    ck_assert_uint_eq(due, T0 + 1000 * MS);
    ck_assert_uint_eq(pop_tag(T0 + 1000 * MS), 3);
    ck_assert_int_eq(le_wheel_next(w, &due), -ENOENT);
}
END_TEST

/* A frame already due when it is inserted leaves at the next pop, first. */
START_TEST(already_due_leaves_first)
{
    uint64_t due;

    put(T0 + 1 * MS, 2, T0);
    put(T0 - 50 * MS, 1, T0 + 10); /* read before a long stall, say */
    ck_assert_int_eq(le_wheel_next(w, &due), 0);
    ck_assert_uint_eq(due, T0 - 50 * MS);
    ck_assert_uint_eq(pop_tag(T0 + 20), 1);
    ck_assert_uint_eq(le_wheel_pop(w, T0 + 20), LE_NONE);
    ck_assert_uint_eq(pop_tag(T0 + 1 * MS), 2);
}
END_TEST

/*
 * A regression: the cursor stayed where the last pop left it, so after the
 * wheel sat idle longer than its horizon every new frame was refused.
 */
START_TEST(idle_wheel_accepts_after_long_sleep)
{
    uint64_t now = T0, due;

    put(now + 1 * MS, 1, now);
    ck_assert_uint_eq(pop_tag(now + 1 * MS), 1);
    for (int k = 0; k < 4; k++) {
        /* 10 s, then 1000 s, ... of nothing. */
        now += 10 * 1000 * MS * (k == 0 ? 1 : 100 * (uint64_t)k);
        ck_assert_uint_eq(le_wheel_pop(w, now), LE_NONE);
        put(now + MAX_AWAY, 10 + (uint64_t)k, now);
        ck_assert_int_eq(le_wheel_next(w, &due), 0);
        ck_assert_uint_eq(due, now + MAX_AWAY);
        ck_assert_uint_eq(le_wheel_pop(w, now + MAX_AWAY - 1), LE_NONE);
        ck_assert_uint_eq(pop_tag(now + MAX_AWAY), 10 + (uint64_t)k);
    }
    /* Idle without a single pop in between: only inserts see the time pass. */
    now += 3600 * 1000 * MS;
    put(now + 2 * MS, 20, now);
    now += 3600 * 1000 * MS;
    ck_assert_uint_eq(pop_tag(now), 20);
    now += 3600 * 1000 * MS;
    put(now + MAX_AWAY, 21, now);
    ck_assert_uint_eq(pop_tag(now + MAX_AWAY), 21);
}
END_TEST

START_TEST(beyond_horizon_refused)
{
    uint64_t now = (T0 >> LE_SLOT_SHIFT) << LE_SLOT_SHIFT, due;
    uint32_t i = le_pool_get(w);

    le_frame_meta(w, i)->due_ns = now + HORIZON;
    ck_assert_int_eq(le_wheel_insert(w, i, now), -ERANGE);
    le_frame_meta(w, i)->due_ns = now + HORIZON + 12345 * MS;
    ck_assert_int_eq(le_wheel_insert(w, i, now), -ERANGE);
    ck_assert_int_eq(le_wheel_next(w, &due), -ENOENT); /* still the caller's */
    ck_assert_uint_eq(le_wheel_pop(w, now + 2 * HORIZON), LE_NONE);
    le_pool_put(w, i);
    /* The last slot of the horizon, and the longest a setting allows. */
    put(now + HORIZON - 1, 1, now);
    put(now + MAX_AWAY, 0, now);
    ck_assert_uint_eq(pop_tag(now + HORIZON), 0);
    ck_assert_uint_eq(pop_tag(now + HORIZON), 1);
}
END_TEST

START_TEST(pool_exhaustion)
{
    uint8_t *seen = calloc(LE_POOL_FRAMES, 1);
    uint32_t i, last = LE_NONE;

    ck_assert_ptr_nonnull(seen);
    for (uint32_t k = 0; k < LE_POOL_FRAMES; k++) {
        i = le_pool_get(w);
        ck_assert_uint_lt(i, LE_POOL_FRAMES);
        ck_assert_uint_eq(seen[i], 0);
        seen[i] = 1;
        /* Buffers do not overlap: each keeps what was written into it. */
        memset(le_frame_data(w, i), (int)(i & 0xff), LE_FRAME_MAX);
        last = i;
    }
    ck_assert_uint_eq(le_pool_get(w), LE_NONE);
    ck_assert_uint_eq(le_pool_get(w), LE_NONE);
    for (uint32_t k = 0; k < LE_POOL_FRAMES; k += 997) {
        ck_assert_uint_eq(le_frame_data(w, k)[0], k & 0xff);
        ck_assert_uint_eq(le_frame_data(w, k)[LE_FRAME_MAX - 1], k & 0xff);
    }
    le_pool_put(w, last);
    ck_assert_uint_eq(le_pool_get(w), last);
    ck_assert_uint_eq(le_pool_get(w), LE_NONE);
    le_pool_put(w, 7);
    le_pool_put(w, 9);
    ck_assert_uint_eq(le_pool_get(w), 9); /* the one freed last goes first */
    ck_assert_uint_eq(le_pool_get(w), 7);
    ck_assert_uint_eq(le_pool_get(w), LE_NONE);
    free(seen);
}
END_TEST

/* ---- the random run -------------------------------------------------------- */

struct ref {
    uint64_t due;
    uint64_t seq; /* insertion order: the tie-break */
    uint32_t i;
};

/* A binary min-heap on (due, seq): the order the wheel must keep. */
struct heap {
    struct ref *a;
    size_t n;
};

static int ref_less(const struct ref *x, const struct ref *y)
{
    return x->due < y->due || (x->due == y->due && x->seq < y->seq);
}

static void heap_push(struct heap *h, struct ref r)
{
    size_t k = h->n++;

    while (k > 0 && ref_less(&r, &h->a[(k - 1) / 2])) {
        h->a[k] = h->a[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    h->a[k] = r;
}

static struct ref heap_pop(struct heap *h)
{
    struct ref top = h->a[0], last = h->a[--h->n];
    size_t k = 0;

    for (;;) {
        size_t c = 2 * k + 1;

        if (c >= h->n)
            break;
        if (c + 1 < h->n && ref_less(&h->a[c + 1], &h->a[c]))
            c++;
        if (!ref_less(&h->a[c], &last))
            break;
        h->a[k] = h->a[c];
        k = c;
    }
    if (h->n > 0)
        h->a[k] = last;
    return top;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One pop at now, checked against the reference. */
static int pop_checked(struct heap *h, uint64_t now)
{
    uint32_t i = le_wheel_pop(w, now);

    if (h->n == 0 || h->a[0].due > now) {
        ck_assert_uint_eq(i, LE_NONE);
        return 0;
    }
    struct ref want = heap_pop(h);

    ck_assert_msg(i == want.i, "popped %u, want %u (due %llu, seq %llu)", i, want.i,
                  (unsigned long long)want.due, (unsigned long long)want.seq);
    ck_assert_uint_eq(le_frame_meta(w, i)->ordinal, want.seq);
    le_pool_put(w, i);
    return 1;
}

/*
 * 100000 frames inserted and popped as the emulator would: time moves in
 * steps, sometimes a long idle; frames come with delays from 0 to the
 * largest setting allows, often with equal departures, some already late.
 * Every pop and every next due time must be what the reference says.
 */
START_TEST(random_run_keeps_order)
{
    struct heap h = {calloc(LE_POOL_FRAMES, sizeof(struct ref)), 0};
    uint64_t s = 0x1234567887654321ull, now = T0, seq = 0, last_due = T0, due;
    unsigned since_drain = 0, popped = 0;

    ck_assert_ptr_nonnull(h.a);
    while (seq < 100000) {
        uint64_t r = rnd(&s);
        unsigned burst = (unsigned)(r % 8);

        /* Frames in flight are drained at least every few steps, as the
         * loop does, so that the horizon counts from about now. */
        if (r >> 60 < 5 || ++since_drain >= 4) {
            while (pop_checked(&h, now))
                popped++;
            since_drain = 0;
        } else {
            for (unsigned k = (unsigned)(r >> 8) % 4; k > 0; k--)
                popped += (unsigned)pop_checked(&h, now);
        }
        for (unsigned k = 0; k < burst && h.n < LE_POOL_FRAMES; k++) {
            uint64_t x = rnd(&s);
            struct ref ref;

            switch (x % 8) {
            case 0: /* the same departure as the last frame */
                ref.due = last_due;
                break;
            case 1: /* late already */
                ref.due = now - (x >> 40) % (20 * MS);
                break;
            case 2: /* anywhere up to the largest delay */
                ref.due = now + (x >> 20) % (MAX_AWAY + 1);
                break;
            default: /* a few milliseconds, as in a testbed */
                ref.due = now + (x >> 20) % (30 * MS);
                break;
            }
            ref.i = le_pool_get(w);
            ck_assert_uint_ne(ref.i, LE_NONE);
            ref.seq = ++seq;
            le_frame_meta(w, ref.i)->due_ns = ref.due;
            le_frame_meta(w, ref.i)->ordinal = ref.seq;
            ck_assert_int_eq(le_wheel_insert(w, ref.i, now), 0);
            heap_push(&h, ref);
            last_due = ref.due;
        }
        if (h.n == 0) {
            ck_assert_int_eq(le_wheel_next(w, &due), -ENOENT);
            if (rnd(&s) % 16 == 0) /* idle, from seconds to hours */
                now += (rnd(&s) % (3600 * 1000 * MS)) + 5000 * MS;
        } else {
            ck_assert_int_eq(le_wheel_next(w, &due), 0);
            ck_assert_uint_eq(due, h.a[0].due);
        }
        now += rnd(&s) % (20 * MS);
    }
    /* The rest, far in the future. */
    while (pop_checked(&h, now + 2 * HORIZON))
        popped++;
    ck_assert_uint_eq(popped, seq);
    ck_assert_int_eq(le_wheel_next(w, &due), -ENOENT);
    free(h.a);
}
END_TEST

Suite *wheel_suite(void)
{
    Suite *s = suite_create("wheel");
    TCase *tc = tcase_create("wheel");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pops_in_due_order);
    tcase_add_test(tc, equal_due_in_insertion_order);
    tcase_add_test(tc, nothing_before_due);
    tcase_add_test(tc, next_is_exact);
    tcase_add_test(tc, already_due_leaves_first);
    tcase_add_test(tc, idle_wheel_accepts_after_long_sleep);
    tcase_add_test(tc, beyond_horizon_refused);
    tcase_add_test(tc, pool_exhaustion);
    tcase_add_test(tc, random_run_keeps_order);
    suite_add_tcase(s, tc);
    return s;
}
