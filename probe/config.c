/*
 * config.c - the probe's INI configuration.
 *
 *   [probe]
 *   id = karachi-1                  ; required, [A-Za-z0-9._-]{1,64}, = certificate CN
 *   name = Karachi member 1         ; optional display name
 *   controller = 127.0.0.1:7862     ; required, numeric address, port default 7862
 *   controller_name = 127.0.0.1     ; optional, what the controller certificate matches
 *   ca = ca.pem                     ; required
 *   cert = probe.pem                ; required
 *   key = probe.key                 ; required
 *   stamp_listen = 127.0.1.1:8620   ; default *:862
 *   addresses = 127.0.1.1, ::1      ; announced; default the stamp_listen address
 *   latitude = 24.86                ; optional, with longitude
 *   longitude = 67.01
 *   stamp_key_file = stamp.key      ; 64 hex digits: authenticated STAMP only
 *   stamp_mode = stateless          ; or stateful: own sequence numbers per session
 *   stamp_legacy = no               ; yes: answer TWAMP-Light requests of 41-43 octets
 *   stamp_rate = 2000               ; answers per second per source (burst twice that)
 *   stamp_rate_total = 10000        ; answers per second over all sources (burst twice)
 *   resolvers = 127.0.0.1, [::1]:5353 ; names: these resolvers (port 53 default),
 *                                   ; not /etc/resolv.conf
 *   log_level = info                ; error, warn, info, debug
 *   content_ca = content-ca.pem     ; tls, http: verify content nodes with this CA,
 *                                   ; not the system store
 *   spool_dir = /var/spool/ixmesh-probe ; records until the controller has them
 *   spool_max = 256M                ; its bound, octets with K, M or G (128K..1024G)
 *   user = ixmesh                   ; started as root, it becomes this user
 *   allow_targets = 0.0.0.0/0, ::/0 ; policy.c: where tasks may send ("none": nowhere)
 *   allow_local = none              ; tcp/tls/http/dns to this host only within these
 *   max_rate = 1000                 ; packets/s over all tasks
 *   max_bitrate = 8M                ; bits/s over all tasks, with K, M or G (x1000)
 *   min_interval = 100              ; ms, the shortest task interval
 *   max_size = 512                  ; octets, the largest stamp or icmp payload
 *   max_tasks = 2048                ; tasks in one list
 *   allow_dscp = all                ; DSCP values tasks may mark: "0, 8-15, 46"
 */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"

struct parse_ctx {
    struct probe_config *cfg;
    char reason[256];
    int has_lat, has_lon;
};

static int copy_str(char *dst, size_t len, const char *v, struct parse_ctx *pc)
{
    if (strlen(v) >= len || v[0] == '\0') {
        snprintf(pc->reason, sizeof(pc->reason), "value must be 1 to %zu characters",
                 len - 1);
        return -1;
    }
    strcpy(dst, v);
    return 0;
}

static int parse_rate(const char *v, uint32_t *out, struct parse_ctx *pc)
{
    char *end;
    unsigned long x;

    errno = 0;
    x = strtoul(v, &end, 10);
    if (v[0] < '1' || v[0] > '9' || errno != 0 || *end != '\0' || x > 1000000) {
        snprintf(pc->reason, sizeof(pc->reason),
                 "'%s' is not a rate from 1 to 1000000 per second", v);
        return -1;
    }
    *out = (uint32_t)x;
    return 0;
}

/* A size in octets, with an optional K, M or G (powers of 1024). */
static int parse_size(const char *v, uint64_t lo, uint64_t hi, uint64_t *out,
                      struct parse_ctx *pc)
{
    static const char units[] = "KMG";
    char *end;
    const char *u;
    unsigned long long x;

    errno = 0;
    x = strtoull(v, &end, 10);
    if (v[0] >= '0' && v[0] <= '9' && errno == 0 && *end != '\0' && end[1] == '\0' &&
        (u = strchr(units, *end)) != NULL && x <= UINT64_MAX >> 30) {
        x <<= 10 * (u - units + 1);
        end++;
    }
    if (v[0] < '0' || v[0] > '9' || errno != 0 || *end != '\0' || x < lo || x > hi) {
        snprintf(pc->reason, sizeof(pc->reason),
                 "'%s' is not a size from %lluK to %lluG (octets, or with K, M or G)", v,
                 (unsigned long long)lo >> 10, (unsigned long long)hi >> 30);
        return -1;
    }
    *out = x;
    return 0;
}

/* A whole number from lo to hi, or with K, M or G (powers of 1000) when
 * metric is set. */
static int parse_count(const char *v, uint64_t lo, uint64_t hi, int metric, uint64_t *out,
                       struct parse_ctx *pc)
{
    static const char units[] = "KMG";
    static const uint64_t mult[] = {1000ull, 1000000ull, 1000000000ull};
    char *end;
    const char *u;
    unsigned long long x;

    errno = 0;
    x = strtoull(v, &end, 10);
    if (metric && end != v && *end != '\0' && end[1] == '\0' &&
        (u = strchr(units, *end)) != NULL && x <= hi) {
        x *= mult[u - units];
        end++;
    }
    if (v[0] < '0' || v[0] > '9' || errno != 0 || *end != '\0' || x < lo || x > hi) {
        snprintf(pc->reason, sizeof(pc->reason),
                 "'%s' is not a number from %llu to %llu%s", v, (unsigned long long)lo,
                 (unsigned long long)hi, metric ? " (K, M or G allowed)" : "");
        return -1;
    }
    *out = x;
    return 0;
}

/* The policy's keys (policy.c); 1 when name is not one of them. */
static int set_policy_key(struct parse_ctx *pc, const char *name, const char *v)
{
    struct probe_policy *pol = &pc->cfg->policy;
    uint64_t x = 0; /* stored even when refused: the whole file is refused then */
    int rc;

    if (strcmp(name, "allow_targets") == 0)
        rc = probe_prefix_list_parse(v, pol->targets, PROBE_PREFIX_MAX, &pol->ntargets,
                                     pc->reason, sizeof(pc->reason));
    else if (strcmp(name, "allow_local") == 0)
        rc = probe_prefix_list_parse(v, pol->local, PROBE_PREFIX_MAX, &pol->nlocal,
                                     pc->reason, sizeof(pc->reason));
    else if (strcmp(name, "max_rate") == 0)
        rc = parse_count(v, 1, 1000000, 0, &x, pc), pol->max_rate = (uint32_t)x;
    else if (strcmp(name, "max_bitrate") == 0)
        rc = parse_count(v, 1000, 100000000000ull, 1, &x, pc), pol->max_bitrate = x;
    else if (strcmp(name, "min_interval") == 0)
        rc = parse_count(v, 10, 3600000, 0, &x, pc), pol->min_interval_ms = (uint32_t)x;
    else if (strcmp(name, "max_size") == 0)
        rc = parse_count(v, 0, 1472, 0, &x, pc), pol->max_size = (uint32_t)x;
    else if (strcmp(name, "allow_dscp") == 0)
        rc = probe_dscp_list_parse(v, &pol->dscp, pc->reason, sizeof(pc->reason));
    else if (strcmp(name, "max_tasks") == 0)
        rc = parse_count(v, 0, PROTO_TASKS_MAX, 0, &x, pc), pol->max_tasks = (uint32_t)x;
    else
        return 1;
    return rc < 0 ? -1 : 0;
}

static int parse_coord(const char *v, double lim, double *out, struct parse_ctx *pc)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (errno != 0 || *end != '\0' || end == v || !isfinite(d) || fabs(d) > lim) {
        snprintf(pc->reason, sizeof(pc->reason), "'%s' is not a coordinate in [-%g, %g]",
                 v, lim, lim);
        return -1;
    }
    *out = d;
    return 0;
}

/* Adds each comma- or space-separated numeric address of v. */
static int parse_addresses(const char *v, struct parse_ctx *pc)
{
    struct probe_config *cfg = pc->cfg;
    char tmp[1024];
    char *save = NULL;

    if (strlen(v) >= sizeof(tmp))
        return snprintf(pc->reason, sizeof(pc->reason), "address list too long"), -1;
    strcpy(tmp, v);
    cfg->naddrs = 0;
    for (char *tok = strtok_r(tmp, ", \t", &save); tok;
         tok = strtok_r(NULL, ", \t", &save)) {
        struct sockaddr_storage ss;
        socklen_t sl;

        if (cfg->naddrs == PROTO_ADDR_MAX) {
            snprintf(pc->reason, sizeof(pc->reason), "more than %d addresses",
                     PROTO_ADDR_MAX);
            return -1;
        }
        /* One colon is IPv4 with a port; IPv6 has at least two. */
        if (strchr(tok, ':') != NULL && strchr(tok, ':') == strrchr(tok, ':')) {
            snprintf(pc->reason, sizeof(pc->reason),
                     "'%s': give addresses without a port", tok);
            return -1;
        }
        if (proto_addr_parse(tok, 1, &ss, &sl) < 0 ||
            proto_addr_ntop((struct sockaddr *)&ss, cfg->addrs[cfg->naddrs],
                            PROTO_ADDRSTR_MAX) < 0) {
            snprintf(pc->reason, sizeof(pc->reason), "'%s' is not a numeric IP address",
                     tok);
            return -1;
        }
        cfg->naddrs++;
    }
    return 0;
}

/* One of two words: *out = 0 for the first, 1 for the second. */
static int parse_choice(const char *v, const char *no, const char *yes, int *out,
                        struct parse_ctx *pc)
{
    if (strcmp(v, no) == 0 || strcmp(v, yes) == 0) {
        *out = strcmp(v, yes) == 0;
        return 0;
    }
    snprintf(pc->reason, sizeof(pc->reason), "'%s' is neither %s nor %s", v, no, yes);
    return -1;
}

static int parse_sockaddr(const char *v, uint16_t port, struct sockaddr_storage *ss,
                          socklen_t *len, struct parse_ctx *pc)
{
    if (proto_addr_parse(v, port, ss, len) == 0)
        return 0;
    snprintf(pc->reason, sizeof(pc->reason),
             "'%s' is not ADDRESS[:PORT] with a numeric address (IPv6 in brackets)", v);
    return -1;
}

static int set_key(struct parse_ctx *pc, const char *name, const char *v)
{
    struct probe_config *cfg = pc->cfg;

    if (strcmp(name, "id") == 0) {
        if (!proto_id_valid(v))
            return snprintf(pc->reason, sizeof(pc->reason),
                            "id must be 1-64 of A-Z a-z 0-9 . _ -"),
                   -1;
        return copy_str(cfg->id, sizeof(cfg->id), v, pc);
    }
    if (strcmp(name, "name") == 0)
        return copy_str(cfg->name, sizeof(cfg->name), v, pc);
    if (strcmp(name, "controller") == 0) {
        if (copy_str(cfg->controller, sizeof(cfg->controller), v, pc) < 0)
            return -1;
        return parse_sockaddr(v, PROBE_CONTROLLER_PORT, &cfg->controller_addr,
                              &cfg->controller_len, pc);
    }
    if (strcmp(name, "controller_name") == 0)
        return copy_str(cfg->controller_name, sizeof(cfg->controller_name), v, pc);
    if (strcmp(name, "ca") == 0)
        return copy_str(cfg->ca, sizeof(cfg->ca), v, pc);
    if (strcmp(name, "cert") == 0)
        return copy_str(cfg->cert, sizeof(cfg->cert), v, pc);
    if (strcmp(name, "key") == 0)
        return copy_str(cfg->key, sizeof(cfg->key), v, pc);
    if (strcmp(name, "stamp_listen") == 0)
        return parse_sockaddr(v, PROBE_STAMP_PORT, &cfg->stamp_addr, &cfg->stamp_len, pc);
    if (strcmp(name, "addresses") == 0)
        return parse_addresses(v, pc);
    if (strcmp(name, "stamp_key_file") == 0)
        return copy_str(cfg->stamp_key_file, sizeof(cfg->stamp_key_file), v, pc);
    if (strcmp(name, "stamp_mode") == 0)
        return parse_choice(v, "stateless", "stateful", &cfg->stamp_stateful, pc);
    if (strcmp(name, "stamp_legacy") == 0)
        return parse_choice(v, "no", "yes", &cfg->stamp_legacy, pc);
    if (strcmp(name, "stamp_rate") == 0)
        return parse_rate(v, &cfg->stamp_rate, pc);
    if (strcmp(name, "stamp_rate_total") == 0)
        return parse_rate(v, &cfg->stamp_rate_total, pc);
    if (strcmp(name, "content_ca") == 0) {
        /* Checked here, so that the line is named, not the first TLS attempt. */
        if (access(v, R_OK) < 0)
            return snprintf(pc->reason, sizeof(pc->reason), "content_ca '%s': %s", v,
                            strerror(errno)),
                   -1;
        return copy_str(cfg->content_ca, sizeof(cfg->content_ca), v, pc);
    }
    if (strcmp(name, "latitude") == 0)
        return pc->has_lat = 1, parse_coord(v, 90, &cfg->lat, pc);
    if (strcmp(name, "longitude") == 0)
        return pc->has_lon = 1, parse_coord(v, 180, &cfg->lon, pc);
    if (strcmp(name, "resolvers") == 0) {
        struct sockaddr_storage ss[PROTO_ADDR_MAX];
        size_t n;

        if (probe_dns_servers_parse(v, ss, PROTO_ADDR_MAX, &n, pc->reason,
                                    sizeof(pc->reason)) < 0)
            return -1;
        return copy_str(cfg->resolvers, sizeof(cfg->resolvers), v, pc);
    }
    if (strcmp(name, "spool_dir") == 0)
        return copy_str(cfg->spool_dir, sizeof(cfg->spool_dir), v, pc);
    if (strcmp(name, "user") == 0) {
        if (privs_user_refused(v) != NULL)
            return snprintf(pc->reason, sizeof(pc->reason), "user '%.32s' %s", v,
                            privs_user_refused(v)),
                   -1;
        return copy_str(cfg->user, sizeof(cfg->user), v, pc);
    }
    if (strcmp(name, "spool_max") == 0)
        return parse_size(v, PROBE_SPOOL_MIN, PROBE_SPOOL_MAX, &cfg->spool_max, pc);
    if (strcmp(name, "log_level") == 0) {
        enum log_level l;

        if (log_level_parse(v, &l) < 0)
            return snprintf(pc->reason, sizeof(pc->reason),
                            "log_level must be error, warn, info or debug"),
                   -1;
        return copy_str(cfg->log_level, sizeof(cfg->log_level), v, pc);
    }
    if (set_policy_key(pc, name, v) <= 0)
        return pc->reason[0] != '\0' ? -1 : 0;
    snprintf(pc->reason, sizeof(pc->reason), "unknown key '%s'", name);
    return -1;
}

/* inih callback: returns 1 to go on, 0 to report an error on this line. */
static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *pc = user;

    if (pc->reason[0] != '\0')
        return 0; /* keep the first error */
    if (name == NULL)
        return 1; /* a section header alone */
    if (strcmp(section, "probe") != 0) {
        snprintf(pc->reason, sizeof(pc->reason), "unknown section [%s]", section);
        return 0;
    }
    return set_key(pc, name, value) == 0;
}

static void set_defaults(struct probe_config *cfg)
{
    socklen_t sl;

    memset(cfg, 0, sizeof(*cfg));
    proto_addr_parse("*", PROBE_STAMP_PORT, &cfg->stamp_addr, &sl);
    cfg->stamp_len = sl;
    strcpy(cfg->log_level, "info");
    cfg->stamp_rate = (uint32_t)PROBE_REFLECT_RATE;
    cfg->stamp_rate_total = (uint32_t)PROBE_REFLECT_RATE_TOTAL;
    strcpy(cfg->spool_dir, PROBE_SPOOL_DIR);
    cfg->spool_max = PROBE_SPOOL_DEFAULT;
    strcpy(cfg->user, PRIVS_USER_DEFAULT);
    probe_policy_defaults(&cfg->policy);
}

/* Fills in what follows from other keys, and checks what is required. */
static const char *finish(struct probe_config *cfg, const struct parse_ctx *pc)
{
    static const char *const required[] = {"id", "controller", "ca", "cert", "key"};
    const char *values[] = {cfg->id, cfg->controller, cfg->ca, cfg->cert, cfg->key};

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        if (values[i][0] == '\0')
            return required[i];
    if (pc->has_lat != pc->has_lon)
        return "latitude and longitude (both or neither)";
    cfg->has_location = pc->has_lat;
    if (cfg->name[0] == '\0')
        strcpy(cfg->name, cfg->id);
    if (cfg->controller_name[0] == '\0')
        proto_addr_ntop((struct sockaddr *)&cfg->controller_addr, cfg->controller_name,
                        sizeof(cfg->controller_name));
    return NULL;
}

/* Without an address list the probe announces its STAMP address, if specific. */
static int default_addresses(struct probe_config *cfg)
{
    char a[PROTO_ADDRSTR_MAX];

    if (cfg->naddrs > 0)
        return 0;
    proto_addr_ntop((struct sockaddr *)&cfg->stamp_addr, a, sizeof(a));
    if (strcmp(a, "::") == 0 || strcmp(a, "0.0.0.0") == 0)
        return -1;
    strcpy(cfg->addrs[0], a);
    cfg->naddrs = 1;
    return 0;
}

int probe_config_load(const char *path, struct probe_config *cfg, char *err,
                      size_t errlen)
{
    struct parse_ctx pc = {.cfg = cfg};
    const char *missing;
    int line;

    set_defaults(cfg);
    line = ini_parse(path, on_entry, &pc);
    if (line == -1)
        return snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)), -1;
    if (line == -2)
        return snprintf(err, errlen, "%s: out of memory", path), -1;
    if (line > 0) {
        snprintf(err, errlen, "%s:%d: %s", path, line,
                 pc.reason[0] ? pc.reason : "syntax error");
        return -1;
    }
    missing = finish(cfg, &pc);
    if (missing != NULL)
        return snprintf(err, errlen, "%s: [probe] %s is required", path, missing), -1;
    if (default_addresses(cfg) < 0)
        return snprintf(
                   err, errlen,
                   "%s: [probe] addresses is required when stamp_listen is a wildcard",
                   path),
               -1;
    return 0;
}
