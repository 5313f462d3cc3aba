/*
 * params.c - the emulator's settings.  The command line, the ctl subcommand
 * and the control socket all go through le_params_set(), so a value means
 * the same wherever it is given.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linkemu.h"

#define BOTH_DIRS ((1u << LE_A2B) | (1u << LE_B2A))

void le_params_default(struct le_params *p)
{
    memset(p, 0, sizeof(*p));
    p->impair_dirs = BOTH_DIRS;
}

/* A whole decimal string; strtod would also take hex and "inf". */
static int parse_double(const char *s, double *v)
{
    char *end;

    if (*s == '\0' || strspn(s, "0123456789.") != strlen(s))
        return -EINVAL;
    errno = 0;
    *v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(*v))
        return -EINVAL;
    return 0;
}

static int parse_every(const char *s, uint32_t *v)
{
    char *end;
    unsigned long n;

    if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
        return -EINVAL;
    errno = 0;
    n = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || n > 1000000000ul)
        return -EINVAL;
    *v = (uint32_t)n;
    return 0;
}

static int parse_dirs(const char *s, unsigned *dirs)
{
    if (strcmp(s, "a2b") == 0)
        *dirs = 1u << LE_A2B;
    else if (strcmp(s, "b2a") == 0)
        *dirs = 1u << LE_B2A;
    else if (strcmp(s, "both") == 0)
        *dirs = BOTH_DIRS;
    else
        return -EINVAL;
    return 0;
}

static int set_ms(int64_t *ns, const char *name, const char *val, char *err,
                  size_t errlen)
{
    double ms;

    if (parse_double(val, &ms) < 0 || ms > LE_MAX_DELAY_MS) {
        snprintf(err, errlen, "--%s: want milliseconds from 0 to %.0f, got '%s'", name,
                 LE_MAX_DELAY_MS, val);
        return -EINVAL;
    }
    *ns = (int64_t)(ms * 1e6 + 0.5);
    return 0;
}

int le_params_set(struct le_params *p, const char *name, const char *val, char *err,
                  size_t errlen)
{
    if (strcmp(name, "delay-ms") == 0)
        return set_ms(&p->delay_ns, name, val, err, errlen);
    if (strcmp(name, "jitter-ms") == 0)
        return set_ms(&p->jitter_ns, name, val, err, errlen);
    if (strcmp(name, "loss-pct") == 0) {
        double pct;

        /* Parsed aside: a refused value leaves the setting as it was. */
        if (parse_double(val, &pct) < 0 || pct > 100.0) {
            snprintf(err, errlen, "--loss-pct: want a percentage from 0 to 100, got '%s'",
                     val);
            return -EINVAL;
        }
        p->loss_pct = pct;
        return 0;
    }
    if (strcmp(name, "reorder-every") == 0 || strcmp(name, "dup-every") == 0) {
        uint32_t *v = name[0] == 'r' ? &p->reorder_every : &p->dup_every;

        if (parse_every(val, v) < 0) {
            snprintf(err, errlen,
                     "--%s: want a count from 0 (off) to 1000000000, got '%s'", name,
                     val);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(name, "slow-us") == 0) {
        double us;

        if (parse_double(val, &us) < 0 || us > LE_MAX_SLOW_US) {
            snprintf(err, errlen, "--slow-us: want microseconds from 0 to %d, got '%s'",
                     LE_MAX_SLOW_US, val);
            return -EINVAL;
        }
        p->slow_ns = (int64_t)(us * 1e3 + 0.5);
        return 0;
    }
    if (strcmp(name, "impair-dir") == 0) {
        if (parse_dirs(val, &p->impair_dirs) < 0) {
            snprintf(err, errlen, "--impair-dir: want a2b, b2a or both, got '%s'", val);
            return -EINVAL;
        }
        return 0;
    }
    snprintf(err, errlen, "unknown parameter '%s'", name);
    return -EINVAL;
}

int le_params_check(const struct le_params *p, char *err, size_t errlen)
{
    /* The largest departure is now + delay + jitter + LE_HOLD_NS, and the
     * wheel keeps no frame further ahead than its horizon. */
    if (p->delay_ns + p->jitter_ns + p->slow_ns > (int64_t)(LE_MAX_DELAY_MS * 1e6)) {
        snprintf(err, errlen,
                 "delay %.3f ms + jitter %.3f ms + slow %.3f ms is beyond the %.0f ms "
                 "the timer wheel can hold",
                 p->delay_ns / 1e6, p->jitter_ns / 1e6, p->slow_ns / 1e6,
                 LE_MAX_DELAY_MS);
        return -EINVAL;
    }
    return 0;
}

int le_params_format(const struct le_params *p, char *buf, size_t len)
{
    static const char *const dirs[] = {"none", "a2b", "b2a", "both"};

    return snprintf(buf, len,
                    "delay_ms=%.3f jitter_ms=%.3f loss_pct=%g reorder_every=%u "
                    "dup_every=%u impair_dir=%s slow_us=%.1f",
                    p->delay_ns / 1e6, p->jitter_ns / 1e6, p->loss_pct, p->reorder_every,
                    p->dup_every, dirs[p->impair_dirs & BOTH_DIRS], p->slow_ns / 1e3);
}
