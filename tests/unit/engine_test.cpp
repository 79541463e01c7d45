// SPDX-License-Identifier: MIT
// The mapper's semantics, in-process through the framework (App::resolve), on the example
// configuration shipped in conf/.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "mapper/app/testing.h"
#include "mapper/engine/load.h"
#include "mapper/engine/mapper.h"

namespace amap::mapper {
namespace {

using app::Rcode;
using app::testing::query;

class Engine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = config::load_file(AMAP_CONF_DIR "/automap.yaml");
    ASSERT_TRUE(loaded.ok());
    config::Diagnostics errors;
    Mapper::BuildOptions options;
    options.open_store = false;  // synthesis only; the store has its own tests
    mapper_ = Mapper::build(loaded.config, errors, options);
    ASSERT_NE(mapper_, nullptr) << (errors.empty() ? "" : errors[0].to_string());
    app_ = new app::App();
    Mapper::install(mapper_, *app_);
  }
  static void TearDownTestSuite() {
    delete app_;
    mapper_.reset();
  }
  static std::string one(std::string_view qname, std::string_view qtype) {
    auto r = query(*app_, qname, qtype);
    EXPECT_EQ(r.rcode, Rcode::noerror) << qname;
    EXPECT_EQ(r.answer.size(), 1U) << qname;
    return r.answer.empty() ? "" : r.answer[0];
  }
  static inline std::shared_ptr<const Mapper> mapper_;
  static inline app::App* app_ = nullptr;
};

TEST_F(Engine, DerivesMergedReverseZones) {
  std::vector<std::string> zones;
  for (const auto& z : mapper_->reverse_zones()) {
    zones.push_back(z.to_string());
  }
  EXPECT_EQ(zones, (std::vector<std::string>{"10.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa."}));
}

TEST_F(Engine, RulesKnowWhereTheyComeFrom) {
  ASSERT_EQ(mapper_->rules().size(), 5U);
  EXPECT_EQ(mapper_->origin_of(mapper_->rules()[1]), AMAP_CONF_DIR "/automap.yaml:13 prefixes[1]");
  EXPECT_TRUE(mapper_->config().prefixes.empty());  // the rules hold them
}

TEST_F(Engine, ReverseV4UsesTheMostSpecificPrefix) {
  EXPECT_EQ(one("3.2.1.10.in-addr.arpa.", "PTR"),
            "3.2.1.10.in-addr.arpa. 86400 IN PTR ip-10-1-2-3.pool.example.net.");
  EXPECT_EQ(one("9.1.20.10.in-addr.arpa.", "PTR"),
            "9.1.20.10.in-addr.arpa. 3600 IN PTR biz-10-20-1-9.pool.example.net.");
}

TEST_F(Engine, BlankIsNxdomainBothWays) {
  auto r = query(*app_, "1.0.30.10.in-addr.arpa.", "PTR");
  EXPECT_EQ(r.rcode, Rcode::nxdomain);
  EXPECT_EQ(r.authority.size(), 1U);
  EXPECT_EQ(query(*app_, "ip-10-30-0-1.pool.example.net.", "A").rcode, Rcode::nxdomain);
  // The blank /16 itself has nothing below it.
  EXPECT_EQ(query(*app_, "30.10.in-addr.arpa.", "PTR").rcode, Rcode::nxdomain);
}

TEST_F(Engine, ForwardRoundTripsAndRejectsAliases) {
  EXPECT_EQ(one("ip-10-1-2-3.pool.example.net.", "A"),
            "ip-10-1-2-3.pool.example.net. 86400 IN A 10.1.2.3");
  EXPECT_EQ(one("IP-10-1-2-3.Pool.Example.NET.", "A"),
            "IP-10-1-2-3.Pool.Example.NET. 86400 IN A 10.1.2.3");
  EXPECT_EQ(one("biz-10-20-1-9.pool.example.net.", "A"),
            "biz-10-20-1-9.pool.example.net. 3600 IN A 10.20.1.9");
  for (const char* alias : {"ip-010-1-2-3.pool.example.net.", "ip-10-1-2-999.pool.example.net.",
                            "ip-10-20-1-9.pool.example.net.",  // taken by the /22
                            "biz-10-1-2-3.pool.example.net.",  // outside the /22
                            "x.ip-10-1-2-3.pool.example.net.", "ip-10-1-2.pool.example.net."}) {
    EXPECT_EQ(query(*app_, alias, "A").rcode, Rcode::nxdomain) << alias;
  }
}

TEST_F(Engine, Ipv6ShortFormHexAndForwardFalse) {
  EXPECT_EQ(one("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 3600 IN PTR "
            "2001-db8--1.v6.pool.example.net.");
  EXPECT_EQ(one("2001-db8--1.v6.pool.example.net.", "AAAA"),
            "2001-db8--1.v6.pool.example.net. 3600 IN AAAA 2001:db8::1");
  auto ptr =
      one("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.f.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR");
  EXPECT_NE(ptr.find("PTR h20010db8ff0000000000000000000001.static.pool.example.net."),
            std::string::npos);
  EXPECT_EQ(
      query(*app_, "h20010db8ff0000000000000000000001.static.pool.example.net.", "AAAA").rcode,
      Rcode::nxdomain);
}

TEST_F(Engine, NodataForOtherTypesAndEmptyNonTerminals) {
  auto txt = query(*app_, "ip-10-1-2-3.pool.example.net.", "TXT");
  EXPECT_EQ(txt.rcode, Rcode::noerror);
  EXPECT_TRUE(txt.answer.empty());
  EXPECT_EQ(txt.authority.size(), 1U);
  EXPECT_EQ(query(*app_, "ip-10-1-2-3.pool.example.net.", "AAAA").rcode, Rcode::noerror);
  EXPECT_EQ(query(*app_, "3.2.1.10.in-addr.arpa.", "A").rcode, Rcode::noerror);
  // RFC 8020: names above synthesized addresses exist.
  for (const char* ent : {"2.1.10.in-addr.arpa.", "1.10.in-addr.arpa.", "v6.pool.example.net.",
                          "0.8.b.d.0.1.0.0.2.ip6.arpa."}) {
    auto r = query(*app_, ent, "PTR");
    EXPECT_EQ(r.rcode, Rcode::noerror) << ent;
    EXPECT_TRUE(r.answer.empty()) << ent;
  }
}

TEST_F(Engine, OutsidePrefixesNxdomainOutsideZonesRefused) {
  EXPECT_EQ(query(*app_, "1.2.3.11.in-addr.arpa.", "PTR").rcode, Rcode::refused);
  EXPECT_EQ(query(*app_, "x.1.2.3.10.in-addr.arpa.", "PTR").rcode, Rcode::nxdomain);
  EXPECT_EQ(query(*app_, "300.2.1.10.in-addr.arpa.", "PTR").rcode, Rcode::nxdomain);
  EXPECT_EQ(query(*app_, "nothing.pool.example.net.", "A").rcode, Rcode::nxdomain);
  // Names under a forward: false template do not exist forward, nor does their parent.
  EXPECT_EQ(query(*app_, "static.pool.example.net.", "A").rcode, Rcode::nxdomain);
  EXPECT_EQ(query(*app_, "example.org.", "A").rcode, Rcode::refused);
}

TEST_F(Engine, ApexHasSoaAndNs) {
  auto r = query(*app_, "pool.example.net.", "SOA");
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0].rfind(
                "pool.example.net. 3600 IN SOA ns1.example.net. hostmaster.example.net. ", 0),
            0U);
  EXPECT_EQ(query(*app_, "10.in-addr.arpa.", "NS").answer.size(), 2U);
  EXPECT_EQ(query(*app_, "10.in-addr.arpa.", "ANY").answer.size(), 3U);
  EXPECT_TRUE(app::testing::lookup(*app_, "3.2.1.10.in-addr.arpa.", "SOA").empty());
}

TEST(EngineConfig, TemplateErrorsCarryTheirPosition) {
  auto loaded = config::load_text(
      "soa: { mname: ns1.example.net., rname: h.example.net. }\n"
      "ns: [ns1.example.net.]\n"
      "zones: [ { name: pool.example.net. } ]\n"
      "prefixes:\n"
      "  - prefix: 2001:db8::/32\n"
      "    name: \"ip-{a}.pool.example.net.\"\n"
      "  - prefix: 10.0.0.0/8\n"
      "    name: \"ip-{ip}.elsewhere.example.\"\n",
      "bad.yaml");
  ASSERT_TRUE(loaded.ok());
  config::Diagnostics errors;
  EXPECT_EQ(Mapper::build(loaded.config, errors), nullptr);
  ASSERT_EQ(errors.size(), 2U);
  EXPECT_EQ(errors[0].to_string().rfind("bad.yaml:6:11: prefixes[0].name: ", 0), 0U)
      << errors[0].to_string();
  EXPECT_NE(errors[1].to_string().find(
                "bad.yaml:8:11: prefixes[1].name: names of this template lie outside"),
            std::string::npos)
      << errors[1].to_string();
}

}  // namespace
}  // namespace amap::mapper

namespace amap::mapper {
namespace {

/// RFC 2317 classless zones and prefixes that are not on an octet or nibble boundary.
class EngineLayout : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = config::load_text(
        "soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 1 }\n"
        "ns: [ns1.example.net.]\n"
        "zones: [ { name: pool.example.net. } ]\n"
        "prefixes:\n"
        "  - prefix: 192.0.2.64/26\n"
        "    name: \"c-{d}.pool.example.net.\"\n"
        "    classless: true\n"
        "  - prefix: 10.20.0.0/22\n"
        "    name: \"biz-{ip}.pool.example.net.\"\n"
        "  - prefix: 2001:db8:ff00::/42\n"
        "    name: \"n-{hex}.pool.example.net.\"\n",
        "layout.yaml");
    ASSERT_TRUE(loaded.ok());
    config::Diagnostics errors;
    mapper_ = Mapper::build(loaded.config, errors);
    ASSERT_NE(mapper_, nullptr) << (errors.empty() ? "" : errors[0].to_string());
    Mapper::install(mapper_, app_);
  }
  std::shared_ptr<const Mapper> mapper_;
  app::App app_;
};

TEST_F(EngineLayout, DerivesClasslessAndCoveringApexes) {
  std::vector<std::string> zones;
  for (const auto& z : mapper_->reverse_zones()) {
    zones.push_back(z.to_string());
  }
  std::sort(zones.begin(), zones.end());
  EXPECT_EQ(zones, (std::vector<std::string>{"20.10.in-addr.arpa.", "64/26.2.0.192.in-addr.arpa.",
                                             "f.f.8.b.d.0.1.0.0.2.ip6.arpa."}));
}

TEST_F(EngineLayout, Rfc2317ClasslessNames) {
  auto r = query(app_, "70.64/26.2.0.192.in-addr.arpa.", "PTR");
  EXPECT_EQ(r.rcode, Rcode::noerror);
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0], "70.64/26.2.0.192.in-addr.arpa. 3600 IN PTR c-70.pool.example.net.");
  EXPECT_EQ(query(app_, "c-70.pool.example.net.", "A").answer.at(0),
            "c-70.pool.example.net. 3600 IN A 192.0.2.70");
  // Outside the /26, and the plain name that the parent zone CNAMEs to us.
  EXPECT_EQ(query(app_, "1.64/26.2.0.192.in-addr.arpa.", "PTR").rcode, Rcode::nxdomain);
  EXPECT_EQ(query(app_, "70.2.0.192.in-addr.arpa.", "PTR").rcode, Rcode::refused);
  EXPECT_EQ(query(app_, "64/26.2.0.192.in-addr.arpa.", "SOA").answer.size(), 1U);
  EXPECT_EQ(query(app_, "c-1.pool.example.net.", "A").rcode, Rcode::nxdomain);
}

TEST_F(EngineLayout, NonBoundaryPrefixesLiveInsideTheirCoveringApex) {
  EXPECT_EQ(query(app_, "5.3.20.10.in-addr.arpa.", "PTR").answer.at(0),
            "5.3.20.10.in-addr.arpa. 3600 IN PTR biz-10-20-3-5.pool.example.net.");
  EXPECT_EQ(query(app_, "5.4.20.10.in-addr.arpa.", "PTR").rcode, Rcode::nxdomain);
  EXPECT_EQ(query(app_, "4.20.10.in-addr.arpa.", "PTR").rcode, Rcode::nxdomain);
  auto ent = query(app_, "3.20.10.in-addr.arpa.", "PTR");
  EXPECT_EQ(ent.rcode, Rcode::noerror);
  EXPECT_TRUE(ent.answer.empty());
  // 2001:db8:ff00::/42 inside the /40 apex: ff3f is in, ff40 is out.
  EXPECT_EQ(query(app_, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.3.f.f.8.b.d.0.1.0.0.2.ip6.arpa.",
                  "PTR")
                .rcode,
            Rcode::noerror);
  EXPECT_EQ(query(app_, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.f.f.8.b.d.0.1.0.0.2.ip6.arpa.",
                  "PTR")
                .rcode,
            Rcode::nxdomain);
  EXPECT_EQ(query(app_, "4.f.f.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR").rcode, Rcode::nxdomain);
  EXPECT_EQ(query(app_, "3.f.f.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR").rcode, Rcode::noerror);
}

}  // namespace
}  // namespace amap::mapper

namespace amap::mapper {
namespace {

// The head of a config of many prefixes in pool.example.net (the list follows).
constexpr const char* kPoolConfigHead =
    "soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 1 }\n"
    "ns: [ns1.example.net.]\n"
    "zones: [ { name: pool.example.net. } ]\n"
    "prefixes:\n";

TEST(EngineScale, ManyPrefixesSharingATemplateResolveForwardThroughOneParse) {
  std::string yaml = kPoolConfigHead;
  // 4096 /24s under 10.0.0.0/12 share one template; every 8th is blank, every 16th uses its
  // own template (more specific prefixes inside a covering /16).
  for (int i = 0; i < 4096; ++i) {
    const std::string p = "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24";
    if (i % 8 == 3) {
      yaml += "  - { prefix: " + p + ", blank: true }\n";
    } else {
      yaml += "  - { prefix: " + p + ", name: \"ip-{ip}.pool.example.net.\" }\n";
    }
  }
  yaml += "  - { prefix: 10.0.0.128/25, name: \"sub-{ip}.pool.example.net.\" }\n";
  auto loaded = config::load_text(yaml, "scale.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors[0].to_string();
  config::Diagnostics errors;
  auto mapper = Mapper::build(loaded.config, errors);
  ASSERT_NE(mapper, nullptr) << errors[0].to_string();
  app::App app;
  Mapper::install(mapper, app);
  EXPECT_EQ(query(app, "ip-10-15-250-7.pool.example.net.", "A").answer.at(0),
            "ip-10-15-250-7.pool.example.net. 3600 IN A 10.15.250.7");
  EXPECT_EQ(query(app, "ip-10-0-3-7.pool.example.net.", "A").rcode, Rcode::nxdomain);    // blank
  EXPECT_EQ(query(app, "ip-10-0-0-200.pool.example.net.", "A").rcode, Rcode::nxdomain);  // /25
  EXPECT_EQ(query(app, "sub-10-0-0-200.pool.example.net.", "A").answer.size(), 1U);
  EXPECT_EQ(query(app, "ip-10-16-0-1.pool.example.net.", "A").rcode, Rcode::nxdomain);  // outside
  EXPECT_EQ(mapper->reverse_zones().size(), 4096U);  // one per /24; the /25 lies in 0.0.10
}

TEST(EngineScale, ReverseZonesMergeNestedPrefixesParentsFirst) {
  auto loaded = config::load_text(
      "soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 1 }\n"
      "ns: [ns1.example.net.]\n"
      "prefixes:\n"
      "  - { prefix: 192.0.2.64/26, name: \"c-{ip}.x.\", forward: false, classless: true }\n"
      "  - { prefix: 198.51.100.0/25, name: \"d-{ip}.x.\", forward: false, classless: true }\n"
      "  - { prefix: 198.51.100.128/25, name: \"e-{ip}.x.\", forward: false }\n"
      "  - { prefix: 192.0.2.0/24, name: \"f-{ip}.x.\", forward: false }\n"
      "  - { prefix: \"2001:db8:1:2300::/58\", name: \"h{hex}.x.\", forward: false }\n"
      "  - { prefix: \"2001:db8:1:2340::/58\", name: \"g{hex}.x.\", forward: false }\n"
      "  - { prefix: \"2001:db8::/31\", name: \"i{hex}.x.\", forward: false }\n"
      "  - { prefix: 10.20.0.0/15, name: \"j-{ip}.x.\", forward: false }\n"
      "  - { prefix: 10.21.7.0/24, name: \"k-{ip}.x.\", forward: false }\n"
      "  - { prefix: 203.0.113.128/26, name: \"l-{ip}.x.\", forward: false, classless: true }\n"
      "  - { prefix: 203.0.113.0/32, name: \"m-{ip}.x.\", forward: false }\n",
      "zones.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors[0].to_string();
  config::Diagnostics errors;
  auto mapper = Mapper::build(loaded.config, errors);
  ASSERT_NE(mapper, nullptr) << errors[0].to_string();
  std::vector<std::string> zones;
  for (const auto& z : mapper->reverse_zones()) {
    zones.push_back(z.to_string());
  }
  // Parents first, then the order of the configuration. 192.0.2.64/26 and 198.51.100.0/25
  // lie in /24 zones; the /58s and the /31 share the /28 nibble zone; 10.21.7.0/24 lies in the
  // zone of 10.20.0.0/15; 203.0.113.128/26 keeps its RFC 2317 zone next to the /32's.
  EXPECT_EQ(zones,
            (std::vector<std::string>{"10.in-addr.arpa.", "100.51.198.in-addr.arpa.",
                                      "2.0.192.in-addr.arpa.", "128/26.113.0.203.in-addr.arpa.",
                                      "0.113.0.203.in-addr.arpa.", "b.d.0.1.0.0.2.ip6.arpa."}));
}

TEST(EngineScale, PartialTemplatesSharedByPrefixesAreRejected) {
  auto loaded = config::load_text(
      "soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 1 }\n"
      "ns: [ns1.example.net.]\n"
      "zones: [ { name: pool.example.net. } ]\n"
      "prefixes:\n"
      "  - prefix: 10.0.1.0/24\n"
      "    name: \"h{d}.pool.example.net.\"\n"
      "  - prefix: 10.0.2.0/24\n"
      "    name: \"h{d}.pool.example.net.\"\n",
      "collide.yaml");
  ASSERT_TRUE(loaded.ok());
  config::Diagnostics errors;
  EXPECT_EQ(Mapper::build(loaded.config, errors), nullptr);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].to_string().rfind("collide.yaml:8:11: prefixes[1].name: prefixes 10.0.1.0/24 "
                                        "(line 5) and 10.0.2.0/24 share the template "
                                        "\"h{d}.pool.example.net.\", whose tokens",
                                        0),
            0U)
      << errors[0].to_string();
}

// Templates compiled while the file is read (TemplateCompiler, on the loader's worker thread
// for a long list) make the same mapper and the same errors as build compiling them.
TEST(EngineScale, TemplatesCompiledWhileLoadingMatchBuild) {
  static const char* const kTemplates[] = {
      "ip-{a}-{b}-{c}-{d}.pool.example.net.", "h{hex}.pool.example.net.",
      "dyn-{ip}.pool.example.net.",
      "x{ip}.outside.example.",      // outside the zones: an error of build, not of the loader
      "{bogus}.pool.example.net."};  // does not compile
  for (bool with_errors : {false, true}) {
    SCOPED_TRACE(with_errors);
    std::string y = kPoolConfigHead;
    for (int i = 0; i < 3000; ++i) {
      const std::string p = "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
                            (i % 3 == 0 ? ".0/24" : ".128/25");
      const int t = with_errors && (i % 700 == 5 || i % 700 == 6) ? 3 + i % 2 : i % 3;
      if (i % 7 == 0) {
        y += "  - { prefix: " + p + ", blank: true }\n";
      } else {
        y += "  - { prefix: " + p + ", name: \"" + kTemplates[t] + "\" }\n";
      }
    }
    auto plain = config::load_text(y, "t.yaml");
    TemplateCompiler templates;
    config::LoadOptions load_options;
    load_options.prefixes = &templates;
    auto early = config::load_text(y, "t.yaml", load_options);
    ASSERT_TRUE(plain.ok() && early.ok());
    config::Diagnostics plain_errors;
    config::Diagnostics early_errors;
    Mapper::BuildOptions options;
    options.open_store = false;
    auto a = Mapper::build(plain.config, plain_errors, options);
    options.templates = &templates;
    auto b = Mapper::build(early.config, early_errors, options);
    ASSERT_EQ(plain_errors.size(), early_errors.size());
    EXPECT_EQ(plain_errors.size(), with_errors ? 10U : 0U);
    for (std::size_t i = 0; i < plain_errors.size(); ++i) {
      EXPECT_EQ(plain_errors[i].to_string(), early_errors[i].to_string());
    }
    ASSERT_EQ(a == nullptr, b == nullptr);
    if (a == nullptr) {
      continue;
    }
    ASSERT_EQ(a->rules().size(), b->rules().size());
    for (std::size_t i = 0; i < a->rules().size(); ++i) {
      const Rule& x = a->rules()[i];
      const Rule& z = b->rules()[i];
      EXPECT_TRUE(
          x.prefix == z.prefix && x.blank == z.blank && x.group == z.group &&
          x.name.has_value() == z.name.has_value() &&
          (!x.name || (x.name->text() == z.name->text() && x.name->prefix() == z.name->prefix())))
          << i;
    }
    EXPECT_EQ(a->reverse_zones(), b->reverse_zones());
  }
}

// The compact hand-off of load_and_build (config::PrefixSink): the loader leaves Config::prefixes
// empty and build takes the compiler's records. Same rules, origins, errors (with their key paths,
// rejected list items counted) and zones as the usual path; good for one build; and a parse
// stopped after the list hands nothing over.
TEST(EngineScale, PrefixesTakenFromTheCompilerMatchTheConfigsList) {
  std::string y = kPoolConfigHead;
  y += "  - { prefix: 10.255.0.0/16 }\n";  // an error of the loader: the indexes shift
  for (int i = 0; i < 3000; ++i) {
    const std::string p = "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
                          (i % 3 == 0 ? ".0/24" : ".128/25");
    if (i % 7 == 0) {
      y += "  - { prefix: " + p + ", blank: true }\n";
    } else if (i == 1000) {
      y += "  - { prefix: " + p + ", name: \"x{ip}.outside.example.\" }\n";
    } else if (i == 2000) {
      y += "  - { prefix: " + p + ", name: \"{bogus}.pool.example.net.\" }\n";
    } else {
      y += "  - { prefix: " + p + ", name: \"h{hex}.pool.example.net.\"" +
           (i % 5 == 0 ? ", ttl: 60" : "") + " }\n";
    }
  }
  y += "ttl: 300\n";  // the default TTL comes after the list
  for (bool with_errors : {true, false}) {
    SCOPED_TRACE(with_errors);
    std::string text = y;
    if (!with_errors) {
      text.replace(text.find("  - { prefix: 10.255.0.0/16 }\n"), 30, "");
      text.replace(text.find("x{ip}.outside.example."), 22, "x{ip}.pool.example.net.");
      text.replace(text.find("{bogus}.pool"), 7, "h{hex}");
    }
    auto plain = config::load_text(text, "t.yaml");
    TemplateCompiler templates;
    config::LoadOptions load_options;
    load_options.prefixes = &templates;
    auto taken = config::load_text(text, "t.yaml", load_options);
    EXPECT_EQ(plain.errors.size(), with_errors ? 1U : 0U);
    ASSERT_EQ(plain.errors.size(), taken.errors.size());
    EXPECT_EQ(plain.config.prefixes.size(), 3000U);
    EXPECT_TRUE(taken.config.prefixes.empty());
    EXPECT_EQ(taken.config.prefixes_not_kept, plain.config.prefixes.size());
    config::Diagnostics plain_errors;
    config::Diagnostics taken_errors;
    Mapper::BuildOptions options;
    options.open_store = false;
    auto a = Mapper::build(plain.config, plain_errors, options);
    options.templates = &templates;
    auto b = Mapper::build(taken.config, taken_errors, options);
    ASSERT_EQ(plain_errors.size(), with_errors ? 2U : 0U);
    ASSERT_EQ(plain_errors.size(), taken_errors.size());
    for (std::size_t i = 0; i < plain_errors.size(); ++i) {
      EXPECT_EQ(plain_errors[i].to_string(), taken_errors[i].to_string());
    }
    if (with_errors) {
      EXPECT_NE(taken_errors[0].to_string().find("prefixes[1001].name"), std::string::npos)
          << taken_errors[0].to_string();
      EXPECT_TRUE(a == nullptr && b == nullptr);
      continue;
    }
    ASSERT_TRUE(a != nullptr && b != nullptr);
    ASSERT_EQ(a->rules().size(), b->rules().size());
    for (std::size_t i = 0; i < a->rules().size(); ++i) {
      const Rule& x = a->rules()[i];
      const Rule& z = b->rules()[i];
      EXPECT_TRUE(
          x.prefix == z.prefix && x.blank == z.blank && x.forward == z.forward &&
          x.reverse == z.reverse && x.ttl == z.ttl && x.group == z.group &&
          x.name.has_value() == z.name.has_value() &&
          (!x.name || (x.name->text() == z.name->text() && x.name->prefix() == z.name->prefix())))
          << i;
      EXPECT_EQ(a->origin_of(x), b->origin_of(z));
    }
    EXPECT_EQ(a->rules()[1].ttl, 300U);
    EXPECT_EQ(a->rules()[5].ttl, 60U);
    EXPECT_EQ(b->origin_of(b->rules()[2999]), "t.yaml:3004 prefixes[2999]");
    EXPECT_EQ(a->reverse_zones(), b->reverse_zones());
    // Good for one build: a second one is refused rather than built without prefixes.
    config::Diagnostics again;
    EXPECT_EQ(Mapper::build(taken.config, again, options), nullptr);
    ASSERT_EQ(again.size(), 1U);
    EXPECT_NE(again[0].message.find("taken already"), std::string::npos);
  }
  // A second document stops the parse after the list was handed over: not part of the config.
  TemplateCompiler templates;
  config::LoadOptions load_options;
  load_options.prefixes = &templates;
  auto stopped = config::load_text(y + "---\nprefixes: []\n", "t.yaml", load_options);
  EXPECT_FALSE(stopped.ok());
  config::Diagnostics errors;
  Mapper::BuildOptions options;
  options.open_store = false;
  options.templates = &templates;
  auto m = Mapper::build(stopped.config, errors, options);
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(m != nullptr && m->rules().empty());
}

// load_and_build: the loader's errors, build's and the reader's land in one Diagnostics, in
// the order of the steps, and build runs even after the loader found errors.
TEST(EngineLoad, LoadAndBuildReportsEveryStepInOneSink) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("engine-load-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "a.yaml").string();
  {
    std::ofstream f(path);
    f << kPoolConfigHead << "  - { prefix: 10.0.0.0/8, name: \"x{ip}.outside.example.\" }\n"
      << "  - { prefix: 10.1.0.0/16, name: \"h{hex}.pool.example.net.\", bogus: 1 }\n";
  }
  config::Diagnostics diagnostics;
  EXPECT_EQ(load_and_build(path, {}, diagnostics), nullptr);
  ASSERT_EQ(diagnostics.size(), 2U);
  EXPECT_EQ(diagnostics.error_count(), 2U);
  EXPECT_EQ(diagnostics[0].to_string().rfind(path + ":6:", 0), 0U) << diagnostics[0].to_string();
  EXPECT_EQ(diagnostics[0].path, "prefixes[1].bogus");
  EXPECT_EQ(diagnostics[1].to_string().rfind(path + ":5:", 0), 0U) << diagnostics[1].to_string();
  EXPECT_EQ(diagnostics[1].path, "prefixes[0].name");

  {
    std::ofstream f(path);
    f << kPoolConfigHead << "  - { prefix: 10.0.0.0/8, name: \"h{hex}.pool.example.net.\" }\n";
  }
  config::Diagnostics clean;
  auto m = load_and_build(path, {}, clean);
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(clean.empty());
  EXPECT_EQ(m->rules().size(), 1U);
  EXPECT_TRUE(m->config().prefixes.empty());  // taken by the engine while loading

  config::Diagnostics missing;
  EXPECT_EQ(load_and_build((dir / "none.yaml").string(), {}, missing), nullptr);
  ASSERT_EQ(missing.size(), 1U);
  EXPECT_EQ(missing[0].to_string(),
            (dir / "none.yaml").string() + ": cannot open: No such file or directory");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace amap::mapper
