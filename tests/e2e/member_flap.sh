#!/bin/bash
# e2e.member_flap: a flapping member may not make the controller write and
# re-plan the whole mesh at its pace (issue 13).
#
# Two real probes measure each other.  A member (ixmesh-loadgen --flap)
# reconnects and says HELLO again the moment it has its TASKS, for 5 s.
# Its HELLOs beyond [exchange] hello_burst, then one per hello_interval,
# must be refused (ERROR naming the rule); the HELLOs accepted but unchanged
# must not be stored again nor re-plan the mesh: at most one full re-plan
# (its first join).  Then it announces other addresses twice in a row: the
# second change within address_change_interval is refused.  The two probes
# stay connected and measured throughout.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BURST=10
EVERY_S=6
SECS=5

# member ID-PREFIX SECONDS ARGS...
member() {
    local id=$1 secs=$2
    shift 2
    "$BIN_DIR/ixmesh-loadgen" --controller "127.0.0.1:$CHAN_PORT" \
        --ca "$TMP/pki/ca.pem" --ca-key "$TMP/pki/ca.key" --server-name 127.0.0.1 \
        --probes 1 --id-prefix "$id" --report-every 0 --results-every 0 \
        --duration "$secs" "$@" >>"$TMP/$id.log" 2>&1 ||
        fail "ixmesh-loadgen $id failed: $(cat "$TMP/$id.log")"
}

count() {
    log_since controller "$1" | grep -c -- "$2" || true
}

main() {
    e2e_setup member_flap 62 "$1" "$2"
    [[ -x $BIN_DIR/ixmesh-loadgen ]] || fail "no ixmesh-loadgen in $BIN_DIR"
    make_certs p1 p2
    write_controller_config
    sed -i "s/^prefixes = .*/&\nhello_burst = $BURST\nhello_interval = $EVERY_S/" \
        "$TMP/controller.ini"
    start_controller
    start_probe p1 1
    start_probe p2 2
    wait_pairs 30 p1 p2

    local off hellos refused replans unstored max
    off=$(log_size controller)
    member flap- "$SECS" --flap --announce "$NET.9" --stamp-port "$STAMP_PORT"
    hellos=$(count "$off" "probe flap-0001 (.*) connected")
    grep -q "controller sent ERROR: more than $BURST HELLOs" "$TMP/flap-.log" ||
        fail "the member was not told why: $(tail -5 "$TMP/flap-.log")"
    refused=$(grep -oE " errors_recv=[0-9]+" <(grep '^final ' "$TMP/flap-.log") | cut -d= -f2)
    replans=$(count "$off" "mesh of .* generation [0-9]*:")
    unstored=$(count "$off" "probe flap-0001: HELLO unchanged.*not stored again")
    note "in $SECS s: $hellos HELLOs accepted ($unstored of them not stored again)," \
        "$refused refused, $replans full re-plans"
    max=$((BURST + SECS / EVERY_S + 1))
    ((hellos >= 1 && hellos <= max)) || fail "$hellos HELLOs accepted in $SECS s, at most $max"
    ((refused >= 1)) || fail "no HELLO of the flood was refused"
    # ... and the log says so once (a line a minute), not once per HELLO.
    (($(count "$off" "probe flap-0001: .* refusals since the last report") == 1)) ||
        fail "not one log line about the refused HELLOs: $(log_since controller "$off" | grep -c flap-0001)"
    ((unstored == hellos - 1)) ||
        fail "$unstored of $hellos unchanged HELLOs were not stored again, want $((hellos - 1))"
    ((replans <= 1)) || fail "$replans full re-plans for one flapping member, at most 1"

    # Its addresses change, then change again at once.
    sleep "$EVERY_S" # a HELLO more is allowed
    sleep "$EVERY_S"
    off=$(log_size controller)
    member flap- 2 --announce "$NET.10" --stamp-port "$STAMP_PORT"
    member flap- 2 --announce "$NET.11" --stamp-port "$STAMP_PORT"
    (($(count "$off" "probe flap-0001 (.*) connected .*1 addresses") >= 1)) ||
        fail "the first change of addresses was refused: $(log_since controller "$off" | grep flap- | head -5)"
    (($(count "$off" "refusing flap-0001 .*addresses or STAMP port changed .* at most one change in 60 s") >= 1)) ||
        fail "the second change was not refused: $(log_since controller "$off" | grep flap- | head -5)"
    local j
    j=$(probes_eval '[p["refused"]["hellos"] for p in probes if p["id"] == "flap-0001"][0]')
    # Every ERROR the member got, over its three runs, is a refused HELLO;
    # each run may end before it read the ERROR of its last attempt.
    local errors
    errors=$(grep '^final ' "$TMP/flap-.log" | grep -oE " errors_recv=[0-9]+" |
        awk -F= '{ s += $2 } END { print s + 0 }')
    ((j >= errors && j <= errors + 3)) ||
        fail "/api/v1/probes counts $j HELLOs refused, the member got $errors ERRORs"

    [[ $(connected_ids) == *"p1 p2"* ]] || fail "the probes were disconnected: $(connected_ids)"
    wait_pairs 10 p1 p2
    alive controller || fail "the controller died"
    stop p1
    stop p2
    stop controller
}

main "$@"
