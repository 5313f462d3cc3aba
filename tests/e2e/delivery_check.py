#!/usr/bin/python3
"""delivery_check.py - exactly once, read off the controller's SQLite file
and the probes' spools.

A probe numbers its records one by one from its spool's seq0 (the file
"seq0"), and never skips a number.  So a probe's stored records are exactly
once and complete when they are the numbers seq0 .. max with no hole, where
max is at least the last number the spool holds: any record lost in
between would be a hole, and the key (probe_id, seq) stores none twice.
With --missing, holes are allowed only as many as said, and they must be
the ones the controller recorded in its gaps table and the probe reported
per window in drops.

The rollups (1 minute, 1 hour, 1 day) are checked too: every bucket's row
must hold the counts, sums, minimum and maximum of the stored records whose
windows start in it, and there must be no other row: a record stored twice
or lost between the raw table and its rollups shows there.

usage: delivery_check.py DB ID=SPOOLDIR[:UPTO]... [--missing ID=N] [--windows S]
       delivery_check.py --top SPOOLDIR    the highest number the spool holds
       delivery_check.py --rollups DB      only the rollups against the records
  UPTO          the numbers up to UPTO must all be stored (a probe stopped
                once before its tail was acknowledged, and was started again
                to deliver it); the spool may hold more above it
  --windows S   also: each (probe, target, method) has a record for every
                S-second window from its first to its last (none missing)
  --until MS    ... of the windows that started before MS (Unix ms)
Prints one line per probe; exits 1 with the reason on the first failure.
"""
import argparse
import os
import sqlite3
import struct
import sys
import zlib


def fail(msg):
    print(f"delivery_check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def spool_seqs(spool):
    """The sequence numbers of the whole records in a spool directory, as
    the probe's recovery reads them: length, CRC-32 of seq and payload, seq,
    payload; the first record that is not whole and right ends a segment."""
    seqs = []
    for name in sorted(os.listdir(spool)):
        if not (name.startswith("seg-") and name.endswith(".spool")):
            continue
        with open(os.path.join(spool, name), "rb") as f:
            data = f.read()
        off = 0
        while off + 16 <= len(data):
            length, crc, seq = struct.unpack(">IIQ", data[off:off + 16])
            body = data[off + 16:off + 16 + length]
            if len(body) < length or zlib.crc32(data[off + 8:off + 16] + body) != crc:
                break
            seqs.append(seq)
            off += 16 + length
    return seqs


def check_probe(db, probe, spool, upto, missing_expected):
    with open(os.path.join(spool, "seq0")) as f:
        seq0 = int(f.read())
    stored = [r[0] for r in db.execute(
        "SELECT seq FROM results WHERE probe_id=? ORDER BY seq", (probe,))]
    if not stored:
        fail(f"{probe}: no record stored")
    if stored[0] != seq0:
        fail(f"{probe}: the first record stored is {stored[0]}, the spool began at {seq0}")
    held = spool_seqs(spool)
    top = stored[-1]
    if upto is None and held and held[-1] > top:
        fail(f"{probe}: the spool holds records up to {held[-1]}, stored only up to "
             f"{top}: not all delivered")
    if upto is not None and top < upto:
        fail(f"{probe}: records up to {upto} were spooled, stored only up to {top}")
    holes = (top - seq0 + 1) - len(stored)
    gaps = db.execute("SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM gaps"
                      " WHERE probe_id=?", (probe,)).fetchone()[0]
    reported = db.execute("SELECT coalesce(sum(records), 0) FROM drops"
                          " WHERE probe_id=?", (probe,)).fetchone()[0]
    dups = db.execute("SELECT coalesce(max(duplicates), 0) FROM delivery"
                      " WHERE probe_id=?", (probe,)).fetchone()[0]
    print(f"{probe}: seq0={seq0} stored={len(stored)} last={top} holes={holes} "
          f"gaps_recorded={gaps} drops_reported={reported} resends_ignored={dups}")
    if holes != missing_expected:
        fail(f"{probe}: {holes} records missing between {seq0} and {top}, "
             f"expected {missing_expected}")
    if gaps != holes:
        fail(f"{probe}: the controller recorded {gaps} missing, the numbers say {holes}")
    if reported != holes:
        fail(f"{probe}: the probe reported {reported} dropped, {holes} are missing")


def check_windows(db, window_s, until_ms):
    step = window_s * 1000
    rows = db.execute("SELECT probe_id, target_id, method, window_start_ms FROM results"
                      " WHERE window_start_ms < ? ORDER BY 1, 2, 3, 4",
                      (until_ms,)).fetchall()
    series = {}
    for probe, target, method, ws in rows:
        series.setdefault((probe, target, method), []).append(ws)
    for key, starts in series.items():
        for a, b in zip(starts, starts[1:]):
            if b - a != step:
                fail(f"{key}: windows {a} and {b} are {b - a} ms apart, not {step}")
    print(f"windows: {len(series)} series, {len(rows)} records, none missing")


ROLLUP_LEVELS = (60, 3600, 86400)


def check_rollups(db):
    for level in ROLLUP_LEVELS:
        step = level * 1000
        raw = db.execute(
            "SELECT probe_id, target_id, method, window_start_ms - window_start_ms % ?,"
            " count(*), sum(sent), sum(received), sum(lost), sum(duplicates),"
            " sum(reordered), sum(ipdv_sum_ns), sum(ipdv_count),"
            " coalesce(min(CASE WHEN received > 0 THEN rtt_min_ns END), 0),"
            " coalesce(max(CASE WHEN received > 0 THEN rtt_max_ns END), 0),"
            " max(window_start_ms) FROM results GROUP BY 1, 2, 3, 4", (step,)).fetchall()
        rolled = db.execute(
            "SELECT p.probe_id, p.target_id, p.method, r.bucket_ms, r.windows, r.sent,"
            " r.received, r.lost, r.duplicates, r.reordered, r.ipdv_sum_ns,"
            " r.ipdv_count, r.rtt_min_ns, r.rtt_max_ns, r.last_ms"
            f" FROM rollup_{level} r JOIN pairs p ON p.key = r.pair").fetchall()
        a, b = set(raw), set(rolled)
        if a != b:
            fail(f"rollup_{level}: {len(a - b)} buckets of the records are not in the"
                 f" rollups (e.g. {sorted(a - b)[:2]}), {len(b - a)} rollup rows match no"
                 f" records (e.g. {sorted(b - a)[:2]})")
        print(f"rollup_{level}: {len(b)} buckets, {sum(r[4] for r in rolled)} windows,"
              " equal to the records' sums")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--top":
        seqs = spool_seqs(sys.argv[2])
        print(seqs[-1] if seqs else 0)
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--rollups":
        check_rollups(sqlite3.connect(f"file:{sys.argv[2]}?mode=ro", uri=True))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("probes", nargs="+", metavar="ID=SPOOLDIR[:UPTO]")
    ap.add_argument("--missing", action="append", default=[], metavar="ID=N")
    ap.add_argument("--windows", type=int, metavar="S")
    ap.add_argument("--until", type=int, default=2**62, metavar="MS")
    a = ap.parse_args()
    missing = {k: int(v) for k, v in (m.split("=", 1) for m in a.missing)}
    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    for p in a.probes:
        probe, spool = p.split("=", 1)
        spool, _, upto = spool.partition(":")
        check_probe(db, probe, spool, int(upto) if upto else None, missing.get(probe, 0))
    if a.windows:
        check_windows(db, a.windows, a.until)
    check_rollups(db)


main()
