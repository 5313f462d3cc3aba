/*
 * buf.c - the bounded reader and writer through which all wire bytes pass.
 *
 * Multi-octet integers are big-endian (network order).  Every operation
 * checks the remaining length first and, on failure, changes nothing: a
 * caller may try another interpretation from the same position.
 */
#include <errno.h>
#include <string.h>

#include "proto.h"

void proto_rd_init(struct proto_rd *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = p != NULL ? len : 0;
    r->off = 0;
}

size_t proto_rd_left(const struct proto_rd *r)
{
    return r->len - r->off;
}

/* Reads n octets (n <= 8) as one big-endian integer. */
static int rd_be(struct proto_rd *r, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    size_t i;

    if (proto_rd_left(r) < n)
        return -EBADMSG;
    for (i = 0; i < n; i++)
        x = x << 8 | r->p[r->off + i];
    r->off += n;
    *v = x;
    return 0;
}

int proto_rd_u8(struct proto_rd *r, uint8_t *v)
{
    uint64_t x;
    int rc = rd_be(r, 1, &x);

    if (rc == 0)
        *v = (uint8_t)x;
    return rc;
}

int proto_rd_u16(struct proto_rd *r, uint16_t *v)
{
    uint64_t x;
    int rc = rd_be(r, 2, &x);

    if (rc == 0)
        *v = (uint16_t)x;
    return rc;
}

int proto_rd_u32(struct proto_rd *r, uint32_t *v)
{
    uint64_t x;
    int rc = rd_be(r, 4, &x);

    if (rc == 0)
        *v = (uint32_t)x;
    return rc;
}

int proto_rd_u64(struct proto_rd *r, uint64_t *v)
{
    return rd_be(r, 8, v);
}

int proto_rd_skip(struct proto_rd *r, size_t n)
{
    if (proto_rd_left(r) < n)
        return -EBADMSG;
    r->off += n;
    return 0;
}

int proto_rd_bytes(struct proto_rd *r, uint8_t *out, size_t n)
{
    if (proto_rd_left(r) < n)
        return -EBADMSG;
    if (n > 0)
        memcpy(out, r->p + r->off, n);
    r->off += n;
    return 0;
}

void proto_wr_init(struct proto_wr *w, uint8_t *p, size_t cap)
{
    w->p = p;
    w->cap = p != NULL ? cap : 0;
    w->off = 0;
}

/* Writes the low n octets of v (n <= 8), most significant first. */
static int wr_be(struct proto_wr *w, size_t n, uint64_t v)
{
    size_t i;

    if (w->cap - w->off < n)
        return -ENOBUFS;
    for (i = 0; i < n; i++)
        w->p[w->off + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    w->off += n;
    return 0;
}

int proto_wr_u8(struct proto_wr *w, uint8_t v)
{
    return wr_be(w, 1, v);
}

int proto_wr_u16(struct proto_wr *w, uint16_t v)
{
    return wr_be(w, 2, v);
}

int proto_wr_u32(struct proto_wr *w, uint32_t v)
{
    return wr_be(w, 4, v);
}

int proto_wr_u64(struct proto_wr *w, uint64_t v)
{
    return wr_be(w, 8, v);
}

int proto_wr_zero(struct proto_wr *w, size_t n)
{
    if (w->cap - w->off < n)
        return -ENOBUFS;
    if (n > 0)
        memset(w->p + w->off, 0, n);
    w->off += n;
    return 0;
}
