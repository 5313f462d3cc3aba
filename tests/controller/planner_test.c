/*
 * planner_test.c - the full mesh: every probe measures every other, at an
 * address of a family it has, with task ids that survive a re-plan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_controller.h"

static const struct ctl_config mesh = {
    .mesh = {.window_s = 10, .interval_ms = 1000, .timeout_ms = 1000, .size = 44}};

START_TEST(full_mesh)
{
    struct proto_hello h[3];
    struct ctl_peer peers[3];
    struct proto_tasks tl;

    test_hello(&h[0], "a", "127.0.1.1");
    test_hello(&h[1], "b", "127.0.1.2");
    test_hello(&h[2], "c", "127.0.1.3");
    for (int i = 0; i < 3; i++)
        peers[i] = (struct ctl_peer){.key = 10 + i, .hello = &h[i]};
    ck_assert_int_eq(ctl_plan_tasks(peers, 3, 1, &mesh, 7, &tl), 0);
    ck_assert_uint_eq(tl.generation, 7);
    ck_assert_uint_eq(tl.window_s, 10);
    ck_assert_uint_eq(tl.ntasks, 2);
    ck_assert_str_eq(tl.tasks[0].target_id, "a");
    ck_assert_str_eq(tl.tasks[0].addr, "127.0.1.1");
    ck_assert_str_eq(tl.tasks[1].target_id, "c");
    ck_assert_uint_eq(tl.tasks[1].port, 8620);
    ck_assert_uint_eq(tl.tasks[1].method, PROTO_METHOD_STAMP);
    ck_assert_uint_ne(tl.tasks[0].id, tl.tasks[1].id);
    free(tl.tasks);
}
END_TEST

START_TEST(ids_stable_when_mesh_changes)
{
    struct proto_hello h[3];
    struct ctl_peer peers[3];
    struct proto_tasks before, after;

    test_hello(&h[0], "a", "127.0.1.1");
    test_hello(&h[1], "b", "127.0.1.2");
    test_hello(&h[2], "c", "127.0.1.3");
    for (int i = 0; i < 3; i++)
        peers[i] = (struct ctl_peer){.key = 10 + i, .hello = &h[i]};
    ctl_plan_tasks(peers, 2, 0, &mesh, 1, &before);
    ctl_plan_tasks(peers, 3, 0, &mesh, 2, &after);
    ck_assert_uint_eq(before.ntasks, 1);
    ck_assert_uint_eq(after.ntasks, 2);
    ck_assert_uint_eq(before.tasks[0].id, after.tasks[0].id);
    free(before.tasks);
    free(after.tasks);
}
END_TEST

START_TEST(address_family_must_match)
{
    struct proto_hello h[3];
    struct ctl_peer peers[3];
    struct proto_tasks tl;

    test_hello(&h[0], "v4", "192.0.2.1");
    test_hello(&h[1], "v6", "2001:db8::2");
    test_hello(&h[2], "dual", "2001:db8::3");
    strcpy(h[2].addrs[1], "192.0.2.3");
    h[2].naddrs = 2;
    for (int i = 0; i < 3; i++)
        peers[i] = (struct ctl_peer){.key = i + 1, .hello = &h[i]};
    ctl_plan_tasks(peers, 3, 0, &mesh, 1, &tl);
    ck_assert_uint_eq(tl.ntasks, 1); /* v6-only is out of reach */
    ck_assert_str_eq(tl.tasks[0].addr, "192.0.2.3");
    free(tl.tasks);
    ctl_plan_tasks(peers, 3, 2, &mesh, 1, &tl);
    ck_assert_uint_eq(tl.ntasks, 2);
    ck_assert_str_eq(tl.tasks[0].addr, "192.0.2.1");
    ck_assert_str_eq(tl.tasks[1].addr, "2001:db8::2");
    free(tl.tasks);
}
END_TEST

/* The content nodes of config/content-good.in, through the real loader. */
static void load_content(struct ctl_config *cfg)
{
    const char *data = getenv("IXMESH_TEST_DATA");
    char path[1024], err[512];

    ck_assert_msg(data != NULL, "IXMESH_TEST_DATA not set");
    snprintf(path, sizeof(path), "%s/config/content-good.in", data);
    ck_assert_msg(ctl_config_load(path, cfg, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(cfg->ncontent, 4);
}

#define ALL_CAPS                                                                         \
    (PROTO_CAP_STAMP | PROTO_CAP_ICMP | PROTO_CAP_TCP | PROTO_CAP_TLS | PROTO_CAP_HTTP | \
     PROTO_CAP_DNS)

static const struct proto_task *find_task(const struct proto_tasks *tl,
                                          const char *target, int method)
{
    for (uint32_t i = 0; i < tl->ntasks; i++)
        if (strcmp(tl->tasks[i].target_id, target) == 0 && tl->tasks[i].method == method)
            return &tl->tasks[i];
    return NULL;
}

static void assert_ids_unique(const struct proto_tasks *tl)
{
    for (uint32_t i = 0; i < tl->ntasks; i++)
        for (uint32_t j = i + 1; j < tl->ntasks; j++)
            ck_assert_msg(tl->tasks[i].id != tl->tasks[j].id,
                          "tasks %u and %u share id %u", i, j, tl->tasks[i].id);
}

START_TEST(content_task_per_node_and_method)
{
    struct ctl_config cfg;
    struct proto_hello h[2];
    struct ctl_peer peers[2];
    struct proto_tasks tl;
    const struct proto_task *t;
    struct proto_msg m = {.type = PROTO_MSG_TASKS}, back;
    uint8_t *frame;
    size_t len;
    const uint8_t *payload;
    size_t plen;

    load_content(&cfg);
    test_hello(&h[0], "a", "127.0.1.1");
    test_hello(&h[1], "b", "127.0.1.2");
    h[0].caps = h[1].caps = ALL_CAPS;
    for (int i = 0; i < 2; i++)
        peers[i] = (struct ctl_peer){.key = 10 + i, .hello = &h[i]};
    ck_assert_int_eq(ctl_plan_tasks(peers, 2, 0, &cfg, 3, &tl), 0);
    /* 1 STAMP + cdn-khi 5 + web 3 (default icmp tcp http) + resolver 1 + tls-only 2 */
    ck_assert_uint_eq(tl.ntasks, 12);
    assert_ids_unique(&tl);

    ck_assert_ptr_nonnull(t = find_task(&tl, "cdn-khi", PROTO_METHOD_ICMP));
    ck_assert_str_eq(t->addr, "2001:db8::10");
    ck_assert_str_eq(t->host, "cdn.example.net");
    ck_assert_uint_eq(t->size, CTL_ICMP_SIZE);
    ck_assert_uint_eq(t->interval_ms, 3000); /* the node's own interval_ms */
    ck_assert_uint_eq(t->timeout_ms, 1500);
    ck_assert_ptr_nonnull(t = find_task(&tl, "cdn-khi", PROTO_METHOD_TCP));
    ck_assert_uint_eq(t->port, 8080);
    ck_assert_ptr_nonnull(t = find_task(&tl, "cdn-khi", PROTO_METHOD_TLS));
    ck_assert_uint_eq(t->port, 8443);
    ck_assert_ptr_nonnull(t = find_task(&tl, "cdn-khi", PROTO_METHOD_HTTP));
    ck_assert_uint_eq(t->port, 8081);
    ck_assert_uint_eq(t->tls, 1);
    ck_assert_str_eq(t->path, "/probe/1x1.gif?ixmesh=1");
    ck_assert_str_eq(t->header, "Age");
    ck_assert_ptr_nonnull(t = find_task(&tl, "cdn-khi", PROTO_METHOD_DNS));
    ck_assert_uint_eq(t->port, 5353);
    ck_assert_str_eq(t->qname, "www.example.net");
    ck_assert_uint_eq(t->qtype, 28);

    /* Defaults: icmp paces like the mesh, the others every 5 s. */
    ck_assert_ptr_nonnull(t = find_task(&tl, "web", PROTO_METHOD_ICMP));
    ck_assert_str_eq(t->addr, "");
    ck_assert_str_eq(t->host, "www.example.org");
    ck_assert_uint_eq(t->interval_ms, cfg.mesh.interval_ms);
    ck_assert_ptr_nonnull(t = find_task(&tl, "web", PROTO_METHOD_HTTP));
    ck_assert_uint_eq(t->interval_ms, CTL_CONTENT_INTERVAL);
    ck_assert_uint_eq(t->timeout_ms, 2000);
    ck_assert_uint_eq(t->port, 80);
    ck_assert_uint_eq(t->tls, 0);
    ck_assert_str_eq(t->path, "/");
    ck_assert_str_eq(t->header, "X-Cache");
    ck_assert_ptr_null(find_task(&tl, "web", PROTO_METHOD_TLS));
    ck_assert_ptr_nonnull(t = find_task(&tl, "resolver", PROTO_METHOD_DNS));
    ck_assert_str_eq(t->addr, "192.0.2.53");
    ck_assert_uint_eq(t->port, 53);
    ck_assert_str_eq(t->qname, "example.org");
    ck_assert_uint_eq(t->qtype, 1);
    ck_assert_ptr_nonnull(t = find_task(&tl, "tls-only", PROTO_METHOD_HTTP));
    ck_assert_uint_eq(t->port, 443);
    ck_assert_uint_eq(t->tls, 1);

    /* Every task passes the wire's own rules, and comes back the same. */
    m.u.tasks = tl;
    ck_assert_int_eq(proto_msg_encode(&m, &frame, &len), 0);
    ck_assert_int_gt(proto_frame_parse(frame, len, PROTO_FRAME_MAX, &payload, &plen), 0);
    ck_assert_int_eq(proto_msg_decode(payload, plen, &back), 0);
    ck_assert_uint_eq(back.u.tasks.ntasks, tl.ntasks);
    ck_assert_mem_eq(back.u.tasks.tasks, tl.tasks, tl.ntasks * sizeof(*tl.tasks));
    proto_msg_free(&back);
    free(frame);
    free(tl.tasks);
    ctl_config_free(&cfg);
}
END_TEST

START_TEST(content_only_for_announced_methods)
{
    struct ctl_config cfg;
    struct proto_hello h;
    struct ctl_peer peer = {.key = 1, .hello = &h};
    struct proto_tasks tl;

    load_content(&cfg);
    test_hello(&h, "a", "127.0.1.1");
    h.caps = PROTO_CAP_STAMP | PROTO_CAP_TCP | PROTO_CAP_HTTP;
    ck_assert_uint_eq(ctl_content_missing(&cfg, h.caps), (1u << PROTO_METHOD_ICMP) |
                                                             (1u << PROTO_METHOD_TLS) |
                                                             (1u << PROTO_METHOD_DNS));
    ck_assert_int_eq(ctl_plan_tasks(&peer, 1, 0, &cfg, 1, &tl), 0);
    /* cdn-khi tcp http, web tcp http, tls-only http; resolver has only dns */
    ck_assert_uint_eq(tl.ntasks, 5);
    for (uint32_t i = 0; i < tl.ntasks; i++)
        ck_assert(tl.tasks[i].method == PROTO_METHOD_TCP ||
                  tl.tasks[i].method == PROTO_METHOD_HTTP);
    ck_assert_ptr_null(find_task(&tl, "resolver", PROTO_METHOD_DNS));
    free(tl.tasks);

    /* A STAMP-only probe (today's) gets no content task at all. */
    h.caps = PROTO_CAP_STAMP;
    ck_assert_int_eq(ctl_plan_tasks(&peer, 1, 0, &cfg, 1, &tl), 0);
    ck_assert_uint_eq(tl.ntasks, 0);
    free(tl.tasks);
    ctl_config_free(&cfg);
}
END_TEST

START_TEST(content_ids_stable_across_replans)
{
    struct ctl_config cfg;
    struct proto_hello h[3];
    struct ctl_peer peers[3];
    struct proto_tasks before, after;

    load_content(&cfg);
    test_hello(&h[0], "a", "127.0.1.1");
    test_hello(&h[1], "b", "127.0.1.2");
    test_hello(&h[2], "c", "127.0.1.3");
    for (int i = 0; i < 3; i++) {
        h[i].caps = ALL_CAPS;
        peers[i] = (struct ctl_peer){.key = 10 + i, .hello = &h[i]};
    }
    ck_assert_int_eq(ctl_plan_tasks(peers, 2, 0, &cfg, 1, &before), 0);
    ck_assert_int_eq(ctl_plan_tasks(peers, 3, 0, &cfg, 2, &after), 0);
    ck_assert_uint_eq(after.ntasks, before.ntasks + 1);
    assert_ids_unique(&after);
    for (uint32_t i = 0; i < before.ntasks; i++) {
        const struct proto_task *a = &before.tasks[i];
        const struct proto_task *b = find_task(&after, a->target_id, a->method);

        ck_assert_ptr_nonnull(b);
        /* equal in every field, so the probe keeps the task's state */
        ck_assert_mem_eq(a, b, sizeof(*a));
        if (a->method != PROTO_METHOD_STAMP)
            ck_assert_uint_ne(a->id & CTL_CONTENT_TASK_BIT, 0);
    }
    free(before.tasks);
    free(after.tasks);
    ctl_config_free(&cfg);
}
END_TEST

Suite *planner_suite(void)
{
    Suite *s = suite_create("planner");
    TCase *tc = tcase_create("mesh");
    TCase *content = tcase_create("content");

    tcase_add_test(tc, full_mesh);
    tcase_add_test(tc, ids_stable_when_mesh_changes);
    tcase_add_test(tc, address_family_must_match);
    suite_add_tcase(s, tc);
    tcase_add_test(content, content_task_per_node_and_method);
    tcase_add_test(content, content_only_for_announced_methods);
    tcase_add_test(content, content_ids_stable_across_replans);
    suite_add_tcase(s, content);
    return s;
}
