// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <random>
#include <string>
#include <vector>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "mapper/dns/suffix_index.h"

namespace amap::dns {
namespace {

Name N(std::string_view s) {
  auto n = Name::from_text(s);
  EXPECT_TRUE(n.has_value()) << s;
  return *n;
}

TEST(Name, ParsesAndPrintsWithTrailingDot) {
  EXPECT_EQ(N("www.Example.COM").to_string(), "www.Example.COM.");
  EXPECT_EQ(N("www.example.com.").label_count(), 3U);
  EXPECT_EQ(N(".").to_string(), ".");
  EXPECT_TRUE(N("").is_root());
  EXPECT_EQ(N("a.b").to_string(false), "a.b");
}

TEST(Name, ComparesCaseInsensitivelyAndKeepsSpelling) {
  EXPECT_EQ(N("WWW.example.COM."), N("www.EXAMPLE.com"));
  EXPECT_EQ(N("WWW.example.COM.").hash(), N("www.EXAMPLE.com").hash());
  EXPECT_NE(N("www.example.com."), N("ww.example.com."));
  EXPECT_EQ(N("WwW.x.").label(0), "WwW");
}

TEST(Name, EnforcesLabelAndNameLimits) {
  const std::string l63(63, 'a');
  const std::string l64(64, 'a');
  EXPECT_TRUE(Name::from_text(l63 + ".example."));
  EXPECT_EQ(Name::from_text(l64 + ".example.").error(), Errc::label_too_long);
  // 4 labels of 63 = 4*64 + 1 = 257 octets: too long. 3*64 + 62 + 1 + 1 = 256: too long.
  std::string name254 = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b') + ".";
  auto ok = Name::from_text(name254);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->wire_len(), 255U);
  std::string name256 = l63 + "." + l63 + "." + l63 + "." + std::string(62, 'b') + ".";
  EXPECT_EQ(Name::from_text(name256).error(), Errc::too_long);
  EXPECT_EQ(Name::from_text("a..b").error(), Errc::empty_label);
  EXPECT_EQ(Name::from_text(".a").error(), Errc::empty_label);
}

TEST(Name, Escapes) {
  auto n = N("a\\.b.c.");
  EXPECT_EQ(n.label_count(), 2U);
  EXPECT_EQ(n.label(0), "a.b");
  EXPECT_EQ(n.to_string(), "a\\.b.c.");
  auto z = N("x\\000y.");
  EXPECT_EQ(z.label(0).size(), 3U);
  EXPECT_EQ(z.to_string(), "x\\000y.");
  EXPECT_FALSE(Name::from_text("a\\25"));
  EXPECT_FALSE(Name::from_text("a\\256.b"));
  EXPECT_FALSE(Name::from_text("a\\"));
}

TEST(Name, SubdomainIsOnLabelBoundary) {
  EXPECT_TRUE(N("a.example.").is_subdomain_of(N("example.")));
  EXPECT_TRUE(N("example.").is_subdomain_of(N("EXAMPLE.")));
  EXPECT_FALSE(N("badexample.").is_subdomain_of(N("example.")));
  EXPECT_FALSE(N("example.").is_subdomain_of(N("a.example.")));
  EXPECT_TRUE(N("anything.").is_subdomain_of(N(".")));
}

TEST(Name, SuffixParentPrepend) {
  auto n = N("a.b.c.");
  EXPECT_EQ(n.suffix(2).to_string(), "b.c.");
  EXPECT_EQ(n.parent().to_string(), "b.c.");
  EXPECT_TRUE(n.suffix(0).is_root());
  ASSERT_TRUE(n.prepend("x"));
  EXPECT_EQ(n.to_string(), "x.a.b.c.");
  EXPECT_FALSE(n.prepend(std::string(64, 'q')));
}

TEST(Name, WireRoundTrip) {
  auto n = N("Mail.Example.");
  auto w = Name::from_wire(n.wire());
  ASSERT_TRUE(w);
  EXPECT_EQ(w->to_string(), "Mail.Example.");
  const std::uint8_t pointer[] = {0xC0, 0x0C};
  EXPECT_FALSE(Name::from_wire(pointer));
  const std::uint8_t truncated[] = {3, 'a', 'b'};
  EXPECT_FALSE(Name::from_wire(truncated));
}

TEST(Name, SuffixHashesMatchTheSuffixAloneWhateverTheCase) {
  // Labels of every length around the 8-byte steps, the short ones at the start of a name
  // too, so both ways of reading a label's tail are compared.
  const char* zones[] = {"a.",
                         "net.",
                         "example.net.",
                         "abcdefgh.net.",
                         "abcdefghi.x.",
                         "pool-abcdefgh1234567.example.net.",
                         "0.8.b.d.0.1.0.0.2.ip6.arpa."};
  for (const char* z : zones) {
    const Name zone = N(z);
    const std::uint64_t want = suffix_hash(zone);
    for (const char* prefix : {"", "x.", "Host-1.", "a-much-longer-left-label.b."}) {
      std::string upper = std::string(prefix) + z;
      for (char& c : upper) {
        c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
      }
      const Name q = N(upper);
      SuffixHashes h;
      suffix_hashes(q, h);
      EXPECT_EQ(h[zone.label_count()], want) << z << " in " << upper;
      SuffixHashes limited;
      suffix_hashes(q, limited, zone.label_count());
      EXPECT_EQ(limited[zone.label_count()], want) << z << " in " << upper;
    }
  }
  EXPECT_NE(suffix_hash(N("ab.c.")), suffix_hash(N("a.bc.")));
  EXPECT_NE(suffix_hash(N("example.net.")), suffix_hash(N("example.com.")));
}

TEST(Name, FillHostnameBuildsTheNameInPlace) {
  Name name = N("old.example.");
  auto fill = [](std::string_view text) {
    return [text](char* out, std::size_t cap) {
      if (text.size() > cap) {
        return std::size_t{0};
      }
      text.copy(out, text.size());
      return text.size();
    };
  };
  ASSERT_TRUE(name.fill_hostname(fill("ip-10-1-2-3.Pool.example.")));
  EXPECT_EQ(name, N("ip-10-1-2-3.pool.example."));
  EXPECT_EQ(name.to_string(), "ip-10-1-2-3.Pool.example.");
  EXPECT_EQ(name.label_count(), 3U);
  ASSERT_TRUE(name.fill_hostname(fill("no-dot.example")));
  EXPECT_EQ(name.to_string(), "no-dot.example.");
  for (const char* bad : {"", ".", "a..b.", "a b.", "a\\.b.", ".a.", "abcdefgh ijk.example.",
                          "abcdefghijkl\\mnopqrst.", "host-1.exam\tple.net.", "longer-label..x."}) {
    EXPECT_FALSE(name.fill_hostname(fill(bad))) << bad;
    EXPECT_TRUE(name.is_root()) << bad;
  }
  EXPECT_FALSE(name.fill_hostname(fill(std::string(64, 'a') + ".")));
  EXPECT_TRUE(name.fill_hostname(fill(std::string(63, 'a') + ".")));
  // 254 characters with the trailing dot is the longest name; without it, 253.
  std::string longest;
  while (longest.size() < 252) {
    longest += "a.";
  }
  EXPECT_TRUE(name.fill_hostname(fill(longest + "b.")));
  EXPECT_EQ(name.wire_len(), Name::kMaxWire);
  EXPECT_FALSE(name.fill_hostname(fill(longest + "bc.")));
  EXPECT_TRUE(name.fill_hostname(fill(longest + "b")));
  EXPECT_FALSE(name.fill_hostname(fill(longest + "bc")));
}

TEST(SuffixIndex, EqualHashesAreAllVisited) {
  SuffixIndex index;
  for (std::uint32_t z = 0; z < 100; ++z) {
    index.insert(z % 2 == 0 ? 7 : 1000 + z, z);  // 50 entries share hash 7
  }
  std::vector<std::uint32_t> seen;
  EXPECT_FALSE(index.find(7, [&](std::uint32_t z) {
    seen.push_back(z);
    return false;
  }));
  EXPECT_EQ(seen.size(), 50U);
  EXPECT_TRUE(index.find(7, [](std::uint32_t z) { return z == 98; }));
  EXPECT_TRUE(index.find(1099, [](std::uint32_t z) { return z == 99; }));
  EXPECT_FALSE(index.find(12345, [](std::uint32_t) { return true; }));
  EXPECT_EQ(index.size(), 100U);
}

TEST(Address, ParsesAndFormats) {
  auto a = IpAddress::parse("10.1.2.3");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->v4_value(), 0x0A010203U);
  EXPECT_EQ(a->to_string(), "10.1.2.3");
  auto b = IpAddress::parse("2001:DB8:0:0::1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->to_string(), "2001:db8::1");
  // A zone id is an error, not dropped: only the pipe's client addresses may carry one.
  for (const char* zoned : {"fe80::1%eth0", "2001:db8::1%eth0", "10.1.2.3%1", "fe80::%"}) {
    ASSERT_FALSE(IpAddress::parse(zoned)) << zoned;
    EXPECT_EQ(IpAddress::parse(zoned).error(), Errc::zone_id) << zoned;
  }
  EXPECT_EQ(Prefix::parse("fe80::%eth0/64").error(), Errc::zone_id);
  EXPECT_EQ(Prefix::parse("fe80::/64%eth0").error(), Errc::zone_id);
  EXPECT_EQ(IpAddress::parse_dropping_zone("fe80::1%eth0")->to_string(), "fe80::1");
  EXPECT_FALSE(IpAddress::parse("10.1.2"));
  EXPECT_FALSE(IpAddress::parse("10.1.2.256"));
  EXPECT_FALSE(IpAddress::parse(""));
  EXPECT_EQ(IpAddress::from_u128(Family::v6, b->hi(), b->lo()), *b);
}

// IpAddress formats and parses by hand (no sprintf on the pipe's answer path); it must agree
// with the C library byte for byte, including glibc's "::1.2.3.4" and "::ffff:1.2.3.4" forms.
TEST(Address, AgreesWithInetNtopAndInetPton) {
  std::mt19937_64 rng(20261127);
  std::vector<std::array<std::uint8_t, 16>> v6;
  for (int i = 0; i < 20000; ++i) {
    std::array<std::uint8_t, 16> b{};
    const std::uint64_t r = rng();
    for (std::size_t g = 0; g < 8; ++g) {
      // Each group is zero, ffff, small or random, so runs of zeros of every length show up.
      const unsigned kind = (r >> (4 * g)) & 3U;
      const unsigned v = kind == 0   ? 0U
                         : kind == 1 ? 0xFFFFU
                         : kind == 2 ? static_cast<unsigned>(rng() % 20)
                                     : static_cast<unsigned>(rng() & 0xFFFFU);
      b[2 * g] = static_cast<std::uint8_t>(v >> 8);
      b[2 * g + 1] = static_cast<std::uint8_t>(v);
    }
    v6.push_back(b);
  }
  for (const char* s : {"::", "::1", "::2", "::1.2.3.4", "::ffff:1.2.3.4", "::ffff:0:0",
                        "::ffff:0:1.2.3.4", "1::", "1:0:0:1::", "0:0:1::1", "1:0:0:2:0:0:3:4"}) {
    std::array<std::uint8_t, 16> b{};
    ASSERT_EQ(inet_pton(AF_INET6, s, b.data()), 1) << s;
    v6.push_back(b);
  }
  char want[INET6_ADDRSTRLEN];
  char got[IpAddress::kMaxTextLen];
  for (const auto& b : v6) {
    ASSERT_NE(inet_ntop(AF_INET6, b.data(), want, sizeof want), nullptr);
    const IpAddress a = IpAddress::v6(b);
    ASSERT_EQ(std::string(got, a.to_text(got, sizeof got)), want);
    const auto back = IpAddress::parse(want);
    ASSERT_TRUE(back) << want;
    EXPECT_EQ(*back, a) << want;
  }
  for (int i = 0; i < 20000; ++i) {
    const auto v = static_cast<std::uint32_t>(rng() >> (rng() % 32));
    const std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24),
                               static_cast<std::uint8_t>(v >> 16),
                               static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    ASSERT_NE(inet_ntop(AF_INET, b, want, sizeof want), nullptr);
    ASSERT_EQ(std::string(got, IpAddress::v4(v).to_text(got, sizeof got)), want);
  }
  // IPv4 text: accepted exactly when inet_pton accepts it, to the same value.
  const std::string alphabet = "0123456789..x ";
  std::vector<std::string> texts = {"0.0.0.0",  "255.255.255.255", "01.2.3.4",  "1.2.3.04",
                                    "1.2.3.4.", ".1.2.3.4",        "1..2.3",    "256.1.1.1",
                                    "1.2.3.4 ", "1.2.3",           "1.2.3.4.5", "00.0.0.0",
                                    "0.0.0.00", "1234.1.1.1"};
  for (int i = 0; i < 50000; ++i) {
    std::string t;
    const std::size_t len = 1 + rng() % 16;
    for (std::size_t k = 0; k < len; ++k) {
      t += alphabet[rng() % alphabet.size()];
    }
    texts.push_back(t);
  }
  for (const auto& t : texts) {
    std::uint8_t b[4];
    const bool libc = inet_pton(AF_INET, t.c_str(), b) == 1;
    const auto a = IpAddress::parse(t);
    ASSERT_EQ(static_cast<bool>(a), libc) << '"' << t << '"';
    if (libc) {
      EXPECT_EQ(a->v4_value(), (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                   (std::uint32_t{b[2]} << 8) | b[3])
          << t;
    }
  }
}

TEST(Prefix, StrictParsingAndContainment) {
  auto p = Prefix::parse("10.0.0.0/8");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->contains(*IpAddress::parse("10.255.1.1")));
  EXPECT_FALSE(p->contains(*IpAddress::parse("11.0.0.1")));
  EXPECT_FALSE(p->contains(*IpAddress::parse("::a00:1")));
  EXPECT_EQ(Prefix::parse("10.0.0.1/8").error(), Errc::host_bits_set);
  EXPECT_EQ(Prefix::parse("10.0.0.0/33").error(), Errc::bad_prefix_length);
  EXPECT_EQ(Prefix::parse("10.0.0.0/").error(), Errc::bad_prefix_length);
  auto v6 = Prefix::parse("2001:db8:ff00::/40");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*IpAddress::parse("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(*IpAddress::parse("2001:db8:fe00::1")));
  EXPECT_EQ(v6->to_string(), "2001:db8:ff00::/40");
  EXPECT_EQ(Prefix::parse("192.0.2.7")->length, 32);
}

}  // namespace
}  // namespace amap::dns
