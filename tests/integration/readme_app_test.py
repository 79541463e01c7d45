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
    second = None

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
            if got == want:
                return
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("expected %r, got %r" % (want, got))

    try:
        wait(["127.0.0.1"], within=10)  # start-up included
        second = listener("127.0.0.2", port)
        wait(["127.0.0.1", "127.0.0.2"])
        first.close()
        wait(["127.0.0.2"])
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        if rc != 0:
            raise AssertionError("exit status %d on SIGTERM" % rc)
        print("ok   the README's stateful app follows its front-ends")
        print("PASS")
        return 0
    except AssertionError as e:
        print("FAIL %s" % e)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        print(proc.stderr.read())
        print("FAILED")
        return 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        first.close()
        if second is not None:
            second.close()


if __name__ == "__main__":
    sys.exit(main())
