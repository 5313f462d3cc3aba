/*
 * fuzz_msg_tasks_delta.c - the TASKS_DELTA decoder.
 *
 * The input is a TASKS_DELTA message without its "t" key: a msgpack map header
 * and that many key/value pairs.  fuzz_msg_typed() adds "t": TASKS_DELTA in
 * front, so no input is spent on choosing the message type.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_msg_typed(data, size, PROTO_MSG_TASKS_DELTA);
    return 0;
}
