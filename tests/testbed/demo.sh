#!/bin/bash
# demo.sh - the skeleton's demo on the testbed: four members, 5 ms of one-way
# delay on every access link, so 20 ms between any two plus what the wires
# add on this host, which testbed.sh measures at up (`testbed.sh rtt`).  All
# 12 member pairs must be on the map within 0.5 ms of that (p50, merged
# sketches), one hop apart, without loss; then down must leave no namespace,
# link or process.  With IXMESH_TESTBED_SLOW_US set, every wire is slower by
# that much, unseen: the test must pass all the same (testbed.slow_host); and
# with IXMESH_TESTBED_PM_QOS=0 idle CPUs halt (testbed.halting_host).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tb_setup demo "$1" "$2"

tb_up --members 4 --delay-ms 5 --window 5 --interval-ms 200
tb status >"$TMP/status.log" 2>&1 || fail "status failed: $(cat "$TMP/status.log")"
grep -q "probe m4 198.18.0.4 connected" "$TMP/status.log" ||
    fail "status does not show m4 connected: $(cat "$TMP/status.log")"

# At least 100 replies per pair (20 s at 5 packets a second): a median of a
# handful would be noise, not the path.
check_map() {
    curl -fsS "http://127.0.0.1:$TB_HTTP_PORT/api/v1/map?window=60" >"$TMP/map.json" || return 1
    "$PY" - "$TMP/map.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
pairs = [p for p in doc["pairs"] if p["method"] == "stamp" and p["received"] >= 100]
want = {("m%d" % a, "m%d" % b) for a in range(1, 5) for b in range(1, 5) if a != b}
got = {(p["src"], p["dst"]) for p in pairs}
if not want <= got:
    sys.exit(1)
for p in sorted(pairs, key=lambda p: (p["src"], p["dst"])):
    print("%s -> %s  p50 %.3f ms  min %.3f  max %.3f  loss %s %%  %s" % (
        p["src"], p["dst"], p["rtt_p50_ms"], p["rtt_min_ms"], p["rtt_max_ms"],
        p["loss_pct"], p["path_class"]))
PY
}
for ((i = 0; i < 60; i++)); do
    check_map >"$TMP/pairs.txt" 2>&1 && break
    sleep 1
done
((i < 60)) || fail "the map never showed all 12 pairs: $(cat "$TMP/map.json")"
cat "$TMP/pairs.txt"
tb status | grep -E 'wires:|idle CPUs:' || fail "status does not show the wires' calibration"
# The truth of each pair, from the lateness its wires showed meanwhile.
for ((a = 1; a <= 4; a++)); do
    for ((b = 1; b <= 4; b++)); do
        ((a == b)) || echo "m$a m$b $(tb rtt "m$a" "m$b")"
    done
done >"$TMP/truth.txt" || fail "testbed.sh rtt failed"
"$PY" - "$TMP/map.json" "$TMP/truth.txt" <<'PY' || fail "a pair is off (see above)"
import json, sys
truth = {}
for line in open(sys.argv[2]):
    a, b, ms = line.split()
    truth[a, b] = float(ms)
bad = 0
for p in json.load(open(sys.argv[1]))["pairs"]:
    if p["method"] != "stamp":
        continue
    want = truth[p["src"], p["dst"]]
    ok = abs(p["rtt_p50_ms"] - want) <= 0.5 and p["loss_pct"] == 0 and p["path_class"] == "one-hop"
    print("%s %s -> %s: p50 %.3f ms, truth %.3f ms (20 + what the wires add), loss %s %%, path %s" % (
        "ok " if ok else "OFF", p["src"], p["dst"], p["rtt_p50_ms"], want, p["loss_pct"],
        p["path_class"]))
    bad |= not ok
sys.exit(bad)
PY

tb down >"$TMP/down.log" 2>&1 || fail "down failed: $(cat "$TMP/down.log")"
cat "$TMP/down.log"
[[ -z $(ip netns list | grep '^ixtb-') ]] || fail "namespaces left: $(ip netns list)"
[[ -z $(ip -o link show | grep ' ixtb-') ]] || fail "links left: $(ip -o link show | grep ' ixtb-')"
! pgrep -f "$IXMESH_TESTBED_STATE" >/dev/null || fail "processes left: $(pgrep -af "$IXMESH_TESTBED_STATE")"
note "PASS"
