#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Config and input hygiene, end to end through the real binaries: what `automapd` (every
subcommand) and `mapctl` do with a config path that is not a readable file (a directory, a
device, a FIFO, a pipe, a file the user cannot read), with a config holding several errors,
with inputs that were once accepted silently, and with bytes that must not reach a terminal
or a log raw.

usage: config_input_test.py AUTOMAPD MAPCTL
"""
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from config import HEAD, PREFIX_V4, PREFIX_V6  # noqa: E402

GOOD = HEAD + PREFIX_V4 + PREFIX_V6


def run(argv, rc, stdin=None, input_text=None, timeout=60):
    p = subprocess.run(argv, capture_output=True, text=True, errors="backslashreplace",
                       stdin=stdin, input=input_text, timeout=timeout)
    check(p.returncode == rc, "%s -> exit %d, expected %d" % (" ".join(argv), p.returncode, rc),
          "stdout: %s\nstderr: %s" % (p.stdout[-2000:], p.stderr[-2000:]))
    return p


def verbs(automapd, mapctl, config):
    """Every automapd subcommand and some mapctl verbs, each loading `config`."""
    return [
        [automapd, "checkconf", "-c", config],
        [automapd, "pipe", "-c", config],
        [automapd, "serve", "-c", config, "--listen", "127.0.0.1:0", "--threads", "1"],
        [mapctl, "-c", config, "check"],
        [mapctl, "-c", config, "stats"],
        [mapctl, "-c", config, "lookup", "10.1.2.3"],
        [mapctl, "-c", config, "add", "10.1.2.3", "a.pool.example.net."],
    ]


def test_paths_that_are_not_files(automapd, mapctl, work):
    # A directory: once std::bad_alloc and SIGABRT everywhere.
    d = os.path.join(work, "conf.d")
    os.mkdir(d)
    for argv in verbs(automapd, mapctl, d):
        p = run(argv, 1, stdin=subprocess.DEVNULL)
        check(d + ": is a directory" in p.stderr, "%s names the directory" % " ".join(argv[:2]),
              p.stderr)
        check("bad_alloc" not in p.stderr, "%s: no bad_alloc" % " ".join(argv[:2]), p.stderr)
    # A device is refused, not read: /dev/zero never ends.
    for argv in verbs(automapd, mapctl, "/dev/zero")[:4]:
        p = run(argv, 1, stdin=subprocess.DEVNULL)
        check("/dev/zero: is a character device" in p.stderr, "%s refuses /dev/zero" % argv[1],
              p.stderr)


def test_pipes_and_fifos_load(automapd, mapctl, work):
    # A pipe on stdin, given as /dev/stdin (commit a64af62: this must keep working).
    p = run([automapd, "checkconf", "-c", "/dev/stdin"], 0, input_text=GOOD)
    check("ok: 2 prefixes" in p.stdout, "checkconf reads /dev/stdin from a pipe", p.stdout)
    # A FIFO fed by a writer that opens it after the reader.
    fifo = os.path.join(work, "conf.fifo")
    os.mkfifo(fifo)
    for argv in ([automapd, "checkconf", "-c", fifo], [mapctl, "-c", fifo, "check"]):
        def feed():
            with open(fifo, "w") as f:
                f.write(GOOD)
        writer = threading.Thread(target=feed)
        writer.start()
        p = run(argv, 0)
        writer.join(timeout=30)
        check("ok: 2 prefixes" in p.stdout, "%s reads a FIFO" % argv[0], p.stdout + p.stderr)


def test_unreadable_file(automapd, mapctl, work):
    # The suite runs as root, who reads any file: run the binaries as nobody instead.
    setpriv = shutil.which("setpriv")
    check(setpriv is not None, "setpriv is installed (util-linux)")
    if setpriv is None:
        return
    os.chmod(work, 0o755)
    path = os.path.join(work, "secret.yaml")
    with open(path, "w") as f:
        f.write(GOOD)
    os.chmod(path, 0)
    as_nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    for argv in ([automapd, "checkconf", "-c", path], [mapctl, "-c", path, "check"]):
        p = run(as_nobody + argv, 1)
        check(path + ": cannot open: Permission denied" in p.stderr,
              "%s names EACCES" % os.path.basename(argv[0]), p.stderr)


def test_every_error_at_once(automapd, mapctl, work):
    # A bad scalar (ttl: -3) once hid every template error until it was fixed, and a template
    # error hid the check that two prefixes' names collide.
    path = os.path.join(work, "many.yaml")
    with open(path, "w") as f:
        f.write(HEAD + """ttl: -3
prefixes:
  - prefix: 10.0.0.0/8
    name: "ip-{a}-{b}-{q}.pool.example.net."
  - prefix: 10.2.0.0/16
    name: "ip-{d.pool.example.net."
  - prefix: 10.3.0.0/16
    name: "{ip}.elsewhere.net."
  - prefix: 10.4.1.0/24
    name: "x{d}.pool.example.net."
  - prefix: 10.4.2.0/24
    name: "x{d}.pool.example.net."
""")
    expected = [
        path + ":5:6: ttl: expected a non-negative integer, got '-3'",
        path + ":8:11: prefixes[0].name: unknown token {q}",
        path + ":10:11: prefixes[1].name: unterminated '{'",
        path + ":12:11: prefixes[2].name: names of this template lie outside every zone",
        path + ":16:11: prefixes[4].name: prefixes 10.4.1.0/24 (line 13) and 10.4.2.0/24 share",
    ]
    for argv in ([automapd, "checkconf", "-c", path], [mapctl, "-c", path, "check"]):
        p = run(argv, 1)
        lines = [l for l in p.stderr.splitlines() if l.startswith(path + ":")]
        check(len(lines) == len(expected) and
              all(l.startswith(e) for l, e in zip(lines, expected)),
              "%s reports every error in one run" % os.path.basename(argv[0]), p.stderr)
    # A zone entry with an error is missing: templates in it are not blamed for that.
    with open(path, "w") as f:
        f.write(HEAD + """  - name: "bad..zone."
prefixes:
  - prefix: 10.0.0.0/8
    name: "{ip}.bad..zone."
  - prefix: 10.1.0.0/16
    name: "{ip}.pool.example.net."
""")
    p = run([automapd, "checkconf", "-c", path], 1)
    lines = [l for l in p.stderr.splitlines() if l.startswith(path + ":")]
    check(len(lines) == 2 and "zones[1].name: bad domain name" in lines[0] and
          "prefixes[0].name:" in lines[1] and "outside every zone" not in p.stderr,
          "a bad zone entry does not make its templates 'outside every zone'", p.stderr)


def test_inputs_once_accepted_silently(automapd, mapctl, work):
    # Interface zone ids were dropped: 2001:db8::1%eth0 became 2001:db8::1.
    path = os.path.join(work, "store.yaml")
    with open(path, "w") as f:
        f.write(GOOD + 'store: { path: "%s", map_size: 16MiB }\n' % os.path.join(work, "db"))
    zone_msg = "an interface zone id (%eth0) has no meaning here: give the address alone"
    run([mapctl, "-c", path, "add", "10.9.9.9", "kept.pool.example.net."], 0)
    p = run([mapctl, "-c", path, "add", "2001:db8::1%eth0", "h.v6.pool.example.net."], 1)
    check("bad address '2001:db8::1%eth0': " + zone_msg in p.stderr, "add names the zone id",
          p.stderr)
    p = run([mapctl, "-c", path, "lookup", "2001:db8::1%eth0"], 1)
    check(zone_msg in p.stderr, "lookup names the zone id", p.stderr)
    imp = os.path.join(work, "zones.csv")
    with open(imp, "w") as f:
        f.write("address_or_prefix,kind,target,ttl\n"
                "10.9.0.1,name,fine.pool.example.net.,\n"
                "2001:db8::1%eth0,name,h.v6.pool.example.net.,\n"
                "2001:db8:1::%eth0/48,none,,\n")
    p = run([mapctl, "-c", path, "import", imp], 1)
    check(imp + ":3: bad address '2001:db8::1%eth0': " + zone_msg in p.stderr and
          imp + ":4: bad prefix '2001:db8:1::%eth0/48': " + zone_msg in p.stderr,
          "import names the zone id with file:line", p.stderr)
    p = run([mapctl, "-c", path, "export"], 0)
    check("10.9.9.9,name,kept.pool.example.net." in p.stdout and
          "2001:db8::1," not in p.stdout and "10.9.0.1," not in p.stdout,
          "nothing of the rejected import is stored", p.stdout)
    # The YAML cases: no length, a zone id, a second document, an unterminated quote.
    cases = [
        (HEAD + "prefixes:\n  - { prefix: 10.0.0.0, blank: true }\n",
         ":6:15: prefixes[0].prefix: prefix '10.0.0.0' has no length"),
        (HEAD + 'prefixes:\n  - { prefix: "fe80::%eth0/64", blank: true }\n',
         ":6:15: prefixes[0].prefix: bad prefix 'fe80::%eth0/64': " + zone_msg),
        (GOOD + "---\nprefixes: []\n", ":10:1: a second YAML document starts here"),
        (HEAD + 'prefixes:\n  - prefix: 10.0.0.0/8\n    name: "ip-{ip}.pool.example.net.\n'
         '    ttl: 60\n  - prefix: 10.1.0.0/16\n    name: "b-{ip}.pool.example.net."\n',
         ":7:11: unterminated quote: the double-quoted string opened here"),
    ]
    for i, (text, expected) in enumerate(cases):
        conf = os.path.join(work, "case%d.yaml" % i)
        with open(conf, "w") as f:
            f.write(text)
        p = run([automapd, "checkconf", "-c", conf], 1)
        lines = [l for l in p.stderr.splitlines() if l.startswith(conf + ":")]
        check(len(lines) == 1 and lines[0].startswith(conf + expected),
              "checkconf: " + expected, p.stderr)


BIDI_CONTROLS = {0x061C, 0x200E, 0x200F} | set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


def printable_line(raw):
    """True when the bytes are valid UTF-8 without controls (C0 but newline, DEL, C1, bidi)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c == "\n" or not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or
                                  ord(c) in BIDI_CONTROLS) for c in text)


def test_error_lines_are_escaped(automapd, mapctl, work):
    # Binary YAML (seeded bytes, some of them after a valid head) once put raw bytes in the
    # error lines, on a terminal or in the log of a reload.
    rng = random.Random(17)
    for i in range(30):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        body = (HEAD.encode() + b"ttl: " + junk + b"\n") if i % 2 else junk
        path = os.path.join(work, "binary%d.yaml" % i)
        with open(path, "wb") as f:
            f.write(body)
        for argv in ([automapd, "checkconf", "-c", path], [mapctl, "-c", path, "check"]):
            p = subprocess.run(argv, capture_output=True, timeout=60)
            check(p.returncode in (0, 1) and printable_line(p.stderr),
                  "%s: exit %d, printable error lines for binary%d.yaml" %
                  (os.path.basename(argv[0]), p.returncode, i), repr(p.stderr[:600]))


def write_large_config(path, count):
    """Writes `count` prefixes (/29 and /56 blocks, five templates) to path."""
    rng = random.Random(5)
    v4 = ["ip-{a}-{b}-{c}-{d}.pool.example.net.", "dyn-{ip}.pool.example.net.",
          "h{hex}.pool.example.net."]
    v6 = ["{ip}.v6.pool.example.net.", "h{hex}.v6.pool.example.net."]
    blocks4 = rng.sample(range(1 << 19), count // 2)
    blocks6 = rng.sample(range(1 << 24), count - count // 2)
    lines = [HEAD, "prefixes:\n"]
    for i in range(count):
        if i % 2 == 0:
            a = (100 << 24) | (64 << 16) | (blocks4[i // 2] << 3)
            lines.append('  - { prefix: %d.%d.%d.%d/29, name: "%s" }\n' % (
                a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, v4[i // 2 % 3]))
        else:
            k = blocks6[i // 2]
            lines.append('  - { prefix: "2001:db8:%x:%x00::/56", name: "%s" }\n' % (
                k >> 8, k & 255, v6[i // 2 % 2]))
    with open(path, "w") as f:
        f.write("".join(lines))


def test_checkconf_memory_is_proportional(automapd, mapctl, work):
    # 250k prefixes: checkconf's peak RSS was 15x the file (283 MB for 18.8 MB), then 10x; it
    # is ~4.5x (84 MB) since the loader hands the prefixes to the engine compactly and
    # templates share their text. The bound leaves room for allocator noise.
    count = 250000
    path = os.path.join(work, "large.yaml")
    # Written by another process: a child's ru_maxrss includes the peak of the process that
    # started it (subprocess uses vfork, and exec keeps the old address space's high-water
    # mark), and building the text here would put ~90 MB of this Python's into it.
    writer = multiprocessing.get_context("spawn").Process(target=write_large_config,
                                                          args=(path, count))
    writer.start()
    writer.join(120)
    check(writer.exitcode == 0, "the large config is written", str(writer.exitcode))
    size = os.path.getsize(path)
    with tempfile.TemporaryFile() as out:
        # wait4 on this child alone: its own peak RSS (ru_maxrss, KiB).
        child = subprocess.Popen([automapd, "checkconf", "-c", path], stdout=out,
                                 stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    rss = usage.ru_maxrss * 1024
    check(child.returncode == 0 and "ok: 250000 prefixes" in text, "checkconf of 250k prefixes",
          text[-1000:])
    if os.environ.get("AMAP_SANITIZE"):
        # ASan's shadow memory and quarantine multiply RSS: the bound holds for the Release
        # build the suite runs in CI, not for a sanitizer build.
        print("note: sanitizer build (%s): peak RSS %.0f MB not bounded" %
              (os.environ["AMAP_SANITIZE"], rss / 1e6))
        return
    check(0 < rss <= 5.5 * size, "checkconf peak RSS %.0f MB is at most 5.5x the file (%.1f MB)" %
          (rss / 1e6, size / 1e6))


def test_reload_of_a_directory(automapd, mapctl, work):
    # On SIGHUP, a config path that had become a directory logged only "std::bad_alloc".
    with Automapd(automapd, GOOD, threads=1) as server:
        os.rename(server.config, server.config + ".moved")
        os.mkdir(server.config)
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "reload rejected" not in server.stderr():
            time.sleep(0.05)
        log = server.stderr()
        check(server.config + ": is a directory" in log and "reload rejected" in log and
              "bad_alloc" not in log, "a reload names the directory", log[-2000:])
        check(server.proc.poll() is None, "the server keeps serving after the rejected reload")
        os.rmdir(server.config)
        os.rename(server.config + ".moved", server.config)
    shutil.rmtree(server.dir, ignore_errors=True)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    automapd, mapctl = (os.path.abspath(a) for a in sys.argv[1:3])
    work = tempfile.mkdtemp(prefix="amap-config-input-")
    try:
        for test in (test_paths_that_are_not_files, test_pipes_and_fifos_load,
                     test_unreadable_file, test_every_error_at_once,
                     test_inputs_once_accepted_silently, test_error_lines_are_escaped,
                     test_checkconf_memory_is_proportional, test_reload_of_a_directory):
            sub = os.path.join(work, test.__name__)
            os.mkdir(sub)
            test(automapd, mapctl, sub)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
