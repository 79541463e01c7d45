# SPDX-License-Identifier: MIT
"""Validators for the DNSSEC tests: a validating unbound with stub zones to one server,
delv with static-ds trust anchors, mapctl's DS records, a direct query, and a loopback UDP
proxy that can rewrite answers on their way to the validator.

    from dnssec import Unbound, delv, ds_records, direct, UdpProxy

    ds = ds_records(mapctl, config)               # "ZONE IN DS TAG ALG 2 HEX", one per apex
    u = Unbound(workdir, server_port, ds)         # validating, stub zones to the server
    m = u.query(name, "PTR")                      # AD set when secure; cd=True: no validation
    r = delv(server_port, ds, name, "PTR", workdir)  # "fully validated" in r.stdout when secure
    u.stop()
"""
import os
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode

from pdns import free_port

# The apexes of the test configs (10.0.0.0/8 and 2001:db8::/32 under pool.example.net.).
ZONES = ("pool.example.net.", "10.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw)


def zone_of(name, zones=ZONES):
    """The zone of `zones` that `name` is in (the longest match)."""
    for z in sorted(zones, key=len, reverse=True):
        if name == z or name.endswith("." + z):
            return z
    raise ValueError(name)


class Unbound:
    """unbound on 127.0.0.1:free port, validating, with stub zones `zones` to `port`.

    control=True adds a remote-control socket (a unix socket in its folder, no certificates),
    so set_anchors() can change the trust anchors with `unbound-control reload`: the same
    process keeps running (its caches are dropped by the reload; unbound 1.17 has no
    reload_keep_cache).
    """

    def __init__(self, workdir, port, ds_lines, zones=ZONES, control=False):
        self.dir = tempfile.mkdtemp(prefix="unbound-", dir=workdir)
        self.port = free_port()
        self.server_port = port
        self.zones = zones
        self.control = control
        self.conf = os.path.join(self.dir, "unbound.conf")
        self._write(ds_lines)
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen(["unbound", "-d", "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("unbound exited: " + self.log_text())
            try:
                self.query(zones[0], "SOA", timeout=0.5)
                return
            except Exception:  # noqa: BLE001 (not up yet)
                time.sleep(0.05)
        raise RuntimeError("unbound did not answer: " + self.log_text())

    def _write(self, ds_lines):
        anchors = "".join('  trust-anchor: "%s"\n' % d for d in ds_lines)
        stubs = "".join('stub-zone:\n  name: "%s"\n  stub-addr: 127.0.0.1@%d\n' %
                        (z, self.server_port) for z in self.zones)
        # unbound serves the reverse trees of private space itself unless told not to.
        local = "".join('  local-zone: "%s" nodefault\n' % z for z in self.zones
                        if z.endswith(".arpa."))
        control = "remote-control:\n  control-enable: no\n"
        if self.control:
            control = ('remote-control:\n  control-enable: yes\n  control-interface: "%s"\n'
                       '  control-use-cert: no\n' % os.path.join(self.dir, "control.sock"))
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write("""server:
  interface: 127.0.0.1
  port: %d
  do-ip6: no
  do-daemonize: no
  use-syslog: no
  logfile: ""
  chroot: ""
  username: ""
  directory: "%s"
  pidfile: ""
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "validator iterator"
  qname-minimisation: no
%s  val-log-level: 2
  verbosity: 1
%s%s
%s""" % (self.port, self.dir, local, anchors, stubs, control))
        os.replace(tmp, self.conf)

    def set_anchors(self, ds_lines):
        """New trust anchors (the parent's DS set changed): rewrite the config, then
        `unbound-control reload` (same process, caches dropped). Returns the reload's result."""
        if not self.control:
            raise RuntimeError("Unbound(control=True) is needed to change the anchors")
        self._write(ds_lines)
        r = run(["unbound-control", "-c", self.conf, "reload"])
        if r.returncode == 0:
            # The reload returns before the listeners are back: wait until it answers.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    self.query(self.zones[0], "SOA", timeout=0.5)
                    break
                except Exception:  # noqa: BLE001 (not back yet)
                    time.sleep(0.05)
        return r

    def query(self, name, rdtype, timeout=3.0, cd=False):
        q = dns.message.make_query(name, rdtype, want_dnssec=True)
        q.flags |= dns.flags.RD
        if cd:
            q.flags |= dns.flags.CD
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=timeout)

    def query_secure(self, name, rdtype):
        """query(), once more after a SERVFAIL: a lookup that timed out on a loaded machine
        is SERVFAIL too, but not cached, while a bogus answer stays cached (60 s), so the
        second try cannot hide one."""
        m = self.query(name, rdtype)
        if m.rcode() == dns.rcode.SERVFAIL:
            time.sleep(1)
            m = self.query(name, rdtype)
        return m

    def log_text(self, tail=3000):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-tail:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def ds_records(mapctl, config):
    """mapctl key ds: one "ZONE IN DS TAG ALG 2 HEX" line (single spaces) per SEP key and apex."""
    r = run([mapctl, "-c", config, "key", "ds"])
    if r.returncode != 0:
        raise RuntimeError("mapctl key ds: " + r.stderr)
    return [" ".join(line.split()) for line in r.stdout.splitlines() if line.strip()]


def delv(port, ds_lines, name, rdtype, workdir, zones=ZONES):
    """delv @127.0.0.1 -p PORT with the DS lines of name's zone as static-ds anchors."""
    z = zone_of(name, zones)
    anchors = os.path.join(workdir, "delv-anchors.conf")
    with open(anchors, "w") as f:
        for d in ds_lines:
            owner, _, _, tag, alg, digest_type, digest = d.split()
            if owner.lower() == z:
                f.write('trust-anchors { "%s" static-ds %s %s %s "%s"; };\n' %
                        (owner, tag, alg, digest_type, digest))
    return run(["delv", "@127.0.0.1", "-p", str(port), "-a", anchors, "+root=" + z, name,
                rdtype])


def direct(port, name, rdtype, dnssec=True, payload=1232, tcp=False):
    q = dns.message.make_query(name, rdtype, want_dnssec=dnssec, payload=payload)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=port, timeout=3)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=3, ignore_trailing=True)


class UdpProxy:
    """A UDP forwarder on 127.0.0.1:free port to 127.0.0.1:`upstream`, in a thread.

    Each response goes through `rewrite(query_message, response_bytes) -> bytes`, which may
    tamper with it. Bounded: one query at a time, a 2 s upstream timeout, stopped by stop().
    TCP is not proxied: the answers the tests ask for fit in UDP.
    """

    def __init__(self, upstream, rewrite):
        self.upstream = upstream
        self.rewrite = rewrite
        self.port = free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.stopping = False
        self.errors = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
            up.settimeout(2)
            while not self.stopping:
                ready, _, _ = select.select([self.sock], [], [], 0.1)
                if not ready:
                    continue
                data, client = self.sock.recvfrom(65535)
                try:
                    up.sendto(data, ("127.0.0.1", self.upstream))
                    answer, _ = up.recvfrom(65535)
                    answer = self.rewrite(dns.message.from_wire(data), answer)
                    self.sock.sendto(answer, client)
                except Exception as e:  # noqa: BLE001 (a lost answer: the client retries)
                    self.errors.append(repr(e))

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()
