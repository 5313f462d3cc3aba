# lib.sh - shared functions of the testbed tests; sourced, not run.
#
# A test calls tb_setup NAME BINDIR SRCDIR first.  The tests bring up
# deploy/testbed.sh (namespaces named ixtb-*, so only one at a time: ctest
# holds RESOURCE_LOCK testbed), with its state in a fresh temporary directory
# (kept on failure, or when TB_KEEP is set), and take it down on any exit.
# They need root and network namespaces; without them they say so loudly and
# exit 77, which ctest reports as skipped, never as passed.
# shellcheck shell=bash

PY=/usr/bin/python3
TB_HTTP_PORT=18180

fail() {
    echo "FAIL [$TB_NAME]: $*" >&2
    exit 1
}

note() {
    echo "[$TB_NAME] $*"
}

skip() {
    echo "SKIP [$TB_NAME]: $* -- THIS TEST DID NOT RUN" >&2
    exit 77
}

# tb_setup NAME BINDIR SRCDIR
tb_setup() {
    TB_NAME=$1
    BIN_DIR=$2
    SRC_DIR=$3
    ((EUID == 0)) || skip "needs root (network namespaces, TAP devices, nftables)"
    ip netns add "ixtb-probe-$$" 2>/dev/null || skip "cannot create network namespaces here"
    ip netns del "ixtb-probe-$$"
    [[ -x $BIN_DIR/ixmesh-linkemu ]] || fail "no ixmesh-linkemu in $BIN_DIR"
    export IXMESH_BUILD_DIR
    IXMESH_BUILD_DIR=$(cd "$BIN_DIR/.." && pwd)
    TMP=$(mktemp -d "/tmp/ixmesh-tb-$TB_NAME.XXXXXX")
    # The testbed's daemons become their user (ixmesh): the state inside
    # must stay within their reach.
    chmod 0755 "$TMP"
    export IXMESH_TESTBED_STATE=$TMP/testbed
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    trap tb_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    note "state in $TMP"
}

tb() {
    bash "$SRC_DIR/deploy/testbed.sh" "$@"
}

# tb_up ARGS...: testbed.sh up on the tests' HTTP port, or fail with its logs.
tb_up() {
    tb up --http-port "$TB_HTTP_PORT" "$@" >"$TMP/up.log" 2>&1 ||
        fail "testbed.sh up $* failed: $(tail -n 30 "$TMP/up.log")"
    note "testbed up: $*"
}

# in_member K CMD...: runs CMD in member K's namespace.
in_member() {
    local k=$1
    shift
    ip netns exec "ixtb-m$k" "$@"
}

lan4() { echo "198.18.0.$1"; }

# measure K TARGET... -- OPTIONS: ixmesh-probe measure stamp from member K,
# one JSON object per target on stdout.
measure() {
    local k=$1
    shift
    in_member "$k" "$BIN_DIR/ixmesh-probe" measure stamp --json "$@"
}

# field JSON KEY: one field of a JSON object.
field() {
    "$PY" -c 'import json,sys; v = json.loads(sys.argv[1])[sys.argv[2]]; print("null" if v is None else v)' "$1" "$2"
}

# stop_mesh_probe K: stops member K's daemon, so that only a test's own
# packets cross its link (exact counts).
stop_mesh_probe() {
    local pid
    pid=$(awk -v n="m$1" '$1 == n { print $2 }' "$IXMESH_TESTBED_STATE/pids")
    [[ -n $pid ]] || fail "no pid recorded for m$1"
    kill -TERM "$pid"
}

# emu K_OR_CN ARGS...: the link emulator's control command for a node.
emu() {
    local node=$1
    shift
    "$BIN_DIR/ixmesh-linkemu" ctl "$IXMESH_TESTBED_STATE/run/$node.sock" "$@"
}

sanitizer_reports() {
    grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' \
        "$IXMESH_TESTBED_STATE"/log/*.log 2>/dev/null || true
}

tb_cleanup() {
    local rc=$? bad left
    trap - EXIT INT TERM
    if [[ -d $IXMESH_TESTBED_STATE/log ]]; then
        bad=$(sanitizer_reports)
        if [[ -n $bad ]]; then
            echo "FAIL [$TB_NAME]: sanitizer reports in: $bad" >&2
            for f in $bad; do tail -n 40 "$f" >&2; done
            rc=1
        fi
    fi
    if ((rc != 0)) && [[ -d $IXMESH_TESTBED_STATE/log ]]; then
        for f in "$IXMESH_TESTBED_STATE"/log/*.log; do
            echo "----- last lines of $f"
            tail -n 15 "$f"
        done
    fi
    # Keep the logs: down removes the run state, not log/.
    tb down >"$TMP/down.log" 2>&1 || { echo "testbed.sh down failed: $(cat "$TMP/down.log")" >&2; rc=1; }
    left=$(ip netns list | grep '^ixtb-' || true)
    if [[ -n $left ]]; then
        echo "FAIL [$TB_NAME]: namespaces left after down: $left" >&2
        rc=1
    fi
    if ((rc == 0)) && [[ -z ${TB_KEEP:-} ]]; then
        rm -rf "$TMP"
    else
        echo "----- files kept in $TMP"
    fi
    exit "$rc"
}
