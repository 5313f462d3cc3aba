#!/bin/bash
# content.sh - the content node on the testbed, measured by every member with
# icmp, tcp, tls, http and dns: the map lists it with its methods, every
# method works (HTTP 200 served from the cache, a verified TLS 1.3 handshake,
# NOERROR from the resolver); then nginx stops, and within two windows
# every member's tcp, tls and http cells are 100 % loss, "refused", while
# icmp and dns go on unharmed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tb_setup content "$1" "$2"

W=2 # seconds: content attempts every W/2 s, so two or more a window
tb_up --members 2 --window "$W" --interval-ms 500
MAP=http://127.0.0.1:$TB_HTTP_PORT/api/v1/map

# Every member measures every method of cn without loss, with its details.
check_working() {
    curl -fsS "$MAP?window=6" >"$TMP/map.json" || return 1
    "$PY" - "$TMP/map.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
cn = [n for n in doc["nodes"] if n["id"] == "cn"]
assert cn and cn[0].get("kind") == "content", "cn is not a content node: %s" % cn
assert set(cn[0]["methods"]) == {"icmp", "tcp", "tls", "http", "dns"}, cn[0]["methods"]
pairs = {(p["src"], p["method"]): p for p in doc["pairs"] if p["dst"] == "cn"}
for m in ("m1", "m2"):
    for meth in ("icmp", "tcp", "tls", "http", "dns"):
        p = pairs.get((m, meth))
        assert p and p["received"] > 0 and p["loss_pct"] == 0, "%s %s: %s" % (m, meth, p)
    h, t, d = pairs[(m, "http")], pairs[(m, "tls")], pairs[(m, "dns")]
    assert h["http_status"] == 200 and h["header"]["value"] == "HIT", h
    assert t["tls_version"] == "TLSv1.3" and t["verify"] == "ok", t
    assert d["dns_rcode"] == "NOERROR" and d["dns_answers"] == 1, d
    print("%s: icmp %.3f  tcp %.3f  tls %.3f  http %.3f  dns %.3f ms (p50)" % (
        m, *(pairs[(m, x)]["rtt_p50_ms"] for x in ("icmp", "tcp", "tls", "http", "dns"))))
PY
}
for ((i = 0; i < 30; i++)); do
    check_working >"$TMP/working.txt" 2>&1 && break
    sleep 1
done
((i < 30)) || fail "the content node's methods never all worked: $(cat "$TMP/working.txt")"
cat "$TMP/working.txt"

# nginx stops.  The first window that starts after it is all loss: its
# record is in by two windows and the close timeout (1 s) later.
pid=$(awk '$1 == "nginx" { print $2 }' "$IXMESH_TESTBED_STATE/pids")
[[ -n $pid ]] || fail "no nginx in $IXMESH_TESTBED_STATE/pids"
t0=$(date +%s%3N)
kill -TERM "$pid"
note "stopped nginx (pid $pid) at $t0"

# lossy_since T0: every member has a tcp, tls and http record of a window
# starting at or after T0 with everything lost; prints the latest arrival.
lossy_since() {
    "$PY" - "$IXMESH_TESTBED_STATE/db/ixmesh.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
t0 = int(sys.argv[2])
last = 0
for m in ("m1", "m2"):
    for meth in (3, 4, 5):  # tcp, tls, http
        row = db.execute("SELECT MIN(stored_ms) FROM results WHERE probe_id = ? AND "
                         "target_id = 'cn' AND method = ? AND window_start_ms >= ? AND "
                         "sent > 0 AND received = 0", (m, meth, t0)).fetchone()
        if row[0] is None:
            sys.exit(1)
        last = max(last, row[0])
print(last)
PY
}
for ((i = 0; i < 40; i++)); do
    done_ms=$(lossy_since "$t0" 2>/dev/null) && break
    sleep 0.25
done
((i < 40)) || fail "tcp, tls and http of cn did not turn to loss within 10 s"
elapsed=$((done_ms - t0))
note "every member's tcp, tls and http cells were all loss $elapsed ms after the stop"
((elapsed <= 2 * W * 1000 + 1000 + 500)) ||
    fail "that is more than two windows ($((2 * W)) s) and the close timeout"

# The map's latest window says so, with the reason; icmp and dns are fine.
sleep 0.5
curl -fsS "$MAP?window=$W" >"$TMP/map2.json" || fail "no map"
"$PY" - "$TMP/map2.json" <<'PY' || fail "the map does not show it: $(cat "$TMP/map2.json")"
import json, sys
pairs = {(p["src"], p["method"]): p for p in json.load(open(sys.argv[1]))["pairs"]
         if p["dst"] == "cn"}
for m in ("m1", "m2"):
    for meth in ("tcp", "tls", "http"):
        p = pairs[(m, meth)]
        assert p["loss_pct"] == 100 and p["outcomes"].get("refused", 0) > 0, p
        print("%s %s: loss %s %%, %s (%s)" % (m, meth, p["loss_pct"], p["outcomes"], p["why"]))
    for meth in ("icmp", "dns"):
        assert pairs[(m, meth)]["loss_pct"] == 0, pairs[(m, meth)]
PY
note "PASS"
