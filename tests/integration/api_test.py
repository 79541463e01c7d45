#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The provisioning API of automapd serve (issue 12 section 4), real sockets and a real store:

- keys made by `mapctl api-key add` (scrypt lines; the key printed once), one read-write and
  one read-only;
- every endpoint: GET/PUT/DELETE /api/v1/overrides/KEY, GET /api/v1/overrides (within, limit,
  after: pages that add up to the whole list), POST /api/v1/overrides/import (CSV and JSON
  lines, all or nothing, the bad line named), GET /api/v1/lookup/X (the same object as
  `mapctl lookup --json`), GET /api/v1/stats (as `mapctl stats --json`);
- every error with its JSON reason: 400 (bad key, body, line), 401 (no key, a wrong key), 403
  (a read-only key writing; an unusable key file), 404 (no override, unknown path, the API
  off), 409 (a name two addresses would share, in a PUT and in an import), 413 (a body over
  http.max_body); the validation messages are mapctl's own;
- a PUT is answered by DNS at once (no wait between the 201 and the query);
- the API and mapctl (add and import) writing at the same time: nothing lost;
- http.timeout closes a connection that sends nothing.

usage: api_test.py AUTOMAPD MAPCTL
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.message  # noqa: E402
import dns.query  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from config import HEAD, PREFIX_V4, PREFIX_V6  # noqa: E402

CONFIG = HEAD + PREFIX_V4 + PREFIX_V6 + """\
store: { path: @TMP@/store, map_size: 64MiB }
http: { listen: [127.0.0.1:0], @KEYS@max_body: 4KiB, timeout: 1s }
"""

class Client:
    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, key=None, content_type=None):
        """(status, parsed JSON body or the text) of one request."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {}
        if key is not None:
            headers["X-API-Key"] = key
        if content_type:
            headers["Content-Type"] = content_type
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read().decode()
        c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data


def mapctl(binary, config, *args, rc=0):
    p = subprocess.run([binary, "-c", config] + list(args), capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == rc, "mapctl %s exits %d" % (" ".join(args), rc),
          "%d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    return p


def ptr(port, address):
    rev = ".".join(reversed(address.split("."))) + ".in-addr.arpa."
    r = dns.query.udp(dns.message.make_query(rev, "PTR"), "127.0.0.1", port=port, timeout=3)
    return [str(rr) for rrset in r.answer for rr in rrset]


def error_of(status_body):
    body = status_body[1]
    return body.get("error") if isinstance(body, dict) else None


def main():
    automapd, mapctl_bin = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="api-test-")
    keys = os.path.join(tmp, "keys")
    config = os.path.join(tmp, "automap.yaml")
    text = CONFIG.replace("@TMP@", tmp)
    with open(config, "w") as f:
        f.write(text.replace("@KEYS@", "api_keys_file: %s, " % keys))

    # Keys: printed once, stored hashed.
    rw = mapctl(mapctl_bin, config, "api-key", "add", "ipam", "--rw").stdout.strip()
    ro = mapctl(mapctl_bin, config, "api-key", "add", "viewer").stdout.strip()
    check(re.fullmatch(r"[0-9a-f]{64}", rw) and re.fullmatch(r"[0-9a-f]{64}", ro),
          "api-key add prints a 64-hex-digit key", rw)
    stored = open(keys).read()
    check(rw not in stored and ro not in stored and
          re.search(r"^ipam rw scrypt\$16384\$8\$1\$[0-9a-f]{32}\$[0-9a-f]{64}$", stored, re.M) and
          re.search(r"^viewer ro scrypt\$", stored, re.M),
          "the key file holds scrypt hashes with their salts, not the keys", stored)
    mapctl(mapctl_bin, config, "api-key", "add", "ipam", rc=1)
    listed = mapctl(mapctl_bin, config, "api-key", "list").stdout
    check(listed == "ipam rw\nviewer ro\n", "api-key list", listed)

    server = Automapd(automapd, text.replace("@KEYS@", "api_keys_file: %s, " % keys), threads=1)
    try:
        check(server.wait_log("listening http"), "the http listener is logged", server.stderr())
        port = int(re.search(r"listening http 127\.0\.0\.1:(\d+)", server.stderr()).group(1))
        api = Client(port)
        run(api, server, mapctl_bin, server.config, keys, rw, ro, text)
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def run(api, server, mapctl_bin, config, keys, rw, ro, text):
    # ---------------------------------------------------------------- authentication: 401, 403
    s = api.call("GET", "/api/v1/stats")
    check(s[0] == 401 and "no X-API-Key" in error_of(s), "no key: 401 with a reason", s)
    s = api.call("GET", "/api/v1/stats", key="0" * 64)
    check(s[0] == 401 and "matches no key" in error_of(s), "a wrong key: 401", s)
    s = api.call("PUT", "/api/v1/overrides/10.1.2.3", {"name": "x.pool.example.net."}, key=ro)
    check(s[0] == 403 and "read-only" in error_of(s), "a read-only key writing: 403", s)
    for method, path in (("DELETE", "/api/v1/overrides/10.1.2.3"),
                         ("POST", "/api/v1/overrides/import")):
        s = api.call(method, path, "", key=ro)
        check(s[0] == 403, "a read-only key: 403 on %s %s" % (method, path), s)
    s = api.call("GET", "/api/v1/stats", key=ro)
    check(s[0] == 200, "a read-only key reads", s)

    # ------------------------------------------------------------------- PUT, GET, DNS at once
    s = api.call("PUT", "/api/v1/overrides/10.1.2.3",
                 {"name": "mail.customer.pool.example.net.", "ttl": 300}, key=rw)
    answer = ptr(server.port, "10.1.2.3")  # no wait: the write has committed
    check(s[0] == 201 and s[1]["result"] == "added" and
          s[1]["override"] == {"address_or_prefix": "10.1.2.3", "kind": "name",
                               "target": "mail.customer.pool.example.net.", "ttl": 300},
          "PUT a name: 201 added", s)
    check(answer == ["mail.customer.pool.example.net."], "the PUT is answered by DNS at once",
          answer)
    s = api.call("PUT", "/api/v1/overrides/10.1.2.3", {"name": "mail2.pool.example.net"}, key=rw)
    check(s[0] == 200 and s[1]["result"] == "replaced" and
          s[1]["override"]["target"] == "mail2.pool.example.net." and
          s[1]["was"]["target"] == "mail.customer.pool.example.net.",
          "PUT again: 200 replaced, the name made absolute, the old value in 'was'", s)
    check(ptr(server.port, "10.1.2.3") == ["mail2.pool.example.net."], "the replacement answers")
    s = api.call("PUT", "/api/v1/overrides/2001:db8:1200::%2F56",
                 {"template": "cust42-{ip}.biz.pool.example.net."}, key=rw)
    check(s[0] == 201 and s[1]["override"]["kind"] == "template", "PUT a template (%2F)", s)
    s = api.call("PUT", "/api/v1/overrides/10.9.9.0/24", {"none": True}, key=rw)
    check(s[0] == 201 and s[1]["override"]["kind"] == "none", "PUT none (a raw / too)", s)
    s = api.call("GET", "/api/v1/overrides/10.1.2.3", key=ro)
    check(s == (200, {"address_or_prefix": "10.1.2.3", "kind": "name",
                      "target": "mail2.pool.example.net.", "ttl": 0}), "GET one override", s)

    # ------------------------------------------------------- 400: mapctl's validation messages
    bad_name = mapctl(mapctl_bin, config, "add", "10.1.2.4", "bad..name", rc=1).stderr.strip()
    s = api.call("PUT", "/api/v1/overrides/10.1.2.4", {"name": "bad..name"}, key=rw)
    check(s[0] == 400 and "mapctl: error: " + error_of(s) == bad_name,
          "a bad name: 400 with mapctl's message", (s, bad_name))
    bad_key = mapctl(mapctl_bin, config, "add", "10.1.2.3/8", "x.pool.example.net.",
                     rc=1).stderr.strip()
    s = api.call("PUT", "/api/v1/overrides/10.1.2.3%2F8", {"template": "x{d}.pool.example.net."},
                 key=rw)
    check(s[0] == 400 and "mapctl: error: " + error_of(s) == bad_key and
          "did you mean 10.0.0.0/8" in error_of(s), "host bits: 400 with mapctl's message",
          (s, bad_key))
    outside = mapctl(mapctl_bin, config, "add", "192.0.2.1", "x.pool.example.net.",
                     rc=1).stderr.strip()
    s = api.call("PUT", "/api/v1/overrides/192.0.2.1", {"name": "x.pool.example.net."}, key=rw)
    check(s[0] == 400 and "mapctl: error: " + error_of(s) == outside,
          "outside every prefix: 400 with mapctl's message", (s, outside))
    s = api.call("PUT", "/api/v1/overrides/192.0.2.1",
                 {"name": "x.pool.example.net.", "force": True}, key=rw)
    check(s[0] == 201, "force: true stores it anyway (as mapctl --force)", s)
    for body, what in (('{"name": ', "invalid JSON body: column"),
                       ({"name": "a.pool.example.net.", "none": True}, "the body is"),
                       ({"template": "x-{d}.pool.example.net."}, "is an address"),
                       ({"name": "a.pool.example.net.", "ttl": -1}, '"ttl" must be'),
                       ({"name": "a.pool.example.net.", "colour": 1}, 'unknown key "colour"'),
                       ([1], "the body is")):
        s = api.call("PUT", "/api/v1/overrides/10.1.2.5", body, key=rw)
        check(s[0] == 400 and what in (error_of(s) or ""), "PUT %r: 400 (%s)" % (body, what), s)
    s = api.call("PUT", "/api/v1/overrides/not-an-address", {"name": "a.pool.example.net."},
                 key=rw)
    check(s[0] == 400 and "bad address" in error_of(s), "a bad key in the path: 400", s)

    # ---------------------------------------------------------------------------- 409, 404
    s = api.call("PUT", "/api/v1/overrides/10.1.2.6", {"name": "mail2.pool.example.net."}, key=rw)
    check(s[0] == 409 and "already the override of 10.1.2.3" in error_of(s),
          "a name another address has: 409 (the store's write rule)", s)
    s = api.call("PUT", "/api/v1/overrides/10.20.0.0%2F24", {"template": "c-{d}.pool.example.net."},
                 key=rw)
    s2 = api.call("PUT", "/api/v1/overrides/10.21.0.0%2F24",
                  {"template": "c-{d}.pool.example.net."}, key=rw)
    check(s[0] == 201 and s2[0] == 409 and "share the template" in error_of(s2),
          "colliding templates: 409", (s, s2))
    s = api.call("DELETE", "/api/v1/overrides/10.1.2.99", key=rw)
    check(s[0] == 404 and "no override for 10.1.2.99" in error_of(s), "DELETE nothing: 404", s)
    s = api.call("GET", "/api/v1/overrides/10.1.2.99", key=rw)
    check(s[0] == 404, "GET nothing: 404", s)
    s = api.call("GET", "/api/v1/nothing", key=rw)
    check(s[0] == 404 and "no such API path" in error_of(s), "an unknown path: 404", s)
    s = api.call("PATCH", "/api/v1/stats", key=rw)
    check(s[0] == 405, "a method a path does not take: 405", s)
    s = api.call("DELETE", "/api/v1/overrides/10.20.0.0%2F24", key=rw)
    check(s[0] == 200 and s[1]["result"] == "deleted" and s[1]["was"]["kind"] == "template",
          "DELETE: 200 with what was there", s)

    # -------------------------------------------------------------------------------- import
    s = api.call("POST", "/api/v1/overrides/import",
                 "address_or_prefix,kind,target,ttl\n10.3.0.1,name,a.pool.example.net.,\n"
                 "10.3.0.2,name,bad..name,\n10.3.0.3,name,c.pool.example.net.,60\n",
                 key=rw, content_type="text/csv")
    check(s[0] == 400 and s[1]["lines"][0]["line"] == 3 and
          "bad..name" in s[1]["lines"][0]["message"] and "nothing imported" in error_of(s),
          "import with a bad line: 400 naming line 3", s)
    check(api.call("GET", "/api/v1/overrides/10.3.0.1", key=rw)[0] == 404,
          "all or nothing: line 2 was not imported")
    s = api.call("POST", "/api/v1/overrides/import",
                 '{"address_or_prefix":"10.3.0.1","kind":"name","target":"a.pool.example.net."}\n'
                 '{"address_or_prefix":"10.3.0.2","kind":"name","target":"mail2.pool.example.net."}'
                 "\n", key=rw, content_type="application/x-ndjson")
    check(s[0] == 409 and s[1]["lines"][0]["line"] == 2, "an import conflict: 409 naming line 2", s)
    s = api.call("POST", "/api/v1/overrides/import",
                 '{"address_or_prefix":"10.3.0.1","kind":"name","target":"a.pool.example.net."}\n'
                 '{"address_or_prefix":"10.3.0.2","kind":"none"}\n', key=rw,
                 content_type="application/x-ndjson")
    check(s[0] == 200 and s[1]["added"] == 2 and s[1]["overrides"] == 2, "JSON lines import", s)
    check(ptr(server.port, "10.3.0.1") == ["a.pool.example.net."], "the import answers at once")
    s = api.call("POST", "/api/v1/overrides/import?dry_run=1",
                 "10.3.0.4,name,d.pool.example.net.\n", key=rw, content_type="text/csv")
    check(s[0] == 200 and s[1]["dry_run"] is True and
          api.call("GET", "/api/v1/overrides/10.3.0.4", key=rw)[0] == 404,
          "dry_run=1 writes nothing", s)
    s = api.call("POST", "/api/v1/overrides/import", "x" * 5000, key=rw, content_type="text/csv")
    check(s[0] == 413 and "http.max_body" in error_of(s), "a body over http.max_body: 413", s)

    # ---------------------------------------------------------------------- list and paging
    whole = [json.loads(l) for l in
             mapctl(mapctl_bin, config, "list", "--json").stdout.splitlines()]
    pages, after, n = [], None, 0
    while n < 20:
        path = "/api/v1/overrides?limit=2" + ("&after=" + after.replace("/", "%2F") if after else "")
        s = api.call("GET", path, key=ro)
        check(s[0] == 200 and len(s[1]["overrides"]) <= 2, "a page of 2", s)
        pages += s[1]["overrides"]
        after, n = s[1]["next"], n + 1
        if after is None:
            break
    check(pages == whole, "the pages add up to mapctl list --json", (pages, whole))
    s = api.call("GET", "/api/v1/overrides?within=10.3.0.0%2F16", key=ro)
    check([o["address_or_prefix"] for o in s[1]["overrides"]] == ["10.3.0.1", "10.3.0.2"] and
          s[1]["next"] is None, "within=PREFIX", s)
    for q in ("limit=0", "limit=x", "within=10.3.0.1%2F16", "after=nope"):
        s = api.call("GET", "/api/v1/overrides?" + q, key=ro)
        check(s[0] == 400 and error_of(s), "list ?%s: 400" % q, s)

    # --------------------------------------------------------------------- lookup and stats
    for what in ("10.1.2.3", "mail2.pool.example.net.", "ip-10-7-7-7.pool.example.net."):
        want = json.loads(mapctl(mapctl_bin, config, "lookup", what, "--json").stdout)
        s = api.call("GET", "/api/v1/lookup/" + what, key=ro)
        check(s == (200, want), "lookup %s: the same as mapctl lookup --json" % what, (s, want))
    s = api.call("GET", "/api/v1/lookup/ip-10-7-7-7.pool.example.net.?qtype=TXT", key=ro)
    check(s[0] == 200 and s[1]["qtype"] == "TXT", "lookup ?qtype=", s)
    s = api.call("GET", "/api/v1/lookup/bad..name", key=ro)
    check(s[0] == 400 and "bad name" in error_of(s), "lookup of a bad name: 400", s)
    want = json.loads(mapctl(mapctl_bin, config, "stats", "--json").stdout)
    s = api.call("GET", "/api/v1/stats", key=ro)
    same = {k for k in want if k not in ("readers", "used_percent")}
    check(s[0] == 200 and set(s[1]) == set(want) and
          all(s[1][k] == want[k] for k in same), "stats: as mapctl stats --json", (s, want))

    # ------------------------------------------------ concurrent writers: API and mapctl
    api_n, ctl_n, import_n = 150, 15, 300
    errors = []

    def api_writer():
        for i in range(api_n):
            r = api.call("PUT", "/api/v1/overrides/10.5.%d.%d" % (i // 256, i % 256),
                         {"name": "api-%d.pool.example.net." % i}, key=rw)
            if r[0] != 201:
                errors.append(r)

    def mapctl_writer():
        for i in range(ctl_n):
            p = subprocess.run([mapctl_bin, "-c", config, "add", "10.6.0.%d" % i,
                                "ctl-%d.pool.example.net." % i], capture_output=True, text=True)
            if p.returncode != 0:
                errors.append(p.stderr)

    csv = os.path.join(os.path.dirname(keys), "bulk.csv")
    with open(csv, "w") as f:
        for i in range(import_n):
            f.write("10.7.%d.%d,name,imp-%d.pool.example.net.,\n" % (i // 256, i % 256, i))
    threads = [threading.Thread(target=api_writer), threading.Thread(target=mapctl_writer)]
    for t in threads:
        t.start()
    mapctl(mapctl_bin, config, "import", csv)
    for t in threads:
        t.join(60)
    check(not errors, "every concurrent write succeeded", errors[:3])
    counts = {}
    for line in mapctl(mapctl_bin, config, "list", "--json").stdout.splitlines():
        key = json.loads(line)["address_or_prefix"].split(".")
        if len(key) == 4:
            counts[key[1]] = counts.get(key[1], 0) + 1
    check((counts.get("5"), counts.get("6"), counts.get("7")) == (api_n, ctl_n, import_n),
          "API and mapctl writing at once lose nothing", counts)
    check(ptr(server.port, "10.5.0.149") == ["api-149.pool.example.net."] and
          ptr(server.port, "10.6.0.14") == ["ctl-14.pool.example.net."],
          "both writers' overrides answer")

    # ---------------------------------------------------------------- http.timeout (1 s)
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as c:
        c.sendall(b"GET /api/v1/stats HTTP/1.1\r\n")  # never finished
        got = c.recv(100)
    took = time.monotonic() - t0
    check(got == b"" and 0.8 < took < 3, "a connection that stalls is closed after http.timeout",
          (got, took))

    # ----------------------------------------------- 403: an unusable key file (fail closed)
    saved = open(keys).read()
    with open(keys, "a") as f:
        f.write("broken line\n")
    s = api.call("GET", "/api/v1/stats", key=rw)
    check(s[0] == 403 and "unavailable" in error_of(s) and ":5:" in error_of(s),
          "a damaged key file: 403 naming its line, for every key", s)
    with open(keys, "w") as f:
        f.write(saved)
    mapctl(mapctl_bin, config, "api-key", "del", "viewer")
    s = api.call("GET", "/api/v1/stats", key=ro)
    check(s[0] == 401, "a deleted key is refused at once (the file is read again)", s)
    check(api.call("GET", "/api/v1/stats", key=rw)[0] == 200, "the other key still works")

    # --------------------------------------------------------------- 404: the API turned off
    with open(config, "w") as f:
        f.write(text.replace("@TMP@", os.path.dirname(keys)).replace("@KEYS@", ""))
    server.signal(signal.SIGHUP)
    check(server.wait_log("loaded " + config), "reloaded", server.stderr())
    s = api.call("GET", "/api/v1/stats", key=rw)
    check(s[0] == 404 and "the API is off" in error_of(s), "no http.api_keys_file: 404, off", s)
    check(api.call("GET", "/metrics")[0] == 200, "/metrics still answers")


if __name__ == "__main__":
    main()
    sys.exit(summary("http api"))
