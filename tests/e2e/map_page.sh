#!/bin/bash
# e2e.map_page: the map page, in a real browser, draws the matrix the API
# serves.
#
# Three probes measure each other; headless Chromium loads http://.../ and
# runs its script; the DOM it ends with must hold a cell per ordered pair,
# green (p50 under 5 ms) and showing a p50 in ms, and the diagonal as n/a.
#
# The configuration also names two content nodes: "closed", TCP to a port
# of 127.0.0.1 where nothing listens, and "api", TCP and HTTP to the
# controller's own HTTP server.  The page's content matrix must show a
# column per node and method; every probe's cell of closed/tcp red with
# "loss 100%" and "refused", of api/tcp green without loss, and of api/http
# with the status and the Content-Type in its title.
# A screenshot is left in the test's directory for a human to look at.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHROMIUM=/usr/bin/chromium

CELLS_PY='
import sys
from html.parser import HTMLParser

class Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self.cur = [], None
    def handle_starttag(self, tag, attrs):
        if tag == "td":
            a = dict(attrs)
            self.cur = {"cls": a.get("class", ""), "title": a.get("title", ""), "text": ""}
            self.cells.append(self.cur)
    def handle_endtag(self, tag):
        if tag == "td":
            self.cur = None
    def handle_data(self, data):
        if self.cur is not None:
            self.cur["text"] += data

c = Cells()
c.feed(open(sys.argv[1]).read())
ids = sys.argv[2:]
bad, found = [], 0
for s in ids:
    for d in ids:
        head = "Probe %s (%s) \u2192 Probe %s (%s)" % (s, s, d, d)
        cell = [x for x in c.cells if x["title"].startswith(head)]
        if not cell:
            bad.append("no cell for %s -> %s" % (s, d))
            continue
        x = cell[0]
        if s == d:
            ok = "diag" in x["cls"] and "n/a" in x["text"]
        else:
            ok = (x["cls"].split()[0] == "b0" and "ms" in x["text"] and "p50" in x["title"]
                  and "duplicates 0, reordered 0" in x["title"] and "path class: one-hop" in x["title"])
        found += ok
        if not ok:
            bad.append("%s -> %s: class %r, text %r" % (s, d, x["cls"], x["text"]))
print("%d of %d cells as expected" % (found, len(ids) ** 2))
if bad:
    print("; ".join(bad))
    sys.exit(1)
'

# CONTENT_PY DOM MAP ID...: the content matrix of the page in DOM, for the
# records of the map document MAP.
CONTENT_PY='
import json, sys
from html.parser import HTMLParser

class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.table, self.heads, self.cells, self.cur = 0, [], [], None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == "content-matrix":
            self.table = 1
        elif self.table and tag in ("th", "td"):
            self.cur = {"cls": a.get("class", ""), "title": a.get("title", ""), "text": ""}
            (self.heads if tag == "th" else self.cells).append(self.cur)
    def handle_endtag(self, tag):
        if tag == "table":
            self.table = 0
        if tag in ("th", "td"):
            self.cur = None
    def handle_data(self, data):
        if self.cur is not None:
            self.cur["text"] += data

page = Page()
page.feed(open(sys.argv[1]).read())
doc = json.load(open(sys.argv[2]))
ids = sys.argv[3:]
names = {"closed": "Closed port", "api": "Controller API"}
bad = []
for node, method in (("closed", "tcp"), ("api", "tcp"), ("api", "http")):
    if not any(h["text"].startswith(names[node]) and h["text"].endswith(method) for h in page.heads):
        bad.append("no column head %s %s" % (names[node], method))
measured = {(p["src"], p["dst"], p["method"]) for p in doc["pairs"]}
for s in ids:
    for node, method, want in (("closed", "tcp", "down"), ("api", "tcp", "up")):
        head = "Probe %s (%s) \u2192 %s (%s) \u00b7 %s" % (s, s, names[node], node, method)
        cell = [c for c in page.cells if c["title"].startswith(head)]
        if not cell:
            bad.append("no cell %s" % head)
            continue
        c = cell[0]
        if (s, node, method) not in measured:
            bad.append("%s: no record in the map yet" % head)
        elif want == "down":
            if not ("content-bad" in c["cls"] and "loss 100%" in c["text"] and "refused" in c["text"]
                    and "outcomes: refused" in c["title"]):
                bad.append("%s: class %r, text %r" % (head, c["cls"], c["text"]))
        elif not (c["cls"].split()[0] == "b0" and "ms" in c["text"] and "loss 0%" in c["text"]):
            bad.append("%s: class %r, text %r" % (head, c["cls"], c["text"]))
    head = "Probe %s (%s) \u2192 Controller API (api) \u00b7 http" % (s, s)
    cell = [c for c in page.cells if c["title"].startswith(head)]
    if not cell or "HTTP status 200" not in cell[0]["title"] or \
            "Content-Type: application/json" not in cell[0]["title"]:
        bad.append("%s: title %r" % (head, cell[0]["title"] if cell else None))
print("%d column heads, %d content cells" % (len(page.heads) - 1, len(page.cells)))
if bad:
    print("; ".join(bad))
    sys.exit(1)
'

# MAP_CONTENT_PY MAP ID...: the map lists both content nodes with their
# methods, and every probe has records of closed/tcp (all refused) and
# api/tcp (answered).  Prints what is missing.
MAP_CONTENT_PY='
import json, sys
doc = json.load(open(sys.argv[1]))
ids = sys.argv[2:]
nodes = {n["id"]: n for n in doc["nodes"]}
bad = []
for node, methods in (("closed", ["tcp"]), ("api", ["tcp", "http"])):
    n = nodes.get(node)
    if n is None or n.get("kind") != "content" or n.get("methods") != methods:
        bad.append("node %s: %r" % (node, n))
pairs = {(p["src"], p["dst"], p["method"]): p for p in doc["pairs"]}
for s in ids:
    p = pairs.get((s, "closed", "tcp"))
    if p is None or not p["sent"]:
        bad.append("%s->closed/tcp: no record" % s)
    elif p["loss_pct"] != 100 or not p["outcomes"].get("refused"):
        bad.append("%s->closed/tcp: loss %r, outcomes %r" % (s, p["loss_pct"], p["outcomes"]))
    p = pairs.get((s, "api", "tcp"))
    if p is None or not p["received"] or p["loss_pct"] != 0:
        bad.append("%s->api/tcp: not answered without loss (%r)" % (s, p))
    p = pairs.get((s, "api", "http"))
    if p is None or p.get("http_status") != 200 or \
            p.get("header") != {"name": "Content-Type", "value": "application/json"}:
        bad.append("%s->api/http: no 200 with its Content-Type (%r)" % (s, p))
if bad:
    print("; ".join(bad))
    sys.exit(1)
'

# wait_content TIMEOUT ID...: until MAP_CONTENT_PY is happy with the map.
wait_content() {
    local timeout=$1 t0 why
    shift
    t0=$(date +%s)
    while :; do
        if http_get "/api/v1/map?window=60" >"$TMP/map.json" 2>"$TMP/curl.err"; then
            why=$("$PY" -c "$MAP_CONTENT_PY" "$TMP/map.json" "$@" 2>&1) && return 0
        else
            why="GET /api/v1/map failed: $(cat "$TMP/curl.err")"
        fi
        alive controller || fail "the controller died; $why"
        if (($(date +%s) - t0 >= timeout)); then
            grep -h "does not announce" "$TMP/controller.log" >&2 || true
            fail "after $timeout s the map has no content records as expected: $why"
        fi
        sleep 1
    done
}

browser() {
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$TMP/chromium" --window-size=1200,900 \
        --virtual-time-budget=8000 "$@" "$BASE/" 2>>"$TMP/chromium.log"
}

main() {
    e2e_setup map_page 14 "$1" "$2"
    if [[ ! -x $CHROMIUM ]]; then
        echo "SKIP [map_page]: $CHROMIUM is missing (deploy/deps.sh test installs it)" >&2
        exit 77
    fi
    make_certs p1 p2 p3
    closed_port=$((19500 + 14))
    port_free tcp "$closed_port" || fail "TCP port $closed_port is in use: it must be closed"
    write_controller_config
    cat >>"$TMP/controller.ini" <<EOF

[content closed]
name = Closed port
address = 127.0.0.1
methods = tcp
port = $closed_port
interval_ms = 200
timeout_ms = 500

[content api]
name = Controller API
address = 127.0.0.1
methods = tcp http
port = $HTTP_PORT
http_port = $HTTP_PORT
path = /api/v1/probes
header = Content-Type
interval_ms = 500
timeout_ms = 500
EOF
    start_controller
    start_probe p1 1
    start_probe p2 2
    start_probe p3 3
    wait_pairs 30 p1 p2 p3
    browser --dump-dom >"$TMP/dom.html" || fail "chromium failed: $(tail -5 "$TMP/chromium.log")"
    "$PY" -c "$CELLS_PY" "$TMP/dom.html" p1 p2 p3 ||
        fail "the page does not show the matrix (DOM in $TMP/dom.html)"
    wait_content 30 p1 p2 p3
    note "content records: closed/tcp refused, api/tcp and api/http answered"
    browser --dump-dom >"$TMP/dom.html" || fail "chromium failed: $(tail -5 "$TMP/chromium.log")"
    http_get "/api/v1/map?window=60" >"$TMP/map.json" || fail "GET /api/v1/map failed"
    "$PY" -c "$CONTENT_PY" "$TMP/dom.html" "$TMP/map.json" p1 p2 p3 ||
        fail "the page does not show the content matrix (DOM in $TMP/dom.html)"
    browser --screenshot="$TMP/map.png" >/dev/null || true
    [[ -s $TMP/map.png ]] && note "screenshot: $TMP/map.png"
    note "ok"
}

main "$@"
