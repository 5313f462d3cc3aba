/*
 * fuzz_http_query.c - the map's ?window=SECONDS query parameter,
 * ctl_parse_window().
 *
 * The input is the parameter's value as libmicrohttpd hands it over: a C
 * string, so inputs holding a NUL octet are not values and are skipped.
 * The parser must accept exactly the strings of decimal digits whose value
 * lies in [1, CTL_WINDOW_MAX_S] (leading zeros allowed), give that value,
 * and leave its output alone when it refuses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "fuzz.h"

/* Any value the parser cannot produce: it shows a write on refusal. */
#define UNTOUCHED 0xdeadbeefu

/* The value of a string of digits, saturated just above the limit. */
static uint64_t digits_value(const char *s, size_t len, int *all_digits)
{
    uint64_t v = 0;
    size_t i;

    *all_digits = len > 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            *all_digits = 0;
            return 0;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > CTL_WINDOW_MAX_S)
            v = (uint64_t)CTL_WINDOW_MAX_S + 1;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t window = UNTOUCHED;
    unsigned long x;
    uint64_t want;
    char *s, *end;
    int rc, all_digits;

    if (memchr(data, '\0', size) != NULL)
        return 0;
    /* Exactly size + 1 octets, so a read beyond the NUL still shows. */
    s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';

    want = digits_value(s, size, &all_digits);
    rc = ctl_parse_window(s, &window);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    if (rc == 0) {
        FUZZ_CHECK(all_digits);
        FUZZ_CHECK(window >= 1 && window <= CTL_WINDOW_MAX_S);
        errno = 0;
        x = strtoul(s, &end, 10);
        FUZZ_CHECK(errno == 0 && end == s + size && x == window);
        FUZZ_CHECK(want == window);
    } else {
        FUZZ_CHECK(window == UNTOUCHED);
        FUZZ_CHECK(!all_digits || want < 1 || want > CTL_WINDOW_MAX_S);
    }
    free(s);
    return 0;
}
