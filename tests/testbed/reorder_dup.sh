#!/bin/bash
# reorder_dup.sh - reordering and duplicates injected by the link emulator
# are counted exactly: member 1's requests to member 2 are duplicated (every
# 10th) and, in a second run, held back 5 ms so that the next overtakes
# them (every 20th, while a request leaves every 2 ms); the duplicates and
# reordered replies our measurement counts (RFC 4737) must equal the
# emulator's own counters.  (A held request that nothing overtook, because
# the next left late, is reordering neither for the emulator nor for us.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tb_setup reorder_dup "$1" "$2"

COUNT=1000
tb_up --members 2 --delay-ms 1
# Only this test's packets may cross member 1's link: the mesh probes stop,
# and a one-shot reflector answers on member 2.
stop_mesh_probe 1
stop_mesh_probe 2
in_member 2 "$BIN_DIR/ixmesh-probe" reflect --listen "$(lan4 2):9862" --rate 100000 \
    >"$IXMESH_TESTBED_STATE/log/reflect-m2.log" 2>&1 &
reflector=$!
sleep 0.5
kill -0 "$reflector" || fail "the reflector did not start: $(cat "$IXMESH_TESTBED_STATE/log/reflect-m2.log")"

# run_case WHAT KEY EMULATOR_OPTIONS...: prints "ours theirs received":
# our summary's WHAT and the emulator's counter KEY for requests (a2b).
run_case() {
    local what=$1 key=$2 json stats
    shift 2
    tb set m1 "$@" --impair-dir a2b >/dev/null || fail "set $* failed"
    emu m1 reset >/dev/null || fail "the emulator did not reset"
    json=$(measure 1 "$(lan4 2):9862" --count "$COUNT" --interval 2 --timeout 500) ||
        fail "measure failed: $json"
    stats=$(emu m1 stats) || fail "no emulator stats"
    ((${#json} > 0)) || fail "no summary"
    echo "$(field "$json" "$what") $(tr ' ' '\n' <<<"$stats" | awk -F= -v k="a2b_$key" '$1 == k { print $2 }') $(field "$json" received)"
}

read -r dup_ours dup_emu received < <(run_case duplicates duplicated --dup-every 10 --reorder-every 0)
printf 'duplicates: emulator %s, measured %s (%s replies)\n' "$dup_emu" "$dup_ours" "$received"
((dup_emu >= COUNT / 10 - 1)) || fail "the emulator duplicated only $dup_emu frames"
((dup_ours == dup_emu)) || fail "measured $dup_ours duplicates, the emulator made $dup_emu"

read -r reo_ours reo_emu received < <(run_case reordered reordered --dup-every 0 --reorder-every 20)
printf 'reordered: emulator %s, measured %s (%s replies)\n' "$reo_emu" "$reo_ours" "$received"
((reo_emu >= COUNT / 20 * 8 / 10)) || fail "the emulator reordered only $reo_emu frames"
((reo_ours == reo_emu)) || fail "measured $reo_ours reordered, the emulator reordered $reo_emu"
((received == COUNT)) || fail "lost replies: $received of $COUNT"
kill "$reflector"
note "PASS"
