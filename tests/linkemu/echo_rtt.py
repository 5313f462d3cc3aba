#!/usr/bin/env python3
"""Per-packet ICMP echo round-trip times to the microsecond, for
linkemu.latency.

    echo_rtt.py DST COUNT INTERVAL_MS

Prints one RTT in ms a line (3 decimals more than ping's and fping's, which
print 0.1 ms steps from 10 ms up); lost requests print nothing.  The reply's
time is the kernel's receive stamp (SO_TIMESTAMPNS), so how late this
script wakes up does not count; the request's is taken just before sendto.
Needs root (raw socket).
"""
import os
import select
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo_request(ident, seq):
    payload = b"ixmesh-linkemu".ljust(56, b"\0")
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)  # RFC 792 echo
    return struct.pack("!BBHHH", 8, 0, checksum(head + payload), ident, seq) + payload


def read_reply(s, ident, sent, rtts):
    data, anc, _, _ = s.recvmsg(2048, socket.CMSG_SPACE(16))
    ihl = (data[0] & 0x0F) * 4
    if len(data) < ihl + 8:
        return
    typ, _, _, rid, seq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
    if typ != 0 or rid != ident or seq not in sent or seq in rtts:
        return
    for level, kind, val in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", val[:16])
            rtts[seq] = (sec * 1000000000 + nsec) - sent[seq]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    dst, count, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) / 1e3
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    ident = os.getpid() & 0xFFFF
    sent, rtts = {}, {}
    t = time.monotonic()
    for seq in range(count + 1):
        end = t + (gap if seq < count else 1.0)  # one more second for stragglers
        if seq < count:
            pkt = echo_request(ident, seq)
            sent[seq] = time.time_ns()
            s.sendto(pkt, (dst, 0))
        while True:
            left = end - time.monotonic()
            if left <= 0 or (seq == count and len(rtts) == count):
                break
            if select.select([s], [], [], left)[0]:
                read_reply(s, ident, sent, rtts)
        t = end
    for seq in sorted(rtts):
        print("%.3f" % (rtts[seq] / 1e6))


if __name__ == "__main__":
    main()
