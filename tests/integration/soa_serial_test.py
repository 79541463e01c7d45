#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The SOA serial without soa.serial (issue 12 section 6): the store's last change and the
config, so that nodes with the same data serve the same serial (mapper/config/README.md).

Two nodes, each a directory with the same automap.yaml text (store.path relative: `store`,
run with the node's directory as the working directory, as two machines with
/var/lib/automap would).
(a) mapctl on node 1 creates the store; its data.mdb is copied to node 2. Both automapd serve
    the same serial, the store's last change (the time of that mapctl write).
(b) mapctl adds an override on node 1: the served serial rises at the next query, without a
    reload, in the SOA answer, in a negative answer's authority section and through the pipe
    front-end; a reload keeps it. Two stores with the same content serve the same serial.
(c) A config change on node 2 (a prefix added) and a reload: the serial rises (by one: the
    config is not the one the last writer recorded).
(d) soa.serial given: it wins.

usage: soa_serial_test.py AUTOMAPD MAPCTL
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import dns.message
import dns.query
import dns.rdatatype

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, summary  # noqa: E402
from config import HEAD, PREFIX_V4  # noqa: E402
from pdns import free_port  # noqa: E402  (one copy: lib/pdns.py)

CONFIG = HEAD + PREFIX_V4 + """\
store: { path: store, map_size: 64MiB }
"""
EXTRA = """\
  - prefix: 192.0.2.0/24
    name: "static-{d}.pool.example.net."
"""


def serial(port, zone="pool.example.net.", wait=20, qtype=dns.rdatatype.SOA):
    q = dns.message.make_query(zone, qtype)
    deadline = time.monotonic() + wait
    while True:
        try:
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
            # An SOA answer, or the SOA of a negative answer's authority section.
            return [rd.serial for rr in r.answer + r.authority for rd in rr
                    if rr.rdtype == dns.rdatatype.SOA][0]
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


class Node:
    def __init__(self, root, name, automapd, mapctl, text=CONFIG):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.automapd, self.mapctl = automapd, mapctl
        self.write(text)
        self.proc = None
        self.log = os.path.join(self.dir, "stderr.log")

    def write(self, text):
        with open(os.path.join(self.dir, "automap.yaml"), "w") as f:
            f.write(text)

    def ctl(self, *args):
        p = subprocess.run([self.mapctl, "-c", "automap.yaml"] + list(args), cwd=self.dir,
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "mapctl %s" % " ".join(args), p.stderr)

    def start(self):
        for _ in range(5):  # another test may take the port between free_port() and the bind
            self.port = free_port()
            with open(self.log, "w") as err:
                self.proc = subprocess.Popen(
                    [self.automapd, "serve", "-c", "automap.yaml", "--threads", "1", "--listen",
                     "127.0.0.1:%d" % self.port], cwd=self.dir, stdout=subprocess.DEVNULL,
                    stderr=err)
            s = serial(self.port)
            if s is not None or self.proc.poll() is None:
                return s
            with open(self.log) as f:
                if "Address already in use" not in f.read():
                    return s
        return None

    def reload(self, generation):
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open(self.log) as f:
                if "reloaded app generation=%d" % generation in f.read():
                    return serial(self.port)
            time.sleep(0.05)
        with open(self.log) as f:
            check(False, "reload to generation %d" % generation, f.read())
        return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def pipe_serial(automapd, node):
    """The SOA serial through `automapd pipe` (PowerDNS's ABI 1 coprocess protocol)."""
    p = subprocess.Popen([automapd, "pipe", "-c", "automap.yaml"], cwd=node.dir,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, bufsize=1)
    try:
        p.stdin.write("HELO\t1\nQ\tpool.example.net\tIN\tSOA\t-1\t127.0.0.1\n")
        p.stdin.flush()
        p.stdout.readline()  # the banner
        for _ in range(10):
            fields = p.stdout.readline().rstrip("\n").split("\t")
            if fields[0] == "DATA" and fields[3] == "SOA":
                return int(fields[-1].split()[2])
            if fields[0] != "DATA":
                return None
        return None
    finally:
        p.stdin.close()
        p.wait(timeout=10)


def main():
    automapd, mapctl = sys.argv[1:3]
    root = tempfile.mkdtemp(prefix="automap-soa-")
    n1 = Node(root, "node1", automapd, mapctl)
    n2 = Node(root, "node2", automapd, mapctl)
    try:
        before = int(time.time())
        n1.ctl("add", "10.1.2.3", "mail.pool.example.net.")
        after = int(time.time())
        os.makedirs(os.path.join(n2.dir, "store"))
        shutil.copyfile(os.path.join(n1.dir, "store/data.mdb"),
                        os.path.join(n2.dir, "store/data.mdb"))
        s1, s2 = n1.start(), n2.start()
        check(s1 is not None and s1 == s2, "(a) both nodes serve the same serial: %s %s" % (s1, s2))
        check(s1 is not None and before <= s1 <= after + 1,
              "(a) it is the store's last change: %s in [%d, %d]" % (s1, before, after + 1))
        # The load time would differ between two starts a second apart.
        time.sleep(1.1)
        n2.stop()
        check(n2.start() == s2, "(a) a restart a second later serves it again")

        check(pipe_serial(automapd, n1) == s1, "(a) the pipe serves it too")
        n1.ctl("add", "10.1.2.4", "www.pool.example.net.")
        live = serial(n1.port)
        check(live is not None and live > s1, "(b) live: it rose without a reload: %s > %s"
              % (live, s1))
        check(serial(n1.port, "3.2.1.10.in-addr.arpa.", qtype=dns.rdatatype.TXT) == live,
              "(b) a negative answer's SOA carries it")
        check(pipe_serial(automapd, n1) == live, "(b) so does the pipe")
        r1 = n1.reload(2)
        check(r1 == live, "(b) a reload keeps it: %s == %s" % (r1, live))
        # The same content on node 2: the same serial, live too.
        shutil.copyfile(os.path.join(n1.dir, "store/data.mdb"),
                        os.path.join(n2.dir, "store/data.mdb.new"))
        os.rename(os.path.join(n2.dir, "store/data.mdb.new"),
                  os.path.join(n2.dir, "store/data.mdb"))
        deadline = time.monotonic() + 20
        while serial(n2.port) != live and time.monotonic() < deadline:
            time.sleep(0.1)
        check(serial(n2.port) == live, "(b) node 2 with the same store serves the same serial")
        s2 = live

        n2.write(CONFIG.replace('.pool.example.net."\n', '.pool.example.net."\n' + EXTRA, 1))
        r2 = n2.reload(2)
        check(r2 == s2 + 1, "(c) a config change + reload raises it by one: %s -> %s" % (s2, r2))
        n1.stop()
        n1.write(CONFIG.replace("hostmaster.example.net. }", "hostmaster.example.net., serial: 42 }"))
        check(n1.start() == 42, "(d) soa.serial wins")
    finally:
        n1.stop()
        n2.stop()
    shutil.rmtree(root, ignore_errors=True)
    sys.exit(summary())


if __name__ == "__main__":
    main()
