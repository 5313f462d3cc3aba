/*
 * replay.c - a main() that feeds files to LLVMFuzzerTestOneInput().
 *
 *   replay_NAME PATH...
 *
 * Each PATH is a file or a folder whose regular files are replayed in name
 * order, so the committed corpus runs in every build, under ctest, without
 * libFuzzer.  Each input sits in a buffer of exactly its size, so that
 * AddressSanitizer (IXMESH_SANITIZE) catches a read one octet too far.
 * Fails when a path cannot be read or when no input was found at all.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Reads the whole file into a malloc'd buffer of its exact size. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
    uint8_t *buf = NULL;
    struct stat st;
    FILE *f;
    int rc = -1;

    errno = 0;
    f = fopen(path, "rb");
    if (f == NULL)
        goto done;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0)
        goto done;
    /* One octet more than none, so that malloc() does not return NULL. */
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (buf == NULL)
        goto done;
    if (st.st_size > 0 && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        goto done;
    *out = buf;
    *len = (size_t)st.st_size;
    buf = NULL;
    rc = 0;
done:
    if (rc != 0)
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno ? errno : EIO));
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

static int replay_file(const char *path)
{
    uint8_t *data;
    size_t len;

    if (read_file(path, &data, &len) != 0)
        return -1;
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

static int not_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Replays the regular files of dir; adds how many to *count. */
static int replay_dir(const char *dir, unsigned long *count)
{
    struct dirent **names = NULL;
    char path[4096];
    struct stat st;
    int i, n, rc = 0;

    n = scandir(dir, &names, not_hidden, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (rc == 0 &&
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) <
                (int)sizeof(path) &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = replay_file(path);
            *count += rc == 0;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long count = 0;
    struct stat st;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count) != 0
                                : replay_file(argv[i]) != 0)
            return 1;
        count += !S_ISDIR(st.st_mode);
    }
    printf("replay: %lu inputs, no failure\n", count);
    if (count == 0) {
        fprintf(stderr, "replay: no input found\n");
        return 1;
    }
    return 0;
}
