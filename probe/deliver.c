/*
 * deliver.c - between the windows and the uplink: every record goes to the
 * spool, and goes out from there, until the controller acknowledges it.
 *
 * A record is appended when its window closes, and the spool is synced
 * once for all the records of that close; only records made durable are
 * sent.  That order keeps sequence numbers unique: a record the controller
 * may have stored is on disk, so a probe that restarts after a crash never
 * gives its number to another record.
 *
 * The spool keeps each record as the payload of a RESULTS message of one
 * record: the decoder that checks what the controller sends also checks
 * what comes back from disk.  A batch is those records decoded and
 * encoded again as one message, with the probe's health.
 *
 * Records the spool drops (bound, full disk) are reported per window: a
 * report goes with every batch until an ACK covers one that carried it.
 * No I/O here but the spool's files; nothing uses libuv.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "probe.h"

int probe_delivery_open(struct probe_delivery *d, const char *dir, uint64_t max_bytes,
                        uint64_t now_us, uint64_t *next_seq)
{
    struct probe_spool *s = &d->spool;
    uint64_t next;
    int rc;

    memset(d, 0, sizeof(*d));
    rc = probe_spool_open(s, dir, max_bytes);
    if (rc < 0)
        return rc;
    next = probe_spool_next_seq(s);
    if (next == 0) {
        /* A new spool: above any number an earlier one can have given,
         * which counted up from its own start one record at a time. */
        next = now_us > s->seq0 ? now_us : s->seq0 + 1;
        rc = probe_spool_set_seq0(s, next);
    } else if (s->seq0 == 0 || s->seq0 > next) {
        rc = probe_spool_set_seq0(s, s->segs[0].first_seq);
    }
    if (rc < 0) {
        probe_spool_close(s);
        return rc;
    }
    d->sent = s->acked; /* what the controller has is not sent again */
    d->dropped_reported = s->dropped;
    *next_seq = next;
    return 0;
}

void probe_delivery_close(struct probe_delivery *d)
{
    probe_spool_close(&d->spool);
}

int probe_delivery_append(struct probe_delivery *d, struct proto_result *r)
{
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};
    uint8_t *frame;
    size_t len;
    int rc;

    m.u.results.nresults = 1;
    m.u.results.results = r;
    rc = proto_msg_encode(&m, &frame, &len);
    if (rc < 0) {
        d->spool.dropped++; /* its number is spent: a hole, so counted */
        return rc;
    }
    rc = probe_spool_append(&d->spool, r->seq, frame + PROTO_FRAME_HDR,
                            len - PROTO_FRAME_HDR);
    free(frame);
    return rc;
}

/* Keeps a drop report; past the limit the two oldest become one. */
static void add_drop_report(struct probe_delivery *d, int64_t window_start_ms,
                            uint64_t records)
{
    if (d->ndrops == PROTO_DROPWIN_MAX) {
        /* Under the older window's start: the controller keeps the larger
         * count for a window, so a merged report only ever grows it. */
        uint64_t sum = (uint64_t)d->drops[0].records + d->drops[1].records;

        d->drops[1].window_start_ms = d->drops[0].window_start_ms;
        d->drops[1].records = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
        d->drop_sent_with[1] = 0;
        memmove(d->drops, d->drops + 1, (d->ndrops - 1) * sizeof(d->drops[0]));
        memmove(d->drop_sent_with, d->drop_sent_with + 1,
                (d->ndrops - 1) * sizeof(d->drop_sent_with[0]));
        d->ndrops--;
    }
    d->drops[d->ndrops].window_start_ms = window_start_ms;
    d->drops[d->ndrops].records = records > UINT32_MAX ? UINT32_MAX : (uint32_t)records;
    d->drop_sent_with[d->ndrops++] = 0;
}

int probe_delivery_commit(struct probe_delivery *d, int64_t window_start_ms)
{
    struct probe_spool *s = &d->spool;
    int rc = probe_spool_sync(s); /* a failed one drops what it could not keep */
    uint64_t lost = s->dropped - d->dropped_reported;

    if (lost > 0) {
        log_warn("spool full: dropped the %" PRIu64 " oldest records not yet delivered "
                 "(%" PRIu64 " since the probe started)",
                 lost, s->dropped);
        add_drop_report(d, window_start_ms, lost);
        d->dropped_reported = s->dropped;
    }
    return rc;
}

struct batch_load {
    struct probe_delivery *d;
    struct proto_result *out;
    uint32_t n, max;
};

/* Decodes one spooled record into its result; -EBADMSG when it is not one. */
static int record_decode(uint64_t seq, const uint8_t *rec, size_t len,
                         struct proto_result *out)
{
    struct proto_msg m;
    int rc = proto_msg_decode(rec, len, &m);

    if (rc < 0)
        return rc;
    if (m.type != PROTO_MSG_RESULTS || m.u.results.nresults != 1 ||
        m.u.results.results[0].seq != seq) {
        proto_msg_free(&m);
        return -EBADMSG;
    }
    *out = m.u.results.results[0]; /* the sketch goes with it */
    free(m.u.results.results);
    return 0;
}

static int load_one(void *arg, uint64_t seq, const uint8_t *rec, size_t len)
{
    struct batch_load *b = arg;
    int rc;

    if (seq > b->d->spool.synced_last)
        return 1; /* not synced: not yet */
    rc = record_decode(seq, rec, len, &b->out[b->n]);
    if (rc == 0)
        return ++b->n == b->max;
    if (rc != -EBADMSG && rc != -EPROTO)
        return rc; /* out of memory: the next flush tries again */
    if (b->n > 0)
        return 1; /* it heads the next batch, and is skipped there */
    /* Written by this code, checked by its CRC: a bug or another version.
     * Counted once, though a reconnect reads past it again. */
    if (seq > b->d->unreadable_seq) {
        log_error("spool: record %" PRIu64 " cannot be read back (%s): dropped", seq,
                  proto_strerror(rc));
        b->d->unreadable++;
        b->d->unreadable_seq = seq;
    }
    b->d->sent = seq;
    return 0;
}

static int oldest_age(void *arg, uint64_t seq, const uint8_t *rec, size_t len)
{
    int64_t *end_ms = arg;
    struct proto_result r;

    if (record_decode(seq, rec, len, &r) == 0) {
        *end_ms = r.window_start_ms + (int64_t)r.window_s * 1000;
        proto_sketch_free(&r.sketch);
    }
    return 1;
}

/*
 * When the oldest record not acknowledged was made: read from it once per
 * acknowledgement or drop, not per batch (it may lie in another segment
 * than the one being sent, and a segment is read whole).
 */
static int64_t oldest_end_ms(struct probe_delivery *d, int64_t now_ms)
{
    struct probe_spool *s = &d->spool;

    if (d->oldest_end_ms == 0 || d->oldest_acked != s->acked ||
        d->oldest_dropped != s->dropped) {
        d->oldest_end_ms = now_ms;
        probe_spool_scan_at(s, &d->oldest_at, s->acked, oldest_age, &d->oldest_end_ms);
        d->oldest_acked = s->acked;
        d->oldest_dropped = s->dropped;
    }
    return d->oldest_end_ms;
}

static void fill_health(struct probe_delivery *d, struct proto_health *h, int64_t now_ms)
{
    struct probe_spool *s = &d->spool;
    int64_t end_ms = now_ms;

    memset(h, 0, sizeof(*h));
    h->seq0 = s->seq0;
    h->spool_bytes = s->bytes;
    h->pending = probe_spool_pending(s);
    if (h->pending > 0)
        end_ms = oldest_end_ms(d, now_ms);
    h->oldest_s = end_ms < now_ms ? (uint32_t)((now_ms - end_ms) / 1000) : 0;
    h->dropped = s->dropped + d->unreadable;
    h->reconnects = d->reconnects;
    h->torn_bytes = s->torn_bytes;
    h->ndrops = d->ndrops;
    memcpy(h->drops, d->drops, d->ndrops * sizeof(d->drops[0]));
}

int probe_delivery_next(struct probe_delivery *d, struct proto_results *rs, uint32_t max,
                        int64_t now_ms)
{
    struct batch_load b = {.d = d, .max = max};
    int rc;

    memset(rs, 0, sizeof(*rs));
    if (d->sent >= d->spool.synced_last)
        return 0;
    b.out = calloc(max, sizeof(*b.out));
    if (b.out == NULL)
        return -ENOMEM;
    rc = probe_spool_scan_at(&d->spool, &d->load_at, d->sent, load_one, &b);
    if (rc < 0 || b.n == 0) {
        free(b.out);
        return rc < 0 ? rc : 0;
    }
    rs->results = b.out;
    rs->nresults = b.n;
    rs->has_health = 1;
    fill_health(d, &rs->health, now_ms);
    return (int)b.n;
}

void probe_delivery_sent(struct probe_delivery *d, const struct proto_results *rs,
                         uint32_t n)
{
    uint64_t last = rs->results[n - 1].seq;

    d->sent = last;
    for (uint32_t i = 0; i < rs->health.ndrops && i < d->ndrops; i++)
        if (d->drop_sent_with[i] == 0)
            d->drop_sent_with[i] = last;
}

void probe_delivery_ack(struct probe_delivery *d, uint64_t seq)
{
    uint32_t kept = 0;
    int rc;

    /* Never beyond what was sent: a controller's mistake must not
     * make the probe forget records it never delivered. */
    if (seq > d->sent)
        seq = d->sent;
    if (seq <= d->spool.acked)
        return;
    rc = probe_spool_ack(&d->spool, seq);
    if (rc < 0)
        log_warn("spool: cannot remove acknowledged segments: %s", strerror(-rc));
    for (uint32_t i = 0; i < d->ndrops; i++) {
        if (d->drop_sent_with[i] != 0 && d->drop_sent_with[i] <= seq)
            continue; /* the controller has it */
        d->drops[kept] = d->drops[i];
        d->drop_sent_with[kept++] = d->drop_sent_with[i];
    }
    d->ndrops = kept;
}

void probe_delivery_rewind(struct probe_delivery *d)
{
    d->sent = d->spool.acked;
    memset(d->drop_sent_with, 0, sizeof(d->drop_sent_with));
}
