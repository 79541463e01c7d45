// SPDX-License-Identifier: MIT
// "No allocation per query" for the appliance itself: the mapper with a real LMDB override
// store, through the wire path and the pipe path. The global operator new is replaced by a
// counting one; after a warm-up, 10k mixed queries must not allocate.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "backend/pipe/session.h"
#include "mapper/app/testing.h"
#include "mapper/engine/mapper.h"
#include "mapper/wire/handle.h"
#include "store/overrides.h"
#include "tests/unit/alloc_counter.h"
#include "tests/unit/wire_test_util.h"

namespace amap {
namespace {

class EngineAlloc : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/engine-alloc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto loaded = config::load_file(AMAP_CONF_DIR "/automap.yaml");
    ASSERT_TRUE(loaded.ok());
    loaded.config.store.path = dir_ + "/store";
    loaded.config.store.map_size = 16 << 20;
    {
      store::StoreOptions so;
      so.path = loaded.config.store.path;
      so.map_size = loaded.config.store.map_size;
      store::OverrideStore writer(so);
      writer.put_address(*dns::IpAddress::parse("10.1.2.3"),
                         store::Override::name("mail.pool.example.net.", 300));
      writer.put_prefix(*dns::Prefix::parse("2001:db8:1200::/56"),
                        store::Override::name_template("c-{ip}.pool.example.net."));
    }
    config_ = loaded.config;
    config::Diagnostics errors;
    mapper_ = mapper::Mapper::build(loaded.config, errors);
    ASSERT_NE(mapper_, nullptr);
    mapper::Mapper::install(mapper_, app_);
  }
  void TearDown() override {
    mapper_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  config::Config config_;
  std::shared_ptr<const mapper::Mapper> mapper_;
  app::App app_;
};

const char* const kNames[][2] = {
    {"3.2.1.10.in-addr.arpa.", "PTR"},          // address override
    {"4.2.1.10.in-addr.arpa.", "PTR"},          // synthesized
    {"mail.pool.example.net.", "A"},            // override forward
    {"ip-10-1-2-4.pool.example.net.", "A"},     // synthesized forward
    {"IP-10-1-2-4.pool.example.net.", "AAAA"},  // NODATA
    {"2.1.10.in-addr.arpa.", "PTR"},            // ENT
    {"1.0.30.10.in-addr.arpa.", "PTR"},         // blank
    {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.1.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR"},
    {"c-2001-db8-1200--1.pool.example.net.", "AAAA"},  // prefix override forward
    {"2001-db8--1.v6.pool.example.net.", "AAAA"},
    {"ip-010-1-2-3.pool.example.net.", "A"},  // alias: NXDOMAIN
    {"example.org.", "A"},                    // REFUSED
};

/// The kNames queries as packets; every other one with EDNS when `edns` is set.
std::vector<wiretest::Bytes> wire_queries(bool edns) {
  std::vector<wiretest::Bytes> qs;
  for (const auto& n : kNames) {
    wiretest::Query q;
    q.qname = n[0];
    q.qtype = dns::RRType::from_text(n[1])->value;
    q.edns = edns && qs.size() % 2 == 0;
    qs.push_back(q.build());
  }
  return qs;
}

TEST_F(EngineAlloc, WirePathDoesNotAllocateAfterWarmUp) {
  const std::vector<wiretest::Bytes> qs = wire_queries(true);
  app::Worker worker(app_);
  std::vector<std::uint8_t> out(65535);
  wire::Counters counters;
  const auto remote = *dns::IpAddress::parse("192.0.2.1");
  for (const auto& q : qs) {
    ASSERT_GT(wire::handle(worker, q, wire::Transport::udp, remote, remote, out, counters), 0U);
  }
  const std::size_t before = testing::allocation_count();
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < 10000; ++i) {
    bytes += wire::handle(worker, qs[i % qs.size()], wire::Transport::udp, remote, remote, out,
                          counters);
  }
  EXPECT_EQ(testing::allocation_count() - before, 0U);
  EXPECT_GT(bytes, 10000U * 12);
  EXPECT_EQ(counters.rcode(app::Rcode::servfail), 0U);
}

TEST_F(EngineAlloc, PipePathDoesNotAllocateAfterWarmUp) {
  app::Worker pipe_worker(app_);
  pipe::Session session(pipe_worker);
  ASSERT_EQ(session.handle_line("HELO\t3"), "OK\tautomap pipe backend\n");
  std::vector<std::string> lines;
  for (const auto& n : kNames) {
    lines.push_back(std::string("Q\t") + n[0] + "\tIN\t" + (lines.size() % 3 == 0 ? "ANY" : n[1]) +
                    "\t-1\t192.0.2.1\t0.0.0.0\t192.0.2.1/32");
    lines.push_back(std::string("Q\t") + n[0] + "\tIN\tSOA\t-1\t192.0.2.1\t0.0.0.0\t0.0.0.0/0");
  }
  for (const auto& l : lines) {
    ASSERT_EQ(session.handle_line(l).find("FAIL"), std::string_view::npos) << l;
  }
  const std::size_t before = testing::allocation_count();
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < 10000; ++i) {
    bytes += session.handle_line(lines[i % lines.size()]).size();
  }
  EXPECT_EQ(testing::allocation_count() - before, 0U);
  EXPECT_GT(bytes, 10000U * 4);
}

TEST_F(EngineAlloc, WirePathWithAddressFilterDoesNotAllocateAfterWarmUp) {
  config::Diagnostics errors;
  mapper::Mapper::BuildOptions bo;
  bo.address_filter = true;
  bo.filter_options.poll_ms = 5;
  auto m = mapper::Mapper::build(config_, errors, bo);
  ASSERT_NE(m, nullptr);
  app::App a;
  const app::Slot<mapper::Mapper::Context> slot = mapper::Mapper::install(m, a);
  auto reader = store::OverrideReader::open(config_.store.path);
  reader.begin();
  const std::uint64_t last = reader.txn_id();
  reader.end();
  for (int i = 0; i < 5000 && !(m->address_filter() && m->address_filter()->txn_id() == last);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_NE(m->address_filter(), nullptr);

  const std::vector<wiretest::Bytes> qs = wire_queries(false);
  app::Worker worker(a);
  std::vector<std::uint8_t> out(65535);
  wire::Counters counters;
  const auto remote = *dns::IpAddress::parse("192.0.2.1");
  for (const auto& q : qs) {
    ASSERT_GT(wire::handle(worker, q, wire::Transport::udp, remote, remote, out, counters), 0U);
  }
  const std::uint64_t skips = worker.get(slot).filter_skips();
  const std::size_t before = testing::allocation_count();
  for (std::size_t i = 0; i < 10000; ++i) {
    wire::handle(worker, qs[i % qs.size()], wire::Transport::udp, remote, remote, out, counters);
  }
  EXPECT_EQ(testing::allocation_count() - before, 0U);
  EXPECT_GT(worker.get(slot).filter_skips(), skips);  // the filter path was taken
  EXPECT_EQ(counters.rcode(app::Rcode::servfail), 0U);
}

// Two store-backed mappers in one App, queried alternately on one thread: each keeps its
// own Context (a slot of the app's Worker), so alternating costs no rebuild and no
// allocation, and each answers from its own LMDB store.
TEST_F(EngineAlloc, TwoStoreBackedMappersInOneAppAlternateWithoutAllocating) {
  // The second mapper: its own zones, prefixes and store.
  const std::string yaml = R"(
soa: { mname: ns1.other.example., rname: hostmaster.other.example. }
ns: [ns1.other.example.]
zones:
  - name: other.example.
prefixes:
  - prefix: 172.16.0.0/12
    name: "h-{a}-{b}-{c}-{d}.other.example."
store: { path: )" + dir_ + R"(/store2, map_size: 16MiB }
)";
  auto loaded = config::load_text(yaml, "second.yaml");
  ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
  {
    store::StoreOptions so;
    so.path = loaded.config.store.path;
    so.map_size = loaded.config.store.map_size;
    store::OverrideStore writer(so);
    writer.put_address(*dns::IpAddress::parse("172.16.0.9"),
                       store::Override::name("nine.other.example.", 120));
    writer.put_prefix(*dns::Prefix::parse("172.17.0.0/16"),
                      store::Override::name_template("p-{d}-{c}.x.other.example."));
  }
  config::Diagnostics errors;
  auto second = mapper::Mapper::build(loaded.config, errors);
  ASSERT_NE(second, nullptr) << (errors.empty() ? "" : errors[0].to_string());

  app::App both;
  const auto first_slot = mapper::Mapper::install(mapper_, both);
  const auto second_slot = mapper::Mapper::install(second, both);
  EXPECT_NE(first_slot.index(), second_slot.index());
  app::Worker worker(both);

  // What each store says, through the one app (each mapper misses the other's names).
  const auto ptr = [&](const char* name) {
    auto r = app::testing::query(worker, name, "PTR");
    return r.answer.empty() ? std::string(app::testing::rcode_name(r.rcode)) : r.answer[0];
  };
  EXPECT_EQ(ptr("3.2.1.10.in-addr.arpa."),
            "3.2.1.10.in-addr.arpa. 300 IN PTR mail.pool.example.net.");
  EXPECT_EQ(ptr("9.0.16.172.in-addr.arpa."),
            "9.0.16.172.in-addr.arpa. 120 IN PTR nine.other.example.");
  EXPECT_EQ(ptr("8.0.16.172.in-addr.arpa."),
            "8.0.16.172.in-addr.arpa. 3600 IN PTR h-172-16-0-8.other.example.");
  EXPECT_EQ(ptr("5.4.17.172.in-addr.arpa."),
            "5.4.17.172.in-addr.arpa. 3600 IN PTR p-5-4.x.other.example.");
  EXPECT_EQ(app::testing::query(worker, "nine.other.example.", "A").answer.at(0),
            "nine.other.example. 120 IN A 172.16.0.9");
  EXPECT_EQ(app::testing::query(worker, "nope.other.example.", "A").rcode, app::Rcode::nxdomain);
  EXPECT_EQ(app::testing::query(worker, "mail.pool.example.net.", "A").answer.at(0),
            "mail.pool.example.net. 300 IN A 10.1.2.3");

  // Alternating on the wire path: after the warm-up, no allocation at all.
  std::vector<wiretest::Bytes> qs;
  for (const char* name :
       {"3.2.1.10.in-addr.arpa.", "9.0.16.172.in-addr.arpa.", "4.2.1.10.in-addr.arpa.",
        "5.4.17.172.in-addr.arpa.", "mail.pool.example.net.", "nine.other.example."}) {
    wiretest::Query q;
    q.qname = name;
    q.qtype =
        std::string_view(name).ends_with("arpa.") ? dns::rrtype::PTR.value : dns::rrtype::A.value;
    qs.push_back(q.build());
  }
  std::vector<std::uint8_t> out(65535);
  wire::Counters counters;
  const auto remote = *dns::IpAddress::parse("192.0.2.1");
  for (const auto& q : qs) {
    ASSERT_GT(wire::handle(worker, q, wire::Transport::udp, remote, remote, out, counters), 0U);
  }
  const std::size_t before = testing::allocation_count();
  for (std::size_t i = 0; i < 10000; ++i) {
    wire::handle(worker, qs[i % qs.size()], wire::Transport::udp, remote, remote, out, counters);
  }
  EXPECT_EQ(testing::allocation_count() - before, 0U);
  // Every query was answered (no SERVFAIL from a store, no REFUSED, no NXDOMAIN).
  EXPECT_EQ(counters.rcode(app::Rcode::noerror), counters.answered);
  EXPECT_EQ(counters.answered, 10000U + qs.size());
}

}  // namespace
}  // namespace amap
