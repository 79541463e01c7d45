// SPDX-License-Identifier: MIT
// mapper/wire: parse_query, encode_response/encode_error and handle(), including every
// bad-input case 1-24 of the reliability note that applies to a single message.

#include <gtest/gtest.h>

#include <optional>

#include "mapper/wire/handle.h"
#include "tests/unit/wire_test_app.h"
#include "tests/unit/wire_test_util.h"

namespace amap::wire {
namespace {

using wiretest::Bytes;
using wiretest::Query;
using wiretest::Response;

constexpr unsigned kNoError = 0, kFormErr = 1, kServFail = 2, kNxDomain = 3, kNotImp = 4,
                   kRefused = 5, kBadVers = 16;

class WireTest : public ::testing::Test {
 protected:
  std::optional<Response> run(const Bytes& q, Transport t = Transport::udp,
                              const Policy& policy = {}) {
    const std::size_t n = handle(worker_, q, t, *dns::IpAddress::parse("192.0.2.99"),
                                 *dns::IpAddress::parse("127.0.0.1"), out_, counters_, policy);
    if (n == 0) {
      return std::nullopt;
    }
    last_ = Bytes(out_.begin(), out_.begin() + static_cast<long>(n));
    return wiretest::decode(last_);
  }
  Response must(const Bytes& q, Transport t = Transport::udp, const Policy& p = {}) {
    auto r = run(q, t, p);
    EXPECT_TRUE(r.has_value());
    return r.value_or(Response{});
  }
  static Bytes header(std::uint16_t flags, unsigned qd, unsigned an, unsigned ns, unsigned ar) {
    Bytes b;
    wiretest::put16(b, 0xBEEF);
    wiretest::put16(b, flags);
    wiretest::put16(b, qd);
    wiretest::put16(b, an);
    wiretest::put16(b, ns);
    wiretest::put16(b, ar);
    return b;
  }
  static void append(Bytes& b, const Bytes& x) { b.insert(b.end(), x.begin(), x.end()); }
  static void question(Bytes& b, std::string_view name, unsigned type = 1) {
    append(b, wiretest::name_wire(name));
    wiretest::put16(b, type);
    wiretest::put16(b, 1);
  }
  static Bytes opt_rr(std::uint16_t payload = 1232, std::uint32_t ttl = 0,
                      const Bytes& rdata = {}) {
    Bytes b{0};
    wiretest::put16(b, 41);
    wiretest::put16(b, payload);
    wiretest::put32(b, ttl);
    wiretest::put16(b, static_cast<unsigned>(rdata.size()));
    append(b, rdata);
    return b;
  }
  /// After each bad input: a normal query still works ("alive").
  void expect_alive() {
    Query q;
    q.qtype = 6;
    auto r = run(q.build());
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->rcode(), kNoError);
    EXPECT_TRUE(r->aa());
    ASSERT_EQ(r->answer.size(), 1U);
    EXPECT_EQ(r->answer[0].type, 6);
  }

  std::shared_ptr<app::App> app_ = testapp::make_wire_test_app();
  app::Worker worker_{*app_};
  std::vector<std::uint8_t> out_ = std::vector<std::uint8_t>(kMaxMessage);
  Counters counters_;
  Bytes last_;
};

// ---- normal answers and header rules -------------------------------------------------

TEST_F(WireTest, ApexTxtIsAuthoritativeAndEchoesIdAndRd) {
  Query q;
  q.qtype = 16;
  const Response r = must(q.build());
  EXPECT_EQ(r.id, 0x1234);
  EXPECT_TRUE(r.qr());
  EXPECT_TRUE(r.aa());
  EXPECT_TRUE(r.rd());
  EXPECT_EQ(r.rcode(), kNoError);
  EXPECT_EQ(r.qname, "hello.example.");
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0].name, "hello.example.");
  EXPECT_EQ(r.answer[0].rdata,
            (Bytes{12, 'H', 'e', 'l', 'l', 'o', ' ', 'W', 'o', 'r', 'l', 'd', '!'}));
  EXPECT_EQ(r.additional.size(), 0U);  // no OPT without EDNS
}

TEST_F(WireTest, Case15QueryFlagsAreClearedExceptRd) {
  Query q;
  q.flags = 0x0100 | 0x0400 | 0x0200 | 0x0080 | 0x0040 | 0x0020 | 0x0010;  // RD AA TC RA Z AD CD
  const Response r = must(q.build());
  EXPECT_EQ(r.flags & 0x02F0, 0);  // TC RA Z AD CD
  EXPECT_TRUE(r.rd());
  EXPECT_TRUE(r.aa());  // our own rule: in zone
  q.flags = 0;
  EXPECT_FALSE(must(q.build()).rd());
}

TEST_F(WireTest, NameCompressionDecodesIndependently) {
  Query q;
  q.qname = "mx.hello.example.";
  q.qtype = 15;
  const Response r = must(q.build());
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0].name, "mx.hello.example.");
  EXPECT_EQ(r.answer[0].rdata_name, "mail.hello.example.");
  // Owner is a pointer to the question (2 bytes); the MX target compresses "hello.example."
  EXPECT_EQ(last_.size(), 12U + 18U + 4U + 2U + 10U + 2U + 5U + 2U);
  // SOA in NODATA: owner and both names compress.
  q.qtype = 1;
  const Response n = must(q.build());
  ASSERT_EQ(n.authority.size(), 1U);
  EXPECT_EQ(n.authority[0].name, "hello.example.");
  EXPECT_EQ(n.authority[0].rdata_name, "ns1.hello.example.");
}

TEST_F(WireTest, PtrAnswerPointsAtTheQuestionAndWritesItsTargetWhole) {
  // The owner is the question (a pointer); the target shares no top label with it, so the
  // question's labels are never made targets and the target goes out whole.
  Query q;
  q.qname = "1.2.0.192.in-addr.arpa.";
  q.qtype = 12;
  const Response r = must(q.build());
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0].name, "1.2.0.192.in-addr.arpa.");
  EXPECT_EQ(r.answer[0].rdata_name, "www.hello.example.");
  EXPECT_EQ(last_.size(), 12U + wiretest::name_wire(q.qname).size() + 4U + 2U + 10U +
                              wiretest::name_wire("www.hello.example.").size());
  // NODATA at the same name: the SOA's owner, the apex, points into the question.
  q.qtype = 1;
  const Response n = must(q.build());
  ASSERT_EQ(n.authority.size(), 1U);
  EXPECT_EQ(n.authority[0].name, "2.0.192.in-addr.arpa.");
  EXPECT_EQ(n.authority[0].type, 6);
}

TEST_F(WireTest, RepeatedLabelsNeverCompressAgainstAHalfWrittenName) {
  // Regression: "0.0.0.0..." suffixes repeat; the labels of a name become compression
  // targets only after the whole name is written.
  Query q;
  q.qname = "0.0.0.0.0.0.0.0.ip6.arpa.";
  q.qtype = 12;
  const Response r = must(q.build());
  EXPECT_EQ(r.qname, "0.0.0.0.0.0.0.0.ip6.arpa.");
  EXPECT_EQ(r.rcode(), kRefused);
  EXPECT_EQ(last_.size(), 12U + wiretest::name_wire(q.qname).size() + 4U);
}

TEST_F(WireTest, CnameAndApexAnyOverTcp) {
  Query q;
  q.qname = "alias.hello.example.";
  const Response r = must(q.build());
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0].type, 5);
  EXPECT_EQ(r.answer[0].rdata_name, "www.hello.example.");
  q.qname = "hello.example.";
  q.qtype = 255;
  const Response any = must(q.build(), Transport::tcp);
  EXPECT_FALSE(any.tc());
  EXPECT_EQ(any.answer.size(), 3U);  // SOA, NS, TXT
}

TEST_F(WireTest, Case21QuestionCaseEchoedAndDataMatches) {
  Query q;
  q.qname = "WwW.HeLLo.EXAMPLE.";
  const Response r = must(q.build());
  EXPECT_EQ(r.qname, "WwW.HeLLo.EXAMPLE.");
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0].rdata, (Bytes{192, 0, 2, 1}));
  q.qname = "1.2.0.192.IN-ADDR.ARPA.";
  q.qtype = 12;
  const Response p = must(q.build());
  EXPECT_EQ(p.qname, "1.2.0.192.IN-ADDR.ARPA.");
  ASSERT_EQ(p.answer.size(), 1U);
  EXPECT_EQ(p.answer[0].rdata_name, "www.hello.example.");
}

TEST_F(WireTest, Case17OutsideZonesRefusedWithoutAa) {
  for (const char* name : {"example.org.", "."}) {
    Query q;
    q.qname = name;
    q.qtype = name[0] == '.' ? 43 : 1;
    const Response r = must(q.build());
    EXPECT_EQ(r.rcode(), kRefused) << name;
    EXPECT_FALSE(r.aa());
    EXPECT_EQ(r.an + r.ns + r.ar, 0);
  }
}

TEST_F(WireTest, Case18UnknownTypeIsNodataWithNegativeTtl) {
  for (unsigned t : {1000U, 65535U, 15U}) {
    Query q;
    q.qname = "www.hello.example.";
    q.qtype = static_cast<std::uint16_t>(t);
    const Response r = must(q.build());
    EXPECT_EQ(r.rcode(), kNoError);
    EXPECT_TRUE(r.aa());
    EXPECT_TRUE(r.answer.empty());
    ASSERT_EQ(r.authority.size(), 1U);
    EXPECT_EQ(r.authority[0].type, 6);
    EXPECT_EQ(r.authority[0].ttl, 300U);  // min(SOA ttl 7200, minimum 300)
  }
}

TEST_F(WireTest, Case19NxdomainWithSoaAlsoBelowALeaf) {
  for (const char* name :
       {"nope.hello.example.", "x.www.hello.example.", "9.2.0.192.in-addr.arpa."}) {
    Query q;
    q.qname = name;
    const Response r = must(q.build());
    EXPECT_EQ(r.rcode(), kNxDomain) << name;
    EXPECT_TRUE(r.aa());
    ASSERT_EQ(r.authority.size(), 1U);
    // hello.example.: min(7200, 300); the reverse zone keeps the defaults (3600, 3600).
    EXPECT_EQ(r.authority[0].ttl, name[0] == '9' ? 3600U : 300U);
  }
}

TEST_F(WireTest, Case20EmptyNonTerminalIsNodata) {
  Query q;
  q.qname = "b.hello.example.";
  const Response r = must(q.build());
  EXPECT_EQ(r.rcode(), kNoError);
  EXPECT_TRUE(r.answer.empty());
  ASSERT_EQ(r.authority.size(), 1U);
  q.qname = "txt.hello.example.";
  EXPECT_EQ(must(q.build()).rcode(), kNoError);
}

TEST_F(WireTest, HandlerExceptionIsServfail) {
  Query q;
  q.qname = "boom.hello.example.";
  const Response r = must(q.build());
  EXPECT_EQ(r.rcode(), kServFail);
  expect_alive();
}

// ---- truncation and payload ------------------------------------------------------------

// Response = 12 header + question (name + 4) + RR (2 pointer + 10 + rdata).
std::string size_name(unsigned n) {
  return std::to_string(n) + ".size.hello.example.";
}
unsigned rdata_for_total(unsigned total, unsigned opt) {
  for (unsigned digits = 1; digits <= 5; ++digits) {
    const unsigned q =
        static_cast<unsigned>(
            wiretest::name_wire(std::string(digits, '1') + ".size.hello.example.").size()) +
        4;
    const unsigned n = total - 12 - q - 12 - opt;
    if (std::to_string(n).size() == digits) {
      return n;
    }
  }
  return 0;
}

TEST_F(WireTest, Case14TcAtExactly512And513WithoutEdns) {
  Query q;
  q.qtype = 16;
  q.qname = size_name(rdata_for_total(512, 0));
  Response r = must(q.build());
  EXPECT_EQ(r.size, 512U);
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.answer.size(), 1U);
  q.qname = size_name(rdata_for_total(513, 0));
  r = must(q.build());
  EXPECT_TRUE(r.tc());
  EXPECT_TRUE(r.answer.empty());
  EXPECT_EQ(r.qd, 1);
  EXPECT_EQ(r.qname, q.qname);
  // The same over TCP: full answer.
  r = must(q.build(), Transport::tcp);
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.size, 513U);
}

TEST_F(WireTest, Case14EdnsPayloadClampedTo512AndServerMax) {
  for (unsigned payload : {0U, 100U, 511U}) {
    Query q;
    q.edns = true;
    q.payload = static_cast<std::uint16_t>(payload);
    q.qtype = 16;
    q.qname = size_name(rdata_for_total(512, 11));
    EXPECT_FALSE(must(q.build()).tc()) << payload;
    q.qname = size_name(rdata_for_total(513, 11));
    const Response r = must(q.build());
    EXPECT_TRUE(r.tc()) << payload;
    ASSERT_TRUE(r.has_opt());  // truncated answers keep the OPT
    EXPECT_EQ(r.opt().rclass, 1232);
  }
  Query q;
  q.edns = true;
  q.payload = 65535;
  q.qtype = 16;
  q.qname = size_name(rdata_for_total(1232, 11));
  Response r = must(q.build());
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.size, 1232U);
  q.qname = size_name(rdata_for_total(1233, 11));
  EXPECT_TRUE(must(q.build()).tc());
  // A server limit of 1220 (Knot's payload_server test).
  Policy p;
  p.udp_payload_max = 1220;
  q.qname = size_name(rdata_for_total(1220, 11));
  EXPECT_FALSE(must(q.build(), Transport::udp, p).tc());
  q.qname = size_name(rdata_for_total(1221, 11));
  r = must(q.build(), Transport::udp, p);
  EXPECT_TRUE(r.tc());
  EXPECT_EQ(r.opt().rclass, 1220);
}

TEST_F(WireTest, BigSetTruncatedOverUdpFullOverTcp) {
  Query q;
  q.qname = "big.hello.example.";
  q.qtype = 16;
  q.edns = true;
  EXPECT_TRUE(must(q.build()).tc());
  const Response r = must(q.build(), Transport::tcp);
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.answer.size(), 40U);
}

TEST_F(WireTest, TcpAnswerOver64KiBIsServfail) {
  Query q;
  q.qname = size_name(65500);
  q.qtype = 16;
  const Response r = must(q.build(), Transport::tcp);
  EXPECT_EQ(r.rcode(), kServFail);
  EXPECT_FALSE(r.tc());
}

TEST_F(WireTest, LimitBelowHeaderGivesNothing) {
  Query q;
  const ParsedQuery pq = parse_query(q.build());
  app::Answer ans;
  std::uint8_t small[8];
  EXPECT_EQ(encode_response(pq, ans, small, 512, false), 0U);
}

// ---- EDNS ------------------------------------------------------------------------------

TEST_F(WireTest, EdnsOptEchoedWithOurPayloadAndDo) {
  Query q;
  q.edns = true;
  q.payload = 4096;
  q.dnssec_ok = true;
  const Response r = must(q.build());
  ASSERT_TRUE(r.has_opt());
  EXPECT_EQ(r.opt().name, ".");
  EXPECT_EQ(r.opt().rclass, 1232);
  EXPECT_EQ(r.opt().ttl, 0x8000U);  // version 0, DO copied (RFC 3225)
}

TEST_F(WireTest, Case12BadversVariants) {
  for (int variant = 0; variant < 4; ++variant) {
    Query q;
    q.edns = true;
    q.version = 1;
    q.dnssec_ok = variant == 1;
    if (variant == 2) {
      q.options = {0, 100, 0, 2, 'h', 'i'};
    }
    if (variant == 3) {
      q.version = 100;
    }
    const Response r = must(q.build());
    EXPECT_EQ(r.ext_rcode(), kBadVers) << variant;
    EXPECT_EQ(r.rcode(), 0U);  // upper bits in the OPT, header rcode 0
    EXPECT_FALSE(r.aa());
    EXPECT_EQ(r.an + r.ns, 0);
    ASSERT_TRUE(r.has_opt());
    EXPECT_EQ((r.opt().ttl >> 16) & 0xFF, 0U);  // our version
    EXPECT_TRUE(r.opt().rdata.empty());
    EXPECT_EQ(r.qd, 1);
  }
}

TEST_F(WireTest, Case13UnknownOptionAndFlagIgnored) {
  Query q;
  q.edns = true;
  q.options = {0, 100, 0, 3, 1, 2, 3};
  Bytes b = q.build();
  b[b.size() - 7 - 3] |= 0x40;  // MBZ flag bit 0x40 in the OPT TTL (low flag byte)
  const Response r = must(b);
  EXPECT_EQ(r.rcode(), kNoError);
  ASSERT_TRUE(r.has_opt());
  EXPECT_TRUE(r.opt().rdata.empty());  // option not echoed
  EXPECT_EQ(r.opt().ttl, 0U);          // MBZ stays 0
}

Bytes ecs_option(unsigned family, unsigned source, unsigned scope, const Bytes& addr) {
  Bytes o;
  wiretest::put16(o, 8);
  wiretest::put16(o, 4 + static_cast<unsigned>(addr.size()));
  wiretest::put16(o, family);
  o.push_back(static_cast<std::uint8_t>(source));
  o.push_back(static_cast<std::uint8_t>(scope));
  o.insert(o.end(), addr.begin(), addr.end());
  return o;
}

TEST_F(WireTest, EcsParsedAndEchoedWithScope) {
  Query q;
  q.edns = true;
  q.options = ecs_option(1, 24, 0, {198, 51, 100});
  const ParsedQuery pq = parse_query(q.build());
  ASSERT_TRUE(pq.ok());
  ASSERT_TRUE(pq.edns.has_ecs);
  EXPECT_EQ(pq.edns.ecs.to_string(), "198.51.100.0/24");
  const Response r = must(q.build());
  ASSERT_TRUE(r.has_opt());
  EXPECT_EQ(r.opt().rdata, (Bytes{0, 8, 0, 7, 0, 1, 24, 24, 198, 51, 100}));
  q.options = ecs_option(2, 56, 0, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x12});
  const ParsedQuery p6 = parse_query(q.build());
  ASSERT_TRUE(p6.ok());
  EXPECT_EQ(p6.edns.ecs.to_string(), "2001:db8:0:1200::/56");
  q.options = ecs_option(1, 0, 0, {});
  EXPECT_TRUE(parse_query(q.build()).ok());
}

TEST_F(WireTest, MalformedEcsIsFormerr) {
  const Bytes bad[] = {
      ecs_option(3, 8, 0, {10}),              // unknown family
      ecs_option(1, 33, 0, {1, 2, 3, 4, 5}),  // source too long
      ecs_option(1, 24, 0, {198, 51}),        // too few octets
      ecs_option(1, 16, 0, {198, 51, 100}),   // too many octets
      ecs_option(1, 23, 0, {198, 51, 101}),   // bits beyond the source length
      {0, 8, 0, 2, 0, 1},                     // shorter than the fixed part
  };
  for (const Bytes& o : bad) {
    Query q;
    q.edns = true;
    q.options = o;
    const Response r = must(q.build());
    EXPECT_EQ(r.rcode(), kFormErr);
    EXPECT_FALSE(r.has_opt());
  }
  Query q;
  q.edns = true;
  q.options = ecs_option(1, 8, 0, {10});
  const Bytes one = q.options;
  q.options.insert(q.options.end(), one.begin(), one.end());  // two ECS options
  EXPECT_EQ(must(q.build()).rcode(), kFormErr);
  q.options = {0, 10, 0, 8, 1, 2};  // option length past the RDATA
  EXPECT_EQ(must(q.build()).rcode(), kFormErr);
  expect_alive();
}

// ---- policy: class, transfers, ANY ---------------------------------------------------------

TEST_F(WireTest, Case16ClassesOtherThanInRefused) {
  for (unsigned cls : {3U, 4U, 254U}) {
    Query q;
    q.qname = cls == 3 ? "version.bind." : "hello.example.";
    q.qtype = 16;
    q.qclass = static_cast<std::uint16_t>(cls);
    const Response r = must(q.build());
    EXPECT_EQ(r.rcode(), kRefused) << cls;
    EXPECT_FALSE(r.aa());
    EXPECT_EQ(r.qclass, cls);
  }
  Query q;
  q.qtype = 16;
  q.qclass = 255;  // ANY is served as IN (pdns)
  EXPECT_EQ(must(q.build()).rcode(), kNoError);
}

TEST_F(WireTest, Case23AnyAndTransfers) {
  Query q;
  q.qtype = 255;
  Response r = must(q.build());
  EXPECT_TRUE(r.tc());
  EXPECT_TRUE(r.aa());
  EXPECT_TRUE(r.answer.empty());
  r = must(q.build(), Transport::tcp);
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.answer.size(), 3U);
  Policy minimal;
  minimal.any_over_udp = AnyPolicy::minimal;
  r = must(q.build(), Transport::udp, minimal);
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.answer.size(), 1U);  // one RRset (RFC 8482)
  q.qname = "example.org.";
  EXPECT_EQ(must(q.build()).rcode(), kRefused);

  q.qname = "hello.example.";
  q.qtype = 252;  // AXFR
  EXPECT_EQ(must(q.build()).rcode(), kNotImp);
  EXPECT_EQ(must(q.build(), Transport::tcp).rcode(), kRefused);
  q.qtype = 251;  // IXFR
  EXPECT_EQ(must(q.build()).rcode(), kRefused);
  EXPECT_EQ(must(q.build(), Transport::tcp).rcode(), kRefused);
}

// ---- bad input: the reliability note's cases ------------------------------------------------

TEST_F(WireTest, Case1NulDatagrams) {
  for (std::size_t n = 1; n <= 16; ++n) {
    const Bytes b(n, 0);
    auto r = run(b);
    if (n < 12) {
      EXPECT_FALSE(r.has_value()) << n;
    } else {
      ASSERT_TRUE(r.has_value()) << n;  // QDCOUNT=0 (and trailing NULs): FORMERR
      EXPECT_EQ(r->rcode(), kFormErr);
    }
  }
  EXPECT_EQ(counters_.dropped_short, 11U);
  expect_alive();
}

TEST_F(WireTest, Case2ResponsesDropped) {
  Query q;
  q.flags = 0x8000;
  EXPECT_FALSE(run(q.build()).has_value());
  EXPECT_EQ(counters_.dropped_response, 1U);
  expect_alive();
}

TEST_F(WireTest, Case3HeaderOnlyOpcode15IsNotimp) {
  const Response r = must(header(15 << 11, 0, 0, 0, 0));
  EXPECT_EQ(r.rcode(), kNotImp);
  EXPECT_FALSE(r.aa());
  EXPECT_EQ(r.opcode(), 15U);
  EXPECT_EQ(r.ns, 0);
}

TEST_F(WireTest, Case4OtherOpcodesNotimpWithQuestion) {
  for (unsigned op = 1; op < 16; ++op) {
    Query q;
    q.flags = static_cast<std::uint16_t>(op << 11);
    const Response r = must(q.build());
    EXPECT_EQ(r.rcode(), kNotImp) << op;
    EXPECT_EQ(r.opcode(), op);
    EXPECT_EQ(r.qd, 1);
  }
  expect_alive();
}

TEST_F(WireTest, Case5TwoQuestionsFormerrFlagsCleared) {
  Bytes b = header(0x0100 | 0x0400 | 0x0010, 2, 0, 0, 0);
  question(b, "hello.example.");
  question(b, "www.hello.example.");
  const Response r = must(b);
  EXPECT_EQ(r.rcode(), kFormErr);
  EXPECT_EQ(r.flags, 0x8000 | 0x0100 | kFormErr);
  expect_alive();
}

TEST_F(WireTest, Case6NoQuestionFormerrKeepsOpt) {
  EXPECT_EQ(must(header(0, 0, 0, 0, 0)).rcode(), kFormErr);
  Bytes b = header(0, 0, 0, 0, 1);
  append(b, opt_rr(4096));
  const Response r = must(b);
  EXPECT_EQ(r.rcode(), kFormErr);
  EXPECT_EQ(r.qd, 0);
  ASSERT_TRUE(r.has_opt());
  EXPECT_EQ(r.opt().rclass, 1232);
}

TEST_F(WireTest, Case7CutMessagesFormerr) {
  Query q;
  q.qname = "www.hello.example.";
  const Bytes full = q.build();
  for (std::size_t n = 12; n < full.size(); ++n) {
    const Bytes cut(full.begin(), full.begin() + static_cast<long>(n));
    const Response r = must(cut);
    EXPECT_EQ(r.rcode(), kFormErr) << n;
    EXPECT_EQ(r.qd, 0) << n;
  }
  expect_alive();
}

TEST_F(WireTest, Case8PointersFormerr) {
  // Pointer as the question name, a self-pointer, a forward pointer.
  for (const Bytes& qn : {Bytes{0xC0, 12}, Bytes{3, 'w', 'w', 'w', 0xC0, 12}, Bytes{0xC0, 30}}) {
    Bytes b = header(0, 1, 0, 0, 0);
    append(b, qn);
    wiretest::put16(b, 1);
    wiretest::put16(b, 1);
    EXPECT_EQ(must(b).rcode(), kFormErr);
  }
  // Names in the additional section: self-pointer, forward pointer, 2-pointer loop, pointer
  // into the header.
  Query q;
  const Bytes base = q.build();
  const std::size_t at = base.size();
  for (const Bytes& owner : {Bytes{0xC0, static_cast<std::uint8_t>(at)},
                             Bytes{0xC0, static_cast<std::uint8_t>(at + 20)}, Bytes{0xC0, 2}}) {
    Bytes b = base;
    b[11] = 1;
    append(b, owner);
    wiretest::put16(b, 41);
    wiretest::put16(b, 512);
    wiretest::put32(b, 0);
    wiretest::put16(b, 0);
    EXPECT_EQ(must(b).rcode(), kFormErr);
  }
  {
    // Two-pointer loop: an RR whose owner points at the next RR's owner, which points back.
    Bytes b = base;
    b[11] = 2;
    const std::size_t first = b.size();
    b.push_back(1);
    b.push_back('a');
    b.push_back(0xC0);
    b.push_back(static_cast<std::uint8_t>(first + 14));  // forward, to the next owner
    wiretest::put16(b, 1);
    wiretest::put16(b, 1);
    wiretest::put32(b, 0);
    wiretest::put16(b, 0);
    b.push_back(0xC0);
    b.push_back(static_cast<std::uint8_t>(first));
    wiretest::put16(b, 1);
    wiretest::put16(b, 1);
    wiretest::put32(b, 0);
    wiretest::put16(b, 0);
    EXPECT_EQ(must(b).rcode(), kFormErr);
  }
  expect_alive();
}

TEST_F(WireTest, Case9LabelAndNameLimits) {
  {
    Bytes b = header(0, 1, 0, 0, 0);
    b.push_back(64);
    b.insert(b.end(), 64, 'a');
    b.push_back(0);
    wiretest::put16(b, 1);
    wiretest::put16(b, 1);
    EXPECT_EQ(must(b).rcode(), kFormErr);
  }
  {
    // 4 labels of 63 + root = 257 octets.
    Bytes b = header(0, 1, 0, 0, 0);
    for (int i = 0; i < 4; ++i) {
      b.push_back(63);
      b.insert(b.end(), 63, 'a');
    }
    b.push_back(0);
    wiretest::put16(b, 1);
    wiretest::put16(b, 1);
    EXPECT_EQ(must(b).rcode(), kFormErr);
  }
  {
    // Exactly 255 octets is fine (NXDOMAIN: outside the zones -> REFUSED).
    Bytes b = header(0, 1, 0, 0, 0);
    for (int i = 0; i < 3; ++i) {
      b.push_back(63);
      b.insert(b.end(), 63, 'a');
    }
    b.push_back(61);
    b.insert(b.end(), 61, 'a');
    b.push_back(0);
    wiretest::put16(b, 1);
    wiretest::put16(b, 1);
    EXPECT_EQ(must(b).rcode(), kRefused);
  }
  for (const std::uint8_t l : {std::uint8_t{0x40}, std::uint8_t{0x80}, std::uint8_t{0xBF}}) {
    Bytes b = header(0, 1, 0, 0, 0);
    b.push_back(l);
    b.insert(b.end(), 4, 'a');
    b.push_back(0);
    wiretest::put16(b, 1);
    wiretest::put16(b, 1);
    EXPECT_EQ(must(b).rcode(), kFormErr);
  }
  expect_alive();
}

TEST_F(WireTest, Case10CountsFormerr) {
  for (int which = 0; which < 3; ++which) {
    Query q;
    Bytes b = q.build();
    if (which == 0) {
      b[7] = 1;  // ANCOUNT
    } else if (which == 1) {
      b[9] = 1;  // NSCOUNT
    } else {
      b[11] = 2;  // ARCOUNT larger than present
    }
    const Response r = must(b);
    EXPECT_EQ(r.rcode(), kFormErr) << which;
    EXPECT_EQ(r.flags & 0x7EF0, 0);
  }
  Query q;
  Bytes b = q.build();
  b.push_back(0);  // trailing garbage
  EXPECT_EQ(must(b).rcode(), kFormErr);
  expect_alive();
}

TEST_F(WireTest, Case11OptPlacementFormerr) {
  {
    Query q;
    q.edns = true;
    Bytes b = q.build();
    append(b, opt_rr());
    b[11] = 2;
    const Response r = must(b);
    EXPECT_EQ(r.rcode(), kFormErr);
    EXPECT_EQ(r.qd, 1);
  }
  {
    Query q;
    Bytes b = q.build();
    append(b, opt_rr());
    b[7] = 1;  // OPT in the answer section
    EXPECT_EQ(must(b).rcode(), kFormErr);
  }
  {
    Query q;
    Bytes b = q.build();
    append(b, wiretest::name_wire("x."));
    wiretest::put16(b, 41);
    wiretest::put16(b, 512);
    wiretest::put32(b, 0);
    wiretest::put16(b, 0);
    b[11] = 1;
    EXPECT_EQ(must(b).rcode(), kFormErr);
  }
  {
    // A non-OPT record in the additional section is bounds-checked and ignored.
    Query q;
    Bytes b = q.build();
    append(b, wiretest::name_wire("key."));
    wiretest::put16(b, 250);
    wiretest::put16(b, 255);
    wiretest::put32(b, 0);
    wiretest::put16(b, 2);
    b.push_back(0);
    b.push_back(0);
    b[11] = 1;
    EXPECT_EQ(must(b).rcode(), kNoError);
  }
  expect_alive();
}

TEST_F(WireTest, ParseKeepsQuestionCaseAndFields) {
  Query q;
  q.qname = "MiXeD.Hello.Example.";
  q.qtype = 28;
  q.flags = 0x0110;
  q.edns = true;
  q.payload = 4000;
  const ParsedQuery p = parse_query(q.build());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.qname.to_string(), "MiXeD.Hello.Example.");
  EXPECT_EQ(p.qtype, dns::rrtype::AAAA);
  EXPECT_TRUE(p.rd);
  EXPECT_TRUE(p.cd);
  EXPECT_EQ(p.edns.udp_payload, 4000);
  EXPECT_EQ(p.edns.opt_count, 1);
  EXPECT_EQ(udp_limit(p), 1232U);
}

TEST_F(WireTest, CountersByRcode) {
  Query q;
  (void)run(q.build());
  q.qname = "example.org.";
  (void)run(q.build());
  (void)run(Bytes(3, 0));
  EXPECT_EQ(counters_.received, 3U);
  EXPECT_EQ(counters_.answered, 2U);
  EXPECT_EQ(counters_.rcode(app::Rcode::noerror), 1U);
  EXPECT_EQ(counters_.rcode(app::Rcode::refused), 1U);
  EXPECT_EQ(counters_.dropped(), 1U);
}

}  // namespace
}  // namespace amap::wire
