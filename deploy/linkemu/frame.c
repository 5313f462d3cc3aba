/*
 * frame.c - which frames the impairments apply to.  Only datagrams a test
 * counts (UDP, ICMP echo) are lost, reordered or duplicated; ARP and IPv6
 * neighbour discovery are only delayed, so address resolution never fails
 * because of the emulator.  Every read goes through the bounded reader.
 */
#include <stddef.h>
#include <stdint.h>

#include "linkemu.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define IPPROTO_ICMP_  1
#define IPPROTO_UDP_   17
#define IPPROTO_ICMP6_ 58

struct reader {
    const uint8_t *p;
    size_t len;
    size_t off;
};

static int rd_skip(struct reader *r, size_t n)
{
    if (r->len - r->off < n)
        return -1;
    r->off += n;
    return 0;
}

static int rd_u8(struct reader *r, uint8_t *v)
{
    if (r->len - r->off < 1)
        return -1;
    *v = r->p[r->off++];
    return 0;
}

static int rd_u16(struct reader *r, uint16_t *v)
{
    if (r->len - r->off < 2)
        return -1;
    *v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
    r->off += 2;
    return 0;
}

/* A UDP header (RFC 768 1) and an ICMP or ICMPv6 echo header (RFC 792,
 * RFC 4443 4.1) are both 8 octets. */
#define L4_HDR_LEN 8

/* RFC 791 3.1.  A later fragment of an echo carries no ICMP type, so only
 * first fragments of ICMP are eligible; every fragment of UDP is.  A frame
 * cut short of the IP header, or of a first fragment's transport header, is
 * not a datagram and only delayed. */
static int ipv4_eligible(struct reader *r)
{
    uint8_t vihl, proto, type;
    uint16_t frag;
    size_t hlen;

    if (rd_u8(r, &vihl) < 0 || vihl >> 4 != 4 || (vihl & 0x0f) < 5)
        return 0;
    hlen = (size_t)(vihl & 0x0f) * 4;
    /* 10 octets of the header read by the time the rest is skipped. */
    if (rd_skip(r, 5) < 0 || rd_u16(r, &frag) < 0 || rd_skip(r, 1) < 0 ||
        rd_u8(r, &proto) < 0 || rd_skip(r, hlen - 10) < 0)
        return 0;
    if (proto != IPPROTO_UDP_ && proto != IPPROTO_ICMP_)
        return 0;
    if ((frag & 0x1fff) != 0)
        return proto == IPPROTO_UDP_;
    if (rd_u8(r, &type) < 0 || rd_skip(r, L4_HDR_LEN - 1) < 0)
        return 0;
    /* RFC 792: echo reply, echo. */
    return proto == IPPROTO_UDP_ || type == 0 || type == 8;
}

/* RFC 8200 3.  Extension headers are not followed: a datagram behind one is
 * only delayed. */
static int ipv6_eligible(struct reader *r)
{
    uint8_t v, next, type;

    if (rd_u8(r, &v) < 0 || v >> 4 != 6 || rd_skip(r, 5) < 0 || rd_u8(r, &next) < 0 ||
        rd_skip(r, 33) < 0)
        return 0;
    if (next != IPPROTO_UDP_ && next != IPPROTO_ICMP6_)
        return 0;
    if (rd_u8(r, &type) < 0 || rd_skip(r, L4_HDR_LEN - 1) < 0)
        return 0;
    return next == IPPROTO_UDP_ || type == 128 || type == 129; /* RFC 4443 4.1, 4.2 */
}

int le_frame_eligible(const uint8_t *p, size_t len)
{
    struct reader r = {p, len, 0};
    uint16_t type;

    if (rd_skip(&r, 12) < 0 || rd_u16(&r, &type) < 0)
        return 0;
    if (type == ETHERTYPE_VLAN && (rd_skip(&r, 2) < 0 || rd_u16(&r, &type) < 0))
        return 0;
    if (type == ETHERTYPE_IPV4)
        return ipv4_eligible(&r);
    if (type == ETHERTYPE_IPV6)
        return ipv6_eligible(&r);
    return 0;
}
