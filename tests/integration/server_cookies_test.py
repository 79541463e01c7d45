#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""DNS Cookies (RFC 7873 / RFC 9018) in `automapd serve`, with `dig +cookie` and RRL.

  - dig +cookie from 127.0.1.50 gets its client cookie back with a 16-byte RFC 9018 server
    cookie (version 1), and the normal answer;
  - while a cookieless flood from 127.0.1.10 (the same /24) exhausts the prefix's rate,
    127.0.1.50 returning its server cookie is answered every time (a valid cookie proves the
    address: RRL exempts it), but the same cookie sent from 127.0.1.60 is not valid there and
    is limited like the flood;
  - a malformed COOKIE option (5 bytes) gets FORMERR;
  - an unreadable secret file stops the start with the path named.

usage: server_cookies_test.py AUTOMAPD
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402

RATE = 10
QNAME = "4.3.2.10.in-addr.arpa."
CONFIG = """
soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 1 }
ns: [ns1.example.net.]
zones: [ { name: pool.example.net. } ]
prefixes:
  - prefix: 10.0.0.0/8
    name: "ip-{a}-{b}-{c}-{d}.pool.example.net."
rrl: { responses_per_second: %d, slip: 2 }
cookies: { secret_file: %%s, rotate: 3600 }
""" % RATE


def dig(port, source, *args):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "-b", source, "-x", "10.2.3.4",
                          "+tries=1", "+time=1", "+norec", "+ignore"] + list(args),
                         capture_output=True, text=True, timeout=10).stdout
    status = re.search(r"status: (\w+)", out)
    flags = re.search(r";; flags: ([a-z ]*);", out)
    cookie = re.search(r"; COOKIE: ([0-9a-f]+)( \(good\))?", out)
    return {
        "status": status.group(1) if status else None,   # None: no answer (timed out)
        "tc": bool(flags) and "tc" in flags.group(1).split(),
        "answered": "ip-10-2-3-4.pool.example.net." in out,
        "cookie": cookie.group(1) if cookie else None,
        "good": bool(cookie and cookie.group(2)),
        "text": out,
    }


class Client:
    """A UDP socket bound to one loopback source address."""

    def __init__(self, source):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))

    def burst(self, port, count):
        """`count` cookieless queries at once, answers drained and ignored."""
        wire = dns.message.make_query(QNAME, "PTR").to_wire()
        for _ in range(count):
            self.sock.sendto(wire, ("127.0.0.1", port))
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(65535)
        except BlockingIOError:
            pass
        self.sock.setblocking(True)

    def ask(self, port, cookie_hex, timeout):
        """One query with the COOKIE option: 'full', 'tc' or None (no answer)."""
        q = dns.message.make_query(QNAME, "PTR", use_edns=0, options=[
            dns.edns.GenericOption(10, bytes.fromhex(cookie_hex))])
        self.sock.sendto(q.to_wire(), ("127.0.0.1", port))
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = dns.message.from_wire(self.sock.recv(65535))
            except socket.timeout:
                return None
            if r.id == q.id:
                return "tc" if r.flags & dns.flags.TC else ("full" if r.answer else "empty")
        return None

    def close(self):
        self.sock.close()


def main():
    binary = sys.argv[1]
    work = tempfile.mkdtemp(prefix="automap-cookies-")
    key = os.path.join(work, "cookie.key")
    with open(key, "w") as f:
        f.write("e5e973e5a6b2a43f48e7dc849e37bfcf\n")

    with Automapd(binary, CONFIG % key, threads=2) as d:
        check("dns cookies on: secret rotated every 3600 s" in d.stderr(),
              "the cookie line at start", d.stderr())
        first = dig(d.port, "127.0.1.50", "+cookie")
        check(first["status"] == "NOERROR" and first["answered"], "dig +cookie: answered",
              first["text"])
        check(first["good"] and len(first["cookie"]) == 48, "dig +cookie: a server cookie",
              first["text"])
        cookie = first["cookie"] or ""
        check(cookie[16:18] == "01" and cookie[18:24] == "000000",
              "an RFC 9018 cookie: " + cookie)

        # Rounds: a cookieless burst from 127.0.1.10 empties the /24's budget, then
        # 127.0.1.50 returns its cookie (always answered in full: exempt), and 127.0.1.60
        # returns the same cookie, which is not valid for its address (limited).
        flooder, owner, other = Client("127.0.1.10"), Client("127.0.1.50"), Client("127.0.1.60")
        rounds = 20
        spoofed = []
        for i in range(rounds):
            flooder.burst(d.port, 5 * RATE)
            if i < 3:
                r = dig(d.port, "127.0.1.50", "+cookie=" + cookie)
                check(r["status"] == "NOERROR" and r["answered"] and not r["tc"] and r["good"],
                      "dig with a valid server cookie: not limited", r["text"])
            else:
                got = owner.ask(d.port, cookie, 2)
                check(got == "full", "round %d: a valid server cookie got %s" % (i, got))
            flooder.burst(d.port, 5 * RATE)
            spoofed.append(other.ask(d.port, cookie, 0.3))
        for c in (flooder, owner, other):
            c.close()
        limited = sum(1 for r in spoofed if r != "full")
        print("cookie from its own address: %d/%d answered in full during the flood; the same "
              "cookie from another address of the /24: %d/%d limited (%s)"
              % (rounds, rounds, limited, rounds, spoofed))
        # Only a refill landing between a burst and the query (1/RATE s) lets one through.
        check(limited >= rounds - 3,
              "the cookie of 127.0.1.50 exempted 127.0.1.60 too: %s" % spoofed)

        bad = dig(d.port, "127.0.2.5", "+cookie=0011223344")
        check(bad["status"] == "FORMERR" and not bad["answered"], "a 5-byte cookie: FORMERR",
              bad["text"])
        # The same through dnspython: a 7-byte option.
        q = dns.message.make_query(QNAME, "PTR", use_edns=0,
                                   options=[dns.edns.GenericOption(10, b"\x01" * 7)])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(q.to_wire(), ("127.0.0.1", d.port))
        r = dns.message.from_wire(s.recv(65535))
        s.close()
        check(r.rcode() == 1 and not r.answer, "7-byte cookie: %s" % r)

        check(d.stop() == 0, "automapd exits 0", d.stderr())
        m = re.search(r"rrl_limited=(\d+) rrl_slipped=(\d+) rrl_dropped=(\d+)", d.stderr())
        check(m and int(m.group(1)) > 0, "the flood was limited", d.stderr())

    os.unlink(key)
    try:
        Automapd(binary, CONFIG % key, threads=1).stop()
        check(False, "automapd started without its secret file")
    except RuntimeError as e:
        check("cookies.secret_file " + key + ": cannot open: No such file" in str(e),
              "no secret file: the error names it", str(e))
        check("exited with 1" in str(e), "no secret file: exit 1", str(e))
    sys.exit(summary())


if __name__ == "__main__":
    main()
