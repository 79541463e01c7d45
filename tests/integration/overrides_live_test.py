#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Overrides written by mapctl take effect in running servers at once, without a reload.

(a) automapd serve: add/del change the next answer; neighbours still synthesize; override names
    answer forward and the synthesized name of the address still does; a prefix override
    changes PTR and forward for its addresses only; --none gives NXDOMAIN.
(b) the same through a real PowerDNS with `automapd pipe` (caches off), and --purge with the
    real pdns_control against that server's control socket; with --pdns-module DIR also
    through the backend module, and with PowerDNS's caches on, where --purge must make the
    change visible at once.
(c) 100 imports x 1000 lines = 100k writes while a thread queries over UDP without pause:
    every answer is an old or a new value (never torn, never SERVFAIL), nothing is lost, and
    data.mdb stays under a bound.
(e) bulk operations: `import --replace-within` (a sync), `del --from FILE` and
    `del --within PREFIX` change a running automapd serve's answers at once.
(d) SIGKILL of `mapctl import` of 1M lines in the middle of its write transaction: the store
    reopens with the last committed state (none or all of that import) and automapd answers.

usage: overrides_live_test.py MAPCTL AUTOMAPD [--only abcde] [--pdns-module DIR]
"""
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.reversename  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from config import HEAD_SOA_TIMERS, PREFIX_V4, PREFIX_V6  # noqa: E402

CONFIG = (HEAD_SOA_TIMERS + "ttl: 3600\n" + PREFIX_V4 + "    ttl: 86400\n" + PREFIX_V6
          + "store: { path: @DIR@/store, map_size: 1GiB }\n")


def mapctl(binary, config, *args, rc=0):
    p = subprocess.run([binary, "-c", config] + list(args), capture_output=True, text=True,
                       timeout=120)
    check(p.returncode == rc, "mapctl %s -> %d (expected %d)" % (" ".join(args), p.returncode, rc),
          p.stdout[-1000:] + p.stderr[-2000:])
    return p


def ask(port, qname, qtype, timeout=2.0):
    q = dns.message.make_query(qname, dns.rdatatype.from_text(qtype))
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)


def answer(port, qname, qtype):
    """(rcode text, sorted answer rdata texts of qtype)."""
    r = ask(port, qname, qtype)
    rows = []
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.from_text(qtype):
            rows += [rd.to_text() for rd in rrset]
    return dns.rcode.to_text(r.rcode()), sorted(rows)


def ptr(port, addr):
    return answer(port, dns.reversename.from_address(addr).to_text(), "PTR")


# -------------------------------------------------------------------------------- (a) / (b)

def live_cases(ctl, port, label):
    """Runs the add/del cases against a server on `port`; ctl(*args) runs mapctl."""
    t = label + ": "
    check(ptr(port, "10.1.2.3") == ("NOERROR", ["ip-10-1-2-3.pool.example.net."]), t + "synthesized PTR")
    ctl("add", "10.1.2.3", "mail.cust.pool.example.net.", "--ttl", "300")
    check(ptr(port, "10.1.2.3") == ("NOERROR", ["mail.cust.pool.example.net."]),
          t + "add changes the next PTR answer", ptr(port, "10.1.2.3"))
    for n in ("10.1.2.2", "10.1.2.4"):
        check(ptr(port, n) == ("NOERROR", ["ip-%s.pool.example.net." % n.replace(".", "-")]),
              t + "neighbour %s still synthesizes" % n, ptr(port, n))
    check(answer(port, "mail.cust.pool.example.net.", "A") == ("NOERROR", ["10.1.2.3"]),
          t + "the override name answers A", answer(port, "mail.cust.pool.example.net.", "A"))
    check(answer(port, "ip-10-1-2-3.pool.example.net.", "A") == ("NOERROR", ["10.1.2.3"]),
          t + "the synthesized name of the address still answers A")
    ctl("add", "10.1.2.3", "mx.cust.pool.example.net.")
    check(ptr(port, "10.1.2.3") == ("NOERROR", ["mx.cust.pool.example.net."]), t + "replace")
    check(answer(port, "mail.cust.pool.example.net.", "A")[0] == "NXDOMAIN",
          t + "the replaced name stops answering")
    ctl("del", "10.1.2.3")
    check(ptr(port, "10.1.2.3") == ("NOERROR", ["ip-10-1-2-3.pool.example.net."]),
          t + "del restores synthesis", ptr(port, "10.1.2.3"))
    check(answer(port, "mx.cust.pool.example.net.", "A")[0] == "NXDOMAIN",
          t + "a deleted override name is NXDOMAIN")

    # IPv6 address override answers AAAA.
    ctl("add", "2001:db8:5::7", "v6host.cust.pool.example.net.")
    check(answer(port, "v6host.cust.pool.example.net.", "AAAA") == ("NOERROR", ["2001:db8:5::7"]),
          t + "an IPv6 override name answers AAAA")
    ctl("del", "2001:db8:5::7")

    # Prefix override.
    inside, outside = "2001:db8:1200::5", "2001:db8:1300::5"
    ctl("add", "2001:db8:1200::/56", "cust42-{ip}.biz.pool.example.net.")
    check(ptr(port, inside) == ("NOERROR", ["cust42-2001-db8-1200--5.biz.pool.example.net."]),
          t + "prefix override PTR", ptr(port, inside))
    check(answer(port, "cust42-2001-db8-1200--5.biz.pool.example.net.", "AAAA") ==
          ("NOERROR", [inside]), t + "prefix override forward")
    check(ptr(port, outside) == ("NOERROR", ["2001-db8-1300--5.v6.pool.example.net."]),
          t + "outside the prefix: unchanged", ptr(port, outside))
    check(answer(port, "2001-db8-1300--5.v6.pool.example.net.", "AAAA") == ("NOERROR", [outside]),
          t + "outside the prefix: forward unchanged")
    check(answer(port, "cust42-2001-db8-1300--5.biz.pool.example.net.", "AAAA")[0] == "NXDOMAIN",
          t + "the override template does not answer outside its prefix")
    ctl("del", "2001:db8:1200::/56")
    check(ptr(port, inside) == ("NOERROR", ["2001-db8-1200--5.v6.pool.example.net."]),
          t + "prefix override deleted")

    # --none
    ctl("add", "10.1.2.9", "--none")
    check(ptr(port, "10.1.2.9")[0] == "NXDOMAIN", t + "--none gives NXDOMAIN", ptr(port, "10.1.2.9"))
    check(ptr(port, "10.1.2.10")[0] == "NOERROR", t + "--none leaves the neighbour alone")
    ctl("del", "10.1.2.9")
    check(ptr(port, "10.1.2.9")[0] == "NOERROR", t + "after del of --none")


def test_pdns(args, config, store_ctl):
    from pdns import PdnsServer, pipe_settings  # a missing PowerDNS is a failure, not a skip
    settings = pipe_settings("%s pipe -c %s" % (args.automapd, config), abi=5)
    with PdnsServer(settings) as pdns:
        live_cases(store_ctl, pdns.port, "pdns")
        # --purge against the real control socket (caches are off: it purges nothing, but
        # pdns_control must succeed, so there is no warning).
        p = mapctl(args.mapctl, config, "add", "10.1.2.40", "p40.cust.pool.example.net.", "--purge",
                   "--pdns-socket-dir", pdns.dir)
        check("warning" not in p.stderr, "pdns: --purge with the real pdns_control", p.stderr)
        check(ptr(pdns.port, "10.1.2.40") == ("NOERROR", ["p40.cust.pool.example.net."]),
              "pdns: after --purge")
        check(pdns.alive(), "pdns_server still runs", pdns.log()[-2000:])


def test_pdns_module(args, config, store_ctl):
    """(b) through the backend module (backend/pdns) with caches off; then with PowerDNS's
    default caches, where a cached answer changes only through --purge."""
    from pdns import PdnsServer
    settings = {"launch": "automap", "module-dir": os.path.abspath(args.pdns_module),
                "automap-config": config, "zone-cache-refresh-interval": "300"}
    with PdnsServer(settings) as pdns:
        live_cases(store_ctl, pdns.port, "pdns module")
        check(pdns.alive(), "pdns module: pdns_server still runs", pdns.log()[-2000:])
    cached = dict(settings, **{"cache-ttl": "20", "query-cache-ttl": "20",
                               "negquery-cache-ttl": "60"})
    with PdnsServer(cached) as pdns:
        before = ptr(pdns.port, "10.1.2.41")
        check(before == ("NOERROR", ["ip-10-1-2-41.pool.example.net."]),
              "pdns module, caches on: synthesized PTR", before)
        p = mapctl(args.mapctl, config, "add", "10.1.2.41", "p41.cust.pool.example.net.",
                   "--purge", "--pdns-socket-dir", pdns.dir)
        check("warning" not in p.stderr, "pdns module: --purge with the real pdns_control",
              p.stderr)
        check(ptr(pdns.port, "10.1.2.41") == ("NOERROR", ["p41.cust.pool.example.net."]),
              "pdns module, caches on: the purged name answers the override at once",
              ptr(pdns.port, "10.1.2.41"))
        store_ctl("del", "10.1.2.41")


# -------------------------------------------------------------------------------------- (c)

N_ADDR = 1000
N_BATCH = 100


def batch_addr(j):
    return "10.77.%d.%d" % (j // 250, 1 + j % 250)


def batch_name(i, j):
    # Names alternate between two spellings, so the set of keys stays bounded while the TTL
    # (= batch + 1) tells which write an answer came from: name and TTL must agree.
    return "%s-h%d.cust.pool.example.net." % ("ab"[i % 2], j)


def test_concurrency(args, amap, tmp):
    files = []
    for i in range(N_BATCH):
        path = os.path.join(tmp, "batch%03d.csv" % i)
        with open(path, "w") as f:
            for j in range(N_ADDR):
                f.write("%s,name,%s,%d\n" % (batch_addr(j), batch_name(i, j), i + 1))
        files.append(path)
    data = os.path.join(amap.dir, "store", "data.mdb")

    stop = threading.Event()
    seen = {"queries": 0, "bad": []}
    synth = re.compile(r"^ip-10-77-(\d+)-(\d+)\.pool\.example\.net\.$")

    def querier(seed):
        rng = random.Random(seed)
        # Versions only move forward for one client asking one query at a time: each query
        # starts after the previous answer, so its snapshot is at least as new. (Across two
        # clients no order holds: one may send before the other's answer lands.)
        last = {}
        while not stop.is_set():
            j = rng.randrange(N_ADDR)
            addr = batch_addr(j)
            try:
                r = ask(amap.port, dns.reversename.from_address(addr).to_text(), "PTR", timeout=2.0)
            except Exception as e:  # a timeout or a garbled packet is a failure too
                seen["bad"].append("%s: %r" % (addr, e))
                continue
            seen["queries"] += 1
            if r.rcode() != dns.rcode.NOERROR or len(r.answer) != 1 or len(r.answer[0]) != 1:
                seen["bad"].append("%s: %s %s" % (addr, dns.rcode.to_text(r.rcode()), r.answer))
                continue
            name = r.answer[0][0].to_text()
            ttl = r.answer[0].ttl
            if synth.match(name) and ttl == 86400:
                version = 0
            elif 1 <= ttl <= N_BATCH and name == batch_name(ttl - 1, j):
                version = ttl
            else:
                seen["bad"].append("%s: torn or unknown answer %s ttl %d" % (addr, name, ttl))
                continue
            if version < last.get(j, 0):
                seen["bad"].append("%s: went back from write %d to %d" % (addr, last[j], version))
            last[j] = version

    threads = [threading.Thread(target=querier, args=(5 + t,)) for t in range(2)]
    for th in threads:
        th.start()
    sizes = []
    t0 = time.monotonic()
    try:
        for i, path in enumerate(files):
            mapctl(args.mapctl, amap.config, "import", path)
            sizes.append(os.path.getsize(data))
    finally:
        stop.set()
        for th in threads:
            th.join()
    elapsed = time.monotonic() - t0
    print("concurrency: %d writes in %.1f s (%d imports), %d queries answered meanwhile, "
          "data.mdb %d KiB after 5 imports, %d KiB at the end" % (
              N_ADDR * N_BATCH, elapsed, N_BATCH, seen["queries"], sizes[4] // 1024,
              sizes[-1] // 1024), flush=True)
    check(not seen["bad"], "concurrency: every answer is an old or a new value",
          "\n".join(seen["bad"][:20]))
    check(seen["queries"] > 200, "concurrency: queries ran during the writes", seen["queries"])
    exp = mapctl(args.mapctl, amap.config, "export", "--json").stdout.splitlines()
    import json
    rows = {r["address_or_prefix"]: r for r in map(json.loads, exp)}
    lost = [j for j in range(N_ADDR)
            if rows.get(batch_addr(j), {}).get("target") != batch_name(N_BATCH - 1, j)
            or rows.get(batch_addr(j), {}).get("ttl") != N_BATCH]
    check(not lost, "concurrency: nothing lost (every address has the last write)", lost[:10])
    for j in (0, 499, 999):
        check(ptr(amap.port, batch_addr(j)) == ("NOERROR", [batch_name(N_BATCH - 1, j)]),
              "concurrency: the final value is served for %s" % batch_addr(j))
    # The bound: the live data is ~1000 addresses + 2000 names (a few hundred KiB with the
    # B-tree). LMDB copies the pages a txn touches and reuses pages freed by older txns once no
    # reader holds them; the servers' read txns are per query, so at most a few generations
    # are live at once. Without reuse, 100 imports would add ~100 x the per-import page
    # turnover (tens of MiB). 4 x the size after 5 imports, at most 8 MiB, allows for
    # free-list and tree shape noise but not for unbounded growth.
    bound = min(8 << 20, max(4 * sizes[4], 1 << 20))
    check(sizes[-1] <= bound, "concurrency: data.mdb stays under %d KiB" % (bound // 1024),
          "sizes (KiB): %s" % [s // 1024 for s in sizes[::10]])


# -------------------------------------------------------------------------------------- (d)

def test_bulk(ctl, port, tmp):
    t = "bulk: "
    sync = os.path.join(tmp, "sync.csv")
    with open(sync, "w") as f:
        f.write("10.7.0.1,name,a.bulk.pool.example.net.,\n10.7.0.2,name,b.bulk.pool.example.net.,\n"
                "10.7.1.0/24,template,cust-{d}.bulk.pool.example.net.,\n")
    ctl("add", "10.7.0.9", "stale.bulk.pool.example.net.")
    ctl("add", "10.7.200.1", "outside.bulk.pool.example.net.")
    p = ctl("import", sync, "--replace-within", "10.7.0.0/17")
    check("3 added, 0 replaced, 0 unchanged, 1 removed" in p.stdout, t + "sync counts", p.stdout)
    check(ptr(port, "10.7.0.1") == ("NOERROR", ["a.bulk.pool.example.net."]), t + "sync adds",
          ptr(port, "10.7.0.1"))
    check(ptr(port, "10.7.1.5") == ("NOERROR", ["cust-5.bulk.pool.example.net."]),
          t + "sync adds the prefix", ptr(port, "10.7.1.5"))
    check(ptr(port, "10.7.0.9") == ("NOERROR", ["ip-10-7-0-9.pool.example.net."]),
          t + "sync removes what the file lacks inside the prefix", ptr(port, "10.7.0.9"))
    check(ptr(port, "10.7.200.1") == ("NOERROR", ["outside.bulk.pool.example.net."]),
          t + "sync keeps what lies outside the prefix", ptr(port, "10.7.200.1"))
    keys = os.path.join(tmp, "keys.txt")
    with open(keys, "w") as f:
        f.write("# gone\n10.7.0.1\n10.7.1.0/24\n")
    p = ctl("del", "--from", keys)
    check("deleted 2 overrides listed in" in p.stdout, t + "del --from", p.stdout)
    check(ptr(port, "10.7.1.5") == ("NOERROR", ["ip-10-7-1-5.pool.example.net."]),
          t + "del --from removes the prefix override at once", ptr(port, "10.7.1.5"))
    check(ptr(port, "10.7.0.2") == ("NOERROR", ["b.bulk.pool.example.net."]),
          t + "del --from leaves the unlisted", ptr(port, "10.7.0.2"))
    p = ctl("del", "--within", "10.7.0.0/16")
    check("deleted 2 overrides inside 10.7.0.0/16" in p.stdout, t + "del --within", p.stdout)
    for a in ("10.7.0.2", "10.7.200.1"):
        check(ptr(port, a) == ("NOERROR", ["ip-%s.pool.example.net." % a.replace(".", "-")]),
              t + "del --within %s synthesizes again" % a, ptr(port, a))
    check(answer(port, "b.bulk.pool.example.net.", "A")[0] == "NXDOMAIN",
          t + "a bulk-deleted name stops answering forward")


def test_crash(args, amap, tmp):
    big = os.path.join(tmp, "big.csv")
    with open(big, "w") as f:
        f.write("address_or_prefix,kind,target,ttl\n")
        lines = []
        for i in range(1000000):
            a = 0x0a800000 + i  # 10.128.0.0 and up
            lines.append("%d.%d.%d.%d,name,big%d.customers.example.,\n" % (
                a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, i))
            if len(lines) == 50000:
                f.write("".join(lines))
                lines = []
        f.write("".join(lines))
    stats = lambda: __import__("json").loads(
        mapctl(args.mapctl, amap.config, "stats", "--json").stdout)
    before = stats()["address_overrides"]
    # Time a dry run (it parses, checks and runs the whole write transaction, then aborts it),
    # then kill the real import at 60% of that time: well past the start of its work and well
    # before its commit, even when the machine is loaded (killing at the dry run's time plus a
    # margin could come after the commit, when the process is still printing its report).
    t0 = time.monotonic()
    mapctl(args.mapctl, amap.config, "import", "--dry-run", big)
    check_s = time.monotonic() - t0
    t0 = time.monotonic()
    p = subprocess.Popen([args.mapctl, "-c", amap.config, "import", big],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(check_s * 0.6)
    killed = p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    print("crash: SIGKILL after %.2f s (a dry run takes %.2f s), still running: %s" % (
        time.monotonic() - t0, check_s, killed), flush=True)
    after = stats()["address_overrides"]
    check(after in (before, before + 1000000),
          "crash: the store has none or all of the killed import", (before, after))
    if killed:
        check(after == before, "crash: a killed import left nothing behind", (before, after))
    check(ptr(amap.port, "10.128.0.5")[0] == "NOERROR", "crash: automapd still answers")
    check(ptr(amap.port, batch_addr(7)) == ("NOERROR", [batch_name(N_BATCH - 1, 7)]),
          "crash: earlier overrides are intact")
    # The next writer is not blocked by the dead one (LMDB recovers its lock).
    mapctl(args.mapctl, amap.config, "add", "10.1.2.50", "after-crash.cust.pool.example.net.")
    check(ptr(amap.port, "10.1.2.50") == ("NOERROR", ["after-crash.cust.pool.example.net."]),
          "crash: writes work after the crash")


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("mapctl")
    ap.add_argument("automapd")
    ap.add_argument("--only", default="abcde")
    ap.add_argument("--pdns-module", metavar="DIR",
                    help="(b) also through libautomapbackend.so in DIR")
    args = ap.parse_args()
    args.mapctl = os.path.abspath(args.mapctl)
    args.automapd = os.path.abspath(args.automapd)

    with Automapd(args.automapd, CONFIG) as amap:
        ctl = lambda *a: mapctl(args.mapctl, amap.config, *a)
        t = time.monotonic()
        if "a" in args.only:
            live_cases(ctl, amap.port, "serve")
            print("(a) serve: %.1f s" % (time.monotonic() - t), flush=True)
        if "b" in args.only:
            t = time.monotonic()
            test_pdns(args, amap.config, ctl)
            print("(b) pdns: %.1f s" % (time.monotonic() - t), flush=True)
            if args.pdns_module:
                t = time.monotonic()
                test_pdns_module(args, amap.config, ctl)
                print("(b) pdns module: %.1f s" % (time.monotonic() - t), flush=True)
        if "c" in args.only:
            t = time.monotonic()
            test_concurrency(args, amap, amap.dir)
            print("(c) concurrency: %.1f s" % (time.monotonic() - t), flush=True)
        if "e" in args.only:
            t = time.monotonic()
            test_bulk(ctl, amap.port, amap.dir)
            print("(e) bulk: %.1f s" % (time.monotonic() - t), flush=True)
        if "d" in args.only:
            t = time.monotonic()
            test_crash(args, amap, amap.dir)
            print("(d) crash: %.1f s" % (time.monotonic() - t), flush=True)
        alive = amap.proc.poll() is None
        check(alive, "automapd survived everything", amap.stderr()[-3000:])
    return summary()


if __name__ == "__main__":
    sys.exit(main())
