/*
 * frame_test.c - framing: round trips, every truncation, size limits.
 *
 * Inputs are copied into heap buffers of exactly their length, so that a
 * read past the end shows up under AddressSanitizer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_proto.h"
#include "proto.h"

static uint8_t *frame_make(const uint8_t *payload, uint32_t n, size_t *len)
{
    uint8_t *f = malloc(PROTO_FRAME_HDR + n);

    ck_assert_ptr_nonnull(f);
    proto_frame_header(f, n);
    if (n > 0)
        memcpy(f + PROTO_FRAME_HDR, payload, n);
    *len = PROTO_FRAME_HDR + n;
    return f;
}

static uint8_t *dup_prefix(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n > 0 ? n : 1);

    ck_assert_ptr_nonnull(d);
    if (n > 0)
        memcpy(d, p, n);
    return d;
}

START_TEST(header_is_big_endian)
{
    uint8_t h[PROTO_FRAME_HDR];

    proto_frame_header(h, 0x01020304u);
    ck_assert_uint_eq(h[0], 1);
    ck_assert_uint_eq(h[1], 2);
    ck_assert_uint_eq(h[2], 3);
    ck_assert_uint_eq(h[3], 4);
}
END_TEST

static const uint32_t sizes[] = {1, 2, 3, 4, 5, 100, 65535, 65536, 70000};

START_TEST(round_trip)
{
    uint32_t n = sizes[_i];
    uint8_t *payload = malloc(n), *f;
    const uint8_t *got = NULL;
    size_t len, got_len = 0;
    uint32_t i;

    ck_assert_ptr_nonnull(payload);
    for (i = 0; i < n; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    f = frame_make(payload, n, &len);
    ck_assert_int_eq(proto_frame_parse(f, len, PROTO_FRAME_MAX, &got, &got_len),
                     (long)len);
    ck_assert_ptr_eq(got, f + PROTO_FRAME_HDR);
    ck_assert_uint_eq(got_len, n);
    ck_assert_mem_eq(got, payload, n);
    free(f);
    free(payload);
}
END_TEST

/* Every proper prefix of a frame asks for more octets and reads nothing beyond. */
START_TEST(every_prefix_needs_more)
{
    static const uint8_t payload[] = "\x81\xa1t\x04";
    const uint8_t *got = NULL;
    size_t len, cut, got_len = 0;
    uint8_t *f = frame_make(payload, sizeof(payload) - 1, &len);

    for (cut = 0; cut < len; cut++) {
        uint8_t *p = dup_prefix(f, cut);

        ck_assert_int_eq(proto_frame_parse(p, cut, PROTO_FRAME_MAX, &got, &got_len), 0);
        free(p);
    }
    free(f);
}
END_TEST

START_TEST(two_frames_back_to_back)
{
    static const uint8_t two[] = {0, 0, 0, 2, 'a', 'b', 0, 0, 0, 1, 'c'};
    const uint8_t *got = NULL;
    size_t got_len = 0;
    long n;

    n = proto_frame_parse(two, sizeof(two), PROTO_FRAME_MAX, &got, &got_len);
    ck_assert_int_eq(n, 6);
    ck_assert_uint_eq(got_len, 2);
    ck_assert_mem_eq(got, "ab", 2);
    n = proto_frame_parse(two + n, sizeof(two) - (size_t)n, PROTO_FRAME_MAX, &got,
                          &got_len);
    ck_assert_int_eq(n, 5);
    ck_assert_uint_eq(got_len, 1);
    ck_assert_uint_eq(got[0], 'c');
}
END_TEST

START_TEST(zero_length_is_malformed)
{
    uint8_t *f = malloc(PROTO_FRAME_HDR);
    const uint8_t *got = NULL;
    size_t got_len = 0;

    ck_assert_ptr_nonnull(f);
    proto_frame_header(f, 0);
    ck_assert_int_eq(
        proto_frame_parse(f, PROTO_FRAME_HDR, PROTO_FRAME_MAX, &got, &got_len), -EBADMSG);
    free(f);
}
END_TEST

/* The size is refused on the header alone, before the payload arrives. */
START_TEST(oversize_is_refused_early)
{
    uint8_t *f = malloc(PROTO_FRAME_HDR);
    const uint8_t *got = NULL;
    size_t got_len = 0;

    ck_assert_ptr_nonnull(f);
    proto_frame_header(f, PROTO_FRAME_MAX + 1);
    ck_assert_int_eq(
        proto_frame_parse(f, PROTO_FRAME_HDR, PROTO_FRAME_MAX, &got, &got_len),
        -EMSGSIZE);
    proto_frame_header(f, UINT32_MAX);
    ck_assert_int_eq(
        proto_frame_parse(f, PROTO_FRAME_HDR, PROTO_FRAME_MAX, &got, &got_len),
        -EMSGSIZE);
    proto_frame_header(f, PROTO_FRAME_MAX);
    ck_assert_int_eq(
        proto_frame_parse(f, PROTO_FRAME_HDR, PROTO_FRAME_MAX, &got, &got_len), 0);
    free(f);
}
END_TEST

START_TEST(caller_max_is_honoured)
{
    static const uint8_t payload[16] = {0};
    const uint8_t *got = NULL;
    size_t len, got_len = 0;
    uint8_t *f = frame_make(payload, sizeof(payload), &len);

    ck_assert_int_eq(proto_frame_parse(f, len, 16, &got, &got_len), (long)len);
    ck_assert_int_eq(proto_frame_parse(f, len, 15, &got, &got_len), -EMSGSIZE);
    ck_assert_int_eq(proto_frame_parse(f, len, 0, &got, &got_len), -EMSGSIZE);
    free(f);
}
END_TEST

Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("frame");

    tcase_add_test(tc, header_is_big_endian);
    tcase_add_loop_test(tc, round_trip, 0, sizeof(sizes) / sizeof(sizes[0]));
    tcase_add_test(tc, every_prefix_needs_more);
    tcase_add_test(tc, two_frames_back_to_back);
    tcase_add_test(tc, zero_length_is_malformed);
    tcase_add_test(tc, oversize_is_refused_early);
    tcase_add_test(tc, caller_max_is_honoured);
    suite_add_tcase(s, tc);
    return s;
}
