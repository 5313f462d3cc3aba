#!/bin/bash
# e2e.policy_delta: a hostile controller (tests/hostile) sends task deltas
# (TASKS_DELTA, issue 13) instead of whole lists.  A delta can do nothing a
# whole list could not:
#   1. a list of two STAMP tasks inside allow_targets: it runs;
#   2. a delta on it putting a task to 192.0.2.1 (outside allow_targets):
#      refused with ERROR POLICY naming the rule, the list of 1 goes on,
#      and no packet goes to 192.0.2.0/24;
#   3. a delta on a generation the probe does not run: ERROR STALE, nothing
#      changes;
#   4. a delta on list 1 deleting task 2 and putting task 5: applied, task
#      1 kept with its state (1 kept, 1 new), packets go to task 5's target;
#   5. a delta putting 4,096 tasks on those 2: refused as too many.
# The session stays open throughout.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=policy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/policy_lib.sh"

IDX=53
GAP=4

make_namespaces() {
    policy_ns_setup "$IDX"
    for pfx in 192.0.2.0/24 198.51.100.0/24; do
        ip -n "$NSP" route add "$pfx" via 10.99.$IDX.2
    done
    ip -n "$NSS" route add local 198.51.100.0/24 dev lo
    ip netns exec "$NSP" nft -f - <<EOF
table inet ixh1 {
    counter doc { }
    counter t5 { }
    chain output {
        type filter hook output priority 0; policy accept;
        oifname "$VA" ip daddr 192.0.2.0/24 counter name "doc"
        oifname "$VA" ip daddr 198.51.100.5 counter name "t5"
    }
}
EOF
}

sent() {
    ip netns exec "$NSP" nft list counter inet ixh1 "$1" |
        awk '/packets/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'
}

write_lists() {
    cat >"$TMP/1-list.txt" <<EOF
stamp 198.51.100.1 $STAMP_PORT 100 44 0
stamp 198.51.100.2 $STAMP_PORT 100 44 0
EOF
    cat >"$TMP/2-outside.txt" <<EOF
delta 1
id 3
stamp 192.0.2.1 $STAMP_PORT 100 44 0
EOF
    cat >"$TMP/3-stale.txt" <<EOF
delta 7
id 4
stamp 198.51.100.4 $STAMP_PORT 100 44 0
EOF
    cat >"$TMP/4-change.txt" <<EOF
delta 1
del 2
id 5
stamp 198.51.100.5 $STAMP_PORT 100 44 0
EOF
    {
        echo "delta 4"
        echo "id 100"
        for ((i = 0; i < 4096; i++)); do
            echo "stamp 198.51.100.$((i % 250 + 1)) $STAMP_PORT 60000 44 0"
        done
    } >"$TMP/5-many.txt"
}

write_wrappers() {
    policy_hostile_wrapper 4 \
        "$TMP/1-list.txt $TMP/2-outside.txt $TMP/3-stale.txt $TMP/4-change.txt $TMP/5-many.txt"
    chmod +x "$TMP"/*.sh
}

write_config() {
    policy_probe "$IDX" <<EOF
allow_targets = 198.51.100.0/24
max_tasks = 4096
max_rate = 100000
EOF
}

main() {
    local line t5
    e2e_setup policy_delta $IDX "$1" "$2"
    policy_require policy_delta nft
    make_namespaces
    make_certs p1
    write_lists
    write_wrappers
    write_config
    : >"$TMP/none.ini"
    spawn hostile "$TMP/hostile.sh" "$TMP/none.ini"
    allow_exit hostile
    wait_log hostile 0 "^listening" 10 >/dev/null || fail "ixmesh-hostile did not start"
    spawn probe "$TMP/probe.sh" "$TMP/p1.ini"
    wait_log hostile 0 "^hello p1" 20 >/dev/null || fail "the probe never said HELLO"

    wait_log probe 0 "task list 1: 2 tasks \(0 kept, 2 new\)" 10 >/dev/null ||
        fail "list 1 did not run"
    line=$(wait_log hostile "$(policy_sent_at 2)" "^error 9 policy allow_targets: task 3 \(stamp to 192.0.2.1\)" 10) ||
        fail "delta 2 (outside allow_targets) not refused"
    note "delta 2: $line"
    line=$(wait_log hostile "$(policy_sent_at 3)" "^error 12 task delta 3 changes list 7, the list here is 1" 10) ||
        fail "delta 3 (on a list the probe does not run) not answered STALE"
    note "delta 3: $line"
    line=$(wait_log probe 0 "task list 4: 2 tasks \(1 kept, 1 new\)" 10) ||
        fail "delta 4 was not applied as 1 kept and 1 new"
    note "delta 4: ${line#*] }"
    log_since hostile "$(policy_sent_at 4)" | grep -q "^error" &&
        fail "delta 4 was refused: $(log_since hostile "$(policy_sent_at 4)" | grep '^error')"
    sleep 1
    t5=$(sent t5)
    ((t5 > 0)) || fail "no packet to task 5's target after delta 4"
    line=$(wait_log hostile "$(policy_sent_at 5)" "^error 9 policy max_tasks: task delta 5 makes more than 4096 tasks" 10) ||
        fail "delta 5 (4,098 tasks) not refused"
    note "delta 5: $line"
    [[ $(sent doc) == 0 ]] || fail "$(sent doc) packets went to 192.0.2.0/24"
    note "packets to 192.0.2.0/24: 0; to task 5's target: $t5"
    sleep 2
    grep -q "^closed" "$TMP/hostile.log" && fail "the session ended: $(grep '^closed' "$TMP/hostile.log")"
    stop probe
    note "ok"
}

main "$@"
