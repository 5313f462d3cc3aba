#!/usr/bin/env python3
"""Numbered UDP datagrams for linkemu.latency: an independent count of what
the link emulator duplicated and reordered.

    udp_seq.py send SRC DST PORT COUNT GAP_US
    udp_seq.py recv ADDR PORT READY_FILE

The receiver counts per RFC 4737: a datagram whose number was seen before is
a duplicate (and nothing else); otherwise it is reordered when its number is
below the next expected one (3.3), the highest number seen plus one.  It
stops one second after the last datagram, or 30 s after it started, and
prints one line of KEY=VALUE.
"""
import os
import socket
import struct
import sys
import time


def send(src, dst, port, count, gap_us):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    gap = gap_us / 1e6
    t = time.perf_counter()
    for seq in range(count):
        # Busy-wait: sleep() is too coarse for a gap of a few hundred us.
        while time.perf_counter() < t:
            pass
        s.sendto(struct.pack("!Q", seq) + b"\0" * 56, (dst, port))
        t += gap


def recv(addr, port, ready):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    s.bind((addr, port))
    with open(ready + ".tmp", "w") as f:
        f.write("ready\n")
    os.rename(ready + ".tmp", ready)
    seen = set()
    received = duplicates = reordered = 0
    next_exp = 0
    deadline = time.monotonic() + 30
    s.settimeout(30)
    while True:
        try:
            data = s.recv(2048)
        except socket.timeout:
            break
        received += 1
        seq = struct.unpack("!Q", data[:8])[0]
        if seq in seen:
            duplicates += 1
        else:
            seen.add(seq)
            if seq < next_exp:
                reordered += 1
            else:
                next_exp = seq + 1
        s.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
    print("received=%d unique=%d duplicates=%d reordered=%d"
          % (received, len(seen), duplicates, reordered))


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
             float(sys.argv[6]))
    elif len(sys.argv) == 5 and sys.argv[1] == "recv":
        recv(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
