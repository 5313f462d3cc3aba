#!/bin/bash
# e2e.mesh: a controller and three probes on loopback measure the full mesh.
#
# Within 30 s the map must list all six ordered pairs, measured with STAMP,
# without loss and with a loopback RTT; /api/v1/probes must show the three
# probes connected with what their configuration says; / must be the map page.
# When p3 leaves (for good: its grace is 3 s) and comes back, p1 and p2 are
# sent only that change (a TASKS_DELTA each, issue 13) and keep measuring
# each other with the task they had.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# p3 leaves and comes back: the others get deltas, not their lists again.
leave_and_return() {
    local off line k p1off p2off
    off=$(log_size controller)
    p1off=$(log_size p1)
    p2off=$(log_size p2)
    stop p3
    line=$(wait_log controller "$off" "mesh of 2 probes, 1 changed: generation [0-9]+: 2 deltas \(0 tasks put, 2 deleted\), 0 whole task lists" 15) ||
        fail "p3's leave was not sent as two deltas: $(log_since controller "$off" | grep 'mesh of')"
    note "p3 left: ${line#*info: }"
    for k in 1 2; do
        wait_log "p$k" "$(eval echo "\$p${k}off")" "task list [0-9]+: 1 tasks \(1 kept, 0 new\)" 5 >/dev/null ||
            fail "p$k did not keep its task to the other: $(grep 'task list' "$TMP/p$k.log" | tail -2)"
    done
    off=$(log_size controller)
    p1off=$(log_size p1)
    p2off=$(log_size p2)
    start_probe p3 3
    line=$(wait_log controller "$off" "mesh of 3 probes, 1 changed: generation [0-9]+: 2 deltas \(2 tasks put, 0 deleted\), 1 whole task lists \(2 tasks\)" 15) ||
        fail "p3's return was not sent as two deltas: $(log_since controller "$off" | grep 'mesh of')"
    note "p3 back: ${line#*info: }"
    for k in 1 2; do
        wait_log "p$k" "$(eval echo "\$p${k}off")" "task list [0-9]+: 2 tasks \(1 kept, 1 new\)" 5 >/dev/null ||
            fail "p$k did not apply the delta: $(grep 'task list' "$TMP/p$k.log" | tail -2)"
    done
    grep -q "our delta changes\|refused its task list" "$TMP/controller.log" &&
        fail "a delta went astray: $(grep -m1 'our delta changes\|refused its task list' "$TMP/controller.log")"
    wait_connected 20 p1 p2 p3
}

main() {
    e2e_setup mesh 1 "$1" "$2"
    make_certs p1 p2 p3
    write_controller_config
    sed -i "s/^log_level = .*/&\nmesh_grace = 3/" "$TMP/controller.ini"
    start_controller
    start_probe p1 1
    start_probe p2 2
    start_probe p3 3

    wait_pairs 30 p1 p2 p3
    wait_connected 10 p1 p2 p3

    # Each probe is listed as its configuration describes it.
    local check
    check=$(probes_eval '"; ".join(
        "%s: %r" % (p["id"], p) for p in probes
        if p["name"] != "Probe " + p["id"]
        or p["addresses"] != ["'"$NET"'." + p["id"][1:]]
        or p["location"] is None
        or abs(p["location"]["lat"] - float("24.8" + p["id"][1:])) > 1e-6
        or abs(p["location"]["lon"] - float("67.0" + p["id"][1:])) > 1e-6
        or not p["last_seen"]) or "ok"')
    [[ $check == ok ]] || fail "/api/v1/probes does not match the configuration: $check"

    # The map's nodes are the three probes.
    http_get "/api/v1/map?window=60" >"$TMP/map.json"
    check=$("$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(sorted(n["id"] for n in d["nodes"])), d["window_s"])' "$TMP/map.json")
    [[ $check == "p1 p2 p3 60" ]] || fail "map nodes and window_s are '$check', want 'p1 p2 p3 60'"

    # The page.
    http_get / >"$TMP/index.html" || fail "GET / failed"
    grep -qi '<title>[^<]*ixmesh' "$TMP/index.html" ||
        fail "GET / has no <title> naming ixmesh: $(head -c 300 "$TMP/index.html")"
    curl -fsS -o /dev/null -w '%{content_type}' "$BASE/" | grep -qi '^text/html' ||
        fail "GET / is not served as text/html"

    # Bad requests are refused, not answered with something made up.
    local path st
    for path in "/api/v1/map?window=0" "/api/v1/map?window=abc" "/api/v1/map?window=-5" \
        "/api/v1/map?window=99999999999999999999" "/no/such/page"; do
        st=$(http_status "$path")
        [[ $st == 4?? ]] || fail "GET $path answered $st, want a 4xx status"
    done
    alive controller || fail "the controller died"
    leave_and_return

    stop p1
    stop p2
    stop p3
    stop controller
}

main "$@"
