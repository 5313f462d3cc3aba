#!/bin/bash
# ingest.sh - what storing a mesh's records costs the controller (issue 14):
# SIMS simulated probes (ixmesh-loadgen --all-tasks, real TLS, real frames)
# each given TASKS icmp tasks (one per [content] node) and sending one
# window of every task each second, against a real controller storing into
# a real SQLite file with synchronous=FULL, raw windows and rollups.
# Measured over the steady seconds: records stored and acknowledged per
# second, the controller's CPU per record (its utime + stime), how busy its
# event loop was (the main thread's CPU, a share of one core) and its store
# writer thread, its RSS.
#
# The reference, in the same script: Python's sqlite3 inserting as many
# rows of the same columns, in batches of TASKS, one commit a batch with
# synchronous=FULL (durable storage alone: no TLS, no decoding, no rollups).
#
# usage: ingest.sh BINDIR SRCDIR LOADGEN_DIR [SIMS TASKS SECONDS]
#        (default 100 probes x 50 tasks = 5,000 records/s for 10 s)
set -euo pipefail
# shellcheck source=../e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

# cpu_ticks [TID]: the controller's utime + stime, or one thread's of it.
cpu_ticks() {
    local pid
    pid=$(pid_of controller)
    awk '{ print $14 + $15 }' "/proc/$pid/${1:+task/$1/}stat"
}

# core_pct TICKS0 TICKS1 T0 T1 CLK_TCK: a thread's CPU between two readings,
# as a share of one core, in %.
core_pct() {
    awk -v a="$1" -v b="$2" -v s="$3" -v e="$4" -v t="$5" \
        'BEGIN { printf "%.0f", (b - a) / t / (e - s) * 100 }'
}

# writer_tid: the thread that writes the store (named ixmesh-writer).
writer_tid() {
    grep -l '^ixmesh-writer$' /proc/"$(pid_of controller)"/task/*/comm 2>/dev/null |
        awk -F/ '{ print $5; exit }'
}

# acked: the loadgen's acknowledged records, from a fresh status line.
acked() {
    local off
    off=$(log_size loadgen)
    kill -USR1 "$(pid_of loadgen)"
    wait_log loadgen "$off" "acked_records=" 5 | grep -oE "acked_records=[0-9]+" | cut -d= -f2
}

main() {
    local sims=${4:-100} tasks=${5:-50} secs=${6:-10} tck i a0 a1 c0 c1 t0 t1 rss
    local rate cpu_us ref_us pid wtid l0 l1 w0 w1 loop_pct writer_pct

    e2e_setup bench.ingest 46 "$1" "$2"
    LOADGEN_BIN=$3/ixmesh-loadgen
    [[ -x $LOADGEN_BIN ]] || fail "no ixmesh-loadgen in $3"
    tck=$(getconf CLK_TCK)
    make_certs
    write_controller_config
    sed -i -e 's/^log_level = .*/log_level = warn\nmax_pending = 1024\nmax_pending_per_source = 1024/' \
        -e "s|^prefixes = .*|&\nhello_burst = 1000|" -e 's/^window = 2$/window = 1/' \
        -e 's/^interval_ms = 200$/interval_ms = 1000/' "$TMP/controller.ini"
    for ((i = 1; i <= tasks; i++)); do
        printf '\n[content n%03d]\naddress = 127.0.%d.%d\nmethods = icmp\n' "$i" \
            $((200 + i / 250)) $((1 + i % 250)) >>"$TMP/controller.ini"
    done
    start_controller
    printf '#!/bin/sh\nexec %q --controller 127.0.0.1:%s --ca %q --ca-key %q --server-name 127.0.0.1 --probes %s --id-prefix in- --results-every 1 --report-every 0 --all-tasks --ramp 3\n' \
        "$LOADGEN_BIN" "$CHAN_PORT" "$TMP/pki/ca.pem" "$TMP/pki/ca.key" "$sims" >"$TMP/loadgen.sh"
    chmod +x "$TMP/loadgen.sh"
    spawn loadgen "$TMP/loadgen.sh" /dev/null
    allow_exit loadgen
    sleep 6 # connected, given their tasks, past the first batches
    pid=$(pid_of controller)
    wtid=$(writer_tid)
    [[ -n $wtid ]] || fail "the controller has no thread named ixmesh-writer"
    a0=$(acked)
    c0=$(cpu_ticks)
    l0=$(cpu_ticks "$pid")
    w0=$(cpu_ticks "$wtid")
    t0=$(date +%s.%N)
    sleep "$secs"
    a1=$(acked)
    c1=$(cpu_ticks)
    l1=$(cpu_ticks "$pid")
    w1=$(cpu_ticks "$wtid")
    t1=$(date +%s.%N)
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$(pid_of controller)/status")
    stop loadgen
    grep -q '^final .* bad_acks=0 .* protocol_faults=0 idle_closes=0 ' "$TMP/loadgen.log" ||
        fail "the loadgen saw faults: $(grep '^final' "$TMP/loadgen.log")"
    stop controller
    ref_us=$("$PY" - "$TMP/ref.db" "$tasks" $((a1 - a0)) <<'EOF'
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE results (probe_id TEXT, seq INTEGER, task_id INTEGER,"
           " method INTEGER, target_id TEXT, window_start_ms INTEGER, window_s INTEGER,"
           " sent INTEGER, received INTEGER, lost INTEGER, rtt_min_ns INTEGER,"
           " rtt_max_ns INTEGER, ipdv_sum_ns INTEGER, ipdv_count INTEGER, sketch BLOB,"
           " PRIMARY KEY (probe_id, seq)) WITHOUT ROWID")
batch, total = int(sys.argv[2]), max(int(sys.argv[3]), 1000)
sketch = os.urandom(35)
seq = 0
t0 = time.process_time() + 0
w0 = time.monotonic()
while seq < total:
    db.execute("BEGIN")
    db.executemany("INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   [("in-0001", seq + i, 16 * i, 2, "n%03d" % i, 1765000000000 + seq, 1,
                     10, 10, 0, 1000000, 3000000, 100000, 9, sketch) for i in range(batch)])
    db.execute("COMMIT")
    seq += batch
print("%.2f" % ((time.monotonic() - w0) * 1e6 / seq))
EOF
    )
    rate=$(awk -v a="$a0" -v b="$a1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')
    cpu_us=$(awk -v a="$a0" -v b="$a1" -v c="$c0" -v d="$c1" -v t="$tck" \
        'BEGIN { printf "%.2f", (d - c) / t * 1e6 / (b > a ? b - a : 1) }')
    # The loop is the main thread: its share of one core is how busy it was.
    loop_pct=$(core_pct "$l0" "$l1" "$t0" "$t1" "$tck")
    writer_pct=$(core_pct "$w0" "$w1" "$t0" "$t1" "$tck")
    printf '%-40s %12s\n' "$sims probes x $tasks tasks, 1 record/s each" "figure"
    printf '%-40s %12s\n' "offered (records/s)" $((sims * tasks)) \
        "stored and acknowledged (records/s)" "$rate" \
        "controller CPU per record (us)" "$cpu_us" \
        "event loop thread, % of a core" "$loop_pct" \
        "store writer thread, % of a core" "$writer_pct" \
        "controller RSS (kB)" "$rss" \
        "reference: bare SQLite, us per row" "$ref_us"
    awk -v a="$cpu_us" -v b="$ref_us" 'BEGIN { printf "ratio controller CPU / bare SQLite time per record: %.2f\n", a / (b > 0 ? b : 0.01) }'
    echo "probes=$sims tasks=$tasks offered_rps=$((sims * tasks)) acked_rps=$rate cpu_us_per_record=$cpu_us loop_pct=$loop_pct writer_pct=$writer_pct rss_kb=$rss ref_us_per_row=$ref_us"
    ((rate * 10 >= sims * tasks * 9)) || fail "stored $rate records/s of the $((sims * tasks)) offered"
    note ok
}

main "$@"
