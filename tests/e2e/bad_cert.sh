#!/bin/bash
# e2e.bad_cert: the controller lets in only certificates of its own CA.
#
# With one good probe connected (so we know the setup works), these are
# refused, each with a line in the controller's log, and none of them ever
# shows up in /api/v1/probes:
#   - a probe whose certificate another CA signed;
#   - a TLS client that presents no certificate at all;
#   - a probe whose id is not its certificate's CN.
# A probe that finds the controller's certificate does not carry the name it
# expects refuses the controller, and says so in its own log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REFUSED='refus|reject|certificate|handshake|verif|alert|closing'

# never_listed ID...: none of the ids appears in /api/v1/probes.
never_listed() {
    local id ids
    ids=" $(all_ids) "
    for id in "$@"; do
        [[ $ids != *" $id "* ]] ||
            fail "probe $id is in /api/v1/probes although it was refused: $(cat "$TMP/probes.json")"
    done
}

main() {
    local off line rc

    e2e_setup bad_cert 2 "$1" "$2"
    make_certs p1 p7 --rogue p9
    start_controller
    start_probe p1 1
    wait_connected 15 p1

    note "a probe with a certificate of another CA"
    off=$(log_size controller)
    start_probe p9 9
    allow_exit p9
    line=$(wait_log controller "$off" "$REFUSED" 15) ||
        fail "no line about the refused certificate in the controller's log: $(log_since controller "$off")"
    note "controller: $line"

    note "a TLS client without a certificate"
    off=$(log_size controller)
    rc=0
    timeout 10 openssl s_client -connect "127.0.0.1:$CHAN_PORT" -tls1_3 \
        -CAfile "$TMP/pki/ca.pem" -verify_return_error -nocommands \
        </dev/null >"$TMP/nocert.out" 2>&1 || rc=$?
    ((rc != 124)) || fail "openssl s_client without a certificate hung for 10 s"
    line=$(wait_log controller "$off" "$REFUSED" 10) ||
        fail "no line about the client without a certificate in the controller's log: $(log_since controller "$off")"
    note "controller: $line"

    note "a probe whose id (p8) is not its certificate's CN (p7)"
    off=$(log_size controller)
    start_probe p8 8 p7
    allow_exit p8
    line=$(wait_log controller "$off" "refus|reject|mismatch|does not match|not match|closing" 15) ||
        fail "no line about the id/CN mismatch in the controller's log: $(log_since controller "$off")"
    note "controller: $line"

    note "a probe expecting another name in the controller's certificate"
    start_probe p6 6 p1 ixmesh.invalid
    allow_exit p6
    off=0
    line=$(wait_log p6 "$off" 'certificate|verif|handshake|name|mismatch' 15) ||
        fail "probe p6 did not log that the controller's certificate has the wrong name: $(cat "$TMP/p6.log")"
    note "p6: $line"

    # Give the refused ones time to retry, then look again.
    sleep 3
    never_listed p9 p8 p7 p6
    wait_connected 5 p1
    alive controller || fail "the controller died"
    alive p1 || fail "the good probe died"

    stop p1
    stop controller
}

main "$@"
