#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""automapd serve's identity (issue 12 section 6), on the wire with dig against real servers:

- `identity.nsid`: `dig +nsid` (an empty NSID option, RFC 5001) gets it back in the OPT, over
  UDP and TCP; a query without the option gets none; a server without the key sends none;
- `identity.id`: CH TXT id.server. and hostname.bind. answer it (AA, class CH), any case;
- `identity.version`: CH TXT version.bind. and version.server., off unless configured;
- each one unconfigured: REFUSED, as any other CH query;
- a bad value is a checkconf error naming file:line and the key.

usage: identity_test.py AUTOMAPD
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from config import HEAD, PREFIX_V4  # noqa: E402

BASE = HEAD + PREFIX_V4


def dig(port, *args):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=3"] + list(args),
                       capture_output=True, text=True, timeout=20)
    return r.stdout


def status(out):
    m = re.search(r"status: (\w+)", out)
    return m.group(1) if m else None


def nsid(out):
    m = re.search(r'; NSID: [0-9a-f ]* \("(.*)"\)', out)
    return m.group(1) if m else None


def chaos(port, name):
    """(status, flags, the TXT answer's text) of CH TXT `name`."""
    out = dig(port, "-c", "CH", "-t", "TXT", name)
    flags = re.search(r";; flags: ([a-z ]*);", out)
    txt = re.search(r"^%s\s+0\s+CH\s+TXT\s+\"(.*)\"$" % re.escape(name), out, re.M | re.I)
    return status(out), flags.group(1).split() if flags else [], txt.group(1) if txt else None


def main():
    binary = sys.argv[1]
    full = BASE + 'identity: { nsid: "node-1", id: "node-1.example.net" }\n'
    only_version = BASE + 'identity: { version: "automap 1.0" }\n'
    with Automapd(binary, full) as a, Automapd(binary, only_version) as b:
        for transport in ("+notcp", "+tcp"):
            out = dig(a.port, "+nsid", transport, "pool.example.net.", "SOA")
            check(status(out) == "NOERROR" and nsid(out) == "node-1",
                  "+nsid %s: the NSID option carries identity.nsid" % transport, out)
        out = dig(a.port, "pool.example.net.", "SOA")
        check(status(out) == "NOERROR" and "NSID" not in out, "no NSID unless asked", out)
        out = dig(a.port, "+nsid", "example.org.", "A")
        check(status(out) == "REFUSED" and nsid(out) == "node-1",
              "NSID on a REFUSED answer too (it tells which node refused)", out)
        for name in ("id.server.", "hostname.bind.", "ID.Server."):
            st, flags, txt = chaos(a.port, name)
            check(st == "NOERROR" and "aa" in flags and txt == "node-1.example.net",
                  "CH TXT %s: identity.id, authoritative" % name, (st, flags, txt))
        for name in ("version.bind.", "version.server."):
            st, _, txt = chaos(a.port, name)
            check(st == "REFUSED" and txt is None, "CH TXT %s without identity.version: REFUSED"
                  % name, (st, txt))
        out = dig(a.port, "-c", "CH", "-t", "A", "id.server.")
        check(status(out) == "REFUSED", "CH A id.server.: REFUSED", out)

        out = dig(b.port, "+nsid", "pool.example.net.", "SOA")
        check(status(out) == "NOERROR" and "NSID" not in out,
              "without identity.nsid: no NSID option", out)
        for name in ("id.server.", "hostname.bind."):
            st, _, txt = chaos(b.port, name)
            check(st == "REFUSED" and txt is None, "CH TXT %s without identity.id: REFUSED" % name,
                  (st, txt))
        for name in ("version.bind.", "version.server."):
            st, flags, txt = chaos(b.port, name)
            check(st == "NOERROR" and "aa" in flags and txt == "automap 1.0",
                  "CH TXT %s: identity.version" % name, (st, flags, txt))
        check(a.stop() == 0 and b.stop() == 0, "clean stops")

    # A bad value: file:line and the key.
    bad = os.path.join(a.dir, "bad.yaml")
    with open(bad, "w") as f:
        f.write(BASE + "identity: { nsid: \"%s\" }\n" % ("x" * 129))
    r = subprocess.run([binary, "checkconf", "-c", bad], capture_output=True, text=True,
                       timeout=20)
    check(r.returncode == 1 and re.search(r"bad\.yaml:8:\d+: identity\.nsid: expected 1 to 128",
                                          r.stderr), "a too long nsid: file:line: identity.nsid",
          r.stderr)

    return summary("server identity")


if __name__ == "__main__":
    sys.exit(main())
