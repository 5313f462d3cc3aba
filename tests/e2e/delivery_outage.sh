#!/bin/bash
# delivery.outage: the controller is away for 125 one-second windows.  The
# probes keep measuring into their spools; once it is back the backlog
# drains, and the stored series of every pair has every window, each record
# once.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=delivery_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/delivery_lib.sh"

OUTAGE_S=125

main() {
    local top1 top2 t0

    e2e_setup delivery.outage 22 "$1" "$2"
    dl_configure p1 p2
    dl_mesh_up p1 p2

    stop controller
    note "controller away for $OUTAGE_S s ($OUTAGE_S windows)"
    sleep "$OUTAGE_S"
    top1=$(spool_top p1)
    top2=$(spool_top p2)
    t0=$(date +%s)
    start_controller
    # After two minutes away a probe may wait up to the 60 s cap to come back.
    wait_stored p1 "$top1" 90
    wait_stored p2 "$top2" 90
    note "the backlog drained in $(($(date +%s) - t0)) s"
    deliver_all --windows 1
    "$PY" - "$TMP/ixmesh.db" "$OUTAGE_S" <<'PYEOF' || fail "the outage's windows are not all stored"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = db.execute("SELECT min(c) FROM (SELECT count(*) c FROM results"
               " GROUP BY probe_id, target_id)").fetchone()[0]
print(f"fewest windows of a pair: {n}")
sys.exit(0 if n >= int(sys.argv[2]) else 1)
PYEOF
}

main "$@"
