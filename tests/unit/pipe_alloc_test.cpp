// SPDX-License-Identifier: MIT
// "No allocation per query": this binary replaces the global operator new with a counting
// one (tests/unit/alloc_counter.h), warms a Session up, then runs 10k mixed lines (every qtype
// the examples answer, SOA walks, names outside the zone, ECS, malformed lines, AXFR, CMD
// stats) and expects zero calls inside the measured loop.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/pipe/session.h"
#include "tests/unit/alloc_counter.h"
#include "tests/unit/pipe_test_support.h"

namespace amap::pipe {
namespace {

std::vector<std::string> mixed_lines(std::string_view zone) {
  const std::string z(zone);
  std::vector<std::string> base;
  auto q = [&](const std::string& name, const char* type, const char* remote, const char* ecs) {
    base.push_back("Q\t" + name + "\tIN\t" + type + "\t-1\t" + remote + "\t192.0.2.53\t" + ecs);
  };
  for (const char* type : {"ANY", "SOA", "TXT", "A", "AAAA", "NS", "MX", "TYPE65280"}) {
    q(z, type, "192.0.2.1", "192.0.2.1/32");
    q(z, type, "192.0.2.1", "198.51.100.0/24");
    q(z, type, "2001:db8::1%eth0", "2001:db8::1/128");
    q(z, type, "2001:db8::1", "2001:db8:aa::/56");
  }
  q("A.b." + z, "SOA", "192.0.2.1", "192.0.2.1/32");
  q("b." + z, "SOA", "192.0.2.1", "192.0.2.1/32");
  q("nope." + z, "ANY", "192.0.2.1", "192.0.2.1/32");
  q("example.org", "ANY", "192.0.2.1", "192.0.2.1/32");
  q(".", "SOA", "0.0.0.0", "0.0.0.0/0");
  base.push_back("Q\t" + z + "\tIN\tTXT");  // wrong field count
  base.push_back("Q\tbad..name\tIN\tA\t-1\t1.2.3.4\t1.2.3.4\t1.2.3.4/32");
  base.push_back("BOGUS\tline");
  base.push_back("");
  base.push_back("AXFR\t1");
  base.push_back("CMD\tstats");  // LOG + FAIL on ABI 3
  return base;
}

void expect_no_allocations(std::string_view app_name, std::string_view zone) {
  const app::App app = test::example_app(app_name);
  app::Worker worker(app);
  Session session(worker, test::example_options(app_name));
  ASSERT_EQ(std::string(session.handle_line("HELO\t3")).substr(0, 3), "OK\t");
  const std::vector<std::string> base = mixed_lines(zone);
  // Warm-up: every line once (first-use costs such as lazy statics are not per query).
  for (const auto& l : base) {
    (void)session.handle_line(l);
  }
  constexpr std::size_t kLines = 10000;
  std::size_t bytes = 0;
  std::size_t ends = 0;
  const std::size_t before = testing::allocation_count();
  for (std::size_t i = 0; i < kLines; ++i) {
    const std::string_view r = session.handle_line(base[(i * 7) % base.size()]);
    bytes += r.size();
    ends += r.ends_with("END\n") ? 1U : 0U;
  }
  EXPECT_EQ(testing::allocation_count() - before, 0U) << app_name;
  EXPECT_GT(bytes, kLines * 4);
  EXPECT_GT(ends, kLines / 2);
}

TEST(pipe_alloc, CountingOperatorNewWorks) {
  const std::size_t before = testing::allocation_count();
  static std::string* volatile sink = nullptr;  // keeps the compiler from eliding new
  sink = new std::string(100, 'x');
  const std::size_t after = testing::allocation_count();
  delete sink;
  EXPECT_GE(after - before, 1U);
}

TEST(pipe_alloc, NoAllocationPerQueryHello) {
  expect_no_allocations("hello", "hello.example");
}

TEST(pipe_alloc, NoAllocationPerQueryWhoami) {
  expect_no_allocations("whoami", "whoami.example");
}

}  // namespace
}  // namespace amap::pipe
