/*
 * reflect.c - the STAMP session-reflector's decisions, apart from the
 * socket: whether to answer a request at all, and what to answer.
 *
 * What must stay true, whatever arrives:
 *   - the answer is never longer than the request (no amplification);
 *   - in authenticated mode the HMAC is checked before anything else, and
 *     unauthenticated packets get no answer;
 *   - requests shorter than the base packet are dropped, unless the
 *     reflector is configured for legacy TWAMP-Light peers;
 *   - each source address has a token bucket, so a reflector cannot be
 *     turned into a traffic source against a third party, and all sources
 *     together have one more, so that many cannot do it either.  What it
 *     refuses is counted per source and per limit and reported at most
 *     once a minute, since a sender cannot tell a refusal from a loss;
 *   - which sources share a bucket is decided by a hash keyed at random
 *     per process, so nobody outside can pick an address whose requests
 *     spend another source's tokens.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "probe.h"

_Static_assert(crypto_shorthash_KEYBYTES == PROBE_REFLECT_HASH_KEY,
               "the reflector's hash key is a crypto_shorthash key");

#define TWAMP_LIGHT_REPLY_LEN 41 /* RFC 5357 4.2.1, unauthenticated */

void probe_reflector_init(struct probe_reflector *r)
{
    int ready;

    memset(r, 0, sizeof(*r));
    r->rate_pps = PROBE_REFLECT_RATE;
    r->burst = PROBE_REFLECT_BURST;
    r->rate_total_pps = PROBE_REFLECT_RATE_TOTAL;
    r->burst_total = PROBE_REFLECT_BURST_TOTAL;
    /* sodium_init() readies what crypto_shorthash and randombytes_buf() do
     * without (CPU features, locks): its failure leaves both working.  The
     * key comes from getrandom(2); randombytes_buf() ends the process
     * rather than hand back a key that is not random. */
    ready = sodium_init();
    (void)ready;
    randombytes_buf(r->hash_key, sizeof(r->hash_key));
}

/*
 * SipHash-2-4 under the process's key over the address octets, and the port
 * and SSID when given.  About 15 to 35 ns a packet here, against 4 to 18 for
 * the unkeyed FNV-1a it replaced (whose buckets a stranger could compute)
 * and 90 to 150 for the same hash through OpenSSL's EVP_MAC, which may also
 * fail (tests/bench/reflect_hash_bench); a whole decision is 150 to 250.
 */
static uint64_t hash_source(const struct probe_reflector *r, const struct sockaddr *sa,
                            int with_session, uint16_t ssid)
{
    uint8_t in[16 + 4], out[crypto_shorthash_BYTES];
    size_t n;
    uint16_t port = proto_addr_port(sa);
    uint64_t h;

    if (sa->sa_family == AF_INET6) {
        memcpy(in, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16), n = 16;
    } else {
        memcpy(in, &((const struct sockaddr_in *)sa)->sin_addr, 4), n = 4;
    }
    if (with_session) {
        in[n++] = (uint8_t)(port >> 8), in[n++] = (uint8_t)port;
        in[n++] = (uint8_t)(ssid >> 8), in[n++] = (uint8_t)ssid;
    }
    crypto_shorthash(out, in, n, r->hash_key);
    memcpy(&h, out, sizeof(h));
    return h;
}

uint32_t probe_reflect_bucket(const struct probe_reflector *r,
                              const struct sockaddr *from)
{
    return (uint32_t)(hash_source(r, from, 0, 0) % PROBE_REFLECT_BUCKETS);
}

/*
 * Adds the tokens earned since the bucket's last use.  The times are the
 * kernel's receive stamps on the wall clock: one a little older than the
 * last (packets stamped on two CPUs) earns nothing, while a step back of
 * more than a second is the clock's, and starts the bucket afresh.
 */
static void refill(struct reflect_bucket *b, double rate, double burst, int64_t now_ns)
{
    double elapsed_s = (double)(now_ns - b->last_ns) / 1e9;

    if (elapsed_s < 0 && elapsed_s > -1.0)
        return;
    if (b->last_ns == 0 || elapsed_s < 0)
        b->tokens = burst;
    else
        b->tokens += elapsed_s * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_ns = now_ns;
}

/*
 * A token bucket per source address, and one over all sources.  Sources
 * that hash alike share one bucket: that can only make the limit stricter,
 * never looser, and keeps the table fixed in size.  A request takes a token
 * from both or from neither, so that what a source is refused by its own
 * limit costs the others nothing.  0, -EAGAIN (the source's limit) or
 * -EBUSY (the cap over all sources).
 */
static int rate_allow(struct probe_reflector *r, const struct sockaddr *from,
                      int64_t now_ns)
{
    struct reflect_bucket *b = &r->buckets[probe_reflect_bucket(r, from)];

    refill(b, r->rate_pps, r->burst, now_ns);
    refill(&r->total, r->rate_total_pps, r->burst_total, now_ns);
    if (b->tokens < 1.0)
        return -EAGAIN;
    if (r->total.tokens < 1.0)
        return -EBUSY;
    b->tokens -= 1.0;
    r->total.tokens -= 1.0;
    return 0;
}

static int same_address(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return 0;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                  &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
}

/* One refused request from source from, by address (any port): by its own
 * limit, or (total set) by the cap over all sources. */
static void count_refused(struct probe_reflector *r, const struct sockaddr *from,
                          int total)
{
    size_t i;

    r->refused_since++;
    for (i = 0; i < r->nrefused; i++)
        if (same_address(from, &r->refused[i].addr))
            break;
    if (i == PROBE_REFLECT_REFUSED) {
        *(total ? &r->refused_other_total : &r->refused_other) += 1;
        return;
    }
    if (i == r->nrefused) {
        memset(&r->refused[i], 0, sizeof(r->refused[i]));
        memcpy(&r->refused[i].addr, from,
               from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
        r->nrefused++;
    }
    *(total ? &r->refused[i].count_total : &r->refused[i].count) += 1;
}

/* snprintf at buf + *off that never moves *off past the end of buf. */
__attribute__((format(printf, 4, 5))) static void
append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*off >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    *off = n < 0 ? len : *off + (size_t)n;
}

/* "N over the LIMIT (source count, ...)" after lead for one of the two
 * limits; nothing, and 0 returned, when it refused nothing. */
static int report_limit(const struct probe_reflector *r, int total, const char *lead,
                        char *buf, size_t len, size_t *off)
{
    char a[PROTO_ADDRSTR_MAX];
    uint64_t other = total ? r->refused_other_total : r->refused_other, n = other;
    const char *sep = "";

    for (size_t i = 0; i < r->nrefused; i++)
        n += total ? r->refused[i].count_total : r->refused[i].count;
    if (n == 0)
        return 0;
    append(buf, len, off, "%s%llu over the %s of %.0f/s %s (", lead,
           (unsigned long long)n, total ? "cap" : "rate limit",
           total ? r->rate_total_pps : r->rate_pps,
           total ? "over all sources" : "per source");
    for (size_t i = 0; i < r->nrefused; i++) {
        uint64_t c = total ? r->refused[i].count_total : r->refused[i].count;

        if (c == 0)
            continue;
        proto_addr_ntop((const struct sockaddr *)&r->refused[i].addr, a, sizeof(a));
        append(buf, len, off, "%s%s %llu", sep, a, (unsigned long long)c);
        sep = ", ";
    }
    if (other != 0)
        append(buf, len, off, "%sand %llu from other sources", sep,
               (unsigned long long)other);
    append(buf, len, off, ")");
    return 1;
}

int probe_reflect_report(struct probe_reflector *r, int64_t now_ns, int force, char *buf,
                         size_t len)
{
    size_t off = 0;
    int any;

    if (r->refused_since == 0 || len == 0)
        return 0;
    if (!force && r->reported_ns != 0 &&
        now_ns - r->reported_ns < (int64_t)PROBE_REFLECT_REPORT_S * 1000000000)
        return 0;
    append(buf, len, &off,
           "refused %llu requests: ", (unsigned long long)r->refused_since);
    any = report_limit(r, 0, "", buf, len, &off);
    report_limit(r, 1, any ? ", " : "", buf, len, &off);
    r->nrefused = 0;
    r->refused_other = r->refused_other_total = r->refused_since = 0;
    r->reported_ns = now_ns;
    return 1;
}

/*
 * Random loss with rate q leaves the replies of each second binomial, with
 * variance n q (1 - q); a token bucket lets through the same number every
 * second once its burst is spent.  That takes burst / (sent - rate)
 * seconds without loss, so the seconds compared start after the first one
 * with loss (itself half burst).  A variance a tenth of the binomial's,
 * over at least 8 seconds, happens by chance about once in a thousand runs
 * (chi-square, 7 degrees of freedom).
 */
#define LIMIT_MIN_S     8    /* seconds compared at least */
#define LIMIT_MIN_PER_S 10   /* requests a second at least */
#define LIMIT_MIN_LOSS  0.02 /* a limit that refuses less is not worth a word */
#define LIMIT_MAX_RATIO 0.1  /* observed over binomial variance */

int probe_reflect_limit_suspected(const uint32_t *rx, size_t nbins, uint32_t per_bin,
                                  double *rate)
{
    double sum = 0, sq = 0, mean, q, var, k;
    size_t first = 0;

    while (first < nbins && rx[first] >= per_bin)
        first++;
    first++; /* the second the burst ran out in */
    if (per_bin < LIMIT_MIN_PER_S || first + LIMIT_MIN_S > nbins)
        return 0;
    k = (double)(nbins - first);
    for (size_t b = first; b < nbins; b++)
        sum += rx[b];
    mean = sum / k;
    q = 1.0 - mean / per_bin;
    if (q < LIMIT_MIN_LOSS || mean < 1.0)
        return 0;
    for (size_t b = first; b < nbins; b++)
        sq += (rx[b] - mean) * (rx[b] - mean);
    var = sq / (k - 1);
    if (var >= LIMIT_MAX_RATIO * per_bin * q * (1.0 - q))
        return 0;
    *rate = mean;
    return 1;
}

/* Stateful mode keeps the reflector's own sequence number per session
 * (RFC 8762 4.3), keyed by source address, port and SSID. */
static uint32_t session_seq(struct probe_reflector *r, const struct sockaddr *from,
                            uint16_t ssid)
{
    uint32_t h = (uint32_t)(hash_source(r, from, 1, ssid) >> 32);
    struct reflect_session *s = &r->sessions[h % PROBE_REFLECT_SESSIONS];

    if (!s->used || s->hash != h) {
        s->used = 1;
        s->hash = h;
        s->next_seq = 0; /* a new session, or one that took over the slot */
    }
    return s->next_seq++;
}

/* The reflected fields: our times, and the sender's copied back. */
static void fill_reply(struct probe_reflector *r, const struct sockaddr *from,
                       const struct proto_stamp_sender *in, const struct reflect_input *x,
                       struct proto_stamp_reflector *m)
{
    *m = (struct proto_stamp_reflector){
        .seq = r->stateful ? session_seq(r, from, in->ssid) : in->seq,
        .ts = probe_ns_to_ntp(x->t3_ns),
        .err = probe_stamp_errest,
        .ssid = in->ssid,
        .rx_ts = probe_ns_to_ntp(x->t2_ns),
        .sender_seq = in->seq,
        .sender_ts = in->ts,
        .sender_err = in->err,
        .sender_ttl = x->ttl,
    };
}

/*
 * RFC 8972 4: a sender sets U on each TLV it sends.  A tail that is not
 * entirely such TLVs (a TWAMP-Light sender's padding, say) is not TLVs to
 * us and goes back octet for octet.
 */
static int tail_is_tlvs(const uint8_t *p, size_t len)
{
    struct proto_stamp_tlv t;
    struct proto_rd r;
    int rc, n = 0;

    proto_rd_init(&r, p, len);
    while ((rc = proto_stamp_tlv_next(&r, &t)) == 1) {
        if (!(t.flags & PROTO_STAMP_TLV_U))
            return 0;
        n++;
    }
    return rc == 0 && n > 0;
}

/* Answers the TLVs after the base packet, in place and at the same length. */
static void reflect_tail(struct probe_reflector *r, const uint8_t *key, uint32_t req_seq,
                         uint32_t seq, const struct reflect_input *x, size_t base,
                         uint8_t *out)
{
    struct proto_stamp_tlv_ctx ctx = {
        .key = key,
        .require_hmac = key != NULL,
        .req_seq = req_seq,
        .seq = seq,
        /* Software timestamps of a clock we do not claim is synchronised. */
        .tsinfo = {PROTO_STAMP_SYNC_LOCAL, PROTO_STAMP_TSM_SW, PROTO_STAMP_SYNC_LOCAL,
                   PROTO_STAMP_TSM_SW},
        .rx_dscp = x->tos >> 2,
        .rx_ecn = x->tos & 3,
        .dscp1_allowed = 0, /* we answer with our own marking: RP = 1 */
        .rx_count = (uint32_t)(r->reflected + r->dropped + r->rate_limited +
                               r->total_limited + 1),
        .tx_count = (uint32_t)(r->reflected + 1),
    };

    if (x->len <= base || !tail_is_tlvs(x->req + base, x->len - base))
        return;
    if (proto_stamp_tlv_reflect(x->req + base, x->len - base, &ctx, out + base,
                                x->len - base, NULL) < 0)
        memcpy(out + base, x->req + base, x->len - base);
}

static int build_answer(struct probe_reflector *r, const struct sockaddr *from,
                        const struct proto_stamp_sender *in,
                        const struct reflect_input *x, uint8_t *out)
{
    struct proto_stamp_reflector m;

    if (x->len < PROTO_STAMP_BASE_LEN)
        return -EMSGSIZE;
    fill_reply(r, from, in, x, &m);
    /* Our base packet over theirs; what follows is answered as TLVs or
     * copied octet for octet. */
    memcpy(out, x->req, x->len);
    if (proto_stamp_reflector_encode(&m, out, PROTO_STAMP_BASE_LEN) < 0)
        return -EINVAL;
    reflect_tail(r, NULL, in->seq, m.seq, x, PROTO_STAMP_BASE_LEN, out);
    return (int)x->len;
}

/* A legacy TWAMP-Light sender may send less than 44 octets; the reply
 * layout (41 octets) must still fit in what it sent. */
static int legacy_answer(struct probe_reflector *r, const struct sockaddr *from,
                         const struct reflect_input *x, uint8_t *out)
{
    uint8_t req[PROTO_STAMP_BASE_LEN] = {0}, ans[PROTO_STAMP_BASE_LEN];
    struct proto_stamp_sender in;
    struct reflect_input padded = *x;
    int rc;

    if (!r->legacy || x->len < TWAMP_LIGHT_REPLY_LEN)
        return -EMSGSIZE;
    memcpy(req, x->req, x->len);
    if (proto_stamp_sender_decode(req, sizeof(req), &in) < 0)
        return -EBADMSG;
    in.ssid = 0; /* TWAMP-Light has no SSID: those octets are padding */
    padded.req = req;
    padded.len = sizeof(req);
    rc = build_answer(r, from, &in, &padded, ans);
    if (rc < 0)
        return rc;
    memcpy(out, ans, x->len);
    return (int)x->len;
}

/* Authenticated mode (RFC 8762 4.3.2): nothing but a valid HMAC is answered. */
static int auth_answer(struct probe_reflector *r, const struct sockaddr *from,
                       const struct reflect_input *x, uint8_t *out)
{
    const uint8_t *key = probe_key_for(&r->keys, from);
    struct proto_stamp_sender in;
    struct proto_stamp_reflector m;
    int rc;

    if (key == NULL)
        return -EACCES; /* no key for this peer */
    if (x->len < PROTO_STAMP_AUTH_LEN)
        return -EMSGSIZE;
    rc = proto_stamp_sender_decode_auth(x->req, x->len, key, &in);
    if (rc < 0)
        return rc;
    fill_reply(r, from, &in, x, &m);
    memcpy(out, x->req, x->len);
    if (proto_stamp_reflector_encode_auth(&m, key, out, PROTO_STAMP_AUTH_LEN) < 0)
        return -EINVAL;
    reflect_tail(r, key, in.seq, m.seq, x, PROTO_STAMP_AUTH_LEN, out);
    return (int)x->len;
}

int probe_reflect(struct probe_reflector *r, const struct sockaddr *from,
                  const struct reflect_input *x, uint8_t *out, size_t outlen)
{
    struct proto_stamp_sender in;
    int rc, rc2;

    if (x->len > outlen)
        return -ENOBUFS;
    if (r->authenticated) {
        rc = auth_answer(r, from, x, out);
    } else if (x->len < PROTO_STAMP_BASE_LEN) {
        rc = legacy_answer(r, from, x, out);
    } else {
        rc = proto_stamp_sender_decode(x->req, x->len, &in) < 0
                 ? -EBADMSG
                 : build_answer(r, from, &in, x, out);
    }
    if (rc < 0) {
        r->dropped++;
        return rc;
    }
    rc2 = rate_allow(r, from, x->t2_ns);
    if (rc2 < 0) {
        *(rc2 == -EBUSY ? &r->total_limited : &r->rate_limited) += 1;
        count_refused(r, from, rc2 == -EBUSY);
        return rc2;
    }
    r->reflected++;
    return rc;
}
