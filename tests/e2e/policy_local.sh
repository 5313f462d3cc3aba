#!/bin/bash
# e2e.policy_local: a hostile controller (tests/hostile) tries to reach the
# probe host's own services: an "admin" HTTP listener the test starts on
# the probe's namespace (every connection it accepts is logged).
#   1. tcp, http and dns tasks to 127.0.0.1: refused as a list, ERROR
#      POLICY names allow_local;
#   2. tcp and http to the host's own interface address: refused likewise;
#   3. an http task naming only a host, which the probe's resolver (a DNS
#      responder in the sink namespace) points at 127.0.0.1: the list runs,
#      but every attempt fails before connecting, and the record says why.
# No connection ever reaches the listener, and the session survives.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=policy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/policy_lib.sh"

IDX=51
GAP=5

# The admin service: accepts on every address of the probe's namespace,
# logs each connection, and would hand out a secret header.
write_listener() {
    cat >"$TMP/listener.py" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
print("listening", flush=True)
while True:
    c, a = s.accept()
    print("connection from %s:%d" % a, flush=True)
    c.sendall(b"HTTP/1.1 200 OK\r\nX-Secret: s3cret\r\nContent-Length: 0\r\n\r\n")
    c.close()
EOF
    # A resolver that says every name is 127.0.0.1 (A; no AAAA).
    cat >"$TMP/dns.py" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("listening", flush=True)
while True:
    q, a = s.recvfrom(512)
    if len(q) < 17:
        continue
    end = q.index(b"\0", 12) + 5
    qtype = struct.unpack("!H", q[end - 4:end - 2])[0]
    an = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01" if qtype == 1 else b""
    hdr = q[:2] + b"\x81\x80" + struct.pack("!HHHH", 1, 1 if an else 0, 0, 0)
    s.sendto(hdr + q[12:end] + an, a)
EOF
    printf '#!/bin/sh\nexec ip netns exec %q python3 %q %s\n' "$NSP" "$TMP/listener.py" \
        "$HTTP_PORT" >"$TMP/listener.sh"
    printf '#!/bin/sh\nexec ip netns exec %q python3 %q 10.99.%s.2\n' "$NSS" "$TMP/dns.py" \
        "$IDX" >"$TMP/dns.sh"
}

write_lists() {
    cat >"$TMP/loopback.txt" <<EOF
tcp 127.0.0.1 $HTTP_PORT 1000 0 0
http 127.0.0.1 $HTTP_PORT 1000 0 0 admin.internal /admin X-Secret
dns 127.0.0.1 53 1000 0 0 example.net
EOF
    cat >"$TMP/own.txt" <<EOF
http 10.99.$IDX.1 $HTTP_PORT 1000 0 0 admin.internal /admin X-Secret
tcp 10.99.$IDX.1 $HTTP_PORT 1000 0 0
EOF
    cat >"$TMP/name.txt" <<EOF
http - $HTTP_PORT 500 0 0 admin.internal /admin X-Secret
EOF
}

write_wrappers() {
    policy_hostile_wrapper 8 "$TMP/loopback.txt $TMP/own.txt $TMP/name.txt"
    chmod +x "$TMP"/*.sh
}

write_config() {
    policy_probe "$IDX" <<EOF
resolvers = 10.99.$IDX.2
EOF
}

main() {
    local at line
    e2e_setup policy_local $IDX "$1" "$2"
    policy_require policy_local python3
    policy_ns_setup "$IDX"
    make_certs p1
    write_listener
    write_lists
    write_wrappers
    write_config
    : >"$TMP/none.ini"
    spawn listener "$TMP/listener.sh" "$TMP/none.ini"
    allow_exit listener
    spawn dns "$TMP/dns.sh" "$TMP/none.ini"
    allow_exit dns
    wait_log listener 0 "^listening" 10 >/dev/null || fail "the listener did not start"
    wait_log dns 0 "^listening" 10 >/dev/null || fail "the DNS responder did not start"
    # The listener logs what reaches it: checked once, by hand.
    ip netns exec "$NSP" bash -c "exec 3<>/dev/tcp/127.0.0.1/$HTTP_PORT; head -1 <&3" >/dev/null
    wait_log listener 0 "^connection from 127.0.0.1" 5 >/dev/null ||
        fail "the listener does not log connections"
    at=$(log_size listener)

    spawn hostile "$TMP/hostile.sh" "$TMP/none.ini"
    allow_exit hostile
    wait_log hostile 0 "^listening" 10 >/dev/null || fail "ixmesh-hostile did not start"
    spawn probe "$TMP/probe.sh" "$TMP/p1.ini"
    wait_log hostile 0 "^hello p1" 20 >/dev/null || fail "the probe never said HELLO"

    line=$(wait_log hostile "$(policy_sent_at 1)" "^error 9 policy allow_local: task 1 \(tcp to 127.0.0.1\)" 10) ||
        fail "list 1 (loopback) not refused for allow_local"
    note "list 1: $line"
    line=$(wait_log hostile "$(policy_sent_at 2)" "^error 9 policy allow_local: task 1 \(http to 10.99.$IDX.1\)" 10) ||
        fail "list 2 (own address) not refused for allow_local"
    note "list 2: $line"
    line=$(wait_log hostile "$(policy_sent_at 3)" "^why 1 policy allow_local: 127.0.0.1 is this host" 15) ||
        fail "list 3 (a name pointing at 127.0.0.1): no record saying why"
    note "list 3: $line"
    log_since hostile "$(policy_sent_at 3)" | grep -q "^error" && fail "list 3 was refused as a list"
    grep -q "admin.internal resolved: policy allow_local" "$TMP/probe.log" ||
        fail "the probe did not log the refused address"
    sleep 2
    grep -q "^closed" "$TMP/hostile.log" && fail "the session ended: $(grep '^closed' "$TMP/hostile.log")"
    if log_since listener "$at" | grep -q "^connection"; then
        fail "connections reached the host's own service: $(log_since listener "$at" | grep -c '^connection')"
    fi
    note "no connection reached the listener"
    stop probe
    note "ok"
}

main "$@"
