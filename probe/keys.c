/*
 * keys.c - STAMP keys: one for every peer, or one per peer address.
 *
 * A key file holds one key per line, 64 hexadecimal digits, either alone
 * (the default key) or after a peer's numeric address (that peer's key):
 *
 *   # the mesh key
 *   3f1c...e9
 *   # a router that has its own
 *   192.0.2.7  8a02...41
 *
 * Keys are chosen by the peer's address, never by anything inside a packet,
 * so the HMAC is still the first thing checked.
 */
#include <ctype.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "probe.h"

static int hex_key(const char *s, uint8_t key[PROTO_STAMP_KEY_LEN])
{
    if (strlen(s) != 2 * PROTO_STAMP_KEY_LEN)
        return -1;
    for (size_t i = 0; i < PROTO_STAMP_KEY_LEN; i++) {
        unsigned v;

        if (!isxdigit((unsigned char)s[2 * i]) ||
            !isxdigit((unsigned char)s[2 * i + 1]) || sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        key[i] = (uint8_t)v;
    }
    return 0;
}

/* The address as 16 octets, IPv4 v4-mapped, so both forms compare equal. */
static void addr16(const struct sockaddr *sa, uint8_t out[16])
{
    memset(out, 0, 16);
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return;
    }
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
}

static int numeric_address(const char *s)
{
    struct in6_addr a6;
    struct in_addr a4;

    return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

/* One line, already stripped of comments and surrounding blanks. */
static const char *parse_line(struct probe_keyring *k, char *line)
{
    char *sp = strpbrk(line, " \t");
    struct sockaddr_storage ss;
    socklen_t sl;
    uint8_t key[PROTO_STAMP_KEY_LEN];

    if (sp == NULL) {
        if (hex_key(line, key) < 0)
            return "a key is 64 hexadecimal digits";
        if (k->has_default)
            return "a second default key";
        memcpy(k->def, key, sizeof(key));
        k->has_default = 1;
        return NULL;
    }
    *sp++ = '\0';
    sp += strspn(sp, " \t");
    /* An address alone: a port would be silently ignored, since keys go
     * by address. */
    if (!numeric_address(line) || proto_addr_parse(line, 1, &ss, &sl) < 0)
        return "not ADDRESS KEY with a numeric address (no port, no brackets)";
    if (hex_key(sp, key) < 0)
        return "a key is 64 hexadecimal digits";
    if (k->n == PROBE_KEYS_MAX)
        return "too many keys";
    addr16((struct sockaddr *)&ss, k->peers[k->n].addr);
    for (size_t i = 0; i < k->n; i++)
        if (memcmp(k->peers[i].addr, k->peers[k->n].addr, 16) == 0)
            return "a second key for this address (only one would be used)";
    memcpy(k->peers[k->n++].key, key, sizeof(key));
    return NULL;
}

static char *trim(char *s)
{
    char *end;

    s[strcspn(s, "#\r\n")] = '\0';
    s += strspn(s, " \t");
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    return s;
}

int probe_keys_load(const char *path, struct probe_keyring *k, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char buf[256];
    const char *why = NULL;
    int lineno = 0;

    memset(k, 0, sizeof(*k));
    if (f == NULL)
        return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1;
    while (why == NULL && fgets(buf, sizeof(buf), f) != NULL) {
        char *line;

        lineno++;
        if (strchr(buf, '\n') == NULL && !feof(f)) {
            why = "line too long, or a NUL octet in it";
            break;
        }
        line = trim(buf);
        if (*line != '\0')
            why = parse_line(k, line);
    }
    fclose(f);
    if (why == NULL && !k->has_default && k->n == 0)
        return snprintf(err, errlen, "%s: no key in the file", path), -1;
    if (why != NULL)
        return snprintf(err, errlen, "%s:%d: %s", path, lineno, why), -1;
    return 0;
}

const uint8_t *probe_key_for(const struct probe_keyring *k, const struct sockaddr *peer)
{
    uint8_t a[16];

    addr16(peer, a);
    for (size_t i = 0; i < k->n; i++)
        if (memcmp(k->peers[i].addr, a, 16) == 0)
            return k->peers[i].key;
    return k->has_default ? k->def : NULL;
}
