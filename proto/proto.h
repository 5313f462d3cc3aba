/*
 * proto.h - the ixmesh wire formats, as pure functions.
 *
 * Nothing here opens a socket, touches an event loop or logs: every function
 * takes bytes or structures and returns 0 (or a length) on success and a
 * negative errno value on failure, so callers can pass libuv codes and ours
 * through the same path.  proto_strerror() turns either into text.
 *
 * Common error codes:
 *   -EBADMSG   malformed input (wrong type, missing field, out of range)
 *   -EMSGSIZE  a length beyond the enforced maximum
 *   -ENOBUFS   the caller's output buffer is too small
 *   -ENOMEM    allocation failed
 *   -EPROTO    a peer speaks a protocol version we do not
 */
#ifndef IXMESH_PROTO_H
#define IXMESH_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <msgpack.h>
#include <openssl/ssl.h>

/* ---- errors (proto.c) -------------------------------------------------- */

const char *proto_strerror(int err);

/* ---- bounded reader and writer (buf.c) ---------------------------------- */

/*
 * All parsing of untrusted bytes goes through proto_rd; no other code does
 * pointer arithmetic on them.  Every getter fails with -EBADMSG rather than
 * read past the end, and leaves the reader where it was.
 */
struct proto_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
};

struct proto_wr {
    uint8_t *p;
    size_t cap;
    size_t off;
};

void proto_rd_init(struct proto_rd *r, const uint8_t *p, size_t len);
size_t proto_rd_left(const struct proto_rd *r);
int proto_rd_u8(struct proto_rd *r, uint8_t *v);
int proto_rd_u16(struct proto_rd *r, uint16_t *v);
int proto_rd_u32(struct proto_rd *r, uint32_t *v);
int proto_rd_u64(struct proto_rd *r, uint64_t *v);
int proto_rd_skip(struct proto_rd *r, size_t n);
int proto_rd_bytes(struct proto_rd *r, uint8_t *out, size_t n);

void proto_wr_init(struct proto_wr *w, uint8_t *p, size_t cap);
int proto_wr_u8(struct proto_wr *w, uint8_t v);
int proto_wr_u16(struct proto_wr *w, uint16_t v);
int proto_wr_u32(struct proto_wr *w, uint32_t v);
int proto_wr_u64(struct proto_wr *w, uint64_t v);
int proto_wr_zero(struct proto_wr *w, size_t n);

/* ---- framing (frame.c) --------------------------------------------------- */

/*
 * A frame is a 4-octet big-endian payload length followed by that many
 * octets of one msgpack-encoded message.  A length of zero or above the
 * maximum is an error: the receiver closes the connection.
 */
#define PROTO_FRAME_HDR 4
#define PROTO_FRAME_MAX (1u << 20)

void proto_frame_header(uint8_t out[PROTO_FRAME_HDR], uint32_t payload_len);

/*
 * Looks for one complete frame at the start of buf.  Returns the number of
 * octets it occupies (header included) and points *payload into buf; returns
 * 0 when more octets are needed; -EMSGSIZE when the declared length exceeds
 * max; -EBADMSG when it is zero.  *payload is a view into buf.
 */
long proto_frame_parse(const uint8_t *buf, size_t len, size_t max,
                       const uint8_t **payload, size_t *payload_len);

/* ---- latency sketch (sketch.c) ------------------------------------------- */

/*
 * A mergeable quantile sketch with logarithmic buckets (DDSketch style):
 * any quantile is read with relative error PROTO_SKETCH_ALPHA.  Values are
 * nanoseconds; values below PROTO_SKETCH_MIN_NS land in the zero bucket.
 * Bucket i holds values in (gamma^(i-1), gamma^i], gamma = (1+a)/(1-a).
 * The bins are a dense array covering [offset, offset + nbins); it grows
 * only when a value falls outside that range, so adding a sample in a
 * steady state allocates nothing.
 */
#define PROTO_SKETCH_ALPHA  0.01
#define PROTO_SKETCH_MIN_NS 1.0
#define PROTO_SKETCH_MAX_NS 1e13 /* about 2.8 hours; larger values are clamped */

struct proto_sketch {
    int32_t offset;
    uint32_t nbins;
    uint32_t cap;
    uint64_t *bins;
    uint64_t zero;
    uint64_t count;
};

void proto_sketch_init(struct proto_sketch *s);
void proto_sketch_free(struct proto_sketch *s);
void proto_sketch_reset(struct proto_sketch *s);
int proto_sketch_add(struct proto_sketch *s, double value_ns);
int proto_sketch_merge(struct proto_sketch *dst, const struct proto_sketch *src);
/* Returns the q-quantile (0 <= q <= 1) in nanoseconds, or NAN when empty. */
double proto_sketch_quantile(const struct proto_sketch *s, double q);
/* The same, kept within the exact [lo, hi] the caller knows (the minimum and
 * maximum seen), which the bucket estimate can overshoot by up to alpha. */
double proto_sketch_quantile_within(const struct proto_sketch *s, double q, double lo,
                                    double hi);
int proto_sketch_equal(const struct proto_sketch *a, const struct proto_sketch *b);

/* msgpack form: a map {"a": alpha, "o": offset, "z": zero, "b": [counts]}. */
int proto_sketch_pack(const struct proto_sketch *s, msgpack_packer *pk);
/* Decodes into s, which must be initialised; replaces its contents. */
int proto_sketch_unpack(struct proto_sketch *s, const msgpack_object *o);
/* Serialised form for storage; *out is malloc'd and freed by the caller. */
int proto_sketch_to_bytes(const struct proto_sketch *s, uint8_t **out, size_t *len);
int proto_sketch_from_bytes(struct proto_sketch *s, const uint8_t *p, size_t len);

/* ---- STAMP test packets (stamp.c), RFC 8762 ------------------------------ */

#define PROTO_STAMP_BASE_LEN 44   /* unauthenticated, RFC 8762 4.2.1 and 4.3.1 */
#define PROTO_STAMP_MAX_LEN  1472 /* what fits an Ethernet MTU over IPv4 */
/* The shortest reflected packet we take: a TWAMP-Light reply that ends with
 * the Sender Error Estimate (octet 37), RFC 5357 4.2.1. */
#define PROTO_STAMP_LIGHT_MIN_LEN 38

/* Error Estimate, RFC 8762 4.2.1 referring to RFC 4656 4.1.2. */
struct proto_stamp_errest {
    uint8_t sync;  /* S: 1 when the clock is synchronised to UTC */
    uint8_t ptp;   /* Z: 0 NTP timestamp format, 1 PTPv2 truncated */
    uint8_t scale; /* 6 bits */
    uint8_t mult;  /* 8 bits; 0 is invalid */
};

/*
 * The SSID (RFC 8972 3) names the Session-Sender's test session; the
 * reflector copies it back.  An RFC 8762-only or TWAMP-Light peer leaves
 * those octets zero (MBZ), so 0 means "none".
 */
struct proto_stamp_sender {
    uint32_t seq;
    uint64_t ts; /* 32.32 NTP (or PTP when err.ptp) */
    struct proto_stamp_errest err;
    uint16_t ssid;
};

struct proto_stamp_reflector {
    uint32_t seq;
    uint64_t ts; /* T3, transmit time at the reflector */
    struct proto_stamp_errest err;
    uint16_t ssid;  /* copied from the request */
    uint64_t rx_ts; /* T2, receive time at the reflector */
    uint32_t sender_seq;
    uint64_t sender_ts; /* T1, copied from the request */
    struct proto_stamp_errest sender_err;
    uint8_t sender_ttl;
    /* Set by the decoders: 1 when the packet reached octet 40, the Sender
     * TTL; 0 (sender_ttl then 0 and meaningless) for a TWAMP-Light reply
     * that ends before it.  The encoders write sender_ttl and ignore this. */
    uint8_t has_sender_ttl;
};

uint16_t proto_stamp_errest_pack(const struct proto_stamp_errest *e);
void proto_stamp_errest_unpack(uint16_t v, struct proto_stamp_errest *e);
/*
 * RFC 4656 4.1.2: a zero Multiplier is invalid.  The decoders carry such an
 * estimate through unchanged; whether to discard the packet or only
 * distrust its clock is the caller's decision, made with this.
 */
int proto_stamp_errest_valid(const struct proto_stamp_errest *e);
/* The estimate, Multiplier x 2^-32 x 2^Scale seconds, in nanoseconds. */
double proto_stamp_errest_ns(const struct proto_stamp_errest *e);

/*
 * Encoders write the 44-octet base packet (RFC 8762 4.2.1 and 4.3.1, with
 * the SSID of RFC 8972 3 in octets 14-15) and zero-fill up to len octets
 * (the task's packet size, so len >= PROTO_STAMP_BASE_LEN).  They return
 * len or -ENOBUFS.  Decoders accept len >= 44 and ignore what follows the
 * base packet (the TLVs of RFC 8972 4 start at octet 44: see
 * proto_stamp_tlv_next()); shorter input is -EBADMSG.
 */
int proto_stamp_sender_encode(const struct proto_stamp_sender *m, uint8_t *buf,
                              size_t len);
int proto_stamp_sender_decode(const uint8_t *buf, size_t len,
                              struct proto_stamp_sender *m);
int proto_stamp_reflector_encode(const struct proto_stamp_reflector *m, uint8_t *buf,
                                 size_t len);
int proto_stamp_reflector_decode(const uint8_t *buf, size_t len,
                                 struct proto_stamp_reflector *m);
/*
 * A TWAMP-Light reflector's reply (RFC 5357 4.2.1, unauthenticated): the
 * same layout up to the Sender TTL in octet 40.  PROTO_STAMP_LIGHT_MIN_LEN
 * (38) octets suffice, as some reflectors stop after the Sender Error
 * Estimate: then has_sender_ttl is 0.  Nothing is judged: a Sender TTL of 0
 * (a reflector that cannot read the TTL) and T2 == T3 (one clock read for
 * both) decode like any other value.
 */
int proto_stamp_reflector_decode_light(const uint8_t *buf, size_t len,
                                       struct proto_stamp_reflector *m);

/*
 * A reflected packet carries a non-zero Receive Timestamp in octets 16-23,
 * where a session-sender packet has must-be-zero octets.  That lets one UDP
 * socket serve as both sender and reflector.  Shorter than
 * PROTO_STAMP_LIGHT_MIN_LEN it is no reflected packet.
 */
int proto_stamp_is_reflected(const uint8_t *buf, size_t len);
/* The same test for authenticated packets: octets 32-39. */
int proto_stamp_is_reflected_auth(const uint8_t *buf, size_t len);

/* ---- STAMP authenticated mode and TLVs (stamp_auth.c, stamp_tlv.c) ------ */

/*
 * Authenticated mode, RFC 8762 4.2.2 and 4.3.2: 112-octet base packets
 * whose last 16 octets are HMAC-SHA-256 over octets 0-95, truncated to 128
 * bits.  Decoders check the HMAC first, in constant time, and return
 * -EACCES on a mismatch without looking at anything else.  The SSID (RFC
 * 8972 3) sits in octets 14-15 unauthenticated and 26-27 authenticated.
 *
 * As in unauthenticated mode, encoders zero-fill up to len (>= 112, else
 * -ENOBUFS) and return len; decoders need len >= 112 (else -EBADMSG) and
 * ignore what follows octet 111 (TLVs, covered by the HMAC TLV, not by the
 * packet's HMAC).  key is PROTO_STAMP_KEY_LEN octets; an OpenSSL failure
 * is -ENOMEM.  Nothing is allocated here (OpenSSL may, inside HMAC()).
 */
#define PROTO_STAMP_AUTH_LEN 112
#define PROTO_STAMP_HMAC_LEN 16
#define PROTO_STAMP_KEY_LEN  32

/* HMAC-SHA-256 of p[0..n) truncated to 128 bits (RFC 8762 4.2.2). */
int proto_stamp_hmac(const uint8_t key[PROTO_STAMP_KEY_LEN], const uint8_t *p, size_t n,
                     uint8_t out[PROTO_STAMP_HMAC_LEN]);

int proto_stamp_sender_encode_auth(const struct proto_stamp_sender *m,
                                   const uint8_t key[PROTO_STAMP_KEY_LEN], uint8_t *buf,
                                   size_t len);
int proto_stamp_sender_decode_auth(const uint8_t *buf, size_t len,
                                   const uint8_t key[PROTO_STAMP_KEY_LEN],
                                   struct proto_stamp_sender *m);
int proto_stamp_reflector_encode_auth(const struct proto_stamp_reflector *m,
                                      const uint8_t key[PROTO_STAMP_KEY_LEN],
                                      uint8_t *buf, size_t len);
int proto_stamp_reflector_decode_auth(const uint8_t *buf, size_t len,
                                      const uint8_t key[PROTO_STAMP_KEY_LEN],
                                      struct proto_stamp_reflector *m);

/*
 * Timestamps in either format, by the Z bit of their own Error Estimate
 * (RFC 8762 4.2.1): ptp == 0 is NTP 32.32 (RFC 5905 6, era mapping as in
 * proto_ntp_to_timespec()), ptp != 0 the PTPv2 truncated format, 32 bits
 * of seconds since 1970 and 32 bits of nanoseconds.  Nanoseconds count
 * from the Unix epoch on the timestamp's own scale: no UTC-TAI offset is
 * applied, a PTP clock's readings stay TAI.  A PTP nanoseconds field of
 * 10^9 or more is taken at face value.
 */
int64_t proto_stamp_ts_to_ns(uint64_t ts, int ptp);
uint64_t proto_stamp_ts_from_ns(int64_t ns, int ptp);

/* NTP 32.32 timestamps (RFC 5905 6) from and to Unix wall-clock time. */
uint64_t proto_ntp_from_timespec(const struct timespec *ts);
void proto_ntp_to_timespec(uint64_t ntp, struct timespec *ts);
/* a - b in nanoseconds. */
int64_t proto_ntp_diff_ns(uint64_t a, uint64_t b);

/* ---- STAMP TLVs (stamp_tlv.c), RFC 8972 ---------------------------------- */

/*
 * RFC 8972 4: TLVs follow the base packet (from octet 44, or 112 in
 * authenticated mode) to the end of the UDP payload.  Each is STAMP TLV
 * Flags (1 octet), Type (1), Length (2, the Value's) and the Value.  Flags,
 * most significant bit first: U (Unrecognized), M (Malformed), I
 * (Integrity), five reserved bits.  A Session-Sender sends U = 1, M = I = 0
 * (4); the reflector clears U for what it understands.
 */
#define PROTO_STAMP_TLV_HDR          4
#define PROTO_STAMP_TLV_U            0x80
#define PROTO_STAMP_TLV_M            0x40
#define PROTO_STAMP_TLV_I            0x20
#define PROTO_STAMP_TLV_SENDER_FLAGS PROTO_STAMP_TLV_U

/*
 * The types we understand (RFC 8972 5.1).  Every other type, among them
 * Location (2), Access Report (6), Follow-Up Telemetry (7) and RFC 9503's
 * Return Path (10), is answered as unrecognised: U set, value copied.  A
 * reflector that steered its answer by a sender's request could be made
 * to send traffic elsewhere, so Return Path and Reflected Test Packet
 * Control are never to be implemented here.
 */
enum proto_stamp_tlv_type {
    PROTO_STAMP_TLV_PADDING = 1,     /* Extra Padding, 4.1 */
    PROTO_STAMP_TLV_TSINFO = 3,      /* Timestamp Information, 4.3 */
    PROTO_STAMP_TLV_COS = 4,         /* Class of Service, 4.4 */
    PROTO_STAMP_TLV_DIRECT = 5,      /* Direct Measurement, 4.5 */
    PROTO_STAMP_TLV_HMAC = 8,        /* HMAC, 4.8 */
    PROTO_STAMP_TLV_RETURN_PATH = 10 /* RFC 9503; deliberately unrecognised */
};

#define PROTO_STAMP_TLV_TSINFO_LEN 4
#define PROTO_STAMP_TLV_COS_LEN    4
#define PROTO_STAMP_TLV_DIRECT_LEN 12
#define PROTO_STAMP_TLV_HMAC_LEN   PROTO_STAMP_HMAC_LEN

/* One TLV as parsed; value is a view into the parsed buffer, valid as long
 * as that buffer is, len octets long (NULL when len is 0). */
struct proto_stamp_tlv {
    uint8_t flags;
    uint8_t type;
    uint16_t len;
    const uint8_t *value;
};

/*
 * Reads the next TLV at r.  Returns 1 with *t filled, 0 when r is at its
 * end, -EBADMSG when what is left is shorter than a TLV header or than the
 * header's Length (RFC 8972 4: malformed); r is then left where it was.
 */
int proto_stamp_tlv_next(struct proto_rd *r, struct proto_stamp_tlv *t);

/* Synchronization Source and Timestamping Method, RFC 8972 5.4 and 5.5. */
enum proto_stamp_sync_src {
    PROTO_STAMP_SYNC_NTP = 1,
    PROTO_STAMP_SYNC_PTP = 2,
    PROTO_STAMP_SYNC_SSU_BITS = 3,
    PROTO_STAMP_SYNC_GNSS = 4, /* GPS, GLONASS, LORAN-C, BDS, Galileo */
    PROTO_STAMP_SYNC_LOCAL = 5 /* local free-running oscillator */
};

enum proto_stamp_ts_method {
    PROTO_STAMP_TSM_HW = 1,           /* hardware assist */
    PROTO_STAMP_TSM_SW = 2,           /* software local */
    PROTO_STAMP_TSM_CONTROL_PLANE = 3 /* control plane */
};

/* Timestamp Information value, 4.3: the reflector's, for T2 (in), T3 (out). */
struct proto_stamp_tsinfo {
    uint8_t sync_in, method_in, sync_out, method_out;
};

/* Class of Service value, 4.4: DSCP1 asked for the reply, DSCP2 and ECN as
 * received by the reflector, RP = 1 when its policy refused DSCP1. */
struct proto_stamp_cos {
    uint8_t dscp1, dscp2, ecn, rp;
};

/* Direct Measurement value, 4.5: packets counted by each side. */
struct proto_stamp_direct {
    uint32_t s_txc, r_rxc, r_txc;
};

/*
 * Session-Sender encoders: append one TLV with the sender's flags at w and
 * return 0, or -ENOBUFS leaving w unchanged.  Extra Padding's value is
 * value_len zero octets (4.1 allows zeros), value_len <= 65535.
 */
int proto_stamp_tlv_put_padding(struct proto_wr *w, size_t value_len);
int proto_stamp_tlv_put_tsinfo(struct proto_wr *w, const struct proto_stamp_tsinfo *v);
int proto_stamp_tlv_put_cos(struct proto_wr *w, const struct proto_stamp_cos *v);
int proto_stamp_tlv_put_direct(struct proto_wr *w, const struct proto_stamp_direct *v);
/*
 * Appends the HMAC TLV (4.8) over seq (the packet's Sequence Number) and
 * the TLVs already written from w's offset tlv_start: it must come last,
 * but for Extra Padding TLVs, which it does not cover.
 */
int proto_stamp_tlv_put_hmac(struct proto_wr *w, size_t tlv_start, uint32_t seq,
                             const uint8_t key[PROTO_STAMP_KEY_LEN]);

/* Value decoders: -EBADMSG when t has another type or a wrong length. */
int proto_stamp_tlv_tsinfo(const struct proto_stamp_tlv *t, struct proto_stamp_tsinfo *v);
int proto_stamp_tlv_cos(const struct proto_stamp_tlv *t, struct proto_stamp_cos *v);
int proto_stamp_tlv_direct(const struct proto_stamp_tlv *t, struct proto_stamp_direct *v);

/*
 * The HMAC TLV's digest (4.8): HMAC-SHA-256, truncated to 128 bits, of the
 * Sequence Number (4 octets, big-endian) followed by tlvs[0..len), the TLVs
 * before the HMAC TLV.  len <= PROTO_STAMP_MAX_LEN, else -EMSGSIZE.
 */
int proto_stamp_tlv_hmac(const uint8_t key[PROTO_STAMP_KEY_LEN], uint32_t seq,
                         const uint8_t *tlvs, size_t len,
                         uint8_t out[PROTO_STAMP_HMAC_LEN]);
/*
 * Checks the HMAC TLV of a whole TLV area, as a Session-Sender does with a
 * reflected packet: 0 when it is present and right; -ENOENT when there is
 * none; -EACCES on a wrong digest or length, a second HMAC TLV, or any TLV
 * but Extra Padding after it; -EBADMSG when the area does not parse.
 */
int proto_stamp_tlv_hmac_verify(const uint8_t *tlvs, size_t len, uint32_t seq,
                                const uint8_t key[PROTO_STAMP_KEY_LEN]);

/* What the reflector knows and decides, for proto_stamp_tlv_reflect(). */
struct proto_stamp_tlv_ctx {
    const uint8_t *key; /* PROTO_STAMP_KEY_LEN octets, or NULL: HMAC TLV unrecognised */
    int require_hmac;   /* authenticated mode: TLVs need a good HMAC TLV (4.8) */
    uint32_t req_seq;   /* the request's Sequence Number (its HMAC input) */
    uint32_t seq;       /* the reply's Sequence Number (our HMAC input) */
    struct proto_stamp_tsinfo tsinfo; /* how we take T2 and T3 */
    uint8_t rx_dscp, rx_ecn;          /* from the request's IP header */
    uint64_t dscp1_allowed;           /* bit n: the reply may carry DSCP n (4.4) */
    uint32_t rx_count, tx_count;      /* R_RxC and R_TxC (4.5) */
};

/* What proto_stamp_tlv_reflect() found. */
struct proto_stamp_tlv_result {
    unsigned tlvs, unrecognised, malformed;
    int integrity;      /* 1 HMAC TLV verified, -1 failed (I set), 0 neither */
    int has_cos;        /* a well-formed Class of Service TLV came */
    uint8_t reply_dscp; /* then: the DSCP to send the reply with */
};

/*
 * The Session-Reflector's answer to a request's TLV area (RFC 8972 4):
 * writes exactly req_len octets to out (out may be req_tlvs itself) and
 * returns req_len: never more, so TLVs cannot amplify.  Per TLV: Extra
 * Padding copied; Timestamp Information filled from ctx->tsinfo; Class of
 * Service gets DSCP2 and ECN as received and RP by ctx->dscp1_allowed;
 * Direct Measurement gets our counters; HMAC carries our digest over
 * ctx->seq and the reply's TLVs before it.  Unknown types come back with U
 * set and their value copied; a wrong length for a known type sets M; a
 * TLV cut short sets M and ends processing, the rest copied as is.  A
 * failed HMAC check (wrong, misplaced, repeated, or missing when
 * ctx->require_hmac) sets I on every TLV.  Reserved flags are zeroed.
 * res may be NULL.  Errors: -ENOBUFS when out_cap < req_len, -EMSGSIZE
 * when req_len > PROTO_STAMP_MAX_LEN, -ENOMEM when OpenSSL fails; out is
 * then undefined.
 */
int proto_stamp_tlv_reflect(const uint8_t *req_tlvs, size_t req_len,
                            const struct proto_stamp_tlv_ctx *ctx, uint8_t *out,
                            size_t out_cap, struct proto_stamp_tlv_result *res);

/* ---- control messages (msg.c) -------------------------------------------- */

/* Control protocol versions this build speaks; a HELLO names a range. */
#define PROTO_VERSION_MIN 1
#define PROTO_VERSION_MAX 1
#define PROTO_VERSION     PROTO_VERSION_MAX
#define PROTO_SCHEMA      1  /* of a result record; newer ones only add keys */
#define PROTO_ID_MAX      64 /* probe and target ids: [A-Za-z0-9._-]{1,64} */
#define PROTO_NAME_MAX    64
#define PROTO_SWVER_MAX   32
#define PROTO_ADDR_MAX    8  /* addresses a probe announces */
#define PROTO_ADDRSTR_MAX 46 /* INET6_ADDRSTRLEN */
#define PROTO_REASON_MAX  256
#define PROTO_TASKS_MAX   4096
#define PROTO_RESULTS_MAX 1024
#define PROTO_HOST_MAX    253 /* a DNS name in text (RFC 1035 2.3.4) */
#define PROTO_PATH_MAX    255 /* an HTTP request target, origin form */
#define PROTO_TOKEN_MAX   64  /* an HTTP header name (RFC 9110 5.1) */
#define PROTO_VALUE_MAX   127 /* a recorded header value, cut to this length */
#define PROTO_WHY_MAX     127 /* the reason of the last failed attempt */
#define PROTO_TLSVER_MAX  15
#define PROTO_CIPHER_MAX  63

enum proto_msg_type {
    PROTO_MSG_HELLO = 1,
    PROTO_MSG_TASKS = 2,
    PROTO_MSG_RESULTS = 3,
    PROTO_MSG_ACK = 4,
    PROTO_MSG_ERROR = 5,
    PROTO_MSG_WELCOME = 6,
    PROTO_MSG_HEARTBEAT = 7,
    PROTO_MSG_TASKS_DELTA = 8, /* changes to the list of one generation */
};

/* What a probe can do, announced in its HELLO. */
enum proto_caps {
    PROTO_CAP_STAMP = 1u << 0,
    PROTO_CAP_ICMP = 1u << 1,
    PROTO_CAP_TCP = 1u << 2,
    PROTO_CAP_TLS = 1u << 3,
    PROTO_CAP_HTTP = 1u << 4,
    PROTO_CAP_DNS = 1u << 5,
    PROTO_CAP_TRACE = 1u << 6,
    PROTO_CAP_IPV6 = 1u << 8,
    PROTO_CAP_KERNEL_TS = 1u << 9,
    PROTO_CAP_STAMP_AUTH = 1u << 10,
    PROTO_CAP_DELTA = 1u << 11, /* applies TASKS_DELTA (4.8) */
};

enum proto_method {
    PROTO_METHOD_STAMP = 1, /* RFC 8762 test packets to another probe */
    PROTO_METHOD_ICMP = 2,  /* echo request (RFC 792, RFC 4443 4.1) */
    PROTO_METHOD_TCP = 3,   /* connect time */
    PROTO_METHOD_TLS = 4,   /* connect, then the TLS handshake time */
    PROTO_METHOD_HTTP = 5,  /* GET over TCP or TLS: time to first byte */
    PROTO_METHOD_DNS = 6,   /* a query to a resolver */
};
#define PROTO_METHOD_MAX 6

/*
 * What became of one attempt (a packet, a connection, a query).  Every
 * attempt of a window ends in exactly one outcome; all but PROTO_OUT_OK
 * count as lost, so sent = received + lost still holds, and the record
 * tells why (PROTOCOL.md, "Outcomes").  Names are the wire form.
 */
enum proto_outcome {
    PROTO_OUT_OK = 0,
    PROTO_OUT_TIMEOUT,     /* "timeout": nothing within the task's timeout (RFC 7680) */
    PROTO_OUT_REFUSED,     /* "refused": TCP RST to our SYN, ICMP port unreachable */
    PROTO_OUT_RESET,       /* "reset": the connection was reset after it was up */
    PROTO_OUT_UNREACHABLE, /* "unreachable": no route, ICMP host or net unreachable */
    PROTO_OUT_RESOLVE,     /* "resolve": the target's name did not resolve */
    PROTO_OUT_TLS_VERIFY,  /* "tls_verify": the certificate did not verify */
    PROTO_OUT_TLS,         /* "tls": any other TLS handshake failure */
    PROTO_OUT_HTTP_4XX,    /* "http_4xx": the server answered 4xx */
    PROTO_OUT_HTTP_5XX,    /* "http_5xx": the server answered 5xx */
    PROTO_OUT_NXDOMAIN,    /* "nxdomain": RFC 1035 4.1.1 RCODE 3 */
    PROTO_OUT_SERVFAIL,    /* "servfail": RCODE 2 */
    PROTO_OUT_DNS_REFUSED, /* "dns_refused": RCODE 5 */
    PROTO_OUT_DNS_ERROR,   /* "dns_error": any other non-zero RCODE */
    PROTO_OUT_PROTOCOL,    /* "protocol": an answer we could not make sense of */
    PROTO_OUT_LOCAL,       /* "local": a local failure (socket, permission, memory) */
    PROTO_OUTCOME_MAX
};

enum proto_error_code {
    PROTO_ERR_INTERNAL = 1,
    PROTO_ERR_MALFORMED = 2,
    PROTO_ERR_VERSION = 3,
    PROTO_ERR_IDENTITY = 4, /* probe id does not match its certificate */
    PROTO_ERR_STATE = 5,    /* a message that is not allowed now */
    PROTO_ERR_IDLE = 6,     /* nothing heard within the idle timeout */
    PROTO_ERR_REPLACED = 7, /* a newer connection of the same probe took over */
    PROTO_ERR_SHUTDOWN = 8, /* the peer is stopping */
    PROTO_ERR_POLICY = 9,   /* probe: a TASKS list its policy refuses; not closing */
    PROTO_ERR_MEMBER = 10,  /* controller: a HELLO breaks the exchange's rules */
    PROTO_ERR_RATE = 11,    /* controller: too many HELLOs or address changes */
    PROTO_ERR_STALE =
        12, /* probe: a TASKS_DELTA on a list it does not have; not closing */
};

struct proto_hello {
    uint32_t version_min; /* the range of control protocol versions spoken */
    uint32_t version_max;
    uint32_t caps; /* enum proto_caps */
    char probe_id[PROTO_ID_MAX + 1];
    char name[PROTO_NAME_MAX + 1];
    char sw_version[PROTO_SWVER_MAX + 1];
    uint32_t naddrs;
    char addrs[PROTO_ADDR_MAX][PROTO_ADDRSTR_MAX];
    uint16_t stamp_port;
    int has_location;
    double lat, lon;
};

struct proto_task {
    uint32_t id;
    uint8_t method; /* enum proto_method */
    char target_id[PROTO_ID_MAX + 1];
    char addr[PROTO_ADDRSTR_MAX];
    uint16_t port;
    uint32_t interval_ms;
    uint32_t timeout_ms;
    uint16_t size;
    uint8_t dscp;
    uint8_t poisson; /* 1: exponential gaps of mean interval_ms (RFC 2330 11.1.1) */
    /* Content methods (optional on the wire; "" and 0 when absent).  A
     * task names addr, host or both: with host alone the probe resolves
     * it with its own resolver, since CDNs answer by location. */
    char host[PROTO_HOST_MAX + 1];    /* TLS SNI, HTTP Host, name to resolve */
    char path[PROTO_PATH_MAX + 1];    /* http: the request target, "/" if empty */
    char header[PROTO_TOKEN_MAX + 1]; /* http: a response header to record */
    char qname[PROTO_HOST_MAX + 1];   /* dns: the name to ask about */
    uint16_t qtype;                   /* dns: 1 (A, the default) or 28 (AAAA) */
    uint8_t tls;                      /* http: over TLS */
};

/*
 * TASKS: the whole list.  TASKS_DELTA: the changes that turn the list of
 * generation base into generation: tasks put (replacing one of the same
 * id, or added) and ids deleted (ignored when absent).
 */
struct proto_tasks {
    uint64_t generation;
    uint32_t window_s;
    uint32_t ntasks;
    struct proto_task *tasks; /* owned by the message */
    uint64_t base;            /* TASKS_DELTA only, as the rest */
    uint32_t ndel;
    uint32_t *del; /* owned by the message */
};

/*
 * The list that delta makes of the ncur tasks of cur: those it neither
 * deletes nor puts, in their order, then the tasks it puts.  out->tasks is
 * malloc'd.  -E2BIG when that is over PROTO_TASKS_MAX tasks, -ENOMEM.
 */
int proto_tasks_patch(const struct proto_task *cur, uint32_t ncur,
                      const struct proto_tasks *delta, struct proto_tasks *out);

/*
 * What the content methods learn beyond the RTT, from the window's last
 * successful attempt (phases: means over its successful attempts).  All
 * optional on the wire; 0 and "" mean not measured.
 */
struct proto_content_info {
    uint64_t dns_ns, connect_ns, tls_ns, ttfb_ns, total_ns; /* http phases */
    uint16_t http_status;
    uint64_t http_bytes;                    /* body octets */
    char header_value[PROTO_VALUE_MAX + 1]; /* of the task's header */
    char tls_version[PROTO_TLSVER_MAX + 1]; /* "TLSv1.3" */
    char tls_cipher[PROTO_CIPHER_MAX + 1];  /* "TLS_AES_256_GCM_SHA384" */
    int64_t cert_not_after;                 /* Unix seconds; 0: unknown */
    uint32_t verify_result;                 /* X509_V_* + 1; 0: not verified */
    uint8_t dns_rcode;                      /* + 1; 0: no answer */
    uint16_t dns_answers;
};

/* One summary record: one task over one window. */
struct proto_result {
    uint32_t schema; /* PROTO_SCHEMA */
    uint64_t seq;
    uint32_t task_id;
    uint8_t method;
    char target_id[PROTO_ID_MAX + 1];
    int64_t window_start_ms; /* Unix time, a label only */
    uint32_t window_s;
    uint32_t sent;
    uint32_t received;
    uint32_t lost;
    uint32_t duplicates; /* RFC 4737 */
    uint32_t reordered;
    uint64_t rtt_min_ns;
    uint64_t rtt_max_ns;
    uint64_t ipdv_sum_ns; /* sum of |RTT(i) - RTT(i-1)|, RFC 3393 */
    uint32_t ipdv_count;
    uint8_t
        ttl; /* lowest TTL seen on either leg; 255: one hop across the LAN; 0: unknown */
    /* Why attempts failed: [PROTO_OUT_OK] is unused (that is received);
     * the others add up to lost in a record of this schema. */
    uint32_t outcomes[PROTO_OUTCOME_MAX];
    char why[PROTO_WHY_MAX + 1]; /* the last failure's reason, for people */
    struct proto_content_info info;
    struct proto_sketch sketch; /* owned by the record */
};

/* Records the probe's spool dropped at the close of one window. */
struct proto_drop_window {
    int64_t window_start_ms; /* the window that was closing */
    uint32_t records;
};

#define PROTO_DROPWIN_MAX 16

/* The probe's delivery health, as it stood when the batch was sent. */
struct proto_health {
    uint64_t seq0;        /* the first sequence number of the probe's spool */
    uint64_t spool_bytes; /* on disk */
    uint64_t pending;     /* records not yet acknowledged */
    uint32_t oldest_s;    /* age of the oldest of them */
    uint64_t dropped;     /* records dropped since the probe started */
    uint32_t reconnects;  /* connections to the controller since it started */
    uint64_t torn_bytes;  /* cut off the spool's torn tail when it started */
    uint32_t ndrops;      /* drop reports not yet acknowledged, oldest first */
    struct proto_drop_window drops[PROTO_DROPWIN_MAX];
};

struct proto_results {
    uint32_t nresults;
    struct proto_result *results; /* owned by the message */
    int has_health;               /* optional: "h" */
    struct proto_health health;
};

struct proto_ack {
    uint64_t seq; /* highest sequence number durably stored */
};

/* The controller's answer to a HELLO it accepts. */
struct proto_welcome {
    uint32_t version;     /* the version both speak, used from now on */
    uint32_t heartbeat_s; /* send something at least this often */
    uint32_t idle_s;      /* close a connection silent for this long */
};

struct proto_error {
    uint32_t code; /* enum proto_error_code */
    char reason[PROTO_REASON_MAX + 1];
};

struct proto_msg {
    enum proto_msg_type type;
    union {
        struct proto_hello hello;
        struct proto_tasks tasks;
        struct proto_results results;
        struct proto_ack ack;
        struct proto_error error;
        struct proto_welcome welcome;
    } u;
};

/*
 * Encodes m as one complete frame (header and payload).  On success *out is
 * malloc'd, owned and freed by the caller.
 */
int proto_msg_encode(const struct proto_msg *m, uint8_t **out, size_t *len);
/*
 * Decodes one frame payload into m.  On success the caller releases m with
 * proto_msg_free(); on failure m holds nothing to free.
 */
int proto_msg_decode(const uint8_t *payload, size_t len, struct proto_msg *m);
void proto_msg_free(struct proto_msg *m);
const char *proto_msg_type_name(enum proto_msg_type t);
/*
 * Picks the highest version in both [min, max] and ours; -EPROTO when the
 * ranges do not meet.
 */
int proto_version_pick(uint32_t min, uint32_t max, uint32_t *chosen);
/*
 * The reconnect timer (PROTOCOL.md 6.2): exponential backoff with full
 * jitter, rnd (a random number) folded into [0, min(60 s, 0.5 s x
 * 2^attempt)], so that a thousand probes do not return in one second.
 */
#define PROTO_BACKOFF_BASE_MS 500
#define PROTO_BACKOFF_CAP_MS  60000
uint64_t proto_backoff_ms(unsigned attempt, uint64_t rnd);
const char *proto_method_name(uint8_t method);
/* A DNS RCODE's name ("NXDOMAIN"), or NULL for one without a name. */
const char *proto_dns_rcode_name(unsigned rcode);
/* "timeout", "refused", ...; "unknown" out of range. */
const char *proto_outcome_name(unsigned outcome);
/* The outcome of that name, or -EINVAL. */
int proto_outcome_parse(const char *name);
/* A DNS name in text: labels of [A-Za-z0-9_-], 1..63 octets, 253 in all. */
int proto_host_valid(const char *host);
/*
 * The path class a record's lowest TTL tells: "one-hop" when both legs
 * arrived with the 255 they were sent with (the pair is adjacent on the
 * peering LAN: no router between them), "routed" when fewer, NULL when
 * unknown (0).
 */
const char *proto_path_class(uint8_t ttl);
int proto_method_parse(const char *name);
/* Checks an id against [A-Za-z0-9._-]{1,PROTO_ID_MAX}. */
int proto_id_valid(const char *id);

/* ---- numeric socket addresses (addr.c) ----------------------------------- */

/*
 * Parses "ADDR:PORT", "[ADDR6]:PORT" or a bare "ADDR" (port = default_port)
 * with numeric addresses only ("*" means the IPv4 and IPv6 wildcard, "::").
 */
int proto_addr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *ss,
                     socklen_t *len);
/* Writes "ADDR" (no port) into buf; returns 0 or -ENOBUFS. */
int proto_addr_ntop(const struct sockaddr *sa, char *buf, size_t len);
uint16_t proto_addr_port(const struct sockaddr *sa);

/* ---- the control channel: TLS 1.3 plus framing, sockets apart (chan.c) -- */

/*
 * A proto_chan runs one TLS connection over memory buffers: the caller feeds
 * it the octets that came from the network and writes out what it hands
 * back.  It never touches a socket, so both daemons share it and tests pump
 * two of them into each other.  Messages are queued until the handshake
 * completes.
 */
struct proto_chan;

/*
 * Makes a TLS 1.3-only context that presents cert/key and verifies the peer
 * against ca_file; a server context requires a client certificate.  On
 * failure returns NULL and writes the reason into err.
 */
SSL_CTX *proto_chan_ctx_new(int is_server, const char *ca_file, const char *cert_file,
                            const char *key_file, char *err, size_t errlen);
/* verify_host (client only, may be NULL): the name or address the peer's
 * certificate must match. */
struct proto_chan *proto_chan_new(SSL_CTX *ctx, int is_server, const char *verify_host);
void proto_chan_free(struct proto_chan *c);
/* Feeds ciphertext; -EPROTO on a TLS failure (see proto_chan_reason()). */
int proto_chan_feed(struct proto_chan *c, const uint8_t *in, size_t len);
/* 1 with a message in m (free with proto_msg_free), 0 when none is complete,
 * negative when the peer sent a malformed frame. */
int proto_chan_recv(struct proto_chan *c, struct proto_msg *m);
int proto_chan_send(struct proto_chan *c, const struct proto_msg *m);
/* Hands over the ciphertext waiting for the network: *out is malloc'd and
 * freed by the caller, NULL with *len 0 when there is none. */
int proto_chan_take_out(struct proto_chan *c, uint8_t **out, size_t *len);
int proto_chan_ready(const struct proto_chan *c);
/* The peer certificate's subject CN; -ENOENT without a verified peer. */
int proto_chan_peer_cn(const struct proto_chan *c, char *buf, size_t len);
const char *proto_chan_reason(const struct proto_chan *c);
/* Octets of plaintext queued until the handshake completes or the socket drains. */
size_t proto_chan_backlog(const struct proto_chan *c);

#endif
