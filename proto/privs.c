/*
 * privs.c - leaving root: the user, its directories, and the drop itself
 * through libcap (capabilities(7)).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "privs.h"

int privs_user_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > PRIVS_USER_MAX || name[0] == '-' || name[0] == '.')
        return 0;
    if (strspn(name, "0123456789") == n)
        return 0; /* would read as a uid */
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789._-") == n;
}

const char *privs_user_refused(const char *name)
{
    if (!privs_user_name_valid(name))
        return "is not a user name (1-32 of A-Z a-z 0-9 . _ -, not all digits)";
    if (strcmp(name, "root") == 0)
        return "is root, which the daemon leaves: name an unprivileged user";
    return NULL;
}

unsigned privs_probe_caps(uint16_t stamp_port)
{
    unsigned caps = PRIVS_NET_RAW;

    if (stamp_port > 0 && stamp_port < 1024)
        caps |= PRIVS_NET_BIND_SERVICE;
    return caps;
}

static const struct {
    unsigned bit;
    cap_value_t cap;
    const char *name;
} known_caps[] = {
    {PRIVS_NET_RAW, CAP_NET_RAW, "cap_net_raw"},
    {PRIVS_NET_BIND_SERVICE, CAP_NET_BIND_SERVICE, "cap_net_bind_service"},
};

#define NKNOWN (sizeof(known_caps) / sizeof(known_caps[0]))

void privs_caps_text(unsigned caps, char *buf, size_t len)
{
    size_t used = 0;

    snprintf(buf, len, "none");
    for (size_t i = 0; i < NKNOWN; i++) {
        if (!(caps & known_caps[i].bit))
            continue;
        used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
                                 used > 0 ? "," : "", known_caps[i].name);
    }
}

/* Directories the system or every user shares: handing one to a daemon's
 * user would take it from everybody else. */
const char *privs_dir_refused(const char *dir)
{
    static const char *const trees[] = {"/etc", "/usr",   "/boot",  "/proc",
                                        "/sys", "/dev",   "/bin",   "/sbin",
                                        "/lib", "/lib32", "/lib64", "/libx32"};
    static const char *const shared[] = {
        "/var/lib",  "/var/spool", "/var/cache", "/var/log",     "/var/tmp", "/var/run",
        "/var/mail", "/var/local", "/var/opt",   "/var/backups", "/run/user"};
    size_t n;

    if (dir[0] != '/' || strchr(dir + 1, '/') == NULL)
        return "the root or a top-level directory";
    for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) {
        n = strlen(trees[i]);
        if (strncmp(dir, trees[i], n) == 0 && (dir[n] == '/' || dir[n] == '\0'))
            return "a system directory";
    }
    for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
        if (strcmp(dir, shared[i]) == 0)
            return "a directory the system shares";
    return NULL;
}

int privs_user_lookup(const char *name, struct privs_user *u)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int rc;

    if (!privs_user_name_valid(name))
        return -EINVAL;
    rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
    if (rc != 0)
        return -rc;
    if (res == NULL)
        return -ENOENT;
    if (pw.pw_uid == 0)
        return -EPERM;
    snprintf(u->name, sizeof(u->name), "%s", name);
    u->uid = pw.pw_uid;
    u->gid = pw.pw_gid;
    return 0;
}

int privs_user_find(const char *name, const char *config, struct privs_user *u, char *err,
                    size_t errlen)
{
    int rc = privs_user_lookup(name, u);

    if (rc == -ENOENT)
        snprintf(err, errlen,
                 "user '%s' does not exist: create it (useradd --system "
                 "--no-create-home %s) or set user = in %s",
                 name, name, config);
    else if (rc == -EPERM)
        snprintf(err, errlen, "user '%s' is uid 0: name an unprivileged user in %s", name,
                 config);
    else if (rc < 0)
        snprintf(err, errlen, "user '%s': cannot look it up: %s", name, strerror(-rc));
    return rc;
}

int privs_make_dirs(const char *dir)
{
    char p[PATH_MAX];

    if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
        return -ENAMETOOLONG;
    for (char *c = p + 1; *c != '\0'; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        /* 0755 whatever the umask (the daemons run with 077): a parent
         * made here must let the daemon's user through once it is not root. */
        if (mkdir(p, 0755) == 0)
            (void)chmod(p, 0755);
        else if (errno != EEXIST)
            return -errno;
        *c = '/';
    }
    return mkdir(p, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

/* One regular file of one name, given by descriptor, becomes the user's. */
static int take_fd(int fd, const char *what, const struct privs_user *u, char *err,
                   size_t errlen)
{
    struct stat st;
    int e;

    if (fstat(fd, &st) < 0) {
        e = errno;
        return snprintf(err, errlen, "%s: %s", what, strerror(e)), -e;
    }
    if (!S_ISREG(st.st_mode))
        return snprintf(err, errlen, "%s: not a regular file", what), -EINVAL;
    /* A second name could be a link to a file that is not ours. */
    if (st.st_nlink != 1)
        return snprintf(err, errlen, "%s has %lu names: refusing to hand it to %s", what,
                        (unsigned long)st.st_nlink, u->name),
               -EMLINK;
    if (fchown(fd, u->uid, u->gid) < 0 || fchmod(fd, 0600) < 0) {
        e = errno;
        return snprintf(err, errlen, "%s: cannot hand it to %s: %s", what, u->name,
                        strerror(e)),
               -e;
    }
    return 0;
}

/* Every regular file directly in the directory open as dfd. */
static int take_files(int dfd, const char *dir, const struct privs_user *u, char *err,
                      size_t errlen)
{
    int fd2 = dup(dfd), rc = 0;
    DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
    struct dirent *e;

    if (d == NULL) {
        rc = -errno;
        if (fd2 >= 0)
            close(fd2);
        return snprintf(err, errlen, "%s: %s", dir, strerror(-rc)), rc;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char what[PATH_MAX + 256];
        int fd;

        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue; /* directories, links, sockets: not the daemon's files */
        fd = openat(dfd, e->d_name,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
            continue; /* a link (ELOOP), or gone meanwhile */
        snprintf(what, sizeof(what), "%s/%s", dir, e->d_name);
        rc = take_fd(fd, what, u, err, errlen);
        close(fd);
        if (rc == -EINVAL)
            rc = 0; /* a FIFO or the like: left alone */
    }
    closedir(d);
    return rc;
}

/* Whether the directory open as fd, at real, may become u's. */
static int dir_acceptable(int fd, const char *dir, const char *real,
                          const struct privs_user *u, char *err, size_t errlen)
{
    const char *why = privs_dir_refused(real);
    struct stat st;

    if (why != NULL)
        return snprintf(err, errlen,
                        "%s is %s: it cannot become %s's; give the daemon a directory of "
                        "its own",
                        real, why, u->name),
               -EPERM;
    if (fstat(fd, &st) < 0) {
        int e = errno;

        return snprintf(err, errlen, "%s: %s", dir, strerror(e)), -e;
    }
    if (st.st_uid != 0 && st.st_uid != u->uid)
        return snprintf(err, errlen, "%s belongs to uid %u, neither root nor %s", dir,
                        (unsigned)st.st_uid, u->name),
               -EPERM;
    if (st.st_uid != u->uid && (st.st_mode & (S_ISVTX | S_IWGRP | S_IWOTH)))
        return snprintf(err, errlen,
                        "%s is shared (sticky or writable by others): it cannot become "
                        "%s's; give the daemon a directory of its own",
                        dir, u->name),
               -EPERM;
    return 0;
}

int privs_take_dir(const char *dir, const struct privs_user *u, int create, int files,
                   char *err, size_t errlen)
{
    char real[PATH_MAX];
    int fd, rc;

    if (create && (rc = privs_make_dirs(dir)) < 0)
        return snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc)), rc;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        struct stat st;

        rc = -errno;
        /* O_DIRECTORY makes a link ENOTDIR, not ELOOP. */
        if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
            rc = -ELOOP;
        return snprintf(err, errlen, "%s: %s", dir,
                        rc == -ELOOP ? "a symbolic link, not a directory"
                                     : strerror(-rc)),
               rc;
    }
    if (realpath(dir, real) == NULL) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
        goto done;
    }
    rc = dir_acceptable(fd, dir, real, u, err, errlen);
    if (rc == 0 && (fchown(fd, u->uid, u->gid) < 0 || fchmod(fd, 0700) < 0)) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot hand it to %s: %s", dir, u->name,
                 strerror(-rc));
    }
    if (rc == 0 && files)
        rc = take_files(fd, dir, u, err, errlen);
done:
    close(fd);
    return rc;
}

int privs_take_file(const char *path, const struct privs_user *u, int create, char *err,
                    size_t errlen)
{
    int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    int fd = open(path, flags | (create ? O_CREAT : 0), 0600), rc;

    if (fd < 0 && errno == ENOENT && !create)
        return 0;
    if (fd < 0) {
        rc = -errno;
        return snprintf(err, errlen, "%s: %s", path,
                        rc == -ELOOP ? "a symbolic link, not a file" : strerror(-rc)),
               rc;
    }
    rc = take_fd(fd, path, u, err, errlen);
    close(fd);
    return rc;
}

int privs_enter(const struct privs_user *u)
{
    /* Root's own groups would let "the user" read what is root's group's. */
    if (setgroups(0, NULL) < 0 || setresgid(-1, u->gid, -1) < 0 ||
        setresuid(-1, u->uid, -1) < 0)
        return -errno;
    return 0;
}

int privs_leave(void)
{
    if (setresuid(-1, 0, -1) < 0 || setresgid(-1, 0, -1) < 0)
        return -errno;
    return 0;
}

/* libcap changes the calling thread only: another one would stay root. */
static int count_threads(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    int n = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* The bounding set keeps caps alone: nothing executed can get more. */
static int cut_bounding_set(unsigned caps)
{
    cap_iab_t iab = cap_iab_init();
    int rc = -1;

    if (iab == NULL)
        return -1;
    for (cap_value_t v = 0; v < (cap_value_t)cap_max_bits(); v++) {
        int kept = 0;

        for (size_t i = 0; i < NKNOWN; i++)
            kept |= (caps & known_caps[i].bit) && known_caps[i].cap == v;
        if (!kept && cap_iab_set_vector(iab, CAP_IAB_BOUND, v, CAP_SET) != 0)
            goto done;
    }
    rc = cap_iab_set_proc(iab); /* inheritable and ambient: empty */
done:
    cap_free(iab);
    return rc;
}

/* Exactly caps, permitted and effective. */
static int set_caps(unsigned caps)
{
    cap_value_t keep[NKNOWN];
    int n = 0, rc;
    cap_t c = cap_init();

    if (c == NULL)
        return -1;
    for (size_t i = 0; i < NKNOWN; i++)
        if (caps & known_caps[i].bit)
            keep[n++] = known_caps[i].cap;
    rc = n == 0 ? 0 : cap_set_flag(c, CAP_PERMITTED, n, keep, CAP_SET);
    if (rc == 0 && n > 0)
        rc = cap_set_flag(c, CAP_EFFECTIVE, n, keep, CAP_SET);
    if (rc == 0)
        rc = cap_set_proc(c);
    cap_free(c);
    return rc;
}

/* What the kernel says now must be what was asked. */
static int verify_drop(const struct privs_user *u)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;

    if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return -1;
    if (r != u->uid || e != u->uid || s != u->uid || rg != u->gid || eg != u->gid ||
        sg != u->gid || getgroups(0, NULL) != 0)
        return -1;
    return setuid(0) == 0 ? -1 : 0;
}

int privs_drop(const struct privs_user *u, unsigned caps, char *err, size_t errlen)
{
    int n = count_threads();
    const char *step;

    if (n != 1)
        return snprintf(err, errlen,
                        "cannot leave root with %d threads: each would keep its own "
                        "credentials",
                        n),
               -EBUSY;
    step = "cut the bounding set";
    if (cut_bounding_set(caps) != 0)
        goto fail;
    step = "set the group";
    if (cap_setgroups(u->gid, 0, NULL) != 0)
        goto fail;
    step = "set the user";
    if (cap_setuid(u->uid) != 0)
        goto fail;
    step = "set the capabilities";
    if (set_caps(caps) != 0)
        goto fail;
    step = "set no_new_privs";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        goto fail;
    step = "verify the drop";
    errno = EPERM;
    if (verify_drop(u) != 0)
        goto fail;
    return 0;
fail:
    n = errno != 0 ? errno : EPERM;
    snprintf(err, errlen, "cannot become user %s (uid %u): %s: %s", u->name,
             (unsigned)u->uid, step, strerror(n));
    return -n;
}

int privs_check_reach(const char *path, int mode, char *err, size_t errlen)
{
    char p[PATH_MAX];
    struct stat st;
    int e;

    /* The effective ids: between privs_enter() and privs_leave() too. */
    if (faccessat(AT_FDCWD, path, mode, AT_EACCESS) == 0)
        return 0;
    e = errno;
    if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
        return snprintf(err, errlen, "%s: path too long", path), -ENAMETOOLONG;
    for (char *c = p + 1; *c != '\0'; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (faccessat(AT_FDCWD, p, X_OK, AT_EACCESS) < 0 && stat(p, &st) == 0)
            return snprintf(err, errlen,
                            "%s: out of reach: the directory %s (mode %04o, uid %u) "
                            "does not let this user through (give it o+x)",
                            path, p, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid),
                   -e;
        *c = '/';
    }
    return snprintf(err, errlen, "%s: %s", path, strerror(e)), -e;
}
