/*
 * fuzz_frame.c - the frame parser, then the message decoder on each frame.
 *
 * The input is a byte stream as it arrives from a peer.  It is cut into
 * frames with several maximum lengths, and every answer of
 * proto_frame_parse() is checked against the header read independently
 * here.  Payloads are decoded once, with the real maximum.
 */
#include <errno.h>

#include "fuzz.h"

static const size_t frame_maxes[] = {PROTO_FRAME_MAX, 0, 1, 16, 4096, SIZE_MAX};

/* Cuts data into frames of at most max octets; decodes them when asked to. */
static void parse_stream(const uint8_t *data, size_t size, size_t max, int decode)
{
    const uint8_t *payload;
    struct proto_rd r;
    size_t payload_len;
    uint32_t declared;
    long n;

    proto_rd_init(&r, data, size);
    for (;;) {
        payload = NULL;
        payload_len = 0;
        n = proto_frame_parse(data + r.off, proto_rd_left(&r), max, &payload,
                              &payload_len);
        if (proto_rd_u32(&r, &declared) != 0) {
            FUZZ_CHECK(n == 0); /* not even a header yet */
            return;
        }
        if (declared == 0) {
            FUZZ_CHECK(n == -EBADMSG);
            return;
        }
        if (declared > max) {
            FUZZ_CHECK(n == -EMSGSIZE);
            return;
        }
        if (declared > proto_rd_left(&r)) {
            FUZZ_CHECK(n == 0); /* the rest of the payload is still to come */
            return;
        }
        FUZZ_CHECK(n == (long)PROTO_FRAME_HDR + (long)declared);
        FUZZ_CHECK(payload == data + r.off && payload_len == declared);
        if (decode)
            fuzz_msg_decode(payload, payload_len, 0);
        FUZZ_CHECK(proto_rd_skip(&r, payload_len) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i;

    for (i = 0; i < sizeof(frame_maxes) / sizeof(frame_maxes[0]); i++)
        parse_stream(data, size, frame_maxes[i], frame_maxes[i] == PROTO_FRAME_MAX);
    return 0;
}
