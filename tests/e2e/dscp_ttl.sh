#!/bin/bash
# e2e.dscp_ttl: what leaves the probe carries the task's DSCP and TTL 255,
# over IPv4 and IPv6, the reflector answers with TTL 255 too, and reading
# the reflector's Sender TTL back marks the pair one hop apart.  Checked on
# the wire: tshark captures the packets on lo.  And every request's send
# time is the kernel's transmit stamp.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# capture TARGET_ADDR: measures 3 packets with DSCP 46 to TARGET_ADDR while
# tshark captures them; prints "dst_port dscp ttl" per packet.
capture() {
    local addr=$1 host=$1 ip=ip json
    [[ $addr == *:* ]] && ip=ipv6 host=${addr//[\[\]]/}
    : >"$TMP/tshark.err"
    tshark -i lo -f "udp and host $host and port $STAMP_PORT" -c 6 -a duration:20 \
        -w "$TMP/cap.pcapng" -q 2>"$TMP/tshark.err" &
    local cap=$!
    for ((i = 0; i < 100; i++)); do
        grep -q "Capturing on" "$TMP/tshark.err" && break
        sleep 0.1
    done
    sleep 0.5
    json=$("$PROBE_BIN" measure stamp "$addr:$STAMP_PORT" --count 3 --interval 50 \
        --dscp 46 --json) || fail "measure failed: $json"
    wait "$cap" || true
    "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["path_class"])' "$json" \
        >"$TMP/path_class"
    if [[ $ip == ip ]]; then
        tshark -r "$TMP/cap.pcapng" -T fields -e udp.dstport -e ip.dsfield.dscp -e ip.ttl
    else
        tshark -r "$TMP/cap.pcapng" -T fields -e udp.dstport -e ipv6.tclass.dscp -e ipv6.hlim
    fi
}

main() {
    local target rows out
    e2e_setup dscp_ttl 16 "$1" "$2"
    if ((EUID != 0)) || ! command -v tshark >/dev/null; then
        echo "SKIP [dscp_ttl]: needs root and tshark to capture on lo -- NOT RUN" >&2
        exit 77
    fi
    printf '#!/bin/sh\nexec %q reflect --listen %q\n' "$PROBE_BIN" "[::]:$STAMP_PORT" \
        >"$TMP/reflect.sh"
    chmod +x "$TMP/reflect.sh"
    : >"$TMP/none.ini"
    spawn reflector "$TMP/reflect.sh" "$TMP/none.ini"
    sleep 0.5
    alive reflector || fail "the reflector did not start"

    for target in "$NET.1" "[::1]"; do
        rows=$(capture "$target")
        note "$target: port dscp ttl per packet: $(tr '\n\t' '; ' <<<"$rows")"
        [[ $(awk -v p="$STAMP_PORT" '$1 == p' <<<"$rows" | wc -l) == 3 ]] ||
            fail "$target: expected 3 requests on the wire: $rows"
        [[ $(awk '$1 != "" ' <<<"$rows" | wc -l) == 6 ]] ||
            fail "$target: expected 3 requests and 3 replies: $rows"
        awk -v p="$STAMP_PORT" '$1 == p && ($2 != 46 || $3 != 255) { exit 1 }' <<<"$rows" ||
            fail "$target: a request without DSCP 46 and TTL 255: $rows"
        awk -v p="$STAMP_PORT" '$1 != p && $3 != 255 { exit 1 }' <<<"$rows" ||
            fail "$target: a reply without TTL 255: $rows"
        [[ $(cat "$TMP/path_class") == one-hop ]] ||
            fail "$target: path_class $(cat "$TMP/path_class"), not one-hop"
    done
    # Every request timed by the kernel's transmit stamp (SO_TIMESTAMPING).
    out=$("$PROBE_BIN" measure stamp "$NET.1:$STAMP_PORT" --count 5 --interval 20) ||
        fail "measure failed: $out"
    grep -q "transmit times: 5 from the kernel, 0 from the clock" <<<"$out" ||
        fail "not every transmit time came from the kernel: $out"
    stop reflector
    note "PASS"
}

main "$@"
