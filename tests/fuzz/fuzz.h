/*
 * fuzz.h - what the fuzz harnesses share.
 *
 * Each fuzz_NAME.c defines LLVMFuzzerTestOneInput() and nothing else that
 * is visible.  It is linked twice: with libFuzzer's main() into fuzz_NAME
 * (IXMESH_FUZZ builds, clang only), and with replay.c into replay_NAME,
 * which every build runs under ctest over the committed corpus/NAME/.
 *
 * Harnesses check invariants with FUZZ_CHECK, never assert(): release
 * builds define NDEBUG, and a violated invariant must abort in every build
 * so that libFuzzer reports it and the replay test fails.
 */
#ifndef IXMESH_FUZZ_H
#define IXMESH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The key of the STAMP harnesses (32 octets): gen_seeds signs the seeds of
 * fuzz_stamp_auth and fuzz_stamp_tlv with it.
 */
#define FUZZ_STAMP_KEY ((const uint8_t *)"ixmesh-fuzz-stamp-key-0123456789")

/*
 * fuzz_reflect inputs: a flags octet, the TOS octet the request arrived
 * with, then the datagram.  The session-sender task it is matched against
 * has sent FUZZ_REFLECT_PRIMED requests from sequence number
 * FUZZ_REFLECT_FIRST_SEQ (wrapping past 2^32) with SSID FUZZ_REFLECT_SSID.
 */
enum {
    FUZZ_REFLECT_AUTH = 0x01,      /* reflector and sender hold FUZZ_STAMP_KEY */
    FUZZ_REFLECT_STATEFUL = 0x02,  /* the reflector numbers its answers per session */
    FUZZ_REFLECT_LEGACY = 0x04,    /* it answers TWAMP-Light requests of 41-43 octets */
    FUZZ_REFLECT_IPV6 = 0x08,      /* the request comes from an IPv6 address */
    FUZZ_REFLECT_SIGN = 0x10,      /* the harness puts the right HMAC in octets 96-111 */
    FUZZ_REFLECT_SHORT_OUT = 0x20, /* the answer buffer is one octet too short */
};
#define FUZZ_REFLECT_FIRST_SEQ 0xfffffffeu
#define FUZZ_REFLECT_PRIMED    4
#define FUZZ_REFLECT_SSID      0x1234

/*
 * fuzz_icmp inputs: a flags octet, then one message as an ICMP socket hands
 * it over.  The flags' low two bits name the socket (enum probe_icmp_sock:
 * raw IPv4 with its IP header, ping IPv4, raw IPv6, ping IPv6); with
 * FUZZ_ICMP_FIX_SUM the harness first sets the ICMP checksum (after the IP
 * header, when there is one), so that seeds need not carry it.  Our cookie
 * and raw sockets' identifier are these.
 */
#define FUZZ_ICMP_SOCK    0x03
#define FUZZ_ICMP_FIX_SUM 0x04
#define FUZZ_ICMP_COOKIE  ((const uint8_t *)"ixmesh-f")
#define FUZZ_ICMP_IDENT   0x1ce5

/* ---- support.c ----------------------------------------------------------- */

#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            fuzz_fail(__FILE__, __LINE__, #cond);                                        \
    } while (0)

/* Prints where an invariant broke and aborts. */
_Noreturn void fuzz_fail(const char *file, int line, const char *what);

/*
 * Decodes one frame payload.  When the decoder accepts it (as a message of
 * want_type, unless that is 0), checks that the encoder accepts the result,
 * that its output decodes again, and that it encodes to the same octets the
 * second time.  Aborts on any violation.
 */
void fuzz_msg_decode(const uint8_t *payload, size_t len, int want_type);

/*
 * Decodes data as a message of the given type: data must start with a
 * msgpack map header, and the map the decoder sees is that map with
 * "t": type added in front, so every input reaches that type's decoder.
 */
void fuzz_msg_typed(const uint8_t *data, size_t size, enum proto_msg_type type);

/*
 * Replaces the content of one memory-backed file with data and returns a
 * path that opens it ("/proc/self/fd/N"), for loaders that take a file
 * name.  The file lives until the process exits; the next call reuses it.
 */
const char *fuzz_file(const uint8_t *data, size_t size);

#endif
