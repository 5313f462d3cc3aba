/*
 * stmt.h - statements prepared once per connection (stmt.c); internal to
 * store/.  Preparing costs more than running the small statements of a
 * batch's bookkeeping, which run at every batch.
 */
#ifndef IXMESH_CONTROLLER_STORE_STMT_H
#define IXMESH_CONTROLLER_STORE_STMT_H

#include <sqlite3.h>

/*
 * db's statement for sql: one it has that is not running, found by its
 * text, else a new one (kept by the connection until
 * ctl_stmt_finalize_all()).  NULL when it does not prepare.
 */
sqlite3_stmt *ctl_stmt(sqlite3 *db, const char *sql);
/* The caller is done with s: reset, its bindings cleared, kept. */
void ctl_stmt_done(sqlite3_stmt *s);
/* Before closing db. */
void ctl_stmt_finalize_all(sqlite3 *db);

#endif
