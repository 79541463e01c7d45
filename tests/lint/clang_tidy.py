#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs clang-tidy (config: the top-level .clang-tidy) over the first-party .cpp files of a
build's compile_commands.json, JOBS at a time, and fails on any finding.

Usage: clang_tidy.py CLANG_TIDY BUILD_DIR SOURCE_DIR [--jobs N] [--since REV] [FILE...]
  --since REV   only the files changed since the merge-base with REV (local use)
  FILE...       only these files
Each file's output is printed whole (no interleaving), with its time."""

import argparse
import concurrent.futures
import json
import os
import resource
import subprocess
import sys
import time


def first_party(source, build, path):
    path = os.path.realpath(path)
    return (path.startswith(source + os.sep) and path.endswith(".cpp") and
            not path.startswith(build + os.sep) and
            not path.startswith(os.path.join(source, "build") + os.sep))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clang_tidy")
    ap.add_argument("build")
    ap.add_argument("source")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--since")
    ap.add_argument("files", nargs="*")
    args = ap.parse_intermixed_args()
    source = os.path.realpath(args.source)
    build = os.path.realpath(args.build)
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    files = sorted({os.path.realpath(os.path.join(e["directory"], e["file"])) for e in entries})
    files = [p for p in files if first_party(source, build, p)]
    if args.since:
        base = subprocess.run(["git", "merge-base", args.since, "HEAD"], cwd=source, check=True,
                              capture_output=True, text=True).stdout.strip()
        changed = subprocess.run(["git", "diff", "--name-only", base], cwd=source, check=True,
                                 capture_output=True, text=True).stdout.split()
        wanted = {os.path.realpath(os.path.join(source, c)) for c in changed}
        files = [p for p in files if p in wanted]
    if args.files:
        wanted = {os.path.realpath(p) for p in args.files}
        files = [p for p in files if p in wanted]
    if not files and not args.since:
        print("clang_tidy.py: no first-party files in compile_commands.json", file=sys.stderr)
        return 1

    def tidy(path):
        start = time.monotonic()
        # The build uses GCC; its warning flags that clang does not know are not findings.
        r = subprocess.run([args.clang_tidy, "-p", build, "--quiet",
                            "--extra-arg=-Wno-unknown-warning-option", path],
                           capture_output=True, text=True)
        return path, r.returncode, r.stdout + r.stderr, time.monotonic() - start

    failed = []
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for path, rc, out, secs in pool.map(tidy, files):
            rel = os.path.relpath(path, source)
            # clang-tidy reports "N warnings generated." for the suppressed (system header)
            # ones: only lines naming a check or an error are findings.
            lines = [l for l in out.splitlines() if "warnings generated" not in l
                     and "Suppressed" not in l and "Use -header-filter" not in l
                     and "NOLINT" not in l]
            print("%-50s %5.1fs %s" % (rel, secs, "FAIL" if rc else "ok"))
            if rc != 0:
                failed.append(rel)
                print("\n".join(lines))
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("clang-tidy: %d files in %.0fs (%.0fs CPU), %d failed%s" %
          (len(files), time.monotonic() - start, cpu.ru_utime + cpu.ru_stime, len(failed),
           (": " + " ".join(failed)) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
