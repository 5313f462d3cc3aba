/*
 * rollup.h - the SQLite backend's coarse levels (rollup.c); internal to
 * store/.
 */
#ifndef IXMESH_CONTROLLER_STORE_ROLLUP_H
#define IXMESH_CONTROLLER_STORE_ROLLUP_H

#include <sqlite3.h>

#include "store.h"

struct ctl_rollup;

/* Creates the pairs and rollup_<level> tables; 0 or -EIO. */
int ctl_rollup_schema(sqlite3 *db);
int ctl_rollup_open(sqlite3 *db, struct ctl_rollup **out);
void ctl_rollup_close(struct ctl_rollup *ru);
/*
 * Folds newly stored windows into every level, inside the caller's
 * transaction; rows is reordered.  0, -EIO or -ENOMEM.
 */
int ctl_rollup_add(struct ctl_rollup *ru, const struct ctl_window_row **rows, size_t n);
/* The pair's key, made when it is new. */
int ctl_rollup_pair_key(struct ctl_rollup *ru, const struct ctl_window_row *r,
                        int64_t *key);
/* Reads the ROLLUP_COLUMNS of s from column col on into r. */
void ctl_rollup_row_read(sqlite3_stmt *s, int col, struct ctl_window_row *r);

#endif
