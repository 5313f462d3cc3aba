#!/usr/bin/env bash
#
# stamp_hmac.sh STAMP_HEX - the HMAC of authenticated STAMP packets (RFC 8762
# 4.2.2 and 4.3.2: HMAC-SHA-256 over octets 0-95, truncated to 128 bits, in
# octets 96-111), checked by code nobody here wrote.
#
# Our encoder (stamp_hex) writes packets for random keys and values; openssl
# dgst, and Python's hmac module where /usr/bin/python3 is, compute the HMAC
# over octets 0-95 on their own, and the first 16 octets must be those in
# the packet.  The other way round, packets laid out here from the RFC's
# figures and signed by openssl must decode with our decoder to the values
# written, and fail with -EACCES (-13) under another key or with one bit
# flipped.  Without openssl the test is skipped with exit code 77, loudly.
set -u

hex_tool=${1:?usage: stamp_hmac.sh PATH_TO_STAMP_HEX}
py=/usr/bin/python3

skip() {
    echo "########################################################" >&2
    echo "## proto.stamp_hmac SKIPPED: $*" >&2
    echo "## the STAMP HMAC was NOT checked against another implementation" >&2
    echo "########################################################" >&2
    exit 77
}

fail() {
    echo "proto.stamp_hmac FAILED: $*" >&2
    exit 1
}

command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
command -v perl >/dev/null 2>&1 || skip "perl is not installed"
[ -x "$hex_tool" ] || fail "$hex_tool is not an executable"
have_py=0
[ -x "$py" ] && "$py" -c 'import hmac, hashlib' 2>/dev/null && have_py=1

checks=0

unhex() { perl -e 'print pack("H*", $ARGV[0])' "$1"; }

rand_hex() { # octets
    od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'
}

hmac_openssl() { # key hex, data hex -> first 16 octets, hex
    unhex "$2" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" -r | cut -c1-32
}

hmac_python() {
    "$py" -c 'import hmac, hashlib, sys
print(hmac.new(bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]),
               hashlib.sha256).hexdigest()[:32])' "$1" "$2"
}

# The HMAC in octets 96-111 of packet $2 (hex) must be what others compute.
check_hmac() { # name, packet hex, key hex
    local covered=${2:0:192} got=${2:192:32} want
    want=$(hmac_openssl "$3" "$covered") || fail "openssl dgst failed"
    [ "$got" = "$want" ] || fail "$1: HMAC $got, openssl computes $want"
    checks=$((checks + 1))
    if [ "$have_py" = 1 ]; then
        want=$(hmac_python "$3" "$covered") || fail "python hmac failed"
        [ "$got" = "$want" ] || fail "$1: HMAC $got, python computes $want"
        checks=$((checks + 1))
    fi
}

# Decodes $2 under key $3 and compares every name=value of $4 with ours.
check_decode() { # name, packet hex, key hex, expected name=value lines
    local out line
    out=$(echo "$2" | "$hex_tool" decode "${1%% *}" "$3") || fail "$1: our decoder refused it: $out"
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        grep -qx -- "$line" <<<"$out" || fail "$1: expected $line, decoded:
$out"
    done <<<"$4"
    checks=$((checks + 1))
}

# Must be refused with -EACCES (-13).
check_refused() { # kind, packet hex, key hex, what
    local out
    out=$(echo "$2" | "$hex_tool" decode "$1" "$3")
    [ "$out" = "error=-13" ] || fail "$1 $4 was not refused with -EACCES: $out"
    checks=$((checks + 1))
}

flip_bit() { # packet hex, bit index -> hex
    perl -e 'my $b = pack("H*", $ARGV[0]); vec($b, $ARGV[1] ^ 7, 1) ^= 1;
             print unpack("H*", $b)' "$1" "$2"
}

u32() { printf '%08x' "$1"; }
u64() { printf '%016x' "$1"; }

# Values for one packet: seq, ts, err (S Z scale mult), ssid, rx_ts, sender
# fields, TTL, all from $RANDOM so each run tries other octets.
random_values() {
    seq=$(((RANDOM << 16) | RANDOM))
    ts=$(((RANDOM << 48) | (RANDOM << 32) | (RANDOM << 16) | RANDOM))
    es=$((RANDOM % 2)) ez=$((RANDOM % 2)) escale=$((RANDOM % 64)) emult=$((1 + RANDOM % 255))
    ssid=$((RANDOM * 2 % 65536))
    rx=$(((RANDOM << 48) | (RANDOM << 32) | (RANDOM << 16) | RANDOM))
    sseq=$(((RANDOM << 16) | RANDOM))
    sts=$(((RANDOM << 48) | (RANDOM << 32) | (RANDOM << 16) | RANDOM))
    ss=$((RANDOM % 2)) sz=$((RANDOM % 2)) sscale=$((RANDOM % 64)) smult=$((1 + RANDOM % 255))
    ttl=$((RANDOM % 256))
    # $ts and friends are signed in bash; print them as the tool does.
    ts_u=$(printf '%u' "$ts") rx_u=$(printf '%u' "$rx") sts_u=$(printf '%u' "$sts")
}

sender_fields() {
    printf 'seq=%u\nts=%s\nerr_s=%u\nerr_z=%u\nerr_scale=%u\nerr_mult=%u\nssid=%u\n' \
        "$seq" "$ts_u" "$es" "$ez" "$escale" "$emult" "$ssid"
}

reflector_fields() {
    sender_fields
    printf 'rx_ts=%s\nsender_seq=%u\nsender_ts=%s\n' "$rx_u" "$sseq" "$sts_u"
    printf 'sender_err_s=%u\nsender_err_z=%u\nsender_err_scale=%u\nsender_err_mult=%u\n' \
        "$ss" "$sz" "$sscale" "$smult"
    printf 'sender_ttl=%u\n' "$ttl"
}

errest_hex() { printf '%04x' $((($1 << 15) | ($2 << 14) | ($3 << 8) | $4)); }

# RFC 8762 4.2.2 Figure 3 (SSID per RFC 8972 3), octets 0-95, by hand.
sender_layout() {
    local z12=000000000000000000000000
    echo "$(u32 "$seq")$z12$(u64 "$ts")$(errest_hex "$es" "$ez" "$escale" "$emult")$(printf %04x "$ssid")$(printf '%0136d' 0)"
}

# RFC 8762 4.3.2 Figure 5, octets 0-95, by hand.
reflector_layout() {
    local z12=000000000000000000000000
    printf '%s' "$(u32 "$seq")$z12$(u64 "$ts")$(errest_hex "$es" "$ez" "$escale" "$emult")"
    printf '%s' "$(printf %04x "$ssid")00000000$(u64 "$rx")0000000000000000"
    printf '%s' "$(u32 "$sseq")$z12$(u64 "$sts")$(errest_hex "$ss" "$sz" "$sscale" "$smult")"
    printf '%s\n' "000000000000$(printf %02x "$ttl")$(printf '%030d' 0)"
}

for round in $(seq 1 12); do
    if [ "$round" = 1 ]; then
        key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
    else
        key=$(rand_hex 32)
    fi
    other=$(rand_hex 32)
    random_values
    len=$((112 + (round - 1) * 17))
    for kind in sender reflector; do
        fields=$("${kind}_fields")
        # Ours, checked by openssl and Python.
        pkt=$(printf '%s\nlen=%u\n' "$fields" "$len" | "$hex_tool" encode "$kind" "$key") ||
            fail "our $kind encoder failed: $pkt"
        [ "${#pkt}" = $((2 * len)) ] || fail "our $kind packet is ${#pkt} hex digits, not $((2 * len))"
        check_hmac "our $kind packet" "$pkt" "$key"
        [ "${pkt:0:192}" = "$("${kind}_layout")" ] ||
            fail "our $kind octets 0-95 differ from the RFC layout:
 ours $pkt
 want $("${kind}_layout")"
        check_decode "$kind (ours)" "$pkt" "$key" "$fields"
        check_refused "$kind" "$pkt" "$other" "under another key"
        # Built and signed here, read by ours.
        covered=$("${kind}_layout")
        pkt="$covered$(hmac_openssl "$key" "$covered")"
        check_decode "$kind (openssl-signed)" "$pkt" "$key" "$fields"
        check_refused "$kind" "$(flip_bit "$pkt" $((RANDOM % 896)))" "$key" "with a bit flipped"
    done
done

echo "proto.stamp_hmac: $checks checks passed (openssl$([ "$have_py" = 1 ] && echo ' and python3 hmac'))"
