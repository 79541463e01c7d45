# SPDX-License-Identifier: MIT
"""Start and stop `automapd serve` on an ephemeral loopback port for tests."""
import os
import re
import signal
import subprocess
import tempfile
import time


class Automapd:
    """automapd serve -c CONFIG --listen 127.0.0.1:0; .port is the UDP/TCP port it got.

    listen=None passes no --listen, so the config's `listen:` applies (and a reload may change
    it). wait_port=False returns at once (for start-up tests); .port is then None.
    """

    def __init__(self, binary, config_text, listen=("127.0.0.1:0",), threads=2, extra_args=(),
                 wait_port=True):
        self.dir = tempfile.mkdtemp(prefix="automapd-test-")
        self.config = os.path.join(self.dir, "automap.yaml")
        with open(self.config, "w") as f:
            f.write(config_text.replace("@DIR@", self.dir))
        self.log_path = os.path.join(self.dir, "stderr.log")
        args = [binary, "serve", "-c", self.config, "--threads", str(threads)]
        for l in listen or ():
            args += ["--listen", l]
        args += list(extra_args)
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = self._wait_for_port() if wait_port else None

    def _wait_for_port(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("automapd exited with %s:\n%s" % (self.proc.returncode, self.stderr()))
            m = re.search(r"listening udp [^ ]*:(\d+)", self.stderr())
            if m and "listening tcp" in self.stderr():
                return int(m.group(1))
            time.sleep(0.05)
        raise RuntimeError("automapd did not start listening:\n" + self.stderr())

    def stderr(self):
        with open(self.log_path) as f:
            return f.read()

    def count(self, text):
        """How many stderr lines contain `text`."""
        return sum(1 for line in self.stderr().splitlines() if text in line)

    def wait_log(self, text, count=1, timeout=10):
        """Waits (bounded) until `text` is on `count` stderr lines; returns whether it was."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(text) >= count:
                return True
            if self.proc.poll() is not None:
                return self.count(text) >= count
            time.sleep(0.02)
        return False

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
