/*
 * config_test.c - golden files: each config/NAME.in is loaded and what the
 * probe makes of it, or the error it reports, must equal config/NAME.ok.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_probe.h"
#include "probe.h"

static void describe(const struct probe_config *c, char *out, size_t len)
{
    char ctl[PROTO_ADDRSTR_MAX], stamp[PROTO_ADDRSTR_MAX], addrs[512] = "",
                                                           loc[64] = "none";

    proto_addr_ntop((const struct sockaddr *)&c->controller_addr, ctl, sizeof(ctl));
    proto_addr_ntop((const struct sockaddr *)&c->stamp_addr, stamp, sizeof(stamp));
    for (uint32_t i = 0; i < c->naddrs; i++) {
        strcat(addrs, i ? "," : "");
        strcat(addrs, c->addrs[i]);
    }
    if (c->has_location)
        snprintf(loc, sizeof(loc), "%g,%g", c->lat, c->lon);
    snprintf(out, len,
             "id=%s name=%s controller=%s port=%u stamp=%s port=%u addrs=%s location=%s "
             "rate=%u spool=%s max=%llu",
             c->id, c->name, ctl,
             proto_addr_port((const struct sockaddr *)&c->controller_addr), stamp,
             proto_addr_port((const struct sockaddr *)&c->stamp_addr), addrs, loc,
             c->stamp_rate, c->spool_dir, (unsigned long long)c->spool_max);
    /* Only when not the default, so that the other goldens need not say it. */
    if (c->stamp_rate_total != (uint32_t)PROBE_REFLECT_RATE_TOTAL && strlen(out) < len)
        snprintf(out + strlen(out), len - strlen(out), " rate_total=%u",
                 c->stamp_rate_total);
}

/* The policy (policy.c), appended only when it is not the default, so
 * that the goldens of other keys do not spell it out. */
static void describe_policy(const struct probe_policy *pol, char *out, size_t len)
{
    struct probe_policy def;
    size_t at = strlen(out);

    probe_policy_defaults(&def);
    if (memcmp(pol, &def, sizeof(def)) == 0)
        return;
    at += (size_t)snprintf(out + at, len - at, " policy targets=");
    for (uint32_t i = 0; i < pol->ntargets && at < len; i++) {
        char a[PROTO_ADDRSTR_MAX];

        inet_ntop(pol->targets[i].family, pol->targets[i].addr, a, sizeof(a));
        at += (size_t)snprintf(out + at, len - at, "%s%s/%u", i ? "," : "", a,
                               pol->targets[i].len);
    }
    at += (size_t)snprintf(out + at, len - at, " local=");
    for (uint32_t i = 0; i < pol->nlocal && at < len; i++) {
        char a[PROTO_ADDRSTR_MAX];

        inet_ntop(pol->local[i].family, pol->local[i].addr, a, sizeof(a));
        at += (size_t)snprintf(out + at, len - at, "%s%s/%u", i ? "," : "", a,
                               pol->local[i].len);
    }
    if (at < len)
        snprintf(out + at, len - at,
                 " rate=%u bitrate=%llu interval=%u size=%u tasks=%u dscp=%016llx",
                 pol->max_rate, (unsigned long long)pol->max_bitrate,
                 pol->min_interval_ms, pol->max_size, pol->max_tasks,
                 (unsigned long long)pol->dscp);
}

static void read_ok(const char *in, char *out, size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%.*s.ok", (int)(strlen(in) - 3), in);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "missing %s", path);
    ck_assert_ptr_nonnull(fgets(out, (int)len, f));
    out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

START_TEST(golden_files)
{
    const char *data = getenv("IXMESH_TEST_DATA");
    struct dirent *e;
    DIR *d;
    int n = 0;

    ck_assert_msg(data != NULL, "IXMESH_TEST_DATA not set");
    ck_assert_int_eq(chdir(data), 0);
    ck_assert_int_eq(chdir("config"), 0);
    d = opendir(".");
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        struct probe_config cfg;
        char got[2048], want[2048];

        if (l < 4 || strcmp(e->d_name + l - 3, ".in") != 0)
            continue;
        if (probe_config_load(e->d_name, &cfg, got, sizeof(got)) == 0) {
            describe(&cfg, got, sizeof(got));
            describe_policy(&cfg.policy, got, sizeof(got));
        }
        read_ok(e->d_name, want, sizeof(want));
        ck_assert_msg(strcmp(got, want) == 0, "%s:\n got  %s\n want %s", e->d_name, got,
                      want);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 10);
}
END_TEST

START_TEST(missing_file)
{
    struct probe_config cfg;
    char err[256];

    ck_assert_int_eq(probe_config_load("/nonexistent/probe.ini", &cfg, err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err,
                     "/nonexistent/probe.ini: cannot open: No such file or directory");
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("files");

    tcase_add_test(tc, golden_files);
    tcase_add_test(tc, missing_file);
    suite_add_tcase(s, tc);
    return s;
}
