/*
 * link.c - a frame's way through the emulator: read from one TAP, impair,
 * schedule on the wheel, write to the other TAP when due.
 *
 * Departure of a frame read at t in direction d:
 *     due = max(t + max(delay + uniform(-jitter, +jitter), 0) + slow,
 *               due of d's previous frame that was not held back)
 * so jitter never reorders (as netem does with a rate).  A frame chosen by
 * --reorder-every leaves LE_HOLD_NS after that, without moving the others'
 * schedule, so frames read within LE_HOLD_NS after it overtake it.
 *
 * Counting, per direction, over eligible frames (frame.c) in a direction
 * that --impair-dir names:
 *  - loss is decided first; a lost frame counts in "lost" and nothing else;
 *  - the others are numbered 1, 2, ... since start or the last reset; frame
 *    n is held back when reorder_every divides n, else sent twice when
 *    dup_every divides n (reorder wins over dup);
 *  - "duplicated" counts second copies actually written;
 *  - "reordered" counts eligible frames written after an eligible frame of
 *    the same direction that was read after them: RFC 4737 3.3 applied to
 *    what the emulator writes.  A held frame nothing overtook within
 *    LE_HOLD_NS counts in "held" only.  With one flow of eligible frames a
 *    receiver counting RFC 4737 reordering and duplicates sees these numbers.
 */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "linkemu.h"
#include "log.h"

/* The clock of every departure: CLOCK_MONOTONIC, which no clock step moves. */
uint64_t le_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, and good enough to decide losses and jitter. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

int le_link_init(struct le_link *l, int fd_a, int fd_b, int timer_fd,
                 const struct le_params *p, uint64_t seed, uint64_t spin_ns)
{
    int rc;

    memset(l, 0, sizeof(*l));
    rc = le_wheel_new(&l->wheel);
    if (rc < 0)
        return rc;
    l->params = *p;
    l->dir[LE_A2B].fd_in = l->dir[LE_B2A].fd_out = fd_a;
    l->dir[LE_B2A].fd_in = l->dir[LE_A2B].fd_out = fd_b;
    l->timer_fd = timer_fd;
    l->spin_ns = spin_ns;
    l->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ull;
    return 0;
}

void le_link_close(struct le_link *l)
{
    close(l->dir[LE_A2B].fd_in);
    close(l->dir[LE_B2A].fd_in);
    close(l->timer_fd);
    le_wheel_free(l->wheel);
    l->wheel = NULL;
}

void le_link_reset(struct le_link *l)
{
    for (int d = 0; d < 2; d++) {
        memset(&l->dir[d].st, 0, sizeof(l->dir[d].st));
        l->dir[d].nth = 0;
    }
}

/* The jittered delay of one frame, never negative. */
static int64_t frame_delay(struct le_link *l)
{
    int64_t delay = l->params.delay_ns;

    if (l->params.jitter_ns > 0)
        delay += (int64_t)((rng_unit(&l->rng) * 2.0 - 1.0) * (double)l->params.jitter_ns);
    return delay > 0 ? delay : 0;
}

/*
 * Decides loss, hold and duplication for frame f, read at now_ns, and sets
 * its departure.  Returns 0, or -1 when it is lost.
 */
static int frame_schedule(struct le_link *l, struct le_dir *dir, struct le_frame *f,
                          const uint8_t *data, uint64_t now_ns)
{
    const struct le_params *p = &l->params;
    uint64_t due;

    if (le_frame_eligible(data, f->len)) {
        f->ordinal = ++dir->ordinal;
        if (p->impair_dirs & (1u << f->dir)) {
            if (p->loss_pct > 0.0 && rng_unit(&l->rng) * 100.0 < p->loss_pct) {
                dir->st.lost++;
                return -1;
            }
            dir->nth++;
            if (p->reorder_every != 0 && dir->nth % p->reorder_every == 0) {
                f->flags |= LE_FLAG_HELD;
                dir->st.held++;
            } else if (p->dup_every != 0 && dir->nth % p->dup_every == 0) {
                f->flags |= LE_FLAG_DUP;
            }
        }
    }
    /* The slowness is part of the departure, so the lateness histogram
     * does not see it: the testbed must find it by measuring its base. */
    due = now_ns + (uint64_t)frame_delay(l) + (uint64_t)p->slow_ns;
    if (due < dir->last_due_ns)
        due = dir->last_due_ns;
    dir->last_due_ns = due;
    f->due_ns = due + ((f->flags & LE_FLAG_HELD) ? LE_HOLD_NS : 0);
    return 0;
}

/*
 * Reads one frame into pool buffer i; the second iovec catches whatever does
 * not fit, so an oversize frame is seen whole and dropped, not truncated.
 * Returns its length, or a negative errno.
 */
static ssize_t frame_read(struct le_link *l, int fd, uint8_t *buf)
{
    struct iovec iov[2] = {{buf, LE_FRAME_MAX}, {l->scratch, sizeof(l->scratch)}};
    ssize_t n;

    do {
        n = readv(fd, iov, 2);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

void le_link_read(struct le_link *l, enum le_dir_id d)
{
    struct le_dir *dir = &l->dir[d];

    for (int k = 0; k < LE_READ_BATCH; k++) {
        uint32_t i = le_pool_get(l->wheel);
        ssize_t n;
        uint64_t now;
        struct le_frame *f;

        if (i == LE_NONE) {
            /* Drain it anyway, or the TAP stays readable and we spin. */
            n = frame_read(l, dir->fd_in, l->scratch);
            if (n <= 0)
                return;
            dir->st.in++;
            dir->st.pool_drops++;
            continue;
        }
        n = frame_read(l, dir->fd_in, le_frame_data(l->wheel, i));
        now = le_now_ns();
        if (n <= 0) {
            /* EAGAIN: drained.  EIO: the device is down; quietly wait. */
            if (n < 0 && n != -EAGAIN && n != -EIO)
                log_warn("read from %s side: %s", d == LE_A2B ? "a" : "b",
                         strerror((int)-n));
            le_pool_put(l->wheel, i);
            return;
        }
        dir->st.in++;
        if (n > LE_FRAME_MAX) {
            dir->st.oversize++;
            le_pool_put(l->wheel, i);
            continue;
        }
        f = le_frame_meta(l->wheel, i);
        memset(f, 0, sizeof(*f));
        f->len = (uint16_t)n;
        f->dir = (uint8_t)d;
        if (frame_schedule(l, dir, f, le_frame_data(l->wheel, i), now) < 0) {
            le_pool_put(l->wheel, i);
        } else if (le_wheel_insert(l->wheel, i, now) < 0) {
            /* Beyond the horizon: the limits on the settings rule it out. */
            dir->st.pool_drops++;
            le_pool_put(l->wheel, i);
        }
    }
}

/* One write of frame f; counts a failure.  Returns 0 or -1. */
static int frame_write(struct le_dir *dir, const uint8_t *data, const struct le_frame *f)
{
    ssize_t n;

    do {
        n = write(dir->fd_out, data, f->len);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)f->len) {
        dir->st.out++;
        return 0;
    }
    if (n < 0 && errno == EIO) {
        dir->st.down_drops++;
    } else {
        if (n >= 0 || errno != EAGAIN)
            log_debug("write: %s", n < 0 ? strerror(errno) : "short write");
        dir->st.tx_drops++;
    }
    return -1;
}

/* Writes frame i (twice if duplicated) and counts lateness and reordering. */
static void frame_send(struct le_link *l, uint32_t i, uint64_t now_ns)
{
    struct le_frame *f = le_frame_meta(l->wheel, i);
    struct le_dir *dir = &l->dir[f->dir];
    const uint8_t *data = le_frame_data(l->wheel, i);

    if (frame_write(dir, data, f) < 0)
        return;
    le_hist_add(&dir->st.late, (int64_t)(now_ns - f->due_ns));
    if (f->ordinal != 0) {
        if (f->ordinal < dir->max_ordinal)
            dir->st.reordered++;
        else
            dir->max_ordinal = f->ordinal;
    }
    if ((f->flags & LE_FLAG_DUP) && frame_write(dir, data, f) == 0)
        dir->st.duplicated++;
}

/*
 * Arms the timer spin_ns before the earliest departure, as an absolute time
 * (TFD_TIMER_ABSTIME), or disarms it when nothing is in flight.  The rest of
 * the way to the departure the loop polls (le_link_wait_ms): waking a
 * sleeping thread takes tens of microseconds here, polling does not.  Inside
 * that window the timer is left alone: re-arming it at every turn of the
 * poll would cost a timer interrupt, which on a virtual machine is an exit
 * to the hypervisor of some 10 us.
 */
static void timer_arm(struct le_link *l, uint64_t now)
{
    struct itimerspec its;
    uint64_t due, at = 0;

    if (le_wheel_next(l->wheel, &due) == 0 && due > now + l->spin_ns)
        at = due - l->spin_ns;
    /* A timer that has fired is spent, as good as disarmed. */
    if (l->armed_ns != 0 && l->armed_ns <= now)
        l->armed_ns = 0;
    if (at == l->armed_ns)
        return;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)(at / 1000000000u);
    its.it_value.tv_nsec = (long)(at % 1000000000u);
    if (timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        log_error("timerfd_settime: %s", strerror(errno));
        return;
    }
    l->armed_ns = at;
}

void le_link_flush(struct le_link *l)
{
    uint64_t now = le_now_ns();
    uint32_t i;

    /* The clock is read again after every write, so frames that fall due
     * while earlier ones are written go out in the same turn. */
    while ((i = le_wheel_pop(l->wheel, now)) != LE_NONE) {
        frame_send(l, i, now);
        le_pool_put(l->wheel, i);
        now = le_now_ns();
    }
    timer_arm(l, now);
}

int le_link_wait_ms(const struct le_link *l)
{
    uint64_t due;

    /* The same test as timer_arm's: no timer armed means polling. */
    if (le_wheel_next(l->wheel, &due) == 0 && due <= le_now_ns() + l->spin_ns)
        return 0;
    return -1;
}
