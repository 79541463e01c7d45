#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Several nodes with etcd as the source of truth (issue 15; store/sync/README.md).

3 etcd members and 2 automapd nodes on loopback (tests/integration/lib/cluster.py):
  1. overrides written with mapctl on node 0 are answered by every node: convergence p50/p99
     over N changes (AUTOMAP_CONVERGENCE_N, default 100), and through dnsdist with
     conf/dnsdist/dnsdist.conf;
  2. node 1 SIGKILLed under dnsperf load through dnsdist: queries lost, time until the pool
     has it back after a restart (AUTOMAP_LOAD_QPS, AUTOMAP_LOAD_SECONDS: 2000, 4);
  2b. the etcd leader killed during an import (AUTOMAP_IMPORT_LINES, default 5000), which
     etcd's default limits make a staged one: every node holds all or none of it at every
     moment, and after a retry every node's `mapctl export` is byte-identical;
  2c. a `mapctl add` on the other node during a staged import is not lost; a mapctl killed
     while it stages leaves the nodes as they were, and its leftovers are removed later;
  2d. API writes on a sync node go through etcd (answered by the other node); with etcd
     down they fail with 503 and change nothing (in 3);
  3. every member down (AUTOMAP_OUTAGE_SECONDS, default 2.5): nodes keep answering, /health
     says degraded, a write fails clearly (exit 1, nothing applied), and the nodes catch up
     after the restart;
  4. a node restarted after etcd compacted past its revision does a full resync;
  5. a node whose LMDB files were deleted rebuilds from etcd.
Usage: etcd_cluster_test.py MAPCTL AUTOMAPD
"""
import json
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
OUTAGE_S = float(os.environ.get("AUTOMAP_OUTAGE_SECONDS", "2.5"))
LINES = int(os.environ.get("AUTOMAP_IMPORT_LINES", "5000"))
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


def write_import(c, name, second_octet, lines):
    path = os.path.join(c.root, name)
    with open(path, "w") as f:
        f.write("address_or_prefix,kind,target,ttl\n")
        for k in range(lines):
            # 62,500 a /16 (past it, the next /16: 100k lines take 10.88/16 and 10.89/16)
            f.write("10.%d.%d.%d,name,imp%d-%d.customer.pool.example.net.,300\n" %
                    (second_octet + k // 62500, k % 62500 // 250, k % 250 + 1, second_octet, k))
    return path


def address_count(c, node):
    return json.loads(c.mapctl(node, "stats", "--json").stdout)["address_overrides"]


class Sampler:
    """The address overrides of every node's store (mapctl stats: one read transaction),
    over and over while an import runs: each sample must be the count before or the count
    with the whole import (a staged import is switched, and loaded, in one step)."""

    def __init__(self, c):
        self.c, self.samples, self.stop, self.n = c, set(), threading.Event(), 0
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            for node in range(len(self.c.nodes)):
                self.samples.add(address_count(self.c, node))
            self.n += 1
            time.sleep(0.01)

    def done(self):
        self.stop.set()
        self.t.join()
        return self.samples


def generation(c):
    return c.etcdctl("get", "--print-value-only", "/automap/_generation").strip()


def leftovers(c):
    """Keys of generations other than the current one, and staging markers."""
    gen = generation(c)
    keys = c.etcdctl("get", "--prefix", "/automap/_", "--keys-only").split()
    return [k for k in keys if k != "/automap/_generation" and
            not k.startswith("/automap/_g/%s/" % gen)]


def leader_killed_during_import(c):
    """Fault 3: an import far beyond one etcd txn (default --max-txn-ops 128), so staged, with
    the etcd leader SIGKILLed while it is staged. Every node holds all of it or none of it at
    every moment; afterwards every node exports the same bytes."""
    path = write_import(c, "import.csv", 88, LINES)
    # The local part (parse, checks) takes as long as a dry run: kill the leader just after
    # it, while the import is being staged.
    t0 = time.monotonic()
    c.mapctl(0, "import", "--dry-run", path, timeout=300)
    local = time.monotonic() - t0
    leader = c.leader()
    check(leader is not None, "no etcd leader")
    gen_before = generation(c)
    results = {}

    def run():
        results["first"] = c.mapctl(0, "import", path, check=False, timeout=300)

    base = address_count(c, 0)
    sampler = Sampler(c)
    t = threading.Thread(target=run)
    t0 = time.monotonic()
    t.start()
    time.sleep(local + 0.1)
    leader.kill()  # SIGKILL
    t.join()
    elapsed = time.monotonic() - t0
    first = results["first"]
    print("import of %d lines (staged) with the leader (%s) SIGKILLed after %.2f s (dry run "
          "%.2f s): exit %d in %.1f s%s" %
          (LINES, leader.name, local + 0.1, local, first.returncode, elapsed,
           "" if first.returncode == 0 else ": " + first.stderr.strip().splitlines()[-1]))
    for node in c.nodes:
        c.wait_synced(node)
    samples = sampler.done()
    check(samples <= {base, base + LINES}, "half an import seen on a node: %s (%d before, "
          "%d lines)" % (sorted(samples), base, LINES))
    check(generation(c) != gen_before or first.returncode != 0,
          "the import was not staged (generation %r before and after)" % gen_before)
    leader.start()
    c.wait_etcd()
    if first.returncode != 0:
        c.mapctl(0, "import", path, timeout=300)
    e = exports(c)
    check(all(x == e[0] for x in e), "exports differ between nodes")
    check(e[0].count(",imp88-") == LINES, "export holds %d of %d imported lines" %
          (e[0].count(",imp88-"), LINES))
    check(leftovers(c) == [], "staging leftovers in etcd: %s" % leftovers(c)[:5])
    # The first layout (no pointer: PREFIX addr/, prefix/) moved to a generation and is gone.
    check(gen_before != "" or c.etcdctl("get", "--prefix", "/automap/addr/", "--keys-only",
                                        "--limit", "1").strip() == "",
          "the first layout's keys are still in etcd after the move to a generation")
    print("after the leader kill: %d nodes export the same %d bytes (%d imported lines, none "
          "lost or doubled; %d samples of every node's store during it, each none or all of it: "
          "%s)" % (len(e), len(e[0]), LINES, sampler.n, sorted(samples)))


def add_during_staged_import(c):
    """A single `mapctl add` on the other node while an import is staged is not lost: the
    switch finds the generation changed, and the import is checked and staged again."""
    lines = max(1000, LINES // 5)
    path = write_import(c, "import2.csv", 87, lines)
    results = {}

    def run():
        t0 = time.monotonic()
        results["import"] = c.mapctl(0, "import", path, check=False, timeout=300)
        results["import_s"] = time.monotonic() - t0

    t = threading.Thread(target=run)
    t.start()
    gen = generation(c)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
            k.startswith("/automap/_s/") for k in leftovers(c)):
        time.sleep(0.01)  # until the staging marker shows up
    staging = any(k.startswith("/automap/_s/") for k in leftovers(c))
    t0 = time.monotonic()
    add = c.mapctl(1, "add", "10.87.200.1", "during-import.customer.pool.example.net.",
                   check=False)
    add_s = time.monotonic() - t0
    t.join()
    imp = results["import"]
    check(add.returncode == 0, "add during the import: %r" % add)
    check(imp.returncode == 0, "import with an add meanwhile: %r" % imp)
    e = exports(c)
    check(all(x == e[0] for x in e), "exports differ between nodes")
    check("10.87.200.1,name,during-import.customer.pool.example.net." in e[0],
          "the add during the import was lost")
    check(e[0].count(",imp87-") == lines, "export holds %d of %d imported lines" %
          (e[0].count(",imp87-"), lines))
    check(generation(c) != gen, "the import was not staged")
    check(leftovers(c) == [], "staging leftovers in etcd: %s" % leftovers(c)[:5])
    print("mapctl add on node 1 while a %d-line import was %s: add exit 0 in %.2f s, import "
          "exit 0 in %.1f s; both on every node" %
          (lines, "being staged" if staging else "running (staging not seen)", add_s,
           results["import_s"]))


def killed_mapctl_mid_staging(c):
    """mapctl SIGKILLed while it stages: the nodes keep serving the old content, the staged
    keys are ignored, and once their lease is over the next staged import removes them."""
    lines = max(1000, LINES // 5)
    path = write_import(c, "import3.csv", 86, lines)
    before = exports(c)
    gen = generation(c)
    p = subprocess.Popen([MAPCTL, "-c", c.nodes[0].config, "import", path],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(leftovers(c)) < 200 and p.poll() is None:
        time.sleep(0.01)
    p.kill()
    p.wait()
    left = leftovers(c)
    check(len(left) >= 200, "mapctl was not killed while staging (%d staged keys)" % len(left))
    time.sleep(0.5)
    check(generation(c) == gen, "the generation moved")
    check(exports(c) == before, "a node changed after a killed staging")
    # The lease (120 s) made short: the marker's deadline put in the past.
    marker = next(k for k in left if k.startswith("/automap/_s/"))
    c.etcdctl("put", marker, "staging 1 1")
    small = write_import(c, "import4.csv", 85, 300)
    c.mapctl(0, "import", small)
    check(leftovers(c) == [], "the leftovers were not removed: %s" % leftovers(c)[:5])
    e = exports(c)
    check(all(x == e[0] for x in e) and e[0].count(",imp85-") == 300 and
          e[0].count(",imp86-") == 0, "exports after the clean-up")
    print("mapctl SIGKILLed while staging (%d staged keys left): nodes unchanged; the next "
          "staged import removed them once their lease was over" % len(left))


def restart_in_generation(c):
    """A node restarted while a named generation is current resumes its watch from its
    revision (no full load) and applies what it missed."""
    node = c.nodes[1]
    loads = node.metric("automap_sync_full_loads_total")
    node.stop()
    c.mapctl(0, "add", "10.99.3.1", "while-down.customer.pool.example.net.")
    node.start()
    wait_answer(c, 1, ptr("10.99.3.1"), ["while-down.customer.pool.example.net."])
    check(node.metric("automap_sync_full_loads_total") == 0,
          "a restart in generation %s did a full load (%s before)" % (generation(c), loads))
    print("node 1 restarted in generation %s: resumed its watch, no full load" % generation(c))


def api_writes(c):
    """The HTTP API on a sync node writes through etcd as mapctl does (issue 12 section 4)."""
    key = c.mapctl(0, "api-key", "add", "ipam", "--rw").stdout.strip()
    for node in c.nodes:  # both past the last generation switch (a full load each)
        c.wait_synced(node, timeout=120)
    status, body = c.nodes[0].api("PUT", "/api/v1/overrides/10.99.2.1", key,
                                  {"name": "api.customer.pool.example.net."})
    check(status == 201, "API PUT on a sync node: %d %s" % (status, body))
    for node in (1, 0):  # node 0's store too has it once its loop applied it
        wait_answer(c, node, ptr("10.99.2.1"), ["api.customer.pool.example.net."])
    check(c.etcdctl("get", "--prefix", "/automap/", "--keys-only").count("0a630201") == 1,
          "the API's write is not in etcd")
    status, body = c.nodes[0].api("DELETE", "/api/v1/overrides/10.99.2.1", key)
    check(status == 200, "API DELETE on a sync node: %d %s" % (status, body))
    wait_answer(c, 1, ptr("10.99.2.1"), ["ip-10-99-2-1.pool.example.net."])
    print("API PUT and DELETE on node 0 answered by node 1")
    return key


def etcd_down(c, api_key):
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
    t0 = time.monotonic()
    status, body = c.nodes[0].api("PUT", "/api/v1/overrides/10.99.0.1", api_key,
                                  {"name": "api-during-outage.customer.pool.example.net."})
    print("API PUT with every etcd member down: %d after %.1f s: %s" %
          (status, time.monotonic() - t0, body))
    check(status == 503 and "etcd unreachable" in body["error"] and
          "nothing was changed" in body["error"], "API write during outage: %d %s" % (status, body))
    status, body = c.nodes[0].api("GET", "/api/v1/overrides/10.99.0.1", api_key)
    check(status == 200 and body["target"] == "before-outage.customer.pool.example.net.",
          "the API write during the outage changed something: %s" % body)
    for node in range(len(c.nodes)):
        check(c.answer(node, ptr("10.99.0.1")) == ["before-outage.customer.pool.example.net."],
              "node %d stopped answering during the outage" % node)
    # The outage lasts OUTAGE_S (at least max_staleness, 2 s, and a bit): the nodes answer
    # from their stores all along (asked twice a second).
    asked = 0
    while True:
        for node in range(len(c.nodes)):
            check(c.answer(node, ptr("10.99.0.1")) == ["before-outage.customer.pool.example.net."],
                  "node %d stopped answering %.1f s into the outage" % (node, time.monotonic() - t0))
            asked += 1
        if time.monotonic() - t0 >= max(OUTAGE_S, 2.5):
            break
        time.sleep(0.5)
    print("outage of %.1f s: %d answers from the nodes, each the last applied state"
          % (time.monotonic() - t0, asked))
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
        add_during_staged_import(c)
        killed_mapctl_mid_staging(c)
        restart_in_generation(c)
        key = api_writes(c)
        etcd_down(c, key)
        compaction_resync(c)
        deleted_store(c)
    print("ok")


if __name__ == "__main__":
    main()
