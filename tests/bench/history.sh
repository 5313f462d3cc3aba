#!/bin/bash
# history.sh - what reading history costs the controller (issue 14): a
# database of PROBES probes in a full mesh, RAW minutes of raw windows
# written through the store and, before them, rollup rows (minute, hour and
# day levels over the days given), behind a real controller; then the time
# the server took (its Server-Timing header) for the map of the last
# minute, hour, 24 hours and 30 days, for the 30 days as format=matrix, for
# one pair's series over 30 days, and for /api/v1/probes; the controller's
# memory before and after; and the octets per row of each level.
#
# The reference, in the same script: Python's sqlite3 summing the raw
# windows of the last hour per pair (no sketches, no JSON), the least any
# map of that hour has to read.
#
# usage: history.sh BINDIR SRCDIR HISTORY_GEN [PROBES RAW_MIN MINUTE_D HOUR_D DAY_D]
#        (default 30 probes, 60 raw minutes, 2, 30 and 30 days)
set -euo pipefail
# shellcheck source=../e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

# server_ms PATH: the database time of one answer (Server-Timing), or the
# whole time for answers without it; fails on anything but a 200.
server_ms() {
    local out
    out=$(curl -s -D - -o "$TMP/answer.json" -w '%{http_code} %{time_total}' --max-time 120 \
        "$BASE$1") || fail "GET $1 failed"
    [[ $out == *"200 "* ]] || fail "GET $1: $(tail -c 300 "$TMP/answer.json")"
    if [[ $out =~ db\;dur=([0-9.]+) ]]; then
        echo "${BASH_REMATCH[1]}"
    else
        awk '{ printf "%.1f\n", $NF * 1000 }' <<<"${out##*$'\n'}"
    fi
}

rss_kb() {
    awk '/^VmRSS/ { print $2 }' "/proc/$(pid_of controller)/status"
}

main() {
    local gen=$3 probes=${4:-30} raw=${5:-60} md=${6:-2} hd=${7:-30} dd=${8:-30}
    local gen_t0 live_s rss2 now from1h t60 t1h t24h t30d tmx tser tprobes tref rss0 rss1 sizes pair

    e2e_setup bench.history 45 "$1" "$2"
    [[ -x $gen ]] || fail "no history_gen at $gen"
    make_certs
    write_controller_config
    sed -i 's/^log_level = .*/log_level = info/' "$TMP/controller.ini"
    gen_t0=$(date +%s) # the raw windows end here
    "$gen" "$TMP/ixmesh.db" "$probes" "$raw" "$md" "$hd" "$dd" >"$TMP/gen.log" 2>&1 ||
        fail "history_gen: $(cat "$TMP/gen.log")"
    note "$(cat "$TMP/gen.log")"
    start_controller
    rss0=$(rss_kb)
    now=$(date +%s)
    from1h=$((now - 3600))
    # The live map of the newest raw minute: a large mesh takes minutes to
    # generate, so the look-back reaches back to where its windows end.
    live_s=$((now - gen_t0 + 60))
    t60=$(server_ms "/api/v1/map?window=$live_s")
    "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert len(d["pairs"]) == n * (n - 1), len(d["pairs"])' "$TMP/answer.json" "$probes" ||
        fail "the live map of the newest minute does not hold the mesh's pairs"
    t1h=$(server_ms "/api/v1/map?from=$from1h&to=$now")
    t24h=$(server_ms "/api/v1/map?from=$((now - 86400))&to=$now")
    t30d=$(server_ms "/api/v1/map?from=$((now - 30 * 86400))&to=$now")
    "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert len(d["pairs"]) == n * (n - 1), len(d["pairs"])' "$TMP/answer.json" "$probes" ||
        fail "the 30-day map does not hold the mesh's pairs"
    tmx=$(server_ms "/api/v1/map?from=$((now - 30 * 86400))&to=$((now - 1))&format=matrix")
    pair="probe-0001/probe-0002"
    tser=$(server_ms "/api/v1/pairs/$pair/series?from=$((now - 30 * 86400))&to=$now&step=3600")
    tprobes=$(server_ms "/api/v1/probes")
    rss1=$(rss_kb)
    sleep 6 # the answers are kept 5 s for identical requests, then go
    rss2=$(rss_kb)
    stop controller
    read -r tref sizes < <("$PY" - "$TMP/ixmesh.db" "$((from1h * 1000))" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
t0 = time.monotonic()
rows = db.execute("SELECT probe_id, target_id, method, sum(sent), sum(received)"
                  " FROM results WHERE window_start_ms >= ? GROUP BY 1, 2, 3",
                  (int(sys.argv[2]),)).fetchall()
ms = (time.monotonic() - t0) * 1000
out = []
for t in ("results", "rollup_60", "rollup_3600", "rollup_86400"):
    octets = db.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ? OR name IN"
                        " (SELECT name FROM sqlite_master WHERE tbl_name = ?"
                        " AND type = 'index')", (t, t)).fetchone()[0] or 0
    n = db.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
    out.append("%.1f" % (octets / n if n else 0))
print("%.1f %s" % (ms, " ".join(out)))
EOF
    )
    read -r o_raw o_min o_hour o_day <<<"$sizes"
    printf '%-44s %10s\n' "$probes probes, $raw raw minutes, ${hd} d of hours" "server ms"
    printf '%-44s %10s\n' "live map, newest raw minute (window=$live_s)" "$t60" "map, last hour" "$t1h" \
        "map, last 24 h" "$t24h" "map, last 30 days" "$t30d" "map, 30 days, format=matrix" "$tmx" \
        "series of one pair, 30 days, step 1 h" "$tser" "/api/v1/probes" "$tprobes" \
        "reference: bare SQL sum of the last hour" "$tref"
    awk -v a="$t1h" -v b="$tref" 'BEGIN { printf "ratio map of the hour / bare SQL: %.2f\n", a / (b > 0 ? b : 0.1) }'
    echo "controller RSS: $rss0 kB at start, $rss1 kB after the maps, $rss2 kB 6 s later"
    echo "octets per row: raw $o_raw, minute $o_min, hour $o_hour, day $o_day"
    echo "probes=$probes raw_min=$raw map_1m_ms=$t60 map_1h_ms=$t1h map_24h_ms=$t24h map_30d_ms=$t30d matrix_30d_ms=$tmx series_30d_ms=$tser probes_ms=$tprobes ref_1h_ms=$tref rss_start_kb=$rss0 rss_after_kb=$rss1 rss_6s_kb=$rss2 raw_octets=$o_raw minute_octets=$o_min hour_octets=$o_hour day_octets=$o_day"
    note ok
}

main "$@"
