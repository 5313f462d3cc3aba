/*
 * stamp_emit - sends one STAMP Session-Sender packet and one Session-Reflector
 * packet, encoded by proto/stamp.c, over a real UDP socket on 127.0.0.1, and
 * prints the field values it encoded, one "name=value" a line.
 *
 * stamp_interop.sh captures the two datagrams and has Wireshark's TWAMP-Test
 * dissector decode them: a decoder nobody here wrote must read back the
 * values printed here.  The program also receives both datagrams itself and
 * decodes them with our decoders, so a loopback mishap shows as its own error.
 *
 * Usage: stamp_emit PORT.  Exit status 0, 1 on failure, 2 when PORT is busy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "proto.h"

/* Padded like a probe task of 60 octets; the reflector answers in kind (4.3). */
#define EMIT_LEN 60

/*
 * PTPv2 truncated timestamp (Z=1, RFC 8762 4.2.1): 32 bits of seconds and 32
 * bits of nanoseconds.  The TAI-UTC offset is left out: only the layout is
 * under test here.
 */
static uint64_t ptp_from_timespec(const struct timespec *ts)
{
    return (uint64_t)(uint32_t)ts->tv_sec << 32 | (uint32_t)ts->tv_nsec;
}

/*
 * Distinctive values: no two fields equal, no errest field 0 or all ones.
 * The reflector stamps its own times in PTP format (Z=1) and copies the
 * sender's NTP timestamp and Error Estimate (Z=0), so a decoder must honour
 * each Z bit to read every timestamp right.
 */
static void emit_values(struct proto_stamp_sender *s, struct proto_stamp_reflector *r)
{
    struct timespec t1 = {1700000000, 123456789};
    struct timespec t2 = {1700000001, 500000001};
    struct timespec t3 = {1700000001, 987654321};

    memset(s, 0, sizeof(*s));
    s->seq = 0x11223344;
    s->ts = proto_ntp_from_timespec(&t1);
    s->err = (struct proto_stamp_errest){.sync = 1, .ptp = 0, .scale = 5, .mult = 200};

    memset(r, 0, sizeof(*r));
    r->seq = 0x55667788;
    r->ts = ptp_from_timespec(&t3);
    r->err = (struct proto_stamp_errest){.sync = 0, .ptp = 1, .scale = 62, .mult = 3};
    r->rx_ts = ptp_from_timespec(&t2);
    r->sender_seq = s->seq;
    r->sender_ts = s->ts;
    r->sender_err = s->err;
    r->sender_ttl = 63;
}

/* Prints a timestamp as Unix seconds.nanoseconds, read as its Z bit says. */
static void print_ts(const char *pfx, const char *name, uint64_t v, uint8_t ptp)
{
    struct timespec ts;

    if (ptp) {
        ts.tv_sec = (time_t)(v >> 32);
        ts.tv_nsec = (long)(v & 0xffffffffu);
    } else {
        proto_ntp_to_timespec(v, &ts);
    }
    printf("%s%s=%lld.%09ld\n", pfx, name, (long long)ts.tv_sec, ts.tv_nsec);
    printf("%s%s_raw=0x%016" PRIx64 "\n", pfx, name, v);
}

static void print_errest(const char *pfx, const char *name,
                         const struct proto_stamp_errest *e)
{
    /* The RFC 4656 4.1.2 layout spelled out again, not proto_stamp_errest_pack(),
     * so that the comparison does not trust the code under test. */
    printf("%s%s=%u\n", pfx, name,
           e->sync << 15 | e->ptp << 14 | e->scale << 8 | e->mult);
    printf("%s%s_s=%u\n%s%s_z=%u\n", pfx, name, e->sync, pfx, name, e->ptp);
    printf("%s%s_scale=%u\n%s%s_mult=%u\n", pfx, name, e->scale, pfx, name, e->mult);
}

static void print_values(const struct proto_stamp_sender *s,
                         const struct proto_stamp_reflector *r)
{
    printf("sender_len=%d\nsender_seq=%" PRIu32 "\n", EMIT_LEN, s->seq);
    print_ts("sender_", "ts", s->ts, s->err.ptp);
    print_errest("sender_", "err", &s->err);
    printf("refl_len=%d\nrefl_seq=%" PRIu32 "\n", EMIT_LEN, r->seq);
    print_ts("refl_", "ts", r->ts, r->err.ptp);
    print_errest("refl_", "err", &r->err);
    print_ts("refl_", "rx_ts", r->rx_ts, r->err.ptp);
    printf("refl_sender_seq=%" PRIu32 "\n", r->sender_seq);
    print_ts("refl_", "sender_ts", r->sender_ts, r->sender_err.ptp);
    print_errest("refl_", "sender_err", &r->sender_err);
    printf("refl_sender_ttl=%u\n", r->sender_ttl);
}

/* Receives one datagram and checks it is the one sent, byte for byte. */
static int recv_same(int fd, const uint8_t *sent, size_t len)
{
    uint8_t buf[PROTO_STAMP_MAX_LEN];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);

    if (n < 0) {
        perror("stamp_emit: recv");
        return -1;
    }
    if ((size_t)n != len || memcmp(buf, sent, len) != 0) {
        fprintf(stderr, "stamp_emit: loopback returned other octets\n");
        return -1;
    }
    return 0;
}

static int open_sockets(uint16_t port, int *rx, int *tx, struct sockaddr_in *dst)
{
    struct timeval tv = {5, 0};

    memset(dst, 0, sizeof(*dst));
    dst->sin_family = AF_INET;
    dst->sin_port = htons(port);
    dst->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *rx = socket(AF_INET, SOCK_DGRAM, 0);
    *tx = socket(AF_INET, SOCK_DGRAM, 0);
    if (*rx < 0 || *tx < 0) {
        perror("stamp_emit: socket");
        return 1;
    }
    if (bind(*rx, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
        perror("stamp_emit: bind");
        return errno == EADDRINUSE ? 2 : 1;
    }
    if (setsockopt(*rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
        perror("stamp_emit: SO_RCVTIMEO");
        return 1;
    }
    return 0;
}

/* Sends both packets, sender first, and reads them back through our decoders. */
static int send_both(int rx, int tx, const struct sockaddr_in *dst, const uint8_t *sp,
                     const uint8_t *rp)
{
    const struct sockaddr *sa = (const struct sockaddr *)dst;
    struct proto_stamp_reflector r;

    if (sendto(tx, sp, EMIT_LEN, 0, sa, sizeof(*dst)) != EMIT_LEN ||
        recv_same(rx, sp, EMIT_LEN) < 0 ||
        sendto(tx, rp, EMIT_LEN, 0, sa, sizeof(*dst)) != EMIT_LEN ||
        recv_same(rx, rp, EMIT_LEN) < 0) {
        fprintf(stderr, "stamp_emit: sending on 127.0.0.1 failed\n");
        return 1;
    }
    if (proto_stamp_is_reflected(sp, EMIT_LEN) ||
        !proto_stamp_is_reflected(rp, EMIT_LEN) ||
        proto_stamp_reflector_decode(rp, EMIT_LEN, &r) < 0) {
        fprintf(stderr, "stamp_emit: our own decoder disagrees\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint8_t sp[EMIT_LEN], rp[EMIT_LEN];
    struct proto_stamp_sender s;
    struct proto_stamp_reflector r;
    struct sockaddr_in dst;
    int rx = -1, tx = -1, rc;
    long port = argc == 2 ? strtol(argv[1], NULL, 10) : 0;

    if (port < 1 || port > 65535) {
        fprintf(stderr, "usage: stamp_emit PORT\n");
        return 1;
    }
    emit_values(&s, &r);
    if (proto_stamp_sender_encode(&s, sp, sizeof(sp)) != EMIT_LEN ||
        proto_stamp_reflector_encode(&r, rp, sizeof(rp)) != EMIT_LEN) {
        fprintf(stderr, "stamp_emit: encoding failed\n");
        return 1;
    }
    rc = open_sockets((uint16_t)port, &rx, &tx, &dst);
    if (rc == 0)
        rc = send_both(rx, tx, &dst, sp, rp);
    if (rc == 0)
        print_values(&s, &r);
    if (rx >= 0)
        close(rx);
    if (tx >= 0)
        close(tx);
    return rc;
}
