/*
 * fuzz_icmp.c - the icmp method's reply parser: probe_icmp_parse() on what
 * each kind of ICMP socket hands over, and probe_icmp_parse_quoted() on a
 * ping socket's error queue (probe/icmp.c).
 *
 * Input: a flags octet (FUZZ_ICMP_* in fuzz.h: the socket, whether to fix
 * the checksum first), then the message.  The parser must refuse, as
 * malformed or not ours, or give back fields that hold together: an echo
 * reply carries our cookie and, from a raw socket, our identifier, and the
 * request built from its fields answers to the same fields; an error names
 * the family of the socket and, from a ping socket, our task.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "probe.h"

static void check_msg(const struct probe_icmp_msg *m, int rc, size_t size, int sock)
{
    int v6 = sock == PROBE_ICMP_RAW6 || sock == PROBE_ICMP_PING6;
    int raw = sock == PROBE_ICMP_RAW4 || sock == PROBE_ICMP_RAW6;
    char why[PROTO_WHY_MAX + 1];

    FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOENT);
    if (rc != 0)
        return;
    FUZZ_CHECK(m->len <= size);
    FUZZ_CHECK(m->len >= PROBE_ICMP_HDR_LEN);
    if (sock != PROBE_ICMP_RAW4)
        FUZZ_CHECK(m->ttl == 0);
    if (m->kind == PROBE_ICMP_REPLY) {
        FUZZ_CHECK(m->has_task);
        FUZZ_CHECK(m->len >= PROBE_ICMP_HDR_LEN + PROBE_ICMP_DATA_MIN);
        FUZZ_CHECK(!raw || m->ident == FUZZ_ICMP_IDENT);
        return;
    }
    FUZZ_CHECK(m->kind == PROBE_ICMP_UNREACH || m->kind == PROBE_ICMP_EXCEEDED);
    FUZZ_CHECK(m->dst_family == (v6 ? AF_INET6 : AF_INET));
    FUZZ_CHECK(raw || m->has_task); /* a bare quote is taken on the identifier only */
    FUZZ_CHECK(!raw || m->ident == FUZZ_ICMP_IDENT);
    probe_icmp_why(v6, m->kind, m->code, "192.0.2.1", why, sizeof(why));
    FUZZ_CHECK(strlen(why) < sizeof(why));
}

/* An echo reply read back: our request from its fields, answered, reads
 * back the same. */
static void check_round_trip(const struct probe_icmp_msg *m, int sock)
{
    int v6 = sock == PROBE_ICMP_RAW6 || sock == PROBE_ICMP_PING6;
    uint8_t buf[20 + PROBE_ICMP_PKT_MAX], *icmp = buf;
    struct probe_icmp_msg again;
    size_t data = m->len - PROBE_ICMP_HDR_LEN, h = 0;
    int n;

    if (data > PROBE_ICMP_DATA_MAX)
        return;
    if (sock == PROBE_ICMP_RAW4) {
        h = 20;
        memset(buf, 0, h);
        buf[0] = 0x45;
        buf[2] = (uint8_t)((h + m->len) >> 8);
        buf[3] = (uint8_t)(h + m->len);
        buf[8] = m->ttl;
        buf[9] = IPPROTO_ICMP;
        icmp = buf + h;
    }
    n = probe_icmp_request(icmp, sizeof(buf) - h, v6, m->ident, m->seq, FUZZ_ICMP_COOKIE,
                           m->task_id, (uint16_t)data);
    FUZZ_CHECK(n == (int)m->len);
    icmp[0] = v6 ? 129 : 0;
    if (!v6) {
        uint16_t sum;

        icmp[2] = icmp[3] = 0;
        sum = probe_icmp_checksum(icmp, (size_t)n);
        icmp[2] = (uint8_t)(sum >> 8);
        icmp[3] = (uint8_t)sum;
    }
    FUZZ_CHECK(probe_icmp_parse(buf, h + (size_t)n, sock, FUZZ_ICMP_IDENT,
                                FUZZ_ICMP_COOKIE, &again) == 0);
    FUZZ_CHECK(again.kind == PROBE_ICMP_REPLY && again.seq == m->seq &&
               again.ident == m->ident && again.task_id == m->task_id &&
               again.len == m->len && again.ttl == m->ttl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct probe_icmp_msg m;
    uint8_t *msg;
    size_t len;
    int flags, sock, rc;

    if (size < 1)
        return 0;
    flags = data[0];
    sock = flags & FUZZ_ICMP_SOCK;
    len = size - 1;
    /* A copy of exactly the message's size, so that ASan sees a read past it. */
    msg = malloc(len ? len : 1);
    FUZZ_CHECK(msg != NULL);
    memcpy(msg, data + 1, len);
    if (flags & FUZZ_ICMP_FIX_SUM) {
        size_t h = sock == PROBE_ICMP_RAW4 && len > 0 ? (msg[0] & 0x0fu) * 4u : 0;

        if (len >= h + 4) {
            uint16_t sum;

            msg[h + 2] = msg[h + 3] = 0;
            sum = probe_icmp_checksum(msg + h, len - h);
            msg[h + 2] = (uint8_t)(sum >> 8);
            msg[h + 3] = (uint8_t)sum;
        }
    }
    rc = probe_icmp_parse(msg, len, (enum probe_icmp_sock)sock, FUZZ_ICMP_IDENT,
                          FUZZ_ICMP_COOKIE, &m);
    check_msg(&m, rc, len, sock);
    if (rc == 0 && m.kind == PROBE_ICMP_REPLY)
        check_round_trip(&m, sock);
    /* The same octets as a ping socket's error queue would return them. */
    rc = probe_icmp_parse_quoted(msg, len, sock >= PROBE_ICMP_RAW6, FUZZ_ICMP_COOKIE, &m);
    FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOENT);
    if (rc == 0)
        FUZZ_CHECK(m.len == len && len >= PROBE_ICMP_HDR_LEN);
    free(msg);
    return 0;
}
