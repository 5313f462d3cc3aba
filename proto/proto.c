/*
 * proto.c - error text for the negative errno values every proto_ function
 * returns.  libuv's codes are negative errno values on Unix too, so one
 * function serves both.
 */
#include <string.h>

#include "proto.h"

const char *proto_strerror(int err)
{
    if (err >= 0)
        return "success";
    return strerror(-err);
}
