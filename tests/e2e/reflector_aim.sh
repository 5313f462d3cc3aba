#!/bin/bash
# e2e.reflector_aim: the attack of issue 13, tried on a real reflector over
# loopback.  Before, the reflector's per-source rate buckets were an unkeyed
# FNV-1a of the source address modulo 4,096: a stranger could compute which
# address shares a victim's bucket and, flooding from it at more than the
# per-source rate, make the victim's requests look lost.  Now the bucket is
# a SipHash under a key drawn at random per process.
#
# As the attacker would: the victim is `ixmesh-probe measure stamp` on this
# host (its requests leave from the address the kernel picks, 127.0.0.1);
# an address of this test's loopback ranges (127.0.90-94.x, indices 70-74)
# that shared its OLD bucket is found offline (OLD_BUCKET_PY, the old
# mapping), and floods the reflector with valid requests at five times the
# per-source rate while the victim measures.  The reflector must refuse
# none of the victim's requests, and the victim must lose nothing.
#
# Honest chance: the attacker's address falls in the victim's bucket under
# the new key with chance 1/4,096 (then it fails as before: once in about
# 4,000 runs).  Loopback loses nothing, except that on a busy machine the
# flood may fill the reflector's socket buffer while it waits for a CPU, and
# the kernel drops what arrives then, the victim's too: any UDP service has
# that under a flood, whatever its limits.  So the victim's loss must be at
# most what the kernel counted as dropped on the reflector's socket
# (/proc/net/udp).  Against the old code (bash reflector_aim.sh OLD_BINDIR
# SRCDIR) the victim lost 14, 30 and 39 of 100 requests in three runs at
# 10,000/s (the reflector's log: "127.0.0.1 30" refused, none dropped, in
# the second), 16 of 50 at 20,000/s and 4 of 50 at 5,000/s.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FLOOD_PPS=10000 # five times PROBE_REFLECT_RATE
FLOOD_S=16
COUNT=100 # the victim's requests, 10 a second

# OLD_BUCKET_PY VICTIM: the first address of 127.0.90-94.1-254 whose old
# bucket (FNV-1a over the 4 address octets and a zero port and SSID, modulo
# 4,096; probe/reflect.c before issue 13) is the victim's.
# shellcheck disable=SC2016
OLD_BUCKET_PY='
import ipaddress, sys
def old_bucket(a):
    h = 2166136261
    for b in ipaddress.IPv4Address(a).packed + bytes(4):
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h % 4096
victim = sys.argv[1]
for c in range(90, 95):
    for d in range(1, 255):
        a = "127.0.%d.%d" % (c, d)
        if a != victim and old_bucket(a) == old_bucket(victim):
            print(a)
            sys.exit(0)
sys.exit(1)
'

# UDP_DROPS_PY ADDR PORT: the kernel's drop count of the IPv4 UDP socket
# bound there (/proc/net/udp, last column), or 0 when there is none.
# shellcheck disable=SC2016
UDP_DROPS_PY='
import socket, struct, sys
want = (sys.argv[1], int(sys.argv[2]))
drops = 0
with open("/proc/net/udp") as f:
    next(f)
    for line in f:
        fields = line.split()
        a, p = fields[1].split(":")
        if (socket.inet_ntoa(struct.pack("<I", int(a, 16))), int(p, 16)) == want:
            drops += int(fields[-1])
print(drops)
'

main() {
    local addr victim attacker flood json report drops

    e2e_setup reflector_aim 70 "$1" "$2"
    addr=$NET.1
    victim=$(ip -4 route get "$addr" | grep -o 'src [0-9.]*' | cut -d' ' -f2)
    [[ -n $victim ]] || fail "no source address for $addr in: $(ip -4 route get "$addr")"
    attacker=$("$PY" -c "$OLD_BUCKET_PY" "$victim") ||
        fail "no address of 127.0.90-94.x shares the old bucket of $victim"
    note "victim $victim, attacker $attacker (the same old FNV-1a bucket)"

    printf '#!/bin/sh\nexec %q reflect --listen %q --log-level info\n' "$PROBE_BIN" \
        "$addr:$STAMP_PORT" >"$TMP/reflect.sh"
    chmod +x "$TMP/reflect.sh"
    : >"$TMP/none.ini"
    spawn reflector "$TMP/reflect.sh" "$TMP/none.ini"
    wait_log reflector 0 "reflecting" 10 >/dev/null ||
        fail "the reflector did not start: $(log_since reflector 0)"

    "$PY" "$SRC_DIR/tests/e2e/stamp_flood.py" "$addr" "$STAMP_PORT" "$FLOOD_PPS" "$FLOOD_S" \
        "$attacker" >"$TMP/flood.json" &
    flood=$!
    sleep 3 # past the attacker's burst: its bucket is empty from here on
    json=$("$PROBE_BIN" measure stamp "$addr:$STAMP_PORT" --count "$COUNT" --interval 100 \
        --json 2>"$TMP/measure.err") || true
    wait "$flood" || fail "the flood failed"
    note "attacker: $(cat "$TMP/flood.json")"
    note "victim: $json"
    alive reflector || fail "the reflector died under the flood"
    drops=$("$PY" -c "$UDP_DROPS_PY" "$addr" "$STAMP_PORT")
    note "the kernel dropped $drops datagrams of the flood and the victim's on the reflector's socket"
    stop reflector

    # The flood was over the per-source rate, and the limit held it there.
    expect attacker-limited "$(cat "$TMP/flood.json")" \
        'd["sent_per_s"] > 2 * 2000 and 1000 <= d["steady_mean_per_s"] <= 2000 * 1.05'
    # What was refused is the attacker's alone, named in at most two reports
    # (the first refusal's, and the one at exit: one a minute).
    report=$(grep 'reflector: refused' "$TMP/reflector.log" || true)
    if grep -qF " $victim " <<<"$report"; then
        fail "the reflector refused requests of the victim $victim: $report"
    fi
    [[ $(grep -c . <<<"$report") -le 2 ]] || fail "more than two refusal reports: $report"
    grep -q "per source ($attacker [0-9]*)" <<<"$report" ||
        fail "the refusals do not name $attacker alone: $report"
    expect victim-untouched "$json" \
        'd["sent"] == '"$COUNT"' and d["sent"] - d["received"] <= '"$drops"
    note "ok"
}

main "$@"
