#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tampered and stale DNSSEC answers come out bogus in real validators.

automapd serve signs with a CSK; a UDP proxy on loopback (lib/dnssec.py UdpProxy) sits
between the validators and automapd and, for some names only, rewrites the answer:

  - sig:     one byte of the RRSIG signature over the PTR flipped;
  - rdata:   the PTR target changed, its RRSIG kept;
  - nsec:    one byte of the RRSIG over the NSEC of a denial flipped;
  - stale:   the PTR's RRSIG replaced by one the test makes with automap's own key (it
             verifies: checked with dnspython at a time inside its window) whose validity
             ended 23 days ago;
  - dnskey:  one byte of the RRSIG over the DNSKEY RRset of the IPv6 reverse zone flipped,
             so every name of that zone is bogus.

For each: unbound (anchored on automap's DS, stub zone to the proxy) answers SERVFAIL; the
same query with CD=1 gets the data (no validation asked); delv through the proxy does not
say "fully validated" and names the failure. Untouched names through the same proxy
validate (AD=1, delv "fully validated"): the proxy alone changes nothing.

usage: dnssec_tamper_test.py AUTOMAPD MAPCTL
"""
import base64
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import dns.dnssec  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdataset  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.rrset  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, expect, step, summary  # noqa: E402
from config import HEAD, PREFIX_V4, PREFIX_V6  # noqa: E402
from dnssec import Unbound, UdpProxy, delv, ds_records, run  # noqa: E402

V6PTR = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
V6ZONE = "8.b.d.0.1.0.0.2.ip6.arpa."
# The tampered names: the proxy picks the rewrite by the query name.
# kind: (name, type, unbound's "validation failure <NAME TYPE IN>: REASON", delv's reason)
TAMPERED = {
    "sig": ("1.66.1.10.in-addr.arpa.", "PTR", "signature crypto failed",
            "RRSIG failed to verify"),
    "rdata": ("1.77.1.10.in-addr.arpa.", "PTR", "signature crypto failed",
              "RRSIG failed to verify"),
    "nsec": ("tampered-nsec.pool.example.net.", "A", "signature crypto failed",
             "broken trust chain"),
    "stale": ("1.88.1.10.in-addr.arpa.", "PTR", "signature expired", "RRSIG has expired"),
    "dnskey": (V6PTR, "PTR", "signature crypto failed", "broken trust chain"),
}
CLEAN = [("3.2.1.10.in-addr.arpa.", "PTR"), ("ip-10-1-2-3.pool.example.net.", "A"),
         ("nope.pool.example.net.", "A")]


def flip(sig):
    """The signature with one byte in its middle changed."""
    b = bytearray(sig)
    b[len(b) // 2] ^= 0x5A
    return bytes(b)


def replace_rrsigs(msg, section, covered, fn):
    """Replaces, in `section` of msg, each RRSIG over `covered` by fn(rrsig rdata)."""
    rrsets = getattr(msg, section)
    for i, rrset in enumerate(rrsets):
        if rrset.rdtype == dns.rdatatype.RRSIG and rrset.covers == covered:
            new = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype, rrset.covers)
            for rr in rrset:
                new.add(fn(rr), rrset.ttl)
            rrsets[i] = new
    return msg


class Tamper:
    """The proxy's rewrite: by query name, see the module doc."""

    def __init__(self, key_base):
        self.seen = {k: 0 for k in TAMPERED}
        self.key, self.dnskey = load_key(key_base)

    def __call__(self, query, wire):
        qname = query.question[0].name.to_text().lower()
        qtype = query.question[0].rdtype
        kind = None
        for k, (name, *_) in TAMPERED.items():
            if qname == name and k != "dnskey":
                kind = k
        if qtype == dns.rdatatype.DNSKEY and qname == V6ZONE:
            kind = "dnskey"
        if kind is None:
            return wire
        self.seen[kind] += 1
        m = dns.message.from_wire(wire)
        if kind == "sig":
            replace_rrsigs(m, "answer", dns.rdatatype.PTR,
                           lambda rr: rr.replace(signature=flip(rr.signature)))
        elif kind == "dnskey":
            replace_rrsigs(m, "answer", dns.rdatatype.DNSKEY,
                           lambda rr: rr.replace(signature=flip(rr.signature)))
        elif kind == "nsec":
            replace_rrsigs(m, "authority", dns.rdatatype.NSEC,
                           lambda rr: rr.replace(signature=flip(rr.signature)))
        elif kind == "rdata":
            for rrset in m.answer:
                if rrset.rdtype == dns.rdatatype.PTR:
                    ttl = rrset.ttl
                    rrset.clear()
                    rrset.add(dns.rdata.from_text("IN", "PTR", "evil.example.org."), ttl)
        elif kind == "stale":
            ptr = [r for r in m.answer if r.rdtype == dns.rdatatype.PTR][0]
            replace_rrsigs(m, "answer", dns.rdatatype.PTR,
                           lambda rr: stale_rrsig(ptr, rr, self.key, self.dnskey))
        return m.to_wire()


def load_key(base):
    """automap's CSK as a cryptography key and its DNSKEY rdata (BIND's files)."""
    with open(base + ".private") as f:
        fields = dict(line.split(": ", 1) for line in f.read().splitlines() if ": " in line)
    scalar = int.from_bytes(base64.b64decode(fields["PrivateKey"]), "big")
    with open(base + ".key") as f:
        line = [x for x in f.read().splitlines() if x and not x.startswith(";")][0]
    dnskey = dns.rdata.from_text("IN", "DNSKEY", line.split(None, 3)[3])
    return ec.derive_private_key(scalar, ec.SECP256R1()), dnskey


STALE_INCEPTION = int(time.time()) - 30 * 86400
STALE_EXPIRATION = int(time.time()) - 23 * 86400


def stale_rrsig(rrset, rrsig, key, dnskey):
    """A correct signature over rrset by automap's key, valid from 30 to 23 days ago."""
    return dns.dnssec.sign(rrset, key, rrsig.signer, dnskey, inception=STALE_INCEPTION,
                           expiration=STALE_EXPIRATION)


def main():
    automapd, mapctl = sys.argv[1], sys.argv[2]
    workdir = tempfile.mkdtemp(prefix="dnssec-tamper-")
    started = []
    try:
        config = os.path.join(workdir, "automap.yaml")
        with open(config, "w") as f:
            f.write(HEAD + PREFIX_V4 + PREFIX_V6 +
                    "dnssec: { keys: %s/keys }\n" % workdir)
        r = run([mapctl, "-c", config, "key", "generate"])
        expect(r.returncode == 0, "mapctl key generate", r.stderr)
        base = r.stdout.split("\t")[0]
        ds = ds_records(mapctl, config)
        with open(config) as f:
            text = f.read()
        d = Automapd(automapd, text, threads=1)
        started.append(d)
        tamper = Tamper(base)
        proxy = UdpProxy(d.port, tamper)
        started.append(proxy)
        unbound = Unbound(workdir, proxy.port, ds)
        started.append(unbound)

        def stale_signature_verifies():
            # The stale RRSIG is bogus only for its time: inside its window it verifies.
            m = dns.message.from_wire(tamper(dns.message.make_query(TAMPERED["stale"][0],
                                                                    "PTR"),
                                             direct_wire(d.port, TAMPERED["stale"][0])))
            ptr = [r for r in m.answer if r.rdtype == dns.rdatatype.PTR][0]
            sig = [r for r in m.answer if r.rdtype == dns.rdatatype.RRSIG][0]
            keys = {sig[0].signer: dns.rdataset.from_rdata(300, tamper.dnskey)}
            try:
                dns.dnssec.validate(ptr, sig, keys, now=STALE_INCEPTION + 3600)
                ok = True
            except dns.dnssec.ValidationFailure as e:
                ok = str(e)
            check(ok is True, "the stale RRSIG verifies inside its validity", ok)
            check(sig[0].expiration < time.time(), "the stale RRSIG has expired")

        def clean():
            for name, rdtype in CLEAN:
                m = unbound.query_secure(name, rdtype)
                check(m.rcode() == dns.rcode.NOERROR and m.flags & dns.flags.AD,
                      "through the proxy, %s %s is secure (AD)" % (name, rdtype), m)
                r = delv(proxy.port, ds, name, rdtype, workdir)
                check("fully validated" in r.stdout + r.stderr,
                      "through the proxy, delv %s %s: fully validated" % (name, rdtype),
                      r.stdout + r.stderr)

        def bogus(kind):
            name, rdtype, unbound_reason, delv_reason = TAMPERED[kind]
            m = unbound.query(name, rdtype)
            check(m.rcode() == dns.rcode.SERVFAIL,
                  "%s: unbound answers SERVFAIL for %s %s" % (kind, name, rdtype), m)
            m = unbound.query(name, rdtype, cd=True)
            want = dns.rdatatype.from_text(rdtype)
            has_data = (any(r.rdtype == want for r in m.answer) or
                        any(r.rdtype == dns.rdatatype.NSEC for r in m.authority))
            check(m.rcode() == dns.rcode.NOERROR and has_data and not m.flags & dns.flags.AD,
                  "%s: with CD=1 unbound gives the data, unvalidated" % kind, m)
            if kind == "rdata":
                check("evil.example.org." in m.to_text(), "rdata: CD=1 shows the changed PTR",
                      m)
            r = delv(proxy.port, ds, name, rdtype, workdir)
            out = r.stdout + r.stderr
            check("fully validated" not in out and "resolution failed: " + delv_reason in out,
                  "%s: delv says the validation failed (%s)" % (kind, delv_reason), out)
            line = "validation failure <%s %s IN>: %s" % (name, rdtype, unbound_reason)
            check(line in unbound.log_text(1000000), "%s: unbound logs '%s'" % (kind, line),
                  unbound.log_text())

        step("the stale signature", stale_signature_verifies)
        step("untouched answers", clean)
        for kind in TAMPERED:
            step(kind, bogus, kind)
        check(all(n > 0 for n in tamper.seen.values()),
              "the proxy rewrote an answer of every kind", tamper.seen)
        check(not proxy.errors, "the proxy forwarded every query", proxy.errors)
        # The untouched names are still secure after the bogus ones (nothing poisoned).
        step("untouched answers again", clean)
    finally:
        for s in reversed(started):
            s.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return summary()


def direct_wire(port, name):
    """automapd's DO=1 answer for name PTR, as bytes."""
    q = dns.message.make_query(name, "PTR", want_dnssec=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        return s.recvfrom(65535)[0]


if __name__ == "__main__":
    sys.exit(main())
