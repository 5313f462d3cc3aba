/*
 * fuzz_http_response.c - the http method's response reader (probe/http.c).
 *
 * The first octet picks the header to record and the size of the pieces
 * the rest arrives in (as a server's segments would); the rest is the
 * response.  The reader must give the same verdict, status, header value
 * and body count in one piece as in pieces (unless the body cap stopped
 * it, where the count depends on where the pieces fell), and everything
 * it keeps for the record must be printable and within its field.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "probe.h"

static const char *const headers[] = {"X-Cache", "age", "", "Content-Length"};

static int printable(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* Feeds the response in pieces of step octets (0: whole), then the end. */
static int read_all(struct probe_http_resp *r, const char *hdr, const uint8_t *p,
                    size_t n, size_t step)
{
    int rc = 0;

    probe_http_resp_init(r, hdr);
    if (step == 0 || step >= n) {
        rc = probe_http_resp_feed(r, p, n);
    } else {
        for (size_t off = 0; off < n && rc == 0; off += step)
            rc = probe_http_resp_feed(r, p + off, n - off < step ? n - off : step);
    }
    if (rc == 0)
        rc = probe_http_resp_eof(r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct probe_http_resp whole, split;
    const char *hdr;
    size_t step;
    int a, b;

    if (size < 1)
        return 0;
    hdr = headers[data[0] & 3];
    step = (size_t)(data[0] >> 2) + 1; /* 1..64 */
    a = read_all(&whole, hdr, data + 1, size - 1, 0);
    b = read_all(&split, hdr, data + 1, size - 1, step);
    FUZZ_CHECK(a == 1 || a == -EBADMSG);
    FUZZ_CHECK(b == 1 || b == -EBADMSG);
    FUZZ_CHECK(printable(whole.value, PROTO_VALUE_MAX));
    FUZZ_CHECK(printable(whole.reason, PROBE_HTTP_REASON_MAX));
    FUZZ_CHECK(printable(split.value, PROTO_VALUE_MAX));
    FUZZ_CHECK(printable(split.reason, PROBE_HTTP_REASON_MAX));
    FUZZ_CHECK(probe_http_resp_error(&whole) != NULL);
    if (hdr[0] == '\0')
        FUZZ_CHECK(whole.value[0] == '\0');
    if (a == 1 && !whole.capped && !split.capped) {
        FUZZ_CHECK(b == 1);
        FUZZ_CHECK(whole.status == split.status);
        FUZZ_CHECK(whole.body == split.body);
        FUZZ_CHECK(strcmp(whole.value, split.value) == 0);
        FUZZ_CHECK(strcmp(whole.reason, split.reason) == 0);
        FUZZ_CHECK(whole.status >= 200 && whole.status <= 999); /* 1xx are skipped */
    }
    return 0;
}
