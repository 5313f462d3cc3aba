/*
 * fuzz_history_args.c - the history API's request (controller/api.c and
 * analysis/history.c's ctl_parse_time()): a path and its arguments, as a
 * client sends them.
 *
 * The input is lines: the path, then "name=value" arguments.  Whatever
 * they hold, the parser answers 1, 0 or -1; a refusal says why; what it
 * accepts is a range of at most 400 days with from before to, a series of
 * at most CTL_SERIES_MAX points, and ids the protocol allows.  Each line
 * is also given to ctl_parse_time(), which must give 0 or -EINVAL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "query_io.h"

#define MAX_ARGS 8

struct args {
    char *name[MAX_ARGS], *value[MAX_ARGS];
    int n;
};

static const char *arg_of(void *arg, const char *name)
{
    struct args *a = arg;

    for (int i = 0; i < a->n; i++)
        if (strcmp(a->name[i], name) == 0)
            return a->value[i];
    return NULL;
}

static void check_accepted(const struct ctl_query_req *r)
{
    FUZZ_CHECK(memchr(r->key, '\0', sizeof(r->key)) != NULL);
    if (r->window_s > 0) {
        FUZZ_CHECK(r->window_s <= CTL_WINDOW_MAX_S);
        return;
    }
    FUZZ_CHECK(r->q.from_ms < r->q.to_ms);
    FUZZ_CHECK(r->q.to_ms - r->q.from_ms <= 400LL * 86400 * 1000);
    if (r->q.kind == CTL_Q_SERIES) {
        FUZZ_CHECK(r->q.step_ms > 0);
        FUZZ_CHECK((r->q.to_ms - r->q.from_ms) / r->q.step_ms < CTL_SERIES_MAX);
    }
    if (r->q.kind != CTL_Q_RANGE) {
        FUZZ_CHECK(proto_id_valid(r->q.src) && proto_id_valid(r->q.dst));
        FUZZ_CHECK(r->q.method >= 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ctl_config cfg = {
        .retention = {.raw_s = 21600, .level_s = {172800, 2592000, 0}}};
    struct ctl_query_req r;
    struct args a = {.n = 0};
    char why[256] = "", *s, *line, *save = NULL, *url = NULL;
    int64_t ms;
    int rc;

    if (memchr(data, '\0', size) != NULL)
        return 0;
    s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    for (line = strtok_r(s, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');

        rc = ctl_parse_time(line, &ms);
        FUZZ_CHECK(rc == 0 || rc == -EINVAL);
        if (url == NULL) {
            url = line;
        } else if (eq != NULL && a.n < MAX_ARGS) {
            *eq = '\0';
            a.name[a.n] = line;
            a.value[a.n++] = eq + 1;
        }
    }
    if (url != NULL) {
        rc = ctl_api_parse(url, arg_of, &a, &cfg, 1796623200000LL, &r, why, sizeof(why));
        FUZZ_CHECK(rc >= -1 && rc <= 1);
        if (rc < 0)
            FUZZ_CHECK(why[0] != '\0' && memchr(why, '\0', sizeof(why)) != NULL);
        if (rc > 0)
            check_accepted(&r);
    }
    free(s);
    return 0;
}
