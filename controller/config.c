/*
 * config.c - the controller's INI configuration.
 *
 *   [controller]
 *   listen = *:7862                 ; the probes' TLS channel
 *   http = 127.0.0.1:8080           ; map, API, metrics
 *   ca = ca.pem                     ; signs every probe certificate; required
 *   cert = controller.pem           ; required
 *   key = controller.key            ; required
 *   database = ixmesh.db            ; SQLite file; required
 *   log_level = info
 *   user = ixmesh                   ; started as root, it becomes this user
 *   heartbeat = 10                 ; seconds between heartbeats, both ways
 *   idle_timeout = 35               ; a connection silent this long is closed
 *   mesh_grace = 120                ; a probe that left is still measured this long
 *   handshake_timeout = 5           ; s from accept to the end of TLS handshake, <= 10
 *   max_pending = 256               ; channel connections without a HELLO yet
 *   max_pending_per_source = 16     ; the same from one address (IPv6: one /64)
 *   http_max_connections = 256      ; HTTP connections; past it the slowest goes
 *   http_max_per_client = 16        ; the same from one address
 *   http_timeout = 10               ; seconds to send a request's head; idle limit
 *
 *   [exchange]                      ; what a member may announce and send (guard.c)
 *   prefixes = 192.0.2.0/24 ...     ; its addresses; unset: loopback only
 *   probe.ID = PREFIX ...           ; one probe's own list instead
 *   stamp_ports = 862-65535
 *   address_change_interval = 60    ; seconds between two changes of addresses
 *   hello_burst = 10                ; HELLOs at once, then
 *   hello_interval = 6              ; one more each this many seconds
 *   backlog_rate = 200              ; records/s beyond what its tasks produce
 *
 *   [mesh]
 *   window = 10                     ; seconds per summary record
 *   interval_ms = 1000              ; STAMP packets per pair
 *   timeout_ms = 1000               ; a reply later than this is lost
 *   size = 44                       ; octets per STAMP packet
 *   dscp = 0
 *   schedule = periodic             ; or poisson: exponential gaps of mean interval_ms
 *
 *   [store]                         ; how long each level is kept: N with s, m,
 *   raw = 6h                        ;   h, d, w or y (365 d), or "forever"
 *   minute = 2d                     ; 1-minute rollups
 *   hour = 30d                      ; 1-hour rollups
 *   day = 3y                        ; 1-day rollups
 *
 *   [content ID]                    ; a content node every probe measures
 *   name = ...                      ; display name, default ID
 *   host = cdn.example.net          ; SNI, Host, and what the probe resolves
 *   address = 192.0.2.10            ; connect here (and: dns asks it); host or address
 *   methods = icmp tcp http         ; of icmp tcp tls http dns
 *   port = 80                       ; tcp
 *   tls_port = 443                  ; tls
 *   http_port = 80                  ; http; 443 when https = yes
 *   https = no
 *   path = /                        ; http request target
 *   header = X-Cache                ; http response header to record
 *   query = (host)                  ; dns: the name asked
 *   qtype = A                       ; or AAAA
 *   dns_port = 53
 *   interval_ms = 5000              ; default 5000, the mesh's for icmp
 *   timeout_ms = 2000               ; default 2000, below the window
 *
 * inih does not tell the handler the line, nor where a section starts, so
 * the file is read through our own line reader (read_line), which counts
 * lines and opens a content node at its section header: an empty section
 * or a duplicate id is then caught, and reported at its header line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller.h"
#include "log.h"

struct parse_ctx {
    struct ctl_config *cfg;
    FILE *file;
    int line;     /* of the last line read */
    int mid_line; /* the last read stopped before the end of its line */
    int err_line; /* where reason applies; 0: the line inih reports */
    size_t cap;   /* of cfg->content */
    size_t cur;   /* the content node whose section is open, by index */
    char reason[256];
};

static int fail(struct parse_ctx *pc, const char *fmt, const char *arg)
{
    snprintf(pc->reason, sizeof(pc->reason), fmt, arg);
    return -1;
}

static int copy_str(char *dst, size_t len, const char *v, struct parse_ctx *pc)
{
    if (v[0] == '\0' || strlen(v) >= len) {
        snprintf(pc->reason, sizeof(pc->reason), "value must be 1 to %zu characters",
                 len - 1);
        return -1;
    }
    strcpy(dst, v);
    return 0;
}

static int parse_uint(const char *v, unsigned long lo, unsigned long hi,
                      unsigned long *out, struct parse_ctx *pc)
{
    char *end;
    unsigned long x;

    errno = 0;
    x = strtoul(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || errno != 0 || *end != '\0' || x < lo || x > hi) {
        snprintf(pc->reason, sizeof(pc->reason),
                 "'%s' is not a whole number in [%lu, %lu]", v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out,
                     struct parse_ctx *pc)
{
    unsigned long x;

    if (parse_uint(v, lo, hi, &x, pc) < 0)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

static int parse_sockaddr(const char *v, uint16_t port, struct sockaddr_storage *ss,
                          socklen_t *len, struct parse_ctx *pc)
{
    if (proto_addr_parse(v, port, ss, len) == 0)
        return 0;
    return fail(
        pc, "'%s' is not ADDRESS[:PORT] with a numeric address (IPv6 in brackets)", v);
}

static int set_controller(struct parse_ctx *pc, const char *name, const char *v)
{
    struct ctl_config *cfg = pc->cfg;

    if (strcmp(name, "listen") == 0)
        return parse_sockaddr(v, CTL_CHANNEL_PORT, &cfg->listen_addr, &cfg->listen_len,
                              pc);
    if (strcmp(name, "http") == 0)
        return parse_sockaddr(v, CTL_HTTP_PORT, &cfg->http_addr, &cfg->http_len, pc);
    if (strcmp(name, "ca") == 0)
        return copy_str(cfg->ca, sizeof(cfg->ca), v, pc);
    if (strcmp(name, "cert") == 0)
        return copy_str(cfg->cert, sizeof(cfg->cert), v, pc);
    if (strcmp(name, "key") == 0)
        return copy_str(cfg->key, sizeof(cfg->key), v, pc);
    if (strcmp(name, "database") == 0)
        return copy_str(cfg->database, sizeof(cfg->database), v, pc);
    if (strcmp(name, "user") == 0) {
        if (privs_user_refused(v) != NULL)
            return snprintf(pc->reason, sizeof(pc->reason), "user '%.32s' %s", v,
                            privs_user_refused(v)),
                   -1;
        return copy_str(cfg->user, sizeof(cfg->user), v, pc);
    }
    if (strcmp(name, "log_level") == 0) {
        enum log_level l;

        if (log_level_parse(v, &l) < 0)
            return fail(pc, "log_level must be error, warn, info or debug%s", "");
        return copy_str(cfg->log_level, sizeof(cfg->log_level), v, pc);
    }
    if (strcmp(name, "heartbeat") == 0)
        return parse_u32(v, 1, 3600, &cfg->heartbeat_s, pc);
    if (strcmp(name, "idle_timeout") == 0)
        return parse_u32(v, 2, 86400, &cfg->idle_s, pc);
    if (strcmp(name, "mesh_grace") == 0)
        return parse_u32(v, 0, 86400, &cfg->grace_s, pc);
    if (strcmp(name, "handshake_timeout") == 0)
        return parse_u32(v, 1, CTL_HELLO_TIMEOUT_S, &cfg->limits.handshake_s, pc);
    if (strcmp(name, "max_pending") == 0)
        return parse_u32(v, 1, 100000, &cfg->limits.pending_max, pc);
    if (strcmp(name, "max_pending_per_source") == 0)
        return parse_u32(v, 1, 100000, &cfg->limits.pending_per_source, pc);
    if (strcmp(name, "http_max_connections") == 0)
        return parse_u32(v, 1, 65536, &cfg->limits.http_max, pc);
    if (strcmp(name, "http_max_per_client") == 0)
        return parse_u32(v, 1, 65536, &cfg->limits.http_per_client, pc);
    if (strcmp(name, "http_timeout") == 0)
        return parse_u32(v, 1, 3600, &cfg->limits.http_timeout_s, pc);
    return fail(pc, "unknown key '%s' in [controller]", name);
}

/* The [mesh] keys: all whole numbers, each with its range and field. */
static const struct mesh_key {
    const char *name;
    unsigned long lo, hi;
    size_t off, size;
} mesh_keys[] = {
    {"window", 1, 3600, offsetof(struct ctl_mesh, window_s), sizeof(uint32_t)},
    {"interval_ms", 10, 3600000, offsetof(struct ctl_mesh, interval_ms),
     sizeof(uint32_t)},
    {"timeout_ms", 1, 60000, offsetof(struct ctl_mesh, timeout_ms), sizeof(uint32_t)},
    {"size", PROTO_STAMP_BASE_LEN, PROTO_STAMP_MAX_LEN, offsetof(struct ctl_mesh, size),
     sizeof(uint16_t)},
    {"dscp", 0, 63, offsetof(struct ctl_mesh, dscp), sizeof(uint8_t)},
};

/* Stores x, already range-checked, into a member of size octets. */
static void store_uint(unsigned char *p, size_t size, unsigned long x)
{
    uint32_t u32 = (uint32_t)x;
    uint16_t u16 = (uint16_t)x;
    uint8_t u8 = (uint8_t)x;

    if (size == sizeof(u32))
        memcpy(p, &u32, size);
    else if (size == sizeof(u16))
        memcpy(p, &u16, size);
    else
        memcpy(p, &u8, size);
}

static int set_mesh(struct parse_ctx *pc, const char *name, const char *v)
{
    unsigned char *base = (unsigned char *)&pc->cfg->mesh;
    unsigned long x;

    if (strcmp(name, "schedule") == 0) {
        if (strcmp(v, "periodic") != 0 && strcmp(v, "poisson") != 0)
            return fail(pc, "schedule must be periodic or poisson, not '%s'", v);
        pc->cfg->mesh.poisson = strcmp(v, "poisson") == 0;
        return 0;
    }
    for (size_t i = 0; i < sizeof(mesh_keys) / sizeof(mesh_keys[0]); i++) {
        const struct mesh_key *k = &mesh_keys[i];

        if (strcmp(name, k->name) != 0)
            continue;
        if (parse_uint(v, k->lo, k->hi, &x, pc) < 0)
            return -1;
        store_uint(base + k->off, k->size, x);
        return 0;
    }
    return fail(pc, "unknown key '%s' in [mesh]", name);
}

/* ---- [store] --------------------------------------------------------------- */

/* "6h", "90d", "3y", "forever" (0): seconds, at least an hour, at most 100 y. */
static int parse_duration(const char *v, int64_t *out, struct parse_ctx *pc)
{
    static const struct {
        char unit;
        int64_t s;
    } units[] = {{'s', 1},     {'m', 60},     {'h', 3600},
                 {'d', 86400}, {'w', 604800}, {'y', 31536000}};
    unsigned long long n;
    char *end;

    if (strcmp(v, "forever") == 0) {
        *out = 0;
        return 0;
    }
    errno = 0;
    n = v[0] >= '0' && v[0] <= '9' ? strtoull(v, &end, 10) : 0;
    if (n == 0 || errno != 0 || end[0] == '\0' || end[1] != '\0')
        return fail(pc,
                    "'%s' is not a duration: a number and a unit (s m h d w y), "
                    "or forever",
                    v);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (end[0] != units[i].unit)
            continue;
        if (n > 100ULL * 31536000 / (unsigned long long)units[i].s ||
            (int64_t)n * units[i].s < 3600)
            return fail(pc, "'%s': keep a level from 1 h to 100 y, or forever", v);
        *out = (int64_t)n * units[i].s;
        return 0;
    }
    return fail(pc, "'%s': the unit must be s, m, h, d, w or y", v);
}

static int set_store(struct parse_ctx *pc, const char *name, const char *v)
{
    static const char *const levels[CTL_ROLLUP_LEVELS] = {"minute", "hour", "day"};
    struct ctl_retention *rt = &pc->cfg->retention;

    if (strcmp(name, "raw") == 0)
        return parse_duration(v, &rt->raw_s, pc);
    for (int i = 0; i < CTL_ROLLUP_LEVELS; i++)
        if (strcmp(name, levels[i]) == 0)
            return parse_duration(v, &rt->level_s[i], pc);
    return fail(pc, "unknown key '%s' in [store]", name);
}

/* ---- [content ID] ------------------------------------------------------ */

#define CONTENT_PREFIX "content "
#define DEFAULT_METHODS                                                                  \
    ((1u << PROTO_METHOD_ICMP) | (1u << PROTO_METHOD_TCP) | (1u << PROTO_METHOD_HTTP))
#define CONTENT_TIMEOUT_MS 2000

static struct ctl_content *find_content(const struct ctl_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->ncontent; i++)
        if (strcmp(cfg->content[i].id, id) == 0)
            return &cfg->content[i];
    return NULL;
}

const struct ctl_content *ctl_config_content(const struct ctl_config *cfg, const char *id)
{
    return find_content(cfg, id);
}

/* A section header [content ID] was read: a new node with its defaults. */
static int begin_content(struct parse_ctx *pc, const char *id)
{
    struct ctl_config *cfg = pc->cfg;
    const struct ctl_content *dup;
    struct ctl_content *n;

    if (!proto_id_valid(id))
        return fail(pc,
                    "'%s' is not a content node id: 1 to 64 of A-Z a-z 0-9 . _ - "
                    "([content ID])",
                    id);
    dup = find_content(cfg, id);
    if (dup != NULL) {
        snprintf(pc->reason, sizeof(pc->reason),
                 "content node '%s' is defined twice (first at line %d)", id, dup->line);
        return -1;
    }
    if (cfg->ncontent == CTL_CONTENT_MAX) {
        snprintf(pc->reason, sizeof(pc->reason), "more than %d content nodes",
                 CTL_CONTENT_MAX);
        return -1;
    }
    if (cfg->ncontent == pc->cap) {
        size_t cap = pc->cap ? pc->cap * 2 : 8;

        n = realloc(cfg->content, cap * sizeof(*n));
        if (n == NULL)
            return fail(pc, "out of memory%s", "");
        cfg->content = n;
        pc->cap = cap;
    }
    n = &cfg->content[cfg->ncontent++];
    memset(n, 0, sizeof(*n));
    strcpy(n->id, id);
    strcpy(n->name, id);
    strcpy(n->path, "/");
    strcpy(n->header, "X-Cache");
    n->methods = DEFAULT_METHODS;
    n->port = 80;
    n->tls_port = 443;
    n->dns_port = 53;
    n->qtype = 1;
    n->line = pc->line;
    return 0;
}

static int parse_port(const char *v, uint16_t *out, struct parse_ctx *pc)
{
    unsigned long x;

    if (parse_uint(v, 1, 65535, &x, pc) < 0)
        return -1;
    *out = (uint16_t)x;
    return 0;
}

/* "icmp tcp, http": a set of methods, each once, stamp not among them. */
static int parse_methods(const char *v, uint32_t *out, struct parse_ctx *pc)
{
    char buf[128], *tok, *save = NULL;
    uint32_t set = 0;
    int m;

    if (strlen(v) >= sizeof(buf))
        return fail(pc, "methods: a list of icmp tcp tls http dns, not '%s'", v);
    strcpy(buf, v);
    for (tok = strtok_r(buf, " ,\t", &save); tok != NULL;
         tok = strtok_r(NULL, " ,\t", &save)) {
        m = proto_method_parse(tok);
        if (m < 0 || m == PROTO_METHOD_STAMP)
            return fail(
                pc, "unknown method '%s': content nodes take icmp tcp tls http dns", tok);
        if (set & (1u << m))
            return fail(pc, "method '%s' is listed twice", tok);
        set |= 1u << m;
    }
    if (set == 0)
        return fail(pc, "methods must name at least one of icmp tcp tls http dns%s", "");
    *out = set;
    return 0;
}

/* An HTTP field name: a token of tchar (RFC 9110 5.1 and 5.6.2). */
static int token_ok(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if (*s == '\0' || strlen(s) > PROTO_TOKEN_MAX)
        return 0;
    for (; *s != '\0'; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || strchr(extra, *s) != NULL))
            return 0;
    return 1;
}

/* An origin-form request target (RFC 9110 7.1): '/' and visible ASCII. */
static int path_ok(const char *s)
{
    if (s[0] != '/' || strlen(s) > PROTO_PATH_MAX)
        return 0;
    for (; *s != '\0'; s++)
        if (*s < 0x21 || *s > 0x7e)
            return 0;
    return 1;
}

static int addr_ok(const char *s)
{
    unsigned char a[sizeof(struct in6_addr)];

    return strlen(s) < PROTO_ADDRSTR_MAX &&
           (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1);
}

static int parse_bool(const char *v, uint8_t *out, struct parse_ctx *pc)
{
    if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
        *out = 1;
    else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
        *out = 0;
    else
        return fail(pc, "'%s' is not yes or no", v);
    return 0;
}

static int set_content(struct parse_ctx *pc, struct ctl_content *n, const char *name,
                       const char *v)
{
    if (strcmp(name, "name") == 0)
        return copy_str(n->name, sizeof(n->name), v, pc);
    if (strcmp(name, "host") == 0) {
        if (!proto_host_valid(v))
            return fail(pc, "host: '%s' is not a DNS name (an address goes in address)",
                        v);
        return copy_str(n->host, sizeof(n->host), v, pc);
    }
    if (strcmp(name, "address") == 0) {
        if (!addr_ok(v))
            return fail(pc, "address: '%s' is not an IPv4 or IPv6 address", v);
        return copy_str(n->addr, sizeof(n->addr), v, pc);
    }
    if (strcmp(name, "methods") == 0)
        return parse_methods(v, &n->methods, pc);
    if (strcmp(name, "port") == 0)
        return parse_port(v, &n->port, pc);
    if (strcmp(name, "tls_port") == 0)
        return parse_port(v, &n->tls_port, pc);
    if (strcmp(name, "http_port") == 0)
        return parse_port(v, &n->http_port, pc);
    if (strcmp(name, "dns_port") == 0)
        return parse_port(v, &n->dns_port, pc);
    if (strcmp(name, "https") == 0)
        return parse_bool(v, &n->https, pc);
    if (strcmp(name, "path") == 0) {
        if (!path_ok(v))
            return fail(pc,
                        "path: '%s' must start with '/' and hold only visible ASCII, "
                        "255 characters at most",
                        v);
        return copy_str(n->path, sizeof(n->path), v, pc);
    }
    if (strcmp(name, "header") == 0) {
        if (!token_ok(v))
            return fail(pc, "header: '%s' is not an HTTP header name", v);
        return copy_str(n->header, sizeof(n->header), v, pc);
    }
    if (strcmp(name, "query") == 0) {
        if (!proto_host_valid(v))
            return fail(pc, "query: '%s' is not a DNS name", v);
        return copy_str(n->query, sizeof(n->query), v, pc);
    }
    if (strcmp(name, "qtype") == 0) {
        if (strcasecmp(v, "A") == 0)
            n->qtype = 1; /* RFC 1035 3.2.2 */
        else if (strcasecmp(v, "AAAA") == 0)
            n->qtype = 28; /* RFC 3596 2.1 */
        else
            return fail(pc, "qtype must be A or AAAA, not '%s'", v);
        return 0;
    }
    if (strcmp(name, "interval_ms") == 0)
        return parse_u32(v, 10, 3600000, &n->interval_ms, pc);
    if (strcmp(name, "timeout_ms") == 0)
        return parse_u32(v, 1, 60000, &n->timeout_ms, pc);
    snprintf(pc->reason, sizeof(pc->reason), "unknown key '%s' in [content %s]", name,
             n->id);
    return -1;
}

/*
 * inih's reader: fgets that counts lines and opens a content node at its
 * header, the way inih reads a section name (the text between '[' and the
 * first ']', untrimmed).  Returning NULL ends the parse early, after an
 * error that pc->reason tells.
 */
static char *read_line(char *str, int num, void *stream)
{
    struct parse_ctx *pc = stream;
    const char *p, *end;
    char id[PROTO_ID_MAX + 2];

    if (pc->reason[0] != '\0' || fgets(str, num, pc->file) == NULL)
        return NULL;
    if (pc->mid_line) { /* the rest of a line longer than inih's buffer */
        pc->mid_line = strchr(str, '\n') == NULL;
        return str;
    }
    pc->line++;
    pc->mid_line = strchr(str, '\n') == NULL;
    p = str;
    if (pc->line == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3; /* a UTF-8 byte order mark, which inih skips too */
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '[' || strncmp(p + 1, CONTENT_PREFIX, strlen(CONTENT_PREFIX)) != 0)
        return str;
    p += 1 + strlen(CONTENT_PREFIX);
    end = strchr(p, ']');
    if (end == NULL)
        return str; /* inih reports the syntax error */
    /* One octet more than an id may have: a longer one stays invalid. */
    snprintf(id, sizeof(id), "%.*s", (int)(end - p), p);
    if (begin_content(pc, id) < 0) {
        pc->err_line = pc->line;
        return NULL;
    }
    pc->cur = pc->cfg->ncontent - 1;
    return str;
}

/* A list of prefixes, separated by spaces or commas, into v (at most
 * CTL_PREFIX_MAX); 0 or -1 with the reason. */
static int parse_prefixes(const char *v, struct ctl_prefix *out, size_t *n,
                          struct parse_ctx *pc)
{
    char buf[4096], *save = NULL, *tok;

    if (strlen(v) >= sizeof(buf))
        return fail(pc, "list too long%s", "");
    strcpy(buf, v);
    *n = 0;
    for (tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
        if (*n == CTL_PREFIX_MAX)
            return fail(pc, "more than %s prefixes", "32");
        if (ctl_prefix_parse(tok, &out[(*n)++]) < 0)
            return fail(pc, "'%s' is not a prefix ADDRESS/LENGTH without host bits", tok);
    }
    return *n == 0 ? fail(pc, "an empty list of prefixes%s", "") : 0;
}

/* probe.ID = PREFIX ...: that probe's own list. */
static int set_probe_prefixes(struct parse_ctx *pc, const char *id, const char *v)
{
    struct ctl_exchange *x = &pc->cfg->exchange;
    struct ctl_probe_prefixes *p;

    if (!proto_id_valid(id))
        return fail(pc, "'%s' is not a probe id", id);
    for (size_t i = 0; i < x->nprobes; i++)
        if (strcmp(x->probes[i].id, id) == 0)
            return fail(pc, "probe.%s is set twice", id);
    p = realloc(x->probes, (x->nprobes + 1) * sizeof(*p));
    if (p == NULL)
        return fail(pc, "out of memory%s", "");
    x->probes = p;
    p = &x->probes[x->nprobes];
    memset(p, 0, sizeof(*p));
    strcpy(p->id, id);
    if (parse_prefixes(v, p->v, &p->n, pc) < 0)
        return -1;
    x->nprobes++;
    return 0;
}

/* stamp_ports = LO-HI */
static int parse_port_range(const char *v, struct ctl_exchange *x, struct parse_ctx *pc)
{
    char lo[8], hi[8];
    const char *dash = strchr(v, '-');
    unsigned long a, b;

    if (dash == NULL || dash - v >= (long)sizeof(lo) || strlen(dash + 1) >= sizeof(hi))
        return fail(pc, "'%s' is not a port range LOW-HIGH", v);
    snprintf(lo, sizeof(lo), "%.*s", (int)(dash - v), v);
    snprintf(hi, sizeof(hi), "%s", dash + 1);
    if (parse_uint(lo, 1, 65535, &a, pc) < 0 || parse_uint(hi, a, 65535, &b, pc) < 0)
        return -1;
    x->port_lo = (uint16_t)a;
    x->port_hi = (uint16_t)b;
    return 0;
}

static int set_exchange(struct parse_ctx *pc, const char *name, const char *v)
{
    struct ctl_exchange *x = &pc->cfg->exchange;

    if (strcmp(name, "prefixes") == 0)
        return parse_prefixes(v, x->prefixes, &x->nprefixes, pc);
    if (strncmp(name, "probe.", 6) == 0)
        return set_probe_prefixes(pc, name + 6, v);
    if (strcmp(name, "stamp_ports") == 0)
        return parse_port_range(v, x, pc);
    if (strcmp(name, "address_change_interval") == 0)
        return parse_u32(v, 0, 86400, &x->addr_change_s, pc);
    if (strcmp(name, "hello_burst") == 0)
        return parse_u32(v, 1, 1000, &x->hello_burst, pc);
    if (strcmp(name, "hello_interval") == 0)
        return parse_u32(v, 1, 3600, &x->hello_every_s, pc);
    if (strcmp(name, "backlog_rate") == 0)
        return parse_u32(v, 1, 1000000, &x->backlog_rate, pc);
    return fail(pc, "unknown key '%s' in [exchange]", name);
}

/* One key of a section: 0, or -1 with the reason in pc->reason. */
static int entry(struct parse_ctx *pc, const char *section, const char *name,
                 const char *value)
{

    if (name == NULL)
        return 0;
    if (strcmp(section, "controller") == 0)
        return set_controller(pc, name, value);
    if (strcmp(section, "mesh") == 0)
        return set_mesh(pc, name, value);
    if (strcmp(section, "exchange") == 0)
        return set_exchange(pc, name, value);
    if (strcmp(section, "store") == 0)
        return set_store(pc, name, value);
    if (strncmp(section, CONTENT_PREFIX, strlen(CONTENT_PREFIX)) == 0) {
        /* read_line opened it at its header (an id it refused stopped the
         * parse): by index, since inih cuts section names at 49 octets. */
        if (pc->cur >= pc->cfg->ncontent)
            return fail(pc, "[%s] is not [content ID]", section);
        return set_content(pc, &pc->cfg->content[pc->cur], name, value);
    }
    if (strcmp(section, "content") == 0)
        return fail(pc, "a content section names its node: [content ID]%s", "");
    return fail(pc, "unknown section [%s]", section);
}

/* inih callback: 1 to go on, 0 to report an error on this line. */
static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *pc = user;

    if (pc->reason[0] != '\0')
        return 0;
    if (entry(pc, section, name, value) == 0)
        return 1;
    pc->err_line = pc->line;
    return 0;
}

static void set_defaults(struct ctl_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    proto_addr_parse("*", CTL_CHANNEL_PORT, &cfg->listen_addr, &cfg->listen_len);
    proto_addr_parse("127.0.0.1", CTL_HTTP_PORT, &cfg->http_addr, &cfg->http_len);
    strcpy(cfg->log_level, "info");
    strcpy(cfg->user, PRIVS_USER_DEFAULT);
    cfg->heartbeat_s = 10;
    cfg->idle_s = 35;
    cfg->grace_s = 120;
    cfg->limits = (struct ctl_limits){.handshake_s = 5,
                                      .pending_max = 256,
                                      .pending_per_source = 16,
                                      .http_max = 256,
                                      .http_per_client = 16,
                                      .http_timeout_s = 10};
    cfg->mesh = (struct ctl_mesh){.window_s = 10,
                                  .interval_ms = 1000,
                                  .timeout_ms = 1000,
                                  .size = PROTO_STAMP_BASE_LEN,
                                  .dscp = 0};
    cfg->retention = (struct ctl_retention){
        .raw_s = CTL_KEEP_RAW_S,
        .level_s = {CTL_KEEP_MINUTE_S, CTL_KEEP_HOUR_S, CTL_KEEP_DAY_S}};
    cfg->exchange = (struct ctl_exchange){.port_lo = 862,
                                          .port_hi = 65535,
                                          .addr_change_s = 60,
                                          .hello_burst = 10,
                                          .hello_every_s = 6,
                                          .backlog_rate = 200};
}

static const char *check(const struct ctl_config *cfg)
{
    if (cfg->ca[0] == '\0')
        return "[controller] ca is required";
    if (cfg->cert[0] == '\0')
        return "[controller] cert is required";
    if (cfg->key[0] == '\0')
        return "[controller] key is required";
    if (cfg->database[0] == '\0')
        return "[controller] database is required";
    if (cfg->heartbeat_s >= cfg->idle_s)
        return "[controller] heartbeat must be shorter than idle_timeout";
    if (cfg->limits.pending_per_source > cfg->limits.pending_max)
        return "[controller] max_pending_per_source must not exceed max_pending";
    if (cfg->limits.http_per_client > cfg->limits.http_max)
        return "[controller] http_max_per_client must not exceed http_max_connections";
    /* A window must close after its last reply could arrive. */
    if ((uint64_t)cfg->mesh.timeout_ms >= (uint64_t)cfg->mesh.window_s * 1000)
        return "[mesh] timeout_ms must be shorter than the window";
    return NULL;
}

/*
 * What a content node needs beyond each key's own checks, once its section
 * is complete; fills in the defaults that depend on other keys.  Writes the
 * reason into why and returns -1 when something is missing.
 */
static int finish_content(const struct ctl_config *cfg, struct ctl_content *n, char *why,
                          size_t len)
{
    uint64_t window_ms = (uint64_t)cfg->mesh.window_s * 1000;
    int dns = (n->methods & (1u << PROTO_METHOD_DNS)) != 0;

    if (n->host[0] == '\0' && n->addr[0] == '\0')
        return snprintf(why, len, "[content %s] needs a host or an address", n->id), -1;
    /* The probe asks the resolver at address: a name alone tells no server. */
    if (dns && n->addr[0] == '\0')
        return snprintf(why, len,
                        "[content %s] lists dns, which needs an address (the resolver "
                        "to ask)",
                        n->id),
               -1;
    if (dns && n->query[0] == '\0' && n->host[0] == '\0')
        return snprintf(why, len,
                        "[content %s] lists dns without a host: query names what to ask",
                        n->id),
               -1;
    if (n->query[0] == '\0')
        strcpy(n->query, n->host);
    if (n->http_port == 0)
        n->http_port = n->https ? 443 : 80;
    /* A window must close after its last answer could arrive; unset, the
     * timeout keeps below even a short window. */
    if (n->timeout_ms == 0)
        n->timeout_ms =
            (uint32_t)(window_ms / 2 < CONTENT_TIMEOUT_MS ? window_ms / 2
                                                          : CONTENT_TIMEOUT_MS);
    if (n->timeout_ms >= window_ms)
        return snprintf(why, len,
                        "[content %s] timeout_ms must be shorter than the window", n->id),
               -1;
    return 0;
}

void ctl_config_free(struct ctl_config *cfg)
{
    free(cfg->exchange.probes);
    cfg->exchange.probes = NULL;
    cfg->exchange.nprobes = 0;
    free(cfg->content);
    cfg->content = NULL;
    cfg->ncontent = 0;
}

int ctl_config_load(const char *path, struct ctl_config *cfg, char *err, size_t errlen)
{
    struct parse_ctx pc = {.cfg = cfg};
    char why[256];
    const char *bad;
    int line, rc = -1;

    set_defaults(cfg);
    pc.file = fopen(path, "r");
    if (pc.file == NULL)
        return snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)), -1;
    line = ini_parse_stream(read_line, &pc, on_entry, &pc);
    fclose(pc.file);
    if (line == -2) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    if (line > 0 || pc.reason[0] != '\0') {
        /* Our own line count where we know it: inih's counts a line longer
         * than its buffer twice. */
        snprintf(err, errlen, "%s:%d: %s", path, pc.err_line ? pc.err_line : line,
                 pc.reason[0] ? pc.reason : "syntax error");
        goto done;
    }
    bad = check(cfg);
    if (bad != NULL) {
        snprintf(err, errlen, "%s: %s", path, bad);
        goto done;
    }
    for (size_t i = 0; i < cfg->ncontent; i++) {
        if (finish_content(cfg, &cfg->content[i], why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, cfg->content[i].line, why);
            goto done;
        }
    }
    rc = 0;
done:
    if (rc < 0)
        ctl_config_free(cfg);
    return rc;
}
