/*
 * fuzz_linkemu_frame.c - the link emulator's frame classifier on any
 * octets, as a TAP device may hand them over.
 *
 * An eligible frame must be what linkemu.h promises, checked here from the
 * octets themselves: IPv4 or IPv6 behind at most one VLAN tag, carrying UDP
 * or an ICMP or ICMPv6 echo, with its headers whole.  More octets never
 * make a frame ineligible, and one VLAN tag changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "linkemu.h"

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* The promise of linkemu.h for an eligible frame. */
static void check_eligible(const uint8_t *p, size_t len)
{
    size_t off = 14, hlen;
    unsigned type, frag;

    FUZZ_CHECK(len >= 14);
    type = be16(p + 12);
    if (type == 0x8100) {
        FUZZ_CHECK(len >= 18);
        type = be16(p + 16);
        off = 18;
    }
    FUZZ_CHECK(type == 0x0800 || type == 0x86dd);
    if (type == 0x0800) {
        FUZZ_CHECK(len >= off + 20 && p[off] >> 4 == 4);
        hlen = (size_t)(p[off] & 0x0f) * 4;
        frag = be16(p + off + 6) & 0x1fff;
        FUZZ_CHECK(hlen >= 20 && len >= off + hlen);
        FUZZ_CHECK(p[off + 9] == 17 || p[off + 9] == 1);
        if (frag != 0) {
            FUZZ_CHECK(p[off + 9] == 17); /* no ICMP type in a later fragment */
            return;
        }
        FUZZ_CHECK(len >= off + hlen + 8);
        if (p[off + 9] == 1)
            FUZZ_CHECK(p[off + hlen] == 0 || p[off + hlen] == 8);
        return;
    }
    FUZZ_CHECK(len >= off + 48 && p[off] >> 4 == 6);
    FUZZ_CHECK(p[off + 6] == 17 || p[off + 6] == 58);
    if (p[off + 6] == 58)
        FUZZ_CHECK(p[off + 40] == 128 || p[off + 40] == 129);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int e = le_frame_eligible(data, size);

    FUZZ_CHECK(e == 0 || e == 1);
    if (e)
        check_eligible(data, size);
    /* Cut one octet short: eligible then means eligible now. */
    if (size > 0 && le_frame_eligible(data, size - 1))
        FUZZ_CHECK(e);
    /* The same frame without its VLAN tag, in a buffer of its exact size. */
    if (size >= 18 && be16(data + 12) == 0x8100 && be16(data + 16) != 0x8100) {
        uint8_t *bare = malloc(size - 4);

        if (bare == NULL)
            return 0;
        memcpy(bare, data, 12);
        memcpy(bare + 12, data + 16, size - 16);
        FUZZ_CHECK(le_frame_eligible(bare, size - 4) == e);
        free(bare);
    }
    return 0;
}
