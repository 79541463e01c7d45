// SPDX-License-Identifier: MIT
#include "mapper/core/prefix_table.h"

#include <algorithm>
#include <string>

namespace amap::mapper {

void PrefixTable::Builder::insert(const dns::Prefix& prefix, std::uint32_t value) {
  entries_.push_back(Entry{prefix, value});
}

Outcome<PrefixTable> PrefixTable::Builder::build() const {
  PrefixTable out;
  for (const Entry& e : entries_) {
    const dns::Prefix& p = e.prefix;
    if (p.length > p.address.bits() || p.address.masked(p.length) != p.address) {
      return make_error("prefix " + p.to_string() + " has host bits set (value " +
                        std::to_string(e.value) + ")");
    }
    (p.address.is_v4() ? out.v4_ : out.v6_).entries.push_back(e);
  }
  for (FamilyTable* t : {&out.v4_, &out.v6_}) {
    auto& es = t->entries;
    std::stable_sort(es.begin(), es.end(), [](const Entry& a, const Entry& b) {
      if (a.prefix.address != b.prefix.address) {
        return a.prefix.address < b.prefix.address;
      }
      return a.prefix.length < b.prefix.length;
    });
    for (std::size_t i = 1; i < es.size(); ++i) {
      if (es[i].prefix == es[i - 1].prefix) {
        return make_error("duplicate prefix " + es[i].prefix.to_string() + " (values " +
                          std::to_string(es[i - 1].value) + " and " + std::to_string(es[i].value) +
                          ")");
      }
    }
    if (es.size() >= kEmpty / 4) {
      return make_error("too many prefixes");
    }
    std::size_t cap = 16;
    while (cap < es.size() * 2) {
      cap *= 2;
    }
    t->slots.assign(cap, Slot{});
    std::vector<bool> present(129, false);
    for (std::size_t i = 0; i < es.size(); ++i) {
      const U128 key = U128::of(es[i].prefix.address);
      const unsigned len = es[i].prefix.length;
      present[len] = true;
      std::size_t at = hash(key, len) & (cap - 1);
      while (t->slots[at].index != kEmpty) {
        at = (at + 1) & (cap - 1);
      }
      t->slots[at] = Slot{key, static_cast<std::uint32_t>(i), static_cast<std::uint8_t>(len)};
    }
    for (unsigned len = 129; len-- > 0;) {
      if (present[len]) {
        t->lengths.push_back(static_cast<std::uint8_t>(len));
      }
    }
  }
  return out;
}

std::uint64_t PrefixTable::hash(U128 key, unsigned length) noexcept {
  std::uint64_t h = key.hi * 0x9E3779B97F4A7C15ULL;
  h ^= (key.lo + length) * 0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  return h;
}

const PrefixTable::Entry* PrefixTable::find(const FamilyTable& t, U128 key,
                                            unsigned length) noexcept {
  if (t.slots.empty()) {
    return nullptr;
  }
  const std::size_t mask = t.slots.size() - 1;
  std::size_t at = hash(key, length) & mask;
  while (true) {
    const Slot& s = t.slots[at];
    if (s.index == kEmpty) {
      return nullptr;
    }
    if (s.length == length && s.key == key) {
      return &t.entries[s.index];
    }
    at = (at + 1) & mask;
  }
}

const PrefixTable::Entry* PrefixTable::lookup(const dns::IpAddress& a) const noexcept {
  return lookup(a, a.bits());
}

const PrefixTable::Entry* PrefixTable::lookup(const dns::IpAddress& a,
                                              unsigned max_len) const noexcept {
  const FamilyTable& t = table(a.family());
  const U128 v = U128::of(a);
  for (const std::uint8_t len : t.lengths) {
    if (len > max_len) {
      continue;
    }
    if (const Entry* e = find(t, v & network_mask(a.family(), len), len)) {
      return e;
    }
  }
  return nullptr;
}

const PrefixTable::Entry* PrefixTable::lookup_exact(const dns::Prefix& p) const noexcept {
  if (p.length > p.address.bits()) {
    return nullptr;
  }
  const FamilyTable& t = table(p.family());
  return find(t, U128::of(p.address) & network_mask(p.family(), p.length), p.length);
}

bool PrefixTable::any_overlap(const dns::Prefix& p) const noexcept {
  if (p.length > p.address.bits()) {
    return false;
  }
  // Covered by a configured prefix, or some configured prefix lies inside p.
  return lookup(p.address.masked(p.length), p.length) != nullptr ||
         any_inside(p, [](std::uint32_t) { return true; });
}

}  // namespace amap::mapper
