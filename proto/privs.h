/*
 * privs.h - how a daemon started as root becomes its own user, keeping only
 * the capabilities it needs.  Shared by the probe and the controller, and
 * kept out of ixmesh_proto: it makes system calls, wire code makes none.
 *
 * The order each daemon follows: look the user up, read keys and
 * certificates and open what needs root, hand its state directories to the
 * user (privs_take_dir, privs_take_file), open its state as that user
 * (privs_enter / privs_leave), then privs_drop() for good.
 */
#ifndef IXMESH_PRIVS_H
#define IXMESH_PRIVS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PRIVS_USER_DEFAULT "ixmesh"
#define PRIVS_USER_MAX     32 /* useradd's limit */

/* Capabilities a daemon may keep, as a set of bits. */
#define PRIVS_NET_RAW          (1u << 0) /* raw ICMP sockets */
#define PRIVS_NET_BIND_SERVICE (1u << 1) /* a port below 1024 */

struct privs_user {
    char name[PRIVS_USER_MAX + 1];
    uid_t uid;
    gid_t gid;
};

/* 1-32 of A-Z a-z 0-9 . _ -, not starting with '-' or '.', not all digits. */
int privs_user_name_valid(const char *name);
/* Why name cannot be a daemon's user (for the configuration's error), or
 * NULL when it can. */
const char *privs_user_refused(const char *name);

/* What the probe keeps: raw sockets for ICMP always, binding below 1024
 * only when its reflector listens there (it may open it again later). */
unsigned privs_probe_caps(uint16_t stamp_port);

/* caps as text for the log, "cap_net_raw,cap_net_bind_service" or "none". */
void privs_caps_text(unsigned caps, char *buf, size_t len);

/*
 * Why dir (an absolute path, symlinks resolved) must not be handed to a
 * daemon's user: a system directory, or NULL when it may be.
 */
const char *privs_dir_refused(const char *dir);

/* Looks name up: 0, -ENOENT when there is no such user, -EPERM when it is
 * uid 0, or another negative errno from the lookup. */
int privs_user_lookup(const char *name, struct privs_user *u);

/* mkdir -p: the parents it makes 0755 whatever the umask, dir itself 0700.
 * 0 when dir exists afterwards, or -errno. */
int privs_make_dirs(const char *dir);
/* privs_user_lookup, with what to do about a failure in err (config: the
 * file whose user = key named it). */
int privs_user_find(const char *name, const char *config, struct privs_user *u, char *err,
                    size_t errlen);

/*
 * Makes dir the user's, mode 0700 (with mkdir -p first when create is set;
 * parents made 0755), and, with files set, every regular file directly in
 * it too, mode 0600.  Refuses a symbolic link, a shared or system directory
 * and one that another user owns; never follows a link inside, and leaves
 * files with more than one name alone.  -errno and a reason in err.
 */
int privs_take_dir(const char *dir, const struct privs_user *u, int create, int files,
                   char *err, size_t errlen);
/* The same for one file: 0600 and the user's, made empty when it is missing
 * and create is set; a missing file is no error otherwise. */
int privs_take_file(const char *path, const struct privs_user *u, int create, char *err,
                    size_t errlen);

/* Acts as u (effective ids only) until privs_leave(): what it creates is
 * the user's, and it opens nothing root alone could. */
int privs_enter(const struct privs_user *u);
int privs_leave(void);

/*
 * Becomes u for good: no supplementary groups, the capabilities of caps
 * (PRIVS_*) permitted and effective and nothing else, the bounding set cut
 * to them, nothing inheritable or ambient, and no_new_privs.  Must run
 * while the process has one thread.  -errno and a reason in err.
 */
int privs_drop(const struct privs_user *u, unsigned caps, char *err, size_t errlen);

/*
 * After the drop: when path cannot be used with mode (access(2) bits),
 * names the first directory on the way the user cannot search, or path
 * itself, in err and returns -errno.
 */
int privs_check_reach(const char *path, int mode, char *err, size_t errlen);

#endif
