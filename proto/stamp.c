/*
 * stamp.c - STAMP test packets, RFC 8762, unauthenticated mode with the
 * SSID of RFC 8972 3, and the timestamps they carry.
 *
 * Every octet is read and written through proto_rd / proto_wr.  MBZ octets
 * are written as zero and not checked on receipt, so a peer that gives them
 * a meaning still decodes.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>

#include "proto.h"

/* Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch. */
#define NTP_UNIX_OFFSET 2208988800u
#define NS_PER_S        1000000000u

/* The Sender TTL's octet in a reflected packet, RFC 8762 4.3.1 (and RFC
 * 5357 4.2.1), after the two MBZ octets 38-39. */
#define REFLECTOR_TTL_OFF 40

/*
 * Error Estimate, RFC 4656 4.1.2 (used as is by RFC 8762 4.2.1):
 *   |S|Z|   Scale   |  Multiplier   |
 * Multiplier 0 is invalid on the wire, but we carry it through unchanged:
 * judging a peer's clock is the caller's business, not the codec's.
 */
uint16_t proto_stamp_errest_pack(const struct proto_stamp_errest *e)
{
    return (uint16_t)((e->sync & 1u) << 15 | (e->ptp & 1u) << 14 |
                      (e->scale & 0x3fu) << 8 | e->mult);
}

void proto_stamp_errest_unpack(uint16_t v, struct proto_stamp_errest *e)
{
    e->sync = (uint8_t)(v >> 15 & 1u);
    e->ptp = (uint8_t)(v >> 14 & 1u);
    e->scale = (uint8_t)(v >> 8 & 0x3fu);
    e->mult = (uint8_t)(v & 0xffu);
}

/* RFC 4656 4.1.2: "Multiplier MUST NOT be set to 0". */
int proto_stamp_errest_valid(const struct proto_stamp_errest *e)
{
    return e->mult != 0;
}

/* Multiplier x 2^-32 x 2^Scale seconds (RFC 4656 4.1.2), exact in a double. */
double proto_stamp_errest_ns(const struct proto_stamp_errest *e)
{
    return ldexp((double)e->mult * 1e9, (int)(e->scale & 0x3fu) - 32);
}

/*
 * Sequence Number, Timestamp and Error Estimate: the first 14 octets of both
 * packets (RFC 8762 4.2.1, 4.3.1) and the three "Session-Sender" fields the
 * reflector copies back in octets 24-37 (4.3.1).
 */
static int wr_triple(struct proto_wr *w, uint32_t seq, uint64_t ts,
                     const struct proto_stamp_errest *e)
{
    int rc;

    if ((rc = proto_wr_u32(w, seq)) < 0 || (rc = proto_wr_u64(w, ts)) < 0 ||
        (rc = proto_wr_u16(w, proto_stamp_errest_pack(e))) < 0)
        return rc;
    return 0;
}

static int rd_triple(struct proto_rd *r, uint32_t *seq, uint64_t *ts,
                     struct proto_stamp_errest *e)
{
    uint16_t v;
    int rc;

    if ((rc = proto_rd_u32(r, seq)) < 0 || (rc = proto_rd_u64(r, ts)) < 0 ||
        (rc = proto_rd_u16(r, &v)) < 0)
        return rc;
    proto_stamp_errest_unpack(v, e);
    return 0;
}

/* Encoders return an int length, so they refuse sizes an int cannot hold. */
static int check_out_len(size_t len)
{
    if (len < PROTO_STAMP_BASE_LEN)
        return -ENOBUFS;
    if (len > INT_MAX)
        return -EMSGSIZE;
    return 0;
}

/* Session-Sender packet, unauthenticated mode: RFC 8762 4.2.1, Figure 2. */
int proto_stamp_sender_encode(const struct proto_stamp_sender *m, uint8_t *buf,
                              size_t len)
{
    struct proto_wr w;
    int rc;

    if ((rc = check_out_len(len)) < 0)
        return rc;
    proto_wr_init(&w, buf, len);
    /* 14-15 SSID (RFC 8972 3), 16-43 MBZ; the rest, up to len, zero padding. */
    if ((rc = wr_triple(&w, m->seq, m->ts, &m->err)) < 0 ||
        (rc = proto_wr_u16(&w, m->ssid)) < 0 || (rc = proto_wr_zero(&w, len - w.off)) < 0)
        return rc;
    return (int)len;
}

int proto_stamp_sender_decode(const uint8_t *buf, size_t len,
                              struct proto_stamp_sender *m)
{
    struct proto_stamp_sender t;
    struct proto_rd r;
    int rc;

    if (len < PROTO_STAMP_BASE_LEN)
        return -EBADMSG;
    proto_rd_init(&r, buf, len);
    if ((rc = rd_triple(&r, &t.seq, &t.ts, &t.err)) < 0 ||
        (rc = proto_rd_u16(&r, &t.ssid)) < 0)
        return rc;
    *m = t;
    return 0;
}

/* Session-Reflector packet, unauthenticated mode: RFC 8762 4.3.1, Figure 4. */
int proto_stamp_reflector_encode(const struct proto_stamp_reflector *m, uint8_t *buf,
                                 size_t len)
{
    struct proto_wr w;
    int rc;

    if ((rc = check_out_len(len)) < 0)
        return rc;
    proto_wr_init(&w, buf, len);
    /* 0-13 as in 4.2.1, 14-15 SSID (RFC 8972 3), 16-23 Receive Timestamp. */
    if ((rc = wr_triple(&w, m->seq, m->ts, &m->err)) < 0 ||
        (rc = proto_wr_u16(&w, m->ssid)) < 0 || (rc = proto_wr_u64(&w, m->rx_ts)) < 0)
        return rc;
    /* 24-37 the Session-Sender's fields, 38-39 MBZ, 40 TTL, 41-43 MBZ, padding. */
    if ((rc = wr_triple(&w, m->sender_seq, m->sender_ts, &m->sender_err)) < 0 ||
        (rc = proto_wr_zero(&w, 2)) < 0 || (rc = proto_wr_u8(&w, m->sender_ttl)) < 0 ||
        (rc = proto_wr_zero(&w, len - w.off)) < 0)
        return rc;
    return (int)len;
}

/*
 * Octets 0-37 of a reflected packet, and the Sender TTL (octet 40) when the
 * packet reaches it; the reader stops there.  The caller has checked len
 * against PROTO_STAMP_LIGHT_MIN_LEN at least.
 */
static int rd_reflector(const uint8_t *buf, size_t len, struct proto_stamp_reflector *m)
{
    struct proto_stamp_reflector t;
    struct proto_rd r;
    int rc;

    proto_rd_init(&r, buf, len);
    if ((rc = rd_triple(&r, &t.seq, &t.ts, &t.err)) < 0 ||
        (rc = proto_rd_u16(&r, &t.ssid)) < 0 || (rc = proto_rd_u64(&r, &t.rx_ts)) < 0 ||
        (rc = rd_triple(&r, &t.sender_seq, &t.sender_ts, &t.sender_err)) < 0)
        return rc;
    t.sender_ttl = 0;
    t.has_sender_ttl = len > REFLECTOR_TTL_OFF;
    /* 38-39 MBZ, 40 Sender TTL. */
    if (t.has_sender_ttl &&
        ((rc = proto_rd_skip(&r, 2)) < 0 || (rc = proto_rd_u8(&r, &t.sender_ttl)) < 0))
        return rc;
    *m = t;
    return 0;
}

/* The same octets as the encoder writes; MBZ and padding are skipped unread. */
int proto_stamp_reflector_decode(const uint8_t *buf, size_t len,
                                 struct proto_stamp_reflector *m)
{
    if (len < PROTO_STAMP_BASE_LEN)
        return -EBADMSG;
    return rd_reflector(buf, len, m);
}

/*
 * RFC 5357 4.2.1: a TWAMP-Light reflector may answer with 41 octets (no
 * padding after the TTL); octets 14-15 are MBZ there and read as SSID 0.
 * Some stop after the Sender Error Estimate, at 38 octets: all four
 * timestamps are there, the Sender TTL is not.
 */
int proto_stamp_reflector_decode_light(const uint8_t *buf, size_t len,
                                       struct proto_stamp_reflector *m)
{
    if (len < PROTO_STAMP_LIGHT_MIN_LEN)
        return -EBADMSG;
    return rd_reflector(buf, len, m);
}

/*
 * Octets 16-23 are MBZ in a Session-Sender packet (4.2.1) and the Receive
 * Timestamp in a reflected one (4.3.1); a real receive time is never zero.
 */
/* Whether the 8 octets at off are non-zero: a reflector's Receive Timestamp. */
static int nonzero_u64_at(const uint8_t *buf, size_t len, size_t min, size_t off)
{
    struct proto_rd r;
    uint64_t v;

    if (len < min)
        return 0;
    proto_rd_init(&r, buf, len);
    if (proto_rd_skip(&r, off) < 0 || proto_rd_u64(&r, &v) < 0)
        return 0;
    return v != 0;
}

/* From 38 octets on: a TWAMP-Light reply may be that short (RFC 5357 4.2.1). */
int proto_stamp_is_reflected(const uint8_t *buf, size_t len)
{
    return nonzero_u64_at(buf, len, PROTO_STAMP_LIGHT_MIN_LEN, 16);
}

/* Authenticated layouts (RFC 8762 4.2.2, 4.3.2): the reflector's Receive
 * Timestamp is at octets 32-39, which a sender's packet has MBZ. */
int proto_stamp_is_reflected_auth(const uint8_t *buf, size_t len)
{
    return nonzero_u64_at(buf, len, PROTO_STAMP_AUTH_LEN, 32);
}

/*
 * NTP 32.32 timestamp, RFC 5905 6: seconds since 1900 modulo 2^32 (era 0
 * ends in February 2036) and a binary fraction of a second.  The fraction
 * is rounded to the nearest 2^-32 s, so ns -> NTP -> ns is exact.
 */
uint64_t proto_ntp_from_timespec(const struct timespec *ts)
{
    int64_t sec = (int64_t)ts->tv_sec + ts->tv_nsec / (long)NS_PER_S;
    int64_t nsec = ts->tv_nsec % (long)NS_PER_S;
    uint64_t frac;

    if (nsec < 0) { /* keep the fraction in [0, 1 s) for odd timespecs */
        nsec += NS_PER_S;
        sec--;
    }
    frac = (((uint64_t)nsec << 32) + NS_PER_S / 2) / NS_PER_S;
    /* The seconds wrap modulo 2^32 by design: that is the era rollover. */
    return (uint64_t)((uint32_t)((uint64_t)sec + NTP_UNIX_OFFSET)) << 32 | frac;
}

/*
 * Maps NTP seconds below the Unix epoch's value to era 1 (2036-2106): no
 * probe measures before 1970, and this keeps 64-bit time_t correct past 2036.
 */
void proto_ntp_to_timespec(uint64_t ntp, struct timespec *ts)
{
    uint32_t sec = (uint32_t)(ntp >> 32);
    uint64_t frac = ntp & 0xffffffffu;
    uint64_t nsec = (frac * NS_PER_S + (1u << 31)) >> 32;
    int64_t usec = (int64_t)sec - NTP_UNIX_OFFSET;

    if (sec < NTP_UNIX_OFFSET)
        usec += (int64_t)1 << 32;
    if (nsec == NS_PER_S) { /* rounding a fraction just below 1 s */
        nsec = 0;
        usec++;
    }
    ts->tv_sec = (time_t)usec;
    ts->tv_nsec = (long)nsec;
}

/*
 * a - b in nanoseconds.  The subtraction is done modulo 2^64 and read as a
 * signed 32.32 value, so two timestamps on either side of an era rollover
 * still differ by the small amount they really differ by (up to 68 years).
 */
int64_t proto_ntp_diff_ns(uint64_t a, uint64_t b)
{
    uint64_t d = a - b;
    int neg = d >> 63 != 0;
    uint64_t m = neg ? (~d + 1) : d; /* magnitude, at most 2^63 */
    uint64_t ns =
        (m >> 32) * NS_PER_S + (((m & 0xffffffffu) * NS_PER_S + (1u << 31)) >> 32);

    return neg ? -(int64_t)ns : (int64_t)ns;
}

/*
 * PTPv2 truncated timestamp (RFC 8762 4.2.1, the format of RFC 8186 2.3):
 * seconds since 1970 modulo 2^32, then nanoseconds.
 */
static int64_t ptp_to_ns(uint64_t ts)
{
    return (int64_t)(ts >> 32) * NS_PER_S + (int64_t)(ts & 0xffffffffu);
}

static uint64_t ptp_from_ns(int64_t ns)
{
    int64_t sec = ns / (int64_t)NS_PER_S, nsec = ns % (int64_t)NS_PER_S;

    if (nsec < 0) {
        nsec += NS_PER_S;
        sec--;
    }
    return (uint64_t)(uint32_t)sec << 32 | (uint64_t)nsec;
}

int64_t proto_stamp_ts_to_ns(uint64_t ts, int ptp)
{
    struct timespec t;

    if (ptp)
        return ptp_to_ns(ts);
    proto_ntp_to_timespec(ts, &t);
    return (int64_t)t.tv_sec * NS_PER_S + t.tv_nsec;
}

uint64_t proto_stamp_ts_from_ns(int64_t ns, int ptp)
{
    struct timespec t = {.tv_sec = (time_t)(ns / (int64_t)NS_PER_S),
                         .tv_nsec = (long)(ns % (int64_t)NS_PER_S)};

    return ptp ? ptp_from_ns(ns) : proto_ntp_from_timespec(&t);
}
