#!/usr/bin/python3
"""stamp_flood.py - valid STAMP requests (RFC 8762 4.2.1, 44 octets) from
given loopback source addresses to one reflector, at a steady total rate
for a while; prints what came back as one JSON line.

    stamp_flood.py HOST PORT RATE SECONDS SOURCE...

RATE is requests per second over all sources, sent in turn.  Answers are
counted per whole second since the start; the first SKIP_S seconds (the
reflector's burst) are left out of "steady_per_s".  Traffic goes only to
HOST, which must be a loopback address.
"""
import ipaddress
import json
import select
import socket
import struct
import sys
import time

SKIP_S = 3  # a limit's burst lasts at most 2 s at twice the rate


def request(seq):
    # Sequence, Timestamp, Error Estimate (S=1, scale 0, mult 1), SSID 0,
    # then zeros: octets 16-23 (the Receive Timestamp of a reply) are zero.
    ts = int((time.time() + 2208988800) * (1 << 32))
    return struct.pack("!IQHH", seq & 0xFFFFFFFF, ts & ((1 << 64) - 1), 0x8001, 0) + bytes(28)


def main():
    host, port, rate, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    sources = sys.argv[5:]
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("stamp_flood.py: %s is not a loopback address" % host)
    socks = []
    for a in sources:
        if not ipaddress.ip_address(a).is_loopback:
            sys.exit("stamp_flood.py: %s is not a loopback address" % a)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a, 0))
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        socks.append(s)
    per_s = [0] * (int(secs) + 2)
    sent = answered = larger = errors = seq = 0
    t0 = time.monotonic()
    end = t0 + secs
    poller = select.epoll()
    for s in socks:
        poller.register(s.fileno(), select.EPOLLIN)
    by_fd = {s.fileno(): s for s in socks}
    while True:
        now = time.monotonic()
        if now >= end:
            break
        # Send what the rate allows up to now, then drain answers.
        due = int((now - t0) * rate) - sent
        for _ in range(min(due, 2000)):
            try:
                socks[seq % len(socks)].sendto(request(seq), (host, port))
                sent += 1
            except OSError:
                errors += 1
                sent += 1
            seq += 1
        for fd, _ in poller.poll(0.0005):
            s = by_fd[fd]
            while True:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                answered += 1
                larger += len(data) > 44
                k = int(time.monotonic() - t0)
                if k < len(per_s):
                    per_s[k] += 1
    # Answers still on their way.
    time.sleep(0.2)
    for s in socks:
        while True:
            try:
                s.recv(2048)
            except BlockingIOError:
                break
            answered += 1
    whole = [per_s[k] for k in range(int(secs))]
    steady = whole[SKIP_S:] if len(whole) > SKIP_S else whole
    print(json.dumps({
        "sources": len(socks),
        "sent": sent,
        "send_errors": errors,
        "sent_per_s": round(sent / secs),
        "answered": answered,
        "larger": larger,
        "answered_per_s": whole,
        "steady_max_per_s": max(steady) if steady else 0,
        "steady_mean_per_s": round(sum(steady) / len(steady)) if steady else 0,
    }))


if __name__ == "__main__":
    main()
