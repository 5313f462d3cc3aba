#!/bin/bash
# delivery.probe_kill: a probe is killed with SIGKILL while its controller
# is away, with a torn record at the end of its spool (a write the crash
# cut short).  At restart it must cut exactly that torn record, go on with
# the next sequence number, and deliver every record it spooled before the
# crash, each stored exactly once.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=delivery_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/delivery_lib.sh"

# tear DIR SEQ: appends to the newest segment the start of record SEQ, as
# a crash in the middle of its write leaves it: a whole header announcing
# 300 octets, and 100 of them.  Prints how many octets were appended.
tear() {
    "$PY" - "$1" "$2" <<'PYEOF'
import os, struct, sys
d, seq = sys.argv[1], int(sys.argv[2])
newest = sorted(n for n in os.listdir(d) if n.startswith("seg-"))[-1]
torn = struct.pack(">IIQ", 300, 0x12345678, seq) + bytes(range(100))
with open(os.path.join(d, newest), "ab") as f:
    f.write(torn)
print(len(torn))
PYEOF
}

main() {
    local top torn off line

    e2e_setup delivery.probe_kill 21 "$1" "$2"
    dl_configure p1 p2
    dl_mesh_up p1 p2

    stop controller
    note "controller stopped: the probes spool for 6 s"
    sleep 6
    kill_hard p1
    top=$(spool_top p1)
    torn=$(tear "$(spool_dir p1)" $((top + 1)))
    note "p1 spooled up to $top before the crash; appended a torn record of $torn octets"

    start_controller
    off=$(log_size p1)
    start_probe p1 1
    line=$(wait_log p1 "$off" "cut off a torn tail of $torn octets" 10) ||
        fail "p1 did not cut the $torn torn octets: $(log_since p1 "$off")"
    note "p1: $line"
    line=$(wait_log p1 "$off" "sequence numbers go on at $((top + 1))$" 10) ||
        fail "p1 does not go on at $((top + 1)): $(log_since p1 "$off")"
    wait_stored p1 "$top" 30
    wait_connected 30 p1 p2
    # The probe tells the controller what it cut.
    expect "the controller shows p1's $torn torn octets" "$(http_get /api/v1/probes)" \
        "next(p for p in d['probes'] if p['id'] == 'p1')['delivery']['health']['torn_bytes'] == $torn"
    expect "... and nothing dropped" "$(http_get /api/v1/probes)" \
        "next(p for p in d['probes'] if p['id'] == 'p1')['delivery']['missing'] == 0"
    deliver_all
}

main "$@"
