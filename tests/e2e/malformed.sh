#!/bin/bash
# e2e.malformed: garbage on one authenticated connection closes that
# connection only.
#
# Two real probes measure each other.  A client with a valid certificate (p3)
# then sends, each time on a new TLS 1.3 connection: a frame header announcing
# 4 GiB, an empty frame, a frame of bytes msgpack never uses, well-formed
# msgpack of the wrong shape, and random bytes.  Each time the controller must
# log why it closes the connection and close it; afterwards it must still be
# running and storing fresh records of both pairs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# send_garbage WHAT FILE: sends FILE's bytes as p3 and checks the outcome.
send_garbage() {
    local what=$1 file=$2 off rc=0 line
    off=$(log_size controller)
    timeout 10 openssl s_client -quiet -nocommands -tls1_3 \
        -connect "127.0.0.1:$CHAN_PORT" -CAfile "$TMP/pki/ca.pem" -verify_return_error \
        -cert "$TMP/pki/p3.pem" -key "$TMP/pki/p3.key" \
        <"$file" >"$TMP/s_client.out" 2>&1 || rc=$?
    ((rc != 124)) ||
        fail "$what: the controller kept the connection open for 10 s after the garbage"
    line=$(wait_log controller "$off" 'clos|refus|reject|invalid|malformed' 5) ||
        fail "$what: no reason for closing the connection in the controller's log: $(log_since controller "$off")"
    note "$what -> $line"
    alive controller || fail "$what: the controller died"
}

main() {
    local t

    e2e_setup malformed 3 "$1" "$2"
    make_certs p1 p2 p3
    start_controller
    start_probe p1 1
    start_probe p2 2
    wait_pairs 30 p1 p2

    printf '\xff\xff\xff\xff' >"$TMP/huge"
    send_garbage "frame header of 0xFFFFFFFF octets" "$TMP/huge"

    printf '\x00\x00\x00\x00' >"$TMP/empty"
    send_garbage "empty frame" "$TMP/empty"

    { printf '\x00\x00\x00\x10'; printf '\xc1%.0s' {1..16}; } >"$TMP/c1"
    send_garbage "16 octets of 0xc1 (never used in msgpack)" "$TMP/c1"

    # ["a", "b", {"c": -1}]: valid msgpack, not a message.
    printf '\x00\x00\x00\x09\x93\xa1a\xa1b\x81\xa1c\xff' >"$TMP/shape"
    send_garbage "msgpack array instead of a message" "$TMP/shape"

    # A map that claims 2^32-1 entries and holds none.
    printf '\x00\x00\x00\x05\xdf\xff\xff\xff\xff' >"$TMP/bigmap"
    send_garbage "msgpack map announcing 2^32-1 entries" "$TMP/bigmap"

    { printf '\x00\x00\x01\x00'; head -c 256 /dev/urandom; } >"$TMP/random"
    send_garbage "256 random octets" "$TMP/random"

    # The two real probes were not disturbed: fresh windows keep arriving.
    t=$(($(date +%s) + 1))
    wait_pairs --since "$t" 30 p1 p2
    wait_connected 5 p1 p2
    [[ " $(all_ids) " != *" p3 "* ]] ||
        fail "p3 never said HELLO but is in /api/v1/probes: $(cat "$TMP/probes.json")"

    stop p1
    stop p2
    stop controller
}

main "$@"
