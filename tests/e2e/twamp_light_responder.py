#!/usr/bin/python3
"""A minimal TWAMP-Light session-reflector for e2e.stamp_short_reply.

    twamp_light_responder.py ADDR PORT LEN [--zero-t2]

Answers every datagram of at least 14 octets (a session-sender's Sequence
Number, Timestamp and Error Estimate) with LEN octets in the layout of
RFC 5357 section 4.2.1:

    0-3 Sequence Number (the sender's), 4-11 Timestamp (T3), 12-13 Error
    Estimate, 14-15 MBZ, 16-23 Receive Timestamp (T2), 24-27 Sender
    Sequence Number, 28-35 Sender Timestamp, 36-37 Sender Error Estimate,
    38-39 MBZ, 40 Sender TTL, then zero padding

cut off after LEN octets, as some reflectors in use do: LEN 38 ends with the
Sender Error Estimate, with no MBZ and no Sender TTL.  From 41 octets on the
Sender TTL is the TTL the request arrived with.  --zero-t2 leaves the
Receive Timestamp zero, which no real reflector does.  Prints "listening"
once bound and "answered N" when it stops (SIGTERM, exit status 0).
"""
import signal
import socket
import struct
import sys
import time

NTP_UNIX_OFFSET = 2208988800
# Error Estimate, RFC 4656 4.1.2: S=0, Z=0 (NTP format), Scale 0, Multiplier 1.
ERROR_ESTIMATE = 0x0001
# Python's socket module leaves it out; Linux <linux/in.h> has 12.
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)


def ntp_now():
    """The wall clock as an NTP 32.32 timestamp (RFC 5905 section 6)."""
    ns = time.time_ns()
    sec, frac_ns = divmod(ns, 1000000000)
    return ((sec + NTP_UNIX_OFFSET) & 0xFFFFFFFF) << 32 | (frac_ns << 32) // 1000000000


def received_ttl(ancdata):
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == socket.IP_TTL:
            return int.from_bytes(data[:4], sys.byteorder) & 0xFF
    return 0


def reply(req, length, t2, ttl, zero_t2):
    head = req[:14]  # the sender's Sequence Number, Timestamp, Error Estimate
    out = bytearray(max(length, 41))
    out[0:4] = head[0:4]
    struct.pack_into("!H", out, 12, ERROR_ESTIMATE)
    struct.pack_into("!Q", out, 16, 0 if zero_t2 else t2)
    out[24:38] = head
    out[40] = ttl
    struct.pack_into("!Q", out, 4, ntp_now())  # T3, as late as it can be
    return bytes(out[:length])


def main():
    if len(sys.argv) not in (4, 5) or (len(sys.argv) == 5 and sys.argv[4] != "--zero-t2"):
        sys.exit(__doc__)
    addr, port, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    zero_t2 = len(sys.argv) == 5
    answered = 0

    def stop(_signum, _frame):
        print("answered %d" % answered, flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
    sock.bind((addr, port))
    print("listening on %s port %d, answering %d octets" % (addr, port, length), flush=True)
    while True:
        req, anc, _flags, peer = sock.recvmsg(2048, socket.CMSG_SPACE(4))
        t2 = ntp_now()
        if len(req) < 14:
            continue
        sock.sendto(reply(req, length, t2, received_ttl(anc), zero_t2), peer)
        answered += 1


if __name__ == "__main__":
    main()
