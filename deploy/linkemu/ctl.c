/*
 * ctl.c - the control socket.  An AF_UNIX datagram socket: one request, one
 * reply, no connection state in the emulator's loop.  Requests are text:
 *     set [NAME=VALUE ...]   NAME as the option without dashes ("delay-ms")
 *     stats
 *     reset
 * and replies "ok ..." or "err REASON".  The client binds an autobound
 * abstract address so that the reply has somewhere to go.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "linkemu.h"
#include "log.h"

static int make_addr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path))
        return -ENAMETOOLONG;
    memcpy(sun->sun_path, path, strlen(path));
    return 0;
}

/* 1 if a socket file at sun is served by a live process. */
static int socket_alive(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), alive;

    if (fd < 0)
        return 0;
    alive = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
    close(fd);
    return alive;
}

int le_ctl_listen(const char *path, int *fd)
{
    struct sockaddr_un sun;
    struct stat sb;
    int sfd, rc;

    rc = make_addr(path, &sun);
    if (rc < 0)
        return rc;
    if (lstat(path, &sb) == 0) {
        /* Only a stale socket is ours to replace; anything else stays. */
        if (!S_ISSOCK(sb.st_mode) || socket_alive(&sun))
            return -EADDRINUSE;
        unlink(path);
    }
    sfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sfd < 0)
        return -errno;
    if (bind(sfd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        rc = -errno;
        close(sfd);
        return rc;
    }
    *fd = sfd;
    return 0;
}

/* Applies "NAME=VALUE ..." all or nothing. */
static int handle_set(struct le_link *l, char *args, char *reply, size_t len)
{
    struct le_params p = l->params;
    char err[256], *save = NULL;

    for (char *tok = strtok_r(args, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');

        if (eq == NULL)
            return snprintf(reply, len, "err want NAME=VALUE, got '%s'", tok);
        *eq = '\0';
        if (le_params_set(&p, tok, eq + 1, err, sizeof(err)) < 0)
            return snprintf(reply, len, "err %s", err);
    }
    if (le_params_check(&p, err, sizeof(err)) < 0)
        return snprintf(reply, len, "err %s", err);
    l->params = p;
    le_params_format(&p, err, sizeof(err));
    log_info("settings: %s", err);
    return snprintf(reply, len, "ok %s", err);
}

/* Builds the reply to one request: "set", "stats" or "reset". */
int le_ctl_handle(struct le_link *l, char *req, char *reply, size_t len)
{
    char line[LE_CTL_MAX], params[256];

    if (strncmp(req, "set", 3) == 0 && (req[3] == '\0' || req[3] == ' '))
        return handle_set(l, req + 3, reply, len);
    if (strcmp(req, "stats") == 0) {
        /* Both fit their buffers whole, whatever the counters hold. */
        le_stats_format(&l->dir[LE_A2B].st, &l->dir[LE_B2A].st, line, sizeof(line));
        le_params_format(&l->params, params, sizeof(params));
        return snprintf(reply, len, "ok %s %s", line, params);
    }
    if (strcmp(req, "reset") == 0) {
        le_link_reset(l);
        return snprintf(reply, len, "ok counters reset");
    }
    return snprintf(reply, len, "err unknown request");
}

void le_ctl_serve(struct le_link *l, int fd)
{
    char req[LE_CTL_MAX], reply[LE_CTL_MAX];
    struct sockaddr_un from;
    socklen_t fromlen;
    ssize_t n;
    int m;

    for (;;) {
        fromlen = sizeof(from);
        n = recvfrom(fd, req, sizeof(req) - 1, 0, (struct sockaddr *)&from, &fromlen);
        if (n < 0)
            return;
        req[n] = '\0';
        m = le_ctl_handle(l, req, reply, sizeof(reply));
        if (m >= (int)sizeof(reply))
            m = (int)sizeof(reply) - 1;
        /* A client that left does not concern us. */
        if (m > 0)
            sendto(fd, reply, (size_t)m, 0, (struct sockaddr *)&from, fromlen);
    }
}

int le_ctl_request(const char *path, const char *req, char *reply, size_t len)
{
    struct sockaddr_un sun;
    sa_family_t family = AF_UNIX;
    struct timeval tv = {3, 0};
    ssize_t n;
    int fd, rc;

    rc = make_addr(path, &sun);
    if (rc < 0)
        return rc;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* Binding just the family autobinds an abstract name (unix(7)). */
    if (bind(fd, (struct sockaddr *)&family, sizeof(family)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        send(fd, req, strlen(req), 0) < 0) {
        rc = -errno;
        goto done;
    }
    n = recv(fd, reply, len - 1, 0);
    if (n < 0) {
        rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
        goto done;
    }
    reply[n] = '\0';
    rc = 0;
done:
    close(fd);
    return rc;
}
