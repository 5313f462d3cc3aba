/*
 * log.c - timestamped log lines on stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *log_name = "ixmesh";
static enum log_level log_max = LOG_LEVEL_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *name, enum log_level level)
{
    log_name = name;
    log_max = level;
}

int log_level_parse(const char *s, enum log_level *level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *level = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char when[32], line[2048];
    va_list ap;
    int n;

    if (level > log_max)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    /* The line is built whole and written with one call, so daemons sharing
     * a log file do not interleave their lines. */
    n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s: ", when, ts.tv_nsec / 1000000,
                 log_name, level_names[level]);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
