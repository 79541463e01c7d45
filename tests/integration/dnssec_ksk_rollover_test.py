#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A KSK rollover end to end (RFC 6781 4.1.2, double signature), with the trust anchor
changing as the parent's DS set would, and one unbound kept running across it.

automapd serve signs with a KSK (K1) and a ZSK; unbound holds DS(K1) as its trust anchor.
The steps, each followed by a reload of automapd (SIGHUP) where the procedure in the README
says so, and each checked with fresh names (a PTR, an A, a NODATA) and the DNSKEY RRsets
validating with AD=1 in that unbound, and with delv against the anchors in force:

  1. mapctl key generate --publish-only, then at once mapctl key activate K2 (a KSK beside
     an active ZSK signs only the DNSKEY RRset, which carries its own DNSKEY: no waiting,
     RFC 6781's "new DNSKEY" stage), reload: K1 and K2 both sign the DNSKEY RRset, the ZSK
     the rest; `mapctl key ds` prints DS(K2) beside DS(K1);
  2. the parent adds DS(K2): unbound's anchors become DS(K1) + DS(K2) (`unbound-control
     reload`: the same process, its cache dropped; the only restart-like step);
  3. the parent removes DS(K1): anchors DS(K2) only (unbound-control reload);
  4. mapctl key retire K1, reload: K2 alone signs the DNSKEY RRset, K1's DNSKEY is still
     published; a fresh unbound still anchored on DS(K1) alone is now bogus (why the old
     key is retired only after the parent's DS change);
  5. K1's Delete time passes (set in its .private file, as a day passing would), reload:
     K1's DNSKEY is gone, DS(K1) no longer printed.

Refused on the way: retiring K1 while K2 is not active (the only active KSK), retiring K2
at the end, and activating a new ZSK before its DNSKEY TTL has passed (a ZSK still waits).

usage: dnssec_ksk_rollover_test.py AUTOMAPD MAPCTL
"""
import os
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import dns.dnssec  # noqa: E402
import dns.flags  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, expect, step, summary  # noqa: E402
from config import PREFIX_V4, PREFIX_V6  # noqa: E402
from dnssec import Unbound, delv, direct, ds_records, run  # noqa: E402

# The DNSKEY TTL is the SOA TTL: 2 s, so the rollover's waits are seconds.
HEAD = """\
soa:  { mname: ns1.example.net., rname: hostmaster.example.net., minimum: 300, ttl: 2 }
ns:   [ns1.example.net.]
zones:
  - name: pool.example.net.
"""
DELAY = "3"  # --propagation-delay: unbound 1.17 was seen to keep a 2 s DNSKEY RRset ~3 s


class Rollover:
    def __init__(self, automapd, mapctl, workdir):
        self.mapctl = mapctl
        self.workdir = workdir
        self.config = os.path.join(workdir, "automap.yaml")
        with open(self.config, "w") as f:
            f.write(HEAD + PREFIX_V4 + PREFIX_V6 + "dnssec: { keys: %s/keys }\n" % workdir)
        self.k1 = self.generate()
        self.zsk = self.generate("--zsk")
        with open(self.config) as f:
            self.d = Automapd(automapd, f.read(), threads=1)
        self.anchors = ds_records(mapctl, self.config)
        self.ds = {}  # tag -> its DS lines
        for line in self.anchors:
            self.ds.setdefault(line.split()[3], []).append(line)
        self.unbound = Unbound(workdir, self.d.port, self.anchors, control=True)
        self.pid = self.unbound.proc.pid
        self.n = 0

    def mapctl_run(self, *args):
        return run([self.mapctl, "-c", self.config, "key"] + list(args))

    def generate(self, *flags):
        r = self.mapctl_run("generate", *flags)
        expect(r.returncode == 0, "mapctl key generate %s" % " ".join(flags), r.stderr)
        base, tag = r.stdout.split("\t")[:2]
        return tag, base

    def reload(self):
        count = self.d.count("loaded ")
        self.d.signal(signal.SIGHUP)
        expect(self.d.wait_log("loaded ", count + 1), "automapd reloaded", self.d.stderr())

    def until(self, cond, what, detail=None):
        # "loaded" is logged before the server swaps the app in: poll, bounded.
        deadline = time.monotonic() + 5
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.05)
        expect(cond(), what, detail() if detail else None)

    def dnskey_tags(self, zone="pool.example.net."):
        m = direct(self.d.port, zone, "DNSKEY")
        keys = [rr for rrset in m.answer if rrset.rdtype == dns.rdatatype.DNSKEY
                for rr in rrset]
        sigs = [str(rr.key_tag) for rrset in m.answer if rrset.rdtype == dns.rdatatype.RRSIG
                for rr in rrset]
        return sorted(str(dns.dnssec.key_id(k)) for k in keys), sorted(sigs)

    def set_anchors(self, tags, what):
        self.anchors = [line for t in tags for line in self.ds[t]]
        r = self.unbound.set_anchors(self.anchors)
        expect(r.returncode == 0, "%s: unbound-control reload" % what, r.stdout + r.stderr)
        check(self.unbound.proc.poll() is None and self.unbound.proc.pid == self.pid,
              "%s: the same unbound process runs on" % what)

    def secure(self, what):
        """Fresh names and the DNSKEY RRsets validate (AD) in unbound; delv agrees."""
        self.n += 1
        names = [("%d.7.1.10.in-addr.arpa." % self.n, "PTR", True),
                 ("ip-10-1-7-%d.pool.example.net." % self.n, "A", True),
                 ("ip-10-1-8-%d.pool.example.net." % self.n, "AAAA", False),
                 ("pool.example.net.", "DNSKEY", True),
                 ("10.in-addr.arpa.", "DNSKEY", True)]
        for name, rdtype, positive in names:
            m = self.unbound.query_secure(name, rdtype)
            ok = (m.rcode() == dns.rcode.NOERROR and bool(m.flags & dns.flags.AD) and
                  bool(m.answer) == positive)
            check(ok, "%s: unbound %s %s secure (AD)" % (what, name, rdtype),
                  "%s\n--- unbound log:\n%s" % (m, self.unbound.log_text()))
        for name, rdtype, _ in names[:2]:
            r = delv(self.d.port, self.anchors, name, rdtype, self.workdir)
            check("fully validated" in r.stdout + r.stderr,
                  "%s: delv %s %s fully validated" % (what, name, rdtype), r.stdout + r.stderr)

    def stop(self):
        self.unbound.stop()
        self.d.stop()


def set_delete_time(base, when):
    """Sets the Delete: field of a key's .private file (BIND's YYYYMMDDHHMMSS, UTC)."""
    path = base + ".private"
    with open(path) as f:
        text = f.read()
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(when))
    text, n = re.subn(r"(?m)^Delete: \d+$", "Delete: " + stamp, text)
    expect(n == 1, "a Delete: line in %s" % path, text)
    with open(path, "w") as f:
        f.write(text)


def rollover(ro, automapd, mapctl, workdir):
    k1, zsk = ro.k1[0], ro.zsk[0]
    check(ro.dnskey_tags() == (sorted([k1, zsk]), [k1]),
          "start: DNSKEY K1 + ZSK, signed by K1", ro.dnskey_tags())
    check(sorted(ro.ds) == [k1] and len(ro.ds[k1]) == 3,
          "start: key ds prints DS(K1) for the 3 apexes", ro.anchors)
    ro.secure("start (anchor DS(K1))")

    # 1. New DNSKEY: K2 published and signing the DNSKEY RRset beside K1 in one reload (a
    # KSK beside an active ZSK needs no pre-publication: its signature only ever comes with
    # its own DNSKEY), while unbound may still hold the DNSKEY RRset without K2.
    k2, k2_base = ro.generate("--publish-only")
    r = ro.mapctl_run("retire", k1)
    check(r.returncode == 1 and "only active key of its role" in r.stderr,
          "retire K1 while K2 is not active: refused", r.stderr)
    r = ro.mapctl_run("activate", k2, "--propagation-delay", DELAY)
    expect(r.returncode == 0, "1: activate K2 at once (it signs only the DNSKEY RRset)",
           r.stderr)
    check("give the parent its DS" in r.stdout, "1: activate K2 says to give the parent its DS",
          r.stdout)
    ro.reload()
    ro.until(lambda: ro.dnskey_tags() == (sorted([k1, k2, zsk]), sorted([k1, k2])),
             "1: DNSKEY K1 + K2 + ZSK, signed by K1 and K2", ro.dnskey_tags)
    m = direct(ro.d.port, "3.7.1.10.in-addr.arpa.", "PTR")
    tags = sorted(str(rr.key_tag) for rrset in m.answer if rrset.rdtype == dns.rdatatype.RRSIG
                  for rr in rrset)
    check(tags == [zsk], "1: the ZSK alone signs the PTR", tags)
    lines = ds_records(mapctl, ro.config)
    ro.ds = {}
    for line in lines:
        ro.ds.setdefault(line.split()[3], []).append(line)
    check(sorted(ro.ds) == sorted([k1, k2]), "1: key ds prints DS(K1) and DS(K2)", lines)
    ro.secure("1 K2 active (anchor DS(K1))")

    # 2. and 3. The parent's DS set: DS(K1) + DS(K2), then DS(K2) alone.
    ro.set_anchors([k1, k2], "2")
    ro.secure("2 anchors DS(K1) + DS(K2)")
    ro.set_anchors([k2], "3")
    ro.secure("3 anchor DS(K2)")

    # 4. K1 retired: K2 alone signs the DNSKEY RRset; K1's DNSKEY stays a while.
    r = ro.mapctl_run("retire", k1, "--propagation-delay", "0")
    expect(r.returncode == 0, "4: retire K1", r.stderr)
    ro.reload()
    ro.until(lambda: ro.dnskey_tags()[1] == [k2], "4: K2 alone signs the DNSKEY RRset",
             ro.dnskey_tags)
    check(ro.dnskey_tags()[0] == sorted([k1, k2, zsk]), "4: K1's DNSKEY is still published",
          ro.dnskey_tags())
    ro.secure("4 K1 retired (anchor DS(K2))")
    stale = Unbound(workdir, ro.d.port, [line for line in ro.ds[k1]])
    try:
        m = stale.query("ip-10-1-9-1.pool.example.net.", "A")
        check(m.rcode() == dns.rcode.SERVFAIL,
              "4: a validator still anchored on DS(K1) alone is bogus once K1 is retired", m)
    finally:
        stale.stop()
    r = ro.mapctl_run("retire", k2)
    check(r.returncode == 1 and "only active key of its role" in r.stderr,
          "4: retire K2, the only active KSK: refused", r.stderr)

    # 5. K1's Delete time passes: its DNSKEY goes at the next reload.
    set_delete_time(ro.k1[1], time.time() - 1)
    ro.reload()
    ro.until(lambda: ro.dnskey_tags() == (sorted([k2, zsk]), [k2]),
             "5: DNSKEY K2 + ZSK, signed by K2", ro.dnskey_tags)
    lines = ds_records(mapctl, ro.config)
    check([line.split()[3] for line in lines] == [k2] * 3,
          "5: key ds prints DS(K2) alone", lines)
    ro.secure("5 K1 removed (anchor DS(K2))")

    # A ZSK still waits for its DNSKEY to reach the caches: it signs the other RRsets.
    z2, _ = ro.generate("--zsk", "--publish-only")
    r = ro.mapctl_run("activate", z2, "--propagation-delay", DELAY)
    check(r.returncode == 1 and "refused" in r.stderr and "DNSKEY TTL" in r.stderr,
          "a new ZSK activated before the DNSKEY TTL has passed: refused", r.stderr)


def main():
    automapd, mapctl = sys.argv[1], sys.argv[2]
    workdir = tempfile.mkdtemp(prefix="dnssec-ksk-")
    ro = None

    def start():
        nonlocal ro
        ro = Rollover(automapd, mapctl, workdir)

    try:
        if step("start", start):
            step("rollover", rollover, ro, automapd, mapctl, workdir)
    finally:
        if ro:
            ro.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
