// SPDX-License-Identifier: MIT
#pragma once
// Reader of the conformance table (tests/conformance/cases.txt; format in README.md there).
// The Python twin is tests/conformance/conformance_table.py: keep the two in step.
// Header-only, test code: allocates freely, throws std::runtime_error("file:line: ...").

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace amap::conformance {

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

inline std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) {
      ++i;
    }
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') {
      ++j;
    }
    if (j > i) {
      out.emplace_back(s.substr(i, j - i));
    }
    i = j;
  }
  return out;
}

/// One resource record as text: owner (absolute; "@" = the qname as asked), ttl, TYPE, and the
/// RDATA presentation words.
struct Record {
  std::string owner;
  unsigned long ttl = 0;
  std::string type;
  std::vector<std::string> rdata;

  std::string to_string() const {
    std::string s = owner + " " + std::to_string(ttl) + " " + type;
    for (const auto& w : rdata) {
      s += " " + w;
    }
    return s;
  }
  /// "@" replaced by `qname` (the spelling asked).
  Record bound(std::string_view qname) const {
    Record r = *this;
    if (r.owner == "@") {
      r.owner = std::string(qname);
    }
    return r;
  }
};

/// Expected record `e` against an actual record `a`: owner exact (or case-insensitive when
/// `owner_nocase`), TTL, type, RDATA words case-insensitive with "*" matching any word.
inline bool matches(const Record& e, const Record& a, bool owner_nocase = false) {
  const bool owner_ok = owner_nocase ? lower(e.owner) == lower(a.owner) : e.owner == a.owner;
  if (!owner_ok || e.ttl != a.ttl || lower(e.type) != lower(a.type) ||
      e.rdata.size() != a.rdata.size()) {
    return false;
  }
  for (std::size_t i = 0; i < e.rdata.size(); ++i) {
    if (e.rdata[i] != "*" && lower(e.rdata[i]) != lower(a.rdata[i])) {
      return false;
    }
  }
  return true;
}

/// Multiset comparison; returns "" when equal, else a readable difference.
inline std::string compare_records(const std::vector<Record>& expected,
                                   const std::vector<Record>& actual, bool owner_nocase = false) {
  std::vector<bool> used(actual.size(), false);
  std::string missing;
  for (const auto& e : expected) {
    bool found = false;
    for (std::size_t i = 0; i < actual.size() && !found; ++i) {
      if (!used[i] && matches(e, actual[i], owner_nocase)) {
        used[i] = found = true;
      }
    }
    if (!found) {
      missing += "\n    missing: " + e.to_string();
    }
  }
  std::string extra;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    if (!used[i]) {
      extra += "\n    unexpected: " + actual[i].to_string();
    }
  }
  return missing + extra;
}

struct Soa {
  unsigned long ttl = 0;
  std::string zone;
};

inline const std::set<std::string>& frontends() {
  static const std::set<std::string> f{"inproc", "wire", "pipe", "net", "pdns"};
  return f;
}

struct Case {
  std::string id;
  std::string config = "default";
  std::string qname;
  std::string qtype;
  std::vector<std::string> variants;
  std::string rcode;
  bool aa = false;
  std::vector<Record> answer;
  std::optional<Soa> soa;
  std::optional<std::vector<Record>> any;  // as written; see any_records()
  std::string pdns_rcode;
  std::set<std::string> skip;
  std::string note;
  int line = 0;

  std::vector<std::string> spellings() const {
    std::vector<std::string> s{qname};
    s.insert(s.end(), variants.begin(), variants.end());
    return s;
  }
  bool runs_on(const std::string& frontend) const { return skip.count(frontend) == 0; }
  /// What the pipe answers to an ANY question for this name.
  std::vector<Record> any_records() const {
    if (any) {
      return *any;
    }
    if (rcode != "NOERROR") {
      return {};
    }
    return answer;  // NOERROR with data, or qtype ANY (checked by the reader)
  }
  /// The records the pipe answers to this case's own question: the answer section when the
  /// name has data of that type, nothing otherwise.
  std::vector<Record> pipe_records() const {
    return rcode == "NOERROR" ? answer : std::vector<Record>{};
  }
};

struct Table {
  std::map<std::string, std::string> configs;  // name -> path relative to the source root
  std::vector<Case> cases;
};

inline Table load_table(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  Table t;
  std::string text;
  int lineno = 0;
  Case* c = nullptr;
  std::set<std::string> ids;
  auto fail = [&](const std::string& what) {
    throw std::runtime_error(path + ":" + std::to_string(lineno) + ": " + what);
  };
  auto record = [&](const std::vector<std::string>& w) {
    if (w.size() < 5) {
      fail("a record needs OWNER TTL TYPE RDATA");
    }
    Record r;
    r.owner = w[1];
    try {
      std::size_t used = 0;
      r.ttl = std::stoul(w[2], &used);
      if (used != w[2].size()) {
        fail("bad TTL " + w[2]);
      }
    } catch (const std::logic_error&) {
      fail("bad TTL " + w[2]);
    }
    r.type = w[3];
    r.rdata.assign(w.begin() + 4, w.end());
    return r;
  };
  std::vector<std::pair<Case*, int>> unused;
  while (std::getline(in, text)) {
    ++lineno;
    if (!text.empty() && text.back() == '\r') {
      text.pop_back();
    }
    const auto w = words(text);
    if (w.empty() || w[0][0] == '#') {
      continue;
    }
    const std::string& key = w[0];
    if (key == "config" && c == nullptr) {
      if (w.size() != 3) {
        fail("config NAME PATH");
      }
      t.configs[w[1]] = w[2];
      continue;
    }
    if (key == "case") {
      if (w.size() != 2) {
        fail("case ID");
      }
      if (!ids.insert(w[1]).second) {
        fail("duplicate case id " + w[1]);
      }
      t.cases.emplace_back();
      c = &t.cases.back();
      c->id = w[1];
      c->line = lineno;
      continue;
    }
    if (c == nullptr) {
      fail("'" + key + "' before the first case");
    }
    if (key == "use" && w.size() == 2) {
      c->config = w[1];
    } else if (key == "query" && w.size() == 3) {
      c->qname = w[1];
      c->qtype = w[2];
    } else if (key == "variant" && w.size() == 2) {
      c->variants.push_back(w[1]);
    } else if (key == "rcode" && w.size() == 2) {
      c->rcode = w[1];
    } else if (key == "pdns-rcode" && w.size() == 2) {
      c->pdns_rcode = w[1];
    } else if (key == "aa" && w.size() == 2 && (w[1] == "yes" || w[1] == "no")) {
      c->aa = w[1] == "yes";
    } else if (key == "answer") {
      c->answer.push_back(record(w));
    } else if (key == "soa" && w.size() == 2 && w[1] == "none") {
      c->soa.reset();
    } else if (key == "soa" && w.size() == 3) {
      c->soa = Soa{std::stoul(w[1]), w[2]};
    } else if (key == "any" && w.size() == 2 && w[1] == "none") {
      c->any = std::vector<Record>{};
    } else if (key == "any") {
      if (!c->any) {
        c->any = std::vector<Record>{};
      }
      c->any->push_back(record(w));
    } else if (key == "skip" && w.size() >= 2) {
      for (std::size_t i = 1; i < w.size(); ++i) {
        if (frontends().count(w[i]) == 0) {
          fail("unknown front-end " + w[i]);
        }
        c->skip.insert(w[i]);
      }
    } else if (key == "note") {
      c->note = text.substr(text.find("note") + 5);
    } else {
      fail("cannot read '" + text + "'");
    }
  }
  for (const Case& k : t.cases) {
    lineno = k.line;
    if (k.qname.empty() || k.qname.back() != '.') {
      fail(k.id + ": query with an absolute QNAME is required");
    }
    if (k.rcode != "NOERROR" && k.rcode != "NXDOMAIN" && k.rcode != "REFUSED") {
      fail(k.id + ": rcode NOERROR, NXDOMAIN or REFUSED is required");
    }
    if (t.configs.count(k.config) == 0) {
      fail(k.id + ": unknown config " + k.config);
    }
    if (k.rcode == "NOERROR" && k.answer.empty() && !k.any) {
      fail(k.id + ": a NODATA case must give `any` (what the name holds, for the pipe)");
    }
    if (k.rcode != "NOERROR" && !k.answer.empty()) {
      fail(k.id + ": answer records with rcode " + k.rcode);
    }
  }
  return t;
}

}  // namespace amap::conformance
