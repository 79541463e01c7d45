#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mapctl end to end on a real LMDB store in a temp dir: every verb, --json parsed with the
json module, exit codes 0/1/2, all-or-nothing import with exact file:line errors, --force,
--purge (with a recording stand-in for pdns_control), a full map, no store configured.

usage: mapctl_test.py MAPCTL
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, summary  # noqa: E402
from config import HEAD_SOA_TIMERS, PREFIX_V4, PREFIX_V6  # noqa: E402

CONFIG = HEAD_SOA_TIMERS + "ttl: 3600\n" + PREFIX_V4 + "    ttl: 86400\n" + PREFIX_V6


class Ctl:
    def __init__(self, binary, config, env=None):
        self.binary = binary
        self.config = config
        self.env = dict(os.environ)
        self.env.pop("AUTOMAP_CONFIG", None)
        if env:
            self.env.update(env)

    def run(self, *args, rc=0, config=True):
        argv = [self.binary] + (["-c", self.config] if config and self.config else []) + list(args)
        p = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=120)
        check(p.returncode == rc, "%s -> exit %d, expected %d" % (" ".join(args), p.returncode, rc),
              "stdout: %s\nstderr: %s" % (p.stdout[-2000:], p.stderr[-2000:]))
        return p

    def json(self, *args, rc=0):
        p = self.run(*args, "--json", rc=rc)
        try:
            return json.loads(p.stdout)
        except ValueError as e:
            check(False, "%s --json is not JSON: %s" % (" ".join(args), e), p.stdout)
            return {}

    def jsonl(self, *args):
        p = self.run(*args, "--json")
        out = []
        for line in p.stdout.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError as e:
                check(False, "%s --json line is not JSON: %s" % (" ".join(args), e), line)
        return out

    def export(self, *args):
        return self.run("export", *args).stdout


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def test_usage(ctl):
    ctl.run(rc=2)                                   # no verb
    ctl.run("frobnicate", rc=2)
    ctl.run("add", rc=2)                            # missing ADDR
    ctl.run("add", "10.1.2.3", rc=2)                # neither NAME nor --none
    p = ctl.run("add", "10.1.2.3", "a.example.", "--none", rc=2)
    check("excludes" in p.stderr, "--none with a NAME names the conflict", p.stderr)
    ctl.run("add", "10.1.2.3", "a.example.", "--ttl", "abc", rc=2)
    ctl.run("add", "10.1.2.3", "a.example.", "--ttl", "2147483648", rc=2)
    ctl.run("list", "--bogus", rc=2)
    ctl.run("import", rc=2)
    ctl.run("export", "--format", "xml", rc=2)
    ctl.run("lookup", rc=2)
    p = ctl.run("--help", rc=0)
    check("import" in p.stdout and "lookup" in p.stdout, "--help lists the verbs", p.stdout)


def test_no_store(binary, tmp):
    conf = write(os.path.join(tmp, "nostore.yaml"), CONFIG)
    ctl = Ctl(binary, conf)
    want = "no store configured: add `store: { path: DIR }` to %s" % conf
    for args in (["add", "10.1.2.3", "a.example."], ["del", "10.1.2.3"], ["get", "10.1.2.3"],
                 ["list"], ["export"], ["stats"], ["import", conf]):
        p = ctl.run(*args, rc=1)
        check(want in p.stderr, "%s without a store says how to configure one" % args[0], p.stderr)
    # Verbs that do not need the store still work.
    d = ctl.json("check")
    check(d.get("ok") is True and d.get("store") is None, "check without a store", str(d))
    d = ctl.json("lookup", "10.1.2.3")
    check(d.get("answer") == ["3.2.1.10.in-addr.arpa. 86400 IN PTR ip-10-1-2-3.pool.example.net."],
          "lookup without a store synthesizes", str(d))


def test_verbs(ctl, tmp):
    # Reading verbs before the store exists: a clear error, not an empty success.
    p = ctl.run("list", rc=1)
    check("does not exist yet" in p.stderr, "list before the store exists", p.stderr)

    p = ctl.run("add", "10.1.2.3", "Mail.Customer.example", "--ttl", "300")
    check("added 10.1.2.3: name Mail.Customer.example. ttl=300" in p.stdout,
          "add makes the name absolute", p.stdout)
    d = ctl.json("get", "10.1.2.3")
    check(d == {"address_or_prefix": "10.1.2.3", "kind": "name",
                "target": "Mail.Customer.example.", "ttl": 300}, "get --json", str(d))
    p = ctl.run("add", "10.1.2.3", "mail.customer.example.")
    check("replaced 10.1.2.3" in p.stdout and "was name Mail.Customer.example. ttl=300" in p.stdout,
          "add over an override says what it replaced", p.stdout)
    ctl.run("add", "10.1.2.4", "--none")
    ctl.run("add", "10.1.2.5", "host5.pool.example.net.", "--ttl", "60")
    ctl.run("add", "2001:db8:1200::/56", "cust42-{ip}.biz.pool.example.net.")
    ctl.run("add", "10.9.0.0/16", "--none", "--ttl", "120")
    ctl.run("add", "10.1.2.0/24", "r-{d}.pool.example.net.")

    # Errors: exit 1, the cause and the fix.
    p = ctl.run("add", "10.1.2.3/8", "x-{ip}.pool.example.net.", rc=1)
    check("did you mean 10.0.0.0/8?" in p.stderr, "host bits -> did you mean", p.stderr)
    p = ctl.run("add", "192.0.2.1", "a.example.", rc=1)
    check("192.0.2.1 is outside every prefix configured in %s" % ctl.config in p.stderr and
          "--force" in p.stderr, "outside every prefix -> refused naming --force", p.stderr)
    ctl.run("add", "192.0.2.1", "a.example.", "--force")
    ctl.run("del", "192.0.2.1")
    p = ctl.run("add", "10.2.0.0/16", "x-{bogus}.pool.example.net.", rc=1)
    check("template 'x-{bogus}.pool.example.net.' for 10.2.0.0/16: " in p.stderr,
          "bad template -> compile error", p.stderr)
    p = ctl.run("add", "10.1.2.6", "bad_name.example.", rc=1)
    check("not a valid host name" in p.stderr, "bad name", p.stderr)
    p = ctl.run("add", "10.1.2.6", "ip-10-1-2-7.pool.example.net.", rc=1)
    check("already the synthesized name of 10.1.2.7" in p.stderr, "name collision", p.stderr)
    p = ctl.run("get", "10.1.2.99", rc=1)
    check("no override for 10.1.2.99" in p.stderr, "get of nothing", p.stderr)
    p = ctl.run("get", "banana", rc=1)
    check("bad address 'banana'" in p.stderr, "get of garbage", p.stderr)

    # list: address order, prefix filter, limit, JSON lines.
    rows = ctl.jsonl("list")
    keys = [r["address_or_prefix"] for r in rows]
    check(keys == ["10.1.2.0/24", "10.1.2.3", "10.1.2.4", "10.1.2.5", "10.9.0.0/16",
                   "2001:db8:1200::/56"], "list is in address order", str(keys))
    check(all("updated" in r and r["updated"].endswith("Z") for r in rows),
          "list --json has timestamps", str(rows))
    rows = ctl.jsonl("list", "10.1.2.0/24")
    check([r["address_or_prefix"] for r in rows] == ["10.1.2.0/24", "10.1.2.3", "10.1.2.4", "10.1.2.5"],
          "list PREFIX", str(rows))
    rows = ctl.jsonl("list", "--limit", "2")
    check(len(rows) == 2, "list --limit", str(rows))
    p = ctl.run("list", "10.1.2.0/24")
    check("10.1.2.4 none - ttl=default" in p.stdout, "list text", p.stdout)
    p = ctl.run("list", "10.1.2.1/24", rc=1)
    check("did you mean 10.1.2.0/24?" in p.stderr, "list with host bits", p.stderr)

    # lookup: same answers as the servers, with the explanation.
    d = ctl.json("lookup", "10.1.2.3")
    check(d.get("rcode") == "NOERROR" and
          d.get("answer") == ["3.2.1.10.in-addr.arpa. 86400 IN PTR mail.customer.example."] and
          d.get("source") == "address_override", "lookup of an address override", str(d))
    d = ctl.json("lookup", "10.1.2.4")
    check(d.get("rcode") == "NXDOMAIN" and d.get("source") == "address_override",
          "lookup of --none", str(d))
    # A prefix override owns its addresses forward too: the config name of 10.1.2.3 is gone.
    d = ctl.json("lookup", "ip-10-1-2-3.pool.example.net.")
    check(d.get("rcode") == "NXDOMAIN", "a prefix override takes over the config names", str(d))
    d = ctl.json("lookup", "10.1.2.8")
    check(d.get("answer") == ["8.2.1.10.in-addr.arpa. 86400 IN PTR r-8.pool.example.net."] and
          d.get("source") == "prefix_override" and d.get("prefix") == "10.1.2.0/24" and
          d.get("template") == "r-{d}.pool.example.net." and d.get("fcrdns") is True,
          "lookup of a prefix override", str(d))
    d = ctl.json("lookup", "10.1.3.8")
    check(d.get("answer") == ["8.3.1.10.in-addr.arpa. 86400 IN PTR ip-10-1-3-8.pool.example.net."]
          and d.get("source") == "config" and d.get("prefix") == "10.0.0.0/8" and
          d.get("origin", "").startswith(ctl.config + ":8 prefixes[0]") and d.get("ttl") == 86400,
          "lookup of a config prefix names file:line", str(d))
    d = ctl.json("lookup", "host5.pool.example.net.")
    check(d.get("answer") == ["host5.pool.example.net. 60 IN A 10.1.2.5"] and
          d.get("qtype") == "A", "lookup of an override name forward", str(d))
    d = ctl.json("lookup", "cust42-2001-db8-1200--5.biz.pool.example.net.")
    check(d.get("answer") == ["cust42-2001-db8-1200--5.biz.pool.example.net. 3600 IN AAAA 2001:db8:1200::5"]
          and d.get("qtype") == "AAAA", "lookup picks AAAA for an IPv6 name", str(d))
    d = ctl.json("lookup", "ip-10-1-3-8.pool.example.net.", "TXT")
    check(d.get("rcode") == "NOERROR" and d.get("answer") == [] and d.get("authority"),
          "lookup with QTYPE: NODATA with SOA", str(d))
    d = ctl.json("lookup", "www.elsewhere.example.")
    check(d.get("rcode") == "REFUSED" and d.get("in_zone") is False, "lookup outside the zones", str(d))
    # Issue 12 section 6: status agrees with rcode outside the zones (a name, an address
    # outside every prefix, IPv4 and IPv6), never "nxdomain" next to REFUSED.
    for q in ("www.elsewhere.example.", "192.0.2.1", "2001:db9::1"):
        d = ctl.json("lookup", q)
        check(d.get("rcode") == "REFUSED" and d.get("status") == "refused"
              and d.get("answer") == [] and d.get("authority") == [],
              "lookup %s outside the zones: status agrees with rcode" % q, str(d))
    d = ctl.json("lookup", "nope.pool.example.net.")
    check(d.get("rcode") == "NXDOMAIN" and d.get("status") == "nxdomain",
          "lookup of a missing name inside a zone: NXDOMAIN both ways", str(d))
    p = ctl.run("lookup", "10.1.3.8")
    check("source: config prefix 10.0.0.0/8 from %s:8 prefixes[0] with template" % ctl.config
          in p.stdout and "ttl: 86400" in p.stdout, "lookup text", p.stdout)
    ctl.run("lookup", "10.1.3.8", "BOGUS", rc=1)

    # stats and check.
    d = ctl.json("stats")
    check(d.get("address_overrides") == 3 and d.get("prefix_overrides") == 3 and d.get("names") == 2
          and d.get("tombstones", 0) >= 1 and 0 < d.get("used_percent", -1) < 100 and
          d.get("map_size") == 64 << 20, "stats --json", str(d))
    p = ctl.run("stats")
    check("address overrides: 3" in p.stdout and "readers:" in p.stdout, "stats text", p.stdout)
    d = ctl.json("check")
    check(d.get("ok") is True and d.get("overrides") == 6 and d.get("warnings") == [] and
          d.get("reverse_zones") == ["10.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa."],
          "check --json", str(d))

    # del
    p = ctl.run("del", "10.1.2.5")
    check("deleted 10.1.2.5 (was name host5.pool.example.net. ttl=60)" in p.stdout, "del", p.stdout)
    p = ctl.run("del", "10.1.2.5", rc=1)
    check("no override for 10.1.2.5" in p.stderr, "del twice", p.stderr)
    ctl.run("del", "10.9.0.0/16")
    d = ctl.json("lookup", "host5.pool.example.net.")
    check(d.get("rcode") == "NXDOMAIN", "a deleted override name stops resolving", str(d))


def test_import_export(ctl, tmp):
    before = ctl.export()
    check(before.startswith("address_or_prefix,kind,target,ttl\n"), "export has the header", before)
    good = write(os.path.join(tmp, "good.csv"),
                 "address_or_prefix,kind,target,ttl\n"
                 "# customers\n"
                 "10.3.0.1,name,a1.customer.example.,300\n"
                 "10.3.0.2,none,,\n"
                 "2001:db8:1300::/56,template,c13-{ip}.biz.pool.example.net.,0\n")
    p = ctl.run("import", good)
    check("imported 3 overrides from %s in one transaction" % good in p.stdout, "import", p.stdout)
    check("\r" not in p.stderr, "no progress line when stderr is not a terminal", p.stderr)
    after_good = ctl.export()
    check("10.3.0.1,name,a1.customer.example.,300\n" in after_good and
          "2001:db8:1300::/56,template,c13-{ip}.biz.pool.example.net.,0\n" in after_good,
          "export shows the import", after_good)

    bad = write(os.path.join(tmp, "bad.csv"),
                "address_or_prefix,kind,target,ttl\n"
                "10.3.0.5,name,fine.customer.example.,\n"
                "10.3.0.300,name,x.example.,\n"
                "10.3.0.6,nome,x.example.,\n"
                "192.0.2.7,name,x.example.,\n"
                "10.3.0.5,none,,\n"
                "10.4.0.1/16,template,h-{ip}.pool.example.net.,\n")
    p = ctl.run("import", bad, rc=1)
    expected = [
        "%s:3: bad address '10.3.0.300': not a valid IP address" % bad,
        "%s:4: unknown kind 'nome': use name, template or none" % bad,
        "%s:5: 192.0.2.7 is outside every prefix configured in %s" % (bad, ctl.config),
        "%s:6: 10.3.0.5 is already given on line 2: give each address or prefix once" % bad,
        "%s:7: bad prefix '10.4.0.1/16': address has bits set beyond the prefix length (did you mean 10.4.0.0/16?)" % bad,
    ]
    lines = p.stderr.splitlines()
    for e in expected:
        check(any(l.startswith(e) for l in lines), "import error line: " + e, p.stderr)
    check("5 bad lines out of 6, nothing imported" in p.stderr, "import error summary", p.stderr)
    check(ctl.export() == after_good, "a rejected import changes nothing")
    p = ctl.run("import", bad, "--max-errors", "2", rc=1)
    check("3 more errors not shown" in p.stderr, "--max-errors", p.stderr)
    # With stderr on a terminal (a pty), a progress line (lines, rate, percentage, ETA) redrawn
    # with \r and erased at the end; piped, not a byte of it.
    import pty

    def on_tty(*args):
        master, slave = pty.openpty()
        proc = subprocess.run([ctl.binary, "-c", ctl.config] + list(args),
                              stdout=subprocess.PIPE, stderr=slave, env=ctl.env, timeout=60)
        os.close(slave)
        tty_out = b""
        try:
            while True:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                tty_out += chunk
        except OSError:
            pass
        os.close(master)
        return proc.returncode, tty_out

    rc, tty_out = on_tty("import", good)
    check(rc == 0 and re.search(rb"\rmapctl import: checking \S+: \d+ lines, \d+ lines/s, 100%, "
                                rb"ETA 0 s\x1b\[K", tty_out) and b"\r\x1b[K" in tty_out and
          b"in one transaction" in tty_out, "import: progress line on a terminal", repr(tty_out))
    rc, tty_out = on_tty("export", os.path.join(tmp, "tty-export.csv"))
    # The store's meta counts give export its total: percentage and ETA as import has them.
    check(rc == 0 and re.search(rb"\rmapctl export: \S+: \d+ lines, \d+ lines/s, 100%, "
                                rb"ETA 0 s\x1b\[K", tty_out)
          and b"\r\x1b[K" in tty_out, "export: progress line on a terminal", repr(tty_out))
    p = ctl.run("import", good)
    q = ctl.run("export", os.path.join(tmp, "piped-export.csv"))
    check("\r" not in p.stderr + q.stderr and "lines/s" not in p.stderr + q.stderr,
          "import and export: no progress when stderr is not a terminal", p.stderr + q.stderr)
    p = ctl.run("import", "--dry-run", good)
    check("dry run: 3 overrides" in p.stdout, "--dry-run", p.stdout)
    ctl.run("import", os.path.join(tmp, "missing.csv"), rc=1)

    # JSON lines, by extension and by --format; export JSON lines and re-import it elsewhere.
    jl = write(os.path.join(tmp, "more.jsonl"),
               '{"address_or_prefix":"10.3.0.9","kind":"name","target":"j9.customer.example.","ttl":30}\n'
               '{"address_or_prefix":"10.3.0.10","kind":"none"}\n')
    ctl.run("import", jl)
    txt = write(os.path.join(tmp, "more.txt"), open(jl).read().replace("j9.", "k9."))
    ctl.run("import", txt, rc=1)   # .txt is read as CSV: every line is bad
    ctl.run("import", "--format", "jsonl", txt)
    d = ctl.json("get", "10.3.0.9")
    check(d.get("target") == "k9.customer.example.", "import --format jsonl", str(d))
    badjl = write(os.path.join(tmp, "bad.jsonl"),
                  '{"address_or_prefix":"10.3.0.11","kind":"name","target":"ok.example."}\n'
                  '{"address_or_prefix":"10.3.0.12","kind":"name","target":"x.example.",}\n')
    p = ctl.run("import", badjl, rc=1)
    col = open(badjl).read().splitlines()[1].index(",}") + 2   # 1-based column of the '}'
    check("%s:2: invalid JSON: column %d: unexpected '}'; expected string literal" % (badjl, col) in p.stderr,
          "JSON lines error with line and column", p.stderr)

    out_jsonl = os.path.join(tmp, "dump.jsonl")
    ctl.run("export", out_jsonl)
    rows = [json.loads(l) for l in open(out_jsonl)]
    check(len(rows) == len(ctl.export().splitlines()) - 1, "export FILE.jsonl writes JSON lines")
    p = ctl.run("export", "--json")
    check([json.loads(l) for l in p.stdout.splitlines()] == rows, "export --json to stdout")
    out_csv = os.path.join(tmp, "dump.csv")
    ctl.run("export", out_csv)
    check(open(out_csv).read() == ctl.export(), "export FILE.csv equals export to stdout")

    # Round trip into a fresh store through both formats.
    conf2 = write(os.path.join(tmp, "second.yaml"),
                  CONFIG + "store: { path: %s/store2, map_size: 64MiB }\n" % tmp)
    ctl2 = Ctl(ctl.binary, conf2)
    ctl2.run("import", out_jsonl, "--force")
    check(ctl2.export() == ctl.export(), "export -> import (JSON lines) -> export is identical")
    conf3 = write(os.path.join(tmp, "third.yaml"),
                  CONFIG + "store: { path: %s/store3, map_size: 64MiB }\n" % tmp)
    ctl3 = Ctl(ctl.binary, conf3)
    ctl3.run("import", out_csv, "--force")
    check(ctl3.export() == ctl.export(), "export -> import (CSV) -> export is identical")


def test_import_bytes(ctl, tmp):
    """Issue 17 item 14: a leading UTF-8 BOM is accepted; a NUL byte is rejected with
    file:line and the line is printed whole; control bytes in errors are escaped."""
    path = os.path.join(tmp, "bom.csv")
    with open(path, "wb") as f:
        f.write(b"\xef\xbb\xbf10.1.5.1,name,bom.pool.example.net.,\n")
    p = ctl.run("import", path)
    check("imported 1 overrides" in p.stdout, "import accepts a leading BOM", p.stdout + p.stderr)
    check(ctl.json("get", "10.1.5.1").get("target") == "bom.pool.example.net.", "the BOM line landed")
    path = os.path.join(tmp, "bom.jsonl")
    with open(path, "wb") as f:
        f.write(b'\xef\xbb\xbf{"address_or_prefix":"10.1.5.2","kind":"none"}\n')
    ctl.run("import", path)
    path = os.path.join(tmp, "nul.csv")
    with open(path, "wb") as f:
        f.write(b"10.1.5.3,name,nul\x00x.pool.example.net.,\n"
                b"10.1.5.4,name,bad\x1b[31mred.pool.example.net.,\n")
    p = subprocess.run([ctl.binary, "-c", ctl.config, "import", path], capture_output=True,
                       env=ctl.env, timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 1, "import with a NUL byte fails", err)
    check(("%s:1: a NUL byte at column 18: the file is not UTF-8 text" % path) in err,
          "the NUL is named with file:line", err)
    check(("%s:2: name 'bad\\x1b[31mred.pool.example.net.' is not a valid host name" % path) in err
          and b"\x1b" not in p.stderr and b"\x00" not in p.stderr,
          "control bytes in an error line are escaped", err)
    check("2 bad lines out of 2, nothing imported" in err, "the summary line is whole", err)


def test_env_and_purge(ctl, tmp):
    # AUTOMAP_CONFIG instead of -c.
    envctl = Ctl(ctl.binary, None, env={"AUTOMAP_CONFIG": ctl.config})
    d = envctl.json("get", "10.1.2.3")
    check(d.get("target") == "mail.customer.example.", "AUTOMAP_CONFIG picks the config", str(d))

    log = os.path.join(tmp, "purge.log")
    fake = write(os.path.join(tmp, "fake_pdns_control"),
                 "#!/bin/sh\necho \"$@\" >> %s\necho 0\n" % log)
    os.chmod(fake, 0o755)
    ctl.run("add", "10.1.2.20", "p20.pool.example.net.", "--purge", "--pdns-control", fake,
            "--pdns-socket-dir", "/run/x")
    ctl.run("add", "10.1.2.20", "p20b.pool.example.net.", "--purge", "--pdns-control", fake)
    ctl.run("del", "10.1.2.20", "--purge", "--pdns-control", fake)
    ctl.run("add", "2001:db8:1400::/56", "c14-{ip}.biz.pool.example.net.", "--purge",
            "--pdns-control", fake)
    got = open(log).read().splitlines()
    want = [
        "--socket-dir=/run/x purge 20.2.1.10.in-addr.arpa.$",
        "--socket-dir=/run/x purge p20.pool.example.net.$",
        "purge 20.2.1.10.in-addr.arpa.$",
        "purge p20.pool.example.net.$",
        "purge p20b.pool.example.net.$",
        "purge 20.2.1.10.in-addr.arpa.$",
        "purge p20b.pool.example.net.$",
    ]
    check(got[:7] == want, "--purge runs pdns_control purge NAME$ for reverse and forward names",
          "\n".join(got))
    rest = set(got[7:])
    check("purge 0.0.0.0.4.1.8.b.d.0.1.0.0.2.ip6.arpa.$" in rest and
          "purge biz.pool.example.net.$" in rest, "--purge of a prefix purges its reverse apex",
          "\n".join(got[7:]))
    # pdns_control failing: a warning, exit 0, the change stays.
    p = ctl.run("add", "10.1.2.21", "p21.pool.example.net.", "--purge", "--pdns-control", "/bin/false")
    check("warning: the change is stored" in p.stderr and "cache-ttl" in p.stderr,
          "a failing pdns_control is a warning", p.stderr)
    p = ctl.run("add", "10.1.2.22", "p22.pool.example.net.", "--purge", "--pdns-control",
                os.path.join(tmp, "does-not-exist"))
    check("warning:" in p.stderr, "a missing pdns_control is a warning", p.stderr)
    check(ctl.json("get", "10.1.2.22").get("target") == "p22.pool.example.net.",
          "the change landed despite the purge failure")
    open(log, "w").close()
    imp = write(os.path.join(tmp, "purge.csv"), "10.1.2.30,name,p30.pool.example.net.,\n")
    ctl.run("import", imp, "--purge", "--pdns-control", fake)
    got = open(log).read().splitlines()
    check(sorted(got) == ["purge 10.in-addr.arpa.$", "purge pool.example.net.$"],
          "import --purge purges per zone", "\n".join(got))


def test_map_full(binary, tmp):
    conf = write(os.path.join(tmp, "tiny.yaml"),
                 CONFIG + "store: { path: %s/tiny, map_size: 256KiB }\n" % tmp)
    ctl = Ctl(binary, conf)
    ctl.run("add", "10.1.2.3", "keep.customer.example.")
    before = ctl.export()
    big = os.path.join(tmp, "toobig.csv")
    with open(big, "w") as f:
        for i in range(20000):
            f.write("10.7.%d.%d,name,host-number-%d.some-long-customer-domain.example.,\n"
                    % (i // 256, i % 256, i))
    p = ctl.run("import", big, rc=1)
    check("store is full" in p.stderr and "raise store.map_size" in p.stderr and
          "nothing was imported" in p.stderr, "map full: actionable error", p.stderr)
    check(ctl.export() == before, "map full: nothing changed")


def test_write_rules(binary, tmp):
    """Issue 17 items 9 and 10: colliding templates and shared names are refused by add and
    import alike (file:line and the other side), --force lets names be shared with the later
    line winning, mapctl check reports what is already stored, lookup names the real cause."""
    conf = write(os.path.join(tmp, "rules.yaml"),
                 CONFIG + "  - prefix: 10.40.1.0/24\n    name: \"cfg-{d}.pool.example.net.\"\n"
                 + "store: { path: %s/rules, map_size: 64MiB }\n" % tmp)
    ctl = Ctl(binary, conf)
    ctl.run("add", "10.20.1.0/24", "in22-{d}.pool.example.net.")
    p = ctl.run("add", "10.20.2.0/24", "in22-{d}.pool.example.net.", rc=1)
    check("the override 10.20.2.0/24 and the override 10.20.1.0/24 in the store share the "
          "template \"in22-{d}.pool.example.net.\"" in p.stderr and "nothing was changed" in p.stderr,
          "add: a colliding prefix template is refused", p.stderr)
    d = ctl.json("lookup", "in22-7.pool.example.net.")
    check(d.get("answer") == ["in22-7.pool.example.net. 86400 IN A 10.20.1.7"],
          "the refused template left the forward answer alone", str(d))
    ctl.run("add", "10.20.3.7/32", "h{d}.pool.example.net.")
    p = ctl.run("add", "10.20.4.7/32", "h{d}.pool.example.net.", rc=1)
    check("share the template" in p.stderr, "add: two colliding /32 templates", p.stderr)
    p = ctl.run("add", "10.20.5.0/24", "cfg-{d}.pool.example.net.", rc=1)
    check("the configured prefix 10.40.1.0/24 (%s:13 prefixes[2])" % conf in p.stderr,
          "add: a template colliding with the configuration names its file:line", p.stderr)
    ctl.run("add", "10.20.6.0/24", "x-{ip}.pool.example.net.")   # self-contained: never collide
    ctl.run("add", "10.20.7.0/24", "x-{ip}.pool.example.net.")

    ctl.run("add", "10.1.1.1", "mail.pool.example.net.")
    p = ctl.run("add", "10.1.1.2", "mail.pool.example.net.", rc=1)
    check("the name mail.pool.example.net. is already the override of 10.1.1.1 in the store"
          in p.stderr and "--force" in p.stderr, "add: a shared name is refused", p.stderr)
    before = ctl.export()
    imp = write(os.path.join(tmp, "rules.csv"),
                "address_or_prefix,kind,target,ttl\n"
                "10.1.2.9,name,x.pool.example.net.,\n"
                "10.1.2.5,name,y.pool.example.net.,\n"
                "10.1.2.1,name,x.pool.example.net.,\n"
                "10.1.2.3,name,mail.pool.example.net.,\n"
                "10.50.1.0/24,template,in22-{d}.pool.example.net.,\n")
    for extra in ([], ["--dry-run"]):
        p = ctl.run("import", imp, *extra, rc=1)
        check("%s:4: the name x.pool.example.net. is already the override of 10.1.2.9 (line 2)" % imp
              in p.stderr, "import %s: a name given twice names both lines" % extra, p.stderr)
        check("%s:5: the name mail.pool.example.net. is already the override of 10.1.1.1 in the "
              "store" % imp in p.stderr, "import %s: a name of the store" % extra, p.stderr)
        check("%s:6: the override 10.50.1.0/24 and the override 10.20.1.0/24 in the store" % imp
              in p.stderr, "import %s: a colliding template" % extra, p.stderr)
        check("3 lines out of 5 conflict" in p.stderr, "import %s: the count" % extra, p.stderr)
    check(ctl.export() == before, "a refused import changes nothing")
    # --force: names may be shared and the later line wins, whatever the address order
    # (the template collision stays refused: drop that line).
    forced = write(os.path.join(tmp, "forced.csv"),
                   "10.1.2.9,name,x.pool.example.net.,\n10.1.2.1,name,x.pool.example.net.,\n"
                   "10.1.3.1,name,z.pool.example.net.,\n10.1.3.9,name,z.pool.example.net.,\n")
    ctl.run("import", forced, "--force")
    d = ctl.json("lookup", "x.pool.example.net.")
    check(d.get("answer") == ["x.pool.example.net. 86400 IN A 10.1.2.1"],
          "import --force: the later line wins (lower address)", str(d))
    d = ctl.json("lookup", "z.pool.example.net.")
    check(d.get("answer") == ["z.pool.example.net. 86400 IN A 10.1.3.9"],
          "import --force: the later line wins (higher address)", str(d))
    # lookup names the real cause of the broken FCrDNS, and check reports it.
    p = ctl.run("lookup", "10.1.2.9")
    check("does not resolve back to 10.1.2.9 in automap: it resolves to 10.1.2.1 instead "
          "(override for address 10.1.2.1" in p.stdout and "outside" not in p.stdout,
          "lookup explains a shared name", p.stdout)
    p = ctl.run("check", rc=1)
    check("stored override 10.1.2.9: its name x.pool.example.net. is also the override of 10.1.2.1"
          in p.stderr and "stored override 10.1.3.1: its name z.pool.example.net." in p.stderr,
          "check reports names shared in the store", p.stderr)
    d = ctl.json("check", rc=1)
    check(d.get("ok") is False and len(d.get("conflicts", [])) == 2, "check --json conflicts", str(d))
    ctl.run("add", "10.1.2.9", "x9.pool.example.net.")
    ctl.run("add", "10.1.3.1", "z1.pool.example.net.")
    d = ctl.json("check")
    check(d.get("ok") is True and d.get("conflicts") == [], "check is clean once fixed", str(d))
    # A config edited after an override was stored: check finds the new collision.
    ctl.run("add", "10.20.8.0/24", "late-{d}.pool.example.net.")
    conf2 = write(os.path.join(tmp, "rules2.yaml"), open(conf).read().replace(
        "store:", "  - prefix: 10.41.0.0/24\n    name: \"late-{d}.pool.example.net.\"\nstore:"))
    p = Ctl(binary, conf2).run("check", rc=1)
    check("stored overrides: the override 10.20.8.0/24 and the configured prefix 10.41.0.0/24 "
          "(%s:15 prefixes[3]) share the template" % conf2 in p.stderr,
          "check reports a template collision with the edited config", p.stderr)


def test_compact(binary, tmp):
    """Issue 17 item 7, scaled down: renaming 2000 live overrides on each re-import fills a
    4 MiB map with name tombstones after 12 rounds; `mapctl compact` with the retention purges
    them, so 14 rounds fit, and it keeps every live override byte for byte."""
    def rounds(ctl, compact):
        for r in range(1, 15):
            path = os.path.join(tmp, "round.csv")
            with open(path, "w") as f:
                for i in range(2000):
                    f.write("10.7.%d.%d,name,round%d-host-%d.customer.example.,\n"
                            % (i // 256, i % 256, r, i))
            p = subprocess.run([binary, "-c", ctl.config, "import", path], capture_output=True,
                               text=True, env=ctl.env, timeout=120)
            if p.returncode != 0:
                return r, p.stderr
            if compact:
                before = ctl.export()
                out = ctl.run("compact").stdout
                check(("compact: purged %d tombstones older than 0s" % (2000 if r > 1 else 0)) in out,
                      "compact round %d purges the renamed names" % r, out)
                check(ctl.export() == before, "compact round %d keeps every override" % r)
        return None, ""

    base = CONFIG + "store: { path: %s/%%s, map_size: 4MiB, tombstone_retention: 0 }\n" % tmp
    plain = Ctl(binary, write(os.path.join(tmp, "tomb1.yaml"), base % "tomb1"))
    failed, err = rounds(plain, compact=False)
    check(failed is not None and "store is full" in err,
          "without compact the tombstones fill the map (round %s)" % failed, err)
    d = plain.json("stats")
    check(d.get("tombstones", 0) >= 20000 and d.get("expired_tombstones") == d.get("tombstones")
          and d.get("tombstone_retention_s") == 0, "stats --json counts the tombstones", str(d))
    # A retention that keeps them: compact purges nothing and says so.
    d = plain.json("compact", "--retention", "7d")
    check(d.get("purged") == 0 and d.get("kept", 0) >= 20000, "compact keeps young tombstones", str(d))
    before = plain.export()
    d = plain.json("compact")
    check(d.get("purged", 0) >= 20000 and d.get("tombstones") == 0 and d.get("free_pages", 0) > 0,
          "compact purges them and their pages are free", str(d))
    check(plain.export() == before, "compact keeps every live override byte for byte")
    failed, err = rounds(plain, compact=False)
    check(failed is not None and failed >= 12, "after compact, imports fit again (%s)" % failed, err)

    fresh = Ctl(binary, write(os.path.join(tmp, "tomb2.yaml"), base % "tomb2"))
    failed, err = rounds(fresh, compact=True)
    check(failed is None, "14 renaming rounds fit with compact after each", err)
    p = fresh.run("stats")
    check("tombstones: 0" in p.stdout and "free for reuse" in p.stdout, "stats text", p.stdout)
    p = fresh.run("compact", "--retention", "soon", rc=2)
    check("bad --retention 'soon'" in p.stderr, "compact --retention is checked", p.stderr)
    bad = write(os.path.join(tmp, "tomb3.yaml"), base.replace("tombstone_retention: 0",
                                                              "tombstone_retention: 1w") % "tomb3")
    p = Ctl(binary, bad).run("check", rc=1)
    check("store.tombstone_retention: expected a duration" in p.stderr, "a bad retention", p.stderr)


def test_bulk(binary, tmp):
    conf = write(os.path.join(tmp, "bulk.yaml"),
                 CONFIG + "store: { path: %s/bulkstore, map_size: 64MiB }\n" % tmp)
    ctl = Ctl(binary, conf)
    ctl.run("del", rc=2)                                      # no key, --within or --from
    ctl.run("del", "10.1.2.3", "--within", "10.0.0.0/8", rc=2)
    ctl.run("del", "--within", "10.0.0.0/8", "--from", conf, rc=2)
    ctl.run("del", "10.1.2.3", "--dry-run", rc=2)            # bulk options only
    p = ctl.run("del", "--within", "10.1.2.3", rc=1)
    check("give a prefix such as 10.1.2.3/32" in p.stderr, "--within wants a prefix", p.stderr)

    f1 = write(os.path.join(tmp, "b1.csv"),
               "10.5.0.1,name,a.pool.example.net.,\n10.5.0.2,name,b.pool.example.net.,300\n"
               "10.5.1.0/24,template,c-{d}.pool.example.net.,\n")
    d = ctl.json("import", f1)
    check((d.get("added"), d.get("replaced"), d.get("unchanged"), d.get("removed"), d.get("dry_run"))
          == (3, 0, 0, 0, False), "import --json counts", str(d))
    ctl.run("add", "10.5.0.9", "stale.pool.example.net.")
    ctl.run("add", "10.6.0.1", "outside.pool.example.net.")
    # b changes its TTL, a is unchanged, the /24 goes, 10.5.0.9 goes, d is new.
    f2 = write(os.path.join(tmp, "b2.csv"),
               "10.5.0.1,name,a.pool.example.net.,\n10.5.0.2,name,b.pool.example.net.,600\n"
               "10.5.0.4,name,d.pool.example.net.,\n")
    d = ctl.json("import", f2, "--replace-within", "10.5.0.0/16", "--dry-run")
    check((d.get("added"), d.get("replaced"), d.get("unchanged"), d.get("removed"), d.get("dry_run"))
          == (1, 1, 1, 2, True), "--replace-within --dry-run counts", str(d))
    check(ctl.run("get", "10.5.0.9").returncode == 0, "a dry run removes nothing")
    p = ctl.run("import", f2, "--replace-within", "10.5.0.0/16")
    check("1 added, 1 replaced, 1 unchanged, 2 removed" in p.stdout, "sync report", p.stdout)
    ctl.run("get", "10.5.0.9", rc=1)
    ctl.run("get", "10.5.1.0/24", rc=1)
    ctl.run("get", "10.6.0.1")
    check(ctl.run("get", "10.5.0.2").stdout.startswith("10.5.0.2 name b.pool.example.net. ttl=600"),
          "the sync replaced b")
    # Running the same sync again changes nothing.
    d = ctl.json("import", f2, "--replace-within", "10.5.0.0/16")
    check((d.get("added"), d.get("replaced"), d.get("unchanged"), d.get("removed")) == (0, 0, 3, 0),
          "a repeated sync is all unchanged", str(d))
    # A line outside the prefix refuses the whole sync.
    f3 = write(os.path.join(tmp, "b3.csv"),
               "10.5.0.1,name,a.pool.example.net.,\n10.6.0.7,name,e.pool.example.net.,\n")
    p = ctl.run("import", f3, "--replace-within", "10.5.0.0/16", rc=1)
    check("%s:2: 10.6.0.7 is outside --replace-within 10.5.0.0/16" % f3 in p.stderr,
          "a line outside --replace-within is named", p.stderr)
    ctl.run("get", "10.5.0.4")
    ctl.run("import", f3, "--replace-within", "10.5.0.1", rc=1)

    # del --from: a bad line refuses the whole list.
    bad = write(os.path.join(tmp, "bad.txt"), "# keys\n10.5.0.1\n10.5.0.300\n")
    p = ctl.run("del", "--from", bad, rc=1)
    check("%s:3:" % bad in p.stderr and "nothing deleted" in p.stderr, "del --from bad line",
          p.stderr)
    ctl.run("get", "10.5.0.1")
    ctl.run("del", "--from", os.path.join(tmp, "nope.txt"), rc=1)
    # An export (CSV, first field) works as a list; a key with no override is counted.
    keys = write(os.path.join(tmp, "keys.csv"),
                 "address_or_prefix,kind,target,ttl\n10.5.0.1,name,a.pool.example.net.,0\n"
                 "10.5.0.77\n")
    d = ctl.json("del", "--from", keys, "--dry-run")
    check((d.get("removed"), d.get("not_found"), d.get("listed")) == (1, 1, 2), "del --from --dry-run",
          str(d))
    ctl.run("get", "10.5.0.1")
    p = ctl.run("del", "--from", keys)
    check("deleted 1 override listed in %s in one transaction (1 listed key had no override)" % keys
          in p.stdout, "del --from text", p.stdout)
    ctl.run("get", "10.5.0.1", rc=1)

    # del --within: address and prefix overrides inside, the prefix itself included; a wider
    # prefix that starts at the same address stays.
    ctl.run("add", "10.5.0.0/16", "w-{c}-{d}.pool.example.net.")
    ctl.run("add", "10.5.0.0/24", "n-{d}.pool.example.net.")
    ctl.run("add", "10.5.0.0/8", "--none", rc=1)  # not a network address
    ctl.run("add", "10.0.0.0/8", "x-{b}-{c}-{d}.pool.example.net.")
    d = ctl.json("del", "--within", "10.5.0.0/16", "--dry-run")
    check(d.get("removed") == 4, "del --within --dry-run counts", str(d))  # .2 .4 /16 /24
    p = ctl.run("del", "--within", "10.5.0.0/16")
    check("deleted 4 overrides inside 10.5.0.0/16 in one transaction" in p.stdout, "del --within",
          p.stdout)
    left = [e["address_or_prefix"] for e in ctl.jsonl("list")]
    check(left == ["10.0.0.0/8", "10.6.0.1"], "del --within leaves what is outside", str(left))
    p = ctl.run("del", "--within", "10.5.0.0/16")
    check("deleted 0 overrides" in p.stdout, "del --within of an empty range exits 0", p.stdout)


def test_bad_config(binary, tmp):
    conf = write(os.path.join(tmp, "broken.yaml"), CONFIG.replace("10.0.0.0/8", "10.0.0.1/8"))
    ctl = Ctl(binary, conf)
    d = ctl.json("check", rc=1)
    check(d.get("ok") is False and any("did you mean 10.0.0.0/8?" in e["message"] for e in d.get("errors", [])),
          "check --json lists config errors", str(d))
    p = ctl.run("check", rc=1)
    check("%s:8:" % conf in p.stderr, "check prints file:line", p.stderr)
    p = ctl.run("list", rc=1)
    check("has errors" in p.stderr, "a store verb with a broken config", p.stderr)
    Ctl(binary, os.path.join(tmp, "nope.yaml")).run("list", rc=1)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="mapctl-test-")
    try:
        conf = write(os.path.join(tmp, "automap.yaml"),
                     CONFIG + "store: { path: %s/store, map_size: 64MiB }\n" % tmp)
        ctl = Ctl(binary, conf)
        test_usage(ctl)
        test_no_store(binary, tmp)
        test_verbs(ctl, tmp)
        test_import_export(ctl, tmp)
        test_import_bytes(ctl, tmp)
        test_env_and_purge(ctl, tmp)
        test_map_full(binary, tmp)
        test_write_rules(binary, tmp)
        test_compact(binary, tmp)
        test_bulk(binary, tmp)
        test_bad_config(binary, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
