/*
 * delivery_json.c - the "delivery" object of a probe in /api/v1/probes,
 * written from what the store read (no I/O).
 */
#include <stdlib.h>

#include "analysis.h"

static json_t *pairs_json(const int64_t (*v)[2], size_t n, const char *k1, const char *k2)
{
    json_t *list = json_array();

    for (size_t i = 0; list != NULL && i < n; i++)
        if (json_array_append_new(list, json_pack("{s:I, s:I}", k1, (json_int_t)v[i][0],
                                                  k2, (json_int_t)v[i][1])) < 0) {
            json_decref(list);
            return NULL;
        }
    return list;
}

/* The latest health as the probe sent it, with when it came; null when
 * none came, or the stored text does not parse. */
static json_t *health_json(const struct ctl_delivery_row *r)
{
    json_t *h = r->health != NULL ? json_loads(r->health, 0, NULL) : NULL;

    if (!json_is_object(h)) {
        json_decref(h);
        return json_null();
    }
    json_object_set_new(h, "reported_ms", json_integer(r->health_ms));
    return h;
}

json_t *ctl_delivery_json(const struct ctl_delivery_row *r)
{
    return json_pack("{s:o, s:I, s:I, s:I, s:I, s:o, s:I, s:o}", "health", health_json(r),
                     "stored", (json_int_t)r->stored, "duplicates",
                     (json_int_t)r->duplicates, "refused", (json_int_t)r->refused,
                     "missing", (json_int_t)r->missing, "gaps",
                     pairs_json(r->gaps, r->ngaps, "first", "last"), "dropped_reported",
                     (json_int_t)r->dropped_reported, "drop_windows",
                     pairs_json(r->drops, r->ndrops, "window_start_ms", "records"));
}
