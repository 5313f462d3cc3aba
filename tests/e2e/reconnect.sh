#!/bin/bash
# e2e.reconnect: the probes outlive their controller.
#
# Two probes measure each other; the controller is stopped for about 5 s.
# The probes must keep running and keep trying to reconnect; once the
# controller is back on the same database, both pairs must show records of
# windows that started after the restart within 30 s, and both probes must be
# connected again.  Finally the database must hold every window of both pairs
# measured while the controller was away: the probes' spools delivered them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
    local off1 off2 line t t_stop

    e2e_setup reconnect 4 "$1" "$2"
    make_certs p1 p2
    start_controller
    start_probe p1 1
    start_probe p2 2
    wait_pairs 30 p1 p2

    off1=$(log_size p1)
    off2=$(log_size p2)
    note "stopping the controller"
    t_stop=$(date +%s)
    stop controller
    sleep 5
    alive p1 || fail "probe p1 exited while the controller was away"
    alive p2 || fail "probe p2 exited while the controller was away"
    line=$(wait_log p1 "$off1" 'reconnect|retry|retrying|backoff' 1) ||
        fail "probe p1 logged no reconnect attempt: $(log_since p1 "$off1")"
    note "p1: $line"
    line=$(wait_log p2 "$off2" 'reconnect|retry|retrying|backoff' 1) ||
        fail "probe p2 logged no reconnect attempt: $(log_since p2 "$off2")"
    note "p2: $line"

    note "restarting the controller on the same database"
    # Windows start on whole seconds: the first one wholly after the restart
    # starts at the next second or later.
    t=$(($(date +%s) + 1))
    start_controller
    wait_pairs --since "$t" 30 p1 p2
    wait_connected 10 p1 p2

    stop p1
    stop p2
    stop controller
    check_no_gap "$t_stop" "$t"
}

# check_no_gap T_STOP T_RESTART: reads the results table (the controller's
# SQLite schema: results(probe_id, target_id, method, window_start_ms,
# window_s)) and checks that each pair's windows that ended before the
# restart follow one another without a hole, up to the restart: what the
# probes measured while the controller was away came out of their spools.
check_no_gap() {
    local why
    why=$("$PY" -c '
import sqlite3, sys
t_stop, t_restart = int(sys.argv[2]) * 1000, int(sys.argv[3]) * 1000
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
rows = db.execute("SELECT probe_id, target_id, method, window_start_ms, window_s * 1000"
                  " FROM results ORDER BY probe_id, target_id, method, window_start_ms").fetchall()
series = {}
for r in rows:
    series.setdefault(r[:3], []).append(r[3:])
bad = []
if sorted(k[:2] for k in series) != [("p1", "p2"), ("p2", "p1")]:
    bad.append("pairs in the database: %r" % sorted(series))
for k, ws in series.items():
    pre = [(a, w) for a, w in ws if a + w <= t_restart]
    for (a, w), (b, _) in zip(pre, pre[1:]):
        if b - a != w:
            bad.append("%s->%s: no window between %d and %d" % (k[0], k[1], a, b))
    if not pre or pre[-1][0] + 2 * pre[-1][1] + 1000 < t_restart:
        bad.append("%s->%s: windows before the restart end at %r, the restart was at %d"
                   % (k[0], k[1], pre[-1][0] + pre[-1][1] if pre else None, t_restart))
print("; ".join(bad))
' "$TMP/ixmesh.db" "$1" "$2" 2>&1) || fail "cannot read $TMP/ixmesh.db: $why"
    [[ -z $why ]] || fail "records measured while the controller was away are missing: $why"
    note "every window measured while the controller was away is in the database"
}

main "$@"
