#!/bin/bash
# e2e.idle: heartbeats keep a quiet probe connected; a peer that says
# nothing is dropped.
#
# With heartbeat = 1 s and idle_timeout = 3 s on the controller:
#   - a real probe stays connected for well beyond the idle timeout;
#   - a TLS client with a valid certificate that never sends HELLO is closed
#     after 10 s, with a line in the log;
#   - one that sends a valid HELLO and then nothing is dropped as silent.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A HELLO frame for probe p5, encoded by hand (msgpack, PROTOCOL.md).
HELLO_PY='
import struct, sys
def s(x):
    b = x.encode()
    return bytes([0xa0 | len(b)]) + b
body = bytes([0x89]) + s("t") + b"\x01" + s("vmin") + b"\x01" + s("vmax") + b"\x01" \
    + s("caps") + b"\x01" + s("id") + s("p5") + s("name") + s("") + s("sw") + s("test") \
    + s("sp") + b"\xcd" + struct.pack(">H", 862) + s("addrs") + b"\x90"
sys.stdout.buffer.write(struct.pack(">I", len(body)) + body)
'

# client SECONDS [HELLO]: a TLS client as p5 that stays for SECONDS.
client() {
    local secs=$1 hello=${2:-}
    {
        [[ -n $hello ]] && "$PY" -c "$HELLO_PY"
        sleep "$secs"
    } | timeout $((secs + 5)) openssl s_client -connect "127.0.0.1:$CHAN_PORT" -tls1_3 \
        -cert "$TMP/pki/p5.pem" -key "$TMP/pki/p5.key" -CAfile "$TMP/pki/ca.pem" \
        -quiet >"$TMP/client.out" 2>&1 || true
}

main() {
    local off line cpid

    e2e_setup idle 13 "$1" "$2"
    make_certs p1 p2 p5
    write_controller_config
    sed -i 's/^\[controller\]$/[controller]\nheartbeat = 1\nidle_timeout = 3/' \
        "$TMP/controller.ini"
    start_controller
    start_probe p1 1
    start_probe p2 2
    wait_connected 15 p1 p2

    note "a client that never sends HELLO"
    off=$(log_size controller)
    client 13 &
    cpid=$!
    line=$(wait_log controller "$off" "no HELLO within 10 s" 16) ||
        fail "the silent client was not closed: $(log_since controller "$off")"
    note "controller: $line"
    wait "$cpid" # not a bare wait: the daemons are children too

    note "a client that sends HELLO, then nothing"
    off=$(log_size controller)
    client 10 hello &
    cpid=$!
    line=$(wait_log controller "$off" "p5.*connected" 5) ||
        fail "the HELLO was not accepted: $(log_since controller "$off")"
    line=$(wait_log controller "$off" "refusing p5 .*silent for [0-9]+ s" 8) ||
        fail "the silent probe was not dropped: $(log_since controller "$off")"
    note "controller: $line"
    wait "$cpid" # not a bare wait: the daemons are children too

    note "the real probes, quiet but for heartbeats, are still connected"
    wait_connected 5 p1 p2
    ! grep -E "refusing p[12] .*silent" "$TMP/controller.log" ||
        fail "a real probe was dropped as silent"
    ! grep -E "controller silent" "$TMP/p1.log" "$TMP/p2.log" ||
        fail "a probe found the controller silent"
    note "ok"
}

main "$@"
