// SPDX-License-Identifier: MIT
// backend/pdns/engine.h, the C++17 facade the PowerDNS module answers through: zones, SOA,
// records, empty non-terminals, and no allocation per lookup once warmed up (the global
// operator new counts). The module itself adds only what PowerDNS's own types force (one
// DNSName copy per row, a DNSRecordContent per row; see backend/pdns/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <string>
#include <vector>

#include "backend/pdns/engine.h"
#include "mapper/dns/name.h"
#include "tests/unit/alloc_counter.h"

namespace amap::pdnsmod {
namespace {

// No store: the keeper thread of a store would allocate beside the measured loop (the
// mapper's store path is counted in engine_alloc_test).
constexpr const char* kConfig = R"(
soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 7, refresh: 3600,
       retry: 600, expire: 604800, minimum: 300, ttl: 300 }
ns: [ns1.example.net.]
zones:
  - name: pool.example.net.
prefixes:
  - prefix: 10.0.0.0/16
    name: "ip-{a}-{b}-{c}-{d}.pool.example.net."
  - prefix: 2001:db8:1::/48
    name: "ip-{ip}.pool.example.net."
)";

std::vector<std::uint8_t> wire(const char* text) {
  auto n = dns::Name::from_text(text);
  EXPECT_TRUE(n) << text;
  return {n->wire().begin(), n->wire().end()};
}

class PdnsEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "pdns_engine_test.yaml";
    std::ofstream(path_) << kConfig;
    std::string error;
    engine_ = Engine::load(path_, error);
    ASSERT_NE(engine_, nullptr) << error;
  }
  Found run(Lookup& l, const char* name, std::uint16_t qtype) {
    const auto w = wire(name);
    return l.run(w.data(), w.size(), qtype);
  }
  std::string path_;
  std::shared_ptr<const Engine> engine_;
};

TEST_F(PdnsEngine, ZonesAndSoa) {
  ASSERT_EQ(engine_->zone_count(), 3U);
  std::vector<std::string> apexes;
  for (std::size_t i = 0; i < engine_->zone_count(); ++i) {
    apexes.push_back(engine_->zone_apex(i));
  }
  EXPECT_NE(std::find(apexes.begin(), apexes.end(), "0.10.in-addr.arpa."), apexes.end());
  const auto apex = wire("POOL.example.net.");
  const int zone = engine_->zone_at(apex.data(), apex.size());
  ASSERT_GE(zone, 0);
  EXPECT_EQ(engine_->zone_apex(static_cast<std::size_t>(zone)), "pool.example.net.");
  const auto below = wire("x.pool.example.net.");
  EXPECT_EQ(engine_->zone_at(below.data(), below.size()), -1);
  Lookup l(engine_);
  Soa soa;
  ASSERT_TRUE(l.soa(static_cast<std::size_t>(zone), soa));
  EXPECT_EQ(soa.mname, "ns1.example.net.");
  EXPECT_EQ(soa.rname, "hostmaster.example.net.");
  EXPECT_EQ(soa.serial, 7U);
  EXPECT_EQ(soa.minimum, 300U);
  EXPECT_EQ(soa.ttl, 300U);
}

TEST_F(PdnsEngine, Records) {
  Lookup l(engine_);
  ASSERT_EQ(run(l, "3.2.0.10.in-addr.arpa.", 255), Found::records);
  ASSERT_EQ(l.size(), 1U);
  const RecordView ptr = l.record(0);
  EXPECT_EQ(ptr.type, 12);
  const auto target = wire("ip-10-0-2-3.pool.example.net.");
  EXPECT_EQ(std::vector<std::uint8_t>(ptr.rdata, ptr.rdata + ptr.rdata_len), target);
  EXPECT_GE(l.zone(), 0);

  ASSERT_EQ(run(l, "ip-10-0-2-3.pool.example.net.", 1), Found::records);
  const RecordView a = l.record(0);
  ASSERT_EQ(a.rdata_len, 4U);
  EXPECT_EQ((std::array<std::uint8_t, 4>{a.rdata[0], a.rdata[1], a.rdata[2], a.rdata[3]}),
            (std::array<std::uint8_t, 4>{10, 0, 2, 3}));
  // Another type at an existing name, and a name above synthesized ones: the name exists.
  EXPECT_EQ(run(l, "ip-10-0-2-3.pool.example.net.", 16), Found::empty);
  EXPECT_EQ(run(l, "2.0.10.in-addr.arpa.", 255), Found::empty);
  // No such name; outside every zone; SOA below an apex (PowerDNS's walk up the labels).
  EXPECT_EQ(run(l, "ip-10-9-0-1.pool.example.net.", 255), Found::none);
  EXPECT_EQ(run(l, "www.example.org.", 255), Found::none);
  EXPECT_EQ(l.zone(), -1);
  EXPECT_EQ(run(l, "2.0.10.in-addr.arpa.", 6), Found::none);
  // The apex answers ANY with its SOA and NS.
  ASSERT_EQ(run(l, "pool.example.net.", 255), Found::records);
  EXPECT_EQ(l.size(), 2U);
  // A wire name that is not one (a label running past the end) finds nothing.
  const std::uint8_t bad[] = {5, 'a', 'b'};
  EXPECT_EQ(l.run(bad, sizeof bad, 1), Found::none);
}

TEST_F(PdnsEngine, NoAllocationPerLookup) {
  Lookup l(engine_);
  const std::vector<std::pair<std::vector<std::uint8_t>, std::uint16_t>> questions = {
      {wire("3.2.0.10.in-addr.arpa."), 255},
      {wire("3.2.0.10.in-addr.arpa."), 12},
      {wire("5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."), 255},
      {wire("ip-10-0-2-3.pool.example.net."), 255},
      {wire("ip-2001-db8-1--5.pool.example.net."), 28},
      {wire("2.0.10.in-addr.arpa."), 255},
      {wire("0.10.in-addr.arpa."), 6},
      {wire("x.2.0.10.in-addr.arpa."), 6},
      {wire("ip-10-9-0-1.pool.example.net."), 255},
      {wire("www.example.org."), 255},
  };
  for (const auto& [w, t] : questions) {
    (void)l.run(w.data(), w.size(), t);
  }
  std::size_t rows = 0;
  const std::size_t before = testing::allocation_count();
  for (std::size_t i = 0; i < 10000; ++i) {
    const auto& [w, t] = questions[i % questions.size()];
    if (l.run(w.data(), w.size(), t) == Found::records) {
      rows += l.size();
    }
  }
  EXPECT_EQ(testing::allocation_count() - before, 0U);
  EXPECT_GT(rows, 5000U);
}

}  // namespace
}  // namespace amap::pdnsmod
