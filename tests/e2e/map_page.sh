#!/bin/bash
# e2e.map_page: the map page, in a real browser, draws the matrix the API
# serves.
#
# Three probes measure each other; headless Chromium loads http://.../ and
# runs its script; the DOM it ends with must hold a cell per ordered pair,
# green (p50 under 5 ms) and showing a p50 in ms, and the diagonal as n/a.
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
    start_controller
    start_probe p1 1
    start_probe p2 2
    start_probe p3 3
    wait_pairs 30 p1 p2 p3
    browser --dump-dom >"$TMP/dom.html" || fail "chromium failed: $(tail -5 "$TMP/chromium.log")"
    "$PY" -c "$CELLS_PY" "$TMP/dom.html" p1 p2 p3 ||
        fail "the page does not show the matrix (DOM in $TMP/dom.html)"
    browser --screenshot="$TMP/map.png" >/dev/null || true
    [[ -s $TMP/map.png ]] && note "screenshot: $TMP/map.png"
    note "ok"
}

main "$@"
