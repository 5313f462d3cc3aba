#!/bin/bash
# loss.sh - loss truth: nftables drops 1 %, 5 % and 20 % of what member 2
# receives; member 1 sends 10,000 STAMP packets for each, and the loss it
# measures (RFC 7680, 500 ms timeout) must lie inside the 99 % binomial
# interval around the injected rate.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tb_setup loss "$1" "$2"

N=10000
tb_up --members 2

printf '%-8s %8s %8s %8s %18s\n' injected sent lost measured "99% interval"
for pct in 1 5 20; do
    tb set m2 --loss-pct "$pct" >/dev/null || fail "set --loss-pct $pct failed"
    json=$(measure 1 "$(lan4 2)" --count "$N" --interval 1 --timeout 500) ||
        fail "measure failed: $json"
    sent=$(field "$json" sent)
    received=$(field "$json" received)
    ((sent == N)) || fail "$pct %: sent $sent packets, not $N"
    lost=$((sent - received))
    read -r lo hi < <(awk -v n="$N" -v p="$pct" 'BEGIN {
        p /= 100; sd = sqrt(n * p * (1 - p)); z = 2.5758
        printf "%d %d\n", int(n * p - z * sd), int(n * p + z * sd + 0.999999) }')
    printf '%-8s %8d %8d %7.2f%% %9d to %-6d\n' "$pct%" "$sent" "$lost" \
        "$(awk -v l="$lost" -v n="$sent" 'BEGIN { print 100 * l / n }')" "$lo" "$hi"
    ((lost >= lo && lost <= hi)) ||
        fail "$pct % loss: measured $lost of $N lost, outside the 99 % interval [$lo, $hi]"
done
note "PASS"
