#!/bin/bash
# history_load.sh - issue 14: heavy maps do not stall the probes.  A
# database with the raw windows of a 60-probe mesh over 30 minutes
# (history_gen, through the store) behind a real controller; while the map
# of that whole half hour (a scan of every window) is asked for in a loop,
# simulated probes (ixmesh-loadgen, real TLS) send RESULTS every second
# with heartbeats every second and an idle timeout of 3 s: none may be
# closed as idle or otherwise, every record must be acknowledged, and
# /api/v1/probes must answer within 100 ms each time (or 5
# times its own median on this host without the maps, if that is more).
# Then the history API's errors: a 400 with the reason.
#
# usage: history_load.sh BINDIR SRCDIR LOADGEN_DIR HISTORY_GEN
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIMS=40
SECS=15

# probes_ms: the time of one GET /api/v1/probes, in ms.
probes_ms() {
    curl -fsS -o /dev/null -w '%{time_total}\n' --max-time 5 "$BASE/api/v1/probes" |
        awk '{ printf "%d\n", $1 * 1000 + 0.5 }'
}

# maps_loop: maps of the last half hour, each another window (no sharing).
maps_loop() {
    local i=0 code
    while :; do
        code=$(curl -s -o "$TMP/map.json" -w '%{http_code}' --max-time 60 \
            "$BASE/api/v1/map?window=$((1800 - i))") || true
        echo "$code" >>"$TMP/maps.txt"
        i=$((i + 1))
    done
}

main() {
    local gen=$4 median limit worst=0 ms i n200 line hb sent=0 acked=0

    e2e_setup e2e.history_load 44 "$1" "$2"
    LOADGEN_BIN=$3/ixmesh-loadgen
    [[ -x $LOADGEN_BIN && -x $gen ]] || fail "no ixmesh-loadgen or history_gen"
    make_certs
    write_controller_config
    sed -i -e 's/^log_level = .*/log_level = info\nheartbeat = 1\nidle_timeout = 3/' \
        -e 's/^idle_timeout = 3$/&\nmax_pending_per_source = 64/' \
        -e "s|^prefixes = .*|&\nhello_burst = 100|" "$TMP/controller.ini"
    "$gen" "$TMP/ixmesh.db" 60 30 >"$TMP/gen.log" 2>&1 || fail "history_gen: $(cat "$TMP/gen.log")"
    note "$(cat "$TMP/gen.log")"
    start_controller

    # The reference: /api/v1/probes with nothing else going on.
    for ((i = 0; i < 9; i++)); do probes_ms; done | sort -n >"$TMP/idle.txt"
    median=$(sed -n 5p "$TMP/idle.txt")
    limit=$((median * 5 > 100 ? median * 5 : 100))
    note "/api/v1/probes alone: median $median ms; the bound under load: $limit ms"

    printf '#!/bin/sh\nexec %q --controller 127.0.0.1:%s --ca %q --ca-key %q --server-name 127.0.0.1 --probes %s --id-prefix lg- --results-every 1 --report-every 0 --duration %s\n' \
        "$LOADGEN_BIN" "$CHAN_PORT" "$TMP/pki/ca.pem" "$TMP/pki/ca.key" "$SIMS" $((SECS + 10)) \
        >"$TMP/loadgen.sh"
    chmod +x "$TMP/loadgen.sh"
    spawn loadgen "$TMP/loadgen.sh" /dev/null
    allow_exit loadgen
    wait_connected 30 $(for ((i = 1; i <= SIMS; i++)); do printf 'lg-%04d ' "$i"; done)

    maps_loop &
    MAPS=$!
    for ((i = 0; i < SECS * 2; i++)); do
        ms=$(probes_ms) || fail "GET /api/v1/probes failed under load"
        ((ms > worst)) && worst=$ms
        ((ms <= limit)) || fail "/api/v1/probes took $ms ms while maps were computed (bound $limit ms)"
        sleep 0.5
    done
    kill "$MAPS" 2>/dev/null || true
    wait "$MAPS" 2>/dev/null || true
    n200=$(grep -c '^200$' "$TMP/maps.txt" || true)
    ((n200 >= 2)) || fail "only $n200 maps answered in $SECS s ($(sort "$TMP/maps.txt" | uniq -c | tr '\n' ' '))"
    "$PY" - "$TMP/map.json" 3540 <<'EOF' || fail "the last map is not the mesh's"
import json, sys
doc = json.load(open(sys.argv[1]))
pairs = [p for p in doc["pairs"] if p["src"].startswith("probe-")]
assert len(pairs) == int(sys.argv[2]), len(pairs)
assert all(p["sent"] > 0 and p["rtt_p50_ms"] is not None for p in pairs)
EOF
    note "$n200 maps of the half hour answered; /api/v1/probes at worst $worst ms"

    wait "$(pid_of loadgen)" 2>/dev/null || true
    line=$(grep '^final' "$TMP/loadgen.log" | tail -1)
    [[ -n $line ]] || fail "the loadgen printed no final line"
    note "loadgen: $line"
    for k in idle_closes bad_acks protocol_faults errors_recv disconnects; do
        [[ $line =~ (^| )$k=0( |$) ]] || fail "loadgen: $k is not 0: $line"
    done
    [[ $line =~ records_sent=([0-9]+) ]] && sent=${BASH_REMATCH[1]}
    [[ $line =~ acked_records=([0-9]+) ]] && acked=${BASH_REMATCH[1]}
    ((sent >= SIMS * (SECS - 5) && acked >= sent - SIMS)) ||
        fail "records: $sent sent, $acked acknowledged"
    [[ $line =~ hb_sent=([0-9]+) ]] && hb=${BASH_REMATCH[1]}
    ((hb >= SIMS * (SECS - 5))) || fail "the $SIMS probes sent only $hb heartbeats in $SECS s"

    # The history API says what is wrong with a request.
    expect_400() {
        local got
        got=$(curl -s -w ' %{http_code}' --max-time 5 "$BASE$1")
        [[ $got == *" 400" && $got == *"$2"* ]] || fail "GET $1: $got, not a 400 saying '$2'"
    }
    expect_400 "/api/v1/map?from=yesterday" "from: 'yesterday' is not a time"
    expect_400 "/api/v1/map?from=1765000000&to=1764000000" "from must be before to"
    expect_400 "/api/v1/map?window=60&from=1765000000" "not both"
    expect_400 "/api/v1/pairs/probe-0001/probe-0002/series?method=ftp" "method: 'ftp'"
    expect_400 "/api/v1/pairs/probe-0001/probe-0002/series?step=1&from=0&to=1000000" "step"
    expect_400 "/api/v1/pairs/probe%20x/probe-0002/windows" "is not a probe id"
    stop controller
    note ok
}

main "$@"
