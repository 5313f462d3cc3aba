/*
 * mesh_gen.c - a full mesh's records as probes make them (store_bench,
 * history_gen): 10-s windows of 10 RTTs around a per-pair base, with
 * jitter, a rare loss and a rare spike.
 */
#include <stdio.h>

#include "mesh_gen.h"

uint32_t mesh_gen_rand(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return *seed >> 8;
}

void mesh_gen_record(struct proto_result *r, int p, int t, int64_t start_ms, uint64_t seq,
                     uint32_t *seed)
{
    uint64_t base = 200000 + (uint64_t)((p * 7919 + t * 104729) % 5000) * 1000, prev = 0;

    *r = (struct proto_result){.schema = PROTO_SCHEMA,
                               .seq = seq,
                               .task_id = (uint32_t)t * 16,
                               .method = PROTO_METHOD_STAMP,
                               .window_start_ms = start_ms,
                               .window_s = MESH_WINDOW_S,
                               .sent = MESH_SAMPLES,
                               .ttl = 255};
    snprintf(r->target_id, sizeof(r->target_id), "probe-%04d", t);
    proto_sketch_init(&r->sketch);
    for (int i = 0; i < MESH_SAMPLES; i++) {
        uint64_t rtt;

        if (mesh_gen_rand(seed) % 200 == 0) {
            r->lost++;
            continue;
        }
        rtt = base + mesh_gen_rand(seed) % 60000 +
              (mesh_gen_rand(seed) % 50 == 0 ? 2000000 : 0);
        proto_sketch_add(&r->sketch, (double)rtt);
        if (r->received == 0 || rtt < r->rtt_min_ns)
            r->rtt_min_ns = rtt;
        if (rtt > r->rtt_max_ns)
            r->rtt_max_ns = rtt;
        if (r->received > 0) {
            r->ipdv_sum_ns += rtt > prev ? rtt - prev : prev - rtt;
            r->ipdv_count++;
        }
        prev = rtt;
        r->received++;
    }
}
