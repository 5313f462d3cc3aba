/*
 * support.c - checks and input plumbing shared by the fuzz harnesses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

/*
 * A re-encoded message may be a few octets longer than the payload it came
 * from (a float32 coordinate comes back as a float64), so an input this
 * close to the frame limit may legitimately fail to re-encode.
 */
#define REENCODE_SLACK 64

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", file, line, what);
    abort();
}

/* m stays owned by the caller; near_max: its payload was close to the limit. */
static void msg_round_trip(const struct proto_msg *m, int near_max)
{
    uint8_t *first = NULL, *second = NULL;
    size_t first_len = 0, second_len = 0, payload_len = 0;
    const uint8_t *payload = NULL;
    struct proto_msg again;
    int rc;

    rc = proto_msg_encode(m, &first, &first_len);
    if (rc == -EMSGSIZE && near_max)
        return;
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(proto_frame_parse(first, first_len, PROTO_FRAME_MAX, &payload,
                                 &payload_len) == (long)first_len);
    FUZZ_CHECK(proto_msg_decode(payload, payload_len, &again) == 0);
    FUZZ_CHECK(again.type == m->type);
    FUZZ_CHECK(proto_msg_encode(&again, &second, &second_len) == 0);
    /* Encoding is canonical: the same message always gives the same octets. */
    FUZZ_CHECK(second_len == first_len && memcmp(first, second, first_len) == 0);
    proto_msg_free(&again);
    free(first);
    free(second);
}

void fuzz_msg_decode(const uint8_t *payload, size_t len, int want_type)
{
    struct proto_msg m;

    if (proto_msg_decode(payload, len, &m) != 0)
        return;
    FUZZ_CHECK(want_type == 0 || (int)m.type == want_type);
    msg_round_trip(&m, len > PROTO_FRAME_MAX - REENCODE_SLACK);
    proto_msg_free(&m);
}

void fuzz_msg_typed(const uint8_t *data, size_t size, enum proto_msg_type type)
{
    struct proto_rd r;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint64_t npairs;
    uint16_t n16;
    uint32_t n32;
    uint8_t b;

    proto_rd_init(&r, data, size);
    if (proto_rd_u8(&r, &b) != 0)
        return;
    if (b >= 0x80 && b <= 0x8f)
        npairs = b & 0x0f;
    else if (b == 0xde && proto_rd_u16(&r, &n16) == 0)
        npairs = n16;
    else if (b == 0xdf && proto_rd_u32(&r, &n32) == 0)
        npairs = n32;
    else
        return;
    if (npairs >= UINT32_MAX)
        return;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, (uint32_t)npairs + 1) == 0 &&
        msgpack_pack_str_with_body(&pk, "t", 1) == 0 &&
        msgpack_pack_uint8(&pk, (uint8_t)type) == 0 &&
        msgpack_sbuffer_write(&sb, (const char *)data + r.off, size - r.off) == 0)
        fuzz_msg_decode((const uint8_t *)sb.data, sb.size, (int)type);
    msgpack_sbuffer_destroy(&sb);
}

const char *fuzz_file(const uint8_t *data, size_t size)
{
    static char path[64];
    static int fd = -1;
    size_t off = 0;
    ssize_t n;

    if (fd < 0) {
        fd = memfd_create("ixmesh-fuzz", MFD_CLOEXEC);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) {
        perror("ftruncate");
        abort();
    }
    while (off < size) {
        n = pwrite(fd, data + off, size - off, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            perror("pwrite");
            abort();
        }
        off += (size_t)n;
    }
    return path;
}
