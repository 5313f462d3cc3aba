/*
 * frame.c - length-prefixed framing of control messages on the TLS stream.
 *
 * A frame is a 4-octet big-endian payload length followed by the payload
 * (one msgpack message, see msg.c and PROTOCOL.md).  The length is checked
 * as soon as the header has arrived, so a peer that announces a huge frame
 * is refused before we buffer any of it.
 */
#include <errno.h>
#include <limits.h>

#include "proto.h"

void proto_frame_header(uint8_t out[PROTO_FRAME_HDR], uint32_t payload_len)
{
    struct proto_wr w;

    /* Four octets always fit the four-octet buffer, so this cannot fail. */
    proto_wr_init(&w, out, PROTO_FRAME_HDR);
    (void)proto_wr_u32(&w, payload_len);
}

long proto_frame_parse(const uint8_t *buf, size_t len, size_t max,
                       const uint8_t **payload, size_t *payload_len)
{
    struct proto_rd r;
    uint32_t n;

    proto_rd_init(&r, buf, len);
    if (proto_rd_u32(&r, &n) != 0)
        return 0;
    if (n == 0)
        return -EBADMSG;
    if (n > max)
        return -EMSGSIZE;
#if LONG_MAX < 0xffffffffLL + PROTO_FRAME_HDR
    /* Where long is 32 bits wide the return value must fit it too. */
    if (n > LONG_MAX - PROTO_FRAME_HDR)
        return -EMSGSIZE;
#endif
    if (proto_rd_left(&r) < n)
        return 0;
    *payload = r.p + r.off;
    *payload_len = n;
    return (long)PROTO_FRAME_HDR + (long)n;
}
