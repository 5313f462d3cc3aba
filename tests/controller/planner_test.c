/*
 * planner_test.c - the full mesh: every probe measures every other, at an
 * address of a family it has, with task ids that survive a re-plan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_controller.h"

static int check_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

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

/* ---- deltas ------------------------------------------------------------- */

#define DELTA_SLOTS 40

/* A mesh that changes: slot i holds member key 100 + i while present. */
struct delta_mesh {
    struct proto_hello h[DELTA_SLOTS];
    int present[DELTA_SLOTS];
    uint32_t seed;
};

static uint32_t delta_rand(struct delta_mesh *m, uint32_t n)
{
    m->seed = m->seed * 1103515245u + 12345u;
    return (m->seed >> 8) % n;
}

/* Addresses of one family or both, so some pairs cannot measure each other. */
static void delta_hello(struct delta_mesh *m, int i)
{
    char id[16], a4[32], a6[48];
    uint32_t kind = delta_rand(m, 4);

    snprintf(id, sizeof(id), "p%02d", i);
    snprintf(a4, sizeof(a4), "192.0.2.%u", 1 + delta_rand(m, 250));
    snprintf(a6, sizeof(a6), "2001:db8::%x", 1 + delta_rand(m, 4000));
    test_hello(&m->h[i], id, kind == 1 ? a6 : a4);
    if (kind == 2) {
        strcpy(m->h[i].addrs[1], a6);
        m->h[i].naddrs = 2;
    }
    m->h[i].stamp_port = (uint16_t)(8620 + delta_rand(m, 3));
    if (kind == 3 && delta_rand(m, 2))
        m->h[i].caps = 0; /* a member without STAMP: in the roster, measured by nobody */
}

/* The present members as the planner reads them; *self is slot's index. */
static size_t delta_peers(const struct delta_mesh *m, struct ctl_peer *peers, int slot,
                          size_t *self)
{
    size_t n = 0;

    for (int i = 0; i < DELTA_SLOTS; i++) {
        if (!m->present[i])
            continue;
        if (i == slot)
            *self = n;
        peers[n++] = (struct ctl_peer){.key = 100 + i, .hello = &m->h[i]};
    }
    return n;
}

static int cmp_id(const void *a, const void *b)
{
    uint32_t x = ((const struct proto_task *)a)->id,
             y = ((const struct proto_task *)b)->id;

    return (x > y) - (x < y);
}

static void same_tasks(struct proto_tasks *a, struct proto_tasks *b)
{
    ck_assert_uint_eq(a->ntasks, b->ntasks);
    qsort(a->tasks, a->ntasks, sizeof(*a->tasks), cmp_id);
    qsort(b->tasks, b->ntasks, sizeof(*b->tasks), cmp_id);
    for (uint32_t i = 0; i < a->ntasks; i++)
        ck_assert_mem_eq(&a->tasks[i], &b->tasks[i], sizeof(a->tasks[i]));
}

/* The sorted ids of a list, as the channel keeps them. */
static uint32_t *ids_of(const struct proto_tasks *tl)
{
    uint32_t *ids = calloc(tl->ntasks + 1, sizeof(*ids));

    ck_assert_ptr_nonnull(ids);
    for (uint32_t i = 0; i < tl->ntasks; i++)
        ids[i] = tl->tasks[i].id;
    for (uint32_t i = 1; i < tl->ntasks; i++)
        for (uint32_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            uint32_t t = ids[j];

            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    return ids;
}

/* One to three members join, leave or change; each present probe that
 * stays gets a delta, which must turn its old list into its new one. */
static void delta_round(struct delta_mesh *m, struct proto_tasks *lists)
{
    struct ctl_peer peers[DELTA_SLOTS];
    struct ctl_change changes[3];
    int was[DELTA_SLOTS];
    size_t nchanges = 1 + delta_rand(m, 3);

    memcpy(was, m->present, sizeof(was));
    for (size_t c = 0; c < nchanges; c++) {
        int slot = (int)delta_rand(m, DELTA_SLOTS);

        /* Keys are unique, as the channel makes them. */
        for (size_t k = 0; k < c; k++)
            if (changes[k].key == 100 + slot) {
                slot = (slot + 1) % DELTA_SLOTS;
                k = (size_t)-1; /* look again from the first */
            }

        if (m->present[slot] && delta_rand(m, 2))
            m->present[slot] = 0; /* leaves */
        else {
            delta_hello(m, slot); /* joins, or changes */
            m->present[slot] = 1;
        }
        changes[c].key = 100 + slot;
    }
    for (int s = 0; s < DELTA_SLOTS; s++) {
        struct proto_tasks want, d, got;
        size_t self = 0, n = delta_peers(m, peers, s, &self);
        int changed = 0;

        for (size_t c = 0; c < nchanges; c++) {
            size_t p = 0;

            changed |= changes[c].key == 100 + s;
            changes[c].peer = CTL_GONE;
            for (p = 0; p < n; p++)
                if (peers[p].key == changes[c].key)
                    changes[c].peer = p;
        }
        if (!m->present[s] || !was[s] || changed) {
            /* new, gone or changed itself: a whole list, as the channel does */
            free(lists[s].tasks);
            memset(&lists[s], 0, sizeof(lists[s]));
            if (m->present[s])
                ck_assert_int_eq(ctl_plan_tasks(peers, n, self, &mesh, 1, &lists[s]), 0);
            continue;
        }
        uint32_t *have = ids_of(&lists[s]);

        ck_assert_int_eq(ctl_plan_tasks(peers, n, self, &mesh, 1, &want), 0);
        ck_assert_int_eq(ctl_plan_delta(peers, self, &mesh, changes, nchanges, have,
                                        lists[s].ntasks, &d),
                         0);
        /* Deletes only what the probe has. */
        for (uint32_t i = 0; i < d.ndel; i++)
            ck_assert(bsearch(&d.del[i], have, lists[s].ntasks, sizeof(*have),
                              check_cmp_u32) != NULL);
        ck_assert_int_eq(proto_tasks_patch(lists[s].tasks, lists[s].ntasks, &d, &got), 0);
        same_tasks(&got, &want);
        free(want.tasks);
        free(lists[s].tasks);
        lists[s] = got;
        free(d.tasks);
        free(d.del);
        free(have);
    }
}

START_TEST(delta_turns_old_list_into_new)
{
    struct delta_mesh m = {.seed = 0x5eed0000u + (uint32_t)_i};
    struct proto_tasks lists[DELTA_SLOTS];
    struct ctl_peer peers[DELTA_SLOTS];

    memset(lists, 0, sizeof(lists));
    for (int i = 0; i < DELTA_SLOTS; i++) {
        m.present[i] = delta_rand(&m, 3) != 0;
        delta_hello(&m, i);
    }
    for (int s = 0; s < DELTA_SLOTS; s++) {
        size_t self = 0, n = delta_peers(&m, peers, s, &self);

        if (m.present[s])
            ck_assert_int_eq(ctl_plan_tasks(peers, n, self, &mesh, 1, &lists[s]), 0);
    }
    for (int r = 0; r < 60; r++)
        delta_round(&m, lists);
    for (int s = 0; s < DELTA_SLOTS; s++)
        free(lists[s].tasks);
}
END_TEST

/* A list at PROTO_TASKS_MAX takes no new task, but a changed one still. */
START_TEST(delta_keeps_list_within_limit)
{
    struct proto_hello h[3];
    struct ctl_peer peers[3];
    struct ctl_change ch[2] = {{.key = 11, .peer = 1}, {.key = 12, .peer = 2}};
    uint32_t *have = calloc(PROTO_TASKS_MAX, sizeof(*have));
    struct proto_tasks d;

    ck_assert_ptr_nonnull(have);
    test_hello(&h[0], "a", "127.0.1.1");
    test_hello(&h[1], "b", "127.0.1.2");
    test_hello(&h[2], "c", "127.0.1.3");
    for (int i = 0; i < 3; i++)
        peers[i] = (struct ctl_peer){.key = 10 + i, .hello = &h[i]};
    for (uint32_t i = 0; i < PROTO_TASKS_MAX; i++)
        have[i] = ctl_stamp_task_id(1000 + i); /* sorted: ids rise with keys */
    have[0] = ctl_stamp_task_id(11);           /* it measures b already */
    ck_assert_int_eq(ctl_plan_delta(peers, 0, &mesh, ch, 2, have, PROTO_TASKS_MAX, &d),
                     0);
    ck_assert_uint_eq(d.ntasks, 1);
    ck_assert_str_eq(d.tasks[0].target_id, "b");
    ck_assert_uint_eq(d.ndel, 0);
    free(d.tasks);
    free(d.del);
    /* b no longer runs STAMP: its task goes, and c's fits in its place. */
    h[1].caps = 0;
    ck_assert_int_eq(ctl_plan_delta(peers, 0, &mesh, ch, 2, have, PROTO_TASKS_MAX, &d),
                     0);
    ck_assert_uint_eq(d.ndel, 1);
    ck_assert_uint_eq(d.del[0], ctl_stamp_task_id(11));
    ck_assert_uint_eq(d.ntasks, 1);
    ck_assert_str_eq(d.tasks[0].target_id, "c");
    free(d.tasks);
    free(d.del);
    free(have);
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
    tcase_add_loop_test(tc, delta_turns_old_list_into_new, 0, 8);
    tcase_add_test(tc, delta_keeps_list_within_limit);
    suite_add_tcase(s, tc);
    tcase_add_test(content, content_task_per_node_and_method);
    tcase_add_test(content, content_only_for_announced_methods);
    tcase_add_test(content, content_ids_stable_across_replans);
    suite_add_tcase(s, content);
    return s;
}
