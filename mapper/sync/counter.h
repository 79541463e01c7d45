// SPDX-License-Identifier: MIT
#pragma once
// Counters that one thread writes and any thread may read while it runs (a /metrics scrape):
//
//   amap::sync::bump(worker.received);          // the owning thread only
//   total += amap::sync::peek(worker.received); // any thread
//
// Both sides go through std::atomic_ref with relaxed order, so the program has no data race
// (TSan is clean) and the writer still pays what a plain ++ costs: an aligned 64-bit relaxed
// load and store are plain moves on x86-64 and AArch64, with no lock prefix. The increment is
// not an atomic read-modify-write, which is correct only because a counter has one writer.

#include <atomic>
#include <cstdint>

namespace amap::sync {

/// Adds `n` to a counter that only the calling thread writes.
inline void bump(std::uint64_t& counter, std::uint64_t n = 1) noexcept {
  std::atomic_ref<std::uint64_t> c(counter);
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

/// Sets a value (a gauge) that only the calling thread writes.
inline void set(std::uint64_t& value, std::uint64_t v) noexcept {
  std::atomic_ref<std::uint64_t>(value).store(v, std::memory_order_relaxed);
}

/// Reads a counter another thread may be bumping: the old or the new value, never torn.
inline std::uint64_t peek(const std::uint64_t& counter) noexcept {
  // atomic_ref<const T> arrives in C++26; the load does not write.
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(counter))  // NOLINT
      .load(std::memory_order_relaxed);
}

}  // namespace amap::sync
