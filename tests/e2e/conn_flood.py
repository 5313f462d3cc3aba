#!/usr/bin/python3
"""conn_flood.py - the connection attacks of e2e.conn_flood, on loopback only.

One or both floods, for --duration seconds, then every socket is closed
(several processes make a larger flood than one's RLIMIT_NOFILE allows):

  channel  --chan-conns TCP connections to the probe channel, spread over the
           --chan-sources source addresses, each sending the first 5 octets
           of a TLS ClientHello (a record header) and nothing more;
  http     --http-conns connections to the HTTP server, spread over the
           --http-sources source addresses, each sending the start of a GET
           and then one header octet every --trickle seconds (slowloris).

A connection the server closes is opened again (the attacker keeps up the
pressure), at most --refill connections a second per flood (0: never).  When both floods
have opened their count once, the file --ready is created.  At the end one
JSON object with the counts goes to stdout.

Addresses are refused unless they are in 127.0.0.0/8.
"""
import argparse
import errno
import ipaddress
import json
import resource
import selectors
import socket
import sys
import time

CLIENT_HELLO_START = b"\x16\x03\x01\x02\x00"  # handshake record, 512 octets to come
HTTP_START = b"GET /api/v1/map HTTP/1.1\r\nHost: ixmesh\r\nX-Slow: "


def loopback(addr):
    if ipaddress.ip_address(addr) not in ipaddress.ip_network("127.0.0.0/8"):
        sys.exit("conn_flood: %s is not a loopback address" % addr)
    return addr


def source_range(spec):
    """'127.0.96.1-200': the addresses 127.0.96.1 to 127.0.96.200."""
    base, _, last = spec.rpartition(".")
    lo, _, hi = last.partition("-")
    return [loopback("%s.%d" % (base, i)) for i in range(int(lo), int(hi or lo) + 1)]


def endpoint(spec):
    host, _, port = spec.rpartition(":")
    return (loopback(host), int(port))


class Flood:
    def __init__(self, name, dst, sources, count, first, trickle):
        self.name, self.dst, self.sources = name, dst, sources
        self.count, self.first, self.trickle = count, first, trickle
        self.open = {}  # socket -> [source, state, last send]
        self.next_src = 0
        self.opened = self.connected = self.closed_by_peer = self.errors = 0
        self.reached = False
        self.peak_open = 0

    def start_one(self, sel):
        src = self.sources[self.next_src % len(self.sources)]
        self.next_src += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.setsockopt(socket.SOL_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
            s.bind((src, 0))
            rc = s.connect_ex(self.dst)
        except OSError:
            s.close()
            self.errors += 1
            return
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            self.errors += 1
            return
        self.opened += 1
        self.open[s] = [src, "connecting", 0.0]
        sel.register(s, selectors.EVENT_WRITE, self)
        self.peak_open = max(self.peak_open, len(self.open))

    def drop(self, sel, s, by_peer):
        sel.unregister(s)
        del self.open[s]
        s.close()
        if by_peer:
            self.closed_by_peer += 1

    def event(self, sel, s, mask):
        st = self.open[s]
        if st[1] == "connecting":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                self.errors += 1
                self.drop(sel, s, False)
                return
            try:
                s.send(self.first)
            except OSError:
                self.drop(sel, s, True)
                return
            self.connected += 1
            st[1], st[2] = "holding", time.monotonic()
            sel.modify(s, selectors.EVENT_READ, self)
            return
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:  # the server closed it (or reset it)
            self.drop(sel, s, True)

    def tick(self, sel, now):
        if self.trickle <= 0:
            return
        for s, st in list(self.open.items()):
            if st[1] == "holding" and now - st[2] >= self.trickle:
                st[2] = now
                try:
                    s.send(b"x")
                except OSError:
                    self.drop(sel, s, True)

    def stats(self):
        return {
            "target": self.count,
            "opened": self.opened,
            "connected": self.connected,
            "closed_by_server": self.closed_by_peer,
            "connect_errors": self.errors,
            "open_at_end": len(self.open),
            "peak_open": self.peak_open,
        }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chan", type=endpoint)
    ap.add_argument("--chan-conns", type=int, default=10000)
    ap.add_argument("--chan-sources", type=source_range)
    ap.add_argument("--http", type=endpoint)
    ap.add_argument("--http-conns", type=int, default=2000)
    ap.add_argument("--http-sources", type=source_range)
    ap.add_argument("--trickle", type=float, default=5.0)
    ap.add_argument("--refill", type=int, default=2000)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--ready", default=None)
    a = ap.parse_args()

    floods = []
    if a.chan:
        floods.append(Flood("channel", a.chan, a.chan_sources, a.chan_conns,
                            CLIENT_HELLO_START, 0))
    if a.http:
        floods.append(Flood("http", a.http, a.http_sources, a.http_conns, HTTP_START,
                            a.trickle))
    want = sum(f.count for f in floods) + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        if hard < want:
            sys.exit("conn_flood: RLIMIT_NOFILE %d is below the %d needed" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    end = t0 + a.duration
    last_fill = t0
    ready_at = None
    while True:
        now = time.monotonic()
        if now >= end:
            break
        # Open what is missing: all at once at first, then --refill a second.
        budget_s = now - last_fill
        last_fill = now
        for f in floods:
            missing = f.count - len(f.open)
            if f.reached:
                missing = min(missing, int(a.refill * budget_s + 0.999))
            for _ in range(max(0, missing)):
                f.start_one(sel)
            if not f.reached and f.opened >= f.count:
                f.reached = True
        if ready_at is None and all(f.reached for f in floods):
            ready_at = round(time.monotonic() - t0, 3)
            if a.ready:
                open(a.ready, "w").close()
        for key, mask in sel.select(timeout=0.05):
            key.data.event(sel, key.fileobj, mask)
        for f in floods:
            f.tick(sel, now)
    out = {f.name: f.stats() for f in floods}
    out["ready_after_s"] = ready_at
    for f in floods:
        for s in list(f.open):
            f.drop(sel, s, False)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
