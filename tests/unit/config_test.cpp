// SPDX-License-Identifier: MIT
#include "mapper/config/config.h"

#include <gtest/gtest.h>

#include <string>

namespace amap::config {
namespace {

std::vector<std::string> errors_of(const std::string& yaml) {
  auto r = load_text(yaml, "t.yaml");
  std::vector<std::string> out;
  for (const auto& e : r.errors) {
    out.push_back(e.to_string());
  }
  return out;
}

const std::string kHead =
    "soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 7 }\n"
    "ns: [ns1.example.net.]\n";

TEST(Config, ExampleInConfLoads) {
  auto r = load_file(AMAP_CONF_DIR "/automap.yaml");
  for (const auto& e : r.errors) {
    ADD_FAILURE() << e.to_string();
  }
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.prefixes.size(), 5U);
  EXPECT_TRUE(r.config.prefixes[2].blank);
  EXPECT_FALSE(r.config.prefixes[4].forward);
  EXPECT_EQ(r.config.prefixes[0].ttl.value_or(0), 86400U);
  EXPECT_EQ(r.config.zones.at(0).name.to_string(), "pool.example.net.");
  EXPECT_TRUE(r.config.store.present);
  EXPECT_EQ(r.config.store.map_size, 1ULL << 30);
  EXPECT_EQ(r.config.listen.size(), 2U);
}

TEST(Config, ReportsEveryErrorWithFileLineColumnAndPath) {
  auto errs = errors_of(kHead +
                        "prefixes:\n"
                        "  - prefix: 10.0.0.1/8\n"
                        "    name: \"ip-{ip}.x.\"\n"
                        "  - prefix: 10.1.0.0/16\n"
                        "    nmae: \"x-{ip}.x.\"\n"
                        "bogus: 1\n");
  ASSERT_EQ(errs.size(), 4U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0],
            "t.yaml:8:1: bogus: unknown key (expected one of: soa, ns, zones, prefixes, "
            "store, listen, ttl)");
  EXPECT_EQ(errs[1],
            "t.yaml:4:13: prefixes[0].prefix: bad prefix '10.0.0.1/8': address has bits "
            "set beyond the prefix length (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(errs[2],
            "t.yaml:7:5: prefixes[1].nmae: unknown key (expected one of: prefix, name, "
            "ttl, blank, forward, reverse, classless)");
  EXPECT_EQ(errs[3], "t.yaml:6:5: prefixes[1]: needs a name template (name: ...) or blank: true");
}

TEST(Config, DuplicateKeysAndPrefixes) {
  auto errs = errors_of(kHead +
                        "prefixes:\n"
                        "  - prefix: 10.0.0.0/8\n"
                        "    name: \"a-{ip}.x.\"\n"
                        "    name: \"b-{ip}.x.\"\n"
                        "  - prefix: 10.0.0.0/8\n"
                        "    blank: true\n");
  ASSERT_EQ(errs.size(), 2U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0], "t.yaml:6:5: prefixes[0].name: duplicate key (first given at line 5)");
  EXPECT_EQ(errs[1],
            "t.yaml:7:13: prefixes[1].prefix: prefix 10.0.0.0/8 is already configured "
            "at line 4");
}

TEST(Config, MissingRequiredAndBadValues) {
  auto errs = errors_of("ns: []\nttl: -5\nstore: { map_size: 12XB }\nlisten: [\"::1:53\"]\n");
  ASSERT_EQ(errs.size(), 6U) << ::testing::PrintToString(errs);
  EXPECT_EQ(errs[0], "t.yaml:2:6: ttl: expected a non-negative integer, got '-5'");
  EXPECT_NE(errs[1].find("soa: required"), std::string::npos);
  EXPECT_EQ(errs[2], "t.yaml:1:5: ns: expected a non-empty list of name server names");
  EXPECT_EQ(errs[3], "t.yaml:3:8: store.path: required: the directory of the LMDB store");
  EXPECT_NE(errs[4].find("store.map_size: expected a size"), std::string::npos);
  EXPECT_EQ(errs[5], "t.yaml:4:10: listen[0]: '::1:53' is not ADDR:PORT (IPv6 as [::1]:5353)");
}

TEST(Config, NamesMustBeAbsoluteAndValid) {
  auto errs =
      errors_of("soa: { mname: ns1.example.net, rname: \"a..b.\" }\nns: [ns1.example.net.]\n");
  ASSERT_EQ(errs.size(), 2U);
  EXPECT_NE(errs[0].find("soa.mname: domain name 'ns1.example.net' must be absolute"),
            std::string::npos);
  EXPECT_NE(errs[1].find("soa.rname: bad domain name 'a..b.': empty label"), std::string::npos);
}

TEST(Config, SyntaxErrorHasAPosition) {
  auto errs = errors_of("soa: { mname: x.\nns: [\n");
  ASSERT_EQ(errs.size(), 1U);
  EXPECT_EQ(errs[0].rfind("t.yaml:", 0), 0U);
}

TEST(Config, AliasesNullsAndOnlyTheFirstDocument) {
  auto r = load_text(kHead +
                         "prefixes:\n"
                         "  - prefix: 10.0.0.0/8\n"
                         "    name: &t \"ip-{ip}.x.\"\n"
                         "  - prefix: 10.1.0.0/16\n"
                         "    name: *t\n"
                         "    ttl: ~\n"
                         "---\n"
                         "bogus: 1\n",
                     "t.yaml");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].to_string(), "t.yaml:8:10: prefixes[1].ttl: expected a number");
  ASSERT_EQ(r.config.prefixes.size(), 2U);
  EXPECT_EQ(r.config.prefixes[1].name_template, "ip-{ip}.x.");
  EXPECT_EQ(r.config.prefixes[1].name_mark.line, 5);  // an alias is its anchored node
}

TEST(Config, ClasslessOnlyForLongIpv4) {
  auto errs = errors_of(kHead +
                        "prefixes:\n"
                        "  - prefix: 10.0.0.0/24\n"
                        "    name: \"a-{ip}.x.\"\n"
                        "    classless: true\n");
  ASSERT_EQ(errs.size(), 1U);
  EXPECT_NE(errs[0].find("only to IPv4 prefixes longer than /24"), std::string::npos);
}

TEST(Config, Sizes) {
  EXPECT_EQ(parse_size("4GiB"), 4ULL << 30);
  EXPECT_EQ(parse_size("65536"), 65536U);
  EXPECT_FALSE(parse_size("GiB"));
  EXPECT_FALSE(parse_size("4 GiB"));
}

}  // namespace
}  // namespace amap::config
