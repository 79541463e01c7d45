// SPDX-License-Identifier: MIT
// Response rate limiting (backend/server/rrl.h): the rate per client prefix, the slip ratio,
// SERVFAIL never slipped, the whitelist, prefix grouping, the table shared by workers, the
// truncated form of a slipped answer, and no allocation per checked answer. The clock is an
// argument, so nothing here depends on timing.

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

#include "backend/server/cookies.h"
#include "backend/server/rrl.h"
#include "mapper/wire/handle.h"
#include "tests/unit/alloc_counter.h"
#include "tests/unit/wire_test_app.h"
#include "tests/unit/wire_test_util.h"

namespace amap::server {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kStart = 1000 * kSecond;  // any monotonic reading
constexpr std::uint8_t kNoError = 0;
constexpr std::uint8_t kServfail = 2;

dns::IpAddress ip(const char* text) {
  return *dns::IpAddress::parse(text);
}

RrlOptions options(std::uint32_t rate, std::uint32_t slip) {
  RrlOptions o;
  o.enabled = true;
  o.responses_per_second = rate;
  o.slip = slip;
  return o;
}

/// Sends `n` answers to `client` at `now`; returns how many were under the limit.
unsigned sent(ResponseRateLimiter& rrl, const char* client, unsigned n, std::uint64_t now,
              RrlCounters& c, std::uint8_t rcode = kNoError) {
  unsigned ok = 0;
  for (unsigned i = 0; i < n; ++i) {
    ok += rrl.check(ip(client), rcode, now, c) == RrlVerdict::send ? 1U : 0U;
  }
  return ok;
}

TEST(Rrl, AllowsTheRateAsABurstThenRefillsAtTheRate) {
  ResponseRateLimiter rrl(options(10, 0));
  RrlCounters c;
  EXPECT_EQ(sent(rrl, "192.0.2.1", 25, kStart, c), 10U);  // one second's worth at once
  EXPECT_EQ(c.limited, 15U);
  EXPECT_EQ(c.dropped, 15U);
  EXPECT_EQ(c.slipped, 0U);
  // 1/10 s later exactly one more answer is due; 0.35 s later three.
  EXPECT_EQ(sent(rrl, "192.0.2.1", 5, kStart + kSecond / 10, c), 1U);
  EXPECT_EQ(sent(rrl, "192.0.2.1", 5, kStart + kSecond / 10 + kSecond * 35 / 100, c), 3U);
  // Idle for a long time: the burst is back, never more.
  EXPECT_EQ(sent(rrl, "192.0.2.1", 30, kStart + 60 * kSecond, c), 10U);
  // A steady 10/s stream is never limited: one answer every 100 ms for 5 s.
  RrlCounters steady;
  const std::uint64_t t0 = kStart + 120 * kSecond;
  unsigned ok = 0;
  for (unsigned i = 0; i < 50; ++i) {
    ok += sent(rrl, "192.0.2.1", 1, t0 + i * kSecond / 10, steady);
  }
  EXPECT_EQ(ok, 50U);
  EXPECT_EQ(steady.limited, 0U);
}

TEST(Rrl, SlipsEveryNthLimitedAnswerAndDropsTheOthers) {
  for (const std::uint32_t slip : {0U, 1U, 2U, 3U}) {
    ResponseRateLimiter rrl(options(5, slip));
    RrlCounters c;
    ASSERT_EQ(sent(rrl, "198.51.100.7", 5, kStart, c), 5U);
    std::vector<RrlVerdict> got;
    for (unsigned i = 0; i < 12; ++i) {
      got.push_back(rrl.check(ip("198.51.100.7"), kNoError, kStart, c));
    }
    for (unsigned i = 0; i < 12; ++i) {
      const bool turn = slip != 0 && (i + 1) % slip == 0;
      EXPECT_EQ(got[i], turn ? RrlVerdict::slip : RrlVerdict::drop) << "slip " << slip << " #" << i;
    }
    EXPECT_EQ(c.limited, 12U);
    EXPECT_EQ(c.slipped, slip == 0 ? 0U : 12U / slip);
    EXPECT_EQ(c.slipped + c.dropped, c.limited);
  }
}

TEST(Rrl, NeverSlipsAServfail) {
  ResponseRateLimiter rrl(options(2, 1));  // slip 1: every limited answer would be truncated
  RrlCounters c;
  EXPECT_EQ(sent(rrl, "203.0.113.9", 2, kStart, c, kServfail), 2U);
  for (unsigned i = 0; i < 6; ++i) {
    EXPECT_EQ(rrl.check(ip("203.0.113.9"), kServfail, kStart, c), RrlVerdict::drop);
  }
  EXPECT_EQ(rrl.check(ip("203.0.113.9"), kNoError, kStart, c), RrlVerdict::slip);
  EXPECT_EQ(c.limited, 7U);
  EXPECT_EQ(c.dropped, 6U);
  EXPECT_EQ(c.slipped, 1U);
}

TEST(Rrl, WhitelistedClientsAreNeverLimitedNorCounted) {
  RrlOptions o = options(3, 2);
  o.whitelist = {*dns::Prefix::parse("192.0.2.0/25"), *dns::Prefix::parse("2001:db8:1::/48")};
  ResponseRateLimiter rrl(o);
  RrlCounters c;
  EXPECT_EQ(sent(rrl, "192.0.2.100", 1000, kStart, c), 1000U);
  EXPECT_EQ(sent(rrl, "2001:db8:1:ffff::1", 1000, kStart, c), 1000U);
  EXPECT_EQ(c.limited, 0U);
  // The other half of the /24 is not in the whitelist, and its bucket is untouched by the
  // exempt traffic of the same /24.
  EXPECT_EQ(sent(rrl, "192.0.2.200", 10, kStart, c), 3U);
  EXPECT_EQ(c.limited, 7U);
  EXPECT_TRUE(rrl.exempt(ip("192.0.2.1")));
  EXPECT_FALSE(rrl.exempt(ip("192.0.2.128")));
}

TEST(Rrl, GroupsClientsByTheirConfiguredPrefix) {
  ResponseRateLimiter rrl(options(4, 0));  // /24 and /56
  RrlCounters c;
  // The whole /24 shares one budget...
  EXPECT_EQ(sent(rrl, "192.0.2.1", 2, kStart, c) + sent(rrl, "192.0.2.254", 5, kStart, c), 4U);
  // ... the next /24 has its own, and so do IPv6 clients.
  EXPECT_EQ(sent(rrl, "192.0.3.1", 10, kStart, c), 4U);
  EXPECT_EQ(sent(rrl, "2001:db8:0:ff::1", 2, kStart, c) +
                sent(rrl, "2001:db8:0:1:ffff:ffff:ffff:ffff", 5, kStart, c),
            4U);                                                 // same /56
  EXPECT_EQ(sent(rrl, "2001:db8:0:100::1", 10, kStart, c), 4U);  // the next /56

  RrlOptions o = options(4, 0);
  o.ipv4_prefix = 32;
  o.ipv6_prefix = 128;
  ResponseRateLimiter per_host(o);
  EXPECT_EQ(sent(per_host, "192.0.2.1", 10, kStart, c), 4U);
  EXPECT_EQ(sent(per_host, "192.0.2.2", 10, kStart, c), 4U);
  EXPECT_EQ(sent(per_host, "2001:db8::1", 10, kStart, c), 4U);
  EXPECT_EQ(sent(per_host, "2001:db8::2", 10, kStart, c), 4U);
}

TEST(Rrl, WorkersShareOneBudgetPerPrefix) {
  // Four threads answer the same /24 at the same instant: the prefix still gets exactly its
  // rate, however the CASes interleave.
  ResponseRateLimiter rrl(options(1000, 0));
  std::vector<RrlCounters> counters(4);
  std::vector<unsigned> ok(4, 0);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] { ok[t] = sent(rrl, "10.9.8.7", 2000, kStart, counters[t]); });
  }
  for (auto& th : threads) {
    th.join();
  }
  RrlCounters total;
  for (const auto& c : counters) {
    total += c;
  }
  EXPECT_EQ(ok[0] + ok[1] + ok[2] + ok[3], 1000U);
  EXPECT_EQ(total.limited, 7000U);
}

TEST(Rrl, RejectsBadOptions) {
  EXPECT_THROW(ResponseRateLimiter(options(0, 2)), std::invalid_argument);
  RrlOptions o = options(10, 2);
  o.ipv4_prefix = 33;
  EXPECT_THROW((ResponseRateLimiter(o)), std::invalid_argument);
  o = options(10, 2);
  o.ipv6_prefix = 129;
  EXPECT_THROW((ResponseRateLimiter(o)), std::invalid_argument);
  o = options(10, 2);
  o.table_size = 0;
  EXPECT_THROW((ResponseRateLimiter(o)), std::invalid_argument);
  o.table_size = 1000;
  EXPECT_EQ(ResponseRateLimiter(o).buckets(), 1024U);
}

/// The answer handle() gives to `q` over UDP.
wiretest::Bytes answer(const app::App& a, const wiretest::Query& q) {
  app::Worker worker(a);
  wire::Counters counters;
  wiretest::Bytes out(wire::kMaxMessage);
  const wiretest::Bytes in = q.build();
  const std::size_t len =
      wire::handle(worker, in, wire::Transport::udp, ip("192.0.2.1"), ip("::1"), out, counters);
  out.resize(len);
  return out;
}

TEST(Rrl, ASlippedAnswerIsTruncatedWithItsQuestionAndOpt) {
  const auto app = testapp::make_wire_test_app();
  ResponseRateLimiter rrl(options(1, 1));
  RrlCounters c;
  wiretest::Query q;
  q.qname = "www.hello.example.";
  q.qtype = 1;
  q.edns = true;
  q.dnssec_ok = true;
  q.options = {0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100};  // ECS: echoed in the OPT
  wiretest::Bytes full = answer(*app, q);
  const wiretest::Response before = wiretest::decode(full);
  ASSERT_EQ(before.an, 1U);
  ASSERT_TRUE(before.has_opt());
  // The first answer is within the rate and goes out untouched.
  EXPECT_EQ(rrl.limit_answer(ip("192.0.2.1"), full, full.size(), kStart, c), full.size());
  const std::size_t len = rrl.limit_answer(ip("192.0.2.1"), full, full.size(), kStart, c);
  ASSERT_GT(len, 0U);
  full.resize(len);
  const wiretest::Response r = wiretest::decode(full);
  EXPECT_TRUE(r.tc());
  EXPECT_TRUE(r.aa());
  EXPECT_TRUE(r.rd());
  EXPECT_EQ(r.id, before.id);
  EXPECT_EQ(r.rcode(), 0U);
  EXPECT_EQ(r.qname, "www.hello.example.");
  EXPECT_EQ(r.qtype, 1U);
  EXPECT_EQ(r.an + r.ns, 0U);
  ASSERT_EQ(r.ar, 1U);
  EXPECT_EQ(r.opt().rdata, before.opt().rdata);  // the same OPT, ECS and DO kept
  EXPECT_EQ(r.opt().ttl, before.opt().ttl);
  EXPECT_EQ(c.slipped, 1U);

  // Without EDNS, and with glue in the additional section: question only.
  wiretest::Query mx;
  mx.qname = "mx.hello.example.";
  mx.qtype = 15;
  wiretest::Bytes plain = answer(*app, mx);
  const std::size_t plain_len = rrl.limit_answer(ip("192.0.2.1"), plain, plain.size(), kStart, c);
  plain.resize(plain_len);
  const wiretest::Response p = wiretest::decode(plain);
  EXPECT_TRUE(p.tc());
  EXPECT_EQ(p.an + p.ns + p.ar, 0U);
  EXPECT_EQ(p.qname, "mx.hello.example.");
  EXPECT_EQ(plain_len, 12U + wiretest::name_wire("mx.hello.example.").size() + 4U);
}

TEST(Rrl, ALimitedServfailIsDroppedWhole) {
  const auto app = testapp::make_wire_test_app();
  ResponseRateLimiter rrl(options(1, 1));
  RrlCounters c;
  wiretest::Query q;
  q.qname = "boom.hello.example.";
  wiretest::Bytes a = answer(*app, q);
  ASSERT_EQ(wiretest::decode(a).rcode(), 2U);
  EXPECT_EQ(rrl.limit_answer(ip("192.0.2.1"), a, a.size(), kStart, c), a.size());
  EXPECT_EQ(rrl.limit_answer(ip("192.0.2.1"), a, a.size(), kStart, c), 0U);
  EXPECT_EQ(c.dropped, 1U);
  EXPECT_EQ(c.slipped, 0U);
}

TEST(RrlAlloc, HandleCookiesAndLimitDoNotAllocate) {
  const auto app = testapp::make_wire_test_app();
  CookieOptions co;
  co.enabled = true;
  co.secret = random_cookie_secret();
  const CookieJar jar(co);
  wire::Policy policy;
  policy.cookies = &jar;
  RrlOptions o = options(50, 2);
  o.whitelist = {*dns::Prefix::parse("10.0.0.0/8")};
  ResponseRateLimiter rrl(o);
  RrlCounters c;
  app::Worker worker(*app);
  wire::Counters counters;
  std::vector<std::uint8_t> out(wire::kMaxMessage);
  std::vector<wiretest::Bytes> qs;
  for (const char* name : {"www.hello.example.", "mx.hello.example.", "nope.hello.example."}) {
    wiretest::Query q;
    q.qname = name;
    q.edns = true;
    qs.push_back(q.build());
  }
  // With a client cookie, and with the valid server cookie 192.0.2.1 is given.
  wiretest::Query cq;
  cq.edns = true;
  cq.options = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  qs.push_back(cq.build());
  std::array<std::uint8_t, wire::kServerCookieSize> server{};
  (void)jar.sign(std::span<const std::uint8_t, 8>(cq.options.data() + 4, 8), {}, ip("192.0.2.1"),
                 server);
  cq.options[3] = 24;
  cq.options.insert(cq.options.end(), server.begin(), server.end());
  qs.push_back(cq.build());
  const dns::IpAddress clients[] = {ip("192.0.2.1"), ip("10.1.2.3"), ip("2001:db8::53")};
  std::size_t valid = 0;
  auto one = [&](std::size_t i) {
    const dns::IpAddress& client = clients[i % 3];
    wire::QueryInfo info;
    const std::size_t len = wire::handle(worker, qs[i % qs.size()], wire::Transport::udp, client,
                                         client, out, counters, policy, &info);
    valid += info.valid_server_cookie ? 1 : 0;
    return info.valid_server_cookie ? len
                                    : rrl.limit_answer(client, out, len, kStart + i * 1000, c);
  };
  for (std::size_t i = 0; i < 30; ++i) {
    (void)one(i);
  }
  std::size_t bytes = 0;
  const std::size_t before = testing::allocation_count();
  for (std::size_t i = 0; i < 10000; ++i) {
    bytes += one(i);
  }
  EXPECT_EQ(testing::allocation_count() - before, 0U);
  EXPECT_GT(bytes, 0U);
  EXPECT_GT(c.slipped, 0U);
  EXPECT_GT(c.dropped, 0U);
  EXPECT_GT(valid, 0U);
}

}  // namespace
}  // namespace amap::server
