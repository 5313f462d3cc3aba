/*
 * deltas.h - what the rollups still lack, in memory (deltas.c); internal
 * to store/.  Used around one transaction at a time: a stage call inside
 * it, ctl_deltas_end() once it committed or rolled back.
 */
#ifndef IXMESH_CONTROLLER_STORE_DELTAS_H
#define IXMESH_CONTROLLER_STORE_DELTAS_H

#include "rollup.h"

struct ctl_deltas;

int ctl_deltas_new(struct ctl_rollup *ru, struct ctl_deltas **out);
void ctl_deltas_free(struct ctl_deltas *d);
/*
 * The windows the open transaction newly stored for probe_id.  Those at or
 * below rolled_seq are written to the rollups now; the rest are kept for
 * ctl_deltas_end(), unless the probe's deltas are due, in which case they
 * are written with them and *new_rolled says the probe's new rolled_seq
 * (0: not written).  0, -EIO or -ENOMEM.
 */
int ctl_deltas_stage(struct ctl_deltas *d, const char *probe_id,
                     const struct ctl_window_row *const *rows, size_t n,
                     uint64_t rolled_seq, int64_t now_ms, uint64_t *new_rolled);
/*
 * From probe index *from on, the first probe whose deltas are due (all:
 * any that has some) has them written in the open transaction: returns 1
 * with its id and new rolled_seq, 0 when there is none, -EIO.
 */
int ctl_deltas_stage_flush(struct ctl_deltas *d, int64_t now_ms, int all, size_t *from,
                           const char **probe_id, uint64_t *new_rolled);
/* The transaction ended; what was staged now changes memory if committed. */
void ctl_deltas_end(struct ctl_deltas *d, int committed, int64_t now_ms);
/* Forgets what was staged, the transaction still open (it was all written
 * to the rollups: nothing is left for memory). */
void ctl_deltas_unstage(struct ctl_deltas *d);

#endif
