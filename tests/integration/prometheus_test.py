#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""automapd's /metrics with the real Prometheus tools (Debian `prometheus` 2.42, issue 12
section 3):

- `promtool check metrics` accepts the exposition (after real queries, so that every family
  has samples, the histogram too) with no lint problem;
- a real `prometheus` server, started here on 127.0.0.1 with a free port, a 200 ms scrape
  interval and its TSDB in a temporary directory, scrapes automapd; the test reads the series
  back through Prometheus's HTTP API (/api/v1/query): the UDP request counter equals what was
  sent, `up` is 1, and the histogram's count is queryable. Every wait is bounded; both servers
  are stopped at the end.

usage: prometheus_test.py AUTOMAPD PROMTOOL PROMETHEUS
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.message  # noqa: E402
import dns.query  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402
from config import HEAD, PREFIX_V4  # noqa: E402
from pdns import free_port  # noqa: E402

CONFIG = HEAD + PREFIX_V4 + """\
http: { listen: [127.0.0.1:0] }
"""

def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def prom_query(port, expr):
    """The vector result of an instant query (a list of {metric, value}), [] on any error."""
    try:
        body = json.loads(get("http://127.0.0.1:%d/api/v1/query?query=%s" %
                              (port, urllib.parse.quote(expr))))
    except (OSError, ValueError):
        return []
    return body.get("data", {}).get("result", []) if body.get("status") == "success" else []


def main():
    automapd, promtool, prometheus = sys.argv[1:4]
    sent = 25
    with Automapd(automapd, CONFIG) as server:
        m = re.search(r"listening http 127\.0\.0\.1:(\d+)", server.stderr())
        check(m is not None, "the http listener is logged", server.stderr())
        http_port = int(m.group(1))
        for i in range(sent):
            q = dns.message.make_query("%d.2.1.10.in-addr.arpa." % i, "PTR")
            dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
        dns.query.tcp(dns.message.make_query("example.org.", "A"), "127.0.0.1",
                      port=server.port, timeout=3)

        text = get("http://127.0.0.1:%d/metrics" % http_port)
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
              "promtool check metrics: no problem", r.stdout + r.stderr)

        tmp = tempfile.mkdtemp(prefix="prometheus-test-")
        prom_port = free_port()
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global: { scrape_interval: 200ms, scrape_timeout: 200ms }\n"
                    "scrape_configs:\n"
                    "  - job_name: automap\n"
                    "    static_configs: [ { targets: ['127.0.0.1:%d'] } ]\n" % http_port)
        log = open(os.path.join(tmp, "prometheus.log"), "w+")
        prom = subprocess.Popen([prometheus, "--config.file", os.path.join(tmp, "prometheus.yml"),
                                 "--storage.tsdb.path", os.path.join(tmp, "data"),
                                 "--web.listen-address", "127.0.0.1:%d" % prom_port],
                                stdout=log, stderr=log)
        try:
            # Bounded: Prometheus starts, scrapes, and the sample becomes queryable.
            deadline = time.monotonic() + 30
            got = []
            while time.monotonic() < deadline and prom.poll() is None:
                got = prom_query(prom_port, 'automap_dns_requests_total{proto="udp"}')
                if got and float(got[0]["value"][1]) >= sent:
                    break
                time.sleep(0.2)
            check(got and float(got[0]["value"][1]) == sent,
                  "Prometheus scraped automapd: automap_dns_requests_total{proto=udp} == %d" % sent,
                  got or open(log.name).read()[-3000:])
            up = prom_query(prom_port, 'up{job="automap"}')
            check(up and up[0]["value"][1] == "1", "up{job=automap} is 1", up)
            hist = prom_query(prom_port,
                              'automap_dns_request_duration_seconds_count{proto="udp"}')
            check(hist and float(hist[0]["value"][1]) == sent,
                  "the duration histogram's count is queryable and equals the requests", hist)
            refused = prom_query(prom_port, 'automap_dns_answers_total{source="refused"}')
            check(refused and float(refused[0]["value"][1]) == 1, "answers by source", refused)
        finally:
            prom.send_signal(signal.SIGTERM)
            try:
                prom.wait(timeout=15)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
            log.close()
            shutil.rmtree(tmp, ignore_errors=True)
        check(server.stop() == 0, "automapd stops cleanly")

    return summary("http prometheus")


if __name__ == "__main__":
    sys.exit(main())
