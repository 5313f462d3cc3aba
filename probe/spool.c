/*
 * spool.c - the probe's crash-safe queue of result records on disk.
 *
 * Records go to append-only segment files in one directory, named by the
 * sequence number of their first record ("seg-00000000000000000042.spool"),
 * so that the oldest sorts first.  Each record is
 *
 *   length (4 octets, big-endian)  the payload's octets
 *   crc    (4)                     CRC-32 (zlib) of seq and payload
 *   seq    (8)                     the record's sequence number
 *   payload                        the record, as the wire encodes it
 *
 * A record is written before it is sent; the caller syncs once per window,
 * not per record, so a crash loses at most the window not yet synced, and
 * the uplink resends what the controller did not acknowledge.  At open,
 * every segment is read through: each complete record with a right CRC and
 * a rising sequence number is kept; the first that is not ends that
 * segment, which is cut there (a torn tail: the write a crash interrupted).
 *
 * Invariants: segments hold strictly rising sequence numbers, older
 * segments lower ones; bytes is the sum of their sizes and never exceeds
 * max_bytes after an append returns.  To stay within it, whole segments go,
 * oldest first, and their unacknowledged records are counted in dropped:
 * never silent.
 *
 * Sequence numbers run on across restarts: the newest segment is never
 * removed, not even when all of it is acknowledged or empty, so its name
 * or its last record tells where to go on.  The file "seq0" holds the
 * first sequence number the spool ever gave; the controller tells a new
 * spool (a jump to a new seq0) from dropped records (a hole above seq0).
 * A file "lock" keeps a second probe out of the directory; "acked" holds
 * the highest number the controller acknowledged.
 * No I/O here blocks on anything but the disk; nothing uses libuv.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zlib.h>

#include "probe.h"

#define SPOOL_HDR     16
#define SPOOL_PREFIX  "seg-"
#define SPOOL_SUFFIX  ".spool"
#define SPOOL_SEG_MAX (4u << 20) /* a segment's size before the next one opens */
#define SPOOL_SEG_MIN (8u << 10)

static uint32_t record_crc(uint64_t seq, const uint8_t *p, size_t len)
{
    uint8_t s[8];
    struct proto_wr w;
    uLong crc = crc32(0L, Z_NULL, 0);

    proto_wr_init(&w, s, sizeof(s));
    proto_wr_u64(&w, seq);
    crc = crc32(crc, s, sizeof(s));
    return (uint32_t)crc32(crc, p, (uInt)len);
}

static void seg_path(const struct probe_spool *s, uint64_t first, char *buf, size_t len)
{
    snprintf(buf, len, "%s/" SPOOL_PREFIX "%020" PRIu64 SPOOL_SUFFIX, s->dir, first);
}

/*
 * The segment size: small enough that dropping one loses little, and that
 * a filesystem smaller than the bound holds several (so a full disk drops
 * the oldest, not the newest).
 */
static uint64_t seg_limit(const struct probe_spool *s)
{
    uint64_t cap =
        s->fs_bytes != 0 && s->fs_bytes < s->max_bytes ? s->fs_bytes : s->max_bytes;
    uint64_t l = cap / 8;

    return l > SPOOL_SEG_MAX ? SPOOL_SEG_MAX : l < SPOOL_SEG_MIN ? SPOOL_SEG_MIN : l;
}

static int add_seg(struct probe_spool *s, const struct probe_spool_seg *g)
{
    if (s->nsegs == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        struct probe_spool_seg *n = realloc(s->segs, cap * sizeof(*n));

        if (n == NULL)
            return -ENOMEM;
        s->segs = n;
        s->cap = cap;
    }
    s->segs[s->nsegs++] = *g;
    return 0;
}

/*
 * Reads one record header and payload at r; 1 with it, 0 at a clean end,
 * -EBADMSG for a torn or damaged one (r then stays at its start).
 */
static int read_record(struct proto_rd *r, uint64_t after, uint64_t *seq,
                       const uint8_t **payload, uint32_t *len)
{
    size_t start = r->off;
    uint32_t crc;

    if (proto_rd_left(r) == 0)
        return 0;
    if (proto_rd_u32(r, len) < 0 || proto_rd_u32(r, &crc) < 0 ||
        proto_rd_u64(r, seq) < 0 || *len == 0 || *len > PROTO_FRAME_MAX ||
        proto_rd_left(r) < *len)
        goto bad;
    *payload = r->p + r->off;
    if (record_crc(*seq, *payload, *len) != crc || *seq <= after)
        goto bad;
    proto_rd_skip(r, *len);
    return 1;
bad:
    r->off = start;
    return -EBADMSG;
}

/* Reads a whole file into memory; *buf is malloc'd (NULL when empty). */
static int slurp(const char *path, uint8_t **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    struct stat st;
    ssize_t n;

    *buf = NULL;
    *len = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto done;
    }
    if (st.st_size == 0)
        goto done;
    *buf = malloc((size_t)st.st_size);
    if (*buf == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    while (*len < (size_t)st.st_size) {
        n = read(fd, *buf + *len, (size_t)st.st_size - *len);
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        *len += (size_t)n;
    }
done:
    close(fd);
    return rc;
}

/*
 * Recovers one segment: keeps its complete records (their count and last
 * sequence number in g) and cuts a torn tail off the file.  A segment with
 * nothing whole in it is removed, unless it is the newest: its name still
 * tells where the sequence numbers go on.
 */
static int recover_seg(struct probe_spool *s, const char *path, struct probe_spool_seg *g,
                       uint64_t after, int newest)
{
    struct proto_rd r;
    uint8_t *buf;
    size_t len;
    uint64_t seq;
    const uint8_t *payload;
    uint32_t plen;
    int rc = slurp(path, &buf, &len);

    if (rc < 0)
        return rc;
    proto_rd_init(&r, buf, len);
    while ((rc = read_record(&r, after, &seq, &payload, &plen)) == 1) {
        if (g->nrecs++ == 0)
            g->first_seq = seq;
        g->last_seq = after = seq;
    }
    if (g->nrecs == 0)
        g->first_seq = g->name_seq, g->last_seq = g->name_seq - 1;
    g->bytes = r.off;
    if (rc < 0) {
        s->torn_bytes += len - r.off;
        if (truncate(path, (off_t)r.off) < 0)
            rc = -errno;
        else
            rc = 0;
    }
    free(buf);
    if (rc == 0 && g->nrecs == 0 && !newest && unlink(path) < 0)
        rc = -errno;
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The segment files' names, sorted: oldest first. */
static int list_segs(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 0;
    int rc = 0;

    *names = NULL;
    *n = 0;
    if (d == NULL)
        return -errno;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);

        /* Only names we make: the prefix, 20 digits, the suffix. */
        if (l != strlen(SPOOL_PREFIX) + 20 + strlen(SPOOL_SUFFIX) ||
            strncmp(e->d_name, SPOOL_PREFIX, strlen(SPOOL_PREFIX)) != 0 ||
            strspn(e->d_name + strlen(SPOOL_PREFIX), "0123456789") != 20 ||
            strcmp(e->d_name + l - strlen(SPOOL_SUFFIX), SPOOL_SUFFIX) != 0)
            continue;
        if (*n == cap) {
            char **m = realloc(*names, (cap = cap ? 2 * cap : 16) * sizeof(*m));

            if (m == NULL) {
                rc = -ENOMEM;
                break;
            }
            *names = m;
        }
        if (((*names)[*n] = strdup(e->d_name)) == NULL)
            rc = -ENOMEM;
        else
            (*n)++;
    }
    closedir(d);
    if (*n > 0)
        qsort(*names, *n, sizeof(**names), name_cmp);
    return rc;
}

/* Makes the directory's entries durable: a new segment's name, seq0. */
static int sync_dir(const struct probe_spool *s)
{
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* One probe a spool: a second one would interleave its records. */
static int lock_dir(struct probe_spool *s)
{
    char path[1200];

    snprintf(path, sizeof(path), "%s/lock", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return -errno;
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK ? -EBUSY : -errno;
    return 0;
}

static int read_seq0(struct probe_spool *s)
{
    char path[1200], buf[32] = "";
    FILE *f;

    snprintf(path, sizeof(path), "%s/seq0", s->dir);
    f = fopen(path, "re");
    if (f == NULL)
        return errno == ENOENT ? 0 : -errno;
    if (fgets(buf, sizeof(buf), f) != NULL)
        s->seq0 = strtoull(buf, NULL, 10);
    fclose(f);
    return 0;
}

int probe_spool_set_seq0(struct probe_spool *s, uint64_t seq0)
{
    char path[1200], tmp[1200];
    FILE *f;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/seq0", s->dir);
    snprintf(tmp, sizeof(tmp), "%s/seq0.new", s->dir);
    f = fopen(tmp, "we");
    if (f == NULL)
        return -errno;
    if (fprintf(f, "%" PRIu64 "\n", seq0) < 0 || fflush(f) != 0 || fsync(fileno(f)) < 0)
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc == 0)
        rc = sync_dir(s);
    if (rc == 0)
        s->seq0 = seq0;
    return rc;
}

static void measure_fs(struct probe_spool *s)
{
    struct statvfs v;

    if (statvfs(s->dir, &v) == 0)
        s->fs_bytes = (uint64_t)v.f_blocks * v.f_frsize;
}

/*
 * The acknowledged number, kept in the file "acked" so that a restart does
 * not send the newest segment again.  Not synced: a stale value only makes
 * the controller see, and ignore, some records twice.
 */
static void save_acked(struct probe_spool *s)
{
    uint8_t b[8];
    struct proto_wr w;

    if (s->acked_fd < 0)
        return;
    proto_wr_init(&w, b, sizeof(b));
    proto_wr_u64(&w, s->acked);
    /* A failed write is written over at the next acknowledgement. */
    if (pwrite(s->acked_fd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return;
}

static void load_acked(struct probe_spool *s)
{
    char path[1200];
    uint8_t b[8];
    struct proto_rd r;
    uint64_t v = 0;

    snprintf(path, sizeof(path), "%s/acked", s->dir);
    s->acked_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->acked_fd < 0 || pread(s->acked_fd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return;
    proto_rd_init(&r, b, sizeof(b));
    proto_rd_u64(&r, &v);
    s->acked_file = v;
    /* Only within what the spool holds: a file from another life of the
     * directory must not hide records. */
    if (s->nsegs > 0 && v >= s->segs[0].first_seq && v <= probe_spool_last_seq(s))
        s->acked = v;
}

/* The newest segment is on disk as it stands. */
static void mark_synced(struct probe_spool *s)
{
    const struct probe_spool_seg *g = &s->segs[s->nsegs - 1];

    s->synced_bytes = g->bytes;
    s->synced_nrecs = g->nrecs;
    s->synced_last = g->last_seq;
    s->dirty = 0;
}

/*
 * What a killed process wrote may still be in the page cache only; it is
 * about to be sent as if durable, so make it so (and the cuts of torn
 * tails with it).
 */
static int sync_recovered(struct probe_spool *s)
{
    char path[1200];
    int fd, rc = 0;

    if (s->nsegs == 0)
        return 0;
    seg_path(s, s->segs[s->nsegs - 1].name_seq, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fdatasync(fd) < 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = sync_dir(s);
    if (rc == 0)
        mark_synced(s);
    return rc;
}

int probe_spool_open(struct probe_spool *s, const char *dir, uint64_t max_bytes)
{
    char **names = NULL, path[1200];
    size_t n = 0;
    uint64_t after = 0;
    int rc;

    memset(s, 0, sizeof(*s));
    s->fd = s->lock_fd = s->acked_fd = -1;
    s->max_bytes = max_bytes;
    if (snprintf(s->dir, sizeof(s->dir), "%s", dir) >= (int)sizeof(s->dir))
        return -ENAMETOOLONG;
    if ((rc = privs_make_dirs(dir)) < 0)
        return rc;
    measure_fs(s);
    rc = lock_dir(s);
    if (rc == 0)
        rc = read_seq0(s);
    if (rc == 0)
        rc = list_segs(dir, &names, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct probe_spool_seg g = {0};

        /* By its name, which need not be its first record's after damage. */
        g.name_seq = strtoull(names[i] + strlen(SPOOL_PREFIX), NULL, 10);
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        rc = recover_seg(s, path, &g, after, i + 1 == n);
        if (rc == 0 && (g.nrecs > 0 || i + 1 == n)) {
            after = g.nrecs > 0 ? g.last_seq : after;
            s->bytes += g.bytes;
            s->records += g.nrecs;
            rc = add_seg(s, &g);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == 0)
        load_acked(s);
    if (rc == 0)
        rc = sync_recovered(s);
    if (rc < 0)
        probe_spool_close(s);
    return rc;
}

void probe_spool_close(struct probe_spool *s)
{
    if (s->fd >= 0)
        close(s->fd);
    if (s->acked_fd >= 0)
        close(s->acked_fd);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* and with it the lock */
    s->fd = s->lock_fd = s->acked_fd = -1;
    free(s->cache);
    s->cache = NULL;
    s->cache_len = 0;
    free(s->segs);
    s->segs = NULL;
    s->nsegs = s->cap = 0;
}

uint64_t probe_spool_last_seq(const struct probe_spool *s)
{
    return s->nsegs > 0 ? s->segs[s->nsegs - 1].last_seq : 0;
}

uint64_t probe_spool_next_seq(const struct probe_spool *s)
{
    uint64_t next = s->nsegs > 0 ? s->segs[s->nsegs - 1].last_seq + 1 : 0;

    /* Numbers the controller acknowledged are taken, even if damage cut
     * their records out of the newest segment. */
    if (next != 0 && s->acked_file >= next)
        next = s->acked_file + 1;
    return next;
}

static int scan_seg(struct probe_spool *s, size_t i, struct probe_spool_cursor *c,
                    uint64_t after, probe_spool_fn fn, void *arg);

static int count_after(void *arg, uint64_t seq, const uint8_t *rec, size_t len)
{
    (void)seq, (void)rec, (void)len;
    ++*(uint64_t *)arg;
    return 0;
}

/* Records of segment i the controller has not acknowledged. */
static uint64_t unacked_in(struct probe_spool *s, size_t i)
{
    uint64_t n = 0;

    if (s->segs[i].first_seq > s->acked)
        return s->segs[i].nrecs;
    if (s->segs[i].last_seq <= s->acked)
        return 0;
    /* Partly acknowledged: count; if it cannot be read, count it all. */
    if (scan_seg(s, i, NULL, s->acked, count_after, &n) < 0)
        return s->segs[i].nrecs;
    return n;
}

/* Removes the oldest segment's file and forgets it. */
static int forget_oldest(struct probe_spool *s)
{
    char path[1200];

    seg_path(s, s->segs[0].name_seq, path, sizeof(path));
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    s->records -= s->segs[0].nrecs;
    s->bytes -= s->segs[0].bytes;
    memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof(*s->segs));
    s->nsegs--;
    return 0;
}

/*
 * Removes the oldest segment, counting its records not acknowledged as
 * dropped.  The newest stays (it holds where the numbers go on).
 */
static int drop_oldest(struct probe_spool *s)
{
    uint64_t lost;
    int rc;

    if (s->nsegs < 2)
        return -ENOSPC;
    lost = unacked_in(s, 0);
    if ((rc = forget_oldest(s)) == 0)
        s->dropped += lost;
    return rc;
}

/* The newest segment takes no more appends: the next one opens a new one. */
static void seal_newest(struct probe_spool *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->nsegs > 0)
        s->segs[s->nsegs - 1].sealed = 1;
}

/*
 * A sync failed: what was appended since the last good one may not be on
 * disk, and a later sync that succeeds would not say so (Linux reports a
 * writeback error once).  Those records are cut off and counted as
 * dropped; they were never sent, so their numbers were never seen.
 */
static int sync_failed(struct probe_spool *s, int err)
{
    struct probe_spool_seg *g = &s->segs[s->nsegs - 1];
    uint64_t lost = g->nrecs - s->synced_nrecs;

    /* Whether or not the cut works, nothing past synced_bytes is read:
     * the segment's size says where its records end, and it is sealed.
     * The sync's error is the one to tell. */
    int cut = ftruncate(s->fd, (off_t)s->synced_bytes);

    (void)cut;
    s->dropped += lost;
    s->records -= lost;
    s->bytes -= g->bytes - s->synced_bytes;
    g->bytes = s->synced_bytes;
    g->nrecs = s->synced_nrecs;
    g->last_seq = s->synced_last;
    seal_newest(s);
    s->dirty = 0;
    return err;
}

static int sync_newest(struct probe_spool *s)
{
    if (!s->dirty || s->fd < 0)
        return 0;
    if (fdatasync(s->fd) < 0)
        return sync_failed(s, -errno);
    mark_synced(s);
    return 0;
}

/* Opens a new segment for seq when there is none, or the last is full. */
static int ensure_segment(struct probe_spool *s, uint64_t seq, size_t need)
{
    struct probe_spool_seg g = {.name_seq = seq, .first_seq = seq};
    struct probe_spool_seg *last = s->nsegs > 0 ? &s->segs[s->nsegs - 1] : NULL;
    int room = last != NULL && !last->sealed && last->bytes + need <= seg_limit(s);
    char path[1200];
    int rc;

    if (room && s->fd >= 0)
        return 0;
    if (room) {
        /* After a restart: go on appending to the newest segment. */
        seg_path(s, last->name_seq, path, sizeof(path));
        s->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        return s->fd < 0 ? -errno : 0;
    }
    /* A full one is only read from now on: what the window appended to it
     * must be as durable as what goes to the next. */
    if ((rc = sync_newest(s)) < 0)
        return rc;
    seal_newest(s);
    seg_path(s, seq, path, sizeof(path));
    s->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (s->fd < 0)
        return -errno;
    g.last_seq = seq - 1;
    rc = add_seg(s, &g);
    if (rc < 0) {
        close(s->fd);
        s->fd = -1;
        unlink(path);
        return rc;
    }
    mark_synced(s); /* empty */
    /* Its name must outlive a power cut, as it tells where numbers go on;
     * if it cannot be made durable now, the next new segment tries again. */
    sync_dir(s);
    return 0;
}

/* Writes a record (its header, then it), or puts the file back as it was and fails. */
static int write_all(struct probe_spool *s, const uint8_t *hdr, const uint8_t *rec,
                     size_t len)
{
    struct probe_spool_seg *g = &s->segs[s->nsegs - 1];
    struct iovec iov[2] = {{(void *)hdr, SPOOL_HDR}, {(void *)rec, len}}, *v = iov;
    int nv = 2;
    ssize_t n;

    /* One system call a record, more only when the kernel takes less. */
    while (nv > 0) {
        n = writev(s->fd, v, nv);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? -errno : -ENOSPC;

            /* A record half written would be a torn tail in the middle:
             * cut it, or append no more after it. */
            if (ftruncate(s->fd, (off_t)g->bytes) < 0)
                seal_newest(s);
            return err;
        }
        for (; nv > 0 && (size_t)n >= v->iov_len; v++, nv--)
            n -= (ssize_t)v->iov_len;
        if (nv > 0) {
            v->iov_base = (uint8_t *)v->iov_base + n;
            v->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Writes one record; on a full disk the oldest make room, twice at most. */
static int write_record(struct probe_spool *s, uint64_t seq, const uint8_t *hdr,
                        const uint8_t *rec, size_t len)
{
    size_t need = SPOOL_HDR + len;
    int rc, tries = 0;

    for (;;) {
        rc = ensure_segment(s, seq, need);
        /* The bound; a newest segment that alone exceeds it (the bound
         * was lowered) was sealed, so it is no longer the newest. */
        while (rc == 0 && s->bytes + need > s->max_bytes)
            rc = drop_oldest(s);
        if (rc == 0)
            rc = write_all(s, hdr, rec, len);
        if (rc != -ENOSPC && rc != -EDQUOT)
            return rc;
        /* The disk is full: the spool stops growing, the oldest makes room. */
        if (++tries > 2 || s->nsegs < 2 || drop_oldest(s) < 0)
            return rc;
    }
}

int probe_spool_append(struct probe_spool *s, uint64_t seq, const uint8_t *rec,
                       size_t len)
{
    uint8_t hdr[SPOOL_HDR];
    struct proto_wr w;
    struct probe_spool_seg *g;
    int rc = -EMSGSIZE;

    if (len == 0 || len > PROTO_FRAME_MAX || SPOOL_HDR + len > s->max_bytes)
        goto dropped;
    rc = -EINVAL;
    if (seq < probe_spool_next_seq(s))
        goto dropped;
    if (s->nsegs == 1 && s->bytes + SPOOL_HDR + len > s->max_bytes)
        seal_newest(s);
    proto_wr_init(&w, hdr, sizeof(hdr));
    proto_wr_u32(&w, (uint32_t)len);
    proto_wr_u32(&w, record_crc(seq, rec, len));
    proto_wr_u64(&w, seq);
    if ((rc = write_record(s, seq, hdr, rec, len)) < 0)
        goto dropped;
    g = &s->segs[s->nsegs - 1];
    g->bytes += SPOOL_HDR + len;
    g->last_seq = seq;
    if (g->nrecs++ == 0)
        g->first_seq = seq;
    s->bytes += SPOOL_HDR + len;
    s->records++;
    s->dirty = 1;
    return 0;
dropped:
    s->dropped++; /* this record: counted, never silent */
    return rc;
}

int probe_spool_sync(struct probe_spool *s)
{
    return sync_newest(s);
}

int probe_spool_ack(struct probe_spool *s, uint64_t acked)
{
    int n = 0, rc;

    if (acked > s->acked) {
        s->acked = acked;
        save_acked(s);
    }
    /* Whole segments only: a segment partly acknowledged stays, and its
     * acknowledged records are skipped when read (probe_spool_scan).  The
     * newest stays too: it tells where the sequence numbers go on. */
    while (s->nsegs > 1 && s->segs[0].last_seq <= acked) {
        if ((rc = forget_oldest(s)) < 0)
            return rc;
        n++;
    }
    return n;
}

/*
 * Segment i's octets, read once and kept while they are read again: a
 * backlog goes out a batch at a time.  Segments only grow, and a name is
 * never used twice, so a copy of the same name as long as the segment
 * says it is stays right.
 */
static int load_seg(struct probe_spool *s, size_t i)
{
    const struct probe_spool_seg *g = &s->segs[i];
    char path[1200];
    uint8_t *buf;
    size_t len;
    int rc;

    if (s->cache != NULL && s->cache_name == g->name_seq && s->cache_len >= g->bytes)
        return 0;
    seg_path(s, g->name_seq, path, sizeof(path));
    if ((rc = slurp(path, &buf, &len)) < 0)
        return rc;
    if (len < g->bytes) { /* changed behind our back */
        free(buf);
        return -EIO;
    }
    free(s->cache);
    s->cache = buf;
    s->cache_len = len;
    s->cache_name = g->name_seq;
    return 0;
}

/*
 * Calls fn for the records of segment i above after.  With a cursor, starts
 * where the last scan through it stopped in this segment, if that is not
 * beyond after: a backlog goes out a batch at a time, and reading (and
 * checking) the segment from its start for every batch would cost the
 * square of its length.
 */
static int scan_seg(struct probe_spool *s, size_t i, struct probe_spool_cursor *c,
                    uint64_t after, probe_spool_fn fn, void *arg)
{
    const struct probe_spool_seg *g = &s->segs[i];
    struct proto_rd r;
    uint64_t seq, prev = 0;
    const uint8_t *payload;
    uint32_t plen;
    int rc = load_seg(s, i);

    if (rc < 0)
        return rc;
    proto_rd_init(&r, s->cache, g->bytes);
    if (c != NULL && c->name == g->name_seq && c->seq <= after && c->off <= g->bytes) {
        r.off = c->off;
        prev = c->seq;
    }
    while (rc == 0 && read_record(&r, prev, &seq, &payload, &plen) == 1) {
        prev = seq;
        if (seq > after)
            rc = fn(arg, seq, payload, plen);
        if (c != NULL)
            *c = (struct probe_spool_cursor){g->name_seq, r.off, seq};
    }
    return rc;
}

int probe_spool_scan_at(struct probe_spool *s, struct probe_spool_cursor *c,
                        uint64_t after, probe_spool_fn fn, void *arg)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < s->nsegs; i++)
        if (s->segs[i].last_seq > after && s->segs[i].nrecs > 0)
            rc = scan_seg(s, i, c, after, fn, arg);
    return rc;
}

int probe_spool_scan(struct probe_spool *s, uint64_t after, probe_spool_fn fn, void *arg)
{
    return probe_spool_scan_at(s, NULL, after, fn, arg);
}

uint64_t probe_spool_pending(const struct probe_spool *s)
{
    uint64_t n = 0;

    /* Exact but for a segment partly acknowledged, where the numbers tell. */
    for (size_t i = 0; i < s->nsegs; i++) {
        const struct probe_spool_seg *g = &s->segs[i];

        if (g->first_seq > s->acked)
            n += g->nrecs;
        else if (g->last_seq > s->acked)
            n += g->last_seq - s->acked < g->nrecs ? g->last_seq - s->acked : g->nrecs;
    }
    return n;
}
