/*
 * stmt.c - statements prepared once per connection.  The connection
 * itself is the cache: sqlite3_next_stmt() walks what it holds, and a
 * statement is found again by its text.  No state of our own, so nothing
 * to share between connections or threads.
 */
#include <string.h>

#include "stmt.h"

sqlite3_stmt *ctl_stmt(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;

    while ((s = sqlite3_next_stmt(db, s)) != NULL)
        if (!sqlite3_stmt_busy(s) && strcmp(sqlite3_sql(s), sql) == 0)
            return s;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
        return NULL;
    return s;
}

void ctl_stmt_done(sqlite3_stmt *s)
{
    if (s == NULL)
        return;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

void ctl_stmt_finalize_all(sqlite3 *db)
{
    sqlite3_stmt *s;

    while ((s = sqlite3_next_stmt(db, NULL)) != NULL)
        sqlite3_finalize(s);
}
