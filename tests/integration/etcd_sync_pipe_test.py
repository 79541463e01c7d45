#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`automapd sync` behind PowerDNS (issue 15; README "Running several nodes").

One etcd member; `automapd sync -c CONFIG` keeps the node's store equal to etcd (and serves
/metrics and /health); a real pdns_server with the pipe backend runs `automapd pipe -c CONFIG`
coprocesses (2 distributor threads: 2 coprocesses, none of which syncs) on that store:
  - an override written with mapctl through etcd is answered by PowerDNS, and so is its delete;
  - /health and /metrics of the sync process report the loop;
  - `automapd sync` exits 0 on SIGTERM; without store.sync.etcd it refuses to start (exit 1).
Usage: etcd_sync_pipe_test.py MAPCTL AUTOMAPD
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, expect, step, summary  # noqa: E402
from cluster import ETCDCTL, NODE_CONFIG, Member  # noqa: E402
from pdns import PdnsServer, free_port, pipe_settings  # noqa: E402

MAPCTL, AUTOMAPD = sys.argv[1], sys.argv[2]
ROOT = tempfile.mkdtemp(prefix="automap-sync-pipe-")


def wait(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except Exception:
            pass
        time.sleep(0.02)
    return False


def main():
    cp, pp = free_port(), free_port()
    member = Member("m0", ROOT, "m0=http://127.0.0.1:%d" % pp, cp, pp)
    http_port = free_port()
    config = os.path.join(ROOT, "automap.yaml")
    with open(config, "w") as f:
        f.write(NODE_CONFIG % {"dns_port": free_port(), "http_port": http_port,
                               "store": os.path.join(ROOT, "store"),
                               "keys": os.path.join(ROOT, "api-keys"), "endpoints": member.client,
                               "max_staleness": "5s", "timeout": "5s"})
    log = open(os.path.join(ROOT, "sync.log"), "w+")
    sync = None
    pdns = None

    def sync_log():
        with open(os.path.join(ROOT, "sync.log")) as f:
            return f.read()

    def http(path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (http_port, path), timeout=3) as r:
            return r.read().decode()

    def metric(name):
        for line in http("/metrics").splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    try:
        member.start()  # killed in the finally below, whatever fails
        expect(wait(lambda: subprocess.run(
            [ETCDCTL, "--endpoints", member.client, "--command-timeout=1s", "put", "/x", "1"],
            capture_output=True, env=dict(os.environ, ETCDCTL_API="3")).returncode == 0, 20),
            "etcd up")
        sync = subprocess.Popen([AUTOMAPD, "sync", "-c", config], stdout=subprocess.DEVNULL,
                                stderr=log)
        expect(wait(lambda: metric("automap_sync_up") == 1, 15), "automapd sync is synced",
               sync_log())

        def through_pdns():
            nonlocal pdns
            pdns = PdnsServer(pipe_settings("%s pipe -c %s" % (AUTOMAPD, config), abi=1,
                                            distributor_threads="2"))
            pdns.start()

            def answer():
                r = pdns.query("7.2.1.10.in-addr.arpa.", "PTR")
                return [str(rd) for rrset in r.answer for rd in rrset]

            check(answer() == ["ip-10-1-2-7.pool.example.net."], "the synthesized name first",
                  answer())
            r = subprocess.run([MAPCTL, "-c", config, "add", "10.1.2.7",
                                "mail.customer.pool.example.net."],
                               capture_output=True, text=True, timeout=60)
            expect(r.returncode == 0, "mapctl add through etcd", r.stderr)
            t0 = time.monotonic()
            ok = wait(lambda: answer() == ["mail.customer.pool.example.net."], 10)
            check(ok, "PowerDNS (pipe) answers the override", (answer(), sync_log()))
            print("mapctl add -> PowerDNS pipe answers: %.0f ms" % ((time.monotonic() - t0) * 1000))
            r = subprocess.run([MAPCTL, "-c", config, "del", "10.1.2.7"],
                               capture_output=True, text=True, timeout=60)
            check(r.returncode == 0, "mapctl del through etcd", r.stderr)
            check(wait(lambda: answer() == ["ip-10-1-2-7.pool.example.net."], 10),
                  "PowerDNS answers the synthesized name again", answer())
            check(sync_log().count("store sync: watching etcd") == 1, "one sync loop",
                  sync_log())

        step("PowerDNS pipe on the store automapd sync keeps", through_pdns)

        def health():
            check('"status":"ok"' in http("/health"), "/health ok", http("/health"))
            check((metric("automap_sync_batches_total") or 0) >= 2, "batches counted")
            check(metric("automap_store_up") == 1, "store metrics")

        step("http", health)

        def stop():
            sync.terminate()
            check(sync.wait(timeout=10) == 0, "automapd sync: exit 0 on SIGTERM", sync_log())
            plain = os.path.join(ROOT, "plain.yaml")
            with open(config) as f:
                text = f.read()
            with open(plain, "w") as f:
                f.write(text[:text.index("  sync:")])
            r = subprocess.run([AUTOMAPD, "sync", "-c", plain], capture_output=True, text=True,
                               timeout=30)
            check(r.returncode == 1 and "automapd sync needs store.sync.etcd" in r.stderr,
                  "no store.sync.etcd: exit 1, said so", r.stderr)

        step("stop", stop)
    finally:
        if pdns is not None:
            pdns.stop()
        if sync is not None and sync.poll() is None:
            sync.kill()
            sync.wait()
        log.close()
        member.kill()
    status = summary()
    if status == 0:
        shutil.rmtree(ROOT, ignore_errors=True)
    else:
        print("kept " + ROOT)
    return status


if __name__ == "__main__":
    sys.exit(main())
