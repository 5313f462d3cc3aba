/*
 * fuzz_spool.c - the spool's recovery of a segment file (probe/spool.c):
 * whatever a crash or a damaged disk left, opening keeps exactly the
 * complete records before the first bad one, in rising order, cuts the
 * rest, accounts for every octet, and goes on numbering after them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "probe.h"

static char dir[64];
static char seg[128];

struct seen {
    uint64_t n, last;
};

static int count_cb(void *arg, uint64_t seq, const uint8_t *rec, size_t len)
{
    struct seen *s = arg;

    FUZZ_CHECK(seq > s->last && len > 0 && rec != NULL);
    s->last = seq;
    s->n++;
    return 0;
}

static void write_seg(const uint8_t *data, size_t size)
{
    int fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct probe_spool sp;
    struct seen s = {0};
    struct stat st;

    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/ixmesh-fuzz-spool.XXXXXX");
        FUZZ_CHECK(mkdtemp(dir) != NULL);
        snprintf(seg, sizeof(seg), "%s/seg-00000000000000000001.spool", dir);
    }
    write_seg(data, size);
    FUZZ_CHECK(probe_spool_open(&sp, dir, 64u << 20) == 0);
    FUZZ_CHECK(sp.bytes + sp.torn_bytes == size);
    FUZZ_CHECK(probe_spool_scan(&sp, 0, count_cb, &s) == 0);
    FUZZ_CHECK(s.n == sp.records);
    FUZZ_CHECK(s.last == probe_spool_last_seq(&sp));
    /* Cut to its whole records; kept even when empty, as the newest
     * segment's name tells where the numbers go on. */
    FUZZ_CHECK(stat(seg, &st) == 0 && (uint64_t)st.st_size == sp.bytes);
    FUZZ_CHECK(probe_spool_next_seq(&sp) == (sp.records > 0 ? s.last + 1 : 1));
    probe_spool_close(&sp);
    unlink(seg);
    return 0;
}
