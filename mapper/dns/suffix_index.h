// SPDX-License-Identifier: MIT
#pragma once
// SuffixIndex: entries (zones, forward template groups) keyed by suffix_hash(name) of their
// name, probed with suffix_hashes() of a query name, one label depth at a time. One flat
// open-addressing array (linear probing, at most half full), so a probe that misses costs one
// cache line; a node-based hash map paid a bucket load plus a node load per probe, and
// every query makes several.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace amap::dns {

class SuffixIndex {
 public:
  /// Room for `count` entries without a rehash.
  void reserve(std::size_t count);
  /// Adds (hash, value); equal hashes may repeat (different names can collide).
  void insert(std::uint64_t hash, std::uint32_t value);
  /// Calls f(value) for every entry with this hash until f returns true; returns whether one
  /// did.
  template <class F>
  bool find(std::uint64_t hash, F&& f) const noexcept {
    if (slots_.empty()) {
      return false;
    }
    for (std::size_t i = home(hash);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value == kEmpty) {
        return false;
      }
      if (s.hash == hash && f(s.value)) {
        return true;
      }
    }
  }
  /// Removes every entry and keeps the room.
  void clear() noexcept;
  std::size_t size() const noexcept { return size_; }

 private:
  static constexpr std::uint32_t kEmpty = UINT32_MAX;
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t value = kEmpty;
  };
  std::size_t home(std::uint64_t hash) const noexcept {
    // Fibonacci hashing: the top bits of the product spread any input bits over the table.
    return static_cast<std::size_t>((hash * 0x9E3779B97F4A7C15ULL) >> shift_);
  }
  void rehash(std::size_t capacity);

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
  std::size_t size_ = 0;
};

}  // namespace amap::dns
