/*
 * store_test.c - results are stored once per (probe, sequence number), and
 * the acknowledgement names the highest stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check_controller.h"

static struct ctl_store *open_mem(void)
{
    struct ctl_store *st;
    char err[256];

    ck_assert_int_eq(ctl_store_open(":memory:", &st, err, sizeof(err)), 0);
    return st;
}

static const char *journal_mode(struct ctl_store *st)
{
    static char mode[16];
    sqlite3_stmt *s;

    ck_assert_int_eq(
        sqlite3_prepare_v2(ctl_store_db(st), "PRAGMA journal_mode", -1, &s, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return mode;
}

static void make_batch(struct proto_results *rs, struct proto_result *r, uint64_t first,
                       uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        r[i] = (struct proto_result){.seq = first + i,
                                     .task_id = 1,
                                     .method = PROTO_METHOD_STAMP,
                                     .target_id = "b",
                                     .window_start_ms = 1000 * (int64_t)(first + i),
                                     .window_s = 10,
                                     .sent = 10,
                                     .received = 10};
        proto_sketch_init(&r[i].sketch);
        proto_sketch_add(&r[i].sketch, 1e6);
    }
    memset(rs, 0, sizeof(*rs));
    rs->nresults = n;
    rs->results = r;
}

static void free_batch(struct proto_result *r, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        proto_sketch_free(&r[i].sketch);
}

START_TEST(resent_batch_is_stored_once)
{
    struct ctl_store *st = open_mem();
    struct proto_results rs;
    struct proto_result r[8];
    struct ctl_ingest in;

    make_batch(&rs, r, 100, 5);
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 1, &in), 0);
    ck_assert_uint_eq(in.acked, 104);
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 2, &in), 0);
    ck_assert_uint_eq(in.acked, 104);
    ck_assert_int_eq(test_query_int(st, "SELECT count(*) FROM results"), 5);
    /* The same numbers from another probe are other records. */
    ck_assert_int_eq(ctl_store_results(st, "b", &rs, 3, &in), 0);
    ck_assert_int_eq(test_query_int(st, "SELECT count(*) FROM results"), 10);
    free_batch(r, 5);
    ctl_store_close(st);
}
END_TEST

/* Resends are counted, holes above seq0 recorded, drop reports kept once. */
START_TEST(delivery_is_accounted)
{
    struct ctl_store *st = open_mem();
    struct proto_results rs;
    struct proto_result r[8];
    struct ctl_ingest in;
    json_t *j;

    make_batch(&rs, r, 100, 4); /* 100..103, the spool's first */
    rs.has_health = 1;
    rs.health.seq0 = 100;
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 1, &in), 0);
    ck_assert_uint_eq(in.missing, 0);
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 2, &in), 0);
    ck_assert_uint_eq(in.duplicates, 4);
    free_batch(r, 4);

    make_batch(&rs, r, 110, 2); /* 104..109 dropped, reported as two windows */
    rs.has_health = 1;
    rs.health.seq0 = 100;
    rs.health.pending = 9;
    rs.health.ndrops = 2;
    rs.health.drops[0] = (struct proto_drop_window){1000, 2};
    rs.health.drops[1] = (struct proto_drop_window){2000, 4};
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 3, &in), 0);
    ck_assert_uint_eq(in.missing, 6);
    ck_assert_uint_eq(in.acked, 111);
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 4, &in), 0); /* resent */
    ck_assert_uint_eq(in.missing, 0);
    free_batch(r, 2);

    make_batch(&rs, r, 5000, 1); /* a new spool: a jump to its seq0 is no hole */
    rs.has_health = 1;
    rs.health.seq0 = 5000;
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 5, &in), 0);
    ck_assert_uint_eq(in.missing, 0);
    free_batch(r, 1);

    make_batch(&rs, r, 9000, 1); /* no health: a probe from before the spool */
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 6, &in), 0);
    ck_assert_uint_eq(in.missing, 0);
    free_batch(r, 1);

    j = test_delivery_json(st, "a");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "stored")), 8);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "duplicates")), 6);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "missing")), 6);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "dropped_reported")), 6);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "drop_windows")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(j, "gaps"), 0), "first")),
                     104);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(j, "health"), "seq0")), 5000);
    json_decref(j);
    ctl_store_close(st);
}
END_TEST

START_TEST(probe_keys_are_stable)
{
    struct ctl_store *st = open_mem();
    struct proto_hello a, b;
    int64_t ka, kb, ka2;

    test_hello(&a, "a", "127.0.0.1");
    test_hello(&b, "b", "127.0.0.2");
    ck_assert_int_eq(ctl_store_probe_seen(st, &a, 1, &ka), 0);
    ck_assert_int_eq(ctl_store_probe_seen(st, &b, 2, &kb), 0);
    strcpy(a.name, "renamed");
    ck_assert_int_eq(ctl_store_probe_seen(st, &a, 3, &ka2), 0);
    ck_assert_int_eq(ka, ka2);
    ck_assert_int_ne(ka, kb);
    ck_assert_int_eq(
        test_query_int(st, "SELECT count(*) FROM probes WHERE name='renamed' AND "
                           "first_seen_ms=1 AND last_seen_ms=3"),
        1);
    ctl_store_close(st);
}
END_TEST

START_TEST(file_database_survives_reopen)
{
    char path[] = "/tmp/ixmesh-store-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct proto_results rs;
    struct proto_result r[3];
    struct ctl_ingest in;
    char err[256];

    make_batch(&rs, r, 1, 3);
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 1, &in), 0);
    ctl_store_close(st);
    ck_assert_int_eq(ctl_store_open(path, &st, err, sizeof(err)), 0);
    ck_assert_int_eq(test_query_int(st, "SELECT count(*) FROM results"), 3);
    ck_assert_str_eq(journal_mode(st), "wal");
    ctl_store_close(st);
    free_batch(r, 3);
    unlink(path);
}
END_TEST

/* A database made before the ttl column gets it, and takes new records. */
START_TEST(old_database_gains_new_columns)
{
    char path[] = "/tmp/ixmesh-store-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct proto_results rs;
    struct proto_result r[2];
    struct ctl_ingest in;
    char err[256];
    sqlite3 *db;

    /* The table as it was before ttl and extra. */
    ck_assert_int_eq(sqlite3_exec(ctl_store_db(st),
                                  "ALTER TABLE results DROP COLUMN extra;"
                                  "ALTER TABLE results DROP COLUMN ttl",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ctl_store_close(st);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_ne(sqlite3_exec(db, "SELECT ttl FROM results", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_ne(sqlite3_exec(db, "SELECT extra FROM results", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    ck_assert_int_eq(ctl_store_open(path, &st, err, sizeof(err)), 0);
    make_batch(&rs, r, 1, 2);
    r[1].ttl = 255;
    r[1].outcomes[PROTO_OUT_TIMEOUT] = 2;
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 1, &in), 0);
    ck_assert_int_eq(test_query_int(st, "SELECT count(*) FROM results WHERE ttl = 255"),
                     1);
    ck_assert_int_eq(test_query_int(st, "SELECT count(*) FROM results WHERE seq = 2 AND"
                                        " extra = '{\"oc\":{\"timeout\":2}}'"),
                     1);
    ctl_store_close(st);
    free_batch(r, 2);
    unlink(path);
}
END_TEST

static json_int_t stored_of(struct ctl_store *st, const char *probe)
{
    json_t *j = test_delivery_json(st, probe);
    json_int_t n = json_integer_value(json_object_get(j, "stored"));

    json_decref(j);
    return n;
}

/* The per-probe count of stored records, kept at ingest since it was slow
 * to count: a database from before gets it counted once, at its opening. */
START_TEST(old_database_gains_stored_counts)
{
    char path[] = "/tmp/ixmesh-store-XXXXXX";
    struct ctl_store *st = test_store_new(path);
    struct proto_results rs;
    struct proto_result r[3];
    struct ctl_ingest in;
    char err[256];

    make_batch(&rs, r, 1, 3);
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 1, &in), 0);
    free_batch(r, 3);
    make_batch(&rs, r, 1, 2);
    ck_assert_int_eq(ctl_store_results(st, "b", &rs, 1, &in), 0);
    free_batch(r, 2);
    ck_assert_int_eq(stored_of(st, "a"), 3);
    ck_assert_int_eq(stored_of(st, "b"), 2);
    /* As it was before: no count, and b without a delivery row at all. */
    ck_assert_int_eq(sqlite3_exec(ctl_store_db(st),
                                  "ALTER TABLE delivery DROP COLUMN stored;"
                                  "DELETE FROM delivery WHERE probe_id = 'b'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ctl_store_close(st);

    ck_assert_int_eq(ctl_store_open(path, &st, err, sizeof(err)), 0);
    ck_assert_int_eq(stored_of(st, "a"), 3);
    ck_assert_int_eq(stored_of(st, "b"), 2);
    make_batch(&rs, r, 3, 2); /* 3 again, and 4 new */
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 2, &in), 0);
    ck_assert_uint_eq(in.duplicates, 1);
    ck_assert_int_eq(stored_of(st, "a"), 4);
    free_batch(r, 2);
    ctl_store_close(st);
    unlink(path);
}
END_TEST

static char *extra_of(struct ctl_store *st, uint64_t seq)
{
    sqlite3_stmt *s;
    char *v = NULL;

    ck_assert_int_eq(sqlite3_prepare_v2(ctl_store_db(st),
                                        "SELECT extra FROM results WHERE seq = ?", -1, &s,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    if (sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
}

START_TEST(content_fields_are_kept)
{
    struct ctl_store *st = open_mem();
    struct proto_results rs;
    struct proto_result r[3];
    struct proto_content_info *in = &r[1].info;
    struct ctl_ingest ingest;
    char *x;

    make_batch(&rs, r, 1, 3);
    /* 1: a healthy STAMP window, nothing extra */
    /* 2: https with every field, some attempts failed */
    r[1].method = PROTO_METHOD_HTTP;
    strcpy(r[1].target_id, "cdn");
    r[1].outcomes[PROTO_OUT_REFUSED] = 3;
    r[1].outcomes[PROTO_OUT_HTTP_5XX] = 1;
    strcpy(r[1].why, "HTTP 503 Service Unavailable");
    in->dns_ns = 1000, in->connect_ns = 2000, in->tls_ns = 3000, in->ttfb_ns = 4000;
    in->total_ns = 5000;
    in->http_status = 200;
    in->http_bytes = 612;
    strcpy(in->header_value, "HIT from cache-khi");
    strcpy(in->tls_version, "TLSv1.3");
    strcpy(in->tls_cipher, "TLS_AES_256_GCM_SHA384");
    in->cert_not_after = 1900000000;
    in->verify_result = 1;
    /* 3: dns: NOERROR with no answer still tells its count */
    r[2].method = PROTO_METHOD_DNS;
    r[2].info.dns_rcode = 1;
    ck_assert_int_eq(ctl_store_results(st, "a", &rs, 1, &ingest), 0);

    ck_assert_ptr_null(extra_of(st, 1));
    ck_assert_ptr_nonnull(x = extra_of(st, 2));
    ck_assert_str_eq(x, "{\"ce\":1900000000,\"hb\":612,\"hs\":200,"
                        "\"hv\":\"HIT from cache-khi\","
                        "\"oc\":{\"http_5xx\":1,\"refused\":3},"
                        "\"tc\":\"TLS_AES_256_GCM_SHA384\",\"tcon\":2000,"
                        "\"tdns\":1000,\"tfb\":4000,\"ttls\":3000,"
                        "\"ttot\":5000,\"tv\":\"TLSv1.3\",\"vr\":1,"
                        "\"why\":\"HTTP 503 Service Unavailable\"}");
    free(x);
    ck_assert_ptr_nonnull(x = extra_of(st, 3));
    ck_assert_str_eq(x, "{\"an\":0,\"rc\":1}");
    free(x);
    free_batch(r, 3);
    ctl_store_close(st);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("sqlite");

    tcase_add_test(tc, resent_batch_is_stored_once);
    tcase_add_test(tc, delivery_is_accounted);
    tcase_add_test(tc, probe_keys_are_stable);
    tcase_add_test(tc, file_database_survives_reopen);
    tcase_add_test(tc, old_database_gains_new_columns);
    tcase_add_test(tc, old_database_gains_stored_counts);
    tcase_add_test(tc, content_fields_are_kept);
    suite_add_tcase(s, tc);
    return s;
}
