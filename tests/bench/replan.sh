#!/bin/bash
# replan.sh - what one member joining and leaving costs the controller
# with task deltas (TASKS_DELTA, issue 13) against whole task lists, the
# reference, measured in the same script on the same mesh.
#
# N simulated probes (ixmesh-loadgen, all measuring one another: N(N-1)
# STAMP tasks) are connected to a real controller; then one more member
# joins, and leaves (its grace is 3 s).  The whole-list run is the same
# mesh whose probes do not announce PROTO_CAP_DELTA: the controller sends
# each of them its whole list again, as it did for every probe before.
# Printed per run: the controller's own figures for the re-plan (tasks sent,
# time on its loop) and the octets the N probes read meanwhile.
#
# usage: replan.sh BINDIR SRCDIR [N]   (N simulated probes, default 300)
# Bound: with deltas a join and a leave send at most 2N + 2 tasks in all
# (each probe's one task, the joiner's list); the times are figures only.
set -euo pipefail
# shellcheck source=../e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

N=${3:-300}
GRACE=3

# loadgen NAME SIMS PREFIX SECONDS [ARGS...]: simulated probes in the background.
loadgen() {
    local name=$1 n=$2 prefix=$3 secs=$4
    shift 4
    printf '#!/bin/sh\nexec %q --controller 127.0.0.1:%s --ca %q --ca-key %q --server-name 127.0.0.1 --probes %s --id-prefix %q --results-every 0 --report-every 0 --duration %s --announce %s --stamp-port %s %s\n' \
        "$BIN_DIR/ixmesh-loadgen" "$CHAN_PORT" "$TMP/pki/ca.pem" "$TMP/pki/ca.key" "$n" \
        "$prefix" "$secs" "$NET.200" "$STAMP_PORT" "$*" >"$TMP/$name.sh"
    chmod +x "$TMP/$name.sh"
    spawn "$name" "$TMP/$name.sh" /dev/null
    allow_exit "$name"
}

# rx NAME: octets the simulated probes of NAME have read, from a status line.
rx() {
    local off
    off=$(log_size "$1")
    kill -USR1 "$(pid_of "$1")"
    wait_log "$1" "$off" "rx_bytes=" 5 | grep -oE "rx_bytes=[0-9]+" | cut -d= -f2
}

# figures LINE: "tasks ms" of a re-plan's log line.
figures() {
    echo "$1" | awk '{
        for (i = 1; i <= NF; i++) {
            if ($i == "put," || $i == "deleted),") t += $(i - 1)
            if ($i == "tasks)," ) t += substr($(i - 1), 2)
            if ($i == "ms") ms = $(i - 1)
        }
        print t + 0, ms }'
}

# run MODE [--delta]: prints "MODE join_tasks join_ms leave_tasks leave_ms octets".
run() {
    local mode=$1 flag=${2:-} off b0 b1 join leave
    sed "s|^database = .*|database = $TMP/$mode.db|" "$TMP/base.ini" >"$TMP/controller.ini"
    : >"$TMP/controller.log"
    start_controller
    loadgen "mesh-$mode" "$N" "m-" 0 "--ramp 2 $flag"
    wait_log controller 0 "mesh of $N probes, .* generation [0-9]+: .*(deltas|lists)" $((60 + N / 10)) >/dev/null ||
        fail "$mode: the $N probes did not all join"
    # Settled: no re-plan for 2 s.
    local last=-1 now
    for ((i = 0; i < 30; i++)); do
        now=$(grep -c "mesh of" "$TMP/controller.log" || true)
        [[ $now == "$last" ]] && break
        last=$now
        sleep 2
    done
    b0=$(rx "mesh-$mode")
    off=$(log_size controller)
    loadgen "join-$mode" 1 "j-" 2 "$flag"
    join=$(wait_log controller "$off" "mesh of $((N + 1)) probes, 1 changed" 20) ||
        fail "$mode: no re-plan for the join"
    off=$(log_size controller)
    leave=$(wait_log controller "$off" "mesh of $N probes, 1 changed" $((GRACE + 20))) ||
        fail "$mode: no re-plan for the leave"
    sleep 1
    b1=$(rx "mesh-$mode")
    echo "$mode: join: ${join#*info: }" >&2
    echo "$mode: leave: ${leave#*info: }" >&2
    stop "mesh-$mode"
    # Every delta applied to the list each simulated probe had.
    grep -q "^final .* stale=0 " "$TMP/mesh-$mode.log" ||
        fail "$mode: deltas on a list the probes did not have: $(grep '^final' "$TMP/mesh-$mode.log")"
    stop controller
    echo "$mode $(figures "$join") $(figures "$leave") $((b1 - b0))"
}

main() {
    e2e_setup bench-replan 42 "$1" "$2"
    [[ -x $BIN_DIR/ixmesh-loadgen ]] || fail "no ixmesh-loadgen in $BIN_DIR"
    make_certs
    write_controller_config
    # All the simulated probes come from 127.0.0.1: let them in at once.
    sed -e "s/^log_level = .*/log_level = info\nmesh_grace = $GRACE\nmax_pending_per_source = 256/" \
        -e "s|^prefixes = .*|&\nhello_burst = 1000|" "$TMP/controller.ini" >"$TMP/base.ini"
    # Not in $(...): a subshell's EXIT trap would not stop what it started.
    run whole >"$TMP/whole.res"
    run delta --delta >"$TMP/delta.res"
    read -r _ wjt wjm wlt wlm wb <"$TMP/whole.res"
    read -r _ djt djm dlt dlm db <"$TMP/delta.res"
    printf '%-22s %12s %10s %12s %10s %14s\n' "$N probes" "join tasks" "join ms" "leave tasks" \
        "leave ms" "octets to N"
    printf '%-22s %12s %10s %12s %10s %14s\n' "whole lists (before)" "$wjt" "$wjm" "$wlt" "$wlm" "$wb"
    printf '%-22s %12s %10s %12s %10s %14s\n' "deltas" "$djt" "$djm" "$dlt" "$dlm" "$db"
    awk -v a="$wjm" -v b="$djm" -v c="$wb" -v d="$db" -v t="$wjt" -v u="$djt" 'BEGIN {
        printf "ratios whole/delta: join time %.1f, tasks %.1f, octets %.1f\n",
            a / (b > 0 ? b : 0.001), t / (u > 0 ? u : 1), c / (d > 0 ? d : 1) }'
    echo "probes=$N whole_join_ms=$wjm delta_join_ms=$djm whole_tasks=$((wjt + wlt)) delta_tasks=$((djt + dlt)) whole_octets=$wb delta_octets=$db"
    ((djt + dlt <= 2 * N + 2)) || fail "with deltas a join and a leave sent $((djt + dlt)) tasks, at most $((2 * N + 2))"
    ((wjt + wlt >= N * (N - 1))) || fail "the whole-list reference sent only $((wjt + wlt)) tasks: not the reference"
    note ok
}

main "$@"
