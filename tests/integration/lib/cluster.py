# SPDX-License-Identifier: MIT
"""Several automap nodes on loopback with etcd 3.4 as the source of truth of the overrides.

Cluster(automapd, mapctl, members=3, nodes=2) starts `members` etcd members (etcd-server) and
`nodes` `automapd serve` with `store.sync.etcd` on free ports, each node with its own store and
an HTTP listener (/metrics, /health). The suite (etcd_cluster_test.py) and
`tools/automap-dev cluster` use it.

    with Cluster(automapd, mapctl) as c:
        c.mapctl(0, "add", "10.1.2.3", "mail.example.")
        c.query(1, "3.2.1.10.in-addr.arpa.", "PTR")
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import dns.message
import dns.query

from automapd import Automapd
from pdns import free_port

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
DNSDIST = "/usr/bin/dnsdist"
DNSDIST_CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "../../../conf/dnsdist/dnsdist.conf")

NODE_CONFIG = """
soa:  { mname: ns1.example.net., rname: hostmaster.example.net., refresh: 10800,
        retry: 3600, expire: 604800, minimum: 3600, ttl: 3600 }
ns:   [ns1.example.net., ns2.example.net.]
zones:
  - name: pool.example.net.
prefixes:
  - prefix: 10.0.0.0/8
    name: "ip-{a}-{b}-{c}-{d}.pool.example.net."
  - prefix: 2001:db8::/32
    name: "{ip}.v6.pool.example.net."
listen: ["127.0.0.1:%(dns_port)d"]
http: { listen: ["127.0.0.1:%(http_port)d"], api_keys_file: %(keys)s }
store:
  path: %(store)s
  map_size: 1GiB
  sync:
    etcd:
      endpoints: [%(endpoints)s]
      prefix: /automap/
      max_staleness: %(max_staleness)s
      timeout: %(timeout)s
"""


class Member:
    """One etcd member; start() and kill() keep its data directory (a restart rejoins)."""

    def __init__(self, name, root, cluster_spec, client_port, peer_port):
        self.name = name
        self.dir = os.path.join(root, name)
        self.client = "127.0.0.1:%d" % client_port
        self.peer = "http://127.0.0.1:%d" % peer_port
        self.cluster_spec = cluster_spec
        self.proc = None
        self.log_path = os.path.join(root, name + ".log")

    def start(self):
        args = [ETCD, "--name", self.name, "--data-dir", self.dir,
                "--listen-client-urls", "http://" + self.client,
                "--advertise-client-urls", "http://" + self.client,
                "--listen-peer-urls", self.peer, "--initial-advertise-peer-urls", self.peer,
                "--initial-cluster", self.cluster_spec, "--initial-cluster-state", "new",
                "--initial-cluster-token", "automap-test",
                # etcd's default --max-txn-ops (128) and --max-request-bytes (1.5 MiB): an
                # import beyond them is staged (store/sync/README.md).
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--snapshot-count", "100000", "--logger", "zap", "--log-level", "warn"]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log,
                                     start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        if self.proc is not None:
            self.log.close()
        self.proc = None


class Node:
    """One automapd serve with store.sync.etcd; stop()/start() keep its store."""

    def __init__(self, binary, index, root, endpoints, max_staleness, timeout):
        self.binary = binary
        self.index = index
        self.store = os.path.join(root, "node%d-store" % index)
        self.dns_port = free_port()
        self.http_port = free_port()
        self.keys = os.path.join(root, "node%d-api-keys" % index)  # mapctl api-key add
        self.config_text = NODE_CONFIG % {
            "dns_port": self.dns_port, "http_port": self.http_port, "store": self.store,
            "keys": self.keys,
            "endpoints": ", ".join(endpoints), "max_staleness": max_staleness,
            "timeout": timeout}
        self.server = None

    @property
    def config(self):
        return self.server.config

    def start(self):
        self.server = Automapd(self.binary, self.config_text, listen=None)

    def stop(self, sig=signal.SIGTERM):
        if self.server is not None:
            if sig != signal.SIGTERM:
                self.server.signal(sig)
            self.server.stop()

    def http(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                        timeout=3) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def api(self, method, path, key, body=None):
        """(status, parsed JSON) of an API request (tools/api) with X-API-Key `key`."""
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path),
                                     method=method, headers={"X-API-Key": key},
                                     data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def metric(self, name):
        for line in self.http("/metrics")[1].splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


class Dnsdist:
    """dnsdist with conf/dnsdist/dnsdist.conf, its addresses replaced by the cluster's."""

    def __init__(self, root, nodes, pdns_port):
        self.port = free_port()
        text = open(DNSDIST_CONF).read()
        text = re.sub(r'setLocal\("[^"]*"\)', 'setLocal("127.0.0.1:%d")' % self.port, text)
        text = re.sub(r'addLocal\("[^"]*"\)\n', "", text)
        text = re.sub(r"local automap_nodes = \{[^}]*\}",
                      "local automap_nodes = { %s }" %
                      ", ".join('"127.0.0.1:%d"' % n.dns_port for n in nodes), text)
        text = text.replace('"127.0.0.1:5399"', '"127.0.0.1:%d"' % pdns_port)
        # Load tests come from one client: lift its rate limit. The API tells server states.
        text = re.sub(r"local qps_per_client = \d+", "local qps_per_client = 10000000", text)
        self.api_port = free_port()
        text += ('\nwebserver("127.0.0.1:%d")\nsetWebserverConfig({apiKey="test", '
                 'acl="127.0.0.0/8", hashPlaintextCredentials=false})\n' % self.api_port)
        self.conf = os.path.join(root, "dnsdist.conf")
        with open(self.conf, "w") as f:
            f.write(text)
        self.log = open(os.path.join(root, "dnsdist.log"), "w")
        self.proc = subprocess.Popen([DNSDIST, "--supervised", "--disable-syslog", "-C", self.conf],
                                     stdout=self.log, stderr=self.log, start_new_session=True)

    def servers(self):
        """name -> state ("up", "down") of every backend, from the API."""
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1/servers/localhost" %
                                     self.api_port, headers={"X-API-Key": "test"})
        with urllib.request.urlopen(req, timeout=3) as r:
            return {b["name"]: b["state"] for b in json.loads(r.read())["servers"]}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Cluster:
    def __init__(self, automapd, mapctl, members=3, nodes=2, max_staleness="2s", timeout="30s",
                 root=None, dnsdist=False):
        self.mapctl_binary = mapctl
        self.root = root or tempfile.mkdtemp(prefix="automap-cluster-")
        self.members = []
        ports = [(free_port(), free_port()) for _ in range(members)]
        spec = ",".join("m%d=http://127.0.0.1:%d" % (i, p[1]) for i, p in enumerate(ports))
        for i, (cp, pp) in enumerate(ports):
            self.members.append(Member("m%d" % i, self.root, spec, cp, pp))
        self.endpoints = [m.client for m in self.members]
        self.nodes = [Node(automapd, i, self.root, self.endpoints, max_staleness, timeout)
                      for i in range(nodes)]
        try:
            for m in self.members:
                m.start()
            self.wait_etcd()
            for n in self.nodes:
                n.start()
            for n in self.nodes:
                self.wait_synced(n)
            self.dnsdist = Dnsdist(self.root, self.nodes, free_port()) if dnsdist else None
        except BaseException:
            self.close()
            raise

    # ---- etcd ----
    def etcdctl(self, *args, check=True):
        r = subprocess.run([ETCDCTL, "--endpoints", ",".join(self.endpoints)] + list(args),
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, ETCDCTL_API="3"))
        if check and r.returncode != 0:
            raise RuntimeError("etcdctl %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    def wait_etcd(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run([ETCDCTL, "--endpoints", ",".join(self.endpoints),
                                "--command-timeout=1s", "put", "/automap-health", "ok"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("etcd did not get a leader in %ds" % timeout)

    def status(self):
        """etcdctl endpoint status of the live members, as dicts."""
        live = [m.client for m in self.members if m.alive()]
        r = subprocess.run([ETCDCTL, "--endpoints", ",".join(live), "endpoint", "status",
                            "-w", "json"], capture_output=True, text=True, timeout=10)
        return json.loads(r.stdout or "[]")

    def leader(self):
        for s in self.status():
            if s["Status"]["header"]["member_id"] == s["Status"]["leader"]:
                return next(m for m in self.members if m.client == s["Endpoint"])
        return None

    def revision(self):
        return max(int(s["Status"]["header"]["revision"]) for s in self.status())

    # ---- nodes ----
    def mapctl(self, node, *args, check=True, timeout=120):
        r = subprocess.run([self.mapctl_binary, "-c", self.nodes[node].config] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("mapctl %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
        return r

    def query(self, node, qname, qtype="PTR", timeout=1.0):
        """node None: through dnsdist."""
        q = dns.message.make_query(qname, qtype)
        port = self.dnsdist.port if node is None else self.nodes[node].dns_port
        return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)

    def answer(self, node, qname, qtype="PTR"):
        r = self.query(node, qname, qtype)
        return [str(rd) for rrset in r.answer for rd in rrset]

    def wait_synced(self, node, timeout=30):
        """Until the node's store holds etcd's current revision."""
        deadline = time.monotonic() + timeout
        want = self.revision_under_prefix()
        while time.monotonic() < deadline:
            rev = node.metric("automap_sync_revision")
            if rev is not None and rev >= want and node.metric("automap_sync_up") == 1:
                return
            time.sleep(0.02)
        raise RuntimeError("node %d did not sync to revision %d:\n%s" %
                           (node.index, want, node.server.stderr()))

    def revision_under_prefix(self):
        out = self.etcdctl("get", "--prefix", "/automap/", "--sort-by=MODIFY", "--order=DESCEND",
                           "--limit=1", "-w", "json")
        kvs = json.loads(out).get("kvs") or []
        return int(kvs[0]["mod_revision"]) if kvs else 0

    def close(self):
        if getattr(self, "dnsdist", None) is not None:
            self.dnsdist.stop()
        for n in self.nodes:
            try:
                n.stop()
            except Exception:
                pass
        for m in self.members:
            m.kill(signal.SIGTERM)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        if exc[0] is None and not os.environ.get("AUTOMAP_KEEP_CLUSTER"):
            shutil.rmtree(self.root, ignore_errors=True)


def main():
    """tools/automap-dev cluster: start, print what to try, wait for Ctrl-C."""
    import sys
    automapd, mapctl = sys.argv[1], sys.argv[2]
    with Cluster(automapd, mapctl, nodes=int(os.environ.get("NODES", "3")),
                 max_staleness="30s", timeout="5s", dnsdist=os.access(DNSDIST, os.X_OK)) as c:
        print("etcd members: %s" % " ".join(c.endpoints))
        if c.dnsdist:
            print("dnsdist: 127.0.0.1:%d (config %s)" % (c.dnsdist.port, c.dnsdist.conf))
        for n in c.nodes:
            print("node %d: dns 127.0.0.1:%d  http 127.0.0.1:%d  config %s" %
                  (n.index, n.dns_port, n.http_port, n.config))
        n0 = c.nodes[0]
        print("\nTry:")
        print("  %s -c %s add 10.1.2.3 mail.customer.pool.example.net." % (mapctl, n0.config))
        for n in c.nodes:
            print("  dig +short -p %d @127.0.0.1 -x 10.1.2.3" % n.dns_port)
        if c.dnsdist:
            print("  dig +short -p %d @127.0.0.1 -x 10.1.2.3     # through dnsdist" %
                  c.dnsdist.port)
        print("  curl -s 127.0.0.1:%d/metrics | grep automap_sync" % n0.http_port)
        print("  ETCDCTL_API=3 etcdctl --endpoints %s get --prefix /automap/ --keys-only"
              % ",".join(c.endpoints))
        print("\nCtrl-C stops everything.")
        sys.stdout.flush()
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
