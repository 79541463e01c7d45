#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Response rate limiting in `automapd serve` (rrl: in the config), over real sockets.

The whole of 127/8 is loopback on Linux, so clients bind to addresses of different /24s:
  127.0.1.x  floods UDP (two addresses of one /24: they share one budget);
  127.0.2.5  asks at a low rate while the flood runs: every query gets its full answer;
  127.0.3.7  floods too, but is whitelisted: every query gets its full answer.
The flooder gets its burst plus the rate, then every 2nd limited answer with TC=1 (slip: 2)
and nothing for the others; the server's stop line must count exactly what the client saw.
TCP from the flooding address is never limited.

usage: server_rrl_test.py AUTOMAPD
"""
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402

from automapd import Automapd  # noqa: E402
from checks import check, summary  # noqa: E402

RATE = 20
SLIP = 2
WORKERS = 2
FLOOD = 800          # queries from 127.0.1.x, over about FLOOD_SECONDS
FLOOD_SECONDS = 2.0
QUIET = 10           # queries from 127.0.2.5, one every 0.2 s during the flood
WHITELISTED = 300

CONFIG = """
soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 1 }
ns: [ns1.example.net.]
zones: [ { name: pool.example.net. } ]
prefixes:
  - prefix: 10.0.0.0/8
    name: "ip-{a}-{b}-{c}-{d}.pool.example.net."
rrl:
  responses_per_second: %d
  slip: %d
  whitelist: [127.0.3.0/24]
""" % (RATE, SLIP)

QNAME = "4.3.2.10.in-addr.arpa."


class Flooder:
    """Sends `count` PTR queries from `sources` (round robin) at an even pace and records
    what comes back for each query id: 'full', 'tc' (or nothing)."""

    def __init__(self, port, sources, count, seconds):
        self.port, self.count, self.seconds = port, count, seconds
        self.socks = []
        for src in sources:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((src, 0))
            s.settimeout(0.2)
            self.socks.append(s)
        self.got = {}
        self.lock = threading.Lock()
        self.done_sending = threading.Event()

    def _receive(self, s):
        idle_since = None
        while True:
            try:
                data = s.recv(65535)
            except socket.timeout:
                if self.done_sending.is_set():
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 1.0:
                        return
                continue
            idle_since = None
            r = dns.message.from_wire(data)
            check(r.question[0].name.to_text() == QNAME, "answer to another question")
            kind = "tc" if r.flags & dns.flags.TC else "full"
            if kind == "tc":
                check(not r.answer and not r.authority, "a slipped answer has records: %s" % r)
            else:
                check(r.rcode() == dns.rcode.NOERROR and r.answer, "bad full answer: %s" % r)
            with self.lock:
                check(r.id not in self.got, "two answers for id %d" % r.id)
                self.got[r.id] = kind

    def run(self):
        readers = [threading.Thread(target=self._receive, args=(s,)) for s in self.socks]
        for t in readers:
            t.start()
        start = time.monotonic()
        for i in range(self.count):
            q = dns.message.make_query(QNAME, "PTR")
            q.id = i
            self.socks[i % len(self.socks)].sendto(q.to_wire(), ("127.0.0.1", self.port))
            delay = start + self.seconds * (i + 1) / self.count - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.elapsed = time.monotonic() - start
        self.done_sending.set()
        for t in readers:
            t.join()
        for s in self.socks:
            s.close()
        full = sum(1 for k in self.got.values() if k == "full")
        tc = sum(1 for k in self.got.values() if k == "tc")
        return full, tc, self.count - full - tc


def quiet_client(port, results):
    for i in range(QUIET):
        q = dns.message.make_query(QNAME, "PTR")
        r = dns.query.udp(q, "127.0.0.1", port=port, source="127.0.2.5", timeout=2)
        results.append(bool(r.answer) and not (r.flags & dns.flags.TC))
        time.sleep(FLOOD_SECONDS / QUIET)


def main():
    binary = sys.argv[1]
    with Automapd(binary, CONFIG, threads=WORKERS) as d:
        check("rrl: responses_per_second=%d slip=%d ipv4_prefix=24 ipv6_prefix=56 whitelist=1"
              % (RATE, SLIP) in d.stderr(), "the rrl line at start", d.stderr())
        flood = Flooder(d.port, ["127.0.1.10", "127.0.1.20"], FLOOD, FLOOD_SECONDS)
        white = Flooder(d.port, ["127.0.3.7"], WHITELISTED, FLOOD_SECONDS)
        quiet = []
        result = {}
        threads = [
            threading.Thread(target=lambda: result.update(flood=flood.run())),
            threading.Thread(target=lambda: result.update(white=white.run())),
            threading.Thread(target=quiet_client, args=(d.port, quiet)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        full, tc, silent = result["flood"]
        print("flood from 127.0.1.0/24: %d queries in %.2f s: %d full, %d TC=1, %d unanswered"
              % (FLOOD, flood.elapsed, full, tc, silent))
        # The burst (one second's worth) plus the rate over the flood, and nothing more (one
        # second of slack: the server's clock, not ours, paces the refill).
        check(RATE <= full <= RATE + RATE * (flood.elapsed + 1.0),
              "the flooder got %d full answers (rate %d over %.2f s)" % (full, RATE, flood.elapsed))
        check(quiet == [True] * QUIET, "the low-rate prefix lost answers: %s" % quiet)
        wfull, wtc, wsilent = result["white"]
        check((wfull, wtc, wsilent) == (WHITELISTED, 0, 0),
              "whitelisted prefix limited: %d full, %d TC, %d lost" % (wfull, wtc, wsilent))

        # TCP proves the source: never limited, even from the flooding address.
        q = dns.message.make_query(QNAME, "PTR")
        r = dns.query.tcp(q, "127.0.0.1", port=d.port, source="127.0.1.10", timeout=5)
        check(r.answer and not (r.flags & dns.flags.TC), "TCP answer limited: %s" % r)

        check(d.stop() == 0, "automapd exits 0", d.stderr())
        log = d.stderr()
        m = re.search(r"rrl_limited=(\d+) rrl_slipped=(\d+) rrl_dropped=(\d+)", log)
        if check(m, "the rrl counters in the stop line", log):
            limited, slipped, dropped = (int(x) for x in m.groups())
            print("server: limited=%d slipped=%d dropped=%d" % (limited, slipped, dropped))
            check(limited == FLOOD - full,
                  "limited %d != %d unanswered in full" % (limited, FLOOD - full))
            check(slipped == tc, "slipped %d != %d TC=1 answers seen" % (slipped, tc))
            check(dropped == silent, "dropped %d != %d queries left unanswered" % (dropped, silent))
            # Every SLIP-th limited answer of each worker slips: the ratio holds to a worker.
            check((limited - (SLIP - 1) * WORKERS) // SLIP <= slipped <= limited // SLIP,
                  "slipped %d of %d limited, slip %d" % (slipped, limited, SLIP))
    sys.exit(summary())


if __name__ == "__main__":
    main()
