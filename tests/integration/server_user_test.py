#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`user:`: automapd serve started as root drops to that user once it has bound its listeners
and opened its store (issue 12 section 2).

(a) As root with `user: nobody` on port 53 (privileged), its store owned by nobody as the
    package does for /var/lib/automap: /proc/PID/status shows uid and gid
    65534 (real, effective, saved, fs) and only nogroup as supplementary group; it answers on its
    port; an override added by mapctl (as root) is served live; a SIGHUP reload (config and
    store read as nobody) is accepted and its new prefix answered.
(b) `user: nosuchuser`: exit 1, "user 'nosuchuser': no such user"; `group: nosuchgroup` alike.
(c) Started as nobody (setpriv) with `user: root`: exit 1, "cannot switch to it ... not root".
(d) Started as nobody with `user: nobody`: serves ("already running as user 'nobody'").
Without root only (c) and (d) can run, as the current user: the test says so and checks them.

usage: server_user_test.py AUTOMAPD MAPCTL
"""
import os
import pwd
import re
import shutil
import signal
import socket
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

BASE = HEAD + PREFIX_V4
EXTRA = """\
  - prefix: 192.0.2.0/24
    name: "static-{d}.pool.example.net."
"""


def port53_free():
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            u.bind(("127.0.0.53", 53))
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind(("127.0.0.53", 53))
        return True
    except OSError:
        return False


def ptr(port, addr, host="127.0.0.1", wait=20):
    q = dns.message.make_query(dns.reversename.from_address(addr), dns.rdatatype.PTR)
    deadline = time.monotonic() + wait
    while True:
        try:
            r = dns.query.udp(q, host, port=port, timeout=0.5)
            return dns.rcode.to_text(r.rcode()), [rd.to_text() for rr in r.answer for rd in rr]
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                return "TIMEOUT", []
            time.sleep(0.05)


def read(path):
    with open(path) as f:
        return f.read()


def wait_for(path, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in read(path):
            return True
        time.sleep(0.02)
    return False


def status_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = value.split()
    return ids


def stop(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def start(binary, config, log, listen, prefix=()):
    with open(log, "w") as err:
        return subprocess.Popen(list(prefix) + [binary, "serve", "-c", config, "--threads", "1",
                                                "--listen", listen],
                                stdout=subprocess.DEVNULL, stderr=err)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def as_root(automapd, mapctl, tmp):
    nobody = pwd.getpwnam("nobody")
    store = os.path.join(tmp, "store")
    config = os.path.join(tmp, "root.yaml")
    write(config, BASE + "store: { path: %s, map_size: 64MiB }\nuser: nobody\n" % store)
    # As the package sets up /var/lib/automap: the store made (here by mapctl, as root), then
    # given to the user automapd drops to, so that a reload can open it again.
    p = subprocess.run([mapctl, "-c", config, "add", "10.8.8.8", "first.pool.example.net."],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "(a) mapctl creates the store", p.stderr)
    for d, _, files in os.walk(store):
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
        for f in files:
            os.chown(os.path.join(d, f), nobody.pw_uid, nobody.pw_gid)
    log = os.path.join(tmp, "root.log")
    # A privileged port shows that binding happened before the drop.
    host, port = ("127.0.0.53", 53) if port53_free() else ("127.0.0.1", free_port())
    proc = start(automapd, config, log, "%s:%d" % (host, port))
    try:
        check(ptr(port, "10.1.2.3", host) == ("NOERROR", ["ip-10-1-2-3.pool.example.net."]),
              "(a) answers on %s:%d" % (host, port), read(log))
        check(wait_for(log, "dropped privileges to user 'nobody' (uid %d, gid %d)" %
                       (nobody.pw_uid, nobody.pw_gid)), "(a) the drop is logged", read(log))
        ids = status_ids(proc.pid)
        check(ids.get("Uid") == [str(nobody.pw_uid)] * 4 and
              ids.get("Gid") == [str(nobody.pw_gid)] * 4,
              "(a) /proc/PID/status: uid and gid of nobody (real, effective, saved, fs)", ids)
        check(ids.get("Groups") in ([], [str(nobody.pw_gid)]),
              "(a) no supplementary group but nobody's own", ids)
        p = subprocess.run([mapctl, "-c", config, "add", "10.9.9.9", "mail.pool.example.net."],
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "(a) mapctl add as root", p.stderr)
        check(ptr(port, "10.9.9.9", host) == ("NOERROR", ["mail.pool.example.net."]),
              "(a) the override is served live after the drop")
        write(config, BASE + EXTRA + "store: { path: %s, map_size: 64MiB }\nuser: nobody\n" % store)
        proc.send_signal(signal.SIGHUP)
        check(wait_for(log, "reloaded app generation=2"), "(a) a reload as nobody is accepted",
              read(log))
        check(ptr(port, "192.0.2.7", host) == ("NOERROR", ["static-7.pool.example.net."]),
              "(a) the reloaded config's new prefix answers")
        check(ptr(port, "10.9.9.9", host) == ("NOERROR", ["mail.pool.example.net."]),
              "(a) the override is still served after the reload")
    finally:
        check(stop(proc) == 0, "(a) exit 0 on SIGTERM", read(log))

    for key, value, want in (("user", "nosuchuser", "user 'nosuchuser': no such user"),
                             ("group", "nosuchgroup", "group 'nosuchgroup': no such group")):
        text = BASE + ("user: nobody\ngroup: nosuchgroup\n" if key == "group" else
                       "user: nosuchuser\n")
        write(config, text)
        proc = start(automapd, config, log, "127.0.0.1:%d" % free_port())
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = stop(proc)
        check(rc == 1 and "automapd: error: " + want in read(log),
              "(b) %s: %s: exit 1 naming it" % (key, value), (rc, read(log)))


def as_other_user(automapd, tmp, prefix, me):
    config = os.path.join(tmp, "other.yaml")
    log = os.path.join(tmp, "other.log")
    target = "root" if me != "root" else "nobody"
    write(config, BASE + "user: %s\n" % target)
    proc = start(automapd, config, log, "127.0.0.1:%d" % free_port(), prefix)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        rc = stop(proc)
    check(rc == 1 and re.search(r"automapd: error: user '%s': cannot switch to it: running as "
                                r"uid \d+, gid \d+, not root" % target, read(log)),
          "(c) as %s, user: %s: exit 1, refused" % (me, target), (rc, read(log)))

    write(config, BASE + "user: %s\n" % me)
    port = free_port()
    proc = start(automapd, config, log, "127.0.0.1:%d" % port, prefix)
    try:
        check(ptr(port, "10.1.2.3")[0] == "NOERROR", "(d) as %s, user: %s: serves" % (me, me),
              read(log))
        check(wait_for(log, "already running as user '%s'" % me), "(d) ... and says so",
              read(log))
    finally:
        check(stop(proc) == 0, "(d) exit 0", read(log))


def main():
    automapd, mapctl = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="automap-user-")
    os.chmod(tmp, 0o755)  # nobody reads the config and the store in it
    if os.geteuid() == 0:
        as_root(automapd, mapctl, tmp)
        nobody = pwd.getpwnam("nobody")
        # A copy nobody can run, whatever the permissions of the build tree's directories.
        binary = os.path.join(tmp, "automapd")
        shutil.copy(automapd, binary)
        os.chmod(binary, 0o755)
        as_other_user(binary, tmp, ["setpriv", "--reuid", str(nobody.pw_uid), "--regid",
                                      str(nobody.pw_gid), "--clear-groups"], "nobody")
    else:
        print("not root: (a) and (b) need root; (c) and (d) run as the current user")
        as_other_user(automapd, tmp, [], pwd.getpwuid(os.geteuid()).pw_name)
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(summary())


if __name__ == "__main__":
    main()
