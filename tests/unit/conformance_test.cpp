// SPDX-License-Identifier: MIT
// The conformance table (tests/conformance/cases.txt) run in-process, three ways per case and
// per spelling of the question:
//   inproc: app::testing::query (App::resolve, records as text);
//   wire:   wire::handle over UDP and TCP, with and without EDNS, the response decoded by an
//           independent decoder written here (tests/unit/wire_test_util.h's read_name);
//   pipe:   pipe::Session transcripts for ABI 1 and 5 (the case's qtype and ANY).
// The same table is run over the network by tests/integration/conformance_test.py.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "backend/pipe/session.h"
#include "mapper/app/testing.h"
#include "mapper/engine/mapper.h"
#include "mapper/wire/handle.h"
#include "tests/conformance/conformance_table.h"
#include "tests/unit/wire_test_util.h"

namespace amap::conformance {
namespace {

using wiretest::Bytes;

const Table& table() {
  static const Table t = load_table(AMAP_CONFORMANCE_TABLE);
  return t;
}

/// One App per configuration of the table, built as tools/automapd.cpp does.
const app::App& app_for(const std::string& config) {
  static std::map<std::string, std::unique_ptr<app::App>> apps;
  auto it = apps.find(config);
  if (it != apps.end()) {
    return *it->second;
  }
  const std::string path = std::string(AMAP_SOURCE_ROOT) + "/" + table().configs.at(config);
  auto loaded = config::load_file(path);
  if (!loaded.errors.empty()) {
    throw std::runtime_error(loaded.errors[0].to_string());
  }
  config::Diagnostics errors;
  mapper::Mapper::BuildOptions options;
  options.open_store = false;  // synthesis only (an empty store answers the same)
  auto mapper = mapper::Mapper::build(loaded.config, errors, options);
  if (!mapper) {
    throw std::runtime_error(errors.empty() ? path : errors[0].to_string());
  }
  auto a = std::make_unique<app::App>();
  mapper::Mapper::install(mapper, *a);
  return *apps.emplace(config, std::move(a)).first->second;
}

std::string strip_dot(const std::string& name) {
  return name.size() > 1 && name.back() == '.' ? name.substr(0, name.size() - 1) : name;
}

std::vector<Record> bind_all(const std::vector<Record>& rs, const std::string& qname) {
  std::vector<Record> out;
  out.reserve(rs.size());
  for (const auto& r : rs) {
    out.push_back(r.bound(qname));
  }
  return out;
}

// ------------------------------------------------------------------ types and rcodes as numbers

std::uint16_t type_code(const std::string& t) {
  static const std::map<std::string, std::uint16_t> known{
      {"A", 1},    {"NS", 2},    {"CNAME", 5}, {"SOA", 6},    {"PTR", 12},  {"MX", 15},
      {"TXT", 16}, {"AAAA", 28}, {"SRV", 33},  {"AXFR", 252}, {"ANY", 255}, {"CAA", 257}};
  auto it = known.find(t);
  if (it != known.end()) {
    return it->second;
  }
  if (t.rfind("TYPE", 0) == 0) {
    return static_cast<std::uint16_t>(std::stoul(t.substr(4)));
  }
  throw std::runtime_error("type " + t);
}

std::string type_text(std::uint16_t code) {
  for (const char* t : {"A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV", "CAA"}) {
    if (type_code(t) == code) {
      return t;
    }
  }
  return "TYPE" + std::to_string(code);
}

unsigned rcode_code(const std::string& r) {
  static const std::map<std::string, unsigned> known{{"NOERROR", 0},  {"FORMERR", 1},
                                                     {"SERVFAIL", 2}, {"NXDOMAIN", 3},
                                                     {"NOTIMP", 4},   {"REFUSED", 5}};
  return known.at(r);
}

// ------------------------------------------------------------------ an independent decoder

struct Decoded {
  std::uint16_t id = 0, flags = 0;
  Bytes question;  // raw question section
  std::vector<Record> answer, authority, additional;
  bool has_opt = false;
};

std::uint32_t get32(const Bytes& m, std::size_t p) {
  if (p + 4 > m.size()) {
    throw std::runtime_error("u32 past end");
  }
  return (std::uint32_t{m[p]} << 24) | (std::uint32_t{m[p + 1]} << 16) |
         (std::uint32_t{m[p + 2]} << 8) | m[p + 3];
}
std::uint16_t get16(const Bytes& m, std::size_t p) {
  if (p + 2 > m.size()) {
    throw std::runtime_error("u16 past end");
  }
  return static_cast<std::uint16_t>((m[p] << 8) | m[p + 1]);
}

/// RDATA presentation words for the types the mapper produces; RFC 3597 otherwise.
std::vector<std::string> rdata_words(const Bytes& m, std::uint16_t type, std::size_t p,
                                     std::size_t end) {
  std::vector<std::string> w;
  char buf[INET6_ADDRSTRLEN];
  if (type == 1 && end - p == 4) {
    inet_ntop(AF_INET, &m[p], buf, sizeof buf);
    w.emplace_back(buf);
    p = end;
  } else if (type == 28 && end - p == 16) {
    inet_ntop(AF_INET6, &m[p], buf, sizeof buf);
    w.emplace_back(buf);
    p = end;
  } else if (type == 2 || type == 5 || type == 12) {
    w.push_back(wiretest::read_name(m, p));
  } else if (type == 6) {
    w.push_back(wiretest::read_name(m, p));
    w.push_back(wiretest::read_name(m, p));
    for (int i = 0; i < 5; ++i, p += 4) {
      w.push_back(std::to_string(get32(m, p)));
    }
  } else {
    std::string hex;
    static const char* digits = "0123456789abcdef";
    for (std::size_t i = p; i < end; ++i) {
      hex += digits[m[i] >> 4];
      hex += digits[m[i] & 15];
    }
    w = {"\\#", std::to_string(end - p), hex};
    p = end;
  }
  if (p != end) {
    throw std::runtime_error("RDATA length mismatch for type " + std::to_string(type));
  }
  return w;
}

Decoded decode(const Bytes& m) {
  (void)wiretest::decode(m);  // structural check (counts, pointers, no trailing bytes)
  Decoded d;
  d.id = get16(m, 0);
  d.flags = get16(m, 2);
  const unsigned qd = get16(m, 4), an = get16(m, 6), ns = get16(m, 8), ar = get16(m, 10);
  std::size_t p = 12;
  for (unsigned i = 0; i < qd; ++i) {
    (void)wiretest::read_name(m, p);
    p += 4;
  }
  d.question.assign(m.begin() + 12, m.begin() + static_cast<long>(p));
  auto section = [&](unsigned count, std::vector<Record>& out) {
    for (unsigned i = 0; i < count; ++i) {
      Record r;
      r.owner = wiretest::read_name(m, p);
      const std::uint16_t type = get16(m, p);
      const std::uint16_t cls = get16(m, p + 2);
      r.ttl = get32(m, p + 4);
      const std::size_t len = get16(m, p + 8);
      p += 10;
      if (type == 41) {
        d.has_opt = true;
        p += len;
        continue;
      }
      if (cls != 1) {
        throw std::runtime_error("class " + std::to_string(cls));
      }
      r.type = type_text(type);
      r.rdata = rdata_words(m, type, p, p + len);
      p += len;
      out.push_back(std::move(r));
    }
  };
  section(an, d.answer);
  section(ns, d.authority);
  section(ar, d.additional);
  return d;
}

// ------------------------------------------------------------------ checks

std::string check_authority(const Case& c, const std::vector<Record>& authority) {
  if (!c.soa) {
    return authority.empty() ? "" : "unexpected authority records";
  }
  if (authority.size() != 1 || authority[0].type != "SOA" ||
      lower(authority[0].owner) != lower(c.soa->zone) || authority[0].ttl != c.soa->ttl) {
    std::string got;
    for (const auto& r : authority) {
      got += " [" + r.to_string() + "]";
    }
    return "authority: want SOA " + c.soa->zone + " TTL " + std::to_string(c.soa->ttl) + ", got" +
           got;
  }
  return "";
}

Record parse_text_record(const std::string& line) {
  const auto w = words(line);
  if (w.size() < 5 || w[2] != "IN") {
    throw std::runtime_error("record text: " + line);
  }
  Record r;
  r.owner = w[0];
  r.ttl = std::stoul(w[1]);
  r.type = w[3];
  r.rdata.assign(w.begin() + 4, w.end());
  return r;
}

class Conformance : public ::testing::TestWithParam<Case> {};

}  // namespace

// gtest prints parameters in failure messages.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.id << " (cases.txt:" << c.line << ": " << c.qname << " " << c.qtype << ")";
}

namespace {

TEST_P(Conformance, InProcess) {
  const Case& c = GetParam();
  if (!c.runs_on("inproc")) {
    GTEST_SKIP() << "skipped for inproc";
  }
  const app::App& a = app_for(c.config);
  for (const auto& q : c.spellings()) {
    SCOPED_TRACE(q + " " + c.qtype);
    const auto r = app::testing::query(a, q, c.qtype);
    EXPECT_EQ(app::testing::rcode_name(r.rcode), c.rcode);
    EXPECT_EQ(r.authoritative, c.aa);
    std::vector<Record> answer, authority;
    for (const auto& t : r.answer) {
      answer.push_back(parse_text_record(t));
    }
    for (const auto& t : r.authority) {
      authority.push_back(parse_text_record(t));
    }
    EXPECT_EQ(compare_records(bind_all(c.answer, q), answer), "");
    EXPECT_EQ(check_authority(c, authority), "");
    EXPECT_TRUE(r.additional.empty());
  }
}

TEST_P(Conformance, Wire) {
  const Case& c = GetParam();
  if (!c.runs_on("wire")) {
    GTEST_SKIP() << "skipped for wire";
  }
  const app::App& a = app_for(c.config);
  app::Worker worker(a);
  std::vector<std::uint8_t> out(wire::kMaxMessage);
  wire::Counters counters;
  const auto remote = dns::IpAddress::v4(0xC0000263);  // 192.0.2.99
  const auto local = dns::IpAddress::v4(0x7F000001);
  for (const auto& q : c.spellings()) {
    for (const auto transport : {wire::Transport::udp, wire::Transport::tcp}) {
      for (const bool edns : {false, true}) {
        const bool udp = transport == wire::Transport::udp;
        SCOPED_TRACE(q + " " + c.qtype + (udp ? " udp" : " tcp") + (edns ? " edns" : ""));
        wiretest::Query query;
        query.id = static_cast<std::uint16_t>(0x1000 + c.line);
        query.flags = edns ? 0x0100 : 0x0000;  // RD only sometimes: it must be echoed
        query.qname = q;
        query.qtype = type_code(c.qtype);
        query.edns = edns;
        const Bytes msg = query.build();
        const std::size_t n = wire::handle(worker, msg, transport, remote, local, out, counters);
        ASSERT_GT(n, 0U);
        const Bytes resp(out.begin(), out.begin() + static_cast<long>(n));
        Decoded d;
        ASSERT_NO_THROW(d = decode(resp));
        EXPECT_EQ(d.id, query.id);
        EXPECT_TRUE(d.flags & 0x8000) << "QR";
        EXPECT_EQ((d.flags >> 11) & 0xF, 0U) << "opcode";
        EXPECT_EQ((d.flags & 0x0100) != 0, edns) << "RD echo";
        EXPECT_EQ(d.flags & 0x00F0, 0U) << "Z/AD/CD/RA clear";
        EXPECT_EQ(d.has_opt, edns);
        // The question echoed byte for byte (case as sent).
        EXPECT_EQ(d.question,
                  Bytes(msg.begin() + 12, msg.begin() + static_cast<long>(d.question.size() + 12)));
        const bool any_udp = udp && c.qtype == "ANY" && c.rcode != "REFUSED";
        if (any_udp) {
          // PowerDNS any-to-tcp: TC=1, AA, empty sections.
          EXPECT_TRUE(d.flags & 0x0200) << "TC for ANY over UDP";
          EXPECT_TRUE(d.flags & 0x0400) << "AA";
          EXPECT_EQ(d.flags & 0xF, 0U);
          EXPECT_TRUE(d.answer.empty() && d.authority.empty());
          continue;
        }
        EXPECT_EQ(d.flags & 0x0200, 0) << "TC";
        EXPECT_EQ(d.flags & 0xF, rcode_code(c.rcode)) << "rcode";
        EXPECT_EQ((d.flags & 0x0400) != 0, c.aa) << "AA";
        EXPECT_EQ(compare_records(bind_all(c.answer, q), d.answer), "");
        EXPECT_EQ(check_authority(c, d.authority), "");
        EXPECT_TRUE(d.additional.empty());
      }
    }
  }
}

/// Records of a pipe reply (DATA lines), which must end with exactly one END.
std::vector<Record> parse_pipe_reply(std::string_view reply, int abi, const std::string& id,
                                     std::string& error) {
  std::vector<Record> out;
  if (reply.size() < 4 || reply.substr(reply.size() - 4) != "END\n") {
    error = "reply does not end with END: " + std::string(reply);
    return out;
  }
  reply.remove_suffix(4);
  while (!reply.empty()) {
    const std::size_t nl = reply.find('\n');
    const std::string line(reply.substr(0, nl));
    reply.remove_prefix(nl == std::string_view::npos ? reply.size() : nl + 1);
    std::vector<std::string> f;
    std::size_t start = 0;
    for (;;) {
      const std::size_t tab = line.find('\t', start);
      f.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) {
        break;
      }
      start = tab + 1;
    }
    const std::size_t base = abi >= 3 ? 3 : 1;  // index of qname
    if (f[0] != "DATA" || f.size() != base + 6) {
      error = "bad DATA line: " + line;
      return out;
    }
    if (abi >= 3 && (f[1] != "0" || f[2] != "1")) {
      error = "scopebits/auth: " + line;
    }
    if (f[base + 1] != "IN" || f[base + 4] != id) {
      error = "class/id: " + line;
    }
    Record r;
    r.owner = f[base] == "." ? "." : f[base] + ".";
    r.type = f[base + 2];
    r.ttl = std::stoul(f[base + 3]);
    r.rdata = words(f[base + 5]);
    out.push_back(std::move(r));
  }
  return out;
}

TEST_P(Conformance, PipeTranscript) {
  const Case& c = GetParam();
  if (!c.runs_on("pipe")) {
    GTEST_SKIP() << "skipped for pipe";
  }
  const app::App& a = app_for(c.config);
  for (const int abi : {1, 5}) {
    app::Worker pipe_worker(a);
    pipe::Session s(pipe_worker);
    ASSERT_EQ(s.handle_line("HELO\t" + std::to_string(abi)), "OK\tautomap pipe backend\n");
    for (const auto& q : c.spellings()) {
      for (const std::string& qtype : {c.qtype, std::string("ANY")}) {
        SCOPED_TRACE("ABI " + std::to_string(abi) + " " + q + " " + qtype);
        const std::string id = abi == 1 ? "-1" : "42";
        std::string line = "Q\t" + strip_dot(q) + "\tIN\t" + qtype + "\t" + id + "\t192.0.2.1";
        if (abi >= 2) {
          line += "\t192.0.2.53";
        }
        if (abi >= 3) {
          line += "\t192.0.2.1/32";
        }
        std::string error;
        const auto got = parse_pipe_reply(s.handle_line(line), abi, id, error);
        EXPECT_EQ(error, "");
        const auto& want = qtype == "ANY" ? c.any_records() : c.pipe_records();
        EXPECT_EQ(compare_records(bind_all(want, q), got), "");
      }
    }
    EXPECT_EQ(s.stats().malformed, 0U);
    EXPECT_EQ(s.stats().failures, 0U);
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string n = info.param.id;
  for (char& ch : n) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) {
      ch = '_';
    }
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(Table, Conformance, ::testing::ValuesIn(table().cases), case_name);

TEST(ConformanceTable, HasEnoughCasesAndEveryConfigLoads) {
  EXPECT_GE(table().cases.size(), 40U);
  for (const auto& [name, path] : table().configs) {
    EXPECT_NO_THROW((void)app_for(name)) << name << " " << path;
  }
}

TEST(ConformanceTable, ReaderRejectsBadTables) {
  const std::string dir = ::testing::TempDir();
  auto load_text = [&](const std::string& text) {
    const std::string path = dir + "/conformance_bad_table.txt";
    std::ofstream(path) << text;
    return load_table(path);
  };
  const std::string head = "config default x.yaml\n";
  EXPECT_THROW(load_text(head + "case a\n query a. A\n rcode NOERROR\n aa yes\n soa none\n"),
               std::runtime_error);  // NODATA without `any`
  EXPECT_THROW(load_text(head + "case a\n query a A\n rcode NXDOMAIN\n"), std::runtime_error);
  EXPECT_THROW(
      load_text(head +
                "case a\n query a. A\n rcode NXDOMAIN\ncase a\n query a. A\n rcode NXDOMAIN\n"),
      std::runtime_error);
  EXPECT_THROW(load_text(head + "case a\n query a. A\n rcode NXDOMAIN\n skip dns\n"),
               std::runtime_error);
  EXPECT_THROW(load_text(head + "case a\n query a. A\n rcode NOERROR\n answer @ x A 1.2.3.4\n"),
               std::runtime_error);
  const Table t =
      load_text(head + "case a\n query a. A\n rcode NOERROR\n aa yes\n answer @ 5 A 1.2.3.4\n");
  ASSERT_EQ(t.cases.size(), 1U);
  EXPECT_EQ(t.cases[0].any_records().size(), 1U);
}

TEST(ConformanceTable, RecordMatching) {
  Record e{"@", 60, "SOA", {"ns1.example.", "h.example.", "*", "1", "2", "3", "4"}};
  Record a{"Q.example.", 60, "SOA", {"NS1.example.", "h.example.", "99", "1", "2", "3", "4"}};
  EXPECT_TRUE(matches(e.bound("Q.example."), a));
  EXPECT_FALSE(matches(e.bound("q.example."), a));
  EXPECT_TRUE(matches(e.bound("q.example."), a, true));
  a.ttl = 61;
  EXPECT_FALSE(matches(e.bound("Q.example."), a));
}

}  // namespace
}  // namespace amap::conformance
