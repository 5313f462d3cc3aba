/*
 * http.c - the http method's request and response, without I/O: conn_io.c
 * hands over the octets the server sent, and this reads them through
 * http-parser, so that the unit tests and the fuzz harness feed it
 * directly.
 *
 * Only what the record needs is kept: the status code and reason phrase,
 * one header's value and the number of body octets.  The body itself is
 * counted and dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "probe.h"

/* Octets a request line or a header value may carry (RFC 9112 3, RFC 9110
 * 5.5): anything else could split the request. */
static int safe_text(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/*
 * The request is the origin form (RFC 9112 3.2.1) with Host (RFC 9110
 * 7.2): the name, or the address literal (IPv6 in brackets, RFC 3986
 * 3.2.2), with the port when it is not the scheme's default.  Connection:
 * close (RFC 9112 9.6) lets the server end the body by closing.
 */
int probe_http_request(const struct proto_task *spec, char *buf, size_t len)
{
    const char *path = spec->path[0] != '\0' ? spec->path : "/";
    const char *host = spec->host[0] != '\0' ? spec->host : spec->addr;
    uint16_t defport = spec->tls ? 443 : 80;
    int v6 = spec->host[0] == '\0' && strchr(spec->addr, ':') != NULL;
    char port[8] = "";
    int n;

    if (path[0] != '/' || !safe_text(path) || host[0] == '\0' || !safe_text(host))
        return -EINVAL;
    if (spec->port != 0 && spec->port != defport)
        snprintf(port, sizeof(port), ":%u", spec->port);
    n = snprintf(buf, len,
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s%s%s%s\r\n"
                 "User-Agent: ixmesh-probe/" IXMESH_VERSION "\r\n"
                 "Connection: close\r\n"
                 "Accept: */*\r\n"
                 "\r\n",
                 path, v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (n < 0 || (size_t)n >= len)
        return -ENOBUFS;
    return n;
}

static struct probe_http_resp *resp_of(http_parser *hp)
{
    return hp->data;
}

static int on_message_begin(http_parser *hp)
{
    resp_of(hp)->got_bytes = 1;
    return 0;
}

/* The reason phrase may come in pieces; it is kept sanitised and cut. */
static int on_status(http_parser *hp, const char *at, size_t n)
{
    struct probe_http_resp *r = resp_of(hp);
    size_t room = sizeof(r->reason) - 1 - r->reason_len;

    probe_sanitize(r->reason + r->reason_len, room + 1, at, n < room ? n : room);
    r->reason_len += n < room ? n : room;
    return 0;
}

/* A field name may come in pieces too; a new one starts after a value. */
static int on_header_field(http_parser *hp, const char *at, size_t n)
{
    struct probe_http_resp *r = resp_of(hp);

    if (r->in_value) {
        r->in_value = 0;
        r->field_len = 0;
        r->field_long = 0;
    }
    if (n > sizeof(r->field) - 1 - r->field_len) {
        r->field_long = 1; /* longer than any token we match (PROTO_TOKEN_MAX) */
        return 0;
    }
    memcpy(r->field + r->field_len, at, n);
    r->field_len += n;
    r->field[r->field_len] = '\0';
    return 0;
}

static void value_append(struct probe_http_resp *r, const char *at, size_t n)
{
    size_t room = sizeof(r->value) - 1 - r->value_len;

    if (n > room)
        n = room;
    probe_sanitize(r->value + r->value_len, n + 1, at, n);
    /* A tab is whitespace like a space (RFC 9110 5.6.3), not an unprintable. */
    for (size_t i = 0; i < n; i++)
        if (at[i] == '\t')
            r->value[r->value_len + i] = ' ';
    r->value_len += n;
}

/*
 * Field names match case-insensitively (RFC 9110 5.1).  A header that
 * comes more than once is recorded as its values joined by ", ", as a
 * recipient may combine them (RFC 9110 5.3).
 */
static int on_header_value(http_parser *hp, const char *at, size_t n)
{
    struct probe_http_resp *r = resp_of(hp);

    if (!r->in_value) {
        r->in_value = 1;
        r->want_value =
            r->want[0] != '\0' && !r->field_long && strcasecmp(r->field, r->want) == 0;
        if (r->want_value && r->nwanted++ > 0)
            value_append(r, ", ", 2);
    }
    if (r->want_value)
        value_append(r, at, n);
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    struct probe_http_resp *r = resp_of(hp);

    /* RFC 9110 15: three digits; http-parser lets "51" through. */
    if (hp->status_code < 100 || hp->status_code > 999) {
        r->bad_status = 1;
        http_parser_pause(hp, 1);
        return 0;
    }
    r->status = (uint16_t)hp->status_code;
    r->in_value = 1; /* a trailer's field starts afresh */
    r->want_value = 0;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
    struct probe_http_resp *r = resp_of(hp);

    (void)at;
    r->body += n;
    if (r->body >= PROBE_HTTP_BODY_MAX) {
        r->capped = 1;
        http_parser_pause(hp, 1); /* stops this feed; we read no further */
    }
    return 0;
}

/*
 * An interim 1xx response (RFC 9110 15.2) is followed by the real one:
 * forget it and read on.  Anything else ends the exchange.
 */
static int on_message_complete(http_parser *hp)
{
    struct probe_http_resp *r = resp_of(hp);

    if (r->status >= 100 && r->status < 200) {
        r->status = 0;
        r->reason_len = 0;
        r->reason[0] = '\0';
        r->value_len = 0;
        r->value[0] = '\0';
        r->nwanted = 0;
        r->body = 0;
        r->in_value = 0;
        r->field_len = 0;
        r->field_long = 0;
        return 0;
    }
    r->complete = 1;
    http_parser_pause(hp, 1); /* what follows a Connection: close answer is ignored */
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void probe_http_resp_init(struct probe_http_resp *r, const char *header)
{
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_RESPONSE);
    r->parser.data = r;
    r->want = header != NULL ? header : "";
}

/* Trailing whitespace is not part of a field value (RFC 9110 5.5). */
static void trim_value(struct probe_http_resp *r)
{
    while (r->value_len > 0 && r->value[r->value_len - 1] == ' ')
        r->value[--r->value_len] = '\0';
}

int probe_http_resp_feed(struct probe_http_resp *r, const uint8_t *p, size_t n)
{
    if (r->bad_status)
        return -EBADMSG;
    if (r->complete || r->capped)
        return 1;
    if (n == 0)
        return 0;
    r->got_bytes = 1;
    http_parser_execute(&r->parser, &resp_settings, (const char *)p, n);
    if (r->bad_status)
        return -EBADMSG;
    if (r->complete || r->capped) {
        trim_value(r);
        return 1;
    }
    return HTTP_PARSER_ERRNO(&r->parser) == HPE_OK ? 0 : -EBADMSG;
}

int probe_http_resp_eof(struct probe_http_resp *r)
{
    if (r->bad_status)
        return -EBADMSG;
    if (r->complete || r->capped)
        return 1;
    if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK)
        return -EBADMSG;
    /* A body read until the connection closes ends here (RFC 9112 6.3 item 8). */
    http_parser_execute(&r->parser, &resp_settings, NULL, 0);
    if (r->complete) {
        trim_value(r);
        return 1;
    }
    return -EBADMSG;
}

const char *probe_http_resp_error(const struct probe_http_resp *r)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);

    if (r->bad_status)
        return "status code is not three digits";
    if (e == HPE_OK || e == HPE_PAUSED)
        return r->got_bytes ? "response cut short" : "no response";
    return http_errno_description(e);
}
