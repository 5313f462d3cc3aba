#!/usr/bin/env bash
#
# stamp_interop.sh STAMP_EMIT - a STAMP decoder nobody here wrote must agree
# with ours.
#
# stamp_emit sends one Session-Sender and one Session-Reflector packet
# (RFC 8762 4.2.1, 4.3.1) to 127.0.0.1:PORT and prints the values it encoded.
# We capture both datagrams on the loopback interface, let Wireshark's
# TWAMP-Test dissector (STAMP is wire-compatible with TWAMP-Light) decode
# them, and compare field by field.  Any difference fails the test.
#
# Capturing needs root (or CAP_NET_RAW for dumpcap) and tshark: without
# either the test is skipped with exit code 77, loudly.
set -u

emit=${1:?usage: stamp_interop.sh PATH_TO_STAMP_EMIT}
tmp=
cap_pid=

skip() {
    echo "########################################################" >&2
    echo "## proto.stamp_tshark SKIPPED: $*" >&2
    echo "## the STAMP wire format was NOT checked against Wireshark" >&2
    echo "########################################################" >&2
    exit 77
}

fail() {
    echo "proto.stamp_tshark FAILED: $*" >&2
    exit 1
}

cleanup() {
    if [ -n "$cap_pid" ] && kill -0 "$cap_pid" 2>/dev/null; then
        kill "$cap_pid" 2>/dev/null
        wait "$cap_pid" 2>/dev/null
    fi
    [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT

[ "${EUID:-1}" -eq 0 ] || skip "not root, cannot capture on lo"
command -v tshark >/dev/null 2>&1 || skip "tshark is not installed"
[ -x "$emit" ] || fail "$emit is not an executable"
tshark -G fields 2>/dev/null | grep -q 'twamp\.test\.sender_ttl' ||
    skip "this tshark has no TWAMP-Test dissector"

tmp=$(mktemp -d) || fail "mktemp"

# Starts a capture of what reaches 127.0.0.1:$1, stopping by itself after two
# packets or 20 seconds, and waits until it really listens.
start_capture() {
    : >"$tmp/tshark.err"
    tshark -i lo -f "udp and dst host 127.0.0.1 and dst port $1" -c 2 -a duration:20 \
        -w "$tmp/cap.pcapng" -q 2>"$tmp/tshark.err" &
    cap_pid=$!
    for _ in $(seq 100); do
        grep -q "Capturing on" "$tmp/tshark.err" && { sleep 0.5; return 0; }
        kill -0 "$cap_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$tmp/tshark.err" >&2
    fail "tshark did not start capturing on lo"
}

# A random high port; stamp_emit exits 2 when it is taken, and we try another.
port=
for _ in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 40000))
    start_capture "$p"
    "$emit" "$p" >"$tmp/values"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        port=$p
        break
    fi
    kill "$cap_pid" 2>/dev/null
    wait "$cap_pid" 2>/dev/null
    cap_pid=
    [ "$rc" -eq 2 ] || fail "stamp_emit exited with $rc"
done
[ -n "$port" ] || fail "no free UDP port found"
wait "$cap_pid"
cap_pid=

# What we encoded, as name=value lines.
declare -A ours
while IFS='=' read -r k v; do
    ours[$k]=$v
done <"$tmp/values"

fields=(udp.length twamp.test.seq_number twamp.test.timestamp
    twamp.test.error_estimate twamp.test.error_estimate.s twamp.test.error_estimate.z
    twamp.test.error_estimate.scale twamp.test.error_estimate.multiplier
    twamp.test.mbz1 twamp.test.receive_timestamp twamp.test.sender_seq_number
    twamp.test.sender_timestamp twamp.test.sender_error_estimate twamp.test.mbz2
    twamp.test.sender_ttl)
args=()
for f in "${fields[@]}"; do
    args+=(-e "$f")
done
# TZ=UTC: absolute times are printed in the local zone.  Repeated fields (the
# S, Z, Scale and Multiplier of each Error Estimate) come comma-separated.
TZ=UTC tshark -r "$tmp/cap.pcapng" -d "udp.port==$port,twamp.test" -T fields \
    -E separator='|' -E occurrence=a -E aggregator=, "${args[@]}" \
    >"$tmp/decoded" 2>"$tmp/decode.err" || {
    cat "$tmp/decode.err" >&2
    fail "tshark could not read the capture"
}
echo "tshark decoded (${fields[*]}):"
cat "$tmp/decoded"
[ "$(wc -l <"$tmp/decoded")" -eq 2 ] || fail "expected 2 packets in the capture"

# Wireshark's time text ("Nov 14, 2023 22:13:20.123456788 UTC", or ISO 8601
# in later versions) to nanoseconds since the Unix epoch.
time_ns() {
    local re='^(.*[0-9][0-9]:[0-9][0-9]:[0-9][0-9])\.([0-9]{9})(.*)$' sec
    [[ $1 =~ $re ]] || return 1
    sec=$(date -u -d "${BASH_REMATCH[1]}${BASH_REMATCH[3]}" +%s 2>/dev/null) || return 1
    echo $((sec * 1000000000 + 10#${BASH_REMATCH[2]}))
}

bad=0
report() { # name, ours, theirs, verdict
    printf '  %-28s ours=%-24s tshark=%-40s %s\n' "$1" "$2" "$3" "$4"
    [ "$4" = ok ] || bad=1
}

same() { # name, ours, theirs
    if [ "$2" = "$3" ]; then report "$1" "$2" "$3" ok; else report "$1" "$2" "$3" MISMATCH; fi
}

# Timestamps agree within tol ns: Wireshark truncates an NTP fraction to
# whole nanoseconds where we round, so NTP allows 1 ns; PTP is exact.
same_time() { # name, ours (sec.nsec), theirs (text), tol
    local a b d
    a=$((${2%.*} * 1000000000 + 10#${2#*.}))
    if ! b=$(time_ns "$3"); then
        report "$1" "$2" "$3" MISMATCH
        return
    fi
    d=$((a - b))
    if [ "${d#-}" -le "$4" ]; then report "$1" "$2" "$3" ok; else report "$1" "$2" "$3" MISMATCH; fi
}

nth() { # comma list, 1-based index
    echo "$1" | cut -d, -f"$2"
}

# Booleans print as 1/0 or True/False depending on the version.
bool() {
    case $1 in 1 | True | TRUE | true) echo 1 ;; 0 | False | FALSE | false) echo 0 ;; *) echo "$1" ;; esac
}

tol_for() { # the Z bit of the Error Estimate that governs a timestamp
    if [ "$1" = 1 ]; then echo 0; else echo 1; fi
}

# Our own errest followed by, for the reflector, the copied sender's one.
check_errest() { # prefix in ours, tshark s, z, scale, mult lists, index, name
    local p=$1 i=$6
    same "$7 S" "${ours[${p}_s]}" "$(bool "$(nth "$2" "$i")")"
    same "$7 Z" "${ours[${p}_z]}" "$(bool "$(nth "$3" "$i")")"
    same "$7 Scale" "${ours[${p}_scale]}" "$(nth "$4" "$i")"
    same "$7 Multiplier" "${ours[${p}_mult]}" "$(nth "$5" "$i")"
}

IFS='|' read -r len seq ts err es ez escale emult mbz1 rx sseq sts serr mbz2 ttl \
    < <(sed -n 1p "$tmp/decoded")
echo "Session-Sender packet (RFC 8762 4.2.1):"
same "UDP length" $((8 + ours[sender_len])) "$len"
same "Sequence Number" "${ours[sender_seq]}" "$seq"
same_time "Timestamp" "${ours[sender_ts]}" "$ts" "$(tol_for "${ours[sender_err_z]}")"
same "Error Estimate" "${ours[sender_err]}" "$err"
check_errest sender_err "$es" "$ez" "$escale" "$emult" 1 "Error Estimate"
# Wireshark reads any packet of 41+ octets with the reflector layout; in a
# Session-Sender packet those octets are MBZ and must read as zero.
same "MBZ as Sender Seq" 0 "$sseq"
same "MBZ as Sender TTL" 0 "$ttl"

IFS='|' read -r len seq ts err es ez escale emult mbz1 rx sseq sts serr mbz2 ttl \
    < <(sed -n 2p "$tmp/decoded")
echo "Session-Reflector packet (RFC 8762 4.3.1):"
same "UDP length" $((8 + ours[refl_len])) "$len"
same "Sequence Number" "${ours[refl_seq]}" "$seq"
same_time "Timestamp" "${ours[refl_ts]}" "$ts" "$(tol_for "${ours[refl_err_z]}")"
same "Error Estimate" "${ours[refl_err]}" "$err"
check_errest refl_err "$es" "$ez" "$escale" "$emult" 1 "Error Estimate"
same "MBZ (14-15)" 0 "$mbz1"
same_time "Receive Timestamp" "${ours[refl_rx_ts]}" "$rx" "$(tol_for "${ours[refl_err_z]}")"
same "Sender Sequence Number" "${ours[refl_sender_seq]}" "$sseq"
same_time "Sender Timestamp" "${ours[refl_sender_ts]}" "$sts" \
    "$(tol_for "${ours[refl_sender_err_z]}")"
same "Sender Error Estimate" "${ours[refl_sender_err]}" "$serr"
check_errest refl_sender_err "$es" "$ez" "$escale" "$emult" 2 "Sender Error Estimate"
same "MBZ (38-39)" 0 "$mbz2"
same "Sender TTL" "${ours[refl_sender_ttl]}" "$ttl"

[ "$bad" -eq 0 ] || fail "Wireshark decodes our STAMP packets differently"
echo "proto.stamp_tshark: Wireshark agrees with our STAMP encoding"
