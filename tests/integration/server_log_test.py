#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""automapd's log lines (issue 12 section 5): the journal form and `log.level`.

(a) stderr is the journal: JOURNAL_STREAM names the DEV:INO of the file automapd's stderr is
    (as systemd sets it for StandardError=journal). Every line is "<N>message": syslog
    priority, no program name, no timestamp. The listeners bound and a SIGHUP reload's result
    are <6> (info).
(b) JOURNAL_STREAM set but naming another file (a child whose stderr was redirected): the
    usual "automapd: info: ..." lines.
(c) log: { level: warning }: nothing below warning, while queries are answered and through a
    stop; a rejected reload's error is still written; a reload to level info shows its result.
(d) A bad level is a file:line:col error of checkconf (exit 1).

usage: server_log_test.py AUTOMAPD
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, summary  # noqa: E402
from config import HEAD, PREFIX_V4  # noqa: E402
from pdns import free_port  # noqa: E402  (one copy: lib/pdns.py)

CONFIG = HEAD + PREFIX_V4


def answers(port):
    q = dns.message.make_query(dns.reversename.from_address("10.1.2.3"), dns.rdatatype.PTR)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
            return dns.rcode.to_text(r.rcode()), [rd.to_text() for rr in r.answer for rd in rr]
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.05)
    return "TIMEOUT", []


def read(path):
    with open(path) as f:
        return f.read()


def wait_for(path, pattern, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, read(path), re.M):
            return True
        time.sleep(0.02)
    return False


class Run:
    """automapd serve on a free port with stderr into a file; journal=True sets JOURNAL_STREAM to
    that file's DEV:INO, journal="other" to another file's."""

    def __init__(self, binary, tmp, name, text, journal=False):
        self.config = os.path.join(tmp, name + ".yaml")
        with open(self.config, "w") as f:
            f.write(text)
        self.log = os.path.join(tmp, name + ".log")
        self.port = free_port()
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        self.err = open(self.log, "w")
        if journal:
            st = os.fstat(self.err.fileno()) if journal is True else os.stat(tmp)
            env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        self.proc = subprocess.Popen(
            [binary, "serve", "-c", self.config, "--threads", "1", "--listen",
             "127.0.0.1:%d" % self.port], stdout=subprocess.DEVNULL, stderr=self.err, env=env)

    def rewrite(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.err.close()
        return rc


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="automap-log-")

    # (a) the journal form
    run = Run(binary, tmp, "journal", CONFIG, journal=True)
    check(answers(run.port)[0] == "NOERROR", "(a) automapd answers")
    check(wait_for(run.log, r"^<6>listening tcp "), "(a) <6>listening tcp", read(run.log))
    run.proc.send_signal(signal.SIGHUP)
    check(wait_for(run.log, r"^<6>reloaded app generation=2( serial=\d+)?$"),
          "(a) the reload's result is <6>reloaded app generation=2", read(run.log))
    rc = run.stop()
    lines = read(run.log).splitlines()
    check(rc == 0 and lines, "(a) exit 0 with lines", lines)
    check(all(re.match(r"^<[3-7]>[a-z]", l) for l in lines),
          "(a) every line starts with <N> and a lower-case word", lines)
    check(not any(re.search(r"automapd|\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d", l) for l in lines),
          "(a) no program name and no timestamp of ours", lines)
    check(any(re.match(r"^<6>listening udp 127\.0\.0\.1:%d workers=1" % run.port, l) for l in lines),
          "(a) <6>listening udp ADDR:PORT", lines)
    check("<6>stopping on SIGTERM" in lines, "(a) <6>stopping on SIGTERM", lines)

    # (b) JOURNAL_STREAM of another file: the plain form
    run = Run(binary, tmp, "other", CONFIG, journal="other")
    check(answers(run.port)[0] == "NOERROR", "(b) automapd answers")
    check(wait_for(run.log, r"^automapd: info: listening tcp "), "(b) automapd: info: listening",
          read(run.log))
    run.stop()
    check(not re.search(r"^<\d>", read(run.log), re.M), "(b) no priority prefix", read(run.log))

    # (c) log.level
    quiet = CONFIG + "log: { level: warning }\n"
    run = Run(binary, tmp, "quiet", quiet)
    check(answers(run.port) == ("NOERROR", ["ip-10-1-2-3.pool.example.net."]),
          "(c) level warning: automapd answers")
    run.proc.send_signal(signal.SIGHUP)  # accepted: its info lines are not written
    time.sleep(0.5)
    check(read(run.log) == "", "(c) level warning: no line for start-up or reload",
          read(run.log))
    run.rewrite(quiet + "bogus: 1\n")
    run.proc.send_signal(signal.SIGHUP)
    check(wait_for(run.log, r"^automapd: error: .*bogus: unknown key"),
          "(c) level warning: a rejected reload's error is written", read(run.log))
    check("info:" not in read(run.log), "(c) ... and no info line", read(run.log))
    run.rewrite(CONFIG + "log: { level: info }\n")
    run.proc.send_signal(signal.SIGHUP)
    check(wait_for(run.log, r"^automapd: info: reloaded app generation=\d+( serial=\d+)?$"),
          "(c) a reload to level info logs its result", read(run.log))
    check(run.stop() == 0, "(c) exit 0")
    check("automapd: info: stopping on SIGTERM" in read(run.log), "(c) info lines from then on",
          read(run.log))

    # (d) a bad level
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write(CONFIG + "log:\n  level: loud\n")
    p = subprocess.run([binary, "checkconf", "-c", bad], capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 1 and
          "%s:9:10: log.level: expected debug, info, notice, warning or error" % bad in p.stderr,
          "(d) a bad level is a file:line:col error", p.stderr)
    shutil.rmtree(tmp, ignore_errors=True)

    sys.exit(summary())


if __name__ == "__main__":
    main()
