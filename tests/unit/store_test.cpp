// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/address_filter.h"
#include "store/format.h"
#include "store/lmdb.h"
#include "store/overrides.h"
#include "store/verify.h"

namespace {

using amap::dns::IpAddress;
using amap::dns::Name;
using amap::dns::Prefix;
using namespace amap::store;  // NOLINT(google-build-using-namespace)

IpAddress ip(std::string_view text) {
  auto r = IpAddress::parse(text);
  EXPECT_TRUE(r.has_value()) << text;
  return *r;
}
Prefix pfx(std::string_view text) {
  auto r = Prefix::parse(text);
  EXPECT_TRUE(r.has_value()) << text;
  return *r;
}
/// prefix + number + suffix (built with append: GCC 12 warns falsely on "x" + std::string).
std::string numbered(std::string_view prefix, std::uint32_t n, std::string_view suffix) {
  std::string out(prefix);
  out.append(std::to_string(n));
  out.append(suffix);
  return out;
}
Name name(std::string_view text) {
  auto r = Name::from_text(text);
  EXPECT_TRUE(r.has_value()) << text;
  return *r;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "amap-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  StoreOptions options(std::size_t map_size = std::size_t{16} << 20) const {
    StoreOptions o;
    o.path = dir_;
    o.map_size = map_size;
    return o;
  }

  /// Writes a raw value under an address key, bypassing the store's encoder.
  static void put_raw(OverrideStore& s, Dbi dbi, Bytes key, Bytes value) {
    WriteTxn txn = WriteTxn::begin(s.db()->env());
    txn.put(dbi, key, value);
    txn.commit();
  }
  static std::vector<std::uint8_t> read_raw(OverrideStore& s, Dbi dbi, Bytes key) {
    ReadTxn txn = ReadTxn::begin(s.db()->env());
    auto v = txn.find(dbi, key);
    if (!v) {
      return {};
    }
    return {v->begin(), v->end()};
  }
  static std::vector<std::uint8_t> addr_key(const IpAddress& a) {
    std::array<std::uint8_t, format::kMaxAddressKey> k{};
    const std::size_t n = format::address_key(a, k.data());
    return {k.begin(), k.begin() + static_cast<std::ptrdiff_t>(n)};
  }
  /// A value with the given LS header fields and an override payload.
  static std::vector<std::uint8_t> raw_value(std::uint8_t header_version, std::uint8_t flags,
                                             std::uint16_t ext_blocks, std::uint8_t payload_version,
                                             std::string_view target) {
    std::vector<std::uint8_t> v(format::kHeaderSize + std::size_t{8} * ext_blocks);
    format::encode_header(v.data(), 1, 1, flags);
    v[16] = header_version;
    format::store_be16(v.data() + 22, ext_blocks);
    v.push_back(payload_version);
    v.push_back(static_cast<std::uint8_t>(OverrideKind::name));
    for (int i = 0; i < 3; ++i) {
      v.push_back(0);
    }
    v.push_back(60);
    v.insert(v.end(), target.begin(), target.end());
    return v;
  }

  std::string root_;
  std::string dir_;
};

std::vector<std::string> list_all(const OverrideStore& s, std::optional<Prefix> within = {},
                                  std::size_t limit = 0) {
  std::vector<std::string> out;
  s.list(within, limit, [&](const ListEntry& e) {
    out.push_back((e.is_prefix ? "P " : "A ") + e.prefix.to_string() + " " +
                  std::string(to_string(e.value.kind)) + " " + std::string(e.value.target));
  });
  return out;
}

// ------------------------------------------------------------------------------ round trips

TEST_F(StoreTest, RoundTripAddressesAndPrefixes) {
  OverrideStore s(options());
  s.put_address(ip("192.0.2.10"), Override::name("mail.customer.example", 300));
  s.put_address(ip("2001:db8::1"), Override::name("v6.customer.example.", 0));
  s.put_address(ip("192.0.2.11"), Override::none(30));
  s.put_prefix(pfx("198.51.100.0/24"), Override::name_template("cust42-{ip}.biz.example.", 600));
  s.put_prefix(pfx("2001:db8:1::/48"), Override::none());

  auto a = s.get_address(ip("192.0.2.10"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, OverrideKind::name);
  EXPECT_EQ(a->target, "mail.customer.example.");  // canonical: trailing dot
  EXPECT_EQ(a->ttl, 300U);
  EXPECT_EQ(s.get_address(ip("2001:db8::1")), Override::name("v6.customer.example.", 0));
  EXPECT_EQ(s.get_address(ip("192.0.2.11")), Override::none(30));
  EXPECT_FALSE(s.get_address(ip("192.0.2.12")));
  EXPECT_EQ(s.get_prefix(pfx("198.51.100.0/24")),
            Override::name_template("cust42-{ip}.biz.example.", 600));
  EXPECT_EQ(s.get_prefix(pfx("2001:db8:1::/48")), Override::none());
  EXPECT_FALSE(s.get_prefix(pfx("198.51.100.0/25")));
  // An address override is not a prefix override and vice versa.
  EXPECT_FALSE(s.get_prefix(pfx("192.0.2.10/32")));

  OverrideReader r(s.db());
  r.begin();
  auto v = r.find_address(ip("192.0.2.10"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->kind, OverrideKind::name);
  EXPECT_EQ(v->target, "mail.customer.example.");
  EXPECT_EQ(v->ttl, 300U);
  EXPECT_GT(v->timestamp_ns, 0U);
  auto p = r.find_prefix(ip("198.51.100.77"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->prefix, pfx("198.51.100.0/24"));
  EXPECT_EQ(p->value.kind, OverrideKind::name_template);
  EXPECT_EQ(p->value.target, "cust42-{ip}.biz.example.");
  auto p6 = r.find_prefix(ip("2001:db8:1:2::5"));
  ASSERT_TRUE(p6);
  EXPECT_EQ(p6->value.kind, OverrideKind::none);
  EXPECT_FALSE(r.find_prefix(ip("203.0.113.1")));
  EXPECT_EQ(r.find_name(name("MAIL.Customer.example")), ip("192.0.2.10"));
  EXPECT_EQ(r.find_name(name("v6.customer.example")), ip("2001:db8::1"));
  EXPECT_FALSE(r.find_name(name("nope.example")));
  r.end();
  EXPECT_EQ(r.error_count(), 0U);
}

TEST_F(StoreTest, PrefixGenerationMovesOnlyWithPrefixChanges) {
  OverrideStore s(options());
  OverrideReader r(s.db());
  r.begin();
  EXPECT_EQ(r.prefix_generation(), 0U);
  r.end();
  s.put_prefix(pfx("10.1.0.0/16"), Override::name_template("a-{ip}.example."));
  r.begin();
  const std::uint64_t g1 = r.prefix_generation();
  std::size_t listed = r.for_each_prefix([](const PrefixOverrideView& v) {
    EXPECT_EQ(v.prefix.to_string(), "10.1.0.0/16");
    EXPECT_EQ(v.value.target, "a-{ip}.example.");
  });
  r.end();
  EXPECT_GT(g1, 0U);
  EXPECT_EQ(listed, 1U);
  s.put_address(ip("10.1.2.3"), Override::name("x.example."));  // not a prefix change
  r.begin();
  EXPECT_EQ(r.prefix_generation(), g1);
  r.end();
  ASSERT_TRUE(s.erase_prefix(pfx("10.1.0.0/16")));
  r.begin();
  EXPECT_GT(r.prefix_generation(), g1);
  EXPECT_EQ(r.for_each_prefix([](const PrefixOverrideView&) {}), 0U);  // tombstones skipped
  r.end();
}

TEST_F(StoreTest, RejectsInvalidInput) {
  OverrideStore s(options());
  EXPECT_THROW(s.put_address(ip("192.0.2.1"), Override::name("a..b")), StoreError);
  EXPECT_THROW(s.put_address(ip("192.0.2.1"), Override::name(".")), StoreError);
  EXPECT_THROW(s.put_prefix(Prefix{ip("10.0.0.1"), 8}, Override::none()), StoreError);
  EXPECT_THROW(s.put_prefix(Prefix{ip("10.0.0.0"), 33}, Override::none()), StoreError);
  EXPECT_THROW(s.put_prefix(pfx("10.0.0.0/8"), Override::name_template("")), StoreError);
  try {
    s.put_address(ip("192.0.2.1"), Override::name("a..b"));
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("not a valid DNS name"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.stats().address_overrides, 0U);
}

TEST_F(StoreTest, ReadOnlyOpenOfMissingStoreIsClear) {
  try {
    (void)OverrideReader::open(root_ + "/does-not-exist");
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(root_ + "/does-not-exist"));
}

TEST_F(StoreTest, WriterCreatesDirectoryAndSetsCloexec) {
  OverrideStore s(options());
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/data.mdb"));
  int fd = -1;
  ASSERT_EQ(mdb_env_get_fd(s.db()->env().get(), &fd), 0);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  unsigned flags = 0;
  ASSERT_EQ(mdb_env_get_flags(s.db()->env().get(), &flags), 0);
  EXPECT_NE(flags & MDB_NOTLS, 0U);
  EXPECT_EQ(flags & (MDB_WRITEMAP | MDB_NOSYNC | MDB_NOMETASYNC), 0U);
}

TEST_F(StoreTest, SameProcessOpensShareOneEnvironment) {
  OverrideStore s(options());
  StoreOptions ro = options();
  ro.read_only = true;
  auto db = OverrideDb::open(ro);
  EXPECT_EQ(db.get(), s.db().get());
}

// A data.mdb moved in next to the kept lock.mdb: the old environment is retired under readers
// that hold reused txns (idle), which then fail cleanly, and the reopened one serves the new
// file (store/README.md, "A store replaced under a running server").
TEST_F(StoreTest, RetireUnderIdleReadersThenReopenServesTheMovedInFile) {
  const std::string other = root_ + "/other";
  {
    OverrideStore s(options());
    s.put_address(ip("10.0.0.1"), Override::name("old.example."));
    StoreOptions o = options();
    o.path = other;
    OverrideStore t(o);
    t.put_address(ip("10.0.0.1"), Override::name("new.example."));
    t.put_address(ip("10.0.0.2"), Override::name("two.example."));
  }
  StoreOptions ro = options();
  ro.read_only = true;
  ro.verify_pages = true;
  auto db = OverrideDb::open(ro);
  db->reserve_reader_slots(2);
  OverrideReader used(db);
  used.begin();
  ASSERT_TRUE(used.find_address(ip("10.0.0.1")));
  EXPECT_EQ(used.find_address(ip("10.0.0.1"))->target, "old.example.");
  used.end();
  OverrideReader unused(db);

  std::filesystem::copy_file(other + "/data.mdb", dir_ + "/data.mdb.new");
  std::filesystem::rename(dir_ + "/data.mdb.new", dir_ + "/data.mdb");
  EXPECT_NE(db->env().replaced(), "");
  EXPECT_TRUE(db->env().lock_file_kept());

  db->retire();
  EXPECT_TRUE(db->retired());
  EXPECT_THROW(used.begin(), StoreError);
  EXPECT_THROW(unused.begin(), StoreError);
  EXPECT_NE(db->env().replaced(), "");  // still answers: other keepers ask

  auto next = OverrideDb::reopen(ro, *db);
  ASSERT_NE(next.get(), db.get());
  next->reserve_reader_slots(db->reserved_reader_slots());
  EXPECT_EQ(db->reserved_reader_slots(), 2U);
  EXPECT_EQ(next->env().replaced(), "");
  // Nobody else had lock.mdb open: LMDB reset the lock table, so the txn id the lock file
  // carried from the old file does not pick a wrong meta page of the new one.
  OverrideReader r(next);
  r.begin();
  auto v = r.find_address(ip("10.0.0.1"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->target, "new.example.");
  EXPECT_TRUE(r.find_address(ip("10.0.0.2")));
  r.end();
  EXPECT_EQ(OverrideDb::open(ro).get(), next.get());  // the registry hands out the new one
}

// ------------------------------------------------------------------------------ listing

TEST_F(StoreTest, ListInAddressOrderWithinAndLimit) {
  OverrideStore s(options());
  WriteBatch b;
  b.put_address(ip("10.0.0.5"), Override::name("five.example."));
  b.put_address(ip("10.0.0.1"), Override::name("one.example."));
  b.put_address(ip("10.0.1.1"), Override::none());
  b.put_address(ip("9.255.255.255"), Override::none());
  b.put_address(ip("2001:db8::1"), Override::none());
  b.put_prefix(pfx("10.0.0.0/24"), Override::name_template("t-{ip}.example."));
  b.put_prefix(pfx("10.0.0.0/16"), Override::none());
  b.put_prefix(pfx("10.0.0.128/25"), Override::none());
  b.put_prefix(pfx("2001:db8::/32"), Override::none());
  s.apply(b);

  const std::vector<std::string> all = {
      "A 9.255.255.255/32 none ",
      "P 10.0.0.0/16 none ",
      "P 10.0.0.0/24 template t-{ip}.example.",
      "A 10.0.0.1/32 name one.example.",
      "A 10.0.0.5/32 name five.example.",
      "P 10.0.0.128/25 none ",
      "A 10.0.1.1/32 none ",
      "P 2001:db8::/32 none ",
      "A 2001:db8::1/128 none ",
  };
  EXPECT_EQ(list_all(s), all);
  EXPECT_EQ(list_all(s, {}, 3), std::vector<std::string>(all.begin(), all.begin() + 3));

  // within 10.0.0.0/24: the /16 is not inside it and is left out.
  EXPECT_EQ(list_all(s, pfx("10.0.0.0/24")),
            (std::vector<std::string>{
                "P 10.0.0.0/24 template t-{ip}.example.", "A 10.0.0.1/32 name one.example.",
                "A 10.0.0.5/32 name five.example.", "P 10.0.0.128/25 none "}));
  EXPECT_EQ(list_all(s, pfx("10.0.0.0/24"), 2),
            (std::vector<std::string>{"P 10.0.0.0/24 template t-{ip}.example.",
                                      "A 10.0.0.1/32 name one.example."}));
  EXPECT_EQ(list_all(s, pfx("10.0.1.0/24")), (std::vector<std::string>{"A 10.0.1.1/32 none "}));
  EXPECT_EQ(list_all(s, pfx("2001:db8::/32")),
            (std::vector<std::string>{"P 2001:db8::/32 none ", "A 2001:db8::1/128 none "}));
  EXPECT_TRUE(list_all(s, pfx("172.16.0.0/12")).empty());

  // Erased entries disappear from the listing.
  EXPECT_TRUE(s.erase_address(ip("10.0.0.1")));
  EXPECT_TRUE(s.erase_prefix(pfx("10.0.0.0/24")));
  EXPECT_EQ(
      list_all(s, pfx("10.0.0.0/24")),
      (std::vector<std::string>{"A 10.0.0.5/32 name five.example.", "P 10.0.0.128/25 none "}));
}

// ------------------------------------------------------------------------------ format

TEST_F(StoreTest, ValuesCarryLightningStreamHeader) {
  OverrideStore s(options());
  const std::uint64_t before = s.db()->env().info().last_txn_id;
  s.put_address(ip("192.0.2.1"), Override::name("a.example.", 120));
  const auto key = addr_key(ip("192.0.2.1"));
  EXPECT_EQ(key, (std::vector<std::uint8_t>{4, 192, 0, 2, 1}));
  const auto v = read_raw(s, s.db()->dbis().addr, key);
  ASSERT_GE(v.size(), format::kHeaderSize + 6);
  const std::uint64_t ts = format::load_be64(v.data());
  EXPECT_GT(ts, std::uint64_t{1600000000} * 1000000000ULL);  // after 2020, in ns
  EXPECT_EQ(format::load_be64(v.data() + 8), before + 1);    // the writing txn's id
  EXPECT_EQ(v[16], 0);                                       // LS header version
  EXPECT_EQ(v[17], 0);                                       // flags
  EXPECT_EQ(v[18] | v[19] | v[20] | v[21], 0);               // reserved
  EXPECT_EQ(format::load_be16(v.data() + 22), 0);            // no extension blocks
  EXPECT_EQ(v[24], format::kPayloadVersion);
  EXPECT_EQ(v[25], static_cast<std::uint8_t>(OverrideKind::name));
  EXPECT_EQ(format::load_be32(v.data() + 26), 120U);
  EXPECT_EQ(std::string(v.begin() + 30, v.end()), "a.example.");

  // Prefix keys: family, masked bytes, length.
  std::array<std::uint8_t, format::kMaxPrefixKey> pk{};
  ASSERT_EQ(format::prefix_key(ip("10.1.2.3"), 16, pk.data()), 6U);
  EXPECT_EQ((std::vector<std::uint8_t>(pk.begin(), pk.begin() + 6)),
            (std::vector<std::uint8_t>{4, 10, 1, 0, 0, 16}));
}

TEST_F(StoreTest, TombstonesAreInvisible) {
  OverrideStore s(options());
  s.put_address(ip("192.0.2.1"), Override::name("a.example."));
  EXPECT_TRUE(s.erase_address(ip("192.0.2.1")));
  EXPECT_FALSE(s.erase_address(ip("192.0.2.1")));  // already gone
  EXPECT_FALSE(s.erase_address(ip("192.0.2.2")));  // never existed

  // The key stays, as a 24-byte header with the Deleted flag and no payload.
  const auto v = read_raw(s, s.db()->dbis().addr, addr_key(ip("192.0.2.1")));
  ASSERT_EQ(v.size(), format::kHeaderSize);
  EXPECT_EQ(v[17], format::kFlagDeleted);

  EXPECT_FALSE(s.get_address(ip("192.0.2.1")));
  EXPECT_TRUE(list_all(s).empty());
  OverrideReader r(s.db());
  r.begin();
  EXPECT_FALSE(r.find_address(ip("192.0.2.1")));
  EXPECT_FALSE(r.find_name(name("a.example.")));
  r.end();
  EXPECT_EQ(r.error_count(), 0U);
  const StoreStats st = s.stats();
  EXPECT_EQ(st.address_overrides, 0U);
  EXPECT_EQ(st.names, 0U);
  EXPECT_EQ(st.tombstones, 2U);  // the address and its name-index entry

  // A tombstone written by another tool (unknown flag bits set too) is also skipped.
  put_raw(s, s.db()->dbis().addr, addr_key(ip("192.0.2.3")),
          raw_value(0, format::kFlagDeleted | 0x80, 0, format::kPayloadVersion, "x.example."));
  EXPECT_FALSE(s.get_address(ip("192.0.2.3")));
  // Re-adding after a delete works.
  s.put_address(ip("192.0.2.1"), Override::name("b.example."));
  EXPECT_EQ(s.get_address(ip("192.0.2.1")), Override::name("b.example."));
}

/// purge_tombstones deletes only tombstones older than the cutoff, in chunks, and leaves every
/// live override, the name index and the prefix bitmaps exactly as they were.
TEST_F(StoreTest, PurgeTombstonesKeepsEveryLiveOverride) {
  OverrideStore s(options());
  for (std::uint32_t i = 0; i < 40; ++i) {
    s.put_address(IpAddress::v4(0x0A010000U + i), Override::name(numbered("old", i, ".example.")));
  }
  s.put_prefix(pfx("10.9.0.0/16"), Override::name_template("p-{ip}.example."));
  s.put_prefix(pfx("10.8.0.0/16"), Override::none());
  ASSERT_TRUE(s.erase_prefix(pfx("10.8.0.0/16")));
  WriteBatch renames;  // 30 renames (30 name tombstones) and 5 erases (5 + 5 tombstones)
  for (std::uint32_t i = 0; i < 30; ++i) {
    renames.put_address(IpAddress::v4(0x0A010000U + i),
                        Override::name(numbered("new", i, ".example.")));
  }
  for (std::uint32_t i = 35; i < 40; ++i) {
    renames.erase_address(IpAddress::v4(0x0A010000U + i));
  }
  s.apply(renames);
  const auto before = list_all(s);
  const StoreStats st0 = s.stats(~0ULL);
  EXPECT_EQ(st0.tombstones, 30U + 5U + 5U + 1U);
  EXPECT_EQ(st0.expired_tombstones, st0.tombstones);
  EXPECT_NE(st0.oldest_tombstone_ns, 0U);

  // Nothing is older than a cutoff before every write.
  PurgeResult r = s.purge_tombstones(st0.oldest_tombstone_ns);
  EXPECT_EQ(r.purged, 0U);
  EXPECT_EQ(r.kept, st0.tombstones);

  r = s.purge_tombstones(~0ULL, /*per_txn=*/4);
  EXPECT_EQ(r.purged, st0.tombstones);
  EXPECT_EQ(r.kept, 0U);
  EXPECT_GE(r.transactions, 11U);  // 41 deletions, 4 per transaction
  const StoreStats st1 = s.stats();
  EXPECT_EQ(st1.tombstones, 0U);
  EXPECT_EQ(st1.address_overrides, st0.address_overrides);
  EXPECT_EQ(st1.names, st0.names);
  EXPECT_GT(st1.free_pages, 0U);
  EXPECT_EQ(list_all(s), before);
  OverrideReader rd(s.db());
  rd.begin();
  EXPECT_EQ(rd.find_name(name("new7.example.")), IpAddress::v4(0x0A010007U));
  EXPECT_EQ(rd.find_name(name("old33.example.")), IpAddress::v4(0x0A010021U));
  EXPECT_FALSE(rd.find_name(name("old7.example.")));
  EXPECT_FALSE(rd.find_address(IpAddress::v4(0x0A010024U)));
  ASSERT_TRUE(rd.find_prefix(ip("10.9.1.2")));
  EXPECT_FALSE(rd.find_prefix(ip("10.8.1.2")));
  rd.end();
}

TEST_F(StoreTest, UnknownVersionsAreRejectedWithClearErrors) {
  OverrideStore s(options());
  const auto k1 = addr_key(ip("192.0.2.1"));
  const auto k2 = addr_key(ip("192.0.2.2"));
  const auto k3 = addr_key(ip("192.0.2.3"));
  const auto k4 = addr_key(ip("192.0.2.4"));
  put_raw(s, s.db()->dbis().addr, k1, raw_value(1, 0, 0, format::kPayloadVersion, "a."));
  put_raw(s, s.db()->dbis().addr, k2, raw_value(0, 0, 0, 2, "b."));
  put_raw(s, s.db()->dbis().addr, k3, raw_value(0, 0, 1, format::kPayloadVersion, "c."));
  const std::vector<std::uint8_t> short_value(10, 0);
  put_raw(s, s.db()->dbis().addr, k4, short_value);

  // Writer side: a clear exception.
  try {
    (void)s.get_address(ip("192.0.2.1"));
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("192.0.2.1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("header version"), std::string::npos) << e.what();
  }
  try {
    (void)s.get_address(ip("192.0.2.2"));
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("payload version"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)s.get_address(ip("192.0.2.4")), StoreError);
  // An extension block (LS header_extra_padding_block) is skipped and the value read.
  auto c = s.get_address(ip("192.0.2.3"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->target, "c.");
  EXPECT_EQ(c->ttl, 60U);

  // Reader side: skipped, counted, explained; never thrown.
  OverrideReader r(s.db());
  r.begin();
  EXPECT_FALSE(r.find_address(ip("192.0.2.1")));
  EXPECT_EQ(r.last_error(), format::DecodeError::unsupported_header_version);
  EXPECT_NE(r.last_error_message().find("header version"), std::string_view::npos);
  EXPECT_FALSE(r.find_address(ip("192.0.2.2")));
  EXPECT_EQ(r.last_error(), format::DecodeError::unsupported_payload_version);
  EXPECT_FALSE(r.find_address(ip("192.0.2.4")));
  EXPECT_EQ(r.last_error(), format::DecodeError::truncated_header);
  auto rc = r.find_address(ip("192.0.2.3"));
  ASSERT_TRUE(rc);
  EXPECT_EQ(rc->target, "c.");
  r.end();
  EXPECT_EQ(r.error_count(), 3U);
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  {
    OverrideStore s(options());
    std::vector<std::uint8_t> v(format::kHeaderSize);
    format::encode_header(v.data(), 1, 1, 0);
    v.push_back(format::kPayloadVersion);
    v.resize(v.size() + 4);
    format::store_be32(v.data() + format::kHeaderSize + 1, format::kSchemaVersion + 1);
    put_raw(s, s.db()->dbis().meta, format::as_bytes(format::kMetaSchemaVersion), v);
  }
  try {
    OverrideStore again(options());
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)OverrideReader::open(dir_), StoreError);
}

// ------------------------------------------------------------------------------ name index

TEST_F(StoreTest, ReverseNameIndexStaysConsistent) {
  OverrideStore s(options());
  const IpAddress a = ip("192.0.2.1");
  const IpAddress b = ip("2001:db8::b");
  s.put_address(a, Override::name("one.example."));
  EXPECT_EQ(s.get_name(name("ONE.example")), a);

  // Replace: the old name is released, the new one indexed.
  s.put_address(a, Override::name("Two.Example."));
  EXPECT_FALSE(s.get_name(name("one.example")));
  EXPECT_EQ(s.get_name(name("two.example")), a);

  // Same name with different case / TTL keeps the index.
  s.put_address(a, Override::name("TWO.example.", 99));
  EXPECT_EQ(s.get_name(name("two.example")), a);

  // Kind change to none drops the name.
  s.put_address(a, Override::none());
  EXPECT_FALSE(s.get_name(name("two.example")));

  // Delete drops the name.
  s.put_address(a, Override::name("three.example."));
  EXPECT_TRUE(s.erase_address(a));
  EXPECT_FALSE(s.get_name(name("three.example")));

  // Takeover (only with allow_shared_names): the last writer owns a shared name; removing
  // the previous owner keeps it.
  WriteRules shared;
  shared.allow_shared_names = true;
  s.set_write_rules(shared);
  s.put_address(a, Override::name("shared.example."));
  s.put_address(b, Override::name("shared.example."));
  EXPECT_EQ(s.get_name(name("shared.example")), b);
  EXPECT_TRUE(s.erase_address(a));
  EXPECT_EQ(s.get_name(name("shared.example")), b);
  EXPECT_TRUE(s.erase_address(b));
  EXPECT_FALSE(s.get_name(name("shared.example")));

  // In a batch too.
  WriteBatch batch;
  batch.put_address(a, Override::name("x.example."));
  batch.put_address(a, Override::name("y.example."));
  s.apply(batch);
  OverrideReader r(s.db());
  r.begin();
  EXPECT_FALSE(r.find_name(name("x.example.")));
  EXPECT_EQ(r.find_name(name("Y.EXAMPLE")), a);
  r.end();
}

/// The write rules' shared-name part: refused in single writes and batches (every conflict
/// listed, with the seq of both sides), accepted when the names only swap inside one batch;
/// with allow_shared_names the latest write by seq wins, whatever the address order.
TEST_F(StoreTest, SharedNamesAreRefusedUnlessAllowedAndTheLatestWriteWins) {
  OverrideStore s(options());
  const IpAddress a = ip("10.1.1.1");
  const IpAddress b = ip("10.1.1.2");
  s.put_address(a, Override::name("mail.example."));
  try {
    s.put_address(b, Override::name("MAIL.example."));
    FAIL() << "a shared name was accepted";
  } catch (const WriteConflictError& e) {
    ASSERT_EQ(e.conflicts().size(), 1U);
    EXPECT_EQ(e.conflicts()[0].kind, WriteConflict::Kind::shared_name);
    EXPECT_EQ(e.conflicts()[0].key, Prefix::parse("10.1.1.2/32").value());
    EXPECT_EQ(e.conflicts()[0].other, "10.1.1.1");
    EXPECT_EQ(e.conflicts()[0].other_seq, 0U);  // the stored side
    EXPECT_NE(std::string(e.what()).find("the name mail.example. is already the override of "
                                         "10.1.1.1 in the store"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(s.get_address(b));  // nothing changed
  EXPECT_EQ(s.get_name(name("mail.example.")), a);

  // In one batch: two lines with one name, and one line against the store. Both reported.
  const IpAddress c = ip("10.1.1.3");
  std::vector<Change> batch{Change::put_address(c, Override::name("x.example.")),
                            Change::put_address(b, Override::name("x.example.")),
                            Change::put_address(ip("10.1.1.9"), Override::name("mail.example."))};
  batch[0].seq = 7;
  batch[1].seq = 9;
  batch[2].seq = 12;
  try {
    s.apply(batch);
    FAIL() << "a batch with shared names was accepted";
  } catch (const WriteConflictError& e) {
    ASSERT_EQ(e.conflicts().size(), 2U);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> seqs;
    for (const auto& k : e.conflicts()) {
      seqs.emplace_back(k.seq, k.other_seq);
    }
    std::sort(seqs.begin(), seqs.end());
    EXPECT_EQ(seqs[0], (std::pair<std::uint64_t, std::uint64_t>{9, 7}));  // the later line
    EXPECT_EQ(seqs[1], (std::pair<std::uint64_t, std::uint64_t>{12, 0}));
  }
  EXPECT_FALSE(s.get_address(c));
  // A dry run reports the same and writes nothing either.
  EXPECT_THROW(s.apply(batch, /*dry_run=*/true), WriteConflictError);

  // Names that move between addresses in one batch are fine: nobody shares at the end.
  s.put_address(b, Override::name("other.example."));
  WriteBatch swap;
  swap.put_address(a, Override::name("other.example."));
  swap.put_address(b, Override::name("mail.example."));
  s.apply(swap);
  EXPECT_EQ(s.get_name(name("mail.example.")), b);
  EXPECT_EQ(s.get_name(name("other.example.")), a);

  // Allowed: the latest write (seq, e.g. the import line) wins, not the higher address.
  WriteRules shared;
  shared.allow_shared_names = true;
  s.set_write_rules(shared);
  std::vector<Change> forced{Change::put_address(ip("10.1.1.20"), Override::name("w.example.")),
                             Change::put_address(ip("10.1.1.10"), Override::name("w.example."))};
  forced[0].seq = 1;
  forced[1].seq = 2;
  s.apply(forced);
  EXPECT_EQ(s.get_name(name("w.example.")), ip("10.1.1.10"));
  forced[0].seq = 4;
  s.apply(forced);
  EXPECT_EQ(s.get_name(name("w.example.")), ip("10.1.1.20"));
}

/// The write rules' template part (mapper::templates_collide): two prefix overrides, or an
/// override and a configured template, with one text that does not give the whole address.
TEST_F(StoreTest, CollidingTemplatesAreRefusedInEveryWritePath) {
  OverrideStore s(options());
  const std::string in22 = "in22-{d}.pool.example.net.";
  s.put_prefix(pfx("10.20.1.0/24"), Override::name_template(in22));
  try {
    s.put_prefix(pfx("10.20.2.0/24"), Override::name_template(in22));
    FAIL() << "a colliding template was accepted";
  } catch (const WriteConflictError& e) {
    ASSERT_EQ(e.conflicts().size(), 1U);
    EXPECT_EQ(e.conflicts()[0].kind, WriteConflict::Kind::template_collision);
    EXPECT_EQ(e.conflicts()[0].key, pfx("10.20.2.0/24"));
    EXPECT_EQ(e.conflicts()[0].other, "the override 10.20.1.0/24");
  }
  EXPECT_FALSE(s.get_prefix(pfx("10.20.2.0/24")));
  // Upper case is the same template; two /32s too.
  EXPECT_THROW(
      s.put_prefix(pfx("10.20.3.0/24"), Override::name_template("IN22-{d}.pool.example.net.")),
      WriteConflictError);
  s.put_prefix(pfx("10.9.1.7/32"), Override::name_template("h{d}.pool.example.net."));
  EXPECT_THROW(s.put_prefix(pfx("10.9.2.7/32"), Override::name_template("h{d}.pool.example.net.")),
               WriteConflictError);
  // Replacing the same key, a self-contained text, and the other family are fine.
  s.put_prefix(pfx("10.20.1.0/24"), Override::name_template(in22, 60));
  s.put_prefix(pfx("10.21.0.0/16"), Override::name_template("c-{ip}.pool.example.net."));
  s.put_prefix(pfx("10.22.0.0/16"), Override::name_template("c-{ip}.pool.example.net."));
  s.put_prefix(pfx("2001:db8:20::/120"),
               Override::name_template("in22-{offset}.pool.example.net."));

  // A batch: every colliding line is reported, against the earlier line.
  std::vector<Change> batch{
      Change::put_prefix(pfx("10.30.1.0/24"), Override::name_template("b-{d}.pool.example.net.")),
      Change::put_prefix(pfx("10.30.2.0/24"), Override::name_template("b-{d}.pool.example.net."))};
  batch[0].seq = 3;
  batch[1].seq = 5;
  try {
    s.apply(batch);
    FAIL() << "a batch with colliding templates was accepted";
  } catch (const WriteConflictError& e) {
    ASSERT_EQ(e.conflicts().size(), 1U);
    EXPECT_EQ(e.conflicts()[0].seq, 5U);
    EXPECT_EQ(e.conflicts()[0].other_seq, 3U);
  }

  // Against the configuration: a configured prefix with that text collides, unless an
  // override of its own prefix replaces it; deleting that override brings it back.
  WriteRules rules;
  const auto cfg =
      amap::mapper::Template::compile("cfg-{d}.pool.example.net.", pfx("10.40.1.0/24"));
  ASSERT_TRUE(cfg.has_value());
  rules.config_templates.push_back(ConfigTemplate{*cfg, "a.yaml:12 prefixes[2]"});
  s.set_write_rules(rules);
  try {
    s.put_prefix(pfx("10.20.9.0/24"), Override::name_template("cfg-{d}.pool.example.net."));
    FAIL() << "a template colliding with the configuration was accepted";
  } catch (const WriteConflictError& e) {
    ASSERT_EQ(e.conflicts().size(), 1U);
    EXPECT_EQ(e.conflicts()[0].other, "the configured prefix 10.40.1.0/24 (a.yaml:12 prefixes[2])");
    EXPECT_TRUE(e.conflicts()[0].other_in_config);
  }
  s.put_prefix(pfx("10.40.1.0/24"), Override::name_template("cfg-{d}.pool.example.net."));
  s.put_prefix(pfx("10.40.1.0/24"), Override::name_template("other-{d}.pool.example.net."));
  s.put_prefix(pfx("10.20.9.0/24"), Override::name_template("cfg-{d}.pool.example.net."));
  EXPECT_THROW(s.erase_prefix(pfx("10.40.1.0/24")), WriteConflictError);
  EXPECT_TRUE(s.get_prefix(pfx("10.40.1.0/24")));

  // What mapctl check reports for a store written before these rules.
  const std::vector<std::pair<Prefix, std::string>> stored{
      {pfx("10.50.1.0/24"), "s-{d}.pool.example.net."},
      {pfx("10.50.2.0/24"), "s-{d}.pool.example.net."},
      {pfx("10.50.3.0/24"), "cfg-{d}.pool.example.net."},
      {pfx("10.51.0.0/16"), "s-{ip}.pool.example.net."},
      {pfx("10.52.0.0/16"), "s-{ip}.pool.example.net."}};
  const auto found = find_template_collisions(stored, rules.config_templates);
  ASSERT_EQ(found.size(), 2U);
  EXPECT_NE(found[0].find("10.50.3.0/24"), std::string::npos) << found[0];
  EXPECT_NE(found[0].find("the configured prefix 10.40.1.0/24"), std::string::npos) << found[0];
  EXPECT_NE(found[1].find("the override 10.50.2.0/24 and the override 10.50.1.0/24"),
            std::string::npos)
      << found[1];
}

// ------------------------------------------------------------------------------ prefixes

TEST_F(StoreTest, LongestCoveringPrefixWins) {
  OverrideStore s(options());
  WriteBatch b;
  b.put_prefix(pfx("10.0.0.0/8"), Override::name_template("p8-{ip}.example."));
  b.put_prefix(pfx("10.1.0.0/16"), Override::name_template("p16-{ip}.example."));
  b.put_prefix(pfx("10.1.2.0/24"), Override::none());
  b.put_prefix(pfx("10.1.2.128/25"), Override::name_template("p25-{ip}.example."));
  b.put_prefix(pfx("0.0.0.0/0"), Override::name_template("all-{ip}.example."));
  b.put_prefix(pfx("2001:db8::/32"), Override::name_template("v6-32.example."));
  b.put_prefix(pfx("2001:db8:1::/48"), Override::name_template("v6-48.example."));
  b.put_prefix(pfx("2001:db8:1:2::/64"), Override::name_template("v6-64.example."));
  s.apply(b);

  OverrideReader r(s.db());
  auto len_of = [&](std::string_view a) -> int {
    auto p = r.find_prefix(ip(a));
    return p ? p->prefix.length : -1;
  };
  r.begin();
  EXPECT_EQ(len_of("10.1.2.200"), 25);
  EXPECT_EQ(len_of("10.1.2.3"), 24);
  EXPECT_EQ(len_of("10.1.3.3"), 16);
  EXPECT_EQ(len_of("10.2.3.3"), 8);
  EXPECT_EQ(len_of("11.0.0.1"), 0);
  EXPECT_EQ(len_of("2001:db8:1:2::1"), 64);
  EXPECT_EQ(len_of("2001:db8:1:3::1"), 48);
  EXPECT_EQ(len_of("2001:db8:2::1"), 32);
  EXPECT_EQ(len_of("2001:db9::1"), -1);
  auto p = r.find_prefix(ip("10.1.2.200"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->prefix, pfx("10.1.2.128/25"));
  EXPECT_EQ(p->value.target, "p25-{ip}.example.");
  r.end();

  // Erasing the most specific falls back to the next; the length bitmap follows.
  EXPECT_TRUE(s.erase_prefix(pfx("10.1.2.128/25")));
  EXPECT_TRUE(s.erase_prefix(pfx("0.0.0.0/0")));
  EXPECT_FALSE(s.erase_prefix(pfx("10.1.2.128/25")));
  r.begin();
  EXPECT_EQ(len_of("10.1.2.200"), 24);
  EXPECT_EQ(len_of("11.0.0.1"), -1);
  r.end();

  auto bitmap = read_raw(s, s.db()->dbis().meta, format::as_bytes(format::kMetaPrefixLengths4));
  ASSERT_EQ(bitmap.size(), format::kHeaderSize + 1 + format::kLengthBitmap4);
  const std::uint8_t* bits = bitmap.data() + format::kHeaderSize + 1;
  // Lengths 8, 16, 24 present; 0 and 25 gone.
  EXPECT_EQ(bits[0], 0x00);  // 0..7
  EXPECT_EQ(bits[1], 0x80);  // 8
  EXPECT_EQ(bits[2], 0x80);  // 16
  EXPECT_EQ(bits[3], 0x80);  // 24
  EXPECT_EQ(bits[4], 0x00);  // 32

  // Same-length siblings: erasing one keeps the length for the other.
  s.put_prefix(pfx("10.9.0.0/16"), Override::none());
  EXPECT_TRUE(s.erase_prefix(pfx("10.1.0.0/16")));
  r.begin();
  EXPECT_EQ(len_of("10.9.1.1"), 16);
  EXPECT_EQ(len_of("10.1.3.3"), 8);
  r.end();

  s.rebuild_meta();  // idempotent
  r.begin();
  EXPECT_EQ(len_of("10.9.1.1"), 16);
  r.end();
}

// ------------------------------------------------------------------------------ batches

TEST_F(StoreTest, BatchIsAllOrNothing) {
  OverrideStore s(options());
  s.put_address(ip("192.0.2.1"), Override::name("keep.example."));
  WriteBatch bad;
  bad.put_address(ip("192.0.2.2"), Override::name("new.example."));
  bad.erase_address(ip("192.0.2.1"));
  bad.put_prefix(pfx("10.0.0.0/8"), Override::none());
  bad.put_address(ip("192.0.2.3"), Override::name("bad..name"));
  EXPECT_THROW(s.apply(bad), StoreError);
  EXPECT_EQ(list_all(s), (std::vector<std::string>{"A 192.0.2.1/32 name keep.example."}));
  EXPECT_EQ(s.get_name(name("keep.example")), ip("192.0.2.1"));
  EXPECT_FALSE(s.get_name(name("new.example")));

  WriteBatch good;
  good.put_address(ip("192.0.2.2"), Override::name("new.example."));
  good.erase_address(ip("192.0.2.1"));
  good.erase_address(ip("192.0.2.99"));
  good.put_prefix(pfx("10.0.0.0/8"), Override::none());
  const ApplyResult res = s.apply(good);
  EXPECT_EQ(res.written, 2U);
  EXPECT_EQ(res.erased, 1U);
  EXPECT_EQ(list_all(s),
            (std::vector<std::string>{"P 10.0.0.0/8 none ", "A 192.0.2.2/32 name new.example."}));
  const StoreStats st = s.stats();
  EXPECT_EQ(st.address_overrides, 1U);
  EXPECT_EQ(st.prefix_overrides, 1U);
  EXPECT_EQ(st.names, 1U);
}

/// ApplyResult's added / replaced / unchanged, and replace_within (a sync): it erases what the
/// batch does not put inside the prefix, in the same transaction, and nothing outside.
TEST_F(StoreTest, ApplyCountsAndReplaceWithin) {
  OverrideStore s(options());
  s.put_address(ip("192.0.2.1"), Override::name("same.example.", 60));
  s.put_address(ip("192.0.2.2"), Override::name("old.example.", 60));
  s.put_address(ip("192.0.2.3"), Override::name("gone.example."));
  s.put_prefix(pfx("192.0.2.128/25"), Override::none());
  s.put_prefix(pfx("192.0.0.0/16"), Override::none());  // wider, starts before: stays
  s.put_address(ip("198.51.100.1"), Override::name("outside.example."));

  std::vector<Change> sync{Change::put_address(ip("192.0.2.1"), Override::name("SAME.example", 60)),
                           Change::put_address(ip("192.0.2.2"), Override::name("new.example.", 60)),
                           Change::put_address(ip("192.0.2.4"), Override::none())};
  ApplyOptions dry;
  dry.dry_run = true;
  dry.replace_within = pfx("192.0.2.0/24");
  const auto before = list_all(s);
  ApplyResult r = s.apply(sync, dry);
  EXPECT_EQ(r.written, 3U);
  EXPECT_EQ(r.added, 1U);
  EXPECT_EQ(r.replaced, 2U);  // the name's case differs: stored as given, so replaced
  EXPECT_EQ(r.unchanged, 0U);
  EXPECT_EQ(r.erased, 2U);  // 192.0.2.3 and the /25
  EXPECT_EQ(list_all(s), before);

  sync[0] = Change::put_address(ip("192.0.2.1"), Override::name("same.example.", 60));
  ApplyOptions real;
  real.replace_within = pfx("192.0.2.0/24");
  r = s.apply(sync, real);
  EXPECT_EQ(r.unchanged, 1U);
  EXPECT_EQ(r.replaced, 1U);
  EXPECT_EQ(r.added, 1U);
  EXPECT_EQ(r.erased, 2U);
  EXPECT_EQ(list_all(s),
            (std::vector<std::string>{"P 192.0.0.0/16 none ", "A 192.0.2.1/32 name same.example.",
                                      "A 192.0.2.2/32 name new.example.", "A 192.0.2.4/32 none ",
                                      "A 198.51.100.1/32 name outside.example."}));
  EXPECT_FALSE(s.get_name(name("gone.example")));
  EXPECT_FALSE(s.get_name(name("old.example")));
  EXPECT_EQ(s.get_name(name("new.example")), ip("192.0.2.2"));
  OverrideReader reader(s.db());
  reader.begin();
  EXPECT_EQ(reader.find_prefix(ip("192.0.2.200"))->prefix, pfx("192.0.0.0/16"));
  reader.end();

  // No changes: deletes everything inside.
  r = s.apply(std::span<const Change>{}, real);
  EXPECT_EQ(r.erased, 3U);
  EXPECT_EQ(list_all(s), (std::vector<std::string>{"P 192.0.0.0/16 none ",
                                                   "A 198.51.100.1/32 name outside.example."}));
}

/// apply() defers the name index to the end of the transaction and appends keys beyond the
/// end of a table: random batches (shared names, takeovers, renames, erases, keys below and
/// beyond the current last key) must leave exactly what one change at a time leaves.
TEST_F(StoreTest, BatchMatchesOneChangeAtATime) {
  OverrideStore batched(options());
  StoreOptions o2 = options();
  o2.path = root_ + "/one-by-one";
  OverrideStore single(o2);
  // Random names are shared by several addresses: the latest write in batch order wins.
  WriteRules shared;
  shared.allow_shared_names = true;
  batched.set_write_rules(shared);
  single.set_write_rules(shared);

  std::vector<IpAddress> addrs;
  for (std::uint32_t i = 0; i < 48; ++i) {
    addrs.push_back(IpAddress::v4(0x0A000000U + i * 7));
  }
  for (std::uint32_t i = 0; i < 16; ++i) {
    addrs.push_back(ip("2001:db8::" + std::to_string(i + 1)));
  }
  std::vector<std::string> names;
  for (std::uint32_t i = 0; i < 12; ++i) {
    names.push_back(numbered(i % 2 == 0 ? "n" : "Long-Name-", i, ".example."));
  }
  std::mt19937 rng(42);
  for (int round = 0; round < 12; ++round) {
    // Each round reaches further up the address list, so some keys lie beyond the tail.
    const std::size_t reach =
        std::min(addrs.size(), std::size_t{8} + 6U * static_cast<std::size_t>(round));
    WriteBatch batch;
    const int count = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < count; ++i) {
      const IpAddress& a = addrs[rng() % reach];
      switch (rng() % 5) {
        case 0:
          batch.erase_address(a);
          break;
        case 1:
          batch.put_address(a, Override::none());
          break;
        default:
          batch.put_address(a, Override::name(names[rng() % names.size()],
                                              static_cast<std::uint32_t>(rng() % 3)));
          break;
      }
    }
    const ApplyResult got = batched.apply(batch);

    ApplyResult want;
    for (const Change& c : batch.changes()) {
      if (c.op == Change::Op::put) {
        single.put_address(c.key.address, c.value);
        ++want.written;
      } else {
        want.erased += single.erase_address(c.key.address) ? 1U : 0U;
      }
    }
    ASSERT_EQ(got.written, want.written) << "round " << round;
    ASSERT_EQ(got.erased, want.erased) << "round " << round;
    ASSERT_EQ(list_all(batched), list_all(single)) << "round " << round;
    for (const auto& n : names) {
      ASSERT_EQ(batched.get_name(name(n)), single.get_name(name(n)))
          << "round " << round << " name " << n;
    }
    const StoreStats sb = batched.stats();
    const StoreStats ss = single.stats();
    ASSERT_EQ(sb.names, ss.names) << "round " << round;
    ASSERT_EQ(sb.tombstones, ss.tombstones) << "round " << round;
  }
}

/// A last key longer than any key the store writes (another writer's, here 400 bytes) turns
/// appending off for that table; writes still land where they belong.
TEST_F(StoreTest, LongForeignLastKeyIsHandled) {
  OverrideStore s(options());
  const std::vector<std::uint8_t> foreign(400, 0xFF);
  std::vector<std::uint8_t> tombstone(format::kHeaderSize);
  format::encode_header(tombstone.data(), 1, 1, format::kFlagDeleted);
  put_raw(s, s.db()->dbis().addr, foreign, tombstone);
  put_raw(s, s.db()->dbis().name, foreign, tombstone);
  WriteBatch b;
  b.put_address(ip("192.0.2.1"), Override::name("one.example."));
  b.put_address(ip("2001:db8::1"), Override::name("two.example."));
  s.apply(b);
  EXPECT_EQ(s.get_address(ip("192.0.2.1")), Override::name("one.example."));
  EXPECT_EQ(s.get_name(name("one.example")), ip("192.0.2.1"));
  EXPECT_EQ(s.get_name(name("two.example")), ip("2001:db8::1"));
}

// ------------------------------------------------------------------------------ map full

TEST_F(StoreTest, MapFullIsClearAndChangesNothing) {
  // 128 KiB: every commit also rewrites meta/last_change (one more dirty page a commit), and a
  // 64 KiB map held only two of them.
  OverrideStore s(options(std::size_t{128} * 1024));
  s.put_address(ip("10.0.0.0"), Override::name("first.example."));
  std::uint32_t n = 1;
  std::string message;
  std::vector<std::string> before;
  for (; n < 100000; ++n) {
    before = list_all(s);
    try {
      s.put_address(IpAddress::v4(0x0A000000U + n),
                    Override::name(numbered("host-", n, "-with-a-long-label.example.")));
    } catch (const StoreError& e) {
      message = e.what();
      EXPECT_EQ(e.code(), MDB_MAP_FULL);
      break;
    }
  }
  ASSERT_FALSE(message.empty()) << "store never filled up";
  EXPECT_GT(n, 10U);
  EXPECT_NE(message.find("map_size 128 KiB"), std::string::npos) << message;
  EXPECT_NE(message.find("raise store.map_size"), std::string::npos) << message;
  EXPECT_NE(message.find("mdb_"), std::string::npos) << message;  // names the call

  // Nothing of the failed write is visible; earlier commits are intact and readable.
  EXPECT_EQ(list_all(s), before);
  EXPECT_FALSE(s.get_address(IpAddress::v4(0x0A000000U + n)));
  EXPECT_EQ(s.get_address(ip("10.0.0.0")), Override::name("first.example."));
  OverrideReader r(s.db());
  r.begin();
  EXPECT_TRUE(r.find_address(ip("10.0.0.1")));
  EXPECT_EQ(r.find_name(name("first.example")), ip("10.0.0.0"));
  r.end();

  // A batch that does not fit changes nothing either.
  WriteBatch big;
  for (std::uint32_t i = 0; i < 2000; ++i) {
    big.put_address(IpAddress::v4(0x0B000000U + i), Override::name("big.example."));
  }
  EXPECT_THROW(s.apply(big), StoreError);
  EXPECT_EQ(list_all(s), before);
  // Erasing still works (tombstones are small; may fit) or fails cleanly.
  try {
    s.erase_address(ip("10.0.0.0"));
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), MDB_MAP_FULL);
  }
}

// ------------------------------------------------------------------------------ processes

/// Child helper: exit code 0 on success, otherwise the failing step.
int child_reader(const std::string& dir, int ready_fd, int go_fd) {
  try {
    OverrideReader r = OverrideReader::open(dir);
    r.begin();
    if (!r.find_address(ip("192.0.2.1"))) {
      return 10;
    }
    if (r.find_address(ip("192.0.2.2"))) {
      return 11;
    }
    r.end();
    char c = 'r';
    if (::write(ready_fd, &c, 1) != 1) {
      return 12;
    }
    if (::read(go_fd, &c, 1) != 1) {
      return 13;
    }
    for (int i = 0; i < 3; ++i) {  // the same reader, renewed
      r.begin();
      auto v = r.find_address(ip("192.0.2.2"));
      if (!v || v->target != "later.example.") {
        return 14;
      }
      if (r.find_name(name("later.example")) != ip("192.0.2.2")) {
        return 15;
      }
      if (r.find_address(ip("192.0.2.1"))) {  // erased by the parent
        return 16;
      }
      r.end();
    }
    return 0;
  } catch (...) {
    return 20;
  }
}

TEST_F(StoreTest, ReaderInAnotherProcessSeesLaterCommits) {
  OverrideStore s(options());
  s.put_address(ip("192.0.2.1"), Override::name("early.example."));
  int ready[2];
  int go[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ready[0]);
    ::close(go[1]);
    ::_exit(child_reader(dir_, ready[1], go[0]));
  }
  ::close(ready[1]);
  ::close(go[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  s.put_address(ip("192.0.2.2"), Override::name("later.example."));
  EXPECT_TRUE(s.erase_address(ip("192.0.2.1")));
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::close(ready[0]);
  ::close(go[1]);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(StoreTest, ReaderSeesWriterProcessAndAdoptsGrownMap) {
  { OverrideStore init(options(std::size_t{256} * 1024)); }  // create, then close
  OverrideReader r = OverrideReader::open(dir_);
  r.begin();
  EXPECT_FALSE(r.find_address(ip("10.0.0.1")));
  const std::uint64_t first_txn = r.txn_id();
  r.end();

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 0;
    try {
      OverrideStore w(options(std::size_t{32} << 20));  // grows the map
      WriteBatch b;
      for (std::uint32_t i = 0; i < 6000; ++i) {
        b.put_address(
            IpAddress::v4(0x0A000000U + i),
            Override::name(numbered("h", i, ".a-rather-long-label-to-use-space.example.")));
      }
      w.apply(b);
      w.put_prefix(pfx("10.0.0.0/8"), Override::none());
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  r.begin();  // same reader, no reopen: sees the commits, adopts the larger map
  EXPECT_GT(r.txn_id(), first_txn);
  auto v = r.find_address(ip("10.0.23.111"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->target, "h5999.a-rather-long-label-to-use-space.example.");
  EXPECT_TRUE(r.find_prefix(ip("10.200.0.1")));
  r.end();
  EXPECT_GT(r.db()->env().map_size(), std::size_t{256} * 1024);  // MDB_MAP_RESIZED handled
}

TEST_F(StoreTest, ReaderResetRenewManyTimes) {
  OverrideStore s(options());
  OverrideReader r(s.db());
  for (std::uint32_t i = 0; i < 5000; ++i) {
    if (i % 250 == 0) {
      s.put_address(IpAddress::v4(0xC0000200U + i / 250),
                    Override::name(numbered("x", i / 250, ".example.")));
    }
    r.begin();
    ASSERT_TRUE(r.in_txn());
    ASSERT_TRUE(r.find_address(IpAddress::v4(0xC0000200U + i / 250)));
    ASSERT_FALSE(r.find_address(IpAddress::v4(0xC0000200U + i / 250 + 1)));
    r.end();
    ASSERT_FALSE(r.in_txn());
  }
  const StoreStats st = s.stats();
  EXPECT_EQ(st.address_overrides, 20U);
  EXPECT_LE(st.readers, 1U);  // one reused slot
  EXPECT_EQ(st.max_readers, default_max_readers());
  EXPECT_GT(st.used_bytes, 0U);
  EXPECT_EQ(st.used_bytes, st.used_pages * st.page_size);
  // Slots are counted whether idle or in a snapshot: a second reader takes a second one.
  OverrideReader r2(s.db());
  r.begin();
  r2.begin();
  EXPECT_EQ(s.stats().readers, 2U);
  r2.end();
  r.end();
}

TEST_F(StoreTest, WorkerThreadsReadWhileWriting) {
  OverrideStore s(options());
  s.put_address(ip("192.0.2.1"), Override::name("v0.example."));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> workers;
  workers.reserve(3);
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&] {
      OverrideReader r(s.db());  // one reader per worker thread
      while (!stop.load()) {
        r.begin();
        auto v = r.find_address(ip("192.0.2.1"));
        // Every answer is a whole old or new value, never torn or missing.
        if (!v || v->target.size() < 11 || v->target.substr(0, 1) != "v") {
          bad.fetch_add(1);
        }
        r.end();
      }
    });
  }
  for (std::uint32_t i = 1; i <= 200; ++i) {
    s.put_address(ip("192.0.2.1"), Override::name(numbered("v", i, ".example.")));
  }
  stop.store(true);
  for (auto& w : workers) {
    w.join();
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(s.get_name(name("v200.example")), ip("192.0.2.1"));
  EXPECT_FALSE(s.get_name(name("v199.example")));
}

TEST(RemapGate, ExclusiveRunsOnlyWhileNoHolderIsInside) {
  RemapGate gate;
  std::atomic<int> inside{0};
  std::atomic<int> violations{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> holders;
  holders.reserve(3);
  for (int t = 0; t < 3; ++t) {
    holders.emplace_back([&] {
      RemapGate::Slot* slot = gate.acquire();
      while (!stop.load()) {
        gate.enter(*slot);
        inside.fetch_add(1);
        inside.fetch_sub(1);
        gate.leave(*slot);
      }
      gate.release(slot);
    });
  }
  int remaps = 0;
  for (; remaps < 200; ++remaps) {
    gate.exclusive([&] {
      if (inside.load() != 0) {
        violations.fetch_add(1);
      }
    });
  }
  stop.store(true);
  for (auto& h : holders) {
    h.join();
  }
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(remaps, 200);
}

TEST(RemapGate, AHolderThatNeverLeavesMakesTheRemapFailNotHang) {
  RemapGate gate;
  RemapGate::Slot* slot = gate.acquire();
  gate.enter(*slot);
  bool ran = false;
  EXPECT_THROW(gate.exclusive([&] { ran = true; }, 50), StoreError);
  EXPECT_FALSE(ran);
  gate.leave(*slot);
  gate.exclusive([&] { ran = true; });  // the gate is usable again
  EXPECT_TRUE(ran);
  gate.release(slot);
}

}  // namespace

// ------------------------------------------------------------------------- address filter

namespace {
IpAddress random_address(std::mt19937_64& rng) {
  if (rng() % 4 == 0) {
    std::array<std::uint8_t, 16> b{};
    for (auto& x : b) {
      x = static_cast<std::uint8_t>(rng());
    }
    return IpAddress::v6(b);
  }
  return IpAddress::v4(static_cast<std::uint32_t>(rng()));
}
}  // namespace

TEST(AddressFilter, NeverMissesAnAddedKeyAndFalsePositivesAreNearTheDesign) {
  constexpr std::size_t kKeys = 1000000;
  std::mt19937_64 rng(42);
  std::vector<IpAddress> added;
  added.reserve(kKeys);
  AddressFilter f(kKeys, 7);
  for (std::size_t i = 0; i < kKeys; ++i) {
    added.push_back(random_address(rng));
    std::array<std::uint8_t, format::kMaxAddressKey> k{};
    f.add(Bytes(k.data(), format::address_key(added.back(), k.data())));
  }
  EXPECT_EQ(f.txn_id(), 7U);
  EXPECT_EQ(f.entries(), kKeys);
  EXPECT_LE(f.memory_bytes(), kKeys * AddressFilter::kBitsPerEntry / 8 + 64);
  for (const IpAddress& a : added) {
    ASSERT_TRUE(f.may_contain(a)) << a.to_string();
  }
  // 1M other random addresses (a collision with an added one is ~1e-4 likely in total for
  // IPv4 draws; it can only raise the count).
  std::size_t positives = 0;
  for (std::size_t i = 0; i < kKeys; ++i) {
    positives += f.may_contain(random_address(rng)) ? 1U : 0U;
  }
  const double rate = static_cast<double>(positives) / kKeys;
  std::printf("false positives: %.3f%% of 1M absent addresses, %zu bytes for 1M keys\n", rate * 100,
              f.memory_bytes());
  // A blocked Bloom filter at 10 bits and 7 bits per key: ~1% (a plain one would be 0.8%).
  EXPECT_LT(rate, 0.02);
  EXPECT_GT(rate, 0.002);  // the bits are really being tested
}

TEST_F(StoreTest, AddressFilterCoversEveryKeyOfItsSnapshot) {
  OverrideStore st(options(std::size_t{256} << 20));
  std::mt19937_64 rng(7);
  std::vector<IpAddress> present;
  WriteBatch b;
  for (std::size_t i = 0; i < 100000; ++i) {
    present.push_back(random_address(rng));
    b.put_address(present.back(), Override::none());
  }
  st.apply(b);
  // Tombstones stay in the table and in the filter (a superset is still correct).
  st.erase_address(present[0]);
  OverrideReader r(st.db());
  r.begin();
  auto f = AddressFilter::build(r);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->txn_id(), r.txn_id());
  EXPECT_EQ(f->entries(), r.address_key_count());
  for (const IpAddress& a : present) {
    ASSERT_TRUE(f->may_contain(a)) << a.to_string();
  }
  // For 1M random addresses: whenever the filter says "absent", the B-tree agrees.
  std::size_t absent = 0;
  for (std::size_t i = 0; i < 1000000; ++i) {
    const IpAddress a = random_address(rng);
    if (!f->may_contain(a)) {
      ++absent;
      ASSERT_FALSE(r.find_address(a).has_value()) << a.to_string();
    }
  }
  EXPECT_GT(absent, 970000U);
  r.end();
  // A cancelled build publishes nothing.
  r.begin();
  EXPECT_EQ(AddressFilter::build(r, [] { return true; }), nullptr);
  r.end();
}

TEST_F(StoreTest, AddressFilterKeeperFollowsCommitsWithDebounce) {
  OverrideStore st(options());
  st.put_address(ip("192.0.2.1"), Override::none());
  FilterKeeperOptions fo;
  fo.poll_ms = 5;
  fo.quiet_ms = 20;
  fo.max_stale_ms = 200;
  fo.build_gap_factor = 1;
  auto keeper = std::make_unique<AddressFilterKeeper>(st.db(), fo);
  auto wait_for_txn = [&](std::uint64_t txn) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto f = keeper->current(); f && f->txn_id() == txn) {
        return f;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return std::shared_ptr<const AddressFilter>();
  };
  auto f1 = wait_for_txn(st.stats().last_txn_id);
  ASSERT_NE(f1, nullptr);
  EXPECT_TRUE(f1->may_contain(ip("192.0.2.1")));
  AddressFilterKeeper::FilterView view;
  EXPECT_EQ(view.get(keeper->filter()), f1.get());
  const std::uint64_t builds = keeper->builds();

  // A burst of commits, then quiet: the keeper catches up with the last one, in far fewer
  // builds than commits.
  for (std::uint32_t i = 0; i < 50; ++i) {
    st.put_address(IpAddress::v4(0xC6336400U + i), Override::none());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto f2 = wait_for_txn(st.stats().last_txn_id);
  ASSERT_NE(f2, nullptr);
  for (std::uint32_t i = 0; i < 50; ++i) {
    EXPECT_TRUE(f2->may_contain(IpAddress::v4(0xC6336400U + i)));
  }
  EXPECT_LT(keeper->builds() - builds, 25U);
  EXPECT_EQ(view.get(keeper->filter()), f2.get());
  keeper.reset();  // stops and joins
  // The view's copy outlives the keeper.
  EXPECT_TRUE(view.held()->may_contain(ip("192.0.2.1")));
}

TEST_F(StoreTest, AddressFilterKeeperFollowsAWriterProcessThatGrowsTheMap) {
  { OverrideStore init(options(std::size_t{256} * 1024)); }  // create, then close
  OverrideReader r = OverrideReader::open(dir_);
  // The writer is forked while this process has one thread, and waits for the keeper to be
  // running: a child forked beside a running thread may find a lock (malloc's, the
  // sanitizer's) held forever, and hung here once under ASan on a loaded machine.
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(go[1]);
    char c = 0;
    if (::read(go[0], &c, 1) != 1) {
      ::_exit(2);
    }
    int code = 0;
    try {
      OverrideStore w(options(std::size_t{32} << 20));  // grows the map
      for (std::uint32_t round = 0; round < 6; ++round) {
        WriteBatch b;
        for (std::uint32_t i = 0; i < 1000; ++i) {
          b.put_address(IpAddress::v4(0x0A000000U + round * 1000 + i),
                        Override::name(numbered("h", round * 1000 + i,
                                                ".a-rather-long-label-to-use-space.example.")));
        }
        w.apply(b);
      }
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
  ::close(go[0]);
  FilterKeeperOptions fo;
  fo.poll_ms = 1;  // poll (mdb_env_info) all the time, also while the map is remapped
  fo.quiet_ms = 5;
  fo.build_gap_factor = 0;
  AddressFilterKeeper keeper(r.db(), fo);
  const char c = 1;
  ASSERT_EQ(::write(go[1], &c, 1), 1);
  ::close(go[1]);
  // Queries meanwhile: each adopts the grown map when it sees MDB_MAP_RESIZED.
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    r.begin();
    (void)r.find_address(ip("10.0.0.1"));
    r.end();
  }
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  r.begin();
  const std::uint64_t txn = r.txn_id();
  r.end();
  std::shared_ptr<const AddressFilter> f;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((!f || f->txn_id() != txn) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    f = keeper.current();
  }
  ASSERT_TRUE(f && f->txn_id() == txn);
  EXPECT_EQ(f->entries(), 6000U);
  for (std::uint32_t i = 0; i < 6000; ++i) {
    ASSERT_TRUE(f->may_contain(IpAddress::v4(0x0A000000U + i)));
  }
  EXPECT_GT(r.db()->env().map_size(), std::size_t{256} * 1024);
}

// ---------------------------------------------------------------- damaged files (issue 17.3)

namespace {

/// A store with enough overrides to span many pages.
void fill(OverrideStore& s, std::uint32_t n) {
  WriteBatch b;
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::string a = "10.5." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    b.put_address(ip(a), Override::name(numbered("host-", i, ".damage.example.")));
  }
  s.apply(b);
}

std::uintmax_t file_size(const std::string& path) {
  return std::filesystem::file_size(path);
}

/// Overwrites bytes of a file in place (the page cache: a mapped reader sees it).
void poke(const std::string& path, std::uint64_t offset, const void* bytes, std::size_t n) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes, n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
  ::close(fd);
}

std::uint64_t table_root(const PageReport& r, std::string_view table) {
  for (const auto& t : r.tables) {
    if (t.name == table) {
      return t.root;
    }
  }
  return kNoPage;
}

}  // namespace

TEST_F(StoreTest, TruncatedDataFileIsRefusedBeforeItIsMapped) {
  {
    OverrideStore s(options());
    fill(s, 3000);
  }
  const std::string data = dir_ + "/data.mdb";
  const auto size = file_size(data);
  std::filesystem::resize_file(data, size / 2);
  for (const bool read_only : {false, true}) {
    StoreOptions o = options();
    o.read_only = read_only;
    try {
      OverrideDb::open(o);  // without the check: SIGBUS at the first touch of a missing page
      FAIL() << "a truncated data.mdb was opened";
    } catch (const StoreError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(data + " is truncated"), std::string::npos) << what;
      EXPECT_NE(what.find("mdb_copy -c"), std::string::npos) << what;
    }
  }
  EXPECT_EQ(file_size(data), size / 2) << "the damaged file must be left as it is";
}

TEST_F(StoreTest, EmptyDataFileIsNeverTakenAsANewStore) {
  {
    OverrideStore s(options());
    s.put_address(ip("10.1.2.3"), Override::name("kept.example."));
  }
  const std::string data = dir_ + "/data.mdb";
  std::filesystem::resize_file(data, 0);
  try {
    OverrideStore s(options());
    FAIL() << "an empty data.mdb was opened as a new store";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find(data + " is empty"), std::string::npos) << e.what();
  }
  EXPECT_EQ(file_size(data), 0U);
  // A file that is not LMDB at all is refused the same way, and a missing one is created.
  std::vector<char> junk(8192, 'x');
  poke(data, 0, junk.data(), junk.size());
  EXPECT_THROW(OverrideStore{options()}, StoreError);
  std::filesystem::remove(data);
  OverrideStore fresh(options());
  EXPECT_FALSE(fresh.get_address(ip("10.1.2.3")));
}

TEST_F(StoreTest, PageWalkFindsDamageAndAVerifiedOpenRefusesIt) {
  {
    OverrideStore s(options());
    fill(s, 3000);
    s.put_prefix(pfx("10.6.0.0/16"), Override::name_template("p-{d}.damage.example."));
  }
  const std::string data = dir_ + "/data.mdb";
  const PageReport good = check_pages(data);
  ASSERT_TRUE(good.ok()) << good.damage.front();
  EXPECT_GT(good.pages, 20U);
  const std::uint64_t root = table_root(good, "addr");
  ASSERT_NE(root, kNoPage);
  // A branch root whose first node offset points outside the page's node area.
  const DataFile df = check_data_file(data);
  const std::uint16_t bad_offset = 2;
  poke(data, root * df.page_size + 16, &bad_offset, sizeof bad_offset);
  const PageReport bad = check_pages(data);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.damage.front().find("table addr: page " + std::to_string(root)), std::string::npos)
      << bad.damage.front();
  StoreOptions o = options();
  o.read_only = true;
  o.verify_pages = true;
  try {
    OverrideDb::open(o);
    FAIL() << "a damaged store was opened with verify_pages";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find(data + " is damaged"), std::string::npos) << e.what();
  }
}

TEST_F(StoreTest, ALookupOnADamagedPageFailsAndIsCountedNotTakenAsAMiss) {
  {
    OverrideStore s(options());
    s.put_address(ip("10.1.2.3"), Override::name("a.damage.example."));
  }
  const std::string data = dir_ + "/data.mdb";
  const PageReport good = check_pages(data);
  const std::uint64_t root = table_root(good, "addr");
  ASSERT_NE(root, kNoPage);
  auto reader = OverrideReader::open(dir_);
  reader.begin();
  ASSERT_TRUE(reader.find_address(ip("10.1.2.3")));
  reader.end();
  EXPECT_EQ(reader.lookup_failures(), 0U);
  // The addr table's only page stops being a leaf: LMDB answers MDB_CORRUPTED.
  const DataFile df = check_data_file(data);
  const std::uint16_t no_kind = 0;
  poke(data, root * df.page_size + 10, &no_kind, sizeof no_kind);
  const std::uint64_t total = OverrideReader::lookup_failures_total();
  reader.begin();
  EXPECT_FALSE(reader.find_address(ip("10.1.2.3")));
  reader.end();
  EXPECT_EQ(reader.lookup_failures(), 1U);
  EXPECT_EQ(reader.last_lookup_error(), MDB_CORRUPTED);
  EXPECT_EQ(OverrideReader::lookup_failures_total(), total + 1);
  EXPECT_FALSE(check_pages(data).ok());
}

TEST_F(StoreTest, ValueCheckFindsUndecodableValuesAndABrokenNameIndex) {
  OverrideStore s(options());
  fill(s, 50);
  s.put_prefix(pfx("10.6.0.0/16"), Override::name_template("p-{d}.damage.example."));
  ValueReport good = check_values(*s.db());
  ASSERT_TRUE(good.ok()) << good.damage.front();
  EXPECT_GT(good.values, 100U);
  // A value cut short, and a name entry that points at an address without that name.
  std::array<std::uint8_t, format::kMaxAddressKey> key{};
  const Bytes k(key.data(), format::address_key(ip("10.5.0.7"), key.data()));
  const std::array<std::uint8_t, 3> junk{1, 2, 3};
  put_raw(s, s.db()->dbis().addr, k, Bytes(junk.data(), junk.size()));
  const ValueReport bad = check_values(*s.db());
  EXPECT_EQ(bad.damage_total, 2U);
  ASSERT_EQ(bad.damage.size(), 2U);
  EXPECT_NE(bad.damage[0].find("table addr, key 10.5.0.7"), std::string::npos) << bad.damage[0];
  EXPECT_NE(bad.damage[1].find("table name"), std::string::npos) << bad.damage[1];
  EXPECT_NE(bad.damage[1].find("points at 10.5.0.7"), std::string::npos) << bad.damage[1];
}

// ------------------------------------------------------------------------------- meta counts

namespace {
/// The meta counts every write keeps equal the counts of a full scan (stats()).
void expect_counts_match(const OverrideStore& s, const char* where) {
  const StoreStats st = s.stats();
  ASSERT_TRUE(st.kept_counts.has_value()) << where;
  const StoreCounts& c = *st.kept_counts;
  EXPECT_EQ(c.addresses, st.address_overrides) << where;
  EXPECT_EQ(c.prefixes, st.prefix_overrides) << where;
  EXPECT_EQ(c.names, st.names) << where;
  EXPECT_EQ(c.tombstones(), st.tombstones) << where;
}
StoreCounts kept(const OverrideStore& s) {
  return s.stats().kept_counts.value_or(StoreCounts{});
}
}  // namespace

TEST_F(StoreTest, MetaCountsFollowEveryWritePath) {
  OverrideStore s(options());
  EXPECT_FALSE(s.stats().kept_counts.has_value());  // a new store: nothing written yet
  for (std::uint32_t i = 0; i < 20; ++i) {
    s.put_address(IpAddress::v4(0x0A010000U + i), Override::name(numbered("h", i, ".example.")));
  }
  s.put_address(ip("2001:db8::1"), Override::none());
  s.put_prefix(pfx("10.9.0.0/16"), Override::name_template("p-{ip}.example."));
  s.put_prefix(pfx("2001:db8:1::/48"), Override::none());
  expect_counts_match(s, "puts");
  EXPECT_EQ(kept(s).addresses, 21U);
  EXPECT_EQ(kept(s).prefixes, 2U);
  EXPECT_EQ(kept(s).names, 20U);
  EXPECT_EQ(kept(s).tombstones(), 0U);

  // Erases leave tombstones (an address with a name: two), a put over a tombstone revives it.
  ASSERT_TRUE(s.erase_address(IpAddress::v4(0x0A010000U)));
  ASSERT_TRUE(s.erase_prefix(pfx("2001:db8:1::/48")));
  EXPECT_FALSE(s.erase_address(ip("192.0.2.77")));  // nothing there: nothing counted
  expect_counts_match(s, "erases");
  EXPECT_EQ(kept(s).addresses, 20U);
  EXPECT_EQ(kept(s).address_tombstones, 1U);
  EXPECT_EQ(kept(s).prefix_tombstones, 1U);
  EXPECT_EQ(kept(s).name_tombstones, 1U);
  s.put_address(IpAddress::v4(0x0A010000U), Override::name("h0.example."));
  expect_counts_match(s, "revived");
  EXPECT_EQ(kept(s).address_tombstones, 0U);
  EXPECT_EQ(kept(s).name_tombstones, 0U);

  // An import: renames (a name tombstone each), an unchanged put, new keys, an erase.
  WriteBatch batch;
  for (std::uint32_t i = 0; i < 5; ++i) {
    batch.put_address(IpAddress::v4(0x0A010000U + i),
                      Override::name(numbered("r", i, ".example.")));
  }
  batch.put_address(IpAddress::v4(0x0A010005U), Override::name("h5.example."));
  batch.put_address(ip("10.2.0.1"), Override::none());
  batch.put_prefix(pfx("10.3.0.0/24"), Override::none());
  batch.erase_address(IpAddress::v4(0x0A010006U));
  s.apply(batch);
  expect_counts_match(s, "import");
  // A dry run changes nothing.
  WriteBatch dry;
  dry.erase_address(IpAddress::v4(0x0A010007U));
  const StoreCounts before_dry = kept(s);
  s.apply(dry.changes(), true);
  EXPECT_EQ(kept(s), before_dry);

  // replace-within: a sync of 10.1.0.0/16 to two entries.
  std::vector<Change> sync{Change::put_address(IpAddress::v4(0x0A010001U), Override::none()),
                           Change::put_address(ip("10.1.9.9"), Override::name("new.example."))};
  ApplyOptions within;
  within.replace_within = pfx("10.1.0.0/16");
  const ApplyResult r = s.apply(sync, within);
  EXPECT_GT(r.erased, 10U);
  expect_counts_match(s, "replace-within");
  EXPECT_EQ(kept(s).addresses, 2U + 2U);  // the sync's two, 10.2.0.1, 2001:db8::1

  // Shared names with --force, one address taking another's name.
  WriteRules force;
  force.allow_shared_names = true;
  s.set_write_rules(force);
  s.put_address(ip("10.4.0.1"), Override::name("new.example."));
  s.put_address(ip("10.4.0.2"), Override::name("new.example."));
  expect_counts_match(s, "forced shared name");

  // compact: the tombstones go, the live counts stay.
  const PurgeResult p = s.purge_tombstones(~0ULL, /*per_txn=*/3);
  EXPECT_GT(p.purged, 10U);
  expect_counts_match(s, "compact");
  EXPECT_EQ(kept(s).tombstones(), 0U);
}

TEST_F(StoreTest, MetaCountsAreCountedOnceOnAStoreWrittenBeforeThem) {
  OverrideStore s(options());
  for (std::uint32_t i = 0; i < 30; ++i) {
    s.put_address(IpAddress::v4(0x0A010000U + i), Override::name(numbered("h", i, ".example.")));
  }
  ASSERT_TRUE(s.erase_address(IpAddress::v4(0x0A010003U)));
  const auto drop_counts = [&] {
    WriteTxn txn = WriteTxn::begin(s.db()->env());
    ASSERT_TRUE(txn.del(s.db()->dbis().meta, format::as_bytes(format::kMetaCounts)));
    txn.commit();
  };
  // As written by an automap without counts: a reader finds none...
  drop_counts();
  {
    OverrideReader rd(s.db());
    rd.begin();
    EXPECT_FALSE(rd.counts().has_value());
    rd.end();
  }
  // ...and the next write counts the whole store once, then keeps the counts.
  s.put_prefix(pfx("10.9.0.0/16"), Override::none());
  expect_counts_match(s, "first write after the upgrade");
  EXPECT_EQ(kept(s).addresses, 29U);
  EXPECT_EQ(kept(s).tombstones(), 2U);
  // So does compact (mapctl compact), and rebuild_meta recounts whatever meta says.
  drop_counts();
  s.purge_tombstones(~0ULL);
  expect_counts_match(s, "compact after the upgrade");
  {
    WriteTxn txn = WriteTxn::begin(s.db()->env());
    std::vector<std::uint8_t> bogus;
    std::array<std::uint8_t, 1 + kCountsSize> payload{};
    payload[0] = format::kPayloadVersion;
    encode_counts(StoreCounts{7, 7, 7, 7, 7, 7}, payload.data() + 1);
    encode_value(bogus, 1, 1, 0, Bytes(payload.data(), payload.size()));
    txn.put(s.db()->dbis().meta, format::as_bytes(format::kMetaCounts),
            Bytes(bogus.data(), bogus.size()));
    txn.commit();
  }
  s.rebuild_meta();
  expect_counts_match(s, "rebuild_meta");
  OverrideReader rd(s.db());
  rd.begin();
  ASSERT_TRUE(rd.counts().has_value());
  EXPECT_EQ(rd.counts()->addresses, 29U);
  rd.end();
}

TEST_F(StoreTest, MetaCountsFollowReplicaTransactions) {
  StoreOptions so = options();
  so.path = root_ + "/source";
  OverrideStore source(so);
  std::vector<RawWrite> sent;
  source.set_replication(
      [&](std::uint64_t, std::span<const RawWrite> w) {
        sent.insert(sent.end(), w.begin(), w.end());
        // Back into the source's own store, as its sync loop would apply them.
        ReplicaTxn t(source, false);
        for (const RawWrite& x : w) {
          EXPECT_TRUE(t.put(x.is_prefix, Bytes(x.key.data(), x.key.size()),
                            Bytes(x.value.data(), x.value.size())));
        }
        t.commit(1);
        return ReplicationResult{};
      },
      std::chrono::milliseconds(100));
  source.put_address(ip("10.1.2.3"), Override::name("mail.example."));
  source.put_address(ip("10.1.2.4"), Override::name("www.example."));
  source.put_prefix(pfx("10.9.0.0/16"), Override::none());
  OverrideStore replica(options());
  const auto apply_sent = [&](bool full, std::uint64_t revision) {
    ReplicaTxn t(replica, full);
    for (const RawWrite& w : sent) {
      ASSERT_TRUE(t.put(w.is_prefix, Bytes(w.key.data(), w.key.size()),
                        Bytes(w.value.data(), w.value.size())));
    }
    t.commit(revision);
  };
  apply_sent(false, 1);
  expect_counts_match(replica, "replica puts");
  EXPECT_EQ(kept(replica).addresses, 2U);
  // A tombstone from the source, then an etcd delete (mdb_del) of another key.
  sent.clear();
  ASSERT_TRUE(source.erase_address(ip("10.1.2.3")));
  expect_counts_match(source, "the source, through its own replica");
  apply_sent(false, 2);
  {
    ReplicaTxn t(replica, false);
    std::array<std::uint8_t, format::kMaxPrefixKey> k{};
    const std::size_t n = format::prefix_key(ip("10.9.0.0"), 16, k.data());
    t.erase(true, Bytes(k.data(), n));
    t.commit(3);
  }
  expect_counts_match(replica, "replica tombstone and delete");
  EXPECT_EQ(kept(replica).addresses, 1U);
  EXPECT_EQ(kept(replica).prefixes, 0U);
  EXPECT_EQ(kept(replica).address_tombstones, 1U);
  // A full load starts from zero.
  apply_sent(true, 4);
  expect_counts_match(replica, "full load");
  EXPECT_EQ(kept(replica).addresses, 0U);
  EXPECT_EQ(kept(replica).address_tombstones, 1U);
}

TEST_F(StoreTest, KeeperReportsCountsAndTheReaderSlotsInUseNotTheHighWaterMark) {
  OverrideStore st(options());
  st.put_address(ip("192.0.2.1"), Override::none());
  st.put_prefix(pfx("192.0.2.0/24"), Override::none());
  FilterKeeperOptions fo;
  fo.poll_ms = 5;
  fo.readers_count_ms = 5;
  fo.reader_check_ms = 50;
  auto keeper = std::make_unique<AddressFilterKeeper>(st.db(), fo);
  const auto wait_until = [](const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return done();
  };
  ASSERT_TRUE(wait_until([&] { return keeper->counts().has_value(); }));
  EXPECT_EQ(keeper->counts()->addresses, 1U);
  EXPECT_EQ(keeper->counts()->prefixes, 1U);
  st.erase_address(ip("192.0.2.1"));
  ASSERT_TRUE(wait_until([&] { return keeper->counts()->address_tombstones == 1; }));
  EXPECT_EQ(keeper->counts()->addresses, 0U);

  ASSERT_TRUE(wait_until([&] { return keeper->reader_slots().max != 0; }));
  const unsigned base = keeper->reader_slots().used;  // the keeper's own and the writer's
  {
    std::vector<std::unique_ptr<OverrideReader>> readers;
    for (int i = 0; i < 6; ++i) {
      readers.push_back(std::make_unique<OverrideReader>(st.db()));
      readers.back()->begin();
    }
    ASSERT_TRUE(wait_until([&] { return keeper->reader_slots().used == base + 6; }))
        << keeper->reader_slots().used << " base " << base;
  }
  // Destroyed readers hand their slots to the process's spares (OverrideDb): still owned, and
  // the next readers take them instead of new ones.
  {
    std::vector<std::unique_ptr<OverrideReader>> readers;
    for (int i = 0; i < 6; ++i) {
      readers.push_back(std::make_unique<OverrideReader>(st.db()));
      readers.back()->begin();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_EQ(keeper->reader_slots().used, base + 6);
  }

  // A reader in another process that dies holding its slot: counted until the keeper's
  // reader check reclaims it.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ready[0]);
    StoreOptions ro = options();
    ro.read_only = true;
    auto r = OverrideReader(OverrideDb::open(ro));
    r.begin();
    char c = 1;
    (void)!::write(ready[1], &c, 1);
    ::pause();  // killed below
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  EXPECT_TRUE(wait_until([&] { return keeper->reader_slots().used == base + 7; }))
      << keeper->reader_slots().used << " base " << base;
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  // The slot goes when the keeper's reader check reclaims it; LMDB's high-water mark
  // (mdb_env_info's me_numreaders, what this gauge showed before) stays.
  EXPECT_TRUE(wait_until([&] { return keeper->reader_slots().used == base + 6; }))
      << keeper->reader_slots().used << " base " << base;
  EXPECT_GE(st.db()->env().info().max_readers, base + 7);
}

// ------------------------------------------------------------------ last change (SOA serial)

TEST_F(StoreTest, LastChangeIsEqualOnEveryReplicaAndRisesWithEverySourceTransaction) {
  // The source node: its writes go to "etcd" (batches), and come back into its own store as
  // the sync loop would apply them.
  StoreOptions so = options();
  so.path = root_ + "/source";
  OverrideStore source(so);
  std::vector<std::vector<RawWrite>> batches;
  const auto apply = [](OverrideStore& st, const std::vector<RawWrite>& writes, bool full,
                        std::uint64_t revision) {
    ReplicaTxn t(st, full);
    for (const RawWrite& w : writes) {
      EXPECT_TRUE(t.put(w.is_prefix, Bytes(w.key.data(), w.key.size()),
                        Bytes(w.value.data(), w.value.size())));
    }
    t.commit(revision);
  };
  source.set_replication(
      [&](std::uint64_t, std::span<const RawWrite> w) {
        batches.emplace_back(w.begin(), w.end());
        apply(source, batches.back(), false, batches.size());
        return ReplicationResult{};
      },
      std::chrono::milliseconds(100));
  const auto last_change = [](OverrideStore& st) {
    OverrideReader r(st.db());
    r.begin();
    const LastChange l = r.last_change();
    r.end();
    return l.seconds;
  };
  // Five transactions within a second or two: each still gets a later second.
  for (std::uint32_t i = 0; i < 5; ++i) {
    source.put_address(IpAddress::v4(0x0A010000U + i), Override::none());
  }
  ASSERT_EQ(batches.size(), 5U);

  // Replica A applies each batch on its own, replica B all of them in one transaction, as a
  // node that reconnects after a while does: the same last change, so the same serial.
  StoreOptions ao = options();
  ao.path = root_ + "/a";
  OverrideStore a(ao);
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    apply(a, batches[i], false, i + 1);
    const std::uint64_t now = last_change(a);
    EXPECT_GT(now, previous) << "batch " << i;
    previous = now;
  }
  StoreOptions bo = options();
  bo.path = root_ + "/b";
  OverrideStore b(bo);
  std::vector<RawWrite> all;
  for (const auto& w : batches) {
    all.insert(all.end(), w.begin(), w.end());
  }
  apply(b, all, true, batches.size());
  EXPECT_EQ(last_change(b), last_change(a));
  EXPECT_EQ(last_change(source), last_change(a));
}

TEST_F(StoreTest, LastChangeRisesPastTheMismatchOfANewConfig) {
  OverrideStore s(options());
  WriteRules rules;
  rules.config_digest = 1111;
  s.set_write_rules(rules);
  s.put_address(ip("192.0.2.1"), Override::none());
  const auto read = [&] {
    OverrideReader r(s.db());
    r.begin();
    const LastChange l = r.last_change();
    r.end();
    return l;
  };
  const LastChange first = read();
  EXPECT_EQ(first.config_digest, 1111U);
  // A server with another config serves first.seconds + 1 meanwhile; a write with that config
  // must give more than that.
  rules.config_digest = 2222;
  s.set_write_rules(rules);
  s.put_address(ip("192.0.2.2"), Override::none());
  const LastChange second = read();
  EXPECT_EQ(second.config_digest, 2222U);
  EXPECT_GE(second.seconds, first.seconds + 2);
  s.put_address(ip("192.0.2.3"), Override::none());
  EXPECT_GE(read().seconds, second.seconds + 1);
}
