#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Versions and usage exit codes of automapd and mapctl, and the pipe banner.

Usage: cli_test.py SOURCE_DIR AUTOMAPD MAPCTL VERSION

- `automapd --version` / `mapctl --version`: "<tool> VERSION (git DESCRIBE)", status 0;
- every usage error of automapd exits 2 (CLI11's own codes were 104-114), as mapctl does;
- a mistyped verb of either tool is named, with "did you mean" the closest verb (exit 2);
- `automapd pipe` answers HELO with "OK<TAB>automap pipe backend VERSION".
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, summary  # noqa: E402


def run(cmd, stdin=None):
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


def main():
    source, automapd, mapctl, version = sys.argv[1:5]
    for name, binary in (("automapd", automapd), ("mapctl", mapctl)):
        r = run([binary, "--version"])
        m = re.fullmatch(r"(\S+) (\S+) \(git (\S+)\)\n", r.stdout)
        check(r.returncode == 0 and m is not None and m.group(1) == name and
              m.group(2) == version and m.group(3),
              "%s --version: status %d, %r" % (name, r.returncode, r.stdout))

    with tempfile.TemporaryDirectory(prefix="automap-cli-") as tmp:
        config = os.path.join(tmp, "automap.yaml")
        with open(config, "w") as f:
            # The repository's example without its store: no LMDB needed here.
            text = open(os.path.join(source, "conf/automap.yaml")).read()
            f.write(re.sub(r"(?m)^store:.*$", "", text))
        usage_errors = [
            [],                                     # no command (CLI11: 106)
            ["frobnicate"],                         # unknown command (CLI11: 106)
            ["serve", "--bogus"],                   # unknown option (CLI11: 109)
            ["serve", "--threads", "many"],         # bad value (CLI11: 104)
            ["serve", "--listen"],                  # missing value (CLI11: 114)
            ["checkconf", "-c", config, "extra"],   # extra argument (CLI11: 109)
        ]
        for args in usage_errors:
            r = run([automapd] + args)
            check(r.returncode == 2 and "Run with --help" in r.stderr,
                  "automapd %s: status %d (2), %r" % (" ".join(args), r.returncode,
                                                      r.stderr[:120]))
            r = run([mapctl, "-c", config] + args)
            check(r.returncode == 2, "mapctl %s: status %d (2)" % (" ".join(args), r.returncode))
        # Issue 12 section 6: a mistyped verb is named, with the closest verb within two
        # edits; a word like no verb gets the list only. Exit 2 either way.
        for tool, args, want in (
                (automapd, ["serv", "-c", config], "automapd: unknown command 'serv': did you "
                 "mean 'serve'? (commands: checkconf, sync, pipe, serve)"),
                (automapd, ["chekconf"], "automapd: unknown command 'chekconf': did you mean "
                 "'checkconf'?"),
                (automapd, ["frobnicate"], "automapd: unknown command 'frobnicate' (commands: "),
                (mapctl, ["-c", config, "lokup", "10.1.2.3"], "mapctl: unknown command 'lokup': "
                 "did you mean 'lookup'? (commands: add, del, get, list, import, export, lookup,"),
                (mapctl, ["-c", config, "stat"], "mapctl: unknown command 'stat': did you mean "
                 "'stats'?"),
                (mapctl, ["-c", config, "frobnicate"], "mapctl: unknown command 'frobnicate' "
                 "(commands: ")):
            r = run([tool] + args)
            check(r.returncode == 2 and want in r.stderr and "Run with --help" in r.stderr,
                  "%s %s: status %d (2), %r" % (os.path.basename(tool), " ".join(args),
                                                r.returncode, r.stderr[:200]))
        r = run([automapd, "--help"])
        check(r.returncode == 0 and "checkconf" in r.stdout, "automapd --help: status 0")
        r = run([automapd, "checkconf", "-c", config])
        check(r.returncode == 0, "automapd checkconf: status 0 (%r)" % r.stderr)
        r = run([automapd, "checkconf", "-c", os.path.join(tmp, "missing.yaml")])
        check(r.returncode == 1, "automapd checkconf of a missing file: status 1")

        r = run([automapd, "pipe", "-c", config], "HELO\t3\n")
        check(r.returncode == 0 and r.stdout == "OK\tautomap pipe backend %s\n" % version,
              "pipe banner carries the version: %r" % r.stdout)
    sys.exit(summary())


if __name__ == "__main__":
    main()
