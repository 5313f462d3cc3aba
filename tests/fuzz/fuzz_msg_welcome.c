/*
 * fuzz_msg_welcome.c - the WELCOME decoder.
 *
 * The input is a WELCOME message without its "t" key: a msgpack map header
 * and that many key/value pairs.  fuzz_msg_typed() adds "t": WELCOME in
 * front, so no input is spent on choosing the message type.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_msg_typed(data, size, PROTO_MSG_WELCOME);
    return 0;
}
