/*
 * stamp.c - STAMP session-sender and stateless session-reflector logic
 * (RFC 8762), apart from the socket: stamp_io.c moves the octets.
 *
 * RTT = (T4 - T1) - (T3 - T2): the reflector's own turnaround is taken out
 * (RFC 8762 4.3, RFC 2681).
 */
#include <errno.h>
#include <string.h>

#include "probe.h"

/* Our clocks are not known to be synchronised to UTC: S = 0.  The error
 * estimate is multiplier x 2^(scale - 32) s (RFC 4656 4.1.2): 1 x 2^-14 s,
 * about 61 us, an honest figure for a software timestamp. */
const struct proto_stamp_errest probe_stamp_errest = {
    .sync = 0, .ptp = 0, .scale = 14, .mult = 1};

int64_t probe_ntp_to_ns(uint64_t ntp)
{
    struct timespec ts;

    proto_ntp_to_timespec(ntp, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t probe_ns_to_ntp(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

    return proto_ntp_from_timespec(&ts);
}

/*
 * The octets after the base packet: an Extra Padding TLV (RFC 8972 4.1)
 * when there is room for one, so that STAMP reflectors answer it cleanly;
 * zeros when fewer than a TLV header's octets are left.
 */
static int pad(uint8_t *buf, size_t base, size_t len)
{
    struct proto_wr w;

    if (len - base < PROTO_STAMP_TLV_HDR) {
        memset(buf + base, 0, len - base);
        return 0;
    }
    proto_wr_init(&w, buf + base, len - base);
    return proto_stamp_tlv_put_padding(&w, len - base - PROTO_STAMP_TLV_HDR);
}

int probe_stamp_request(struct probe_task *t, const uint8_t *key, int64_t wall_ns,
                        int64_t mono_ns, uint8_t *buf, size_t len)
{
    struct probe_window *w = &t->win[t->cur];
    struct proto_stamp_sender m = {.seq = t->next_seq,
                                   .ts = probe_ns_to_ntp(wall_ns),
                                   .err = probe_stamp_errest,
                                   .ssid = t->ssid};
    struct probe_slot *slot = &t->ring[m.seq & t->ring_mask];
    size_t base = key ? PROTO_STAMP_AUTH_LEN : PROTO_STAMP_BASE_LEN;
    int rc;

    if (len < base)
        return -ENOBUFS;
    rc = key ? proto_stamp_sender_encode_auth(&m, key, buf, base)
             : proto_stamp_sender_encode(&m, buf, base);
    if (rc >= 0)
        rc = pad(buf, base, len);
    if (rc < 0)
        return rc;
    slot->seq = m.seq;
    slot->t1_ns = mono_ns;
    slot->window_id = w->id;
    slot->used = 1;
    slot->answered = 0;
    t->next_seq++;
    w->sent++;
    return (int)len;
}

/* Decodes a reply in whichever layout it can be: authenticated, STAMP, or
 * a TWAMP-Light reflector's 38 to 43 octets (RFC 5357 4.2.1). */
static int decode_reply(const uint8_t *key, const uint8_t *buf, size_t len,
                        struct proto_stamp_reflector *m)
{
    if (key != NULL)
        return proto_stamp_reflector_decode_auth(buf, len, key, m);
    if (len >= PROTO_STAMP_BASE_LEN)
        return proto_stamp_reflector_decode(buf, len, m);
    return proto_stamp_reflector_decode_light(buf, len, m);
}

/* RTT = (T4 - T1) - (T3 - T2), each of the reflector's times read in its
 * own format (the Z bit of its Error Estimate). */
static int64_t round_trip(const struct probe_slot *slot,
                          const struct proto_stamp_reflector *m, int64_t t4_ns)
{
    int64_t rtt = t4_ns - slot->t1_ns;
    int64_t turnaround = proto_stamp_ts_to_ns(m->ts, m->err.ptp) -
                         proto_stamp_ts_to_ns(m->rx_ts, m->err.ptp);

    /* A reflector clock step could make the turnaround nonsense; then the
     * plain round trip is the better figure.  T2 = T3 (TWAMP-Light) is 0. */
    if (turnaround > 0 && turnaround < rtt)
        rtt -= turnaround;
    return rtt;
}

int probe_stamp_reply(struct probe_task *t, const uint8_t *key, const uint8_t *buf,
                      size_t len, int64_t t4_ns, struct probe_reply *rep)
{
    struct proto_stamp_reflector m;
    struct probe_slot *slot;
    struct probe_window *w;
    int64_t rtt;

    /* A zero multiplier makes the reflector's Error Estimate, and so its
     * timestamps, invalid (RFC 8762 4.2.1, RFC 4656 4.1.2).  A zero Receive
     * Timestamp is a request's MBZ octets, not a reflector's time. */
    if (decode_reply(key, buf, len, &m) < 0 || !proto_stamp_errest_valid(&m.err) ||
        m.rx_ts == 0)
        return -EBADMSG;
    /* A reflector without SSID support sends zeros there (RFC 8972 3). */
    if (m.ssid != t->ssid && m.ssid != 0)
        return -ENOENT;
    slot = &t->ring[m.sender_seq & t->ring_mask];
    if (!slot->used || slot->seq != m.sender_seq)
        return -ENOENT;
    w = probe_task_window(t, slot->window_id);
    if (w == NULL)
        return -ENOENT; /* its window already closed: counted as lost */
    if (slot->answered) {
        w->duplicates++;
        return -EALREADY;
    }
    slot->answered = 1;
    /* Serial arithmetic, so sequence numbers may wrap. */
    if ((int32_t)(m.sender_seq - t->next_exp) < 0)
        w->reordered++;
    else
        t->next_exp = m.sender_seq + 1;
    rtt = round_trip(slot, &m, t4_ns);
    if (rtt < 0)
        return -ERANGE;
    probe_window_add_rtt(w, rtt);
    /* A reply without the Sender TTL tells nothing of the forward leg: it
     * leaves the window's TTL, and so its path class, to other replies. */
    if (m.has_sender_ttl)
        probe_window_add_ttl(w, m.sender_ttl);
    if (rep != NULL)
        *rep = (struct probe_reply){.seq = m.sender_seq,
                                    .rtt_ns = rtt,
                                    .ttl = m.sender_ttl,
                                    .has_ttl = m.has_sender_ttl,
                                    .len = len};
    return 0;
}

/* The slot of seq while its request is outstanding, else NULL. */
static struct probe_slot *outstanding(struct probe_task *t, uint32_t seq)
{
    struct probe_slot *slot = &t->ring[seq & t->ring_mask];

    return slot->used && slot->seq == seq ? slot : NULL;
}

void probe_stamp_sent_at(struct probe_task *t, uint32_t seq, int64_t mono_ns)
{
    struct probe_slot *slot = outstanding(t, seq);

    if (slot != NULL && !slot->answered)
        slot->t1_ns = mono_ns;
}

/*
 * The path class is a claim about both legs (proto_path_class()): a reply
 * without the Sender TTL shows only the return one, which alone could pass
 * for "one-hop" with half the path seen.  Its return TTL is not counted.
 */
void probe_stamp_return_ttl(struct probe_task *t, const struct probe_reply *rep)
{
    struct probe_slot *slot = outstanding(t, rep->seq);
    struct probe_window *w = slot ? probe_task_window(t, slot->window_id) : NULL;

    if (w != NULL && rep->has_ttl)
        probe_window_add_ttl(w, rep->return_ttl);
}
