// SPDX-License-Identifier: MIT
// The `rrl:` block of the configuration (automapd serve's response rate limiting).

#include <gtest/gtest.h>

#include <string>

#include "mapper/config/config.h"

namespace amap::config {
namespace {

const std::string kHead =
    "soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 7 }\n"
    "ns: [ns1.example.net.]\n";

std::string errors_of(const std::string& yaml) {
  std::string out;
  for (const auto& e : load_text(yaml, "t.yaml").errors) {
    out += e.to_string() + "\n";
  }
  return out;
}

TEST(ConfigRrl, AbsentMeansOffAndAnEmptyBlockTakesTheDefaults) {
  auto off = load_text(kHead, "t.yaml");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off.config.rrl.present);
  auto on = load_text(kHead + "rrl: {}\n", "t.yaml");
  ASSERT_TRUE(on.ok()) << errors_of(kHead + "rrl: {}\n");
  EXPECT_TRUE(on.config.rrl.present);
  EXPECT_EQ(on.config.rrl.responses_per_second, 200U);
  EXPECT_EQ(on.config.rrl.slip, 2U);
  EXPECT_EQ(on.config.rrl.ipv4_prefix, 24U);
  EXPECT_EQ(on.config.rrl.ipv6_prefix, 56U);
  EXPECT_EQ(on.config.rrl.table_size, 1U << 17);
  EXPECT_TRUE(on.config.rrl.whitelist.empty());
}

TEST(ConfigRrl, ReadsEveryKey) {
  const std::string y = kHead +
                        "rrl:\n"
                        "  responses_per_second: 20\n"
                        "  slip: 3\n"
                        "  ipv4_prefix: 32\n"
                        "  ipv6_prefix: 64\n"
                        "  table_size: 4096\n"
                        "  whitelist: [192.0.2.0/24, '2001:db8::/32']\n";
  auto r = load_text(y, "t.yaml");
  ASSERT_TRUE(r.ok()) << errors_of(y);
  EXPECT_EQ(r.config.rrl.responses_per_second, 20U);
  EXPECT_EQ(r.config.rrl.slip, 3U);
  EXPECT_EQ(r.config.rrl.ipv4_prefix, 32U);
  EXPECT_EQ(r.config.rrl.ipv6_prefix, 64U);
  EXPECT_EQ(r.config.rrl.table_size, 4096U);
  ASSERT_EQ(r.config.rrl.whitelist.size(), 2U);
  EXPECT_EQ(r.config.rrl.whitelist[0].to_string(), "192.0.2.0/24");
  EXPECT_EQ(r.config.rrl.whitelist[1].to_string(), "2001:db8::/32");
}

TEST(ConfigRrl, BadValuesAreReportedAtOnceWithTheirPlace) {
  const std::string y = kHead +
                        "rrl:\n"
                        "  responses_per_second: 0\n"
                        "  slip: -1\n"
                        "  ipv4_prefix: 33\n"
                        "  ipv6_prefix: 129\n"
                        "  table_size: 0\n"
                        "  whitelist: [192.0.2.1/24, 10.0.0.0, nonsense]\n"
                        "  burst: 5\n";
  const std::string e = errors_of(y);
  EXPECT_NE(e.find("t.yaml:4:25: rrl.responses_per_second: must be at least 1"), std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:5:9: rrl.slip: expected a non-negative integer, got '-1'"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:6:16: rrl.ipv4_prefix: value 33 is larger than 32"), std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:7:16: rrl.ipv6_prefix: value 129 is larger than 128"), std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:8:15: rrl.table_size: must be at least 1"), std::string::npos) << e;
  EXPECT_NE(e.find("rrl.whitelist[0]: bad prefix '192.0.2.1/24'"), std::string::npos) << e;
  EXPECT_NE(e.find("rrl.whitelist[1]: bad prefix '10.0.0.0': give its length"), std::string::npos)
      << e;
  EXPECT_NE(e.find("rrl.whitelist[2]: bad prefix 'nonsense'"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:10:3: rrl.burst: unknown key"), std::string::npos) << e;
  EXPECT_NE(errors_of(kHead + "rrl: 5\n").find("rrl: expected a mapping"), std::string::npos);
  EXPECT_NE(
      errors_of(kHead + "rrl: { whitelist: 10.0.0.0/8 }\n").find("rrl.whitelist: expected a list"),
      std::string::npos);
}

TEST(ConfigCookies, ReadsTheBlockAndReportsBadValues) {
  auto off = load_text(kHead, "t.yaml");
  EXPECT_FALSE(off.config.cookies.present);
  auto on = load_text(kHead + "cookies: {}\n", "t.yaml");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on.config.cookies.present);
  EXPECT_TRUE(on.config.cookies.enabled);
  EXPECT_EQ(on.config.cookies.rotate, 86400U);
  EXPECT_TRUE(on.config.cookies.secret_file.empty());
  const std::string y =
      kHead + "cookies: { enabled: false, secret_file: /etc/automap/cookie.key, rotate: 3600 }\n";
  auto full = load_text(y, "t.yaml");
  ASSERT_TRUE(full.ok()) << errors_of(y);
  EXPECT_FALSE(full.config.cookies.enabled);
  EXPECT_EQ(full.config.cookies.secret_file, "/etc/automap/cookie.key");
  EXPECT_EQ(full.config.cookies.rotate, 3600U);
  const std::string e = errors_of(kHead +
                                  "cookies:\n"
                                  "  enabled: maybe\n"
                                  "  rotate: 59\n"
                                  "  secret_file: ''\n"
                                  "  secret: abc\n");
  EXPECT_NE(e.find("t.yaml:4:12: cookies.enabled: expected true or false"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:5:11: cookies.rotate: must be at least 60"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:6:16: cookies.secret_file: expected the path"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:7:3: cookies.secret: unknown key"), std::string::npos) << e;
}

TEST(ConfigDnssec, ReadsTheBlockAndReportsBadValues) {
  EXPECT_FALSE(load_text(kHead, "t.yaml").config.dnssec.present);
  auto on = load_text(kHead + "dnssec: { keys: /var/lib/automap/keys }\n", "t.yaml");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on.config.dnssec.present);
  EXPECT_TRUE(on.config.dnssec.enabled);
  EXPECT_EQ(on.config.dnssec.algorithm, 13);
  EXPECT_EQ(on.config.dnssec.keys, "/var/lib/automap/keys");
  EXPECT_EQ(on.config.dnssec.validity, 7U * 86400U);
  EXPECT_EQ(on.config.dnssec.inception_offset, 3600U);
  const std::string y = kHead +
                        "dnssec: { enabled: false, algorithm: ED25519, keys: k, validity: 14d, "
                        "inception_offset: 2h, cache_entries: 1024 }\n";
  auto full = load_text(y, "t.yaml");
  ASSERT_TRUE(full.ok()) << errors_of(y);
  EXPECT_FALSE(full.config.dnssec.enabled);
  EXPECT_EQ(full.config.dnssec.algorithm, 15);
  EXPECT_EQ(full.config.dnssec.validity, 14U * 86400U);
  EXPECT_EQ(full.config.dnssec.inception_offset, 7200U);
  EXPECT_EQ(full.config.dnssec.cache_entries, 1024U);
  const std::string e = errors_of(kHead +
                                  "dnssec:\n"
                                  "  algorithm: rsasha256\n"
                                  "  validity: 1h\n"
                                  "  ksk: yes\n");
  EXPECT_NE(e.find("t.yaml:4:14: dnssec.algorithm: expected ecdsap256sha256 (13) or ed25519 (15)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:5:13: dnssec.validity: expected a duration"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:6:3: dnssec.ksk: unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("dnssec.keys: required"), std::string::npos) << e;
}

}  // namespace
}  // namespace amap::config
