// SPDX-License-Identifier: MIT
#pragma once
// OverrideReader: read-only access for one worker thread, the per-query path. Lookups are
// noexcept and do not allocate or lock.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "store/codec.h"
#include "store/environment.h"

namespace amap::store {

/// Read-only access for one worker thread. Usage per query: begin(); find_*(); end().
/// Views returned by find_* point into the map and are valid until end().
class OverrideReader {
 public:
  /// Opens the store read-only (shared per process). Throws StoreError with a clear message
  /// when the store does not exist yet.
  static OverrideReader open(const std::string& path, unsigned max_readers = 0);
  explicit OverrideReader(std::shared_ptr<OverrideDb> db);

  OverrideReader(OverrideReader&& other) noexcept;
  OverrideReader& operator=(OverrideReader&& other) noexcept;
  ~OverrideReader();

  /// Takes a fresh snapshot (renews the reused txn). Sees every commit made before the call,
  /// by any process. Throws StoreError only for environment errors (reader table full...).
  void begin();
  /// Releases the snapshot. Never stay between begin() and end() while idle.
  void end() noexcept;
  bool in_txn() const noexcept { return txn_.active(); }

  std::optional<OverrideView> find_address(const dns::IpAddress& a) noexcept;
  /// The longest prefix override covering `a`.
  std::optional<PrefixOverrideView> find_prefix(const dns::IpAddress& a) noexcept;
  /// Calls `fn` for every live prefix override in the current snapshot, in key order.
  /// For rebuilding derived state, not for the per-query path.
  std::size_t for_each_prefix(const std::function<void(const PrefixOverrideView&)>& fn);
  /// Number of keys in the `addr` table of the current snapshot (live and tombstones).
  std::size_t address_key_count();
  /// Calls `fn` for every key of the `addr` table (live or tombstone) of the current snapshot,
  /// in key order, until it returns false. Returns false if it was stopped. Not for the
  /// per-query path.
  bool for_each_address_key(const std::function<bool(Bytes)>& fn);
  /// Changes whenever a transaction changed a prefix override (0 before the first one).
  std::uint64_t prefix_generation() noexcept;
  /// The last committed write's time and config digest (format::kMetaLastChange).
  LastChange last_change() noexcept;
  /// The key counts every write keeps in meta (format::kMetaCounts); nullopt on a store no
  /// write has counted yet.
  std::optional<StoreCounts> counts() noexcept;
  /// The address whose override names `n` (case-insensitive).
  std::optional<dns::IpAddress> find_name(const dns::Name& n) noexcept;

  /// Lookups that failed in LMDB (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, a value outside the map:
  /// a damaged page). Such a lookup cannot tell "no override", so the caller must answer an
  /// error (SERVFAIL), never synthesis. last_lookup_error() is the LMDB code.
  std::uint64_t lookup_failures() const noexcept { return lookup_failures_; }
  int last_lookup_error() const noexcept { return last_lookup_error_; }
  /// Lookup failures of every reader of the process.
  static std::uint64_t lookup_failures_total() noexcept;

  /// Values skipped because they could not be decoded (unknown version, corrupt).
  std::uint64_t error_count() const noexcept { return error_count_; }
  format::DecodeError last_error() const noexcept { return last_error_; }
  std::string_view last_error_message() const noexcept {
    return format::decode_error_message(last_error_);
  }
  const std::shared_ptr<OverrideDb>& db() const noexcept { return db_; }
  /// Snapshot id of the current txn (0 outside begin/end).
  std::uint64_t txn_id() const noexcept { return txn_.id(); }

 private:
  /// Decodes a value; false for tombstones and for undecodable values (counted).
  bool live_override(Bytes raw, OverrideView& out) noexcept;
  bool live_simple(Bytes raw, Bytes& out) noexcept;
  /// Gives the txn's slot back to the db and the gate slot (destructor, move assignment).
  void detach() noexcept;
  void note_error(format::DecodeError e) noexcept {
    last_error_ = e;
    ++error_count_;
  }
  /// The LMDB code of a lookup; true when it found the key.
  bool found(int rc) noexcept;

  std::shared_ptr<OverrideDb> db_;
  ReadTxn txn_;
  RemapGate::Slot* slot_ = nullptr;
  std::uint64_t error_count_ = 0;
  format::DecodeError last_error_ = format::DecodeError::ok;
  std::uint64_t lookup_failures_ = 0;
  int last_lookup_error_ = 0;
};

}  // namespace amap::store
