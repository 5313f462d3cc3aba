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

const char *proto_path_class(uint8_t ttl)
{
    if (ttl == 0)
        return NULL;
    return ttl == 255 ? "one-hop" : "routed";
}
