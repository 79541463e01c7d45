#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TLS and user/password to etcd (issue 15; store/sync/README.md, "TLS and authentication").

One etcd 3.4 member on loopback serving https only, with --client-cert-auth and a CA made here
with openssl, and etcd's authentication on (a user `automap` with readwrite on /automap/):
  1. automapd serve syncs and mapctl writes over TLS as that user (client certificate too):
     an override written with mapctl is answered; mapctl's time is the TLS + auth figure;
  2. etcd restarted (its simple tokens are gone): the node's watch comes back with a new token
     and converges on a write made after the restart;
  3. a wrong CA: mapctl fails naming the certificate problem (exit 1, nothing applied);
  4. a wrong password: exit 1, "authentication failed", nothing applied;
  5. no user against etcd with authentication on: exit 1, the missing setting named;
  6. a missing CA file: automapd checkconf and mapctl give file:line errors.
Usage: etcd_tls_test.py MAPCTL AUTOMAPD
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, expect, step, summary  # noqa: E402
from cluster import ETCD, ETCDCTL, NODE_CONFIG, Node  # noqa: E402
from pdns import free_port  # noqa: E402

MAPCTL, AUTOMAPD = sys.argv[1], sys.argv[2]
ROOT = tempfile.mkdtemp(prefix="automap-etcd-tls-")


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=ROOT)


def make_certs():
    """ca.crt signs server.crt (127.0.0.1, localhost) and client.crt; other-ca.crt signs
    nothing. The client certificate has no CN: etcd's gateway refuses one that has a CN
    under --client-cert-auth (a CN would be taken for a user name)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=automap test " + ca,
                "-keyout", ca + ".key", "-out", ca + ".crt")
    with open(os.path.join(ROOT, "server.ext"), "w") as f:
        # clientAuth too: etcd's gateway dials the member's own gRPC with the server's
        # certificate under --client-cert-auth.
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    with open(os.path.join(ROOT, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for name, subj in (("server", "/CN=etcd"), ("client", "/O=automap node")):
        openssl("req", *ec, "-subj", subj, "-keyout", name + ".key", "-out", name + ".csr")
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".crt")


def path(name):
    return os.path.join(ROOT, name)


class Etcd:
    def __init__(self):
        self.port = free_port()
        self.peer = free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.proc = None

    def start(self):
        peer = "http://127.0.0.1:%d" % self.peer
        self.log = open(path("etcd.log"), "a")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "m0", "--data-dir", path("etcd-data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", "m0=" + peer, "--cert-file", path("server.crt"),
             "--key-file", path("server.key"), "--client-cert-auth",
             "--trusted-ca-file", path("ca.crt"), "--logger", "zap", "--log-level", "error"],
            stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.ctl("endpoint", "health", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("etcd did not start: " + open(path("etcd.log")).read()[-2000:])

    def ctl(self, *args, check=True, user="root:rootpw"):
        args = [ETCDCTL, "--endpoints", self.url, "--cacert", path("ca.crt"), "--cert",
                path("client.crt"), "--key", path("client.key"), "--command-timeout", "3s"] + \
            (["--user", user] if user else []) + list(args)
        r = subprocess.run(args, capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, ETCDCTL_API="3"))
        if check and r.returncode != 0:
            raise RuntimeError("etcdctl %s: %s" % (" ".join(args), r.stderr))
        return r

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.log.close()
        self.proc = None


def node_config(etcd, store, ca="ca.crt", password_file="password", user="automap"):
    n = Node(AUTOMAPD, 0, ROOT, [etcd.url], "2s", "3s")
    text = NODE_CONFIG % {"dns_port": n.dns_port, "http_port": n.http_port, "store": store,
                          "keys": n.keys, "endpoints": etcd.url, "max_staleness": "2s", "timeout": "3s"}
    text += "      tls: { ca: %s, cert: %s, key: %s }\n" % (
        path(ca), path("client.crt"), path("client.key"))
    if user:
        text += "      user: %s\n      password_file: %s\n" % (user, path(password_file))
    n.config_text = text
    return n


def metric(node, name):
    try:
        return node.metric(name)
    except OSError:  # its HTTP listener is not up yet
        return None


def mapctl(config, *args):
    return subprocess.run([MAPCTL, "-c", config] + list(args), capture_output=True, text=True,
                          timeout=60)


def in_etcd(etcd):
    r = etcd.ctl("get", "--prefix", "/automap/", "--keys-only")
    return [k for k in r.stdout.split() if k]


def wait_answer(node, qname, want, timeout=10):
    import dns.message
    import dns.query
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        try:
            r = dns.query.udp(dns.message.make_query(qname, "PTR"), "127.0.0.1",
                              port=node.dns_port, timeout=0.5)
            got = [str(rd) for rrset in r.answer for rd in rrset]
            if got == want:
                return True
        except Exception:
            pass
        time.sleep(0.005)
    return False


def main():
    make_certs()
    with open(path("password"), "w") as f:
        f.write("s3cret pw\n")  # a trailing newline, as editors write it
    with open(path("wrong-password"), "w") as f:
        f.write("not it\n")
    etcd = Etcd()
    etcd.start()
    node = None
    try:
        etcd.ctl("user", "add", "root:rootpw", user=None)
        etcd.ctl("user", "grant-role", "root", "root", user=None)
        etcd.ctl("user", "add", "automap:s3cret pw", user=None)
        etcd.ctl("role", "add", "automap", user=None)
        etcd.ctl("role", "grant-permission", "automap", "--prefix=true", "readwrite",
                 "/automap/", user=None)
        etcd.ctl("user", "grant-role", "automap", "automap", user=None)
        etcd.ctl("auth", "enable", user=None)

        node = node_config(etcd, path("store"))
        def part1():
            node.start()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and metric(node, "automap_sync_up") != 1:
                time.sleep(0.05)
            expect(metric(node, "automap_sync_up") == 1, "the node syncs over TLS",
                   node.server.stderr())
            writes, converge = [], []
            for k in range(20):
                t0 = time.monotonic()
                r = mapctl(node.config, "add", "10.9.0.%d" % (k + 1), "tls%d.pool.example.net." % k)
                t1 = time.monotonic()
                expect(r.returncode == 0, "mapctl add over TLS: exit 0", r.stderr)
                expect(wait_answer(node, "%d.0.9.10.in-addr.arpa." % (k + 1),
                                   ["tls%d.pool.example.net." % k]),
                       "the node answers write %d" % k, node.server.stderr())
                writes.append((t1 - t0) * 1000)
                converge.append((time.monotonic() - t1) * 1000)
            print("TLS + client certificate + user: mapctl add (a new process: connect, TLS "
                  "handshake, authenticate, txn) p50 %.1f ms; to the node answering p50 %.1f ms "
                  "(20 writes)" % (statistics.median(writes), statistics.median(converge)))
        step("1. sync and writes over TLS as a user", part1)

        def part2():
            etcd.stop()
            etcd.start()
            r = mapctl(node.config, "add", "10.9.1.1", "after-restart.pool.example.net.")
            expect(r.returncode == 0, "mapctl add after etcd's restart: exit 0", r.stderr)
            check(wait_answer(node, "1.1.9.10.in-addr.arpa.", ["after-restart.pool.example.net."]),
                  "the node converges after etcd's restart (a new token for its watch)",
                  node.server.stderr())
        step("2. etcd restarted: new tokens, the node resumes", part2)

        before = in_etcd(etcd)
        def part3():
            bad = node_config(etcd, path("store"), ca="other-ca.crt")
            cfg = path("wrong-ca.yaml")
            open(cfg, "w").write(bad.config_text)
            r = mapctl(cfg, "add", "10.9.2.1", "wrong-ca.pool.example.net.")
            check(r.returncode == 1, "wrong CA: exit 1", r.stderr)
            check("the server certificate does not verify" in r.stderr and
                  "unable to get local issuer certificate" in r.stderr,
                  "wrong CA: the certificate problem is named", r.stderr)
            print("wrong CA: " + r.stderr.strip().splitlines()[-1])
        step("3. a wrong CA", part3)

        def part4():
            bad = node_config(etcd, path("store"), password_file="wrong-password")
            cfg = path("wrong-password.yaml")
            open(cfg, "w").write(bad.config_text)
            r = mapctl(cfg, "add", "10.9.2.2", "wrong-pw.pool.example.net.")
            check(r.returncode == 1, "wrong password: exit 1", r.stderr)
            check("authentication failed" in r.stderr and "as user automap" in r.stderr,
                  "wrong password: said so", r.stderr)
            print("wrong password: " + r.stderr.strip().splitlines()[-1])

            # automapd with it: keeps serving, says why, never syncs.
            n = node_config(etcd, path("store-wrong-pw"), password_file="wrong-password")
            n.start()
            try:
                check(n.server.wait_log("authentication failed, invalid user ID or password "
                                        "(as user automap)"), "automapd logs the refusal",
                      n.server.stderr())
                check(metric(n, "automap_sync_up") == 0, "automapd: not synced")
            finally:
                n.stop()
        step("4. a wrong password", part4)

        def part5():
            bad = node_config(etcd, path("store"), user=None)
            cfg = path("no-user.yaml")
            open(cfg, "w").write(bad.config_text)
            r = mapctl(cfg, "add", "10.9.2.3", "no-user.pool.example.net.")
            check(r.returncode == 1, "no user: exit 1", r.stderr)
            # etcd says "user name is empty", or "permission denied" through its gateway under
            # --client-cert-auth (the gateway's own certificate stands for the user).
            check("store.sync.etcd.user and password_file" in r.stderr,
                  "no user: the missing setting is named", r.stderr)
        step("5. no user against etcd with authentication on", part5)

        check(in_etcd(etcd) == before, "nothing applied by the refused writes",
              (before, in_etcd(etcd)))

        def part6():
            bad = node_config(etcd, path("store"), ca="missing-ca.crt")
            cfg = path("missing-ca.yaml")
            open(cfg, "w").write(bad.config_text)
            line = next(i + 1 for i, l in enumerate(bad.config_text.splitlines())
                        if "tls:" in l)
            r = subprocess.run([AUTOMAPD, "checkconf", "-c", cfg], capture_output=True,
                               text=True, timeout=30)
            want = "%s:%d:" % (cfg, line)
            check(r.returncode == 1 and want in r.stderr and
                  "store.sync.etcd.tls.ca: %s: cannot read: No such file or directory" %
                  path("missing-ca.crt") in r.stderr,
                  "checkconf: file:line for the missing CA", r.stderr)
            r = mapctl(cfg, "add", "10.9.2.4", "missing-ca.pool.example.net.")
            check(r.returncode == 1 and want in r.stderr, "mapctl: file:line for the missing CA",
                  r.stderr)
        step("6. a missing CA file", part6)

    finally:
        if node is not None:
            node.stop()
        etcd.stop()
    if summary() == 0:
        shutil.rmtree(ROOT, ignore_errors=True)
        return 0
    print("kept " + ROOT)
    return 1


if __name__ == "__main__":
    sys.exit(main())
