/*
 * http_test.c - the http method's request text and response reader
 * (probe/http.c), without a network: responses are fed in one piece and
 * octet by octet, and both must read the same.
 */
#include <errno.h>
#include <string.h>

#include <check.h>

#include "check_probe.h"
#include "probe.h"

static struct proto_task spec_of(const char *addr, const char *host, uint16_t port,
                                 int tls, const char *path)
{
    struct proto_task s;

    memset(&s, 0, sizeof(s));
    s.method = PROTO_METHOD_HTTP;
    strcpy(s.addr, addr);
    strcpy(s.host, host);
    s.port = port;
    s.tls = (uint8_t)tls;
    strcpy(s.path, path);
    return s;
}

START_TEST(request_host_default_port)
{
    struct proto_task s = spec_of("192.0.2.1", "content.ixmesh.test", 80, 0, "/a?b=c");
    char buf[1024];
    int n = probe_http_request(&s, buf, sizeof(buf));

    ck_assert_int_eq(n, (int)strlen(buf));
    ck_assert_str_eq(buf, "GET /a?b=c HTTP/1.1\r\n"
                          "Host: content.ixmesh.test\r\n"
                          "User-Agent: ixmesh-probe/" IXMESH_VERSION "\r\n"
                          "Connection: close\r\n"
                          "Accept: */*\r\n"
                          "\r\n");
}
END_TEST

START_TEST(request_ipv6_literal_port)
{
    struct proto_task s = spec_of("::1", "", 8443, 1, "");
    char buf[1024];

    ck_assert_int_gt(probe_http_request(&s, buf, sizeof(buf)), 0);
    ck_assert_ptr_nonnull(strstr(buf, "GET / HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\r\nHost: [::1]:8443\r\n"));
    /* 443 is https's default: no port; 80 is not. */
    s.port = 443;
    probe_http_request(&s, buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "\r\nHost: [::1]\r\n"));
    s.tls = 0;
    probe_http_request(&s, buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "\r\nHost: [::1]:443\r\n"));
}
END_TEST

START_TEST(request_refuses_splitting_and_small_buffers)
{
    struct proto_task s = spec_of("127.0.0.1", "", 80, 0, "/a\r\nX-Evil: 1");
    char buf[1024];

    ck_assert_int_eq(probe_http_request(&s, buf, sizeof(buf)), -EINVAL);
    strcpy(s.path, "/a b");
    ck_assert_int_eq(probe_http_request(&s, buf, sizeof(buf)), -EINVAL);
    strcpy(s.path, "relative");
    ck_assert_int_eq(probe_http_request(&s, buf, sizeof(buf)), -EINVAL);
    strcpy(s.path, "/");
    ck_assert_int_eq(probe_http_request(&s, buf, 20), -ENOBUFS);
}
END_TEST

/* Feeds text whole (bytewise 0) or one octet at a time; then EOF when eof. */
static int feed(struct probe_http_resp *r, const char *hdr, const char *text,
                int bytewise, int eof)
{
    size_t n = strlen(text);
    int rc = 0;

    probe_http_resp_init(r, hdr);
    if (!bytewise) {
        rc = probe_http_resp_feed(r, (const uint8_t *)text, n);
    } else {
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = probe_http_resp_feed(r, (const uint8_t *)text + i, 1);
    }
    if (rc == 0 && eof)
        rc = probe_http_resp_eof(r);
    return rc;
}

static const char ok_cl[] = "HTTP/1.1 200 OK\r\n"
                            "Server: nginx\r\n"
                            "x-cAcHe: HIT\r\n"
                            "Content-Length: 11\r\n"
                            "\r\n"
                            "hello world";

START_TEST(content_length_and_header)
{
    struct probe_http_resp r;

    ck_assert_int_eq(feed(&r, "X-Cache", ok_cl, _i, 0), 1);
    ck_assert_uint_eq(r.status, 200);
    ck_assert_str_eq(r.reason, "OK");
    ck_assert_str_eq(r.value, "HIT");
    ck_assert_uint_eq(r.body, 11);
    ck_assert_int_eq(r.capped, 0);
}
END_TEST

/* Chunked transfer coding (RFC 9112 7.1): the body is the decoded octets. */
static const char chunked[] = "HTTP/1.1 200 OK\r\n"
                              "Transfer-Encoding: chunked\r\n"
                              "Age: 42\r\n"
                              "\r\n"
                              "5\r\nhello\r\n"
                              "1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                              "0\r\n"
                              "\r\n";

START_TEST(chunked_body_count)
{
    struct probe_http_resp r;

    ck_assert_int_eq(feed(&r, "age", chunked, _i, 0), 1);
    ck_assert_uint_eq(r.body, 5 + 26);
    ck_assert_str_eq(r.value, "42");
}
END_TEST

START_TEST(body_until_close)
{
    struct probe_http_resp r;
    const char *txt = "HTTP/1.0 200 OK\r\nX-Cache: MISS  \r\n\r\n0123456789";

    ck_assert_int_eq(feed(&r, "X-Cache", txt, _i, 1), 1);
    ck_assert_uint_eq(r.body, 10);
    ck_assert_str_eq(r.value, "MISS"); /* trailing whitespace is not the value */
}
END_TEST

START_TEST(status_503_reason_and_absent_header)
{
    struct probe_http_resp r;
    const char *txt = "HTTP/1.1 503 Service Unavailable\r\n"
                      "Content-Length: 0\r\n"
                      "\r\n";

    ck_assert_int_eq(feed(&r, "X-Cache", txt, _i, 0), 1);
    ck_assert_uint_eq(r.status, 503);
    ck_assert_str_eq(r.reason, "Service Unavailable");
    ck_assert_str_eq(r.value, "");
    ck_assert_uint_eq(r.body, 0);
}
END_TEST

START_TEST(repeated_header_joined_and_unprintables)
{
    struct probe_http_resp r;
    const char *txt = "HTTP/1.1 404 Not\x01 Found\r\n"
                      "X-Cache: HIT\xc3\xa9\r\n"
                      "X-Cache-Lookup: no\r\n"
                      "X-Cache: MISS\r\n"
                      "Content-Length: 0\r\n"
                      "\r\n";

    ck_assert_int_eq(feed(&r, "x-cache", txt, _i, 0), 1);
    ck_assert_uint_eq(r.status, 404);
    ck_assert_str_eq(r.value, "HIT??, MISS");
}
END_TEST

START_TEST(interim_100_skipped)
{
    struct probe_http_resp r;
    const char *txt = "HTTP/1.1 100 Continue\r\n\r\n"
                      "HTTP/1.1 204 No Content\r\nX-Cache: HIT\r\n\r\n";

    ck_assert_int_eq(feed(&r, "X-Cache", txt, _i, 0), 1);
    ck_assert_uint_eq(r.status, 204);
    ck_assert_str_eq(r.value, "HIT");
}
END_TEST

START_TEST(long_value_cut)
{
    struct probe_http_resp r;
    char txt[1024];
    char val[400];

    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    snprintf(txt, sizeof(txt),
             "HTTP/1.1 200 OK\r\nX-Cache: %s\r\nContent-Length: 0\r\n\r\n", val);
    ck_assert_int_eq(feed(&r, "X-Cache", txt, _i, 0), 1);
    ck_assert_uint_eq(strlen(r.value), PROTO_VALUE_MAX);
}
END_TEST

START_TEST(garbage_is_malformed)
{
    struct probe_http_resp r;

    ck_assert_int_eq(feed(&r, "X-Cache", "SSH-2.0-OpenSSH_9.2\r\n", _i, 0), -EBADMSG);
    ck_assert_int_eq(feed(&r, "X-Cache", "HTTP/1.1 2x0 OK\r\n\r\n", _i, 0), -EBADMSG);
    ck_assert_int_eq(feed(&r, "X-Cache", "HTTP/1.1 51\r\n\r\n", _i, 1), -EBADMSG);
    ck_assert_int_eq(
        feed(&r, "X-Cache", "HTTP/1.1 200 OK\r\nContent-Length: zz\r\n\r\n", _i, 0),
        -EBADMSG);
    ck_assert_str_ne(probe_http_resp_error(&r), "");
}
END_TEST

START_TEST(cut_short_is_malformed)
{
    struct probe_http_resp r;
    const char *txt = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this";

    ck_assert_int_eq(feed(&r, "X-Cache", txt, _i, 1), -EBADMSG);
    ck_assert_int_eq(feed(&r, "X-Cache", "", _i, 1), -EBADMSG);
    ck_assert_int_eq(r.got_bytes, 0);
}
END_TEST

START_TEST(body_cap)
{
    struct probe_http_resp r;
    static uint8_t chunk[65536];
    const char *hdr = "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n";
    int rc;
    size_t fed = 0;

    memset(chunk, 'x', sizeof(chunk));
    probe_http_resp_init(&r, NULL);
    ck_assert_int_eq(probe_http_resp_feed(&r, (const uint8_t *)hdr, strlen(hdr)), 0);
    do {
        rc = probe_http_resp_feed(&r, chunk, sizeof(chunk));
        fed += sizeof(chunk);
    } while (rc == 0 && fed < 2 * (size_t)PROBE_HTTP_BODY_MAX);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(r.capped, 1);
    ck_assert_uint_ge(r.body, PROBE_HTTP_BODY_MAX);
    ck_assert_uint_lt(r.body, PROBE_HTTP_BODY_MAX + sizeof(chunk));
}
END_TEST

START_TEST(sanitize)
{
    char out[8];

    probe_sanitize(out, sizeof(out),
                   "a\tb\x7f\xff"
                   "cdefgh",
                   10);
    ck_assert_str_eq(out, "a?b??cd");
}
END_TEST

Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");

    tcase_add_test(tc, request_host_default_port);
    tcase_add_test(tc, request_ipv6_literal_port);
    tcase_add_test(tc, request_refuses_splitting_and_small_buffers);
    /* _i = 0: in one piece; 1: octet by octet. */
    tcase_add_loop_test(tc, content_length_and_header, 0, 2);
    tcase_add_loop_test(tc, chunked_body_count, 0, 2);
    tcase_add_loop_test(tc, body_until_close, 0, 2);
    tcase_add_loop_test(tc, status_503_reason_and_absent_header, 0, 2);
    tcase_add_loop_test(tc, repeated_header_joined_and_unprintables, 0, 2);
    tcase_add_loop_test(tc, interim_100_skipped, 0, 2);
    tcase_add_loop_test(tc, long_value_cut, 0, 2);
    tcase_add_loop_test(tc, garbage_is_malformed, 0, 2);
    tcase_add_loop_test(tc, cut_short_is_malformed, 0, 2);
    tcase_add_test(tc, body_cap);
    tcase_add_test(tc, sanitize);
    suite_add_tcase(s, tc);
    return s;
}
