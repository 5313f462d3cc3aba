/*
 * fuzz_msg_heartbeat.c - the HEARTBEAT decoder.
 *
 * The input is a HEARTBEAT message without its "t" key: a msgpack map header
 * and that many key/value pairs.  fuzz_msg_typed() adds "t": HEARTBEAT in
 * front, so no input is spent on choosing the message type.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_msg_typed(data, size, PROTO_MSG_HEARTBEAT);
    return 0;
}
