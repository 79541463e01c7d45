#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Smoke test of the benchmarks (ctest bench_smoke): they run and report something sane.

1. automap_bench, a few cases, --benchmark_min_time=0.01: every case reports items_per_second.
2. bench/automap-bench --duration 1 --repeat 1 against automapd and the UDP floor (udp-null):
   the markdown table has a row per class with a non-zero q/s and no loss worth mentioning,
   and the floor answers everything REFUSED.
3. The same against PowerDNS with automapd pipe and with the canned-answer baseline.
4. --dnssec (dnsperf -D) against automapd signing and Knot mod-onlinesign, one class: both
   rows (random and repeated names) answer NOERROR only (compact denial on both sides); the
   harness itself refuses a target whose DNSKEY answer carries no RRSIG.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

CASES = "BM_ReversePtrV4/1024|BM_ReversePtrV6/1024|BM_ForwardV4/1024|BM_PipeQuery/ptr4|" \
        "BM_WireQuery/ptr4/|BM_SoaProbeLookup/ptr4|BM_Lpm/1000$"


def fail(msg):
    print("bench_smoke: FAIL: " + msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--harness", required=True)
    ap.add_argument("--build", required=True)
    a = ap.parse_args()

    r = subprocess.run([a.bench, "--benchmark_min_time=0.01", "--benchmark_filter=" + CASES,
                        "--benchmark_format=json"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail("automap_bench exited %d:\n%s" % (r.returncode, r.stderr))
    results = json.loads(r.stdout)["benchmarks"]
    if len(results) < 7:
        fail("expected 7 cases, got %s" % [b["name"] for b in results])
    for b in results:
        if b.get("error_occurred") or not b.get("items_per_second"):
            fail("case %s: %s" % (b["name"], b.get("error_message", "no items_per_second")))
        print("%-32s %8.0f ns" % (b["name"], b["real_time"]))

    if not shutil.which("dnsperf"):
        print("bench_smoke: dnsperf not installed, harness part skipped")
        sys.exit(77)
    r = subprocess.run(["/usr/bin/python3", a.harness, "--build", a.build, "--duration", "1",
                        "--repeat", "1", "--targets", "automapd,udp-null", "--names", "5000"],
                       capture_output=True, text=True, timeout=90)
    print(r.stdout)
    if r.returncode != 0:
        fail("automap-bench exited %d:\n%s" % (r.returncode, r.stderr[-3000:]))
    rows = {}
    floor_rows = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and cells[1] == "automapd":
            rows[cells[0]] = cells
        if len(cells) >= 6 and cells[1] == "udp-null":
            floor_rows[cells[0]] = cells
    # The UDP floor answers every query REFUSED and nothing else.
    for cls in ("ptr4", "ptr6", "a", "aaaa"):
        if cls not in floor_rows or floor_rows[cls][6] != "REFUSED 100%":
            fail("udp-null %s: %s" % (cls, floor_rows.get(cls)))
    for cls in ("ptr4", "ptr6", "a", "aaaa"):
        if cls not in rows:
            fail("no table row for %s" % cls)
        qps = float(rows[cls][2].replace(",", ""))
        if qps <= 0:
            fail("%s: q/s is %s" % (cls, rows[cls][2]))
        loss = float(rows[cls][5].rstrip("%"))
        if loss > 5:
            fail("%s: loss %s" % (cls, rows[cls][5]))
        if not re.search(r"NOERROR", rows[cls][6]):
            fail("%s: rcodes %s" % (cls, rows[cls][6]))
    if shutil.which("pdns_server") or os.access("/usr/sbin/pdns_server", os.X_OK):
        # The canned-answer baseline must make PowerDNS do automap's work: same zones found,
        # names answered (NOERROR) and the generated NXDOMAIN names answered empty, so the
        # rcode mix and the ratio between the two mean something.
        r = subprocess.run(["/usr/bin/python3", a.harness, "--build", a.build, "--duration", "1",
                            "--repeat", "1", "--targets", "pdns+automap,pdns+canned",
                            "--classes", "ptr4,aaaa", "--names", "2000",
                            "--nxdomain-share", "0.2"], capture_output=True, text=True,
                           timeout=120)
        print(r.stdout)
        if r.returncode != 0:
            fail("automap-bench (PowerDNS) exited %d:\n%s" % (r.returncode, r.stderr[-3000:]))
        seen = 0
        for line in r.stdout.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 9 and cells[1] in ("pdns+automap", "pdns+canned"):
                seen += 1
                m = re.fullmatch(r"NOERROR (\d+)%, NXDOMAIN (\d+)%", cells[6])
                if not m or not 10 <= int(m.group(2)) <= 30:
                    fail("%s %s: rcodes %s (want about 20%% NXDOMAIN)" % (cells[0], cells[1],
                                                                         cells[6]))
                if not re.match(r"^[0-9.]+$", cells[8]) or float(cells[8]) <= 0:
                    fail("%s %s: no pipe CPU share (%s)" % (cells[0], cells[1], cells[8]))
        if seen != 4:
            fail("expected 4 PowerDNS rows, got %d" % seen)
    if shutil.which("knotd"):
        r = subprocess.run(["/usr/bin/python3", a.harness, "--build", a.build, "--duration", "1",
                            "--repeat", "1", "--dnssec", "--classes", "ptr4", "--names", "2000",
                            "--threads", "1", "--no-install"], capture_output=True, text=True,
                           timeout=120)
        print(r.stdout)
        if r.returncode != 0:
            fail("automap-bench --dnssec exited %d:\n%s" % (r.returncode, r.stderr[-3000:]))
        seen = set()
        for line in r.stdout.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 11 and cells[1] in ("automapd+dnssec", "knot+onlinesign"):
                seen.add((cells[0], cells[1]))
                if cells[6] != "NOERROR 100%" or float(cells[2].replace(",", "")) <= 0:
                    fail("--dnssec %s %s: %s q/s, rcodes %s" % (cells[0], cells[1], cells[2],
                                                                cells[6]))
        if len(seen) != 4:
            fail("--dnssec: expected 4 rows (ptr4 random/repeated x 2 targets), got %s" % seen)
    if shutil.which("dnsdist"):
        # Issue 15's front: dnsdist in front of automapd serve answers like automapd.
        r = subprocess.run(["/usr/bin/python3", a.harness, "--build", a.build, "--duration", "1",
                            "--repeat", "1", "--targets", "dnsdist+automapd", "--classes",
                            "ptr4", "--names", "2000", "--nxdomain-share", "0.2"],
                           capture_output=True, text=True, timeout=120)
        print(r.stdout)
        if r.returncode != 0:
            fail("automap-bench (dnsdist) exited %d:\n%s" % (r.returncode, r.stderr[-3000:]))
        rows = [[c.strip() for c in line.strip().strip("|").split("|")]
                for line in r.stdout.splitlines() if "| dnsdist+automapd |" in line]
        if len(rows) != 1 or not re.fullmatch(r"NOERROR \d+%, NXDOMAIN \d+%", rows[0][6]):
            fail("dnsdist+automapd: %s" % rows)
    print("bench_smoke: ok")


if __name__ == "__main__":
    main()
