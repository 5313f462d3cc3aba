/*
 * log.h - the daemons' log: one line per event on stderr, which systemd's
 * journal or the demo's log file collects.  Protocol code never logs; it
 * returns errors for the daemons to log at the edge.
 */
#ifndef IXMESH_LOG_H
#define IXMESH_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* name: the daemon's name, printed on every line; it must outlive the log. */
void log_init(const char *name, enum log_level level);
int log_level_parse(const char *s, enum log_level *level);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
