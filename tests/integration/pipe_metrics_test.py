#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Pipe lines by verb on /metrics (issue 12 section 3), real processes:

`automapd serve` with `http:` and `pipe: { counters_dir: DIR }`, and a real pdns_server whose
`automapd pipe` coprocesses (two distributor threads: two processes) read the same config.
After N queries through PowerDNS, /metrics shows automap_pipe_lines_total{verb="Q"} >= N and
automap_pipe_processes = the live coprocess files; a file left by a dead pid is pruned and not
summed; after pdns_server stops (it SIGKILLs its coprocesses), their files are pruned by the
next scrape and the gauge is 0. `promtool check metrics` accepts the output when installed.

usage: pipe_metrics_test.py AUTOMAPD [PROMTOOL]
"""
import os
import re
import struct
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from config import HEAD, PREFIX_V4  # noqa: E402
from pdns import PdnsServer, pipe_settings  # noqa: E402

CONFIG = HEAD + PREFIX_V4 + """\
http: { listen: [127.0.0.1:0] }
pipe: { counters_dir: @DIR@/pipe }
"""
QUERIES = 25


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def value(text, series):
    m = re.search(r"^%s (\S+)$" % re.escape(series), text, re.M)
    return float(m.group(1)) if m else None


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def stale_file(directory, pid):
    """A well-formed counter file (backend/pipe/counters.h) of a process that is gone."""
    path = os.path.join(directory, "pipe-%d.counters" % pid)
    with open(path, "wb") as f:
        f.write(b"AMAPPIPE" + struct.pack("=IIQQ", 1, 5, pid, 12345) +
                struct.pack("=5Q", 0, 1000000, 0, 0, 0))
    return path


def main():
    automapd = sys.argv[1]
    promtool = sys.argv[2] if len(sys.argv) > 2 and os.access(sys.argv[2], os.X_OK) else None
    with Automapd(automapd, CONFIG, threads=1) as amap:
        check(amap.wait_log("listening http"), "the http listener is logged", amap.stderr())
        port = int(re.search(r"listening http 127\.0\.0\.1:(\d+)", amap.stderr()).group(1))
        counters = os.path.join(amap.dir, "pipe")
        os.mkdir(counters)
        stale = stale_file(counters, dead_pid())
        text = scrape(port)
        check(value(text, "automap_pipe_processes") == 0, "no coprocess yet", text)
        check(value(text, 'automap_pipe_lines_total{verb="Q"}') == 0,
              "the dead pid's lines are not summed", text)
        check(not os.path.exists(stale), "the dead pid's file is pruned", os.listdir(counters))

        settings = pipe_settings("%s pipe -c %s" % (automapd, amap.config), abi=5,
                                 distributor_threads="2")
        with PdnsServer(settings) as pdns:
            for i in range(QUERIES):
                r = pdns.query("ip-10-0-0-%d.pool.example.net." % (i + 1), "A")
                check(len(r.answer) == 1, "query %d answered through the pipe" % i, r)
            text = scrape(port)
            files = [f for f in os.listdir(counters) if f.endswith(".counters")]
            q = value(text, 'automap_pipe_lines_total{verb="Q"}')
            check(q is not None and q >= QUERIES, "Q lines >= %d queries" % QUERIES, text)
            check(value(text, 'automap_pipe_lines_total{verb="HELO"}') == len(files),
                  "one HELO per coprocess file", (files, text))
            check(value(text, 'automap_pipe_lines_total{verb="bad"}') == 0, "no bad line", text)
            procs = value(text, "automap_pipe_processes")
            check(procs is not None and procs >= 1 and procs == len(files),
                  "automap_pipe_processes = the live coprocess files (>= 1)", (files, text))
            if promtool:
                r = subprocess.run([promtool, "check", "metrics"], input=text,
                                   capture_output=True, text=True, timeout=30)
                check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
                      "promtool check metrics: no problem", r.stdout + r.stderr)
        # The coprocesses end with pdns_server (EOF, or its SIGTERM/SIGKILL): the files that
        # an ending did not remove are pruned by a scrape. Bounded wait for them to end.
        deadline = time.monotonic() + 5
        while True:
            text = scrape(port)
            if value(text, "automap_pipe_processes") == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check(value(text, "automap_pipe_processes") == 0, "no live coprocess after pdns", text)
        check(value(text, 'automap_pipe_lines_total{verb="Q"}') == 0,
              "the ended coprocesses' lines are gone", text)
        check(os.listdir(counters) == [], "their files are gone", os.listdir(counters))
    return summary()


if __name__ == "__main__":
    started = time.monotonic()
    rc = main()
    print("pipe_metrics: %.1f s" % (time.monotonic() - started))
    sys.exit(rc)
