// SPDX-License-Identifier: MIT
#pragma once
// OverrideStore: the read-write API (mapctl, the control socket). Its writes run in
// writer.cpp, its getters and list in queries.cpp, its stats in stats.cpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "store/codec.h"
#include "store/environment.h"
#include "store/write_rules.h"

namespace amap::store {

/// One row of OverrideStore::list().
struct ListEntry {
  bool is_prefix = false;
  dns::Prefix prefix;  // for an address override: the address with length 32 or 128
  OverrideView value;
};

/// A place in list()'s order: an address, or a prefix (a prefix comes before an address equal
/// to its network address, shorter prefixes first).
struct ListKey {
  bool is_prefix = false;
  dns::Prefix prefix;  // an address has the full length
  /// Whether this key comes strictly before `other` in list()'s order.
  bool before(const ListKey& other) const noexcept;
};

/// One change of a batch.
struct Change {
  enum class Op : std::uint8_t { put, erase };
  Op op = Op::put;
  bool is_prefix = false;
  dns::Prefix key;  // addresses use the full length (32/128)
  Override value;   // ignored for erase
  /// When the change was made, for "the latest write wins" among changes that share a name
  /// (with WriteRules::allow_shared_names) and for conflict reports: mapctl import gives the
  /// line number. 0 for all changes of a batch means their position in the batch.
  std::uint64_t seq = 0;

  static Change put_address(const dns::IpAddress& a, Override v);
  static Change put_prefix(const dns::Prefix& p, Override v);
  static Change erase_address(const dns::IpAddress& a);
  static Change erase_prefix(const dns::Prefix& p);
};

/// Collects changes for OverrideStore::apply (one transaction, all or nothing).
class WriteBatch {
 public:
  void put_address(const dns::IpAddress& a, Override v) {
    changes_.push_back(Change::put_address(a, std::move(v)));
  }
  void put_prefix(const dns::Prefix& p, Override v) {
    changes_.push_back(Change::put_prefix(p, std::move(v)));
  }
  void erase_address(const dns::IpAddress& a) { changes_.push_back(Change::erase_address(a)); }
  void erase_prefix(const dns::Prefix& p) { changes_.push_back(Change::erase_prefix(p)); }
  std::span<const Change> changes() const noexcept { return changes_; }
  std::size_t size() const noexcept { return changes_.size(); }
  bool empty() const noexcept { return changes_.empty(); }
  void clear() noexcept { changes_.clear(); }

 private:
  std::vector<Change> changes_;
};

struct ApplyResult {
  std::size_t written = 0;    // puts: added + replaced + unchanged
  std::size_t erased = 0;     // erases that removed a live entry, replace_within's included
  std::size_t added = 0;      // puts of a key that had no live value
  std::size_t replaced = 0;   // puts that changed the live value
  std::size_t unchanged = 0;  // puts equal to the live value (kind, target, TTL): still written
};

/// How OverrideStore::apply runs a batch.
struct ApplyOptions {
  /// Run every check, then abort the transaction: the counts say what a commit would do.
  bool dry_run = false;
  /// A sync: in the same transaction, also erase every live override inside this prefix
  /// (addresses, and prefixes at least as long, itself included) that no put of the batch
  /// writes. With no changes at all this deletes everything inside the prefix.
  std::optional<dns::Prefix> replace_within;
};

struct StoreStats {
  std::size_t address_overrides = 0;  // live entries (tombstones not counted)
  std::size_t prefix_overrides = 0;
  std::size_t names = 0;                  // live reverse-index entries
  std::size_t tombstones = 0;             // deleted markers kept for Lightning Stream
  std::size_t expired_tombstones = 0;     // of those, written before stats()'s cutoff
  std::uint64_t oldest_tombstone_ns = 0;  // 0: none
  std::size_t free_pages = 0;  // pages LMDB's freelist holds for reuse (inside used_pages)
  std::size_t map_size = 0;
  std::size_t page_size = 0;
  std::size_t used_pages = 0;
  std::size_t used_bytes = 0;
  std::uint64_t last_txn_id = 0;
  /// Reader slots owned by processes (mdb_reader_list), idle or in a snapshot: LMDB's API
  /// does not tell the two apart without reading its printed text.
  unsigned readers = 0;
  unsigned max_readers = 0;
  /// The counts every write keeps in meta (nullopt: none written yet); `mapctl check` compares
  /// them with the counts above.
  std::optional<StoreCounts> kept_counts;
};

/// What OverrideStore::purge_tombstones did.
struct PurgeResult {
  std::size_t purged = 0;        // tombstones deleted
  std::size_t kept = 0;          // tombstones younger than the cutoff
  std::size_t transactions = 0;  // write transactions used
};

/// One value a write transaction wrote to `addr` or `prefix`, as LMDB would hold it (the
/// Lightning Stream header included): what OverrideStore hands to its Replication.
struct RawWrite {
  bool is_prefix = false;
  std::vector<std::uint8_t> key;
  std::vector<std::uint8_t> value;
};

/// What a Replication did with a transaction's values.
struct ReplicationResult {
  /// False: the source of truth has changes past the replica's revision (the rules were
  /// checked against an old state); the store waits until the replica reaches
  /// `source_revision`, then runs the transaction again.
  bool applied = true;
  std::uint64_t source_revision = 0;
};

/// With a source of truth (store/sync: etcd), a write transaction is checked here as usual,
/// then, instead of committing, its values go to this function with the replica's revision
/// (meta `sync_revision`); the local store changes when the sync loop applies them. It throws
/// (nothing applied) when the source cannot take them. Not called for a transaction that
/// wrote no value.
using Replication = std::function<ReplicationResult(std::uint64_t replica_revision,
                                                    std::span<const RawWrite> writes)>;

/// Read-write access. Not thread-safe: use one per thread (writes are serialized by LMDB).
class OverrideStore {
 public:
  /// Opens or creates the store (creating the directory). Throws StoreError.
  explicit OverrideStore(const StoreOptions& options);
  explicit OverrideStore(std::shared_ptr<OverrideDb> db);

  /// The rules the following writes follow (WriteRules); the default allows no shared names
  /// and checks templates against the other stored overrides only.
  void set_write_rules(WriteRules rules);
  const WriteRules& write_rules() const noexcept { return *rules_; }

  /// Throw WriteConflictError when a write breaks the WriteRules, StoreError otherwise.
  void put_address(const dns::IpAddress& a, const Override& v);
  void put_prefix(const dns::Prefix& p, const Override& v);
  bool erase_address(const dns::IpAddress& a);
  bool erase_prefix(const dns::Prefix& p);
  std::optional<Override> get_address(const dns::IpAddress& a) const;
  std::optional<Override> get_prefix(const dns::Prefix& p) const;
  /// Forward index: which address override currently owns this name.
  std::optional<dns::IpAddress> get_name(const dns::Name& n) const;

  /// Applies all changes in one write transaction: all or nothing. With `dry_run` every check
  /// runs (WriteConflictError lists every conflict at once) but the transaction is aborted.
  ApplyResult apply(std::span<const Change> changes, bool dry_run = false) {
    ApplyOptions o;
    o.dry_run = dry_run;
    return apply(changes, o);
  }
  ApplyResult apply(std::span<const Change> changes, const ApplyOptions& options);
  ApplyResult apply(const WriteBatch& batch) { return apply(batch.changes()); }

  /// Calls fn for address and prefix overrides in address order (family, address bytes; a
  /// prefix before an address equal to its network, shorter prefixes first), optionally only
  /// those inside `within`, at most `limit` entries (0 = no limit). Returns how many were
  /// listed. Views are valid only inside fn.
  /// `after`: only the entries that come after this key in that order (paging: the last key
  /// of the previous page; it need not exist any more), found by a seek.
  std::size_t list(std::optional<dns::Prefix> within, std::size_t limit,
                   const std::function<void(const ListEntry&)>& fn,
                   const std::optional<ListKey>& after = std::nullopt) const;

  /// `tombstone_cutoff_ns` (ns since the epoch) counts the tombstones written before it as
  /// expired_tombstones.
  StoreStats stats(std::uint64_t tombstone_cutoff_ns = 0) const;
  /// The meta counts every write keeps (format::kMetaCounts), without a scan; nullopt on a
  /// store no write has counted yet.
  std::optional<StoreCounts> counts() const;
  /// Deletes (mdb_del: the key is gone) the tombstones of `addr`, `prefix` and `name` written
  /// before `cutoff_ns`, in write transactions of at most `per_txn` deletions, so that a map
  /// that is nearly full can still be purged (each commit frees pages for the next). Readers
  /// see no difference: a missing key reads as a tombstone does. The freed pages go to LMDB's
  /// freelist and are reused by later writes; the file does not shrink (store/README.md).
  PurgeResult purge_tombstones(std::uint64_t cutoff_ns, std::size_t per_txn = 10000);
  /// Recomputes the prefix-length bitmaps from the prefix database (e.g. after a Lightning
  /// Stream merge from several writers).
  void rebuild_meta();

  const std::shared_ptr<OverrideDb>& db() const noexcept { return db_; }

  /// Sends every later write to `r` instead of committing it (see Replication). A write whose
  /// rules were checked against a replica behind the source waits at most `catch_up` for the
  /// replica, then throws StoreError.
  void set_replication(Replication r, std::chrono::milliseconds catch_up);
  /// The etcd revision the store holds (meta `sync_revision`), 0 if it never synced.
  std::uint64_t sync_revision() const;

 private:
  std::shared_ptr<OverrideDb> db_;
  std::shared_ptr<const WriteRules> rules_ = std::make_shared<const WriteRules>();
  std::shared_ptr<const Replication> replication_;
  std::chrono::milliseconds catch_up_{0};
};

/// One write transaction of a sync node (store/sync): values from the source of truth,
/// written byte for byte, with the name index and the prefix-length bitmaps kept as every
/// writer keeps them. The write rules are not checked (the source's writer did). Nothing is
/// visible before commit(); destroying it uncommitted aborts.
class ReplicaTxn {
 public:
  /// `full`: the transaction replaces the whole content (the addr, prefix and name databases
  /// are emptied first), for an initial load or a resync.
  ReplicaTxn(OverrideStore& store, bool full);
  ~ReplicaTxn();
  ReplicaTxn(const ReplicaTxn&) = delete;
  ReplicaTxn& operator=(const ReplicaTxn&) = delete;

  /// Writes `value` under `key` of addr (or prefix). False, nothing written, when the key or
  /// the value does not decode (the caller counts and logs it).
  bool put(bool is_prefix, Bytes key, Bytes value);
  /// Removes the key (mdb_del) and its name-index entry.
  void erase(bool is_prefix, Bytes key);
  /// Stores `revision` as meta `sync_revision` and commits. Throws StoreError.
  void commit(std::uint64_t revision);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

namespace detail {
/// Meta counts (format::kMetaCounts) as `txn` sees them; nullopt when absent.
std::optional<StoreCounts> counts_in(MDB_txn* txn, const OverrideDb::Dbis& dbis);
/// list()'s walk inside any transaction (the writer's replace_within runs it in its own).
std::size_t list_in(MDB_txn* txn, const OverrideDb::Dbis& dbis, std::optional<dns::Prefix> within,
                    std::size_t limit, const std::function<void(const ListEntry&)>& fn,
                    const std::optional<ListKey>& after = std::nullopt);
}  // namespace detail

}  // namespace amap::store
