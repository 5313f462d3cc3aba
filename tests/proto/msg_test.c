/*
 * msg_test.c - control messages: round trips and a strict decoder.
 *
 * Malformed variants are made by encoding a valid sample, unpacking it into
 * a msgpack object tree, editing the tree (replace, remove or add a key) and
 * packing it again with msgpack_pack_object().  Raw byte strings cover what
 * msgpack-c itself would never write.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_proto.h"
#include "proto.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* ---- sample messages --------------------------------------------------------- */

static void sample_hello(struct proto_hello *h)
{
    h->version_min = 1;
    h->version_max = 3;
    h->caps = PROTO_CAP_STAMP | PROTO_CAP_IPV6;
    strcpy(h->probe_id, "khi-pk-01");
    strcpy(h->name, "Karachi member 1");
    strcpy(h->sw_version, "0.1.0");
    h->naddrs = 2;
    strcpy(h->addrs[0], "192.0.2.10");
    strcpy(h->addrs[1], "2001:db8::10");
    h->stamp_port = 862;
    h->has_location = 1;
    h->lat = 24.8607;
    h->lon = 67.0011;
}

static void sample_task(struct proto_task *t, uint32_t id)
{
    t->id = id;
    t->method = PROTO_METHOD_STAMP;
    snprintf(t->target_id, sizeof(t->target_id), "isb-pk-%02u", id % 100);
    if (id % 2)
        snprintf(t->addr, sizeof(t->addr), "2001:db8:1::%x", id);
    else
        snprintf(t->addr, sizeof(t->addr), "198.51.100.%u", id % 250 + 1);
    t->port = 862;
    t->interval_ms = 1000;
    t->timeout_ms = 2000;
    t->size = (uint16_t)(PROTO_STAMP_BASE_LEN + id % 100);
    t->dscp = (uint8_t)(id % 64);
}

/* Two tasks unless n says otherwise; ids count up from 1. */
static void sample_tasks(struct proto_tasks *t, uint32_t n)
{
    uint32_t i;

    t->generation = 7;
    t->window_s = 10;
    t->ntasks = n;
    t->tasks = n > 0 ? calloc(n, sizeof(*t->tasks)) : NULL;
    ck_assert(n == 0 || t->tasks != NULL);
    for (i = 0; i < n; i++)
        sample_task(&t->tasks[i], i + 1);
}

/* Generation 7 to 8: tasks 3 and 4 put, 1 and 9 deleted. */
static void sample_delta(struct proto_tasks *d)
{
    sample_tasks(d, 2);
    d->tasks[0].id = 3;
    d->tasks[1].id = 4;
    d->base = 7;
    d->generation = 8;
    d->ndel = 2;
    d->del = calloc(2, sizeof(*d->del));
    ck_assert_ptr_nonnull(d->del);
    d->del[0] = 1;
    d->del[1] = 9;
}

static void sample_result(struct proto_result *r, uint64_t seq)
{
    r->schema = PROTO_SCHEMA;
    r->seq = seq;
    r->task_id = (uint32_t)seq;
    r->method = PROTO_METHOD_STAMP;
    strcpy(r->target_id, "isb-pk-02");
    r->window_start_ms = 1700000000000 + (int64_t)seq * 10000;
    r->window_s = 10;
    r->sent = 100;
    r->received = 97;
    r->lost = 3;
    r->duplicates = 2;
    r->reordered = 5;
    r->rtt_min_ns = 9500000;
    r->rtt_max_ns = 14000000;
    r->ipdv_sum_ns = 2300000;
    r->ipdv_count = 95;
    ck_assert_int_eq(proto_sketch_add(&r->sketch, 9500000.0), 0);
    ck_assert_int_eq(proto_sketch_add(&r->sketch, 11000000.0 + (double)seq), 0);
    ck_assert_int_eq(proto_sketch_add(&r->sketch, 14000000.0), 0);
    ck_assert_int_eq(proto_sketch_add(&r->sketch, 0.5), 0); /* the zero bucket */
}

/* The second record received nothing: an empty sketch, min and max unused. */
static void sample_results(struct proto_results *rs, uint32_t n)
{
    uint32_t i;

    rs->nresults = n;
    rs->results = calloc(n, sizeof(*rs->results));
    ck_assert_ptr_nonnull(rs->results);
    for (i = 0; i < n; i++) {
        proto_sketch_init(&rs->results[i].sketch);
        sample_result(&rs->results[i], 41 + i);
    }
    if (n > 1) {
        proto_sketch_reset(&rs->results[1].sketch);
        rs->results[1].received = 0;
        rs->results[1].lost = 100;
        rs->results[1].rtt_min_ns = 0;
        rs->results[1].rtt_max_ns = 0;
    }
}

static void sample(enum proto_msg_type type, struct proto_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
    switch (type) {
    case PROTO_MSG_HELLO:
        sample_hello(&m->u.hello);
        break;
    case PROTO_MSG_TASKS:
        sample_tasks(&m->u.tasks, 2);
        break;
    case PROTO_MSG_TASKS_DELTA:
        sample_delta(&m->u.tasks);
        break;
    case PROTO_MSG_RESULTS:
        sample_results(&m->u.results, 2);
        break;
    case PROTO_MSG_ACK:
        m->u.ack.seq = 42;
        break;
    case PROTO_MSG_ERROR:
        m->u.error.code = PROTO_ERR_IDENTITY;
        strcpy(m->u.error.reason, "probe id does not match the certificate");
        break;
    case PROTO_MSG_WELCOME:
        m->u.welcome.version = 1;
        m->u.welcome.heartbeat_s = 10;
        m->u.welcome.idle_s = 35;
        break;
    case PROTO_MSG_HEARTBEAT:
        break;
    }
}

/* ---- comparisons ------------------------------------------------------------- */

static void hello_eq(const struct proto_hello *a, const struct proto_hello *b)
{
    uint32_t i;

    ck_assert_uint_eq(a->version_min, b->version_min);
    ck_assert_uint_eq(a->version_max, b->version_max);
    ck_assert_uint_eq(a->caps, b->caps);
    ck_assert_str_eq(a->probe_id, b->probe_id);
    ck_assert_str_eq(a->name, b->name);
    ck_assert_str_eq(a->sw_version, b->sw_version);
    ck_assert_uint_eq(a->naddrs, b->naddrs);
    for (i = 0; i < a->naddrs; i++)
        ck_assert_str_eq(a->addrs[i], b->addrs[i]);
    ck_assert_uint_eq(a->stamp_port, b->stamp_port);
    ck_assert_int_eq(!!a->has_location, !!b->has_location);
    if (a->has_location) {
        ck_assert_double_eq(a->lat, b->lat);
        ck_assert_double_eq(a->lon, b->lon);
    }
}

static void task_eq(const struct proto_task *a, const struct proto_task *b)
{
    ck_assert_uint_eq(a->id, b->id);
    ck_assert_uint_eq(a->method, b->method);
    ck_assert_str_eq(a->target_id, b->target_id);
    ck_assert_str_eq(a->addr, b->addr);
    ck_assert_uint_eq(a->port, b->port);
    ck_assert_uint_eq(a->interval_ms, b->interval_ms);
    ck_assert_uint_eq(a->timeout_ms, b->timeout_ms);
    ck_assert_uint_eq(a->size, b->size);
    ck_assert_uint_eq(a->dscp, b->dscp);
    ck_assert_uint_eq(a->poisson, b->poisson);
    ck_assert_str_eq(a->host, b->host);
    ck_assert_str_eq(a->path, b->path);
    ck_assert_str_eq(a->header, b->header);
    ck_assert_str_eq(a->qname, b->qname);
    ck_assert_uint_eq(a->qtype, b->qtype);
    ck_assert_uint_eq(a->tls, b->tls);
}

static void result_eq(const struct proto_result *a, const struct proto_result *b)
{
    ck_assert_uint_eq(a->schema, b->schema);
    ck_assert_uint_eq(a->seq, b->seq);
    ck_assert_uint_eq(a->task_id, b->task_id);
    ck_assert_uint_eq(a->method, b->method);
    ck_assert_str_eq(a->target_id, b->target_id);
    ck_assert_int_eq(a->window_start_ms, b->window_start_ms);
    ck_assert_uint_eq(a->window_s, b->window_s);
    ck_assert_uint_eq(a->sent, b->sent);
    ck_assert_uint_eq(a->received, b->received);
    ck_assert_uint_eq(a->lost, b->lost);
    ck_assert_uint_eq(a->duplicates, b->duplicates);
    ck_assert_uint_eq(a->reordered, b->reordered);
    ck_assert_uint_eq(a->rtt_min_ns, b->rtt_min_ns);
    ck_assert_uint_eq(a->rtt_max_ns, b->rtt_max_ns);
    ck_assert_uint_eq(a->ipdv_sum_ns, b->ipdv_sum_ns);
    ck_assert_uint_eq(a->ipdv_count, b->ipdv_count);
    ck_assert_uint_eq(a->ttl, b->ttl);
    for (int i = 0; i < PROTO_OUTCOME_MAX; i++)
        ck_assert_uint_eq(a->outcomes[i], b->outcomes[i]);
    ck_assert_str_eq(a->why, b->why);
    ck_assert_mem_eq(&a->info, &b->info, sizeof(a->info));
    ck_assert_uint_eq(a->sketch.count, b->sketch.count);
    ck_assert(proto_sketch_equal(&a->sketch, &b->sketch));
}

/* Member by member: the structure has padding, which need not match. */
static void health_eq(const struct proto_health *a, const struct proto_health *b)
{
    ck_assert_uint_eq(a->seq0, b->seq0);
    ck_assert_uint_eq(a->spool_bytes, b->spool_bytes);
    ck_assert_uint_eq(a->pending, b->pending);
    ck_assert_uint_eq(a->oldest_s, b->oldest_s);
    ck_assert_uint_eq(a->dropped, b->dropped);
    ck_assert_uint_eq(a->reconnects, b->reconnects);
    ck_assert_uint_eq(a->torn_bytes, b->torn_bytes);
    ck_assert_uint_eq(a->ndrops, b->ndrops);
    for (uint32_t i = 0; i < a->ndrops && i < PROTO_DROPWIN_MAX; i++) {
        ck_assert_int_eq(a->drops[i].window_start_ms, b->drops[i].window_start_ms);
        ck_assert_uint_eq(a->drops[i].records, b->drops[i].records);
    }
}

static void msg_eq(const struct proto_msg *a, const struct proto_msg *b)
{
    uint32_t i;

    ck_assert_int_eq(a->type, b->type);
    switch (a->type) {
    case PROTO_MSG_HELLO:
        hello_eq(&a->u.hello, &b->u.hello);
        break;
    case PROTO_MSG_TASKS:
        ck_assert_uint_eq(a->u.tasks.generation, b->u.tasks.generation);
        ck_assert_uint_eq(a->u.tasks.window_s, b->u.tasks.window_s);
        ck_assert_uint_eq(a->u.tasks.ntasks, b->u.tasks.ntasks);
        for (i = 0; i < a->u.tasks.ntasks; i++)
            task_eq(&a->u.tasks.tasks[i], &b->u.tasks.tasks[i]);
        break;
    case PROTO_MSG_TASKS_DELTA:
        ck_assert_uint_eq(a->u.tasks.generation, b->u.tasks.generation);
        ck_assert_uint_eq(a->u.tasks.base, b->u.tasks.base);
        ck_assert_uint_eq(a->u.tasks.window_s, b->u.tasks.window_s);
        ck_assert_uint_eq(a->u.tasks.ntasks, b->u.tasks.ntasks);
        for (i = 0; i < a->u.tasks.ntasks; i++)
            task_eq(&a->u.tasks.tasks[i], &b->u.tasks.tasks[i]);
        ck_assert_uint_eq(a->u.tasks.ndel, b->u.tasks.ndel);
        for (i = 0; i < a->u.tasks.ndel; i++)
            ck_assert_uint_eq(a->u.tasks.del[i], b->u.tasks.del[i]);
        break;
    case PROTO_MSG_RESULTS:
        ck_assert_uint_eq(a->u.results.nresults, b->u.results.nresults);
        for (i = 0; i < a->u.results.nresults; i++)
            result_eq(&a->u.results.results[i], &b->u.results.results[i]);
        ck_assert_int_eq(a->u.results.has_health, b->u.results.has_health);
        health_eq(&a->u.results.health, &b->u.results.health);
        break;
    case PROTO_MSG_ACK:
        ck_assert_uint_eq(a->u.ack.seq, b->u.ack.seq);
        break;
    case PROTO_MSG_ERROR:
        ck_assert_uint_eq(a->u.error.code, b->u.error.code);
        ck_assert_str_eq(a->u.error.reason, b->u.error.reason);
        break;
    case PROTO_MSG_WELCOME:
        ck_assert_uint_eq(a->u.welcome.version, b->u.welcome.version);
        ck_assert_uint_eq(a->u.welcome.heartbeat_s, b->u.welcome.heartbeat_s);
        ck_assert_uint_eq(a->u.welcome.idle_s, b->u.welcome.idle_s);
        break;
    case PROTO_MSG_HEARTBEAT:
        break;
    }
}

/* A failed decode leaves nothing behind, not even a type. */
static void assert_empty(const struct proto_msg *m)
{
    static const struct proto_msg zero;

    ck_assert_mem_eq(m, &zero, sizeof(zero));
}

/* Decodes from a heap copy of exactly len octets, so overreads are caught. */
static int decode_copy(const void *p, size_t len, struct proto_msg *out)
{
    uint8_t *c = malloc(len > 0 ? len : 1);
    int rc;

    ck_assert_ptr_nonnull(c);
    if (len > 0)
        memcpy(c, p, len);
    rc = proto_msg_decode(c, len, out);
    free(c);
    if (rc != 0)
        assert_empty(out);
    return rc;
}

static int decode_rc(const void *p, size_t len)
{
    struct proto_msg m;
    int rc = decode_copy(p, len, &m);

    if (rc == 0)
        proto_msg_free(&m);
    return rc;
}

/* Encodes m and checks the frame around the payload. */
static uint8_t *encode_frame(const struct proto_msg *m, size_t *plen)
{
    const uint8_t *payload = NULL;
    uint8_t *frame = NULL;
    size_t len = 0;

    ck_assert_int_eq(proto_msg_encode(m, &frame, &len), 0);
    ck_assert_int_eq(proto_frame_parse(frame, len, PROTO_FRAME_MAX, &payload, plen),
                     (long)len);
    ck_assert_ptr_eq(payload, frame + PROTO_FRAME_HDR);
    return frame;
}

static void round_trip(const struct proto_msg *m)
{
    struct proto_msg got;
    size_t plen;
    uint8_t *frame = encode_frame(m, &plen);

    ck_assert_int_eq(decode_copy(frame + PROTO_FRAME_HDR, plen, &got), 0);
    msg_eq(m, &got);
    proto_msg_free(&got);
    free(frame);
}

/* ---- editable object trees --------------------------------------------------- */

struct tree {
    uint8_t *frame; /* the unpacked strings point into it */
    msgpack_unpacked up;
};

static void tree_load(struct tree *t, const struct proto_msg *m)
{
    size_t plen, off = 0;

    t->frame = encode_frame(m, &plen);
    msgpack_unpacked_init(&t->up);
    ck_assert_int_eq(
        msgpack_unpack_next(&t->up, (const char *)t->frame + PROTO_FRAME_HDR, plen, &off),
        MSGPACK_UNPACK_SUCCESS);
}

static void tree_sample(struct tree *t, enum proto_msg_type type)
{
    struct proto_msg m;

    sample(type, &m);
    tree_load(t, &m);
    proto_msg_free(&m);
}

static void tree_free(struct tree *t)
{
    msgpack_unpacked_destroy(&t->up);
    free(t->frame);
}

static void *tree_alloc(struct tree *t, size_t n)
{
    void *p = msgpack_zone_malloc(t->up.zone, n);

    ck_assert_ptr_nonnull(p);
    return p;
}

static int key_is(const msgpack_object *k, const char *key)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
           memcmp(k->via.str.ptr, key, k->via.str.size) == 0;
}

static msgpack_object *obj_get(msgpack_object *map, const char *key)
{
    uint32_t i;

    ck_assert_int_eq(map->type, MSGPACK_OBJECT_MAP);
    for (i = 0; i < map->via.map.size; i++) {
        if (key_is(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

/* The message map (where == NULL) or element idx of the array under where. */
static msgpack_object *tree_map(struct tree *t, const char *where, uint32_t idx)
{
    msgpack_object *a;

    if (where == NULL)
        return &t->up.data;
    a = obj_get(&t->up.data, where);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_gt(a->via.array.size, idx);
    return &a->via.array.ptr[idx];
}

static void obj_set(msgpack_object *map, const char *key, msgpack_object v)
{
    msgpack_object *o = obj_get(map, key);

    ck_assert_ptr_nonnull(o);
    *o = v;
}

static void obj_del(msgpack_object *map, const char *key)
{
    msgpack_object_kv *kv = map->via.map.ptr;
    uint32_t i, n = map->via.map.size;

    for (i = 0; i < n && !key_is(&kv[i].key, key); i++)
        continue;
    ck_assert_uint_lt(i, n);
    kv[i] = kv[n - 1];
    map->via.map.size--;
}

static void obj_add(struct tree *t, msgpack_object *map, msgpack_object k,
                    msgpack_object v)
{
    uint32_t n = map->via.map.size;
    msgpack_object_kv *kv = tree_alloc(t, (n + 1) * sizeof(*kv));

    if (n > 0)
        memcpy(kv, map->via.map.ptr, n * sizeof(*kv));
    kv[n].key = k;
    kv[n].val = v;
    map->via.map.ptr = kv;
    map->via.map.size = n + 1;
}

static void arr_add(struct tree *t, msgpack_object *arr, msgpack_object v)
{
    uint32_t n = arr->via.array.size;
    msgpack_object *a = tree_alloc(t, (n + 1) * sizeof(*a));

    if (n > 0) /* an empty array may have no storage at all */
        memcpy(a, arr->via.array.ptr, n * sizeof(*a));
    a[n] = v;
    arr->via.array.ptr = a;
    arr->via.array.size = n + 1;
}

/* A copy of map, with its own entries, in which key holds v. */
static msgpack_object map_variant(struct tree *t, const msgpack_object *map,
                                  const char *key, msgpack_object v)
{
    msgpack_object c = *map;

    c.via.map.ptr = tree_alloc(t, map->via.map.size * sizeof(*c.via.map.ptr));
    memcpy(c.via.map.ptr, map->via.map.ptr, map->via.map.size * sizeof(*c.via.map.ptr));
    obj_set(&c, key, v);
    return c;
}

static int obj_decode_rc(const msgpack_object *o)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    ck_assert_int_eq(msgpack_pack_object(&pk, *o), 0);
    rc = decode_rc(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int tree_rc(struct tree *t)
{
    return obj_decode_rc(&t->up.data);
}

#define OU(x)                                                                            \
    {                                                                                    \
        .type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = (x)                          \
    }
#define OI(x)                                                                            \
    {                                                                                    \
        .type = MSGPACK_OBJECT_NEGATIVE_INTEGER, .via.i64 = (x)                          \
    }
#define OD(x)                                                                            \
    {                                                                                    \
        .type = MSGPACK_OBJECT_FLOAT64, .via.f64 = (x)                                   \
    }
#define OS(s)                                                                            \
    {                                                                                    \
        .type = MSGPACK_OBJECT_STR, .via.str = { sizeof(s) - 1, s }                      \
    }
#define OB(s)                                                                            \
    {                                                                                    \
        .type = MSGPACK_OBJECT_BIN, .via.bin = { sizeof(s) - 1, s }                      \
    }
#define ONIL                                                                             \
    {                                                                                    \
        .type = MSGPACK_OBJECT_NIL                                                       \
    }
#define OTRUE                                                                            \
    {                                                                                    \
        .type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = true                              \
    }
#define OARR0                                                                            \
    {                                                                                    \
        .type = MSGPACK_OBJECT_ARRAY                                                     \
    }
#define OMAP0                                                                            \
    {                                                                                    \
        .type = MSGPACK_OBJECT_MAP                                                       \
    }

static msgpack_object obj_u(uint64_t v)
{
    msgpack_object o = OU(v);

    return o;
}

static msgpack_object obj_i(int64_t v)
{
    msgpack_object o = OI(v);

    return o;
}

static msgpack_object obj_s(const char *s)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR};

    o.via.str.ptr = s;
    o.via.str.size = (uint32_t)strlen(s);
    return o;
}

/* ---- round trips ----------------------------------------------------------- */

START_TEST(round_trip_each_type)
{
    struct proto_msg m;

    sample((enum proto_msg_type)_i, &m);
    round_trip(&m);
    proto_msg_free(&m);
}
END_TEST

/* An http and a dns task to a content node, and their records. */
START_TEST(round_trip_content)
{
    struct proto_msg m;
    struct proto_task *t;
    struct proto_result *r;

    sample(PROTO_MSG_TASKS, &m);
    t = &m.u.tasks.tasks[0];
    t->method = PROTO_METHOD_HTTP;
    t->addr[0] = '\0';
    t->size = 0;
    strcpy(t->host, "cdn-1.example.pk");
    strcpy(t->path, "/favicon.ico?x=1");
    strcpy(t->header, "X-Cache");
    t->tls = 1;
    t = &m.u.tasks.tasks[1];
    t->method = PROTO_METHOD_DNS;
    strcpy(t->qname, "_srv.content.ixmesh.test.");
    t->qtype = 28;
    round_trip(&m);
    proto_msg_free(&m);

    sample(PROTO_MSG_RESULTS, &m);
    r = &m.u.results.results[0];
    r->method = PROTO_METHOD_HTTP;
    r->outcomes[PROTO_OUT_REFUSED] = 2;
    r->outcomes[PROTO_OUT_HTTP_5XX] = 1;
    strcpy(r->why, "HTTP 503 Service Unavailable");
    r->info.dns_ns = 1;
    r->info.connect_ns = 2;
    r->info.tls_ns = 3;
    r->info.ttfb_ns = 4;
    r->info.total_ns = UINT64_MAX;
    r->info.http_status = 200;
    r->info.http_bytes = 1u << 20;
    strcpy(r->info.header_value, "HIT from cache-1");
    strcpy(r->info.tls_version, "TLSv1.3");
    strcpy(r->info.tls_cipher, "TLS_AES_256_GCM_SHA384");
    r->info.cert_not_after = -1;
    r->info.verify_result = 1;
    r->info.dns_rcode = 4;
    r->info.dns_answers = 65535;
    round_trip(&m);
    proto_msg_free(&m);
}
END_TEST

/* A batch with the probe's health, its drop reports at their limits. */
START_TEST(round_trip_health)
{
    struct proto_msg m;
    struct proto_health *h = &m.u.results.health;
    struct tree t;
    msgpack_object *dw;
    uint8_t *out = NULL;
    size_t len;

    sample(PROTO_MSG_RESULTS, &m);
    m.u.results.has_health = 1;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL); /* s0 is 0 */
    h->seq0 = 1;
    h->spool_bytes = UINT64_MAX;
    h->pending = 7;
    h->oldest_s = 3600;
    h->dropped = 12;
    h->reconnects = 3;
    h->torn_bytes = 17;
    h->ndrops = PROTO_DROPWIN_MAX;
    for (uint32_t i = 0; i < h->ndrops; i++)
        h->drops[i] = (struct proto_drop_window){-1000 + 10000 * (int64_t)i, i + 1};
    h->drops[1].records = UINT32_MAX;
    round_trip(&m);

    tree_load(&t, &m);
    dw = obj_get(obj_get(&t.up.data, "h"), "dw");
    dw->via.array.ptr[0].via.array.ptr[1] = obj_u(0); /* a report of no drop */
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    dw->via.array.ptr[0].via.array.size = 1;
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);

    h->drops[2].records = 0;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    h->drops[2].records = 1;
    h->ndrops = PROTO_DROPWIN_MAX + 1;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    ck_assert_ptr_null(out);
    proto_msg_free(&m);
}
END_TEST

/* The cross-field rules of tasks and records, at both ends. */
START_TEST(content_rules)
{
    static const struct {
        const char *key;
        msgpack_object val;
        int rc;
    } task_edits[] = {
        {"host", OS("content.ixmesh.test"), 0},
        {"host", OS("a..b"), -EBADMSG},
        {"host", OS("white space"), -EBADMSG},
        {"host", OS("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x"),
         -EBADMSG}, /* a label of 64 octets */
        {"path", OS("/"), 0},
        {"path", OS("index.html"), -EBADMSG},
        {"path", OS("/a b"), -EBADMSG},
        {"hdr", OS("X-Cache"), 0},
        {"hdr", OS("X Cache"), -EBADMSG},
        {"hdr", OS(""), -EBADMSG},
        {"qn", OS("x.test"), 0},
        {"qt", OU(0), -EBADMSG},
        {"qt", OU(28), 0},
        {"tls", OU(2), -EBADMSG},
    };
    struct proto_msg m;
    uint8_t *frame;
    size_t len;
    struct tree t;

    for (size_t i = 0; i < nitems(task_edits); i++) {
        tree_sample(&t, PROTO_MSG_TASKS);
        obj_add(&t, tree_map(&t, "tasks", 0), obj_s(task_edits[i].key),
                task_edits[i].val);
        ck_assert_msg(tree_rc(&t) == task_edits[i].rc, "task edit %zu", i);
        tree_free(&t);
    }
    /* Nothing to reach; STAMP without an address or below its base packet;
     * a DNS task without a name to ask about. */
    sample(PROTO_MSG_TASKS, &m);
    m.u.tasks.tasks[0].addr[0] = '\0';
    ck_assert_int_eq(proto_msg_encode(&m, &frame, &len), -EINVAL);
    strcpy(m.u.tasks.tasks[0].host, "x.test");
    ck_assert_int_eq(proto_msg_encode(&m, &frame, &len), -EINVAL);
    m.u.tasks.tasks[0].method = PROTO_METHOD_ICMP;
    m.u.tasks.tasks[0].size = 0;
    ck_assert_int_eq(proto_msg_encode(&m, &frame, &len), 0);
    free(frame);
    m.u.tasks.tasks[1].size = PROTO_STAMP_BASE_LEN - 1;
    ck_assert_int_eq(proto_msg_encode(&m, &frame, &len), -EINVAL);
    m.u.tasks.tasks[1].method = PROTO_METHOD_DNS;
    ck_assert_int_eq(proto_msg_encode(&m, &frame, &len), -EINVAL);
    proto_msg_free(&m);

    /* Failures add up to no more than lost; "ok" is not a failure. */
    sample(PROTO_MSG_RESULTS, &m);
    m.u.results.results[0].outcomes[PROTO_OUT_TIMEOUT] = 3;
    ck_assert_int_eq(proto_msg_encode(&m, &frame, &len), 0);
    free(frame);
    m.u.results.results[0].outcomes[PROTO_OUT_REFUSED] = 1;
    ck_assert_int_eq(proto_msg_encode(&m, &frame, &len), -EINVAL);
    m.u.results.results[0].outcomes[PROTO_OUT_REFUSED] = 0;
    m.u.results.results[0].outcomes[PROTO_OUT_OK] = 1;
    ck_assert_int_eq(proto_msg_encode(&m, &frame, &len), -EINVAL);
    proto_msg_free(&m);

    tree_sample(&t, PROTO_MSG_RESULTS);
    {
        msgpack_object oc = {.type = MSGPACK_OBJECT_MAP};

        obj_add(&t, &oc, obj_s("timeout"), obj_u(2));
        obj_add(&t, &oc, obj_s("from-the-future"), obj_u(1));
        obj_add(&t, tree_map(&t, "r", 0), obj_s("oc"), oc);
        ck_assert_int_eq(tree_rc(&t), 0);
        obj_set(&oc, "timeout", obj_u(4)); /* more than lost */
        obj_set(tree_map(&t, "r", 0), "oc", oc);
        ck_assert_int_eq(tree_rc(&t), -EBADMSG);
        obj_set(&oc, "timeout", obj_s("2"));
        obj_set(tree_map(&t, "r", 0), "oc", oc);
        ck_assert_int_eq(tree_rc(&t), -EBADMSG);
        obj_set(&oc, "timeout", obj_u(1));
        obj_add(&t, &oc, obj_s("ok"), obj_u(1));
        obj_set(tree_map(&t, "r", 0), "oc", oc);
        ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    }
    obj_add(&t, tree_map(&t, "r", 1), obj_s("hs"), obj_u(99));
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);
}
END_TEST

START_TEST(round_trip_edges)
{
    struct proto_msg m;

    sample(PROTO_MSG_HELLO, &m);
    m.u.hello.has_location = 0;
    m.u.hello.naddrs = 0;
    m.u.hello.name[0] = '\0';
    round_trip(&m);
    m.u.hello.has_location = 1;
    m.u.hello.lat = -90.0;
    m.u.hello.lon = 180.0;
    m.u.hello.naddrs = PROTO_ADDR_MAX;
    for (uint32_t i = 0; i < PROTO_ADDR_MAX; i++)
        snprintf(m.u.hello.addrs[i], PROTO_ADDRSTR_MAX, "fe80::%u", i);
    strcpy(m.u.hello.addrs[7], "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    memset(m.u.hello.probe_id, 'z', PROTO_ID_MAX);
    strcpy(m.u.hello.name, "Islamabad \xe2\x80\x94 \xf0\x9f\x9b\xb0");
    round_trip(&m);

    sample(PROTO_MSG_TASKS, &m);
    free(m.u.tasks.tasks);
    m.u.tasks.tasks = NULL;
    m.u.tasks.ntasks = 0;
    m.u.tasks.generation = UINT64_MAX;
    round_trip(&m);

    sample(PROTO_MSG_RESULTS, &m);
    m.u.results.results[0].window_start_ms = INT64_MIN;
    m.u.results.results[1].window_start_ms = -1;
    m.u.results.results[1].seq = UINT64_MAX;
    round_trip(&m);
    proto_msg_free(&m);

    sample(PROTO_MSG_ERROR, &m);
    memset(m.u.error.reason, 'r', PROTO_REASON_MAX);
    m.u.error.code = 999; /* unknown codes pass, for later versions */
    round_trip(&m);
}
END_TEST

START_TEST(round_trip_largest_arrays)
{
    struct proto_msg m = {.type = PROTO_MSG_TASKS};

    sample_tasks(&m.u.tasks, PROTO_TASKS_MAX);
    round_trip(&m);
    proto_msg_free(&m);

    m.type = PROTO_MSG_RESULTS;
    sample_results(&m.u.results, PROTO_RESULTS_MAX);
    round_trip(&m);
    proto_msg_free(&m);
}
END_TEST

/* ---- malformed payloads ---------------------------------------------------- */

START_TEST(every_truncation_fails)
{
    struct proto_msg m;
    size_t plen, cut;
    uint8_t *frame;

    sample((enum proto_msg_type)_i, &m);
    frame = encode_frame(&m, &plen);
    for (cut = 0; cut < plen; cut++)
        ck_assert_int_eq(decode_rc(frame + PROTO_FRAME_HDR, cut), -EBADMSG);
    free(frame);
    proto_msg_free(&m);
}
END_TEST

/* Objects of every msgpack type; each field is tried with all but its own. */
static const msgpack_object wrong_values[] = {
    OU(1), OI(-1), OD(1.5), OS("x"), OB("x"), ONIL, OTRUE, OARR0, OMAP0,
};

static void each_key_wrong_type(struct tree *t, msgpack_object *map)
{
    msgpack_object_kv *kv = map->via.map.ptr;
    uint32_t i;
    size_t w;

    for (i = 0; i < map->via.map.size; i++) {
        msgpack_object keep = kv[i].val;

        for (w = 0; w < nitems(wrong_values); w++) {
            /* A signed field takes a negative integer. */
            if (wrong_values[w].type == keep.type ||
                (key_is(&kv[i].key, "ws") &&
                 wrong_values[w].type == MSGPACK_OBJECT_NEGATIVE_INTEGER))
                continue;
            kv[i].val = wrong_values[w];
            ck_assert_msg(tree_rc(t) == -EBADMSG, "key %.*s, value type %d accepted",
                          (int)kv[i].key.via.str.size, kv[i].key.via.str.ptr,
                          wrong_values[w].type);
        }
        kv[i].val = keep;
    }
    ck_assert_int_eq(tree_rc(t), 0);
}

static const char *nested_array(enum proto_msg_type type)
{
    switch (type) {
    case PROTO_MSG_TASKS:
        return "tasks";
    case PROTO_MSG_TASKS_DELTA:
        return "put";
    case PROTO_MSG_RESULTS:
        return "r";
    default:
        return NULL;
    }
}

START_TEST(wrong_type_for_each_field)
{
    enum proto_msg_type type = (enum proto_msg_type)_i;
    const char *arr = nested_array(type);
    struct tree t;

    tree_sample(&t, type);
    each_key_wrong_type(&t, tree_map(&t, NULL, 0));
    if (arr != NULL)
        each_key_wrong_type(&t, tree_map(&t, arr, 0));
    tree_free(&t);
}
END_TEST

/* Every field is required, but for the location whose halves go together. */
static void each_key_missing(struct tree *t, msgpack_object *map)
{
    msgpack_object_kv *kv = map->via.map.ptr;
    uint32_t i, n = map->via.map.size;

    for (i = 0; i < n; i++) {
        msgpack_object_kv keep = kv[i];

        kv[i] = kv[n - 1];
        map->via.map.size = n - 1;
        ck_assert_msg(tree_rc(t) == -EBADMSG, "message without %.*s accepted",
                      (int)keep.key.via.str.size, keep.key.via.str.ptr);
        map->via.map.size = n;
        kv[n - 1] = kv[i];
        kv[i] = keep;
    }
    ck_assert_int_eq(tree_rc(t), 0);
}

START_TEST(missing_field)
{
    enum proto_msg_type type = (enum proto_msg_type)_i;
    const char *arr = nested_array(type);
    struct tree t;

    tree_sample(&t, type);
    each_key_missing(&t, tree_map(&t, NULL, 0));
    if (arr != NULL)
        each_key_missing(&t, tree_map(&t, arr, 0));
    tree_free(&t);
}
END_TEST

START_TEST(location_is_optional)
{
    struct proto_msg m;
    struct tree t;
    size_t plen;
    uint8_t *frame;

    sample(PROTO_MSG_HELLO, &m);
    m.u.hello.has_location = 0;
    frame = encode_frame(&m, &plen);
    ck_assert_int_eq(decode_copy(frame + PROTO_FRAME_HDR, plen, &m), 0);
    ck_assert_int_eq(m.u.hello.has_location, 0);
    free(frame);

    tree_sample(&t, PROTO_MSG_HELLO);
    obj_del(&t.up.data, "lat");
    obj_del(&t.up.data, "lon");
    ck_assert_int_eq(tree_rc(&t), 0);
    tree_free(&t);
}
END_TEST

/* Fields added after version 1 ("poi", "ttl"): sent only when set, zero
 * when absent, so an older peer's messages still decode; range-checked. */
START_TEST(later_fields_are_optional)
{
    struct proto_msg m;
    struct tree t;

    sample(PROTO_MSG_TASKS, &m);
    m.u.tasks.tasks[0].poisson = 1;
    round_trip(&m);
    proto_msg_free(&m);
    sample(PROTO_MSG_RESULTS, &m);
    m.u.results.results[1].ttl = 255;
    round_trip(&m);
    proto_msg_free(&m);

    tree_sample(&t, PROTO_MSG_TASKS);
    ck_assert_ptr_null(obj_get(tree_map(&t, "tasks", 0), "poi"));
    obj_add(&t, tree_map(&t, "tasks", 0), obj_s("poi"), obj_u(1));
    ck_assert_int_eq(tree_rc(&t), 0);
    obj_set(tree_map(&t, "tasks", 0), "poi", obj_u(2));
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);

    tree_sample(&t, PROTO_MSG_RESULTS);
    obj_add(&t, tree_map(&t, "r", 0), obj_s("ttl"), obj_u(255));
    ck_assert_int_eq(tree_rc(&t), 0);
    obj_set(tree_map(&t, "r", 0), "ttl", obj_u(256));
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    obj_set(tree_map(&t, "r", 0), "ttl", obj_s("x"));
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);
}
END_TEST

#define S8   "abcdefgh"
#define S64  S8 S8 S8 S8 S8 S8 S8 S8
#define S256 S64 S64 S64 S64

/* One field of a valid sample set to val; where and idx as in tree_map(). */
struct edit {
    enum proto_msg_type type;
    const char *where;
    uint32_t idx;
    const char *key;
    msgpack_object val;
    int rc;
};

#define H   PROTO_MSG_HELLO
#define T   PROTO_MSG_TASKS
#define R   PROTO_MSG_RESULTS
#define A   PROTO_MSG_ACK
#define E   PROTO_MSG_ERROR
#define BAD -EBADMSG

static const struct edit edits[] = {
    {H, NULL, 0, "t", OU(0), BAD},
    {H, NULL, 0, "t", OU(8), BAD},
    {H, NULL, 0, "t", OU(256 + PROTO_MSG_HELLO), BAD},
    {H, NULL, 0, "vmin", OU(0), BAD},
    {H, NULL, 0, "vmin", OU(4), BAD}, /* above vmax */
    {H, NULL, 0, "vmax", OU(UINT32_MAX), 0},
    {H, NULL, 0, "vmax", OU(UINT32_MAX + 1ull), BAD},
    {H, NULL, 0, "caps", OU(UINT32_MAX), 0},
    {H, NULL, 0, "caps", OU(UINT32_MAX + 1ull), BAD},
    {PROTO_MSG_WELCOME, NULL, 0, "v", OU(0), BAD},
    {PROTO_MSG_WELCOME, NULL, 0, "hb", OU(35), BAD}, /* not below idle */
    {PROTO_MSG_WELCOME, NULL, 0, "idle", OU(86401), BAD},
    {R, "r", 0, "sv", OU(0), BAD},
    {R, "r", 0, "sv", OU(2), 0}, /* a newer schema only adds keys */
    {H, NULL, 0, "id", OS(""), BAD},
    {H, NULL, 0, "id", OS("has space"), BAD},
    {H, NULL, 0, "id", OS("a/b"), BAD},
    {H, NULL, 0, "id", OS("a:b"), BAD},
    {H, NULL, 0, "id", OS("caf\xc3\xa9"), BAD},
    {H, NULL, 0, "id", OS("nul\0"), BAD},
    {H, NULL, 0, "id", OS(S64 "x"), BAD},
    {H, NULL, 0, "id", OS(S64), 0},
    {H, NULL, 0, "id", OS("A-z_0.9"), 0},
    {H, NULL, 0, "name", OS(""), 0},
    {H, NULL, 0, "name", OS("Karachi \xe2\x80\x94 KHI"), 0},
    {H, NULL, 0, "name", OS("nul\0inside"), BAD},
    {H, NULL, 0, "name", OS("tab\there"), BAD},
    {H, NULL, 0, "name", OS("del\x7f"), BAD},
    {H, NULL, 0, "name", OS("\xff"), BAD},
    {H, NULL, 0, "name", OS("\xc0\x80"), BAD},         /* overlong NUL */
    {H, NULL, 0, "name", OS("\xed\xa0\x80"), BAD},     /* surrogate */
    {H, NULL, 0, "name", OS("\xf4\x90\x80\x80"), BAD}, /* above U+10FFFF */
    {H, NULL, 0, "name", OS("cut \xe2\x82"), BAD},
    {H, NULL, 0, "name", OS(S64 "x"), BAD},
    {H, NULL, 0, "name", OS(S64), 0},
    {H, NULL, 0, "sw", OS(""), BAD},
    {H, NULL, 0, "sw", OS(S8 S8 S8 S8 "x"), BAD},
    {H, NULL, 0, "sw", OS(S8 S8 S8 S8), 0},
    {H, NULL, 0, "sp", OU(0), BAD},
    {H, NULL, 0, "sp", OU(1), 0},
    {H, NULL, 0, "sp", OU(65535), 0},
    {H, NULL, 0, "sp", OU(65536), BAD},
    {H, NULL, 0, "sp", OI(-862), BAD},
    {H, NULL, 0, "lat", OD(90.0), 0},
    {H, NULL, 0, "lat", OD(-90.0), 0},
    {H, NULL, 0, "lat", OD(90.0001), BAD},
    {H, NULL, 0, "lat", OD(NAN), BAD},
    {H, NULL, 0, "lat", OU(24), BAD},
    {H, NULL, 0, "lat", {.type = MSGPACK_OBJECT_FLOAT32, .via.f64 = 24.5}, 0},
    {H, NULL, 0, "lon", OD(180.0), 0},
    {H, NULL, 0, "lon", OD(-180.5), BAD},
    {H, NULL, 0, "lon", OD(INFINITY), BAD},

    {T, NULL, 0, "gen", OU(0), 0},
    {T, NULL, 0, "gen", OU(UINT64_MAX), 0},
    {T, NULL, 0, "gen", OI(-1), BAD},
    {T, NULL, 0, "win", OU(0), BAD},
    {T, NULL, 0, "win", OU(1), 0},
    {T, NULL, 0, "win", OU(3600), 0},
    {T, NULL, 0, "win", OU(3601), BAD},
    {T, "tasks", 0, "id", OU(0), 0},
    {T, "tasks", 0, "id", OU(UINT32_MAX), 0},
    {T, "tasks", 0, "id", OU(UINT32_MAX + 1ull), BAD},
    {T, "tasks", 0, "id", OU(2), BAD}, /* the second task's id */
    {T, "tasks", 0, "m", OU(0), BAD},
    {T, "tasks", 0, "m", OU(PROTO_METHOD_MAX + 1), BAD},
    {T, "tasks", 0, "m", OU(256 + PROTO_METHOD_STAMP), BAD},
    {T, "tasks", 0, "tid", OS(""), BAD},
    {T, "tasks", 0, "tid", OS("x y"), BAD},
    {T, "tasks", 0, "addr", OS("192.0.2.1"), 0},
    {T, "tasks", 0, "addr", OS("::1"), 0},
    {T, "tasks", 0, "addr", OS("::ffff:192.0.2.1"), 0},
    {T, "tasks", 0, "addr", OS(""), BAD},
    {T, "tasks", 0, "addr", OS("192.0.2"), BAD},
    {T, "tasks", 0, "addr", OS("192.0.2.256"), BAD},
    {T, "tasks", 0, "addr", OS(" 192.0.2.1"), BAD},
    {T, "tasks", 0, "addr", OS("192.0.2.1\0"), BAD},
    {T, "tasks", 0, "addr", OS("2001:db8::g"), BAD},
    {T, "tasks", 0, "addr", OS("fe80::1%eth0"), BAD},
    {T, "tasks", 0, "addr", OS("example.net"), BAD},
    {T, "tasks", 0, "addr", OS("1111:2222:3333:4444:5555:6666:7777:8888:9999"), BAD},
    {T, "tasks", 0, "port", OU(0), BAD},
    {T, "tasks", 0, "port", OU(1), 0},
    {T, "tasks", 0, "port", OU(65535), 0},
    {T, "tasks", 0, "port", OU(65536), BAD},
    {T, "tasks", 0, "int", OU(9), BAD},
    {T, "tasks", 0, "int", OU(10), 0},
    {T, "tasks", 0, "int", OU(3600000), 0},
    {T, "tasks", 0, "int", OU(3600001), BAD},
    {T, "tasks", 0, "to", OU(0), BAD},
    {T, "tasks", 0, "to", OU(1), 0},
    {T, "tasks", 0, "to", OU(60000), 0},
    {T, "tasks", 0, "to", OU(60001), BAD},
    {T, "tasks", 0, "size", OU(43), BAD},
    {T, "tasks", 0, "size", OU(44), 0},
    {T, "tasks", 0, "size", OU(1472), 0},
    {T, "tasks", 0, "size", OU(1473), BAD},
    {T, "tasks", 0, "dscp", OU(0), 0},
    {T, "tasks", 0, "dscp", OU(63), 0},
    {T, "tasks", 0, "dscp", OU(64), BAD},
    {T, "tasks", 1, "dscp", OU(256), BAD},

    {R, "r", 0, "seq", OU(0), BAD},
    {R, "r", 0, "seq", OU(1), 0},
    {R, "r", 0, "seq", OU(42), BAD}, /* not below the next record's */
    {R, "r", 1, "seq", OU(41), BAD},
    {R, "r", 1, "seq", OU(UINT64_MAX), 0},
    {R, "r", 0, "task", OU(UINT32_MAX + 1ull), BAD},
    {R, "r", 0, "m", OU(PROTO_METHOD_MAX + 1), BAD},
    {R, "r", 0, "tid", OS(""), BAD},
    {R, "r", 0, "tid", OS("bad\xff"), BAD},
    {R, "r", 0, "ws", OI(INT64_MIN), 0},
    {R, "r", 0, "ws", OI(-1), 0},
    {R, "r", 0, "ws", OU(INT64_MAX), 0},
    {R, "r", 0, "ws", OU(INT64_MAX + 1ull), BAD},
    {R, "r", 0, "wl", OU(0), BAD},
    {R, "r", 0, "wl", OU(3600), 0},
    {R, "r", 0, "wl", OU(3601), BAD},
    {R, "r", 0, "sent", OU(UINT32_MAX + 1ull), BAD},
    {R, "r", 0, "sent", OU(97), 0},
    {R, "r", 0, "sent", OU(96), BAD},  /* fewer than received */
    {R, "r", 0, "recv", OU(101), BAD}, /* more than sent */
    {R, "r", 0, "lost", OU(100), 0},
    {R, "r", 0, "lost", OU(101), BAD},
    {R, "r", 0, "min", OU(14000000), 0},
    {R, "r", 0, "min", OU(14000001), BAD}, /* above max */
    {R, "r", 0, "max", OU(9499999), BAD},
    {R, "r", 1, "min", OU(5), 0}, /* nothing received: min and max mean nothing */
    {R, "r", 0, "jsum", OI(-1), BAD},
    {R, "r", 0, "jn", OU(UINT32_MAX + 1ull), BAD},
    {R, "r", 0, "sk", OS("sketch"), BAD},

    {A, NULL, 0, "seq", OU(0), 0},
    {A, NULL, 0, "seq", OU(UINT64_MAX), 0},
    {A, NULL, 0, "seq", OI(-1), BAD},
    {A, NULL, 0, "t", OU(PROTO_MSG_ERROR), BAD},

    {E, NULL, 0, "code", OU(0), BAD},
    {E, NULL, 0, "code", OU(99), 0},
    {E, NULL, 0, "code", OU(UINT32_MAX + 1ull), BAD},
    {E, NULL, 0, "reason", OS(""), 0},
    {E, NULL, 0, "reason", OS(S256), 0},
    {E, NULL, 0, "reason", OS(S256 "x"), BAD},
    {E, NULL, 0, "reason", OS("line\nbreak"), BAD},
};

#undef H
#undef T
#undef R
#undef A
#undef E
#undef BAD

START_TEST(edited_field)
{
    const struct edit *e = &edits[_i];
    struct tree t;

    tree_sample(&t, e->type);
    obj_set(tree_map(&t, e->where, e->idx), e->key, e->val);
    ck_assert_msg(tree_rc(&t) == e->rc, "edit %d (%s %s): want %d", _i,
                  proto_msg_type_name(e->type), e->key, e->rc);
    tree_free(&t);
}
END_TEST

START_TEST(unknown_keys_are_ignored)
{
    enum proto_msg_type type = (enum proto_msg_type)_i;
    const char *arr = nested_array(type);
    msgpack_object k = OS("zz"), k2 = OS("future"), v = OS("later"), nested = OARR0;
    struct proto_msg want, got;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct tree t;

    tree_sample(&t, type);
    arr_add(&t, &nested, v);
    arr_add(&t, &nested, obj_u(7));
    obj_add(&t, &t.up.data, k, nested);
    obj_add(&t, &t.up.data, k2, obj_u(1));
    if (arr != NULL)
        obj_add(&t, tree_map(&t, arr, 0), k, v);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    ck_assert_int_eq(msgpack_pack_object(&pk, t.up.data), 0);
    ck_assert_int_eq(decode_copy(sb.data, sb.size, &got), 0);
    sample(type, &want);
    msg_eq(&want, &got);
    proto_msg_free(&want);
    proto_msg_free(&got);
    msgpack_sbuffer_destroy(&sb);
    tree_free(&t);
}
END_TEST

START_TEST(duplicate_keys_are_refused)
{
    msgpack_object v = OS("x"), one = OU(1);
    struct tree t;

    tree_sample(&t, PROTO_MSG_HELLO);
    obj_add(&t, &t.up.data, obj_s("vmin"), *obj_get(&t.up.data, "vmin"));
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);

    tree_sample(&t, PROTO_MSG_ACK);
    obj_add(&t, &t.up.data, obj_s("t"), obj_u(PROTO_MSG_ACK));
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);

    /* Even keys we do not know may appear only once. */
    tree_sample(&t, PROTO_MSG_ACK);
    obj_add(&t, &t.up.data, obj_s("zz"), v);
    obj_add(&t, &t.up.data, obj_s("zz"), v);
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);

    tree_sample(&t, PROTO_MSG_TASKS);
    obj_add(&t, tree_map(&t, "tasks", 1), obj_s("port"), one);
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);
}
END_TEST

START_TEST(non_string_keys_are_refused)
{
    msgpack_object k = OU(1), v = OU(1), kb = OB("zz");
    struct tree t;

    tree_sample(&t, PROTO_MSG_ACK);
    obj_add(&t, &t.up.data, k, v);
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);

    tree_sample(&t, PROTO_MSG_ACK);
    obj_add(&t, &t.up.data, kb, v);
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);
}
END_TEST

/* A message map holds at most 64 keys, known ones included. */
START_TEST(too_many_keys)
{
    static char names[64][8];
    struct tree t;
    uint32_t i, n;

    tree_sample(&t, PROTO_MSG_HELLO);
    n = t.up.data.via.map.size;
    for (i = 0; n + i < 64; i++) {
        snprintf(names[i], sizeof(names[i]), "x%u", i);
        obj_add(&t, &t.up.data, obj_s(names[i]), obj_u(i));
    }
    ck_assert_int_eq(tree_rc(&t), 0);
    obj_add(&t, &t.up.data, obj_s("one-more"), obj_u(i));
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);
}
END_TEST

START_TEST(too_many_addrs)
{
    static char addrs[PROTO_ADDR_MAX + 1][PROTO_ADDRSTR_MAX];
    msgpack_object list = OARR0;
    struct tree t;
    uint32_t i;

    tree_sample(&t, PROTO_MSG_HELLO);
    for (i = 0; i < PROTO_ADDR_MAX; i++) {
        snprintf(addrs[i], sizeof(addrs[i]), "192.0.2.%u", i + 1);
        arr_add(&t, &list, obj_s(addrs[i]));
    }
    obj_set(&t.up.data, "addrs", list);
    ck_assert_int_eq(tree_rc(&t), 0);
    arr_add(&t, &list, obj_s("2001:db8::9"));
    obj_set(&t.up.data, "addrs", list);
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    list.via.array.size = 1;
    list.via.array.ptr[0] = obj_s("192.0.2.1:862");
    obj_set(&t.up.data, "addrs", list);
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);
}
END_TEST

START_TEST(too_many_tasks)
{
    struct proto_msg m = {.type = PROTO_MSG_TASKS};
    msgpack_object *list;
    struct tree t;

    sample_tasks(&m.u.tasks, PROTO_TASKS_MAX);
    tree_load(&t, &m);
    proto_msg_free(&m);
    list = obj_get(&t.up.data, "tasks");
    arr_add(&t, list,
            map_variant(&t, &list->via.array.ptr[0], "id", obj_u(PROTO_TASKS_MAX + 1)));
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);
}
END_TEST

START_TEST(too_many_results)
{
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};
    msgpack_object *list;
    struct tree t;

    sample_results(&m.u.results, PROTO_RESULTS_MAX);
    tree_load(&t, &m);
    proto_msg_free(&m);
    list = obj_get(&t.up.data, "r");
    arr_add(
        &t, list,
        map_variant(&t, &list->via.array.ptr[0], "seq", obj_u(41 + PROTO_RESULTS_MAX)));
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    list->via.array.size = 0;
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    tree_free(&t);
}
END_TEST

START_TEST(trailing_octets_are_refused)
{
    struct proto_msg m;
    size_t plen;
    uint8_t *frame, *two;

    sample(PROTO_MSG_ACK, &m);
    frame = encode_frame(&m, &plen);
    two = malloc(2 * plen);
    ck_assert_ptr_nonnull(two);
    memcpy(two, frame + PROTO_FRAME_HDR, plen);
    memcpy(two + plen, frame + PROTO_FRAME_HDR, plen);
    ck_assert_int_eq(decode_rc(two, plen), 0);
    ck_assert_int_eq(decode_rc(two, plen + 1), -EBADMSG);
    ck_assert_int_eq(decode_rc(two, 2 * plen), -EBADMSG);
    two[plen] = 0xc0; /* nil */
    ck_assert_int_eq(decode_rc(two, plen + 1), -EBADMSG);
    free(two);
    free(frame);
}
END_TEST

/* Raw payloads, mostly what msgpack_pack_object() would never produce. */
static const struct {
    const char *p;
    size_t len;
    int rc;
} raw[] = {
#define RAW(s, rc)                                                                       \
    {                                                                                    \
        s, sizeof(s) - 1, rc                                                             \
    }
    RAW("", -EBADMSG), RAW("\xc0", -EBADMSG), /* nil */
    RAW("\x04", -EBADMSG),                    /* an integer */
    RAW("\xa1t", -EBADMSG),                   /* a string */
    RAW("\x91\x04", -EBADMSG),                /* an array */
    RAW("\x80", -EBADMSG),                    /* an empty map: no type */
    RAW("\x81\xa1t\x04", -EBADMSG),           /* ACK without seq */
    RAW("\x82\xa1t\x04\xa3seq", -EBADMSG),
    RAW("\x82\xa1t\x04\xa3seq\xc1", -EBADMSG), /* the reserved octet */
    RAW("\x82\xa1t\x04\xa3seq\x01", 0),
    RAW("\x82\xa1t\xd0\x04\xa3seq\xcc\x01", 0),        /* int8 4 and uint8 1 are fine */
    RAW("\x82\xa1t\x04\xa3seq\xd0\xff", -EBADMSG),     /* int8 -1 */
    RAW("\x82\xa1t\x04\xa3seq\xcf\x00\x00", -EBADMSG), /* cut uint64 */
    /* 2^32 - 1 elements or octets announced in five octets */
    RAW("\xdd\xff\xff\xff\xff", -EBADMSG), RAW("\xdf\xff\xff\xff\xff", -EBADMSG),
    RAW("\xdb\xff\xff\xff\xff", -EBADMSG),
    RAW("\x82\xa1t\x01\xa5"
        "addrs\xdd\x7f\xff\xff\xff",
        -EBADMSG),
    RAW("\x83\xa1t\x04\xa3seq\x01\xa2zz\xc7\xff\x01", -EBADMSG), /* ext past the end */
    RAW("\x83\xa1t\x04\xa3seq\x01\xa2zz\xd4\x01\x00", 0),        /* fixext 1 is skipped */
    RAW("\x83\xa1t\x04\xa3seq\x01\xa2zz\xc4\x02zz", 0),          /* so is bin */
#undef RAW
};

START_TEST(raw_payloads)
{
    ck_assert_msg(decode_rc(raw[_i].p, raw[_i].len) == raw[_i].rc, "raw payload %d", _i);
}
END_TEST

/* {"t": 4, "seq": 1, "zz": [[...[nil]...]]} with depth nested arrays. */
static int nested_ack_rc(unsigned depth)
{
    static const uint8_t head[] = {0x83, 0xa1, 't',  0x04, 0xa3, 's',
                                   'e',  'q',  0x01, 0xa2, 'z',  'z'};
    size_t len = sizeof(head) + depth + 1;
    uint8_t *p = malloc(len);
    int rc;

    ck_assert_ptr_nonnull(p);
    memcpy(p, head, sizeof(head));
    memset(p + sizeof(head), 0x91, depth);
    p[len - 1] = 0xc0;
    rc = decode_rc(p, len);
    free(p);
    return rc;
}

START_TEST(deep_nesting)
{
    ck_assert_int_eq(nested_ack_rc(15), 0);
    ck_assert_int_eq(nested_ack_rc(16), -EBADMSG);
    ck_assert_int_eq(nested_ack_rc(40), -EBADMSG);
    ck_assert_int_eq(nested_ack_rc(100000), -EBADMSG);
}
END_TEST

START_TEST(oversize_payload)
{
    uint8_t *p = calloc(PROTO_FRAME_MAX + 1, 1);
    struct proto_msg m;

    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(proto_msg_decode(p, PROTO_FRAME_MAX + 1, &m), -EMSGSIZE);
    assert_empty(&m);
    free(p);
}
END_TEST

static uint32_t rnd_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Random damage never crashes or leaks; what decodes can be freed. */
START_TEST(random_damage)
{
    uint32_t seed = 0x9e3779b9u + (uint32_t)_i, k, j;
    struct proto_msg m;
    size_t plen;
    uint8_t *frame, *p;

    sample((enum proto_msg_type)_i, &m);
    frame = encode_frame(&m, &plen);
    proto_msg_free(&m);
    p = malloc(plen);
    ck_assert_ptr_nonnull(p);
    for (k = 0; k < 4000; k++) {
        memcpy(p, frame + PROTO_FRAME_HDR, plen);
        for (j = rnd_next(&seed) % 4; j < 4; j++)
            p[rnd_next(&seed) % plen] = (uint8_t)rnd_next(&seed);
        if (proto_msg_decode(p, rnd_next(&seed) % 8 ? plen : rnd_next(&seed) % plen,
                             &m) == 0)
            proto_msg_free(&m);
    }
    free(p);
    free(frame);
}
END_TEST

/* A delta that would mean two things, or has ids that are not ids. */
START_TEST(delta_rules)
{
    msgpack_object *del;
    struct tree t;

    tree_sample(&t, PROTO_MSG_TASKS_DELTA);
    del = obj_get(&t.up.data, "del");
    del->via.array.ptr[1] = obj_u(1); /* deleted twice */
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    del->via.array.ptr[1] = obj_u(3); /* put and deleted */
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    del->via.array.ptr[1] = obj_i(-1);
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    del->via.array.ptr[1] = obj_u((uint64_t)UINT32_MAX + 1);
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    del->via.array.ptr[1] = obj_s("9");
    ck_assert_int_eq(tree_rc(&t), -EBADMSG);
    del->via.array.ptr[1] = obj_u(UINT32_MAX);
    ck_assert_int_eq(tree_rc(&t), 0);
    for (uint32_t i = 0; i < PROTO_TASKS_MAX - 1; i++)
        arr_add(&t, del, obj_u(100 + i));
    ck_assert_int_eq(tree_rc(&t), -EBADMSG); /* 4097 ids */
    tree_free(&t);
}
END_TEST

START_TEST(delta_encoder_rules)
{
    uint8_t *out = NULL;
    struct proto_msg m;
    size_t len;

    sample(PROTO_MSG_TASKS_DELTA, &m);
    m.u.tasks.del[1] = 4; /* put and deleted */
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    m.u.tasks.del[1] = 1;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    m.u.tasks.del[1] = 2;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), 0);
    free(out);
    proto_msg_free(&m);
}
END_TEST

static uint32_t patched_id(const struct proto_tasks *t, uint32_t i)
{
    return t->tasks[i].id;
}

/* Kept in their order, replaced where put, added at the end, absent ids ignored. */
START_TEST(delta_patch)
{
    struct proto_tasks cur, out;
    struct proto_msg m;

    sample_tasks(&cur, 3);             /* ids 1, 2, 3 */
    sample(PROTO_MSG_TASKS_DELTA, &m); /* put 3, 4; delete 1, 9 */
    m.u.tasks.tasks[0].port = 9999;
    ck_assert_int_eq(proto_tasks_patch(cur.tasks, cur.ntasks, &m.u.tasks, &out), 0);
    ck_assert_uint_eq(out.ntasks, 3);
    ck_assert_uint_eq(patched_id(&out, 0), 2);
    task_eq(&out.tasks[0], &cur.tasks[1]);
    ck_assert_uint_eq(patched_id(&out, 1), 3);
    ck_assert_uint_eq(out.tasks[1].port, 9999);
    ck_assert_uint_eq(patched_id(&out, 2), 4);
    ck_assert_uint_eq(out.generation, 8);
    ck_assert_uint_eq(out.window_s, 10);
    free(out.tasks);
    free(cur.tasks);

    /* A full list takes no more: one deleted makes room for one added. */
    sample_tasks(&cur, PROTO_TASKS_MAX);
    m.u.tasks.tasks[1].id = 5000; /* new; 3 is replaced */
    m.u.tasks.del[0] = 8888;      /* absent, as 9 is not */
    m.u.tasks.del[1] = 9999;
    ck_assert_int_eq(proto_tasks_patch(cur.tasks, cur.ntasks, &m.u.tasks, &out), -E2BIG);
    ck_assert_ptr_null(out.tasks);
    m.u.tasks.del[0] = 10;
    ck_assert_int_eq(proto_tasks_patch(cur.tasks, cur.ntasks, &m.u.tasks, &out), 0);
    ck_assert_uint_eq(out.ntasks, PROTO_TASKS_MAX);
    ck_assert_uint_eq(patched_id(&out, PROTO_TASKS_MAX - 1), 5000);
    free(out.tasks);
    free(cur.tasks);
    proto_msg_free(&m);
}
END_TEST

/* ---- the encoder refuses what the decoder would ------------------------------- */

START_TEST(encoder_refuses_invalid)
{
    struct proto_msg m;
    uint8_t *out = NULL;
    size_t len = 0;

    sample(PROTO_MSG_HELLO, &m);
    m.type = (enum proto_msg_type)9;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    sample(PROTO_MSG_HELLO, &m);
    strcpy(m.u.hello.probe_id, "no spaces");
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    sample(PROTO_MSG_HELLO, &m);
    m.u.hello.naddrs = PROTO_ADDR_MAX + 1;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    sample(PROTO_MSG_HELLO, &m);
    strcpy(m.u.hello.addrs[1], "localhost");
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    sample(PROTO_MSG_HELLO, &m);
    memset(m.u.hello.name, 'a', sizeof(m.u.hello.name)); /* no terminating NUL */
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    sample(PROTO_MSG_HELLO, &m);
    m.u.hello.lat = NAN;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);

    sample(PROTO_MSG_TASKS, &m);
    m.u.tasks.tasks[1].id = m.u.tasks.tasks[0].id;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    m.u.tasks.tasks[1].id = 2;
    m.u.tasks.tasks[1].size = 20;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    proto_msg_free(&m);

    sample(PROTO_MSG_RESULTS, &m);
    m.u.results.results[1].seq = m.u.results.results[0].seq;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    m.u.results.results[1].seq++;
    m.u.results.results[0].received = 101;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    m.u.results.nresults = 0;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    m.u.results.nresults = 2;
    proto_msg_free(&m);

    sample(PROTO_MSG_ERROR, &m);
    m.u.error.code = 0;
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EINVAL);
    ck_assert_ptr_null(out);
}
END_TEST

/* The widest sketches, a thousand of them, do not fit one frame. */
START_TEST(encoder_refuses_oversize)
{
    struct proto_msg m = {.type = PROTO_MSG_RESULTS};
    struct proto_sketch wide;
    uint8_t *out = NULL;
    size_t len = 0;
    double v;
    uint32_t i;

    proto_sketch_init(&wide);
    for (v = 1.0; v < PROTO_SKETCH_MAX_NS; v *= 1.01)
        ck_assert_int_eq(proto_sketch_add(&wide, v), 0);
    sample_results(&m.u.results, PROTO_RESULTS_MAX);
    for (i = 0; i < PROTO_RESULTS_MAX; i++)
        ck_assert_int_eq(proto_sketch_merge(&m.u.results.results[i].sketch, &wide), 0);
    ck_assert_int_eq(proto_msg_encode(&m, &out, &len), -EMSGSIZE);
    ck_assert_ptr_null(out);
    proto_sketch_free(&wide);
    proto_msg_free(&m);
}
END_TEST

/* ---- names ------------------------------------------------------------------- */

/* Full jitter under a ceiling that doubles from 0.5 s up to 60 s. */
START_TEST(backoff)
{
    ck_assert_uint_eq(proto_backoff_ms(0, 500), 500);
    ck_assert_uint_eq(proto_backoff_ms(0, 501), 0);
    ck_assert_uint_eq(proto_backoff_ms(3, 4000), 4000);
    ck_assert_uint_eq(proto_backoff_ms(3, 4001), 0);
    ck_assert_uint_eq(proto_backoff_ms(7, 60000), 60000); /* 64 s, capped */
    ck_assert_uint_eq(proto_backoff_ms(7, 60001), 0);
    ck_assert_uint_eq(proto_backoff_ms(UINT32_MAX, UINT64_MAX), UINT64_MAX % 60001);
}
END_TEST

START_TEST(version_pick)
{
    uint32_t v = 0;

    ck_assert_int_eq(proto_version_pick(1, 1, &v), 0);
    ck_assert_uint_eq(v, PROTO_VERSION_MAX);
    ck_assert_int_eq(proto_version_pick(PROTO_VERSION_MIN, 99, &v), 0);
    ck_assert_uint_eq(v, PROTO_VERSION_MAX);
    ck_assert_int_eq(proto_version_pick(PROTO_VERSION_MAX + 1, 99, &v), -EPROTO);
    ck_assert_int_eq(proto_version_pick(2, 1, &v), -EPROTO);
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(proto_msg_type_name(PROTO_MSG_HELLO), "HELLO");
    ck_assert_str_eq(proto_msg_type_name(PROTO_MSG_TASKS), "TASKS");
    ck_assert_str_eq(proto_msg_type_name(PROTO_MSG_RESULTS), "RESULTS");
    ck_assert_str_eq(proto_msg_type_name(PROTO_MSG_ACK), "ACK");
    ck_assert_str_eq(proto_msg_type_name(PROTO_MSG_ERROR), "ERROR");
    ck_assert_str_eq(proto_msg_type_name((enum proto_msg_type)0), "UNKNOWN");
    ck_assert_str_eq(proto_msg_type_name((enum proto_msg_type)77), "UNKNOWN");
    ck_assert_str_eq(proto_method_name(PROTO_METHOD_STAMP), "stamp");
    ck_assert_str_eq(proto_method_name(0), "unknown");
    ck_assert_str_eq(proto_method_name(200), "unknown");
    ck_assert_int_eq(proto_method_parse("stamp"), PROTO_METHOD_STAMP);
    ck_assert_int_eq(proto_method_parse("STAMP"), -EINVAL);
    ck_assert_int_eq(proto_method_parse(""), -EINVAL);
    ck_assert_int_eq(proto_method_parse(NULL), -EINVAL);
}
END_TEST

START_TEST(ids)
{
    ck_assert_int_eq(proto_id_valid("khi-pk-01"), 1);
    ck_assert_int_eq(proto_id_valid("A.b_C-9"), 1);
    ck_assert_int_eq(proto_id_valid(S64), 1);
    ck_assert_int_eq(proto_id_valid(S64 "x"), 0);
    ck_assert_int_eq(proto_id_valid(""), 0);
    ck_assert_int_eq(proto_id_valid(NULL), 0);
    ck_assert_int_eq(proto_id_valid("a b"), 0);
    ck_assert_int_eq(proto_id_valid("a/b"), 0);
    ck_assert_int_eq(proto_id_valid("caf\xc3\xa9"), 0);
    ck_assert_int_eq(proto_id_valid("a\tb"), 0);
}
END_TEST

/* Names fit PROTO_HOST_MAX + 1 octets, the trailing dot included; an IPv4
 * address is not a name. */
START_TEST(hosts)
{
    char name[PROTO_HOST_MAX + 2];

    /* Four labels of 63 octets and dots: 255; three and one of 59: 253. */
    memset(name, 'a', sizeof(name));
    name[63] = name[127] = name[191] = '.';
    name[PROTO_HOST_MAX] = '\0';
    ck_assert_int_eq(proto_host_valid(name), 1);
    name[PROTO_HOST_MAX - 1] = '.'; /* 253 with a trailing dot */
    ck_assert_int_eq(proto_host_valid(name), 1);
    name[PROTO_HOST_MAX - 1] = 'a';
    name[PROTO_HOST_MAX] = '.'; /* 254 with it: one octet too many */
    name[PROTO_HOST_MAX + 1] = '\0';
    ck_assert_int_eq(proto_host_valid(name), 0);
    ck_assert_int_eq(proto_host_valid("content.ixmesh.test"), 1);
    ck_assert_int_eq(proto_host_valid("content.ixmesh.test."), 1);
    ck_assert_int_eq(proto_host_valid("_dns.x-1.example"), 1);
    ck_assert_int_eq(proto_host_valid("1.example"), 1);
    ck_assert_int_eq(proto_host_valid("localhost"), 1);
    ck_assert_int_eq(proto_host_valid("192.0.2.1"), 0);
    ck_assert_int_eq(proto_host_valid("192.0.2.1."), 0);
    ck_assert_int_eq(proto_host_valid("example.123"), 0);
    ck_assert_int_eq(proto_host_valid("."), 0);
    ck_assert_int_eq(proto_host_valid("a..b"), 0);
    ck_assert_int_eq(proto_host_valid(".a"), 0);
    ck_assert_int_eq(proto_host_valid(""), 0);
    ck_assert_int_eq(proto_host_valid(NULL), 0);
    ck_assert_int_eq(proto_host_valid("a b"), 0);
}
END_TEST

Suite *msg_suite(void)
{
    Suite *s = suite_create("msg");
    TCase *rt = tcase_create("round_trip");
    TCase *bad = tcase_create("malformed");
    TCase *enc = tcase_create("encoder");

    tcase_set_timeout(rt, 60);
    tcase_set_timeout(bad, 60);
    tcase_set_timeout(enc, 60);
    tcase_add_loop_test(rt, round_trip_each_type, PROTO_MSG_HELLO,
                        PROTO_MSG_TASKS_DELTA + 1);
    tcase_add_test(rt, round_trip_edges);
    tcase_add_test(rt, round_trip_content);
    tcase_add_test(rt, round_trip_health);
    tcase_add_test(bad, content_rules);
    tcase_add_test(rt, round_trip_largest_arrays);
    tcase_add_test(rt, location_is_optional);
    tcase_add_test(rt, later_fields_are_optional);
    tcase_add_loop_test(rt, unknown_keys_are_ignored, PROTO_MSG_HELLO,
                        PROTO_MSG_TASKS_DELTA + 1);
    tcase_add_loop_test(bad, every_truncation_fails, PROTO_MSG_HELLO,
                        PROTO_MSG_TASKS_DELTA + 1);
    tcase_add_loop_test(bad, wrong_type_for_each_field, PROTO_MSG_HELLO,
                        PROTO_MSG_TASKS_DELTA + 1);
    tcase_add_loop_test(bad, missing_field, PROTO_MSG_HELLO, PROTO_MSG_TASKS_DELTA + 1);
    tcase_add_loop_test(bad, edited_field, 0, (int)nitems(edits));
    tcase_add_test(bad, duplicate_keys_are_refused);
    tcase_add_test(bad, non_string_keys_are_refused);
    tcase_add_test(bad, too_many_keys);
    tcase_add_test(bad, too_many_addrs);
    tcase_add_test(bad, too_many_tasks);
    tcase_add_test(bad, delta_rules);
    tcase_add_test(enc, delta_encoder_rules);
    tcase_add_test(rt, delta_patch);
    tcase_add_test(bad, too_many_results);
    tcase_add_test(bad, trailing_octets_are_refused);
    tcase_add_loop_test(bad, raw_payloads, 0, (int)nitems(raw));
    tcase_add_test(bad, deep_nesting);
    tcase_add_test(bad, oversize_payload);
    tcase_add_loop_test(bad, random_damage, PROTO_MSG_HELLO, PROTO_MSG_TASKS_DELTA + 1);
    tcase_add_test(enc, encoder_refuses_invalid);
    tcase_add_test(enc, encoder_refuses_oversize);
    tcase_add_test(enc, names);
    tcase_add_test(enc, version_pick);
    tcase_add_test(enc, backoff);
    tcase_add_test(enc, ids);
    tcase_add_test(enc, hosts);
    suite_add_tcase(s, rt);
    suite_add_tcase(s, bad);
    suite_add_tcase(s, enc);
    return s;
}
