#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The README's stateful app example (cut out of README.md by readme_app.cmake), run as
`--listen` with two front-ends, 127.0.0.1 and 127.0.0.2 on one port: the answer follows
which of them accepts TCP connections (a listener opened or closed by the test), within the
1 s probe interval plus slack; SIGTERM stops it with status 0.

usage: /usr/bin/python3 readme_app_test.py BINARY
"""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402
from checks import expect, step, summary  # noqa: E402
from pdns import free_port  # noqa: E402


def listener(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(16)
    return s


def main():
    binary = sys.argv[1]
    first = listener("127.0.0.1", 0)
    port = first.getsockname()[1]
    dns_port = free_port()
    proc = subprocess.Popen([binary, "--backend", "127.0.0.1", "--backend", "127.0.0.2",
                             "--port", str(port), "--listen", "127.0.0.1:%d" % dns_port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    second = []

    def answer():
        q = dns.message.make_query("www.lb.example.", "A")
        try:
            r = dns.query.udp(q, "127.0.0.1", port=dns_port, timeout=1)
        except (dns.exception.Timeout, OSError):
            return None
        return sorted(rd.address for rrset in r.answer for rd in rrset)

    def wait(want, within=3.0):
        t0 = time.monotonic()
        got = None
        while time.monotonic() - t0 < within:
            got = answer()
            if got == want or proc.poll() is not None:
                break
            time.sleep(0.05)
        expect(got == want, "answer %r" % want, "got %r" % got)

    def follow():
        wait(["127.0.0.1"], within=10)  # start-up included
        second.append(listener("127.0.0.2", port))
        wait(["127.0.0.1", "127.0.0.2"])
        first.close()
        wait(["127.0.0.2"])
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        expect(rc == 0, "exit status 0 on SIGTERM", rc)

    try:
        if not step("the README's stateful app follows its front-ends", follow):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            print(proc.stderr.read())
        return summary()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        first.close()
        for s in second:
            s.close()


if __name__ == "__main__":
    sys.exit(main())
