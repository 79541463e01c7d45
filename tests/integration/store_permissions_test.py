#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The store shared between mapctl (root) and `automapd pipe` run as another user, as under
pdns_server (issue 12): a test user and group are created and removed by the test.

(a) A store mapctl created as root in a plain directory: `automapd pipe` as the user fails
    with a sentence naming lock.mdb, its owner and mode, the user and the missing access;
    `automapd checkconf --as-user USER` prints the same and exits 1.
(b) The group setup the package ships (directory setgid 2770 root:GROUP, the user in GROUP):
    mapctl as root, even with umask 077, creates data.mdb and lock.mdb 0660 with the group;
    checkconf --as-user says ok; the pipe as the user answers the override, and sees a later
    mapctl change live; the reader never needs write access to data.mdb.
(c) A real pdns_server with setuid/setgid to the user and the pipe backend answers the
    override and a later mapctl change (its caches off).

usage: store_permissions_test.py MAPCTL AUTOMAPD
"""
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, summary  # noqa: E402
from config import HEAD_SOA_TIMERS, PREFIX_V4  # noqa: E402
from pdns import PDNS_SERVER, PdnsServer, pipe_settings  # noqa: E402

CONFIG = (HEAD_SOA_TIMERS + "ttl: 3600\n" + PREFIX_V4
          + "store: { path: @DIR@/store, map_size: 64MiB }\n")


def run(argv, stdin="", umask=None, rc=None):
    pre = (lambda: os.umask(umask)) if umask is not None else None
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60,
                       preexec_fn=pre)
    if rc is not None:
        check(p.returncode == rc, "%s -> %d (expected %d)" % (" ".join(argv), p.returncode, rc),
              p.stdout[-1500:] + p.stderr[-1500:])
    return p


def pipe_as(user, automapd, config, qname):
    """One PTR query through `automapd pipe` run as `user` with its groups."""
    argv = ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", automapd, "pipe",
            "-c", config]
    return run(argv, "HELO\t1\nQ\t%s\tIN\tPTR\t-1\t127.0.0.1\n" % qname)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    mapctl, automapd = (os.path.abspath(a) for a in sys.argv[1:3])
    if os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("useradd") is None:
        print("store permissions: needs root, setpriv and useradd: skipped")
        return 77
    user = "amaptest%d" % os.getpid()
    tmp = tempfile.mkdtemp(prefix="amap-perm-")
    os.chmod(tmp, 0o755)  # the user may enter; the store inside decides the rest
    config = os.path.join(tmp, "automap.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.replace("@DIR@", tmp))
    os.chmod(config, 0o644)
    store = os.path.join(tmp, "store")
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", user], check=True)
    try:
        qname = "3.2.1.10.in-addr.arpa"
        # (a) root's store in a plain directory.
        run([mapctl, "-c", config, "add", "10.1.2.3", "mail.cust.pool.example.net."], rc=0,
            umask=0o022)
        p = pipe_as(user, automapd, config, qname)
        want = "cannot be opened by user %s (uid %d): %s/lock.mdb (root:root 0660)" % (
            user, pwd.getpwnam(user).pw_uid, store)
        check(want in p.stderr and "rw" in p.stderr and "adduser %s automap" % user in p.stderr,
              "(a) pipe as the user names lock.mdb, its mode, the user and the fix", p.stderr)
        check("mail.cust" not in p.stdout, "(a) no answer from a store it cannot open", p.stdout)
        p = run([automapd, "checkconf", "-c", config, "--as-user", user], rc=1)
        check(want in p.stderr, "(a) checkconf --as-user names the same problem", p.stderr)
        p = run([automapd, "checkconf", "-c", config, "--as-user", "no-such-user-x"], rc=1)
        check("no such user" in p.stderr, "(a) checkconf --as-user of an unknown user", p.stderr)

        # (b) the package's setup: a setgid group directory, the user in the group.
        shutil.rmtree(store)
        os.mkdir(store)
        gid = grp.getgrnam(user).gr_gid
        os.chown(store, 0, gid)
        os.chmod(store, 0o2770)
        run([mapctl, "-c", config, "add", "10.1.2.3", "mail.cust.pool.example.net."], rc=0,
            umask=0o077)
        for name in ("data.mdb", "lock.mdb"):
            st = os.stat(os.path.join(store, name))
            check(st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o660,
                  "(b) mapctl (umask 077) creates %s 0660 with the directory's group" % name,
                  "%o gid %d" % (stat.S_IMODE(st.st_mode), st.st_gid))
        p = run([automapd, "checkconf", "-c", config, "--as-user", user], rc=0)
        check("user %s can open it read-only" % user in p.stdout, "(b) checkconf --as-user ok",
              p.stdout + p.stderr)
        # A reader needs no write access to data.mdb.
        os.chmod(os.path.join(store, "data.mdb"), 0o640)
        p = pipe_as(user, automapd, config, qname)
        check("PTR" in p.stdout and "mail.cust.pool.example.net." in p.stdout,
              "(b) the pipe as the user answers the override (data.mdb 0640)",
              p.stdout + p.stderr)
        run([mapctl, "-c", config, "add", "10.1.2.3", "mx.cust.pool.example.net."], rc=0)
        p = pipe_as(user, automapd, config, qname)
        check("mx.cust.pool.example.net." in p.stdout, "(b) a later mapctl change is answered",
              p.stdout + p.stderr)

        # (c) PowerDNS dropping to the user, as pdns.service runs it, with the pipe backend.
        if os.access(PDNS_SERVER, os.X_OK):
            settings = pipe_settings("%s pipe -c %s" % (automapd, config), abi=1,
                                     setuid=user, setgid=user, cache_ttl="0",
                                     query_cache_ttl="0", negquery_cache_ttl="0")
            with PdnsServer(settings) as pdns:
                os.chmod(pdns.dir, 0o755)
                r = pdns.query(qname + ".", "PTR")
                got = [rd.to_text() for rr in r.answer for rd in rr]
                check(got == ["mx.cust.pool.example.net."],
                      "(c) pdns_server as the user answers the override", (got, pdns.log()))
                run([mapctl, "-c", config, "add", "10.1.2.3", "www.cust.pool.example.net."], rc=0)
                r = pdns.query(qname + ".", "PTR")
                got = [rd.to_text() for rr in r.answer for rd in rr]
                check(got == ["www.cust.pool.example.net."],
                      "(c) pdns_server as the user answers a later change", (got, pdns.log()))
                # The coprocess really runs as the user (root would pass every check).
                uids = []
                for pid in filter(str.isdigit, os.listdir("/proc")):
                    try:
                        with open("/proc/%s/cmdline" % pid, "rb") as f:
                            argv = f.read().split(b"\0")
                        # This test's coprocess only (another test may run one at once).
                        if (argv[0] == automapd.encode() and b"pipe" in argv
                                and config.encode() in argv):
                            uids.append(os.stat("/proc/" + pid).st_uid)
                    except OSError:
                        pass
                check(uids and all(u == pwd.getpwnam(user).pw_uid for u in uids),
                      "(c) the pipe coprocess runs as the user", uids)
                log = pdns.log()
                check("Permission denied" not in log and "cannot be opened" not in log,
                      "(c) no permission error in the pdns log", log[-3000:])
        else:
            print("pdns_server not installed: (c) skipped")
    finally:
        subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", user], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
