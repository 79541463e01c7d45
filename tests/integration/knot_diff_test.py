#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Differential test: automapd serve against Knot DNS mod-synthrecord on the same data.

Both servers are started here on loopback ports; thousands of seeded random queries (PTR v4/v6,
A/AAAA for canonical names, other types, empty non-terminals, names outside the networks and
the zones) go to both over UDP, and the rcode, AA flag, answer RRset and the SOA in the
authority section must match. The differences that are automap's design are listed in
KNOWN_DIFFERENCES with the reason; any other difference fails the test.

With --pdns-module DIR the same queries also go to a real pdns_server that loads automap's
backend module from DIR (zone cache on, caches off, as backend/pdns/README.md recommends):
its answers must match Knot's with the same known differences, and automapd serve's
exactly (PDNS_MODULE_DIFFERENCES lists what PowerDNS itself would change: nothing so far).

usage: knot_diff_test.py AUTOMAPD [--queries N] [--seed S] [--pdns-module DIR]
"""
import argparse
import ipaddress
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
from automapd import Automapd  # noqa: E402
from knot import AUTOMAP_CONFIG, Knotd  # noqa: E402
from pdns import PdnsServer  # noqa: E402

NET4 = ipaddress.ip_network("10.0.0.0/16")
NET6 = ipaddress.ip_network("2001:db8:1::/48")


# (query category, reason): differences where automap is right by design.
KNOWN_DIFFERENCES = {
    "alias6": "Knot parses any IPv6 spelling after the prefix (it turns '-' into ':'); automap "
              "answers only the canonical name its own PTR gives, so forward and reverse always "
              "round-trip (FCrDNS)",
}

# (query category, reason): where pdns_server + the module may differ from automapd serve.
PDNS_MODULE_DIFFERENCES = {}


class Knot(Knotd):
    """Knot mod-synthrecord on the same prefixes (lib/knot.py), in a directory of its own."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="knot-diff-")

        def ready(port):
            r = ask("pool.example.net.", "SOA", port)
            return r.rcode() == dns.rcode.NOERROR and bool(r.answer)

        super().__init__(os.path.join(self.tmp, "knot"), ready,
                         fwd=["mod-synthrecord/fwd4", "mod-synthrecord/fwd6"],
                         rev4=["mod-synthrecord/rev4"], rev6=["mod-synthrecord/rev6"])

    def stop(self):
        super().stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def ask(qname, qtype, port):
    q = dns.message.make_query(qname, qtype, use_edns=0)
    q.flags &= ~dns.flags.RD
    for _ in range(3):
        try:
            return dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
        except dns.exception.Timeout:
            continue
        except dns.exception.DNSException as e:
            raise RuntimeError("bad answer from port %d for %s %s: %r" % (port, qname, qtype, e))
    raise RuntimeError("no answer from port %d for %s %s" % (port, qname, qtype))


def signature(r):
    """What must match: rcode, AA, answer RRsets (lower-cased), SOA in authority."""
    answer = sorted(
        (rr.name.to_text().lower(), dns.rdatatype.to_text(rr.rdtype), rr.ttl,
         sorted(x.to_text().lower() for x in rr))
        for rr in r.answer)
    soa = [(rr.name.to_text().lower(), rr.ttl, [x.to_text() for x in rr])
           for rr in r.authority if rr.rdtype == dns.rdatatype.SOA]
    return (dns.rcode.to_text(r.rcode()), bool(r.flags & dns.flags.AA), answer, soa)


def knot_ip(addr):
    """Knot's reverse-short form (as the {ip} token): see mapper/core/README.md."""
    if addr.version == 4:
        return str(addr).replace(".", "-")
    groups = [int(str(addr.exploded).split(":")[i], 16) for i in range(8)]
    best, best_len, i = -1, 0, 2
    while i <= 6:
        if groups[i] == 0:
            j = i
            while j <= 6 and groups[j] == 0:
                j += 1
            if j - i >= 2 and j - i > best_len:
                best, best_len = i, j - i
            i = j
        else:
            i += 1
    parts = ["%x" % g for g in groups]
    if best >= 0:
        return "-".join(parts[:best]) + "--" + "-".join(parts[best + best_len:])
    return "-".join(parts)


def random_addr(rng, net):
    if rng.random() < 0.3:  # zero-heavy addresses exercise the compression rules
        host_bits = net.max_prefixlen - net.prefixlen
        value = 0
        for b in range(0, host_bits, 16):
            if rng.random() < 0.3:
                value |= rng.getrandbits(16) << b
        return net.network_address + (value & ((1 << host_bits) - 1))
    return net.network_address + rng.randrange(net.num_addresses)


def random_case(rng, s):
    return "".join(c.upper() if rng.random() < 0.2 else c for c in s)


def queries(rng, n):
    out = []
    outside4 = ipaddress.ip_network("10.1.0.0/16")
    outside6 = ipaddress.ip_network("2001:db8:2::/48")
    for _ in range(n):
        k = rng.randrange(14)
        if k in (0, 1):
            a = random_addr(rng, NET4)
            out.append(("ptr4", random_case(rng, a.reverse_pointer + "."), "PTR"))
        elif k in (2, 3):
            a = random_addr(rng, NET6)
            out.append(("ptr6", random_case(rng, a.reverse_pointer + "."), "PTR"))
        elif k == 4:
            a = random_addr(rng, NET4)
            out.append(("a", random_case(rng, "ip-%s.pool.example.net." % knot_ip(a)), "A"))
        elif k == 5:
            a = random_addr(rng, NET6)
            out.append(("aaaa", "ip-%s.pool.example.net." % knot_ip(a), "AAAA"))
        elif k == 6:  # the other family's type, and types never synthesized: NODATA
            a = random_addr(rng, rng.choice([NET4, NET6]))
            t = rng.choice(["A", "AAAA", "TXT", "MX", "NS", "SOA", "CNAME"])
            out.append(("type", "ip-%s.pool.example.net." % knot_ip(a), t))
        elif k == 7:
            a = random_addr(rng, rng.choice([NET4, NET6]))
            t = rng.choice(["A", "TXT", "PTR", "SOA"])
            out.append(("typerev", a.reverse_pointer + ".", t))
        elif k == 8:  # empty non-terminals in the reverse trees (RFC 8020: NODATA)
            a = random_addr(rng, rng.choice([NET4, NET6]))
            labels = a.reverse_pointer.split(".")
            keep = rng.randrange(1, len(labels) - (4 if a.version == 4 else 12) + 1)
            out.append(("ent", ".".join(labels[keep:]) + ".", "PTR"))
        elif k == 9:  # outside the networks but inside a zone, or outside every zone
            a = random_addr(rng, rng.choice([outside4, outside6]))
            out.append(("outside", a.reverse_pointer + ".", "PTR"))
        elif k == 10:
            a = random_addr(rng, rng.choice([outside4, outside6]))
            t = "A" if a.version == 4 else "AAAA"
            out.append(("outside", "ip-%s.pool.example.net." % knot_ip(a), t))
        elif k == 11:
            bad = rng.choice(["ip-10-0-1.pool.example.net.", "ip-10-0-1-256.pool.example.net.",
                              "ip-.pool.example.net.", "nothing.pool.example.net.",
                              "ip-2001-db8-1-zz--1.pool.example.net.", "x.example.org.",
                              "300.0.10.in-addr.arpa.", "g.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
                              "pool.example.net.", "0.10.in-addr.arpa."])
            out.append(("misc", bad, rng.choice(["A", "AAAA", "PTR", "SOA", "NS"])))
        elif k == 12:  # non-canonical IPv6 spellings
            a = random_addr(rng, NET6)
            alias = "ip-" + a.exploded.replace(":", "-") + ".pool.example.net."
            if alias.lower() != ("ip-%s.pool.example.net." % knot_ip(a)).lower():
                out.append(("alias6", alias, "AAAA"))
        else:
            a = random_addr(rng, NET4)
            octets = str(a).split(".")
            alias = "ip-%s-%s-%s-%03d.pool.example.net." % (octets[0], octets[1], octets[2],
                                                              int(octets[3]))
            if int(octets[3]) < 100:
                out.append(("alias4", alias, "A"))
    return out


def start_pdns_module(module_dir, work):
    """pdns_server loading the module, on the same configuration as automapd serve."""
    config = os.path.join(work, "automap.yaml")
    with open(config, "w") as f:
        f.write(AUTOMAP_CONFIG)
    return PdnsServer({
        "launch": "automap",
        "module-dir": os.path.abspath(module_dir),
        "automap-config": config,
        "zone-cache-refresh-interval": "300",  # PowerDNS's default; the module lists its zones
    }).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("automapd")
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--pdns-module", help="also compare pdns_server with the module in DIR")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    knot = Knot()
    print("knot on port %d" % knot.port, flush=True)
    work = tempfile.mkdtemp(prefix="knot-diff-pdns-")
    pdns = None
    try:
        with Automapd(args.automapd, AUTOMAP_CONFIG) as amap:
            print("automapd on port %d" % amap.port, flush=True)
            if args.pdns_module:
                pdns = start_pdns_module(args.pdns_module, work)
                print("pdns_server + module on port %d" % pdns.port, flush=True)
            t0 = time.monotonic()
            compared = 0
            known, known_pdns = {}, {}
            failures = []
            for cat, qname, qtype in queries(rng, args.queries):
                k = signature(ask(qname, qtype, knot.port))
                a = signature(ask(qname, qtype, amap.port))
                compared += 1
                if pdns is not None:
                    # Equal to automapd's answer, which is held to Knot's just below.
                    p = signature(ask(qname, qtype, pdns.port))
                    if p != a:
                        if cat in PDNS_MODULE_DIFFERENCES:
                            known_pdns[cat] = known_pdns.get(cat, 0) + 1
                        else:
                            failures.append("%s %s %s\n  pdns:    %s\n  automap: %s" % (
                                cat, qname, qtype, p, a))
                if k == a:
                    continue
                if cat in KNOWN_DIFFERENCES:
                    known[cat] = known.get(cat, 0) + 1
                    continue
                failures.append("%s %s %s\n  knot:    %s\n  automap: %s" % (cat, qname, qtype, k, a))
            print("compared %d queries in %.1f s; known differences: %s" % (
                compared, time.monotonic() - t0, known))
            for cat, n in known.items():
                print("  %s (%d): %s" % (cat, n, KNOWN_DIFFERENCES[cat]))
            if pdns is not None:
                print("pdns_server + module: the same %d queries; PowerDNS differences: %s" % (
                    compared, known_pdns))
                for cat, n in known_pdns.items():
                    print("  %s (%d): %s" % (cat, n, PDNS_MODULE_DIFFERENCES[cat]))
                if not pdns.alive():
                    print("pdns_server died:\n" + pdns.describe())
                    return 1
            if failures:
                print("%d unexpected differences (first 20):" % len(failures))
                print("\n".join(failures[:20]))
                return 1
            if compared < args.queries // 2:
                print("too few queries compared")
                return 1
    finally:
        if pdns is not None:
            pdns.stop()
        knot.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("knot differential: %d passed, 0 failed" % compared)
    return 0


if __name__ == "__main__":
    sys.exit(main())
