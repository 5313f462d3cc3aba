/*
 * mesh_gen.h - records of a simulated full mesh (mesh_gen.c).
 */
#ifndef IXMESH_TESTS_MESH_GEN_H
#define IXMESH_TESTS_MESH_GEN_H

#include "proto.h"

#define MESH_WINDOW_S 10
#define MESH_SAMPLES  10

uint32_t mesh_gen_rand(uint32_t *seed);
/* Probe p's record of target t (named "probe-%04d") for the window
 * starting at start_ms; the caller frees r->sketch. */
void mesh_gen_record(struct proto_result *r, int p, int t, int64_t start_ms, uint64_t seq,
                     uint32_t *seed);

#endif
