# delivery_lib.sh - what the delivery tests share; sourced after lib.sh.
#
# A probe's records are numbered one by one from its spool's seq0, so a
# test reads the newest number off the spool files (spool_top) and the
# highest stored off the controller's database (db_top).  deliver_all ends
# a test: it stops every probe, notes how far each spool got, starts them
# again until the controller has all of it, and checks with
# delivery_check.py that every record up to there is stored exactly once.
# shellcheck shell=bash

declare -A DL_K=() # probe id -> its index K for start_probe

DL_CHECK=$(dirname "${BASH_SOURCE[0]}")/delivery_check.py

# dl_skip NAME REASON: a test that cannot run here says so, loudly; ctest
# counts exit 77 as skipped, not passed.
dl_skip() {
    echo "SKIP [$1]: $2 -- THIS TEST DID NOT RUN" >&2
    exit 77
}

# dl_configure ID...: certificates for the probes, and the controller's
# configuration with one-second windows (more windows a test minute).
dl_configure() {
    make_certs "$@"
    write_controller_config
    sed -i 's/^window = 2$/window = 1/' "$TMP/controller.ini"
}

# dl_content_nodes N: N content nodes on 127.0.0.1 (echo, and a closed TCP
# port): each gives every probe two more records a window.
dl_content_nodes() {
    local i
    for ((i = 1; i <= $1; i++)); do
        printf '\n[content c%d]\naddress = 127.0.0.1\nmethods = icmp tcp\nport = 9\n' "$i"
    done >>"$TMP/controller.ini"
}

# dl_mesh_up ID...: the controller, then probe K of the list on $NET.K,
# until every pair has records.
dl_mesh_up() {
    local k=0 id
    start_controller
    for id in "$@"; do
        dl_start "$id" $((++k))
    done
    wait_pairs 30 "$@"
}

# dl_start ID K: start_probe, remembering K for a restart.
dl_start() {
    DL_K[$1]=$2
    start_probe "$1" "$2"
}

# spool_top ID: the highest sequence number of a whole record in the spool.
spool_top() {
    "$PY" "$DL_CHECK" --top "$(spool_dir "$1")"
}

# db_top ID: the highest sequence number stored for the probe (0: none).
db_top() {
    "$PY" -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=10)
print(db.execute("SELECT coalesce(max(seq), 0) FROM results WHERE probe_id=?",
                 (sys.argv[2],)).fetchone()[0])' "$TMP/ixmesh.db" "$1"
}

# db_count: records stored, all probes.
db_count() {
    "$PY" -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=10)
print(db.execute("SELECT count(*) FROM results").fetchone()[0])' "$TMP/ixmesh.db"
}

# wait_stored ID SEQ SECS: until the controller has stored up to SEQ.
wait_stored() {
    local id=$1 seq=$2 secs=$3 t0 top
    t0=$(date +%s)
    while :; do
        top=$(db_top "$id")
        ((top >= seq)) && return 0
        (($(date +%s) - t0 < secs)) || fail "$id: stored up to $top, not $seq, after $secs s"
        sleep 0.5
    done
}

# kill_hard NAME: SIGKILL, the crash a test is about (its status is then
# no failure).
kill_hard() {
    allow_exit "$1"
    kill -KILL "$(pid_of "$1")"
    wait "$(pid_of "$1")" 2>/dev/null || true
    note "killed $1 with SIGKILL"
}

# deliver_all [CHECK OPTIONS...]: stops the probes, delivers what their
# spools hold, stops the controller and runs delivery_check.py on it all.
# Windows are checked (--windows) only up to the first stop: a stopped
# probe measures nothing.
deliver_all() {
    local id args=() until_ms
    declare -A top=()
    until_ms=$(($(date +%s%3N) - 3000))
    for id in "${!DL_K[@]}"; do
        stop "$id"
        top[$id]=$(spool_top "$id")
    done
    for id in "${!DL_K[@]}"; do
        start_probe "$id" "${DL_K[$id]}"
    done
    for id in "${!DL_K[@]}"; do
        wait_stored "$id" "${top[$id]}" 60
        args+=("$id=$(spool_dir "$id"):${top[$id]}")
    done
    for id in "${!DL_K[@]}"; do
        stop "$id"
    done
    stop controller
    note "every probe's spool delivered; checking the database"
    "$PY" "$DL_CHECK" "$TMP/ixmesh.db" "${args[@]}" --until "$until_ms" "$@" ||
        fail "delivery_check.py found a record lost or doubled (above)"
}
