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
 *   heartbeat = 10                 ; seconds between heartbeats, both ways
 *   idle_timeout = 35               ; a connection silent this long is closed
 *   mesh_grace = 120                ; a probe that left is still measured this long
 *
 *   [mesh]
 *   window = 10                     ; seconds per summary record
 *   interval_ms = 1000              ; STAMP packets per pair
 *   timeout_ms = 1000               ; a reply later than this is lost
 *   size = 44                       ; octets per STAMP packet
 *   dscp = 0
 *   schedule = periodic             ; or poisson: exponential gaps of mean interval_ms
 */
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"

struct parse_ctx {
    struct ctl_config *cfg;
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

/* inih callback: 1 to go on, 0 to report an error on this line. */
static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *pc = user;

    if (pc->reason[0] != '\0')
        return 0;
    if (name == NULL)
        return 1;
    if (strcmp(section, "controller") == 0)
        return set_controller(pc, name, value) == 0;
    if (strcmp(section, "mesh") == 0)
        return set_mesh(pc, name, value) == 0;
    fail(pc, "unknown section [%s]", section);
    return 0;
}

static void set_defaults(struct ctl_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    proto_addr_parse("*", CTL_CHANNEL_PORT, &cfg->listen_addr, &cfg->listen_len);
    proto_addr_parse("127.0.0.1", CTL_HTTP_PORT, &cfg->http_addr, &cfg->http_len);
    strcpy(cfg->log_level, "info");
    cfg->heartbeat_s = 10;
    cfg->idle_s = 35;
    cfg->grace_s = 120;
    cfg->mesh = (struct ctl_mesh){.window_s = 10,
                                  .interval_ms = 1000,
                                  .timeout_ms = 1000,
                                  .size = PROTO_STAMP_BASE_LEN,
                                  .dscp = 0};
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
    /* A window must close after its last reply could arrive. */
    if ((uint64_t)cfg->mesh.timeout_ms >= (uint64_t)cfg->mesh.window_s * 1000)
        return "[mesh] timeout_ms must be shorter than the window";
    return NULL;
}

int ctl_config_load(const char *path, struct ctl_config *cfg, char *err, size_t errlen)
{
    struct parse_ctx pc = {.cfg = cfg};
    const char *bad;
    int line;

    set_defaults(cfg);
    line = ini_parse(path, on_entry, &pc);
    if (line == -1)
        return snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)), -1;
    if (line == -2)
        return snprintf(err, errlen, "%s: out of memory", path), -1;
    if (line > 0)
        return snprintf(err, errlen, "%s:%d: %s", path, line,
                        pc.reason[0] ? pc.reason : "syntax error"),
               -1;
    bad = check(cfg);
    if (bad != NULL)
        return snprintf(err, errlen, "%s: %s", path, bad), -1;
    return 0;
}
