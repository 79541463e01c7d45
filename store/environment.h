// SPDX-License-Identifier: MIT
#pragma once
// The store's LMDB environment as a process holds it: OverrideDb (the environment and the four
// database handles, opened once per process and path through a registry, with the reader slots
// it keeps) and the scoped transactions the writer and the getters open inside its RemapGate.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/lmdb.h"
#include "store/remap_gate.h"

namespace amap::store {

struct StoreOptions {
  std::string path;
  std::size_t map_size = kDefaultMapSize;
  /// Reader slots of the store (store.max_readers); 0 = default_max_readers(). The first
  /// process to open the store sizes the table.
  unsigned max_readers = 0;
  bool read_only = false;
  bool no_meta_sync = false;
  /// Walk every page of data.mdb before opening it and refuse damage (store/verify.h). The
  /// servers set it: they read the whole store anyway, and a damaged page must not crash them.
  bool verify_pages = false;
};

/// The environment and the four databases. Opened once per process and path (a registry keyed
/// by device and inode returns the same object, as LMDB forbids opening an environment twice in
/// one process); a read-write instance also serves readers.
class OverrideDb {
 public:
  struct Dbis {
    Dbi addr;
    Dbi prefix;
    Dbi name;
    Dbi meta;
  };

  static std::shared_ptr<OverrideDb> open(const StoreOptions& options);
  /// Opens the store at options.path again after its data.mdb was replaced under `old`
  /// (store/README.md, "A store replaced under a running server"): the registry forgets
  /// `old`, so a new environment is opened, unless another caller has already reopened it.
  static std::shared_ptr<OverrideDb> reopen(const StoreOptions& options, const OverrideDb& old);

  OverrideDb(const OverrideDb&) = delete;
  OverrideDb& operator=(const OverrideDb&) = delete;
  ~OverrideDb() = default;

  const Env& env() const noexcept { return env_; }
  /// Unique in the process: tells environments apart that had the same address.
  std::uint64_t serial() const noexcept { return serial_; }
  /// Closes the environment while readers may still hold this object: waits (at most 5 s)
  /// until no transaction of the process is open on it, aborts every reader's txn and the
  /// kept slots, and closes it. Readers then fail in begin() ("was replaced"). Needed when a
  /// new data.mdb must be opened next to the same lock.mdb (LMDB allows one environment per
  /// lock file and process). Throws StoreError when a transaction stays open.
  void retire();
  /// True after retire(): env() is closed.
  bool retired() const noexcept { return retired_.load(std::memory_order_acquire); }
  /// Reader slots reserve_reader_slots took (a reopen reserves as many).
  unsigned reserved_reader_slots() const noexcept {
    return reserved_.load(std::memory_order_relaxed);
  }
  const Dbis& dbis() const noexcept { return dbis_; }
  bool read_only() const noexcept { return env_.read_only(); }
  /// Clears reader slots of dead processes (call at start and about once a minute).
  int reader_check() { return env_.reader_check(); }

  /// Every transaction of this process is opened inside the gate; adopting a map grown by
  /// another process (mdb_env_set_mapsize(0) remaps, invalidating views) waits for them.
  RemapGate& gate() const noexcept { return gate_; }
  /// Adopts the new map size after MDB_MAP_RESIZED. The caller's slots must be idle.
  void adopt_map_size();

  /// Takes `count` LMDB reader slots now and keeps them for this process's readers, so that a
  /// running server never needs a new slot (other processes may have taken the rest). A
  /// reader's txn goes back here when the reader is destroyed (a reload keeps the slots).
  /// Throws StoreError (MDB_READERS_FULL: "raise store.max_readers") when they cannot be had.
  void reserve_reader_slots(unsigned count);
  /// For OverrideReader: a kept slot (a reset txn) into `out`, if there is one.
  void take_reader_slot(ReadTxn& out) noexcept;
  /// For OverrideReader: keeps the txn's slot for the next reader.
  void return_reader_slot(ReadTxn& txn) noexcept;

 private:
  OverrideDb() = default;

  Env env_;
  Dbis dbis_;
  std::uint64_t serial_ = 0;
  std::atomic<bool> retired_{false};
  std::atomic<unsigned> reserved_{0};
  mutable RemapGate gate_;
  std::mutex spare_mu_;
  std::vector<ReadTxn> spare_;  // reset txns: reader slots kept for this process (after env_)
};

/// A read txn inside the remap gate, adopting a map grown by another process when needed: for
/// OverrideStore's getters, list and stats (not the per-query path: it takes the gate mutex).
class ScopedRead {
 public:
  explicit ScopedRead(const OverrideDb& db);
  const ReadTxn& txn() const noexcept { return txn_; }

 private:
  GateScope gate_;  // declared first: left after the txn is gone
  ReadTxn txn_;
};

/// Begins a write transaction inside `gate`, adopting a map another process grew.
WriteTxn begin_write(OverrideDb& db, GateScope& gate);

}  // namespace amap::store
