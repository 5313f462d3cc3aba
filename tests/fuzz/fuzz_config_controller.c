/*
 * fuzz_config_controller.c - the controller's INI configuration loader.
 *
 * ctl_config_load() takes a file name, so the input goes into a memory
 * file first (fuzz_file()).  An accepted configuration must hold what the
 * planner and the listeners rely on; a refused one must say why.
 */
#include <string.h>

#include "controller.h"
#include "fuzz.h"

static int cstr_ok(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);

    return n > 0 && n < cap;
}

static void check_prefixes(const struct ctl_prefix *v, size_t n)
{
    FUZZ_CHECK(n <= CTL_PREFIX_MAX);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((v[i].family == AF_INET && v[i].len <= 32) ||
                   (v[i].family == AF_INET6 && v[i].len <= 128));
}

/* [exchange]: prefixes that guard.c can match, a port range, the rates. */
static void check_exchange(const struct ctl_exchange *x)
{
    check_prefixes(x->prefixes, x->nprefixes);
    for (size_t i = 0; i < x->nprobes; i++) {
        FUZZ_CHECK(proto_id_valid(x->probes[i].id) && x->probes[i].n > 0);
        check_prefixes(x->probes[i].v, x->probes[i].n);
    }
    FUZZ_CHECK(x->port_lo >= 1 && x->port_lo <= x->port_hi);
    FUZZ_CHECK(x->hello_burst >= 1 && x->hello_every_s >= 1 && x->backlog_rate >= 1);
}

static void check_config(const struct ctl_config *cfg)
{
    const struct ctl_mesh *m = &cfg->mesh;

    FUZZ_CHECK(cstr_ok(cfg->ca, sizeof(cfg->ca)) &&
               cstr_ok(cfg->cert, sizeof(cfg->cert)));
    FUZZ_CHECK(cstr_ok(cfg->key, sizeof(cfg->key)));
    FUZZ_CHECK(cstr_ok(cfg->database, sizeof(cfg->database)));
    FUZZ_CHECK(cstr_ok(cfg->log_level, sizeof(cfg->log_level)));
    FUZZ_CHECK(cfg->listen_len > 0 && cfg->http_len > 0);
    FUZZ_CHECK(m->window_s >= 1 && m->window_s <= 3600);
    FUZZ_CHECK(m->interval_ms >= 10 && m->interval_ms <= 3600000);
    FUZZ_CHECK(m->timeout_ms >= 1 &&
               (uint64_t)m->timeout_ms < (uint64_t)m->window_s * 1000);
    FUZZ_CHECK(m->size >= PROTO_STAMP_BASE_LEN && m->size <= PROTO_STAMP_MAX_LEN);
    FUZZ_CHECK(m->dscp <= 63);
    check_exchange(&cfg->exchange);
    for (size_t i = 0; i < cfg->ncontent; i++) {
        const struct ctl_content *c = &cfg->content[i];

        FUZZ_CHECK(proto_id_valid(c->id) && (c->host[0] != '\0' || c->addr[0] != '\0'));
        FUZZ_CHECK(c->methods != 0 && (c->methods & (1u << PROTO_METHOD_STAMP)) == 0);
        FUZZ_CHECK(c->host[0] == '\0' || proto_host_valid(c->host));
        FUZZ_CHECK(!(c->methods & (1u << PROTO_METHOD_DNS)) || c->addr[0] != '\0');
        FUZZ_CHECK(c->path[0] == '/');
        FUZZ_CHECK(ctl_config_content(cfg, c->id) == c);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctl_config cfg;
    char err[512] = "";

    if (ctl_config_load(fuzz_file(data, size), &cfg, err, sizeof(err)) == 0) {
        check_config(&cfg);
        ctl_config_free(&cfg);
    } else
        FUZZ_CHECK(err[0] != '\0');
    return 0;
}
