// SPDX-License-Identifier: MIT
#pragma once
// Longest-prefix match over IPv4 and IPv6 prefixes (built once, read-only afterwards).
//
// Layout: per family, one open-addressing hash table keyed by (length, masked address),
// probed longest length first over only the lengths present, so a lookup costs at most one
// probe sequence per distinct length (<= 33 / <= 129) whatever the prefix sizes and nearly
// whatever their number. Entries are also kept sorted by address for range questions
// (any_overlap). Lookups never allocate and never throw.

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "mapper/core/outcome.h"
#include "mapper/core/u128.h"
#include "mapper/dns/address.h"

namespace amap::mapper {

class PrefixTable {
 public:
  struct Entry {
    dns::Prefix prefix;
    std::uint32_t value = 0;
  };

  class Builder {
   public:
    /// Adds a prefix. Problems (host bits set, duplicates) are reported by build().
    void insert(const dns::Prefix& prefix, std::uint32_t value);
    std::size_t size() const noexcept { return entries_.size(); }
    /// Builds the table; fails with a message naming the first duplicate or bad prefix.
    Outcome<PrefixTable> build() const;

   private:
    std::vector<Entry> entries_;
  };

  PrefixTable() = default;

  /// The most specific prefix containing `a`, or nullptr.
  const Entry* lookup(const dns::IpAddress& a) const noexcept;
  /// The most specific prefix containing `a` whose length is <= max_len, or nullptr.
  const Entry* lookup(const dns::IpAddress& a, unsigned max_len) const noexcept;
  /// The entry for exactly this prefix, or nullptr.
  const Entry* lookup_exact(const dns::Prefix& p) const noexcept;
  /// True when some prefix covers `p` or lies inside it (NODATA vs NXDOMAIN for a partial
  /// reverse name).
  bool any_overlap(const dns::Prefix& p) const noexcept;
  /// True when some prefix strictly inside `p` (longer, within its range) has a value for
  /// which `accept(value)` holds. Entries are sorted by address, so only those starting in
  /// p's range are visited.
  template <class Accept>
  bool any_inside(const dns::Prefix& p, Accept&& accept) const noexcept {
    if (p.length > p.address.bits()) {
      return false;
    }
    const dns::Family f = p.family();
    const std::span<const Entry> all = entries(f);
    const U128 first = U128::of(p.address) & network_mask(f, p.length);
    const U128 last = first | host_mask(f, p.length);
    const dns::IpAddress lo = first.to_address(f);
    auto it = std::lower_bound(
        all.begin(), all.end(), lo,
        [](const Entry& e, const dns::IpAddress& x) { return e.prefix.address < x; });
    for (; it != all.end() && !(last < U128::of(it->prefix.address)); ++it) {
      if (it->prefix.length > p.length && accept(it->value)) {
        return true;
      }
    }
    return false;
  }

  std::size_t size() const noexcept { return v4_.entries.size() + v6_.entries.size(); }
  bool empty() const noexcept { return size() == 0; }
  /// All entries of one family, sorted by address then length.
  std::span<const Entry> entries(dns::Family f) const noexcept {
    return f == dns::Family::v4 ? std::span<const Entry>(v4_.entries)
                                : std::span<const Entry>(v6_.entries);
  }

 private:
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFFU;

  struct Slot {
    U128 key;
    std::uint32_t index = kEmpty;  // into entries
    std::uint8_t length = 0;
  };
  struct FamilyTable {
    std::vector<Entry> entries;         // sorted by (address, length)
    std::vector<Slot> slots;            // power-of-two size, load <= 1/2
    std::vector<std::uint8_t> lengths;  // present lengths, longest first
  };

  static std::uint64_t hash(U128 key, unsigned length) noexcept;
  static const Entry* find(const FamilyTable& t, U128 key, unsigned length) noexcept;
  const FamilyTable& table(dns::Family f) const noexcept {
    return f == dns::Family::v4 ? v4_ : v6_;
  }

  FamilyTable v4_;
  FamilyTable v6_;
};

}  // namespace amap::mapper
