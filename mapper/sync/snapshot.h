// SPDX-License-Identifier: MIT
#pragma once
// State that query threads read without locks: a writer publishes a new T, readers keep a
// View (one per worker thread) that holds the last T it saw and refreshes only when the
// published version moved. The per-read cost is one acquire load and a compare: no lock and
// no shared_ptr refcount traffic; the mutex is taken once per publish per reader.
//
//   Snapshot<const Table> table;                 // shared by the writer and the readers
//   table.publish(std::make_shared<const Table>(...));        // background thread
//
//   thread_local Snapshot<const Table>::View view;  // or a member of the worker's context
//   const Table* t = view.get(table);            // per query: nullptr before any publish
//
// T is normally const: an immutable value (amap::app::Snapshot<T> is Snapshot<const T>). A
// non-const T is for a shared object that is itself safe for concurrent use, whose readers
// need a non-const handle (the store's OverrideDb, swapped when the file is replaced).
//
// Versions come from one process-wide counter, so a View never mistakes one Snapshot's
// version for another's: a thread_local View can serve several Snapshots (it refreshes when
// it is handed a different one). A View keeps its T alive until it refreshes or dies, so a
// reader can use the T it got until its next get().
//
// The one copy of the pattern: the framework (mapper/app: apps' state, the server's app per
// worker) and the store (the address filter, the reopened store) both use it.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace amap::sync {

namespace detail {
/// Process-wide source of snapshot versions (0 means "never published").
inline std::uint64_t next_snapshot_version() noexcept {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}
}  // namespace detail

template <class T>
class Snapshot {
 public:
  Snapshot() = default;
  explicit Snapshot(std::shared_ptr<T> initial) { publish(std::move(initial)); }
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  /// Makes `next` the current value (nullptr is allowed: readers then get nullptr). The old
  /// value is freed when the last View that holds it refreshes.
  void publish(std::shared_ptr<T> next) {
    std::lock_guard<std::mutex> lock(mu_);
    current_.swap(next);
    version_.store(detail::next_snapshot_version(), std::memory_order_release);
    // `next` now holds the old value; a parameter dies after the lock guard, so any free
    // happens outside the lock.
  }
  template <class... Args>
  void emplace(Args&&... args) {
    publish(std::make_shared<T>(std::forward<Args>(args)...));
  }

  /// The current value (takes the mutex and a reference: not for the per-query path).
  std::shared_ptr<T> current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  /// Moves at every publish. One acquire load.
  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

  /// One reader's cached copy. Not shared between threads.
  class View {
   public:
    /// The current value, refreshed only when `snap` published since the last call (or is
    /// another Snapshot than last time). nullptr before the first publish.
    T* get(const Snapshot& snap) {
      const std::uint64_t v = snap.version();
      if (v != version_ || source_ != &snap) {
        refresh(snap);
      }
      return held_.get();
    }
    /// The value held since the last get(), shared (for a reader that must own it).
    const std::shared_ptr<T>& held() const noexcept { return held_; }
    /// The version of the value held (0: none yet).
    std::uint64_t version() const noexcept { return version_; }
    /// Drops the held value (frees it if this View was the last holder).
    void reset() noexcept {
      held_.reset();
      version_ = 0;
      source_ = nullptr;
    }

   private:
    void refresh(const Snapshot& snap) {
      std::shared_ptr<T> old;  // freed after the unlock
      {
        std::lock_guard<std::mutex> lock(snap.mu_);
        old.swap(held_);
        held_ = snap.current_;
        version_ = snap.version_.load(std::memory_order_relaxed);
      }
      source_ = &snap;
    }

    std::shared_ptr<T> held_;
    std::uint64_t version_ = 0;
    const Snapshot* source_ = nullptr;
  };

 private:
  mutable std::mutex mu_;  // guards current_ and orders it with version_
  std::shared_ptr<T> current_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace amap::sync
