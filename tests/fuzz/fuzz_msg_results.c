/*
 * fuzz_msg_results.c - the RESULTS decoder.
 *
 * The input is a RESULTS message without its "t" key: a msgpack map header
 * and that many key/value pairs.  fuzz_msg_typed() adds "t": RESULTS in
 * front, so no input is spent on choosing the message type.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_msg_typed(data, size, PROTO_MSG_RESULTS);
    return 0;
}
