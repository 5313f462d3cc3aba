#!/bin/bash
# delay.sh - delay truth: with one-way delays D of 1, 10 and 40 ms on every
# access link (round trips of 4, 40 and 160 ms between members), the exact
# p50 RTT of every member pair must lie within max(100 us, 1 %) of the truth.
#
# The truth is 4 D plus the path's base: the round trip measured with D = 0
# on the same path (stacks, bridge, the emulator's own forwarding), corrected
# by how late the emulator released frames (its own lateness p50 at each of
# the four crossings, at D = 0 and at D), which it measures itself.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tb_setup delay "$1" "$2"

M=3
COUNT=300
tb_up --members "$M"

# late K: "a2b b2a" lateness p50 of member K's link, in us.
late() {
    emu "m$1" stats | tr ' ' '\n' |
        awk -F= '$1 == "a2b_late_p50_us" { a = $2 } $1 == "b2a_late_p50_us" { b = $2 } END { print a, b }'
}

# measure_all TAG: every member measures every other at once; writes
# TAG.K.json (one line per target) and TAG.late (K a2b b2a per line).
measure_all() {
    local tag=$1 k t pids=() targets
    for ((k = 1; k <= M; k++)); do emu "m$k" reset >/dev/null; done
    for ((k = 1; k <= M; k++)); do
        targets=()
        for ((t = 1; t <= M; t++)); do ((t == k)) || targets+=("$(lan4 "$t")"); done
        measure "$k" "${targets[@]}" --count "$COUNT" --interval 10 --timeout 1000 \
            >"$TMP/$tag.$k.json" &
        pids+=($!)
    done
    for k in "${pids[@]}"; do wait "$k" || fail "a measurement failed ($tag)"; done
    for ((k = 1; k <= M; k++)); do echo "$k $(late "$k")"; done >"$TMP/$tag.late"
}

measure_all base
for d in 1 10 40; do
    for ((k = 1; k <= M; k++)); do tb set "m$k" --delay-ms "$d" >/dev/null; done
    sleep 0.5
    measure_all "d$d"
done

if ! "$PY" - "$TMP" "$M" <<'PY'
import json, sys
tmp, m = sys.argv[1], int(sys.argv[2])

def load(tag):
    p50, n = {}, {}
    for k in range(1, m + 1):
        for line in open("%s/%s.%d.json" % (tmp, tag, k)):
            o = json.loads(line)
            dst = int(o["target"].rsplit(".", 1)[1])
            p50[k, dst] = o["rtt_p50_ms"]
            n[k, dst] = o["received"]
    late = {}
    for line in open("%s/%s.late" % (tmp, tag)):
        k, a, b = line.split()
        late[int(k)] = (int(a) / 1000.0, int(b) / 1000.0)
    return p50, n, late

def crossings(late, i, j):
    # request: i's link towards the LAN, then j's link from it; reply back.
    return late[i][0] + late[j][1] + late[j][0] + late[i][1]

base, _, late0 = load("base")
bad = 0
print("%-8s %6s %10s %10s %9s %9s %7s" % ("pair", "D ms", "truth ms", "p50 ms", "diff us", "tol us", "n"))
for d in (1, 10, 40):
    p50, n, late = load("d%d" % d)
    for (i, j), v in sorted(p50.items()):
        truth = base[i, j] - crossings(late0, i, j) + 4 * d + crossings(late, i, j)
        tol = max(0.100, 0.01 * 4 * d)
        diff = v - truth
        ok = v is not None and abs(diff) <= tol and n[i, j] >= 0.99 * 300
        print("m%d->m%d %6d %10.3f %10.3f %9.1f %9.1f %7d %s" % (
            i, j, d, truth, v, diff * 1000, tol * 1000, n[i, j], "" if ok else "FAIL"))
        bad |= not ok
print("base (D = 0) p50s: " + ", ".join("m%d->m%d %.3f ms" % (i, j, v) for (i, j), v in sorted(base.items())))
sys.exit(bad)
PY
then
    fail "a pair's p50 is off the truth (see the table)"
fi
note "PASS"
