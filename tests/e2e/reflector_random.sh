#!/bin/bash
# e2e.reflector_random: random datagrams of every length from 0 to 1472
# octets sent to `ixmesh-probe reflect`.  It stays up, never answers with
# more octets than the request had, and still answers a valid request
# afterwards (`ixmesh-probe measure stamp`).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Sends each length once, random octets, and waits briefly for an answer
# before the next, so every answer is matched to its request.  Every other
# datagram has octets 16-23 zeroed, as a session-sender packet has, so that
# the reflector takes it for a request and answers it.
SEND_PY='
import os, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.01)
answered = larger = 0
for n in range(0, 1473):
    d = bytearray(os.urandom(n))
    if n % 2 == 0:
        d[16:24] = bytes(len(d[16:24]))
    s.sendto(bytes(d), (host, port))
    try:
        while True:
            data = s.recv(65536)
            answered += 1
            if len(data) > n:
                larger += 1
                print("answer of %d octets to a request of %d" % (len(data), n))
    except socket.timeout:
        pass
print("sent 1473, answered %d, larger than the request %d" % (answered, larger))
# Half of the lengths from 44 up look like requests: most must be answered
# (the per-source rate limit allows a burst of 200, then 100 a second).
sys.exit(1 if larger or answered < 300 else 0)
'

main() {
    local addr json

    e2e_setup reflector_random 11 "$1" "$2"
    addr=$NET.1
    # spawn passes --config FILE, which the reflect command has no use for.
    printf '#!/bin/sh\nexec %q reflect --listen %q\n' "$PROBE_BIN" "$addr:$STAMP_PORT" \
        >"$TMP/reflect.sh"
    chmod +x "$TMP/reflect.sh"
    : >"$TMP/none.ini"
    spawn reflector "$TMP/reflect.sh" "$TMP/none.ini"
    sleep 0.5
    alive reflector || fail "the reflector did not start: $(log_since reflector 0)"

    "$PY" -c "$SEND_PY" "$addr" "$STAMP_PORT" || fail "the reflector amplified, or answered too few requests"
    alive reflector || fail "the reflector died under random datagrams"

    sleep 2 # the per-source token bucket refills
    json=$("$PROBE_BIN" measure stamp "$addr:$STAMP_PORT" --count 3 --interval 100 --json) ||
        fail "no answer to valid requests after the random ones: $json"
    note "after the random datagrams: $json"
    "$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r["received"] == 3 else 1)' \
        "$json" || fail "valid requests were not all answered: $json"
    note "ok"
}

main "$@"
