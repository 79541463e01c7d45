#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""automapd serve speaks the readiness protocol to a NOTIFY_SOCKET this test owns.

Usage: notify_test.py AUTOMAPD

systemd may not be PID 1 here, so the test plays the service manager: a datagram socket
named by $NOTIFY_SOCKET (a path, then an abstract "@name"). It checks READY=1 arrives only
once the listener answers and the store exists, RELOADING=1 with MONOTONIC_USEC then READY=1
with a STATUS around a good and a bad reload, STOPPING=1 on SIGTERM, and WATCHDOG=1 pings
every half $WATCHDOG_USEC (none when $WATCHDOG_PID names another process). That the pings stop
when a worker is stuck is tests/unit/server_watchdog_test.cpp (Server::stalled).
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import dns.message
import dns.query

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, summary  # noqa: E402

CONFIG = """
soa:  { mname: ns1.example.net., rname: hostmaster.example.net. }
ns:   [ns1.example.net.]
zones: [{ name: pool.example.net. }]
prefixes:
  - prefix: 10.0.0.0/8
    name: "ip-{a}-{b}-{c}-{d}.pool.example.net."
store: { path: %s/store }
"""


def receive(sock, timeout=15, periodic=False):
    """The next datagram; the periodic STATUS lines (every 10 s) are skipped unless
    `periodic`, then only they are returned."""
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            message = sock.recv(4096).decode()
        except socket.timeout:
            return None
        f = fields(message)
        is_periodic = set(f) == {"STATUS"} and "q/s" in f["STATUS"]
        if is_periodic == periodic:
            return message


def fields(message):
    return dict(line.split("=", 1) for line in (message or "").splitlines() if "=" in line)


def run_case(automapd, tmp, address, label):
    config = os.path.join(tmp, "automap.yaml")
    with open(config, "w") as f:
        f.write(CONFIG % tmp)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + address[1:] if address.startswith("@") else address)
    log = open(os.path.join(tmp, "stderr-%s.log" % label), "w+")
    proc = subprocess.Popen([automapd, "serve", "-c", config, "--listen", "127.0.0.1:0",
                             "--threads", "1"], stderr=log, stdout=subprocess.DEVNULL,
                            env=dict(os.environ, NOTIFY_SOCKET=address))
    try:
        ready = receive(sock)
        f = fields(ready)
        check(f.get("READY") == "1" and
              re.match(r"serving, generation 1, serial [1-9]\d*$", f.get("STATUS", "")),
              "%s: READY=1 with a STATUS at start, the config serial in it (%r)" % (label, ready))
        # At READY the listener is bound and the store open: a query answers at once.
        log.flush()
        text = open(log.name).read()
        port = re.search(r"listening udp [^ ]*:(\d+)", text)
        check(port is not None, "%s: the listen port is logged before READY" % label)
        check(os.path.exists(os.path.join(tmp, "store", "data.mdb")),
              "%s: the store exists at READY" % label)
        if port:
            q = dns.message.make_query("1.2.3.10.in-addr.arpa.", "PTR")
            r = dns.query.udp(q, "127.0.0.1", port=int(port.group(1)), timeout=2)
            check([rr.to_text() for rr in r.answer] ==
                  ["1.2.3.10.in-addr.arpa. 3600 IN PTR ip-10-3-2-1.pool.example.net."],
                  "%s: answers right after READY" % label)

        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        proc.send_signal(signal.SIGHUP)
        reloading, done = receive(sock), receive(sock)
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        f = fields(reloading)
        usec = int(f.get("MONOTONIC_USEC", "0"))
        check(f.get("RELOADING") == "1" and before <= usec <= after,
              "%s: RELOADING=1 with MONOTONIC_USEC on SIGHUP (%r)" % (label, reloading))
        f = fields(done)
        check(f.get("READY") == "1" and f.get("STATUS", "").startswith("reloaded"),
              "%s: READY=1 and STATUS after the reload (%r)" % (label, done))

        with open(config, "a") as f:
            f.write("bogus_key: 1\n")
        proc.send_signal(signal.SIGHUP)
        reloading, done = receive(sock), receive(sock)
        check(fields(reloading).get("RELOADING") == "1",
              "%s: RELOADING=1 on a bad reload (%r)" % (label, reloading))
        f = fields(done)
        check(f.get("READY") == "1" and "reload failed" in f.get("STATUS", ""),
              "%s: READY=1 and a failure STATUS after a bad reload (%r)" % (label, done))

        if label == "path socket":
            # Every 10 s: the generation, the config serial (the SOA serial), q/s and the reload
            # results (one good, one bad).
            status = fields(receive(sock, timeout=13, periodic=True)).get("STATUS", "")
            check(re.fullmatch(r"serving, generation 2, serial [1-9]\d*, \d+ q/s, reloads 1 ok 1 failed",
                               status)
                  is not None, "%s: a periodic STATUS with q/s and reloads (%r)" % (label, status))

        proc.send_signal(signal.SIGTERM)
        stopping = receive(sock)
        check(fields(stopping).get("STOPPING") == "1", "%s: STOPPING=1 on SIGTERM (%r)" %
              (label, stopping))
        check(proc.wait(timeout=15) == 0, "%s: exit status 0" % label)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        sock.close()
        log.close()


def watchdog_case(automapd, tmp, env, label):
    """Counts WATCHDOG=1 pings for 2 s after READY=1."""
    config = os.path.join(tmp, "automap.yaml")
    with open(config, "w") as f:
        f.write(CONFIG % tmp)
    address = os.path.join(tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    proc = subprocess.Popen([automapd, "serve", "-c", config, "--listen", "127.0.0.1:0",
                             "--threads", "1"], stderr=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            env=dict(os.environ, NOTIFY_SOCKET=address, **env))
    pings = 0
    try:
        ready = receive(sock)
        check(fields(ready).get("READY") == "1", "%s: READY=1 (%r)" % (label, ready))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            message = receive(sock, max(0.01, deadline - time.monotonic()))
            if message is not None and fields(message).get("WATCHDOG") == "1":
                pings += 1
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(timeout=15) == 0, "%s: exit status 0" % label)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        sock.close()
    return pings


def main():
    automapd = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="automap-notify-") as tmp:
        run_case(automapd, tmp, os.path.join(tmp, "notify.sock"), "path socket")
    with tempfile.TemporaryDirectory(prefix="automap-notify-") as tmp:
        run_case(automapd, tmp, "@automap-notify-test-%d" % os.getpid(), "abstract socket")
    with tempfile.TemporaryDirectory(prefix="automap-notify-") as tmp:
        # WATCHDOG_USEC=400 ms: a ping every 200 ms, so about 10 in 2 s.
        pings = watchdog_case(automapd, tmp, {"WATCHDOG_USEC": "400000"}, "watchdog")
        check(pings >= 5, "watchdog: WATCHDOG=1 every half WATCHDOG_USEC (%d in 2 s)" % pings)
    with tempfile.TemporaryDirectory(prefix="automap-notify-") as tmp:
        pings = watchdog_case(automapd, tmp, {"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"},
                              "watchdog for another pid")
        check(pings == 0, "watchdog for another pid: no WATCHDOG=1 (%d)" % pings)
    sys.exit(summary())


if __name__ == "__main__":
    main()
