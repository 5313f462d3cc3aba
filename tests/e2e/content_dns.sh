#!/bin/bash
# e2e.content_dns: the dns method and the probe's own resolver against a
# real unbound on loopback (IPv4 and IPv6), through
# `ixmesh-probe measure dns ... --json`:
#   OK with the answer count for content.ixmesh.test A and AAAA;
#   NXDOMAIN for a name the static zone ixmesh.test does not hold;
#   SERVFAIL for fail.test, forwarded to an upstream that refuses
#   everything (unbound gives up at once and answers SERVFAIL);
#   dns_refused for refuse.test (a local-zone of type refuse);
#   timeout from a UDP socket that takes queries and never answers;
#   and the resolver: `measure icmp content.ixmesh.test --resolver` reaches
#   the address unbound gives for the name (when the icmp method is built).
#
# Not used: unbound's own timeout on a dead upstream (infra-host-ttl 0,
# outbound-msg-retry 0 with a forward to a closed port) made unbound 1.17
# spin at full CPU and stop answering, and its SERVFAIL time varies.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IDX=19
DNS_PORT=$((15300 + IDX))   # unbound
REFUSER_PORT=$((15340 + IDX)) # upstream of fail.test: REFUSED to everything
SILENT_PORT=$((15380 + IDX))  # takes queries, never answers

# measure ARGS...: the probe's JSON line (failures included: the command's
# status only says whether anything answered).
measure() {
    "$PROBE_BIN" measure "$@" --json 2>>"$TMP/measure.err" || true
}

# A UDP server in Python: "refuse" answers every query with its own ID
# and question, QR and RCODE 5 (RFC 1035 4.1.1); "silent" reads and drops.
start_udp() {
    local name=$1 mode=$2 port=$3
    cat >"$TMP/$name.py" <<'EOF'
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
print("listening", mode, port, flush=True)
while True:
    d, a = s.recvfrom(4096)
    if mode == "refuse" and len(d) >= 12:
        s.sendto(d[:2] + bytes([0x80 | (d[2] & 0x79), 0x05]) + d[4:6] + bytes(6) + d[12:], a)
EOF
    printf '#!/bin/sh\nexec %q %q %q %q\n' "$PY" "$TMP/$name.py" "$mode" "$port" >"$TMP/$name.sh"
    chmod +x "$TMP/$name.sh"
    spawn "$name" "$TMP/$name.sh" "$TMP/none.ini"
}

write_unbound() {
    mkdir -p "$TMP/unbound"
    cat >"$TMP/unbound/unbound.conf" <<EOF
server:
  username: ""
  chroot: ""
  directory: "$TMP/unbound"
  pidfile: "$TMP/unbound/unbound.pid"
  do-daemonize: no
  use-syslog: no
  logfile: ""
  verbosity: 1
  interface: 127.0.0.1@$DNS_PORT
  interface: ::1@$DNS_PORT
  access-control: 127.0.0.0/8 allow
  access-control: ::1 allow
  do-not-query-localhost: no
  module-config: "iterator"
  # test. is one of unbound's default static zones (RFC 6761): undo that,
  # so that fail.test. reaches its forward-zone.
  local-zone: "test." nodefault
  local-zone: "ixmesh.test." static
  local-data: "content.ixmesh.test. 60 IN A 127.0.0.53"
  local-data: "content.ixmesh.test. 60 IN AAAA ::1"
  local-zone: "refuse.test." refuse
forward-zone:
  name: "fail.test."
  forward-addr: 127.0.0.1@$REFUSER_PORT
EOF
    printf '#!/bin/sh\nexec unbound -d -c %q\n' "$TMP/unbound/unbound.conf" >"$TMP/unbound.sh"
    chmod +x "$TMP/unbound.sh"
}

# wait_dns: until unbound answers (up to 10 s).
wait_dns() {
    local i out
    for ((i = 0; i < 50; i++)); do
        out=$(measure dns "127.0.0.1:$DNS_PORT" --query content.ixmesh.test --count 1 --timeout 200)
        [[ $out == *'"received":1'* ]] && return 0
        alive unbound || fail "unbound died: $(tail -5 "$TMP/unbound.log")"
        sleep 0.2
    done
    fail "unbound does not answer on port $DNS_PORT: $(tail -5 "$TMP/unbound.log")"
}

main() {
    local out t0 t1

    e2e_setup content_dns $IDX "$1" "$2"
    command -v unbound >/dev/null || {
        echo "SKIP [content_dns]: unbound is not installed" >&2
        exit 77
    }
    for p in $DNS_PORT $REFUSER_PORT $SILENT_PORT; do
        port_free udp "$p" || fail "UDP port $p is already in use"
    done
    : >"$TMP/none.ini"
    start_udp refuser refuse $REFUSER_PORT
    start_udp silent silent $SILENT_PORT
    write_unbound
    spawn unbound "$TMP/unbound.sh" "$TMP/none.ini"
    wait_dns

    out=$(measure dns "127.0.0.1:$DNS_PORT" --query content.ixmesh.test --count 3 --interval 100)
    expect "A over IPv4" "$out" \
        'd["method"] == "dns" and d["sent"] == 3 and d["received"] == 3 and d["outcomes"] == {} and d["dns_rcode"] == "NOERROR" and d["dns_answers"] == 1 and 0 < d["rtt_max_ms"] < 200'
    out=$(measure dns "[::1]:$DNS_PORT" --query content.ixmesh.test --qtype AAAA --count 2 --interval 100)
    expect "AAAA over IPv6" "$out" \
        'd["received"] == 2 and d["dns_rcode"] == "NOERROR" and d["dns_answers"] == 1'
    out=$(measure dns "127.0.0.1:$DNS_PORT" --query ixmesh.test --qtype AAAA --count 1)
    expect "no data" "$out" \
        'd["received"] == 1 and d["dns_rcode"] == "NOERROR" and d["dns_answers"] == 0'

    out=$(measure dns "127.0.0.1:$DNS_PORT" --query nope.ixmesh.test --count 2 --interval 100)
    expect "NXDOMAIN" "$out" \
        'd["sent"] == 2 and d["received"] == 0 and d["outcomes"] == {"nxdomain": 2} and d["why"] == "NXDOMAIN for nope.ixmesh.test" and d["dns_rcode"] == "NXDOMAIN" and d["dns_answers"] == 0'

    out=$(measure dns "127.0.0.1:$DNS_PORT" --query www.fail.test --count 2 --interval 100 --timeout 2000)
    expect "SERVFAIL" "$out" \
        'd["received"] == 0 and d["outcomes"] == {"servfail": 2} and d["why"] == "SERVFAIL for www.fail.test" and d["dns_rcode"] == "SERVFAIL"'

    out=$(measure dns "[::1]:$DNS_PORT" --query x.refuse.test --count 2 --interval 100)
    expect "REFUSED" "$out" \
        'd["received"] == 0 and d["outcomes"] == {"dns_refused": 2} and d["why"] == "REFUSED for x.refuse.test" and d["dns_rcode"] == "REFUSED"'

    t0=$(date +%s%N)
    out=$(measure dns "127.0.0.1:$SILENT_PORT" --query content.ixmesh.test --count 2 --interval 100 --timeout 500)
    t1=$(date +%s%N)
    expect "timeout" "$out" \
        "d['sent'] == 2 and d['received'] == 0 and d['outcomes'] == {'timeout': 2} and d['why'] == 'no answer from 127.0.0.1 port $SILENT_PORT within 500 ms' and 'dns_rcode' not in d"
    (((t1 - t0) / 1000000 < 5000)) || fail "the timeouts took $(((t1 - t0) / 1000000)) ms"

    # The resolver: a name only, looked up at unbound, not /etc/resolv.conf.
    if "$PROBE_BIN" measure icmp --help 2>&1 | grep -q 'icmp' &&
        out=$(measure icmp content.ixmesh.test --resolver "127.0.0.1:$DNS_PORT" --count 2 --interval 100) &&
        [[ $out == *'"method":"icmp"'* ]]; then
        expect "icmp to a name through --resolver" "$out" \
            'd["sent"] >= 1 and d["received"] == d["sent"] and d["outcomes"] == {}'
        out=$(measure icmp nope.ixmesh.test --resolver "127.0.0.1:$DNS_PORT" --count 1)
        expect "icmp to a name that does not resolve" "$out" \
            'd["sent"] >= 1 and d["received"] == 0 and d["outcomes"].get("resolve") == d["sent"] and d["why"] == "nope.ixmesh.test does not resolve: Domain name not found"'
    else
        note "SKIP resolver through icmp: measure icmp unavailable: ${out:-} $(tail -2 "$TMP/measure.err")"
    fi

    alive unbound || fail "unbound died"
    stop unbound
    stop refuser
    stop silent
    note "ok"
}

main "$@"
