#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Storage faults (issue 17), with the real binaries on real files:

- a damaged data.mdb (cut to half, random bytes in the middle, zero length): every mapctl verb
  and `automapd serve` exit 1 with the path and what is wrong, never by a signal; an empty
  data.mdb is never taken as a new store; `mapctl check --deep` lists the damage (exit 1);
- a full filesystem (a small tmpfs mounted here) when the store does not exist yet: an error
  naming ENOSPC, nothing left behind; a full filesystem at commit: "is full" with the free
  space, and the store keeps exactly its old content.

- reader slots exhausted by another process: a running `automapd serve` keeps answering (it
  took its slots at start), a new process fails naming `store.max_readers`, and once the
  holder is killed its slots are reclaimed (by the server's periodic mdb_reader_check, and by
  the next process's open);
- a page damaged under a running server: SERVFAIL for the queries that reach it, logged;
- a store replaced under a running server (new directory, or a data.mdb moved in): logged
  within seconds (the reopen itself: store_reopen_test.py);
- data.mdb truncated in place under a running server (LMDB's map then has no pages to give:
  SIGBUS): the server exits 74 with a line naming the file and the cause, not a bare signal.

usage: store_fault_test.py MAPCTL AUTOMAPD
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from store import CONFIG, cut_half, filled_store, run, write_config, write_overrides  # noqa: E402


def damage_cases(mapctl, automapd, tmp):
    good = os.path.join(tmp, "good")
    conf = filled_store(mapctl, tmp, "good", "h", 4000)
    p = run([mapctl, "-c", conf, "check", "--deep"])
    check(p.returncode == 0 and "no damage" in p.stdout, "check --deep of a sound store: exit 0",
          p.stdout + p.stderr)
    size = os.path.getsize(os.path.join(good, "data.mdb"))

    def random_bytes(path):
        rnd = random.Random(17)
        with open(path, "r+b") as f:
            for _ in range(40):
                f.seek(rnd.randrange(2 * 4096, size - 64))
                f.write(bytes(rnd.randrange(256) for _ in range(64)))

    def zero_length(path):
        os.truncate(path, 0)

    cases = [("cut to half its size", cut_half, "is truncated"),
             ("random bytes in the middle", random_bytes, "is damaged"),
             ("zero length", zero_length, "is empty")]
    for what, spoil, message in cases:
        store = os.path.join(tmp, "bad-" + spoil.__name__)
        shutil.copytree(good, store)
        data = os.path.join(store, "data.mdb")
        spoil(data)
        before = open(data, "rb").read()
        cconf = write_config(os.path.join(tmp, spoil.__name__ + ".yaml"), store)
        p = run([mapctl, "-c", cconf, "check", "--deep"])
        check(p.returncode == 1 and message in p.stderr and data in p.stderr
              and "mdb_copy -c" in p.stderr,
              "%s: check --deep exits 1 naming the file and the damage" % what, p.stderr[-1500:])
        for verb in (["stats"], ["export"], ["list"], ["import", os.path.join(tmp, "good.csv")]):
            p = run([mapctl, "-c", cconf] + verb)
            check(p.returncode == 1 and message in p.stderr and data in p.stderr,
                  "%s: mapctl %s exits 1 (not by a signal) with the path and '%s'"
                  % (what, verb[0], message), "rc %d: %s" % (p.returncode, p.stderr[-1500:]))
            check(p.stdout == "", "%s: mapctl %s prints nothing from the damaged store"
                  % (what, verb[0]), p.stdout[:300])
        if spoil is not random_bytes:  # single-key verbs check the meta pages only
            for verb in (["get", "10.5.0.1"], ["add", "10.9.9.9", "x.pool.example.net."]):
                p = run([mapctl, "-c", cconf] + verb)
                check(p.returncode == 1 and message in p.stderr,
                      "%s: mapctl %s exits 1 with '%s'" % (what, verb[0], message),
                      "rc %d: %s" % (p.returncode, p.stderr[-1500:]))
        p = run([automapd, "serve", "-c", cconf, "--listen", "127.0.0.1:0", "--threads", "1"],
                timeout=30)
        check(p.returncode == 1 and message in p.stderr and data in p.stderr,
              "%s: automapd serve refuses the store at start (exit 1)" % what,
              "rc %d: %s" % (p.returncode, p.stderr[-1500:]))
        check(open(data, "rb").read() == before, "%s: the damaged file is left as it was" % what)


class Tmpfs:
    def __init__(self, path, size):
        self.path = path
        os.makedirs(path, exist_ok=True)
        p = run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path])
        if p.returncode != 0:
            raise OSError("cannot mount a tmpfs: " + p.stderr.strip())

    def fill(self, leave=0):
        """Writes a filler file until the filesystem is full (or `leave` bytes are left)."""
        st = os.statvfs(self.path)
        avail = st.f_bavail * st.f_frsize - leave
        f = open(os.path.join(self.path, "filler"), "wb", buffering=0)
        try:
            while avail > 0:
                avail -= f.write(b"\0" * min(avail, 65536))
            while leave == 0:
                f.write(b"\0" * 4096)
        except OSError:
            pass
        finally:
            try:
                f.close()
            except OSError:
                pass

    def close(self):
        run(["umount", "-l", self.path])


def full_filesystem(mapctl, automapd, tmp):
    # Item 4: the store does not exist yet and the disk is full.
    fs = Tmpfs(os.path.join(tmp, "full"), "256k")
    try:
        fs.fill()
        store = os.path.join(fs.path, "store")
        conf = write_config(os.path.join(tmp, "full.yaml"), store)
        p = run([mapctl, "-c", conf, "add", "10.1.2.3", "a.pool.example.net."])
        check(p.returncode == 1 and "No space left on device" in p.stderr and "full" in p.stderr,
              "add on a full filesystem: exit 1 naming ENOSPC (no SIGBUS)",
              "rc %d: %s" % (p.returncode, p.stderr))
        check(not os.path.exists(store), "a failed creation leaves no store directory behind",
              str(os.listdir(fs.path)))
        p = run([automapd, "serve", "-c", conf, "--listen", "127.0.0.1:0", "--threads", "1"],
                timeout=30)
        check(p.returncode == 1 and "No space left on device" in p.stderr,
              "automapd serve on a full filesystem: exit 1 naming ENOSPC",
              "rc %d: %s" % (p.returncode, p.stderr))
        check(not os.path.exists(store), "serve leaves no half-made store behind")
    finally:
        fs.close()

    # Item 5: the disk fills up during an import: the commit fails, the store is unchanged.
    fs = Tmpfs(os.path.join(tmp, "full2"), "3m")
    try:
        store = os.path.join(fs.path, "store")
        conf = write_config(os.path.join(tmp, "full2.yaml"), store)
        p = run([mapctl, "-c", conf, "import",
                 write_overrides(os.path.join(tmp, "small.csv"), 300, "old")])
        check(p.returncode == 0, "import of 300 overrides on the tmpfs", p.stderr)
        before = run([mapctl, "-c", conf, "export"]).stdout
        fs.fill()
        p = run([mapctl, "-c", conf, "import",
                 write_overrides(os.path.join(tmp, "big.csv"), 20000, "new")])
        check(p.returncode == 1 and ("the filesystem holding %s is full" % store) in p.stderr
              and "free of" in p.stderr and "previous content" in p.stderr,
              "import on a full filesystem says it is full, with the path and the free space",
              "rc %d: %s" % (p.returncode, p.stderr))
        os.unlink(os.path.join(fs.path, "filler"))
        after = run([mapctl, "-c", conf, "export"])
        check(after.returncode == 0 and after.stdout == before and before.count("\n") == 301,
              "the store reads back exactly its old content", after.stderr)
        p = run([mapctl, "-c", conf, "check", "--deep"])
        check(p.returncode == 0, "and check --deep finds no damage", p.stdout + p.stderr)
    finally:
        fs.close()


# Holds every free reader slot of a store through liblmdb (a read txn per slot, MDB_NOTLS),
# prints how many it took, then waits to be killed.
HOLDER = r"""
import ctypes, sys, time
lib = ctypes.CDLL("liblmdb.so.0")
env = ctypes.c_void_p()
assert lib.mdb_env_create(ctypes.byref(env)) == 0
lib.mdb_env_set_maxdbs(env, 8)
MDB_RDONLY, MDB_NOTLS, MDB_READERS_FULL = 0x20000, 0x200000, -30790
rc = lib.mdb_env_open(env, sys.argv[1].encode(), MDB_RDONLY | MDB_NOTLS, 0o660)
assert rc == 0, rc
held = []
while True:
    txn = ctypes.c_void_p()
    rc = lib.mdb_txn_begin(env, None, MDB_RDONLY, ctypes.byref(txn))
    if rc != 0:
        break
    held.append(txn)
print(len(held), rc, flush=True)
time.sleep(600)
"""


def reader_slots(mapctl, automapd, tmp):
    store = os.path.join(tmp, "readers")
    conf_text = CONFIG.replace("@STORE@", store).replace("map_size: 64MiB",
                                                         "map_size: 64MiB, max_readers: 24")
    conf = filled_store(mapctl, tmp, "readers", "slot", 50, text=conf_text)
    with Automapd(automapd, conf_text, threads=2) as server:
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, store], stdout=subprocess.PIPE,
                                  text=True)
        try:
            line = holder.stdout.readline().split()
            check(len(line) == 2 and line[1] == "-30790" and int(line[0]) > 0,
                  "the holder filled the reader table (MDB_READERS_FULL)", str(line))
            # The server took its slots at start: every query is answered, on UDP and TCP.
            bad = []
            for i in range(200):
                q = dns.message.make_query("%d.0.5.10.in-addr.arpa." % (i % 50), "PTR")
                r = (dns.query.tcp if i % 10 == 0 else dns.query.udp)(q, "127.0.0.1",
                                                                      port=server.port, timeout=3)
                want = "slot-%d.pool.example.net." % (i % 50)
                if r.rcode() != dns.rcode.NOERROR or want not in r.to_text():
                    bad.append((i, dns.rcode.to_text(r.rcode())))
            check(not bad, "a running server answers every query while the reader table is full",
                  str(bad[:10]) + "\n" + server.stderr()[-1500:])
            p = run([mapctl, "-c", conf, "get", "10.5.0.1"])
            check(p.returncode == 1 and "store.max_readers" in p.stderr and store in p.stderr,
                  "a new process fails naming store.max_readers and the store",
                  "rc %d: %s" % (p.returncode, p.stderr))
        finally:
            holder.kill()
            holder.wait()
        # The server's periodic mdb_reader_check (every 10 s) clears the dead holder's slots;
        # `mdb_stat -r` only lists them.
        deadline = time.monotonic() + 25
        listed = True
        while time.monotonic() < deadline and listed:
            time.sleep(0.5)
            r = run(["mdb_stat", "-r", store])
            listed = (" %d " % holder.pid) in r.stdout
        check(not listed, "the running server reclaims the killed holder's reader slots",
              server.stderr()[-1500:])
        check("reclaimed" in server.stderr(), "and logs that it did", server.stderr()[-1500:])
        p = run([mapctl, "-c", conf, "get", "10.5.0.1"])
        check(p.returncode == 0 and "slot-1.pool.example.net." in p.stdout,
              "after that a new process opens the store again", p.stderr)
    with open(conf.replace("readers.yaml", "readers-bad.yaml"), "w") as f:
        f.write(conf_text.replace("max_readers: 24", "max_readers: 3"))
    p = run([mapctl, "-c", conf.replace("readers.yaml", "readers-bad.yaml"), "stats"])
    check(p.returncode == 1 and "store.max_readers" in p.stderr and ":8:" in p.stderr,
          "a bad store.max_readers is a config error with its line", p.stderr)


def table_root(data, table):
    """The root page of a named LMDB table: the main table's leaf holds its record."""
    import struct
    with open(data, "rb") as f:
        blob = f.read()
    psize = struct.unpack_from("<I", blob, 16 + 24)[0]
    metas = [struct.unpack_from("<Q", blob, i * psize + 16 + 136)[0] for i in (0, 1)]
    meta = (i * psize + 16 for i in (0, 1) if metas[i] == max(metas)).__next__()
    root = struct.unpack_from("<Q", blob, meta + 24 + 48 + 40)[0]
    page = root * psize
    lower = struct.unpack_from("<H", blob, page + 12)[0]
    for i in range((lower - 16) // 2):
        off = struct.unpack_from("<H", blob, page + 16 + 2 * i)[0]
        ksize = struct.unpack_from("<H", blob, page + off + 6)[0]
        if blob[page + off + 8:page + off + 8 + ksize] == table.encode():
            return psize, struct.unpack_from("<Q", blob, page + off + 8 + ksize + 40)[0]
    raise KeyError(table)


def damage_while_serving(mapctl, automapd, tmp):
    """A page damaged after the server checked the store: SERVFAIL for the queries that
    reach it, counted and logged, and the server stays up."""
    store = os.path.join(tmp, "serving")
    conf_text = CONFIG.replace("@STORE@", store)
    conf = filled_store(mapctl, tmp, "serving", "live", 20)
    with Automapd(automapd, conf_text, threads=1) as server:
        def ask(qname):
            q = dns.message.make_query(qname, "PTR")
            return dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)

        r = ask("3.0.5.10.in-addr.arpa.")
        check(r.rcode() == dns.rcode.NOERROR and "live-3.pool.example.net." in r.to_text(),
              "the override is served before the damage", r.to_text())
        data = os.path.join(store, "data.mdb")
        psize, root = table_root(data, "addr")
        with open(data, "r+b") as f:  # the addr table's leaf stops being a leaf
            f.seek(root * psize + 10)
            f.write(b"\0\0")
        for _ in range(3):
            r = ask("3.0.5.10.in-addr.arpa.")
            check(r.rcode() == dns.rcode.SERVFAIL,
                  "a lookup on a damaged page answers SERVFAIL, not the synthesized name",
                  r.to_text())
        check(server.proc.poll() is None, "the server is still running")
        check("override store lookup failed" in server.stderr()
              and "mapctl check --deep" in server.stderr(),
              "the failure is logged with the way to find the damage", server.stderr()[-1500:])
        p = run([mapctl, "-c", conf, "check", "--deep"])
        check(p.returncode == 1 and "table addr: page %d" % root in p.stderr,
              "check --deep names the damaged page", p.stderr[-1500:])


def replaced_under_server(mapctl, automapd, tmp):
    """A store replaced under a running server is noticed within seconds and logged."""
    store = os.path.join(tmp, "replaced")
    conf_text = CONFIG.replace("@STORE@", store)
    conf = filled_store(mapctl, tmp, "replaced", "rep", 10)
    csv = os.path.join(tmp, "replaced.csv")
    with Automapd(automapd, conf_text, threads=1) as server:
        def wait_for(text, count):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and server.stderr().count(text) < count:
                time.sleep(0.1)
            return server.stderr().count(text) >= count

        time.sleep(1.2)
        check("replaced" not in server.stderr(), "nothing is reported while the store stays",
              server.stderr())
        # The directory removed and a backup imported into a new one at the same path.
        shutil.move(store, store + ".old")
        check(run([mapctl, "-c", conf, "import", csv]).returncode == 0, "import into a new store")
        check(wait_for("data.mdb was replaced", 1), "a new store directory is noticed and logged",
              server.stderr()[-1500:])
        # A restored data.mdb moved in over the current one.
        shutil.copy(os.path.join(store + ".old", "data.mdb"), os.path.join(tmp, "restored.mdb"))
        os.rename(os.path.join(tmp, "restored.mdb"), os.path.join(store, "data.mdb"))
        check(wait_for("data.mdb was replaced", 2), "a data.mdb moved in is noticed and logged",
              server.stderr()[-1500:])


def truncated_under_server(mapctl, automapd, tmp):
    """data.mdb cut in place while mapped: the first read of a vanished page is a SIGBUS,
    which store/bus_guard.h turns into exit 74 and a fatal line that names the file."""
    store = os.path.join(tmp, "truncated")
    conf_text = CONFIG.replace("@STORE@", store)
    filled_store(mapctl, tmp, "truncated", "cut", 2000)
    with Automapd(automapd, conf_text, threads=1) as server:
        q = dns.message.make_query("7.3.5.10.in-addr.arpa.", "PTR")
        r = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
        check("cut-775.pool.example.net." in r.to_text(), "the override is served before the cut",
              r.to_text())
        data = os.path.join(store, "data.mdb")
        os.truncate(data, 2 * 4096)  # only the two meta pages stay
        deadline = time.monotonic() + 10
        i = 0
        while server.proc.poll() is None and time.monotonic() < deadline:
            q = dns.message.make_query("%d.%d.5.10.in-addr.arpa." % (i % 256, (i // 256) % 8),
                                       "PTR")
            try:
                dns.query.udp(q, "127.0.0.1", port=server.port, timeout=0.2)
            except (dns.exception.Timeout, OSError):
                pass
            i += 1
        try:
            code = server.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        check(code == 74, "the server exits 74 (EX_IOERR), not killed by SIGBUS",
              "exit %r after %d queries" % (code, i))
        check("fatal: the store file %s shrank under the running process" % data
              in server.stderr(), "the fatal line names the file and the cause",
              server.stderr()[-1500:])


def main():
    mapctl, automapd = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="store-fault-")
    try:
        damage_cases(mapctl, automapd, tmp)
        reader_slots(mapctl, automapd, tmp)
        damage_while_serving(mapctl, automapd, tmp)
        replaced_under_server(mapctl, automapd, tmp)
        truncated_under_server(mapctl, automapd, tmp)
        if os.geteuid() != 0:
            print("SKIP full-filesystem cases: mounting a tmpfs needs root")
        else:
            full_filesystem(mapctl, automapd, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
