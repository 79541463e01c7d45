#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SIGHUP reload of `automapd serve` with an override store, under query load.

(a) A steady stream of UDP and TCP queries runs through every reload: SIGHUP with the file
    unchanged (three times), with a prefix added (twice more), and with store.path moved to a
    new directory. Each reload must be logged as accepted, the added prefix answered, every
    query answered with the right name (nothing lost, no SERVFAIL), and overrides added with
    mapctl after the reloads served, from the new store after the move.
(b) `listen:` changed by a reload: the new port answers and the old one is closed; an address
    kept in the list keeps its socket (its port is not rebound). A reload whose new address
    cannot be bound (held by another socket) is rejected: the log names the address and the
    error, the old port keeps answering and the old configuration keeps serving.

usage: server_reload_test.py AUTOMAPD MAPCTL
"""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.reversename  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from config import HEAD_SOA_TIMERS, PREFIX_V4  # noqa: E402

BASE = HEAD_SOA_TIMERS + PREFIX_V4
EXTRA_PREFIX = """\
  - prefix: 192.0.2.0/24
    name: "static-{d}.pool.example.net."
"""


def config(store, extra="", listen=None):
    text = BASE + extra + "store: { path: %s, map_size: 64MiB }\n" % store
    if listen:
        text += "listen: [%s]\n" % ", ".join('"%s"' % l for l in listen)
    return text


def ptr_query(addr):
    return dns.message.make_query(dns.reversename.from_address(addr), dns.rdatatype.PTR)


def ptr(port, addr, host="127.0.0.1", timeout=2.0):
    """(rcode text, [PTR targets])."""
    r = dns.query.udp(ptr_query(addr), host, port=port, timeout=timeout)
    return dns.rcode.to_text(r.rcode()), sorted(rd.to_text() for rrset in r.answer for rd in rrset)


def mapctl(binary, config_path, *args):
    p = subprocess.run([binary, "-c", config_path] + list(args), capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, "mapctl %s exits 0" % " ".join(args), p.stdout + p.stderr)


class QueryStream:
    """Threads that query without pause until stopped: `udp_threads` over UDP, one over a single
    long-lived TCP connection (which must survive the reloads). Every query is for a random
    address of 10.0.0.0/8 and must come back NOERROR with its synthesized name."""

    def __init__(self, port, udp_threads=2):
        self.port = port
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.answered = 0
        self.tcp_sent = 0
        self.problems = []
        self.threads = [threading.Thread(target=self.run_udp, args=(i,)) for i in range(udp_threads)]
        self.threads.append(threading.Thread(target=self.run_tcp))
        for t in self.threads:
            t.start()

    def record(self, addr, rcode, names):
        want = ["ip-%s.pool.example.net." % addr.replace(".", "-")]
        with self.lock:
            self.sent += 1
            if rcode == "NOERROR" and names == want:
                self.answered += 1
            elif len(self.problems) < 20:
                self.problems.append("%s: %s %s" % (addr, rcode, names))

    def run_udp(self, seed):
        rnd = random.Random(seed)
        while not self.stop_flag.is_set():
            addr = "10.%d.%d.%d" % (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
            try:
                rcode, names = ptr(self.port, addr)
            except dns.exception.Timeout:
                rcode, names = "TIMEOUT", []
            self.record(addr, rcode, names)

    def run_tcp(self):
        rnd = random.Random(99)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            while not self.stop_flag.is_set():
                addr = "10.%d.%d.%d" % (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
                try:
                    dns.query.send_tcp(s, ptr_query(addr))
                    r, _ = dns.query.receive_tcp(s, expiration=time.time() + 5)
                    rcode = dns.rcode.to_text(r.rcode())
                    names = sorted(rd.to_text() for rrset in r.answer for rd in rrset)
                except (dns.exception.Timeout, OSError, EOFError) as e:
                    rcode, names = "TCP " + type(e).__name__, []
                self.record(addr, rcode, names)
                self.tcp_sent += 1
                if rcode.startswith("TCP"):
                    return

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=15)


def reload_and_wait(server, what, config_text=None):
    """Rewrites the config (when given), sends SIGHUP and waits for the "reloaded" log line."""
    if config_text is not None:
        with open(server.config, "w") as f:
            f.write(config_text)
    before = server.count("reloaded app generation=")
    server.signal(signal.SIGHUP)
    ok = server.wait_log("reloaded app generation=", before + 1, timeout=15)
    check(ok, "reload accepted: " + what, server.stderr()[-2000:])


def test_reload_under_load(automapd, mapctl_bin):
    d = os.path.join("@DIR@", "store")
    with Automapd(automapd, config(d), threads=2) as server:
        store = os.path.join(server.dir, "store")
        port = server.port
        check(ptr(port, "192.0.2.5")[0] == "REFUSED", "192.0.2.0/24 is not served before")
        stream = QueryStream(port)
        try:
            time.sleep(0.5)
            for i in range(3):
                reload_and_wait(server, "unchanged config #%d" % (i + 1))
                time.sleep(0.3)
            reload_and_wait(server, "a prefix added", config(store, EXTRA_PREFIX))
            time.sleep(0.3)
            check(ptr(port, "192.0.2.5") == ("NOERROR", ["static-5.pool.example.net."]),
                  "the added prefix is answered", ptr(port, "192.0.2.5"))
            for i in range(2):
                reload_and_wait(server, "after the change #%d" % (i + 1))
                time.sleep(0.3)
        finally:
            stream.stop()
        check(stream.sent > 100 and stream.tcp_sent > 20,
              "the query stream ran (%d queries, %d over TCP)" % (stream.sent, stream.tcp_sent))
        check(stream.answered == stream.sent,
              "every query answered right through 6 reloads: %d of %d" %
              (stream.answered, stream.sent), "\n".join(stream.problems))
        check(server.count("reload rejected") == 0 and server.count("reload failed") == 0,
              "no reload rejected", server.stderr()[-2000:])
        print("reload under load: %d queries (%d over TCP), %d answered, 6 reloads" %
              (stream.sent, stream.tcp_sent, stream.answered), flush=True)

        # Overrides written after the reloads are served (the reloaded mapper reads the store).
        mapctl(mapctl_bin, server.config, "add", "10.9.8.7", "after-reload.pool.example.net.")
        mapctl(mapctl_bin, server.config, "add", "192.0.2.9", "nine.pool.example.net.")
        check(ptr(port, "10.9.8.7") == ("NOERROR", ["after-reload.pool.example.net."]),
              "an override added after the reloads is served", ptr(port, "10.9.8.7"))
        check(ptr(port, "192.0.2.9") == ("NOERROR", ["nine.pool.example.net."]),
              "an override inside the added prefix is served", ptr(port, "192.0.2.9"))

        # store.path moved to a directory that does not exist yet: created, and served from.
        store2 = os.path.join(server.dir, "store2")
        reload_and_wait(server, "store.path changed", config(store2, EXTRA_PREFIX))
        check(os.path.exists(os.path.join(store2, "data.mdb")), "the new store was created")
        check(ptr(port, "10.9.8.7") == ("NOERROR", ["ip-10-9-8-7.pool.example.net."]),
              "the old store's override is gone with the old path", ptr(port, "10.9.8.7"))
        mapctl(mapctl_bin, server.config, "add", "10.9.8.6", "in-store2.pool.example.net.")
        check(ptr(port, "10.9.8.6") == ("NOERROR", ["in-store2.pool.example.net."]),
              "an override in the new store is served", ptr(port, "10.9.8.6"))
        # And back to the first store, which this process had open before.
        reload_and_wait(server, "store.path changed back", config(store, EXTRA_PREFIX))
        check(ptr(port, "10.9.8.7") == ("NOERROR", ["after-reload.pool.example.net."]),
              "back on the first store, its override is served", ptr(port, "10.9.8.7"))
        rc = server.stop()
        check(rc == 0, "SIGTERM exit 0 (got %s)" % rc)


def listening_port(server, addr):
    """The port of the last "listening udp ADDR:PORT" line, or None."""
    ports = re.findall(r"listening udp %s:(\d+)" % re.escape(addr), server.stderr())
    return int(ports[-1]) if ports else None


def answers(host, port):
    """True when a PTR query over UDP and one over TCP to host:port both get the right answer."""
    want = ["ip-10-1-2-3.pool.example.net."]
    try:
        udp_ok = ptr(port, "10.1.2.3", host=host, timeout=1.0) == ("NOERROR", want)
        r = dns.query.tcp(ptr_query("10.1.2.3"), host, port=port, timeout=2.0)
        tcp_ok = sorted(rd.to_text() for rrset in r.answer for rd in rrset) == want
        return udp_ok and tcp_ok
    except (dns.exception.Timeout, OSError):
        return False


def closed(host, port):
    """True when host:port refuses TCP and does not answer UDP."""
    try:
        socket.create_connection((host, port), timeout=1.0).close()
        return False
    except OSError:
        pass
    try:
        ptr(port, "10.1.2.3", host=host, timeout=0.5)
        return False
    except (dns.exception.Timeout, OSError):
        return True


def test_listen_change(automapd):
    listen_a = ["127.0.0.1:0", "127.0.0.2:0"]
    with Automapd(automapd, config("@DIR@/store", listen=listen_a), listen=None) as server:
        store = os.path.join(server.dir, "store")
        server.wait_log("listening tcp 127.0.0.2:")  # Automapd returns at the first address
        p1, p2 = listening_port(server, "127.0.0.1"), listening_port(server, "127.0.0.2")
        check(p1 and p2 and answers("127.0.0.1", p1) and answers("127.0.0.2", p2),
              "both configured addresses answer", server.stderr())
        kept_conn = socket.create_connection(("127.0.0.1", p1), timeout=5)

        # 127.0.0.2 replaced by 127.0.0.3: the new one answers, the old one is closed, and
        # 127.0.0.1 keeps its socket (same port, not bound again) and its TCP connections.
        reload_and_wait(server, "listen changed", config(store, listen=["127.0.0.1:0", "127.0.0.3:0"]))
        server.wait_log("listening tcp 127.0.0.3:")
        p3 = listening_port(server, "127.0.0.3")
        check(p3 is not None and answers("127.0.0.3", p3), "the new listen address answers",
              server.stderr()[-2000:])
        check(closed("127.0.0.2", p2), "the dropped listen address is closed")
        check(server.wait_log("closed udp+tcp 127.0.0.2:%d" % p2), "the close is logged")
        check(answers("127.0.0.1", p1) and server.count("listening udp 127.0.0.1:") == 1,
              "the kept address keeps its socket", server.stderr()[-2000:])
        dns.query.send_tcp(kept_conn, ptr_query("10.1.2.3"))
        r, _ = dns.query.receive_tcp(kept_conn, expiration=time.time() + 5)
        check([rd.to_text() for rrset in r.answer for rd in rrset] == ["ip-10-1-2-3.pool.example.net."],
              "a TCP connection to the kept address survives the reload")
        kept_conn.close()

        # A new address that cannot be bound (its port is held here, without SO_REUSEPORT):
        # the reload is refused as a whole, the log says which address and why, the old
        # sockets keep serving and the old config too (the prefix added with it is not served).
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        blocker.bind(("127.0.0.4", 0))
        busy = blocker.getsockname()[1]
        before = server.count("reload failed")
        with open(server.config, "w") as f:
            f.write(config(store, EXTRA_PREFIX, listen=["127.0.0.1:0", "127.0.0.4:%d" % busy]))
        server.signal(signal.SIGHUP)
        check(server.wait_log("reload failed", before + 1),
              "a reload whose address cannot be bound is refused", server.stderr()[-2000:])
        log = server.stderr()
        check("cannot listen on udp 127.0.0.4:%d: Address already in use" % busy in log,
              "the refusal names the address and the error", log[-2000:])
        check("keeping the old app and listen addresses" in log, "the refusal says what is kept")
        check(answers("127.0.0.1", p1) and answers("127.0.0.3", p3),
              "the old listen addresses still answer after the refused reload")
        check(ptr(p1, "192.0.2.5")[0] == "REFUSED",
              "the refused reload's config is not served", ptr(p1, "192.0.2.5"))
        blocker.close()
        # Once the port is free, the same file reloads.
        reload_and_wait(server, "the address is free again")
        check(answers("127.0.0.4", busy), "the address bound after it was freed answers")
        check(ptr(p1, "192.0.2.5") == ("NOERROR", ["static-5.pool.example.net."]),
              "and its config is served")
        check(closed("127.0.0.3", p3), "127.0.0.3 is closed once dropped")
        rc = server.stop()
        check(rc == 0, "SIGTERM exit 0 (got %s)" % rc)


def main():
    automapd, mapctl_bin = sys.argv[1], sys.argv[2]
    test_reload_under_load(automapd, mapctl_bin)
    test_listen_change(automapd)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
