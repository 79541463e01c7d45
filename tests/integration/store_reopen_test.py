#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A store replaced under a running server is reopened by the server itself (issue 17.6),
with the real binaries on real files, while queries keep flowing:

- automapd serve: (a) the store directory removed and a different set imported with mapctl;
  (b) a copy made with mdb_copy moved over the live data.mdb (the same lock.mdb stays);
  (c) a damaged data.mdb moved in: refused and logged, the previous answers continue; then a
  good one moved in is served. Every query is answered (NOERROR, or SERVFAIL only at the
  switch of (b)), and the server logs each reopen;
  (d) a data.mdb moved in and a SIGHUP at once: the reloaded configuration serves it;
  (e) a compacted copy (mdb_copy -c) in a new directory swapped in;
- automapd pipe (the PowerDNS pipe protocol, spoken directly): (b) and (c).

usage: store_reopen_test.py MAPCTL AUTOMAPD MDB_COPY
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from store import cut_half, filled_store, run  # noqa: E402


def copy_data(mdb_copy, tmp, source_store, name):
    """mdb_copy of a store (a consistent backup), returns the path of its data.mdb."""
    out = os.path.join(tmp, name)
    os.makedirs(out)
    p = run([mdb_copy, source_store, out])
    check(p.returncode == 0, "mdb_copy " + source_store, p.stderr)
    return os.path.join(out, "data.mdb")


class Asker(threading.Thread):
    """Asks PTR of 10.5.0.3 without a pause and counts the answers by kind."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.counts = {"noerror": 0, "servfail": 0, "other": 0, "timeout": 0}

    def run(self):
        while not self.stop.is_set():
            q = dns.message.make_query("3.0.5.10.in-addr.arpa.", "PTR")
            try:
                r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=2)
            except Exception:  # noqa: BLE001 (a lost answer is what is counted)
                self.counts["timeout"] += 1
                continue
            kind = {dns.rcode.NOERROR: "noerror", dns.rcode.SERVFAIL: "servfail"}.get(
                r.rcode(), "other")
            self.counts[kind] += 1


def ptr(port, address):
    q = dns.message.make_query(reverse_name(address), "PTR")
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    except dns.exception.Timeout:
        return "timeout"
    if r.rcode() != dns.rcode.NOERROR or not r.answer:
        return dns.rcode.to_text(r.rcode())
    return r.answer[0][0].to_text()


def reverse_name(address):
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa."


def wait_answer(ask, address, want, timeout=8):
    """Asks until the answer is `want` (bounded); returns the last answer."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = ask(address)
        if got == want:
            return got
        time.sleep(0.1)
    return got


def serve_case(mapctl, automapd, mdb_copy, tmp):
    conf = filled_store(mapctl, tmp, "live", "old", 10)
    store = os.path.join(tmp, "live")
    # Backups to move in later: another set (b), a damaged one (c), and a good one after it.
    filled_store(mapctl, tmp, "setc", "cee", 10)
    filled_store(mapctl, tmp, "setd", "dee", 10)
    filled_store(mapctl, tmp, "sete", "eee", 10)
    restored_c = copy_data(mdb_copy, tmp, os.path.join(tmp, "setc"), "copy-c")
    damaged_d = copy_data(mdb_copy, tmp, os.path.join(tmp, "setd"), "copy-d")
    cut_half(damaged_d)
    restored_e = copy_data(mdb_copy, tmp, os.path.join(tmp, "sete"), "copy-e")
    filled_store(mapctl, tmp, "setf", "eff", 10)
    filled_store(mapctl, tmp, "setg", "gee", 10)
    swap_in = os.path.join(tmp, "swap-g")
    os.makedirs(swap_in)
    p = run([mdb_copy, "-c", os.path.join(tmp, "setg"), swap_in])
    check(p.returncode == 0, "mdb_copy -c into a new directory", p.stderr)
    restored_f = copy_data(mdb_copy, tmp, os.path.join(tmp, "setf"), "copy-f")

    with open(conf) as f:
        conf_text = f.read()
    with Automapd(automapd, conf_text, threads=2) as server:
        ask = lambda a: ptr(server.port, a)  # noqa: E731
        check(ask("10.5.0.3") == "old-3.pool.example.net.", "the first store is served")
        asker = Asker(server.port)
        asker.start()

        # (a) The directory removed, and a different set imported into a new one.
        shutil.rmtree(store)
        with open(os.path.join(tmp, "new.csv"), "w") as f:
            for i in range(5):  # 10.5.0.0-4 only: 10.5.0.7 is gone
                f.write("10.5.0.%d,name,new-%d.pool.example.net.,\n" % (i, i))
        p = run([mapctl, "-c", conf, "import", os.path.join(tmp, "new.csv")])
        check(p.returncode == 0, "import into a new store directory", p.stderr)
        got = wait_answer(ask, "10.5.0.3", "new-3.pool.example.net.")
        check(got == "new-3.pool.example.net.", "(a) the new directory's override is served",
              "got %s\n%s" % (got, server.stderr()[-2000:]))
        got = ask("10.5.0.7")
        check(got == "ip-10-5-0-7.pool.example.net.",
              "(a) an override only the deleted store had is gone", "got %s" % got)
        check(server.count("override store reopened") == 1, "(a) the reopen is logged",
              server.stderr()[-2000:])

        # (b) A copy made with mdb_copy moved over the live data.mdb; lock.mdb stays.
        os.rename(restored_c, os.path.join(store, "data.mdb"))
        got = wait_answer(ask, "10.5.0.3", "cee-3.pool.example.net.")
        check(got == "cee-3.pool.example.net.", "(b) the moved-in data.mdb is served",
              "got %s\n%s" % (got, server.stderr()[-2000:]))
        got = ask("10.5.0.7")
        check(got == "cee-7.pool.example.net.", "(b) all of it", "got %s" % got)
        check(server.count("override store reopened") == 2, "(b) the reopen is logged",
              server.stderr()[-2000:])
        # The reopened store is live: a write by mapctl is seen at the next query.
        p = run([mapctl, "-c", conf, "add", "10.5.0.200", "later.pool.example.net."])
        check(p.returncode == 0, "mapctl add into the moved-in store", p.stderr)
        got = wait_answer(ask, "10.5.0.200", "later.pool.example.net.", timeout=3)
        check(got == "later.pool.example.net.", "(b) a later write is served", "got %s" % got)

        # (c) A damaged data.mdb moved in: refused, logged, the previous answers continue.
        os.rename(damaged_d, os.path.join(store, "data.mdb"))
        check(server.wait_log("cannot be opened", timeout=5),
              "(c) the damaged replacement is refused and logged", server.stderr()[-2000:])
        check(server.count("still serving the file opened before") >= 1,
              "(c) the log says the previous data is still served", server.stderr()[-2000:])
        for _ in range(10):
            got = ask("10.5.0.3")
            if got != "cee-3.pool.example.net.":
                break
            time.sleep(0.2)
        check(got == "cee-3.pool.example.net.", "(c) the previous answers continue",
              "got %s" % got)
        # A good copy moved in after it is served.
        os.rename(restored_e, os.path.join(store, "data.mdb"))
        got = wait_answer(ask, "10.5.0.3", "eee-3.pool.example.net.")
        check(got == "eee-3.pool.example.net.", "(c) a good copy moved in later is served",
              "got %s\n%s" % (got, server.stderr()[-2000:]))

        # (d) A SIGHUP right after a data.mdb was moved in: the reloaded configuration serves
        # the new file too (its mapper's keeper reopens what the registry handed it).
        os.rename(restored_f, os.path.join(store, "data.mdb"))
        server.signal(signal.SIGHUP)
        check(server.wait_log("reloaded", timeout=10), "(d) the reload is done",
              server.stderr()[-2000:])
        got = wait_answer(ask, "10.5.0.3", "eff-3.pool.example.net.")
        check(got == "eff-3.pool.example.net.", "(d) after a SIGHUP the moved-in file is served",
              "got %s\n%s" % (got, server.stderr()[-2000:]))
        time.sleep(1.5)  # the old mapper's keeper must not switch anything back
        got = ask("10.5.0.4")
        check(got == "eff-4.pool.example.net.", "(d) and stays served", "got %s" % got)

        # (e) The recommended way: a compacted copy in a new directory swapped in.
        os.rename(store, store + ".before-swap")
        os.rename(swap_in, store)
        got = wait_answer(ask, "10.5.0.3", "gee-3.pool.example.net.")
        check(got == "gee-3.pool.example.net.", "(e) a directory swapped in is served",
              "got %s\n%s" % (got, server.stderr()[-2000:]))

        asker.stop.set()
        asker.join(timeout=5)
        c = asker.counts
        print("serve: answers while replacing: %s" % c)
        print("".join(l + "\n" for l in server.stderr().splitlines() if "override store" in l))
        check(server.proc.poll() is None, "serve is still running", server.stderr()[-2000:])
        check(c["noerror"] > 100 and c["timeout"] == 0 and c["other"] == 0,
              "every query was answered (NOERROR, or SERVFAIL at a switch)", str(c))
        check(c["servfail"] <= c["noerror"] // 10, "SERVFAIL only at the switches", str(c))
        rc = server.stop()
        check(rc == 0, "serve exits cleanly after the reopens", "exit %s\n%s" % (
            rc, server.stderr()[-3000:]))


class Pipe:
    """automapd pipe, spoken to directly with the PowerDNS pipe protocol (ABI 1)."""

    def __init__(self, automapd, conf, log):
        self.log = log
        self.proc = subprocess.Popen([automapd, "pipe", "-c", conf], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1)
        self.proc.stdin.write("HELO\t1\n")
        self.proc.stdin.flush()
        self.hello = self.proc.stdout.readline()

    def ptr(self, address):
        self.proc.stdin.write("Q\t%s\tIN\tPTR\t-1\t127.0.0.1\n" % reverse_name(address)[:-1])
        self.proc.stdin.flush()
        answer = "NODATA"
        for _ in range(20):
            line = self.proc.stdout.readline()
            if not line or line.startswith("END") or line.startswith("FAIL"):
                return answer if line.startswith("END") else "FAIL"
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "DATA":
                answer = fields[-1]
        return "too long"

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(timeout=10)


def pipe_case(mapctl, automapd, mdb_copy, tmp):
    conf = filled_store(mapctl, tmp, "pipe", "pold", 10)
    store = os.path.join(tmp, "pipe")
    filled_store(mapctl, tmp, "pipec", "pcee", 10)
    filled_store(mapctl, tmp, "piped", "pdee", 10)
    restored = copy_data(mdb_copy, tmp, os.path.join(tmp, "pipec"), "copy-pc")
    damaged = copy_data(mdb_copy, tmp, os.path.join(tmp, "piped"), "copy-pd")
    cut_half(damaged)
    log_path = os.path.join(tmp, "pipe.log")
    with open(log_path, "w") as log:
        pipe = Pipe(automapd, conf, log)

        def logged():
            with open(log_path) as f:
                return f.read()

        check(pipe.hello.startswith("OK"), "pipe says hello", pipe.hello + logged())
        check(pipe.ptr("10.5.0.3") == "pold-3.pool.example.net.", "pipe serves the first store")
        os.rename(restored, os.path.join(store, "data.mdb"))
        got = wait_answer(pipe.ptr, "10.5.0.3", "pcee-3.pool.example.net.")
        check(got == "pcee-3.pool.example.net.", "pipe: the moved-in data.mdb is served",
              "got %s\n%s" % (got, logged()[-2000:]))
        check("override store reopened" in logged(), "pipe: the reopen is logged", logged())
        os.rename(damaged, os.path.join(store, "data.mdb"))
        deadline = time.monotonic() + 5
        answers = set()
        while time.monotonic() < deadline and "cannot be opened" not in logged():
            answers.add(pipe.ptr("10.5.0.3"))
            time.sleep(0.1)
        check(answers <= {"pcee-3.pool.example.net."},
              "pipe: the previous answers continue after a damaged replacement", str(answers))
        check("cannot be opened" in logged(), "pipe: the damaged replacement is logged",
              logged()[-2000:])
        check(pipe.ptr("10.5.0.4") == "pcee-4.pool.example.net.",
              "pipe: still the previous answers")
        check(pipe.proc.poll() is None, "the pipe is still running", logged()[-2000:])
        rc = pipe.close()
        check(rc == 0, "the pipe exits cleanly at the end of its input",
              "exit %s\n%s" % (rc, logged()[-3000:]))


def main():
    mapctl, automapd, mdb_copy = sys.argv[1], sys.argv[2], sys.argv[3]
    tmp = tempfile.mkdtemp(prefix="store-reopen-")
    try:
        serve_case(mapctl, automapd, mdb_copy, tmp)
        pipe_case(mapctl, automapd, mdb_copy, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
