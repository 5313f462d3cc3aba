/*
 * gen_seeds.c - writes the seed corpus of the fuzz harnesses.
 *
 *   gen_seeds OUTDIR
 *
 * Writes OUTDIR/NAME/seed-* for every harness NAME: valid inputs made with
 * the encoders themselves, so they follow the wire formats as they change,
 * and a few hand-made edge cases (announced counts far beyond the input,
 * deep nesting, reserved octets, limits plus one).  The committed corpus in
 * tests/fuzz/corpus/ is this output plus what campaigns merged in
 * (run.sh --merge); rerun it after a wire format change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

static const char *outdir;

static _Noreturn void die(const char *what, const char *detail)
{
    fprintf(stderr, "gen_seeds: %s: %s\n", what, detail);
    exit(1);
}

/* Writes OUTDIR/harness/seed-name. */
static void put(const char *harness, const char *name, const void *data, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", outdir, harness);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        die(path, strerror(errno));
    snprintf(path, sizeof(path), "%s/%s/seed-%s", outdir, harness, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die(path, "cannot write");
}

static void put_str(const char *harness, const char *name, const char *s)
{
    put(harness, name, s, strlen(s));
}

/* ---- control messages ---------------------------------------------------------- */

static void hello_full(struct proto_msg *m)
{
    struct proto_hello *h = &m->u.hello;

    m->type = PROTO_MSG_HELLO;
    h->version_min = PROTO_VERSION_MIN;
    h->version_max = PROTO_VERSION_MAX;
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

/* Every limit reached: the longest id, eight addresses, a UTF-8 name. */
static void hello_limits(struct proto_msg *m)
{
    struct proto_hello *h = &m->u.hello;
    uint32_t i;

    m->type = PROTO_MSG_HELLO;
    h->version_min = 1;
    h->version_max = UINT32_MAX;
    h->caps = UINT32_MAX;
    memset(h->probe_id, 'a', PROTO_ID_MAX);
    strcpy(
        h->name,
        "Lahore \xd9\x84\xd8\xa7\xdb\x81\xd9\x88\xd8\xb1 \xe2\x82\xac \xf0\x9f\x8c\x8d");
    memset(h->sw_version, '9', PROTO_SWVER_MAX);
    h->naddrs = PROTO_ADDR_MAX;
    for (i = 0; i < PROTO_ADDR_MAX; i++)
        snprintf(h->addrs[i], PROTO_ADDRSTR_MAX,
                 i % 2 ? "ffff:ffff:ffff:ffff:ffff:ffff:%u.0.0.1" : "10.0.0.%u", i + 1);
    h->stamp_port = UINT16_MAX;
    h->has_location = 1;
    h->lat = -90;
    h->lon = 180;
}

static void hello_minimal(struct proto_msg *m)
{
    struct proto_hello *h = &m->u.hello;

    m->type = PROTO_MSG_HELLO;
    h->version_min = PROTO_VERSION;
    h->version_max = PROTO_VERSION;
    strcpy(h->probe_id, "p");
    strcpy(h->sw_version, "1");
    h->stamp_port = 1;
}

static void task_sample(struct proto_task *t, uint32_t id)
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

static void tasks_sample(struct proto_msg *m, struct proto_task *t, uint32_t n)
{
    uint32_t i;

    m->type = PROTO_MSG_TASKS;
    m->u.tasks.generation = 7;
    m->u.tasks.window_s = 10;
    m->u.tasks.ntasks = n;
    m->u.tasks.tasks = n > 0 ? t : NULL;
    for (i = 0; i < n; i++)
        task_sample(&t[i], i + 1);
}

static void result_sample(struct proto_result *r, uint64_t seq, int empty)
{
    r->schema = PROTO_SCHEMA;
    r->seq = seq;
    r->task_id = (uint32_t)seq;
    r->method = PROTO_METHOD_STAMP;
    strcpy(r->target_id, "isb-pk-02");
    r->window_start_ms = 1700000000000 + (int64_t)seq * 10000;
    r->window_s = 10;
    r->sent = 100;
    if (empty) {
        r->lost = 100;
        return;
    }
    r->received = 97;
    r->lost = 3;
    r->duplicates = 1;
    r->reordered = 2;
    r->rtt_min_ns = 9500000;
    r->rtt_max_ns = 14000000;
    r->ipdv_sum_ns = 2300000;
    r->ipdv_count = 95;
    if (proto_sketch_add(&r->sketch, 9500000.0) != 0 ||
        proto_sketch_add(&r->sketch, 11000000.0 + (double)seq) != 0 ||
        proto_sketch_add(&r->sketch, 14000000.0) != 0 ||
        proto_sketch_add(&r->sketch, 0.5))
        die("sketch", "cannot add");
}

/* Encodes m; writes the frame, the payload and the payload without "t". */
static void put_msg(const char *name, const struct proto_msg *m)
{
    static const char *const typed[] = {
        [PROTO_MSG_HELLO] = "msg_hello",
        [PROTO_MSG_TASKS] = "msg_tasks",
        [PROTO_MSG_RESULTS] = "msg_results",
        [PROTO_MSG_ACK] = "msg_ack",
        [PROTO_MSG_ERROR] = "msg_error",
        [PROTO_MSG_WELCOME] = "msg_welcome",
        [PROTO_MSG_HEARTBEAT] = "msg_heartbeat",
        [PROTO_MSG_TASKS_DELTA] = "msg_tasks_delta",
    };
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct proto_rd r;
    uint8_t *frame, b, t[3];
    uint32_t npairs;
    uint16_t n16;
    size_t len;
    int rc;

    rc = proto_msg_encode(m, &frame, &len);
    if (rc != 0)
        die(name, proto_strerror(rc));
    put("frame", name, frame, len);
    put("msg", name, frame + PROTO_FRAME_HDR, len - PROTO_FRAME_HDR);
    /* What the controller checks of a member (fuzz_member). */
    if (m->type == PROTO_MSG_HELLO || m->type == PROTO_MSG_RESULTS)
        put("member", name, frame + PROTO_FRAME_HDR, len - PROTO_FRAME_HDR);

    /* The encoder writes the map header, then "t" and the type: drop the pair. */
    proto_rd_init(&r, frame + PROTO_FRAME_HDR, len - PROTO_FRAME_HDR);
    if (proto_rd_u8(&r, &b) != 0)
        die(name, "empty payload");
    if (b >= 0x80 && b <= 0x8f)
        npairs = b & 0x0f;
    else if (b == 0xde && proto_rd_u16(&r, &n16) == 0)
        npairs = n16;
    else
        die(name, "payload is not a small map");
    if (proto_rd_bytes(&r, t, 3) != 0 || memcmp(t, "\xa1t", 2) != 0 || t[2] != m->type)
        die(name, "payload does not start with \"t\"");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, npairs - 1) != 0 ||
        msgpack_sbuffer_write(&sb, (const char *)frame + PROTO_FRAME_HDR + r.off,
                              len - PROTO_FRAME_HDR - r.off) != 0)
        die(name, "out of memory");
    put(typed[m->type], name, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    free(frame);
}

static void gen_messages(void)
{
    struct proto_result results[3];
    struct proto_task tasks[5];
    uint32_t dels[] = {99, UINT32_MAX};
    struct proto_msg m;
    uint32_t i;

    memset(&m, 0, sizeof(m));
    hello_full(&m);
    put_msg("hello", &m);
    memset(&m, 0, sizeof(m));
    hello_limits(&m);
    put_msg("hello-limits", &m);
    memset(&m, 0, sizeof(m));
    hello_minimal(&m);
    put_msg("hello-minimal", &m);

    memset(&m, 0, sizeof(m));
    memset(tasks, 0, sizeof(tasks));
    tasks_sample(&m, tasks, 0);
    put_msg("tasks-none", &m);
    tasks_sample(&m, tasks, 2);
    put_msg("tasks", &m);
    tasks_sample(&m, tasks, 5);
    m.u.tasks.generation = UINT64_MAX;
    m.u.tasks.window_s = 3600;
    tasks[4].interval_ms = 10;
    tasks[4].timeout_ms = 60000;
    tasks[4].size = PROTO_STAMP_MAX_LEN;
    tasks[4].dscp = 63;
    tasks[4].port = UINT16_MAX;
    tasks[4].id = UINT32_MAX;
    put_msg("tasks-limits", &m);

    tasks_sample(&m, tasks, 2); /* a delta: two put, two deleted */
    m.type = PROTO_MSG_TASKS_DELTA;
    m.u.tasks.base = 6;
    m.u.tasks.del = dels;
    m.u.tasks.ndel = nitems(dels);
    put_msg("delta", &m);
    m.u.tasks.ntasks = 0;
    put_msg("delta-del", &m);
    m.u.tasks.ndel = 0;
    put_msg("delta-none", &m);

    memset(&m, 0, sizeof(m));
    memset(results, 0, sizeof(results));
    for (i = 0; i < nitems(results); i++)
        proto_sketch_init(&results[i].sketch);
    m.type = PROTO_MSG_RESULTS;
    m.u.results.results = results;
    m.u.results.nresults = 1;
    result_sample(&results[0], 41, 0);
    put_msg("results", &m);
    result_sample(&results[1], 42, 1);
    result_sample(&results[2], UINT64_MAX, 0);
    results[2].window_start_ms = INT64_MIN;
    results[2].rtt_max_ns = UINT64_MAX;
    if (proto_sketch_add(&results[2].sketch, PROTO_SKETCH_MAX_NS * 2) != 0 ||
        proto_sketch_add(&results[2].sketch, PROTO_SKETCH_MIN_NS) != 0)
        die("sketch", "cannot add");
    m.u.results.nresults = 3;
    put_msg("results-three", &m);
    m.u.results.has_health = 1; /* the probe's health, with two drop reports */
    m.u.results.health = (struct proto_health){.seq0 = 41,
                                               .spool_bytes = 1u << 20,
                                               .pending = 3,
                                               .oldest_s = 20,
                                               .dropped = 9,
                                               .reconnects = 2,
                                               .torn_bytes = 116,
                                               .ndrops = 2,
                                               .drops = {{1764000000000, 4}, {-1, 5}}};
    put_msg("results-health", &m);
    for (i = 0; i < nitems(results); i++)
        proto_sketch_free(&results[i].sketch);

    memset(&m, 0, sizeof(m));
    m.type = PROTO_MSG_ACK;
    put_msg("ack-zero", &m);
    m.u.ack.seq = UINT64_MAX;
    put_msg("ack-max", &m);

    memset(&m, 0, sizeof(m));
    m.type = PROTO_MSG_ERROR;
    m.u.error.code = PROTO_ERR_IDENTITY;
    strcpy(m.u.error.reason, "probe id does not match the certificate");
    put_msg("error", &m);
    m.u.error.code = PROTO_ERR_VERSION;
    m.u.error.reason[0] = '\0';
    put_msg("error-empty", &m);
    m.u.error.code = UINT32_MAX;
    memset(m.u.error.reason, 'x', PROTO_REASON_MAX - 4);
    strcpy(m.u.error.reason + PROTO_REASON_MAX - 4, "\xe2\x82\xac");
    put_msg("error-limits", &m);

    memset(&m, 0, sizeof(m));
    m.type = PROTO_MSG_WELCOME;
    m.u.welcome.version = PROTO_VERSION;
    m.u.welcome.heartbeat_s = 10;
    m.u.welcome.idle_s = 35;
    put_msg("welcome", &m);
    m.u.welcome.version = UINT32_MAX;
    m.u.welcome.heartbeat_s = 3600;
    m.u.welcome.idle_s = 86400;
    put_msg("welcome-limits", &m);

    memset(&m, 0, sizeof(m));
    m.type = PROTO_MSG_HEARTBEAT;
    put_msg("heartbeat", &m);
}

/* What the decoders must refuse without allocating or reading beyond. */
static void gen_message_edges(void)
{
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
    } edges[] = {
#define EDGE(name, s) {name, s, sizeof(s) - 1}
        EDGE("array32-count", "\xdd\xff\xff\xff\xff"),
        EDGE("map32-count", "\xdf\xff\xff\xff\xff"),
        EDGE("str32-length", "\xdb\xff\xff\xff\xff"),
        EDGE("reserved", "\xc1"),
        EDGE("empty-map", "\x80"),
        EDGE("ack-trailing", "\x82\xa1t\x04\xa3seq\x01\xc0"),
        EDGE("ack-duplicate-key", "\x83\xa1t\x04\xa3seq\x01\xa3seq\x02"),
        EDGE("ack-unknown-key-fixext", "\x83\xa1t\x04\xa3seq\x01\xa2zz\xd4\x01\x00"),
        EDGE("ack-negative-seq", "\x82\xa1t\x04\xa3seq\xff"),
        EDGE("type-unknown", "\x81\xa1t\x7f"),
        EDGE("heartbeat-extra", "\x82\xa1t\x07\xa1x\x91\x90"),
        EDGE("hello-addrs-count", "\x82\xa1t\x01\xa5"
                                  "addrs\xdd\x7f\xff\xff\xff"),
#undef EDGE
    };
    uint8_t deep[40], frame[64];
    size_t i;

    for (i = 0; i < nitems(edges); i++) {
        put("msg", edges[i].name, edges[i].bytes, edges[i].len);
        proto_frame_header(frame, (uint32_t)edges[i].len);
        memcpy(frame + PROTO_FRAME_HDR, edges[i].bytes, edges[i].len);
        put("frame", edges[i].name, frame, PROTO_FRAME_HDR + edges[i].len);
    }
    /* Nested arrays beyond every depth limit, around an empty map. */
    memset(deep, 0x91, sizeof(deep));
    deep[sizeof(deep) - 1] = 0x80;
    put("msg", "deep", deep, sizeof(deep));
    for (i = 0; i < 7; i++) {
        static const char *const typed[] = {"msg_hello",    "msg_tasks", "msg_results",
                                            "msg_ack",      "msg_error", "msg_welcome",
                                            "msg_heartbeat"};

        put(typed[i], "map32-count", "\xdf\xff\xff\xff\xff", 5);
        put(typed[i], "map32-max", "\xdf\xff\xff\xff\xfe", 5);
        put(typed[i], "empty-map", "\x80", 1);
        put(typed[i], "duplicate-t", "\x81\xa1t\x01", 4);
    }
}

/* Frame headers on their own, and several frames in one stream. */
static void gen_frames(void)
{
    uint8_t *a, *b, stream[512];
    struct proto_msg m;
    size_t alen, blen;

    put("frame", "zero-length", "\x00\x00\x00\x00", 4);
    put("frame", "above-max", "\x00\x10\x00\x01", 4);
    put("frame", "all-ones", "\xff\xff\xff\xff", 4);
    put("frame", "header-short", "\x00\x00", 2);
    put("frame", "payload-short", "\x00\x00\x00\x05\x81\xa1t", 7);

    memset(&m, 0, sizeof(m));
    m.type = PROTO_MSG_ACK;
    m.u.ack.seq = 9;
    if (proto_msg_encode(&m, &a, &alen) != 0)
        die("frame", "cannot encode");
    hello_minimal(&m);
    if (proto_msg_encode(&m, &b, &blen) != 0)
        die("frame", "cannot encode");
    if (alen + blen + alen > sizeof(stream))
        die("frame", "stream too long");
    memcpy(stream, a, alen);
    memcpy(stream + alen, b, blen);
    memcpy(stream + alen + blen, a, alen);
    put("frame", "stream-three", stream, alen + blen + alen);
    put("frame", "stream-cut", stream, alen + blen / 2);
    free(a);
    free(b);
}

/* ---- sketches ------------------------------------------------------------------ */

static void put_sketch(const char *name, const struct proto_sketch *s)
{
    uint8_t *p;
    size_t len;

    if (proto_sketch_to_bytes(s, &p, &len) != 0)
        die(name, "cannot serialise");
    put("sketch", name, p, len);
    free(p);
}

/* A sketch map by hand: alpha, offset, zero and bins as given. */
static void put_sketch_raw(const char *name, double alpha, int64_t offset, uint64_t zero,
                           const uint64_t *bins, uint32_t nbins)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint32_t i;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = msgpack_pack_map(&pk, 4) || msgpack_pack_str_with_body(&pk, "a", 1) ||
         msgpack_pack_double(&pk, alpha) || msgpack_pack_str_with_body(&pk, "o", 1) ||
         msgpack_pack_int64(&pk, offset) || msgpack_pack_str_with_body(&pk, "z", 1) ||
         msgpack_pack_uint64(&pk, zero) || msgpack_pack_str_with_body(&pk, "b", 1) ||
         msgpack_pack_array(&pk, nbins);
    for (i = 0; rc == 0 && i < nbins; i++)
        rc = msgpack_pack_uint64(&pk, bins != NULL ? bins[i] : 0);
    if (rc != 0)
        die(name, "out of memory");
    put("sketch", name, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void gen_sketches(void)
{
    static const uint64_t big[] = {UINT64_MAX / 2, UINT64_MAX / 2, 2};
    static const uint64_t some[] = {0, 3, 0, 1, 0};
    /* {"a": 0.01, "o": 0, "z": 0, "b": an array of 2^32 - 1 bins, absent} */
    static const char bins_count[] = "\x84\xa1"
                                     "a\xcb\x3f\x84\x7a\xe1\x47\xae\x14\x7b"
                                     "\xa1o\x00\xa1z\x00\xa1"
                                     "b\xdd\xff\xff\xff\xff";
    struct proto_sketch s;
    double v;

    proto_sketch_init(&s);
    put_sketch("empty", &s);
    proto_sketch_add(&s, 0);
    proto_sketch_add(&s, 0.5);
    put_sketch("zero-only", &s);
    for (v = 1000; v < 5e7; v *= 1.7)
        proto_sketch_add(&s, v);
    put_sketch("rtts", &s);
    proto_sketch_reset(&s);
    proto_sketch_add(&s, PROTO_SKETCH_MIN_NS);
    proto_sketch_add(&s, PROTO_SKETCH_MAX_NS);
    put_sketch("widest", &s);
    proto_sketch_free(&s);

    put_sketch_raw("padded-bins", PROTO_SKETCH_ALPHA, 100, 0, some, nitems(some));
    put_sketch_raw("count-overflow", PROTO_SKETCH_ALPHA, 10, 0, big, nitems(big));
    put_sketch_raw("count-at-max", PROTO_SKETCH_ALPHA, 10, 1, big, 2);
    put_sketch_raw("other-alpha", 0.02, 0, 0, some, nitems(some));
    put_sketch_raw("negative-offset", PROTO_SKETCH_ALPHA, -1, 0, some, nitems(some));
    put_sketch_raw("offset-too-high", PROTO_SKETCH_ALPHA, 1 << 20, 0, some, nitems(some));
    put_sketch_raw("bins-too-many", PROTO_SKETCH_ALPHA, 0, 0, NULL, 4097);
    put("sketch", "array32-count", "\xdd\xff\xff\xff\xff", 5);
    put("sketch", "bins-count", bins_count, sizeof(bins_count) - 1);
}

/* ---- STAMP packets -------------------------------------------------------------- */

static const struct proto_stamp_reflector sample_reflector = {
    .seq = 7,
    .ts = 0xe9a1b2c3d4e5f607ull,
    .err = {.sync = 1, .ptp = 0, .scale = 0x3f, .mult = 1},
    .ssid = 0xbeef,
    .rx_ts = 0xe9a1b2c3d4e5f000ull,
    .sender_seq = 7,
    .sender_ts = 0xe9a1b2c3d4e5e000ull,
    .sender_err = {.sync = 0, .ptp = 1, .scale = 1, .mult = 255},
    .sender_ttl = 255,
};

static const struct proto_stamp_sender sample_sender = {
    .seq = 1, .ts = 0xe9a1b2c3d4e5e000ull, .err = {.sync = 1, .mult = 1}, .ssid = 0x1234};

static void gen_stamp(void)
{
    struct proto_stamp_sender sd = sample_sender;
    uint8_t buf[PROTO_STAMP_MAX_LEN];

    if (proto_stamp_sender_encode(&sd, buf, PROTO_STAMP_BASE_LEN) < 0)
        die("stamp", "cannot encode");
    put("stamp", "sender", buf, PROTO_STAMP_BASE_LEN);
    put("stamp", "short", buf, PROTO_STAMP_BASE_LEN - 1);
    sd.seq = UINT32_MAX;
    sd.err.ptp = 1;
    sd.err.mult = 0;
    if (proto_stamp_sender_encode(&sd, buf, 112) < 0)
        die("stamp", "cannot encode");
    put("stamp", "sender-ptp-112", buf, 112);
    if (proto_stamp_reflector_encode(&sample_reflector, buf, PROTO_STAMP_BASE_LEN) < 0)
        die("stamp", "cannot encode");
    put("stamp", "reflector", buf, PROTO_STAMP_BASE_LEN);
    put("stamp", "twamp-light", buf, 41);
    /* Some TWAMP-Light reflectors stop after the Sender Error Estimate. */
    put("stamp", "twamp-light-38", buf, PROTO_STAMP_LIGHT_MIN_LEN);
    if (proto_stamp_reflector_encode(&sample_reflector, buf, PROTO_STAMP_MAX_LEN) < 0)
        die("stamp", "cannot encode");
    put("stamp", "reflector-max", buf, PROTO_STAMP_MAX_LEN);
    memset(buf, 0xff, PROTO_STAMP_BASE_LEN);
    put("stamp", "all-ones", buf, PROTO_STAMP_BASE_LEN);
}

static void gen_stamp_auth(void)
{
    uint8_t buf[PROTO_STAMP_MAX_LEN];

    if (proto_stamp_sender_encode_auth(&sample_sender, FUZZ_STAMP_KEY, buf,
                                       PROTO_STAMP_AUTH_LEN) < 0)
        die("stamp_auth", "cannot encode");
    put("stamp_auth", "sender", buf, PROTO_STAMP_AUTH_LEN);
    put("stamp_auth", "short", buf, PROTO_STAMP_AUTH_LEN - 1);
    buf[PROTO_STAMP_AUTH_LEN - 1] ^= 1;
    put("stamp_auth", "sender-bad-hmac", buf, PROTO_STAMP_AUTH_LEN);
    if (proto_stamp_reflector_encode_auth(&sample_reflector, FUZZ_STAMP_KEY, buf,
                                          PROTO_STAMP_AUTH_LEN) < 0)
        die("stamp_auth", "cannot encode");
    put("stamp_auth", "reflector", buf, PROTO_STAMP_AUTH_LEN);
    if (proto_stamp_reflector_encode_auth(&sample_reflector, FUZZ_STAMP_KEY, buf, 200) <
        0)
        die("stamp_auth", "cannot encode");
    put("stamp_auth", "reflector-200", buf, 200);
}

/*
 * fuzz_stamp_tlv inputs: the 8-octet prefix (options, DSCP and ECN, the
 * request's Sequence Number, spare; see fuzz_stamp_tlv.c), then TLVs.
 */
enum { TLV_KEY = 1, TLV_REQUIRE = 2, TLV_SIGN = 4 };

static void tlv_prefix(struct proto_wr *w, uint8_t opt, uint32_t seq)
{
    proto_wr_init(w, w->p, w->cap);
    if (proto_wr_u8(w, opt) != 0 || proto_wr_u8(w, 46 << 2 | 1) != 0 ||
        proto_wr_u32(w, seq) != 0 || proto_wr_zero(w, 2) != 0)
        die("stamp_tlv", "prefix");
}

/* A TLV by hand, with the sender's flags. */
static void tlv_raw(struct proto_wr *w, uint8_t type, uint16_t len, uint8_t fill)
{
    size_t i;

    if (proto_wr_u8(w, PROTO_STAMP_TLV_SENDER_FLAGS) != 0 || proto_wr_u8(w, type) != 0 ||
        proto_wr_u16(w, len) != 0)
        die("stamp_tlv", "raw");
    for (i = 0; i < len; i++)
        if (proto_wr_u8(w, fill) != 0)
            die("stamp_tlv", "raw");
}

static void gen_stamp_tlv(void)
{
    static const struct proto_stamp_tsinfo ts = {PROTO_STAMP_SYNC_PTP, PROTO_STAMP_TSM_HW,
                                                 PROTO_STAMP_SYNC_PTP,
                                                 PROTO_STAMP_TSM_HW};
    static const struct proto_stamp_cos cos = {.dscp1 = 46};
    static const struct proto_stamp_direct direct = {.s_txc = 12345};
    uint8_t buf[512];
    struct proto_wr w;

    proto_wr_init(&w, buf, sizeof(buf));

    tlv_prefix(&w, TLV_KEY | TLV_REQUIRE, 7);
    if (proto_stamp_tlv_put_tsinfo(&w, &ts) != 0 ||
        proto_stamp_tlv_put_cos(&w, &cos) != 0 ||
        proto_stamp_tlv_put_direct(&w, &direct) != 0 ||
        proto_stamp_tlv_put_hmac(&w, 8, 7, FUZZ_STAMP_KEY) != 0 ||
        proto_stamp_tlv_put_padding(&w, 8) != 0)
        die("stamp_tlv", "signed");
    put("stamp_tlv", "signed", buf, w.off);

    tlv_prefix(&w, TLV_KEY | TLV_SIGN, 9);
    tlv_raw(&w, PROTO_STAMP_TLV_COS, 4, 0xff);
    tlv_raw(&w, PROTO_STAMP_TLV_HMAC, 16, 0);
    put("stamp_tlv", "to-sign", buf, w.off);

    tlv_prefix(&w, 0, 1);
    if (proto_stamp_tlv_put_padding(&w, 20) != 0)
        die("stamp_tlv", "padding");
    tlv_raw(&w, PROTO_STAMP_TLV_RETURN_PATH, 8, 0xaa);
    tlv_raw(&w, 2, 12, 0x55); /* Location */
    tlv_raw(&w, 0xff, 0, 0);
    put("stamp_tlv", "unknown", buf, w.off);

    tlv_prefix(&w, TLV_KEY | TLV_REQUIRE, 2);
    if (proto_stamp_tlv_put_tsinfo(&w, &ts) != 0)
        die("stamp_tlv", "tsinfo");
    put("stamp_tlv", "hmac-missing", buf, w.off);

    tlv_prefix(&w, TLV_KEY | TLV_SIGN, 3);
    tlv_raw(&w, PROTO_STAMP_TLV_HMAC, 16, 0);
    tlv_raw(&w, PROTO_STAMP_TLV_HMAC, 16, 0);
    tlv_raw(&w, PROTO_STAMP_TLV_DIRECT, 12, 1);
    put("stamp_tlv", "hmac-twice", buf, w.off);

    tlv_prefix(&w, 0, 4);
    tlv_raw(&w, PROTO_STAMP_TLV_TSINFO, 3, 1);
    tlv_raw(&w, PROTO_STAMP_TLV_COS, 5, 1);
    tlv_raw(&w, PROTO_STAMP_TLV_DIRECT, 100, 0);
    put("stamp_tlv", "wrong-lengths-cut", buf, w.off - 50);

    tlv_prefix(&w, TLV_KEY, 5);
    put("stamp_tlv", "empty", buf, w.off);
    if (proto_wr_u8(&w, PROTO_STAMP_TLV_U) != 0 || proto_wr_u8(&w, 1) != 0)
        die("stamp_tlv", "short");
    put("stamp_tlv", "header-short", buf, w.off);
}

/*
 * fuzz_reflect inputs: the flags octet, the TOS octet, the datagram (see
 * fuzz.h).  Requests answer the harness's outstanding sequence numbers
 * (FUZZ_REFLECT_FIRST_SEQ on), replies answer them already.
 */
static void put_reflect(const char *name, int flags, uint8_t tos, const uint8_t *dgram,
                        size_t len)
{
    uint8_t buf[2 + PROTO_STAMP_MAX_LEN];

    if (len > PROTO_STAMP_MAX_LEN)
        die("reflect", "datagram too long");
    buf[0] = (uint8_t)flags;
    buf[1] = tos;
    memcpy(buf + 2, dgram, len);
    put("reflect", name, buf, 2 + len);
}

/* A session-sender request of len octets (at least the base packet). */
static size_t reflect_request(uint8_t *buf, size_t len, uint32_t seq, uint16_t ssid,
                              int auth)
{
    struct proto_stamp_sender sd = sample_sender;

    sd.seq = seq;
    sd.ssid = ssid;
    if ((auth ? proto_stamp_sender_encode_auth(&sd, FUZZ_STAMP_KEY, buf, len)
              : proto_stamp_sender_encode(&sd, buf, len)) < 0)
        die("reflect", "cannot encode a request");
    return len;
}

static void gen_reflect(void)
{
    static const struct proto_stamp_tsinfo ts = {PROTO_STAMP_SYNC_NTP, PROTO_STAMP_TSM_SW,
                                                 PROTO_STAMP_SYNC_NTP,
                                                 PROTO_STAMP_TSM_SW};
    static const struct proto_stamp_cos cos = {.dscp1 = 46};
    static const struct proto_stamp_direct direct = {.s_txc = 3};
    const uint32_t first = FUZZ_REFLECT_FIRST_SEQ;
    struct proto_stamp_reflector rf = sample_reflector;
    uint8_t buf[PROTO_STAMP_MAX_LEN];
    struct proto_wr w;
    size_t n;

    n = reflect_request(buf, PROTO_STAMP_BASE_LEN, first, FUZZ_REFLECT_SSID, 0);
    put_reflect("plain", 0, 0, buf, n);
    put_reflect("plain-short-out", FUZZ_REFLECT_SHORT_OUT, 0, buf, n);
    put_reflect("plain-short", 0, 0, buf, n - 1);
    put_reflect("legacy-43", FUZZ_REFLECT_LEGACY, 0, buf, n - 1);
    put_reflect("legacy-41", FUZZ_REFLECT_LEGACY | FUZZ_REFLECT_STATEFUL, 0, buf, 41);
    put_reflect("legacy-40", FUZZ_REFLECT_LEGACY, 0, buf, 40);
    n = reflect_request(buf, PROTO_STAMP_BASE_LEN, first + 1, 0, 0);
    put_reflect("plain-ipv6-stateful-nossid", FUZZ_REFLECT_IPV6 | FUZZ_REFLECT_STATEFUL,
                0, buf, n);
    n = reflect_request(buf, PROTO_STAMP_BASE_LEN, 1000, FUZZ_REFLECT_SSID, 0);
    put_reflect("plain-unknown-seq", 0, 0, buf, n);
    n = reflect_request(buf, PROTO_STAMP_BASE_LEN, first + 2, 0x4321, 0);
    put_reflect("plain-other-ssid", 0, 0, buf, n);
    n = reflect_request(buf, 64, first + 3, FUZZ_REFLECT_SSID, 0);
    put_reflect("plain-zero-tail", FUZZ_REFLECT_IPV6, 46 << 2 | 2, buf, n);

    /* TLVs after the base packet; the largest datagram. */
    reflect_request(buf, PROTO_STAMP_BASE_LEN, first, FUZZ_REFLECT_SSID, 0);
    proto_wr_init(&w, buf + PROTO_STAMP_BASE_LEN, sizeof(buf) - PROTO_STAMP_BASE_LEN);
    if (proto_stamp_tlv_put_tsinfo(&w, &ts) != 0 ||
        proto_stamp_tlv_put_cos(&w, &cos) != 0 ||
        proto_stamp_tlv_put_direct(&w, &direct) != 0 ||
        proto_stamp_tlv_put_padding(&w, 12) != 0)
        die("reflect", "tlvs");
    put_reflect("plain-tlvs", FUZZ_REFLECT_STATEFUL, 46 << 2 | 1, buf,
                PROTO_STAMP_BASE_LEN + w.off);
    reflect_request(buf, PROTO_STAMP_BASE_LEN, first + 1, FUZZ_REFLECT_SSID, 0);
    proto_wr_init(&w, buf + PROTO_STAMP_BASE_LEN, sizeof(buf) - PROTO_STAMP_BASE_LEN);
    if (proto_stamp_tlv_put_padding(&w, PROTO_STAMP_MAX_LEN - PROTO_STAMP_BASE_LEN -
                                            PROTO_STAMP_TLV_HDR) != 0)
        die("reflect", "padding");
    put_reflect("plain-max", 0, 0, buf, PROTO_STAMP_MAX_LEN);

    /* Authenticated: signed, signed by the harness, a wrong HMAC, short. */
    n = reflect_request(buf, PROTO_STAMP_AUTH_LEN, first, FUZZ_REFLECT_SSID, 1);
    put_reflect("auth", FUZZ_REFLECT_AUTH, 0, buf, n);
    put_reflect("auth-short", FUZZ_REFLECT_AUTH, 0, buf, n - 1);
    put_reflect("auth-as-plain", 0, 0, buf, n);
    buf[n - 1] ^= 1;
    put_reflect("auth-bad-hmac", FUZZ_REFLECT_AUTH | FUZZ_REFLECT_IPV6, 0, buf, n);
    reflect_request(buf, PROTO_STAMP_AUTH_LEN, first + 2, FUZZ_REFLECT_SSID, 1);
    proto_wr_init(&w, buf + PROTO_STAMP_AUTH_LEN, sizeof(buf) - PROTO_STAMP_AUTH_LEN);
    if (proto_stamp_tlv_put_tsinfo(&w, &ts) != 0 ||
        proto_stamp_tlv_put_direct(&w, &direct) != 0 ||
        proto_stamp_tlv_put_hmac(&w, 0, first + 2, FUZZ_STAMP_KEY) != 0 ||
        proto_stamp_tlv_put_padding(&w, 4) != 0)
        die("reflect", "signed tlvs");
    put_reflect("auth-tlvs", FUZZ_REFLECT_AUTH | FUZZ_REFLECT_STATEFUL, 0, buf,
                PROTO_STAMP_AUTH_LEN + w.off);
    memset(buf + PROTO_STAMP_AUTH_LEN - PROTO_STAMP_HMAC_LEN, 0, PROTO_STAMP_HMAC_LEN);
    put_reflect("auth-sign-tlvs", FUZZ_REFLECT_AUTH | FUZZ_REFLECT_SIGN, 0, buf,
                PROTO_STAMP_AUTH_LEN + w.off);

    /* Replies to our requests, as the session-sender receives them. */
    rf.sender_seq = first;
    rf.ssid = FUZZ_REFLECT_SSID;
    rf.sender_ts = 0;
    rf.rx_ts = rf.ts - 1000;
    if (proto_stamp_reflector_encode(&rf, buf, PROTO_STAMP_BASE_LEN) < 0)
        die("reflect", "cannot encode a reply");
    put_reflect("reply", 0, 0, buf, PROTO_STAMP_BASE_LEN);
    put_reflect("reply-light", 0, 0, buf, 41);
    rf.sender_seq = first + 1;
    rf.err.ptp = 1;
    if (proto_stamp_reflector_encode_auth(&rf, FUZZ_STAMP_KEY, buf,
                                          PROTO_STAMP_AUTH_LEN) < 0)
        die("reflect", "cannot encode a reply");
    put_reflect("reply-auth-ptp", FUZZ_REFLECT_AUTH, 0, buf, PROTO_STAMP_AUTH_LEN);
    put_reflect("empty", 0, 0, buf, 0);
}

/* ---- HTTP query parameters -------------------------------------------------------- */

static void gen_http_query(void)
{
    static const struct {
        const char *name, *value;
    } seeds[] = {
        {"ten", "10"},
        {"one", "1"},
        {"zero", "0"},
        {"max", "2592000"},
        {"max-plus-one", "2592001"},
        {"leading-zeros", "0000000000000000000000000000060"},
        {"uint32-wrap", "4294967297"},
        {"ulong-overflow", "18446744073709551616"},
        {"plus", "+5"},
        {"minus", "-1"},
        {"space", " 5"},
        {"trailing", "5s"},
        {"hex", "0x10"},
        {"empty", ""},
    };
    size_t i;

    for (i = 0; i < nitems(seeds); i++)
        put_str("http_query", seeds[i].name, seeds[i].value);
}

/* ---- configuration files ---------------------------------------------------------- */

static void gen_configs(void)
{
    put_str("config_probe", "good",
            "; a complete configuration\n"
            "[probe]\n"
            "id = khi-1\n"
            "name = Karachi member 1\n"
            "controller = [::1]:7000\n"
            "controller_name = ctl.example.net\n"
            "ca = ca.pem\n"
            "cert = khi-1.pem\n"
            "key = khi-1.key\n"
            "stamp_listen = 127.0.1.1:8620\n"
            "addresses = 127.0.1.1, ::1 192.0.2.1\n"
            "latitude = 24.86\n"
            "longitude = 67.01\n"
            "log_level = debug\n");
    put_str("config_probe", "minimal",
            "[probe]\nid=p\ncontroller=10.0.0.1\nca=a\ncert=b\nkey=c\n"
            "stamp_listen=10.0.0.2\n");
    put_str("config_probe", "wildcard",
            "[probe]\nid=p\ncontroller=10.0.0.1:1\nca=a\ncert=b\nkey=c\n"
            "stamp_listen=*:862\n");
    put_str("config_probe", "errors",
            "[probe]\nid = bad id!\nlatitude = 91\ncontroller = host:99999\n"
            "addresses = 10.0.0.1:80\n[other]\nx\n");
    put_str("config_controller", "good",
            "[controller]\n"
            "listen = [::]:7000\n"
            "http = [::1]:9000\n"
            "ca = ca.pem\n"
            "cert = c.pem\n"
            "key = c.key\n"
            "database = /var/lib/ixmesh/x.db\n"
            "log_level = warn\n"
            "[mesh]\n"
            "window = 5\n"
            "interval_ms = 200\n"
            "timeout_ms = 400\n"
            "size = 100\n"
            "dscp = 46\n");
    put_str("config_controller", "minimal",
            "[controller]\nca=a\ncert=b\nkey=c\ndatabase=:memory:\n");
    put_str(
        "config_controller", "limits",
        "[controller]\nca=a\ncert=b\nkey=c\ndatabase=d\nlisten=*\nhttp=0.0.0.0:65535\n"
        "[mesh]\nwindow=3600\ninterval_ms=3600000\ntimeout_ms=60000\nsize=1472\n"
        "dscp=63\n");
    put_str("config_controller", "content",
            "[controller]\nca=a\ncert=b\nkey=c\ndatabase=d\n"
            "[content cdn-khi]\nname = CDN cache\nhost = cdn.example.pk\n"
            "address = 192.0.2.10\nmethods = icmp tcp tls http dns\nport = 80\n"
            "tls_port = 443\nhttp_port = 443\nhttps = yes\npath = /logo.png\n"
            "header = Age\nquery = cdn.example.pk\nqtype = AAAA\ndns_port = 53\n"
            "interval_ms = 5000\ntimeout_ms = 2000\n"
            "[content dns-only]\naddress = 2001:db8::53\nmethods = dns\n"
            "query = x.example\n");
    put_str("config_controller", "exchange",
            "[controller]\nca=a\ncert=b\nkey=c\ndatabase=d\n"
            "[exchange]\nprefixes = 198.18.0.0/24, fd49:584d::/64 10.0.0.0/8\n"
            "probe.pk-1 = 203.0.113.7 2001:db8::7/128\nstamp_ports = 862-9000\n"
            "address_change_interval = 30\nhello_burst = 4\nhello_interval = 2\n"
            "backlog_rate = 50\n");
    put_str("config_controller", "errors",
            "[controller]\nlisten = 1.2.3.4:x\n[mesh]\nwindow = -1\nsize = 43\n"
            "timeout_ms = 18446744073709551616\n[nope]\n");
}

/* ---- icmp replies (fuzz_icmp) ------------------------------------------------ */

/* An IPv4 header (RFC 791 3.1) before len octets of ICMP; 4 * ihl octets. */
static void icmp_ipv4(struct proto_wr *w, unsigned ihl, size_t len, uint32_t src,
                      uint32_t dst)
{
    proto_wr_u8(w, (uint8_t)(0x40 | ihl));
    proto_wr_u8(w, 0);
    proto_wr_u16(w, (uint16_t)(4 * ihl + len));
    proto_wr_u32(w, 0); /* identification, fragment */
    proto_wr_u8(w, 61); /* TTL */
    proto_wr_u8(w, 1);  /* ICMP */
    proto_wr_u16(w, 0);
    proto_wr_u32(w, src);
    proto_wr_u32(w, dst);
    for (unsigned i = 5; i < ihl; i++)
        proto_wr_u32(w, 0x01010101); /* NOP options */
}

/* An IPv6 header (RFC 8200 3) before len octets of ICMPv6. */
static void icmp_ipv6(struct proto_wr *w, size_t len, uint8_t last)
{
    proto_wr_u32(w, 0x60000000);
    proto_wr_u16(w, (uint16_t)len);
    proto_wr_u8(w, 58);
    proto_wr_u8(w, 64);
    proto_wr_u64(w, 0xfd49584d00c80000ull); /* fd49:584d:c8::1 */
    proto_wr_u64(w, 1);
    proto_wr_u64(w, 0xfd49584d00c80000ull); /* fd49:584d:c8::LAST */
    proto_wr_u64(w, last);
}

/* An echo message of ours: type, identifier, sequence, cookie, task, pad. */
static void icmp_echo(struct proto_wr *w, uint8_t type, uint16_t ident, uint16_t seq,
                      size_t data)
{
    proto_wr_u8(w, type);
    proto_wr_u8(w, 0);
    proto_wr_u16(w, 0); /* checksum: the harness's (FUZZ_ICMP_FIX_SUM) */
    proto_wr_u16(w, ident);
    proto_wr_u16(w, seq);
    for (int i = 0; i < 8; i++)
        proto_wr_u8(w, FUZZ_ICMP_COOKIE[i]);
    proto_wr_u32(w, 7); /* task id */
    proto_wr_zero(w, data - 12);
}

static void put_icmp(const char *name, uint8_t flags, const struct proto_wr *w)
{
    uint8_t buf[1 + 1600];

    buf[0] = flags;
    memcpy(buf + 1, w->p, w->off);
    put("icmp", name, buf, 1 + w->off);
}

static void gen_icmp(void)
{
    enum { RAW4, PING4, RAW6, PING6 };
    const uint8_t fix = FUZZ_ICMP_FIX_SUM;
    const uint32_t us = 0xc6120001, target = 0xc612c901; /* 198.18.0.1, 198.18.201.1 */
    uint8_t buf[1600];
    struct proto_wr w;

    proto_wr_init(&w, buf, sizeof(buf));
    icmp_ipv4(&w, 5, 64, target, us);
    icmp_echo(&w, 0, FUZZ_ICMP_IDENT, 1, 56);
    put_icmp("reply-raw4", RAW4 | fix, &w);
    proto_wr_init(&w, buf, sizeof(buf));
    icmp_ipv4(&w, 7, 20, target, us);
    icmp_echo(&w, 0, FUZZ_ICMP_IDENT, 65535, 12);
    put_icmp("reply-raw4-options", RAW4 | fix, &w);
    proto_wr_init(&w, buf, sizeof(buf));
    icmp_echo(&w, 0, 0x9999, 2, 56);
    put_icmp("reply-ping4", PING4 | fix, &w);
    proto_wr_init(&w, buf, sizeof(buf));
    icmp_echo(&w, 129, FUZZ_ICMP_IDENT, 3, 1472);
    put_icmp("reply-raw6-max", RAW6, &w);
    proto_wr_init(&w, buf, sizeof(buf));
    icmp_echo(&w, 129, 0x4242, 4, 56);
    put_icmp("reply-ping6", PING6, &w);
    /* Our own request, as a raw socket on lo also sees it: not a reply. */
    proto_wr_init(&w, buf, sizeof(buf));
    icmp_echo(&w, 8, FUZZ_ICMP_IDENT, 5, 56);
    put_icmp("request-ping4", PING4 | fix, &w);

    /* Host unreachable from a router, quoting all of our request. */
    proto_wr_init(&w, buf, sizeof(buf));
    icmp_ipv4(&w, 5, 8 + 20 + 64, us + 1, us);
    proto_wr_u32(&w, 0x03010000); /* type 3, code 1 */
    proto_wr_u32(&w, 0);
    icmp_ipv4(&w, 5, 64, us, target);
    icmp_echo(&w, 8, FUZZ_ICMP_IDENT, 6, 56);
    put_icmp("unreach-raw4", RAW4 | fix, &w);
    /* RFC 792's minimum: the IP header and 8 octets. */
    proto_wr_init(&w, buf, sizeof(buf));
    icmp_ipv4(&w, 5, 8 + 20 + 8, us + 1, us);
    proto_wr_u32(&w, 0x030d0000); /* administratively prohibited */
    proto_wr_u32(&w, 0);
    icmp_ipv4(&w, 5, 64, us, target);
    icmp_echo(&w, 8, FUZZ_ICMP_IDENT, 7, 12);
    w.off -= 12;
    put_icmp("unreach-raw4-short", RAW4 | fix, &w);
    /* Time exceeded, and unreachable, over ICMPv6. */
    proto_wr_init(&w, buf, sizeof(buf));
    proto_wr_u32(&w, 0x03000000);
    proto_wr_u32(&w, 0);
    icmp_ipv6(&w, 64, 2);
    icmp_echo(&w, 128, FUZZ_ICMP_IDENT, 8, 56);
    put_icmp("exceeded-raw6", RAW6, &w);
    proto_wr_init(&w, buf, sizeof(buf));
    proto_wr_u32(&w, 0x01030000); /* address unreachable */
    proto_wr_u32(&w, 0);
    icmp_ipv6(&w, 64, 3);
    icmp_echo(&w, 128, 0x4242, 9, 56);
    put_icmp("unreach-ping6", PING6, &w);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST)
        die(outdir, strerror(errno));
    gen_messages();
    gen_message_edges();
    gen_frames();
    gen_sketches();
    gen_stamp();
    gen_stamp_auth();
    gen_stamp_tlv();
    gen_reflect();
    gen_http_query();
    gen_configs();
    gen_icmp();
    return 0;
}
