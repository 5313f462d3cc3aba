/*
 * config_test.c - golden files: config/NAME.in against config/NAME.ok, the
 * error message or a one-line description of what was loaded (content
 * nodes appended as "| content ID@LINE ...").
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_controller.h"

static void describe(const struct ctl_config *c, char *out, size_t len)
{
    char l[PROTO_ADDRSTR_MAX], h[PROTO_ADDRSTR_MAX];

    proto_addr_ntop((const struct sockaddr *)&c->listen_addr, l, sizeof(l));
    proto_addr_ntop((const struct sockaddr *)&c->http_addr, h, sizeof(h));
    snprintf(out, len,
             "listen=%s port=%u http=%s port=%u db=%s window=%u interval=%u timeout=%u "
             "size=%u dscp=%u schedule=%s keep=%lld,%lld,%lld,%lld",
             l, proto_addr_port((const struct sockaddr *)&c->listen_addr), h,
             proto_addr_port((const struct sockaddr *)&c->http_addr), c->database,
             c->mesh.window_s, c->mesh.interval_ms, c->mesh.timeout_ms, c->mesh.size,
             c->mesh.dscp, c->mesh.poisson ? "poisson" : "periodic",
             (long long)c->retention.raw_s, (long long)c->retention.level_s[0],
             (long long)c->retention.level_s[1], (long long)c->retention.level_s[2]);
    for (size_t i = 0; i < c->ncontent; i++) {
        const struct ctl_content *n = &c->content[i];
        size_t used = strlen(out);
        char methods[64] = "";

        for (int m = PROTO_METHOD_ICMP; m <= PROTO_METHOD_MAX; m++)
            if (n->methods & (1u << m))
                snprintf(methods + strlen(methods), sizeof(methods) - strlen(methods),
                         "%s%s", methods[0] ? "," : "", proto_method_name((uint8_t)m));
        snprintf(out + used, len - used,
                 " | content %s@%d name='%s' host=%s address=%s methods=%s port=%u "
                 "tls_port=%u http_port=%u https=%u path=%s header=%s query=%s qtype=%u "
                 "dns_port=%u interval=%u timeout=%u",
                 n->id, n->line, n->name, n->host, n->addr, methods, n->port, n->tls_port,
                 n->http_port, n->https, n->path, n->header, n->query, n->qtype,
                 n->dns_port, n->interval_ms, n->timeout_ms);
    }
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
    ck_assert_ptr_nonnull(d = opendir("."));
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        struct ctl_config cfg;
        char got[4096], want[4096] = "", ok[512];
        FILE *f;

        if (l < 4 || strcmp(e->d_name + l - 3, ".in") != 0)
            continue;
        if (ctl_config_load(e->d_name, &cfg, got, sizeof(got)) == 0) {
            describe(&cfg, got, sizeof(got));
            ctl_config_free(&cfg);
        }
        snprintf(ok, sizeof(ok), "%.*s.ok", (int)(l - 3), e->d_name);
        ck_assert_ptr_nonnull(f = fopen(ok, "r"));
        ck_assert_ptr_nonnull(fgets(want, sizeof(want), f));
        fclose(f);
        want[strcspn(want, "\n")] = '\0';
        ck_assert_msg(strcmp(got, want) == 0, "%s:\n got  %s\n want %s", e->d_name, got,
                      want);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 5);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("files");

    tcase_add_test(tc, golden_files);
    suite_add_tcase(s, tc);
    return s;
}
