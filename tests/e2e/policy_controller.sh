#!/bin/bash
# e2e.policy_controller: the real controller and a probe whose policy
# refuses what the controller plans.  p1 allows no target (allow_targets =
# none), p2 the defaults.  p1 refuses each list with ERROR POLICY; the
# controller logs it and keeps p1 connected, and does not send the refused
# list again (only a re-plan sends lists); p2 goes on measuring p1.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
    local line refusals plans
    e2e_setup policy_controller 52 "$1" "$2"
    make_certs p1 p2
    start_controller
    write_probe_config p1 1
    echo "allow_targets = none" >>"$TMP/p1.ini"
    spawn p1 "$PROBE_BIN" "$TMP/p1.ini"
    start_probe p2 2
    wait_connected 20 p1 p2

    line=$(wait_log controller 0 "p1.*refused its task list \(its own policy\): policy allow_targets: task" 20) ||
        fail "the controller did not log p1's refusal"
    note "controller: ${line#*warn: }"
    line=$(wait_log p1 0 "task list [0-9]+ refused, the previous one goes on: policy allow_targets" 5) ||
        fail "p1 did not log its refusal"
    note "p1: ${line#*warn: }"

    # Well past heartbeats and re-plans: p1 is still there, and was sent a
    # list no more often than the controller re-planned.
    sleep 6
    wait_connected 5 p1 p2
    grep -Eq "p1.*(ended the session|closed)" "$TMP/controller.log" &&
        fail "the controller closed p1: $(grep -E 'p1.*(ended the session|closed)' "$TMP/controller.log")"
    refusals=$(grep -c "task list [0-9]* refused" "$TMP/p1.log")
    plans=$(grep -cE "mesh of .* generation [0-9]+:|its task list of generation" "$TMP/controller.log")
    note "p1 refused $refusals lists; the controller planned $plans times"
    ((refusals >= 1 && refusals <= plans)) || fail "p1 refused $refusals lists for $plans plans"
    wait_log p2 0 "task list [0-9]+: 1 tasks" 5 >/dev/null || fail "p2 did not get its task"
    stop p1
    stop p2
    stop controller
    note "ok"
}

main "$@"
