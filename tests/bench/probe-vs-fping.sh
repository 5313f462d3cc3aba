#!/bin/bash
# probe-vs-fping.sh - the icmp method costs less than fping: our one-shot
# icmp measurement and fping echo the same 1,000 loopback targets, 10 times
# each, at the same pace (1,000 echoes a second: each target once a second,
# one target a millisecond), in this one script, each timed by GNU time:
# whole-process user plus system CPU time, and peak RSS.
#
# Passes when ours takes at most 0.8 of fping's CPU time and at most
# 8192 KiB, with at least 99 % of its echoes answered.
#
# usage: probe-vs-fping.sh BINDIR SRCDIR [RUNS]
#   RUNS (default 1): pairs of runs; the figures are the medians.
# The last line: cpu_ratio=R rss_kib=X fping_rss_kib=Y
set -euo pipefail

BIN_DIR=$1
RUNS=${3:-1}
COUNT=10
TARGETS=1000
PY=/usr/bin/python3
GNU_TIME=/usr/bin/time
MAX_RATIO=0.8
MAX_RSS_KIB=8192
TMP=$(mktemp -d /tmp/ixmesh-bench-fping.XXXXXX)

skip() {
    echo "SKIP [bench.probe_vs_fping]: $* -- THIS BENCHMARK DID NOT RUN" >&2
    rm -rf "$TMP"
    exit 77
}
fail() {
    echo "FAIL [bench.probe_vs_fping]: $* (files kept in $TMP)" >&2
    exit 1
}

((EUID == 0)) || skip "needs root (fping's and our raw ICMP sockets)"
command -v fping >/dev/null || skip "fping is not installed (deploy/deps.sh test)"
[[ -x $GNU_TIME ]] || skip "GNU time ($GNU_TIME) is not installed"
[[ -x $BIN_DIR/ixmesh-probe ]] || fail "no ixmesh-probe in $BIN_DIR"

# 127.1.0.1 to 127.1.3.250: all of 127.0.0.0/8 is local, no address to add.
for ((i = 0; i < TARGETS; i++)); do
    echo "127.1.$((i / 250)).$((1 + i % 250))"
done >"$TMP/targets.txt"

# ours N: one run of our one-shot icmp mode; "user sys maxrss_kib" in ours-N.time.
ours() {
    "$GNU_TIME" -o "$TMP/ours-$1.time" -f '%U %S %M' \
        "$BIN_DIR/ixmesh-probe" measure icmp --targets-file "$TMP/targets.txt" \
        --count "$COUNT" --interval 1000 --json >"$TMP/ours-$1.json" ||
        fail "measure icmp failed (run $1)"
    # Every target answered in at least 99 % of all echoes.
    "$PY" - "$TMP/ours-$1.json" "$TARGETS" "$COUNT" <<'EOF' || fail "too few replies (run $1)"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n, count = int(sys.argv[2]), int(sys.argv[3])
sent = sum(r["sent"] for r in rows)
got = sum(r["received"] for r in rows)
print("ours: %d targets, %d sent, %d received" % (len(rows), sent, got), file=sys.stderr)
sys.exit(0 if len(rows) == n and sent == n * count and got >= 0.99 * n * count else 1)
EOF
}

# reference N: fping at the same pace: 1,000 targets 1 ms apart, each every
# 1,000 ms (-p), 10 times (-C); fping prints its results on stderr.
reference() {
    "$GNU_TIME" -o "$TMP/fping-$1.time" -f '%U %S %M' \
        fping -C "$COUNT" -p 1000 -i 1 -q -f "$TMP/targets.txt" \
        >/dev/null 2>"$TMP/fping-$1.out" || true
    [[ -s $TMP/fping-$1.time ]] || fail "fping did not run (run $1)"
}

for ((r = 1; r <= RUNS; r++)); do
    ours "$r"
    reference "$r"
    read -r u s m <"$TMP/ours-$r.time"
    read -r fu fs fm < <(tail -n 1 "$TMP/fping-$r.time")
    echo "run $r: ours ${u}s user ${s}s system ${m} KiB; fping ${fu}s user ${fs}s system ${fm} KiB"
    echo "$u $s $m $fu $fs $fm" >>"$TMP/runs"
done

# Medians over the runs: CPU of each, the ratio of the medians, peak RSS.
read -r ours_cpu fping_cpu ratio rss frss < <(awk '
    { oc[NR] = $1 + $2; fc[NR] = $4 + $5; om[NR] = $3; fm[NR] = $6 }
    function median(a, n,    i, j, t) {
        for (i = 1; i <= n; i++)
            for (j = i + 1; j <= n; j++)
                if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        o = median(oc, NR); f = median(fc, NR)
        printf "%.2f %.2f %.2f %d %d\n", o, f, (f > 0 ? o / f : 99), median(om, NR), median(fm, NR)
    }' "$TMP/runs")

printf '%-14s %10s %10s\n' tool "CPU (s)" "peak RSS"
printf '%-14s %10s %7s KiB\n' "ixmesh icmp" "$ours_cpu" "$rss"
printf '%-14s %10s %7s KiB\n' "fping" "$fping_cpu" "$frss"
echo "cpu_ratio=$ratio rss_kib=$rss fping_rss_kib=$frss"
awk -v r="$ratio" -v m="$MAX_RATIO" 'BEGIN { exit !(r <= m) }' ||
    fail "our CPU time is $ratio of fping's; at most $MAX_RATIO allowed"
((rss <= MAX_RSS_KIB)) || fail "our peak RSS is $rss KiB; at most $MAX_RSS_KIB allowed"
rm -rf "$TMP"
