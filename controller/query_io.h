/*
 * query_io.h - the map and the history API off the loop (query_io.c), and
 * their parameters (api.c).
 */
#ifndef IXMESH_CONTROLLER_QUERY_IO_H
#define IXMESH_CONTROLLER_QUERY_IO_H

#include <microhttpd.h>

#include "controller.h"

/* A request of the map or the history API, parsed. */
struct ctl_query_req {
    char key[768]; /* normalized: identical requests share an answer */
    struct ctl_query q;
    uint32_t window_s; /* ?window= of the live map; 0: a range (q) */
};

/* Gives the value of a query argument, NULL when absent. */
typedef const char *(*ctl_arg_fn)(void *arg, const char *name);

/*
 * Parses url (/api/v1/map or /api/v1/pairs/SRC/DST/{series,windows}) with
 * its arguments: 1 when it is one of them and valid, 0 when the url is
 * none of them, -1 when it is but an argument is not valid (why says
 * which and why, for a 400).
 */
int ctl_api_parse(const char *url, ctl_arg_fn args, void *arg,
                  const struct ctl_config *cfg, int64_t now_ms, struct ctl_query_req *out,
                  char *why, size_t whylen);

/* Serves r for conn (MHD's handler; state is its per-request pointer). */
enum MHD_Result ctl_query_serve(struct ctl *c, struct MHD_Connection *conn,
                                const struct ctl_query_req *r, void **state);
/* MHD ended the request whose state this is. */
void ctl_query_done(struct ctl *c, void **state);
int ctl_query_init(struct ctl *c);
/* Before MHD stops: every waiting connection is resumed, to be closed. */
void ctl_query_stop(struct ctl *c);
/* After the loop ended. */
void ctl_query_close(struct ctl *c);

#endif
