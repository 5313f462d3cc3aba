#!/bin/bash
# e2e.stamp_short_reply: `ixmesh-probe measure stamp` against a TWAMP-Light
# responder that answers with 38 octets (RFC 5357 4.2.1 up to the Sender
# Error Estimate: no MBZ, no Sender TTL), over real sockets on loopback
# (issue 12).  Every reply counts, with its RTT, and the TTL and path class
# read unknown.  For contrast: 41-octet replies carry the TTL; 37-octet ones,
# and 38-octet ones without a Receive Timestamp, are refused (100 % loss).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# responder LEN [--zero-t2]: (re)starts the responder on 127.0.0.1:$STAMP_PORT.
responder() {
    local off args
    if alive responder; then
        stop responder
    fi
    printf -v args ' %q' "$@"
    printf '#!/bin/sh\nexec %q %q 127.0.0.1 %q%s\n' "$PY" \
        "$SRC_DIR/tests/e2e/twamp_light_responder.py" "$STAMP_PORT" "$args" \
        >"$TMP/responder.sh"
    chmod +x "$TMP/responder.sh"
    off=$(log_size responder)
    spawn responder "$TMP/responder.sh" "$TMP/none.ini"
    wait_log responder "$off" "^listening" 10 >/dev/null ||
        fail "the responder did not start: $(log_since responder "$off")"
}

main() {
    local json out
    e2e_setup stamp_short_reply 40 "$1" "$2"
    : >"$TMP/none.ini"
    port_free udp "$STAMP_PORT" || fail "UDP port $STAMP_PORT is already in use"

    responder 38
    json=$("$PROBE_BIN" measure stamp "127.0.0.1:$STAMP_PORT" --count 20 --interval 10 \
        --json 2>"$TMP/measure.err") || fail "measure failed: $json $(cat "$TMP/measure.err")"
    note "38 octets: $json"
    expect "all 20 counted" "$json" 'd["sent"] == 20 and d["received"] == 20'
    expect "no loss" "$json" 'd["loss_pct"] == 0 and d["outcomes"] == {}'
    expect "RTTs" "$json" 'all(isinstance(d[k], float) and 0 <= d[k] < 100 for k in (
        "rtt_min_ms", "rtt_p50_ms", "rtt_p90_ms", "rtt_p99_ms", "rtt_max_ms"))'
    expect "RTTs in order" "$json" '0 < d["rtt_max_ms"] and d["rtt_min_ms"] <= d["rtt_p50_ms"] <= d["rtt_max_ms"]'
    expect "path class unknown" "$json" 'd["path_class"] is None'

    out=$("$PROBE_BIN" measure stamp "127.0.0.1:$STAMP_PORT" --count 3 --interval 10) ||
        fail "measure failed: $out"
    [[ $(grep -cE "^38 octets from 127\.0\.0\.1 port $STAMP_PORT: seq=[0-2] ttl=unknown/[0-9]+ rtt=[0-9.]+ ms$" <<<"$out") == 3 ]] ||
        fail "38 octets: expected 3 reply lines with ttl=unknown/...: $out"
    grep -qE "^3 sent, 3 received, 0\.0% loss" <<<"$out" || fail "38 octets, text: $out"
    grep -qE "path unknown$" <<<"$out" || fail "38 octets: the path class is not unknown: $out"
    note "38 octets, text: reply lines with ttl=unknown, path unknown"

    # 41 octets: the Sender TTL is there (our 255 on arrival over loopback).
    responder 41
    out=$("$PROBE_BIN" measure stamp "127.0.0.1:$STAMP_PORT" --count 3 --interval 10) ||
        fail "measure failed: $out"
    [[ $(grep -cE "^41 octets from .*: seq=[0-2] ttl=255/[0-9]+ rtt=" <<<"$out") == 3 ]] ||
        fail "41 octets: expected 3 reply lines with ttl=255/...: $out"
    note "41 octets: ttl=255 read from the reply"

    # Refused as before: too short, or no Receive Timestamp.
    for mode in 37 "38 --zero-t2"; do
        # shellcheck disable=SC2086 # two words on purpose
        responder $mode
        json=$("$PROBE_BIN" measure stamp "127.0.0.1:$STAMP_PORT" --count 3 --interval 10 \
            --timeout 300 --json 2>"$TMP/measure.err") || true
        expect "$mode refused" "$json" 'd["sent"] == 3 and d["received"] == 0'
    done
    stop responder
    grep -qx "answered 3" "$TMP/responder.log" ||
        fail "the last responder did not answer 3 requests: $(tail -3 "$TMP/responder.log")"
    note "PASS"
}

main "$@"
