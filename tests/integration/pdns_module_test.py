#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""backend/pdns: the automap module (libautomapbackend.so) inside a real pdns_server 4.7.

pdns_server loads the built module (module-dir=, launch=automap, automap-config=) with its
zone cache on and consistent-backends at its default, caches off:
- PTR v4/v6, A, AAAA, NXDOMAIN, REFUSED, and an empty non-terminal answered NODATA (what the
  4.7 pipe cannot say), AXFR refused;
- an override added with mapctl while pdns runs answers at once (PTR and A);
- `pdns_control rediscover` reloads, `pdns_control list-zones` and `pdnsutil list-all-zones`
  list the zones;
- with consistent-backends=no, --queries seeded Knot differential queries against `automapd
  serve` on the same configuration and store: every answer must match (no PowerDNS limit
  applies here; the default setting runs the whole set in knot_diff_test.py --pdns-module);
- the version guard: a copy of the module built with a build-id no pdns_server has is
  refused with a FATAL line, registers nothing, and pdns_server stops.

- DNSSEC: PowerDNS signs the module's answers live with keys in lmdb (NSEC3 narrow), and
  delv validates positive, NXDOMAIN, NODATA and ENT answers;
- with --build-dir, `cmake --install --component pdns-module` installs by temporary file and
  rename.

usage: pdns_module_test.py AUTOMAPD MAPCTL MODULE_DIR WRONG_HOST_MODULE_DIR [--queries N]
                           [--build-dir BUILD]
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

import dns.flags
import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
sys.path.insert(0, os.path.dirname(__file__))
from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from knot_diff_test import AUTOMAP_CONFIG, ask, queries, signature  # noqa: E402
from pdns import PdnsError, PdnsServer  # noqa: E402


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def answer_texts(r, rdtype):
    return sorted(x.to_text().lower() for rr in r.answer if rr.rdtype == rdtype for x in rr)


def module_settings(module_dir, config, **extra):
    settings = {
        "launch": "automap",
        "module-dir": module_dir,
        "automap-config": config,
        # The zone cache on, as PowerDNS ships it (the pipe cannot have it).
        "zone-cache-refresh-interval": "300",
        "distributor-threads": "2",
    }
    settings.update({k.replace("_", "-"): v for k, v in extra.items()})
    return settings


def single_checks(pdns):
    r = pdns.query("3.2.0.10.in-addr.arpa.", "PTR")
    check(answer_texts(r, dns.rdatatype.PTR) == ["ip-10-0-2-3.pool.example.net."]
          and r.flags & dns.flags.AA, "PTR v4", str(r))
    r = pdns.query("ip-10-0-2-3.pool.example.net.", "A")
    check(answer_texts(r, dns.rdatatype.A) == ["10.0.2.3"], "A", str(r))
    r = pdns.query("ip-2001-db8-1--5.pool.example.net.", "AAAA")
    check(answer_texts(r, dns.rdatatype.AAAA) == ["2001:db8:1::5"], "AAAA", str(r))
    v6 = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
    r = pdns.query(v6, "PTR")
    check(answer_texts(r, dns.rdatatype.PTR) == ["ip-2001-db8-1--5.pool.example.net."],
          "PTR v6", str(r))
    r = pdns.query("ip-10-1-0-1.pool.example.net.", "A")
    check(r.rcode() == dns.rcode.NXDOMAIN and any(
        rr.rdtype == dns.rdatatype.SOA for rr in r.authority), "NXDOMAIN with the SOA", str(r))
    # 2.0.10.in-addr.arpa. exists only because names below it do: NODATA (RFC 8020).
    for qtype in ("PTR", "A"):
        r = pdns.query("2.0.10.in-addr.arpa.", qtype)
        check(r.rcode() == dns.rcode.NOERROR and not r.answer and any(
            rr.rdtype == dns.rdatatype.SOA for rr in r.authority),
            "empty non-terminal %s: NODATA" % qtype, str(r))
    r = pdns.query("ip-10-0-2-3.pool.example.net.", "TXT")
    check(r.rcode() == dns.rcode.NOERROR and not r.answer, "other type at a name: NODATA",
          str(r))
    r = pdns.query("www.example.org.", "A")
    check(r.rcode() == dns.rcode.REFUSED, "outside every zone: REFUSED", str(r))
    # AXFR: PowerDNS sends the SOA first, then asks the backend to list the zone; the module
    # refuses, so PowerDNS ends the transfer with SERVFAIL. No transfer completes.
    try:
        rrs = [rr for m in dns.query.xfr(pdns.host, "pool.example.net.", port=pdns.port,
                                         timeout=5, lifetime=10) for rr in m.answer]
        check(False, "AXFR refused", "a transfer completed: %s" % rrs)
    except Exception as e:  # noqa: BLE001 - any failure of the transfer is the expected result
        check("SERVFAIL" in str(e) or "aborting AXFR" in pdns.log(),
              "AXFR refused (%s)" % type(e).__name__, "%r\n%s" % (e, pdns.log()[-1500:]))


def control_checks(pdns, pdnsutil_config_dir):
    sock = ["pdns_control", "--socket-dir=%s" % pdns.dir]
    p = run(sock + ["rediscover"])
    check(p.returncode == 0 and "automap backend: reloaded" in p.stdout,
          "pdns_control rediscover reloads", p.stdout + p.stderr)
    p = run(sock + ["list-zones"])
    check(p.returncode == 0 and "pool.example.net." in p.stdout and "0.10.in-addr.arpa." in
          p.stdout, "pdns_control list-zones", p.stdout + p.stderr)
    p = run(["pdnsutil", "--config-dir=%s" % pdnsutil_config_dir, "backend-cmd", "automap",
             "version", "zones"])
    check(p.returncode == 0 and "automap " in p.stdout and "module for pdns" in p.stdout and
          "0.10.in-addr.arpa." in p.stdout, "pdnsutil backend-cmd automap version zones",
          p.stdout + p.stderr)
    p = run(["pdnsutil", "--config-dir=%s" % pdnsutil_config_dir, "list-all-zones"])
    # One zone a line, without the trailing dot (pdnsutil's own log lines have spaces).
    zones = sorted(l.rstrip(".") for l in p.stdout.splitlines() if l and " " not in l)
    check(p.returncode == 0 and zones == sorted([
        "pool.example.net", "0.10.in-addr.arpa", "1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"]),
        "pdnsutil list-all-zones", p.stdout + p.stderr)


def override_checks(pdns, mapctl, config):
    p = run([mapctl, "-c", config, "add", "10.0.7.7", "mail.cust.pool.example.net."])
    check(p.returncode == 0, "mapctl add", p.stderr)
    r = pdns.query("7.7.0.10.in-addr.arpa.", "PTR")
    check(answer_texts(r, dns.rdatatype.PTR) == ["mail.cust.pool.example.net."],
          "override PTR live", str(r))
    r = pdns.query("mail.cust.pool.example.net.", "A")
    check(answer_texts(r, dns.rdatatype.A) == ["10.0.7.7"], "override A live", str(r))


def differential(pdns, amap, n, seed, label=""):
    rng = random.Random(seed)
    compared = 0
    diffs = []
    for cat, qname, qtype in queries(rng, n):
        p = signature(ask(qname, qtype, pdns.port))
        a = signature(ask(qname, qtype, amap.port))
        compared += 1
        if p != a:
            diffs.append("%s %s %s\n  pdns:    %s\n  automap: %s" % (cat, qname, qtype, p, a))
    check(not diffs, "module%s vs automapd serve: %d queries, %d differences" % (
        label, compared, len(diffs)), "\n".join(diffs[:20]))


def guard_check(wrong_dir, config):
    pdns = PdnsServer(module_settings(wrong_dir, config), startup_timeout=15)
    try:
        pdns.start()
        started = True
    except PdnsError:
        started = False
    finally:
        pdns.stop()
    log = pdns.log()
    check(not started, "wrong host: pdns_server does not start", log[-2000:])
    check("FATAL: automap backend not registered" in log and
          "0000000000000000000000000000000000000000" in log and "registered" not in
          log.replace("not registered", ""), "wrong host: the FATAL line, nothing registered",
          log[-2000:])
    check("Unable to launch" in log or "unknown" in log.lower(),
          "wrong host: PowerDNS stops at launch=automap", log[-2000:])


def dnssec_check(module_dir, config, work):
    """PowerDNS live-signs the module's answers with keys kept in a second backend (lmdb):
    `launch=automap,lmdb`, `pdnsutil secure-zone` and NSEC3 narrow mode (hashes made per
    answer: a synthesized zone has no ordered name list). BIND's validator, delv, with the
    zones' DNSKEYs as trust anchors, must call every answer fully validated: positive,
    NXDOMAIN, NODATA, and an empty non-terminal."""
    zones = ("pool.example.net.", "0.10.in-addr.arpa.")
    d = os.path.join(work, "dnssec")
    os.makedirs(d)
    settings = {
        "launch": "automap,lmdb",
        "load-modules": os.path.join(module_dir, "libautomapbackend.so"),
        "automap-config": config,
        "lmdb-filename": os.path.join(d, "keys.lmdb"),
        "zone-cache-refresh-interval": "300",
    }
    with open(os.path.join(d, "pdns.conf"), "w") as f:
        f.write("".join("%s=%s\n" % kv for kv in settings.items()))
    util = ["pdnsutil", "--config-dir=%s" % d]
    for z in zones:
        p = run(util + ["secure-zone", z])
        check(p.returncode == 0, "pdnsutil secure-zone %s (keys in lmdb)" % z, p.stdout + p.stderr)
        p = run(util + ["set-nsec3", z, "1 0 0 -", "narrow"])
        check(p.returncode == 0, "pdnsutil set-nsec3 %s narrow" % z, p.stdout + p.stderr)
    with PdnsServer(settings) as pdns:
        anchors = []
        for z in zones:
            r = pdns.query(z, "DNSKEY")
            keys = [k for rr in r.answer if rr.rdtype == dns.rdatatype.DNSKEY for k in rr]
            check(len(keys) == 1, "one DNSKEY at %s" % z, str(r))
            for k in keys:
                flags, proto, alg, key = k.to_text().split(" ", 3)
                anchors.append('  %s static-key %s %s %s "%s";\n' % (
                    z, flags, proto, alg, key.replace(" ", "")))
        anchor_file = os.path.join(d, "anchors.conf")
        with open(anchor_file, "w") as f:
            f.write("trust-anchors {\n%s};\n" % "".join(anchors))
        cases = [
            ("ip-10-0-2-3.pool.example.net.", "A", "10.0.2.3"),
            ("ip-2001-db8-1--5.pool.example.net.", "AAAA", "2001:db8:1::5"),
            ("3.2.0.10.in-addr.arpa.", "PTR", "ip-10-0-2-3.pool.example.net."),
            ("nothing.pool.example.net.", "A", "nxdomain"),
            ("ip-10-0-2-3.pool.example.net.", "TXT", "nxrrset"),
            ("2.0.10.in-addr.arpa.", "PTR", "nxrrset"),
        ]
        for qname, qtype, want in cases:
            root = next(z for z in zones if qname.endswith(z))
            p = run(["delv", "-a", anchor_file, "+root=" + root, "-p", str(pdns.port),
                     "@" + pdns.host, qname, qtype])
            out = p.stdout + p.stderr
            ok = "fully validated" in out and (("ncache " + want) in out if want in (
                "nxdomain", "nxrrset") else want in p.stdout)
            check(ok, "DNSSEC: delv validates %s %s (%s)" % (qname, qtype, want), out)
        check(pdns.alive(), "DNSSEC: pdns_server still running", pdns.log()[-2000:])


def install_check(build_dir, module_dir):
    """cmake --install --component pdns-module writes a temporary file and renames it: a
    second install gives the path a new inode (a loaded .so is never rewritten in place)."""
    dest = tempfile.mkdtemp(prefix="pdns-module-install-")
    try:
        env = dict(os.environ, DESTDIR=dest)
        inodes = []
        for _ in range(2):
            p = subprocess.run(["cmake", "--install", build_dir, "--component", "pdns-module"],
                               capture_output=True, text=True, timeout=60, env=env)
            check(p.returncode == 0, "cmake --install --component pdns-module", p.stdout + p.stderr)
            found = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs]
            check([os.path.basename(f) for f in found] == ["libautomapbackend.so"],
                  "installed exactly libautomapbackend.so", str(found))
            if found:
                inodes.append(os.stat(found[0]).st_ino)
                with open(found[0], "rb") as a, open(
                        os.path.join(module_dir, "libautomapbackend.so"), "rb") as b:
                    check(a.read() == b.read(), "the installed module is the built one")
        check(len(inodes) == 2 and inodes[0] != inodes[1],
              "a second install replaces the file by rename (new inode)", str(inodes))
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("automapd")
    ap.add_argument("mapctl")
    ap.add_argument("module_dir")
    ap.add_argument("wrong_host_dir")
    ap.add_argument("--build-dir", help="also check cmake --install of the module")
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="pdns-module-")
    try:
        config_text = AUTOMAP_CONFIG + "store: { path: %s/store, map_size: 64MiB }\n" % work
        config = os.path.join(work, "automap.yaml")
        with open(config, "w") as f:
            f.write(config_text)
        with PdnsServer(module_settings(os.path.abspath(args.module_dir), config),
                        keep_dir=True) as pdns:
            with Automapd(args.automapd, config_text) as amap:
                single_checks(pdns)
                override_checks(pdns, args.mapctl, config)
                control_checks(pdns, pdns.dir)
                # With consistent-backends at its default, the whole Knot differential query
                # set goes through the module in knot_differential_pdns_module.
                check(pdns.alive(), "pdns_server still running", pdns.log()[-3000:])
                log = pdns.log()
                # consistent-backends=no: PowerDNS asks each question's own type.
                with PdnsServer(module_settings(os.path.abspath(args.module_dir), config,
                                                consistent_backends="no")) as pdns2:
                    differential(pdns2, amap, args.queries, args.seed + 1,
                                 " (consistent-backends=no)")
        shutil.rmtree(pdns.dir, ignore_errors=True)
        check("automap backend: loaded" in log, "the module logged its load", log[-2000:])
        guard_check(os.path.abspath(args.wrong_host_dir), config)
        dnssec_check(os.path.abspath(args.module_dir), config, work)
        if args.build_dir:
            install_check(args.build_dir, os.path.abspath(args.module_dir))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary("pdns module")


if __name__ == "__main__":
    sys.exit(main())
