# SPDX-License-Identifier: MIT
"""Reader of the conformance table (tests/conformance/cases.txt; format in README.md there).

The C++ twin is tests/conformance/conformance_table.h: keep the two in step.

    from conformance_table import load_table, compare_records
    table = load_table("tests/conformance/cases.txt")
    for case in table.cases: ...
"""

FRONTENDS = {"inproc", "wire", "pipe", "net", "pdns"}


class TableError(ValueError):
    pass


class Record:
    """owner (absolute; "@" = the qname as asked), ttl, TYPE, RDATA words."""

    def __init__(self, owner, ttl, rtype, rdata):
        self.owner, self.ttl, self.type, self.rdata = owner, int(ttl), rtype, list(rdata)

    def bound(self, qname):
        return Record(qname if self.owner == "@" else self.owner, self.ttl, self.type, self.rdata)

    def __str__(self):
        return " ".join([self.owner, str(self.ttl), self.type] + self.rdata)

    __repr__ = __str__


def matches(e, a, owner_nocase=False):
    """Owner exact (or case-insensitive), TTL, type; RDATA words case-insensitive, '*' = any."""
    if owner_nocase:
        owner_ok = e.owner.lower() == a.owner.lower()
    else:
        owner_ok = e.owner == a.owner
    if not owner_ok or e.ttl != a.ttl or e.type.upper() != a.type.upper():
        return False
    if len(e.rdata) != len(a.rdata):
        return False
    return all(x == "*" or x.lower() == y.lower() for x, y in zip(e.rdata, a.rdata))


def compare_records(expected, actual, owner_nocase=False):
    """Multiset comparison: "" when equal, else the missing and unexpected records."""
    used = [False] * len(actual)
    out = []
    for e in expected:
        for i, a in enumerate(actual):
            if not used[i] and matches(e, a, owner_nocase):
                used[i] = True
                break
        else:
            out.append("missing: %s" % e)
    out += ["unexpected: %s" % a for i, a in enumerate(actual) if not used[i]]
    return "; ".join(out)


class Case:
    def __init__(self, cid, line):
        self.id, self.line = cid, line
        self.config = "default"
        self.qname = self.qtype = self.rcode = None
        self.variants = []
        self.aa = False
        self.answer = []
        self.soa = None  # (ttl, zone)
        self.any = None  # list of Record as written
        self.pdns_rcode = None
        self.skip = set()
        self.note = ""

    def spellings(self):
        return [self.qname] + self.variants

    def runs_on(self, frontend):
        return frontend not in self.skip

    def any_records(self):
        """What the pipe answers to an ANY question for this name."""
        if self.any is not None:
            return self.any
        return list(self.answer) if self.rcode == "NOERROR" else []

    def pipe_records(self):
        return list(self.answer) if self.rcode == "NOERROR" else []

    def __str__(self):
        return "%s (cases.txt:%d: %s %s)" % (self.id, self.line, self.qname, self.qtype)


class Table:
    def __init__(self):
        self.configs = {}  # name -> path relative to the source root
        self.cases = []


def load_table(path):
    t = Table()
    case = None
    ids = set()

    def fail(lineno, what):
        raise TableError("%s:%d: %s" % (path, lineno, what))

    def record(lineno, w):
        if len(w) < 5:
            fail(lineno, "a record needs OWNER TTL TYPE RDATA")
        if not w[2].isdigit():
            fail(lineno, "bad TTL " + w[2])
        return Record(w[1], int(w[2]), w[3], w[4:])

    with open(path, encoding="utf-8") as f:
        for lineno, text in enumerate(f, 1):
            text = text.rstrip("\r\n")
            w = text.split()
            if not w or w[0].startswith("#"):
                continue
            key = w[0]
            if key == "config" and case is None:
                if len(w) != 3:
                    fail(lineno, "config NAME PATH")
                t.configs[w[1]] = w[2]
                continue
            if key == "case":
                if len(w) != 2:
                    fail(lineno, "case ID")
                if w[1] in ids:
                    fail(lineno, "duplicate case id " + w[1])
                ids.add(w[1])
                case = Case(w[1], lineno)
                t.cases.append(case)
                continue
            if case is None:
                fail(lineno, "'%s' before the first case" % key)
            if key == "use" and len(w) == 2:
                case.config = w[1]
            elif key == "query" and len(w) == 3:
                case.qname, case.qtype = w[1], w[2]
            elif key == "variant" and len(w) == 2:
                case.variants.append(w[1])
            elif key == "rcode" and len(w) == 2:
                case.rcode = w[1]
            elif key == "pdns-rcode" and len(w) == 2:
                case.pdns_rcode = w[1]
            elif key == "aa" and len(w) == 2 and w[1] in ("yes", "no"):
                case.aa = w[1] == "yes"
            elif key == "answer":
                case.answer.append(record(lineno, w))
            elif key == "soa" and w[1:] == ["none"]:
                case.soa = None
            elif key == "soa" and len(w) == 3 and w[1].isdigit():
                case.soa = (int(w[1]), w[2])
            elif key == "any" and w[1:] == ["none"]:
                case.any = []
            elif key == "any":
                case.any = (case.any or []) + [record(lineno, w)]
            elif key == "skip" and len(w) >= 2:
                for fe in w[1:]:
                    if fe not in FRONTENDS:
                        fail(lineno, "unknown front-end " + fe)
                    case.skip.add(fe)
            elif key == "note":
                case.note = text.split("note", 1)[1].strip()
            else:
                fail(lineno, "cannot read %r" % text)
    for c in t.cases:
        if not c.qname or not c.qname.endswith("."):
            fail(c.line, c.id + ": query with an absolute QNAME is required")
        if c.rcode not in ("NOERROR", "NXDOMAIN", "REFUSED"):
            fail(c.line, c.id + ": rcode NOERROR, NXDOMAIN or REFUSED is required")
        if c.config not in t.configs:
            fail(c.line, c.id + ": unknown config " + c.config)
        if c.rcode == "NOERROR" and not c.answer and c.any is None:
            fail(c.line, c.id + ": a NODATA case must give `any` (what the name holds, for the pipe)")
        if c.rcode != "NOERROR" and c.answer:
            fail(c.line, c.id + ": answer records with rcode " + c.rcode)
    return t
