/*
 * retention.h - the SQLite backend's retention (retention.c); internal to
 * store/.
 */
#ifndef IXMESH_CONTROLLER_STORE_RETENTION_H
#define IXMESH_CONTROLLER_STORE_RETENTION_H

#include <sqlite3.h>

#include "store.h"

int ctl_retention_step(sqlite3 *db, const struct ctl_retention *rt, int64_t now_ms,
                       uint32_t batch, struct ctl_expired *out);
int ctl_retention_size(sqlite3 *db, struct ctl_store_size *sz);

#endif
