// SPDX-License-Identifier: MIT
// DNS Cookies (backend/server/cookies.h): SipHash-2-4 against the reference vectors, server
// cookies against the RFC 9018 appendix A vectors, the cookie lifecycle (renewal, expiry,
// skew, rotation with the previous secret accepted) with an explicit clock, and the COOKIE
// option through wire::handle().

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/server/cookies.h"
#include "mapper/wire/handle.h"
#include "tests/unit/wire_test_app.h"
#include "tests/unit/wire_test_util.h"

namespace amap::server {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes hex(std::string_view h) {
  Bytes b;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    b.push_back(static_cast<std::uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return b;
}

std::string to_hex(std::span<const std::uint8_t> b) {
  std::string s;
  char buf[3];
  for (const std::uint8_t c : b) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    s += buf;
  }
  return s;
}

CookieSecret secret(std::string_view h) {
  const Bytes b = hex(h);
  CookieSecret s{};
  std::copy(b.begin(), b.end(), s.begin());
  return s;
}

dns::IpAddress ip(const char* text) {
  return *dns::IpAddress::parse(text);
}

TEST(SipHash, ReferenceVectors) {
  // Key 00 01 .. 0f, message 00 01 .. (n-1): the vectors of the SipHash reference code.
  CookieSecret key{};
  for (std::uint8_t i = 0; i < 16; ++i) {
    key[i] = i;
  }
  Bytes msg;
  for (std::uint8_t i = 0; i < 64; ++i) {
    msg.push_back(i);
  }
  auto at = [&](std::size_t n) { return siphash24(key, std::span(msg.data(), n)); };
  EXPECT_EQ(at(0), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(at(1), 0x74f839c593dc67fdULL);
  EXPECT_EQ(at(8), 0x93f5f5799a932462ULL);
  EXPECT_EQ(at(15), 0xa129ca6149be45e5ULL);  // the example of the SipHash paper
}

std::string server_cookie(std::string_view secret_hex, std::string_view client_hex,
                          const char* address, std::uint32_t timestamp,
                          std::string_view reserved_hex = "000000") {
  const Bytes client = hex(client_hex);
  const Bytes reserved = hex(reserved_hex);
  std::array<std::uint8_t, wire::kServerCookieSize> out{};
  make_server_cookie(secret(secret_hex), std::span<const std::uint8_t, 8>(client.data(), 8),
                     ip(address), timestamp, out,
                     std::span<const std::uint8_t, 3>(reserved.data(), 3));
  return to_hex(out);
}

TEST(Cookies, Rfc9018AppendixAVectors) {
  // A.1: learning a new server cookie.
  EXPECT_EQ(server_cookie("e5e973e5a6b2a43f48e7dc849e37bfcf", "2464c4abcf10c957", "198.51.100.100",
                          1559731985),
            "010000005cf79f111f8130c3eee29480");
  // A.2: the same client, 40 minutes later, gets a renewed one.
  EXPECT_EQ(server_cookie("e5e973e5a6b2a43f48e7dc849e37bfcf", "2464c4abcf10c957", "198.51.100.100",
                          1559734385),
            "010000005cf7a871d4a564a1442aca77");
  // A.3: the cookie another client returns (reserved bytes set: they are part of the hash),
  // and the renewed one it gets.
  EXPECT_EQ(server_cookie("e5e973e5a6b2a43f48e7dc849e37bfcf", "fc93fc62807ddb86", "203.0.113.203",
                          0x5cf78f71, "abcdef"),
            "01abcdef5cf78f71a314227b6679ebf5");
  EXPECT_EQ(server_cookie("e5e973e5a6b2a43f48e7dc849e37bfcf", "fc93fc62807ddb86", "203.0.113.203",
                          1559734700),
            "010000005cf7a9acf73a7810aca2381e");
  // A.4: an IPv6 client returns a cookie of the old secret and gets one of the new.
  EXPECT_EQ(server_cookie("dd3bdf9344b678b185a6f5cb60fca715", "22681ab97d52c298",
                          "2001:db8:220:1:59de:d0f4:8769:82b8", 0x5cf7c579),
            "010000005cf7c57926556bd0934c72f8");
  EXPECT_EQ(server_cookie("445536bcd2513298075a5d379663c962", "22681ab97d52c298",
                          "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961),
            "010000005cf7c609a6bb79d16625507a");
}

struct Signed {
  bool valid;
  Bytes cookie;  // the server cookie of the answer
};

Signed sign(const CookieJar& jar, const Bytes& client, const Bytes& server, const char* address,
            std::uint64_t now) {
  std::array<std::uint8_t, wire::kServerCookieSize> out{};
  const bool valid = jar.sign_at(std::span<const std::uint8_t, 8>(client.data(), 8), server,
                                 ip(address), now, out);
  return Signed{valid, Bytes(out.begin(), out.end())};
}

std::uint32_t stamp_of(const Bytes& c) {
  return (std::uint32_t{c[4]} << 24) | (std::uint32_t{c[5]} << 16) | (std::uint32_t{c[6]} << 8) |
         c[7];
}

TEST(Cookies, LifecycleOfAServerCookie) {
  CookieOptions o;
  o.enabled = true;
  o.secret = secret("000102030405060708090a0b0c0d0e0f");
  o.rotate_seconds = 86400;
  const CookieJar jar(o);
  const Bytes client = hex("0123456789abcdef");
  const std::uint64_t t0 = 1'700'000'000 / 86400 * 86400 + 1000;  // early in a period

  const Signed first = sign(jar, client, {}, "192.0.2.7", t0);  // client cookie only
  EXPECT_FALSE(first.valid);
  EXPECT_EQ(first.cookie[0], 1U);
  EXPECT_EQ(stamp_of(first.cookie), t0);

  // Returned within half an hour: valid, and sent back unchanged.
  const Signed again = sign(jar, client, first.cookie, "192.0.2.7", t0 + 1799);
  EXPECT_TRUE(again.valid);
  EXPECT_EQ(again.cookie, first.cookie);
  // After half an hour: still valid, but renewed.
  const Signed worn = sign(jar, client, first.cookie, "192.0.2.7", t0 + 1800);
  EXPECT_TRUE(worn.valid);
  EXPECT_EQ(stamp_of(worn.cookie), t0 + 1800);
  // An hour is the limit; a second more and it is not taken (a new one is issued).
  EXPECT_TRUE(sign(jar, client, first.cookie, "192.0.2.7", t0 + 3600).valid);
  const Signed expired = sign(jar, client, first.cookie, "192.0.2.7", t0 + 3601);
  EXPECT_FALSE(expired.valid);
  EXPECT_EQ(stamp_of(expired.cookie), t0 + 3601);
  // Five minutes of clock skew are tolerated, not more.
  EXPECT_TRUE(sign(jar, client, first.cookie, "192.0.2.7", t0 - 300).valid);
  EXPECT_FALSE(sign(jar, client, first.cookie, "192.0.2.7", t0 - 301).valid);
  // Bound to the address and the client cookie.
  EXPECT_FALSE(sign(jar, client, first.cookie, "192.0.2.8", t0 + 1).valid);
  EXPECT_FALSE(sign(jar, hex("0123456789abcdee"), first.cookie, "192.0.2.7", t0 + 1).valid);
  // Another version, another length, a flipped hash bit: not ours.
  Bytes bad = first.cookie;
  bad[15] ^= 1;
  EXPECT_FALSE(sign(jar, client, bad, "192.0.2.7", t0 + 1).valid);
  bad = first.cookie;
  bad[0] = 2;
  EXPECT_FALSE(sign(jar, client, bad, "192.0.2.7", t0 + 1).valid);
  EXPECT_FALSE(
      sign(jar, client, Bytes(first.cookie.begin(), first.cookie.begin() + 8), "192.0.2.7", t0 + 1)
          .valid);
  // Another server with another secret does not take it.
  CookieOptions other = o;
  other.secret[0] ^= 0x80;
  EXPECT_FALSE(sign(CookieJar(other), client, first.cookie, "192.0.2.7", t0 + 1).valid);
}

TEST(Cookies, RotationAcceptsThePreviousSecretOnly) {
  CookieOptions o;
  o.enabled = true;
  o.secret = secret("f0e1d2c3b4a5968778695a4b3c2d1e0f");
  o.rotate_seconds = 600;
  const CookieJar jar(o);
  EXPECT_NE(jar.period_secret(7), jar.period_secret(8));
  const Bytes client = hex("a1a2a3a4a5a6a7a8");
  const std::uint64_t end_of_period = 1'700'000'400 / 600 * 600 + 599;
  const Signed made = sign(jar, client, {}, "2001:db8::5", end_of_period);
  // A second later the secret has rotated: the cookie of the previous one is still valid,
  // and is renewed with the current secret.
  const Signed next = sign(jar, client, made.cookie, "2001:db8::5", end_of_period + 1);
  EXPECT_TRUE(next.valid);
  EXPECT_NE(next.cookie, made.cookie);
  EXPECT_TRUE(sign(jar, client, next.cookie, "2001:db8::5", end_of_period + 2).valid);
  // Two rotations later (within the hour) the first secret is gone.
  EXPECT_FALSE(sign(jar, client, made.cookie, "2001:db8::5", end_of_period + 601).valid);
  EXPECT_THROW(CookieJar(CookieOptions{true, o.secret, 59}), std::invalid_argument);
}

TEST(Cookies, SecretFile) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("automap-cookie-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  EXPECT_EQ(read_cookie_secret(write("good", "  e5e973e5a6b2a43f48e7dc849e37bfcf\n")),
            secret("e5e973e5a6b2a43f48e7dc849e37bfcf"));
  for (const char* bad :
       {"", "e5e973e5a6b2a43f48e7dc849e37bfc", "e5e973e5a6b2a43f48e7dc849e37bfcf00",
        "g5e973e5a6b2a43f48e7dc849e37bfcf"}) {
    const std::string path = write("bad", bad);
    try {
      (void)read_cookie_secret(path);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(path + ": expected 32 hex digits"), std::string::npos)
          << e.what();
    }
  }
  try {
    (void)read_cookie_secret((dir / "missing").string());
    ADD_FAILURE() << "a missing file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing: cannot open: No such file"), std::string::npos)
        << e.what();
  }
  std::filesystem::remove_all(dir);
}

// --- through wire::handle ------------------------------------------------------------------

struct Exchange {
  wiretest::Response response;
  Bytes raw;
  bool valid;
};

Exchange ask(const app::App& a, const wire::CookieSigner* cookies, const wiretest::Query& q,
             const char* client = "192.0.2.7") {
  app::Worker worker(a);
  wire::Counters counters;
  Bytes out(wire::kMaxMessage);
  wire::Policy policy;
  policy.cookies = cookies;
  wire::QueryInfo info;
  const Bytes in = q.build();
  const std::size_t len = wire::handle(worker, in, wire::Transport::udp, ip(client), ip("::1"), out,
                                       counters, policy, &info);
  out.resize(len);
  return Exchange{wiretest::decode(out), out, info.valid_server_cookie};
}

Bytes cookie_option(const Bytes& cookie) {
  Bytes o;
  wiretest::put16(o, 10);
  wiretest::put16(o, static_cast<unsigned>(cookie.size()));
  for (const std::uint8_t b : cookie) {
    o.push_back(b);
  }
  return o;
}

/// The COOKIE option's data in a response's OPT, empty when there is none.
Bytes cookie_of(const wiretest::Response& r) {
  const Bytes rd = r.opt().rdata;
  for (std::size_t p = 0; p + 4 <= rd.size();) {
    const unsigned code = (rd[p] << 8) | rd[p + 1];
    const unsigned len = (rd[p + 2] << 8) | rd[p + 3];
    if (code == 10) {
      return Bytes(rd.begin() + static_cast<std::ptrdiff_t>(p + 4),
                   rd.begin() + static_cast<std::ptrdiff_t>(p + 4 + len));
    }
    p += 4 + len;
  }
  return {};
}

CookieJar test_jar() {
  CookieOptions o;
  o.enabled = true;
  o.secret = secret("e5e973e5a6b2a43f48e7dc849e37bfcf");
  return CookieJar(o);
}

TEST(CookiesWire, AClientCookieGetsTheServerCookieAndTheNormalAnswer) {
  const auto app = testapp::make_wire_test_app();
  const CookieJar jar = test_jar();
  wiretest::Query q;
  q.qname = "www.hello.example.";
  q.edns = true;
  q.options = cookie_option(hex("2464c4abcf10c957"));
  const Exchange first = ask(*app, &jar, q);
  EXPECT_EQ(first.response.rcode(), 0U);
  EXPECT_EQ(first.response.an, 1U);
  EXPECT_FALSE(first.valid);
  const Bytes cookie = cookie_of(first.response);
  ASSERT_EQ(cookie.size(), 24U);
  EXPECT_EQ(Bytes(cookie.begin(), cookie.begin() + 8), hex("2464c4abcf10c957"));
  EXPECT_EQ(cookie[8], 1U);  // RFC 9018 version

  // The whole cookie back: valid (what exempts the client from RRL), the same cookie comes
  // back; ECS in the same OPT is still echoed.
  q.options = cookie_option(cookie);
  const Bytes ecs = {0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100};
  q.options.insert(q.options.end(), ecs.begin(), ecs.end());
  const Exchange second = ask(*app, &jar, q);
  EXPECT_TRUE(second.valid);
  EXPECT_EQ(cookie_of(second.response), cookie);
  EXPECT_EQ(second.response.an, 1U);
  EXPECT_EQ(second.response.opt().rdata.size(), 28U + 11U);  // COOKIE + ECS
  // From another address it is not valid, and the query is still answered.
  const Exchange elsewhere = ask(*app, &jar, q, "192.0.2.8");
  EXPECT_FALSE(elsewhere.valid);
  EXPECT_EQ(elsewhere.response.an, 1U);
  EXPECT_NE(cookie_of(elsewhere.response), cookie);

  // Truncated and error answers carry the cookie too.
  q.qname = "big.hello.example.";
  q.qtype = 16;
  const Exchange big = ask(*app, &jar, q);
  EXPECT_TRUE(big.response.tc());
  EXPECT_EQ(cookie_of(big.response).size(), 24U);
  q.qname = "example.org.";
  const Exchange refused = ask(*app, &jar, q);
  EXPECT_EQ(refused.response.rcode(), 5U);
  EXPECT_EQ(cookie_of(refused.response).size(), 24U);
}

TEST(CookiesWire, AMalformedCookieIsFormerrOnlyWhenCookiesAreOn) {
  const auto app = testapp::make_wire_test_app();
  const CookieJar jar = test_jar();
  for (const std::size_t n : {0U, 1U, 7U, 9U, 15U, 41U}) {
    wiretest::Query q;
    q.qname = "www.hello.example.";
    q.edns = true;
    q.options = cookie_option(Bytes(n, 0xAB));
    const Exchange on = ask(*app, &jar, q);
    EXPECT_EQ(on.response.rcode(), 1U) << n << " bytes";
    EXPECT_EQ(on.response.an, 0U);
    EXPECT_TRUE(cookie_of(on.response).empty());
    const Exchange off = ask(*app, nullptr, q);
    EXPECT_EQ(off.response.rcode(), 0U) << n << " bytes";
    EXPECT_EQ(off.response.an, 1U);
  }
  for (const std::size_t n : {8U, 16U, 24U, 40U}) {
    wiretest::Query q;
    q.edns = true;
    q.options = cookie_option(Bytes(n, 0xAB));
    const Exchange on = ask(*app, &jar, q);
    EXPECT_EQ(on.response.rcode(), 0U) << n << " bytes";
    EXPECT_FALSE(on.valid);
    EXPECT_EQ(cookie_of(on.response).size(), 24U);
  }
}

TEST(CookiesWire, AnswersWithoutACookieAreByteIdentical) {
  const auto app = testapp::make_wire_test_app();
  const CookieJar jar = test_jar();
  for (const bool edns : {false, true}) {
    for (const char* name : {"www.hello.example.", "big.hello.example.", "nope.hello.example."}) {
      wiretest::Query q;
      q.qname = name;
      q.edns = edns;
      q.qtype = 16;
      EXPECT_EQ(ask(*app, &jar, q).raw, ask(*app, nullptr, q).raw) << name << " edns " << edns;
    }
  }
  // With cookies off, a COOKIE option is ignored like any unknown one.
  wiretest::Query plain;
  plain.edns = true;
  wiretest::Query with = plain;
  with.options = cookie_option(hex("2464c4abcf10c957"));
  EXPECT_EQ(ask(*app, nullptr, with).raw, ask(*app, nullptr, plain).raw);
}

}  // namespace
}  // namespace amap::server
