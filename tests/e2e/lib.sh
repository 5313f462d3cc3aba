# lib.sh - shared functions of the end-to-end tests; sourced, not run.
#
# A test calls e2e_setup NAME INDEX BINDIR SRCDIR first.  INDEX (0-99, one
# per test; 0 is e2e.demo's) gives the test its own ports and loopback
# addresses, so that tests can run in parallel:
#   HTTP 18080+INDEX, probe channel 17862+INDEX, STAMP 18620+INDEX,
#   probe K on 127.0.(20+INDEX).K
# Everything lives in a fresh temporary directory (kept on failure, or when
# E2E_KEEP is set).  On exit, whatever the reason, every process the test
# started is stopped (SIGTERM, then SIGKILL); a daemon that did not exit with
# status 0 or whose log holds a sanitizer report fails the test, and on
# failure the end of every log is printed.
# shellcheck shell=bash

PY=/usr/bin/python3

E2E_NAMES=() # started processes: name, pid and log, same index
E2E_PIDS=()
E2E_LOGS=()
E2E_LAX=() # pids whose exit status does not matter (see allow_exit)
E2E_DONE=0

fail() {
    echo "FAIL [$E2E_NAME]: $*" >&2
    exit 1
}

note() {
    echo "[$E2E_NAME] $*"
}

# e2e_setup NAME INDEX BINDIR SRCDIR
e2e_setup() {
    E2E_NAME=$1
    local idx=$2
    # Past 99 the channel port (17862+i) would meet another test's HTTP port.
    [[ $idx =~ ^[0-9]{1,2}$ ]] || fail "e2e_setup: INDEX must be 0 to 99, not '$idx'"
    BIN_DIR=$3
    SRC_DIR=$4
    HTTP_PORT=$((18080 + idx))
    CHAN_PORT=$((17862 + idx))
    STAMP_PORT=$((18620 + idx))
    NET=127.0.$((20 + idx))
    BASE=http://127.0.0.1:$HTTP_PORT
    CONTROLLER_BIN=$BIN_DIR/ixmesh-controller
    PROBE_BIN=$BIN_DIR/ixmesh-probe
    MKCERTS=$SRC_DIR/deploy/mkcerts.sh

    # Sanitizer builds: report everything, and fail on the first finding.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

    [[ -x $CONTROLLER_BIN && -x $PROBE_BIN ]] ||
        fail "no ixmesh-controller / ixmesh-probe in $BIN_DIR"
    [[ -f $MKCERTS ]] || fail "no $MKCERTS"
    [[ -x $PY ]] || fail "$PY is needed to read the JSON"

    TMP=$(mktemp -d "/tmp/ixmesh-e2e-$E2E_NAME.XXXXXX")
    # Daemons started as root become their user (ixmesh) and must still
    # reach their spool and database in here; the keys in pki/ stay 0600.
    chmod 0755 "$TMP"
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    port_free tcp "$HTTP_PORT" || fail "TCP port $HTTP_PORT is already in use"
    port_free tcp "$CHAN_PORT" || fail "TCP port $CHAN_PORT is already in use"
    note "directory $TMP, HTTP $HTTP_PORT, channel $CHAN_PORT, STAMP $NET.x:$STAMP_PORT"
}

# port_free tcp|udp PORT
port_free() {
    local flag=-Hltn
    [[ $1 == udp ]] && flag=-Hlun
    [[ -z $(ss "$flag" "sport = :$2" 2>/dev/null) ]]
}

# make_certs ID... [--rogue ID]: the test's CA and certificates, in $TMP/pki.
make_certs() {
    bash "$MKCERTS" "$TMP/pki" "$@" >"$TMP/mkcerts.log" 2>&1 ||
        fail "mkcerts.sh failed: $(cat "$TMP/mkcerts.log")"
}

# write_controller_config: $TMP/controller.ini with a short window.
write_controller_config() {
    cat >"$TMP/controller.ini" <<EOF
[controller]
listen = 127.0.0.1:$CHAN_PORT
http = 127.0.0.1:$HTTP_PORT
ca = $TMP/pki/ca.pem
cert = $TMP/pki/controller.pem
key = $TMP/pki/controller.key
database = $TMP/ixmesh.db
log_level = debug

[exchange]
prefixes = $NET.0/24

[mesh]
window = 2
interval_ms = 200
timeout_ms = 500
size = 44
EOF
}

# spool_dir ID: where probe ID spools; $SPOOL_BASE_<ID> moves it (a test
# putting it on a small filesystem).
spool_dir() {
    local v="SPOOL_BASE_${1//[^A-Za-z0-9_]/_}"
    echo "${!v:-$TMP}/spool-$1"
}

# write_probe_config ID K [CERT [CONTROLLER_NAME]]: $TMP/ID.ini, probe ID on
# $NET.K, using certificate CERT (default ID) from $TMP/pki.
write_probe_config() {
    local id=$1 k=$2 cert=${3:-$1} cname=${4:-127.0.0.1}
    cat >"$TMP/$id.ini" <<EOF
[probe]
id = $id
name = Probe $id
controller = 127.0.0.1:$CHAN_PORT
controller_name = $cname
ca = $TMP/pki/ca.pem
cert = $TMP/pki/$cert.pem
key = $TMP/pki/$cert.key
stamp_listen = $NET.$k:$STAMP_PORT
addresses = $NET.$k
latitude = 24.8$k
longitude = 67.0$k
log_level = debug
spool_dir = $(spool_dir "$id")
; content nodes in these tests are services on this host (probe.ini allow_local)
allow_local = 127.0.0.0/8, ::1
EOF
}

# spawn NAME BINARY CONFIG: starts a daemon in the background, its output
# appended to $TMP/NAME.log.
spawn() {
    local name=$1 bin=$2 cfg=$3 log=$TMP/$1.log
    echo "=== $(date +%T.%N) started" >>"$log"
    "$bin" --config "$cfg" >>"$log" 2>&1 &
    E2E_NAMES+=("$name")
    E2E_PIDS+=("$!")
    E2E_LOGS+=("$log")
    eval "PID_${name//[^A-Za-z0-9_]/_}=$!"
}

# pid_of NAME: the pid of the last process started under NAME.
pid_of() {
    local v="PID_${1//[^A-Za-z0-9_]/_}"
    echo "${!v:-}"
}

alive() {
    local pid
    pid=$(pid_of "$1")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# allow_exit NAME: the process may end on its own with any status (a probe
# that gives up when refused, say); sanitizer reports still count.
allow_exit() {
    E2E_LAX+=("$(pid_of "$1")")
}

# start_controller: writes the configuration if missing, starts the
# controller and waits for its HTTP port.
start_controller() {
    [[ -f $TMP/controller.ini ]] || write_controller_config
    spawn controller "$CONTROLLER_BIN" "$TMP/controller.ini"
    wait_http
}

# start_probe ID K [CERT [CONTROLLER_NAME]]
start_probe() {
    write_probe_config "$@"
    spawn "$1" "$PROBE_BIN" "$TMP/$1.ini"
}

# stop NAME: SIGTERM, up to 10 s to exit, then SIGKILL.  Fails the test when
# the process does not exit with status 0.
stop() {
    local name=$1 pid st=0 i
    pid=$(pid_of "$name")
    [[ -n $pid ]] || fail "stop $name: never started"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        fail "$name (pid $pid) did not exit within 10 s of SIGTERM"
    fi
    wait "$pid" 2>/dev/null || st=$?
    ((st == 0)) || fail "$name (pid $pid) exited with status $st after SIGTERM (see its log)"
    echo "=== $(date +%T.%N) stopped" >>"$TMP/$name.log"
}

# sanitizer_reports: prints the logs holding a sanitizer report.
sanitizer_reports() {
    local log
    for log in "${E2E_LOGS[@]}"; do
        [[ -f $log ]] || continue
        if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' "$log"; then
            echo "$log"
        fi
    done | sort -u
}

e2e_cleanup() {
    local rc=$? i pid st log bad
    trap - EXIT INT TERM
    ((E2E_DONE)) && exit "$rc"
    E2E_DONE=1
    for i in "${!E2E_PIDS[@]}"; do
        pid=${E2E_PIDS[$i]}
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    done
    for ((i = 0; i < 100; i++)); do
        pid=
        for st in "${E2E_PIDS[@]}"; do
            if kill -0 "$st" 2>/dev/null; then pid=$st; fi
        done
        [[ -n $pid ]] || break
        sleep 0.1
    done
    for i in "${!E2E_PIDS[@]}"; do
        pid=${E2E_PIDS[$i]}
        if kill -0 "$pid" 2>/dev/null; then
            echo "FAIL [$E2E_NAME]: ${E2E_NAMES[$i]} (pid $pid) ignored SIGTERM for 10 s; killed" >&2
            kill -KILL "$pid" 2>/dev/null || true
            rc=1
        fi
        st=0
        wait "$pid" 2>/dev/null || st=$?
        # 127: already reaped by stop().
        if ((st != 0 && st != 127)) && ! printf '%s\n' "${E2E_LAX[@]}" | grep -qx "$pid"; then
            echo "FAIL [$E2E_NAME]: ${E2E_NAMES[$i]} (pid $pid) exited with status $st" >&2
            rc=1
        fi
    done
    # A test's own undoing (a mount, a firewall table), after its processes.
    [[ -n ${E2E_ON_EXIT:-} ]] && eval "$E2E_ON_EXIT"
    bad=$(sanitizer_reports)
    if [[ -n $bad ]]; then
        echo "FAIL [$E2E_NAME]: sanitizer report in: $bad" >&2
        rc=1
    fi
    if ((rc != 0)); then
        for log in $(printf '%s\n' "${E2E_LOGS[@]}" | sort -u); do
            echo "----- last lines of $log" >&2
            tail -n 60 "$log" >&2
        done
        echo "----- files kept in $TMP" >&2
    elif [[ -n ${E2E_KEEP:-} ]]; then
        echo "PASS [$E2E_NAME] (files kept in $TMP)"
    else
        rm -rf "$TMP"
        echo "PASS [$E2E_NAME]"
    fi
    exit "$rc"
}

# http_get PATH: the body, failing on any HTTP error.
http_get() {
    curl -fsS --max-time 5 "$BASE$1"
}

# http_status PATH: just the status code.
http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE$1" || true
}

wait_http() {
    local i
    for ((i = 0; i < 100; i++)); do
        curl -fsS -o /dev/null --max-time 2 "$BASE/api/v1/probes" 2>/dev/null && return 0
        alive controller || fail "the controller exited at start"
        sleep 0.2
    done
    fail "the controller's HTTP port $HTTP_PORT did not answer within 20 s"
}

# PAIRS_PY FILE ID...: checks that the map in FILE has, for every ordered
# pair of the ids, a STAMP record with sent > 0, no loss and 0 < p50 < 5 ms,
# and percentiles in order.  Prints what is wrong.
# shellcheck disable=SC2016
PAIRS_PY='
import json, sys
doc = json.load(open(sys.argv[1]))
ids = sys.argv[2:]
for key in ("generated_at", "window_s", "nodes", "pairs"):
    if key not in doc:
        print("no %r in the map" % key)
        sys.exit(1)
pairs = {(p.get("src"), p.get("dst")): p for p in doc["pairs"] if p.get("method") == "stamp"}
bad = []
def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)
for s in ids:
    for d in ids:
        if s == d:
            continue
        p = pairs.get((s, d))
        if p is None:
            bad.append("%s->%s missing" % (s, d))
            continue
        why = []
        if not (num(p.get("sent")) and p["sent"] > 0):
            why.append("sent=%r" % p.get("sent"))
        if not (num(p.get("received")) and p["received"] <= p.get("sent", 0)):
            why.append("received=%r" % p.get("received"))
        if p.get("loss_pct") != 0:
            why.append("loss_pct=%r" % p.get("loss_pct"))
        if not (num(p.get("rtt_p50_ms")) and 0 < p["rtt_p50_ms"] < 5):
            why.append("rtt_p50_ms=%r" % p.get("rtt_p50_ms"))
        else:
            q = [p.get(k) for k in ("rtt_min_ms", "rtt_p50_ms", "rtt_p90_ms", "rtt_p99_ms", "rtt_max_ms")]
            # 1 % sketch error, plus rounding to a microsecond.
            if not all(num(x) for x in q) or any(a > b * 1.02 + 0.002 for a, b in zip(q, q[1:])):
                why.append("percentiles out of order: min/p50/p90/p99/max=%r" % q)
        if why:
            bad.append("%s->%s %s" % (s, d, ", ".join(why)))
if bad:
    print("; ".join(bad))
    sys.exit(1)
'

# wait_pairs [--since EPOCH] TIMEOUT ID...: waits until the map shows every
# ordered pair of the ids as healthy.  With --since, only records of windows
# that started at or after EPOCH (seconds) count.
wait_pairs() {
    local since=0 timeout why window url t0
    if [[ $1 == --since ]]; then
        since=$2
        shift 2
    fi
    timeout=$1
    shift
    t0=$(date +%s)
    while :; do
        window=60
        if ((since > 0)); then
            # The map counts windows that started at most this many whole
            # seconds ago: never before `since`.
            window=$(($(date +%s) - since))
        fi
        url="/api/v1/map?window=$window"
        if ((window < 1)); then
            why="waiting for $since"
        elif http_get "$url" >"$TMP/map.json" 2>"$TMP/curl.err"; then
            why=$("$PY" -c "$PAIRS_PY" "$TMP/map.json" "$@" 2>&1) && {
                note "all $(($# * ($# - 1))) pairs healthy in $url"
                return 0
            }
        else
            why="GET $url failed: $(cat "$TMP/curl.err")"
        fi
        alive controller || fail "the controller died; $why"
        if (($(date +%s) - t0 >= timeout)); then
            echo "FAIL [$E2E_NAME]: after $timeout s the map is not healthy: $why" >&2
            echo "----- GET $url" >&2
            "$PY" -m json.tool "$TMP/map.json" >&2 2>/dev/null || cat "$TMP/map.json" >&2
            exit 1
        fi
        sleep 1
    done
}

# probes_eval EXPR: evaluates the Python expression EXPR with `probes` bound
# to the list of /api/v1/probes and prints the result.
probes_eval() {
    http_get /api/v1/probes >"$TMP/probes.json" || fail "GET /api/v1/probes failed"
    "$PY" -c 'import json, sys
probes = json.load(open(sys.argv[1]))["probes"]
print(eval(sys.argv[2]))' "$TMP/probes.json" "$1" ||
        fail "cannot read /api/v1/probes: $(cat "$TMP/probes.json")"
}

# connected_ids: the sorted ids /api/v1/probes calls connected, space-separated.
connected_ids() {
    probes_eval '" ".join(sorted(p["id"] for p in probes if p.get("connected") is True))'
}

# all_ids: every id /api/v1/probes lists, connected or not.
all_ids() {
    probes_eval '" ".join(sorted(p["id"] for p in probes))'
}

# wait_connected TIMEOUT ID...: waits until exactly these ids are connected.
wait_connected() {
    local timeout=$1 i want got
    shift
    want=$(printf '%s\n' "$@" | sort | xargs)
    for ((i = 0; i < timeout * 5; i++)); do
        got=$(connected_ids)
        [[ $got == "$want" ]] && return 0
        sleep 0.2
    done
    fail "after $timeout s the connected probes are '$got', not '$want': $(cat "$TMP/probes.json")"
}

# log_size NAME: the current size of NAME's log, to look at what follows.
log_size() {
    stat -c %s "$TMP/$1.log" 2>/dev/null || echo 0
}

# log_since NAME OFFSET: the part of NAME's log written after OFFSET.
log_since() {
    tail -c +"$(($2 + 1))" "$TMP/$1.log"
}

# wait_log NAME OFFSET REGEX TIMEOUT: waits for a line matching the extended
# REGEX (case-insensitive) after OFFSET; prints the first one.
wait_log() {
    local name=$1 off=$2 re=$3 timeout=$4 i line
    for ((i = 0; i < timeout * 5; i++)); do
        line=$(log_since "$name" "$off" | grep -Ei -m1 -- "$re" || true)
        if [[ -n $line ]]; then
            echo "$line"
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# expect NAME JSON PYEXPR: PYEXPR over the JSON object d (one line of
# ixmesh-probe measure --json, whose stderr went to $TMP/measure.err) must
# be true.
expect() {
    local name=$1 json=$2 expr=$3
    "$PY" -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
except ValueError:
    sys.exit(2)
sys.exit(0 if eval(sys.argv[2]) else 1)' "$json" "$expr" ||
        fail "$name: expected $expr, got: ${json:-nothing (see $TMP/measure.err)}"
    note "$name: ok"
}

# ---- deploy/demo.sh under test (e2e.demo, e2e.demo_start) ----------------
# They set STATE, TMP and DEMO_PID, and trap demo_cleanup on EXIT.

# leftovers: pids of ixmesh daemons whose command line names our state dir.
leftovers() {
    pgrep -f -- "$STATE/" || true
}

# demo_cleanup: runs before e2e_cleanup; stops the demo if the test failed
# half-way, then anything it may have left.
demo_cleanup() {
    local rc=$? pid
    if [[ -n $DEMO_PID ]] && kill -0 "$DEMO_PID" 2>/dev/null; then
        kill -TERM "$DEMO_PID" 2>/dev/null || true
        sleep 8
        kill -KILL "$DEMO_PID" 2>/dev/null || true
    fi
    for pid in $(leftovers); do kill -KILL "$pid" 2>/dev/null || true; done
    # The daemons' logs: printed on failure, searched for sanitizer reports.
    if [[ -d $STATE/log ]]; then E2E_LOGS+=("$STATE"/log/*.log); fi
    if ((rc != 0)) && [[ -f $TMP/demo.out ]]; then
        echo "----- output of deploy/demo.sh" >&2
        cat "$TMP/demo.out" >&2
    fi
    (exit "$rc")
    e2e_cleanup
}

# demo_wait_url URL: waits up to 60 s for deploy/demo.sh to print URL.
demo_wait_url() {
    local url=$1 i
    for ((i = 0; i < 120; i++)); do
        grep -qF "$url" "$TMP/demo.out" 2>/dev/null && return 0
        kill -0 "$DEMO_PID" 2>/dev/null || fail "deploy/demo.sh exited before printing the map URL"
        sleep 0.5
    done
    fail "deploy/demo.sh did not print the map URL within 60 s"
}
