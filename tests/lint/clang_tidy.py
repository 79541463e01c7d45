#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs clang-tidy (config: the top-level .clang-tidy) over the first-party .cpp files of a
build's compile_commands.json, JOBS at a time, and fails on any finding.

Usage: clang_tidy.py CLANG_TIDY BUILD_DIR SOURCE_DIR [--jobs N] [--since REV | --base-file F] [FILE...]
  --since REV      only the .cpp files that changed since the merge-base with REV, or that
                   include (directly or not) a first-party header that changed
  --base-file F    the same, REV read from file F (the last commit a whole run passed on,
                   written by `tools/automap-dev tidy`); a whole run when F's commit is not in
                   this clone's history (a shallow clone) or .clang-tidy itself changed
  FILE...          only these files
Each file's output is printed whole (no interleaving), with its time."""

import argparse
import concurrent.futures
import json
import os
import re
import resource
import subprocess
import sys
import time

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def first_party(source, build, path):
    path = os.path.realpath(path)
    return (path.startswith(source + os.sep) and path.endswith(".cpp") and
            not path.startswith(build + os.sep) and
            not path.startswith(os.path.join(source, "build") + os.sep))


def git(source, *args):
    return subprocess.run(["git", *args], cwd=source, capture_output=True, text=True)


def changed_since(source, rev):
    """The files changed between the merge-base of REV and HEAD and the working tree, or None
    when REV is not in this clone's history."""
    base = git(source, "merge-base", rev, "HEAD")
    if base.returncode != 0:
        return None
    diff = git(source, "diff", "--name-only", base.stdout.strip())
    if diff.returncode != 0:
        return None
    return {os.path.realpath(os.path.join(source, c)) for c in diff.stdout.split()}


def affected(files, changed, source):
    """The .cpp files among FILES that changed or include, directly or through other
    first-party headers, a header that changed. Includes are resolved by path suffix against
    the repository's headers: an ambiguous name counts for every header it could be."""
    tracked = git(source, "ls-files", "*.h", "*.cpp").stdout.split()
    by_suffix = {}
    for rel in tracked:
        parts = rel.split("/")
        for i in range(len(parts)):
            by_suffix.setdefault("/".join(parts[i:]), set()).add(
                os.path.realpath(os.path.join(source, rel)))
    includes = {}

    def deps(path):
        if path not in includes:
            try:
                with open(path, errors="replace") as f:
                    names = INCLUDE.findall(f.read())
            except OSError:
                names = []
            includes[path] = set().union(*(by_suffix.get(n, set()) for n in names))
        return includes[path]

    def touches(path):
        seen, todo = set(), [path]
        while todo:
            p = todo.pop()
            if p in changed:
                return True
            if p not in seen:
                seen.add(p)
                todo.extend(deps(p) - seen)
        return False

    return [p for p in files if touches(p)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clang_tidy")
    ap.add_argument("build")
    ap.add_argument("source")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--since")
    ap.add_argument("--base-file")
    ap.add_argument("files", nargs="*")
    args = ap.parse_intermixed_args()
    source = os.path.realpath(args.source)
    build = os.path.realpath(args.build)
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    files = sorted({os.path.realpath(os.path.join(e["directory"], e["file"])) for e in entries})
    files = [p for p in files if first_party(source, build, p)]
    since = args.since
    if args.base_file:
        with open(args.base_file) as f:
            since = f.read().split()[0]
    if since:
        changed = changed_since(source, since)
        if changed is None:
            print("clang_tidy.py: %s is not in this clone's history: checking every file" % since)
        elif os.path.join(source, ".clang-tidy") in changed:
            print("clang_tidy.py: .clang-tidy changed since %s: checking every file" % since)
        else:
            print("clang_tidy.py: the files affected by changes since %s" % since)
            files = affected(files, changed, source)
    if args.files:
        wanted = {os.path.realpath(p) for p in args.files}
        files = [p for p in files if p in wanted]
    if not files and not since:
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
