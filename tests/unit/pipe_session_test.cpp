// SPDX-License-Identifier: MIT
// Line-level tests of amap::pipe::Session: one input line in, the exact reply out.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "backend/pipe/session.h"
#include "tests/unit/pipe_test_support.h"

namespace amap::pipe {
namespace {

using test::split;

constexpr std::string_view kQ1 = "Q\thello.example\tIN\tTXT\t-1\t192.0.2.1";
constexpr std::string_view kQ3 =
    "Q\thello.example\tIN\tTXT\t-1\t192.0.2.1\t192.0.2.53\t192.0.2.1/32";

std::string q3(std::string_view qname, std::string_view qtype,
               std::string_view remote = "192.0.2.1", std::string_view ecs = "192.0.2.1/32") {
  return "Q\t" + std::string(qname) + "\tIN\t" + std::string(qtype) + "\t-1\t" +
         std::string(remote) + "\t192.0.2.53\t" + std::string(ecs);
}

struct Fixture {
  explicit Fixture(app::App a, Options o = test::example_options("hello"))
      : app(std::move(a)), worker(app), session(worker, std::move(o)) {}
  std::string line(std::string_view l) { return std::string(session.handle_line(l)); }
  app::App app;
  app::Worker worker;
  Session session;
};

class pipe_hello : public ::testing::Test {
 protected:
  Fixture f{examples::hello_app()};
};

TEST_F(pipe_hello, HandshakeEachSupportedAbi) {
  for (int abi = kMinAbi; abi <= kMaxAbi; ++abi) {
    Fixture g{examples::hello_app()};
    EXPECT_EQ(g.line("HELO\t" + std::to_string(abi)), "OK\tautomap pipe backend\n");
    EXPECT_EQ(g.session.abi(), abi);
    EXPECT_FALSE(g.session.done());
  }
}

TEST_F(pipe_hello, UnsupportedHeloFailsReadsOneMoreLineAndEnds) {
  for (std::string_view helo :
       {"HELO\t0", "HELO\t6", "HELO\t-1", "HELO\tx", "HELO", "HELO\t1\t2", "HELO\t01x"}) {
    Fixture g{examples::hello_app()};
    // Exactly one line: PowerDNS reads one line as the banner.
    EXPECT_EQ(g.line(helo), "FAIL\n") << helo;
    EXPECT_FALSE(g.session.done());
    EXPECT_EQ(g.line(kQ1), "") << helo;
    EXPECT_TRUE(g.session.done());
    EXPECT_EQ(g.session.exit_status(), 1);
  }
}

TEST_F(pipe_hello, QueryBeforeHeloIsLogFailAndKeepsServing) {
  EXPECT_EQ(f.line(kQ1),
            "LOG\texpected HELO first, got: Q hello.example IN TXT -1 192.0.2.1\nFAIL\n");
  EXPECT_FALSE(f.session.done());
  EXPECT_EQ(f.line("HELO\t1"), "OK\tautomap pipe backend\n");
  EXPECT_EQ(f.line(kQ1), "DATA\thello.example\tIN\tTXT\t86400\t-1\t\"Hello World!\"\nEND\n");
}

TEST_F(pipe_hello, DataLineLayoutPerAbi) {
  // ABI 1/2: DATA qname qclass qtype ttl id content (7 fields).
  // ABI 3+:  DATA scopebits auth qname qclass qtype ttl id content (9 fields).
  for (int abi = kMinAbi; abi <= kMaxAbi; ++abi) {
    Fixture g{examples::hello_app()};
    g.line("HELO\t" + std::to_string(abi));
    std::string q = "Q\thello.example\tIN\tTXT\t7\t192.0.2.1";
    if (abi >= 2) {
      q += "\t192.0.2.53";
    }
    if (abi >= 3) {
      q += "\t192.0.2.1/32";
    }
    const std::string r = g.line(q);
    const auto lines = split(r, '\n');
    ASSERT_EQ(lines.size(), 3U) << r;  // DATA, END, and "" after the last '\n'
    EXPECT_EQ(lines[1], "END");
    const auto fields = split(lines[0], '\t');
    ASSERT_EQ(fields.size(), abi >= 3 ? 9U : 7U) << lines[0];
    EXPECT_EQ(fields[0], "DATA");
    if (abi >= 3) {
      EXPECT_EQ(fields[1], "0");  // scopebits
      EXPECT_EQ(fields[2], "1");  // auth
    }
    const std::size_t o = abi >= 3 ? 2 : 0;
    EXPECT_EQ(fields[o + 1], "hello.example");
    EXPECT_EQ(fields[o + 2], "IN");
    EXPECT_EQ(fields[o + 3], "TXT");
    EXPECT_EQ(fields[o + 4], "86400");
    EXPECT_EQ(fields[o + 5], "7");  // the id from the Q line
    EXPECT_EQ(fields[o + 6], "\"Hello World!\"");
  }
}

TEST_F(pipe_hello, WrongFieldCountPerAbi) {
  f.line("HELO\t2");
  EXPECT_EQ(f.line(kQ1), "LOG\tQ line has 6 fields, ABI 2 expects 7\nFAIL\n");
  EXPECT_EQ(f.line(kQ3), "LOG\tQ line has 8 fields, ABI 2 expects 7\nFAIL\n");
  EXPECT_EQ(f.line(std::string(kQ3) + "\ta\tb\tc"),
            "LOG\tQ line has 8+ fields, ABI 2 expects 7\nFAIL\n");
  EXPECT_EQ(f.session.stats().malformed, 3U);
  EXPECT_EQ(f.session.stats().queries, 0U);
}

TEST_F(pipe_hello, CasePreservedAndMatchedInsensitively) {
  f.line("HELO\t3");
  EXPECT_EQ(f.line(q3("hElLo.ExAmPlE", "TXT")),
            "DATA\t0\t1\thElLo.ExAmPlE\tIN\tTXT\t86400\t-1\t\"Hello World!\"\nEND\n");
}

TEST_F(pipe_hello, SoaOnlyAtApexAndOnlySoaForSoa) {
  f.line("HELO\t3");
  EXPECT_EQ(f.line(q3("hello.example", "SOA")),
            "DATA\t0\t1\thello.example\tIN\tSOA\t3600\t-1\tns1.hello.example. "
            "hostmaster.hello.example. 1 10800 3600 604800 3600\nEND\n");
  EXPECT_EQ(f.line(q3("a.b.c.hello.example", "SOA")), "END\n");
  EXPECT_EQ(f.line(q3("example", "SOA")), "END\n");
  EXPECT_EQ(f.line(q3(".", "SOA")), "END\n");
}

TEST_F(pipe_hello, NoDataIsBareEndNeverFail) {
  f.line("HELO\t3");
  EXPECT_EQ(f.line(q3("hello.example", "A")), "END\n");
  EXPECT_EQ(f.line(q3("nope.hello.example", "ANY")), "END\n");
  EXPECT_EQ(f.line(q3("example.org", "ANY")), "END\n");
  EXPECT_EQ(f.session.stats().failures, 0U);
}

TEST_F(pipe_hello, CrLfAndEmptyLines) {
  f.line("HELO\t1");
  EXPECT_EQ(f.line(std::string(kQ1) + "\r"),
            "DATA\thello.example\tIN\tTXT\t86400\t-1\t\"Hello World!\"\nEND\n");
  EXPECT_EQ(f.line(""), "LOG\tempty line\nFAIL\n");
  EXPECT_EQ(f.line("\r"), "LOG\tempty line\nFAIL\n");
}

TEST_F(pipe_hello, OversizedLineReply) {
  f.line("HELO\t1");
  EXPECT_EQ(std::string(f.session.handle_oversized_line(65536)),
            "LOG\tline longer than 65536 bytes, dropped\nFAIL\n");
}

TEST_F(pipe_hello, LogQuotesAreCutAndSanitized) {
  f.line("HELO\t1");
  const std::string junk = "X\x01\x7f" + std::string(200, 'y');
  const std::string r = f.line(junk);
  EXPECT_EQ(r, "LOG\tunknown line: X??" + std::string(61, 'y') + "...\nFAIL\n");
}

TEST_F(pipe_hello, AxfrIsAlwaysEmpty) {
  f.line("HELO\t3");
  EXPECT_EQ(f.line("AXFR\t1"), "END\n");
  EXPECT_EQ(f.line("AXFR\t1\thello.example"),
            "LOG\tAXFR line needs <id> (and no zone) on ABI 1..3\nFAIL\n");
  Fixture g{examples::hello_app()};
  g.line("HELO\t4");
  EXPECT_EQ(g.line("AXFR\t1\thello.example"), "END\n");
  EXPECT_EQ(g.line("AXFR\t1"), "LOG\tAXFR line needs <id> <zone> on ABI 4+\nFAIL\n");
}

TEST_F(pipe_hello, CommandsOnAbi5) {
  f.line("HELO\t5");
  f.line(q3("hello.example", "SOA"));
  f.line(q3("hello.example", "ANY"));
  f.line(q3("hello.example", "ANY"));
  f.line(q3("hello.example", "TYPE4000"));
  f.line("bogus");
  EXPECT_EQ(f.line("CMD\tstats"),
            "queries=4\nfailures=0\nmalformed=1\naxfr=0\ncommands=1\nuptime_seconds=0\n"
            "qtype_SOA=1\nqtype_ANY=2\nqtype_other=1\nEND\n");
  EXPECT_EQ(f.line("CMD\tversion"),
            "automap " + std::string(AMAP_TEST_VERSION) + ", pipe ABI 5\nEND\n");
  EXPECT_EQ(f.line("CMD\t  nope  "), "unknown command 'nope', try: help, version, stats\nEND\n");
  // CMD replies end with END even on errors: PowerDNS reads a CMD reply up to END.
  const std::string help = f.line("CMD\thelp");
  EXPECT_EQ(help.substr(help.size() - 4), "END\n");
}

TEST_F(pipe_hello, CommandsBeforeAbi5AreRejected) {
  f.line("HELO\t4");
  EXPECT_EQ(f.line("CMD\tstats"),
            "LOG\tCMD needs pipe-abi-version 5, this session speaks ABI 4\nFAIL\n");
}

// Every line counts once: by its verb when accepted, as bad when answered LOG + FAIL.
TEST_F(pipe_hello, LinesCountedByVerb) {
  f.line(kQ1);  // before HELO: bad
  f.line("HELO\t5");
  f.line(q3("hello.example", "TXT"));
  f.line(q3("hello.example", "A"));
  f.line("Q\thello.example");  // wrong field count: bad
  f.line("AXFR\t1\thello.example");
  f.line("CMD\tstats");
  f.line("PING");  // unknown: bad
  f.session.handle_oversized_line(10);
  const LineCounts& c = f.session.lines();
  EXPECT_EQ(c.get(Verb::helo), 1U);
  EXPECT_EQ(c.get(Verb::q), 2U);
  EXPECT_EQ(c.get(Verb::axfr), 1U);
  EXPECT_EQ(c.get(Verb::cmd), 1U);
  EXPECT_EQ(c.get(Verb::bad), 4U);
  EXPECT_EQ(c.get(Verb::bad), f.session.stats().malformed);
}

// Options::lines: the counts go to the caller's block (the mapped counter file).
TEST(pipe_session, LinesGoToTheGivenBlock) {
  LineCounts block;
  Options o = test::example_options("hello");
  o.lines = &block;
  Fixture g{examples::hello_app(), o};
  g.line("HELO\t3");
  g.line(kQ3);
  EXPECT_EQ(block.get(Verb::helo), 1U);
  EXPECT_EQ(block.get(Verb::q), 1U);
  EXPECT_EQ(&g.session.lines(), &block);
}

TEST(pipe_session, MxAndSrvPriorityInItsOwnField) {
  app::App a;
  a.zone("example.");
  const auto mail = *dns::Name::from_text("mail.example.");
  const auto sip = *dns::Name::from_text("sip.example.");
  a.route(app::Match().name("example."), [&](const app::Request&, app::Answer& ans) noexcept {
    ans.mx(10, mail, 300);
    ans.srv(0, 5, 5060, sip, 300);
    return app::Outcome::hit;
  });
  Fixture f{std::move(a)};
  f.line("HELO\t1");
  EXPECT_EQ(f.line("Q\texample\tIN\tMX\t-1\t192.0.2.1"),
            "DATA\texample\tIN\tMX\t300\t-1\t10\tmail.example.\nEND\n");
  f.line("HELO\t3");
  EXPECT_EQ(f.line(q3("example", "SRV")),
            "DATA\t0\t1\texample\tIN\tSRV\t300\t-1\t0\t5 5060 sip.example.\nEND\n");
}

TEST(pipe_session, RootZoneOwnerIsADot) {
  app::App a;
  a.zone(".");
  Fixture f{std::move(a)};
  f.line("HELO\t1");
  EXPECT_EQ(f.line("Q\t.\tIN\tNS\t-1\t192.0.2.1"), "DATA\t.\tIN\tNS\t3600\t-1\tns1.\nEND\n");
}

TEST(pipe_session, OnlyRecordsAnsweringTheQuestion) {
  app::App a;
  a.zone("example.");
  const auto other = *dns::Name::from_text("other.example.");
  const auto target = *dns::Name::from_text("t.example.");
  a.route(app::Match().domain("example."), [&](const app::Request& req, app::Answer& ans) noexcept {
    ans.a(*dns::IpAddress::parse("192.0.2.7"), 60);
    ans.txt("t", 60);
    ans.add(other, dns::rrtype::A, 60,
            [](dns::WireWriter& w) { dns::rdata::a(w, dns::IpAddress::v4(0x01020304)); });
    ans.add(
        req.qname, dns::rrtype::NS, 60, [&](dns::WireWriter& w) { dns::rdata::name(w, target); },
        app::Section::authority);
    return app::Outcome::hit;
  });
  Fixture f{std::move(a)};
  f.line("HELO\t1");
  EXPECT_EQ(f.line("Q\tx.example\tIN\tA\t-1\t192.0.2.1"),
            "DATA\tx.example\tIN\tA\t60\t-1\t192.0.2.7\nEND\n");
  EXPECT_EQ(f.line("Q\tx.example\tIN\tANY\t-1\t192.0.2.1"),
            "DATA\tx.example\tIN\tA\t60\t-1\t192.0.2.7\n"
            "DATA\tx.example\tIN\tTXT\t60\t-1\t\"t\"\nEND\n");
}

// Rows repeat PowerDNS's qname text when it needs no escaping, and otherwise print the
// parsed name in presentation form: the owner is the same name either way.
TEST(pipe_session, OwnerTextOfEveryKindOfQname) {
  app::App a;
  a.zone("example.");
  a.route(app::Match().domain("example."), [](const app::Request&, app::Answer& ans) noexcept {
    ans.txt("t", 60);
    return app::Outcome::hit;
  });
  Fixture f{std::move(a)};
  f.line("HELO\t1");
  auto owner_of = [&](std::string_view qname) {
    const std::string reply = f.line("Q\t" + std::string(qname) + "\tIN\tTXT\t-1\t192.0.2.1");
    const auto fields = test::split(reply, '\t');
    return fields.size() > 1 ? std::string(fields[1]) : reply;
  };
  EXPECT_EQ(owner_of("Mixed.Example"), "Mixed.Example");
  EXPECT_EQ(owner_of("dot.example."), "dot.example");
  EXPECT_EQ(owner_of("a\\.b.example"), "a\\.b.example");  // escaped dot inside a label
  EXPECT_EQ(owner_of("\\065b.example"), "Ab.example");    // \DDD decoded
  EXPECT_EQ(owner_of("caf\xc3\xa9.example"), "caf\\195\\169.example");  // non-ASCII: \DDD
  EXPECT_EQ(owner_of("example"), "example");
  EXPECT_EQ(f.line("Q\ta..example\tIN\tTXT\t-1\t192.0.2.1").substr(0, 4), "LOG\t");
}

TEST(pipe_session, CnameAnswersEveryType) {
  app::App a;
  a.zone("example.");
  const auto target = *dns::Name::from_text("t.example.");
  a.route(app::Match().name("alias.example."), [&](const app::Request&, app::Answer& ans) noexcept {
    ans.cname(target, 60);
    return app::Outcome::hit;
  });
  Fixture f{std::move(a)};
  f.line("HELO\t1");
  EXPECT_EQ(f.line("Q\talias.example\tIN\tAAAA\t-1\t192.0.2.1"),
            "DATA\talias.example\tIN\tCNAME\t60\t-1\tt.example.\nEND\n");
}

TEST(pipe_session, HandlerExceptionAndOverflowAreFail) {
  app::App a;
  a.zone("example.");
  a.route(app::Match().name("throw.example."),
          [](const app::Request&, app::Answer&) noexcept { return app::Outcome::error; });
  a.route(app::Match().name("big.example."), [](const app::Request&, app::Answer& ans) noexcept {
    for (int i = 0; i < 1000; ++i) {
      ans.txt("x", 60);
    }
    return app::Outcome::hit;
  });
  Fixture f{std::move(a)};
  f.line("HELO\t1");
  EXPECT_EQ(f.line("Q\tthrow.example\tIN\tANY\t-1\t192.0.2.1"), "FAIL\n");
  EXPECT_EQ(f.line("Q\tbig.example\tIN\tTXT\t-1\t192.0.2.1"), "FAIL\n");
  EXPECT_EQ(f.session.stats().failures, 2U);
  EXPECT_EQ(f.line("Q\texample\tIN\tNS\t-1\t192.0.2.1"),
            "DATA\texample\tIN\tNS\t3600\t-1\tns1.example.\nEND\n");
}

TEST(pipe_session, ReplyLargerThanBufferIsLogFail) {
  app::App a;
  a.zone("example.");
  a.route(app::Match().name("example."), [](const app::Request&, app::Answer& ans) noexcept {
    for (int i = 0; i < 100; ++i) {
      ans.txt("0123456789012345678901234567890123456789", 60);
    }
    return app::Outcome::hit;
  });
  Options o;
  o.max_reply_bytes = 2048;
  Fixture f{std::move(a), o};
  f.line("HELO\t1");
  EXPECT_EQ(f.line("Q\texample\tIN\tTXT\t-1\t192.0.2.1"),
            "LOG\treply larger than the reply buffer for example\nFAIL\n");
  EXPECT_EQ(f.line("Q\texample\tIN\tNS\t-1\t192.0.2.1"),
            "DATA\texample\tIN\tNS\t3600\t-1\tns1.example.\nEND\n");
}

TEST(pipe_session, MalformedRdataFromAHandlerIsLogFail) {
  app::App a;
  a.zone("example.");
  a.route(app::Match().name("example."), [](const app::Request& req, app::Answer& ans) noexcept {
    const std::uint8_t junk[3] = {1, 2, 3};
    ans.add_raw(req.qname, dns::rrtype::A, 60, junk);
    return app::Outcome::hit;
  });
  Fixture f{std::move(a)};
  f.line("HELO\t1");
  EXPECT_EQ(f.line("Q\texample\tIN\tA\t-1\t192.0.2.1"),
            "LOG\thandler produced malformed RDATA of type A\nFAIL\n");
}

// What the handler sees: remote, local, zone id, and when the edns-subnet field is an ECS.
struct EcsCase {
  std::string_view remote;
  std::string_view ecs_field;
  bool has_ecs;
  std::string_view ecs;  // expected prefix when has_ecs
};

TEST(pipe_session, EcsFieldInterpretation) {
  const EcsCase cases[] = {
      {"192.0.2.1", "192.0.2.1/32", false, ""},
      {"192.0.2.1", "0.0.0.0/0", false, ""},  // internal queries / RFC 7871 source 0
      {"192.0.2.1", "192.0.2.0/24", true, "192.0.2.0/24"},
      {"192.0.2.1", "198.51.100.7/32", true, "198.51.100.7/32"},
      {"192.0.2.1", "198.51.100.7/24", true, "198.51.100.0/24"},
      {"2001:db8::1", "2001:db8::1/128", false, ""},
      {"2001:db8::1%eth0", "2001:db8::1/128", false, ""},
      {"2001:db8::1", "2001:db8:aa::/56", true, "2001:db8:aa::/56"},
      {"2001:db8::1", "203.0.113.0/24", true, "203.0.113.0/24"},
  };
  for (const auto& c : cases) {
    app::Request seen;
    app::App a;
    a.zone("example.");
    a.route(app::Match(), [&](const app::Request& req, app::Answer&) noexcept {
      seen = req;
      return app::Outcome::hit;
    });
    Fixture f{std::move(a)};
    f.line("HELO\t3");
    EXPECT_EQ(f.line("Q\texample\tIN\tA\t12\t" + std::string(c.remote) + "\t192.0.2.53\t" +
                     std::string(c.ecs_field)),
              "END\n");
    EXPECT_EQ(seen.has_ecs, c.has_ecs) << c.ecs_field;
    if (c.has_ecs) {
      EXPECT_EQ(seen.ecs.to_string(), c.ecs);
    }
    EXPECT_EQ(seen.zone_id, 12);
    EXPECT_EQ(seen.frontend, app::Frontend::pipe);
    EXPECT_EQ(seen.local.to_string(), "192.0.2.53");
    EXPECT_EQ(seen.remote, *dns::IpAddress::parse_dropping_zone(c.remote));
  }
}

TEST(pipe_session, EcsScopeSourceOnlyWithEcs) {
  Fixture f{examples::whoami_app(), test::example_options("whoami")};
  f.line("HELO\t3");
  EXPECT_EQ(f.line(q3("whoami.example", "TXT", "192.0.2.1", "198.51.100.0/24")),
            "DATA\t24\t1\twhoami.example\tIN\tTXT\t0\t-1\t\"198.51.100.0/24 via ECS\"\nEND\n");
  EXPECT_EQ(f.line(q3("whoami.example", "A")),
            "DATA\t0\t1\twhoami.example\tIN\tA\t0\t-1\t192.0.2.1\nEND\n");
}

}  // namespace
}  // namespace amap::pipe
