#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Overrides per second through the HTTP API of automapd serve (issue 12 section 4).

usage: bench/api_throughput.py AUTOMAPD MAPCTL [--single N] [--bulk N]

Starts automapd serve (one UDP worker) on a scratch store with the API on and measures:
- one at a time: N PUT /api/v1/overrides/ADDR from one client, each on its own connection
  (the listener answers one request per connection), so every one is a full HTTP exchange
  and a committed LMDB write transaction;
- bulk: one POST /api/v1/overrides/import of N CSV lines (one transaction).
"""
import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CONFIG = """\
soa:  { mname: ns1.example.net., rname: hostmaster.example.net. }
ns:   [ns1.example.net.]
zones:
  - name: pool.example.net.
prefixes:
  - prefix: 10.0.0.0/8
    name: "ip-{a}-{b}-{c}-{d}.pool.example.net."
store: { path: @DIR@/store, map_size: 1GiB }
http: { listen: [127.0.0.1:0], api_keys_file: @DIR@/keys, max_body: 256MiB, timeout: 60s }
"""


def request(port, method, path, body, key, content_type="application/json"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request(method, path, body=body, headers={"X-API-Key": key, "Content-Type": content_type})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status not in (200, 201):
        sys.exit("%s %s: %d %s" % (method, path, r.status, data[:300]))
    return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("automapd")
    ap.add_argument("mapctl")
    ap.add_argument("--single", type=int, default=5000)
    ap.add_argument("--bulk", type=int, default=200000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="api-bench-")
    config = os.path.join(tmp, "automap.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.replace("@DIR@", tmp))
    key = subprocess.run([a.mapctl, "-c", config, "api-key", "add", "bench", "--rw"],
                         capture_output=True, text=True, check=True).stdout.strip()
    log = open(os.path.join(tmp, "log"), "w+")
    proc = subprocess.Popen([a.automapd, "serve", "-c", config, "--listen", "127.0.0.1:0",
                             "--threads", "1"], stderr=log, stdout=subprocess.DEVNULL)
    try:
        port = None
        for _ in range(200):
            m = re.search(r"listening http 127\.0\.0\.1:(\d+)", open(log.name).read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        if port is None:
            sys.exit("automapd did not start:\n" + open(log.name).read())
        request(port, "GET", "/api/v1/stats", None, key)  # the key's scrypt check, once
        t0 = time.perf_counter()
        for i in range(a.single):
            request(port, "PUT", "/api/v1/overrides/10.1.%d.%d" % (i // 256, i % 256),
                    '{"name":"single-%d.pool.example.net."}' % i, key)
        single_s = time.perf_counter() - t0
        lines = "".join("10.%d.%d.%d,name,bulk-%d.pool.example.net.,\n" %
                        (2 + i // 65536, (i // 256) % 256, i % 256, i) for i in range(a.bulk))
        t0 = time.perf_counter()
        request(port, "POST", "/api/v1/overrides/import", lines, key, "text/csv")
        bulk_s = time.perf_counter() - t0
        print("one at a time: %d PUTs in %.2f s = %.0f overrides/s (%.2f ms each)" %
              (a.single, single_s, a.single / single_s, 1000 * single_s / a.single))
        print("bulk import:   %d lines (%.1f MB) in %.2f s = %.0f overrides/s" %
              (a.bulk, len(lines) / 1e6, bulk_s, a.bulk / bulk_s))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
