#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The example apps under a real PowerDNS 4.7 with the pipe backend, for ABI 1, 3 and 5.

For each ABI a pdns_server is started on a free loopback port (tests/integration/lib/pdns.py)
with pipe-command=<hello or whoami> --zone ..., and queried with dnspython:

  hello:  TXT at the apex -> "Hello World!" with AA; ANY at the apex -> TC over UDP, and
          SOA, NS, TXT over TCP; a name
          outside the zone -> REFUSED; a missing name inside -> NXDOMAIN with the SOA in the
          authority section; TXT in mixed case; A at the apex -> NODATA with the SOA.
  whoami: A -> 127.0.0.1; TXT -> "127.0.0.1"; TXT with ECS 192.0.2.0/24 -> "192.0.2.0/24 via
          ECS" on ABI 3+ (ABI 1 has no ECS field: the client address).
  ABI 5:  pdnsutil backend-cmd pipe version/stats reach the coprocess.
  CLI:    hello --listen (answers over UDP, exits 0 on SIGTERM), a bad --zone (exit 1), --version, the pipe
          on stdin, an unsupported HELO (FAIL, exit 1).

And the pdns log must show no coprocess FAIL or backend error.

usage: /usr/bin/python3 pipe_pdns_test.py HELLO_BINARY WHOAMI_BINARY
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.edns  # noqa: E402
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.flags  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
from checks import expect, step, summary  # noqa: E402
from pdns import PdnsServer, free_port, pipe_settings  # noqa: E402

ABIS = (1, 3, 5)
BAD_LOG_MARKERS = ("coprocess returned a FAIL", "Backend error", "incorrect response",
                   "Coprocess backend sent")


def rrsets(msg, section, rdtype):
    return [rr for rr in getattr(msg, section) if rr.rdtype == dns.rdatatype.from_text(rdtype)]


def txt_strings(msg):
    out = []
    for rrset in rrsets(msg, "answer", "TXT"):
        for rd in rrset:
            out.append(b"".join(rd.strings).decode())
    return out


def expect_rcode(msg, rcode, what):
    expect(msg.rcode() == rcode, "%s: rcode %s, expected %s" % (
        what, dns.rcode.to_text(msg.rcode()), dns.rcode.to_text(rcode)), msg)


def check_hello(pdns, abi):
    r = pdns.query("hello.example.", "TXT")
    expect_rcode(r, dns.rcode.NOERROR, "hello TXT")
    expect(r.flags & dns.flags.AA, "hello TXT: AA not set", r)
    expect(txt_strings(r) == ["Hello World!"], "hello TXT: %r" % txt_strings(r), r)
    expect(rrsets(r, "answer", "TXT")[0].ttl == 86400, "hello TXT: TTL", r)

    r = pdns.query("HeLLo.ExAmPlE.", "TXT")
    expect_rcode(r, dns.rcode.NOERROR, "mixed-case TXT")
    expect(txt_strings(r) == ["Hello World!"], "mixed-case TXT: %r" % txt_strings(r), r)
    expect(r.question[0].name.to_text() == "HeLLo.ExAmPlE.", "question case not echoed", r)

    # PowerDNS sends ANY over UDP back truncated (any-to-tcp=yes, the default).
    r = pdns.query("hello.example.", "ANY")
    expect(r.flags & dns.flags.TC, "ANY over UDP: TC not set", r)
    r = pdns.query("hello.example.", "ANY", tcp=True)
    expect_rcode(r, dns.rcode.NOERROR, "ANY at apex over TCP")
    types = sorted(dns.rdatatype.to_text(rr.rdtype) for rr in r.answer)
    expect(types == ["NS", "SOA", "TXT"], "ANY at apex over TCP: %s" % types, r)

    r = pdns.query("example.org.", "A")
    expect_rcode(r, dns.rcode.REFUSED, "outside the zone")
    expect(not r.answer, "outside the zone: answer not empty", r)

    r = pdns.query("nope.hello.example.", "A")
    expect_rcode(r, dns.rcode.NXDOMAIN, "missing name")
    expect(r.flags & dns.flags.AA, "missing name: AA not set", r)
    soa = rrsets(r, "authority", "SOA")
    expect(len(soa) == 1 and soa[0].name.to_text() == "hello.example.",
           "missing name: no SOA in authority", r)

    r = pdns.query("hello.example.", "A")
    expect_rcode(r, dns.rcode.NOERROR, "A at apex (NODATA)")
    expect(not r.answer and rrsets(r, "authority", "SOA"), "A at apex: not NODATA+SOA", r)

    r = pdns.query("hello.example.", "SOA")
    expect_rcode(r, dns.rcode.NOERROR, "SOA at apex")
    soa = rrsets(r, "answer", "SOA")
    expect(soa and soa[0][0].mname.to_text() == "ns1.hello.example.", "SOA at apex", r)


def check_whoami(pdns, abi):
    r = pdns.query("whoami.example.", "A")
    expect_rcode(r, dns.rcode.NOERROR, "whoami A")
    a = [rd.address for rrset in rrsets(r, "answer", "A") for rd in rrset]
    expect(a == ["127.0.0.1"], "whoami A: %r" % a, r)

    r = pdns.query("whoami.example.", "TXT")
    expect(txt_strings(r) == ["127.0.0.1"], "whoami TXT: %r" % txt_strings(r), r)

    ecs = dns.edns.ECSOption("192.0.2.0", 24)
    r = pdns.query("whoami.example.", "TXT", use_edns=0, options=[ecs])
    expect_rcode(r, dns.rcode.NOERROR, "whoami TXT with ECS")
    want = ["192.0.2.0/24 via ECS"] if abi >= 3 else ["127.0.0.1"]
    expect(txt_strings(r) == want, "whoami TXT with ECS (ABI %d): %r, expected %r" % (
        abi, txt_strings(r), want), r)
    if abi >= 3:
        scopes = [o.scopelen for o in r.options if isinstance(o, dns.edns.ECSOption)]
        expect(scopes == [24], "whoami TXT with ECS: response ECS scope %r, expected [24]"
               % scopes, r)

    r = pdns.query("whoami.example.", "A", use_edns=0, options=[ecs])
    a = [rd.address for rrset in rrsets(r, "answer", "A") for rd in rrset]
    expect(a == (["192.0.2.0"] if abi >= 3 else ["127.0.0.1"]), "whoami A with ECS: %r" % a, r)

    r = pdns.query("whoami.example.", "AAAA")
    expect_rcode(r, dns.rcode.NOERROR, "whoami AAAA from an IPv4 client (NODATA)")
    expect(not r.answer, "whoami AAAA from an IPv4 client: answer not empty", r)


def check_backend_cmd(pdns):
    """pdnsutil starts its own coprocess from the same config and sends CMD lines."""
    out = subprocess.run(
        ["pdnsutil", "--config-dir=%s" % pdns.dir, "backend-cmd", "pipe", "version", "stats",
         "bogus"], capture_output=True, text=True, timeout=30)
    text = out.stdout
    expect(out.returncode == 0, "pdnsutil backend-cmd failed (%d):\n%s%s" % (
        out.returncode, out.stdout, out.stderr))
    expect("automap " in text and "pipe ABI 5" in text, "backend-cmd version: %r" % text)
    expect("queries=" in text and "uptime_seconds=" in text, "backend-cmd stats: %r" % text)
    expect("unknown command 'bogus'" in text, "backend-cmd bogus: %r" % text)


def check_log(pdns):
    log = pdns.log()
    bad = [m for m in BAD_LOG_MARKERS if m in log]
    expect(not bad, "pdns log shows backend trouble: %s" % bad)


def check_cli(hello):
    """The command line of amap::run, as PowerDNS and operators use it."""
    def run(args, stdin=""):
        return subprocess.run([hello] + args, input=stdin, capture_output=True, text=True,
                              timeout=10)
    # The same binary serves UDP/TCP with --listen (amap::run's server, as automapd serve):
    # ask it over UDP, reload it with SIGHUP (the app is built again), ask again, SIGTERM it.
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([hello, "--zone", "hello.example.", "--listen", "127.0.0.1:%d" % port,
                             "--threads", "2"],
                            stdout=subprocess.DEVNULL, stderr=log, text=True)

    def ask():
        answer = None
        deadline = time.monotonic() + 10
        while answer is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = dns.query.udp(dns.message.make_query("hello.example.", "TXT"),
                                       "127.0.0.1", port=port, timeout=0.5)
            except dns.exception.Timeout:
                pass
        return answer

    def logged():
        log.seek(0)
        return log.read()

    try:
        for when in ("at start", "after SIGHUP"):
            answer = ask()
            expect(answer is not None and answer.flags & dns.flags.AA and
                   [rr.to_text() for rr in answer.answer] ==
                   ['hello.example. 86400 IN TXT "Hello World!"'],
                   "--listen %s: answer %s" % (when, answer))
            if when == "at start":
                proc.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + 10
                while "reloaded app generation=" not in logged() and time.monotonic() < deadline:
                    time.sleep(0.05)
                expect("reloaded app generation=" in logged(),
                       "--listen: SIGHUP rebuilds the app; log %r" % logged())
    finally:
        proc.terminate()
        status = proc.wait(timeout=10)
    expect(status == 0, "--listen: exit status %d after SIGTERM" % status)
    r = run(["--listen", "127.0.0.1:0", "--threads", "2000"])
    expect(r.returncode == 1 and "--threads 2000: at most 1024" in r.stderr,
           "--threads 2000: status %d, stderr %r" % (r.returncode, r.stderr))
    r = run(["--zone", "bad..zone"])
    expect(r.returncode == 1 and "bad..zone" in r.stderr,
           "bad --zone: status %d, stderr %r" % (r.returncode, r.stderr))
    r = run(["--version"])
    expect(r.returncode == 0 and r.stdout.startswith("automap "), "--version: %r" % r.stdout)
    r = run(["--zone", "hi.example."], "HELO\t2\nQ\thi.example\tIN\tTXT\t-1\t192.0.2.1\t0.0.0.0\n")
    expect(r.returncode == 0 and r.stdout == 'OK\tautomap pipe backend\n'
           'DATA\thi.example\tIN\tTXT\t86400\t-1\t"Hello World!"\nEND\n' and not r.stderr,
           "pipe on stdin: status %d, stdout %r, stderr %r" % (r.returncode, r.stdout, r.stderr))
    r = run(["--pipe"], "HELO\t9\nnext\nHELO\t1\n")
    expect(r.returncode == 1 and r.stdout == "FAIL\n",
           "unsupported ABI: status %d, stdout %r" % (r.returncode, r.stdout))


def run_case(name, binary, zone, abi, check_app, extra=None):
    settings = pipe_settings("%s --zone %s" % (binary, zone), abi=abi, **(extra or {}))
    pdns = PdnsServer(settings)

    def case():
        pdns.start()
        check_app(pdns, abi)
        if abi >= 5:
            check_backend_cmd(pdns)
        check_log(pdns)

    try:
        if step("%s ABI %d" % (name, abi), case):
            print("ok   %s ABI %d (port %d)" % (name, abi, pdns.port))
        else:
            print(pdns.describe())
    finally:
        pdns.stop()


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    hello, whoami = (os.path.abspath(p) for p in sys.argv[1:3])
    step("command line", check_cli, hello)
    for abi in ABIS:
        run_case("hello", hello, "hello.example.", abi, check_hello)
        run_case("whoami", whoami, "whoami.example.", abi, check_whoami,
                 {"edns-subnet-processing": "yes"})
    return summary()


if __name__ == "__main__":
    sys.exit(main())
