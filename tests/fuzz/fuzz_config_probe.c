/*
 * fuzz_config_probe.c - the probe's INI configuration loader.
 *
 * probe_config_load() takes a file name, so the input goes into a memory
 * file first (fuzz_file()).  An accepted configuration must hold what the
 * probe relies on later; a refused one must say why.
 */
#include <string.h>

#include "fuzz.h"
#include "probe.h"

static void check_config(const struct probe_config *cfg)
{
    uint32_t i;

    FUZZ_CHECK(proto_id_valid(cfg->id));
    FUZZ_CHECK(strnlen(cfg->name, sizeof(cfg->name)) < sizeof(cfg->name));
    FUZZ_CHECK(cfg->name[0] != '\0' && cfg->controller[0] != '\0');
    FUZZ_CHECK(cfg->ca[0] != '\0' && cfg->cert[0] != '\0' && cfg->key[0] != '\0');
    FUZZ_CHECK(strnlen(cfg->controller_name, sizeof(cfg->controller_name)) <
               sizeof(cfg->controller_name));
    FUZZ_CHECK(cfg->controller_len > 0 && cfg->stamp_len > 0);
    FUZZ_CHECK(cfg->naddrs >= 1 && cfg->naddrs <= PROTO_ADDR_MAX);
    for (i = 0; i < cfg->naddrs; i++)
        FUZZ_CHECK(strnlen(cfg->addrs[i], PROTO_ADDRSTR_MAX) < PROTO_ADDRSTR_MAX);
    if (cfg->has_location)
        FUZZ_CHECK(cfg->lat >= -90 && cfg->lat <= 90 && cfg->lon >= -180 &&
                   cfg->lon <= 180);
    FUZZ_CHECK(strnlen(cfg->log_level, sizeof(cfg->log_level)) < sizeof(cfg->log_level));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct probe_config cfg;
    char err[512] = "";

    if (probe_config_load(fuzz_file(data, size), &cfg, err, sizeof(err)) == 0)
        check_config(&cfg);
    else
        FUZZ_CHECK(err[0] != '\0');
    return 0;
}
