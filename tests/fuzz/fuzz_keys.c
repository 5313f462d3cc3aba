/*
 * fuzz_keys.c - the probe's STAMP key file reader.
 *
 * probe_keys_load() takes a file name, so the input goes into a memory file
 * first (fuzz_file()).  An accepted keyring holds one key for every line
 * that is neither blank nor a comment, and probe_key_for() finds each
 * peer's own key (the first, when an address repeats).  A refused file is
 * named in the message, with the line at fault when there is one.
 */
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "probe.h"

/*
 * Lines holding a key, counted apart from the reader: what is left of a
 * line before a NUL, '#' or CR, when it is not all blanks.
 */
static size_t key_lines(const uint8_t *data, size_t size)
{
    size_t n = 0, i = 0;

    while (i < size) {
        int content = 0, cut = 0;

        for (; i < size && data[i] != '\n'; i++) {
            if (data[i] == '\0' || data[i] == '#' || data[i] == '\r')
                cut = 1;
            else if (!cut && data[i] != ' ' && data[i] != '\t')
                content = 1;
        }
        i++; /* the newline */
        n += (size_t)content;
    }
    return n;
}

/* Lines as fgets() sees them: newlines, and a last line without one. */
static size_t all_lines(const uint8_t *data, size_t size)
{
    size_t n = 0;

    for (size_t i = 0; i < size; i++)
        n += data[i] == '\n';
    return n + (size > 0 && data[size - 1] != '\n');
}

/* The socket address of a keyring entry: IPv4 when it is v4-mapped. */
static const struct sockaddr *peer_addr(const uint8_t a[16], struct sockaddr_storage *ss)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(ss, 0, sizeof(*ss));
    if (memcmp(a, mapped, sizeof(mapped)) == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, a + 12, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, a, 16);
    }
    return (const struct sockaddr *)ss;
}

static void check_keyring(const struct probe_keyring *k, const uint8_t *data, size_t size)
{
    static const uint8_t nobody[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    struct sockaddr_storage ss;
    const uint8_t *key;
    size_t i, j;
    int listed = 0;

    FUZZ_CHECK(k->n <= PROBE_KEYS_MAX);
    FUZZ_CHECK(k->has_default == 0 || k->has_default == 1);
    FUZZ_CHECK(k->has_default || k->n > 0);
    FUZZ_CHECK(k->n + (size_t)k->has_default == key_lines(data, size));
    for (i = 0; i < k->n; i++) {
        for (j = 0; memcmp(k->peers[j].addr, k->peers[i].addr, 16) != 0; j++)
            ;
        key = probe_key_for(k, peer_addr(k->peers[i].addr, &ss));
        FUZZ_CHECK(key == k->peers[j].key);
        listed |= memcmp(k->peers[i].addr, nobody, 16) == 0;
    }
    /* Anyone else gets the default key, or none. */
    if (!listed) {
        key = probe_key_for(k, peer_addr(nobody, &ss));
        FUZZ_CHECK(key == (k->has_default ? k->def : NULL));
    }
}

/* "PATH:LINE: reason" with LINE a line of the file, or "PATH: reason". */
static void check_error(const char *err, const char *path, const uint8_t *data,
                        size_t size)
{
    size_t plen = strlen(path);
    const char *rest;

    FUZZ_CHECK(strncmp(err, path, plen) == 0);
    rest = err + plen;
    FUZZ_CHECK(rest[0] == ':');
    if (isdigit((unsigned char)rest[1])) {
        char *end;
        long line = strtol(rest + 1, &end, 10);

        FUZZ_CHECK(line >= 1 && (size_t)line <= all_lines(data, size));
        rest = end;
        FUZZ_CHECK(rest[0] == ':');
    }
    FUZZ_CHECK(rest[1] == ' ' && rest[2] != '\0' && rest[2] != ' ');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct probe_keyring k; /* 24 KiB: not on the stack */
    const char *path = fuzz_file(data, size);
    char err[512] = "";

    if (probe_keys_load(path, &k, err, sizeof(err)) == 0)
        check_keyring(&k, data, size);
    else
        check_error(err, path, data, size);
    return 0;
}
