# SPDX-License-Identifier: MIT
"""Checks for the integration scripts: count them, record and print the failures, and turn
the result into the exit status.

    from checks import check, summary

    check(r.returncode == 0, "mapctl add: exit 0", r.stderr)   # goes on after a failure
    ...
    sys.exit(summary())          # prints the failures; 1 if any check failed (or none ran)

A part that cannot go on after a failure (a server that did not start) uses expect() and
runs under step(): the first failure ends that part only, the script goes on with the next.
"""
import os
import sys
import traceback

CHECKS = 0      # checks made so far
FAILURES = []   # the `what` of each failed check, in order
PRINTED = 60    # failures printed in full; later ones are counted only
_PARTS = []     # the step() names we are in: a failure's `what` starts with them


class Stop(AssertionError):
    """Raised by expect(): the failure is already recorded."""


def _indent(detail):
    text = "" if detail is None else str(detail)
    return ("    " + text.rstrip("\n").replace("\n", "\n    ")) if text else ""


def check(cond, what, detail=None):
    """Counts one check; a false `cond` records `what` and prints `FAIL: what` and the
    detail (anything, str() of it; a log, a response), indented. Returns bool(cond)."""
    global CHECKS
    CHECKS += 1
    if cond:
        return True
    what = "".join(part + ": " for part in _PARTS) + what
    FAILURES.append(what)
    if len(FAILURES) <= PRINTED:
        print("FAIL: " + what, flush=True)
        text = _indent(detail)
        if text:
            print(text, flush=True)
    elif len(FAILURES) == PRINTED + 1:
        print("(more failures: counted, not printed)", flush=True)
    return False


def expect(cond, what, detail=None):
    """check() that raises Stop on a failure: for a part of a test that cannot go on."""
    if not check(cond, what, detail):
        raise Stop(what)


def step(what, fn, *args):
    """Runs fn(*args) as the part `what` (its failures are named `what: ...`); returns True if
    it raised nothing. Stop (an expect() that failed) ends the part; any other exception (an
    AssertionError, OSError, a timeout...) is one more failed check, with the traceback.
    Either way the script goes on."""
    _PARTS.append(what)
    try:
        fn(*args)
        return True
    except Stop:
        return False
    except Exception as e:  # noqa: BLE001 (every error ends just this part)
        check(False, "%s: %s" % (type(e).__name__, e), traceback.format_exc())
        return False
    finally:
        _PARTS.pop()


def summary(name=None):
    """Prints the result and returns the exit status: 0 if every check passed, 1 if one
    failed or none ran (a test that checked nothing is broken)."""
    name = name or os.path.basename(sys.argv[0]).replace(".py", "")
    if FAILURES:
        print("\n%s: %d of %d checks failed:" % (name, len(FAILURES), CHECKS))
        for what in FAILURES[:PRINTED]:
            print(" - " + what)
        if len(FAILURES) > PRINTED:
            print(" - ... and %d more" % (len(FAILURES) - PRINTED))
        return 1
    if CHECKS == 0:
        print("%s: no check ran" % name)
        return 1
    print("%s: %d checks passed" % (name, CHECKS))
    return 0
