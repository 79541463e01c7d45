// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "mapper/core/template.h"
#include "mapper/core/u128.h"
#include "tests/unit/test_values.h"

namespace amap::mapper {
namespace {

using test_values::A;
using test_values::N;
using test_values::P;

Template compile_ok(std::string_view text, std::string_view prefix) {
  auto r = Template::compile(text, P(prefix));
  EXPECT_TRUE(r) << text << " for " << prefix << ": " << r.error();
  return r ? *r : Template{};
}
std::string compile_error(std::string_view text, std::string_view prefix) {
  auto r = Template::compile(text, P(prefix));
  EXPECT_FALSE(r) << text << " compiled for " << prefix;
  return r.error();
}
std::string render(const Template& t, const dns::IpAddress& a) {
  char buf[Template::kMaxText];
  const std::size_t n = t.render(a, buf, sizeof buf);
  return std::string(buf, n);
}
std::optional<dns::IpAddress> match(const Template& t, std::string_view name) {
  auto n = dns::Name::from_text(name);
  if (!n) {
    return std::nullopt;
  }
  return t.matches(*n);
}

// ---- tokens -------------------------------------------------------------------------------

TEST(CoreTemplate, TokensV4) {
  const auto a = A("10.1.2.3");
  EXPECT_EQ(render(compile_ok("ip-{a}-{b}-{c}-{d}.pool.example.net.", "10.0.0.0/8"), a),
            "ip-10-1-2-3.pool.example.net.");
  EXPECT_EQ(render(compile_ok("{d}.{c}.{b}.{a}.static.example.net.", "10.0.0.0/8"), a),
            "3.2.1.10.static.example.net.");
  EXPECT_EQ(render(compile_ok("h{hex}.static.pool.example.net.", "10.0.0.0/8"), a),
            "h0a010203.static.pool.example.net.");
  EXPECT_EQ(render(compile_ok("cust42-{ip}.biz.pool.example.net.", "10.0.0.0/8"), a),
            "cust42-10-1-2-3.biz.pool.example.net.");
  EXPECT_EQ(render(compile_ok("{full}.x.example.", "10.0.0.0/8"), a), "10-1-2-3.x.example.");
  EXPECT_EQ(render(compile_ok("n{offset}.x.example.", "10.0.0.0/8"), a), "n66051.x.example.");
  EXPECT_EQ(render(compile_ok("n{offset}.x.example.", "10.1.2.0/24"), a), "n3.x.example.");
  EXPECT_EQ(render(compile_ok("n{offset}.x.example.", "10.1.2.3/32"), a), "n0.x.example.");
  EXPECT_EQ(render(compile_ok("n{offset}.x.example.", "0.0.0.0/0"), A("255.255.255.255")),
            "n4294967295.x.example.");
  EXPECT_EQ(render(compile_ok("h{hex}.x.", "0.0.0.0/0"), A("0.0.0.0")), "h00000000.x.");
}

TEST(CoreTemplate, TokensV6) {
  const auto a = A("2001:db8::1");
  EXPECT_EQ(render(compile_ok("ip-{ip}.pool.example.net.", "2001:db8::/32"), a),
            "ip-2001-db8--1.pool.example.net.");
  EXPECT_EQ(render(compile_ok("{full}.x.example.", "2001:db8::/32"), a),
            "2001-0db8-0000-0000-0000-0000-0000-0001.x.example.");
  EXPECT_EQ(render(compile_ok("h{hex}.x.example.", "2001:db8::/32"), a),
            "h20010db8000000000000000000000001.x.example.");
  EXPECT_EQ(render(compile_ok("n{offset}.x.example.", "2001:db8::/32"), a), "n1.x.example.");
  EXPECT_EQ(render(compile_ok("n{offset}.x.example.", "2001:db8::/32"),
                   A("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")),
            "n79228162514264337593543950335.x.example.");  // 2^96 - 1
  const auto all = compile_ok("n{offset}.x.example.", "::/0");
  EXPECT_EQ(render(all, A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
            "n340282366920938463463374607431768211455.x.example.");            // 2^128 - 1
  EXPECT_EQ(render(all, A("0:0:0:1::")), "n18446744073709551616.x.example.");  // 2^64
  EXPECT_EQ(match(all, "n18446744073709551616.x.example."), A("0:0:0:1::"));
  EXPECT_EQ(match(all, "n340282366920938463463374607431768211455.x.example."),
            A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  EXPECT_FALSE(match(all, "n340282366920938463463374607431768211456.x.example."));  // 2^128
  EXPECT_FALSE(match(all, "n999999999999999999999999999999999999999.x.example."));
}

// ---- {ip}: the Knot 3.2.6 mod-synthrecord reverse-short form -----------------------------

struct KnotVector {
  const char* address;
  const char* knot;  // first label of Knot's PTR answer, without its "ip-" prefix
};

// Obtained from knotd 3.2.6 (mod-synthrecord, type reverse, prefix "ip-", reverse-short on),
// queried with kdig -x for each address.
constexpr KnotVector kKnot[] = {
    {"::", "0-0--0"},
    {"::1", "0-0--1"},
    {"1::", "1-0--0"},
    {"1::1", "1-0--1"},
    {"2001:db8::", "2001-db8--0"},
    {"2001:db8::1", "2001-db8--1"},
    {"2001:db8:1::1", "2001-db8-1--1"},
    {"fe80::1", "fe80-0--1"},
    {"2001:db8:0:1::1", "2001-db8-0-1--1"},
    {"2001:0:0:1::1", "2001-0-0-1--1"},
    {"0:0:1::", "0-0-1--0"},
    {"1:0:0:0:0:0:0:1", "1-0--1"},
    {"2001:db8:0:0:1:0:0:1", "2001-db8--1-0-0-1"},
    {"2001:db8:1:0:0:0:0:0", "2001-db8-1--0"},
    {"2001:db8:1:2:3:4:5:6", "2001-db8-1-2-3-4-5-6"},
    {"2001:db8:0:1:0:1:0:1", "2001-db8-0-1-0-1-0-1"},
    {"1:2:0:4:0:0:0:8", "1-2-0-4--8"},
    {"1:2:3:0:0:6:7:8", "1-2-3--6-7-8"},
    {"0:1:2:3:4:5:6:7", "0-1-2-3-4-5-6-7"},
    {"1:2:3:4:5:6:7:0", "1-2-3-4-5-6-7-0"},
    {"a:b:c:d:0:0:0:0", "a-b-c-d--0"},
    {"0:0:0:0:0:1:0:0", "0-0--1-0-0"},
    {"::ffff:1.2.3.4", "0-0--ffff-102-304"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff"},
    {"2001:db8:0:0:a:0:0:0", "2001-db8--a-0-0-0"},
    {"2001:db8:0:a:0:0:0:b", "2001-db8-0-a--b"},
    {"10:0:0:0:20:0:0:0", "10-0--20-0-0-0"},
    {"0:0:0:100:0:0:0:0", "0-0-0-100--0"},
    {"2620:0:b61:100::2", "2620-0-b61-100--2"},
    {"fd00::abcd:ef01", "fd00-0--abcd-ef01"},
    {"1:0:0:0:2:0:0:3", "1-0--2-0-0-3"},
    {"0:0:0:1:0:0:0:a", "0-0-0-1--a"},
    {"0:0:0:1:0:10:0:0", "0-0-0-1-0-10-0-0"},
    {"0:0:100:0:0:10:0:0", "0-0-100--10-0-0"},
    {"0:0:0:0:0:0:100:0", "0-0--100-0"},
    {"0:1:0:0:2001:0:0:0", "0-1--2001-0-0-0"},
    {"10:ffff:0:0:ffff:0:0:0", "10-ffff--ffff-0-0-0"},
};

TEST(CoreTemplate, IpTokenMatchesKnot) {
  const auto t = compile_ok("ip-{ip}.pool.example.net.", "::/0");
  for (const auto& v : kKnot) {
    const auto a = A(v.address);
    char buf[40];
    const std::size_t n = write_ip_token(a, buf);
    EXPECT_EQ(std::string(buf, n), v.knot) << v.address;
    const std::string name = std::string("ip-") + v.knot + ".pool.example.net.";
    EXPECT_EQ(render(t, a), name);
    EXPECT_EQ(match(t, name), a) << name;
    EXPECT_TRUE(hostname_problem(name).empty()) << name;
  }
  char buf[40];
  EXPECT_EQ(std::string(buf, write_ip_token(A("10.1.2.3"), buf)), "10-1-2-3");
  EXPECT_EQ(std::string(buf, write_ip_token(A("0.0.0.0"), buf)), "0-0-0-0");
}

// The rule written out in template.cpp, re-implemented here in the simplest way and compared
// on every zero/non-zero pattern of the 8 groups.
std::string knot_rule(const std::array<std::uint16_t, 8>& g) {
  std::size_t best = 0, best_len = 0;
  for (std::size_t i = 2; i <= 6; ++i) {
    std::size_t j = i;
    while (j <= 6 && g[j] == 0)
      ++j;
    if (j - i > best_len) {
      best_len = j - i;
      best = i;
    }
  }
  std::string s;
  char tmp[8];
  for (std::size_t i = 0; i < 8; ++i) {
    if (best_len >= 2 && i == best) {
      s += "--";
      i += best_len - 1;
      continue;
    }
    if (!s.empty() && s.back() != '-')
      s += '-';
    std::snprintf(tmp, sizeof tmp, "%x", g[i]);
    s += tmp;
  }
  return s;
}

TEST(CoreTemplate, IpTokenAllZeroPatterns) {
  const auto t = compile_ok("{ip}.x.", "::/0");
  for (unsigned mask = 0; mask < 256; ++mask) {
    std::array<std::uint16_t, 8> g{};
    std::array<std::uint8_t, 16> b{};
    for (std::size_t i = 0; i < 8; ++i) {
      g[i] = (mask >> i) & 1U ? static_cast<std::uint16_t>(0x10 * (i + 1) + 1) : 0;
      b[2 * i] = static_cast<std::uint8_t>(g[i] >> 8);
      b[2 * i + 1] = static_cast<std::uint8_t>(g[i]);
    }
    const auto a = dns::IpAddress::v6(b);
    char buf[40];
    EXPECT_EQ(std::string(buf, write_ip_token(a, buf)), knot_rule(g)) << a.to_string();
    EXPECT_EQ(match(t, knot_rule(g) + ".x."), a);
  }
}

// ---- round trips --------------------------------------------------------------------------

void round_trip(const Template& t, std::mt19937_64& rng, int count) {
  const dns::Prefix& p = t.prefix();
  const auto f = p.family();
  std::vector<dns::IpAddress> addrs;
  const U128 base = U128::of(p.address);
  const U128 host = host_mask(f, p.length);
  addrs.push_back(base.to_address(f));
  addrs.push_back((base | host).to_address(f));
  for (int i = 0; i < count; ++i) {
    addrs.push_back((base | (U128{rng(), rng()} & host)).to_address(f));
  }
  for (const auto& a : addrs) {
    const std::string text = render(t, a);
    ASSERT_FALSE(text.empty()) << t.text() << " " << a.to_string();
    ASSERT_TRUE(hostname_problem(text).empty()) << text << ": " << hostname_problem(text);
    ASSERT_EQ(match(t, text), a) << text;
    std::string upper = text;
    for (char& c : upper)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ASSERT_EQ(match(t, upper), a) << upper;
    dns::Name rendered;
    ASSERT_TRUE(t.render(a, rendered));
    ASSERT_EQ(rendered, N(text));
    ASSERT_TRUE(rendered.is_subdomain_of(t.suffix()));
    ASSERT_EQ(rendered.label_count(), t.label_count());
  }
}

TEST(CoreTemplate, RoundTripV4) {
  std::mt19937_64 rng(42);
  for (const char* prefix : {"10.0.0.0/8", "10.20.0.0/22", "192.0.2.77/32", "0.0.0.0/0"}) {
    for (const char* text :
         {"ip-{a}-{b}-{c}-{d}.pool.example.net.", "{d}.{c}.{b}.{a}.static.example.net.",
          "h{hex}.static.pool.example.net.", "cust42-{ip}.biz.pool.example.net.",
          "{full}.x.example.", "n{offset}.x.example.", "{ip}.{hex}.Mixed.Example."}) {
      SCOPED_TRACE(std::string(text) + " " + prefix);
      round_trip(compile_ok(text, prefix), rng, 1000);
    }
  }
}

TEST(CoreTemplate, RoundTripV6) {
  std::mt19937_64 rng(4242);
  for (const char* prefix : {"2001:db8::/32", "2001:db8:ff00::/40", "2001:db8:0:100::/56",
                             "2001:db8:1:2::/64", "2001:db8::2/127", "::/0", "2001:db8::/128"}) {
    for (const char* text : {"ip-{ip}.pool.example.net.", "{full}.x.example.", "h{hex}.x.example.",
                             "n{offset}.x.example.", "c{ip}x.{offset}.y."}) {
      SCOPED_TRACE(std::string(text) + " " + prefix);
      round_trip(compile_ok(text, prefix), rng, 1000);
    }
  }
}

// ---- non-canonical and foreign names -----------------------------------------------------

TEST(CoreTemplate, RejectsNonCanonicalV4) {
  const auto t = compile_ok("ip-{a}-{b}-{c}-{d}.pool.example.net.", "10.0.0.0/8");
  EXPECT_EQ(match(t, "ip-10-1-2-3.pool.example.net."), A("10.1.2.3"));
  EXPECT_EQ(match(t, "IP-10-1-2-3.Pool.EXAMPLE.net"), A("10.1.2.3"));  // literal case
  EXPECT_FALSE(match(t, "ip-010-1-2-3.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-10-01-2-3.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-10-1-2-03.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-10-1-2-999.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-10-1-2-256.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-10-1-2-3-4.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-10-1-2.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-10-1-2-.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-11-1-2-3.pool.example.net."));  // outside 10/8
  EXPECT_FALSE(match(t, "x.ip-10-1-2-3.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-10-1-2-3.example.net."));
  EXPECT_FALSE(match(t, "ip-10-1-2-3.pool.example.org."));
  EXPECT_FALSE(match(t, "ip-10-1-2-3x.pool.example.net."));
  EXPECT_FALSE(match(t, "ip+10-1-2-3.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-10-1-2-3.pool.example.net.ip-10-1-2-3.pool.example.net."));
  EXPECT_FALSE(match(t, "."));
  EXPECT_FALSE(t.matches(N("ip-010-1-2-3.pool.example.net.")));
  EXPECT_FALSE(t.matches(N("ip-10-1-2-999.pool.example.net.")));
  // A byte outside the hostname alphabet (escaped) never matches.
  EXPECT_FALSE(match(t, "ip-10-1-2-3\\000.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-10-1-2-\\0413.pool.example.net."));             // "\041" is ')'
  EXPECT_EQ(match(t, "ip-10-1-2-\\051.pool.example.net."), A("10.1.2.3"));  // "\051" is '3'

  const auto hex = compile_ok("h{hex}.x.example.", "10.0.0.0/8");
  EXPECT_EQ(match(hex, "H0A010203.X.Example."), A("10.1.2.3"));
  EXPECT_FALSE(match(hex, "h0a01020.x.example."));
  EXPECT_FALSE(match(hex, "h0a0102030.x.example."));
  EXPECT_FALSE(match(hex, "h0b010203.x.example."));  // 11.1.2.3

  const auto off = compile_ok("n{offset}.x.example.", "10.1.2.0/24");
  EXPECT_EQ(match(off, "n7.x.example."), A("10.1.2.7"));
  EXPECT_FALSE(match(off, "n007.x.example."));
  EXPECT_FALSE(match(off, "n256.x.example."));
  EXPECT_FALSE(match(off, "n.x.example."));
  EXPECT_FALSE(match(off, "n-1.x.example."));

  const auto ip = compile_ok("cust42-{ip}.biz.example.", "10.0.0.0/8");
  EXPECT_EQ(match(ip, "cust42-10-0-0-0.biz.example."), A("10.0.0.0"));
  EXPECT_FALSE(match(ip, "cust42-10-0-0-00.biz.example."));
  EXPECT_FALSE(match(ip, "cust42-10--0-0.biz.example."));
  EXPECT_FALSE(match(ip, "cust42-10-0-0-0-.biz.example."));
  EXPECT_FALSE(match(ip, "cust42-010-0-0-0.biz.example."));
  EXPECT_FALSE(match(ip, "cust42-10-00-1-0.biz.example."));
  EXPECT_FALSE(match(ip, "cust42-10-0-01-0.biz.example."));
  EXPECT_EQ(match(ip, "cust42-10-100-0-10.biz.example."), A("10.100.0.10"));
  const auto full = compile_ok("f-{full}.biz.example.", "10.0.0.0/8");
  EXPECT_EQ(match(full, "f-10-0-200-0.biz.example."), A("10.0.200.0"));
  EXPECT_FALSE(match(full, "f-10-0-200-000.biz.example."));
}

TEST(CoreTemplate, RejectsNonCanonicalV6) {
  const auto t = compile_ok("ip-{ip}.pool.example.net.", "2001:db8::/32");
  EXPECT_EQ(match(t, "ip-2001-db8--1.pool.example.net."), A("2001:db8::1"));
  EXPECT_EQ(match(t, "IP-2001-DB8--1.POOL.example.NET."), A("2001:db8::1"));
  // Forms Knot's forward module would also accept, but not the canonical spelling:
  EXPECT_FALSE(match(t, "ip-2001-0db8-0000-0000-0000-0000-0000-0001.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-db8-0-0-0-0-0-1.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-db8-0--1.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-db8--0-1.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-0db8--1.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-db8--0001.pool.example.net."));
  // Garbage and near misses.
  EXPECT_FALSE(match(t, "ip-2001-db8--1-.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-db8---1.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-db8--1--2.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-db8-1-2-3-4-5-6-7.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-db8-12345--1.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-db8--g.pool.example.net."));
  EXPECT_FALSE(match(t, "ip---1.pool.example.net."));
  EXPECT_FALSE(match(t, "ip-2001-db9--1.pool.example.net."));  // outside the prefix
  EXPECT_FALSE(match(t, "ip-2001-db8--1.pool.example.net.extra."));
  EXPECT_FALSE(match(t, "ip-2001-db8--1.example.net."));

  const auto full = compile_ok("{full}.x.example.", "2001:db8::/32");
  EXPECT_EQ(match(full, "2001-0db8-0000-0000-0000-0000-0000-0001.x.example."), A("2001:db8::1"));
  EXPECT_FALSE(match(full, "2001-db8-0000-0000-0000-0000-0000-0001.x.example."));
  EXPECT_FALSE(match(full, "2001-db8--1.x.example."));
}

// {ip} of IPv6 is read back canonical-only without rendering the address again: a name is
// accepted exactly when it is the rendering of the address it spells (oracle: the text with
// '-' as ':' through inet_pton, rendered by write_ip_token). Random addresses with runs of
// zero groups, their spellings mutated (zeros padded, "--" moved, groups split or merged).
TEST(CoreTemplate, IpTokenV6AcceptsExactlyTheCanonicalSpelling) {
  const auto t = compile_ok("{ip}.v6.example.", "::/0");
  std::mt19937_64 rng(6);
  const std::string alphabet = "0123456789abcdef-";
  std::size_t accepted = 0;
  for (int i = 0; i < 40000; ++i) {
    std::array<std::uint8_t, 16> b{};
    for (std::size_t g = 0; g < 8; ++g) {
      const unsigned kind = static_cast<unsigned>(rng() % 4);
      const unsigned v = kind < 2    ? 0U
                         : kind == 2 ? static_cast<unsigned>(rng() % 17)
                                     : static_cast<unsigned>(rng() & 0xFFFFU);
      b[2 * g] = static_cast<std::uint8_t>(v >> 8);
      b[2 * g + 1] = static_cast<std::uint8_t>(v);
    }
    char buf[64];
    std::string text(buf, write_ip_token(dns::IpAddress::v6(b), buf));
    if (i % 2 == 1) {  // mutate: change, insert or delete a character
      const std::size_t at = rng() % text.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          text.erase(at, 1);
      }
    }
    std::string colons = text;
    for (char& c : colons) {
      c = c == '-' ? ':' : c;
    }
    std::array<std::uint8_t, 16> parsed{};
    bool canonical = false;
    if (!text.empty() && inet_pton(AF_INET6, colons.c_str(), parsed.data()) == 1) {
      canonical = std::string(buf, write_ip_token(dns::IpAddress::v6(parsed), buf)) == text;
    }
    const auto got = match(t, text + ".v6.example.");
    ASSERT_EQ(got.has_value(), canonical) << text;
    if (canonical) {
      ASSERT_EQ(*got, dns::IpAddress::v6(parsed)) << text;
      ++accepted;
    }
  }
  EXPECT_GT(accepted, 20000U);  // every unmutated spelling, and some mutations
}

TEST(CoreTemplate, RepeatedTokensMustAgree) {
  const auto t = compile_ok("{ip}.{d}.x.example.", "10.0.0.0/8");
  EXPECT_EQ(render(t, A("10.1.2.3")), "10-1-2-3.3.x.example.");
  EXPECT_EQ(match(t, "10-1-2-3.3.x.example."), A("10.1.2.3"));
  EXPECT_FALSE(match(t, "10-1-2-3.4.x.example."));
  const auto v6 = compile_ok("{ip}.{hex}.x.", "2001:db8::/32");
  EXPECT_FALSE(match(v6, "2001-db8--1.20010db8000000000000000000000002.x."));
}

TEST(CoreTemplate, PrefixOnlyBitsComeFromThePrefix) {
  const auto t = compile_ok("{d}.pool.example.net.", "10.1.2.0/24");
  EXPECT_EQ(render(t, A("10.1.2.200")), "200.pool.example.net.");
  EXPECT_EQ(match(t, "200.pool.example.net."), A("10.1.2.200"));
  EXPECT_EQ(render(t, A("10.1.3.1")), "");  // outside the prefix
  const auto t2 = compile_ok("{c}-{d}.pool.example.net.", "10.1.4.0/22");
  EXPECT_EQ(match(t2, "5-6.pool.example.net."), A("10.1.5.6"));
  EXPECT_FALSE(match(t2, "8-6.pool.example.net."));  // 10.1.8.6 is outside /22
}

TEST(CoreTemplate, GarbageNamesAreHarmless) {
  const auto templates = {compile_ok("ip-{a}-{b}-{c}-{d}.pool.example.net.", "10.0.0.0/8"),
                          compile_ok("ip-{ip}.pool.example.net.", "::/0"),
                          compile_ok("n{offset}.{hex}.x.", "2001:db8::/32")};
  std::mt19937_64 rng(7);
  const std::string alphabet = "0123456789abcdefABCDEF-.xyzipoln";
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> wire;
    const int labels = static_cast<int>(rng() % 6);
    for (int l = 0; l < labels; ++l) {
      const std::size_t len = 1 + rng() % 45;
      wire.push_back(static_cast<std::uint8_t>(len));
      for (std::size_t k = 0; k < len; ++k) {
        wire.push_back(rng() % 4 == 0
                           ? static_cast<std::uint8_t>(rng())
                           : static_cast<std::uint8_t>(alphabet[rng() % alphabet.size()]));
      }
    }
    wire.push_back(0);
    auto name = dns::Name::from_wire(wire);
    if (!name)
      continue;
    for (const auto& t : templates) {
      if (auto a = t.matches(*name)) {
        dns::Name again;
        ASSERT_TRUE(t.render(*a, again));
        ASSERT_EQ(again, *name);
      }
    }
  }
}

// A name is read as lower-cased text eight bytes at a time, its length bytes turned into dots,
// and below a suffix the caller has checked only up to that suffix. Labels of 45 and 48..57
// bytes have length bytes that look like '-' and digits; a '.' inside a label and bytes that
// are no host character must still keep a name out.
TEST(CoreTemplate, NameTextWordByWord) {
  const std::string x44(44, 'x');
  const std::string x47(47, 'x');
  const std::string x54(54, 'x');
  const std::vector<Template> templates = {
      compile_ok("{a}.{b}" + x44 + ".{c}" + x47 + ".{d}" + x54 + ".e.", "0.0.0.0/0"),
      compile_ok("ip-{a}-{b}-{c}-{d}.pool.example.net.", "10.0.0.0/8"),
      compile_ok("{ip}.v6.pool.example.net.", "2001:db8::/32"), compile_ok("{d}.x.", "10.1.2.0/24"),
      compile_ok("{hex}.{ip}.Mixed-Case.Example.", "::/0")};
  std::mt19937_64 rng(11);
  const std::string bytes = std::string("AZaz09-.") + '\x80' + '\xff' + '\0' + ' ' + '_' + '/';
  std::size_t matched = 0;
  std::size_t kept_out = 0;
  std::size_t suffix_checked = 0;
  for (const Template& t : templates) {
    SCOPED_TRACE(t.text());
    const dns::Prefix& p = t.prefix();
    const auto f = p.family();
    for (int i = 0; i < 3000; ++i) {
      const auto a =
          (U128::of(p.address) | (U128{rng(), rng()} & host_mask(f, p.length))).to_address(f);
      dns::Name name;
      ASSERT_TRUE(t.render(a, name));
      std::vector<std::uint8_t> wire(name.wire().begin(), name.wire().end());
      // Flip the case of some letters; in every other name put one byte from `bytes` into a
      // label (never at a length byte).
      for (std::size_t l = 0; l < name.label_count(); ++l) {
        const std::size_t off = name.label_offset(l);
        for (std::size_t k = off + 1; k <= off + wire[off]; ++k) {
          if (std::isalpha(wire[k]) != 0 && rng() % 3 == 0) {
            wire[k] = static_cast<std::uint8_t>(wire[k] ^ 0x20);
          }
        }
      }
      bool foreign = false;
      if (i % 2 == 1) {
        const std::size_t l = rng() % name.label_count();
        const std::size_t off = name.label_offset(l);
        const std::size_t at = off + 1 + rng() % wire[off];
        const char c = bytes[rng() % bytes.size()];
        foreign = std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-';
        wire[at] = static_cast<std::uint8_t>(c);
      }
      const auto mutated = dns::Name::from_wire(wire);
      ASSERT_TRUE(mutated);
      const auto got = t.matches(*mutated);
      if (mutated->is_subdomain_of(t.suffix())) {  // what Suffix::checked promises
        ASSERT_EQ(t.matches(*mutated, Template::Suffix::checked), got) << mutated->to_string();
        ++suffix_checked;
      }
      if (foreign) {
        ASSERT_FALSE(got) << mutated->to_string();
        ++kept_out;
      } else if (got) {
        dns::Name again;
        ASSERT_TRUE(t.render(*got, again));
        ASSERT_EQ(again, *mutated);  // names compare case-insensitively
        ++matched;
      }
      if (i % 2 == 0) {
        ASSERT_EQ(got, a) << mutated->to_string();
      }
    }
  }
  EXPECT_GT(matched, 7500U);
  EXPECT_GT(kept_out, 1500U);
  EXPECT_GT(suffix_checked, 9000U);
}

// ---- compile errors -----------------------------------------------------------------------

TEST(CoreTemplate, CompileErrors) {
  EXPECT_EQ(
      compile_error("ip-{x}.example.", "10.0.0.0/8").rfind("unknown token {x} at column 4", 0), 0U);
  EXPECT_EQ(compile_error("ip-{a}.example.", "2001:db8::/32"),
            "{a} is IPv4-only but the prefix is IPv6");
  EXPECT_EQ(compile_error("ip-{ip}.example", "10.0.0.0/8"),
            "template must end with a dot (absolute name)");
  EXPECT_EQ(compile_error("static.example.net.", "10.0.0.0/8"),
            "no address token: the template cannot be inverted");
  EXPECT_EQ(compile_error("{a}{b}-{c}-{d}.x.", "10.0.0.0/8"),
            "ambiguous: two tokens next to each other without a separator at column 4");
  EXPECT_NE(compile_error("{d}.x.", "10.0.0.0/8").find("missing {b} {c}"), std::string::npos);
  EXPECT_NE(compile_error("{ip}-x.example.", "10.0.0.0/8")
                .find("ambiguous: {ip} at column 1 is followed by '-'"),
            std::string::npos);
  EXPECT_NE(compile_error("{ip}a.example.", "2001:db8::/32").find("followed by 'a'"),
            std::string::npos);
  EXPECT_NE(compile_error("{d}1.x.", "10.1.2.0/24").find("followed by '1'"), std::string::npos);
  EXPECT_NE(compile_error("-{ip}.x.", "10.0.0.0/8").find("starts with '-'"), std::string::npos);
  EXPECT_NE(compile_error("a.{hex}-.x.", "10.0.0.0/8").find("label 2 ends with '-'"),
            std::string::npos);
  EXPECT_NE(compile_error("ab--{ip}.x.", "10.0.0.0/8").find("positions 3-4"), std::string::npos);
  EXPECT_NE(compile_error("{d}--x.y.", "10.1.2.0/24").find("positions 3-4"), std::string::npos);
  EXPECT_EQ(compile_error("ip_{ip}.x.", "10.0.0.0/8").rfind("character '_' at column 3", 0), 0U);
  EXPECT_EQ(compile_error("ip-{ip.x.", "10.0.0.0/8"), "unterminated '{' at column 4");
  EXPECT_EQ(compile_error("ip-}{ip}.x.", "10.0.0.0/8"), "unexpected '}' at column 4");
  EXPECT_EQ(compile_error("ip..{ip}.x.", "10.0.0.0/8"), "empty label at column 4");
  EXPECT_EQ(compile_error(".{ip}.x.", "10.0.0.0/8"), "empty label at column 1");
  EXPECT_EQ(compile_error("", "10.0.0.0/8"), "template is empty");
  EXPECT_NE(compile_error("{full}-{full}.x.", "2001:db8::/32").find("label 1 can be up to 79"),
            std::string::npos);
  const std::string l60(60, 'a');
  EXPECT_NE(compile_error("{ip}." + l60 + "." + l60 + "." + l60 + "." + l60 + ".", "2001:db8::/32")
                .find("more than 255"),
            std::string::npos);
  auto bad = Template::compile("{ip}.x.", dns::Prefix{A("10.0.0.1"), 8});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), "prefix 10.0.0.1/8 has host bits set");
}

TEST(CoreTemplate, Suffix) {
  const auto t = compile_ok("ip-{a}-{b}-{c}-{d}.pool.example.net.", "10.0.0.0/8");
  EXPECT_EQ(t.literal_suffix(), ".pool.example.net.");
  EXPECT_EQ(t.suffix(), N("pool.example.net."));
  EXPECT_EQ(t.label_count(), 4U);
  const auto t2 = compile_ok("x{ip}y.Example.", "2001:db8::/32");
  EXPECT_EQ(t2.literal_suffix(), "y.example.");
  EXPECT_EQ(t2.suffix(), N("example."));
  EXPECT_EQ(t2.text(), "x{ip}y.example.");
  EXPECT_TRUE(t2.uses(TokenKind::ip));
  EXPECT_FALSE(t2.uses(TokenKind::hex));
  const auto t3 = compile_ok("{d}.{c}.{b}.{a}.static.example.net.", "10.0.0.0/8");
  EXPECT_EQ(t3.literal_suffix(), ".static.example.net.");
  EXPECT_EQ(t3.label_count(), 7U);
}

TEST(CoreTemplate, ForPrefixIsCompileForThatPrefix) {
  const Template t = compile_ok("h-{offset}.V4.x.", "10.0.0.0/24");
  auto moved = t.for_prefix(P("10.0.5.0/24"));
  ASSERT_TRUE(moved) << moved.error();
  const Template direct = compile_ok("h-{offset}.v4.x.", "10.0.5.0/24");
  EXPECT_EQ(moved->prefix(), direct.prefix());
  EXPECT_EQ(moved->text(), direct.text());
  EXPECT_EQ(moved->suffix(), direct.suffix());
  EXPECT_EQ(moved->label_count(), direct.label_count());
  EXPECT_EQ(render(*moved, A("10.0.5.7")), "h-7.v4.x.");
  EXPECT_EQ(render(*moved, A("10.0.0.7")), "");  // outside its prefix now
  EXPECT_EQ(match(*moved, "h-7.v4.x."), A("10.0.5.7"));
  // Another length or family: what compile says.
  const Template d = compile_ok("ip-{d}.x.", "10.0.0.0/24");
  EXPECT_EQ(d.for_prefix(P("10.0.0.0/16")).error(), compile_error("ip-{d}.x.", "10.0.0.0/16"));
  EXPECT_EQ(d.for_prefix(P("2001:db8::/120")).error(),
            compile_error("ip-{d}.x.", "2001:db8::/120"));
}

TEST(CoreTemplate, RenderBounds) {
  const auto t = compile_ok("ip-{ip}.pool.example.net.", "10.0.0.0/8");
  char buf[64];
  EXPECT_EQ(t.render(A("10.1.2.3"), buf, 10), 0U);
  EXPECT_EQ(t.render(A("11.1.2.3"), buf, sizeof buf), 0U);
  EXPECT_EQ(t.render(A("2001:db8::1"), buf, sizeof buf), 0U);
  const std::size_t n = t.render(A("10.1.2.3"), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n), "ip-10-1-2-3.pool.example.net.");
  EXPECT_EQ(t.render(A("10.1.2.3"), buf, n), n);  // exact fit
  Template empty;
  EXPECT_EQ(empty.render(A("10.1.2.3"), buf, sizeof buf), 0U);
  EXPECT_FALSE(empty.matches(N("x.")));
}

TEST(CoreTemplate, HostnameProblem) {
  EXPECT_EQ(hostname_problem("ip-10-1-2-3.example."), "");
  EXPECT_EQ(hostname_problem("ip-10-1-2-3.example"), "");
  EXPECT_NE(hostname_problem(""), "");
  EXPECT_NE(hostname_problem("a..b."), "");
  EXPECT_NE(hostname_problem("-a.b."), "");
  EXPECT_NE(hostname_problem("a-.b."), "");
  EXPECT_NE(hostname_problem("xn--abc.b."), "");
  EXPECT_EQ(hostname_problem("xnx--abc.b."), "");
  EXPECT_NE(hostname_problem("a_b.c."), "");
  EXPECT_NE(hostname_problem(std::string(64, 'a') + "."), "");
  EXPECT_EQ(hostname_problem(std::string(63, 'a') + "."), "");
  std::string long_name;
  for (int i = 0; i < 4; ++i)
    long_name += std::string(63, 'a') + ".";
  EXPECT_NE(hostname_problem(long_name), "");  // 257 octets
}

}  // namespace
}  // namespace amap::mapper
