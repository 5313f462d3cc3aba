#!/bin/bash
# e2e.content_icmp: the icmp method, through the one-shot measure command.
#
#  - 127.0.0.1 and ::1 answer 5 echoes of 5, with RTTs that make sense;
#  - between two network namespaces joined by a veth pair, the far end
#    answers over IPv4 and IPv6, over a raw socket and over a ping socket
#    (net.ipv4.ping_group_range, per namespace);
#  - once the far end drops echo requests (nftables, input hook), every
#    attempt ends as a timeout;
#  - a destination the router behind the veth cannot reach ends as
#    "unreachable" with the router named (ICMP host unreachable, ICMPv6 no
#    route), and one without a route in our own namespace as "unreachable"
#    with the kernel's reason (sendmmsg() fails with ENETUNREACH).
# Root only: raw sockets and namespaces.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NA=ixe-icmp-a-$$
NB=ixe-icmp-b-$$
A4=198.18.200.1
B4=198.18.200.2
A6=fd49:584d:c8::1
B6=fd49:584d:c8::2

# CHECK_PY FILE TARGET SENT RECEIVED [OUTCOME [WHY]]: the JSON summary of
# TARGET in FILE has those counts, every failure of that outcome, and a
# reason containing WHY; received RTTs lie in (0, 50 ms).
# shellcheck disable=SC2016
CHECK_PY='
import json, sys
f, target, sent, received = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
outcome = sys.argv[5] if len(sys.argv) > 5 else None
why = sys.argv[6] if len(sys.argv) > 6 else None
rows = [json.loads(l) for l in open(f)]
r = [r for r in rows if r["target"] == target]
if len(r) != 1:
    sys.exit("%s: %d summaries" % (target, len(r)))
r = r[0]
bad = []
if r["method"] != "icmp" or r["sent"] != sent or r["received"] != received:
    bad.append("sent %d received %d" % (r["sent"], r["received"]))
if received:
    for k in ("rtt_min_ms", "rtt_p50_ms", "rtt_max_ms"):
        if not (isinstance(r[k], (int, float)) and 0 < r[k] < 50):
            bad.append("%s=%r" % (k, r[k]))
    if not r["rtt_min_ms"] <= r["rtt_p50_ms"] <= r["rtt_max_ms"]:
        bad.append("percentiles out of order")
if r["path_class"] is not None:
    bad.append("path_class=%r (the target TTL is unknown)" % r["path_class"])
if outcome is not None and r["outcomes"] != {outcome: sent - received}:
    bad.append("outcomes=%r" % r["outcomes"])
if why is not None and why not in (r["why"] or ""):
    bad.append("why=%r" % r["why"])
if bad:
    sys.exit("%s: %s in %s" % (target, ", ".join(bad), json.dumps(r)))
print("%s: %d/%d, %s %s" % (target, r["received"], r["sent"], r["outcomes"] or "",
                            r["why"] or "rtt p50 %s ms" % r["rtt_p50_ms"]))
'

# measure NAME [ip netns exec NS] -- ARGS...: runs measure icmp ARGS --json
# into $TMP/NAME.json (its status does not matter: 1 means no reply at all).
measure() {
    local name=$1
    shift
    local pre=()
    while [[ $1 != -- ]]; do
        pre+=("$1")
        shift
    done
    shift
    "${pre[@]}" "$PROBE_BIN" measure icmp "$@" --json >"$TMP/$name.json" \
        2>"$TMP/$name.err" || true
    [[ -s $TMP/$name.json ]] || fail "measure $name printed nothing: $(cat "$TMP/$name.err")"
}

check() {
    "$PY" -c "$CHECK_PY" "$@" || fail "unexpected summary (see above)"
}

# The namespaces go first; e2e_cleanup then sees the test's status.
netns_cleanup() {
    local rc=$?
    ip netns del "$NA" 2>/dev/null || true
    ip netns del "$NB" 2>/dev/null || true
    (exit "$rc")
    e2e_cleanup
}

make_namespaces() {
    ip netns add "$NA" || fail "cannot create network namespaces"
    ip netns add "$NB"
    ip -n "$NA" link set lo up
    ip -n "$NB" link set lo up
    # No duplicate address detection: the addresses work at once.
    ip netns exec "$NA" sysctl -qw net.ipv6.conf.default.accept_dad=0
    ip netns exec "$NB" sysctl -qw net.ipv6.conf.default.accept_dad=0
    ip link add "ixi$$a" netns "$NA" type veth peer name "ixi$$b" netns "$NB"
    ip -n "$NA" addr add "$A4/30" dev "ixi$$a"
    ip -n "$NB" addr add "$B4/30" dev "ixi$$b"
    ip -n "$NA" addr add "$A6/64" dev "ixi$$a" nodad
    ip -n "$NB" addr add "$B6/64" dev "ixi$$b" nodad
    ip -n "$NA" link set "ixi$$a" up
    ip -n "$NB" link set "ixi$$b" up
    # B routes on to networks it cannot reach, and says so at once: no ICMP
    # rate limit, so that every attempt hears its error.
    ip netns exec "$NB" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
        net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
    ip -n "$NB" route add unreachable 198.18.202.0/24
    ip -n "$NB" -6 route add unreachable fd49:584d:ca::/64
    ip -n "$NA" route add 198.18.202.0/24 via "$B4"
    ip -n "$NA" -6 route add fd49:584d:ca::/64 via "$B6"
    # Neighbours resolved before anything is timed.
    ip netns exec "$NA" ping -c 1 -W 5 "$B4" >/dev/null || fail "$B4 does not answer ping"
    ip netns exec "$NA" ping -6 -c 1 -W 5 "$B6" >/dev/null || fail "$B6 does not answer ping"
}

main() {
    local kind

    e2e_setup content_icmp 17 "$1" "$2"
    if ((EUID != 0)); then
        echo "SKIP [content_icmp]: needs root (raw sockets, namespaces) -- NOT RUN" >&2
        exit 77
    fi
    trap netns_cleanup EXIT

    note "loopback: 127.0.0.1 and ::1 answer 5 of 5"
    measure lo -- 127.0.0.1 ::1 --count 5 --interval 100
    check "$TMP/lo.json" 127.0.0.1 5 5
    check "$TMP/lo.json" ::1 5 5

    make_namespaces
    for kind in raw ping; do
        if [[ $kind == ping ]]; then
            # Ping sockets for every group of this namespace.
            ip netns exec "$NA" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
        fi
        note "$kind sockets: the far end answers over IPv4 and IPv6"
        measure "up-$kind" ip netns exec "$NA" -- "$B4" "$B6" --count 5 --interval 50
        check "$TMP/up-$kind.json" "$B4" 5 5
        check "$TMP/up-$kind.json" "$B6" 5 5

        note "$kind sockets: the router says the destination is unreachable"
        measure "unreach-$kind" ip netns exec "$NA" -- 198.18.202.1 fd49:584d:ca::1 \
            --count 3 --interval 50
        check "$TMP/unreach-$kind.json" 198.18.202.1 3 0 unreachable \
            "host unreachable from $B4"
        check "$TMP/unreach-$kind.json" fd49:584d:ca::1 3 0 unreachable "no route from $B6"

        note "$kind sockets: no route here: the send fails, and says why"
        measure "noroute-$kind" ip netns exec "$NA" -- 198.18.201.1 fd49:584d:c9::1 \
            --count 3 --interval 50
        check "$TMP/noroute-$kind.json" 198.18.201.1 3 0 unreachable \
            "cannot send to 198.18.201.1: Network is unreachable"
        check "$TMP/noroute-$kind.json" fd49:584d:c9::1 3 0 unreachable \
            "Network is unreachable"
    done

    note "the far end drops echo requests: every attempt times out"
    ip netns exec "$NB" nft -f - <<'EOF' || fail "nft failed"
table inet ixmesh_e2e {
    chain input {
        type filter hook input priority 0; policy accept;
        icmp type echo-request drop
        icmpv6 type echo-request drop
    }
}
EOF
    measure dropped ip netns exec "$NA" -- "$B4" "$B6" --count 3 --interval 50 --timeout 300
    check "$TMP/dropped.json" "$B4" 3 0 timeout "no answer within 300 ms"
    check "$TMP/dropped.json" "$B6" 3 0 timeout "no answer within 300 ms"
}

main "$@"
