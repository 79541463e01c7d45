// SPDX-License-Identifier: MIT
// Overrides from a real LMDB store, answered by the engine through the framework.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "mapper/app/testing.h"
#include "mapper/app/worker.h"
#include "mapper/engine/mapper.h"
#include "store/overrides.h"

namespace amap::mapper {
namespace {

using app::Rcode;
using app::testing::query;
using store::Override;

class EngineOverrides : public ::testing::Test {
 protected:
  /// Build the mapper with the address filter (EngineOverridesFiltered).
  virtual bool with_filter() const { return false; }

  void SetUp() override {
    char tmpl[] = "/tmp/engine-overrides-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string yaml =
        "soa: { mname: ns1.example.net., rname: hostmaster.example.net., serial: 1 }\n"
        "ns: [ns1.example.net.]\n"
        "ttl: 600\n"
        "zones: [ { name: pool.example.net. }, { name: customer.example. } ]\n"
        "prefixes:\n"
        "  - prefix: 10.0.0.0/8\n"
        "    name: \"ip-{a}-{b}-{c}-{d}.pool.example.net.\"\n"
        "  - prefix: 2001:db8::/32\n"
        "    name: \"{ip}.v6.pool.example.net.\"\n"
        "store: { path: " +
        dir_ + "/store, map_size: 16MiB }\n";
    auto loaded = config::load_text(yaml, "t.yaml");
    ASSERT_TRUE(loaded.ok());
    store::StoreOptions so;
    so.path = dir_ + "/store";
    so.map_size = 16 << 20;
    writer_.emplace(so);  // creates the store
    config::Diagnostics errors;
    Mapper::BuildOptions bo;
    bo.address_filter = with_filter();
    bo.filter_options.poll_ms = 5;
    bo.filter_options.quiet_ms = 10;
    bo.filter_options.max_stale_ms = 100;
    bo.filter_options.build_gap_factor = 1;
    mapper_ = Mapper::build(loaded.config, errors, bo);
    ASSERT_NE(mapper_, nullptr) << (errors.empty() ? "" : errors[0].to_string());
    slot_ = Mapper::install(mapper_, app_);
    worker_ = std::make_unique<app::Worker>(app_);
  }
  void TearDown() override {
    worker_.reset();
    writer_.reset();
    mapper_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string one(std::string_view qname, std::string_view qtype) {
    auto r = query(*worker_, qname, qtype);
    EXPECT_EQ(r.rcode, Rcode::noerror) << qname;
    EXPECT_EQ(r.answer.size(), 1U) << qname;
    return r.answer.empty() ? "" : r.answer[0];
  }

  std::string dir_;
  std::optional<store::OverrideStore> writer_;
  std::shared_ptr<const Mapper> mapper_;
  app::App app_;
  app::Slot<Mapper::Context> slot_;
  std::unique_ptr<app::Worker> worker_;  // one front-end thread: its state lasts across queries
  Mapper::Context& context() { return worker_->get(slot_); }
};

TEST_F(EngineOverrides, AddressOverrideAnswersBothWaysAndSparesNeighbours) {
  EXPECT_EQ(one("3.2.1.10.in-addr.arpa.", "PTR"),
            "3.2.1.10.in-addr.arpa. 600 IN PTR ip-10-1-2-3.pool.example.net.");
  writer_->put_address(*dns::IpAddress::parse("10.1.2.3"),
                       Override::name("mail.customer.example.", 300));
  // Visible at the next query, without reopening or reloading anything.
  EXPECT_EQ(one("3.2.1.10.in-addr.arpa.", "PTR"),
            "3.2.1.10.in-addr.arpa. 300 IN PTR mail.customer.example.");
  EXPECT_EQ(one("MAIL.customer.example.", "A"), "MAIL.customer.example. 300 IN A 10.1.2.3");
  // The synthesized name of the address keeps resolving, and neighbours still synthesize.
  EXPECT_EQ(one("ip-10-1-2-3.pool.example.net.", "A"),
            "ip-10-1-2-3.pool.example.net. 600 IN A 10.1.2.3");
  EXPECT_EQ(one("4.2.1.10.in-addr.arpa.", "PTR"),
            "4.2.1.10.in-addr.arpa. 600 IN PTR ip-10-1-2-4.pool.example.net.");
  EXPECT_EQ(query(app_, "other.customer.example.", "A").rcode, Rcode::nxdomain);
  // A name that no longer belongs to the address stops answering.
  writer_->put_address(*dns::IpAddress::parse("10.1.2.3"),
                       Override::name("smtp.customer.example."));
  EXPECT_EQ(query(app_, "mail.customer.example.", "A").rcode, Rcode::nxdomain);
  EXPECT_EQ(one("smtp.customer.example.", "A"), "smtp.customer.example. 600 IN A 10.1.2.3");
  ASSERT_TRUE(writer_->erase_address(*dns::IpAddress::parse("10.1.2.3")));
  EXPECT_EQ(one("3.2.1.10.in-addr.arpa.", "PTR"),
            "3.2.1.10.in-addr.arpa. 600 IN PTR ip-10-1-2-3.pool.example.net.");
  EXPECT_EQ(query(app_, "smtp.customer.example.", "A").rcode, Rcode::nxdomain);
}

TEST_F(EngineOverrides, NoneIsNxdomainForThatPtrOnly) {
  writer_->put_address(*dns::IpAddress::parse("10.9.9.9"), Override::none());
  EXPECT_EQ(query(app_, "9.9.9.10.in-addr.arpa.", "PTR").rcode, Rcode::nxdomain);
  EXPECT_EQ(one("8.9.9.10.in-addr.arpa.", "PTR"),
            "8.9.9.10.in-addr.arpa. 600 IN PTR ip-10-9-9-8.pool.example.net.");
}

// Inside a worker batch (one recvmmsg of the server) every query reads the same snapshot; the
// snapshot is released when the batch ends, so the next query sees what was committed.
TEST_F(EngineOverrides, ABatchAnswersFromOneSnapshotAndReleasesIt) {
  const auto addr = *dns::IpAddress::parse("10.7.7.7");
  const std::string synthesized = "7.7.7.10.in-addr.arpa. 600 IN PTR ip-10-7-7-7.pool.example.net.";
  const std::string overridden = "7.7.7.10.in-addr.arpa. 300 IN PTR batch.customer.example.";
  {
    const app::BatchScope batch(*worker_);
    EXPECT_EQ(one("7.7.7.10.in-addr.arpa.", "PTR"), synthesized);
    writer_->put_address(addr, Override::name("batch.customer.example.", 300));
    EXPECT_EQ(one("7.7.7.10.in-addr.arpa.", "PTR"), synthesized);  // same snapshot
    EXPECT_EQ(query(*worker_, "batch.customer.example.", "A").rcode, Rcode::nxdomain);
  }
  // Outside any batch: a fresh snapshot per query. Had the batch's transaction leaked, this
  // query would still see the old one.
  EXPECT_EQ(one("7.7.7.10.in-addr.arpa.", "PTR"), overridden);
  {
    const app::BatchScope batch(*worker_);
    EXPECT_EQ(one("7.7.7.10.in-addr.arpa.", "PTR"), overridden);  // a new batch, a new snapshot
    EXPECT_TRUE(writer_->erase_address(addr));
  }
  EXPECT_EQ(one("7.7.7.10.in-addr.arpa.", "PTR"), synthesized);
}

TEST_F(EngineOverrides, PrefixOverrideJoinsTheLongestPrefixMatch) {
  writer_->put_prefix(*dns::Prefix::parse("2001:db8:1200::/56"),
                      Override::name_template("cust42-{ip}.biz.pool.example.net.", 120));
  const std::string inside =
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.1.8.b.d.0.1.0.0.2.ip6.arpa.";
  EXPECT_EQ(one(inside, "PTR"),
            inside + " 120 IN PTR cust42-2001-db8-1200--1.biz.pool.example.net.");
  EXPECT_EQ(one("cust42-2001-db8-1200--1.biz.pool.example.net.", "AAAA"),
            "cust42-2001-db8-1200--1.biz.pool.example.net. 120 IN AAAA 2001:db8:1200::1");
  // The config's name for that address is no longer canonical; its neighbours outside the
  // /56 are untouched.
  EXPECT_EQ(query(app_, "2001-db8-1200--1.v6.pool.example.net.", "AAAA").rcode, Rcode::nxdomain);
  EXPECT_EQ(one("2001-db8-1300--1.v6.pool.example.net.", "AAAA"),
            "2001-db8-1300--1.v6.pool.example.net. 600 IN AAAA 2001:db8:1300::1");
  // A less specific override loses to the more specific config prefix.
  writer_->put_prefix(*dns::Prefix::parse("10.0.0.0/7"), Override::none());
  EXPECT_EQ(one("1.0.0.10.in-addr.arpa.", "PTR"),
            "1.0.0.10.in-addr.arpa. 600 IN PTR ip-10-0-0-1.pool.example.net.");
  // A more specific "none" blanks its range only.
  writer_->put_prefix(*dns::Prefix::parse("10.5.0.0/16"), Override::none());
  EXPECT_EQ(query(app_, "1.0.5.10.in-addr.arpa.", "PTR").rcode, Rcode::nxdomain);
  EXPECT_EQ(query(app_, "ip-10-5-0-1.pool.example.net.", "A").rcode, Rcode::nxdomain);
  EXPECT_EQ(one("1.0.6.10.in-addr.arpa.", "PTR"),
            "1.0.6.10.in-addr.arpa. 600 IN PTR ip-10-6-0-1.pool.example.net.");
  // An address override still wins inside a prefix override.
  writer_->put_address(*dns::IpAddress::parse("10.5.0.1"),
                       Override::name("host.customer.example."));
  EXPECT_EQ(one("1.0.5.10.in-addr.arpa.", "PTR"),
            "1.0.5.10.in-addr.arpa. 600 IN PTR host.customer.example.");
}

TEST_F(EngineOverrides, ExplainsWhereAnAnswerCameFrom) {
  writer_->put_prefix(*dns::Prefix::parse("10.7.0.0/16"),
                      Override::name_template("x-{ip}.pool.example.net."));
  auto s = mapper_->ptr_for(*dns::IpAddress::parse("10.7.1.1"));
  EXPECT_EQ(s.status, Synthesis::Status::ptr);
  EXPECT_EQ(s.source, Synthesis::Source::prefix_override);
  EXPECT_EQ(s.prefix.to_string(), "10.7.0.0/16");
  EXPECT_EQ(s.template_text, "x-{ip}.pool.example.net.");
  auto c = mapper_->ptr_for(*dns::IpAddress::parse("10.8.1.1"));
  EXPECT_EQ(c.source, Synthesis::Source::config);
  EXPECT_EQ(c.prefix.to_string(), "10.0.0.0/8");
}

TEST(EngineStore, MissingStoreIsAConfigError) {
  auto loaded = config::load_text(
      "soa: { mname: ns1.example.net., rname: h.example.net. }\nns: [ns1.example.net.]\n"
      "store: { path: /nonexistent/automap-store }\n",
      "s.yaml");
  ASSERT_TRUE(loaded.ok());
  config::Diagnostics errors;
  EXPECT_EQ(Mapper::build(loaded.config, errors), nullptr);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_NE(errors[0].to_string().find("s.yaml:3:8: store.path: "), std::string::npos)
      << errors[0].to_string();
}

// ------------------------------------------------------------------------- address filter

class EngineOverridesFiltered : public EngineOverrides {
 protected:
  bool with_filter() const override { return true; }

  /// Waits until the mapper's filter covers the store's newest commit.
  bool filter_catches_up() {
    const std::uint64_t last = writer_->stats().last_txn_id;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto f = mapper_->address_filter(); f && f->txn_id() == last) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }
};

TEST_F(EngineOverridesFiltered, MissesSkipLmdbOnlyInTheFiltersSnapshot) {
  const auto a = *dns::IpAddress::parse("10.1.2.3");
  const auto b = *dns::IpAddress::parse("10.9.9.9");
  writer_->put_address(a, Override::name("mail.customer.example.", 300));
  ASSERT_TRUE(filter_catches_up());

  // Same snapshot as the filter: a miss is answered without the B-tree, a hit from it.
  std::uint64_t skips = context().filter_skips();
  EXPECT_EQ(one("9.9.9.10.in-addr.arpa.", "PTR"),
            "9.9.9.10.in-addr.arpa. 600 IN PTR ip-10-9-9-9.pool.example.net.");
  EXPECT_EQ(context().filter_skips(), skips + 1);
  EXPECT_EQ(one("3.2.1.10.in-addr.arpa.", "PTR"),
            "3.2.1.10.in-addr.arpa. 300 IN PTR mail.customer.example.");
  EXPECT_EQ(context().filter_skips(), skips + 1);
  // The same through ptr_for, and inside a batch (one snapshot for several queries).
  EXPECT_EQ(mapper_->ptr_for(context(), b).source, Synthesis::Source::config);
  EXPECT_EQ(context().filter_skips(), skips + 2);
  {
    const app::BatchScope batch(*worker_);
    EXPECT_EQ(mapper_->ptr_for(context(), b).source, Synthesis::Source::config);
    EXPECT_EQ(mapper_->ptr_for(context(), a).source, Synthesis::Source::address_override);
    EXPECT_EQ(mapper_->ptr_for(context(), b).source, Synthesis::Source::config);
  }
  EXPECT_EQ(context().filter_skips(), skips + 4);

  // A separate writer (another process or Lightning Stream, as far as the mapper can tell)
  // adds an override for b after the filter was built: the very next query sees it, because
  // its snapshot is newer than the filter's, so the B-tree answers.
  writer_->put_address(b, Override::name("b.customer.example.", 120));
  skips = context().filter_skips();
  EXPECT_EQ(one("9.9.9.10.in-addr.arpa.", "PTR"),
            "9.9.9.10.in-addr.arpa. 120 IN PTR b.customer.example.");
  EXPECT_EQ(one("b.customer.example.", "A"), "b.customer.example. 120 IN A 10.9.9.9");
  EXPECT_EQ(context().filter_skips(), skips);
  // After the rebuild: still the override, and other misses skip LMDB again.
  ASSERT_TRUE(filter_catches_up());
  EXPECT_EQ(one("9.9.9.10.in-addr.arpa.", "PTR"),
            "9.9.9.10.in-addr.arpa. 120 IN PTR b.customer.example.");
  EXPECT_EQ(one("8.9.9.10.in-addr.arpa.", "PTR"),
            "8.9.9.10.in-addr.arpa. 600 IN PTR ip-10-9-9-8.pool.example.net.");
  EXPECT_EQ(context().filter_skips(), skips + 1);

  // Deletes: synthesis again at once, and after the rebuild.
  EXPECT_TRUE(writer_->erase_address(b));
  EXPECT_EQ(one("9.9.9.10.in-addr.arpa.", "PTR"),
            "9.9.9.10.in-addr.arpa. 600 IN PTR ip-10-9-9-9.pool.example.net.");
  ASSERT_TRUE(filter_catches_up());
  EXPECT_EQ(one("9.9.9.10.in-addr.arpa.", "PTR"),
            "9.9.9.10.in-addr.arpa. 600 IN PTR ip-10-9-9-9.pool.example.net.");
  // An erase and a put in one batch, checked at once (before any rebuild can run).
  store::WriteBatch batch;
  batch.erase_address(a);
  batch.put_address(b, Override::none());
  writer_->apply(batch);
  EXPECT_EQ(one("3.2.1.10.in-addr.arpa.", "PTR"),
            "3.2.1.10.in-addr.arpa. 600 IN PTR ip-10-1-2-3.pool.example.net.");
  EXPECT_EQ(query(app_, "9.9.9.10.in-addr.arpa.", "PTR").rcode, Rcode::nxdomain);
}

TEST_F(EngineOverridesFiltered, EveryAnswerMatchesTheUnfilteredPathWhileWriting) {
  // Writes race with queries; each answer must be the one its snapshot holds. A mapper
  // without filter on the same store is the reference; they may see different snapshots, so
  // compare against the writer's state before and after each query instead.
  ASSERT_TRUE(filter_catches_up());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    store::StoreOptions so;
    so.path = dir_ + "/store";
    store::OverrideStore w(so);
    for (std::uint32_t i = 0; !stop.load(); ++i) {
      const auto addr = dns::IpAddress::v4(0x0A070000U + (i % 64));
      if ((i / 64) % 2 == 0) {
        w.put_address(addr, Override::none());
      } else {
        w.erase_address(addr);
      }
    }
  });
  // An address is overridden ("none") exactly in rounds where (i / 64) is even: once put, it
  // is erased only later, so a query answered NXDOMAIN or synthesized is always possible; what
  // must never happen is a wrong answer for a stable state. Check the stable ones: 10.7.1.x
  // is never written (always synthesized), and 10.7.2.1 is pinned to "none".
  writer_->put_address(*dns::IpAddress::parse("10.7.2.1"), Override::none());
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(query(app_, "1.2.7.10.in-addr.arpa.", "PTR").rcode, Rcode::nxdomain);
    ASSERT_EQ(query(app_, std::to_string(i % 200) + ".1.7.10.in-addr.arpa.", "PTR").rcode,
              Rcode::noerror);
  }
  stop = true;
  writer.join();
}

}  // namespace
}  // namespace amap::mapper
