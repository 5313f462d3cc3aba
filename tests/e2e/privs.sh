#!/bin/bash
# e2e.privs: started as root, as deploy/demo.sh starts them, neither daemon
# keeps root (issue 13).  Reads /proc/PID/status of each: the controller is
# the user ixmesh with no capability at all; each probe is ixmesh with only
# cap_net_raw, plus cap_net_bind_service for p1, whose reflector listens
# below port 1024; all three with no_new_privs and no supplementary group.
# The database's directory is 0700 and its files 0600, the user's; the
# spools too.  After the drop the probes still measure: STAMP both ways and
# ICMP echo to a content node through a raw socket, stored by the
# controller.  A probe whose spool an older version left to root takes it
# back at its next start; a user that does not exist is a clear error.
# 'ixmesh-probe reflect' alone leaves root as well, keeping nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

USER_NAME=ixmesh
CAP_NET_BIND_SERVICE=10 # linux/capability.h
CAP_NET_RAW=13

# status_field PID FIELD: that line of /proc/PID/status, after the colon.
status_field() {
    awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ +/, ""); print; exit }' "/proc/$1/status"
}

# caps_hex BIT...: the capability mask /proc shows for these bits.
caps_hex() {
    local b m=0
    for b; do m=$((m | (1 << b))); done
    printf '%016x' "$m"
}

# check_creds NAME CAPS_HEX: NAME runs as the user, with exactly CAPS_HEX, in
# every one of its threads (capabilities are a thread's: the controller's
# store writer is made after the drop, and must not hold root's).  Each
# thread's status is read once; one that ended meanwhile is passed over.
check_creds() {
    local name=$1 want=$2 pid t st f got uid gid n=0
    pid=$(pid_of "$name")
    uid=$(id -u "$USER_NAME")
    gid=$(id -g "$USER_NAME")
    for t in /proc/"$pid"/task/*; do
        st=$(cat "$t/status" 2>/dev/null) || continue
        t="$name (thread ${t##*/})"
        [[ $(field_of "$st" Uid) == "$uid $uid $uid $uid" ]] ||
            fail "$t: Uid is '$(field_of "$st" Uid)', not $USER_NAME's $uid four times"
        [[ $(field_of "$st" Gid) == "$gid $gid $gid $gid" ]] ||
            fail "$t: Gid is '$(field_of "$st" Gid)', not $gid four times"
        [[ -z $(field_of "$st" Groups) ]] ||
            fail "$t: supplementary groups '$(field_of "$st" Groups)' kept"
        for f in CapPrm CapEff CapBnd; do
            got=$(field_of "$st" "$f")
            [[ $got == "$want" ]] || fail "$t: $f is $got, not $want"
        done
        for f in CapInh CapAmb; do
            got=$(field_of "$st" "$f")
            [[ $got == 0000000000000000 ]] || fail "$t: $f is $got, not empty"
        done
        [[ $(field_of "$st" NoNewPrivs) == 1 ]] || fail "$t: NoNewPrivs is not 1"
        n=$((n + 1))
    done
    ((n > 0)) || fail "$name: no thread of pid $pid could be read"
    note "$name: uid $uid gid $gid, CapPrm=CapEff=CapBnd=$want, NoNewPrivs 1, in all $n of its threads"
}

# field_of STATUS FIELD: that line of a status text, after the colon.
field_of() {
    awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ +/, ""); print; exit }' <<<"$1"
}

# check_mode PATH MODE: PATH is the user's, with that octal mode.
check_mode() {
    local got
    got=$(stat -c '%a %U:%G' "$1")
    [[ $got == "$2 $USER_NAME:$USER_NAME" ]] || fail "$1 is '$got', not '$2 $USER_NAME:$USER_NAME'"
}

# raw_icmp_sockets NAME: how many raw ICMP sockets NAME holds.
raw_icmp_sockets() {
    local pid inodes
    pid=$(pid_of "$1")
    inodes=$(find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null |
        sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | sort -u)
    # /proc/net/raw: inode is the 10th column; protocol 1 is ICMP (the
    # local address's port field).
    awk 'NR > 1 { split($2, a, ":"); if (a[2] == "0001") print $10 }' "/proc/$pid/net/raw" |
        sort -u | comm -12 - <(echo "$inodes") | wc -l
}

# stored KIND: records of p1 stored, "icmp" to c1 answered, or "stamp" to p2.
stored() {
    "$PY" -c 'import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
q = {"icmp": "method = 2 AND target_id = %s" % "\x27c1\x27",
     "stamp": "method = 1"}[sys.argv[2]]
print(db.execute("SELECT count(*) FROM results WHERE probe_id = \x27p1\x27 AND received > 0"
                 " AND received = sent AND " + q).fetchone()[0])' "$TMP/ixmesh.db" "$1"
}

# wait_stored KIND MORE TIMEOUT: waits for MORE new records of KIND.
wait_stored() {
    local kind=$1 want t0
    want=$(($(stored "$kind") + $2))
    t0=$(date +%s)
    until (($(stored "$kind") >= want)); do
        (($(date +%s) - t0 < $3)) || fail "after $3 s only $(stored "$kind") $kind records of p1, not $want"
        sleep 1
    done
    note "p1: $(stored "$kind") $kind records stored"
}

# missing_user NAME BIN CONFIG: BIN, with user = a name nobody has, says
# what to do and exits 1.
missing_user() {
    local name=$1 bin=$2 cfg=$3 rc=0 ghost=ixmesh-nobody-$$
    sed "/^\[\(probe\|controller\)\]$/a user = $ghost" "$cfg" >"$TMP/$name-ghost.ini"
    timeout 20 "$bin" --config "$TMP/$name-ghost.ini" >"$TMP/$name-ghost.out" 2>&1 || rc=$?
    ((rc == 1)) || fail "$name with user = $ghost exited $rc, not 1: $(cat "$TMP/$name-ghost.out")"
    grep -qF "user '$ghost' does not exist: create it (useradd --system --no-create-home $ghost) or set user = in $TMP/$name-ghost.ini" \
        "$TMP/$name-ghost.out" || fail "$name did not explain the missing user: $(cat "$TMP/$name-ghost.out")"
    note "$name: $(grep -o "user '$ghost' does not exist.*" "$TMP/$name-ghost.out")"
}

# check_reflector PORT: 'ixmesh-probe reflect', which answers strangers on
# its own, leaves root too, once its socket (on a low port) is open: no
# capability at all, and it still answers.
check_reflector() {
    local rc=0 ghost=ixmesh-nobody-$$
    printf '#!/bin/sh\nshift 2\nexec %q reflect --listen %s:%s\n' "$PROBE_BIN" "$NET.9" "$1" \
        >"$TMP/reflect.sh"
    chmod +x "$TMP/reflect.sh"
    spawn reflector "$TMP/reflect.sh" /dev/null
    wait_log reflector 0 "running as user $USER_NAME" 10 >/dev/null ||
        fail "the reflector did not leave root: $(cat "$TMP/reflector.log")"
    check_creds reflector "$(caps_hex)"
    "$PROBE_BIN" measure stamp --count 3 --interval 100 "$NET.9:$1" >"$TMP/reflect-measure.out" 2>&1 ||
        fail "the reflector, as $USER_NAME, did not answer: $(cat "$TMP/reflect-measure.out")"
    note "reflector: $(grep -m1 -o 'running as user.*' "$TMP/reflector.log"); it answers"
    stop reflector
    timeout 10 "$PROBE_BIN" reflect --listen "$NET.9:$1" --user "$ghost" \
        >"$TMP/reflect-ghost.out" 2>&1 || rc=$?
    ((rc == 1)) || fail "reflect --user $ghost exited $rc, not 1"
    grep -qF "user '$ghost' does not exist: create it (useradd --system --no-create-home $ghost) or name another with --user" \
        "$TMP/reflect-ghost.out" || fail "reflect did not explain the missing user: $(cat "$TMP/reflect-ghost.out")"
}

main() {
    local low_port k spool f

    if ((EUID != 0)); then
        echo "SKIP [privs]: needs root (it tests the daemons leaving root) -- NOT RUN" >&2
        exit 77
    fi
    e2e_setup privs 80 "$1" "$2"
    getent passwd "$USER_NAME" >/dev/null ||
        fail "no user $USER_NAME: make it with deploy/deps.sh user (deps.sh test does)"
    # ICMP must go through the raw socket cap_net_raw is kept for: where
    # the system lets every group open ping sockets (systemd's default),
    # the probe would take one of those.  Back as it was at the end.
    local lo hi gid
    read -r lo hi </proc/sys/net/ipv4/ping_group_range
    gid=$(id -g "$USER_NAME")
    if ((gid >= lo && gid <= hi)); then
        echo "1 0" >/proc/sys/net/ipv4/ping_group_range || fail "cannot turn ping sockets off"
        E2E_ON_EXIT="echo '$lo $hi' >/proc/sys/net/ipv4/ping_group_range"
        note "ping sockets off for the test (they were allowed to groups $lo-$hi)"
    fi
    # In the exchange's STAMP range (862 and up), below 1024.
    low_port=980
    make_certs p1 p2
    write_controller_config
    printf '\n[content c1]\naddress = 127.0.0.1\nmethods = icmp\n' >>"$TMP/controller.ini"
    start_controller
    for k in 1 2; do write_probe_config "p$k" "$k"; done
    sed -i "s/^stamp_listen = .*/stamp_listen = $NET.1:$low_port/" "$TMP/p1.ini"
    spawn p1 "$PROBE_BIN" "$TMP/p1.ini"
    spawn p2 "$PROBE_BIN" "$TMP/p2.ini"
    wait_connected 30 p1 p2

    check_creds controller "$(caps_hex)"
    check_creds p1 "$(caps_hex "$CAP_NET_RAW" "$CAP_NET_BIND_SERVICE")"
    check_creds p2 "$(caps_hex "$CAP_NET_RAW")"

    # Measuring after the drop: STAMP both ways (p1's reflector on the low
    # port), ICMP opened by its first task, later, through a raw socket.
    wait_pairs 40 p1 p2
    wait_stored icmp 1 30
    (($(raw_icmp_sockets p1) >= 1)) || fail "p1 holds no raw ICMP socket"
    note "p1 measures ICMP through $(raw_icmp_sockets p1) raw socket(s)"

    check_mode "$TMP" 700
    for f in "$TMP/ixmesh.db" "$TMP/ixmesh.db-wal" "$TMP/ixmesh.db-shm"; do
        check_mode "$f" 600
    done
    for k in 1 2; do
        spool=$(spool_dir "p$k")
        check_mode "$spool" 700
        # The first segment is made when the first window closes: after
        # the drop, in the directory the user now owns.
        compgen -G "$spool/seg-*.spool" >/dev/null || fail "p$k's spool $spool has no segment"
        for f in "$spool"/*; do check_mode "$f" 600; done
    done
    note "database 0700/0600 and spools 0700/0600, all $USER_NAME's"

    # An older version ran as root: its spool is root's.  Taken back.
    stop p1
    chown -R root:root "$(spool_dir p1)"
    spawn p1 "$PROBE_BIN" "$TMP/p1.ini"
    wait_connected 30 p1 p2
    check_creds p1 "$(caps_hex "$CAP_NET_RAW" "$CAP_NET_BIND_SERVICE")"
    wait_stored stamp 2 30
    for f in "$(spool_dir p1)" "$(spool_dir p1)"/*; do
        [[ $(stat -c %U "$f") == "$USER_NAME" ]] || fail "$f is still $(stat -c %U "$f")'s"
    done
    note "p1 took back a spool left to root, and goes on delivering"

    # Started as the user itself: it runs as it is, and says so once.
    stop p2
    install -m 0600 -o "$USER_NAME" -g "$USER_NAME" "$TMP/pki/p2.key" "$TMP/p2-own.key"
    sed "s|^key = .*|key = $TMP/p2-own.key|" "$TMP/p2.ini" >"$TMP/p2-own.ini"
    printf '#!/bin/bash\nexec setpriv --reuid=%s --regid=%s --clear-groups %q "$@"\n' \
        "$USER_NAME" "$USER_NAME" "$PROBE_BIN" >"$TMP/as-user.sh"
    chmod +x "$TMP/as-user.sh"
    spawn p2 "$TMP/as-user.sh" "$TMP/p2-own.ini"
    wait_connected 30 p1 p2
    [[ $(grep -c 'not started as root: running as uid' "$TMP/p2.log") == 1 ]] ||
        fail "p2, started as $USER_NAME, did not say once that it runs as it is"
    [[ $(status_field "$(pid_of p2)" CapEff) == 0000000000000000 ]] ||
        fail "p2, started as $USER_NAME, has capabilities"
    note "p2, started as $USER_NAME: $(grep -o 'not started as root.*' "$TMP/p2.log")"

    missing_user p3 "$PROBE_BIN" "$TMP/p2.ini"
    missing_user controller2 "$CONTROLLER_BIN" "$TMP/controller.ini"
    check_reflector "$low_port"

    # Stopped as the user: a clean exit, nothing left to root.
    stop p1
    stop p2
    stop controller
}

main "$@"
