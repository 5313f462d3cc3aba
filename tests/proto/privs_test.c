/*
 * privs_test.c - proto/privs.c: the logic alone (suite privs), and, as root,
 * the directories it hands over (privs_dirs) and the drop itself, in a
 * child each time since it cannot be undone (privs_drop).  The drops go to
 * "nobody", which every Debian system has.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "privs.h"

#define CAP_BIT(n) (1ull << (n))
#define NET_BIND   CAP_BIT(10) /* CAP_NET_BIND_SERVICE */
#define NET_RAW    CAP_BIT(13) /* CAP_NET_RAW */

/* ---- privs: no privilege needed ----------------------------------------- */

START_TEST(user_names)
{
    ck_assert(privs_user_name_valid("ixmesh"));
    ck_assert(privs_user_name_valid("_ix-mesh.1"));
    ck_assert(privs_user_name_valid("a"));
    ck_assert(!privs_user_name_valid(""));
    ck_assert(!privs_user_name_valid("-x"));
    ck_assert(!privs_user_name_valid(".x"));
    ck_assert(!privs_user_name_valid("1000"));
    ck_assert(!privs_user_name_valid("ix mesh"));
    ck_assert(!privs_user_name_valid("ix/mesh"));
    ck_assert(privs_user_name_valid("abcdefghijklmnopqrstuvwxyz012345"));   /* 32 */
    ck_assert(!privs_user_name_valid("abcdefghijklmnopqrstuvwxyz0123456")); /* 33 */
    ck_assert_ptr_null(privs_user_refused("ixmesh"));
    ck_assert_ptr_nonnull(privs_user_refused("root"));
    ck_assert_ptr_nonnull(privs_user_refused("x:y"));
}
END_TEST

START_TEST(probe_caps_by_port)
{
    ck_assert_uint_eq(privs_probe_caps(8620), PRIVS_NET_RAW);
    ck_assert_uint_eq(privs_probe_caps(1024), PRIVS_NET_RAW);
    ck_assert_uint_eq(privs_probe_caps(1023), PRIVS_NET_RAW | PRIVS_NET_BIND_SERVICE);
    ck_assert_uint_eq(privs_probe_caps(862), PRIVS_NET_RAW | PRIVS_NET_BIND_SERVICE);
    ck_assert_uint_eq(privs_probe_caps(1), PRIVS_NET_RAW | PRIVS_NET_BIND_SERVICE);
    /* Port 0: the kernel picks one above 1024. */
    ck_assert_uint_eq(privs_probe_caps(0), PRIVS_NET_RAW);
}
END_TEST

START_TEST(caps_as_text)
{
    char b[64];

    privs_caps_text(0, b, sizeof(b));
    ck_assert_str_eq(b, "none");
    privs_caps_text(PRIVS_NET_RAW, b, sizeof(b));
    ck_assert_str_eq(b, "cap_net_raw");
    privs_caps_text(PRIVS_NET_RAW | PRIVS_NET_BIND_SERVICE, b, sizeof(b));
    ck_assert_str_eq(b, "cap_net_raw,cap_net_bind_service");
    privs_caps_text(PRIVS_NET_RAW | PRIVS_NET_BIND_SERVICE, b, 8);
    ck_assert_str_eq(b, "cap_net");
}
END_TEST

START_TEST(system_dirs_refused)
{
    static const char *const refused[] = {
        "/",          "/tmp",        "/var",         "/home",    "/var/lib",
        "/var/spool", "/etc/ixmesh", "/usr/local/x", "/lib64/x", "relative/dir"};
    static const char *const taken[] = {"/var/lib/ixmesh",   "/var/spool/ixmesh-probe",
                                        "/tmp/ixmesh-e2e-x", "/srv/ixmesh",
                                        "/libfoo/x",         "/etcetera/x"};

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        ck_assert_msg(privs_dir_refused(refused[i]) != NULL, "%s taken", refused[i]);
    for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
        ck_assert_msg(privs_dir_refused(taken[i]) == NULL, "%s refused: %s", taken[i],
                      privs_dir_refused(taken[i]));
}
END_TEST

START_TEST(user_lookup)
{
    struct privs_user u;

    ck_assert_int_eq(privs_user_lookup("nobody", &u), 0);
    ck_assert_str_eq(u.name, "nobody");
    ck_assert_uint_ne(u.uid, 0);
    ck_assert_int_eq(privs_user_lookup("root", &u), -EPERM);
    ck_assert_int_eq(privs_user_lookup("ixmesh-no-such-user", &u), -ENOENT);
    ck_assert_int_eq(privs_user_lookup("bad name", &u), -EINVAL);
}
END_TEST

/* ---- privs_dirs: as root ------------------------------------------------ */

static char base[64];
static struct privs_user nobody;

static void dirs_setup(void)
{
    ck_assert_int_eq(privs_user_lookup("nobody", &nobody), 0);
    snprintf(base, sizeof(base), "/tmp/ixmesh-privs-test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
    ck_assert_int_eq(chmod(base, 0755), 0);
}

static void dirs_teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    ck_assert_int_eq(system(cmd), 0);
}

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", base, name);
}

static void make_file(const char *name, mode_t mode)
{
    char p[256];
    int fd;

    path_of(p, sizeof(p), name);
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL, mode);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static struct stat lstat_of(const char *name)
{
    char p[256];
    struct stat st;

    path_of(p, sizeof(p), name);
    ck_assert_msg(lstat(p, &st) == 0, "%s: %s", p, strerror(errno));
    return st;
}

START_TEST(take_dir_and_files)
{
    char spool[256], p[256], err[512], outside[256];
    struct stat st;

    path_of(spool, sizeof(spool), "a/b/spool");
    ck_assert_int_eq(privs_take_dir(spool, &nobody, 1, 1, err, sizeof(err)), 0);
    st = lstat_of("a/b/spool");
    ck_assert_uint_eq(st.st_uid, nobody.uid);
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    st = lstat_of("a");
    ck_assert_uint_eq(st.st_uid, 0); /* parents stay root's */
    ck_assert_uint_eq(st.st_mode & 07777, 0755);

    /* What an older version, run as root, left; a link pointing outside; a FIFO. */
    make_file("a/b/spool/seg-1.spool", 0644);
    make_file("outside", 0644);
    path_of(outside, sizeof(outside), "outside");
    path_of(p, sizeof(p), "a/b/spool/seq0");
    ck_assert_int_eq(symlink(outside, p), 0);
    path_of(p, sizeof(p), "a/b/spool/fifo");
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    ck_assert_int_eq(chmod(spool, 0755), 0);
    ck_assert_int_eq(chown(spool, 0, 0), 0);
    ck_assert_int_eq(privs_take_dir(spool, &nobody, 0, 1, err, sizeof(err)), 0);
    st = lstat_of("a/b/spool/seg-1.spool");
    ck_assert_uint_eq(st.st_uid, nobody.uid);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    st = lstat_of("outside");
    ck_assert_uint_eq(st.st_uid, 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0644);
    st = lstat_of("a/b/spool/fifo");
    ck_assert_uint_eq(st.st_uid, 0);
    st = lstat_of("a/b/spool");
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
}
END_TEST

START_TEST(take_refuses_links)
{
    char dir[256], p[256], q[256], err[512];
    struct stat st;

    /* A second name of a file: maybe one the user must not get. */
    path_of(dir, sizeof(dir), "d");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    make_file("shadow", 0600);
    path_of(p, sizeof(p), "shadow");
    path_of(q, sizeof(q), "d/acked");
    ck_assert_int_eq(link(p, q), 0);
    ck_assert_int_eq(privs_take_dir(dir, &nobody, 0, 1, err, sizeof(err)), -EMLINK);
    ck_assert_msg(strstr(err, "2 names") != NULL, "%s", err);
    st = lstat_of("shadow");
    ck_assert_uint_eq(st.st_uid, 0);

    /* The directory itself a link: refused, its target untouched. */
    path_of(q, sizeof(q), "spool");
    ck_assert_int_eq(symlink(base, q), 0);
    ck_assert_int_eq(privs_take_dir(q, &nobody, 0, 0, err, sizeof(err)), -ELOOP);
    ck_assert_msg(strstr(err, "symbolic link") != NULL, "%s", err);
    /* A file a link: refused too. */
    path_of(q, sizeof(q), "db");
    ck_assert_int_eq(symlink(p, q), 0);
    ck_assert_int_eq(privs_take_file(q, &nobody, 1, err, sizeof(err)), -ELOOP);
    st = lstat_of("shadow");
    ck_assert_uint_eq(st.st_uid, 0);
}
END_TEST

START_TEST(take_refuses_shared_dirs)
{
    char dir[256], err[512];

    ck_assert_int_eq(privs_take_dir("/tmp", &nobody, 0, 0, err, sizeof(err)), -EPERM);
    ck_assert_msg(strstr(err, "top-level") != NULL, "%s", err);
    path_of(dir, sizeof(dir), "shared");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(chmod(dir, 01777), 0);
    ck_assert_int_eq(privs_take_dir(dir, &nobody, 0, 0, err, sizeof(err)), -EPERM);
    ck_assert_msg(strstr(err, "shared") != NULL, "%s", err);
    ck_assert_uint_eq(lstat_of("shared").st_uid, 0);
    /* Another user's. */
    ck_assert_int_eq(chmod(dir, 0700), 0);
    ck_assert_int_eq(chown(dir, nobody.uid + 1, 0), 0);
    ck_assert_int_eq(privs_take_dir(dir, &nobody, 0, 0, err, sizeof(err)), -EPERM);
    ck_assert_msg(strstr(err, "neither root nor") != NULL, "%s", err);
}
END_TEST

START_TEST(take_file_creates)
{
    char p[256], err[512];
    struct stat st;

    path_of(p, sizeof(p), "x.db-wal");
    ck_assert_int_eq(privs_take_file(p, &nobody, 0, err, sizeof(err)), 0);
    ck_assert_int_eq(access(p, F_OK), -1); /* not there, not made */
    path_of(p, sizeof(p), "x.db");
    ck_assert_int_eq(privs_take_file(p, &nobody, 1, err, sizeof(err)), 0);
    st = lstat_of("x.db");
    ck_assert_uint_eq(st.st_uid, nobody.uid);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(st.st_size, 0);
}
END_TEST

/* ---- privs_drop: as root, each drop in a child --------------------------- */

static char why[512];

static int child_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return 1;
}

/* Runs fn in a child; its failure text comes back through a pipe. */
static void in_child(int (*fn)(void *), void *arg)
{
    int fds[2], status;
    char msg[sizeof(why)] = "";
    pid_t pid;
    ssize_t n;

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int rc;

        close(fds[0]);
        why[0] = '\0';
        rc = fn(arg);
        if (write(fds[1], why, strlen(why)) < 0)
            rc = 2;
        _exit(rc);
    }
    close(fds[1]);
    n = read(fds[0], msg, sizeof(msg) - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s", msg);
}

static unsigned long long status_hex(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long v = ~0ull;
    size_t n = strlen(field);

    if (f == NULL)
        return v;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtoull(line + n + 1, NULL, 16);
    fclose(f);
    return v;
}

/* 0, or -errno, binding UDP on 127.0.0.1 to a free port below 1024. */
static int bind_low_port(void)
{
    int rc = -EADDRINUSE;

    for (int port = 1000; port < 1024 && rc == -EADDRINUSE; port++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
        int fd = socket(AF_INET, SOCK_DGRAM, 0);

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0)
            return -errno;
        rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
        close(fd);
    }
    return rc;
}

static int raw_icmp(void)
{
    int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);

    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static int drop_and_check(void *arg)
{
    unsigned caps = *(unsigned *)arg;
    unsigned long long want = ((caps & PRIVS_NET_RAW) ? NET_RAW : 0) |
                              ((caps & PRIVS_NET_BIND_SERVICE) ? NET_BIND : 0);
    char err[512];
    int rc;

    if (privs_drop(&nobody, caps, err, sizeof(err)) < 0)
        return child_fail("privs_drop: %s", err);
    if (getuid() != nobody.uid || geteuid() != nobody.uid || getgid() != nobody.gid)
        return child_fail("uid %u euid %u gid %u", getuid(), geteuid(), getgid());
    if (getgroups(0, NULL) != 0)
        return child_fail("%d supplementary groups kept", getgroups(0, NULL));
    if (status_hex("CapEff") != want || status_hex("CapPrm") != want ||
        status_hex("CapBnd") != want || status_hex("CapInh") != 0 ||
        status_hex("CapAmb") != 0)
        return child_fail("CapEff %llx CapPrm %llx CapBnd %llx, not %llx",
                          status_hex("CapEff"), status_hex("CapPrm"),
                          status_hex("CapBnd"), want);
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return child_fail("no_new_privs not set");
    if (setuid(0) == 0 || seteuid(0) == 0)
        return child_fail("could become root again");
    rc = raw_icmp();
    if ((caps & PRIVS_NET_RAW) ? rc != 0 : rc != -EPERM)
        return child_fail("raw ICMP socket: %s", rc ? strerror(-rc) : "opened");
    rc = bind_low_port();
    if ((caps & PRIVS_NET_BIND_SERVICE) ? rc != 0 : rc != -EACCES)
        return child_fail("bind below 1024: %s", rc ? strerror(-rc) : "bound");
    return 0;
}

START_TEST(drop_keeps_only_what_is_asked)
{
    static const unsigned sets[] = {0, PRIVS_NET_RAW,
                                    PRIVS_NET_RAW | PRIVS_NET_BIND_SERVICE};

    ck_assert_int_eq(privs_user_lookup("nobody", &nobody), 0);
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        in_child(drop_and_check, (void *)&sets[i]);
}
END_TEST

static void *sleeper(void *arg)
{
    (void)arg;
    pause();
    return NULL;
}

static int drop_with_a_thread(void *arg)
{
    pthread_t t;
    char err[512];
    int rc;

    (void)arg;
    if (pthread_create(&t, NULL, sleeper, NULL) != 0)
        return child_fail("pthread_create");
    rc = privs_drop(&nobody, 0, err, sizeof(err));
    if (rc != -EBUSY || strstr(err, "2 threads") == NULL)
        return child_fail("privs_drop with 2 threads: %d %s", rc, err);
    if (geteuid() != 0)
        return child_fail("half dropped: euid %u", geteuid());
    return 0;
}

START_TEST(drop_refuses_threads)
{
    ck_assert_int_eq(privs_user_lookup("nobody", &nobody), 0);
    in_child(drop_with_a_thread, NULL);
}
END_TEST

/* Between enter and leave: files made are the user's, and root's reach is
 * gone; after leave, root again. */
static int enter_and_leave(void *arg)
{
    const char *dir = arg;
    char p[256], err[512];
    struct stat st;
    int fd;

    if (privs_enter(&nobody) < 0)
        return child_fail("privs_enter: %s", strerror(errno));
    snprintf(p, sizeof(p), "%s/mine", dir);
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return child_fail("as nobody in its own directory: %s", strerror(errno));
    close(fd);
    if (stat(p, &st) < 0 || st.st_uid != nobody.uid)
        return child_fail("%s is not nobody's", p);
    snprintf(p, sizeof(p), "%s/closed/x", base);
    if (privs_check_reach(p, R_OK, err, sizeof(err)) == 0 ||
        strstr(err, "closed (mode 0700, uid 0)") == NULL)
        return child_fail("check_reach: %s", err);
    if (privs_leave() < 0 || geteuid() != 0)
        return child_fail("privs_leave: %s", strerror(errno));
    if (privs_check_reach(p, R_OK, err, sizeof(err)) != 0)
        return child_fail("root cannot read %s: %s", p, err);
    return 0;
}

START_TEST(enter_then_leave)
{
    char dir[256], err[512];

    path_of(dir, sizeof(dir), "closed");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    make_file("closed/x", 0644);
    path_of(dir, sizeof(dir), "own");
    ck_assert_int_eq(privs_take_dir(dir, &nobody, 1, 0, err, sizeof(err)), 0);
    in_child(enter_and_leave, dir);
}
END_TEST

static Suite *privs_suite(void)
{
    Suite *s = suite_create("privs");
    TCase *tc = tcase_create("logic");

    tcase_add_test(tc, user_names);
    tcase_add_test(tc, probe_caps_by_port);
    tcase_add_test(tc, caps_as_text);
    tcase_add_test(tc, system_dirs_refused);
    tcase_add_test(tc, user_lookup);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *privs_dirs_suite(void)
{
    Suite *s = suite_create("privs_dirs");
    TCase *tc = tcase_create("dirs");

    tcase_add_checked_fixture(tc, dirs_setup, dirs_teardown);
    tcase_add_test(tc, take_dir_and_files);
    tcase_add_test(tc, take_refuses_links);
    tcase_add_test(tc, take_refuses_shared_dirs);
    tcase_add_test(tc, take_file_creates);
    tcase_add_test(tc, enter_then_leave);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *privs_drop_suite(void)
{
    Suite *s = suite_create("privs_drop");
    TCase *tc = tcase_create("drop");

    tcase_add_test(tc, drop_keeps_only_what_is_asked);
    tcase_add_test(tc, drop_refuses_threads);
    suite_add_tcase(s, tc);
    return s;
}

/* check_privs SUITE: privs runs anywhere; privs_dirs and privs_drop need
 * root, and without it exit 77 (ctest: skipped). */
int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    SRunner *sr;
    int failed;

    if (only != NULL && strcmp(only, "privs") != 0 && geteuid() != 0) {
        fprintf(stderr,
                "SKIP %s: needs root (it changes owners and drops root) -- NOT RUN\n",
                only);
        return 77;
    }
    sr = srunner_create(privs_suite());
    if (geteuid() == 0) {
        srunner_add_suite(sr, privs_dirs_suite());
        srunner_add_suite(sr, privs_drop_suite());
    }
    srunner_run(sr, only, NULL, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
