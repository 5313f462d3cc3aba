/*
 * fuzz_msg_tasks.c - the TASKS decoder.
 *
 * The input is a TASKS message without its "t" key: a msgpack map header
 * and that many key/value pairs.  fuzz_msg_typed() adds "t": TASKS in
 * front, so no input is spent on choosing the message type.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_msg_typed(data, size, PROTO_MSG_TASKS);
    return 0;
}
