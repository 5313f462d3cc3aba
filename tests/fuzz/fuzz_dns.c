/*
 * fuzz_dns.c - the dns method's answer reader (probe/dns.c), RFC 1035 4.1.
 *
 * The input is one UDP payload as c-ares hands it over.  It is read as the
 * answer to three questions: content.ixmesh.test A (what the seeds ask),
 * the same AAAA, and the question the input itself carries when that is a
 * plain name, so that inputs reach the record sections.  Whatever the
 * verdict, the header fields must be the input's octets, the verdict one
 * of the three the reader promises, an accepted answer must stay accepted
 * with octets appended, and the why text must be printable.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "probe.h"

#define QNAME "content.ixmesh.test"

/* The input's own question name as text, when it is plain labels of
 * printable octets without dots; "" otherwise. */
static void own_qname(const uint8_t *data, size_t size, char *out, size_t len)
{
    struct proto_rd r;
    size_t o = 0;
    uint8_t n, c;

    out[0] = '\0';
    proto_rd_init(&r, data, size);
    if (proto_rd_skip(&r, 12) < 0)
        return;
    for (;;) {
        if (proto_rd_u8(&r, &n) < 0 || n > 63)
            return;
        if (n == 0)
            break;
        if (o + n + 2 > len)
            return;
        for (uint8_t i = 0; i < n; i++) {
            if (proto_rd_u8(&r, &c) < 0 || c <= 0x20 || c >= 0x7f || c == '.')
                return;
            out[o++] = (char)c;
        }
        out[o++] = '.';
    }
    out[o] = '\0';
}

static void check_one(const uint8_t *data, size_t size, const char *qname, uint16_t qtype)
{
    struct probe_dns_answer a;
    char why[PROTO_WHY_MAX + 1];
    uint8_t *copy;
    int rc = probe_dns_parse(data, size, qname, qtype, &a);

    FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EPROTO);
    FUZZ_CHECK(a.has_header == (size >= 12));
    if (size < 12) {
        FUZZ_CHECK(rc == -EBADMSG);
        return;
    }
    FUZZ_CHECK(a.id == (data[0] << 8 | data[1]));
    FUZZ_CHECK(a.rcode == (data[3] & 0xf));
    FUZZ_CHECK(a.tc == ((data[2] & 0x02) != 0));
    FUZZ_CHECK(a.qdcount == (data[4] << 8 | data[5]));
    FUZZ_CHECK(a.ancount == (data[6] << 8 | data[7]));
    FUZZ_CHECK(a.nscount == (data[8] << 8 | data[9]));
    FUZZ_CHECK(a.arcount == (data[10] << 8 | data[11]));
    FUZZ_CHECK(probe_dns_outcome(a.rcode) >= 0 &&
               probe_dns_outcome(a.rcode) < PROTO_OUTCOME_MAX);
    FUZZ_CHECK((probe_dns_outcome(a.rcode) == PROTO_OUT_OK) == (a.rcode == 0));
    probe_dns_why(why, sizeof(why), a.rcode, qname);
    FUZZ_CHECK(strlen(why) <= PROTO_WHY_MAX);
    for (size_t i = 0; why[i] != '\0'; i++)
        FUZZ_CHECK(why[i] >= 0x20 && why[i] < 0x7f);
    if (rc != 0)
        return;
    FUZZ_CHECK(data[2] & 0x80); /* QR */
    /* Octets after the records change nothing. */
    copy = malloc(size + 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);
    copy[size] = 0xff;
    FUZZ_CHECK(probe_dns_parse(copy, size + 1, qname, qtype, &a) == 0);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char qname[PROTO_HOST_MAX + 2];

    check_one(data, size, QNAME, 1);
    check_one(data, size, QNAME, 28);
    own_qname(data, size, qname, sizeof(qname));
    if (qname[0] != '\0') {
        struct proto_rd r;
        uint16_t qtype = 0;

        /* The question's type follows its name: 12 + name length. */
        proto_rd_init(&r, data, size);
        if (proto_rd_skip(&r, 12 + strlen(qname) + 1) == 0 &&
            proto_rd_u16(&r, &qtype) == 0)
            check_one(data, size, qname, qtype);
    }
    return 0;
}
