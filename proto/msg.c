/*
 * msg.c - control channel messages as msgpack maps (PROTOCOL.md).
 *
 * Every message is one msgpack map with short string keys; "t" holds the
 * message type.  Scalar fields are described once, in a table per message
 * (key, kind, place in the C structure, allowed range), and the same table
 * drives the encoder, the decoder and the validity checks, so what one side
 * writes the other side accepts.  Arrays, the location and the sketch are
 * handled by hand.
 *
 * Decoding is strict: a wrong type, a missing field, a value out of range,
 * a duplicate key or trailing octets make the whole message -EBADMSG (the
 * receiver then closes the connection).  Keys we do not know are ignored so
 * that a newer peer may add optional fields.  Encoding refuses, with
 * -EINVAL, a structure the decoder would reject, so a bad record is caught
 * where it is made rather than after it has crossed the network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* More keys than any message has, with room for later optional fields. */
#define MAP_KEYS_MAX 64

/* ---- names and small validators ------------------------------------------ */

static const char *const msg_type_names[] = {
    [PROTO_MSG_HELLO] = "HELLO",         [PROTO_MSG_TASKS] = "TASKS",
    [PROTO_MSG_RESULTS] = "RESULTS",     [PROTO_MSG_ACK] = "ACK",
    [PROTO_MSG_ERROR] = "ERROR",         [PROTO_MSG_WELCOME] = "WELCOME",
    [PROTO_MSG_HEARTBEAT] = "HEARTBEAT", [PROTO_MSG_TASKS_DELTA] = "TASKS_DELTA",
};

static const char *const method_names[] = {
    [PROTO_METHOD_STAMP] = "stamp", [PROTO_METHOD_ICMP] = "icmp",
    [PROTO_METHOD_TCP] = "tcp",     [PROTO_METHOD_TLS] = "tls",
    [PROTO_METHOD_HTTP] = "http",   [PROTO_METHOD_DNS] = "dns",
};

static const char *const outcome_names[PROTO_OUTCOME_MAX] = {
    [PROTO_OUT_OK] = "ok",
    [PROTO_OUT_TIMEOUT] = "timeout",
    [PROTO_OUT_REFUSED] = "refused",
    [PROTO_OUT_RESET] = "reset",
    [PROTO_OUT_UNREACHABLE] = "unreachable",
    [PROTO_OUT_RESOLVE] = "resolve",
    [PROTO_OUT_TLS_VERIFY] = "tls_verify",
    [PROTO_OUT_TLS] = "tls",
    [PROTO_OUT_HTTP_4XX] = "http_4xx",
    [PROTO_OUT_HTTP_5XX] = "http_5xx",
    [PROTO_OUT_NXDOMAIN] = "nxdomain",
    [PROTO_OUT_SERVFAIL] = "servfail",
    [PROTO_OUT_DNS_REFUSED] = "dns_refused",
    [PROTO_OUT_DNS_ERROR] = "dns_error",
    [PROTO_OUT_PROTOCOL] = "protocol",
    [PROTO_OUT_LOCAL] = "local",
};

const char *proto_msg_type_name(enum proto_msg_type t)
{
    if ((unsigned)t < nitems(msg_type_names) && msg_type_names[t] != NULL)
        return msg_type_names[t];
    return "UNKNOWN";
}

static int method_known(uint64_t m)
{
    return m < nitems(method_names) && method_names[m] != NULL;
}

/* Returns "unknown" for a method we do not know, so it is safe to print. */
const char *proto_method_name(uint8_t method)
{
    return method_known(method) ? method_names[method] : "unknown";
}

/* Returns the method number, or -EINVAL for an unknown name. */
int proto_method_parse(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < nitems(method_names); i++) {
        if (method_names[i] != NULL && strcmp(method_names[i], name) == 0)
            return (int)i;
    }
    return -EINVAL;
}

const char *proto_dns_rcode_name(unsigned rcode)
{
    /* RFC 1035 4.1.1, RFC 2136 2.2 and RFC 6895 2.3 for 6 to 10. */
    static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};

    return rcode < nitems(names) ? names[rcode] : NULL;
}

const char *proto_outcome_name(unsigned outcome)
{
    return outcome < PROTO_OUTCOME_MAX ? outcome_names[outcome] : "unknown";
}

int proto_outcome_parse(const char *name)
{
    for (int i = 0; name != NULL && i < PROTO_OUTCOME_MAX; i++)
        if (strcmp(outcome_names[i], name) == 0)
            return i;
    return -EINVAL;
}

static int label_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/*
 * RFC 1035 2.3.4 sizes, the trailing dot (the root) included, so the name
 * fits our PROTO_HOST_MAX + 1 arrays; '_' is allowed because service names
 * use it.  A last label of digits only is refused (RFC 3696 2): that is an
 * IPv4 address, which belongs in an address field, not in SNI (RFC 6066 3).
 */
int proto_host_valid(const char *host)
{
    size_t n = host != NULL ? strnlen(host, PROTO_HOST_MAX + 1) : 0, label = 0;
    int digits = 1, last_digits = 1; /* of the label being read, the last one closed */

    if (n == 0 || n > PROTO_HOST_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (host[i] == '.') {
            if (label == 0)
                return 0;
            last_digits = digits;
            label = 0;
            digits = 1;
        } else if (!label_char(host[i]) || ++label > 63) {
            return 0;
        } else {
            digits = digits && host[i] >= '0' && host[i] <= '9';
        }
    }
    return label > 0 ? !digits : !last_digits;
}

/* RFC 9110 5.6.2 tchar. */
static int token_valid(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (!(label_char(*s) || strchr("!#$%&'*+.^`|~", *s) != NULL))
            return 0;
    return 1;
}

/* An origin-form request target (RFC 9110 7.1): "/" then visible ASCII. */
static int path_valid(const char *s)
{
    if (s[0] != '/')
        return 0;
    for (; *s != '\0'; s++)
        if (*s < 0x21 || *s > 0x7e)
            return 0;
    return 1;
}

/* Returns 1 when id matches [A-Za-z0-9._-]{1,PROTO_ID_MAX}, else 0. */
int proto_id_valid(const char *id)
{
    size_t i;

    if (id == NULL)
        return 0;
    for (i = 0; id[i] != '\0'; i++) {
        char c = id[i];

        /* Spelled out rather than isalnum(), which depends on the locale. */
        if (i == PROTO_ID_MAX ||
            !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return i > 0;
}

static int addr_valid(const char *s)
{
    struct in6_addr a6;
    struct in_addr a4;

    return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

static int location_valid(double lat, double lon)
{
    /* Written so that NaN fails too. */
    return lat >= -90.0 && lat <= 90.0 && lon >= -180.0 && lon <= 180.0;
}

/*
 * One UTF-8 sequence whose first octet c has been read.  Overlong forms,
 * surrogates, code points above U+10FFFF and C0 controls (NUL included) are
 * refused: names end up in logs and in JSON, which wants valid UTF-8.
 */
static int utf8_seq_valid(struct proto_rd *r, uint8_t c)
{
    uint32_t cp, min;
    unsigned need;
    uint8_t b;

    if (c < 0x80)
        return c >= 0x20 && c != 0x7f;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    while (need-- > 0) {
        if (proto_rd_u8(r, &b) != 0 || (b & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (b & 0x3f);
    }
    return cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

static int utf8_valid(const char *s, size_t n)
{
    struct proto_rd r;
    uint8_t c;

    proto_rd_init(&r, (const uint8_t *)s, n);
    while (proto_rd_u8(&r, &c) == 0) {
        if (!utf8_seq_valid(&r, c))
            return 0;
    }
    return 1;
}

/* A C string terminated inside its array of cap octets, of valid text. */
static int cstr_valid(const char *s, size_t cap, size_t minlen)
{
    size_t n = strnlen(s, cap);

    return n < cap && n >= minlen && utf8_valid(s, n);
}

/* ---- msgpack pre-scan ------------------------------------------------------ */

/*
 * msgpack-c allocates the elements of an array or map as soon as it reads
 * the count, so five octets announcing 2^32 elements make it ask for about
 * 100 GB.  Before handing a payload to msgpack-c we walk its encoding and
 * require that every announced element could still fit in the octets left
 * (each needs at least one).  That bounds msgpack-c's memory by the payload
 * length.  The walk also limits nesting, below msgpack-c's own limit which
 * it reports as out of memory, and rejects reserved and trailing octets.
 */
#define MP_DEPTH_MAX 16

enum mp_kind { MP_BYTES, MP_ITEMS, MP_PAIRS, MP_BAD };

/*
 * For first octets 0xc0..0xdf: the size of the length or count field that
 * follows, the fixed octets after it, and what the length counts.
 */
/* clang-format off */
static const struct mp_fmt {
    uint8_t lensz, fixed, kind;
} mp_fmts[32] = {
    {0, 0, MP_BYTES}, {0, 0, MP_BAD}, {0, 0, MP_BYTES}, {0, 0, MP_BYTES},  /* nil..bool */
    {1, 0, MP_BYTES}, {2, 0, MP_BYTES}, {4, 0, MP_BYTES},                   /* bin */
    {1, 1, MP_BYTES}, {2, 1, MP_BYTES}, {4, 1, MP_BYTES},                   /* ext */
    {0, 4, MP_BYTES}, {0, 8, MP_BYTES},                                     /* float */
    {0, 1, MP_BYTES}, {0, 2, MP_BYTES}, {0, 4, MP_BYTES}, {0, 8, MP_BYTES}, /* uint */
    {0, 1, MP_BYTES}, {0, 2, MP_BYTES}, {0, 4, MP_BYTES}, {0, 8, MP_BYTES}, /* int */
    {0, 2, MP_BYTES}, {0, 3, MP_BYTES}, {0, 5, MP_BYTES}, {0, 9, MP_BYTES}, /* fixext */
    {0, 17, MP_BYTES},
    {1, 0, MP_BYTES}, {2, 0, MP_BYTES}, {4, 0, MP_BYTES},                   /* str */
    {2, 0, MP_ITEMS}, {4, 0, MP_ITEMS},                                     /* array */
    {2, 0, MP_PAIRS}, {4, 0, MP_PAIRS},                                     /* map */
};
/* clang-format on */

static int rd_count(struct proto_rd *r, unsigned size, uint64_t *n)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    int rc = 0;

    *n = 0;
    if (size == 1 && (rc = proto_rd_u8(r, &u8)) == 0)
        *n = u8;
    else if (size == 2 && (rc = proto_rd_u16(r, &u16)) == 0)
        *n = u16;
    else if (size == 4 && (rc = proto_rd_u32(r, &u32)) == 0)
        *n = u32;
    return rc;
}

/* Reads one object's head: the octets of its body and its child objects. */
static int mp_head(struct proto_rd *r, uint64_t *skip, uint64_t *kids)
{
    const struct mp_fmt *f;
    uint64_t n;
    uint8_t b;

    *skip = 0;
    *kids = 0;
    if (proto_rd_u8(r, &b) != 0)
        return -EBADMSG;
    if (b <= 0x7f || b >= 0xe0) /* positive and negative fixint */
        return 0;
    if (b <= 0x8f)
        *kids = 2u * (b & 0x0f);
    else if (b <= 0x9f)
        *kids = b & 0x0f;
    else if (b <= 0xbf)
        *skip = b & 0x1f;
    if (b <= 0xbf)
        return 0;
    f = &mp_fmts[b - 0xc0];
    if (f->kind == MP_BAD || rd_count(r, f->lensz, &n) != 0)
        return -EBADMSG;
    if (f->kind == MP_BYTES)
        *skip = f->fixed + n;
    else
        *kids = f->kind == MP_PAIRS ? 2 * n : n;
    return 0;
}

static int mp_prescan(const uint8_t *p, size_t len)
{
    uint64_t left[MP_DEPTH_MAX + 1]; /* objects still to read on each open level */
    uint64_t pending = 1, skip, kids;
    struct proto_rd r;
    int depth = 0;

    proto_rd_init(&r, p, len);
    left[0] = 1;
    while (depth >= 0) {
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        left[depth]--;
        pending--;
        if (mp_head(&r, &skip, &kids) != 0 || skip > proto_rd_left(&r) ||
            proto_rd_skip(&r, (size_t)skip) != 0)
            return -EBADMSG;
        if (kids == 0)
            continue;
        if (depth == MP_DEPTH_MAX)
            return -EBADMSG;
        left[++depth] = kids;
        pending += kids;
        if (pending > proto_rd_left(&r))
            return -EBADMSG;
    }
    return proto_rd_left(&r) == 0 ? 0 : -EBADMSG;
}

/* ---- msgpack objects ------------------------------------------------------- */

static int str_eq(const msgpack_object_str *s, const char *p, size_t n)
{
    return s->size == n && (n == 0 || memcmp(s->ptr, p, n) == 0);
}

/* A map with few enough keys, all of them strings, none twice. */
static int map_check(const msgpack_object *o)
{
    const msgpack_object_kv *kv = o->via.map.ptr;
    uint32_t i, j;

    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > MAP_KEYS_MAX)
        return -EBADMSG;
    for (i = 0; i < o->via.map.size; i++) {
        if (kv[i].key.type != MSGPACK_OBJECT_STR)
            return -EBADMSG;
        for (j = 0; j < i; j++) {
            if (str_eq(&kv[j].key.via.str, kv[i].key.via.str.ptr, kv[i].key.via.str.size))
                return -EBADMSG;
        }
    }
    return 0;
}

/* The value under key in a map that passed map_check(), or NULL. */
static const msgpack_object *map_get(const msgpack_object *o, const char *key)
{
    const msgpack_object_kv *kv = o->via.map.ptr;
    size_t n = strlen(key);
    uint32_t i;

    for (i = 0; i < o->via.map.size; i++) {
        if (str_eq(&kv[i].key.via.str, key, n))
            return &kv[i].val;
    }
    return NULL;
}

/*
 * Copies a msgpack string into a C array of cap octets.  An embedded NUL is
 * refused here because the C string would silently end at it.
 */
static int str_copy(const msgpack_object *o, char *dst, size_t cap)
{
    size_t n;

    if (o == NULL || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap)
        return -EBADMSG;
    n = o->via.str.size;
    if (n > 0 && memchr(o->via.str.ptr, '\0', n) != NULL)
        return -EBADMSG;
    if (n > 0)
        memcpy(dst, o->via.str.ptr, n);
    dst[n] = '\0';
    return 0;
}

static int obj_double(const msgpack_object *o, double *v)
{
    if (o->type != MSGPACK_OBJECT_FLOAT32 && o->type != MSGPACK_OBJECT_FLOAT64)
        return -EBADMSG;
    *v = o->via.f64;
    return 0;
}

static int pack_key(msgpack_packer *pk, const char *key)
{
    return msgpack_pack_str_with_body(pk, key, strlen(key));
}

/* ---- field tables ------------------------------------------------------------ */

enum field_kind {
    F_UINT,   /* unsigned, min..max */
    F_INT,    /* int64_t, any value */
    F_METHOD, /* uint8_t, a known enum proto_method */
    F_STR,    /* text of min..sizeof-1 octets */
    F_ID,     /* proto_id_valid() */
    F_ADDR,   /* an IPv4 or IPv6 address literal */
    F_HOST,   /* proto_host_valid() */
    F_TOKEN,  /* an HTTP header name */
    F_PATH,   /* an HTTP origin-form target */
};

struct field {
    const char *key;
    enum field_kind kind;
    size_t off;        /* of the member in its structure */
    size_t size;       /* of the member */
    uint64_t min, max; /* F_UINT: the range; F_STR: min is the shortest length */
    int optional;      /* added later: absent means 0 or "", which is not sent */
};

#define FIELD(type, member, key, kind, min, max)                                         \
    {                                                                                    \
        key, kind, offsetof(type, member), sizeof(((type *)0)->member), min, max, 0      \
    }
#define FIELD_OPT(type, member, key, min, max)                                           \
    FIELD_OPTK(type, member, key, F_UINT, min, max)
#define FIELD_OPTK(type, member, key, kind, min, max)                                    \
    {                                                                                    \
        key, kind, offsetof(type, member), sizeof(((type *)0)->member), min, max, 1      \
    }

static const struct field hello_fields[] = {
    FIELD(struct proto_hello, version_min, "vmin", F_UINT, 1, UINT32_MAX),
    FIELD(struct proto_hello, version_max, "vmax", F_UINT, 1, UINT32_MAX),
    FIELD(struct proto_hello, caps, "caps", F_UINT, 0, UINT32_MAX),
    FIELD(struct proto_hello, probe_id, "id", F_ID, 0, 0),
    FIELD(struct proto_hello, name, "name", F_STR, 0, 0),
    FIELD(struct proto_hello, sw_version, "sw", F_STR, 1, 0),
    FIELD(struct proto_hello, stamp_port, "sp", F_UINT, 1, UINT16_MAX),
};

static const struct field tasks_fields[] = {
    FIELD(struct proto_tasks, generation, "gen", F_UINT, 0, UINT64_MAX),
    FIELD(struct proto_tasks, window_s, "win", F_UINT, 1, 3600),
};

static const struct field task_fields[] = {
    FIELD(struct proto_task, id, "id", F_UINT, 0, UINT32_MAX),
    FIELD(struct proto_task, method, "m", F_METHOD, 0, 0),
    FIELD(struct proto_task, target_id, "tid", F_ID, 0, 0),
    FIELD_OPTK(struct proto_task, addr, "addr", F_ADDR, 0, 0),
    FIELD(struct proto_task, port, "port", F_UINT, 1, UINT16_MAX),
    FIELD(struct proto_task, interval_ms, "int", F_UINT, 10, 3600000),
    FIELD(struct proto_task, timeout_ms, "to", F_UINT, 1, 60000),
    FIELD(struct proto_task, size, "size", F_UINT, 0, PROTO_STAMP_MAX_LEN),
    FIELD(struct proto_task, dscp, "dscp", F_UINT, 0, 63),
    FIELD_OPT(struct proto_task, poisson, "poi", 0, 1),
    FIELD_OPTK(struct proto_task, host, "host", F_HOST, 0, 0),
    FIELD_OPTK(struct proto_task, path, "path", F_PATH, 0, 0),
    FIELD_OPTK(struct proto_task, header, "hdr", F_TOKEN, 0, 0),
    FIELD_OPTK(struct proto_task, qname, "qn", F_HOST, 0, 0),
    FIELD_OPT(struct proto_task, qtype, "qt", 1, 65535),
    FIELD_OPT(struct proto_task, tls, "tls", 0, 1),
};

static const struct field result_fields[] = {
    FIELD(struct proto_result, schema, "sv", F_UINT, 1, UINT32_MAX),
    FIELD(struct proto_result, seq, "seq", F_UINT, 1, UINT64_MAX),
    FIELD(struct proto_result, task_id, "task", F_UINT, 0, UINT32_MAX),
    FIELD(struct proto_result, method, "m", F_METHOD, 0, 0),
    FIELD(struct proto_result, target_id, "tid", F_ID, 0, 0),
    FIELD(struct proto_result, window_start_ms, "ws", F_INT, 0, 0),
    FIELD(struct proto_result, window_s, "wl", F_UINT, 1, 3600),
    FIELD(struct proto_result, sent, "sent", F_UINT, 0, UINT32_MAX),
    FIELD(struct proto_result, received, "recv", F_UINT, 0, UINT32_MAX),
    FIELD(struct proto_result, lost, "lost", F_UINT, 0, UINT32_MAX),
    FIELD(struct proto_result, duplicates, "dup", F_UINT, 0, UINT32_MAX),
    FIELD(struct proto_result, reordered, "reord", F_UINT, 0, UINT32_MAX),
    FIELD(struct proto_result, rtt_min_ns, "min", F_UINT, 0, UINT64_MAX),
    FIELD(struct proto_result, rtt_max_ns, "max", F_UINT, 0, UINT64_MAX),
    FIELD(struct proto_result, ipdv_sum_ns, "jsum", F_UINT, 0, UINT64_MAX),
    FIELD(struct proto_result, ipdv_count, "jn", F_UINT, 0, UINT32_MAX),
    FIELD_OPT(struct proto_result, ttl, "ttl", 0, 255),
    FIELD_OPTK(struct proto_result, why, "why", F_STR, 0, 0),
    FIELD_OPT(struct proto_result, info.dns_ns, "tdns", 0, UINT64_MAX),
    FIELD_OPT(struct proto_result, info.connect_ns, "tcon", 0, UINT64_MAX),
    FIELD_OPT(struct proto_result, info.tls_ns, "ttls", 0, UINT64_MAX),
    FIELD_OPT(struct proto_result, info.ttfb_ns, "tfb", 0, UINT64_MAX),
    FIELD_OPT(struct proto_result, info.total_ns, "ttot", 0, UINT64_MAX),
    FIELD_OPT(struct proto_result, info.http_status, "hs", 100, 999),
    FIELD_OPT(struct proto_result, info.http_bytes, "hb", 0, UINT64_MAX),
    FIELD_OPTK(struct proto_result, info.header_value, "hv", F_STR, 0, 0),
    FIELD_OPTK(struct proto_result, info.tls_version, "tv", F_STR, 0, 0),
    FIELD_OPTK(struct proto_result, info.tls_cipher, "tc", F_STR, 0, 0),
    FIELD_OPTK(struct proto_result, info.cert_not_after, "ce", F_INT, 0, 0),
    FIELD_OPT(struct proto_result, info.verify_result, "vr", 1, UINT32_MAX),
    FIELD_OPT(struct proto_result, info.dns_rcode, "rc", 1, 16),
    FIELD_OPT(struct proto_result, info.dns_answers, "an", 0, UINT16_MAX),
};

static const struct field health_fields[] = {
    FIELD(struct proto_health, seq0, "s0", F_UINT, 1, UINT64_MAX),
    FIELD(struct proto_health, spool_bytes, "sb", F_UINT, 0, UINT64_MAX),
    FIELD(struct proto_health, pending, "pend", F_UINT, 0, UINT64_MAX),
    FIELD(struct proto_health, oldest_s, "age", F_UINT, 0, UINT32_MAX),
    FIELD(struct proto_health, dropped, "drop", F_UINT, 0, UINT64_MAX),
    FIELD(struct proto_health, reconnects, "rc", F_UINT, 0, UINT32_MAX),
    FIELD(struct proto_health, torn_bytes, "torn", F_UINT, 0, UINT64_MAX),
};

static const struct field ack_fields[] = {
    FIELD(struct proto_ack, seq, "seq", F_UINT, 0, UINT64_MAX),
};

static const struct field welcome_fields[] = {
    FIELD(struct proto_welcome, version, "v", F_UINT, 1, UINT32_MAX),
    FIELD(struct proto_welcome, heartbeat_s, "hb", F_UINT, 1, 3600),
    FIELD(struct proto_welcome, idle_s, "idle", F_UINT, 2, 86400),
};

static const struct field error_fields[] = {
    FIELD(struct proto_error, code, "code", F_UINT, 1, UINT32_MAX),
    FIELD(struct proto_error, reason, "reason", F_STR, 0, 0),
};

/* Members are read and written with memcpy: the tables carry only sizes. */
static uint64_t load_uint(const void *p, size_t size)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;

    switch (size) {
    case 1:
        memcpy(&u8, p, 1);
        return u8;
    case 2:
        memcpy(&u16, p, 2);
        return u16;
    case 4:
        memcpy(&u32, p, 4);
        return u32;
    default:
        memcpy(&u64, p, 8);
        return u64;
    }
}

static void store_uint(void *p, size_t size, uint64_t v)
{
    uint8_t u8 = (uint8_t)v;
    uint16_t u16 = (uint16_t)v;
    uint32_t u32 = (uint32_t)v;

    switch (size) {
    case 1:
        memcpy(p, &u8, 1);
        break;
    case 2:
        memcpy(p, &u16, 2);
        break;
    case 4:
        memcpy(p, &u32, 4);
        break;
    default:
        memcpy(p, &v, 8);
        break;
    }
}

static uint64_t size_max(size_t size)
{
    return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * size)) - 1;
}

/* Whether the member described by f holds a value we may send or accept. */
static int field_valid(const struct field *f, const void *base)
{
    const char *p = (const char *)base + f->off;
    uint64_t v;

    switch (f->kind) {
    case F_UINT:
        v = load_uint(p, f->size);
        return v >= f->min && v <= f->max;
    case F_INT:
        return 1;
    case F_METHOD:
        return method_known(load_uint(p, f->size));
    case F_STR:
        return cstr_valid(p, f->size, f->min);
    case F_ID:
        return cstr_valid(p, f->size, 1) && proto_id_valid(p);
    case F_ADDR:
        return cstr_valid(p, f->size, 1) && addr_valid(p);
    case F_HOST:
        return cstr_valid(p, f->size, 1) && proto_host_valid(p);
    case F_TOKEN:
        return cstr_valid(p, f->size, 1) && token_valid(p);
    case F_PATH:
        return cstr_valid(p, f->size, 1) && path_valid(p);
    }
    return 0;
}

static int field_decode(const struct field *f, const msgpack_object *o, void *base)
{
    char *p = (char *)base + f->off;
    int64_t i;

    if (o == NULL)
        return -EBADMSG;
    switch (f->kind) {
    case F_UINT:
    case F_METHOD:
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > size_max(f->size))
            return -EBADMSG;
        store_uint(p, f->size, o->via.u64);
        break;
    case F_INT:
        if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            i = o->via.i64;
        else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
            i = (int64_t)o->via.u64;
        else
            return -EBADMSG;
        memcpy(p, &i, sizeof(i));
        break;
    default:
        if (str_copy(o, p, f->size) != 0)
            return -EBADMSG;
        break;
    }
    return field_valid(f, base) ? 0 : -EBADMSG;
}

static int field_encode(msgpack_packer *pk, const struct field *f, const void *base)
{
    const char *p = (const char *)base + f->off;
    int64_t i;
    int rc;

    if (!field_valid(f, base))
        return -EINVAL;
    rc = pack_key(pk, f->key);
    if (rc == 0 && f->kind == F_INT) {
        memcpy(&i, p, sizeof(i));
        rc = msgpack_pack_int64(pk, i);
    } else if (rc == 0 && (f->kind == F_UINT || f->kind == F_METHOD)) {
        rc = msgpack_pack_uint64(pk, load_uint(p, f->size));
    } else if (rc == 0) {
        rc = msgpack_pack_str_with_body(pk, p, strlen(p));
    }
    return rc == 0 ? 0 : -ENOMEM;
}

static int fields_decode(const msgpack_object *map, const struct field *f, size_t n,
                         void *base)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        const msgpack_object *o = map_get(map, f[i].key);

        if (o == NULL && f[i].optional)
            continue; /* the caller zeroed it */
        rc = field_decode(&f[i], o, base);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Whether f is left out of the encoding: an optional field at its default. */
static int field_absent(const struct field *f, const void *base)
{
    const char *p = (const char *)base + f->off;

    if (!f->optional)
        return 0;
    if (f->kind == F_UINT || f->kind == F_INT)
        return load_uint(p, f->size) == 0;
    return p[0] == '\0';
}

/* How many keys fields_encode() writes for base. */
static size_t fields_count(const struct field *f, size_t n, const void *base)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += !field_absent(&f[i], base);
    return k;
}

static int fields_encode(msgpack_packer *pk, const struct field *f, size_t n,
                         const void *base)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        if (field_absent(&f[i], base))
            continue;
        rc = field_encode(pk, &f[i], base);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Opens a message map of nkeys entries (besides "t") and writes "t". */
static int pack_head(msgpack_packer *pk, size_t nkeys, enum proto_msg_type t)
{
    if (msgpack_pack_map(pk, nkeys + 1) != 0 || pack_key(pk, "t") != 0 ||
        msgpack_pack_uint8(pk, (uint8_t)t) != 0)
        return -ENOMEM;
    return 0;
}

/* ---- HELLO ----------------------------------------------------------------- */

static int hello_encode(msgpack_packer *pk, const struct proto_msg *m)
{
    const struct proto_hello *h = &m->u.hello;
    size_t nkeys = nitems(hello_fields) + 1 + (h->has_location ? 2 : 0);
    uint32_t i;
    int rc;

    if (h->naddrs > PROTO_ADDR_MAX || h->version_min > h->version_max ||
        (h->has_location && !location_valid(h->lat, h->lon)))
        return -EINVAL;
    for (i = 0; i < h->naddrs; i++) {
        if (!cstr_valid(h->addrs[i], PROTO_ADDRSTR_MAX, 1) || !addr_valid(h->addrs[i]))
            return -EINVAL;
    }
    rc = pack_head(pk, nkeys, PROTO_MSG_HELLO);
    if (rc == 0)
        rc = fields_encode(pk, hello_fields, nitems(hello_fields), h);
    if (rc != 0)
        return rc;
    if (pack_key(pk, "addrs") != 0 || msgpack_pack_array(pk, h->naddrs) != 0)
        return -ENOMEM;
    for (i = 0; i < h->naddrs; i++) {
        if (msgpack_pack_str_with_body(pk, h->addrs[i], strlen(h->addrs[i])) != 0)
            return -ENOMEM;
    }
    if (h->has_location &&
        (pack_key(pk, "lat") != 0 || msgpack_pack_double(pk, h->lat) != 0 ||
         pack_key(pk, "lon") != 0 || msgpack_pack_double(pk, h->lon) != 0))
        return -ENOMEM;
    return 0;
}

static int addrs_decode(const msgpack_object *o, struct proto_hello *h)
{
    uint32_t i;

    if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY ||
        o->via.array.size > PROTO_ADDR_MAX)
        return -EBADMSG;
    for (i = 0; i < o->via.array.size; i++) {
        if (str_copy(&o->via.array.ptr[i], h->addrs[i], PROTO_ADDRSTR_MAX) != 0 ||
            !addr_valid(h->addrs[i]))
            return -EBADMSG;
    }
    h->naddrs = o->via.array.size;
    return 0;
}

/* The location is optional, but "lat" and "lon" come together. */
static int location_decode(const msgpack_object *map, struct proto_hello *h)
{
    const msgpack_object *lat = map_get(map, "lat"), *lon = map_get(map, "lon");

    if (lat == NULL && lon == NULL)
        return 0;
    if (lat == NULL || lon == NULL || obj_double(lat, &h->lat) != 0 ||
        obj_double(lon, &h->lon) != 0 || !location_valid(h->lat, h->lon))
        return -EBADMSG;
    h->has_location = 1;
    return 0;
}

static int hello_decode(const msgpack_object *map, struct proto_msg *m)
{
    struct proto_hello *h = &m->u.hello;
    int rc;

    rc = fields_decode(map, hello_fields, nitems(hello_fields), h);
    if (rc == 0 && h->version_min > h->version_max)
        rc = -EBADMSG;
    if (rc == 0)
        rc = addrs_decode(map_get(map, "addrs"), h);
    if (rc == 0)
        rc = location_decode(map, h);
    return rc;
}

/* ---- TASKS ----------------------------------------------------------------- */

/* Results and schedules are keyed by task id, so an id appears once. */
static int task_ids_unique(const struct proto_task *t, uint32_t n)
{
    uint32_t i, j;

    /* Quadratic, but n <= PROTO_TASKS_MAX and this needs no allocation. */
    for (i = 1; i < n; i++) {
        for (j = 0; j < i; j++) {
            if (t[i].id == t[j].id)
                return 0;
        }
    }
    return 1;
}

/*
 * Cross-field rules of one task: something to reach (an address, or a
 * name the probe resolves); STAMP needs an address (its peer is a probe)
 * and at least the base packet; a DNS task needs a name to ask about.
 */
static int task_valid(const struct proto_task *t)
{
    if (t->addr[0] == '\0' && t->host[0] == '\0')
        return 0;
    if (t->method == PROTO_METHOD_STAMP)
        return t->addr[0] != '\0' && t->size >= PROTO_STAMP_BASE_LEN;
    if (t->method == PROTO_METHOD_DNS)
        return t->qname[0] != '\0';
    return 1;
}

/* A task array (TASKS' list, TASKS_DELTA's puts) the decoder would take. */
static int task_array_valid(const struct proto_task *t, uint32_t n)
{
    if (n > PROTO_TASKS_MAX || (n > 0 && t == NULL) || !task_ids_unique(t, n))
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (!task_valid(&t[i]))
            return 0;
    return 1;
}

static int task_array_encode(msgpack_packer *pk, const char *key,
                             const struct proto_task *t, uint32_t n)
{
    int rc = 0;

    if (pack_key(pk, key) != 0 || msgpack_pack_array(pk, n) != 0)
        return -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (msgpack_pack_map(pk, fields_count(task_fields, nitems(task_fields), &t[i])) !=
            0)
            return -ENOMEM;
        rc = fields_encode(pk, task_fields, nitems(task_fields), &t[i]);
    }
    return rc;
}

/* On failure the partly filled array stays in *out for proto_msg_free(). */
static int task_array_decode(const msgpack_object *map, const char *key,
                             struct proto_task **out, uint32_t *n)
{
    const msgpack_object *a = map_get(map, key);
    int rc = 0;

    if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY ||
        a->via.array.size > PROTO_TASKS_MAX)
        return -EBADMSG;
    if (a->via.array.size == 0)
        return 0;
    *out = calloc(a->via.array.size, sizeof(**out));
    if (*out == NULL)
        return -ENOMEM;
    *n = a->via.array.size;
    for (uint32_t i = 0; rc == 0 && i < *n; i++) {
        rc = map_check(&a->via.array.ptr[i]);
        if (rc == 0)
            rc = fields_decode(&a->via.array.ptr[i], task_fields, nitems(task_fields),
                               &(*out)[i]);
    }
    if (rc == 0 && !task_array_valid(*out, *n))
        rc = -EBADMSG;
    return rc;
}

static int tasks_encode(msgpack_packer *pk, const struct proto_msg *m)
{
    const struct proto_tasks *t = &m->u.tasks;
    int rc;

    if (!task_array_valid(t->tasks, t->ntasks))
        return -EINVAL;
    rc = pack_head(pk, nitems(tasks_fields) + 1, PROTO_MSG_TASKS);
    if (rc == 0)
        rc = fields_encode(pk, tasks_fields, nitems(tasks_fields), t);
    return rc != 0 ? rc : task_array_encode(pk, "tasks", t->tasks, t->ntasks);
}

static int tasks_decode(const msgpack_object *map, struct proto_msg *m)
{
    struct proto_tasks *t = &m->u.tasks;
    int rc = fields_decode(map, tasks_fields, nitems(tasks_fields), t);

    return rc != 0 ? rc : task_array_decode(map, "tasks", &t->tasks, &t->ntasks);
}

/* ---- TASKS_DELTA ------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

/*
 * The ids a delta deletes and puts, sorted, in *ids (malloc'd); -EBADMSG
 * when one appears twice (twice deleted, twice put, or put and deleted:
 * the delta would mean two things), -ENOMEM.
 */
static int delta_ids(const struct proto_tasks *d, uint32_t **ids, size_t *n)
{
    size_t k = 0;

    *n = (size_t)d->ndel + d->ntasks;
    *ids = malloc((*n ? *n : 1) * sizeof(**ids));
    if (*ids == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < d->ndel; i++)
        (*ids)[k++] = d->del[i];
    for (uint32_t i = 0; i < d->ntasks; i++)
        (*ids)[k++] = d->tasks[i].id;
    qsort(*ids, *n, sizeof(**ids), cmp_u32);
    for (size_t i = 1; i < *n; i++)
        if ((*ids)[i] == (*ids)[i - 1])
            return -EBADMSG;
    return 0;
}

static int delta_valid(const struct proto_tasks *d)
{
    uint32_t *ids = NULL;
    size_t n;
    int rc;

    if (d->ndel > PROTO_TASKS_MAX || (d->ndel > 0 && d->del == NULL) ||
        !task_array_valid(d->tasks, d->ntasks))
        return 0;
    rc = delta_ids(d, &ids, &n);
    free(ids);
    return rc == 0;
}

static const struct field delta_fields[] = {
    FIELD(struct proto_tasks, generation, "gen", F_UINT, 0, UINT64_MAX),
    FIELD(struct proto_tasks, base, "base", F_UINT, 0, UINT64_MAX),
    FIELD(struct proto_tasks, window_s, "win", F_UINT, 1, 3600),
};

static int delta_encode(msgpack_packer *pk, const struct proto_msg *m)
{
    const struct proto_tasks *d = &m->u.tasks;
    int rc;

    if (!delta_valid(d))
        return -EINVAL;
    rc = pack_head(pk, nitems(delta_fields) + 2, PROTO_MSG_TASKS_DELTA);
    if (rc == 0)
        rc = fields_encode(pk, delta_fields, nitems(delta_fields), d);
    if (rc == 0)
        rc = task_array_encode(pk, "put", d->tasks, d->ntasks);
    if (rc == 0 && (pack_key(pk, "del") != 0 || msgpack_pack_array(pk, d->ndel) != 0))
        rc = -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < d->ndel; i++)
        if (msgpack_pack_uint32(pk, d->del[i]) != 0)
            rc = -ENOMEM;
    return rc;
}

static int delta_decode(const msgpack_object *map, struct proto_msg *m)
{
    struct proto_tasks *d = &m->u.tasks;
    const msgpack_object *a;
    int rc = fields_decode(map, delta_fields, nitems(delta_fields), d);

    if (rc == 0)
        rc = task_array_decode(map, "put", &d->tasks, &d->ntasks);
    if (rc != 0)
        return rc;
    a = map_get(map, "del");
    if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY ||
        a->via.array.size > PROTO_TASKS_MAX)
        return -EBADMSG;
    if (a->via.array.size > 0 &&
        (d->del = calloc(a->via.array.size, sizeof(*d->del))) == NULL)
        return -ENOMEM;
    d->ndel = a->via.array.size;
    for (uint32_t i = 0; i < d->ndel; i++) {
        const msgpack_object *o = &a->via.array.ptr[i];

        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
            return -EBADMSG;
        d->del[i] = (uint32_t)o->via.u64;
    }
    return delta_valid(d) ? 0 : -EBADMSG;
}

static int id_listed(const uint32_t *ids, size_t n, uint32_t id)
{
    return bsearch(&id, ids, n, sizeof(*ids), cmp_u32) != NULL;
}

int proto_tasks_patch(const struct proto_task *cur, uint32_t ncur,
                      const struct proto_tasks *delta, struct proto_tasks *out)
{
    uint32_t *ids;
    size_t nids, n = 0;
    int rc = delta_ids(delta, &ids, &nids);

    memset(out, 0, sizeof(*out));
    if (rc == 0 && (out->tasks = calloc((size_t)ncur + delta->ntasks + 1,
                                        sizeof(*out->tasks))) == NULL)
        rc = -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < ncur; i++)
        if (!id_listed(ids, nids, cur[i].id))
            out->tasks[n++] = cur[i];
    free(ids);
    if (rc == 0 && n + delta->ntasks > PROTO_TASKS_MAX)
        rc = -E2BIG;
    if (rc != 0) {
        free(out->tasks);
        out->tasks = NULL;
        return rc == -EBADMSG ? -EINVAL : rc;
    }
    if (delta->ntasks > 0)
        memcpy(out->tasks + n, delta->tasks, delta->ntasks * sizeof(*out->tasks));
    out->ntasks = (uint32_t)(n + delta->ntasks);
    out->generation = delta->generation;
    out->window_s = delta->window_s;
    return 0;
}

/* ---- RESULTS --------------------------------------------------------------- */

/* Cross-field rules of one record; the counts may include packets in flight. */
static int result_valid(const struct proto_result *r)
{
    uint64_t failed = 0;

    if (r->outcomes[PROTO_OUT_OK] != 0)
        return 0;
    for (int i = 1; i < PROTO_OUTCOME_MAX; i++)
        failed += r->outcomes[i];
    return r->received <= r->sent && r->lost <= r->sent && failed <= r->lost &&
           (r->received == 0 || r->rtt_min_ns <= r->rtt_max_ns);
}

static int outcomes_count(const struct proto_result *r)
{
    int n = 0;

    for (int i = 1; i < PROTO_OUTCOME_MAX; i++)
        n += r->outcomes[i] != 0;
    return n;
}

/* "oc": {"refused": 3, ...}, only the non-zero failures; absent when none. */
static int outcomes_encode(msgpack_packer *pk, const struct proto_result *r)
{
    int n = outcomes_count(r);

    if (n == 0)
        return 0;
    if (pack_key(pk, "oc") != 0 || msgpack_pack_map(pk, (size_t)n) != 0)
        return -ENOMEM;
    for (int i = 1; i < PROTO_OUTCOME_MAX; i++)
        if (r->outcomes[i] != 0 && (pack_key(pk, outcome_names[i]) != 0 ||
                                    msgpack_pack_uint32(pk, r->outcomes[i]) != 0))
            return -ENOMEM;
    return 0;
}

/* Names a newer peer added are skipped, as unknown keys are everywhere. */
static int outcomes_decode(const msgpack_object *o, struct proto_result *r)
{
    char name[32];
    int k;

    if (o == NULL)
        return 0;
    if (map_check(o) != 0)
        return -EBADMSG;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];

        if (kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            kv->val.via.u64 > UINT32_MAX)
            return -EBADMSG;
        if (str_copy(&kv->key, name, sizeof(name)) != 0)
            continue; /* longer than any name we know */
        k = proto_outcome_parse(name);
        if (k == PROTO_OUT_OK)
            return -EBADMSG;
        if (k > 0)
            r->outcomes[k] = (uint32_t)kv->val.via.u64;
    }
    return 0;
}

/*
 * Records in a batch are in strictly increasing sequence order, as the
 * spool holds them; the controller's acknowledgement relies on it.
 */
static int results_valid(const struct proto_results *rs)
{
    uint32_t i;

    if (rs->nresults == 0 || rs->nresults > PROTO_RESULTS_MAX || rs->results == NULL)
        return 0;
    for (i = 0; i < rs->nresults; i++) {
        if (!result_valid(&rs->results[i]) ||
            (i > 0 && rs->results[i].seq <= rs->results[i - 1].seq))
            return 0;
    }
    return 1;
}

static int result_encode(msgpack_packer *pk, const struct proto_result *r)
{
    int rc;

    if (msgpack_pack_map(pk, fields_count(result_fields, nitems(result_fields), r) + 1 +
                                 (outcomes_count(r) > 0)) != 0)
        return -ENOMEM;
    rc = fields_encode(pk, result_fields, nitems(result_fields), r);
    if (rc == 0)
        rc = outcomes_encode(pk, r);
    if (rc == 0 && pack_key(pk, "sk") != 0)
        rc = -ENOMEM;
    if (rc == 0)
        rc = proto_sketch_pack(&r->sketch, pk);
    return rc;
}

/* "dw": [[window start, records], ...], each window's drops. */
static int drops_encode(msgpack_packer *pk, const struct proto_health *h)
{
    if (pack_key(pk, "dw") != 0 || msgpack_pack_array(pk, h->ndrops) != 0)
        return -ENOMEM;
    for (uint32_t i = 0; i < h->ndrops; i++)
        if (msgpack_pack_array(pk, 2) != 0 ||
            msgpack_pack_int64(pk, h->drops[i].window_start_ms) != 0 ||
            msgpack_pack_uint32(pk, h->drops[i].records) != 0)
            return -ENOMEM;
    return 0;
}

static int health_encode(msgpack_packer *pk, const struct proto_health *h)
{
    int rc;

    if (h->ndrops > PROTO_DROPWIN_MAX)
        return -EINVAL;
    for (uint32_t i = 0; i < h->ndrops; i++)
        if (h->drops[i].records == 0)
            return -EINVAL;
    if (pack_key(pk, "h") != 0 || msgpack_pack_map(pk, nitems(health_fields) + 1) != 0)
        return -ENOMEM;
    rc = fields_encode(pk, health_fields, nitems(health_fields), h);
    return rc != 0 ? rc : drops_encode(pk, h);
}

static int results_encode(msgpack_packer *pk, const struct proto_msg *m)
{
    const struct proto_results *rs = &m->u.results;
    uint32_t i;
    int rc;

    if (!results_valid(rs))
        return -EINVAL;
    rc = pack_head(pk, 1 + (rs->has_health != 0), PROTO_MSG_RESULTS);
    if (rc == 0 && (pack_key(pk, "r") != 0 || msgpack_pack_array(pk, rs->nresults) != 0))
        rc = -ENOMEM;
    for (i = 0; rc == 0 && i < rs->nresults; i++)
        rc = result_encode(pk, &rs->results[i]);
    if (rc == 0 && rs->has_health)
        rc = health_encode(pk, &rs->health);
    return rc;
}

static int result_decode(const msgpack_object *o, struct proto_result *r)
{
    const msgpack_object *sk;
    int rc;

    rc = map_check(o);
    if (rc == 0)
        rc = fields_decode(o, result_fields, nitems(result_fields), r);
    if (rc == 0)
        rc = outcomes_decode(map_get(o, "oc"), r);
    if (rc != 0)
        return rc;
    sk = map_get(o, "sk");
    if (sk == NULL)
        return -EBADMSG;
    /* -EPROTO (another alpha) is worth telling apart; the rest is malformed. */
    rc = proto_sketch_unpack(&r->sketch, sk);
    return rc == 0 || rc == -ENOMEM || rc == -EPROTO ? rc : -EBADMSG;
}

static int drop_decode(const msgpack_object *o, struct proto_drop_window *d)
{
    const msgpack_object *ws, *n;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2)
        return -EBADMSG;
    ws = &o->via.array.ptr[0];
    n = &o->via.array.ptr[1];
    if (ws->type == MSGPACK_OBJECT_POSITIVE_INTEGER && ws->via.u64 <= INT64_MAX)
        d->window_start_ms = (int64_t)ws->via.u64;
    else if (ws->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        d->window_start_ms = ws->via.i64;
    else
        return -EBADMSG;
    if (n->type != MSGPACK_OBJECT_POSITIVE_INTEGER || n->via.u64 == 0 ||
        n->via.u64 > UINT32_MAX)
        return -EBADMSG;
    d->records = (uint32_t)n->via.u64;
    return 0;
}

static int health_decode(const msgpack_object *o, struct proto_health *h)
{
    const msgpack_object *dw;
    int rc = map_check(o);

    if (rc == 0)
        rc = fields_decode(o, health_fields, nitems(health_fields), h);
    if (rc != 0)
        return rc;
    dw = map_get(o, "dw");
    if (dw == NULL || dw->type != MSGPACK_OBJECT_ARRAY ||
        dw->via.array.size > PROTO_DROPWIN_MAX)
        return -EBADMSG;
    h->ndrops = dw->via.array.size;
    for (uint32_t i = 0; rc == 0 && i < h->ndrops; i++)
        rc = drop_decode(&dw->via.array.ptr[i], &h->drops[i]);
    return rc;
}

/* On failure the array stays in m for proto_msg_free(). */
static int results_decode(const msgpack_object *map, struct proto_msg *m)
{
    struct proto_results *rs = &m->u.results;
    const msgpack_object *a = map_get(map, "r");
    uint32_t i, n;
    int rc = 0;

    if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size == 0 ||
        a->via.array.size > PROTO_RESULTS_MAX)
        return -EBADMSG;
    n = a->via.array.size;
    rs->results = calloc(n, sizeof(*rs->results));
    if (rs->results == NULL)
        return -ENOMEM;
    /* Every sketch is initialised first, so proto_msg_free() can free them all. */
    for (i = 0; i < n; i++)
        proto_sketch_init(&rs->results[i].sketch);
    rs->nresults = n;
    for (i = 0; rc == 0 && i < n; i++)
        rc = result_decode(&a->via.array.ptr[i], &rs->results[i]);
    if (rc == 0 && !results_valid(rs))
        rc = -EBADMSG;
    if (rc == 0 && (a = map_get(map, "h")) != NULL) {
        rs->has_health = 1;
        rc = health_decode(a, &rs->health);
    }
    return rc;
}

/* ---- ACK and ERROR --------------------------------------------------------- */

static int ack_encode(msgpack_packer *pk, const struct proto_msg *m)
{
    int rc = pack_head(pk, nitems(ack_fields), PROTO_MSG_ACK);

    return rc != 0 ? rc : fields_encode(pk, ack_fields, nitems(ack_fields), &m->u.ack);
}

static int ack_decode(const msgpack_object *map, struct proto_msg *m)
{
    return fields_decode(map, ack_fields, nitems(ack_fields), &m->u.ack);
}

static int error_encode(msgpack_packer *pk, const struct proto_msg *m)
{
    int rc = pack_head(pk, nitems(error_fields), PROTO_MSG_ERROR);

    return rc != 0 ? rc
                   : fields_encode(pk, error_fields, nitems(error_fields), &m->u.error);
}

static int error_decode(const msgpack_object *map, struct proto_msg *m)
{
    return fields_decode(map, error_fields, nitems(error_fields), &m->u.error);
}

/* ---- WELCOME and HEARTBEAT --------------------------------------------------- */

/* A heartbeat must come well within the idle timeout. */
static int welcome_valid(const struct proto_welcome *w)
{
    return w->heartbeat_s < w->idle_s;
}

static int welcome_encode(msgpack_packer *pk, const struct proto_msg *m)
{
    int rc;

    if (!welcome_valid(&m->u.welcome))
        return -EINVAL;
    rc = pack_head(pk, nitems(welcome_fields), PROTO_MSG_WELCOME);
    return rc != 0
               ? rc
               : fields_encode(pk, welcome_fields, nitems(welcome_fields), &m->u.welcome);
}

static int welcome_decode(const msgpack_object *map, struct proto_msg *m)
{
    int rc = fields_decode(map, welcome_fields, nitems(welcome_fields), &m->u.welcome);

    return rc == 0 && !welcome_valid(&m->u.welcome) ? -EBADMSG : rc;
}

static int heartbeat_encode(msgpack_packer *pk, const struct proto_msg *m)
{
    (void)m;
    return pack_head(pk, 0, PROTO_MSG_HEARTBEAT);
}

static int heartbeat_decode(const msgpack_object *map, struct proto_msg *m)
{
    (void)map, (void)m;
    return 0;
}

int proto_version_pick(uint32_t min, uint32_t max, uint32_t *chosen)
{
    uint32_t hi = max < PROTO_VERSION_MAX ? max : PROTO_VERSION_MAX;
    uint32_t lo = min > PROTO_VERSION_MIN ? min : PROTO_VERSION_MIN;

    if (min > max || lo > hi)
        return -EPROTO;
    *chosen = hi;
    return 0;
}

uint64_t proto_backoff_ms(unsigned attempt, uint64_t rnd)
{
    uint64_t ceiling = PROTO_BACKOFF_BASE_MS;

    while (attempt-- > 0 && ceiling < PROTO_BACKOFF_CAP_MS)
        ceiling *= 2;
    if (ceiling > PROTO_BACKOFF_CAP_MS)
        ceiling = PROTO_BACKOFF_CAP_MS;
    return rnd % (ceiling + 1);
}

/* ---- messages -------------------------------------------------------------- */

static const struct msg_ops {
    int (*encode)(msgpack_packer *pk, const struct proto_msg *m);
    int (*decode)(const msgpack_object *map, struct proto_msg *m);
} msg_ops[] = {
    [PROTO_MSG_HELLO] = {hello_encode, hello_decode},
    [PROTO_MSG_TASKS] = {tasks_encode, tasks_decode},
    [PROTO_MSG_RESULTS] = {results_encode, results_decode},
    [PROTO_MSG_ACK] = {ack_encode, ack_decode},
    [PROTO_MSG_ERROR] = {error_encode, error_decode},
    [PROTO_MSG_WELCOME] = {welcome_encode, welcome_decode},
    [PROTO_MSG_HEARTBEAT] = {heartbeat_encode, heartbeat_decode},
    [PROTO_MSG_TASKS_DELTA] = {delta_encode, delta_decode},
};

static const struct msg_ops *msg_ops_find(uint64_t t)
{
    return t < nitems(msg_ops) && msg_ops[t].encode != NULL ? &msg_ops[t] : NULL;
}

/*
 * Returns 0, -EINVAL when m holds a value the decoder would reject (or an
 * unknown type), -EMSGSIZE when the payload would exceed PROTO_FRAME_MAX,
 * or -ENOMEM.  On success *out is malloc'd and the caller frees it.
 */
int proto_msg_encode(const struct proto_msg *m, uint8_t **out, size_t *len)
{
    static const char hdr[PROTO_FRAME_HDR];
    const struct msg_ops *ops = msg_ops_find(m->type);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    if (ops == NULL)
        return -EINVAL;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* Reserve the header, filled in once the payload length is known. */
    if (msgpack_sbuffer_write(&sb, hdr, sizeof(hdr)) != 0) {
        rc = -ENOMEM;
        goto done;
    }
    rc = ops->encode(&pk, m);
    if (rc != 0)
        goto done;
    if (sb.size - PROTO_FRAME_HDR > PROTO_FRAME_MAX) {
        rc = -EMSGSIZE;
        goto done;
    }
    proto_frame_header((uint8_t *)sb.data, (uint32_t)(sb.size - PROTO_FRAME_HDR));
    *len = sb.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&sb);
done:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int msg_decode_obj(const msgpack_object *o, struct proto_msg *m)
{
    const struct msg_ops *ops;
    const msgpack_object *t;

    if (map_check(o) != 0)
        return -EBADMSG;
    t = map_get(o, "t");
    if (t == NULL || t->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -EBADMSG;
    ops = msg_ops_find(t->via.u64);
    if (ops == NULL)
        return -EBADMSG;
    m->type = (enum proto_msg_type)t->via.u64;
    return ops->decode(o, m);
}

/*
 * Returns 0; -EBADMSG for anything malformed, an unknown message type
 * included; -EPROTO for a sketch made with another alpha; -EMSGSIZE for a
 * payload above PROTO_FRAME_MAX; -ENOMEM.
 * Strings are copied, so m does not refer to payload afterwards.
 */
int proto_msg_decode(const uint8_t *payload, size_t len, struct proto_msg *m)
{
    msgpack_unpacked up;
    size_t off = 0;
    int rc;

    memset(m, 0, sizeof(*m));
    if (len > PROTO_FRAME_MAX)
        return -EMSGSIZE;
    if (payload == NULL || mp_prescan(payload, len) != 0)
        return -EBADMSG;
    msgpack_unpacked_init(&up);
    switch (msgpack_unpack_next(&up, (const char *)payload, len, &off)) {
    case MSGPACK_UNPACK_SUCCESS:
        rc = off == len ? msg_decode_obj(&up.data, m) : -EBADMSG;
        break;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        rc = -ENOMEM;
        break;
    default:
        rc = -EBADMSG;
        break;
    }
    msgpack_unpacked_destroy(&up);
    if (rc != 0) {
        proto_msg_free(m);
        memset(m, 0, sizeof(*m));
    }
    return rc;
}

/* Frees what the message owns; m may be freed again afterwards. */
void proto_msg_free(struct proto_msg *m)
{
    uint32_t i;

    if (m == NULL)
        return;
    if (m->type == PROTO_MSG_TASKS || m->type == PROTO_MSG_TASKS_DELTA) {
        free(m->u.tasks.tasks);
        free(m->u.tasks.del);
        m->u.tasks.tasks = NULL;
        m->u.tasks.del = NULL;
        m->u.tasks.ntasks = m->u.tasks.ndel = 0;
    } else if (m->type == PROTO_MSG_RESULTS) {
        for (i = 0; m->u.results.results != NULL && i < m->u.results.nresults; i++)
            proto_sketch_free(&m->u.results.results[i].sketch);
        free(m->u.results.results);
        m->u.results.results = NULL;
        m->u.results.nresults = 0;
    }
}
