/*
 * fuzz_msg_hello.c - the HELLO decoder.
 *
 * The input is a HELLO message without its "t" key: a msgpack map header
 * and that many key/value pairs.  fuzz_msg_typed() adds "t": HELLO in
 * front, so no input is spent on choosing the message type.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_msg_typed(data, size, PROTO_MSG_HELLO);
    return 0;
}
