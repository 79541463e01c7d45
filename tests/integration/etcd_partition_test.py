#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A member up but cut off from the quorum (issue 15; store/sync/README.md, "Nodes").

3 etcd members whose peer (Raft) traffic goes through small TCP proxies on loopback, one in
front of each member's peer port. Cutting member m2 off: m2's proxy drops every connection
(the others' traffic to m2), and m0's and m1's drop the ones m2 opens (its requests carry
etcd's X-PeerURLs header, m2's advertised peer URL). m2 stays up and answers its clients; it
just loses the leader. One automapd node watches m2 (first in its endpoints):
  - the node's watch is dropped by m2 (gRPC metadata hasleader through the gateway) and the
    node moves to another member: the detection time is printed;
  - an override written meanwhile (mapctl on another member) is answered by the node, and
    mapctl with m2 first in its endpoints is not held up by it (hasleader on every request);
  - after the cut heals, m2 rejoins and the node keeps converging.
Usage: etcd_partition_test.py MAPCTL AUTOMAPD
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, expect, step, summary  # noqa: E402
from cluster import ETCD, ETCDCTL, Member, Node  # noqa: E402
from pdns import free_port  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402

MAPCTL, AUTOMAPD = sys.argv[1], sys.argv[2]
ROOT = tempfile.mkdtemp(prefix="automap-etcd-partition-")


class PeerProxy:
    """TCP proxy 127.0.0.1:port -> 127.0.0.1:target for one member's peer port. While
    `cut` holds, drops connections to this member if `isolated`, else those whose first
    request names `isolated_url` in X-PeerURLs (opened by the cut-off member)."""

    def __init__(self, target):
        self.target = target
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.isolated = False      # this proxy fronts the cut-off member
        self.isolated_url = None   # the cut-off member's advertised peer URL
        self.cut = False
        self.lock = threading.Lock()
        self.conns = []            # (client, upstream, from_isolated)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _blocked(self, from_isolated):
        return self.cut and (self.isolated or from_isolated)

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        head = b""
        c.settimeout(5)
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = c.recv(65536)
                if not data:
                    break
                head += data
        except OSError:
            c.close()
            return
        c.settimeout(None)
        from_isolated = (self.isolated_url is not None and
                         ("X-Peerurls: " + self.isolated_url).lower().encode() in head.lower())
        if self._blocked(from_isolated):
            c.close()
            return
        try:
            u = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            u.settimeout(None)
            u.sendall(head)
        except OSError:
            c.close()
            return
        with self.lock:
            self.conns.append((c, u, from_isolated))
        for a, b in ((c, u), (u, c)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def set_cut(self, cut):
        self.cut = cut
        if cut:
            with self.lock:
                for c, u, from_isolated in self.conns:
                    if self._blocked(from_isolated):
                        for s in (c, u):
                            try:
                                s.shutdown(socket.SHUT_RDWR)
                            except OSError:
                                pass
                self.conns = [x for x in self.conns if not self._blocked(x[2])]

    def close(self):
        self.closed = True
        self.sock.close()
        self.set_cut(True)
        self.isolated = True


class ProxiedMember(Member):
    """A member that listens on its own peer port and advertises its proxy's."""

    def __init__(self, name, root, spec, client_port, peer_port, proxy_port):
        Member.__init__(self, name, root, spec, client_port, peer_port)
        self.listen_peer = self.peer
        self.peer = "http://127.0.0.1:%d" % proxy_port

    def start(self):
        args = [ETCD, "--name", self.name, "--data-dir", self.dir,
                "--listen-client-urls", "http://" + self.client,
                "--advertise-client-urls", "http://" + self.client,
                "--listen-peer-urls", self.listen_peer,
                "--initial-advertise-peer-urls", self.peer,
                "--initial-cluster", self.cluster_spec, "--initial-cluster-state", "new",
                "--initial-cluster-token", "automap-partition",
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--logger", "zap", "--log-level", "error"]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log,
                                     start_new_session=True)


def etcdctl(endpoints, *args):
    return subprocess.run([ETCDCTL, "--endpoints", ",".join(endpoints),
                           "--command-timeout=2s"] + list(args),
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, ETCDCTL_API="3"))


def answer(node, qname):
    try:
        r = dns.query.udp(dns.message.make_query(qname, "PTR"), "127.0.0.1",
                          port=node.dns_port, timeout=0.5)
        return [str(rd) for rrset in r.answer for rd in rrset]
    except Exception:
        return None


def wait(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def metric(node, name):
    try:
        return node.metric(name)
    except OSError:
        return None


def main():
    ports = [(free_port(), free_port()) for _ in range(3)]
    proxies = [PeerProxy(pp) for _, pp in ports]
    spec = ",".join("m%d=http://127.0.0.1:%d" % (i, proxies[i].port) for i in range(3))
    members = [ProxiedMember("m%d" % i, ROOT, spec, cp, pp, proxies[i].port)
               for i, (cp, pp) in enumerate(ports)]
    for i, p in enumerate(proxies):
        p.isolated = i == 2
        p.isolated_url = members[2].peer
    node = None
    try:
        for m in members:
            m.start()
        everyone = [m.client for m in members]
        expect(wait(lambda: etcdctl(everyone, "put", "/automap-health", "ok").returncode == 0,
                    30), "etcd has a leader")
        # m2 must not be the leader (its cut would just move the leader): ask m2 to hand over.
        status = etcdctl([members[2].client], "endpoint", "status", "-w", "fields").stdout
        ids = {}
        for m in members:
            out = etcdctl([m.client], "endpoint", "status", "-w", "fields").stdout
            ids[m.name] = next(int(l.split(":")[1]) for l in out.splitlines()
                               if l.startswith('"MemberID"'))
        leader = next(int(l.split(":")[1]) for l in status.splitlines()
                      if l.startswith('"Leader"'))
        if leader == ids["m2"]:
            etcdctl([members[2].client], "move-leader", "%x" % ids["m0"])

        # The node watches m2 first; mapctl writes through m0 and m1 only.
        node = Node(AUTOMAPD, 0, ROOT, [members[2].client, members[0].client,
                                        members[1].client], "30s", "5s")
        node.start()
        expect(wait(lambda: metric(node, "automap_sync_up") == 1, 15), "the node syncs",
               node.server.stderr())
        expect(node.server.wait_log("store sync: watching etcd %s" % members[2].client),
               "the node watches m2", node.server.stderr())
        writer = os.path.join(ROOT, "writer.yaml")
        with open(node.config) as f:
            text = f.read()
        with open(writer, "w") as f:
            f.write(text.replace(
                "endpoints: [%s]" % ", ".join(node_eps(members, (2, 0, 1))),
                "endpoints: [%s]" % ", ".join(node_eps(members, (0, 1)))))

        def mapctl(*args):
            return subprocess.run([MAPCTL, "-c", writer] + list(args), capture_output=True,
                                  text=True, timeout=60)

        r = mapctl("add", "10.5.0.1", "before.pool.example.net.")
        expect(r.returncode == 0, "mapctl add before the cut", r.stderr)
        expect(wait(lambda: answer(node, "1.0.5.10.in-addr.arpa.") ==
                    ["before.pool.example.net."], 10), "the node answers before the cut")

        def cut_and_converge():
            t0 = time.monotonic()
            for p in proxies:
                p.set_cut(True)
            dropped = wait(lambda: (metric(node, "automap_sync_no_leader_total") or 0) >= 1, 15)
            t_detect = time.monotonic() - t0
            check(dropped, "m2 dropped the node's watch (no leader)", node.server.stderr())
            moved = wait(lambda: node.server.count("store sync: watching etcd ") >= 2 and
                         metric(node, "automap_sync_up") == 1, 15)
            t_moved = time.monotonic() - t0
            check(moved, "the node watches another member", node.server.stderr())
            check("store sync: watching etcd %s" % members[2].client not in
                  node.server.stderr().splitlines()[-1], "not m2 again", node.server.stderr())
            # m2 is up all along: it answers (serializable) reads of its own.
            check(etcdctl([members[2].client], "get", "--consistency=s", "/automap-health")
                  .returncode == 0, "m2 is up (serializable get)")
            r = mapctl("add", "10.5.0.2", "during.pool.example.net.")
            check(r.returncode == 0, "mapctl add during the cut (m0, m1)", r.stderr)
            t_write = time.monotonic()
            ok = wait(lambda: answer(node, "2.0.5.10.in-addr.arpa.") ==
                      ["during.pool.example.net."], 10)
            check(ok, "the node converges on a write made during the cut", node.server.stderr())
            # A write through the node's own config, m2 first: m2 says "no leader" at once
            # (hasleader on every request), the txn goes to m0 or m1.
            t0w = time.monotonic()
            r = subprocess.run([MAPCTL, "-c", node.config, "add", "10.5.0.4",
                                "m2-first.pool.example.net."], capture_output=True, text=True,
                               timeout=60)
            t_m2_first = time.monotonic() - t0w
            check(r.returncode == 0 and t_m2_first < 3,
                  "mapctl with the cut-off member first: exit 0 in %.2f s" % t_m2_first,
                  r.stderr)
            print("mapctl add with the cut-off member first in its endpoints: %.0f ms" %
                  (t_m2_first * 1000))
            print("member cut off from the quorum: watch dropped %.2f s after the cut, the node "
                  "watching another member %.2f s after it; a write during the cut answered "
                  "%.0f ms after mapctl's exit" %
                  (t_detect, t_moved, (time.monotonic() - t_write) * 1000))
            check(t_detect < 5, "detected within 5 s (%.2f s)" % t_detect)

        step("cut m2 off", cut_and_converge)

        def heal():
            for p in proxies:
                p.set_cut(False)
            check(wait(lambda: etcdctl([members[2].client], "get", "/automap-health")
                       .returncode == 0, 20), "m2 has a leader again")
            r = mapctl("add", "10.5.0.3", "after.pool.example.net.")
            check(r.returncode == 0, "mapctl add after the heal", r.stderr)
            check(wait(lambda: answer(node, "3.0.5.10.in-addr.arpa.") ==
                       ["after.pool.example.net."], 10), "the node converges after the heal")

        step("heal", heal)
    finally:
        if node is not None:
            node.stop()
        for m in members:
            m.kill()
        for p in proxies:
            p.close()
    status = summary()
    if status == 0:
        shutil.rmtree(ROOT, ignore_errors=True)
    else:
        print("kept " + ROOT)
    return status


def node_eps(members, order):
    return [members[i].client for i in order]


if __name__ == "__main__":
    sys.exit(main())
