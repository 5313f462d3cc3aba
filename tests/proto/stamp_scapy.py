#!/usr/bin/python3
"""stamp_scapy.py STAMP_HEX - our STAMP codecs against scapy's (and tshark's).

Run by stamp_scapy.sh with Debian's /usr/bin/python3 and python3-scapy.

scapy 2.5 ships a STAMP layer of its own, scapy/contrib/stamp.py (RFC 8762
unauthenticated packets with the RFC 8972 SSID, and a generic RFC 8972 TLV),
written by people who never saw our code.  With it:

  1. scapy builds Session-Sender and Session-Reflector packets with chosen
     values; our decoder (stamp_hex decode) must print the same values;
  2. our encoder (stamp_hex encode) writes packets with the same values;
     scapy must dissect them to the same values;
  3. scapy builds a TLV area (RFC 8972 4) with known, unknown and Return
     Path TLVs; our reflector answers it (stamp_hex reflect-tlvs); scapy
     must read back as many TLVs of the same types and lengths, U set on
     the unknown ones only, values as RFC 8972 4.1-4.5 say;
  4. where tshark is installed, our packets go into a pcap and Wireshark's
     TWAMP-Test dissector must read the same values (it knows no SSID, so
     octets 14-15 show as its "MBZ" and must carry our SSID).

Two quirks of scapy 2.5's layer, worked around here and not ours:
  - its TLV list's length_from reads pkt.parent, which is None while
    dissecting, so a packet with TLVs does not dissect whole; we dissect
    the 44-octet base packet and the TLV area apart;
  - its TLV FlagsField names the bits LSB first ("UMIRRRRR" makes U 0x01),
    where RFC 8972 4 puts U in the most significant bit; we compare the
    flags octet as a raw number.
And one of Wireshark 4.0's: its TWAMP-Test dissector reads the Sender
Timestamp as NTP even when the Sender Error Estimate says PTP (Z=1), so that
timestamp is compared with tshark only when Z=0.

Values are compared as raw wire integers: scapy's NTP TimeStampField keeps
the raw 32.32 value internally, its PTP UTCTimeField the raw 64 bits.
"""

import calendar
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.contrib.stamp import (  # noqa: E402
    ErrorEstimate,
    STAMPSessionReflectorTestUnauthenticated as ScapyReflector,
    STAMPSessionSenderTestUnauthenticated as ScapySender,
    STAMPTestTLV,
)
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

BASE_LEN = 44
NTP_UNIX = 2208988800
TOOL = sys.argv[1]
checks = 0
failures = []


def check(what, ours, theirs):
    global checks
    checks += 1
    if ours != theirs:
        failures.append("%s: ours %r, theirs %r" % (what, ours, theirs))


def tool(args, text):
    p = subprocess.run([TOOL] + args, input=text, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("stamp_hex %s failed (%d): %s %s" % (" ".join(args), p.returncode,
                                                       p.stdout, p.stderr))
    return p.stdout


def ours_decode(kind, data):
    out = tool(["decode", kind], data.hex())
    return dict(line.split("=", 1) for line in out.split())


def ours_encode(kind, v, length):
    text = "".join("%s=%d\n" % (k, x) for k, x in v.items()) + "len=%d\n" % length
    return bytes.fromhex(tool(["encode", kind], text).strip())


def errest_fields(prefix, e):
    return {prefix + "_s": e[0], prefix + "_z": e[1], prefix + "_scale": e[2],
            prefix + "_mult": e[3]}


def scapy_errest(e):
    return ErrorEstimate(S=e[0], Z=e[1], scale=e[2], multiplier=e[3])


def from_scapy_errest(e):
    return (int(e.S), int(e.Z), int(e.scale), int(e.multiplier))


def set_raw(pkt, name, value):
    """Sets a field's internal (wire) value, bypassing its unit conversion."""
    pkt.fields[name] = value


def ts_now(ptp, offset_ns):
    """A plausible timestamp in either format, offset_ns from now."""
    ns = time.time_ns() + offset_ns
    sec, frac = divmod(ns, 10**9)
    if ptp:
        return (sec & 0xffffffff) << 32 | frac
    return ((sec + NTP_UNIX) & 0xffffffff) << 32 | (frac << 32) // 10**9


def random_values(rng, realistic):
    e = (rng.randrange(2), rng.randrange(2), rng.randrange(64), rng.randrange(1, 256))
    se = (rng.randrange(2), rng.randrange(2), rng.randrange(64), rng.randrange(1, 256))

    def ts(ptp, off):
        return ts_now(ptp, off) if realistic else rng.getrandbits(64)

    return {
        "seq": rng.getrandbits(32), "ts": ts(e[1], 3 * 10**6), "err": e,
        "ssid": rng.getrandbits(16), "rx_ts": ts(e[1], 10**6),
        "sender_seq": rng.getrandbits(32), "sender_ts": ts(se[1], 0), "sender_err": se,
        "sender_ttl": rng.getrandbits(8),
    }


def sender_fields(v):
    f = {"seq": v["seq"], "ts": v["ts"], "ssid": v["ssid"]}
    f.update(errest_fields("err", v["err"]))
    return f


def reflector_fields(v):
    f = sender_fields(v)
    f.update({"rx_ts": v["rx_ts"], "sender_seq": v["sender_seq"],
              "sender_ts": v["sender_ts"], "sender_ttl": v["sender_ttl"]})
    f.update(errest_fields("sender_err", v["sender_err"]))
    return f


def scapy_build(kind, v):
    if kind == "sender":
        p = ScapySender(seq=v["seq"], err_estimate=scapy_errest(v["err"]), ssid=v["ssid"])
        set_raw(p, "ts", v["ts"])
        return bytes(p)
    p = ScapyReflector(seq=v["seq"], err_estimate=scapy_errest(v["err"]), ssid=v["ssid"],
                       seq_sender=v["sender_seq"],
                       err_estimate_sender=scapy_errest(v["sender_err"]),
                       ttl_sender=v["sender_ttl"])
    set_raw(p, "ts", v["ts"])
    set_raw(p, "ts_rx", v["rx_ts"])
    set_raw(p, "ts_sender", v["sender_ts"])
    return bytes(p)


def scapy_read(kind, data):
    """scapy's view of a base packet, in our field names."""
    if kind == "sender":
        p = ScapySender(data[:BASE_LEN])
        f = {"seq": p.seq, "ts": p.getfieldval("ts"), "ssid": p.ssid}
        f.update(errest_fields("err", from_scapy_errest(p.err_estimate)))
        return f
    p = ScapyReflector(data[:BASE_LEN])
    f = {"seq": p.seq, "ts": p.getfieldval("ts"), "ssid": p.ssid,
         "rx_ts": p.getfieldval("ts_rx"), "sender_seq": p.seq_sender,
         "sender_ts": p.getfieldval("ts_sender"), "sender_ttl": p.ttl_sender}
    f.update(errest_fields("err", from_scapy_errest(p.err_estimate)))
    f.update(errest_fields("sender_err", from_scapy_errest(p.err_estimate_sender)))
    return f


def scapy_to_ours(rng):
    """1: built by scapy, read by ours."""
    for i in range(40):
        v = random_values(rng, realistic=i % 2 == 0)
        for kind, fields in (("sender", sender_fields), ("reflector", reflector_fields)):
            data = scapy_build(kind, v)
            check("scapy built a %s of %d octets" % (kind, len(data)), BASE_LEN, len(data))
            got = ours_decode(kind, data)
            for name, want in fields(v).items():
                check("scapy->ours %s %s" % (kind, name), str(want), got.get(name))


def ours_to_scapy(rng, packets):
    """2: written by ours, read by scapy; keeps some for tshark."""
    for i in range(40):
        v = random_values(rng, realistic=i % 2 == 0)
        length = BASE_LEN + rng.randrange(0, 60)
        for kind, fields in (("sender", sender_fields), ("reflector", reflector_fields)):
            f = fields(v)
            data = ours_encode(kind, f, length)
            check("ours wrote a %s of %d octets" % (kind, length), length, len(data))
            got = scapy_read(kind, data)
            for name, want in f.items():
                check("ours->scapy %s %s" % (kind, name), want, got[name])
            if i % 2 == 0 and len(packets) < 8:
                packets.append((kind, f, data))


def scapy_tlvs(data):
    """Dissects a TLV area with scapy's STAMPTestTLV, one TLV at a time."""
    out = []
    while data:
        t = STAMPTestTLV(data)
        out.append((int(t.flags), int(t.type), int(t.len), bytes(t.value)))
        data = bytes(t.payload)
    return out


def tlv(flags, tlv_type, value):
    return bytes(STAMPTestTLV(flags=flags, type=tlv_type, len=len(value), value=value))


def tlvs_reflected(rng):
    """3: a TLV area built by scapy, answered by our reflector, read by scapy."""
    pad = bytes(rng.getrandbits(8) for _ in range(9))
    unknown = bytes(rng.getrandbits(8) for _ in range(5))
    return_path = bytes.fromhex("0001000400000001")  # RFC 9503 Control Code sub-TLV
    sent = [
        (1, pad), (3, bytes(4)), (4, bytes.fromhex("b8000000")),
        (5, bytes.fromhex("0000004d" "00000000" "00000000")),
        (2, bytes(8)), (10, return_path), (200, unknown), (1, b""),
    ]
    area = b"".join(tlv(0x80, t, v) for t, v in sent)
    base = ScapySender(seq=1, err_estimate=ErrorEstimate(multiplier=1), ssid=7)
    set_raw(base, "ts", ts_now(0, 0))
    req = bytes(base) + area
    got_base = ours_decode("sender", req)
    check("TLV packet: our decoder reads the base packet", "7", got_base.get("ssid"))
    answer = bytes.fromhex(tool(["reflect-tlvs"], area.hex()).strip())
    check("reflected TLV area length (no amplification)", len(area), len(answer))
    got = scapy_tlvs(answer)
    check("reflected TLV count", len(sent), len(got))
    want_value = {
        1: None,  # copied
        3: bytes.fromhex("01020102"),  # NTP, software, both ways (4.3)
        4: bytes.fromhex("b8a90000"),  # DSCP1 46, DSCP2 10, ECN 2, RP 1 (4.4)
        5: bytes.fromhex("0000004d" "000003e8" "000003e7"),  # 77, 1000, 999 (4.5)
    }
    for (t, v), (flags, gt, glen, gv) in zip(sent, got):
        check("reflected TLV type", t, gt)
        check("reflected TLV %d length" % t, len(v), glen)
        known = t in want_value
        check("reflected TLV %d flags (U iff unknown)" % t, 0 if known else 0x80, flags)
        want = want_value.get(t) or v
        check("reflected TLV %d value" % t, want.hex(), gv.hex())


def tshark_time_ns(text):
    """Wireshark's absolute time text, in UTC, to nanoseconds since 1970."""
    m = re.match(r"^(.*\d\d:\d\d:\d\d)\.(\d{9})(.*)$", text)
    if not m:
        return None
    head, frac = m.group(1), int(m.group(2))
    for fmt in ("%b %d, %Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            sec = calendar.timegm(time.strptime(head.strip(), fmt))
            return sec * 10**9 + frac
        except ValueError:
            continue
    return None


def ts_ns(raw, ptp):
    """Expected nanoseconds, the way Wireshark reads the format."""
    if ptp:
        return (raw >> 32) * 10**9 + (raw & 0xffffffff)
    return ((raw >> 32) - NTP_UNIX) * 10**9 + ((raw & 0xffffffff) * 10**9 >> 32)


TSHARK_FIELDS = ["twamp.test.seq_number", "twamp.test.timestamp",
                 "twamp.test.error_estimate", "twamp.test.mbz1",
                 "twamp.test.receive_timestamp", "twamp.test.sender_seq_number",
                 "twamp.test.sender_timestamp", "twamp.test.sender_error_estimate",
                 "twamp.test.sender_ttl"]


def errest_value(f, prefix):
    return (f[prefix + "_s"] << 15 | f[prefix + "_z"] << 14 | f[prefix + "_scale"] << 8 |
            f[prefix + "_mult"])


def check_time(what, raw, ptp, text):
    got = tshark_time_ns(text)
    # Wireshark truncates an NTP fraction to whole ns where the raw value
    # lies between two; PTP is exact.
    ok = got is not None and 0 <= ts_ns(raw, ptp) - got + (0 if ptp else 1) <= (0 if ptp else 2)
    check(what, True, ok)
    if not ok:
        failures.append("  %s: raw 0x%016x, tshark %r" % (what, raw, text))


def tshark_rows(packets, tmp):
    pcap = os.path.join(tmp, "ours.pcap")
    wrpcap(pcap, [Ether() / IP(src="192.0.2.1", dst="192.0.2.2") /
                  UDP(sport=40000, dport=862) / Raw(data) for _, _, data in packets])
    args = ["tshark", "-r", pcap, "-d", "udp.port==862,twamp.test", "-T", "fields",
            "-E", "separator=|", "-E", "occurrence=f"]
    for f in TSHARK_FIELDS:
        args += ["-e", f]
    p = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, TZ="UTC"))
    if p.returncode != 0:
        sys.exit("tshark could not read our pcap: " + p.stderr)
    return [dict(zip(TSHARK_FIELDS, line.split("|"))) for line in p.stdout.splitlines()]


def ours_to_tshark(packets):
    """4: our packets read by Wireshark's TWAMP-Test dissector."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = tshark_rows(packets, tmp)
    check("tshark read every packet", len(packets), len(rows))
    for (kind, f, _), row in zip(packets, rows):
        check("tshark %s seq" % kind, str(f["seq"]), row["twamp.test.seq_number"])
        check("tshark %s error estimate" % kind, str(errest_value(f, "err")),
              row["twamp.test.error_estimate"])
        check("tshark %s octets 14-15 (SSID)" % kind, str(f["ssid"]), row["twamp.test.mbz1"])
        check_time("tshark %s timestamp" % kind, f["ts"], f["err_z"],
                   row["twamp.test.timestamp"])
        if kind != "reflector":
            continue
        check_time("tshark receive timestamp", f["rx_ts"], f["err_z"],
                   row["twamp.test.receive_timestamp"])
        check("tshark sender seq", str(f["sender_seq"]), row["twamp.test.sender_seq_number"])
        # Wireshark 4.0 reads the Sender Timestamp as NTP whatever the
        # Sender Error Estimate's Z bit says; compare only where that is right.
        if f["sender_err_z"] == 0:
            check_time("tshark sender timestamp", f["sender_ts"], 0,
                       row["twamp.test.sender_timestamp"])
        check("tshark sender error estimate", str(errest_value(f, "sender_err")),
              row["twamp.test.sender_error_estimate"])
        check("tshark sender TTL", str(f["sender_ttl"]), row["twamp.test.sender_ttl"])


def main():
    seed = int(os.environ.get("STAMP_SCAPY_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    packets = []
    print("proto.stamp_scapy: seed %d (set STAMP_SCAPY_SEED to replay)" % seed)
    scapy_to_ours(rng)
    ours_to_scapy(rng, packets)
    tlvs_reflected(rng)
    tshark = shutil.which("tshark") is not None
    if tshark:
        ours_to_tshark(packets)
    else:
        print("proto.stamp_scapy: tshark is not installed; only scapy compared")
    if failures:
        print("\n".join(failures[:50]), file=sys.stderr)
        print("proto.stamp_scapy FAILED: %d of %d checks" % (len(failures), checks),
              file=sys.stderr)
        return 1
    print("proto.stamp_scapy: %d checks passed (scapy %s%s)" % (
        checks, __import__("scapy").VERSION, ", tshark" if tshark else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
