# SPDX-License-Identifier: MIT
"""knotd for the differential tests (knot_diff_test.py, knot_dnssec_diff_test.py): Knot 3.2
with mod-synthrecord on the peers' layout (10.0.0.0/16 and 2001:db8:1::/48 as
ip-{ip}.pool.example.net., reverse zones 0.10.in-addr.arpa and the /48's ip6.arpa), started
on a free loopback port and stopped afterwards.
"""
import os
import subprocess
import time

from pdns import free_port  # UDP and TCP free, as knotd binds both

# automap's config for the same layout and apexes (the tests add their own keys).
AUTOMAP_CONFIG = """\
soa: { mname: ns1.pool.example.net., rname: hostmaster.example.net., serial: 1,
       refresh: 3600, retry: 600, expire: 604800, minimum: 300, ttl: 300 }
ns: [ns1.pool.example.net.]
ttl: 300
zones:
  - name: pool.example.net.
prefixes:
  - prefix: 10.0.0.0/16
    name: "ip-{ip}.pool.example.net."
  - prefix: 2001:db8:1::/48
    name: "ip-{ip}.pool.example.net."
"""

ZONES = ("pool.example.net.", "0.10.in-addr.arpa.", "1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.")

# Each zone file: the apex SOA and NS, as automap's config has them.
ZONE_FILE = """$ORIGIN {zone}
$TTL 300
@   IN SOA ns1.pool.example.net. hostmaster.example.net. 1 3600 600 604800 300
@   IN NS  ns1.pool.example.net.
"""

# Everything but the zones' module lists: {port} and {run} are filled in by Knotd, {extra}
# (more module sections, such as mod-onlinesign) and {zones} by the caller.
CONFIG = """
server:
    listen: 127.0.0.1@{port}
    rundir: {run}
    pidfile: {run}/knot.pid
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: {run}/db
control:
    listen: {run}/knot.sock
mod-synthrecord:
  - id: fwd4
    type: forward
    prefix: ip-
    ttl: 300
    network: 10.0.0.0/16
  - id: fwd6
    type: forward
    prefix: ip-
    ttl: 300
    network: 2001:db8:1::/48
  - id: rev4
    type: reverse
    prefix: ip-
    origin: pool.example.net
    ttl: 300
    network: 10.0.0.0/16
  - id: rev6
    type: reverse
    prefix: ip-
    origin: pool.example.net
    ttl: 300
    network: 2001:db8:1::/48
{extra}template:
  - id: default
    storage: {run}/zones
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
  - domain: pool.example.net
    file: pool.example.net.zone
    module: [ {fwd} ]
  - domain: 0.10.in-addr.arpa
    file: 0.10.in-addr.arpa.zone
    module: [ {rev4} ]
  - domain: 1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa
    file: 1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.zone
    module: [ {rev6} ]
"""


class Knotd:
    """knotd in `workdir` with CONFIG, the zones' modules given as `fwd`, `rev4`, `rev6`
    (lists of "mod-x/id") and `extra` module sections. Waits until `ready(port)` is true
    (each call may raise while knotd is not up); raises RuntimeError with knotd's log when it
    exits or is not ready in 20 s."""

    def __init__(self, workdir, ready, extra="", fwd=(), rev4=(), rev6=()):
        self.dir = workdir
        os.makedirs(os.path.join(self.dir, "zones"))
        os.makedirs(os.path.join(self.dir, "db"))
        for z in ZONES:
            with open(os.path.join(self.dir, "zones", z + "zone"), "w") as f:
                f.write(ZONE_FILE.format(zone=z))
        self.port = free_port()
        conf = os.path.join(self.dir, "knot.conf")
        with open(conf, "w") as f:
            f.write(CONFIG.format(port=self.port, run=self.dir, extra=extra, fwd=", ".join(fwd),
                                  rev4=", ".join(rev4), rev6=", ".join(rev6)))
        self.log = open(os.path.join(self.dir, "knot.log"), "w+")
        self.proc = subprocess.Popen(["knotd", "-c", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("knotd exited %d: %s" % (self.proc.returncode, self.log_text()))
            try:
                if ready(self.port):
                    return
            except Exception:  # noqa: BLE001 (not listening yet)
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("knotd not ready in 20 s: " + self.log_text())

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
