#!/bin/bash
# e2e.reflector_cap: many sources together cannot draw more answers from a
# reflector than its cap over all sources (issue 13; before, 200 sources
# drew 29,931 answers a second).  50 loopback sources (127.0.92.1-50,
# the range of index 72, also this test's) send 200 valid requests a second each, well under the
# per-source rate, 10,000 a second in all, to `ixmesh-probe reflect
# --rate-total 3000`: past the cap's burst the answers stay at or under
# 3,000 a second, and the whole run under burst + rate x time.  The
# refusals are reported as the cap's, at most twice (the first, and at
# exit).  Against the old code, which had no cap, the same flood drew all
# 10,000 a second.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CAP=3000
FLOOD_PPS=10000
FLOOD_S=10
NSOURCES=50

main() {
    local addr net2 sources=() k flood report

    e2e_setup reflector_cap 71 "$1" "$2"
    addr=$NET.1
    net2=127.0.$((20 + 72)) # the sources: index 72's range, not the reflector's
    for ((k = 1; k <= NSOURCES; k++)); do
        sources+=("$net2.$k")
    done
    printf '#!/bin/sh\nexec %q reflect --listen %q --rate-total %d --log-level info\n' \
        "$PROBE_BIN" "$addr:$STAMP_PORT" "$CAP" >"$TMP/reflect.sh"
    chmod +x "$TMP/reflect.sh"
    : >"$TMP/none.ini"
    spawn reflector "$TMP/reflect.sh" "$TMP/none.ini"
    wait_log reflector 0 "reflecting" 10 >/dev/null ||
        fail "the reflector did not start: $(log_since reflector 0)"

    "$PY" "$SRC_DIR/tests/e2e/stamp_flood.py" "$addr" "$STAMP_PORT" "$FLOOD_PPS" "$FLOOD_S" \
        "${sources[@]}" >"$TMP/flood.json" || fail "the flood failed"
    flood=$(cat "$TMP/flood.json")
    note "$NSOURCES sources: $flood"
    alive reflector || fail "the reflector died under the flood"
    stop reflector

    # Sent well over the cap; answered up to it (a cap that answered much
    # less would be a broken reflector, not a cap), never over it.  The
    # per-second bins are the flood's receive times, late when it is busy
    # sending: 2 % over the steady seconds, 10 % in any one of them.
    expect flood-over-cap "$flood" "d['sent_per_s'] >= 2 * $CAP"
    expect steady-at-cap "$flood" "0.8 * $CAP <= d['steady_mean_per_s'] <= $CAP * 1.02 and \
d['steady_max_per_s'] <= $CAP * 1.1"
    expect whole-run-under-cap "$flood" "d['answered'] <= 2 * $CAP + $CAP * ($FLOOD_S + 0.5)"
    report=$(grep 'reflector: refused' "$TMP/reflector.log" || true)
    [[ -n $report && $(grep -c . <<<"$report") -le 2 ]] ||
        fail "expected one or two refusal reports, got: ${report:-none}"
    grep -q "over the cap of $CAP/s over all sources ($net2\.[0-9]* [0-9]*, " <<<"$report" ||
        fail "the refusals are not reported as the cap's, per source: $report"
    if grep -q "over the rate limit" <<<"$report"; then
        fail "sources under the per-source rate were refused by it: $report"
    fi
    note "ok"
}

main "$@"
