/*
 * delivery.h - the SQLite backend's part about delivery (store/delivery.c),
 * used by store/sqlite.c inside the transaction that stores a batch.
 */
#ifndef IXMESH_CONTROLLER_STORE_DELIVERY_H
#define IXMESH_CONTROLLER_STORE_DELIVERY_H

#include <sqlite3.h>

#include "store.h"

int ctl_delivery_schema(sqlite3 *db);
/* The highest sequence number used by the probe (0: none), the highest
 * that retention deleted, and the highest whose windows are all in the
 * rollups (deltas.c). */
int ctl_delivery_max_seq(sqlite3 *db, const char *probe_id, uint64_t *max,
                         uint64_t *expired, uint64_t *rolled);
/* The probe's windows up to seq are all in the rollups. */
int ctl_delivery_rolled(sqlite3 *db, const char *probe_id, int64_t seq);
/* Retention deleted the probe's record seq. */
int ctl_delivery_expired(sqlite3 *db, const char *probe_id, int64_t seq);
/* Records the hole between prev (highest stored before, 0: none) and seq,
 * at or above seq0 (the probe's health says it, and it is >= 1); adds its
 * size to *missing. */
int ctl_delivery_gap(sqlite3 *db, const char *probe_id, uint64_t prev, uint64_t seq,
                     uint64_t seq0, int64_t now_ms, uint64_t *missing);
/* Adds n refused records, the highest numbered seq, to the probe's count. */
int ctl_delivery_refused(sqlite3 *db, const char *probe_id, uint32_t n, uint64_t seq);
/* Records a batch's duplicates, the records it stored, its drop reports and
 * its health. */
int ctl_delivery_note(sqlite3 *db, const char *probe_id, const struct proto_results *rs,
                      uint32_t duplicates, uint32_t stored, int64_t now_ms);
/* What ctl_store_delivery() reads. */
int ctl_delivery_read(sqlite3 *db, const char *probe_id, struct ctl_delivery_row *r);

#endif
