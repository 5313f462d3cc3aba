#!/bin/bash
# demo.sh - the main job: a whole ixmesh mesh on this machine's loopback.
#
# Installs what is missing, builds, makes a throwaway CA, then runs one
# controller (SQLite) and N probes on 127.0.1.1 ... 127.0.1.N, each probe
# measuring every other one with STAMP, and a content node on 127.0.0.1
# (nginx with TLS from the same CA, unbound answering content.ixmesh.test)
# that every probe measures with icmp, tcp, tls, http and dns.  Prints the
# map URL and keeps running until Ctrl-C (or --duration), then stops
# everything it started.
#
# Every process it starts is remembered, and stopped on any exit of this
# script (normal end, Ctrl-C, SIGTERM, an error); a previous run killed with
# SIGKILL is cleaned up by the next start on the same state directory.
# shellcheck disable=SC2317  # functions run from traps look unreachable
set -euo pipefail

PROG=${0##*/}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${IXMESH_BUILD_DIR:-$ROOT/build}

NPROBES=3
DURATION=0
STATE=$ROOT/state/demo
STATE_GIVEN=0
# Where the state goes when the daemons' user cannot reach the default one
# (a checkout under /root, which is closed to others).
STATE_FALLBACK=/var/lib/ixmesh-demo
HTTP_PORT=8080
CHANNEL_PORT=7862
STAMP_PORT=8620
CONTENT_HTTP=8081  # the content node: nginx, plain and TLS, and unbound
CONTENT_HTTPS=8443
CONTENT_DNS=8053
WINDOW=10         # seconds per summary record
LOG_LEVEL=info
DO_BUILD=1

PIDS=()      # every process started, in start order
NAMES=()     # the matching names, for messages
OPTIONAL=()  # indexes of processes the mesh runs without (the content node)
REPORTED=()  # indexes of processes whose end was already reported
STOP_GRACE=5 # seconds between SIGTERM and SIGKILL
CLEANED=0

usage() {
    cat <<EOF
usage: $PROG [--probes N] [--duration S] [--state DIR] [--http-port P]
             [--channel-port P] [--stamp-port P] [--content-ports H,S,D]
             [--window S] [--log-level LEVEL] [--no-build]

Builds ixmesh if needed and runs a demo mesh on loopback: one controller
(SQLite) and N probes on 127.0.1.1 ... 127.0.1.N measuring each other with
STAMP (UDP port $STAMP_PORT), and a content node on 127.0.0.1 (nginx on
TCP $CONTENT_HTTP and $CONTENT_HTTPS, unbound on port $CONTENT_DNS) that every probe
measures with icmp, tcp, tls, http and dns.  Open the printed map URL.

  --probes N       number of probes, 1 to 254 (default $NPROBES)
  --duration S     stop after S seconds (default: run until Ctrl-C)
  --state DIR      certificates, configuration, logs and the SQLite
                   database (default: $ROOT/state/demo)
  --http-port P    HTTP port of the map and the JSON API (default $HTTP_PORT)
  --channel-port P TCP port of the probe channel on 127.0.0.1 (default $CHANNEL_PORT)
  --stamp-port P   UDP port of the probes' STAMP reflectors (default $STAMP_PORT)
  --content-ports H,S,D
                   the content node's HTTP, HTTPS and DNS ports
                   (default $CONTENT_HTTP,$CONTENT_HTTPS,$CONTENT_DNS)
  --window S       seconds per summary record, 5 to 3600 (default $WINDOW)
  --log-level L    error, warn, info (default) or debug, for every process
  --no-build       use the binaries as they are; do not run cmake
  -h, --help       this text

Environment: IXMESH_BUILD_DIR, the build directory (default: $ROOT/build).
Two demos run side by side when every port differs.
EOF
}

say() { echo "$PROG: $*"; }
warn() { echo "$PROG: warning: $*" >&2; }
die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

# check_port OPTION VALUE: dies unless VALUE is a port number.
check_port() {
    if ! [[ $2 =~ ^[0-9]{1,5}$ ]] || (($2 < 1 || $2 > 65535)); then
        die "$1 wants port numbers, not '$2'"
    fi
}

parse_args() {
    while (($#)); do
        case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --probes | --duration | --state | --http-port | --channel-port | --stamp-port | \
            --content-ports | --window | --log-level)
            (($# >= 2)) || die "$1 needs a value (try --help)"
            case $1 in
            --probes) NPROBES=$2 ;;
            --duration) DURATION=$2 ;;
            --state) STATE=$2 STATE_GIVEN=1 ;;
            --http-port) HTTP_PORT=$2 ;;
            --channel-port) CHANNEL_PORT=$2 ;;
            --stamp-port) STAMP_PORT=$2 ;;
            --content-ports)
                IFS=, read -r CONTENT_HTTP CONTENT_HTTPS CONTENT_DNS <<<"$2"
                [[ -n $CONTENT_DNS ]] || die "--content-ports wants three ports: HTTP,HTTPS,DNS"
                ;;
            --window) WINDOW=$2 ;;
            --log-level) LOG_LEVEL=$2 ;;
            esac
            shift 2
            ;;
        --no-build)
            DO_BUILD=0
            shift
            ;;
        *) die "unknown argument '$1' (try --help)" ;;
        esac
    done
    if ! [[ $NPROBES =~ ^[0-9]{1,3}$ ]] || ((NPROBES < 1 || NPROBES > 254)); then
        die "--probes wants a number from 1 to 254, not '$NPROBES'"
    fi
    [[ $DURATION =~ ^[0-9]+$ ]] || die "--duration wants whole seconds, not '$DURATION'"
    check_port --http-port "$HTTP_PORT"
    check_port --channel-port "$CHANNEL_PORT"
    check_port --stamp-port "$STAMP_PORT"
    check_port --content-ports "$CONTENT_HTTP"
    check_port --content-ports "$CONTENT_HTTPS"
    check_port --content-ports "$CONTENT_DNS"
    # The TCP listeners on 127.0.0.1 (STAMP and DNS are UDP).
    [[ $(printf '%s\n' "$HTTP_PORT" "$CHANNEL_PORT" "$CONTENT_HTTP" "$CONTENT_HTTPS" |
        sort -u | wc -l) == 4 ]] ||
        die "the HTTP, channel and content node's HTTP and HTTPS ports must differ"
    if ! [[ $WINDOW =~ ^[0-9]{1,4}$ ]] || ((WINDOW < 5 || WINDOW > 3600)); then
        die "--window wants seconds from 5 to 3600, not '$WINDOW'"
    fi
    case $LOG_LEVEL in
    error | warn | info | debug) ;;
    *) die "--log-level wants error, warn, info or debug, not '$LOG_LEVEL'" ;;
    esac
    mkdir -p "$STATE" || die "cannot create the state directory $STATE"
    STATE=$(cd "$STATE" && pwd)
}

build() {
    bash "$ROOT/deploy/deps.sh" build || die "missing build dependencies (see above)"
    # Started as root, the daemons switch to the user ixmesh (their user =
    # key): make it when missing.  Started otherwise, they run as they are.
    if ((EUID == 0)); then
        bash "$ROOT/deploy/deps.sh" user || die "cannot make the daemons' user ixmesh"
    fi
    if ((DO_BUILD)); then
        if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
            say "configuring $BUILD_DIR"
            cmake -S "$ROOT" -B "$BUILD_DIR" || die "cmake configure failed"
        fi
        say "building in $BUILD_DIR"
        cmake --build "$BUILD_DIR" -j "$(nproc)" || die "build failed (see above)"
    fi
    CONTROLLER_BIN=$BUILD_DIR/bin/ixmesh-controller
    PROBE_BIN=$BUILD_DIR/bin/ixmesh-probe
    [[ -x $CONTROLLER_BIN && -x $PROBE_BIN ]] ||
        die "no ixmesh-controller and ixmesh-probe in $BUILD_DIR/bin"
}

# check_reach: run as root, the daemons become the user ixmesh, which must
# reach the state directory: every directory above it must let others in.
check_reach() {
    ((EUID == 0)) || return 0
    runuser -u ixmesh -- test -x "$(dirname "$STATE")" && return 0
    if ((!STATE_GIVEN)); then
        say "the user ixmesh cannot reach $STATE (a directory above it is closed to others, as /root is): using $STATE_FALLBACK"
        STATE=$STATE_FALLBACK
        mkdir -p "$STATE" || die "cannot create the state directory $STATE"
        return 0
    fi
    die "the daemons run as the user ixmesh, which cannot reach $STATE (a directory above it is closed to others, as /root is): choose another --state (e.g. /var/tmp/ixmesh-demo) or let others through the directories above it (chmod o+x)"
}

# stale_cleanup: stops what a previous run on this state directory left
# behind (it can only have happened if that run was killed with SIGKILL).
stale_cleanup() {
    local pid cmd
    [[ -f $STATE/demo.pids ]] || return 0
    while read -r pid; do
        [[ $pid =~ ^[0-9]+$ ]] || continue
        cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
        if [[ ($cmd == *ixmesh-* || $cmd == nginx* || $cmd == *unbound*) &&
            $cmd == *"$STATE/"* ]]; then
            warn "stopping process $pid left by an earlier demo: $cmd"
            kill -TERM "$pid" 2>/dev/null || true
            sleep 1
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done <"$STATE/demo.pids"
    rm -f "$STATE/demo.pids"
}

# port_busy PROTO PORT: true when something listens on that TCP or UDP port.
port_busy() {
    local flag=-Hltn
    [[ $1 == udp ]] && flag=-Hlun
    [[ -n $(ss "$flag" "sport = :$2" 2>/dev/null) ]]
}

check_ports() {
    command -v ss >/dev/null || die "ss not found (apt-get install iproute2)"
    port_busy tcp "$HTTP_PORT" &&
        die "TCP port $HTTP_PORT is already in use (another demo?); choose one with --http-port"
    port_busy tcp "$CHANNEL_PORT" &&
        die "TCP port $CHANNEL_PORT (probe channel) is already in use (another demo?)"
    local p
    for p in "$CONTENT_HTTP" "$CONTENT_HTTPS"; do
        port_busy tcp "$p" && die "TCP port $p (the content node) is already in use (another demo?)"
    done
    port_busy udp "$CONTENT_DNS" && die "UDP port $CONTENT_DNS (the content node's resolver) is in use"
    if port_busy udp "$STAMP_PORT" &&
        ss -Hlun "sport = :$STAMP_PORT" | grep -q ' 127\.0\.1\.'; then
        die "UDP port $STAMP_PORT on 127.0.1.x is already in use (another demo?)"
    fi
    return 0
}

# probe_location K: "lat lon" of probe K, spread on a circle of about 3 km
# around central Karachi, so that the map has something to draw.
probe_location() {
    awk -v k="$1" -v n="$NPROBES" 'BEGIN {
        a = 6.283185307 * (k - 1) / n
        printf "%.5f %.5f\n", 24.8607 + 0.027 * cos(a), 67.0011 + 0.030 * sin(a)
    }'
}

write_configs() {
    local k id loc
    # The database in a directory of its own: the controller takes that one
    # over for its user, and conf/ and pki/ stay root's.
    mkdir -p "$STATE/conf" "$STATE/log" "$STATE/db"
    cat >"$STATE/conf/controller.ini" <<EOF
; Written by deploy/demo.sh; rewritten at every start.
[controller]
listen = 127.0.0.1:$CHANNEL_PORT
http = 127.0.0.1:$HTTP_PORT
ca = $STATE/pki/ca.pem
cert = $STATE/pki/controller.pem
key = $STATE/pki/controller.key
database = $STATE/db/ixmesh.db
log_level = $LOG_LEVEL

; The probes' loopback addresses: the only ones a member may announce.
[exchange]
prefixes = 127.0.1.0/24

[mesh]
window = $WINDOW
interval_ms = 1000
timeout_ms = 1000
size = 44

[content cdn]
name = Demo content node
host = content.ixmesh.test
address = 127.0.0.1
methods = icmp tcp tls http dns
port = $CONTENT_HTTP
tls_port = $CONTENT_HTTPS
http_port = $CONTENT_HTTP
path = /
header = X-Cache
query = content.ixmesh.test
dns_port = $CONTENT_DNS
interval_ms = 2000
timeout_ms = 1000
EOF
    for ((k = 1; k <= NPROBES; k++)); do
        id=p$k
        read -r -a loc < <(probe_location "$k")
        cat >"$STATE/conf/$id.ini" <<EOF
; Written by deploy/demo.sh; rewritten at every start.
[probe]
id = $id
name = Demo probe $k
controller = 127.0.0.1:$CHANNEL_PORT
controller_name = 127.0.0.1
ca = $STATE/pki/ca.pem
cert = $STATE/pki/$id.pem
key = $STATE/pki/$id.key
stamp_listen = 127.0.1.$k:$STAMP_PORT
addresses = 127.0.1.$k
latitude = ${loc[0]}
longitude = ${loc[1]}
log_level = $LOG_LEVEL
content_ca = $STATE/pki/ca.pem
resolvers = 127.0.0.1:$CONTENT_DNS
spool_dir = $STATE/spool/$id
; the policy: the demo's probes and its content node are all on loopback
allow_targets = 127.0.0.0/8, ::1
allow_local = 127.0.0.0/8, ::1
EOF
    done
    write_content_configs
}

# The content node: answers come from the configuration, not from files, so
# that nginx's workers (nobody, when run as root) need not read $STATE.
write_content_configs() {
    local d=$STATE/content
    mkdir -p "$d/tmp"
    cat >"$STATE/conf/nginx.conf" <<EOF
# Written by deploy/demo.sh; rewritten at every start.
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $STATE/log/nginx.log notice;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen 127.0.0.1:$CONTENT_HTTP;
        listen 127.0.0.1:$CONTENT_HTTPS ssl;
        server_name content.ixmesh.test;
        # nginx 1.22 leaves TLS 1.3 out unless asked (1.23.4 added it).
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $STATE/pki/controller.pem;
        ssl_certificate_key $STATE/pki/controller.key;
        default_type text/plain;
        location / {
            add_header X-Cache HIT always;
            return 200 "ixmesh demo content node\n";
        }
        location /error { return 503; }
    }
}
EOF
    cat >"$STATE/conf/unbound.conf" <<EOF
# Written by deploy/demo.sh.  Answers ixmesh.test from local data and nothing
# else: every other name is NXDOMAIN, never a query upstream.
server:
    interface: 127.0.0.1
    port: $CONTENT_DNS
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$d"
    pidfile: "$d/unbound.pid"
    use-syslog: no
    logfile: ""
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    local-zone: "." static
    local-zone: "ixmesh.test." static
    local-data: "content.ixmesh.test. 60 IN A 127.0.0.1"
remote-control:
    control-enable: no
EOF
}

# start NAME BINARY: runs BINARY with NAME's configuration, logging to a file.
# The daemon gets its own session, so that the terminal's Ctrl-C reaches only
# this script, which then stops the probes before the controller.  (setsid
# execs in place: $! is the daemon itself.)
start() {
    start_cmd "$1" "$2" --config "$STATE/conf/$1.ini"
}

# start_cmd NAME COMMAND...: runs COMMAND in the background as start does.
start_cmd() {
    local name=$1 log=$STATE/log/$1.log
    shift
    : >"$log"
    setsid "$@" >>"$log" 2>&1 </dev/null &
    PIDS+=("$!")
    NAMES+=("$name")
    echo "$!" >>"$STATE/demo.pids"
}

# alive I: true when the I-th started process still runs.
alive() {
    kill -0 "${PIDS[$1]}" 2>/dev/null
}

# died_report I: says which process ended, with the end of its log.
died_report() {
    local st=0
    REPORTED[$1]=1
    wait "${PIDS[$1]}" 2>/dev/null || st=$?
    echo "$PROG: error: ${NAMES[$1]} (pid ${PIDS[$1]}) exited with status $st; last lines of $STATE/log/${NAMES[$1]}.log:" >&2
    tail -n 20 "$STATE/log/${NAMES[$1]}.log" | sed 's/^/    /' >&2
}

# check_alive: fails when the controller or a probe has ended.  The content
# node is what the probes measure, not part of the mesh: when it stops (an
# operator trying what the map shows then) its cells turn to loss, and the
# demo says so and goes on.
check_alive() {
    local i
    for i in "${!PIDS[@]}"; do
        if [[ -n ${REPORTED[$i]:-} ]] || alive "$i"; then continue; fi
        if [[ -n ${OPTIONAL[$i]:-} ]]; then
            REPORTED[$i]=1
            wait "${PIDS[$i]}" 2>/dev/null || true
            warn "the content node's ${NAMES[$i]} ended: its cells on the map turn to loss"
            continue
        fi
        died_report "$i"
        return 1
    done
}

# nap S: sleeps in a way a trapped signal interrupts at once.
nap() {
    sleep "$1" &
    wait $! || true
}

wait_http() {
    local i url=http://127.0.0.1:$HTTP_PORT/api/v1/probes
    for ((i = 0; i < 60; i++)); do
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        check_alive || die "the controller did not start"
        nap 0.5
    done
    die "the controller did not answer on $url within 30 s (see $STATE/log/controller.log)"
}

# wait_content: waits (up to 10 s) until the content node listens, so that
# the probes' first attempts find it: a connection refused or a query
# unanswered at start would show as loss that nothing in the network caused.
wait_content() {
    local i
    for ((i = 0; i < 40; i++)); do
        if port_busy tcp "$CONTENT_HTTP" && port_busy tcp "$CONTENT_HTTPS" &&
            port_busy udp "$CONTENT_DNS"; then
            return 0
        fi
        check_alive || die "a process ended while the content node was starting"
        nap 0.25
    done
    warn "the content node does not listen on $CONTENT_HTTP, $CONTENT_HTTPS and $CONTENT_DNS after 10 s; see $STATE/log/nginx.log and unbound.log"
}

# connected_count: how many probes /api/v1/probes calls connected.
connected_count() {
    curl -fsS --max-time 2 "http://127.0.0.1:$HTTP_PORT/api/v1/probes" 2>/dev/null |
        /usr/bin/python3 -c 'import json, sys
print(sum(1 for p in json.load(sys.stdin)["probes"] if p.get("connected")))' 2>/dev/null ||
        echo 0
}

wait_probes() {
    local i n=0
    for ((i = 0; i < 40; i++)); do
        n=$(connected_count)
        ((n >= NPROBES)) && return 0
        check_alive || die "a process ended while the probes were connecting"
        nap 0.5
    done
    warn "only $n of $NPROBES probes connected after 20 s; see the logs in $STATE/log"
}

# any_alive: true while one of the started processes still runs.
any_alive() {
    local i
    for i in "${!PIDS[@]}"; do
        if alive "$i"; then return 0; fi
    done
    return 1
}

# stop_all: SIGTERM to every process still running (probes first, so their
# last records can reach the controller), SIGKILL to those that ignore it.
stop_all() {
    local i t st
    if ((CLEANED || ${#PIDS[@]} == 0)); then return 0; fi
    CLEANED=1
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        # The controller is PIDS[0]; give the probes a moment before it.
        if ((i == 0)); then nap 0.5; fi
        if alive "$i"; then kill -TERM "${PIDS[$i]}" 2>/dev/null || true; fi
    done
    for ((t = 0; t < STOP_GRACE * 10; t++)); do
        if ! any_alive; then break; fi
        nap 0.1
    done
    for i in "${!PIDS[@]}"; do
        if alive "$i"; then
            warn "${NAMES[$i]} (pid ${PIDS[$i]}) ignored SIGTERM for $STOP_GRACE s: killing it"
            kill -KILL "${PIDS[$i]}" 2>/dev/null || true
        fi
        if [[ -n ${REPORTED[$i]:-} ]]; then continue; fi
        st=0
        wait "${PIDS[$i]}" 2>/dev/null || st=$?
        # 127: reaped already; out of 0-255: bash lost track of it.
        if ((st != 0 && st != 127 && st >= 0 && st <= 255)); then
            warn "${NAMES[$i]} exited with status $st (see $STATE/log/${NAMES[$i]}.log)"
        fi
    done
    rm -f "$STATE/demo.pids"
    say "stopped: the controller, the content node and $NPROBES probes are gone"
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM HUP
    stop_all
    exit "$rc"
}

on_signal() {
    echo
    say "got SIG$1, stopping"
    exit 0
}

main() {
    local k start_s now
    local -a ids

    parse_args "$@"
    build
    check_reach
    stale_cleanup
    check_ports
    ids=()
    for ((k = 1; k <= NPROBES; k++)); do ids+=("p$k"); done
    bash "$ROOT/deploy/mkcerts.sh" --san DNS:content.ixmesh.test "$STATE/pki" "${ids[@]}" >/dev/null ||
        die "cannot make the certificates in $STATE/pki"
    write_configs

    trap on_exit EXIT
    trap 'on_signal INT' INT
    trap 'on_signal TERM' TERM
    trap 'on_signal HUP' HUP

    : >"$STATE/demo.pids"
    start controller "$CONTROLLER_BIN"
    wait_http
    start_cmd nginx nginx -c "$STATE/conf/nginx.conf" -p "$STATE/content" -e "$STATE/log/nginx.log"
    OPTIONAL[${#PIDS[@]} - 1]=1
    start_cmd unbound unbound -d -c "$STATE/conf/unbound.conf"
    OPTIONAL[${#PIDS[@]} - 1]=1
    wait_content
    for ((k = 1; k <= NPROBES; k++)); do
        start "p$k" "$PROBE_BIN"
    done
    wait_probes

    cat <<EOF

ixmesh demo: a controller, $NPROBES probes and a content node on loopback.
  map         http://127.0.0.1:$HTTP_PORT/
  JSON        http://127.0.0.1:$HTTP_PORT/api/v1/map?window=60
              http://127.0.0.1:$HTTP_PORT/api/v1/probes
  logs        $STATE/log/
  database    $STATE/db/ixmesh.db
The first measurements arrive after one $WINDOW-second window.
EOF
    if ((DURATION > 0)); then
        echo "Stopping after $DURATION s (or Ctrl-C)."
    else
        echo "Press Ctrl-C to stop."
    fi

    start_s=$SECONDS
    while :; do
        now=$SECONDS
        if ((DURATION > 0 && now - start_s >= DURATION)); then
            say "ran for $DURATION s, stopping"
            break
        fi
        check_alive || exit 1
        nap 1
    done
    exit 0
}

main "$@"
