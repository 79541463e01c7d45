# SPDX-License-Identifier: MIT
"""Start and stop a real PowerDNS Authoritative (pdns_server) on a free loopback port.

Reusable by any integration test (pipe backend, remote backend, peers):

    from pdns import PdnsServer, pipe_settings

    settings = pipe_settings("/path/to/hello --zone hello.example.", abi=3)
    with PdnsServer(settings) as pdns:          # starts, waits until it answers DNS
        answer = pdns.query("hello.example.", "TXT")
        ...
    # stopped (SIGTERM, then SIGKILL) and the temp dir removed; pdns.log() is kept in memory

The server runs in the foreground (daemon=no, guardian=no) with --config-dir set to a fresh
temp dir that holds the generated pdns.conf, so no file under /etc/powerdns is read. If it
exits or never answers, PdnsError carries its command line, config and log.

dnspython is installed for /usr/bin/python3 on this image, not for a pyenv python3 on PATH:
run tests with /usr/bin/python3.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

PDNS_SERVER = shutil.which("pdns_server") or "/usr/sbin/pdns_server"

# Settings every test instance gets: foreground, no syslog, no caches (answers must come from
# the backend every time, or per-client answers leak between clients), no security poll
# (no network), no zone cache (the pipe backend cannot list zones: pdns 4.7 exits at start
# without this), one distributor thread (one coprocess, deterministic stats).
BASE_SETTINGS = {
    "daemon": "no",
    "guardian": "no",
    "disable-syslog": "yes",
    "log-timestamp": "no",
    "loglevel": "6",
    "local-address": "127.0.0.1",
    "security-poll-suffix": "",
    "zone-cache-refresh-interval": "0",
    "cache-ttl": "0",
    "query-cache-ttl": "0",
    "negquery-cache-ttl": "0",
    "distributor-threads": "1",
    "receiver-threads": "1",
    "webserver": "no",
    "api": "no",
}


class PdnsError(RuntimeError):
    """pdns_server did not start or misbehaved; the message includes its log."""


def free_port(host="127.0.0.1"):
    """A port that is free for both UDP and TCP on `host` right now (the kernel picks it)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return port
    raise PdnsError("no free UDP+TCP port found on %s" % host)


def pipe_settings(command, abi=1, timeout_ms=2000, **extra):
    """Settings for launch=pipe with `command` (split by pdns on single spaces, no shell)."""
    settings = {
        "launch": "pipe",
        "pipe-command": command,
        "pipe-abi-version": str(abi),
        "pipe-timeout": str(timeout_ms),
    }
    settings.update({k.replace("_", "-"): v for k, v in extra.items()})
    return settings


class PdnsServer:
    """One pdns_server process. Construct, then start() (or use it as a context manager)."""

    def __init__(self, settings, binary=PDNS_SERVER, host="127.0.0.1", port=None,
                 startup_timeout=30.0, keep_dir=False):
        self.settings = dict(BASE_SETTINGS)
        self.settings.update(settings)
        self.binary = binary
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.keep_dir = keep_dir
        self.dir = None
        self.proc = None
        self._log_text = ""
        self._log_file = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self):
        """Starts pdns_server and returns once it answers a DNS query over UDP and TCP."""
        if not os.access(self.binary, os.X_OK):
            raise PdnsError("pdns_server not found or not executable: %s" % self.binary)
        self.dir = tempfile.mkdtemp(prefix="pdns-test-")
        attempts = 1 if self.port else 3
        for attempt in range(attempts):
            port = self.port or free_port(self.host)
            try:
                self._spawn(port)
                self._wait_ready()
                self.port = port
                return self
            except PdnsError as e:
                in_use = "Address already in use" in self.log()
                self._terminate()
                if not in_use or attempt + 1 == attempts:
                    raise e
        return self

    def stop(self):
        """Stops the server (SIGTERM, then SIGKILL after 10 s); safe to call twice."""
        self._terminate()
        if self.dir and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- introspection ----------------------------------------------------------------------

    def log(self):
        """Everything pdns_server wrote to stdout/stderr so far (kept after stop())."""
        if self._log_file is not None:
            self._log_file.flush()
            self._log_file.seek(0)
            self._log_text = self._log_file.read()
        return self._log_text

    def config_text(self):
        lines = []
        for key, value in self.settings.items():
            if isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            lines.append("%s=%s" % (key, value))
        return "\n".join(lines) + "\n"

    def describe(self):
        """Command, config and log, for test failure messages."""
        return "command: %s\n--- pdns.conf ---\n%s--- pdns_server log ---\n%s" % (
            " ".join(self._argv()), self.config_text(), self.log())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- queries ---------------------------------------------------------------------------

    def query(self, qname, qtype="A", tcp=False, timeout=3.0, **make_query_args):
        """Sends one query and returns the dns.message.Message response."""
        q = dns.message.make_query(qname, dns.rdatatype.from_text(qtype)
                                   if isinstance(qtype, str) else qtype, **make_query_args)
        return self.send(q, tcp=tcp, timeout=timeout)

    def send(self, message, tcp=False, timeout=3.0):
        if tcp:
            return dns.query.tcp(message, self.host, port=self.port, timeout=timeout)
        return dns.query.udp(message, self.host, port=self.port, timeout=timeout)

    # -- internals -------------------------------------------------------------------------

    def _argv(self):
        return [self.binary, "--config-dir=%s" % (self.dir or "<tempdir>")]

    def _spawn(self, port):
        self.settings["local-port"] = str(port)
        self.settings["socket-dir"] = self.dir
        with open(os.path.join(self.dir, "pdns.conf"), "w") as f:
            f.write(self.config_text())
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = open(os.path.join(self.dir, "pdns.log"), "w+")
        self.proc = subprocess.Popen(
            self._argv(),
            stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.port = port

    def _wait_ready(self):
        """Bounded polling: a REFUSED answer is enough to know the listener is up."""
        deadline = time.monotonic() + self.startup_timeout
        probe = dns.message.make_query("automap-readiness-probe.invalid.", "SOA")
        last_error = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PdnsError("pdns_server exited with status %s during startup\n%s" % (
                    self.proc.returncode, self.describe()))
            try:
                dns.query.udp(probe, self.host, port=self.port, timeout=0.5)
                dns.query.tcp(probe, self.host, port=self.port, timeout=0.5)
                return
            except (OSError, dns.exception.Timeout) as e:  # not listening yet
                last_error = e
                time.sleep(0.05)
        raise PdnsError("pdns_server did not answer within %.0f s (last error: %r)\n%s" % (
            self.startup_timeout, last_error, self.describe()))

    def _terminate(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # Own session: the pipe coprocesses it forked get the signal too.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.log()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.proc = None
