#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The lb example (tools/examples/lb) against real HTTP front-ends, standalone and behind a
real PowerDNS 4.7 pipe backend.

Three HTTP servers on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (ephemeral ports) report a load
figure at /load; the test changes their load and health (503, or the server stopped) and
checks, through `lb --listen` and then through pdns_server + `lb` as pipe coprocess:

  - www (A, count 2, HTTP probe, fallback 192.0.2.99): the two least loaded, TTL 2; a load
    change shows within one probe interval (+ the probe timeout + slack); a 503 and a stopped
    server drop out; all down -> the fallback address
  - ECS 198.51.100.0/24 prefers 127.0.0.1 (its region) even when it is the most loaded
  - api (A, count 1, TCP probe, no fallback): the first up; all stopped -> SERVFAIL
  - AAAA for www -> NODATA; a name in the zone that is no service -> NXDOMAIN
  - `lb --check`: a good file exits 0; a bad one exits 1 with every error as file:line:col
  - SIGTERM stops `lb --listen` (background probes included) with status 0

usage: /usr/bin/python3 lb_test.py LB_BINARY [PDNS_AVAILABLE(0|1)]
"""
import http.server
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.edns  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
from checks import expect, step, summary  # noqa: E402
from pdns import PdnsError, PdnsServer, free_port, pipe_settings  # noqa: E402

INTERVAL = 0.4   # probe interval (s), as in the config below
TIMEOUT = 0.35   # probe timeout (s): generous for a loaded machine
# A change must show within one interval plus one probe round; the slack covers the
# scheduling of a loaded 2-core machine.
WITHIN = INTERVAL + TIMEOUT + 0.6
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
FALLBACK = "192.0.2.99"


class FrontEnd:
    """One HTTP server whose /load answer (status, body) the test sets."""

    def __init__(self, host):
        self.host = host
        self.port = 0
        self.status = 200
        self.load = 0
        self.server = None
        self.thread = None

    def start(self):
        fe = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = ("%s\n" % fe.load).encode()
                self.send_response(fe.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((self.host, self.port), Handler)
        self.port = self.server.server_address[1]  # kept: a restart binds the same port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)
            self.server = None


def config_text(fes):
    backends = []
    for i, fe in enumerate(fes):
        region = "\n        regions: [198.51.100.0/24]" if i == 0 else ""
        backends.append("      - address: %s\n        port: %d%s" % (fe.host, fe.port, region))
    tcp_backends = ["      - { address: %s, port: %d }" % (fe.host, fe.port) for fe in fes]
    return """zone: lb.example.
services:
  - name: www.lb.example.
    type: A
    count: 2
    ttl: 2
    probe: { type: http, path: /load, interval: %dms, timeout: %dms }
    backends:
%s
    fallback: [%s]
  - name: api.lb.example.
    type: A
    count: 1
    probe: { type: tcp, interval: %dms, timeout: %dms }
    backends:
%s
""" % (INTERVAL * 1000, TIMEOUT * 1000, "\n".join(backends), FALLBACK, INTERVAL * 1000,
       TIMEOUT * 1000, "\n".join(tcp_backends))


def addresses(msg):
    return [rd.address for rrset in msg.answer if rrset.rdtype == dns.rdatatype.A
            for rd in rrset]


class Checker:
    def __init__(self, query, fes, label, ordered):
        self.query = query  # query(name, type, **make_query_args) -> dns.message
        self.fes = fes
        self.label = label
        # The standalone server keeps the app's order (least loaded first); PowerDNS shuffles
        # the records of an RRset, so through it only the set is compared.
        self.ordered = ordered

    def addrs(self, msg):
        return addresses(msg) if self.ordered else sorted(addresses(msg))

    def want(self, *hosts):
        return list(hosts) if self.ordered else sorted(hosts)

    def www(self, ecs=None):
        kw = {}
        if ecs:
            kw = {"use_edns": 0, "options": [dns.edns.ECSOption(ecs, 24)]}
        return self.query("www.lb.example.", "A", **kw)

    def wait_for(self, what, pred, ecs=None, name="www", within=WITHIN):
        """Polls until pred(response) holds; fails if that takes longer than `within`."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < within:
            last = self.www(ecs) if name == "www" else self.query(name + ".lb.example.", "A")
            if pred(last):
                return time.monotonic() - t0
            time.sleep(0.02)
        expect(False, "%s: %s not seen within %.2f s" % (self.label, what, within),
               "last response:\n%s" % last)

    def set(self, loads=None, status=None):
        for i, fe in enumerate(self.fes):
            if loads is not None:
                fe.load = loads[i]
            if status is not None:
                fe.status = status[i]

    def run(self):
        a, b, c = HOSTS
        self.set(loads=(10, 20, 30), status=(200, 200, 200))
        # Start-up: the first probe round runs at once.
        self.wait_for("first answer", lambda r: sorted(addresses(r)) == [a, b], within=10)
        r = self.www()
        expect(r.rcode() == dns.rcode.NOERROR and self.addrs(r) == self.want(a, b),
               "least loaded first: %r" % addresses(r), r)
        expect(all(rr.ttl == 2 for rr in r.answer), "TTL 2", r)

        self.set(loads=(30, 20, 10))
        t = self.wait_for("the new least loaded (.3, .2)", lambda r: self.addrs(r) == self.want(c, b))
        print("     %s: load change seen after %.2f s" % (self.label, t))

        self.set(status=(200, 200, 503))  # .3 unhealthy: out
        self.wait_for(".3 out on 503", lambda r: self.addrs(r) == self.want(b, a))

        self.fes[1].stop()  # .2 dead: connection refused
        self.wait_for(".2 out when stopped", lambda r: self.addrs(r) == self.want(a))
        self.fes[1].start()
        self.set(status=(200, 200, 200))
        self.wait_for("all back", lambda r: self.addrs(r) == self.want(c, b))

        # 198.51.100.0/24 is 127.0.0.1's region: preferred although the most loaded.
        self.wait_for("ECS preference", lambda r: self.addrs(r) == self.want(a, c), ecs="198.51.100.7")
        if not self.ordered:
            # Through PowerDNS the answer is marked as valid for the client's /24 only.
            r = self.www(ecs="198.51.100.7")
            scopes = [o.scopelen for o in r.options if isinstance(o, dns.edns.ECSOption)]
            expect(scopes == [24], "ECS scope %r, expected [24]" % scopes, r)
        r = self.www(ecs="203.0.113.1")
        expect(self.addrs(r) == self.want(c, b), "ECS outside every region: %r" % addresses(r), r)

        r = self.query("www.lb.example.", "AAAA")
        expect(r.rcode() == dns.rcode.NOERROR and not r.answer, "AAAA: NODATA", r)
        r = self.query("nope.lb.example.", "A")
        expect(r.rcode() == dns.rcode.NXDOMAIN, "not a service: NXDOMAIN", r)

        self.wait_for("api: the first up", lambda r: self.addrs(r) == self.want(a), name="api")
        self.set(status=(503, 503, 503))
        self.wait_for("fallback when all are down",
                      lambda r: r.rcode() == dns.rcode.NOERROR and self.addrs(r) == self.want(FALLBACK))
        for fe in self.fes:
            fe.stop()
        self.wait_for("api: SERVFAIL when all are down (no fallback)",
                      lambda r: r.rcode() == dns.rcode.SERVFAIL, name="api")
        for fe in self.fes:
            fe.start()
        self.set(status=(200, 200, 200))
        print("ok   %s" % self.label)


def udp_query(port):
    def query(name, rdtype, **kw):
        msg = dns.message.make_query(name, rdtype, **kw)
        return dns.query.udp(msg, "127.0.0.1", port=port, timeout=2)
    return query


def wait_port(port, proc, timeout=10):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            expect(False, "lb exited with %d" % proc.returncode)
        try:
            udp_query(port)("lb.example.", "SOA")
            return
        except (dns.exception.Timeout, OSError):
            time.sleep(0.05)
    expect(False, "lb --listen did not answer within %d s" % timeout)


def check_standalone(lb, cfg, fes):
    port = free_port()
    proc = subprocess.Popen([lb, "-c", cfg, "--listen", "127.0.0.1:%d" % port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(port, proc)
        Checker(udp_query(port), fes, "standalone", ordered=True).run()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        took = time.monotonic() - t0
        expect(rc == 0, "lb --listen: exit %d on SIGTERM" % rc)
        expect(took < 5, "lb --listen: %.1f s to stop" % took)
        err = proc.stderr.read()
        for want in ("probe www.lb.example.: 127.0.0.3 port %d down: HTTP status 503" % fes[2].port,
                     "probe www.lb.example.: 127.0.0.2 port %d down: " % fes[1].port,
                     # A TCP-connect probe of a stopped front-end: refused, or reset by peer
                     # when it meets the listener while it closes; both are the OS's words.
                     "probe api.lb.example.: 127.0.0.2 port %d down: connect: " % fes[1].port):
            expect(want in err, "the log has %r" % want, err)
        print("ok   standalone: SIGTERM stops it in %.2f s, transitions logged" % took)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def check_pdns(lb, cfg, fes):
    settings = pipe_settings("%s -c %s" % (lb, cfg), abi=3, **{"edns-subnet-processing": "yes"})
    pdns = PdnsServer(settings)
    try:
        pdns.start()
        Checker(lambda n, t, **kw: pdns.query(n, t, **kw), fes, "pdns pipe", ordered=False).run()
    except (AssertionError, PdnsError):
        print(pdns.describe())
        raise
    finally:
        pdns.stop()


BAD = """zone: lb.example.
services:
  - name: www.lb.example.
    type: MX
    count: 0
    probe: { type: http, intervl: 1s }
    backends:
      - { address: 2001:db8::1, port: 70000 }
    fallback: [not-an-address]
  - name: www.other.example.
    backends: []
"""


def check_config_errors(lb, tmp):
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write(BAD)
    r = subprocess.run([lb, "-c", bad, "--check"], capture_output=True, text=True, timeout=30)
    expect(r.returncode == 1, "--check of a bad file: exit %d" % r.returncode)
    want = [
        "bad.yaml:4:11: services[0].type: expected A or AAAA",
        "bad.yaml:5:12: services[0].count: expected an integer from 1 to 64",
        "bad.yaml:6:26: services[0].probe.intervl: unknown key; did you mean 'interval'?",
        "bad.yaml:8:20: services[0].backends[0].address: the service is of type A: "
        "expected IPv4",
        "bad.yaml:8:39: services[0].backends[0].port: expected an integer from 1 to 65535",
        "bad.yaml:9:16: services[0].fallback[0]: 'not-an-address': not a valid IP address",
        "bad.yaml:10:11: services[1].name: not inside the zone lb.example.",
        "bad.yaml:11:15: services[1].backends: expected a non-empty list",
    ]
    lines = [l[len(tmp) + 1:] if l.startswith(tmp) else l for l in r.stderr.splitlines()]
    for w in want:
        expect(any(l.startswith(w) for l in lines), "--check: a line %r" % w, r.stderr)
    good = os.path.join(tmp, "lb.yaml")
    r = subprocess.run([lb, "-c", good, "--check"], capture_output=True, text=True, timeout=30)
    expect(r.returncode == 0 and not r.stderr, "--check of a good file: %d %r" % (
        r.returncode, r.stderr))
    print("ok   config errors: file:line:col, --check")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    lb = os.path.abspath(sys.argv[1])
    with_pdns = len(sys.argv) < 3 or sys.argv[2] == "1"
    fes = [FrontEnd(h) for h in HOSTS]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for fe in fes:
                fe.start()
            cfg = os.path.join(tmp, "lb.yaml")
            with open(cfg, "w") as f:
                f.write(config_text(fes))
            steps = [("config", lambda: check_config_errors(lb, tmp)),
                     ("standalone", lambda: check_standalone(lb, cfg, fes))]
            if with_pdns:
                steps.append(("pdns", lambda: check_pdns(lb, cfg, fes)))
            else:
                print("skip pdns pipe: pdns_server not found")
            for name, part in steps:
                step(name, part)
        finally:
            for fe in fes:
                fe.stop()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
