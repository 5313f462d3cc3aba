# policy_lib.sh - the two namespaces of the policy tests; sourced after
# lib.sh, not run.
#
# policy_ns_setup IDX names them after the test's index: the probe's (NSP)
# and a sink's (NSS), joined by a veth pair (VA in NSP, VB in NSS) on
# 10.99.IDX.0/30, IPv6 off.  policy_ns_cleanup, the EXIT trap, removes them
# and then runs e2e_cleanup, which still sees the test's exit status.
# shellcheck shell=bash

policy_ns_setup() {
    local idx=$1 ns
    NSP=ixh1-p$idx-$$
    NSS=ixh1-s$idx-$$
    VA=ixh1a$idx
    VB=ixh1b$idx
    trap policy_ns_cleanup EXIT
    ip netns add "$NSP"
    ip netns add "$NSS"
    ip link add "$VA" netns "$NSP" type veth peer name "$VB" netns "$NSS"
    for ns in "$NSP" "$NSS"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    ip -n "$NSP" addr add "10.99.$idx.1/30" dev "$VA"
    ip -n "$NSS" addr add "10.99.$idx.2/30" dev "$VB"
    ip -n "$NSP" link set "$VA" up
    ip -n "$NSS" link set "$VB" up
}

policy_ns_cleanup() {
    local rc=$?
    set +e
    ip netns del "$NSP" 2>/dev/null
    ip netns del "$NSS" 2>/dev/null
    (exit "$rc")
    e2e_cleanup
}

# policy_hostile_wrapper HOLD LISTS: writes $TMP/hostile.sh, the hostile
# controller (tests/hostile) in the probe's namespace on the test's channel
# port, sending the task lists in the files LISTS (one word) GAP seconds
# apart and holding the session HOLD seconds after the last.
policy_hostile_wrapper() {
    printf '#!/bin/sh\nexec ip netns exec %q %q --listen 127.0.0.1:%s --ca %q --cert %q --key %q --gap %s --hold %s %s\n' \
        "$NSP" "$BIN_DIR/ixmesh-hostile" "$CHAN_PORT" "$TMP/pki/ca.pem" \
        "$TMP/pki/controller.pem" "$TMP/pki/controller.key" "$GAP" "$1" "$2" \
        >"$TMP/hostile.sh"
}

# policy_require NAME TOOL: exits 77 (SKIP, said loudly) without root,
# network namespaces or TOOL.
policy_require() {
    if ((EUID != 0)) || ! ip netns list >/dev/null 2>&1 || ! command -v "$2" >/dev/null; then
        echo "SKIP [$1]: needs root, network namespaces and $2 -- NOT RUN" >&2
        exit 77
    fi
    [[ -x $BIN_DIR/ixmesh-hostile ]] || fail "no ixmesh-hostile in $BIN_DIR"
}

# policy_probe IDX: $TMP/probe.sh, the probe in its namespace, and
# $TMP/p1.ini, its configuration with the lines of standard input added
# (its policy).
policy_probe() {
    printf '#!/bin/sh\nexec ip netns exec %q %q "$@"\n' "$NSP" "$PROBE_BIN" >"$TMP/probe.sh"
    chmod +x "$TMP/probe.sh"
    {
        cat <<EOF
[probe]
id = p1
controller = 127.0.0.1:$CHAN_PORT
ca = $TMP/pki/ca.pem
cert = $TMP/pki/p1.pem
key = $TMP/pki/p1.key
stamp_listen = 10.99.$1.1:$STAMP_PORT
log_level = info
spool_dir = $TMP/spool-p1
EOF
        cat
    } >"$TMP/p1.ini"
}

# policy_sent_at N: the offset in the hostile controller's output of the
# line saying it sent message N (a list or a delta), once it has.
policy_sent_at() {
    wait_log hostile 0 "^(tasks|delta) $1 " 60 >/dev/null || fail "message $1 was never sent"
    grep -Ebm1 "^(tasks|delta) $1 " "$TMP/hostile.log" | cut -d: -f1
}
