#!/bin/bash
# e2e.delivery.storm: a thousand probes come back after a controller crash.
#
# ixmesh-loadgen (tests/loadgen) runs 1,000 simulated probes, each with its
# own client certificate, over real TLS with real frames: HELLO, WELCOME,
# TASKS, one RESULTS record every 10 s, ACK, heartbeats, and the probe's
# reconnect backoff.  Once all 1,000 are connected (by the loadgen's count
# and by /api/v1/probes), the controller is killed with SIGKILL (the harsh
# restart: no ERROR SHUTDOWN, no orderly close) and started again on the
# same database.  Then:
#   - all 1,000 must be connected again within 60 s of the kill;
#   - the new controller's mean CPU over that recovery, and over a steady
#     period after it, must stay under the bounds below;
#   - every record the loadgen got an ACK for must be in the database
#     exactly once, and nothing beyond the one record each probe may have
#     had in flight: the storm loses nothing and invents nothing.
# The last line holds the figures:
#   storm: probes= back_s= ctl_cpu_s= ctl_cpu_pct= steady_cpu_pct=
#          ctl_rss_kib= ctl_hwm_kib= acked_records=
#
# usage: delivery_storm.sh BINDIR SRCDIR [LOADGEN_DIR]
#   LOADGEN_DIR defaults to BINDIR (the build puts every executable in bin/).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROBES=1000
BACK_MAX_S=60     # issue 6: all back within 60 s
RESULTS_EVERY_S=10 # a probe's default window: one RESULTS per probe per window
STEADY_S=20
# The controller's CPU.  Measured on a 2-core VM (Debug build): the new
# controller takes about 2.5 s of CPU from its start until all 1,000 are
# back (1,000 TLS handshakes with client certificates, 1,000 HELLOs, each an
# fsync'd upsert, and a re-plan pushed to every connected probe every
# 100 ms while they return), about 2.5 ms per probe; that is most of one
# core while it lasts, since the backoff brings them back within seconds,
# so the bound is on CPU seconds, not on a share of a core.  In the steady
# state after it (100 RESULTS a second, each one fsync'd commit, and the
# heartbeats) it takes about 5-10 % of a core.  Both bounds leave a margin
# of four times or more for a loaded CI machine, and
# still fail if the work per probe grows with the square of the mesh or the
# controller spins (a busy loop is 100 % of a core).
RECOVERY_CPU_MAX_S=12
STEADY_CPU_MAX_PCT=35

# status: the loadgen's last status line.
status() {
    { grep -E '^(final )?t=' "$TMP/loadgen.log" || true; } | tail -n 1
}

# field LINE KEY: the value of KEY=... in a status line, -1 when absent.
field() {
    local v
    v=$(grep -oE "(^| )$2=[0-9.]+" <<<"$1" | head -n 1 || true)
    v=${v#*=}
    echo "${v:--1}"
}

now() {
    date +%s.%N
}

# elapsed T0 [T1]: seconds from T0 to T1 (default now), 3 decimals.
elapsed() {
    awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.3f", b - a }'
}

# cpu_ticks PID: utime + stime of PID in clock ticks (proc(5), fields 14, 15;
# counted after the ") " that ends the command name).
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat") || fail "pid $1 is gone"
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}

# proc_kib PID FIELD: VmRSS or VmHWM of PID in KiB.
proc_kib() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

start_loadgen() {
    local log=$TMP/loadgen.log
    "$LOADGEN_BIN" --controller "127.0.0.1:$CHAN_PORT" --ca "$TMP/pki/ca.pem" \
        --ca-key "$TMP/pki/ca.key" --server-name 127.0.0.1 --probes "$PROBES" \
        --results-every "$RESULTS_EVERY_S" --report-every 0.25 \
        --acked-file "$TMP/acked.txt" >>"$log" 2>&1 &
    E2E_NAMES+=(loadgen)
    E2E_PIDS+=("$!")
    E2E_LOGS+=("$log")
    # shellcheck disable=SC2034 # pid_of reads it indirectly
    PID_loadgen=$!
}

# api_connected: how many probes /api/v1/probes calls connected.
api_connected() {
    probes_eval 'sum(1 for p in probes if p.get("connected") is True)'
}

# wait_all_back T0 TIMEOUT MIN_DISCONNECTS: waits until the loadgen counts
# every probe connected after at least MIN_DISCONNECTS disconnects (so that
# a line from before a kill does not count), then until the controller
# agrees.  Sets BACK_AT.
wait_all_back() {
    local t0=$1 timeout=$2 min_disc=$3 line n
    while :; do
        alive loadgen || fail "the loadgen exited: $(tail -n 5 "$TMP/loadgen.log")"
        alive controller || fail "the controller died"
        line=$(status)
        if [[ -n $line ]] && (($(field "$line" connected) == PROBES &&
            $(field "$line" disconnects) >= min_disc)); then
            n=$(api_connected)
            if ((n == PROBES)); then
                BACK_AT=$(now)
                return 0
            fi
        fi
        if awk -v e="$(elapsed "$t0")" -v m="$timeout" 'BEGIN { exit !(e > m) }'; then
            fail "after $timeout s: loadgen '${line:-no status}', controller ${n:-?} connected"
        fi
        sleep 0.2
    done
}

# check_line LINE: the counters that must stay 0 whatever the storm did.
check_line() {
    local k
    for k in bad_acks protocol_faults errors_recv idle_closes; do
        (($(field "$1" "$k") == 0)) || fail "loadgen $k is not 0: $1"
    done
}

# check_db: every acknowledged record is stored once; at most one more per
# probe (the record in flight when the loadgen stopped) and none beyond.
check_db() {
    local why
    why=$("$PY" -c '
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
acked = {}
for line in open(sys.argv[2]):
    pid, n = line.split()
    acked[pid] = int(n)
stored = {}
bad = []
for pid, seq, n in db.execute("SELECT probe_id, seq, count(*) FROM results"
                              " GROUP BY probe_id, seq"):
    if n != 1:
        bad.append("%s seq %d stored %d times" % (pid, seq, n))
    stored.setdefault(pid, set()).add(seq)
missing = [(p, s) for p, a in acked.items() for s in range(1, a + 1)
           if s not in stored.get(p, ())]
unknown = [(p, s) for p, ss in stored.items() for s in ss if s > acked.get(p, 0) + 1]
if len(acked) != int(sys.argv[3]):
    bad.append("the loadgen listed %d probes" % len(acked))
if missing:
    bad.append("%d acknowledged records missing, e.g. %r" % (len(missing), missing[:5]))
if unknown:
    bad.append("%d records never sent, e.g. %r" % (len(unknown), unknown[:5]))
if sum(acked.values()) == 0:
    bad.append("no record was acknowledged")
print("; ".join(bad))
' "$TMP/ixmesh.db" "$TMP/acked.txt" "$PROBES" 2>&1) || fail "cannot check $TMP/ixmesh.db: $why"
    [[ -z $why ]] || fail "the database does not match the ACKs: $why"
    "$PY" "$(dirname "${BASH_SOURCE[0]}")/delivery_check.py" --rollups "$TMP/ixmesh.db" ||
        fail "the rollups do not match the records (above)"
}

main() {
    local t_kill t_restart pid tck ticks1 ticks2 t_steady t_end line
    local back_s cpu_s cpu_pct steady_pct rss hwm acked0 acked1

    e2e_setup delivery.storm 26 "$1" "$2"
    LOADGEN_BIN=${3:-$BIN_DIR}/ixmesh-loadgen
    [[ -x $LOADGEN_BIN ]] || fail "no ixmesh-loadgen at $LOADGEN_BIN"
    tck=$(getconf CLK_TCK)
    make_certs # the CA and the controller's certificate: the loadgen signs its own
    write_controller_config
    # Debug logs a line per RESULTS: 100 a second would measure the log.
    sed -i 's/^log_level = debug$/log_level = info/' "$TMP/controller.ini"
    # The task the loadgen's records name: the controller refuses records of
    # tasks it did not give (it announces icmp and gets this one).
    printf '\n[content lg-target]\naddress = 127.0.0.1\nmethods = icmp\n' \
        >>"$TMP/controller.ini"
    start_controller
    start_loadgen
    wait_all_back "$(now)" 60 0
    note "all $PROBES probes connected: $(status)"
    sleep 5 # records flowing before the crash

    pid=$(pid_of controller)
    allow_exit controller
    t_kill=$(now)
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    note "controller (pid $pid) killed with SIGKILL; restarting it"
    t_restart=$(now)
    start_controller
    pid=$(pid_of controller)
    wait_all_back "$t_kill" "$BACK_MAX_S" "$PROBES"
    ticks1=$(cpu_ticks "$pid")
    back_s=$(elapsed "$t_kill" "$BACK_AT")
    line=$(status)
    note "all back after $back_s s: $line"
    check_line "$line"
    acked0=$(field "$line" acked_records)

    t_steady=$(now)
    sleep "$STEADY_S"
    ticks2=$(cpu_ticks "$pid")
    t_end=$(now)
    rss=$(proc_kib "$pid" VmRSS)
    hwm=$(proc_kib "$pid" VmHWM)
    line=$(status)
    (($(field "$line" connected) == PROBES)) || fail "probes dropped in the steady period: $line"
    (($(api_connected) == PROBES)) || fail "the controller lost probes in the steady period"

    stop loadgen
    stop controller
    line=$(status)
    check_line "$line"
    acked1=$(field "$line" acked_records)
    ((acked1 > acked0)) || fail "no record acknowledged after the restart: $line"
    check_db

    # The new controller's whole life until all were back: starting it up
    # is part of the recovery.
    cpu_s=$(awk -v t="$ticks1" -v h="$tck" 'BEGIN { printf "%.2f", t / h }')
    cpu_pct=$(awk -v c="$cpu_s" -v w="$(elapsed "$t_restart" "$BACK_AT")" \
        'BEGIN { printf "%.1f", 100 * c / w }')
    steady_pct=$(awk -v a="$ticks1" -v b="$ticks2" -v h="$tck" \
        -v w="$(elapsed "$t_steady" "$t_end")" 'BEGIN { printf "%.1f", 100 * (b - a) / h / w }')
    awk -v c="$cpu_s" -v m="$RECOVERY_CPU_MAX_S" 'BEGIN { exit !(c <= m) }' ||
        fail "the controller took $cpu_s s of CPU to get $PROBES probes back, above $RECOVERY_CPU_MAX_S s"
    awk -v p="$steady_pct" -v m="$STEADY_CPU_MAX_PCT" 'BEGIN { exit !(p <= m) }' ||
        fail "controller CPU in the steady state is $steady_pct % of a core, above $STEADY_CPU_MAX_PCT %"
    echo "storm: probes=$PROBES back_s=$back_s ctl_cpu_s=$cpu_s ctl_cpu_pct=$cpu_pct" \
        "steady_cpu_pct=$steady_pct ctl_rss_kib=$rss ctl_hwm_kib=$hwm acked_records=$acked1"
}

main "$@"
