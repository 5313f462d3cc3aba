#!/bin/bash
# e2e.demo_start: the demo opens without loss (issue 12, point 3).
#
# Runs deploy/demo.sh as e2e.demo does, but on this test's own ports and
# with 5 s windows, and reads the controller's SQLite database: the first
# three windows of every cell, each probe to each other one (stamp) and
# each probe to the content node (icmp, tcp, tls, http and dns), must all
# be there, each with something sent and nothing lost.  On loopback
# nothing is lost but what the probe itself loses: the icmp method once
# lost every task's first echo, whose reply came back before the task was
# in its table (it was looking up the content node's name first).  Then the
# demo must stop cleanly when told.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IDX=30
WINDOWS=3 # how many windows of each cell are checked
DEMO_PID=


# first_windows MODE: reads the first $WINDOWS records of every expected
# cell from the database.  MODE "ready": exits 0 once every cell has them.
# MODE "check": prints them, and exits 1 when a cell is missing or one of
# its windows sent nothing or lost something.
first_windows() {
    "$PY" - "$STATE/db/ixmesh.db" "$1" "$WINDOWS" <<'PY'
import json, sqlite3, sys
path, mode, nwin = sys.argv[1], sys.argv[2], int(sys.argv[3])
probes = ["p1", "p2", "p3"]
names = {1: "stamp", 2: "icmp", 3: "tcp", 4: "tls", 5: "http", 6: "dns"}
cells = [(s, d, 1) for s in probes for d in probes if s != d]
cells += [(s, "cdn", m) for s in probes for m in (2, 3, 4, 5, 6)]
try:
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    rows = db.execute("SELECT probe_id, target_id, method, window_start_ms, sent, "
                      "received, lost, extra FROM results "
                      "ORDER BY window_start_ms, probe_id, seq").fetchall()
except sqlite3.Error as e:
    sys.exit("database: %s" % e)
have = {}
for r in rows:
    have.setdefault((r[0], r[1], r[2]), []).append(r)
bad = []
for c in cells:
    w = have.get(c, [])[:nwin]
    if mode == "ready":
        if len(w) < nwin:
            sys.exit(1)
        continue
    line = "%s -> %s %-5s" % (c[0], c[1], names[c[2]])
    if len(w) < nwin:
        bad.append("%s: %d windows of %d" % (line, len(w), nwin))
    for r in w:
        if r[4] <= 0 or r[6] != 0:
            why = json.loads(r[7]).get("why", "") if r[7] else ""
            bad.append("%s: window %d: sent %d, received %d, lost %d %s"
                       % (line, r[3], r[4], r[5], r[6], why))
    print("%s  %s" % (line, "  ".join("%d/%d" % (r[5], r[4]) for r in w)))
if mode == "check":
    extra = sorted(set(have) - set(cells))
    if extra:
        bad.append("cells nobody planned: %s" % extra)
    for b in bad:
        print("BAD " + b)
    sys.exit(1 if bad else 0)
PY
}

main() {
    local t0 i st=0

    e2e_setup demo_start $IDX "$1" "$2"
    STATE=$TMP/state
    trap demo_cleanup EXIT

    t0=$(date +%s)
    IXMESH_BUILD_DIR=$(dirname "$BIN_DIR") \
        bash "$SRC_DIR/deploy/demo.sh" --duration 90 --probes 3 --state "$STATE" --no-build \
        --window 5 --http-port "$HTTP_PORT" --channel-port "$CHAN_PORT" \
        --stamp-port "$STAMP_PORT" \
        --content-ports "$((15400 + IDX)),$((15440 + IDX)),$((15480 + IDX))" \
        --log-level debug </dev/null >"$TMP/demo.out" 2>&1 &
    DEMO_PID=$!
    note "deploy/demo.sh started (pid $DEMO_PID), state in $STATE"
    demo_wait_url "http://127.0.0.1:$HTTP_PORT/"
    note "the demo is up after $(($(date +%s) - t0)) s"

    # A first window, maybe short, two more of 5 s, then the timeout (1 s)
    # and the delivery: 20 s at most on an idle machine.
    for ((i = 0; i < 180; i++)); do
        first_windows ready 2>/dev/null && break
        kill -0 "$DEMO_PID" 2>/dev/null || fail "deploy/demo.sh ended before $WINDOWS windows"
        sleep 0.25
    done
    first_windows check >"$TMP/windows.txt" 2>&1 || st=$?
    sed 's/^/    /' "$TMP/windows.txt"
    ((st == 0)) || fail "the first $WINDOWS windows are not all there and without loss (received/sent above)"
    note "21 cells, $WINDOWS windows each, 0 lost, $(($(date +%s) - t0)) s after the start"

    # SIGTERM: the demo stops everything and exits 0, as on Ctrl-C.
    kill -TERM "$DEMO_PID"
    for ((i = 0; i < 40; i++)); do
        kill -0 "$DEMO_PID" 2>/dev/null || break
        sleep 0.5
    done
    kill -0 "$DEMO_PID" 2>/dev/null && fail "deploy/demo.sh still runs 20 s after SIGTERM"
    st=0
    wait "$DEMO_PID" || st=$?
    DEMO_PID=
    ((st == 0)) || fail "deploy/demo.sh exited with status $st after SIGTERM"
    if grep -q 'warning:' "$TMP/demo.out"; then
        fail "deploy/demo.sh warned: $(grep 'warning:' "$TMP/demo.out")"
    fi
    [[ -z $(leftovers) ]] || fail "processes left behind: $(leftovers | xargs ps -o pid=,args= -p)"
    note "deploy/demo.sh stopped cleanly $(($(date +%s) - t0)) s after the start"
}

main "$@"
