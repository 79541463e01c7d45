// SPDX-License-Identifier: MIT
#include "store/remap_gate.h"

#include <chrono>
#include <string>
#include <thread>

namespace amap::store {

RemapGate::Slot* RemapGate::acquire() {
  std::lock_guard g(mu_);
  for (auto& slot : slots_) {
    if (!slot->in_use) {
      slot->in_use = true;
      return slot.get();
    }
  }
  slots_.push_back(std::make_unique<Slot>());
  slots_.back()->in_use = true;
  return slots_.back().get();
}

void RemapGate::release(Slot* slot) noexcept {
  if (slot == nullptr) {
    return;
  }
  std::lock_guard g(mu_);
  slot->busy.store(false, std::memory_order_release);
  slot->in_use = false;
  slot->txn = nullptr;
}

void RemapGate::attach(Slot* slot, ReadTxn* txn) noexcept {
  if (slot != nullptr) {
    std::lock_guard g(mu_);
    slot->txn = txn;
  }
}

void RemapGate::abort_all_txns() noexcept {
  for (const auto& slot : slots_) {
    if (slot->in_use && slot->txn != nullptr) {
      slot->txn->abort();
    }
  }
}

void RemapGate::enter(Slot& slot) noexcept {
  for (;;) {
    slot.busy.store(true, std::memory_order_seq_cst);
    if (!pending_.load(std::memory_order_seq_cst)) {
      return;
    }
    // A remap is running: step aside until it is done (rare; bounded by the remapper).
    slot.busy.store(false, std::memory_order_seq_cst);
    while (pending_.load(std::memory_order_acquire)) {
      std::this_thread::yield();
    }
  }
}

void RemapGate::exclusive(const std::function<void()>& fn, unsigned wait_ms,
                          std::string_view purpose) {
  std::lock_guard g(mu_);  // one remapper at a time; no slot changes meanwhile
  pending_.store(true, std::memory_order_seq_cst);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (const auto& slot : slots_) {
    while (slot->busy.load(std::memory_order_seq_cst)) {
      if (std::chrono::steady_clock::now() > deadline) {
        pending_.store(false, std::memory_order_seq_cst);
        throw StoreError("cannot " + std::string(purpose) +
                         ": a transaction of this process stayed open for more than " +
                         std::to_string(wait_ms) + " ms");
      }
      std::this_thread::yield();
    }
  }
  try {
    fn();
  } catch (...) {
    pending_.store(false, std::memory_order_seq_cst);
    throw;
  }
  pending_.store(false, std::memory_order_seq_cst);
}

}  // namespace amap::store
