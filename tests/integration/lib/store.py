# SPDX-License-Identifier: MIT
"""LMDB stores for the store tests (store_fault_test.py, store_reopen_test.py): a config
pointing at a store, a store filled by `mapctl import`, and the usual damage.
"""
import os
import subprocess

from checks import check
from config import HEAD, PREFIX_V4

# @STORE@: the store directory.
CONFIG = HEAD + PREFIX_V4 + "store: { path: @STORE@, map_size: 64MiB }\n"


def run(argv, timeout=60):
    """subprocess.run capturing text; a timeout kills the child and gives returncode None
    (a failed check, not an exception)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(argv, None, e.stdout or "",
                                           "timed out after %ds" % timeout)


def write_config(path, store, text=CONFIG):
    """Writes `text` with @STORE@ replaced by `store` to `path`; returns `path`."""
    with open(path, "w") as f:
        f.write(text.replace("@STORE@", store))
    return path


def write_overrides(path, n, tag):
    """A CSV for `mapctl import`: 10.5.0.0 and up (n addresses) -> TAG-i.pool.example.net."""
    with open(path, "w") as f:
        for i in range(n):
            f.write("10.5.%d.%d,name,%s-%d.pool.example.net.,\n" % (i // 256, i % 256, tag, i))
    return path


def filled_store(mapctl, tmp, name, tag, count, text=CONFIG):
    """The store TMP/NAME holding `count` overrides from write_overrides (its CSV: TMP/NAME.csv),
    the import checked; returns its config, TMP/NAME.yaml."""
    conf = write_config(os.path.join(tmp, name + ".yaml"), os.path.join(tmp, name), text)
    csv = write_overrides(os.path.join(tmp, name + ".csv"), count, tag)
    p = run([mapctl, "-c", conf, "import", csv])
    check(p.returncode == 0, "mapctl import into " + name, p.stderr)
    return conf


def cut_half(path):
    """Cuts a data.mdb to half its size: its meta pages then point past its end."""
    os.truncate(path, os.path.getsize(path) // 2)
