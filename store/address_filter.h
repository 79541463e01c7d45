// SPDX-License-Identifier: MIT
#pragma once
// A negative filter for address-override misses (see store/README.md "Negative filter").
//
//   AddressFilter        immutable blocked Bloom filter of every key of the `addr` table in ONE
//                        read snapshot, tagged with that snapshot's txn id. A query whose own
//                        snapshot has the same txn id sees the same data, so "not in the filter"
//                        proves "no address override": it may skip the B-tree. Any other txn id:
//                        the filter says nothing, use the B-tree.
//   AddressFilterKeeper  one background thread per owner: rebuilds the filter when the store's
//                        last txn id moved (polled, debounced) and publishes it to the query
//                        threads through a sync::Snapshot (one atomic load per query, a mutex
//                        only when it changed); the store itself the same way when a replaced
//                        file was reopened.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "mapper/dns/address.h"
#include "mapper/sync/snapshot.h"
#include "store/lmdb.h"
#include "store/overrides.h"

namespace amap::store {

class AddressFilter {
 public:
  static constexpr std::size_t kBitsPerEntry = 10;
  static constexpr unsigned kBitsPerKey = 7;  // bits set per key, all in one 64-byte block

  /// An empty filter sized for `expected_entries` keys, tagged with `txn_id` of the store
  /// whose OverrideDb::serial() is `db_serial` (a reopened store counts its txn ids anew).
  AddressFilter(std::size_t expected_entries, std::uint64_t txn_id, std::uint64_t db_serial = 0);

  /// Scans the whole `addr` table (live keys and tombstones alike: a superset is still
  /// correct) in the reader's current snapshot; the reader must be inside begin()/end().
  /// Returns nullptr when `cancelled` returned true (checked every few thousand keys) or a
  /// remap of the map is waiting for this process's transactions to end.
  static std::shared_ptr<const AddressFilter> build(OverrideReader& reader,
                                                    const std::function<bool()>& cancelled = {});

  /// Adds an `addr` key (family byte + address bytes). Only while building.
  void add(Bytes key) noexcept;

  /// False only if no key equal to `key` was added. Never allocates or locks.
  bool may_contain(Bytes key) const noexcept;
  bool may_contain(const dns::IpAddress& a) const noexcept;

  /// The txn id of the snapshot the keys came from.
  std::uint64_t txn_id() const noexcept { return txn_id_; }
  /// The OverrideDb::serial() of the store it was built from.
  std::uint64_t db_serial() const noexcept { return db_serial_; }
  std::size_t entries() const noexcept { return entries_; }
  std::size_t memory_bytes() const noexcept { return blocks_ * sizeof(Block); }

 private:
  struct alignas(64) Block {
    std::uint64_t words[8];
  };

  std::size_t block_index(std::uint64_t h) const noexcept;

  std::unique_ptr<Block[]> bits_;
  std::size_t blocks_ = 1;
  std::size_t entries_ = 0;
  std::uint64_t txn_id_ = 0;
  std::uint64_t db_serial_ = 0;
};

struct FilterKeeperOptions {
  /// How often the store's last txn id (mdb_env_info) is looked at.
  unsigned poll_ms = 100;
  /// How often the reader slots in use are counted (mdb_reader_list: one pass over the
  /// table, never per query).
  unsigned readers_count_ms = 1000;
  /// How often stale reader slots (of killed processes) are reclaimed: mdb_reader_check.
  unsigned reader_check_ms = 10000;
  /// How often the keeper checks that data.mdb is still the file that is mapped (a store
  /// replaced under the server); a change is reported through on_error.
  unsigned replaced_check_ms = 1000;
  /// Debounce: a rebuild waits until the txn id has not moved for this long...
  unsigned quiet_ms = 200;
  /// ...but no longer than this after the filter went stale (steady write streams).
  unsigned max_stale_ms = 2000;
  /// And a rebuild starts no sooner than this many times the previous build's duration after
  /// it ended, so full scans take at most about 1/(1+N) of one core.
  unsigned build_gap_factor = 4;
  /// Called on the keeper thread when a build failed (it is retried later).
  std::function<void(const std::string&)> on_error;
  /// How to open the store again when its data.mdb was replaced (the servers' options:
  /// read-only, verify_pages). Without it a replacement is only reported through on_error.
  std::optional<StoreOptions> reopen;
  /// Called on the keeper thread after a replaced store was reopened.
  std::function<void(const std::string&)> on_info;
};

class AddressFilterKeeper {
 public:
  /// Starts the thread; the first filter is built at once.
  AddressFilterKeeper(std::shared_ptr<OverrideDb> db, FilterKeeperOptions options);
  AddressFilterKeeper(const AddressFilterKeeper&) = delete;
  AddressFilterKeeper& operator=(const AddressFilterKeeper&) = delete;
  /// Stops the thread (a running scan is cancelled) and joins it.
  ~AddressFilterKeeper();

  /// The published filter: query threads read it through a FilterView (one acquire load per
  /// query, the snapshot's mutex only after a publish). nullptr before the first build and
  /// right after a replaced store was reopened.
  using FilterSnapshot = sync::Snapshot<const AddressFilter>;
  using FilterView = FilterSnapshot::View;
  const FilterSnapshot& filter() const noexcept { return filter_; }

  /// The store the query threads must use, republished when a replaced store was reopened.
  /// nullptr while a replaced store is switched next to the same lock.mdb (the old one is
  /// closed first): answer SERVFAIL meanwhile. Non-const: OverrideDb is shared by the query
  /// threads' readers (LMDB environments are thread-safe).
  using DbSnapshot = sync::Snapshot<OverrideDb>;
  const DbSnapshot& db() const noexcept { return db_snapshot_; }
  /// Replaced stores reopened so far.
  std::uint64_t reopens() const noexcept { return reopens_.load(std::memory_order_relaxed); }

  /// The published filter (takes the snapshot's mutex; not for the per-query path).
  std::shared_ptr<const AddressFilter> current() const { return filter_.current(); }
  /// Filters built so far.
  std::uint64_t builds() const noexcept { return builds_.load(std::memory_order_relaxed); }
  /// The reader table as the last count saw it (every readers_count_ms): the slots a process
  /// owns (Env::readers_in_use, a dead process's until the next reader check) and the table's
  /// size; zeros before the first poll.
  struct ReaderSlots {
    unsigned used = 0;
    unsigned max = 0;
  };
  ReaderSlots reader_slots() const noexcept {
    return {readers_used_.load(std::memory_order_relaxed),
            readers_max_.load(std::memory_order_relaxed)};
  }
  /// The store's meta counts (format::kMetaCounts) as of the last commit a poll saw; nullopt
  /// before the first poll and on a store that no write has counted yet.
  std::optional<StoreCounts> counts() const;

 private:
  void run();
  /// Opens the replaced store again and publishes it; throws StoreError when it is refused
  /// (the old one keeps serving, unless it had to be closed first).
  void reopen_store(const std::string& what);
  bool stopping() const noexcept { return stop_.load(std::memory_order_relaxed); }

  std::shared_ptr<OverrideDb> db_;
  FilterKeeperOptions options_;
  FilterSnapshot filter_;
  DbSnapshot db_snapshot_;
  std::mutex stop_mu_;  // for the stop wait
  std::condition_variable stop_cv_;
  std::atomic<std::uint64_t> reopens_{0};
  // Keeper thread only:
  std::unique_ptr<OverrideReader> reader_;  // for the scans
  RemapGate::Slot* poll_slot_ = nullptr;    // of db_'s gate, for the mdb_env_info poll
  std::atomic<std::uint64_t> builds_{0};
  std::atomic<unsigned> readers_used_{0};
  mutable std::mutex counts_mu_;  // guards counts_ (the keeper and scrapes)
  std::optional<StoreCounts> counts_;
  std::atomic<unsigned> readers_max_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace amap::store
