/*
 * fuzz_sketch.c - the stored form of the latency sketch.
 *
 * proto_sketch_from_bytes() reads what the controller's database holds.
 * Besides surviving any input, it must leave the sketch untouched when it
 * refuses one, and a sketch it accepts must answer quantiles in order,
 * merge with itself and come back unchanged from proto_sketch_to_bytes().
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static const double quantiles[] = {0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1};

/* Quantiles of a non-empty sketch are numbers, not below 0, never decreasing. */
static void check_quantiles(const struct proto_sketch *s)
{
    double prev = 0, v;
    size_t i;

    for (i = 0; i < sizeof(quantiles) / sizeof(quantiles[0]); i++) {
        v = proto_sketch_quantile(s, quantiles[i]);
        if (s->count == 0) {
            FUZZ_CHECK(isnan(v));
            continue;
        }
        FUZZ_CHECK(!isnan(v) && v >= prev);
        prev = v;
    }
}

/* to_bytes and from_bytes give back the same samples, in canonical octets. */
static void check_bytes_round_trip(const struct proto_sketch *s)
{
    uint8_t *first = NULL, *second = NULL;
    size_t first_len = 0, second_len = 0;
    struct proto_sketch back;

    proto_sketch_init(&back);
    FUZZ_CHECK(proto_sketch_to_bytes(s, &first, &first_len) == 0);
    FUZZ_CHECK(proto_sketch_from_bytes(&back, first, first_len) == 0);
    FUZZ_CHECK(proto_sketch_equal(s, &back));
    FUZZ_CHECK(proto_sketch_to_bytes(&back, &second, &second_len) == 0);
    FUZZ_CHECK(first_len == second_len && memcmp(first, second, first_len) == 0);
    proto_sketch_free(&back);
    free(first);
    free(second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_sketch s, before;
    uint64_t count, zero;
    int rc;

    /* Some samples first, to see that a refused input leaves them alone. */
    proto_sketch_init(&s);
    proto_sketch_init(&before);
    FUZZ_CHECK(proto_sketch_add(&s, 0.5) == 0 && proto_sketch_add(&s, 1.5e6) == 0);
    FUZZ_CHECK(proto_sketch_merge(&before, &s) == 0);
    if (proto_sketch_from_bytes(&s, data, size) != 0) {
        FUZZ_CHECK(proto_sketch_equal(&s, &before) && s.count == before.count);
        goto done;
    }
    check_quantiles(&s);
    check_bytes_round_trip(&s);
    count = s.count;
    zero = s.zero;
    rc = proto_sketch_merge(&s, &s);
    if (rc == -EOVERFLOW) {
        FUZZ_CHECK(count > UINT64_MAX - count);
    } else {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(s.count == 2 * count && s.zero == 2 * zero);
        check_quantiles(&s);
        check_bytes_round_trip(&s);
    }
done:
    proto_sketch_free(&s);
    proto_sketch_free(&before);
    return 0;
}
