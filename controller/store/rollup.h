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
struct ctl_pair;
/*
 * Inside the caller's transaction: the row of (pair, bucket) of level
 * becomes what it held, plus delta (NULL: none), plus the rows.  0, -EIO
 * or -ENOMEM.
 */
int ctl_rollup_write(struct ctl_rollup *ru, int level, int64_t pair, int64_t bucket,
                     const struct ctl_pair *delta,
                     const struct ctl_window_row *const *rows, size_t nrows);
/* The pair's key, made when it is new; remembered. */
int ctl_rollup_pair_key(struct ctl_rollup *ru, const struct ctl_window_row *r,
                        int64_t *key);
/* The caller's transaction ended: committed, or rolled back. */
void ctl_rollup_end(struct ctl_rollup *ru, int committed);
/* Reads the ROLLUP_COLUMNS of s from column col on into r. */
void ctl_rollup_row_read(sqlite3_stmt *s, int col, struct ctl_window_row *r);

#endif
