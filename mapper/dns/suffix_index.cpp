// SPDX-License-Identifier: MIT
#include "mapper/dns/suffix_index.h"

#include <bit>
#include <stdexcept>

namespace amap::dns {

void SuffixIndex::reserve(std::size_t count) {
  const std::size_t want = std::bit_ceil(count * 2 < 16 ? std::size_t{16} : count * 2);
  if (want > slots_.size()) {
    rehash(want);
  }
}

void SuffixIndex::insert(std::uint64_t hash, std::uint32_t value) {
  if (value == kEmpty) {
    throw std::length_error("suffix index: value out of range");
  }
  if ((size_ + 1) * 2 > slots_.size()) {
    reserve(size_ + 1 < 8 ? 8 : (size_ + 1) * 2);  // grow 4x: few rehashes while loading
  }
  std::size_t i = home(hash);
  while (slots_[i].value != kEmpty) {
    i = (i + 1) & mask_;
  }
  slots_[i] = Slot{hash, value};
  ++size_;
}

void SuffixIndex::clear() noexcept {
  for (Slot& s : slots_) {
    s = Slot{};
  }
  size_ = 0;
}

void SuffixIndex::rehash(std::size_t capacity) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  shift_ = 64U - static_cast<unsigned>(std::countr_zero(capacity));
  size_ = 0;
  for (const Slot& s : old) {
    if (s.value != kEmpty) {
      insert(s.hash, s.value);
    }
  }
}

}  // namespace amap::dns
