#!/bin/bash
# e2e.member_records: a member may not poison the map nor fill the disk
# (issue 13).
#
# A content node gives every member one icmp task.  An honest member
# (ixmesh-loadgen) sends records of that task, which are stored.  Then a
# hostile member sends records of unknown tasks, invented targets, windows
# in 2100, an RTT of 2^64-1 ns and more replies than packets: every one must
# be acknowledged (or its probe would send it forever) and none stored;
# /api/v1/probes counts them per rule, the log says so once, and the map is
# what it was.  Last, one certificate sends batches of 1,024 records as fast
# as they are acknowledged: what is accepted must stay within its budget.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BACKLOG_RATE=100 # records/s beyond what a member's tasks produce

# member ID-PREFIX SECONDS ARGS...: a loadgen member; its last status line
# is in $TMP/ID-PREFIX.log.
member() {
    local id=$1 secs=$2
    shift 2
    "$BIN_DIR/ixmesh-loadgen" --controller "127.0.0.1:$CHAN_PORT" \
        --ca "$TMP/pki/ca.pem" --ca-key "$TMP/pki/ca.key" --server-name 127.0.0.1 \
        --probes 1 --id-prefix "$id" --report-every 0 --duration "$secs" "$@" \
        >"$TMP/$id.log" 2>&1 || fail "ixmesh-loadgen $id failed: $(cat "$TMP/$id.log")"
}

# field ID-PREFIX KEY: KEY=... of that member's final status line.
field() {
    grep -oE "(^| )$2=[0-9]+" <(grep '^final ' "$TMP/$1.log") | head -n 1 | cut -d= -f2
}

# probe_json ID EXPR: EXPR over p, the probe ID of /api/v1/probes.
probe_json() {
    probes_eval "[$2 for p in probes if p['id'] == '$1'][0]"
}

# map_cells: the measured pairs of the map over the last hour, as sorted
# JSON (a member that connects is a node of it, measured or not).
map_cells() {
    http_get "/api/v1/map?window=3600" >"$TMP/map.json" || fail "GET /api/v1/map failed"
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps(d["pairs"], sort_keys=True))' "$TMP/map.json"
}

main() {
    e2e_setup member_records 61 "$1" "$2"
    [[ -x $BIN_DIR/ixmesh-loadgen ]] || fail "no ixmesh-loadgen in $BIN_DIR"
    make_certs # the CA and the controller's certificate: the loadgen signs its own
    write_controller_config
    sed -i "s/^prefixes = .*/&\nbacklog_rate = $BACKLOG_RATE/" "$TMP/controller.ini"
    printf '\n[content target]\naddress = 127.0.0.1\nmethods = icmp\n' \
        >>"$TMP/controller.ini"
    start_controller

    member honest- 3 --results-every 0.2
    local stored acked
    stored=$(probe_json honest-0001 'p["delivery"]["stored"]')
    acked=$(field honest- acked_records)
    ((stored > 0 && stored == acked)) ||
        fail "the honest member has $stored records stored and $acked acknowledged"
    note "honest member: $stored records stored, all acknowledged"
    local before after off
    before=$(map_cells)

    off=$(log_size controller)
    member evil- 4 --results-every 0.2 --batch 50 --hostile mixed
    local sent bad refused
    sent=$(field evil- records_sent)
    acked=$(field evil- acked_records)
    bad=$(field evil- bad_acks)
    ((sent > 0 && acked == sent && bad == 0)) ||
        fail "hostile records: $sent sent, $acked acknowledged, $bad bad ACKs: every one must be acknowledged"
    refused=$(probe_json evil-0001 'p["refused"]')
    note "hostile member: $sent records sent and acknowledged; refused: $refused"
    "$PY" -c '
import ast, sys
r, n = ast.literal_eval(sys.argv[1]), int(sys.argv[2])
# mixed: unknown task and invented target count as task, then future
# window, RTT, and replies: 2 of 5 task, 1 window, 2 values.
ok = r["task"] + r["window"] + r["values"] == n and r["task"] > 0 and r["window"] > 0 \
    and r["values"] > 0 and "refused" in r["last"]
sys.exit(0 if ok else 1)' "$refused" "$sent" || fail "refusals counted wrong: $refused of $sent"
    stored=$(probe_json evil-0001 'p["delivery"]["stored"]')
    local delivery
    delivery=$(probe_json evil-0001 'p["delivery"]')
    [[ $stored == 0 ]] || fail "records of the hostile member were stored: $delivery"
    [[ $(probe_json evil-0001 'p["delivery"]["refused"]') == "$sent" ]] ||
        fail "the store counts other than $sent refused: $delivery"
    [[ $(probe_json evil-0001 'p["delivery"]["missing"]') == 0 ]] ||
        fail "refused records show as missing: $delivery"
    after=$(map_cells)
    [[ $before == "$after" ]] || fail "the map changed: before $before, after $after"
    note "the map is unchanged"
    local lines
    lines=$(log_since controller "$off" | grep -c "probe evil-0001: .* refusals since the last report" || true)
    ((lines == 1)) || fail "$lines log lines about the refusals in 4 s, want 1"
    log_since controller "$off" | grep -m1 "refusals since the last report"

    # A flood from one certificate: batches of 1,024 as fast as acknowledged.
    local secs=8 rate max
    member flood- "$secs" --results-every 0.001 --batch 1024
    acked=$(field flood- acked_records)
    rate=$((acked / secs))
    # The budget: one task (2 records a window, window 2 s) plus the backlog
    # rate, after a burst of 10 s of it (at least 1,024), and one batch over.
    max=$(((1 + BACKLOG_RATE) * (secs + 10) + 1024 + 1024))
    note "flood: $acked records acknowledged in $secs s ($rate/s), budget allows $max"
    ((acked > 0 && acked <= max)) || fail "$acked records accepted from one certificate in $secs s, budget $max"
    [[ $(field flood- bad_acks) == 0 ]] || fail "bad ACKs under the flood"
    alive controller || fail "the controller died"
    stop controller
}

main "$@"
