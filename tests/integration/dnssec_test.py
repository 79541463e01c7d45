#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""DNSSEC online signing in `automapd serve`, checked by two real validators.

  - mapctl key generate makes a CSK (ECDSA P-256, the .private file at mode 0600);
    mapctl key ds prints a DS for every apex, the derived reverse zones included;
  - unbound (started here on a free port, stub zones to automapd, automap's DS records as
    trust anchors) answers with AD=1 for: a synthesized PTR (IPv4 and IPv6), A and AAAA, an
    override PTR, NODATA at a name and at an empty non-terminal, a nonexistent name (compact
    denial: NOERROR), the DNSKEY and the SOA; delv validates the same names ("fully
    validated");
  - an override changed by mapctl validates at the next query;
  - a second unbound holding the DS of another key gets SERVFAIL (bogus) for the same names;
  - DO=0 answers carry no DNSSEC records; DO=1 with a 512-byte buffer and a long name gets
    TC=1, and the same query over TCP the whole signed answer;
  - ZSK rollovers by pre-publication (generate --zsk --publish-only, activate, retire, each
    followed by a reload), first to a ZSK beside the CSK, then to a second ZSK, with unbound
    running across them never go bogus; activating too early and retiring the only active
    ZSK are refused;
  - an Ed25519 key set validates too (delv);
  - a malformed key: checkconf and serve fail naming the file and why; a missing keys
    directory likewise; a SIGHUP with a broken key keeps the old config serving signed.

usage: dnssec_test.py AUTOMAPD MAPCTL
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import expect as check  # noqa: E402  (stops at the first failure: each step builds on the last)
from dnssec import Unbound, delv, direct, ds_records, run  # noqa: E402

CONFIG = """
soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 1, minimum: 300,
       ttl: 2 }
ns: [ns1.example.net.]
zones: [ { name: pool.example.net. } ]
prefixes:
  - prefix: 10.0.0.0/8
    name: "ip-{a}-{b}-{c}-{d}.pool.example.net."
  - prefix: 2001:db8::/32
    name: "{ip}.v6.pool.example.net."
store: { path: %(dir)s/store, map_size: 64MiB }
dnssec: { keys: %(dir)s/%(keys)s, algorithm: %(alg)s }
"""

V6PTR = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
# (name, type, rcode, expected answer type or None for a negative answer)
SECURE = [
    ("3.2.1.10.in-addr.arpa.", "PTR", "NOERROR", "PTR"),
    (V6PTR, "PTR", "NOERROR", "PTR"),
    ("ip-10-1-2-3.pool.example.net.", "A", "NOERROR", "A"),
    ("2001-db8--1.v6.pool.example.net.", "AAAA", "NOERROR", "AAAA"),
    ("9.9.9.10.in-addr.arpa.", "PTR", "NOERROR", "PTR"),  # the override
    ("ip-10-1-2-3.pool.example.net.", "AAAA", "NOERROR", None),  # NODATA
    ("2.1.10.in-addr.arpa.", "PTR", "NOERROR", None),  # empty non-terminal
    ("nope.pool.example.net.", "A", "NOERROR", None),  # nonexistent: compact denial
    ("pool.example.net.", "DNSKEY", "NOERROR", "DNSKEY"),
    ("pool.example.net.", "SOA", "NOERROR", "SOA"),
    ("10.in-addr.arpa.", "DNSKEY", "NOERROR", "DNSKEY"),
]


def setup(workdir, automapd, mapctl, alg="ecdsap256sha256", keys="keys"):
    config = os.path.join(workdir, "automap-%s.yaml" % keys)
    with open(config, "w") as f:
        f.write(CONFIG % {"dir": workdir, "keys": keys, "alg": alg})
    r = run([mapctl, "-c", config, "key", "generate"])
    check(r.returncode == 0, "mapctl key generate (%s): %s" % (alg, r.stderr))
    base = r.stdout.split("\t")[0]
    mode = os.stat(base + ".private").st_mode & 0o777
    check(mode == 0o600, "the private key file is mode 0600 (%o)" % mode)
    return config, base


def main():
    automapd, mapctl = sys.argv[1], sys.argv[2]
    workdir = tempfile.mkdtemp(prefix="dnssec-test-")
    unbounds = []
    try:
        config, base = setup(workdir, automapd, mapctl)
        r = run([mapctl, "-c", config, "add", "10.9.9.9", "mail.pool.example.net."])
        check(r.returncode == 0, "mapctl add the override: " + r.stderr)
        ds = ds_records(mapctl, config)
        owners = sorted(d.split()[0] for d in ds)
        check(owners == sorted(["pool.example.net.", "10.in-addr.arpa.",
                                "8.b.d.0.1.0.0.2.ip6.arpa."]),
              "mapctl key ds: one DS per apex, derived reverse zones included: %s" % owners)
        r = run([automapd, "checkconf", "-c", config])
        check(r.returncode == 0, "checkconf accepts the keys: " + r.stderr)
        with open(config) as f:
            text = f.read()
        with Automapd(automapd, text, threads=1) as d:
            # The wire: DO=0 unchanged, DO=1 signed, TC with a small buffer, TCP whole.
            m = direct(d.port, "3.2.1.10.in-addr.arpa.", "PTR", dnssec=False)
            check(all(rr.rdtype == dns.rdatatype.PTR for rr in m.answer) and not m.authority,
                  "DO=0: no DNSSEC records")
            m = direct(d.port, "3.2.1.10.in-addr.arpa.", "PTR")
            check(any(rr.rdtype == dns.rdatatype.RRSIG for rr in m.answer), "DO=1: an RRSIG")
            m = direct(d.port, "nope.pool.example.net.", "A")
            nsec = [rr for rr in m.authority if rr.rdtype == dns.rdatatype.NSEC]
            check(m.rcode() == dns.rcode.NOERROR and nsec and
                  str(nsec[0][0].next) == "\\000.nope.pool.example.net." and
                  "TYPE128" in nsec[0][0].to_text(),
                  "a nonexistent name: NOERROR, NSEC to \\000.qname with NXNAME")
            long_name = ".".join(["a" * 60] * 3) + ".x.pool.example.net."
            m = direct(d.port, long_name, "A", payload=512)
            check(m.flags & dns.flags.TC, "DO=1 with a 512-byte buffer: TC=1")
            m = direct(d.port, long_name, "A", dnssec=False, payload=512)
            check(not m.flags & dns.flags.TC, "the same with DO=0 fits")
            m = direct(d.port, long_name, "A", tcp=True)
            check(not m.flags & dns.flags.TC and
                  sum(len(rrset) for rrset in m.authority if rrset.rdtype == dns.rdatatype.RRSIG) == 2,
                  "over TCP the whole signed answer")

            # delv: each name fully validated.
            for name, rdtype, _, _ in SECURE:
                r = delv(d.port, ds, name, rdtype, workdir)
                check("fully validated" in r.stdout + r.stderr,
                      "delv %s %s: fully validated\n%s%s" % (name, rdtype, r.stdout, r.stderr))

            # unbound with automap's DS: secure (AD=1).
            good = Unbound(workdir, d.port, ds)
            unbounds.append(good)
            for name, rdtype, rcode, atype in SECURE:
                m = good.query(name, rdtype)
                ok = (dns.rcode.to_text(m.rcode()) == rcode and bool(m.flags & dns.flags.AD) and
                      (atype is None or any(rr.rdtype == dns.rdatatype.from_text(atype)
                                            for rr in m.answer)) and
                      (atype is not None or not m.answer))
                check(ok, "unbound %s %s: %s, secure (AD)\n%s" % (name, rdtype, rcode, m))

            # An override changed with mapctl is served signed at the next query.
            r = run([mapctl, "-c", config, "add", "10.9.9.9", "renamed.pool.example.net."])
            check(r.returncode == 0, "mapctl add changes the override: " + r.stderr)
            r = delv(d.port, ds, "9.9.9.10.in-addr.arpa.", "PTR", workdir)
            check("fully validated" in r.stdout and "renamed.pool.example.net." in r.stdout,
                  "the changed override validates at once:\n" + r.stdout + r.stderr)

            # unbound with the DS of another key: bogus.
            other_dir = tempfile.mkdtemp(prefix="other-", dir=workdir)
            other_config, _ = setup(other_dir, automapd, mapctl)
            wrong = Unbound(workdir, d.port, ds_records(mapctl, other_config))
            unbounds.append(wrong)
            for name, rdtype in [("3.2.1.10.in-addr.arpa.", "PTR"),
                                 ("ip-10-1-2-3.pool.example.net.", "A"),
                                 ("nope.pool.example.net.", "A")]:
                m = wrong.query(name, rdtype)
                check(m.rcode() == dns.rcode.SERVFAIL, "wrong trust anchor: %s is bogus" % name)

            # ZSK rollovers by pre-publication, unbound (anchored on the CSK's DS) running
            # across them: every step stays secure. The DNSKEY TTL is the SOA TTL, 2 s here.
            # First a ZSK beside the CSK (which then signs only the DNSKEY RRset), then that
            # ZSK rolled to a second one.
            def secure(step, n):
                name = "%d.7.1.10.in-addr.arpa." % n  # a name not cached yet
                m = good.query(name, "PTR")
                if m.rcode() == dns.rcode.SERVFAIL:
                    # Once more, the same name: a bogus answer stays cached in unbound (60 s),
                    # so this only gets past a lookup that timed out on a loaded machine.
                    time.sleep(1)
                    m = good.query(name, "PTR")
                ok = m.rcode() == dns.rcode.NOERROR and m.flags & dns.flags.AD
                if not ok:
                    good.log.flush()
                    with open(good.log.name) as f:
                        print(f.read()[-3000:])
                check(ok, "rollover, %s: unbound still validates (AD)\n%s" % (step, m))

            def reload():
                count = d.count("loaded ")
                d.signal(signal.SIGHUP)
                check(d.wait_log("loaded ", count + 1), "reloaded")

            def until(cond, what):
                # "loaded" is logged before the server swaps the app in: poll, bounded.
                deadline = time.monotonic() + 5
                while not cond() and time.monotonic() < deadline:
                    time.sleep(0.05)
                check(cond(), what)

            def dnskeys():
                m = direct(d.port, "pool.example.net.", "DNSKEY", dnssec=False)
                return sum(len(rrset) for rrset in m.answer)

            def signing_tags(name="3.7.1.10.in-addr.arpa.", rdtype="PTR"):
                m = direct(d.port, name, rdtype)
                return sorted(str(rr.key_tag) for rrset in m.answer
                              if rrset.rdtype == dns.rdatatype.RRSIG for rr in rrset)

            def new_zsk():
                r = run([mapctl, "-c", config, "key", "generate", "--zsk", "--publish-only"])
                check(r.returncode == 0, "key generate --zsk --publish-only: " + r.stderr)
                return r.stdout.split("\t")[1]

            def activate(tag):
                # unbound 1.17 was seen to keep a DNSKEY RRset of TTL 2 for up to ~3 s: the
                # propagation delay (3600 s by default) is what covers such slack.
                step = [mapctl, "-c", config, "key", "activate", tag, "--propagation-delay", "3"]
                r = run(step)
                check(r.returncode == 1 and "refused" in r.stderr and "DNSKEY TTL" in r.stderr,
                      "activate before the DNSKEY TTL has passed is refused: " + r.stderr)
                time.sleep(5.2)
                r = run(step)
                check(r.returncode == 0, "activate after the TTL: " + r.stderr)

            csk_tag = os.path.basename(base).split("+")[-1].lstrip("0")
            zsk1 = new_zsk()
            reload()
            until(lambda: dnskeys() == 2, "the new ZSK's DNSKEY is published")
            secure("ZSK published", 1)
            activate(zsk1)
            reload()
            until(lambda: signing_tags() == [zsk1], "the ZSK signs the PTR")
            check(signing_tags("pool.example.net.", "DNSKEY") == [csk_tag],
                  "the CSK signs only the DNSKEY RRset")
            secure("ZSK active", 2)
            zsk2 = new_zsk()
            r = run([mapctl, "-c", config, "key", "retire", zsk1])
            check(r.returncode == 1 and "only active key" in r.stderr,
                  "retiring the only active ZSK is refused: " + r.stderr)
            reload()
            until(lambda: dnskeys() == 3, "the second ZSK's DNSKEY is published")
            secure("second ZSK published", 3)
            activate(zsk2)
            r = run([mapctl, "-c", config, "key", "retire", zsk1, "--propagation-delay", "0"])
            check(r.returncode == 0, "retire the first ZSK: " + r.stderr)
            reload()
            until(lambda: signing_tags() == [zsk2], "only the second ZSK signs")
            check(dnskeys() == 3, "the retired ZSK's DNSKEY is still published")
            secure("first ZSK retired", 4)
            r = run([mapctl, "-c", config, "key", "ds"])
            tags = [line.split()[3] for line in r.stdout.splitlines()]
            check(tags == [csk_tag] * 3, "key ds prints the SEP key's DS only: %s" % tags)

            # A broken key at reload: the old config keeps serving, signed.
            with open(base + ".private", "a") as f:
                f.write("PrivateKey: not base64!\n")
            d.signal(signal.SIGHUP)
            check(d.wait_log("PrivateKey is not base64"), "reload names the broken key file")
            m = direct(d.port, "3.2.1.10.in-addr.arpa.", "PTR")
            check(any(rr.rdtype == dns.rdatatype.RRSIG for rr in m.answer),
                  "after the refused reload the old keys still sign")
            secure("after a refused reload", 5)
        r = run([automapd, "checkconf", "-c", config])
        check(r.returncode == 1 and base + ".private: PrivateKey is not base64" in r.stderr and
              "dnssec.keys" in r.stderr,
              "checkconf: a malformed key fails with the file and why: " + r.stderr)
        r = subprocess.run([automapd, "serve", "-c", config, "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and "PrivateKey is not base64" in r.stderr,
              "serve: a malformed key stops the start: " + r.stderr)
        shutil.rmtree(os.path.dirname(base))
        r = run([automapd, "checkconf", "-c", config])
        check(r.returncode == 1 and "cannot open the keys directory" in r.stderr,
              "checkconf: a missing keys directory: " + r.stderr)

        # Ed25519 (15).
        ed_config, _ = setup(workdir, automapd, mapctl, alg="ed25519", keys="ed-keys")
        ed_ds = ds_records(mapctl, ed_config)
        check(all(d.split()[4] == "15" for d in ed_ds), "Ed25519 DS records: algorithm 15")
        with open(ed_config) as f:
            text = f.read()
        with Automapd(automapd, text, threads=1) as d:
            for name, rdtype in [("3.2.1.10.in-addr.arpa.", "PTR"),
                                 ("2.1.10.in-addr.arpa.", "PTR"),
                                 ("nope.pool.example.net.", "A")]:
                r = delv(d.port, ed_ds, name, rdtype, workdir)
                check("fully validated" in r.stdout + r.stderr,
                      "Ed25519: delv %s %s fully validated\n%s%s" % (name, rdtype, r.stdout,
                                                                     r.stderr))
    finally:
        for u in unbounds:
            u.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("all DNSSEC checks passed")


if __name__ == "__main__":
    main()
