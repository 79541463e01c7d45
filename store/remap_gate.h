// SPDX-License-Identifier: MIT
#pragma once
// RemapGate: keeps this process's transactions and a remap of LMDB's map apart, without a lock
// on the per-query path (store/README.md, "LMDB rules followed").

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "store/lmdb.h"

namespace amap::store {

/// Keeps LMDB's map from being remapped (mdb_env_set_mapsize after another process grew it)
/// while this process has a transaction open, without a lock on the per-query path. Every
/// holder of transactions owns a Slot on its own cache line and marks it busy around each
/// transaction: one store and one load, no shared write. A remap raises `pending`, waits
/// (bounded) until every slot is idle, remaps, and lowers it; holders that enter meanwhile
/// wait for it. The store/load pairs are sequentially consistent (Dekker), so either the
/// holder sees `pending` or the remapper sees `busy`.
class RemapGate {
 public:
  struct alignas(64) Slot {
    std::atomic<bool> busy{false};
    bool in_use = false;     // guarded by the gate's mutex
    ReadTxn* txn = nullptr;  // a reader's reused txn, for OverrideDb::retire (the mutex too)
  };

  RemapGate() = default;
  RemapGate(const RemapGate&) = delete;
  RemapGate& operator=(const RemapGate&) = delete;

  /// A slot for one holder (a reader, or one getter/write call). Takes the mutex: not for
  /// the per-query path.
  Slot* acquire();
  void release(Slot* slot) noexcept;
  /// Tells the gate where the slot's holder keeps its txn (it moved), for abort_all_txns.
  void attach(Slot* slot, ReadTxn* txn) noexcept;

  /// Marks the slot busy before a transaction starts. Waits only while a remap runs.
  void enter(Slot& slot) noexcept;
  void leave(Slot& slot) noexcept { slot.busy.store(false, std::memory_order_release); }

  /// Runs fn() while no transaction of this process is open. The caller's own slots must be
  /// idle; throws StoreError if some transaction stays open longer than `wait_ms`.
  void exclusive(const std::function<void()>& fn, unsigned wait_ms = 5000,
                 std::string_view purpose = "adopt the grown LMDB map");
  /// Aborts every attached txn (all idle). Only inside exclusive(), which holds the mutex.
  void abort_all_txns() noexcept;
  /// True while a remap waits for this process's transactions to end: a long scan that holds
  /// a snapshot should give up.
  bool remap_pending() const noexcept { return pending_.load(std::memory_order_acquire); }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<bool> pending_{false};
};

/// A slot held busy for the lifetime of a scope (getters and writes, not the query path).
class GateScope {
 public:
  explicit GateScope(RemapGate& gate) : gate_(gate), slot_(gate.acquire()) { gate_.enter(*slot_); }
  GateScope(const GateScope&) = delete;
  GateScope& operator=(const GateScope&) = delete;
  ~GateScope() {
    gate_.leave(*slot_);
    gate_.release(slot_);
  }
  void leave() noexcept { gate_.leave(*slot_); }
  void enter() noexcept { gate_.enter(*slot_); }

 private:
  RemapGate& gate_;
  RemapGate::Slot* slot_;
};

}  // namespace amap::store
