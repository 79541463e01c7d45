#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TCP fairness of `automapd serve` (config `tcp:`); the whole of 127/8 is loopback on Linux, so
each 127.0.0.x source address is another client.

(a) Per-client cap: one client opens the cap + 3 connections; the 3 excess ones are closed at
    once, the ones within the cap still answer, and another client address still gets answers.
    A reload that lowers the cap applies it.
(b) Pressure (RFC 7766 6.2.3): with more than 3/4 of the slots open, idle connections are closed
    after busy_idle_timeout_ms instead of idle_timeout_ms; without pressure they are not.
(c) Memory: 256 connections (16 client addresses x the default per-client cap of 16) each
    asking one query, then closed: the server's VmRSS comes back down near where it was.

usage: server_tcp_test.py AUTOMAPD
"""
import os
import select
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.message  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.reversename  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from config import HEAD_SOA_TIMERS, PREFIX_V4  # noqa: E402

BASE = HEAD_SOA_TIMERS + PREFIX_V4


def connect(port, source):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def query_bytes(addr="10.1.2.3"):
    w = dns.message.make_query(dns.reversename.from_address(addr), dns.rdatatype.PTR).to_wire()
    return struct.pack("!H", len(w)) + w


def answered(s, addr="10.1.2.3"):
    """Sends one PTR query on s; True when the right answer comes back."""
    try:
        s.sendall(query_bytes(addr))
        head = s.recv(2, socket.MSG_WAITALL)
        if len(head) != 2:
            return False
        body = s.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
        r = dns.message.from_wire(body)
        return [rd.to_text() for rrset in r.answer for rd in rrset] == \
            ["ip-%s.pool.example.net." % addr.replace(".", "-")]
    except OSError:
        return False


def closed_within(s, seconds):
    """True when the server closes s (EOF or reset) within `seconds`."""
    r, _, _ = select.select([s], [], [], seconds)
    if not r:
        return False
    try:
        return s.recv(1) == b""
    except OSError:
        return True


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def test_per_client_cap(automapd):
    cfg = BASE + "tcp: { max_connections: 64, max_connections_per_client: 4 }\n"
    with Automapd(automapd, cfg) as server:
        port = server.port
        held = [connect(port, "127.0.0.1") for _ in range(4)]
        check(all(answered(s) for s in held), "the client's first 4 connections answer")
        excess = [connect(port, "127.0.0.1") for _ in range(3)]
        check(all(closed_within(s, 2) for s in excess),
              "connections over the per-client cap are closed at once")
        other = connect(port, "127.0.0.2")
        check(answered(other), "another client address still gets answers")
        check(all(answered(s) for s in held), "the capped client's own connections still answer")
        for s in held + excess + [other]:
            s.close()
        # A slot freed by the client is its to use again.
        time.sleep(0.3)
        again = connect(port, "127.0.0.1")
        check(answered(again), "after closing, the client may connect again")
        again.close()

        # A reload applies a changed tcp: section (no restart): now 2 per client.
        with open(server.config, "w") as f:
            f.write(BASE + "tcp: { max_connections: 64, max_connections_per_client: 2 }\n")
        before = server.count("reloaded app generation=")
        server.signal(signal.SIGHUP)
        check(server.wait_log("reloaded app generation=", before + 1), "reload accepted",
              server.stderr()[-1000:])
        time.sleep(0.2)
        two = [connect(port, "127.0.0.3") for _ in range(2)]
        third = connect(port, "127.0.0.3")
        check(all(answered(s) for s in two), "after the reload, 2 connections per client answer")
        check(closed_within(third, 2), "after the reload, the third one is closed at once")
        for s in two + [third]:
            s.close()


def test_pressure(automapd):
    # 16 slots, 4 per client: 12 open is exactly 3/4 (no pressure), 13 is more.
    cfg = BASE + ("tcp: { max_connections: 16, max_connections_per_client: 4, "
                  "idle_timeout_ms: 8000, busy_idle_timeout_ms: 300 }\n")
    with Automapd(automapd, cfg) as server:
        port = server.port
        conns = [connect(port, "127.0.0.%d" % (1 + i // 4)) for i in range(12)]
        check(all(answered(s) for s in conns), "12 connections answer")
        check(not any(closed_within(s, 0) for s in conns) and not closed_within(conns[0], 1.0),
              "at 3/4 of the slots, idle connections stay beyond busy_idle_timeout_ms")
        start = time.monotonic()
        extra = connect(port, "127.0.0.4")
        deadline = start + 3
        closed = [closed_within(s, max(0.0, deadline - time.monotonic())) for s in conns]
        took = time.monotonic() - start
        check(all(closed), "above 3/4, the idle connections are closed early (%d of 12)" %
              sum(closed))
        check(took < 3, "well before idle_timeout_ms (%.1f s)" % took)
        # With the pressure gone, a new connection gets the full idle timeout again.
        fresh = connect(port, "127.0.0.5")
        check(answered(fresh), "a new connection answers")
        check(not closed_within(fresh, 1.5), "without pressure, idle_timeout_ms applies again")
        for s in conns + [extra, fresh]:
            s.close()


def test_rss_after_close(automapd):
    with Automapd(automapd, BASE) as server:
        port, pid = server.port, server.proc.pid
        warm = connect(port, "127.0.0.1")
        check(answered(warm), "warm-up query")
        warm.close()
        time.sleep(0.5)
        base = vm_rss_kb(pid)
        conns = []
        for i in range(256):
            s = connect(port, "127.0.0.%d" % (10 + i // 16))
            conns.append(s)
        ok = sum(1 for i, s in enumerate(conns) if answered(s, "10.7.%d.%d" % (i // 256, i % 256)))
        check(ok == 256, "256 connections from 16 addresses all answer (%d)" % ok)
        peak = vm_rss_kb(pid)
        for s in conns:
            s.close()
        # The server notices the closes on its TCP thread; give it a bounded moment.
        deadline = time.monotonic() + 5
        after = vm_rss_kb(pid)
        while time.monotonic() < deadline and after - base > 4096:
            time.sleep(0.1)
            after = vm_rss_kb(pid)
        print("VmRSS kB: before %d, with 256 connections %d, after closing %d" % (base, peak, after),
              flush=True)
        check(after - base <= 4096,
              "RSS back within 4 MiB of where it was after 256 connections closed "
              "(before %d kB, peak %d kB, after %d kB)" % (base, peak, after))


def main():
    automapd = sys.argv[1]
    test_per_client_cap(automapd)
    test_pressure(automapd)
    test_rss_after_close(automapd)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
