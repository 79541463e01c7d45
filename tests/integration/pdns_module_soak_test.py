#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""backend/pdns under load: 1,000,000 queries through a real pdns_server with the module.

pdns_server loads libautomapbackend.so (zone cache on, packet and query caches off, so every
query reaches the module) on the Knot differential's configuration (10.0.0.0/16 and
2001:db8:1::/48) with an LMDB store. dnsperf sends a seeded file of distinct names five
times over (PTR v4 and v6, A, AAAA, NXDOMAIN names, empty non-terminals), while `mapctl add`
and `mapctl del` change overrides of addresses the file asks about. Meanwhile pdns_server's
VmRSS (/proc/PID/status) is sampled. Checks:
- dnsperf's rcode counts: no SERVFAIL, only NOERROR and NXDOMAIN, and the NXDOMAIN share of
  the file (within 1 point: the overrides do not change an rcode, the share is exact but for
  lost queries);
- lost queries at most --max-lost (default 0.01%, 100 of 1M);
- RSS growth from the first to the last quarter of the run (median of the samples of each;
  the first quarter starts after --warmup queries) at most --max-growth-mb (default 4 MB).
  Why 4 MB: 1M queries make 4-5M backend rows; a leak of one PowerDNS DNSName or record
  content per query (32 bytes or more, with malloc's header) grows RSS by at least 16 MB
  over the half a million queries between the two quarter medians, while glibc's arenas,
  once warm, move by well under 1 MB (measured: see backend/pdns/README.md);
- the last override added is answered at once after the run, and pdns_server still runs.

usage: pdns_module_soak_test.py MAPCTL MODULE_DIR [--queries 1000000] [--names 200000]
                                [--max-growth-mb 4] [--max-lost 100]
"""
import argparse
import ipaddress
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import dns.rdatatype

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
sys.path.insert(0, os.path.dirname(__file__))
from checks import check, summary  # noqa: E402
from knot_diff_test import AUTOMAP_CONFIG, NET4, NET6, knot_ip, random_addr  # noqa: E402
from pdns import PdnsServer  # noqa: E402


def query_file(path, rng, n):
    """n lines of `NAME TYPE`: 30% PTR v4, 30% PTR v6, 15% A, 10% AAAA, 10% NXDOMAIN, 5%
    empty non-terminals. Returns (the number of NXDOMAIN lines, the v4 addresses asked)."""
    nx = 0
    v4 = []
    outside4 = ipaddress.ip_network("10.1.0.0/16")
    with open(path, "w") as f:
        for i in range(n):
            k = rng.randrange(20)
            if k < 6:
                a = random_addr(rng, NET4)
                v4.append(a)
                f.write("%s PTR\n" % a.reverse_pointer)
            elif k < 12:
                f.write("%s PTR\n" % random_addr(rng, NET6).reverse_pointer)
            elif k < 15:
                f.write("ip-%s.pool.example.net A\n" % knot_ip(random_addr(rng, NET4)))
            elif k < 17:
                f.write("ip-%s.pool.example.net AAAA\n" % knot_ip(random_addr(rng, NET6)))
            elif k < 19:
                nx += 1
                if k == 17:  # inside the zone, outside the networks
                    f.write("ip-%s.pool.example.net A\n" % knot_ip(random_addr(rng, outside4)))
                else:
                    f.write("nothing-%d.pool.example.net AAAA\n" % i)
            else:  # a name that exists only because names below it do: NODATA
                labels = random_addr(rng, rng.choice([NET4, NET6])).reverse_pointer.split(".")
                # Down to the apex (4 labels for 0.10.in-addr.arpa, 14 for the v6 /48).
                keep = rng.randrange(1, len(labels) - (4 if len(labels) == 6 else 14) + 1)
                f.write("%s PTR\n" % ".".join(labels[keep:]))
    return nx, v4


class RssSampler(threading.Thread):
    """(seconds since start, VmRSS kB) of one process every `interval` seconds."""

    def __init__(self, pid, interval=0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples = []
        self.stop_event = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while not self.stop_event.is_set():
            try:
                with open("/proc/%d/status" % self.pid) as f:
                    m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
                if m:
                    self.samples.append((time.monotonic() - t0, int(m.group(1))))
            except OSError:
                return
            self.stop_event.wait(self.interval)


class Overrider(threading.Thread):
    """mapctl add (a new name) and, every third change, del, for addresses the file asks
    about, one change every `interval` seconds until stopped."""

    def __init__(self, mapctl, config, addrs, interval=0.25):
        super().__init__(daemon=True)
        self.mapctl, self.config, self.addrs, self.interval = mapctl, config, addrs, interval
        self.changes = 0
        self.errors = []
        self.last = None  # (address, name) of the last add still in place
        self.stop_event = threading.Event()

    def run(self):
        i = 0
        while not self.stop_event.is_set():
            a = self.addrs[i % len(self.addrs)]
            if i % 3 == 2 and self.last:
                argv = [self.mapctl, "-c", self.config, "del", str(self.last[0])]
                self.last = None
            else:
                name = "soak-%d.cust.pool.example.net." % i
                argv = [self.mapctl, "-c", self.config, "add", str(a), name, "--ttl", "60"]
            p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if p.returncode != 0:
                self.errors.append("%s: %s" % (" ".join(argv[3:]), p.stderr.strip()))
            else:
                self.changes += 1
                if argv[3] == "add":
                    self.last = (a, argv[5])
            i += 1
            self.stop_event.wait(self.interval)


def parse_dnsperf(text):
    out = {}
    for key, pat in (("sent", r"Queries sent:\s+(\d+)"),
                     ("completed", r"Queries completed:\s+(\d+)"),
                     ("lost", r"Queries lost:\s+(\d+)"),
                     ("qps", r"Queries per second:\s+([\d.]+)")):
        m = re.search(pat, text)
        out[key] = float(m.group(1)) if m else None
    m = re.search(r"Response codes:\s+(.*)", text)
    out["rcodes"] = ({c: int(n) for c, n in re.findall(r"([A-Z]+) (\d+) \(", m.group(1))}
                     if m else {})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mapctl")
    ap.add_argument("module_dir")
    ap.add_argument("--queries", type=int, default=1000000)
    ap.add_argument("--names", type=int, default=200000, help="lines of the query file")
    ap.add_argument("--warmup", type=int, default=100000, help="queries before sampling counts")
    ap.add_argument("--max-growth-mb", type=float, default=4.0)
    ap.add_argument("--max-lost", type=int, default=100)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    if args.queries % args.names:
        ap.error("--queries must be a multiple of --names (dnsperf -n runs whole files)")
    if not shutil.which("dnsperf"):
        check(False, "dnsperf installed (apt-get install dnsperf)")
        return summary("pdns module soak")

    work = tempfile.mkdtemp(prefix="pdns-module-soak-")
    try:
        config = os.path.join(work, "automap.yaml")
        with open(config, "w") as f:
            f.write(AUTOMAP_CONFIG + "store: { path: %s/store, map_size: 64MiB }\n" % work)
        qfile = os.path.join(work, "queries.txt")
        nx, v4 = query_file(qfile, random.Random(args.seed), args.names)
        # The store exists before pdns_server opens it (the first mapctl write creates it).
        p = subprocess.run([args.mapctl, "-c", config, "add", "10.0.255.255",
                            "first.cust.pool.example.net."], capture_output=True, text=True)
        check(p.returncode == 0, "mapctl add before the start", p.stderr)
        settings = {
            "launch": "automap",
            "module-dir": os.path.abspath(args.module_dir),
            "automap-config": config,
            "zone-cache-refresh-interval": "300",
            "distributor-threads": "2",
        }
        with PdnsServer(settings) as pdns:
            sampler = RssSampler(pdns.proc.pid)
            overrider = Overrider(args.mapctl, config, v4[:5000])
            argv = ["dnsperf", "-s", pdns.host, "-p", str(pdns.port), "-d", qfile,
                    "-n", str(args.queries // args.names), "-c", "1", "-q", "100", "-t", "3"]
            t0 = time.monotonic()
            sampler.start()
            overrider.start()
            try:
                run = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            finally:
                wall = time.monotonic() - t0
                overrider.stop_event.set()
                sampler.stop_event.set()
                overrider.join(30)
                sampler.join(5)
            r = parse_dnsperf(run.stdout)
            print("dnsperf: %s queries in %.1f s (%s q/s), lost %s, rcodes %s" % (
                r["completed"], wall, r["qps"], r["lost"], r["rcodes"]), flush=True)
            check(run.returncode == 0 and r["sent"] == args.queries,
                  "dnsperf sent %d queries" % args.queries, run.stdout[-2000:] + run.stderr)
            rc = r["rcodes"]
            check(rc.get("SERVFAIL", 0) == 0, "no SERVFAIL (%d)" % rc.get("SERVFAIL", 0),
                  pdns.log()[-2000:])
            check(set(rc) <= {"NOERROR", "NXDOMAIN"}, "only NOERROR and NXDOMAIN: %s" % rc)
            lost = int(r["lost"] or 0)
            check(lost <= args.max_lost, "lost %d queries (at most %d)" % (lost, args.max_lost))
            share = 100.0 * rc.get("NXDOMAIN", 0) / max(1, r["completed"] or 0)
            want = 100.0 * nx / args.names
            check(abs(share - want) < 1.0,
                  "NXDOMAIN share %.2f%% (the file's: %.2f%%)" % (share, want))

            check(not overrider.errors and overrider.changes >= 20,
                  "%d override changes with mapctl during the run" % overrider.changes,
                  "\n".join(overrider.errors[:10]))
            if overrider.last:
                addr, name = overrider.last
                a = pdns.query(addr.reverse_pointer + ".", "PTR")
                got = sorted(x.to_text() for rr in a.answer if rr.rdtype == dns.rdatatype.PTR
                             for x in rr)
                check(got == [name], "the last override (%s -> %s) answered after the run" %
                      (addr, name), str(a))

            # RSS: the samples taken after the warm-up queries, split in quarters by time.
            start = wall * args.warmup / args.queries
            kept = [(t, kb) for t, kb in sampler.samples if start <= t <= wall]
            check(len(kept) >= 20, "RSS sampled %d times after the warm-up" % len(kept))
            if len(kept) >= 20:
                q = len(kept) // 4
                first = statistics.median(kb for _, kb in kept[:q]) / 1024
                last = statistics.median(kb for _, kb in kept[-q:]) / 1024
                peak = max(kb for _, kb in sampler.samples) / 1024
                print("pdns_server RSS: %.1f MB (first quarter, median) -> %.1f MB (last "
                      "quarter); peak %.1f MB; %d samples" % (first, last, peak,
                                                             len(sampler.samples)), flush=True)
                check(last - first <= args.max_growth_mb,
                      "RSS growth %.2f MB from the first to the last quarter (at most %.1f)"
                      % (last - first, args.max_growth_mb))
            check(pdns.alive(), "pdns_server still running", pdns.log()[-2000:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary("pdns module soak")


if __name__ == "__main__":
    sys.exit(main())
