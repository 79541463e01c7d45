// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "mapper/app/app.h"
#include "mapper/app/testing.h"

namespace amap::app {
namespace {

using testing::query;
using testing::QueryOptions;

App hello_app() {
  App app;
  app.zone("hello.example.");
  app.route(Match().name("hello.example.").type("TXT"), [](const Request&, Answer& ans) noexcept {
    ans.txt("Hello World!");
    return Outcome::hit;
  });
  return app;
}

TEST(Routing, HelloWorldAtApex) {
  App app = hello_app();
  auto r = query(app, "hello.example.", "TXT");
  EXPECT_EQ(r.rcode, Rcode::noerror);
  EXPECT_TRUE(r.authoritative);
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0], "hello.example. 86400 IN TXT \"Hello World!\"");
  EXPECT_TRUE(r.authority.empty());
}

TEST(Routing, CaseOfTheQuestionIsKept) {
  App app = hello_app();
  auto r = query(app, "HeLLo.Example.", "TXT");
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0], "HeLLo.Example. 86400 IN TXT \"Hello World!\"");
}

TEST(Routing, AnyMatchesEveryHandlerAndIncludesApexRecords) {
  App app = hello_app();
  auto r = query(app, "hello.example.", "ANY");
  ASSERT_EQ(r.answer.size(), 3U);
  EXPECT_EQ(r.answer[0],
            "hello.example. 3600 IN SOA ns1.hello.example. hostmaster.hello.example. 1 10800 3600 "
            "604800 3600");
  EXPECT_EQ(r.answer[1], "hello.example. 3600 IN NS ns1.hello.example.");
  EXPECT_EQ(r.answer[2], "hello.example. 86400 IN TXT \"Hello World!\"");
}

TEST(Routing, NodataNxdomainRefused) {
  App app = hello_app();
  auto nodata = query(app, "hello.example.", "A");
  EXPECT_EQ(nodata.rcode, Rcode::noerror);
  EXPECT_TRUE(nodata.answer.empty());
  ASSERT_EQ(nodata.authority.size(), 1U);
  // RFC 2308: TTL = min(SOA TTL 3600, MINIMUM 3600).
  EXPECT_EQ(nodata.authority[0].rfind("hello.example. 3600 IN SOA ", 0), 0U);

  auto nx = query(app, "nope.hello.example.", "TXT");
  EXPECT_EQ(nx.rcode, Rcode::nxdomain);
  EXPECT_TRUE(nx.authoritative);
  EXPECT_EQ(nx.authority.size(), 1U);

  auto out = query(app, "example.org.", "TXT");
  EXPECT_EQ(out.rcode, Rcode::refused);
  EXPECT_FALSE(out.authoritative);

  QueryOptions chaos;
  chaos.qclass = dns::rrclass::CH;
  EXPECT_EQ(query(app, "hello.example.", "TXT", chaos).rcode, Rcode::refused);
}

TEST(Routing, NodataWhenOnlyOtherTypesExist) {
  App app;
  app.zone("z.example.");
  app.route(Match().name("www.z.example.").type("A"), [](const Request&, Answer& ans) noexcept {
    ans.a(*dns::IpAddress::parse("192.0.2.80"), 60);
    return Outcome::hit;
  });
  auto r = query(app, "www.z.example.", "TXT");
  EXPECT_EQ(r.rcode, Rcode::noerror);  // the name exists (it has an A)
  EXPECT_TRUE(r.answer.empty());
  EXPECT_EQ(r.authority.size(), 1U);
  auto a = query(app, "WWW.z.example.", "A");
  ASSERT_EQ(a.answer.size(), 1U);
  EXPECT_EQ(a.answer[0], "WWW.z.example. 60 IN A 192.0.2.80");
}

TEST(Routing, ExistenceComesFromTheOutcome) {
  // A handler adding TXT only when asked for TXT (or ANY): it says nodata for its name when
  // asked another type, miss for names it does not know. Each query runs it once.
  int calls = 0;
  App app;
  app.zone("z.example.");
  app.route(Match(), [&calls](const Request& req, Answer& ans) noexcept {
    ++calls;
    if (!(req.qname == *dns::Name::from_text("t.z.example."))) {
      return Outcome::miss;
    }
    if (req.qtype == dns::rrtype::TXT || req.qtype == dns::rrtype::ANY) {
      ans.txt("t", 60);
      return Outcome::hit;
    }
    return Outcome::nodata;
  });
  EXPECT_EQ(query(app, "t.z.example.", "TXT").answer.size(), 1U);
  EXPECT_EQ(query(app, "t.z.example.", "A").rcode, Rcode::noerror);
  EXPECT_EQ(query(app, "nx.z.example.", "A").rcode, Rcode::nxdomain);
  EXPECT_EQ(calls, 3);
  // SOA comes from the zone only, but the handlers still say whether the name exists.
  const auto soa = query(app, "t.z.example.", "SOA");
  EXPECT_EQ(soa.rcode, Rcode::noerror);
  EXPECT_TRUE(soa.answer.empty());
  EXPECT_EQ(query(app, "nx.z.example.", "SOA").rcode, Rcode::nxdomain);
  EXPECT_EQ(calls, 5);
  // A handler that took the name (hit) with no record of the asked type: NODATA.
  App hit_only;
  hit_only.zone("z.example.");
  hit_only.route(Match().domain("h.z.example."),
                 [](const Request&, Answer&) noexcept { return Outcome::hit; });
  EXPECT_EQ(query(hit_only, "h.z.example.", "A").rcode, Rcode::noerror);
  EXPECT_EQ(query(hit_only, "x.z.example.", "A").rcode, Rcode::nxdomain);
}

TEST(Routing, MissRunsTheNextHandlerHitAndNodataStop) {
  App app;
  app.zone("z.example.");
  std::vector<int> order;
  app.route(Match().domain("z.example."), [&](const Request& req, Answer&) noexcept {
    order.push_back(1);
    return req.qname == *dns::Name::from_text("n.z.example.") ? Outcome::nodata : Outcome::miss;
  });
  app.route(Match().domain("z.example."), [&](const Request&, Answer& ans) noexcept {
    order.push_back(2);
    ans.txt("second");
    return Outcome::hit;
  });
  EXPECT_EQ(query(app, "n.z.example.", "TXT").answer.size(), 0U);
  EXPECT_EQ(order, (std::vector<int>{1}));
  EXPECT_EQ(query(app, "m.z.example.", "TXT").answer.size(), 1U);
  EXPECT_EQ(order, (std::vector<int>{1, 1, 2}));
}

TEST(Routing, EmptyNonTerminalIsNodata) {
  App app;
  app.zone("z.example.");
  app.route(Match().domain("z.example."), [](const Request& req, Answer&) noexcept {
    return req.qname == *dns::Name::from_text("b.z.example.") ? Outcome::nodata : Outcome::miss;
  });
  EXPECT_EQ(query(app, "b.z.example.", "A").rcode, Rcode::noerror);
  EXPECT_EQ(query(app, "c.z.example.", "A").rcode, Rcode::nxdomain);
}

TEST(Routing, DomainMatchesOnLabelBoundary) {
  App app;
  app.zone("example.");
  int calls = 0;
  app.route(Match().domain("sub.example."), [&](const Request&, Answer& ans) noexcept {
    ++calls;
    ans.txt("in sub");
    return Outcome::hit;
  });
  EXPECT_EQ(query(app, "a.sub.example.", "TXT").answer.size(), 1U);
  EXPECT_EQ(query(app, "sub.example.", "TXT").answer.size(), 1U);
  EXPECT_EQ(query(app, "badsub.example.", "TXT").rcode, Rcode::nxdomain);
  EXPECT_EQ(calls, 2 + 0);
}

TEST(Routing, ContinueAndFinalInRegistrationOrder) {
  App app;
  app.zone("example.");
  std::vector<int> order;
  app.route(Match().type("TXT"), [&](const Request&, Answer& ans) noexcept {
    order.push_back(1);
    ans.txt("one");
    return Outcome::miss;
  });
  app.route(Match().type("TXT"), [&](const Request&, Answer& ans) noexcept {
    order.push_back(2);
    ans.txt("two");
    return Outcome::hit;
  });
  app.route(Match().type("TXT"), [&](const Request&, Answer& ans) noexcept {
    order.push_back(3);
    ans.txt("three");
    return Outcome::hit;
  });
  auto r = query(app, "x.example.", "TXT");
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  ASSERT_EQ(r.answer.size(), 2U);
  EXPECT_NE(r.answer[0].find("\"one\""), std::string::npos);
  EXPECT_NE(r.answer[1].find("\"two\""), std::string::npos);
}

TEST(Routing, ClientCidrAndEcs) {
  App app;
  app.zone("geo.example.");
  app.route(Match().remote("10.0.0.0/8").type("TXT"), [](const Request&, Answer& ans) noexcept {
    ans.txt("inside");
    return Outcome::hit;
  });
  app.route(Match().ecs("198.51.100.0/24").type("TXT"), [](const Request&, Answer& ans) noexcept {
    ans.txt("ecs");
    return Outcome::hit;
  });
  app.route(Match().type("TXT"), [](const Request&, Answer& ans) noexcept {
    ans.txt("outside");
    return Outcome::hit;
  });
  QueryOptions in;
  in.remote = "10.200.0.1";
  QueryOptions out;
  out.remote = "11.0.0.1";  // string prefix "1" of 10/8 must not matter
  QueryOptions ecs;
  ecs.remote = "192.0.2.9";
  ecs.ecs = "198.51.100.0/24";
  EXPECT_NE(query(app, "geo.example.", "TXT", in).answer.at(0).find("inside"), std::string::npos);
  EXPECT_NE(query(app, "geo.example.", "TXT", out).answer.at(0).find("outside"), std::string::npos);
  EXPECT_NE(query(app, "geo.example.", "TXT", ecs).answer.at(0).find("\"ecs\""), std::string::npos);
}

TEST(Routing, AnErrorOutcomeIsServfail) {
  App app;
  app.zone("boom.example.");
  app.route(Match().name("bad.boom.example."), [](const Request&, Answer& ans) noexcept {
    ans.txt("half done");
    return Outcome::error;
  });
  app.route(Match().name("good.boom.example."), [](const Request&, Answer& ans) noexcept {
    ans.txt("fine");
    return Outcome::hit;
  });
  auto r = query(app, "bad.boom.example.", "TXT");
  EXPECT_EQ(r.rcode, Rcode::servfail);
  EXPECT_TRUE(r.answer.empty());
  EXPECT_EQ(testing::lookup(app, "bad.boom.example.", "ANY"), std::vector<std::string>{"FAIL"});
  EXPECT_EQ(query(app, "good.boom.example.", "TXT").rcode, Rcode::noerror);
}

TEST(Routing, SoaOnlyAtApexForThePipe) {
  App app = hello_app();
  EXPECT_EQ(testing::lookup(app, "hello.example.", "SOA").size(), 1U);
  EXPECT_TRUE(testing::lookup(app, "www.hello.example.", "SOA").empty());
  EXPECT_TRUE(testing::lookup(app, "example.", "SOA").empty());
}

TEST(Routing, LongestZoneWins) {
  App app;
  app.zone("example.");
  app.zone("sub.example.");
  auto* z = app.find_zone(*dns::Name::from_text("a.SUB.example."));
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->apex.to_string(), "sub.example.");
  EXPECT_EQ(app.find_zone(*dns::Name::from_text("b.example."))->apex.to_string(), "example.");
  EXPECT_EQ(app.find_zone(*dns::Name::from_text("org.")), nullptr);
}

TEST(Routing, ManyZonesEachFoundRedeclaredInPlace) {
  App app;
  for (int i = 0; i < 3000; ++i) {  // grows the index several times
    app.zone("z" + std::to_string(i) + ".example.");
  }
  app.zone("example.");
  app.zone("z7.example.").authority->soa.minimum = 42;  // replaces, does not add
  EXPECT_EQ(app.zones().size(), 3001U);
  for (int i = 0; i < 3000; ++i) {
    const auto* z = app.find_zone(*dns::Name::from_text("h.z" + std::to_string(i) + ".example."));
    ASSERT_NE(z, nullptr);
    ASSERT_EQ(z->apex.to_string(), "z" + std::to_string(i) + ".example.");
  }
  EXPECT_EQ(app.find_zone(*dns::Name::from_text("z3000.example."))->apex.to_string(), "example.");
  EXPECT_EQ(app.find_zone(*dns::Name::from_text("z7.example."))->authority->soa.minimum, 42U);
}

TEST(Routing, BadRulesAreRejectedAtRegistration) {
  EXPECT_THROW(Match().remote("10.0.0.1/8"), std::invalid_argument);
  EXPECT_THROW(Match().type("NOPE"), std::invalid_argument);
  EXPECT_THROW(Match().name("a..b"), std::invalid_argument);
}

TEST(Answer, OverflowIsSticky) {
  Answer ans(2, 1024);
  ans.reset(*dns::Name::from_text("x."), 60);
  ans.txt("1").txt("2").txt("3");
  EXPECT_TRUE(ans.overflow());
  EXPECT_EQ(ans.size(), 2U);
}

}  // namespace
}  // namespace amap::app
