#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Several nodes with etcd as the source of truth (issue 15; store/sync/README.md).

3 etcd members and 2 automapd nodes on loopback (tests/integration/lib/cluster.py):
  1. overrides written with mapctl on node 0 are answered by every node: convergence p50/p99
     over N changes (AUTOMAP_CONVERGENCE_N, default 100), and through dnsdist with
     conf/dnsdist/dnsdist.conf;
  2. node 1 SIGKILLed under dnsperf load through dnsdist: queries lost, time until the pool
     has it back after a restart (AUTOMAP_LOAD_QPS, AUTOMAP_LOAD_SECONDS: 2000, 4);
  2b. the etcd leader killed during an import (AUTOMAP_IMPORT_LINES, default 20000): all or
     nothing, and after a retry every node's `mapctl export` is byte-identical;
  3. every member down: nodes keep answering, /health says degraded, a write fails clearly
     (exit 1, nothing applied), and the nodes catch up after the restart;
  4. a node restarted after etcd compacted past its revision does a full resync;
  5. a node whose LMDB files were deleted rebuilds from etcd.
Usage: etcd_cluster_test.py MAPCTL AUTOMAPD
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import expect as check  # noqa: E402  (each part builds on the cluster state)
from cluster import Cluster  # noqa: E402

MAPCTL, AUTOMAPD = sys.argv[1], sys.argv[2]
N = int(os.environ.get("AUTOMAP_CONVERGENCE_N", "100"))
LINES = int(os.environ.get("AUTOMAP_IMPORT_LINES", "20000"))
LOAD_QPS = int(os.environ.get("AUTOMAP_LOAD_QPS", "2000"))
LOAD_S = int(os.environ.get("AUTOMAP_LOAD_SECONDS", "4"))


def ptr(octets):
    return ".".join(reversed(octets.split("."))) + ".in-addr.arpa."


def wait_answer(c, node, qname, want, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if c.answer(node, qname) == want:
                return
        except Exception:
            pass
        time.sleep(0.002)
    raise AssertionError("node %d: %s never answered %s (last: %s)\n%s" %
                         (node, qname, want, c.answer(node, qname),
                          c.nodes[node].server.stderr()))


def exports(c):
    out = []
    for i in range(len(c.nodes)):
        c.wait_synced(c.nodes[i])
        out.append(c.mapctl(i, "export").stdout)
    return out


def convergence(c):
    times = []
    for k in range(N):
        addr = "10.77.%d.%d" % (k // 250, k % 250 + 1)
        name = "conv%d.customer.pool.example.net." % k
        c.mapctl(0, "add", addr, name)
        t0 = time.monotonic()
        for node in range(len(c.nodes)):
            wait_answer(c, node, ptr(addr), [name])
        times.append((time.monotonic() - t0) * 1000)
    # Through dnsdist (conf/dnsdist/dnsdist.conf: suffix routing to the automap pool, whose
    # members it health-checks with SOA queries; 2 good checks 1 s apart before it sends).
    deadline = time.monotonic() + 10
    got = None
    while time.monotonic() < deadline:
        try:
            r = c.query(None, ptr("10.77.0.1"), timeout=0.5)
            got = [str(rd) for rrset in r.answer for rd in rrset]
            if got == ["conv0.customer.pool.example.net."]:
                break
        except Exception:
            pass
        time.sleep(0.1)
    check(got == ["conv0.customer.pool.example.net."], "through dnsdist: %s" % got)
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print("convergence over %d changes (mapctl exit -> every node answers): p50 %.1f ms, "
          "p99 %.1f ms, max %.1f ms" % (N, p50, p99, times[-1]))
    check(p99 < 2000, "convergence p99 %.1f ms" % p99)


def node_killed_under_load(c):
    """SIGKILL node 1 under dnsperf load through dnsdist: queries lost, then the time from its
    restart until dnsdist's health checks put it back in the pool."""
    qfile = os.path.join(c.root, "queries.txt")
    with open(qfile, "w") as f:
        for k in range(20000):
            f.write("%d.%d.66.10.in-addr.arpa PTR\n" % (k % 250 + 1, k // 250))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and set(c.dnsdist.servers().get(n) for n in
                                               ("automap1", "automap2")) != {"up"}:
        time.sleep(0.1)
    check(c.dnsdist.servers()["automap2"] == "up", "dnsdist: %s" % c.dnsdist.servers())
    perf = subprocess.Popen(["/usr/bin/dnsperf", "-s", "127.0.0.1", "-p", str(c.dnsdist.port),
                             "-d", qfile, "-l", str(LOAD_S), "-Q", str(LOAD_QPS), "-t", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1)
    c.nodes[1].stop(signal.SIGKILL)
    t_kill = time.monotonic()
    down = None
    while time.monotonic() - t_kill < 10:
        if c.dnsdist.servers()["automap2"] == "down":
            down = time.monotonic() - t_kill
            break
        time.sleep(0.05)
    out, _ = perf.communicate(timeout=LOAD_S + 30)
    stats = {k: int(v) for k, v in re.findall(r"Queries (sent|completed|lost):\s+(\d+)", out)}
    t0 = time.monotonic()
    c.nodes[1].start()
    up = None
    while time.monotonic() - t0 < 15:
        if c.dnsdist.servers()["automap2"] == "up":
            up = time.monotonic() - t0
            break
        time.sleep(0.05)
    print("node 1 SIGKILLed under %d q/s through dnsdist for %d s: sent %d, lost %d (%.2f%%); "
          "marked down after %s s; after its restart back in the pool in %s s" %
          (LOAD_QPS, LOAD_S, stats.get("sent", 0), stats.get("lost", 0),
           100.0 * stats.get("lost", 0) / max(1, stats.get("sent", 0)),
           "%.2f" % down if down is not None else "never",
           "%.2f" % up if up is not None else "never"))
    check(down is not None and up is not None, "dnsdist health checks: down %s up %s" % (down, up))
    check(stats.get("sent", 0) > 0 and stats.get("completed", 0) > stats.get("lost", 0),
          "dnsperf: %s" % out)
    c.wait_synced(c.nodes[1])


def leader_killed_during_import(c):
    path = os.path.join(c.root, "import.csv")
    with open(path, "w") as f:
        f.write("address_or_prefix,kind,target,ttl\n")
        for k in range(LINES):
            f.write("10.88.%d.%d,name,imp%d.customer.pool.example.net.,300\n" %
                    (k // 250, k % 250 + 1, k))
    # The local part (parse, checks) takes as long as a dry run: kill the leader just after
    # it, while the one etcd transaction is in flight.
    t0 = time.monotonic()
    c.mapctl(0, "import", "--dry-run", path, timeout=300)
    local = time.monotonic() - t0
    leader = c.leader()
    check(leader is not None, "no etcd leader")
    results = {}

    def run():
        results["first"] = c.mapctl(0, "import", path, check=False, timeout=300)

    t = threading.Thread(target=run)
    t0 = time.monotonic()
    t.start()
    time.sleep(local + 0.1)
    leader.kill()  # SIGKILL
    t.join()
    first = results["first"]
    print("import of %d lines with the leader (%s) SIGKILLed after %.2f s (dry run %.2f s): "
          "exit %d in %.1f s%s" %
          (LINES, leader.name, local + 0.1, local, first.returncode, time.monotonic() - t0,
           "" if first.returncode == 0 else ": " + first.stderr.strip().splitlines()[-1]))
    # All or nothing: the store holds every line or none of them.
    c.wait_synced(c.nodes[0])
    held = c.mapctl(0, "list", "10.88.0.0/16").stdout.count("imp")
    check(held in (0, LINES), "half an import applied: %d of %d lines" % (held, LINES))
    leader.start()
    c.wait_etcd()
    if first.returncode != 0:
        c.mapctl(0, "import", path, timeout=300)
    e = exports(c)
    check(all(x == e[0] for x in e), "exports differ between nodes")
    check(e[0].count(",imp") == LINES, "export holds %d of %d imported lines" %
          (e[0].count(",imp"), LINES))
    print("after the leader kill: %d nodes export the same %d bytes (%d imported lines, none "
          "lost or doubled)" % (len(e), len(e[0]), LINES))


def etcd_down(c):
    c.mapctl(0, "add", "10.99.0.1", "before-outage.customer.pool.example.net.")
    for node in range(len(c.nodes)):
        wait_answer(c, node, ptr("10.99.0.1"), ["before-outage.customer.pool.example.net."])
    for m in c.members:
        m.kill(signal.SIGKILL)
    t0 = time.monotonic()
    r = c.mapctl(0, "add", "10.99.0.2", "during-outage.customer.pool.example.net.", check=False)
    print("write with every etcd member down: exit %d after %.1f s: %s" %
          (r.returncode, time.monotonic() - t0, r.stderr.strip()))
    check(r.returncode == 1 and "etcd unreachable" in r.stderr, "write during outage: %r" % r)
    for node in range(len(c.nodes)):
        check(c.answer(node, ptr("10.99.0.1")) == ["before-outage.customer.pool.example.net."],
              "node %d stopped answering during the outage" % node)
    time.sleep(max(0.0, 2.5 - (time.monotonic() - t0)))  # max_staleness 2s
    status, body = c.nodes[1].http("/health")
    check(status == 200 and '"degraded"' in body, "health during the outage: %d %s" % (status, body))
    stale = c.nodes[1].metric("automap_sync_staleness_seconds")
    check(stale is not None and stale >= 2, "staleness %s" % stale)
    print("during the outage: nodes answer, /health 200 %s, staleness %.1f s" % (body.strip(), stale))
    for m in c.members:
        m.start()
    c.wait_etcd()
    c.mapctl(0, "add", "10.99.0.2", "after-outage.customer.pool.example.net.")
    for node in range(len(c.nodes)):
        wait_answer(c, node, ptr("10.99.0.2"), ["after-outage.customer.pool.example.net."],
                    timeout=15)
    status, body = c.nodes[1].http("/health")
    check(status == 200 and '"ok"' in body, "health after the outage: %d %s" % (status, body))
    check(c.answer(0, ptr("10.99.0.2")) == ["after-outage.customer.pool.example.net."], "nothing applied")


def compaction_resync(c):
    node = c.nodes[1]
    loads_before = node.metric("automap_sync_full_loads_total")
    node.stop()
    c.mapctl(0, "add", "10.99.1.1", "while-away.customer.pool.example.net.")
    c.mapctl(0, "del", "10.99.0.1")
    rev = c.revision()
    c.etcdctl("compact", str(rev))
    node.start()
    c.wait_synced(node)
    check(node.metric("automap_sync_full_loads_total") == 1,
          "no full resync after compaction (loads %s before the restart)" % loads_before)
    check("compacted" in node.server.stderr(), "no compaction logged:\n" + node.server.stderr())
    wait_answer(c, 1, ptr("10.99.1.1"), ["while-away.customer.pool.example.net."])
    wait_answer(c, 1, ptr("10.99.0.1"), ["ip-10-99-0-1.pool.example.net."])
    e = exports(c)
    check(e[0] == e[1], "exports differ after the resync")
    print("compacted past a stopped node's revision: full resync on restart, exports identical")


def deleted_store(c):
    node = c.nodes[1]
    node.stop()
    shutil.rmtree(node.store)
    t0 = time.monotonic()
    node.start()
    c.wait_synced(node)
    elapsed = time.monotonic() - t0
    e = exports(c)
    check(e[0] == e[1], "exports differ after the rebuild")
    print("deleted store rebuilt from etcd (%d overrides) in %.2f s (start to synced)" %
          (e[1].count("\n") - 1, elapsed))


def main():
    for tool in ("/usr/bin/etcd", "/usr/bin/etcdctl", "/usr/bin/dnsdist"):
        check(os.access(tool, os.X_OK), tool + " missing: apt-get install etcd-server etcd-client")
    with Cluster(AUTOMAPD, MAPCTL, members=3, nodes=2, dnsdist=True) as c:
        convergence(c)
        node_killed_under_load(c)
        leader_killed_during_import(c)
        etcd_down(c)
        compaction_resync(c)
        deleted_store(c)
    print("ok")


if __name__ == "__main__":
    main()
