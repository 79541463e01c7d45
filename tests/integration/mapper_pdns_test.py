#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The mapper through a real PowerDNS 4.7 with the pipe backend, against automapd serve.

`automapd pipe -c CONFIG` runs as the coprocess of pdns_server (ABI 1 and 5, caches off); the
same configuration is served by `automapd serve`. A seeded sample of the Knot differential
queries (PTR v4/v6, A/AAAA, other types, names outside the networks and zones) goes to both;
rcode, AA, the answer RRset and the SOA in authority must match, except where PowerDNS 4.7
cannot express the answer (listed in PDNS_LIMITS with the reason).

usage: mapper_pdns_test.py AUTOMAPD [--queries N]
"""
import argparse
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
sys.path.insert(0, os.path.dirname(__file__))
from automapd import Automapd  # noqa: E402
from knot_diff_test import AUTOMAP_CONFIG, ask, queries, signature  # noqa: E402
from pdns import PdnsServer, pipe_settings  # noqa: E402

PDNS_LIMITS = {
    "ent": "PowerDNS before 5.1 has no way for a pipe backend to return an empty non-terminal, "
           "so names above synthesized data are NXDOMAIN through it (NODATA standalone)",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("automapd")
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    conf_dir = tempfile.mkdtemp(prefix="mapper-pdns-")
    conf = os.path.join(conf_dir, "automap.yaml")
    with open(conf, "w") as f:
        f.write(AUTOMAP_CONFIG)

    total = 0
    with Automapd(args.automapd, AUTOMAP_CONFIG) as amap:
        for abi in (1, 5):
            rng = random.Random(args.seed + abi)
            settings = pipe_settings("%s pipe -c %s" % (args.automapd, conf), abi=abi)
            with PdnsServer(settings) as pdns:
                limited = {}
                failures = []
                for cat, qname, qtype in queries(rng, args.queries):
                    if cat in ("alias6",):
                        continue
                    p = signature(ask(qname, qtype, pdns.port))
                    a = signature(ask(qname, qtype, amap.port))
                    total += 1
                    if p == a:
                        continue
                    if cat in PDNS_LIMITS and p[0] == "NXDOMAIN" and a[0] == "NOERROR":
                        limited[cat] = limited.get(cat, 0) + 1
                        continue
                    failures.append("%s %s %s\n  pdns:    %s\n  automap: %s" % (cat, qname, qtype, p, a))
                if not pdns.alive():
                    print("pdns_server died:\n" + pdns.describe())
                    return 1
                print("ABI %d: compared %d, PowerDNS 4.7 limits: %s" % (abi, total, limited))
                for cat, n in limited.items():
                    print("  %s (%d): %s" % (cat, n, PDNS_LIMITS[cat]))
                if failures:
                    print("%d unexpected differences (first 20):" % len(failures))
                    print("\n".join(failures[:20]))
                    print(pdns.log()[-3000:])
                    return 1
    print("mapper through pdns: %d passed, 0 failed" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
