#!/bin/bash
# e2e.member_addresses: a member may not aim the mesh (issue 13).
#
# Two real probes on $NET.1 and $NET.2, and the exchange's prefix $NET.0/24.
# A hostile member (ixmesh-loadgen, a real certificate) announces 127.0.0.99
# with STAMP port 19999: its HELLO must be refused with an ERROR naming the
# rule, and no STAMP packet may reach 127.0.0.99:19999 (a UDP socket there
# counts them) while it tries, nor after a controller restart that finds that
# address in the database.  A STAMP port outside stamp_ports is refused too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

AIM=127.0.0.99
AIM_PORT=19960 # of index 60: no other test uses it

# sink: counts UDP datagrams to $AIM:$AIM_PORT into $TMP/sink.count.
start_sink() {
    "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(0.2)
n = 0
end = time.time() + float(sys.argv[4])
while time.time() < end:
    try:
        s.recv(2048)
        n += 1
    except socket.timeout:
        pass
    open(sys.argv[3], "w").write("%d\n" % n)
' "$AIM" "$AIM_PORT" "$TMP/sink.count" 100 >"$TMP/sink.log" 2>&1 &
    E2E_NAMES+=(sink)
    E2E_PIDS+=("$!")
    E2E_LOGS+=("$TMP/sink.log")
    # shellcheck disable=SC2034 # pid_of reads it indirectly
    PID_sink=$!
    allow_exit sink
}

sink_count() {
    cat "$TMP/sink.count" 2>/dev/null || echo 0
}

# member ID-PREFIX ADDRS PORT SECONDS: a loadgen member for SECONDS.
member() {
    "$BIN_DIR/ixmesh-loadgen" --controller "127.0.0.1:$CHAN_PORT" \
        --ca "$TMP/pki/ca.pem" --ca-key "$TMP/pki/ca.key" --server-name 127.0.0.1 \
        --probes 1 --id-prefix "$1" --announce "$2" --stamp-port "$3" \
        --results-every 0 --report-every 0 --duration "$4" >"$TMP/$1.log" 2>&1 ||
        fail "ixmesh-loadgen $1 failed: $(cat "$TMP/$1.log")"
}

main() {
    e2e_setup member_addresses 60 "$1" "$2"
    [[ -x $BIN_DIR/ixmesh-loadgen ]] || fail "no ixmesh-loadgen in $BIN_DIR"
    port_free udp "$AIM_PORT" || fail "UDP port $AIM_PORT is in use"
    make_certs p1 p2
    start_controller
    start_probe p1 1
    start_probe p2 2
    wait_pairs 30 p1 p2
    start_sink

    local off line
    off=$(log_size controller)
    member evil- "$AIM" "$AIM_PORT" 6
    line=$(log_since controller "$off" |
        grep -m1 "refusing evil-0001 .*address $AIM is outside the \[exchange\] prefixes" ||
        true)
    [[ -n $line ]] || fail "the controller did not refuse the HELLO announcing $AIM: $(
        log_since controller "$off" | grep evil- | head -5)"
    note "controller: $line"
    grep -q "controller sent ERROR: address $AIM is outside" "$TMP/evil-.log" ||
        fail "the member was not told why: $(cat "$TMP/evil-.log")"
    log_since controller "$off" | grep -q "probe evil-0001 .* connected" &&
        fail "the controller accepted evil-0001"
    sleep 2 # what a plan would have sent would be arriving by now
    (($(sink_count) == 0)) || fail "$(sink_count) STAMP packets reached $AIM:$AIM_PORT"
    [[ $(all_ids) == "p1 p2" ]] || fail "/api/v1/probes lists $(all_ids), want p1 p2"

    # A STAMP port outside [exchange] stamp_ports (862-65535 by default).
    off=$(log_size controller)
    member low- "$NET.9" 53 3
    log_since controller "$off" | grep -q "refusing low-0001 .*STAMP port 53 is outside" ||
        fail "STAMP port 53 was not refused: $(log_since controller "$off" | grep low- | head -3)"

    # A database from before the rules holds the address: a restart must not
    # plan it.
    stop controller
    "$PY" -c '
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT INTO probes (id, name, addresses, stamp_port, sw_version, caps,"
           " first_seen_ms, last_seen_ms) VALUES (?,?,?,?,?,?,?,?)",
           ("old-evil", "", "[\"%s\"]" % sys.argv[2], int(sys.argv[3]), "x", 1,
            int(time.time() * 1000), int(time.time() * 1000)))
db.commit()' "$TMP/ixmesh.db" "$AIM" "$AIM_PORT"
    off=$(log_size controller)
    start_controller
    wait_log controller "$off" "probe old-evil is not kept in the mesh: address $AIM" 10 ||
        fail "the restarted controller kept old-evil: $(log_since controller "$off" | head -20)"
    wait_connected 30 p1 p2
    sleep 4
    (($(sink_count) == 0)) || fail "$(sink_count) STAMP packets reached $AIM:$AIM_PORT"
    note "no STAMP packet reached $AIM:$AIM_PORT"
    alive controller || fail "the controller died"

    stop p1
    stop p2
    stop controller
}

main "$@"
