#!/bin/bash
# e2e.policy_cannon: a hostile controller (tests/hostile) tries to turn the
# probe into a packet cannon, and the probe's own policy (probe.ini) stops
# it.  The probe runs in a namespace whose only way out is a veth to a sink
# namespace; nftables counts every packet it sends there.
#   1-3. 4096 stamp / icmp / tcp tasks at 10 ms, 1472 octets, DSCP 46, to
#        192.0.2.0/24 (outside allow_targets): refused, ERROR POLICY names
#        allow_targets, the probe logs it, and no packet leaves;
#   4.   4096 stamp tasks at 10 ms inside allow_targets: refused (max_rate),
#        no packet leaves;
#   5.   a legitimate list, 500 stamp tasks at 1 s: it runs, packets leave
#        and records come back with replies;
#   6.   500 stamp tasks with Poisson gaps of mean 500 ms (the budget of
#        1000 packets/s on average, above it in bursts): the token bucket
#        holds every second to the budget (and its tenth of a second of
#        burst), and what waited is not counted as lost.
# The session survives every refusal.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=policy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/policy_lib.sh"

IDX=50
GAP=8 # seconds between lists
BUDGET=1000

make_namespaces() {
    policy_ns_setup "$IDX"
    for pfx in 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24; do
        ip -n "$NSP" route add "$pfx" via 10.99.$IDX.2
    done
    # The sink answers for the allowed prefixes (the documentation ranges
    # exist nowhere else); 192.0.2.0/24 it drops.
    ip -n "$NSS" route add local 198.51.100.0/24 dev lo
    ip -n "$NSS" route add local 203.0.113.0/24 dev lo
    ip netns exec "$NSP" nft -f - <<EOF
table inet ixh1 {
    counter out { }
    counter doc { }
    chain output {
        type filter hook output priority 0; policy accept;
        oifname "$VA" meta l4proto { udp, tcp, icmp } counter name "out"
        oifname "$VA" ip daddr 192.0.2.0/24 counter name "doc"
    }
}
EOF
}

# sent [NAME]: packets the probe's namespace has sent out so far.
sent() {
    ip netns exec "$NSP" nft list counter inet ixh1 "${1:-out}" |
        awk '/packets/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'
}

# task lists: one task a line, for ixmesh-hostile.
write_lists() {
    local i
    for m in stamp icmp tcp; do
        for ((i = 0; i < 4096; i++)); do
            echo "$m 192.0.2.$((i % 254 + 1)) 862 10 1472 46"
        done >"$TMP/out-$m.txt"
    done
    for ((i = 0; i < 4096; i++)); do
        echo "stamp 198.51.100.$((i % 254 + 1)) $STAMP_PORT 10 1472 46"
    done >"$TMP/in-cannon.txt"
    for ((i = 0; i < 500; i++)); do
        if ((i < 250)); then
            echo "stamp 198.51.100.$((i + 1)) $STAMP_PORT 1000 44 0"
        else
            echo "stamp 203.0.113.$((i - 249)) $STAMP_PORT 1000 44 0"
        fi
    done >"$TMP/legit.txt"
    sed 's/ 1000 44 0$/ 500p 44 0/' "$TMP/legit.txt" >"$TMP/poisson.txt"
}

write_wrappers() {
    printf '#!/bin/sh\nexec ip netns exec %q %q reflect --listen 0.0.0.0:%s --rate 100000 --rate-total 100000\n' \
        "$NSS" "$PROBE_BIN" "$STAMP_PORT" >"$TMP/reflector.sh"
    policy_hostile_wrapper 12 \
        "$TMP/out-stamp.txt $TMP/out-icmp.txt $TMP/out-tcp.txt $TMP/in-cannon.txt $TMP/legit.txt $TMP/poisson.txt"
    chmod +x "$TMP"/*.sh
}

write_config() {
    policy_probe "$IDX" <<EOF
allow_targets = 198.51.100.0/24, 203.0.113.0/24
max_rate = $BUDGET
; the rate rule, not these, must stop the cannon inside allow_targets
min_interval = 10
max_size = 1472
max_tasks = 4096
EOF
}

# phase N RULE: list N is refused for RULE, and nothing leaves meanwhile.
refused_phase() {
    local n=$1 rule=$2 before after line at
    at=$(policy_sent_at "$n")
    before=$(sent)
    line=$(wait_log hostile "$at" "^error 9 policy $rule" 10) ||
        fail "list $n: no ERROR POLICY naming $rule"
    sleep $((GAP - 3))
    after=$(sent)
    note "list $n: $line; packets out in $((GAP - 3)) s: $((after - before))"
    ((after == before)) || fail "list $n: $((after - before)) packets left the probe"
}

main() {
    local i t0 t1 c0 c1 limit worst=0 logline at s r
    e2e_setup policy_cannon $IDX "$1" "$2"
    policy_require policy_cannon nft
    make_namespaces
    make_certs p1
    write_lists
    write_wrappers
    write_config
    : >"$TMP/none.ini"
    spawn reflector "$TMP/reflector.sh" "$TMP/none.ini"
    allow_exit reflector
    spawn hostile "$TMP/hostile.sh" "$TMP/none.ini"
    allow_exit hostile
    wait_log hostile 0 "^listening" 10 >/dev/null || fail "ixmesh-hostile did not start"
    spawn probe "$TMP/probe.sh" "$TMP/p1.ini"
    wait_log hostile 0 "^hello p1" 20 >/dev/null || fail "the probe never said HELLO"

    refused_phase 1 "allow_targets: task 1 \(stamp to 192.0.2.1\)"
    refused_phase 2 "allow_targets: task 1 \(icmp to 192.0.2.1\)"
    refused_phase 3 "allow_targets: task 1 \(tcp to 192.0.2.1\)"
    refused_phase 4 "max_rate: the list needs 409600 packets/s"
    [[ $(sent doc) == 0 ]] || fail "$(sent doc) packets went to 192.0.2.0/24"
    logline=$(grep -m1 "task list 1 refused" "$TMP/probe.log") ||
        fail "the probe did not log the refusal"
    note "probe log: ${logline#*] }"
    grep -q "^closed" "$TMP/hostile.log" && fail "the session ended: $(grep '^closed' "$TMP/hostile.log")"

    note "list 5: 500 stamp tasks at 1 s"
    at=$(policy_sent_at 5)
    c0=$(sent)
    sleep $((GAP - 2))
    c1=$(sent)
    note "list 5: $((c1 - c0)) packets out in $((GAP - 2)) s"
    ((c1 - c0 >= 500 * (GAP - 3))) || fail "list 5: only $((c1 - c0)) packets left"
    log_since hostile "$at" | grep -q "^error" && fail "list 5 was refused"
    log_since hostile "$at" | awk '$1 == "results" && $6 > 0 { ok = 1 } END { exit !ok }' ||
        fail "no record with replies came back"

    note "list 6: 500 stamp tasks, Poisson gaps of mean 500 ms (1000/s on average)"
    at=$(policy_sent_at 6)
    sleep 1
    t0=$(date +%s.%N)
    c0=$(sent)
    for ((i = 0; i < 8; i++)); do
        sleep 1
        t1=$(date +%s.%N)
        c1=$(sent)
        # The bucket lets through the rate and at most a tenth of a second
        # of it at once; 5 more for the sampling's own delay.
        limit=$(awk -v a="$t0" -v b="$t1" -v r=$BUDGET 'BEGIN { printf "%d", r * (b - a) + r / 10 + 5 }')
        note "second $((i + 1)): $((c1 - c0)) packets in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s (limit $limit)"
        ((c1 - c0 <= limit)) || fail "$((c1 - c0)) packets in a second, over the budget"
        ((c1 - c0 > worst)) && worst=$((c1 - c0))
        t0=$t1
        c0=$c1
    done
    ((worst >= BUDGET * 8 / 10)) || fail "at most $worst packets a second: the list did not run"
    # Attempts that waited for the bucket were never sent: not lost.  The
    # first records may still hold list 5's windows; all must be whole.
    read -r s r < <(log_since hostile "$at" | awk '$1 == "results" { s += $4; r += $6 } END { print s + 0, r + 0 }')
    note "list 6 records: $s sent, $r received"
    ((s > 0 && r * 100 >= s * 98)) || fail "list 6: $r of $s received: waiting counted as loss?"
    grep -q "^closed" "$TMP/hostile.log" && fail "the session ended: $(grep '^closed' "$TMP/hostile.log")"
    stop probe
    note "ok"
}

main "$@"
