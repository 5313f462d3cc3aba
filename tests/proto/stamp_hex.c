/*
 * stamp_hex - our STAMP encoders and decoders behind a text interface, so
 * that scripts can hold them against implementations nobody here wrote
 * (openssl dgst and Python's hmac in stamp_hmac.sh, scapy and tshark in
 * stamp_scapy.sh).
 *
 * Usage:
 *   stamp_hex encode sender|reflector [KEYHEX]
 *       reads "name=value" lines (the names decode prints, plus len, the
 *       packet length) and prints the packet as one line of hex;
 *   stamp_hex decode sender|reflector|light [KEYHEX]
 *       reads hex and prints "name=value" lines, one per field, decimal;
 *   stamp_hex reflect-tlvs
 *       reads a TLV area in hex and prints our reflector's answer in hex
 *       (no key; Timestamp Information NTP/software, received DSCP 10,
 *       ECN 2, counters 1000 and 999, every DSCP1 refused).
 * KEYHEX, 64 hex digits, selects authenticated mode.  Exit status 0; 1 on
 * a refused packet (after printing "error=CODE"); 2 on a usage error.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define LINE_MAX_LEN 256

struct fields {
    struct proto_stamp_sender s;
    struct proto_stamp_reflector r;
    size_t len;
};

static int hex_nibble(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads hex digits from f, skipping white space; returns the octet count or -1. */
static long read_hex(FILE *f, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int c, hi = -1, v;

    while ((c = fgetc(f)) != EOF) {
        if (isspace(c))
            continue;
        if ((v = hex_nibble(c)) < 0)
            return -1;
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n == cap)
            return -1;
        out[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    return hi < 0 ? (long)n : -1;
}

static void print_hex(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static int parse_key(const char *s, uint8_t key[PROTO_STAMP_KEY_LEN])
{
    size_t i;
    int hi, lo;

    if (strlen(s) != 2 * PROTO_STAMP_KEY_LEN)
        return -1;
    for (i = 0; i < PROTO_STAMP_KEY_LEN; i++) {
        if ((hi = hex_nibble(s[2 * i])) < 0 || (lo = hex_nibble(s[2 * i + 1])) < 0)
            return -1;
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static void print_errest(const char *name, const struct proto_stamp_errest *e)
{
    printf("%s_s=%u\n%s_z=%u\n", name, e->sync, name, e->ptp);
    printf("%s_scale=%u\n%s_mult=%u\n", name, e->scale, name, e->mult);
}

static void print_sender(const struct proto_stamp_sender *m)
{
    printf("seq=%" PRIu32 "\nts=%" PRIu64 "\n", m->seq, m->ts);
    print_errest("err", &m->err);
    printf("ssid=%u\n", m->ssid);
}

static void print_reflector(const struct proto_stamp_reflector *m)
{
    printf("seq=%" PRIu32 "\nts=%" PRIu64 "\n", m->seq, m->ts);
    print_errest("err", &m->err);
    printf("ssid=%u\nrx_ts=%" PRIu64 "\n", m->ssid, m->rx_ts);
    printf("sender_seq=%" PRIu32 "\nsender_ts=%" PRIu64 "\n", m->sender_seq,
           m->sender_ts);
    print_errest("sender_err", &m->sender_err);
    printf("sender_ttl=%u\n", m->sender_ttl);
}

/* Sets an Error Estimate field from "PREFIX_s" and the like; 1 if it was one. */
static int set_errest(struct proto_stamp_errest *e, const char *prefix, const char *name,
                      unsigned long long v)
{
    size_t n = strlen(prefix);

    if (strncmp(name, prefix, n) != 0 || name[n] != '_')
        return 0;
    name += n + 1;
    if (strcmp(name, "s") == 0)
        e->sync = (uint8_t)v;
    else if (strcmp(name, "z") == 0)
        e->ptp = (uint8_t)v;
    else if (strcmp(name, "scale") == 0)
        e->scale = (uint8_t)v;
    else if (strcmp(name, "mult") == 0)
        e->mult = (uint8_t)v;
    else
        return 0;
    return 1;
}

/* One "name=value" into both the sender and the reflector view. */
static int set_field(struct fields *f, const char *name, unsigned long long v)
{
    if (strcmp(name, "seq") == 0)
        f->s.seq = f->r.seq = (uint32_t)v;
    else if (strcmp(name, "ts") == 0)
        f->s.ts = f->r.ts = v;
    else if (strcmp(name, "ssid") == 0)
        f->s.ssid = f->r.ssid = (uint16_t)v;
    else if (strcmp(name, "rx_ts") == 0)
        f->r.rx_ts = v;
    else if (strcmp(name, "sender_seq") == 0)
        f->r.sender_seq = (uint32_t)v;
    else if (strcmp(name, "sender_ts") == 0)
        f->r.sender_ts = v;
    else if (strcmp(name, "sender_ttl") == 0)
        f->r.sender_ttl = (uint8_t)v;
    else if (strcmp(name, "len") == 0)
        f->len = (size_t)v;
    else if (set_errest(&f->r.sender_err, "sender_err", name, v))
        return 0;
    else if (set_errest(&f->s.err, "err", name, v))
        f->r.err = f->s.err;
    else
        return -1;
    return 0;
}

static int read_fields(FILE *in, struct fields *f)
{
    char line[LINE_MAX_LEN], *eq, *end;
    unsigned long long v;

    memset(f, 0, sizeof(*f));
    while (fgets(line, sizeof(line), in) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if ((eq = strchr(line, '=')) == NULL)
            return -1;
        *eq = '\0';
        v = strtoull(eq + 1, &end, 0);
        if (*end != '\0' || set_field(f, line, v) < 0) {
            fprintf(stderr, "stamp_hex: bad field %s\n", line);
            return -1;
        }
    }
    return 0;
}

static int encode(const char *kind, const uint8_t *key)
{
    uint8_t buf[PROTO_STAMP_MAX_LEN];
    struct fields f;
    int n;

    if (read_fields(stdin, &f) < 0)
        return 2;
    if (f.len == 0)
        f.len = key != NULL ? PROTO_STAMP_AUTH_LEN : PROTO_STAMP_BASE_LEN;
    if (f.len > sizeof(buf))
        return 2;
    if (strcmp(kind, "sender") == 0)
        n = key != NULL ? proto_stamp_sender_encode_auth(&f.s, key, buf, f.len)
                        : proto_stamp_sender_encode(&f.s, buf, f.len);
    else if (strcmp(kind, "reflector") == 0)
        n = key != NULL ? proto_stamp_reflector_encode_auth(&f.r, key, buf, f.len)
                        : proto_stamp_reflector_encode(&f.r, buf, f.len);
    else
        return 2;
    if (n < 0) {
        printf("error=%d\n", n);
        return 1;
    }
    print_hex(buf, (size_t)n);
    return 0;
}

static int decode(const char *kind, const uint8_t *key)
{
    uint8_t buf[PROTO_STAMP_MAX_LEN];
    struct proto_stamp_reflector r;
    struct proto_stamp_sender s;
    long n = read_hex(stdin, buf, sizeof(buf));
    int rc, is_sender = strcmp(kind, "sender") == 0;

    if (n < 0)
        return 2;
    if (is_sender)
        rc = key != NULL ? proto_stamp_sender_decode_auth(buf, (size_t)n, key, &s)
                         : proto_stamp_sender_decode(buf, (size_t)n, &s);
    else if (strcmp(kind, "reflector") == 0)
        rc = key != NULL ? proto_stamp_reflector_decode_auth(buf, (size_t)n, key, &r)
                         : proto_stamp_reflector_decode(buf, (size_t)n, &r);
    else if (strcmp(kind, "light") == 0 && key == NULL)
        rc = proto_stamp_reflector_decode_light(buf, (size_t)n, &r);
    else
        return 2;
    if (rc < 0) {
        printf("error=%d\n", rc);
        return 1;
    }
    if (is_sender)
        print_sender(&s);
    else
        print_reflector(&r);
    return 0;
}

static int reflect_tlvs(void)
{
    uint8_t req[PROTO_STAMP_MAX_LEN], out[PROTO_STAMP_MAX_LEN];
    const struct proto_stamp_tlv_ctx ctx = {
        .tsinfo = {PROTO_STAMP_SYNC_NTP, PROTO_STAMP_TSM_SW, PROTO_STAMP_SYNC_NTP,
                   PROTO_STAMP_TSM_SW},
        .rx_dscp = 10,
        .rx_ecn = 2,
        .rx_count = 1000,
        .tx_count = 999,
    };
    long n = read_hex(stdin, req, sizeof(req));
    int rc;

    if (n < 0)
        return 2;
    rc = proto_stamp_tlv_reflect(req, (size_t)n, &ctx, out, sizeof(out), NULL);
    if (rc < 0) {
        printf("error=%d\n", rc);
        return 1;
    }
    print_hex(out, (size_t)rc);
    return 0;
}

int main(int argc, char **argv)
{
    uint8_t key[PROTO_STAMP_KEY_LEN];
    const uint8_t *k = NULL;

    if (argc == 2 && strcmp(argv[1], "reflect-tlvs") == 0)
        return reflect_tlvs();
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: stamp_hex encode|decode KIND [KEYHEX]\n"
                        "       stamp_hex reflect-tlvs\n");
        return 2;
    }
    if (argc == 4) {
        if (parse_key(argv[3], key) < 0) {
            fprintf(stderr, "stamp_hex: the key is 64 hex digits\n");
            return 2;
        }
        k = key;
    }
    if (strcmp(argv[1], "encode") == 0)
        return encode(argv[2], k);
    if (strcmp(argv[1], "decode") == 0)
        return decode(argv[2], k);
    return 2;
}
