#!/bin/bash
# testbed.sh - an emulated internet exchange on one machine, in network
# namespaces it makes itself, with a known delay and loss on every link.
#
#   ixtb-ix      the exchange: a bridge, br0, that is the peering LAN
#   ixtb-mK      member K (1..N): lan0 on the peering LAN (198.18.0.K,
#                fd49:584d::K), mgmt0 to the host (198.19.0.K); runs a probe
#   ixtb-cn      the content node: lan0 (198.18.0.250, fd49:584d::fa); nginx
#                with TLS from the testbed CA on 80 and 443, unbound answering
#                the zone ixmesh.test on 53
#   host         the controller, on the management bridge ixtb-mgmt
#                (198.19.0.254:7862), its map at http://127.0.0.1:8080
#
# Each member's and the content node's access link to the bridge is a pair of
# TAP devices joined by ixmesh-linkemu, a user-space wire that delays every
# frame by the link's one-way delay (this kernel has no tc netem): between two
# members the round trip crosses four such delays, 4 x D.  While it is up,
# the testbed holds /dev/cpu_dma_latency at 0 (unless --no-pm-qos), so that
# idle CPUs poll rather than halt: on a virtual machine a halted CPU can take
# milliseconds to wake, and every wire and probe that sleeps would add that
# to the delays it is meant to make exact.  Where the host has no cpuidle
# driver that hold does nothing, and hosts differ anyway, so `up` measures
# what the wires add on this host rather than assuming it (calibrate below):
# a round trip between two nodes is then 2 x (one link's delay) + 2 x (the
# other's) + that measured base + the emulators' own lateness, which they
# report; `rtt A B` prints that sum, and the tests compare against it.  Loss is nftables'
# numgen random on the input hook of the node's lan0 (only ARP and neighbour
# discovery are spared), so one member's loss applies to every packet it
# receives from the LAN.
#
# Addresses come only from 198.18.0.0/15 (RFC 2544's benchmarking range) and
# the ULA prefix fd49:584d::/64; no namespace has a default route, so nothing
# is ever sent anywhere else.  Every name it makes starts with "ixtb-", which
# is how `down` finds them all again, also after a crash or a half-finished up.
# shellcheck disable=SC2317  # functions run from traps look unreachable
set -euo pipefail

PROG=${0##*/}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${IXMESH_BUILD_DIR:-$ROOT/build}
STATE=${IXMESH_TESTBED_STATE:-$ROOT/state/testbed}

P=ixtb                     # prefix of every namespace and link
LAN4=198.18.0              # peering LAN, /24
LAN6=fd49:584d:            # peering LAN, fd49:584d::/64
MGMT4=198.19.0             # management, /24; the host is .254
CTL_ADDR=$MGMT4.254
CN_HOST=250                # the content node's host number (fd49:584d::fa)
CHANNEL_PORT=7862
STAMP_PORT=862
STOP_GRACE=5
# How long before a frame's departure each wire stops sleeping and polls:
# waking a sleeping thread costs tens of microseconds here, but every wire
# that polls holds a CPU, and several of them can starve the probes.
SPIN_US=${IXMESH_TESTBED_SPIN_US:-0}
PM_QOS=${IXMESH_TESTBED_PM_QOS:-1}
# Extra time every wire adds unseen (ixmesh-linkemu --slow-us): stands for a
# slower host, to show that no test depends on how quiet this one is.
SLOW_US=${IXMESH_TESTBED_SLOW_US:-0}
# The calibration: a reflector on the content node, measured from m1, a
# packet every 10 ms: sparse like the mesh's own traffic, so the wires wake
# from idle as they will for it (at every 2 ms they stayed awake, and the
# base read lower than what the mesh then met on a halting host).
CAL_PORT=9862
CAL_COUNT=300
CAL_INTERVAL_MS=10

MEMBERS=4
DELAY_MS=0
JITTER_MS=0
LOSS_PCT=0
V6=0
HTTP_PORT=8080
WINDOW=10
INTERVAL_MS=1000
LOG_LEVEL=info

usage() {
    cat <<EOF
usage: $PROG up [--members N] [--delay-ms D] [--jitter-ms J] [--loss-pct L] [--v6]
                  [--http-port P] [--window S] [--interval-ms MS] [--log-level L]
                  [--no-pm-qos] [--slow-us U]
       $PROG set MEMBER [--delay-ms D] [--jitter-ms J] [--loss-pct L]
                  [--reorder-every N] [--dup-every N] [--impair-dir a2b|b2a|both]
       $PROG status
       $PROG rtt NODE NODE
       $PROG down

An emulated internet exchange in network namespaces: a peering-LAN bridge,
N member namespaces each running ixmesh-probe, a content node (nginx with TLS,
unbound), and the controller on this host, its map at http://127.0.0.1:P/.

  up          makes it all (after removing what an earlier testbed left)
    --members N     members, 1 to 200 (default $MEMBERS)
    --delay-ms D    one-way delay of every access link (default 0): a member
                    pair's round trip crosses four links, 4 x D
    --jitter-ms J   each frame's delay varies by up to +/- J, in order (default 0)
    --loss-pct L    loss on what each node receives, 0 to 100 (default 0)
    --v6            members measure each other over IPv6 (IPv4 is there too)
    --http-port P   the controller's map and API (default $HTTP_PORT)
    --window S      seconds per summary record (default $WINDOW)
    --interval-ms MS  STAMP packets per pair (default $INTERVAL_MS)
    --no-pm-qos     let idle CPUs halt (less exact delays, less power;
                    also IXMESH_TESTBED_PM_QOS=0)
    --slow-us U     every wire adds U us more that nothing reports, as on a
                    slower host (default \$IXMESH_TESTBED_SLOW_US or 0); the
                    calibration must find it
              Before the probes start, up measures what the wires add on
              this host: the round trip m1 <-> cn with no delay (stacks,
              bridge, emulators), and again with the delay set
  set MEMBER  changes one link while running; MEMBER is mK, K, or cn.  The
              emulator can also hold back every Nth UDP or ICMP echo frame so
              that later ones overtake it, or send it twice; a2b is the
              direction from the node to the LAN
  status      what runs, each link's settings and counters, the probes, and
              the calibration: the measured base and how the model fitted
  rtt A B     the round trip between nodes A and B (mK, K or cn) that the
              testbed makes now, in ms: the links' delays, the measured
              base, and the emulators' lateness p50 since up or their reset
  down        stops and removes everything the testbed made

Needs root, iproute2, nftables, nginx and unbound (deploy/deps.sh test
installs them) and a build with ixmesh-linkemu (IXMESH_BUILD_DIR, default
$ROOT/build).  State, configuration and logs: $STATE
(IXMESH_TESTBED_STATE).
EOF
}

say() { echo "$PROG: $*"; }
warn() { echo "$PROG: warning: $*" >&2; }
die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

# ---- arguments ---------------------------------------------------------------

is_num() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

# link_args ARGS...: the link options shared by up and set, into LINK_OPTS.
parse_link_opt() {
    local opt=$1 val=${2:-}
    [[ -n $val ]] || die "$opt needs a value (try --help)"
    case $opt in
    --delay-ms | --jitter-ms)
        is_num "$val" || die "$opt wants milliseconds, not '$val'"
        ;;
    --loss-pct)
        is_num "$val" && awk -v l="$val" 'BEGIN { exit !(l <= 100) }' ||
            die "--loss-pct wants a percentage from 0 to 100, not '$val'"
        ;;
    --reorder-every | --dup-every)
        [[ $val =~ ^[0-9]+$ ]] || die "$opt wants a whole number (0: off), not '$val'"
        ;;
    --impair-dir)
        [[ $val =~ ^(a2b|b2a|both)$ ]] || die "--impair-dir wants a2b, b2a or both, not '$val'"
        ;;
    esac
}

parse_up() {
    while (($#)); do
        case $1 in
        --v6 | --no-pm-qos)
            [[ $1 == --v6 ]] && V6=1 || PM_QOS=0
            shift
            continue
            ;;
        --members | --http-port | --window | --interval-ms | --log-level)
            [[ -n ${2:-} ]] || die "$1 needs a value (try --help)"
            ;;
        --delay-ms | --jitter-ms | --loss-pct) parse_link_opt "$1" "${2:-}" ;;
        --slow-us) is_num "${2:-}" || die "--slow-us wants microseconds, not '${2:-}'" ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "up: unknown argument '$1' (try --help)" ;;
        esac
        case $1 in
        --members) MEMBERS=$2 ;;
        --http-port) HTTP_PORT=$2 ;;
        --window) WINDOW=$2 ;;
        --interval-ms) INTERVAL_MS=$2 ;;
        --log-level) LOG_LEVEL=$2 ;;
        --delay-ms) DELAY_MS=$2 ;;
        --jitter-ms) JITTER_MS=$2 ;;
        --loss-pct) LOSS_PCT=$2 ;;
        --slow-us) SLOW_US=$2 ;;
        esac
        shift 2
    done
    [[ $MEMBERS =~ ^[0-9]{1,3}$ ]] && MEMBERS=$((10#$MEMBERS)) &&
        ((MEMBERS >= 1 && MEMBERS <= 200)) ||
        die "--members wants a number from 1 to 200, not '$MEMBERS'"
    [[ $HTTP_PORT =~ ^[0-9]+$ ]] && ((HTTP_PORT >= 1 && HTTP_PORT <= 65535)) ||
        die "--http-port wants a port number, not '$HTTP_PORT'"
    [[ $WINDOW =~ ^[0-9]+$ ]] && ((WINDOW >= 1 && WINDOW <= 3600)) ||
        die "--window wants seconds from 1 to 3600, not '$WINDOW'"
    is_num "$SLOW_US" || die "IXMESH_TESTBED_SLOW_US wants microseconds, not '$SLOW_US'"
    [[ $INTERVAL_MS =~ ^[0-9]+$ ]] && ((INTERVAL_MS >= 10)) ||
        die "--interval-ms wants at least 10, not '$INTERVAL_MS'"
    case $LOG_LEVEL in
    error | warn | info | debug) ;;
    *) die "--log-level wants error, warn, info or debug, not '$LOG_LEVEL'" ;;
    esac
}

# node_name ARG: mK or cn, from "mK", "K" or "cn"; empty when neither.
node_name() {
    case $1 in
    cn) echo cn ;;
    m[0-9]*) [[ ${1#m} =~ ^[0-9]+$ ]] && echo "$1" ;;
    [0-9]*) [[ $1 =~ ^[0-9]+$ ]] && echo "m$1" ;;
    esac
}

# ---- checks --------------------------------------------------------------------

need_root() {
    ((EUID == 0)) || die "needs root (network namespaces, TAP devices, nftables)"
    ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here"
}

need_tools() {
    local t missing=()
    for t in ip nft nginx unbound curl openssl setsid; do
        command -v "$t" >/dev/null || [[ -x /usr/sbin/$t ]] || missing+=("$t")
    done
    ((${#missing[@]} == 0)) ||
        die "missing: ${missing[*]} (run deploy/deps.sh test as root)"
    BIN=$BUILD_DIR/bin
    for t in ixmesh-controller ixmesh-probe ixmesh-linkemu; do
        [[ -x $BIN/$t ]] || die "no $BIN/$t: build first (cmake --build $BUILD_DIR)"
    done
    [[ -c /dev/net/tun ]] || die "no /dev/net/tun: the link emulator needs TAP devices"
}

# ---- processes ---------------------------------------------------------------------

# proc_start PID: the process's start time (clock ticks since boot), empty
# when there is no such process.  With the pid it names one process for
# good: a pid reused after a crash or a reboot has another start time.
proc_start() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) } # the name may hold spaces and parentheses
    awk '{ print $20 }' <<<"$stat"
}

# spawn NAME NETNS CMD...: runs CMD in its own session (in NETNS unless it is
# "-"), logging to log/NAME.log, and records "NAME PID START" in the pid file.
spawn() {
    local name=$1 ns=$2 log=$STATE/log/$1.log
    shift 2
    : >"$log"
    if [[ $ns == - ]]; then
        setsid "$@" >>"$log" 2>&1 </dev/null &
    else
        ip netns exec "$ns" setsid "$@" >>"$log" 2>&1 </dev/null &
    fi
    echo "$name $! $(proc_start $!)" >>"$STATE/pids"
}

# wait_for WHAT SECONDS CMD...: polls CMD every 0.1 s.
wait_for() {
    local what=$1 tries=$(($2 * 10))
    shift 2
    while ((tries-- > 0)); do
        "$@" 2>/dev/null && return 0
        sleep 0.1
    done
    die "timed out waiting for $what"
}

# ---- links ---------------------------------------------------------------------------

# start_wire NODE: starts the wire between NODE's lan0 and its bridge port,
# with no delay yet: calibrate sets it.
start_wire() {
    local node=$1 run=$STATE/run
    rm -f "$run/$node.ready" "$run/$node.sock"
    spawn "wire-$node" - "$BIN/ixmesh-linkemu" run --a "$P-$node-a" --b "$P-$node-b" \
        --ctl "$run/$node.sock" --spin-us "$SPIN_US" --slow-us "$SLOW_US" \
        --ready-file "$run/$node.ready"
    wait_for "the link emulator of $node" 10 test -e "$run/$node.ready"
    ip link set "$P-$node-a" netns "$P-$node"
    ip -n "$P-$node" link set "$P-$node-a" name lan0
    ip link set "$P-$node-b" netns "$P-ix"
    ip -n "$P-ix" link set "$P-$node-b" master br0 up
}

# node_up NODE HOST: a namespace on the peering LAN with address .HOST.
node_up() {
    local node=$1 host=$2 ns=$P-$1
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    start_wire "$node"
    ip -n "$ns" addr add "$LAN4.$host/24" dev lan0
    ip -n "$ns" addr add "$LAN6:$(printf '%x' "$host")/64" dev lan0 nodad
    ip -n "$ns" link set lan0 up
    set_loss "$node" 0
}

# mgmt_up K: member K's management link to the controller's bridge.
mgmt_up() {
    local k=$1 ns=$P-m$1
    ip link add "$P-mg$k" type veth peer name mgmt0 netns "$ns"
    ip link set "$P-mg$k" master "$P-mgmt" up
    ip -n "$ns" addr add "$MGMT4.$k/24" dev mgmt0
    ip -n "$ns" link set mgmt0 up
}

# set_loss NODE PCT: drops PCT % of what NODE receives on lan0 (nftables
# numgen, to 0.01 %), sparing ARP (not inet) and neighbour discovery.
set_loss() {
    local ns=$P-$1 per10k
    per10k=$(awk -v l="$2" 'BEGIN { printf "%d", l * 100 + 0.5 }')
    {
        echo "table inet ixtb"
        echo "delete table inet ixtb"
        echo "table inet ixtb {"
        echo "  chain input {"
        echo "    type filter hook input priority 0; policy accept;"
        echo "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept"
        ((per10k == 0)) || echo "    iifname \"lan0\" numgen random mod 10000 < $per10k counter drop"
        echo "  }"
        echo "}"
    } | ip netns exec "$ns" nft -f - || die "nftables refused the loss rule of $1"
}

# ---- calibration: what the wires add on this host ---------------------------------

# emu_ctl NODE ARGS...: the control command of NODE's wire.
emu_ctl() {
    local node=$1
    shift
    "$BIN/ixmesh-linkemu" ctl "$STATE/run/$node.sock" "$@"
}

# link_stat NODE KEY...: the values of KEYs in the stats of NODE's wire, in
# that order on one line.
link_stat() {
    local node=$1 line
    shift
    line=$(emu_ctl "$node" stats) || die "the link emulator of $node does not answer"
    tr ' ' '\n' <<<"$line" | awk -F= -v keys="$*" '
        BEGIN { n = split(keys, k, " ") }
        { v[$1] = $2 }
        END { for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? " " : ""), (k[i] in v ? v[k[i]] : "?"); print "" }'
}

# crossings_us A B: the emulators' lateness p50, in us, summed over the four
# crossings of a round trip between nodes A and B: each wire both ways.
crossings_us() {
    local a b
    a=$(link_stat "$1" a2b_late_p50_us b2a_late_p50_us)
    b=$(link_stat "$2" a2b_late_p50_us b2a_late_p50_us)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); print x[1] + x[2] + y[1] + y[2] }'
}

# cal_run: m1 measures the calibration reflector on cn; prints the p50 RTT
# and the four crossings' lateness, both in us.
cal_run() {
    local json p50
    emu_ctl m1 reset >/dev/null && emu_ctl cn reset >/dev/null ||
        die "calibration: cannot reset the link emulators' counters"
    json=$(ip netns exec "$P-m1" "$BIN/ixmesh-probe" measure stamp --json \
        "$LAN4.$CN_HOST:$CAL_PORT" --count "$CAL_COUNT" --interval "$CAL_INTERVAL_MS" \
        --timeout 1000 2>>"$STATE/log/calibrate.log") ||
        die "calibration: measure m1 -> cn failed (see $STATE/log/calibrate.log)"
    p50=$(python3 -c 'import json, sys
o = json.loads(sys.argv[1])
if o["received"] < 0.9 * int(sys.argv[2]):
    sys.exit("only %d of %s replies" % (o["received"], sys.argv[2]))
print("%.1f" % (o["rtt_p50_ms"] * 1000))' "$json" "$CAL_COUNT") ||
        die "calibration: m1 -> cn: $p50"
    echo "$p50 $(crossings_us m1 cn)"
}

# calibrate: before any probe runs, measures m1 <-> cn with no delay (the
# base: stacks, bridge, each wire's forwarding, and whatever this host adds
# that the emulators cannot see), then sets every link's delay and measures
# again, to show how well "delays + base + lateness" predicts a round trip.
calibrate() {
    local rpid node k out
    ip netns exec "$P-cn" "$BIN/ixmesh-probe" reflect --listen "$LAN4.$CN_HOST:$CAL_PORT" \
        --rate 100000 --rate-total 100000 >"$STATE/log/calibrate.log" 2>&1 &
    rpid=$!
    wait_for "the calibration reflector" 10 reflector_listening
    out=$(cal_run) || exit 1
    read -r BASE_P50_US LATE0_US <<<"$out"
    BASE_US=$(awk -v p="$BASE_P50_US" -v l="$LATE0_US" 'BEGIN { printf "%.1f", p - l }')
    for node in $(nodes); do
        emu_ctl "$node" set --delay-ms "$DELAY_MS" --jitter-ms "$JITTER_MS" >/dev/null ||
            die "cannot set the delay of $node's link"
    done
    CAL_P50_US=$BASE_P50_US
    CAL_MODEL_US=$BASE_P50_US
    if awk -v d="$DELAY_MS" 'BEGIN { exit !(d > 0) }'; then
        out=$(cal_run) || exit 1
        read -r CAL_P50_US k <<<"$out"
        CAL_MODEL_US=$(awk -v d="$DELAY_MS" -v b="$BASE_US" -v l="$k" \
            'BEGIN { printf "%.1f", 4000 * d + b + l }')
    fi
    kill "$rpid" 2>/dev/null || true
    wait "$rpid" 2>/dev/null || true
    for node in $(nodes); do emu_ctl "$node" reset >/dev/null; done
    say "wires: base round trip $BASE_US us (m1 <-> cn p50 $BASE_P50_US us at 0 ms, of which emulator lateness $LATE0_US us)"
    say "wires: at ${DELAY_MS} ms a link, m1 <-> cn p50 $CAL_P50_US us; delays + base + lateness predict $CAL_MODEL_US us"
}

reflector_listening() {
    [[ -n $(ip netns exec "$P-cn" ss -Huln "sport = :$CAL_PORT") ]]
}

# nodes: every node with a wire, members first.
nodes() {
    local k
    for ((k = 1; k <= MEMBERS; k++)); do echo "m$k"; done
    echo cn
}

# ---- the parts --------------------------------------------------------------------------

make_pki() {
    local ids=() k pki=$STATE/pki
    for ((k = 1; k <= MEMBERS; k++)); do ids+=("m$k"); done
    bash "$ROOT/deploy/mkcerts.sh" --san "IP:$CTL_ADDR" "$pki" "${ids[@]}" \
        >"$STATE/log/mkcerts.log" 2>&1 || die "mkcerts.sh failed: $(cat "$STATE/log/mkcerts.log")"
    # The content node's server certificate, from the same CA.
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$pki/content.key" -subj "/CN=content.ixmesh.test" \
        -out "$pki/content.csr" 2>>"$STATE/log/mkcerts.log" &&
        openssl x509 -req -in "$pki/content.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
            -CAcreateserial -days 30 -out "$pki/content.pem" \
            -extfile <(printf '%s\n' "subjectAltName=DNS:content.ixmesh.test,IP:$LAN4.$CN_HOST,IP:$LAN6:fa" \
                "extendedKeyUsage=serverAuth") 2>>"$STATE/log/mkcerts.log" ||
        die "cannot make the content node's certificate (see $STATE/log/mkcerts.log)"
}

write_controller_conf() {
    cat >"$STATE/conf/controller.ini" <<EOF
; Written by deploy/testbed.sh up.
[controller]
listen = $CTL_ADDR:$CHANNEL_PORT
http = 127.0.0.1:$HTTP_PORT
ca = $STATE/pki/ca.pem
cert = $STATE/pki/controller.pem
key = $STATE/pki/controller.key
database = $STATE/db/ixmesh.db
log_level = $LOG_LEVEL

; The peering LAN: the only addresses a member may announce.
[exchange]
prefixes = $LAN4.0/24 ${LAN6}:/64

[mesh]
window = $WINDOW
interval_ms = $INTERVAL_MS
timeout_ms = 1000
size = 44

; The content node, measured by every member the way users meet it: at
; least two attempts a window, so that a stopped server shows within two.
[content cn]
name = Content node
host = content.ixmesh.test
address = $LAN4.$CN_HOST
methods = icmp tcp tls http dns
port = 80
tls_port = 443
http_port = 80
path = /
header = X-Cache
query = content.ixmesh.test
interval_ms = $((WINDOW * 500 < 5000 ? WINDOW * 500 : 5000))
timeout_ms = 1000
EOF
}

# write_probe_conf K: member K's probe.  Its reflector may answer a
# thousand packets a second per source: the testbed's loss measurements
# send that many.
write_probe_conf() {
    local k=$1 listen addrs
    listen="$LAN4.$k:$STAMP_PORT"
    addrs="$LAN4.$k"
    if ((V6)); then
        listen="[::]:$STAMP_PORT"
        addrs="$LAN6:$(printf '%x' "$k"), $LAN4.$k"
    fi
    cat >"$STATE/conf/m$k.ini" <<EOF
; Written by deploy/testbed.sh up.
[probe]
id = m$k
name = Member $k
controller = $CTL_ADDR:$CHANNEL_PORT
controller_name = $CTL_ADDR
ca = $STATE/pki/ca.pem
cert = $STATE/pki/m$k.pem
key = $STATE/pki/m$k.key
stamp_listen = $listen
addresses = $addrs
latitude = $(awk -v k="$k" -v n="$MEMBERS" 'BEGIN { printf "%.5f", 24.8607 + 0.027 * cos(6.283185307 * (k - 1) / n) }')
longitude = $(awk -v k="$k" -v n="$MEMBERS" 'BEGIN { printf "%.5f", 67.0011 + 0.030 * sin(6.283185307 * (k - 1) / n) }')
stamp_rate = 2000
log_level = $LOG_LEVEL
content_ca = $STATE/pki/ca.pem
resolvers = $LAN4.$CN_HOST
spool_dir = $STATE/spool/m$k
; the policy: the peering LAN only, at the pace this testbed asks for
allow_targets = $LAN4.0/24, ${LAN6}:/64
min_interval = 10
max_rate = $((2 * MEMBERS * 1000 / INTERVAL_MS + 1000))
max_bitrate = $(((2 * MEMBERS * 1000 / INTERVAL_MS + 1000) * 2000))
EOF
}

write_content_conf() {
    local d=$STATE/cn a4=$LAN4.$CN_HOST a6=$LAN6:fa
    mkdir -p "$d/tmp"
    cat >"$STATE/conf/nginx.conf" <<EOF
# Written by deploy/testbed.sh up.
daemon off;
master_process on;
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
        listen $a4:80;
        listen $a4:443 ssl;
        listen [$a6]:80;
        listen [$a6]:443 ssl;
        server_name content.ixmesh.test;
        # nginx 1.22 leaves TLS 1.3 out unless asked (1.23.4 added it).
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $STATE/pki/content.pem;
        ssl_certificate_key $STATE/pki/content.key;
        # Answers come from the configuration, not files: the workers run as
        # nobody and may not read a private state directory.
        default_type text/plain;
        location / {
            add_header X-Cache HIT always;
            return 200 "ixmesh content node\n";
        }
        location /error { return 503; }
    }
}
EOF
    cat >"$STATE/conf/unbound.conf" <<EOF
# Written by deploy/testbed.sh up.  Answers ixmesh.test from local data and
# nothing else: every other name is NXDOMAIN, never a query upstream.
server:
    interface: $a4
    interface: $a6
    port: 53
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$d"
    pidfile: "$d/unbound.pid"
    use-syslog: no
    logfile: ""
    access-control: 198.18.0.0/15 allow
    access-control: fd49:584d::/64 allow
    module-config: "iterator"
    local-zone: "." static
    local-zone: "ixmesh.test." static
    local-data: "content.ixmesh.test. 60 IN A $a4"
    local-data: "content.ixmesh.test. 60 IN AAAA $a6"
remote-control:
    control-enable: no
EOF
}

start_content() {
    spawn nginx "$P-cn" nginx -c "$STATE/conf/nginx.conf" -p "$STATE/cn"
    spawn unbound "$P-cn" unbound -d -c "$STATE/conf/unbound.conf"
}

controller_up() {
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$HTTP_PORT/api/v1/probes"
}

# all_connected: every member's probe is connected to the controller.
all_connected() {
    local n
    n=$(curl -fsS --max-time 1 "http://127.0.0.1:$HTTP_PORT/api/v1/probes" |
        python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin)["probes"] if p["connected"]))')
    [[ $n == "$MEMBERS" ]]
}

# hold_pm_qos: keeps /dev/cpu_dma_latency open at 0 (the kernel's PM QoS
# request lasts as long as the descriptor) in a process named ixtb-pm-qos.
hold_pm_qos() {
    local driver
    driver=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none)
    IDLE_NOTE="cpuidle driver $driver, PM QoS hold $( ((PM_QOS)) && echo on || echo off)"
    ((PM_QOS)) || return 0
    [[ $driver != none ]] ||
        say "no cpuidle driver here: holding PM QoS changes nothing; the calibration measures what that costs"
    if [[ ! -w /dev/cpu_dma_latency ]]; then
        warn "no /dev/cpu_dma_latency: idle CPUs may add wake-up time to the delays"
        return 0
    fi
    spawn pm-qos - bash -c 'exec 3>/dev/cpu_dma_latency && printf "\\x00\\x00\\x00\\x00" >&3 &&
        exec -a ixtb-pm-qos sleep infinity'
}

cmd_up() {
    local k node
    parse_up "$@"
    need_root
    need_tools
    # The daemons, started as root, switch to this user (their user = key).
    bash "$ROOT/deploy/deps.sh" user || die "cannot make the daemons' user ixmesh"
    mkdir -p "$STATE" || die "cannot create $STATE"
    runuser -u ixmesh -- test -x "$(dirname "$STATE")" ||
        die "the daemons run as the user ixmesh, which cannot reach $STATE (a directory above it is closed to others): set IXMESH_TESTBED_STATE elsewhere or chmod o+x the directories above it"
    cmd_down quiet
    if [[ -n $(ss -Hltn "sport = :$HTTP_PORT" 2>/dev/null) ]]; then
        die "TCP port $HTTP_PORT is in use (another testbed or demo?); choose --http-port"
    fi
    # The database in a directory of its own: the controller takes that one
    # over for its user, and conf/ and pki/ stay root's.
    mkdir -p "$STATE"/{conf,log,run,pki,db}
    : >"$STATE/pids"
    # Whatever fails from here on (a command, or die) leaves nothing behind.
    UP_DONE=0
    trap 'if ((!UP_DONE)); then echo "$PROG: up failed; removing what it made" >&2; cmd_down quiet; fi' EXIT
    trap 'exit 130' INT TERM
    make_pki
    hold_pm_qos

    ip netns add "$P-ix"
    ip -n "$P-ix" link set lo up
    ip -n "$P-ix" link add br0 type bridge
    ip -n "$P-ix" link set br0 up
    ip link add "$P-mgmt" type bridge
    sysctl -qw "net.ipv6.conf.$P-mgmt.disable_ipv6=1"
    ip addr add "$CTL_ADDR/24" dev "$P-mgmt"
    ip link set "$P-mgmt" up

    for ((k = 1; k <= MEMBERS; k++)); do
        node_up "m$k" "$k"
        mgmt_up "$k"
    done
    node_up cn "$CN_HOST"
    calibrate
    if [[ $LOSS_PCT != 0 ]]; then
        for node in $(nodes); do set_loss "$node" "$LOSS_PCT"; done
    fi

    write_controller_conf
    write_content_conf
    spawn controller - "$BIN/ixmesh-controller" --config "$STATE/conf/controller.ini"
    wait_for "the controller on port $HTTP_PORT" 20 controller_up
    for ((k = 1; k <= MEMBERS; k++)); do
        write_probe_conf "$k"
        spawn "m$k" "$P-m$k" "$BIN/ixmesh-probe" --config "$STATE/conf/m$k.ini"
    done
    start_content
    wait_for "all $MEMBERS probes to connect" 30 all_connected
    wait_for "nginx on the content node" 10 ip netns exec "$P-cn" \
        curl -fsS -o /dev/null --max-time 1 "http://$LAN4.$CN_HOST/"
    UP_DONE=1
    trap - EXIT INT TERM
    cat >"$STATE/testbed.env" <<EOF
MEMBERS=$MEMBERS
HTTP_PORT=$HTTP_PORT
V6=$V6
DELAY_MS=$DELAY_MS
SLOW_US=$SLOW_US
BASE_US=$BASE_US
BASE_P50_US=$BASE_P50_US
LATE0_US=$LATE0_US
CAL_P50_US=$CAL_P50_US
CAL_MODEL_US=$CAL_MODEL_US
IDLE_NOTE="$IDLE_NOTE"
EOF
    say "up: $MEMBERS members on $LAN4.0/24 and ${LAN6}:/64, content node $LAN4.$CN_HOST"
    say "one-way delay ${DELAY_MS} ms (+/- ${JITTER_MS} ms) and ${LOSS_PCT} % loss on every access link"
    say "a member pair's round trip: 4 x ${DELAY_MS} ms + ${BASE_US} us measured base + the emulators' lateness ($0 rtt A B)"
    say "map: http://127.0.0.1:$HTTP_PORT/   logs: $STATE/log/   stop: $0 down"
}

cmd_set() {
    local node opts=() loss=""
    need_root
    [[ -n ${1:-} ]] || die "set: which MEMBER? (mK, K or cn)"
    node=$(node_name "$1")
    [[ -n $node ]] || die "set: '$1' is not a member (mK or K) nor cn"
    shift
    [[ -e /run/netns/$P-$node ]] || die "set: $node is not running (testbed up?)"
    while (($#)); do
        case $1 in
        --delay-ms | --jitter-ms | --reorder-every | --dup-every | --impair-dir)
            parse_link_opt "$1" "${2:-}"
            opts+=("$1" "$2")
            ;;
        --loss-pct)
            parse_link_opt "$1" "${2:-}"
            loss=$2
            ;;
        *) die "set: unknown argument '$1' (try --help)" ;;
        esac
        shift 2
    done
    ((${#opts[@]} > 0)) || [[ -n $loss ]] || die "set: nothing to change (try --help)"
    BIN=$BUILD_DIR/bin
    if ((${#opts[@]} > 0)); then
        "$BIN/ixmesh-linkemu" ctl "$STATE/run/$node.sock" set "${opts[@]}" >/dev/null ||
            die "set: the link emulator of $node did not take ${opts[*]}"
    fi
    [[ -z $loss ]] || set_loss "$node" "$loss"
    say "$node: ${opts[*]} ${loss:+--loss-pct $loss}"
}

cmd_status() {
    local ns name pid node
    [[ -f $STATE/pids ]] || {
        say "down (no $STATE/pids)"
        [[ -z $(ip netns list | grep "^$P-") ]] || warn "but namespaces remain: run $0 down"
        return 1
    }
    echo "namespaces: $(ip netns list | awk -v p="$P-" 'index($1, p) == 1 { printf "%s ", $1 }')"
    while read -r name pid _; do
        if kill -0 "$pid" 2>/dev/null; then
            echo "  $name (pid $pid) running"
        else
            echo "  $name (pid $pid) NOT running"
        fi
    done <"$STATE/pids"
    for sock in "$STATE"/run/*.sock; do
        [[ -S $sock ]] || continue
        node=$(basename "$sock" .sock)
        echo "  link $node: $("$BUILD_DIR/bin/ixmesh-linkemu" ctl "$sock" stats 2>&1)"
        echo "  loss $node: $(ip netns exec "$P-$node" nft list chain inet ixtb input 2>/dev/null |
            grep -o 'mod 10000 < [0-9]*' | awk '{ l = $4 } END { printf "%.2f %%", l / 100 }')"
    done
    # shellcheck disable=SC1091
    [[ -f $STATE/testbed.env ]] && . "$STATE/testbed.env"
    if [[ -n ${BASE_US:-} ]]; then
        echo "  wires: base round trip $BASE_US us, measured at up (m1 <-> cn p50 $BASE_P50_US us" \
            "at 0 ms, of which emulator lateness $LATE0_US us; unseen slowness ${SLOW_US} us a wire)"
        echo "  wires: at ${DELAY_MS} ms a link, m1 <-> cn p50 $CAL_P50_US us; delays + base +" \
            "lateness predicted $CAL_MODEL_US us"
        echo "  wires: a pair's round trip now: $0 rtt A B"
        echo "  idle CPUs: ${IDLE_NOTE:-unknown}"
    fi
    curl -fsS --max-time 2 "http://127.0.0.1:${HTTP_PORT}/api/v1/probes" |
        python3 -c 'import json,sys
for p in json.load(sys.stdin)["probes"]:
    print("  probe %s %s %s" % (p["id"], ",".join(p["addresses"]), "connected" if p["connected"] else "NOT connected"))' ||
        echo "  the controller does not answer on port $HTTP_PORT"
}

# cmd_rtt A B: the round trip the testbed makes between nodes A and B now.
cmd_rtt() {
    local a b da db cross n
    need_root
    (($# == 2)) || die "rtt: want two nodes (mK, K or cn), e.g. rtt m1 m2"
    a=$(node_name "$1")
    b=$(node_name "$2")
    [[ -n $a && -n $b ]] || die "rtt: '$1' or '$2' is not a node (mK, K or cn)"
    [[ -f $STATE/testbed.env ]] || die "rtt: the testbed is not up ($STATE/testbed.env)"
    # shellcheck disable=SC1091
    . "$STATE/testbed.env"
    BIN=$BUILD_DIR/bin
    for n in "$a" "$b"; do
        [[ -S $STATE/run/$n.sock ]] || die "rtt: $n has no link here"
    done
    da=$(link_stat "$a" delay_ms)
    db=$(link_stat "$b" delay_ms)
    cross=$(crossings_us "$a" "$b")
    awk -v da="$da" -v db="$db" -v base="$BASE_US" -v c="$cross" \
        'BEGIN { printf "%.3f\n", 2 * da + 2 * db + (base + c) / 1000 }'
}

# stop_pids PID...: SIGTERM, then SIGKILL to what is left after the grace.
stop_pids() {
    local pid left i
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    for ((i = 0; i < STOP_GRACE * 10; i++)); do
        left=0
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
        ((left)) || return 0
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null || true
}

# cmd_down [quiet]: finds what a testbed made by name, not only by its
# records, so that a crash or a half-finished up leaves nothing behind.
cmd_down() {
    local quiet=${1:-} pids=() name pid ns link nss
    need_root
    if [[ -f $STATE/pids ]]; then
        # Probes before the controller, so they leave cleanly; a recorded pid
        # counts only while it names the process we started.
        while read -r name pid start; do
            [[ $pid =~ ^[0-9]+$ && -n $start && $(proc_start "$pid") == "$start" ]] &&
                pids+=("$pid")
        done < <(tac "$STATE/pids")
    fi
    mapfile -t nss < <(ip netns list | awk -v p="$P-" 'index($1, p) == 1 { print $1 }')
    for ns in "${nss[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
    done
    # Emulators and a controller whose records were lost: by command line,
    # and by the management address, which only a testbed's controller
    # listens on (whatever its state directory).
    for pid in $(pgrep -f "ixmesh-linkemu run --a $P-" || true) \
        $(pgrep -f "ixmesh-controller --config $STATE/conf/" || true) \
        $(ss -Hltnp "src $CTL_ADDR" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 || true) \
        $(pgrep -f '^ixtb-pm-qos ' || true); do
        pids+=("$pid")
    done
    stop_pids "${pids[@]}"
    for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null || warn "cannot delete namespace $ns"; done
    for link in $(ip -o link show | awk -F': ' -v p="$P-" 'index($2, p) == 1 { sub(/@.*/, "", $2); print $2 }'); do
        ip link del "$link" 2>/dev/null || true
    done
    rm -f "$STATE/pids" "$STATE/testbed.env" "$STATE"/run/*
    [[ -n $quiet ]] || say "down: ${#pids[@]} processes stopped, ${#nss[@]} namespaces removed"
    if [[ -n $(ip netns list | grep "^$P-") ]]; then
        warn "namespaces remain: $(ip netns list | grep "^$P-" | tr '\n' ' ')"
        return 1
    fi
    return 0
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
    up) cmd_up "$@" ;;
    set) cmd_set "$@" ;;
    status) cmd_status ;;
    rtt) cmd_rtt "$@" ;;
    down) cmd_down ;;
    -h | --help | help) usage ;;
    "") usage >&2 && exit 2 ;;
    *) die "unknown command '$cmd' (try --help)" ;;
    esac
}

main "$@"
