// SPDX-License-Identifier: MIT
// store/sync without etcd: the key mapping and base64 (keys.h), and the two store paths a sync
// uses: OverrideStore::set_replication (mapctl's writes) and ReplicaTxn (the node's loop).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "store/format.h"
#include "store/overrides.h"
#include "store/sync/keys.h"

namespace {

using amap::dns::IpAddress;
using amap::dns::Name;
using amap::dns::Prefix;
using namespace amap::store;  // NOLINT(google-build-using-namespace)

IpAddress ip(std::string_view text) {
  return *IpAddress::parse(text);
}
Prefix pfx(std::string_view text) {
  return *Prefix::parse(text);
}

TEST(SyncKeys, Base64RoundTripsEveryLength) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    const std::string enc = sync::base64_encode(data);
    EXPECT_EQ(enc.size(), (data.size() + 2) / 3 * 4);
    const auto dec = sync::base64_decode(enc);
    ASSERT_TRUE(dec.has_value());
    EXPECT_EQ(*dec, data);
    data += static_cast<char>(i * 7 + 3);
  }
  EXPECT_EQ(sync::base64_encode("hello"), "aGVsbG8=");
  EXPECT_FALSE(sync::base64_decode("a$b=").has_value());
}

TEST(SyncKeys, EtcdKeysKeepAddressOrderAndParseBack) {
  std::array<std::uint8_t, format::kMaxAddressKey> a{};
  std::array<std::uint8_t, format::kMaxAddressKey> b{};
  const Bytes ka(a.data(), format::address_key(ip("10.1.2.3"), a.data()));
  const Bytes kb(b.data(), format::address_key(ip("10.1.2.10"), b.data()));
  const std::string ea = sync::etcd_key("/automap/", false, ka);
  EXPECT_EQ(ea, "/automap/addr/040a010203");
  EXPECT_LT(ea, sync::etcd_key("/automap/", false, kb));
  const auto back = sync::parse_etcd_key("/automap/", ea);
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->is_prefix);
  EXPECT_EQ(back->key, std::vector<std::uint8_t>(ka.begin(), ka.end()));
  EXPECT_FALSE(sync::parse_etcd_key("/automap/", "/automap/other/00").has_value());
  EXPECT_FALSE(sync::parse_etcd_key("/automap/", "/automap/addr/0g").has_value());
  EXPECT_FALSE(sync::parse_etcd_key("/automap/", "/elsewhere/addr/00").has_value());
  EXPECT_EQ(sync::range_end("/automap/"), "/automap0");
}

// Generations: generation "" is the first layout (PREFIX addr/...); a named one lives under
// PREFIX_g/GEN/; the pointer, the markers and the staged generations sort outside every
// root's data range, so a range read or a compare of one generation never meets them.
TEST(SyncKeys, GenerationRootsAndRangesKeepTheirKeysApart) {
  EXPECT_EQ(sync::generation_root("/automap/", ""), "/automap/");
  EXPECT_EQ(sync::generation_root("/automap/", "00ff"), "/automap/_g/00ff/");
  EXPECT_EQ(sync::generation_key("/automap/"), "/automap/_generation");
  EXPECT_EQ(sync::marker_key("/automap/", "00ff"), "/automap/_s/00ff");
  const auto inside = [](const sync::KeyRange& r, const std::string& k) {
    return k >= r.begin && k < r.end;
  };
  const sync::KeyRange first = sync::data_range("/automap/");
  const sync::KeyRange named = sync::data_range("/automap/_g/00ff/");
  EXPECT_TRUE(inside(first, "/automap/addr/040a010203"));
  EXPECT_TRUE(inside(first, "/automap/prefix/040a01000018"));
  for (const std::string k :
       {"/automap/_generation", "/automap/_s/00ff", "/automap/_g/00ff/addr/040a010203"}) {
    EXPECT_FALSE(inside(first, k)) << k;
  }
  EXPECT_TRUE(inside(named, "/automap/_g/00ff/addr/040a010203"));
  EXPECT_TRUE(inside(named, "/automap/_g/00ff/prefix/040a01000018"));
  EXPECT_FALSE(inside(named, "/automap/_g/00fe/addr/040a010203"));
  EXPECT_FALSE(inside(named, "/automap/addr/040a010203"));
  const auto back = sync::parse_etcd_key("/automap/_g/00ff/", "/automap/_g/00ff/addr/040a010203");
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(sync::parse_etcd_key("/automap/", "/automap/_g/00ff/addr/040a010203"));
}

class SyncStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "amap-sync-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  StoreOptions options(const std::string& sub) const {
    StoreOptions o;
    o.path = dir_ + "/" + sub;
    o.map_size = std::size_t{64} << 20;
    return o;
  }
  std::string dir_;
};

TEST_F(SyncStoreTest, ReplicationGetsTheValuesAndNothingIsCommittedLocally) {
  OverrideStore source(options("source"));
  std::vector<RawWrite> sent;
  std::uint64_t seen_revision = 99;
  source.set_replication(
      [&](std::uint64_t rev, std::span<const RawWrite> w) {
        seen_revision = rev;
        sent.assign(w.begin(), w.end());
        return ReplicationResult{};
      },
      std::chrono::milliseconds(100));
  source.put_address(ip("10.1.2.3"), Override::name("mail.example.", 300));
  EXPECT_EQ(seen_revision, 0U);
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_FALSE(sent[0].is_prefix);
  EXPECT_FALSE(source.get_address(ip("10.1.2.3")).has_value());  // etcd brings it back
  // A write that changes nothing (an absent key's erase) sends nothing.
  sent.clear();
  EXPECT_FALSE(source.erase_address(ip("10.1.2.4")));
  EXPECT_TRUE(sent.empty());
}

TEST_F(SyncStoreTest, ReplicaTxnWritesBytesKeepsTheNameIndexAndFullLoadReplaces) {
  // A writer whose values we capture, as mapctl sends them.
  OverrideStore source(options("source"));
  std::vector<RawWrite> sent;
  source.set_replication(
      [&](std::uint64_t, std::span<const RawWrite> w) {
        sent.insert(sent.end(), w.begin(), w.end());
        return ReplicationResult{};
      },
      std::chrono::milliseconds(100));
  source.put_address(ip("10.1.2.3"), Override::name("mail.example.", 300));
  source.put_prefix(pfx("10.9.0.0/16"), Override::name_template("x{d}.example."));
  ASSERT_EQ(sent.size(), 2U);

  OverrideStore replica(options("replica"));
  {
    ReplicaTxn t(replica, /*full=*/false);
    for (const RawWrite& w : sent) {
      ASSERT_TRUE(t.put(w.is_prefix, Bytes(w.key.data(), w.key.size()),
                        Bytes(w.value.data(), w.value.size())));
    }
    t.commit(7);
  }
  EXPECT_EQ(replica.sync_revision(), 7U);
  EXPECT_EQ(replica.get_address(ip("10.1.2.3"))->target, "mail.example.");
  EXPECT_EQ(replica.get_name(*Name::from_text("mail.example.")), ip("10.1.2.3"));
  EXPECT_EQ(replica.get_prefix(pfx("10.9.0.0/16"))->target, "x{d}.example.");
  // Byte for byte: the replica's values are the ones sent (Lightning Stream header included).
  {
    const ScopedRead read(*replica.db());
    for (const RawWrite& w : sent) {
      const auto dbi = w.is_prefix ? replica.db()->dbis().prefix : replica.db()->dbis().addr;
      const auto v = read.txn().find(dbi, Bytes(w.key.data(), w.key.size()));
      ASSERT_TRUE(v.has_value());
      EXPECT_EQ(std::vector<std::uint8_t>(v->begin(), v->end()), w.value);
    }
  }
  {
    auto reader = OverrideReader::open(options("replica").path);
    reader.begin();
    EXPECT_TRUE(reader.find_address(ip("10.1.2.3")).has_value());
    EXPECT_TRUE(reader.find_prefix(ip("10.9.1.1")).has_value());  // the bitmap was rebuilt
    reader.end();
  }
  // An erase (a key removed from etcd) drops the name index entry too.
  {
    ReplicaTxn t(replica, false);
    t.erase(false, Bytes(sent[0].key.data(), sent[0].key.size()));
    t.commit(8);
  }
  EXPECT_FALSE(replica.get_address(ip("10.1.2.3")).has_value());
  EXPECT_FALSE(replica.get_name(*Name::from_text("mail.example.")).has_value());
  // A full load replaces everything: only what it writes is left.
  {
    ReplicaTxn t(replica, /*full=*/true);
    t.commit(9);
  }
  EXPECT_FALSE(replica.get_prefix(pfx("10.9.0.0/16")).has_value());
  EXPECT_EQ(replica.sync_revision(), 9U);
  // Undecodable values are refused, nothing written.
  {
    ReplicaTxn t(replica, false);
    const std::vector<std::uint8_t> junk{1, 2, 3};
    EXPECT_FALSE(t.put(false, Bytes(sent[0].key.data(), sent[0].key.size()),
                       Bytes(junk.data(), junk.size())));
  }
}

TEST_F(SyncStoreTest, ABehindReplicaWaitsThenFailsClearly) {
  OverrideStore source(options("source"));
  int calls = 0;
  source.set_replication(
      [&](std::uint64_t rev, std::span<const RawWrite>) {
        ++calls;
        return ReplicationResult{false, rev + 5};
      },
      std::chrono::milliseconds(100));
  try {
    source.put_address(ip("10.1.2.3"), Override::name("mail.example."));
    FAIL() << "no error";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("local store is at etcd revision 0"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(calls, 1);
}

}  // namespace
