#!/bin/bash
# fping.sh - side by side with fping on the same namespace path, in the same
# run: member 1 measures member 2 (1 ms of one-way delay on each access link,
# so about 4 ms) with our STAMP and with fping's ICMP echo at once; the two
# medians must differ by at most 50 us.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tb_setup fping "$1" "$2"

COUNT=400
command -v fping >/dev/null || fail "fping is not installed (deploy/deps.sh test)"
tb_up --members 2 --delay-ms 1

in_member 1 fping -C "$COUNT" -p 10 -q "$(lan4 2)" >/dev/null 2>"$TMP/fping.out" &
fping_pid=$!
json=$(measure 1 "$(lan4 2)" --count "$COUNT" --interval 10 --timeout 1000) ||
    fail "measure failed: $json"
wait "$fping_pid" || fail "fping failed: $(cat "$TMP/fping.out")"

# fping -C prints "ADDR : rtt rtt ... " in ms, "-" for a lost one.
fping_p50=$("$PY" -c '
import sys
v = sorted(float(x) for x in open(sys.argv[1]).read().split(":")[1].split() if x != "-")
print("%.3f %d" % (v[(len(v) + 1) // 2 - 1], len(v)))' "$TMP/fping.out")
read -r fping_p50 fping_n <<<"$fping_p50"
ours=$(field "$json" rtt_p50_ms)
ours_n=$(field "$json" received)
diff_us=$(awk -v a="$ours" -v b="$fping_p50" 'BEGIN { d = (a - b) * 1000; printf "%.1f", d < 0 ? -d : d }')
printf 'ixmesh stamp p50 %.3f ms (%d replies)   fping p50 %.3f ms (%d replies)   |diff| %s us\n' \
    "$ours" "$ours_n" "$fping_p50" "$fping_n" "$diff_us"
((ours_n >= COUNT * 99 / 100 && fping_n >= COUNT * 99 / 100)) ||
    fail "too few replies: ours $ours_n, fping $fping_n of $COUNT"
awk -v d="$diff_us" 'BEGIN { exit !(d <= 50) }' ||
    fail "the medians differ by $diff_us us (ours $ours ms, fping $fping_p50 ms); at most 50 us allowed"
note "PASS"
