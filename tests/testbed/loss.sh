#!/bin/bash
# loss.sh - loss truth: nftables drops 1 %, 5 % and 20 % of what member 2
# receives; member 1 sends 10,000 STAMP packets for each, and the loss it
# measures (RFC 7680, 500 ms timeout) must lie inside the 99 % binomial
# interval around the injected rate (99.9 %, see below).  Then 10 % at 200 packets a second
# against `ixmesh-probe reflect` with its default limits: inside the
# interval too, and no rate-limit warning; and against a reflector limited
# to 100 a second, which measure must name as the likely cause, while the
# reflector logs what it refused from member 1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tb_setup loss "$1" "$2"

N=10000
tb_up --members 2

# check_loss PCT N JSON Z: the loss in JSON must lie in the binomial
# interval of Z standard deviations (2.5758: 99 %, 3.2905: 99.9 %).
check_loss() {
    local pct=$1 n=$2 json=$3 z=$4 sent received lost lo hi
    sent=$(field "$json" sent)
    received=$(field "$json" received)
    ((sent == n)) || fail "$pct %: sent $sent packets, not $n"
    lost=$((sent - received))
    read -r lo hi < <(awk -v n="$n" -v p="$pct" -v z="$z" 'BEGIN {
        p /= 100; sd = sqrt(n * p * (1 - p))
        printf "%d %d\n", int(n * p - z * sd), int(n * p + z * sd + 0.999999) }')
    printf '%-8s %8d %8d %7.2f%% %9d to %-6d\n' "$pct%" "$sent" "$lost" \
        "$(awk -v l="$lost" -v n="$sent" 'BEGIN { print 100 * l / n }')" "$lo" "$hi"
    ((lost >= lo && lost <= hi)) ||
        fail "$pct % loss: measured $lost of $n lost, outside the interval [$lo, $hi]"
}

# Four cases at 99 % each would fail one run in 25 by chance alone: the
# first three, which only guard the loss rule itself, take 99.9 %.
printf '%-8s %8s %8s %8s %18s\n' injected sent lost measured interval
for pct in 1 5 20; do
    tb set m2 --loss-pct "$pct" >/dev/null || fail "set --loss-pct $pct failed"
    json=$(measure 1 "$(lan4 2)" --count "$N" --interval 1 --timeout 500) ||
        fail "measure failed: $json"
    check_loss "$pct" "$N" "$json" 3.2905
done

# reflector NAME ARGS...: a one-shot reflector on member 2's port 9862.
reflector() {
    local log=$IXMESH_TESTBED_STATE/log/reflect-$1.log
    shift
    # Not through in_member, a function: $! must be the reflector itself.
    ip netns exec ixtb-m2 "$BIN_DIR/ixmesh-probe" reflect --listen "$(lan4 2):9862" "$@" \
        >"$log" 2>&1 &
    REFLECTOR=$!
    sleep 0.5
    kill -0 "$REFLECTOR" || fail "the reflector did not start: $(cat "$log")"
}

# 200 a second for 15 s, 10 % lost on the way in, against the defaults.
tb set m2 --loss-pct 10 >/dev/null || fail "set --loss-pct 10 failed"
reflector defaults
json=$(measure 1 "$(lan4 2):9862" --count 3000 --interval 5 --timeout 500 2>"$TMP/warn.txt") ||
    fail "measure failed: $json"
kill -TERM "$REFLECTOR" && wait "$REFLECTOR" || true
check_loss 10 3000 "$json" 2.5758
! grep -q "rate limit" "$TMP/warn.txt" || fail "a rate-limit warning on random loss: $(cat "$TMP/warn.txt")"
grep -q " 0 over the rate limit" "$IXMESH_TESTBED_STATE/log/reflect-defaults.log" ||
    fail "the default reflector refused requests: $(cat "$IXMESH_TESTBED_STATE/log/reflect-defaults.log")"

# The same against a reflector limited to 100 a second: about half lost,
# and measure says why.
tb set m2 --loss-pct 0 >/dev/null || fail "set --loss-pct 0 failed"
reflector limited --rate 100
json=$(measure 1 "$(lan4 2):9862" --count 3000 --interval 5 --timeout 500 2>"$TMP/warn.txt") ||
    fail "measure failed: $json"
kill -TERM "$REFLECTOR" && wait "$REFLECTOR" || true
note "limited to 100/s: received $(field "$json" received) of 3000; measure said: $(cat "$TMP/warn.txt")"
grep -q "the loss looks like a reflector's rate limit" "$TMP/warn.txt" ||
    fail "no rate-limit warning against a reflector limited to 100/s"
[[ $(field "$json" reflector_rate_limit_pps) == 100.0 ]] ||
    fail "reflector_rate_limit_pps is not 100: $json"
grep -E "refused [0-9]+ requests: [0-9]+ over the rate limit of 100/s per source \($(lan4 1) [0-9]+\)" \
    "$IXMESH_TESTBED_STATE/log/reflect-limited.log" ||
    fail "the reflector did not log its refusals per source: $(cat "$IXMESH_TESTBED_STATE/log/reflect-limited.log")"
note "PASS"
