/*
 * link_test.c - a frame's way through the link, with datagram socket pairs
 * standing in for the TAP devices: frames wait for their delay, jitter never
 * reorders, "every Nth" counts only eligible frames that were not lost,
 * reorder wins over dup, the reorder counter agrees with a receiver that
 * counts as RFC 4737 3.3 does, and only the directions named are impaired.
 * Only the order of departures is asserted, never how late they were.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "check_linkemu.h"
#include "linkemu.h"
#include "log.h"

#define MS       1000000ull
#define MAX_RECV 1024
#define ARP_TAG  100000u /* ARP frames are tagged from here, UDP from 1 */

/* The emulator, and the far ends of its "TAP devices": a is side a's. */
static struct le_link *l;
static int far_a = -1, far_b = -1;

static void link_open(const struct le_params *p, uint64_t seed)
{
    int pa[2], pb[2], tfd;

    log_init("check_linkemu", LOG_LEVEL_ERROR);
    ck_assert_int_eq(
        socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pa), 0);
    ck_assert_int_eq(
        socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pb), 0);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    ck_assert_int_ge(tfd, 0);
    l = calloc(1, sizeof(*l));
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(le_link_init(l, pa[0], pb[0], tfd, p, seed, 0), 0);
    far_a = pa[1];
    far_b = pb[1];
}

static void teardown(void)
{
    if (l != NULL) {
        le_link_close(l);
        free(l);
        l = NULL;
    }
    if (far_a >= 0)
        close(far_a);
    if (far_b >= 0)
        close(far_b);
    far_a = far_b = -1;
}

static void send_udp(int fd, uint32_t tag)
{
    uint8_t buf[128];
    size_t n = test_frame_udp4(buf, tag);

    ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
}

static void send_arp(int fd, uint32_t tag)
{
    uint8_t buf[128];
    size_t n = test_frame_arp(buf, tag);

    ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
}

/* Reads every frame waiting for direction d, however many batches it takes. */
static void read_all(enum le_dir_id d)
{
    for (int k = 0; k < 64; k++)
        le_link_read(l, d);
}

/* Writes out everything on the wheel, sleeping to each departure. */
static void run_out(void)
{
    uint64_t deadline = le_now_ns() + 5000 * MS, due, now;

    for (;;) {
        le_link_flush(l);
        if (le_wheel_next(l->wheel, &due) == -ENOENT)
            return;
        now = le_now_ns();
        ck_assert_msg(now < deadline, "frames still in flight after 5 s");
        if (due > now) {
            uint64_t ns = due - now < MS ? due - now : MS;
            struct timespec ts = {0, (long)ns};

            nanosleep(&ts, NULL);
        }
    }
}

/* The tags of the frames that came out at fd, in order; returns how many. */
static size_t recv_tags(int fd, uint32_t *tags)
{
    uint8_t buf[LE_FRAME_MAX + 16];
    size_t n = 0;
    ssize_t r;

    while ((r = read(fd, buf, sizeof(buf))) > 0) {
        ck_assert_uint_lt(n, MAX_RECV);
        ck_assert_int_eq(r, 46); /* both kinds of test frame */
        tags[n++] = test_frame_tag(buf, (size_t)r);
    }
    ck_assert_int_eq(errno, EAGAIN);
    return n;
}

START_TEST(frames_wait_for_their_delay)
{
    struct le_params p;
    uint32_t tags[MAX_RECV];
    uint64_t t0, due;

    le_params_default(&p);
    p.delay_ns = 100 * MS;
    link_open(&p, 1);
    for (uint32_t k = 1; k <= 5; k++)
        send_udp(far_a, k);
    t0 = le_now_ns();
    read_all(LE_A2B);
    le_link_flush(l);
    ck_assert_uint_eq(recv_tags(far_b, tags), 0);
    ck_assert_int_eq(le_wheel_next(l->wheel, &due), 0);
    ck_assert_uint_ge(due, t0 + 100 * MS);
    run_out();
    ck_assert_uint_ge(le_now_ns(), t0 + 100 * MS);
    ck_assert_uint_eq(recv_tags(far_b, tags), 5);
    for (uint32_t k = 1; k <= 5; k++)
        ck_assert_uint_eq(tags[k - 1], k);
    ck_assert_uint_eq(recv_tags(far_a, tags), 0); /* nothing goes back */
    ck_assert_uint_eq(l->dir[LE_A2B].st.in, 5);
    ck_assert_uint_eq(l->dir[LE_A2B].st.out, 5);
    ck_assert_uint_eq(l->dir[LE_A2B].st.late.n, 5);
    ck_assert_uint_eq(l->dir[LE_B2A].st.in, 0);
}
END_TEST

/* Jitter as large as the delay itself still keeps every frame in order. */
/* --slow-us moves every departure, and the lateness histogram does not see
 * it: frames are written on time for a departure that includes it. */
START_TEST(slowness_is_part_of_the_departure)
{
    struct le_params p;
    uint32_t tags[MAX_RECV];
    uint64_t t0, t1, due, elapsed;

    le_params_default(&p);
    p.slow_ns = 30 * MS;
    link_open(&p, 1);
    send_udp(far_b, 1);
    t0 = le_now_ns();
    read_all(LE_B2A);
    t1 = le_now_ns();
    le_link_flush(l);
    ck_assert_uint_eq(recv_tags(far_a, tags), 0);
    ck_assert_int_eq(le_wheel_next(l->wheel, &due), 0);
    ck_assert_uint_ge(due, t0 + 30 * MS);
    ck_assert_uint_le(due, t1 + 30 * MS);
    run_out();
    elapsed = le_now_ns() - t0;
    ck_assert_uint_ge(elapsed, 30 * MS);
    ck_assert_uint_eq(recv_tags(far_a, tags), 1);
    ck_assert_uint_eq(l->dir[LE_B2A].st.late.n, 1);
    /* Lateness is counted from the slowed departure: were the slowness
     * counted as lateness, it would be the whole elapsed time. */
    ck_assert_uint_le(l->dir[LE_B2A].st.late.max_ns, elapsed - 30 * MS);
}
END_TEST

START_TEST(jitter_never_reorders)
{
    struct le_params p;
    uint32_t sent[200], tags[MAX_RECV];
    size_t n = 0;

    le_params_default(&p);
    p.delay_ns = 2 * MS;
    p.jitter_ns = 2 * MS;
    link_open(&p, 42);
    for (int round = 0; round < 3; round++) {
        for (uint32_t k = 0; k < 50; k++) {
            sent[n] = (uint32_t)n + 1;
            if (k % 7 == 3)
                send_arp(far_a, sent[n] += ARP_TAG);
            else
                send_udp(far_a, sent[n]);
            n++;
        }
        read_all(LE_A2B);
        le_link_flush(l);
    }
    run_out();
    ck_assert_uint_eq(recv_tags(far_b, tags), n);
    for (size_t k = 0; k < n; k++)
        ck_assert_uint_eq(tags[k], sent[k]);
    ck_assert_uint_eq(l->dir[LE_A2B].st.reordered, 0);
    ck_assert_uint_eq(l->dir[LE_A2B].st.out, n);
}
END_TEST

/*
 * Every 4th eligible frame held back, every 3rd sent twice unless it is
 * held; ARP frames in between are not counted.
 */
START_TEST(reorder_and_dup_numbering)
{
    struct le_params p;
    uint32_t tags[MAX_RECV], max_seen = 0, last_plain = 0, last_held = 0;
    unsigned seen[25] = {0}, arps = 0, reordered = 0;
    size_t n;

    le_params_default(&p);
    p.delay_ns = 1 * MS;
    p.reorder_every = 4;
    p.dup_every = 3;
    link_open(&p, 7);
    for (uint32_t k = 1; k <= 24; k++) {
        send_udp(far_a, k);
        if (k % 3 == 0)
            send_arp(far_a, ARP_TAG + k);
    }
    read_all(LE_A2B);
    run_out();
    n = recv_tags(far_b, tags);
    ck_assert_uint_eq(n, 24 + 8 + 6);
    for (size_t k = 0; k < n; k++) {
        uint32_t t = tags[k];

        if (t >= ARP_TAG) {
            arps++;
            continue;
        }
        ck_assert_uint_le(t, 24);
        /* A duplicate follows its original at once. */
        if (seen[t]++ > 0) {
            ck_assert_uint_eq(tags[k - 1], t);
            continue;
        }
        /* Held frames keep their order among themselves, the others too. */
        if (t % 4 == 0) {
            ck_assert_uint_gt(t, last_held);
            last_held = t;
        } else {
            ck_assert_uint_gt(t, last_plain);
            last_plain = t;
        }
        /* RFC 4737 3.3: reordered when a later frame came first. */
        if (t < max_seen)
            reordered++;
        else
            max_seen = t;
    }
    ck_assert_uint_eq(arps, 8);
    for (uint32_t t = 1; t <= 24; t++)
        ck_assert_msg(seen[t] == (t % 3 == 0 && t % 4 != 0 ? 2u : 1u),
                      "frame %u came out %u times", t, seen[t]);
    ck_assert_uint_eq(l->dir[LE_A2B].st.in, 32);
    ck_assert_uint_eq(l->dir[LE_A2B].st.out, 38);
    ck_assert_uint_eq(l->dir[LE_A2B].st.held, 6);
    ck_assert_uint_eq(l->dir[LE_A2B].st.duplicated, 6);
    ck_assert_uint_eq(l->dir[LE_A2B].st.lost, 0);
    ck_assert_uint_eq(l->dir[LE_A2B].st.reordered, reordered);
}
END_TEST

/* Loss is decided first: a lost frame is not numbered, held or sent twice. */
START_TEST(loss_and_directions)
{
    struct le_params p;
    uint32_t tags[MAX_RECV];
    size_t n;

    le_params_default(&p);
    p.loss_pct = 100.0;
    p.reorder_every = 1;
    p.dup_every = 1;
    p.impair_dirs = 1u << LE_A2B;
    link_open(&p, 9);
    for (uint32_t k = 1; k <= 10; k++) {
        send_udp(far_a, k);
        send_udp(far_b, k);
    }
    send_arp(far_a, ARP_TAG + 1);
    send_arp(far_a, ARP_TAG + 2);
    read_all(LE_A2B);
    read_all(LE_B2A);
    run_out();
    /* a to b: only address resolution got through. */
    ck_assert_uint_eq(recv_tags(far_b, tags), 2);
    ck_assert_uint_eq(tags[0], ARP_TAG + 1);
    ck_assert_uint_eq(tags[1], ARP_TAG + 2);
    ck_assert_uint_eq(l->dir[LE_A2B].st.lost, 10);
    ck_assert_uint_eq(l->dir[LE_A2B].st.held, 0);
    ck_assert_uint_eq(l->dir[LE_A2B].st.duplicated, 0);
    ck_assert_uint_eq(l->dir[LE_A2B].nth, 0);
    /* b to a: not impaired at all. */
    n = recv_tags(far_a, tags);
    ck_assert_uint_eq(n, 10);
    for (uint32_t k = 1; k <= 10; k++)
        ck_assert_uint_eq(tags[k - 1], k);
    ck_assert_uint_eq(l->dir[LE_B2A].st.lost + l->dir[LE_B2A].st.held, 0);
    ck_assert_uint_eq(l->dir[LE_B2A].st.duplicated, 0);
}
END_TEST

/* Half the frames lost, by a seeded generator: the counts add up. */
START_TEST(partial_loss_adds_up)
{
    struct le_params p;
    uint32_t tags[MAX_RECV], last = 0;
    size_t n;

    le_params_default(&p);
    p.loss_pct = 50.0;
    link_open(&p, 12345);
    for (uint32_t k = 1; k <= 200; k++) {
        send_udp(far_a, k);
        if (k % 50 == 0)
            read_all(LE_A2B);
    }
    run_out();
    n = recv_tags(far_b, tags);
    for (size_t k = 0; k < n; k++) {
        ck_assert_uint_gt(tags[k], last);
        last = tags[k];
    }
    ck_assert_uint_eq(l->dir[LE_A2B].st.in, 200);
    ck_assert_uint_eq(l->dir[LE_A2B].st.lost + n, 200);
    ck_assert_uint_eq(l->dir[LE_A2B].st.out, n);
    ck_assert_uint_gt(n, 60);
    ck_assert_uint_lt(n, 140);
}
END_TEST

/* After a reset "every Nth" counts from the first frame again. */
START_TEST(reset_restarts_numbering)
{
    struct le_params p;
    uint32_t tags[MAX_RECV];

    le_params_default(&p);
    p.dup_every = 4;
    link_open(&p, 3);
    for (uint32_t k = 1; k <= 3; k++)
        send_udp(far_a, k);
    read_all(LE_A2B);
    run_out();
    ck_assert_uint_eq(recv_tags(far_b, tags), 3);
    le_link_reset(l);
    ck_assert_uint_eq(l->dir[LE_A2B].st.in, 0);
    for (uint32_t k = 11; k <= 14; k++)
        send_udp(far_a, k);
    read_all(LE_A2B);
    run_out();
    ck_assert_uint_eq(recv_tags(far_b, tags), 5);
    ck_assert_uint_eq(tags[3], 14);
    ck_assert_uint_eq(tags[4], 14);
    ck_assert_uint_eq(l->dir[LE_A2B].st.duplicated, 1);
    ck_assert_uint_eq(l->dir[LE_A2B].st.in, 4);
}
END_TEST

/* A frame longer than a pool buffer is dropped whole, never cut. */
START_TEST(oversize_dropped)
{
    struct le_params p;
    uint8_t *big = calloc(1, LE_FRAME_MAX + 1), *back = calloc(1, LE_FRAME_MAX + 16);
    size_t n;

    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_nonnull(back);
    le_params_default(&p);
    link_open(&p, 5);
    n = test_frame_udp4(big, 1);
    big[LE_FRAME_MAX - 1] = 0x5a;
    ck_assert_int_eq(write(far_a, big, LE_FRAME_MAX + 1), LE_FRAME_MAX + 1);
    ck_assert_int_eq(write(far_a, big, LE_FRAME_MAX), LE_FRAME_MAX);
    ck_assert_int_eq(write(far_a, big, n), (ssize_t)n);
    read_all(LE_A2B);
    run_out();
    ck_assert_int_eq(read(far_b, back, LE_FRAME_MAX + 16), LE_FRAME_MAX);
    ck_assert_mem_eq(back, big, LE_FRAME_MAX);
    ck_assert_int_eq(read(far_b, back, LE_FRAME_MAX + 16), (ssize_t)n);
    ck_assert_int_eq(read(far_b, back, LE_FRAME_MAX + 16), -1);
    ck_assert_uint_eq(l->dir[LE_A2B].st.in, 3);
    ck_assert_uint_eq(l->dir[LE_A2B].st.oversize, 1);
    ck_assert_uint_eq(l->dir[LE_A2B].st.out, 2);
    free(big);
    free(back);
}
END_TEST

Suite *link_suite(void)
{
    Suite *s = suite_create("link");
    TCase *tc = tcase_create("link");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, frames_wait_for_their_delay);
    tcase_add_test(tc, slowness_is_part_of_the_departure);
    tcase_add_test(tc, jitter_never_reorders);
    tcase_add_test(tc, reorder_and_dup_numbering);
    tcase_add_test(tc, loss_and_directions);
    tcase_add_test(tc, partial_loss_adds_up);
    tcase_add_test(tc, reset_restarts_numbering);
    tcase_add_test(tc, oversize_dropped);
    suite_add_tcase(s, tc);
    return s;
}
