#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""automapd serve with `http: { listen: [127.0.0.1:0] }` (issue 12 section 3), real sockets:

- /metrics after real UDP and TCP queries (dnspython): the request and response counters
  moved by exactly what was sent, by transport and rcode;
- the exposition passes a strict check of the Prometheus text format 0.0.4 (HELP and TYPE
  before each family's samples, names and labels well formed, counters end in _total, every
  name automap_*, no series twice, histograms cumulative); promtool and a real Prometheus
  check it too in prometheus_test.py;
- /health: 200 with {"status":"ok"}; 503 with the reason naming data.mdb once the store is
  damaged (truncated), 200 again once it is restored;
- a good SIGHUP reload and a rejected one move automap_reloads_total{result=...};
- 404, 405, an oversized request (413), the connection cap, and a bind failure that names
  the address (exit 1);
- answers by source (synthesized, override after a real `mapctl add`, negative, refused), the
  request-duration histogram (well formed, its count moves with the requests), open TCP
  connections, the config serial (equal to the SOA serial served, moved by a reload after a
  store change), the store's overrides by kind and tombstones (after real mapctl writes) and
  reader slots;
- online signing (a key made by `mapctl key generate`, a cache of 8 RRSIGs): a repeated DO=1
  query raises automap_dnssec_cache_hits_total, a new name the misses and signatures, many
  names the evictions; DO=0 queries leave them alone.

usage: metrics_test.py AUTOMAPD MAPCTL
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from config import HEAD, PREFIX_V4  # noqa: E402

CONFIG = HEAD + PREFIX_V4 + """\
store: { path: @DIR@/store, map_size: 64MiB }
http: { listen: [@HTTP@] }
dnssec: { keys: @KEYS@, cache_entries: 8 }
"""


def http_port(server):
    check(server.wait_log("listening http"), "the http listener is logged", server.stderr())
    m = re.search(r"listening http 127\.0\.0\.1:(\d+)", server.stderr())
    return int(m.group(1))


def get(port, path, method="GET"):
    """(status, content type, body) of one request."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)\})? (\S+)$" % (NAME, LABEL, LABEL))


def check_exposition(text):
    """Strict text format 0.0.4 check; returns {(name, labels): value}."""
    problems = []
    series = {}
    helped, typed = set(), {}
    current = None
    if not text.endswith("\n"):
        problems.append("no final newline")
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not re.fullmatch(NAME, parts[2]) or parts[2] in helped:
                problems.append("%d: bad or repeated HELP: %s" % (n, line))
                continue
            helped.add(parts[2])
            current = parts[2]
        elif line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[2] != current or parts[3] not in ("counter", "gauge",
                                                                          "histogram"):
                problems.append("%d: TYPE not right after its HELP: %s" % (n, line))
                continue
            typed[parts[2]] = parts[3]
        elif line.startswith("#") or not line:
            problems.append("%d: stray line: %r" % (n, line))
        else:
            m = SAMPLE.match(line)
            if not m:
                problems.append("%d: malformed sample: %s" % (n, line))
                continue
            name, labels, value = m.group(1), m.group(2) or "", m.group(3)
            family = name
            if typed.get(current) == "histogram" and name in (current + "_bucket", current + "_sum",
                                                               current + "_count"):
                family = current
                if name.endswith("_bucket") != ('le="' in labels):
                    problems.append("%d: le label exactly on _bucket: %s" % (n, line))
            if family != current or family not in typed:
                problems.append("%d: sample outside its family (%s): %s" % (n, current, line))
            try:
                v = float(value)
            except ValueError:
                problems.append("%d: bad value: %s" % (n, line))
                continue
            key = (name, labels)
            if key in series:
                problems.append("%d: series twice: %s" % (n, line))
            series[key] = v
    for name, kind in typed.items():
        if not name.startswith("automap_"):
            problems.append("family without the automap_ prefix: " + name)
        if (kind == "counter") != name.endswith("_total"):
            problems.append("counter/_total mismatch: %s (%s)" % (name, kind))
    # Histograms: buckets cumulative, ending in +Inf equal to _count.
    for name, kind in typed.items():
        if kind != "histogram":
            continue
        groups = {}
        for (sname, labels), v in series.items():
            if sname == name + "_bucket":
                rest = re.sub(r',?le="[^"]*"', "", labels)
                le = re.search(r'le="([^"]*)"', labels).group(1)
                groups.setdefault(rest, []).append((float(le), v))
        for rest, buckets in groups.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            if counts != sorted(counts) or buckets[-1][0] != float("inf") or \
                    series.get((name + "_count", rest)) != buckets[-1][1] or \
                    (name + "_sum", rest) not in series:
                problems.append("histogram %s{%s}: not cumulative, no +Inf, or _count/_sum "
                                "missing" % (name, rest))
    check(not problems, "the exposition is valid text format 0.0.4", "\n".join(problems[:20]))
    return series


def scrape(port):
    status, ctype, body = get(port, "/metrics")
    check(status == 200 and ctype.startswith("text/plain; version=0.0.4"),
          "/metrics answers 200 text/plain; version=0.0.4", "%s %s" % (status, ctype))
    return check_exposition(body)


def query(port, name, rdtype, tcp=False, dnssec=False):
    q = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
    return (dns.query.tcp if tcp else dns.query.udp)(q, "127.0.0.1", port=port, timeout=3)


def delta(before, after, name, labels):
    return after.get((name, labels), 0) - before.get((name, labels), 0)


def wait_for(what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.05)
    return what()


def soa_serial(port):
    r = query(port, "pool.example.net.", "SOA")
    return r.answer[0][0].serial if r.answer else None


def make_keys(mapctl, config):
    """A CSK in a directory of its own (the server's is made when it starts)."""
    top = tempfile.mkdtemp(prefix="metrics-keys-")
    keys = os.path.join(top, "keys")
    path = os.path.join(top, "automap.yaml")
    with open(path, "w") as f:
        f.write(config.replace("@DIR@", top).replace("@KEYS@", keys))
    r = subprocess.run([mapctl, "-c", path, "key", "generate"], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0, "mapctl key generate", r.stderr)
    return top, keys


def check_signing(server, port):
    """The automap_dnssec_* families. Over TCP (one thread, one signature cache) the counts
    are exact; UDP queries may reach either worker's cache."""
    alg = 'algorithm="ecdsap256sha256"'

    def moved(before, after, name):
        return delta(before, after, "automap_dnssec_%s_total" % name, alg)

    before = scrape(port)
    for name in ("automap_dnssec_signatures_total", "automap_dnssec_cache_hits_total",
                 "automap_dnssec_cache_misses_total", "automap_dnssec_cache_evictions_total",
                 "automap_dnssec_signing_failures_total"):
        check((name, 'algorithm="ed25519"') in before and (name, alg) in before,
              "%s is listed per algorithm" % name, before)
    for _ in range(3):
        r = query(server.port, "4.3.2.10.in-addr.arpa.", "PTR", tcp=True, dnssec=True)
        check(len(r.answer) == 2, "PTR and its RRSIG", r)
    query(server.port, "4.3.2.10.in-addr.arpa.", "PTR", tcp=True)  # DO=0: not signed
    after = scrape(port)
    got = [moved(before, after, n) for n in ("signatures", "cache_misses", "cache_hits")]
    check(got == [1, 1, 2], "a name asked 3 times with DO=1: 1 signature, 1 miss, 2 hits", got)
    r = query(server.port, "5.3.2.10.in-addr.arpa.", "PTR", tcp=True, dnssec=True)
    new = scrape(port)
    got = [moved(after, new, n) for n in ("signatures", "cache_misses", "cache_hits")]
    check(got == [1, 1, 0], "a new name: 1 signature, 1 miss", got)
    # 20 more names through a cache of 8: evictions.
    for i in range(20):
        query(server.port, "%d.4.2.10.in-addr.arpa." % i, "PTR", tcp=True, dnssec=True)
    for _ in range(4):
        query(server.port, "6.3.2.10.in-addr.arpa.", "PTR", dnssec=True)
    last = scrape(port)
    check(moved(new, last, "cache_evictions") >= 12, "20 names in 8 entries: evictions",
          moved(new, last, "cache_evictions"))
    check(moved(new, last, "cache_hits") + moved(new, last, "cache_misses") == 24 and
          moved(new, last, "signatures") == moved(new, last, "cache_misses"),
          "every RRSIG is a hit or a miss, and each miss a signature",
          [moved(new, last, n) for n in ("signatures", "cache_misses", "cache_hits")])
    check(moved(before, last, "signing_failures") == 0, "no signing failure")


def main():
    binary, mapctl = sys.argv[1], sys.argv[2]
    config = CONFIG.replace("@HTTP@", "127.0.0.1:0")
    keys_top, keys = make_keys(mapctl, config)
    config = config.replace("@KEYS@", keys)
    with Automapd(binary, config) as server:
        port = http_port(server)
        # Bound before READY=1: before the first DNS answer could be promised, it is logged.
        log = server.stderr()
        check(log.index("listening http") > log.index("listening tcp"),
              "http is bound once the DNS listeners are", log)

        before = scrape(port)
        sent = {("udp", "NOERROR"): 7, ("udp", "REFUSED"): 3, ("udp", "NXDOMAIN"): 2,
                ("tcp", "NOERROR"): 4, ("tcp", "REFUSED"): 1}
        for _ in range(7):
            r = query(server.port, "3.2.1.10.in-addr.arpa.", "PTR")
            check(r.rcode() == dns.rcode.NOERROR and r.answer, "PTR answered", r)
        for _ in range(3):
            check(query(server.port, "example.org.", "A").rcode() == dns.rcode.REFUSED,
                  "out of zone: REFUSED")
        for _ in range(2):
            check(query(server.port, "nothing.pool.example.net.", "A").rcode() == dns.rcode.NXDOMAIN,
                  "no such name: NXDOMAIN")
        for _ in range(4):
            check(query(server.port, "ip-10-1-2-3.pool.example.net.", "A", tcp=True).answer,
                  "A over TCP answered")
        check(query(server.port, "example.org.", "A", tcp=True).rcode() == dns.rcode.REFUSED,
              "out of zone over TCP: REFUSED")
        after = scrape(port)
        for proto in ("udp", "tcp"):
            want = sum(v for (p, _), v in sent.items() if p == proto)
            got = delta(before, after, "automap_dns_requests_total", 'proto="%s"' % proto)
            check(got == want, "requests_total{proto=%s} moved by %d" % (proto, want), got)
        for rcode in ("NOERROR", "REFUSED", "NXDOMAIN", "SERVFAIL", "FORMERR"):
            for proto in ("udp", "tcp"):
                want = sent.get((proto, rcode), 0)
                got = delta(before, after, "automap_dns_responses_total",
                            'proto="%s",rcode="%s"' % (proto, rcode))
                check(got == want, "responses_total{%s,%s} moved by %d" % (proto, rcode, want), got)
        # By qtype (IPv4 clients): 7 PTR + 3 A + 2 A over UDP, 5 A over TCP; TXT and the
        # "other" bucket (a type outside the fixed set) one each.
        by_type = {("udp", "PTR"): 7, ("udp", "A"): 5, ("tcp", "A"): 5, ("udp", "TXT"): 1,
                   ("udp", "other"): 1, ("tcp", "PTR"): 0, ("udp", "AAAA"): 0}
        query(server.port, "ip-10-1-2-3.pool.example.net.", "TXT")
        query(server.port, "ip-10-1-2-3.pool.example.net.", "NAPTR")
        after = scrape(port)
        for (proto, qtype), want in by_type.items():
            got = delta(before, after, "automap_dns_queries_total",
                        'proto="%s",family="1",qtype="%s"' % (proto, qtype))
            check(got == want, "queries_total{%s,%s} moved by %d" % (proto, qtype, want), got)
        check(sum(v for k, v in after.items()
                  if k[0] == "automap_dns_queries_total" and 'family="2"' in k[1]) == 0,
              "no IPv6 client counted")
        check(delta(before, after, "automap_tcp_connections_accepted_total", "") == 5,
              "5 TCP connections counted")
        # Answers by source: PTR and A from templates, NXDOMAIN, REFUSED (TXT and NAPTR of an
        # existing name: NODATA, negative).
        by_source = {("udp", "synthesized"): 7, ("udp", "refused"): 3, ("udp", "negative"): 4,
                     ("udp", "override"): 0, ("tcp", "synthesized"): 4, ("tcp", "refused"): 1,
                     ("tcp", "negative"): 0}
        for (proto, source), want in by_source.items():
            got = delta(before, after, "automap_dns_answers_total",
                        'proto="%s",source="%s"' % (proto, source))
            check(got == want, "answers_total{%s,%s} moved by %d" % (proto, source, want), got)
        # A worker records a batch's duration just after its send, so the last answer can
        # arrive before its duration is counted: wait (bounded) for the counts to settle.
        durations = (("udp", 14), ("tcp", 5))

        def durations_counted():
            now = scrape(port)
            return now if all(delta(before, now, "automap_dns_request_duration_seconds_count",
                                    'proto="%s"' % p) >= n for p, n in durations) else None

        after = wait_for(durations_counted, timeout=3) or scrape(port)
        for proto, want in durations:
            got = delta(before, after, "automap_dns_request_duration_seconds_count",
                        'proto="%s"' % proto)
            check(got == want, "request_duration count{%s} moved by %d" % (proto, want), got)
            check(after.get(("automap_dns_request_duration_seconds_sum", 'proto="%s"' % proto), 0)
                  > 0, "request_duration sum{%s} > 0" % proto)
        check(after.get(("automap_tcp_connections", "")) == 0, "no TCP connection open", after)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            check(wait_for(lambda: scrape(port).get(("automap_tcp_connections", "")) == 1),
                  "an open TCP connection is counted")
        check(wait_for(lambda: scrape(port).get(("automap_tcp_connections", "")) == 0),
              "and uncounted once closed")
        serial = after.get(("automap_config_serial", ""))
        check(serial and serial == soa_serial(server.port),
              "config_serial is the SOA serial served", (serial, soa_serial(server.port)))
        check(after.get(("automap_store_reader_slots", 'state="max"'), 0) >= 16 and
              after.get(("automap_store_reader_slots", 'state="used"'), 0) >= 1,
              "the store's reader slots", after)
        check(after.get(("automap_store_overrides", 'kind="address"'), 0) == 0,
              "no address override yet", after)
        # Overrides written by mapctl: counted by kind from the store's meta counts (kept by
        # every write), tombstones apart.
        ctl = lambda *a: subprocess.run([mapctl, "-c", server.config] + list(a), check=True,
                                        capture_output=True)
        ctl("add", "10.9.8.7", "host.pool.example.net.")
        ctl("add", "10.9.8.6", "--none")
        ctl("del", "10.9.8.6")
        ctl("add", "10.7.0.0/16", "--none")
        want = {("automap_store_overrides", 'kind="address"'): 1,
                ("automap_store_overrides", 'kind="prefix"'): 1,
                ("automap_store_tombstones", ""): 1}
        check(wait_for(lambda: all(scrape(port).get(k) == v for k, v in want.items())),
              "overrides by kind and tombstones are counted", scrape(port))
        r = query(server.port, "7.8.9.10.in-addr.arpa.", "PTR")
        check(r.answer and str(r.answer[0][0]) == "host.pool.example.net.", "override answered", r)
        o = scrape(port)
        check(delta(after, o, "automap_dns_answers_total", 'proto="udp",source="override"') == 1,
              "an override answer is counted as such")
        after = o
        check(after.get(("automap_store_up", "")) == 1 and
              after.get(("automap_store_map_size_bytes", "")) == 64 << 20,
              "the store's state and map size", after)
        check(after.get(("automap_process_open_fds", ""), 0) > 3 and
              after.get(("automap_process_resident_memory_bytes", ""), 0) > 1 << 20,
              "process metrics")
        check(any(k[0] == "automap_build_info" and v == 1 for k, v in after.items()),
              "build_info")

        check_signing(server, port)

        # /health, the routes and methods.
        status, ctype, body = get(port, "/health")
        check(status == 200 and ctype == "application/json" and json.loads(body)["status"] == "ok",
              "/health 200 ok", (status, body))
        check(get(port, "/nope")[0] == 404, "unknown path: 404")
        check(get(port, "/metrics", "POST")[0] == 405, "POST: 405")
        check(get(port, "/health?x=1")[0] == 200, "a query string is ignored")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
            head = s.recv(100)
            check(head.startswith(b"HTTP/1.1 413"), "a 20 kB request head: 413", head)

        # The connection cap (16): one more is closed at once, unanswered; freed, it works.
        idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(16)]
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                got = s.recv(100)
            except ConnectionResetError:
                got = b""
            check(got == b"", "over the connection cap: closed unanswered", got)
        for s in idle:
            s.close()
        time.sleep(0.2)
        check(get(port, "/health")[0] == 200, "the cap frees again")

        # Reloads by result.
        server.signal(signal.SIGHUP)
        check(server.wait_log("reloaded app generation=2"), "reload 1", server.stderr())
        r1 = scrape(port)
        check(delta(after, r1, "automap_reloads_total", 'result="success"') == 1 and
              r1.get(("automap_app_generation", "")) == 2, "a good reload is counted")
        # The store changed since the start: the reloaded serial is derived from it (it may
        # equal the start's when both fell in the same second).
        check(r1.get(("automap_config_serial", "")) == soa_serial(server.port),
              "after the reload config_serial is still the SOA serial served",
              (serial, r1.get(("automap_config_serial", "")), soa_serial(server.port)))
        with open(server.config, "a") as f:
            f.write("bogus: 1\n")
        server.signal(signal.SIGHUP)
        check(server.wait_log("reload rejected"), "reload 2 rejected", server.stderr())
        r2 = scrape(port)
        check(delta(r1, r2, "automap_reloads_total", 'result="failure"') == 1 and
              delta(r1, r2, "automap_reloads_total", 'result="success"') == 0,
              "a rejected reload is counted", r2)

        # A damaged store: 503 naming data.mdb; restored: 200.
        # The damaged file replaces data.mdb (a bad copy put in place): the server keeps the
        # file it mapped. Truncating the mapped file itself would make any read of a page past
        # the new end a SIGBUS, which LMDB cannot turn into an error (store/README.md).
        data = os.path.join(server.dir, "store", "data.mdb")
        shutil.copyfile(data, data + ".good")
        shutil.copyfile(data, data + ".bad")
        os.truncate(data + ".bad", 4096)
        os.replace(data + ".bad", data)
        status, ctype, body = get(port, "/health")
        reason = json.loads(body).get("reason", "") if ctype == "application/json" else ""
        check(status == 503 and "data.mdb" in reason and "truncated" in reason,
              "/health 503 with the reason for a truncated store", (status, body))
        check(scrape(port).get(("automap_store_up", "")) == 0, "store_up 0 when damaged")
        os.replace(data + ".good", data)
        check(get(port, "/health")[0] == 200, "/health 200 once the store is restored")

        # A second server on the same HTTP address: a start-up error naming it.
        taken = config.replace("127.0.0.1:0", "127.0.0.1:%d" % port)
        other = Automapd(binary, taken, wait_port=False)
        rc = other.proc.wait(timeout=20)
        err = other.stderr()
        other.stop()
        check(rc == 1 and ("cannot listen on http 127.0.0.1:%d" % port) in err,
              "a taken http address: exit 1 naming it", (rc, err))
        check(server.stop() == 0, "clean stop", server.stderr())
    shutil.rmtree(keys_top, ignore_errors=True)

    return summary()


if __name__ == "__main__":
    sys.exit(main())
