#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""amap::server over real sockets, checked with dnspython (an independent decoder).

Usage: server_wire_test.py PATH/TO/server_test_app
Starts the server on 127.0.0.1:0 and [::1]:0, reads the ports from its log, runs the
conformance and bad-input cases, then stops it with SIGTERM (exit 0 expected).
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import FAILURES, check, summary  # noqa: E402

TIMEOUT = 3.0
IDLE_MS = 1500
IO_MS = 500
MAX_TCP = 8


class Server:
    def __init__(self, binary):
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--listen", "[::1]:0", "--threads", "2",
             "--idle-ms", str(IDLE_MS), "--io-ms", str(IO_MS), "--max-tcp", str(MAX_TCP)],
            stderr=subprocess.PIPE, text=True)
        self.ports = {}
        self.log = []
        deadline = time.time() + 20
        while len(self.ports) < 2 and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"listening tcp (\S+):(\d+)", line)
            if m:
                self.ports["v6" if m.group(1).startswith("[") else "v4"] = int(m.group(2))
        if len(self.ports) < 2:
            raise SystemExit("server did not start: " + "".join(self.log))
        # Keep draining stderr so the server never blocks on a full pipe.
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)


def udp(q, port, host="127.0.0.1"):
    return dns.query.udp(q, host, port=port, timeout=TIMEOUT, ignore_trailing=False)


def tcp(q, port, host="127.0.0.1"):
    return dns.query.tcp(q, host, port=port, timeout=TIMEOUT)


def raw_udp(data, port, host="127.0.0.1", family=socket.AF_INET, expect=True):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(0.5 if not expect else TIMEOUT)
    try:
        s.sendto(data, (host, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None
    finally:
        s.close()


def hdr(flags, qd, an=0, ns=0, ar=0, qid=0xBEEF):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def qname_wire(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def question(name, qtype=1, qclass=1):
    return qname_wire(name) + struct.pack("!HH", qtype, qclass)


def opt(payload=1232, ttl=0, rdata=b""):
    return b"\x00" + struct.pack("!HHIH", 41, payload, ttl, len(rdata)) + rdata


def rcode_of(wire):
    return wire[3] & 0x0F


def alive(port, where):
    r = udp(dns.message.make_query("hello.example.", "SOA"), port)
    check(r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA, "alive after " + where)


def tcp_connect(port, host="127.0.0.1", family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect((host, port))
    return s


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_tcp_msg(s):
    h = recv_exact(s, 2)
    if h is None:
        return None
    return recv_exact(s, struct.unpack("!H", h)[0])


def closed_within(s, seconds):
    s.settimeout(seconds)
    try:
        return s.recv(1) == b""
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True


def soa_ttl(r):
    for rrset in r.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset.ttl
    return None


def test_semantics(p4):
    r = udp(dns.message.make_query("hello.example.", "TXT"), p4)
    check(r.rcode() == dns.rcode.NOERROR, "apex TXT NOERROR")
    check(r.flags & dns.flags.AA, "apex TXT AA")
    check(len(r.answer) == 1 and b"Hello World!" in r.answer[0][0].strings, "apex TXT data")

    r = udp(dns.message.make_query("example.org.", "A"), p4)
    check(r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA, "outside zones REFUSED, AA=0")
    check(not r.answer and not r.authority, "REFUSED has empty sections")

    r = udp(dns.message.make_query("nope.hello.example.", "A"), p4)
    check(r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA, "NXDOMAIN AA")
    check(soa_ttl(r) == 300, "NXDOMAIN SOA TTL = min(7200, 300)")

    r = udp(dns.message.make_query("www.hello.example.", "MX"), p4)
    check(r.rcode() == dns.rcode.NOERROR and not r.answer and soa_ttl(r) == 300, "NODATA with SOA")
    r = udp(dns.message.make_query("www.hello.example.", "TYPE65535"), p4)
    check(r.rcode() == dns.rcode.NOERROR and not r.answer and soa_ttl(r) == 300, "TYPE65535 NODATA")

    r = udp(dns.message.make_query("b.hello.example.", "A"), p4)
    check(r.rcode() == dns.rcode.NOERROR and not r.answer and soa_ttl(r) == 300, "ENT is NODATA")

    r = udp(dns.message.make_query("mx.hello.example.", "MX"), p4)
    check(len(r.answer) == 1 and str(r.answer[0][0].exchange) == "mail.hello.example.", "MX compression")
    r = udp(dns.message.make_query("1.2.0.192.in-addr.arpa.", "PTR"), p4)
    check(len(r.answer) == 1 and str(r.answer[0][0].target) == "www.hello.example.", "PTR")

    q = dns.message.make_query("www.hello.example.", "A")
    q.flags |= dns.flags.RD | dns.flags.AD | dns.flags.CD | dns.flags.AA | dns.flags.RA
    wire = bytearray(q.to_wire())
    wire[3] |= 0x40  # Z
    resp = raw_udp(bytes(wire), p4)
    r = dns.message.from_wire(resp)
    check(r.flags & dns.flags.RD, "RD echoed")
    check(not r.flags & (dns.flags.RA | dns.flags.AD | dns.flags.CD | dns.flags.TC), "RA/AD/CD/TC cleared")
    check(resp[3] & 0x40 == 0, "Z cleared")
    q = dns.message.make_query("www.hello.example.", "A")
    q.flags = 0
    check(not udp(q, p4).flags & dns.flags.RD, "RD not set when not asked")

    q = dns.message.make_query("WwW.HeLLo.ExAmPlE.", "A")
    resp = raw_udp(q.to_wire(), p4)
    check(b"\x03WwW\x05HeLLo\x07ExAmPlE\x00" in resp, "question case echoed byte for byte")
    check(dns.message.from_wire(resp).answer[0][0].address == "192.0.2.1", "mixed case answered")

    r = udp(dns.message.make_query("hello.example.", "TXT", use_edns=0, payload=4096), p4)
    check(r.edns == 0 and r.payload == 1232, "EDNS OPT with our payload 1232")
    r = udp(dns.message.make_query("hello.example.", "TXT", use_edns=False), p4)
    check(r.edns == -1, "no OPT without EDNS")

    q = dns.message.make_query("hello.example.", "SOA")
    q.use_edns(edns=1)
    check(q.to_wire()[-5] == 1, "test sends EDNS version 1")
    r = udp(q, p4)
    check(r.rcode() == dns.rcode.BADVERS and r.edns == 0, "BADVERS for version 1, OPT version 0")
    check(not r.answer and not r.authority and not r.flags & dns.flags.AA, "BADVERS no SOA, no AA")

    resp = raw_udp(hdr(0x0100, 1, ar=2) + question("hello.example.") + opt() + opt(), p4)
    check(resp is not None and rcode_of(resp) == dns.rcode.FORMERR, "two OPTs FORMERR")

    q = dns.message.make_query("big.hello.example.", "TXT")
    r = udp(q, p4)
    check(r.flags & dns.flags.TC and not r.answer, "big answer TC over UDP")
    r = tcp(q, p4)
    check(not r.flags & dns.flags.TC and len(r.answer[0]) == 40, "big answer full over TCP")

    q = dns.message.make_query("hello.example.", "TXT")
    q.set_opcode(dns.opcode.STATUS)
    check(udp(q, p4).rcode() == dns.rcode.NOTIMP, "opcode STATUS NOTIMP")
    q = dns.message.make_query("hello.example.", "AXFR")
    check(udp(q, p4).rcode() == dns.rcode.NOTIMP, "AXFR over UDP NOTIMP")
    check(tcp(q, p4).rcode() == dns.rcode.REFUSED, "AXFR over TCP REFUSED")
    q = dns.message.make_query("hello.example.", "ANY")
    check(udp(q, p4).flags & dns.flags.TC, "ANY over UDP TC")
    check(len(tcp(q, p4).answer) == 3, "ANY over TCP full")
    q = dns.message.make_query("version.bind.", "TXT", rdclass=dns.rdataclass.CH)
    check(udp(q, p4).rcode() == dns.rcode.REFUSED, "CH REFUSED")


def test_ipv6(p6):
    r = udp(dns.message.make_query("www.hello.example.", "AAAA"), p6, host="::1")
    check(r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "2001:db8::1", "IPv6 UDP")
    r = tcp(dns.message.make_query("www.hello.example.", "A"), p6, host="::1")
    check(r.answer[0][0].address == "192.0.2.1", "IPv6 TCP")


def test_bad_udp(p4):
    base = dns.message.make_query("hello.example.", "A", use_edns=False).to_wire()
    for n in range(1, 17):
        resp = raw_udp(b"\x00" * n, p4, expect=n >= 12)
        if n < 12:
            check(resp is None, "case 1: %d NUL bytes dropped" % n)
        else:
            check(resp is None or rcode_of(resp) == dns.rcode.FORMERR, "case 1: %d NULs" % n)
    alive(p4, "case 1")
    cases = {
        "2 QR=1": (bytes([base[0], base[1], base[2] | 0x80]) + base[3:], None),
        "3 opcode 15 header only": (hdr(15 << 11, 0), dns.rcode.NOTIMP),
        "4 opcode UPDATE": (hdr(5 << 11, 1) + question("hello.example."), dns.rcode.NOTIMP),
        "5 QDCOUNT=2": (hdr(0x100, 2) + question("hello.example.") * 2, dns.rcode.FORMERR),
        "6 QDCOUNT=0": (hdr(0, 0), dns.rcode.FORMERR),
        "6 QDCOUNT=0 + OPT": (hdr(0, 0, ar=1) + opt(), dns.rcode.FORMERR),
        "7 cut in name": (base[:16], dns.rcode.FORMERR),
        "7 cut in type": (base[:-3], dns.rcode.FORMERR),
        "8 pointer qname": (hdr(0, 1) + b"\xc0\x0c" + b"\x00\x01\x00\x01", dns.rcode.FORMERR),
        "8 forward pointer": (hdr(0, 1) + b"\xc0\x20" + b"\x00\x01\x00\x01", dns.rcode.FORMERR),
        "9 label 64": (hdr(0, 1) + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", dns.rcode.FORMERR),
        "9 name 257": (hdr(0, 1) + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01", dns.rcode.FORMERR),
        "9 label type 0x80": (hdr(0, 1) + b"\x80abc\x00\x00\x01\x00\x01", dns.rcode.FORMERR),
        "10 ANCOUNT=1": (hdr(0, 1, an=1) + question("hello.example."), dns.rcode.FORMERR),
        "10 ARCOUNT too big": (hdr(0, 1, ar=3) + question("hello.example.") + opt(), dns.rcode.FORMERR),
        "10 trailing garbage": (base + b"\x00\x00", dns.rcode.FORMERR),
        "11 OPT in answer": (hdr(0, 1, an=1) + question("hello.example.") + opt(), dns.rcode.FORMERR),
        "11 OPT non-root": (hdr(0, 1, ar=1) + question("hello.example.") + b"\x01x" + opt()[1:], dns.rcode.FORMERR),
        "12 EDNS version 1 + DO": (hdr(0, 1, ar=1) + question("hello.example.", 6) + opt(ttl=0x00018000), "badvers"),
        "13 option 100 + flag 0x40": (hdr(0, 1, ar=1) + question("hello.example.", 6) + opt(ttl=0x40, rdata=b"\x00\x64\x00\x01z"), dns.rcode.NOERROR),
        "16 class HS": (hdr(0, 1) + question("hello.example.", 1, 4), dns.rcode.REFUSED),
        "ECS bad family": (hdr(0, 1, ar=1) + question("hello.example.") + opt(rdata=b"\x00\x08\x00\x05\x00\x03\x08\x00\x0a"), dns.rcode.FORMERR),
    }
    for name, (data, want) in cases.items():
        resp = raw_udp(data, p4, expect=want is not None)
        if want is None:
            check(resp is None, "case %s: dropped" % name)
        elif want == "badvers":
            r = dns.message.from_wire(resp)
            check(r.rcode() == dns.rcode.BADVERS and r.edns == 0 and not r.authority, "case " + name)
        else:
            check(resp is not None and rcode_of(resp) == want,
                  "case %s: rcode %s" % (name, None if resp is None else rcode_of(resp)))
            if resp is not None and want == dns.rcode.FORMERR:
                check(resp[2] & 0x7F == 0 or resp[2] & 0x7F == 0x01 and data[2] & 0x01, "case %s: flags" % name)
        alive(p4, "case " + name)
    resp = raw_udp(cases["13 option 100 + flag 0x40"][0], p4)
    r = dns.message.from_wire(resp)
    check(not r.options and r.ednsflags == 0, "case 13: option not echoed, MBZ 0")


def test_tcp(p4):
    # Pipelining: three queries in one segment, three answers in order.
    qs = [dns.message.make_query(n, "A") for n in ("www.hello.example.", "nope.hello.example.", "example.org.")]
    s = tcp_connect(p4)
    s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in (q.to_wire() for q in qs)))
    answers = [dns.message.from_wire(read_tcp_msg(s)) for _ in qs]
    check([a.id for a in answers] == [q.id for q in qs], "pipelined answers in order")
    check([a.rcode() for a in answers] == [0, 3, 5], "pipelined rcodes")
    # The same connection stays usable; then idle timeout closes it.
    w = dns.message.make_query("hello.example.", "SOA").to_wire()
    s.sendall(struct.pack("!H", len(w)) + w)
    check(read_tcp_msg(s) is not None, "connection reuse")
    t0 = time.time()
    check(closed_within(s, IDLE_MS / 1000 + 2), "idle timeout closes")
    check(time.time() - t0 >= IDLE_MS / 1000 - 0.3, "idle timeout not early")
    s.close()

    # A query split into 1-byte segments (fast enough for the io timeout).
    s = tcp_connect(p4)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in struct.pack("!H", len(w)) + w:
        s.send(bytes([b]))
        time.sleep(0.002)
    check(read_tcp_msg(s) is not None, "1-byte segments answered")
    s.close()

    # Length prefix < 12 closes the connection.
    for n in (0, 1, 11):
        s = tcp_connect(p4)
        s.sendall(struct.pack("!H", n) + b"\x00" * n)
        check(closed_within(s, 2), "prefix %d closes" % n)
        s.close()
    # 0xFFFF then only 10 bytes: never read beyond, slow-message timeout closes it.
    s = tcp_connect(p4)
    s.sendall(b"\xff\xff" + b"\x00" * 10)
    check(closed_within(s, IO_MS / 1000 + 2), "0xFFFF + 10 bytes closed by io timeout")
    s.close()
    # Slow loris: 1 byte per 0.4 s after the prefix: the io timeout closes it.
    s = tcp_connect(p4)
    s.sendall(struct.pack("!H", len(w)))
    closed = False
    for b in w:
        try:
            s.send(bytes([b]))
        except OSError:
            closed = True
            break
        if closed_within(s, 0.4):
            closed = True
            break
    check(closed, "slow loris closed")
    s.close()
    # TCP: a dropped message (QR=1) does not kill the connection.
    s = tcp_connect(p4)
    bad = bytearray(w)
    bad[2] |= 0x80
    s.sendall(struct.pack("!H", len(bad)) + bytes(bad) + struct.pack("!H", len(w)) + w)
    r = read_tcp_msg(s)
    check(r is not None and dns.message.from_wire(r).rcode() == 0, "TCP after dropped message")
    s.close()

    # Connection cap: excess connections are closed at once; UDP unaffected.
    held = [tcp_connect(p4) for _ in range(MAX_TCP)]
    time.sleep(0.2)
    extra = tcp_connect(p4)
    check(closed_within(extra, 2), "connection over the cap closed")
    extra.close()
    alive(p4, "TCP cap reached")
    for h in held:
        h.close()
    time.sleep(0.3)
    r = tcp(dns.message.make_query("hello.example.", "SOA"), p4)
    check(r.rcode() == 0, "TCP works again after the cap")
    alive(p4, "TCP abuse")


def main():
    server = Server(sys.argv[1])
    p4, p6 = server.ports["v4"], server.ports["v6"]
    try:
        test_semantics(p4)
        test_ipv6(p6)
        test_bad_udp(p4)
        test_tcp(p4)
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        alive(p4, "SIGHUP reload")
        check(any("reloaded app" in l for l in server.log), "reload logged")
        check(server.proc.poll() is None, "server still running")
    finally:
        server.proc.send_signal(signal.SIGTERM)
        try:
            rc = server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            rc = "timeout"
        server.drain.join(timeout=2)
    check(rc == 0, "SIGTERM exit 0 (got %s)" % rc)
    if FAILURES:
        print("".join(server.log[-20:]))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
