// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "mapper/core/reverse_name.h"
#include "tests/unit/test_values.h"

namespace amap::mapper {
namespace {

using test_values::A;
using test_values::N;
using test_values::P;

Result<ReverseName> R(std::string_view s) {
  return parse_reverse_name(N(s));
}

TEST(CoreReverseName, FullV4) {
  const auto r = R("3.2.0.10.in-addr.arpa.");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->family, dns::Family::v4);
  EXPECT_EQ(r->address, A("10.0.2.3"));
  EXPECT_EQ(r->bits, 32U);
  EXPECT_TRUE(r->complete());
  EXPECT_EQ(r->classless_length, 0U);
  EXPECT_EQ(to_reverse_name(A("10.0.2.3")).to_string(), "3.2.0.10.in-addr.arpa.");
}

TEST(CoreReverseName, PartialAndCase) {
  auto r = R("2.0.10.IN-ADDR.Arpa");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->address, A("10.0.2.0"));
  EXPECT_EQ(r->bits, 24U);
  EXPECT_FALSE(r->complete());
  EXPECT_EQ(r->prefix(), P("10.0.2.0/24"));
  r = R("in-addr.arpa.");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bits, 0U);
  EXPECT_EQ(r->family, dns::Family::v4);
  r = R("10.in-addr.arpa.");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bits, 8U);
  r = R("ip6.arpa.");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->family, dns::Family::v6);
  EXPECT_EQ(r->bits, 0U);
  r = R("8.B.D.0.1.0.0.2.IP6.ARPA");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bits, 32U);
  EXPECT_EQ(r->prefix(), P("2001:db8::/32"));
  r = R("f.f.8.b.d.0.1.0.0.2.ip6.arpa.");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prefix(), P("2001:db8:ff00::/40"));
  r = R("f.f.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prefix(), P("2001:db8:ff::/48"));
}

TEST(CoreReverseName, FullV6) {
  const auto a = A("2001:db8::1");
  const auto n = to_reverse_name(a);
  EXPECT_EQ(n.to_string(),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
  const auto r = parse_reverse_name(n);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->address, a);
  EXPECT_EQ(r->bits, 128U);
  EXPECT_TRUE(r->complete());
}

TEST(CoreReverseName, Garbage) {
  EXPECT_EQ(R("example.com.").error(), Errc::not_found);
  EXPECT_EQ(R("arpa.").error(), Errc::not_found);
  EXPECT_EQ(R(".").error(), Errc::not_found);
  EXPECT_EQ(R("in-addr.example.").error(), Errc::not_found);
  EXPECT_EQ(R("foo.arpa.").error(), Errc::not_found);
  for (const char* bad :
       {"010.in-addr.arpa.", "00.in-addr.arpa.", "256.in-addr.arpa.", "1000.in-addr.arpa.",
        "a.in-addr.arpa.", "-1.in-addr.arpa.", "+1.in-addr.arpa.", "1.2.3.4.5.in-addr.arpa.",
        "1.2.3.04.in-addr.arpa.", "10.0.ip6.arpa.", "g.ip6.arpa.", "-.ip6.arpa.",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
        "1\\000.in-addr.arpa.", "1.2.3.4.5.6.in-addr.arpa.", "1.ab.8.ip6.arpa.", "ab.c.ip6.arpa.",
        "G.ip6.arpa."}) {
    EXPECT_EQ(R(bad).error(), Errc::malformed) << bad;
  }
}

TEST(CoreReverseName, Rfc2317) {
  auto r = R("3.0/26.2.0.10.in-addr.arpa.");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->address, A("10.0.2.3"));
  EXPECT_EQ(r->bits, 32U);
  EXPECT_EQ(r->classless_length, 26U);
  EXPECT_EQ(r->classless_block(), P("10.0.2.0/26"));
  r = R("0/26.2.0.10.in-addr.arpa.");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->address, A("10.0.2.0"));
  EXPECT_EQ(r->bits, 26U);
  EXPECT_EQ(r->prefix(), P("10.0.2.0/26"));
  EXPECT_FALSE(r->complete());
  r = R("70.64/26.2.0.10.in-addr.arpa.");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->address, A("10.0.2.70"));
  EXPECT_EQ(r->classless_block(), P("10.0.2.64/26"));
  for (const char* bad :
       {"3.64/26.2.0.10.in-addr.arpa.",  // 3 is outside 64/26
        "1/26.2.0.10.in-addr.arpa.",     // not aligned
        "0/24.2.0.10.in-addr.arpa.",     // not classless
        "0/33.2.0.10.in-addr.arpa.", "0/026.2.0.10.in-addr.arpa.", "00/26.2.0.10.in-addr.arpa.",
        "0/.2.0.10.in-addr.arpa.", "/26.2.0.10.in-addr.arpa.", "0/26.0.10.in-addr.arpa.",
        "3.0/26.0/26.2.0.10.in-addr.arpa.", "0/2/6.2.0.10.in-addr.arpa."}) {
    EXPECT_EQ(R(bad).error(), Errc::malformed) << bad;
  }
  EXPECT_EQ(to_reverse_name(A("10.0.2.3"), 26).to_string(), "3.0/26.2.0.10.in-addr.arpa.");
  EXPECT_EQ(to_reverse_name(A("10.0.2.70"), 26).to_string(), "70.64/26.2.0.10.in-addr.arpa.");
  EXPECT_EQ(to_reverse_name(A("10.0.2.70"), 25).to_string(), "70.0/25.2.0.10.in-addr.arpa.");
  EXPECT_EQ(to_reverse_name(A("10.0.2.70"), 24).to_string(), "70.2.0.10.in-addr.arpa.");
}

TEST(CoreReverseName, ZoneFor) {
  EXPECT_EQ(reverse_zone_for(P("10.20.0.0/22")).to_string(), "20.10.in-addr.arpa.");
  EXPECT_EQ(reverse_zone_for(P("10.0.0.0/16")).to_string(), "0.10.in-addr.arpa.");
  EXPECT_EQ(reverse_zone_for(P("10.0.2.0/24")).to_string(), "2.0.10.in-addr.arpa.");
  EXPECT_EQ(reverse_zone_for(P("10.0.2.64/26")).to_string(), "2.0.10.in-addr.arpa.");
  EXPECT_EQ(reverse_zone_for(P("10.0.2.64/26"), true).to_string(), "64/26.2.0.10.in-addr.arpa.");
  EXPECT_EQ(reverse_zone_for(P("10.0.2.0/24"), true).to_string(), "2.0.10.in-addr.arpa.");
  EXPECT_EQ(reverse_zone_for(P("10.0.2.7/32"), true).to_string(), "7/32.2.0.10.in-addr.arpa.");
  EXPECT_EQ(reverse_zone_for(P("10.0.2.7/32")).to_string(), "7.2.0.10.in-addr.arpa.");
  EXPECT_EQ(reverse_zone_for(P("0.0.0.0/0")).to_string(), "in-addr.arpa.");
  // /40 is on a nibble boundary: 10 nibble labels (2001:0db8:ff).
  EXPECT_EQ(reverse_zone_for(P("2001:db8:ff00::/40")).to_string(), "f.f.8.b.d.0.1.0.0.2.ip6.arpa.");
  EXPECT_EQ(reverse_zone_for(P("2001:db8:ff40::/42")).to_string(), "f.f.8.b.d.0.1.0.0.2.ip6.arpa.");
  EXPECT_EQ(reverse_zone_for(P("2001:db8:ff00::/48")).to_string(),
            "0.0.f.f.8.b.d.0.1.0.0.2.ip6.arpa.");
  EXPECT_EQ(reverse_zone_for(P("2001:db8::/32")).to_string(), "8.b.d.0.1.0.0.2.ip6.arpa.");
  EXPECT_EQ(reverse_zone_for(P("2001:db8:1::/48")).to_string(),
            "1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
  EXPECT_EQ(reverse_zone_for(P("::/0")).to_string(), "ip6.arpa.");
  // The apex parses back to the covering prefix.
  const auto r = parse_reverse_name(reverse_zone_for(P("10.0.2.64/26"), true));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prefix(), P("10.0.2.64/26"));
}

TEST(CoreReverseName, RandomRoundTrip) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 2000; ++i) {
    const bool v6 = i % 2 == 1;
    const auto a = dns::IpAddress::from_u128(v6 ? dns::Family::v6 : dns::Family::v4, rng(), rng());
    const dns::Name full = to_reverse_name(a);
    auto r = parse_reverse_name(full);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->address, a);
    // Every ancestor down to the tree apex is a valid partial name.
    const std::size_t labels = full.label_count() - 2;
    const unsigned per = v6 ? 4U : 8U;
    for (std::size_t k = 0; k <= labels; ++k) {
      auto p = parse_reverse_name(full.suffix(k + 2));
      ASSERT_TRUE(p);
      ASSERT_EQ(p->bits, per * k);
      ASSERT_EQ(p->address, a.masked(per * static_cast<unsigned>(k)));
    }
    if (!v6) {
      const auto len = static_cast<std::uint8_t>(25 + rng() % 8);
      auto c = parse_reverse_name(to_reverse_name(a, len));
      ASSERT_TRUE(c);
      ASSERT_EQ(c->address, a);
      ASSERT_EQ(c->classless_length, len);
      ASSERT_TRUE(c->classless_block().contains(a));
    }
  }
}

}  // namespace
}  // namespace amap::mapper
