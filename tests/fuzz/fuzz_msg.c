/*
 * fuzz_msg.c - the control message decoder on raw payloads.
 *
 * Whatever proto_msg_decode() accepts must re-encode, decode again and
 * encode to the same octets (see fuzz_msg_decode() in support.c).
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_msg_decode(data, size, 0);
    return 0;
}
