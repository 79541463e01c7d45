#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Differential test with DO=1: automapd serve (online signing, one CSK) against Knot 3.2
`mod-synthrecord` + `mod-onlinesign` (a CSK per zone from its KASP) on the same prefixes
(knot_diff_test.py's layout: 10.0.0.0/16 and 2001:db8:1::/48 as ip-{ip}.pool.example.net.).

The same names go to both with DO=1: a PTR (IPv4, IPv6), an A, an AAAA, NODATA at a
synthesized name and at an apex, empty non-terminals, nonexistent names, and the DNSKEY and
SOA of every apex. Every answer must be validated by delv ("fully validated"), each server
with its own trust anchors (automap's from `mapctl key ds`, Knot's computed from the SEP
DNSKEY it serves). Then the shapes are compared part by part (rcode, AA, the RRsets of each
section by owner, type and TTL, each RRSIG's covered type, labels, original TTL, signer and
algorithm, its validity length, each NSEC's next name and type bitmap, the DNSKEY flags and
algorithms). A part that differs must be in KNOWN_DIFFERENCES, with the reason; any other
difference fails the test, and so does a known difference that no longer shows (the list
must stay true).

usage: knot_dnssec_diff_test.py AUTOMAPD MAPCTL
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import dns.dnssec  # noqa: E402
import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, expect, step, summary  # noqa: E402
from dnssec import delv, ds_records, run  # noqa: E402
from knot import AUTOMAP_CONFIG, ZONES, Knotd  # noqa: E402


# Knot's online signing: a CSK per zone from its KASP, the NSEC bitmaps of the synthesized types.
ONLINESIGN = """policy:
  - id: csk
    algorithm: ecdsap256sha256
    single-type-signing: on
mod-onlinesign:
  - id: fwd
    policy: csk
    nsec-bitmap: [A, AAAA]
  - id: rev
    policy: csk
    nsec-bitmap: [PTR]
"""

V6PTR = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
# (category, name, type)
QUERIES = [
    ("ptr4", "3.2.0.10.in-addr.arpa.", "PTR"),
    ("ptr6", V6PTR, "PTR"),
    ("a", "ip-10-0-2-3.pool.example.net.", "A"),
    ("aaaa", "ip-2001-db8-1--5.pool.example.net.", "AAAA"),
    ("nodata", "ip-10-0-2-3.pool.example.net.", "AAAA"),
    ("nodata", "ip-2001-db8-1--5.pool.example.net.", "A"),
    ("nodata-rev", "3.2.0.10.in-addr.arpa.", "TXT"),
    ("nodata-apex", "pool.example.net.", "TXT"),
    ("ent", "2.0.10.in-addr.arpa.", "PTR"),
    ("ent", "0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR"),
    ("ent-other-type", "2.0.10.in-addr.arpa.", "A"),
    ("nxdomain", "nope.pool.example.net.", "A"),
    ("nxdomain", "ip-10-9-2-3.pool.example.net.", "A"),
    ("nxdomain-rev", "x.3.2.0.10.in-addr.arpa.", "PTR"),
] + [("dnskey", z, "DNSKEY") for z in ZONES] + [("soa", z, "SOA") for z in ZONES]

# (category, part): why automap's answer differs from Knot's there. Each must show up.
KNOWN_DIFFERENCES = {
    ("nxdomain", "nsec"): "compact denial: automap's NSEC bitmap for a name that does not "
                          "exist is RRSIG NSEC NXNAME (RFC 9824); Knot 3.2 has no NXNAME and "
                          "lists the nsec-bitmap types other than the one asked",
    ("nxdomain-rev", "nsec"): "the same in a reverse zone: automap RRSIG NSEC NXNAME, Knot "
                              "RRSIG NSEC (its nsec-bitmap PTR minus the type asked)",
    ("nodata-apex", "nsec"): "NODATA at an apex: automap's bitmap lists what the apex has "
                             "(SOA NS DNSKEY RRSIG NSEC); Knot adds its nsec-bitmap types "
                             "(A AAAA), which the apex does not have",
    ("ent-other-type", "nsec"): "an empty non-terminal asked another type than PTR: "
                                "automap's bitmap is RRSIG NSEC (nothing is there, RFC 8020); "
                                "Knot's lists its nsec-bitmap (PTR) as if the name had one. "
                                "(Asked PTR, both give RRSIG NSEC: Knot drops the type asked)",
    ("*", "validity"): "RRSIG validity: automap signs from the start of the aligned day minus "
                       "1 h for 7 days (so a signature is reused: its cache); Knot from now "
                       "minus 90 min for 14 days, made for every answer",
}


def ask(port, name, rdtype):
    q = dns.message.make_query(name, rdtype, want_dnssec=True, payload=1232)
    q.flags &= ~dns.flags.RD
    for _ in range(3):
        try:
            return dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
        except dns.exception.Timeout:
            continue
    raise RuntimeError("no answer from port %d for %s %s" % (port, name, rdtype))


def shape(m):
    """The parts compared, each a comparable value."""
    parts = {"rcode": dns.rcode.to_text(m.rcode()), "aa": bool(m.flags & dns.flags.AA),
             "tc": bool(m.flags & dns.flags.TC)}
    validity = set()
    nsec = []
    dnskey = []
    for section in ("answer", "authority"):
        rrsets, sigs = [], []
        for rrset in getattr(m, section):
            owner = rrset.name.to_text().lower()
            if rrset.rdtype == dns.rdatatype.RRSIG:
                for rr in rrset:
                    sigs.append((owner, dns.rdatatype.to_text(rr.type_covered), rr.labels,
                                 rr.original_ttl, rr.signer.to_text().lower(), rr.algorithm,
                                 rrset.ttl))
                    validity.add(round((rr.expiration - rr.inception) / 86400.0, 1))
                continue
            rrsets.append((owner, dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, len(rrset)))
            if rrset.rdtype == dns.rdatatype.NSEC:
                for rr in rrset:
                    types = sorted(dns.rdatatype.to_text(t) for w, bitmap in rr.windows
                                   for i, byte in enumerate(bitmap) for b in range(8)
                                   if byte & (0x80 >> b)
                                   for t in [w * 256 + i * 8 + b])
                    nsec.append((owner, rr.next.to_text().lower(), " ".join(types)))
            elif rrset.rdtype == dns.rdatatype.DNSKEY:
                dnskey = sorted((rr.flags, rr.protocol, rr.algorithm) for rr in rrset)
            elif rrset.rdtype != dns.rdatatype.SOA:
                # The data itself (PTR targets, addresses); the SOA's is the same text.
                rrsets[-1] += (sorted(rr.to_text().lower() for rr in rrset),)
        parts[section] = sorted(rrsets)
        parts[section + "-rrsig"] = sorted(sigs)
    parts["nsec"] = sorted(nsec)
    parts["dnskey"] = dnskey
    parts["validity"] = sorted(validity)
    return parts


class Knot(Knotd):
    """Knot mod-synthrecord + mod-onlinesign (lib/knot.py), ready once every apex has a DNSKEY."""

    def __init__(self, workdir):
        super().__init__(os.path.join(workdir, "knot"),
                         lambda port: all(ask(port, z, "DNSKEY").answer for z in ZONES),
                         extra=ONLINESIGN,
                         fwd=["mod-synthrecord/fwd4", "mod-synthrecord/fwd6", "mod-onlinesign/fwd"],
                         rev4=["mod-synthrecord/rev4", "mod-onlinesign/rev"],
                         rev6=["mod-synthrecord/rev6", "mod-onlinesign/rev"])

    def ds_records(self):
        """The SEP DNSKEYs Knot serves as DS lines in mapctl key ds's form."""
        out = []
        for z in ZONES:
            m = ask(self.port, z, "DNSKEY")
            for rrset in m.answer:
                if rrset.rdtype == dns.rdatatype.DNSKEY:
                    for rr in rrset:
                        if rr.flags & 1:
                            ds = dns.dnssec.make_ds(z, rr, "SHA256")
                            out.append("%s IN DS %s" % (z, ds.to_text().upper()))
        return out


def compare(automap_port, automap_ds, knot, knot_ds, workdir):
    seen = set()
    for cat, name, rdtype in QUERIES:
        for who, port, ds in (("automap", automap_port, automap_ds),
                              ("knot", knot.port, knot_ds)):
            r = delv(port, ds, name, rdtype, workdir, zones=ZONES)
            check("fully validated" in r.stdout + r.stderr,
                  "%s: delv %s %s fully validated" % (who, name, rdtype), r.stdout + r.stderr)
        a, k = shape(ask(automap_port, name, rdtype)), shape(ask(knot.port, name, rdtype))
        for part in a:
            if a[part] == k[part]:
                continue
            known = (cat, part) if (cat, part) in KNOWN_DIFFERENCES else ("*", part)
            if known in KNOWN_DIFFERENCES:
                seen.add(known)
                continue
            check(False, "%s %s %s: %s differs (not a known difference)" % (cat, name, rdtype,
                                                                           part),
                  "automap: %s\nknot:    %s" % (a[part], k[part]))
    for known, reason in KNOWN_DIFFERENCES.items():
        check(known in seen, "the known difference %s still shows (else drop it): %s" %
              (known, reason))
    if os.environ.get("AMAP_SHOW_SHAPES"):
        for cat, name, rdtype in QUERIES:
            print(cat, name, rdtype)
            a, k = shape(ask(automap_port, name, rdtype)), shape(ask(knot.port, name, rdtype))
            for part in a:
                print("  %-16s %s%s" % (part, a[part], "" if a[part] == k[part] else
                                        "\n  %-16s %s" % ("  knot:", k[part])))
    print("compared %d queries; known differences seen:" % len(QUERIES))
    for known in sorted(seen):
        print("  %s: %s" % (known, KNOWN_DIFFERENCES[known]))


def main():
    automapd, mapctl = sys.argv[1], sys.argv[2]
    workdir = tempfile.mkdtemp(prefix="knot-dnssec-diff-")
    started = []
    try:
        def start():
            config = os.path.join(workdir, "automap.yaml")
            with open(config, "w") as f:
                f.write(AUTOMAP_CONFIG + "dnssec: { keys: %s/keys }\n" % workdir)
            r = run([mapctl, "-c", config, "key", "generate"])
            expect(r.returncode == 0, "mapctl key generate", r.stderr)
            automap_ds = ds_records(mapctl, config)
            expect(sorted(line.split()[0] for line in automap_ds) == sorted(ZONES),
                   "automap's apexes are Knot's zones", automap_ds)
            with open(config) as f:
                d = Automapd(automapd, f.read(), threads=1)
            started.append(d)
            knot = Knot(workdir)
            started.append(knot)
            knot_ds = knot.ds_records()
            expect(len(knot_ds) == len(ZONES), "a SEP key per Knot zone", knot_ds)
            compare(d.port, automap_ds, knot, knot_ds, workdir)

        step("differential", start)
    finally:
        for s in reversed(started):
            s.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
