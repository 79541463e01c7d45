// SPDX-License-Identifier: MIT
// "No allocation per query", enforced: the global operator new is replaced by a counting one;
// after a warm-up, 10k mixed queries through wire::handle() must not allocate at all.

#include <gtest/gtest.h>

#include "mapper/wire/handle.h"
#include "tests/unit/alloc_counter.h"
#include "tests/unit/wire_test_app.h"
#include "tests/unit/wire_test_util.h"

namespace amap::wire {
namespace {

using wiretest::Bytes;
using wiretest::Query;

std::vector<Bytes> mixed_queries() {
  std::vector<Bytes> qs;
  auto add = [&](std::string name, std::uint16_t type, bool edns, std::uint16_t cls = 1) {
    Query q;
    q.qname = std::move(name);
    q.qtype = type;
    q.qclass = cls;
    q.edns = edns;
    if (edns) {
      q.options = {0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100};  // ECS
    }
    qs.push_back(q.build());
  };
  add("hello.example.", 16, false);
  add("hello.example.", 6, true);
  add("HeLLo.Example.", 2, false);
  add("www.hello.example.", 1, true);
  add("www.hello.example.", 28, false);
  add("alias.hello.example.", 1, false);
  add("mx.hello.example.", 15, true);
  add("b.hello.example.", 1, false);    // ENT NODATA
  add("nope.hello.example.", 1, true);  // NXDOMAIN
  add("example.org.", 1, false);        // REFUSED
  add("big.hello.example.", 16, true);  // truncated
  add("1.2.0.192.in-addr.arpa.", 12, false);
  add("hello.example.", 255, false);   // ANY: TC
  add("hello.example.", 252, false);   // AXFR: NOTIMP
  add("version.bind.", 16, false, 3);  // CH: REFUSED
  Query v1;
  v1.edns = true;
  v1.version = 1;
  qs.push_back(v1.build());   // BADVERS
  qs.push_back(Bytes(5, 0));  // drop
  Bytes two = Query{}.build();
  two[5] = 2;
  qs.push_back(two);  // FORMERR
  return qs;
}

TEST(WireAlloc, HandleDoesNotAllocateAfterWarmUp) {
  const auto app = testapp::make_wire_test_app();
  app::Worker worker(*app);
  std::vector<std::uint8_t> out(kMaxMessage);
  Counters counters;
  const std::vector<Bytes> qs = mixed_queries();
  const auto remote = *dns::IpAddress::parse("192.0.2.99");
  const auto local = *dns::IpAddress::parse("::1");
  for (const Bytes& q : qs) {
    (void)handle(worker, q, Transport::udp, remote, local, out, counters);
    (void)handle(worker, q, Transport::tcp, remote, local, out, counters);
  }
  std::size_t bytes = 0;
  const std::size_t before = testing::allocation_count();
  for (std::size_t i = 0; i < 10000; ++i) {
    const Bytes& q = qs[i % qs.size()];
    bytes += handle(worker, q, i % 3 == 0 ? Transport::tcp : Transport::udp, remote, local, out,
                    counters);
  }
  const std::size_t after = testing::allocation_count();
  EXPECT_EQ(after - before, 0U);
  EXPECT_GT(bytes, 10000U);
  EXPECT_EQ(counters.received, 10000U + 2 * qs.size());
}

// The identity answers (NSID, CH TXT id.server. / hostname.bind. / version.bind.) on the same
// path: still no allocation once warm.
TEST(WireAlloc, IdentityAnswersDoNotAllocate) {
  const auto app = testapp::make_wire_test_app();
  app::Worker worker(*app);
  std::vector<std::uint8_t> out(kMaxMessage);
  Counters counters;
  Policy policy;
  policy.nsid = "node-1";
  policy.server_id = "node-1.example.net";
  policy.version = "automap test";
  std::vector<Bytes> qs = mixed_queries();
  for (const char* name : {"id.server.", "HOSTNAME.bind.", "version.bind.", "version.server."}) {
    Query q;
    q.qname = name;
    q.qtype = 16;
    q.qclass = 3;
    qs.push_back(q.build());
  }
  Query nsid;
  nsid.qname = "hello.example.";
  nsid.qtype = 1;
  nsid.edns = true;
  nsid.options = {0, 3, 0, 0};  // an empty NSID option
  qs.push_back(nsid.build());
  const auto remote = *dns::IpAddress::parse("192.0.2.99");
  const auto local = *dns::IpAddress::parse("::1");
  for (const Bytes& q : qs) {
    (void)handle(worker, q, Transport::udp, remote, local, out, counters, policy);
  }
  const std::size_t before = testing::allocation_count();
  for (std::size_t i = 0; i < 10000; ++i) {
    (void)handle(worker, qs[i % qs.size()], i % 3 == 0 ? Transport::tcp : Transport::udp, remote,
                 local, out, counters, policy);
  }
  EXPECT_EQ(testing::allocation_count() - before, 0U);
  // The identity queries were answered, not refused: NOERROR for the 4 CH and the NSID query.
  EXPECT_GT(counters.rcode(app::Rcode::noerror), 0U);
}

}  // namespace
}  // namespace amap::wire
