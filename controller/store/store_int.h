/*
 * store_int.h - what the SQLite backend's files share (sqlite.c writes,
 * reads.c reads); internal to store/.
 */
#ifndef IXMESH_CONTROLLER_STORE_INT_H
#define IXMESH_CONTROLLER_STORE_INT_H

#include "store.h"

/* Notes what failed, with SQLite's reason, for ctl_store_error(); -EIO. */
int ctl_store_fail(struct ctl_store *st, const char *what);
/* The probe's windows numbered above seq, in their order. */
int ctl_store_probe_windows(struct ctl_store *st, const char *probe_id, int64_t seq,
                            ctl_window_row_fn fn, void *arg);
/* The highest sequence number of the probe's stored windows (0: none). */
int ctl_store_max_seq(struct ctl_store *st, const char *probe_id, int64_t *top);

#endif
