#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Start-up of `automapd serve`: the thread bound, and SIGTERM/SIGINT during a long start-up.

(a) --threads above the bound (1024 UDP workers per listen address) is refused at once with a
    clear error, before anything is loaded or bound; so is a listen address that does not
    parse, with one "server: " prefix.
(b) SIGTERM while the server binds 8 addresses x 1024 UDP workers (seconds): it stops there,
    exit 0, promptly, and says so; not every address got to listen.
(c) SIGTERM / SIGINT while a large config (150k prefixes) is being loaded: exit 0 at once,
    logged, nothing bound. SIGHUP then is ignored (logged): start-up goes on.

usage: server_startup_test.py AUTOMAPD
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from config import HEAD_SOA_TIMERS, PREFIX_V4  # noqa: E402

SMALL = HEAD_SOA_TIMERS + PREFIX_V4


def wait_exit(server, timeout):
    """The exit code, or None if still running after `timeout` seconds (then killed)."""
    try:
        return server.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        return None


def test_thread_bound(automapd):
    for n in ("100000", "1025"):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "automap.yaml")
            with open(path, "w") as f:
                f.write(SMALL)
            start = time.monotonic()
            try:
                p = subprocess.run([automapd, "serve", "-c", path, "--listen", "127.0.0.1:0",
                                    "--threads", n], capture_output=True, text=True, timeout=15)
            except subprocess.TimeoutExpired as e:
                check(False, "--threads %s is refused (still running after 15 s)" % n,
                      (e.stderr or b"")[-2000:])
                continue
            took = time.monotonic() - start
        check(p.returncode == 1, "--threads %s exits 1 (got %s)" % (n, p.returncode), p.stderr)
        check("--threads %s: at most 1024 UDP worker threads per listen address" % n in p.stderr,
              "--threads %s: the error names the bound" % n, p.stderr)
        check("listening" not in p.stderr and "starting" not in p.stderr,
              "--threads %s: nothing started" % n, p.stderr)
        check(took < 5, "--threads %s refused at once (%.1f s)" % (n, took))


def test_bad_listen_message(automapd):
    """Issue 12 section 6: a listen address that does not parse is refused with one "server: "
    prefix (it was logged as "server: server: bad listen address")."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "automap.yaml")
        with open(path, "w") as f:
            f.write(SMALL)
        p = subprocess.run([automapd, "serve", "-c", path, "--listen", "300.1.2.3:53"],
                           capture_output=True, text=True, timeout=15)
    check(p.returncode == 1, "bad --listen exits 1 (got %s)" % p.returncode, p.stderr)
    check("automapd: error: server: bad listen address '300.1.2.3:53' (want ADDR:PORT or "
          "[ADDR]:PORT)" in p.stderr, "bad --listen: the error names the address", p.stderr)
    check("server: server:" not in p.stderr, "bad --listen: one prefix, not two", p.stderr)


def test_listen_localhost(automapd):
    """Issue 12 section 6: --listen localhost:PORT is refused (not resolved) with the literal
    addresses to give instead, before anything is bound."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "automap.yaml")
        with open(path, "w") as f:
            f.write(SMALL)
        p = subprocess.run([automapd, "serve", "-c", path, "--listen", "localhost:15353"],
                           capture_output=True, text=True, timeout=15)
    check(p.returncode == 1, "--listen localhost exits 1 (got %s)" % p.returncode, p.stderr)
    check("automapd: error: server: bad listen address 'localhost:15353': names are not "
          "resolved, use 127.0.0.1:15353 or [::1]:15353 (give both for both)" in p.stderr,
          "--listen localhost: the error gives the addresses to use", p.stderr)
    check("listening" not in p.stderr, "--listen localhost: nothing bound", p.stderr)


def test_sigterm_while_binding(automapd):
    listen = ["127.0.0.%d:0" % i for i in range(1, 9)]
    server = Automapd(automapd, SMALL, listen=listen, threads=1024, wait_port=False)
    try:
        check(server.wait_log("starting: 8 listen address(es), 1024 UDP worker(s) each", 1, 20),
              "start-up began", server.stderr())
        time.sleep(0.2)
        sent = time.monotonic()
        server.signal(signal.SIGTERM)
        rc = wait_exit(server, 20)
        took = time.monotonic() - sent
        log = server.stderr()
        check(rc == 0, "SIGTERM during start-up: exit 0 (got %s)" % rc, log)
        check("stopping on SIGTERM during start-up" in log, "the early stop is logged", log)
        check(took < 3, "it stopped promptly (%.1f s after the signal)" % took)
        check(server.count("listening tcp") < 8, "it stopped before every address listened", log)
        print("SIGTERM while binding 8 x 1024 workers: exit %s after %.2f s" % (rc, took), flush=True)
    finally:
        server.stop()


def big_config(prefixes):
    lines = [HEAD_SOA_TIMERS + "prefixes:\n"]
    for i in range(prefixes):
        lines.append('  - prefix: 10.%d.%d.%d/28\n    name: "h-{a}-{b}-{c}-{d}.pool.example.net."\n' %
                     (i >> 12, (i >> 4) & 255, (i & 15) * 16))
    return "".join(lines)


def test_signal_while_loading(automapd):
    text = big_config(150000)
    for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
        server = Automapd(automapd, text, wait_port=False)
        try:
            time.sleep(0.3)
            sent = time.monotonic()
            server.signal(sig)
            rc = wait_exit(server, 20)
            took = time.monotonic() - sent
            log = server.stderr()
            check("starting:" not in log, "%s: the signal came while the config was loading" % name, log)
            check(rc == 0, "%s while loading the config: exit 0 (got %s)" % (name, rc), log)
            check("stopping on %s during start-up" % name in log, "%s: logged" % name, log)
            check(took < 1, "%s: exits at once (%.2f s)" % (name, took))
        finally:
            server.stop()


def test_sighup_while_loading(automapd):
    server = Automapd(automapd, big_config(150000), wait_port=False)
    try:
        time.sleep(0.3)
        server.signal(signal.SIGHUP)
        check(server.wait_log("listening tcp", 1, 60), "SIGHUP while loading: start-up goes on",
              server.stderr()[-2000:])
        check("SIGHUP during start-up: ignored" in server.stderr(), "SIGHUP while loading: logged",
              server.stderr()[-2000:])
        check(server.proc.poll() is None, "SIGHUP while loading: still running")
    finally:
        rc = server.stop()
    check(rc == 0, "SIGHUP while loading, then SIGTERM: exit 0 (got %s)" % rc)


def main():
    automapd = sys.argv[1]
    test_thread_bound(automapd)
    test_bad_listen_message(automapd)
    test_listen_localhost(automapd)
    test_sigterm_while_binding(automapd)
    test_signal_while_loading(automapd)
    test_sighup_while_loading(automapd)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
