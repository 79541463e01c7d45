// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "mapper/core/prefix_table.h"
#include "tests/unit/test_values.h"

namespace amap::mapper {
namespace {

using test_values::A;
using test_values::N;
using test_values::P;

PrefixTable build(std::initializer_list<std::pair<const char*, std::uint32_t>> items) {
  PrefixTable::Builder b;
  for (const auto& [p, v] : items)
    b.insert(P(p), v);
  auto t = b.build();
  EXPECT_TRUE(t) << t.error();
  return t ? *t : PrefixTable{};
}

std::int64_t value_of(const PrefixTable::Entry* e) {
  return e != nullptr ? static_cast<std::int64_t>(e->value) : -1;
}

TEST(CorePrefixTable, MostSpecificWins) {
  const auto t = build({{"10.0.0.0/8", 1},
                        {"10.1.0.0/16", 2},
                        {"10.1.2.0/24", 3},
                        {"10.1.2.3/32", 4},
                        {"2001:db8::/32", 10},
                        {"2001:db8:1::/48", 11},
                        {"2001:db8:1:2::/64", 12},
                        {"2001:db8:1:2::1/128", 13}});
  EXPECT_EQ(value_of(t.lookup(A("10.1.2.3"))), 4);
  EXPECT_EQ(value_of(t.lookup(A("10.1.2.4"))), 3);
  EXPECT_EQ(value_of(t.lookup(A("10.1.3.4"))), 2);
  EXPECT_EQ(value_of(t.lookup(A("10.2.3.4"))), 1);
  EXPECT_EQ(value_of(t.lookup(A("11.2.3.4"))), -1);
  EXPECT_EQ(value_of(t.lookup(A("2001:db8:1:2::1"))), 13);
  EXPECT_EQ(value_of(t.lookup(A("2001:db8:1:2::2"))), 12);
  EXPECT_EQ(value_of(t.lookup(A("2001:db8:1:3::2"))), 11);
  EXPECT_EQ(value_of(t.lookup(A("2001:db8:2::"))), 10);
  EXPECT_EQ(value_of(t.lookup(A("2001:db9::"))), -1);
  EXPECT_EQ(value_of(t.lookup(A("::a01:203"))), -1);  // v6 never matches v4 entries
  EXPECT_EQ(t.lookup(A("10.1.2.4"))->prefix, P("10.1.2.0/24"));
  EXPECT_EQ(value_of(t.lookup(A("10.1.2.3"), 24)), 3);
  EXPECT_EQ(value_of(t.lookup(A("10.1.2.3"), 7)), -1);
  EXPECT_EQ(t.size(), 8U);
  EXPECT_EQ(t.entries(dns::Family::v4).size(), 4U);
}

TEST(CorePrefixTable, ExactAndDefault) {
  const auto t = build({{"0.0.0.0/0", 7}, {"10.0.0.0/8", 1}, {"::/0", 8}});
  EXPECT_EQ(value_of(t.lookup(A("1.2.3.4"))), 7);
  EXPECT_EQ(value_of(t.lookup(A("::1"))), 8);
  EXPECT_EQ(value_of(t.lookup_exact(P("10.0.0.0/8"))), 1);
  EXPECT_EQ(value_of(t.lookup_exact(P("10.0.0.0/9"))), -1);
  EXPECT_EQ(value_of(t.lookup_exact(P("0.0.0.0/0"))), 7);
  EXPECT_EQ(value_of(t.lookup_exact(P("::/0"))), 8);
}

TEST(CorePrefixTable, AnyOverlap) {
  const auto t = build({{"10.1.2.0/24", 1}, {"10.9.0.0/16", 2}, {"2001:db8:1::/48", 3}});
  EXPECT_TRUE(t.any_overlap(P("10.1.2.0/24")));
  EXPECT_TRUE(t.any_overlap(P("10.1.2.128/25")));  // covered
  EXPECT_TRUE(t.any_overlap(P("10.1.2.3/32")));
  EXPECT_TRUE(t.any_overlap(P("10.1.0.0/16")));  // contains
  EXPECT_TRUE(t.any_overlap(P("10.0.0.0/8")));
  EXPECT_TRUE(t.any_overlap(P("0.0.0.0/0")));
  EXPECT_FALSE(t.any_overlap(P("10.1.3.0/24")));
  EXPECT_FALSE(t.any_overlap(P("10.2.0.0/16")));
  EXPECT_FALSE(t.any_overlap(P("11.0.0.0/8")));
  EXPECT_TRUE(t.any_overlap(P("2001:db8::/32")));
  EXPECT_TRUE(t.any_overlap(P("2001:db8:1:ff00::/56")));
  EXPECT_FALSE(t.any_overlap(P("2001:db8:2::/48")));
  EXPECT_TRUE(t.any_overlap(P("::/0")));
  EXPECT_FALSE(PrefixTable{}.any_overlap(P("::/0")));
  EXPECT_EQ(PrefixTable{}.lookup(A("1.2.3.4")), nullptr);
}

TEST(CorePrefixTable, BuildErrors) {
  PrefixTable::Builder b;
  b.insert(P("10.1.0.0/16"), 1);
  b.insert(P("10.2.0.0/16"), 2);
  b.insert(P("10.1.0.0/16"), 3);
  auto t = b.build();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error(), "duplicate prefix 10.1.0.0/16 (values 1 and 3)");
  PrefixTable::Builder h;
  h.insert(dns::Prefix{A("10.1.0.1"), 16}, 5);
  auto bad = h.build();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), "prefix 10.1.0.1/16 has host bits set (value 5)");
  PrefixTable::Builder same_addr;  // same address, different lengths: fine
  same_addr.insert(P("10.0.0.0/8"), 1);
  same_addr.insert(P("10.0.0.0/16"), 2);
  EXPECT_TRUE(same_addr.build());
}

struct Oracle {
  struct Item {
    dns::Family f;
    U128 key, mask;
    unsigned len;
    std::uint32_t value;
  };
  std::vector<Item> items;
  std::int64_t lookup(const dns::IpAddress& a) const {
    const U128 v = U128::of(a);
    std::int64_t best = -1;
    int best_len = -1;
    for (const auto& it : items) {
      if (it.f == a.family() && (v & it.mask) == it.key && static_cast<int>(it.len) > best_len) {
        best_len = static_cast<int>(it.len);
        best = it.value;
      }
    }
    return best;
  }
  bool overlap(const dns::Prefix& p) const {
    for (const auto& it : items) {
      const dns::Prefix q{it.key.to_address(it.f), static_cast<std::uint8_t>(it.len)};
      if (q.contains(p) || p.contains(q))
        return true;
    }
    return false;
  }
};

TEST(CorePrefixTable, RandomAgainstBruteForce) {
  std::mt19937_64 rng(2024);
  PrefixTable::Builder b;
  Oracle oracle;
  std::vector<dns::Prefix> inserted;
  // Prefixes clustered under a few roots so that nesting is common.
  std::vector<dns::IpAddress> roots;
  roots.reserve(64);
  for (int i = 0; i < 64; ++i) {
    roots.push_back(
        dns::IpAddress::from_u128(i % 2 ? dns::Family::v6 : dns::Family::v4, rng(), rng()));
  }
  std::uint32_t value = 0;
  std::set<std::pair<dns::IpAddress, unsigned>> seen;
  while (inserted.size() < 100000) {
    const auto& root = roots[rng() % roots.size()];
    const auto f = root.family();
    const unsigned len = f == dns::Family::v4 ? static_cast<unsigned>(8 + rng() % 25)
                                              : static_cast<unsigned>(16 + rng() % 113);
    // Keep the root's first 8 (v4) / 16 (v6) bits, randomize the rest.
    const unsigned keep = f == dns::Family::v4 ? 8U : 16U;
    const U128 r =
        (U128::of(root) & network_mask(f, keep)) | (U128{rng(), rng()} & host_mask(f, keep));
    const dns::Prefix p{(r & network_mask(f, len)).to_address(f), static_cast<std::uint8_t>(len)};
    if (!seen.insert({p.address, p.length}).second)
      continue;
    inserted.push_back(p);
    b.insert(p, value);
    oracle.items.push_back({f, U128::of(p.address), network_mask(f, len), len, value});
    ++value;
  }
  auto built = b.build();
  ASSERT_TRUE(built) << built.error();
  const PrefixTable& t = *built;
  ASSERT_EQ(t.size(), 100000U);
  // The oracle scans all 100k prefixes per lookup: 2000 lookups keep this test to about a
  // second in Release and well inside the timeout under the sanitizers.
  for (int i = 0; i < 2000; ++i) {
    dns::IpAddress a;
    if (i % 2 == 0) {
      const auto& p = inserted[rng() % inserted.size()];
      const U128 v = U128::of(p.address) | (U128{rng(), rng()} & host_mask(p.family(), p.length));
      a = v.to_address(p.family());
    } else {
      a = dns::IpAddress::from_u128(i % 4 == 1 ? dns::Family::v4 : dns::Family::v6, rng(), rng());
    }
    ASSERT_EQ(value_of(t.lookup(a)), oracle.lookup(a)) << a.to_string();
  }
  for (int i = 0; i < 1000; ++i) {
    const auto& p = inserted[rng() % inserted.size()];
    const auto f = p.family();
    const unsigned len = static_cast<unsigned>(rng() % (p.address.bits() + 1));
    const U128 v = U128::of(p.address) & network_mask(f, len);
    const dns::Prefix q{v.to_address(f), static_cast<std::uint8_t>(len)};
    ASSERT_EQ(t.any_overlap(q), oracle.overlap(q)) << q.to_string();
    ASSERT_EQ(t.lookup_exact(p) != nullptr, true);
    const dns::Prefix r{dns::IpAddress::from_u128(f, rng(), rng()).masked(len),
                        static_cast<std::uint8_t>(len)};
    ASSERT_EQ(t.any_overlap(r), oracle.overlap(r)) << r.to_string();
  }
}

}  // namespace
}  // namespace amap::mapper
