#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A longer run, not in ctest: the initial sync of N overrides (default 1M) into a new node.

3 etcd members (default limits) and 1 node (tests/integration/lib/cluster.py); N lines
imported with one mapctl import (staged as a new generation: store/sync/README.md), or in
imports of AUTOMAP_BENCH_CHUNK lines (each staged import copies what is there: slower); then a second node with an empty store starts and
the time from its start to holding etcd's revision is printed, with its store size.
Usage: etcd_initial_sync_bench.py MAPCTL AUTOMAPD [N]
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cluster import Cluster, Node  # noqa: E402

MAPCTL, AUTOMAPD = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 1000000
CHUNK = int(os.environ.get("AUTOMAP_BENCH_CHUNK", str(N)))

with Cluster(AUTOMAPD, MAPCTL, members=3, nodes=1, timeout="120s") as c:
    t0 = time.monotonic()
    for start in range(0, N, CHUNK):
        path = os.path.join(c.root, "chunk.csv")
        with open(path, "w") as f:
            for k in range(start, min(N, start + CHUNK)):
                f.write("10.%d.%d.%d,name,n%d.customer.pool.example.net.,300\n" %
                        (k >> 16 & 255, k >> 8 & 255, k & 255, k))
        c.mapctl(0, "import", path, timeout=3600)
        c.wait_synced(c.nodes[0], timeout=600)
    print("imported %d overrides through etcd in %.1f s" % (N, time.monotonic() - t0))
    node = Node(AUTOMAPD, 1, c.root, c.endpoints, "60s", "120s")
    c.nodes.append(node)
    t0 = time.monotonic()
    node.start()
    c.wait_synced(node, timeout=900)
    elapsed = time.monotonic() - t0
    size = os.path.getsize(os.path.join(node.store, "data.mdb"))
    print("initial sync of %d overrides into a new node: %.1f s from start to synced "
          "(data.mdb %.0f MiB)" % (N, elapsed, size / 2**20))
    for line in node.server.stderr().splitlines():
        if "store sync: loaded" in line:
            print(line)
