/*
 * spool_test.c - the spool on real files: what is appended comes back in
 * order after a reopen; a torn tail is cut and nothing else; acknowledged
 * segments go; the bound drops the oldest and counts them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_probe.h"
#include "probe.h"

static char dir[64];

static void setup(void)
{
    test_tmpdir_make(dir, sizeof(dir), "spool");
}

static void teardown(void)
{
    test_tmpdir_remove(dir);
}

/* Record seq's payload: len octets that depend on seq. */
static size_t payload(uint64_t seq, uint8_t *buf)
{
    size_t len = 1 + (size_t)(seq * 37 % 1500);

    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seq * 131 + i);
    return len;
}

struct seen {
    uint64_t n, first, last;
    int bad;
};

static int check_cb(void *arg, uint64_t seq, const uint8_t *rec, size_t len)
{
    struct seen *s = arg;
    uint8_t want[2048];

    if (len != payload(seq, want) || memcmp(rec, want, len) != 0 || seq <= s->last)
        s->bad++;
    if (s->n++ == 0)
        s->first = seq;
    s->last = seq;
    return 0;
}

static struct seen scan(struct probe_spool *sp, uint64_t after)
{
    struct seen s = {0};

    ck_assert_int_eq(probe_spool_scan(sp, after, check_cb, &s), 0);
    ck_assert_int_eq(s.bad, 0);
    return s;
}

static void append_range(struct probe_spool *sp, uint64_t from, uint64_t to)
{
    uint8_t buf[2048];

    for (uint64_t q = from; q <= to; q++)
        ck_assert_int_eq(probe_spool_append(sp, q, buf, payload(q, buf)), 0);
}

/* The newest segment's path and size. */
static off_t newest(char *path, size_t len)
{
    char cmd[160];
    FILE *f;
    struct stat st;

    snprintf(cmd, sizeof(cmd), "ls %s/seg-*.spool | tail -n 1", dir);
    ck_assert_ptr_nonnull(f = popen(cmd, "r"));
    ck_assert_ptr_nonnull(fgets(path, (int)len, f));
    pclose(f);
    path[strcspn(path, "\n")] = '\0';
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

START_TEST(reopen_keeps_everything)
{
    struct probe_spool sp;
    struct seen s;

    ck_assert_int_eq(probe_spool_open(&sp, dir, 256u << 20), 0);
    append_range(&sp, 5, 300);
    ck_assert_int_eq(probe_spool_append(&sp, 300, (const uint8_t *)"x", 1), -EINVAL);
    ck_assert_int_eq(probe_spool_sync(&sp), 0);
    probe_spool_close(&sp);
    ck_assert_int_eq(probe_spool_open(&sp, dir, 256u << 20), 0);
    ck_assert_uint_eq(sp.records, 296);
    ck_assert_uint_eq(sp.torn_bytes, 0);
    ck_assert_uint_eq(probe_spool_last_seq(&sp), 300);
    s = scan(&sp, 0);
    ck_assert_uint_eq(s.n, 296);
    ck_assert_uint_eq(s.first, 5);
    s = scan(&sp, 250);
    ck_assert_uint_eq(s.n, 50);
    append_range(&sp, 301, 310); /* goes on after a restart */
    probe_spool_close(&sp);
    ck_assert_int_eq(probe_spool_open(&sp, dir, 256u << 20), 0);
    ck_assert_uint_eq(scan(&sp, 0).n, 306);
    probe_spool_close(&sp);
}
END_TEST

/* A crash in the middle of the last write, at every octet of it: only that
 * record goes. */
START_TEST(torn_tail_is_cut)
{
    struct probe_spool sp;
    char path[256];
    uint8_t buf[2048];
    off_t full, last = 16 + (off_t)payload(20, buf);

    ck_assert_int_eq(probe_spool_open(&sp, dir, 256u << 20), 0);
    append_range(&sp, 1, 20);
    probe_spool_close(&sp);
    full = newest(path, sizeof(path));
    for (off_t cut = 1; cut < last; cut += 7) {
        ck_assert_int_eq(truncate(path, full - cut), 0);
        ck_assert_int_eq(probe_spool_open(&sp, dir, 256u << 20), 0);
        ck_assert_uint_eq(sp.records, 19);
        ck_assert_uint_eq(sp.torn_bytes, (uint64_t)(last - cut));
        ck_assert_uint_eq(scan(&sp, 0).last, 19);
        ck_assert_int_eq(newest(path, sizeof(path)), full - last);
        append_range(&sp, 20, 20); /* written again, whole */
        probe_spool_close(&sp);
        ck_assert_int_eq(newest(path, sizeof(path)), full);
    }
}
END_TEST

/* A damaged record ends what can be trusted of its segment. */
START_TEST(damage_cuts_there)
{
    struct probe_spool sp;
    char path[256];
    uint8_t buf[2048], b;
    off_t at = 0;
    int fd;

    ck_assert_int_eq(probe_spool_open(&sp, dir, 256u << 20), 0);
    append_range(&sp, 1, 10);
    probe_spool_close(&sp);
    newest(path, sizeof(path));
    for (uint64_t q = 1; q < 6; q++)
        at += 16 + (off_t)payload(q, buf);
    ck_assert_int_ge(fd = open(path, O_RDWR), 0);
    ck_assert_int_eq(pread(fd, &b, 1, at + 20), 1); /* record 6's payload */
    b ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &b, 1, at + 20), 1);
    close(fd);
    ck_assert_int_eq(probe_spool_open(&sp, dir, 256u << 20), 0);
    ck_assert_uint_eq(sp.records, 5);
    ck_assert_uint_eq(scan(&sp, 0).last, 5);
    probe_spool_close(&sp);
}
END_TEST

START_TEST(ack_removes_whole_segments)
{
    struct probe_spool sp;
    uint64_t before;

    ck_assert_int_eq(probe_spool_open(&sp, dir, 1u << 20), 0); /* 128 KiB segments */
    append_range(&sp, 1, 800);
    ck_assert_uint_gt(sp.nsegs, 3);
    before = sp.nsegs;
    ck_assert_int_eq(probe_spool_ack(&sp, sp.segs[1].last_seq), 2);
    ck_assert_uint_eq(sp.nsegs, before - 2);
    ck_assert_int_eq(probe_spool_ack(&sp, sp.segs[0].first_seq), 0); /* partly: stays */
    ck_assert_uint_eq(scan(&sp, 400).first, 401);
    ck_assert_int_gt(probe_spool_ack(&sp, 800), 0);
    /* The newest stays: it tells where the numbers go on, after a restart too. */
    ck_assert_uint_eq(sp.nsegs, 1);
    ck_assert_uint_eq(probe_spool_pending(&sp), 0);
    ck_assert_uint_eq(probe_spool_next_seq(&sp), 801);
    probe_spool_close(&sp);
    ck_assert_int_eq(probe_spool_open(&sp, dir, 1u << 20), 0);
    ck_assert_uint_eq(probe_spool_next_seq(&sp), 801);
    append_range(&sp, 801, 802); /* and on it goes */
    ck_assert_uint_eq(scan(&sp, 800).n, 2);
    probe_spool_close(&sp);
}
END_TEST

/* A new segment that got no record whole still says where to go on. */
START_TEST(empty_newest_segment_is_kept)
{
    struct probe_spool sp;
    char path[256];
    uint64_t n;

    ck_assert_int_eq(probe_spool_open(&sp, dir, 1u << 20), 0);
    append_range(&sp, 1, 400);
    n = sp.nsegs;
    ck_assert_uint_gt(n, 1);
    probe_spool_close(&sp);
    newest(path, sizeof(path));
    ck_assert_int_eq(truncate(path, 10), 0); /* a torn first record */
    ck_assert_int_eq(probe_spool_open(&sp, dir, 1u << 20), 0);
    ck_assert_uint_eq(sp.nsegs, n);
    ck_assert_uint_eq(sp.torn_bytes, 10);
    ck_assert_uint_eq(probe_spool_next_seq(&sp), sp.segs[n - 1].name_seq);
    append_range(&sp, sp.segs[n - 1].name_seq, 400);
    ck_assert_uint_eq(scan(&sp, 0).n, 400);
    probe_spool_close(&sp);
}
END_TEST

/* One probe a spool; seq0 survives a reopen. */
START_TEST(lock_and_seq0)
{
    struct probe_spool a, b;

    ck_assert_int_eq(probe_spool_open(&a, dir, 1u << 20), 0);
    ck_assert_uint_eq(probe_spool_next_seq(&a), 0); /* new */
    ck_assert_int_eq(probe_spool_set_seq0(&a, 1234), 0);
    ck_assert_int_eq(probe_spool_open(&b, dir, 1u << 20), -EBUSY);
    probe_spool_close(&b);
    probe_spool_close(&a);
    ck_assert_int_eq(probe_spool_open(&b, dir, 1u << 20), 0);
    ck_assert_uint_eq(b.seq0, 1234);
    probe_spool_close(&b);
}
END_TEST

/* Dropping a segment partly acknowledged counts only what was not. */
START_TEST(drop_counts_only_unacknowledged)
{
    struct probe_spool sp;
    uint64_t mid;

    ck_assert_int_eq(probe_spool_open(&sp, dir, 256u << 10), 0); /* 32 KiB segments */
    append_range(&sp, 1, 100);
    mid = sp.segs[0].first_seq + sp.segs[0].nrecs / 2;
    ck_assert_int_eq(probe_spool_ack(&sp, mid), 0);
    append_range(&sp, 101, 2000);
    ck_assert_uint_gt(sp.dropped, 0);
    /* Everything is either held, acknowledged (1..mid) or dropped. */
    ck_assert_uint_eq(sp.dropped + (2000 - scan(&sp, 0).first + 1) + mid, 2000);
    probe_spool_close(&sp);
}
END_TEST

/* Past the bound, the oldest segments go, and every record is counted. */
START_TEST(bound_drops_oldest_counted)
{
    struct probe_spool sp;
    struct seen s;

    ck_assert_int_eq(probe_spool_open(&sp, dir, 256u << 10), 0);
    append_range(&sp, 1, 2000); /* about 1.5 MB */
    ck_assert_uint_le(sp.bytes, 256u << 10);
    ck_assert_uint_gt(sp.dropped, 0);
    ck_assert_uint_eq(sp.dropped + sp.records, 2000);
    s = scan(&sp, 0);
    ck_assert_uint_eq(s.n, sp.records);
    ck_assert_uint_eq(s.first, sp.dropped + 1); /* the oldest went first */
    ck_assert_uint_eq(s.last, 2000);
    probe_spool_close(&sp);
}
END_TEST

/* A bound lowered between runs: the big newest segment goes, counted. */
START_TEST(lowered_bound_still_appends)
{
    struct probe_spool sp;

    ck_assert_int_eq(probe_spool_open(&sp, dir, 8u << 20), 0); /* 1 MiB segments */
    append_range(&sp, 1, 600);
    ck_assert_uint_eq(sp.nsegs, 1);
    probe_spool_close(&sp);
    ck_assert_int_eq(probe_spool_open(&sp, dir, 128u << 10), 0);
    append_range(&sp, 601, 700);
    ck_assert_uint_le(sp.bytes, 128u << 10);
    ck_assert_uint_eq(sp.dropped + sp.records, 700);
    ck_assert_uint_eq(scan(&sp, 0).last, 700);
    probe_spool_close(&sp);
}
END_TEST

Suite *spool_suite(void)
{
    Suite *s = suite_create("spool");
    TCase *tc = tcase_create("spool");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reopen_keeps_everything);
    tcase_add_test(tc, torn_tail_is_cut);
    tcase_add_test(tc, damage_cuts_there);
    tcase_add_test(tc, ack_removes_whole_segments);
    tcase_add_test(tc, empty_newest_segment_is_kept);
    tcase_add_test(tc, lock_and_seq0);
    tcase_add_test(tc, drop_counts_only_unacknowledged);
    tcase_add_test(tc, lowered_bound_still_appends);
    tcase_add_test(tc, bound_drops_oldest_counted);
    suite_add_tcase(s, tc);
    return s;
}
