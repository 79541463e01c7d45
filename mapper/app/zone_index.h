// SPDX-License-Identifier: MIT
#pragma once
// ZoneIndex: the App's zones keyed by dns::suffix_hash(apex), probed with every suffix of a
// query name. One flat open-addressing array (linear probing, at most half full), so a probe
// that misses costs one cache line: find_zone probes each label depth of every query, and a
// node-based hash map paid a bucket load plus a node load per probe.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace amap::app {

class ZoneIndex {
 public:
  /// Room for `count` entries without a rehash.
  void reserve(std::size_t count);
  /// Adds (hash, zone); equal hashes may repeat (different apexes can collide).
  void insert(std::uint64_t hash, std::uint32_t zone);
  /// Calls f(zone) for every entry with this hash until f returns true; returns whether one
  /// did.
  template <class F>
  bool find(std::uint64_t hash, F&& f) const noexcept {
    if (slots_.empty()) {
      return false;
    }
    for (std::size_t i = home(hash);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.zone == kEmpty) {
        return false;
      }
      if (s.hash == hash && f(s.zone)) {
        return true;
      }
    }
  }
  std::size_t size() const noexcept { return size_; }

 private:
  static constexpr std::uint32_t kEmpty = UINT32_MAX;
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t zone = kEmpty;
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

}  // namespace amap::app
