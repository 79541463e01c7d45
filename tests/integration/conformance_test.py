#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The conformance table (tests/conformance/cases.txt) over the network.

1. `automapd serve` on 127.0.0.1:0 for every configuration of the table: every case and every
   spelling over UDP (with EDNS and RD, and without both) and TCP, checked with dnspython:
   rcode, AA, RD echo, TC clear (TC=1 for ANY over UDP), the question echoed byte for byte,
   answer, authority (SOA owner and negative TTL), no additional records.
2. Bad-input case 22 of the reliability note, which needs the mapper (invalid forward template
   names are NXDOMAIN, never a wrong A/AAAA; forward and reverse round-trip for addresses of
   every prefix), plus the mapper-zone variants of cases 12, 16, 17 and 23 that
   server_wire_test.py checks only on its test app. Each is followed by a liveness query.
3. A real PowerDNS 4.7 with `automapd pipe` (ABI 1 and 5) for the cases valid there
   (`pdns-rcode` where the pipe ABI cannot express an empty non-terminal), and with
   --pdns-module DIR the same cases through the backend module (its own rcodes: no limit).

usage: conformance_test.py AUTOMAPD [--root SOURCE_ROOT] [--no-pdns] [--pdns-module DIR]
                           [--seed N]
"""
import argparse
import ipaddress
import os
import random
import re
import shutil
import socket
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "conformance"))

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402
import checks  # noqa: E402
from automapd import Automapd  # noqa: E402
from checks import FAILURES, check  # noqa: E402
from conformance_table import Record, compare_records, load_table  # noqa: E402

TIMEOUT = 3.0


# ------------------------------------------------------------------------------- transport

def udp_raw(wire, port, host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.sendto(wire, (host, port))
        return s.recv(65535)


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def tcp_raw(wire, port, host="127.0.0.1"):
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        (n,) = struct.unpack("!H", recv_exact(s, 2))
        return recv_exact(s, n)


def ask(qname, qtype, port, tcp=False, rd=True, edns=False, rdclass="IN"):
    q = dns.message.make_query(qname, qtype, rdclass=rdclass, use_edns=0 if edns else False)
    q.flags = dns.flags.RD if rd else 0
    wire = q.to_wire()
    raw = tcp_raw(wire, port) if tcp else udp_raw(wire, port)
    return q, wire, raw, dns.message.from_wire(raw)


def alive(port, where, zone="10.in-addr.arpa."):
    try:
        _, _, _, r = ask(zone, "SOA", port)
        check(r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA, "alive after " + where)
    except Exception as e:  # noqa: BLE001
        check(False, "alive after %s: %r" % (where, e))


def records(section):
    out = []
    for rrset in section:
        for rd in rrset:
            out.append(Record(rrset.name.to_text(), rrset.ttl, dns.rdatatype.to_text(rrset.rdtype),
                              rd.to_text().split()))
    return out


def check_authority(case, r, what):
    auth = records(r.authority)
    if case.soa is None:
        check(not auth, "%s: authority should be empty, got %s" % (what, auth))
        return
    ttl, zone = case.soa
    ok = (len(auth) == 1 and auth[0].type == "SOA" and auth[0].owner.lower() == zone.lower()
          and auth[0].ttl == ttl)
    check(ok, "%s: authority want SOA %s TTL %d, got %s" % (what, zone, ttl, auth))


# ------------------------------------------------------------------------------- 1. the table

def run_table_standalone(cases, port):
    for case in cases:
        if not case.runs_on("net"):
            continue
        for qname in case.spellings():
            for tcp, rd, edns in ((False, True, True), (False, False, False), (True, True, False)):
                what = "%s %s %s rd=%d edns=%d" % (case, qname, "tcp" if tcp else "udp", rd, edns)
                try:
                    q, wire, raw, r = ask(qname, case.qtype, port, tcp=tcp, rd=rd, edns=edns)
                except Exception as e:  # noqa: BLE001
                    check(False, "%s: %r" % (what, e))
                    continue
                check(r.id == q.id and r.flags & dns.flags.QR, what + ": id/QR")
                check(bool(r.flags & dns.flags.RD) == rd, what + ": RD echo")
                check(not r.flags & (dns.flags.RA | dns.flags.AD | dns.flags.CD), what + ": RA/AD/CD")
                check((r.edns >= 0) == edns, what + ": OPT iff the query had one")
                qlen = len(wire) - 12 - (11 if edns else 0)
                check(raw[12:12 + qlen] == wire[12:12 + qlen], what + ": question echoed byte for byte")
                if not tcp and case.qtype == "ANY" and case.rcode != "REFUSED":
                    check(r.flags & dns.flags.TC and r.flags & dns.flags.AA and r.rcode() == 0
                          and not r.answer and not r.authority, what + ": ANY over UDP is TC=1, AA, empty")
                    continue
                check(not r.flags & dns.flags.TC, what + ": TC clear")
                check(dns.rcode.to_text(r.rcode()) == case.rcode,
                      "%s: rcode %s" % (what, dns.rcode.to_text(r.rcode())))
                check(bool(r.flags & dns.flags.AA) == case.aa, what + ": AA")
                diff = compare_records([x.bound(qname) for x in case.answer], records(r.answer))
                check(diff == "", "%s: answer %s" % (what, diff))
                check_authority(case, r, what)
                check(not r.additional, what + ": no additional records")


# ------------------------------------------------------------------------------- 2. case 22 & co

# The prefixes of conf/automap.yaml: (network, forward resolves, blank).
DEFAULT_PREFIXES = [
    (ipaddress.ip_network("10.0.0.0/8"), True, False),
    (ipaddress.ip_network("10.20.0.0/22"), True, False),
    (ipaddress.ip_network("10.30.0.0/16"), False, True),
    (ipaddress.ip_network("2001:db8::/32"), True, False),
    (ipaddress.ip_network("2001:db8:ff00::/40"), False, False),
]


def most_specific(addr):
    best = None
    for net, fwd, blank in DEFAULT_PREFIXES:
        if addr.version == net.version and addr in net and (best is None or net.prefixlen > best[0].prefixlen):
            best = (net, fwd, blank)
    return best


def random_address(rng, net):
    span = net.num_addresses
    # The edges of the prefix and random addresses inside it.
    pick = rng.choice([0, span - 1, rng.randrange(span), rng.randrange(min(span, 4096))])
    return net.network_address + pick


def round_trip(port, rng, per_prefix):
    """Forward and reverse agree for addresses of every prefix (case 22's property test)."""
    names = []
    for net, _, _ in DEFAULT_PREFIXES:
        for _ in range(per_prefix):
            addr = random_address(rng, net)
            owner_net, fwd, blank = most_specific(addr)
            what = "round trip %s (%s)" % (addr, owner_net)
            _, _, _, r = ask(addr.reverse_pointer + ".", "PTR", port)
            if blank:
                check(r.rcode() == dns.rcode.NXDOMAIN and not r.answer, what + ": blank is NXDOMAIN")
                continue
            ans = records(r.answer)
            check(r.rcode() == 0 and len(ans) == 1 and ans[0].type == "PTR", what + ": one PTR")
            if not ans:
                continue
            target = ans[0].rdata[0]
            qtype = "A" if addr.version == 4 else "AAAA"
            spelled = "".join(ch.upper() if rng.random() < 0.5 else ch for ch in target)
            _, _, _, f = ask(spelled, qtype, port, tcp=rng.random() < 0.3)
            fans = records(f.answer)
            if fwd:
                check(f.rcode() == 0 and len(fans) == 1 and ipaddress.ip_address(fans[0].rdata[0]) == addr
                      and fans[0].owner == spelled, "%s: %s %s gives back the address (got %s)"
                      % (what, spelled, qtype, fans))
                names.append((target, addr))
            else:
                check(f.rcode() == dns.rcode.NXDOMAIN and not fans,
                      "%s: forward: false name %s is NXDOMAIN" % (what, target))
    return names


def mutate(rng, name):
    host, _, rest = name.partition(".")
    i = rng.randrange(len(host) + 1)
    alphabet = "0123456789abcdefg-xX"
    op = rng.randrange(5)
    if op == 0 and i < len(host):
        host = host[:i] + rng.choice(alphabet) + host[i + 1:]
    elif op == 1 and i < len(host):
        host = host[:i] + host[i + 1:]
    elif op == 2:
        host = host[:i] + rng.choice(alphabet) + host[i:]
    elif op == 3:
        host = host[:i] + "0" + host[i:]  # leading zeros, "--" doubling, ...
    else:
        return rng.choice(["x.", "0.", "ip-1."]) + name  # below a leaf
    return (host or "a") + "." + rest


def invalid_forward_names(port, rng, names, count):
    """Case 22: mutated template names are NXDOMAIN or (when the mutation happens to spell
    another canonical name) an address whose PTR is exactly that name. Never a wrong A/AAAA."""
    wrong = 0
    for _ in range(count):
        target, _ = rng.choice(names)
        name = mutate(rng, target)
        for qtype in ("A", "AAAA"):
            try:
                _, _, _, r = ask(name, qtype, port)
            except Exception as e:  # noqa: BLE001
                check(False, "case 22 %s %s: %r" % (name, qtype, e))
                continue
            rc = dns.rcode.to_text(r.rcode())
            ans = records(r.answer)
            if rc == "NXDOMAIN" or (rc == "NOERROR" and not ans):
                check(r.flags & dns.flags.AA and len(r.authority) == 1, "case 22 %s %s: negative with SOA" % (name, qtype))
                continue
            ok = rc == "NOERROR" and len(ans) == 1 and ans[0].type == qtype
            if ok:
                addr = ipaddress.ip_address(ans[0].rdata[0])
                _, _, _, p = ask(addr.reverse_pointer + ".", "PTR", port)
                ptr = records(p.answer)
                ok = len(ptr) == 1 and ptr[0].rdata[0].lower() == name.lower()
            if not ok:
                wrong += 1
            check(ok, "case 22 %s %s: %s %s is not the name of that address" % (name, qtype, rc, ans))
    return wrong


def invalid_forward_list(port):
    """The named invalid spellings of case 22 (the table has more, with their SOA)."""
    bad = ["host-1-2-3-999", "ip-10-1-2-999", "ip-010-1-2-3", "ip-10-1-2-03", "ip-10-1-2-+3",
           "ip-1e1-1-2-3", "ip--10-1-2-3", "ip-10-1-2-3-", "IP-10-1-2-3X",
           "ip-4294967306-1", "ip-0x0a-1-2-3", "biz-10-20-3-256", "biz-10-20-4-1"]
    for label in bad:
        name = label + ".pool.example.net."
        for qtype in ("A", "AAAA"):
            _, _, _, r = ask(name, qtype, port)
            check(r.rcode() == dns.rcode.NXDOMAIN and not r.answer and r.flags & dns.flags.AA,
                  "case 22 %s %s: NXDOMAIN (got %s %s)" % (name, qtype, dns.rcode.to_text(r.rcode()), r.answer))
    for label in ["2001-db8--1g", "2001-db8---1", "2001-db8--01", "2001-DB8--0001", "2001-db8-0--1",
                  "2001-db8-0-0-0-0-0-0-1", "2001-db8-", "-2001-db8--1", "2001:db8::1", "20010db8--1",
                  "h20010db8ff0000000000000000000001", "2001-db8-ff00--1"]:
        name = label + ".v6.pool.example.net."
        for qtype in ("AAAA", "A"):
            _, _, _, r = ask(name, qtype, port)
            check(r.rcode() == dns.rcode.NXDOMAIN and not r.answer,
                  "case 22 %s %s: NXDOMAIN (got %s %s)" % (name, qtype, dns.rcode.to_text(r.rcode()), r.answer))
    alive(port, "case 22 names")


def mapper_zone_policy(port):
    """Cases 12, 16, 17 and 23 on the mapper's zones (server_wire_test.py runs them on its
    test app only)."""
    # 23: AXFR over UDP NOTIMP, AXFR/IXFR over TCP REFUSED for synthesized zones.
    for zone in ("pool.example.net.", "10.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa."):
        _, _, _, r = ask(zone, "AXFR", port)
        check(r.rcode() == dns.rcode.NOTIMP and not r.flags & dns.flags.AA, "case 23 AXFR %s over UDP NOTIMP" % zone)
        _, _, _, r = ask(zone, "AXFR", port, tcp=True)
        check(r.rcode() == dns.rcode.REFUSED and not r.answer, "case 23 AXFR %s over TCP REFUSED" % zone)
        _, _, _, r = ask(zone, "IXFR", port, tcp=True)
        check(r.rcode() == dns.rcode.REFUSED, "case 23 IXFR %s over TCP REFUSED" % zone)
        _, _, _, r = ask(zone, "IXFR", port)
        check(r.rcode() == dns.rcode.REFUSED, "case 23 IXFR %s over UDP REFUSED" % zone)
    # 16: CH and HS REFUSED, ANY served as IN.
    for cls in ("CH", "HS"):
        _, _, _, r = ask("3.2.1.10.in-addr.arpa.", "PTR", port, rdclass=cls)
        check(r.rcode() == dns.rcode.REFUSED and not r.answer, "case 16 class %s REFUSED" % cls)
    _, _, _, r = ask("3.2.1.10.in-addr.arpa.", "PTR", port, rdclass="ANY")
    check(r.rcode() == 0 and len(r.answer) == 1 and str(r.answer[0][0].target) == "ip-10-1-2-3.pool.example.net.",
          "case 16 class ANY served as IN")
    # 12: EDNS version 1 on a synthesized name: BADVERS, OPT version 0, no records, no AA.
    q = dns.message.make_query("3.2.1.10.in-addr.arpa.", "PTR")
    q.use_edns(edns=1)  # make_query(use_edns=1) would mean True, i.e. version 0
    check(q.to_wire()[-5] == 1, "case 12 sends EDNS version 1")
    r = dns.message.from_wire(udp_raw(q.to_wire(), port))
    check(r.rcode() == dns.rcode.BADVERS and r.edns == 0 and not r.answer and not r.authority
          and not r.flags & dns.flags.AA, "case 12 BADVERS on a mapper name")
    # 17: the root and names next to our zones.
    for name, qtype in ((".", "DS"), (".", "SOA"), ("arpa.", "NS"), ("ip6.arpa.", "SOA"), ("net.", "A")):
        _, _, _, r = ask(name, qtype, port)
        check(r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA and not r.answer and not r.authority,
              "case 17 %s %s REFUSED, AA=0, empty" % (name, qtype))
    alive(port, "mapper zone policy")


# ------------------------------------------------------------------------------- 3. PowerDNS

def run_table_pdns(cases, pdns_port, label, pipe_limits=True):
    """`label` names the run ("pipe ABI 1", "module"); the module has no pipe limits: the
    table's own rcode applies, not `pdns-rcode`."""
    def pdns_query(qname, qtype, tcp):
        q = dns.message.make_query(qname, qtype, use_edns=False)
        wire = q.to_wire()
        raw = tcp_raw(wire, pdns_port) if tcp else udp_raw(wire, pdns_port)
        return dns.message.from_wire(raw)

    n = 0
    for case in cases:
        if not case.runs_on("pdns"):
            continue
        rcode = (case.pdns_rcode if pipe_limits else None) or case.rcode
        for qname in case.spellings():
            for tcp in (False, True):
                what = "pdns %s: %s %s %s" % (label, case, qname, "tcp" if tcp else "udp")
                try:
                    r = pdns_query(qname, case.qtype, tcp)
                except Exception as e:  # noqa: BLE001
                    check(False, "%s: %r" % (what, e))
                    continue
                n += 1
                if not tcp and case.qtype == "ANY":
                    check(r.flags & dns.flags.TC, what + ": ANY over UDP is TC=1 (any-to-tcp)")
                    continue
                check(dns.rcode.to_text(r.rcode()) == rcode, "%s: rcode %s, want %s" % (
                    what, dns.rcode.to_text(r.rcode()), rcode))
                check(bool(r.flags & dns.flags.AA) == case.aa, what + ": AA")
                check(not r.flags & dns.flags.TC, what + ": TC clear")
                diff = compare_records([x.bound(qname) for x in case.answer], records(r.answer), owner_nocase=True)
                check(diff == "", "%s: answer %s" % (what, diff))
                check_authority(case, r, what)
    return n


# ------------------------------------------------------------------------------- main

def config_text(root, rel, tmp):
    """The table's configuration with the LMDB store moved into a temp dir."""
    with open(os.path.join(root, rel)) as f:
        text = f.read()
    store = "store: { path: %s/store, map_size: 64MiB }" % tmp
    if re.search(r"^store:.*$", text, re.M):
        return re.sub(r"^store:.*$", store, text, flags=re.M)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("automapd")
    ap.add_argument("--root", default=os.path.normpath(os.path.join(HERE, "..", "..")))
    ap.add_argument("--no-pdns", action="store_true")
    ap.add_argument("--pdns-module", metavar="DIR",
                    help="also run the table through libautomapbackend.so in DIR")
    ap.add_argument("--seed", type=int, default=22)
    args = ap.parse_args()
    table = load_table(os.path.join(args.root, "tests", "conformance", "cases.txt"))
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="conformance-")
    summary = []
    try:
        for name in sorted(table.configs):
            cases = [c for c in table.cases if c.config == name]
            text = config_text(args.root, table.configs[name], os.path.join(tmp, "serve-" + name))
            with Automapd(args.automapd, text) as amap:
                before = checks.CHECKS
                run_table_standalone(cases, amap.port)
                summary.append("standalone %s: %d cases, %d checks" % (name, len(cases), checks.CHECKS - before))
                if name == "default":
                    before = checks.CHECKS
                    names = round_trip(amap.port, rng, per_prefix=40)
                    wrong = invalid_forward_names(amap.port, rng, names, count=400)
                    invalid_forward_list(amap.port)
                    mapper_zone_policy(amap.port)
                    summary.append("case 22 and mapper-zone policy: %d checks, %d wrong forward answers"
                                   % (checks.CHECKS - before, wrong))
                apex = next(c.qname for c in cases if c.qtype == "SOA" and c.rcode == "NOERROR" and c.answer)
                alive(amap.port, "the table (%s)" % name, zone=apex)
                check(amap.proc.poll() is None, "automapd serve still running")
        pdns_ok = shutil.which("pdns_server") or os.access("/usr/sbin/pdns_server", os.X_OK)
        if args.no_pdns or not pdns_ok:
            summary.append("PowerDNS: skipped (%s)" % ("--no-pdns" if args.no_pdns else "pdns_server not found"))
        else:
            from pdns import PdnsServer, pipe_settings  # noqa: E402
            for name in sorted(table.configs):
                cases = [c for c in table.cases if c.config == name]
                conf_dir = os.path.join(tmp, "pipe-" + name)
                os.makedirs(conf_dir)
                conf = os.path.join(conf_dir, "automap.yaml")
                with open(conf, "w") as f:
                    f.write(config_text(args.root, table.configs[name], conf_dir))
                for abi in (1, 5):
                    with PdnsServer(pipe_settings("%s pipe -c %s" % (args.automapd, conf), abi=abi)) as pdns:
                        before = len(FAILURES)
                        n = run_table_pdns(cases, pdns.port, "pipe ABI %d" % abi)
                        check(pdns.alive(), "pdns_server alive after the table")
                        if len(FAILURES) > before:
                            print(pdns.log()[-3000:])
                        summary.append("PowerDNS 4.7 pipe ABI %d %s: %d queries" % (abi, name, n))
                if args.pdns_module:
                    # The backend module (backend/pdns), zone cache on: ENTs are NODATA here.
                    settings = {"launch": "automap", "module-dir": os.path.abspath(args.pdns_module),
                                "automap-config": conf, "zone-cache-refresh-interval": "300"}
                    with PdnsServer(settings) as pdns:
                        before = len(FAILURES)
                        n = run_table_pdns(cases, pdns.port, "module", pipe_limits=False)
                        check(pdns.alive(), "pdns_server alive after the table (module)")
                        if len(FAILURES) > before:
                            print(pdns.log()[-3000:])
                        summary.append("PowerDNS 4.7 module %s: %d queries" % (name, n))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(summary))
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
