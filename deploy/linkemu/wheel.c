/*
 * wheel.c - the frame pool and the hashed timer wheel that holds frames in
 * flight.  No allocation per frame: every buffer is allocated at start.
 *
 * Invariants:
 *  - every frame on the wheel has a slot tick (due_ns >> LE_SLOT_SHIFT) in
 *    [cursor, cursor + LE_WHEEL_SLOTS), so a slot index names one tick;
 *  - a slot's list is sorted by due_ns, equal times in insertion order, so
 *    frames due at the same time leave in the order they came;
 *  - bit s of occupied is set exactly when slot s is not empty, which lets
 *    the search for the next frame skip 64 empty slots per word.
 */
#include <errno.h>
#include <stdlib.h>

#include "linkemu.h"

#define SLOT_MASK (LE_WHEEL_SLOTS - 1)

struct le_wheel {
    struct le_frame *meta;
    uint8_t *data;
    uint32_t *free; /* a stack: the buffer freed last, still in cache, goes first */
    uint32_t nfree;
    uint32_t count; /* frames on the wheel */
    uint64_t cursor;
    uint32_t head[LE_WHEEL_SLOTS];
    uint32_t tail[LE_WHEEL_SLOTS];
    uint64_t occupied[LE_WHEEL_SLOTS / 64];
};

int le_wheel_new(struct le_wheel **wp)
{
    struct le_wheel *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return -ENOMEM;
    w->meta = calloc(LE_POOL_FRAMES, sizeof(*w->meta));
    w->data = malloc((size_t)LE_POOL_FRAMES * LE_FRAME_MAX);
    w->free = calloc(LE_POOL_FRAMES, sizeof(*w->free));
    if (w->meta == NULL || w->data == NULL || w->free == NULL) {
        le_wheel_free(w);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < LE_POOL_FRAMES; i++)
        w->free[i] = LE_POOL_FRAMES - 1 - i;
    w->nfree = LE_POOL_FRAMES;
    for (uint32_t s = 0; s < LE_WHEEL_SLOTS; s++)
        w->head[s] = w->tail[s] = LE_NONE;
    *wp = w;
    return 0;
}

void le_wheel_free(struct le_wheel *w)
{
    if (w == NULL)
        return;
    free(w->meta);
    free(w->data);
    free(w->free);
    free(w);
}

uint32_t le_pool_get(struct le_wheel *w)
{
    return w->nfree == 0 ? LE_NONE : w->free[--w->nfree];
}

void le_pool_put(struct le_wheel *w, uint32_t i)
{
    w->free[w->nfree++] = i;
}

struct le_frame *le_frame_meta(struct le_wheel *w, uint32_t i)
{
    return &w->meta[i];
}

uint8_t *le_frame_data(struct le_wheel *w, uint32_t i)
{
    return w->data + (size_t)i * LE_FRAME_MAX;
}

/* Links frame i into slot s after the last frame due no later than it. */
static void slot_insert(struct le_wheel *w, uint32_t s, uint32_t i)
{
    struct le_frame *f = &w->meta[i];
    uint32_t prev;

    f->next = LE_NONE;
    if (w->head[s] == LE_NONE) {
        w->head[s] = w->tail[s] = i;
        w->occupied[s >> 6] |= 1ull << (s & 63);
        return;
    }
    /* The usual case: later than everything in the slot. */
    if (w->meta[w->tail[s]].due_ns <= f->due_ns) {
        w->meta[w->tail[s]].next = i;
        w->tail[s] = i;
        return;
    }
    if (f->due_ns < w->meta[w->head[s]].due_ns) {
        f->next = w->head[s];
        w->head[s] = i;
        return;
    }
    prev = w->head[s];
    while (w->meta[prev].next != LE_NONE &&
           w->meta[w->meta[prev].next].due_ns <= f->due_ns)
        prev = w->meta[prev].next;
    f->next = w->meta[prev].next;
    w->meta[prev].next = i;
}

/*
 * How many slots past tick `from` the first occupied one lies, looking at
 * `span` slots at most; -1 if none.  LE_WHEEL_SLOTS is a multiple of 64, so
 * a run of 64 slots never wraps inside a word.
 */
static int64_t wheel_scan(const struct le_wheel *w, uint64_t from, uint64_t span)
{
    uint64_t d = 0;

    while (d < span) {
        uint32_t s = (uint32_t)((from + d) & SLOT_MASK);
        uint64_t word = w->occupied[s >> 6] >> (s & 63);

        if (word != 0) {
            d += (uint64_t)__builtin_ctzll(word);
            return d < span ? (int64_t)d : -1;
        }
        d += 64 - (s & 63);
    }
    return -1;
}

int le_wheel_insert(struct le_wheel *w, uint32_t i, uint64_t now_ns)
{
    uint64_t tick = w->meta[i].due_ns >> LE_SLOT_SHIFT;
    uint64_t now_tick = now_ns >> LE_SLOT_SHIFT;

    /* The cursor stays where the last pop left it, which may be seconds ago
     * when the next frame is seconds away.  Move it up to now, or to the
     * first frame still on the wheel, so that the horizon counts from now. */
    if (w->count == 0) {
        w->cursor = now_tick;
    } else if (now_tick > w->cursor) {
        uint64_t span = now_tick - w->cursor;
        int64_t d =
            wheel_scan(w, w->cursor, span < LE_WHEEL_SLOTS ? span : LE_WHEEL_SLOTS);

        w->cursor = d < 0 ? now_tick : w->cursor + (uint64_t)d;
    }
    /* Already due: the cursor's slot is the earliest one still looked at. */
    if (tick < w->cursor)
        tick = w->cursor;
    if (tick - w->cursor >= LE_WHEEL_SLOTS)
        return -ERANGE;
    slot_insert(w, (uint32_t)(tick & SLOT_MASK), i);
    w->count++;
    return 0;
}

uint32_t le_wheel_pop(struct le_wheel *w, uint64_t now_ns)
{
    uint64_t now_tick = now_ns >> LE_SLOT_SHIFT, span;
    int64_t d;
    uint32_t s, i;

    if (w->count == 0 || now_tick < w->cursor)
        return LE_NONE;
    span = now_tick - w->cursor + 1;
    d = wheel_scan(w, w->cursor, span < LE_WHEEL_SLOTS ? span : LE_WHEEL_SLOTS);
    if (d < 0) {
        w->cursor = now_tick;
        return LE_NONE;
    }
    /* Every slot before this one is empty, so the cursor may move up to it. */
    w->cursor += (uint64_t)d;
    s = (uint32_t)(w->cursor & SLOT_MASK);
    i = w->head[s];
    if (w->meta[i].due_ns > now_ns)
        return LE_NONE;
    w->head[s] = w->meta[i].next;
    if (w->head[s] == LE_NONE) {
        w->tail[s] = LE_NONE;
        w->occupied[s >> 6] &= ~(1ull << (s & 63));
    }
    w->count--;
    return i;
}

int le_wheel_next(const struct le_wheel *w, uint64_t *due_ns)
{
    int64_t d;

    if (w->count == 0)
        return -ENOENT;
    d = wheel_scan(w, w->cursor, LE_WHEEL_SLOTS);
    if (d < 0)
        return -ENOENT;
    *due_ns = w->meta[w->head[(w->cursor + (uint64_t)d) & SLOT_MASK]].due_ns;
    return 0;
}
