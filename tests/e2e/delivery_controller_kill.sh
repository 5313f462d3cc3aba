#!/bin/bash
# delivery.controller_kill: the controller is killed with SIGKILL twice:
# once while the probes measure, and once in the middle of the burst of
# their backlog, right after its first batch is committed.  Every record
# the three probes made must end up stored exactly once, and every window
# of every pair must be there.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=delivery_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/delivery_lib.sh"

main() {
    local n0 t0

    e2e_setup delivery.controller_kill 20 "$1" "$2"
    dl_configure p1 p2 p3
    dl_mesh_up p1 p2 p3
    sleep 2

    kill_hard controller
    note "controller down for 12 s: the probes spool their windows"
    sleep 12
    n0=$(db_count)
    start_controller
    # The burst: three probes send 12 windows each.  Kill it as soon as
    # the first batch of it is committed.
    t0=$(date +%s)
    while (($(db_count) == n0)); do
        (($(date +%s) - t0 < 30)) || fail "nothing stored within 30 s of the restart"
        sleep 0.02
    done
    kill_hard controller
    note "stored $(($(db_count) - n0)) records of the burst before the kill"
    sleep 2
    start_controller
    # A probe that tried while it was down waits its backoff, up to 60 s
    # (PROTO_BACKOFF_CAP_MS) after many tries: the controller was down twice.
    wait_connected 75 p1 p2 p3
    sleep 3
    deliver_all --windows 1
}

main "$@"
