/*
 * dns.c - what a DNS answer tells the dns method, and the resolver list of
 * the configuration.  No I/O: dns_io.c hands over the octets c-ares
 * received, and this reads them through proto_rd only.
 *
 * An answer is the header (RFC 1035 4.1.1), the question (4.1.2) and the
 * answer, authority and additional records (4.1.3).  c-ares has matched
 * the ID already; here the flags, the RCODE and the counts are read, the
 * question is compared with ours (names case-insensitively, RFC 4343),
 * and every record the counts announce must be there, so that an answer
 * cut short is malformed however it was cut.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "probe.h"

#define DNS_HDR_LEN   12
#define DNS_QR        0x8000 /* a response (4.1.1) */
#define DNS_TC        0x0200 /* truncated: the sections may be cut short */
#define DNS_OPCODE(f) (((f) >> 11) & 0xf)
#define DNS_RCODE(f)  ((f)&0xf)
#define DNS_CLASS_IN  1
#define DNS_PTR_MASK  0xc0 /* a compression pointer's top bits (4.1.4) */
#define DNS_LABEL_MAX 63

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * Reads the question's name at r and compares it with qname (text, an
 * optional final dot).  1 when equal, 0 when not, -EBADMSG when the name
 * is cut short or uses a pointer: the question is the first name of a
 * message, so there is nothing before it to point to.
 */
static int read_qname(struct proto_rd *r, const char *qname)
{
    const char *want = qname;
    int same = 1;
    uint8_t n, c;

    if (strcmp(want, ".") == 0)
        want = ""; /* the root: no labels */
    for (;;) {
        if (proto_rd_u8(r, &n) < 0 || (n & DNS_PTR_MASK) != 0)
            return -EBADMSG;
        if (n == 0)
            break;
        for (uint8_t i = 0; i < n; i++) {
            if (proto_rd_u8(r, &c) < 0)
                return -EBADMSG;
            if (*want == '\0' || *want == '.' || lower(*want) != lower(c))
                same = 0;
            else
                want++;
        }
        if (*want == '.')
            want++;
        else if (*want != '\0')
            same = 0;
    }
    /* A name of text "a.b" has been consumed as "a." and "b": qname must
     * have ended with the labels (a trailing dot of its own is fine). */
    if (same && *want != '\0')
        same = 0;
    return same;
}

/* Skips a name anywhere in the message (4.1.4): labels up to the root
 * label or a pointer, which ends the name where it stands. */
static int skip_name(struct proto_rd *r)
{
    uint8_t n;

    for (;;) {
        if (proto_rd_u8(r, &n) < 0)
            return -EBADMSG;
        if ((n & DNS_PTR_MASK) == DNS_PTR_MASK)
            return proto_rd_skip(r, 1);
        if ((n & DNS_PTR_MASK) != 0)
            return -EBADMSG; /* 0x40 and 0x80: extended label types, not ours */
        if (n == 0)
            return 0;
        if (proto_rd_skip(r, n) < 0)
            return -EBADMSG;
    }
}

/* Skips one resource record (4.1.3): name, type, class, TTL, RDATA. */
static int skip_rr(struct proto_rd *r)
{
    uint16_t type, class, rdlen;
    uint32_t ttl;

    if (skip_name(r) < 0 || proto_rd_u16(r, &type) < 0 || proto_rd_u16(r, &class) < 0 ||
        proto_rd_u32(r, &ttl) < 0 || proto_rd_u16(r, &rdlen) < 0 ||
        proto_rd_skip(r, rdlen) < 0)
        return -EBADMSG;
    return 0;
}

int probe_dns_parse(const uint8_t *buf, size_t len, const char *qname, uint16_t qtype,
                    struct probe_dns_answer *a)
{
    struct proto_rd r;
    uint16_t flags, type, class;
    uint32_t records;
    int rc = -EBADMSG;

    memset(a, 0, sizeof(*a));
    proto_rd_init(&r, buf, len);
    if (proto_rd_u16(&r, &a->id) < 0 || proto_rd_u16(&r, &flags) < 0 ||
        proto_rd_u16(&r, &a->qdcount) < 0 || proto_rd_u16(&r, &a->ancount) < 0 ||
        proto_rd_u16(&r, &a->nscount) < 0 || proto_rd_u16(&r, &a->arcount) < 0)
        goto done;
    a->rcode = (uint8_t)DNS_RCODE(flags);
    a->tc = (flags & DNS_TC) != 0;
    a->has_header = 1;
    /* A query, or another opcode than QUERY, answers nothing of ours. */
    if (!(flags & DNS_QR) || DNS_OPCODE(flags) != 0) {
        rc = -EPROTO;
        goto done;
    }
    /* We ask one question.  An error answer may come without it (a server
     * that could not parse the query cannot repeat it, 4.1.1 FORMERR). */
    if (a->qdcount == 0 && a->rcode != 0) {
        rc = 0;
        goto done;
    }
    if (a->qdcount != 1) {
        rc = -EPROTO;
        goto done;
    }
    rc = read_qname(&r, qname);
    if (rc < 0)
        goto done;
    if (proto_rd_u16(&r, &type) < 0 || proto_rd_u16(&r, &class) < 0) {
        rc = -EBADMSG;
        goto done;
    }
    if (rc == 0 || type != qtype || class != DNS_CLASS_IN) {
        rc = -EPROTO;
        goto done;
    }
    /* A truncated answer (4.1.1 TC) holds what fitted: the counts may
     * promise more records than follow. */
    rc = 0;
    if (a->tc)
        goto done;
    records = (uint32_t)a->ancount + a->nscount + a->arcount;
    for (uint32_t i = 0; i < records; i++) {
        rc = skip_rr(&r);
        if (rc < 0)
            goto done;
    }
done:
    return rc;
}

int probe_dns_outcome(uint8_t rcode)
{
    switch (rcode) {
    case 0:
        return PROTO_OUT_OK;
    case 2:
        return PROTO_OUT_SERVFAIL;
    case 3:
        return PROTO_OUT_NXDOMAIN;
    case 5:
        return PROTO_OUT_DNS_REFUSED;
    default:
        return PROTO_OUT_DNS_ERROR;
    }
}

void probe_dns_why(char *out, size_t len, uint8_t rcode, const char *qname)
{
    char name[PROTO_HOST_MAX + 1];
    const char *rn = proto_dns_rcode_name(rcode);

    probe_sanitize(name, sizeof(name), qname, strlen(qname));
    if (rn != NULL && rcode != 0)
        snprintf(out, len, "%s for %s", rn, name);
    else
        snprintf(out, len, "rcode %u for %s", rcode, name);
}

int probe_dns_servers_parse(const char *s, struct sockaddr_storage *out, size_t max,
                            size_t *n, char *err, size_t errlen)
{
    char tmp[sizeof(((struct probe_config *)0)->resolvers)], *save = NULL;
    int rc = -EINVAL;

    *n = 0;
    if (strlen(s) >= sizeof(tmp)) {
        snprintf(err, errlen, "resolver list longer than %zu characters",
                 sizeof(tmp) - 1);
        goto done;
    }
    strcpy(tmp, s);
    for (char *tok = strtok_r(tmp, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        socklen_t sl;

        if (*n == max) {
            snprintf(err, errlen, "more than %zu resolvers", max);
            goto done;
        }
        if (proto_addr_parse(tok, 53, &out[*n], &sl) < 0 || strcmp(tok, "*") == 0 ||
            proto_addr_port((struct sockaddr *)&out[*n]) == 0) {
            snprintf(err, errlen,
                     "'%.64s' is not ADDRESS[:PORT] with a numeric address "
                     "(IPv6 in brackets with a port)",
                     tok);
            goto done;
        }
        (*n)++;
    }
    if (*n == 0) {
        snprintf(err, errlen, "no resolver address given");
        goto done;
    }
    rc = 0;
done:
    return rc;
}
