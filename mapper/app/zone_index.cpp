// SPDX-License-Identifier: MIT
#include "mapper/app/zone_index.h"

#include <bit>
#include <stdexcept>

namespace amap::app {

void ZoneIndex::reserve(std::size_t count) {
  const std::size_t want = std::bit_ceil(count * 2 < 16 ? std::size_t{16} : count * 2);
  if (want > slots_.size()) {
    rehash(want);
  }
}

void ZoneIndex::insert(std::uint64_t hash, std::uint32_t zone) {
  if (zone == kEmpty) {
    throw std::length_error("zone index: too many zones");
  }
  if ((size_ + 1) * 2 > slots_.size()) {
    reserve(size_ + 1 < 8 ? 8 : (size_ + 1) * 2);  // grow 4x: few rehashes while loading
  }
  std::size_t i = home(hash);
  while (slots_[i].zone != kEmpty) {
    i = (i + 1) & mask_;
  }
  slots_[i] = Slot{hash, zone};
  ++size_;
}

void ZoneIndex::rehash(std::size_t capacity) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  shift_ = 64U - static_cast<unsigned>(std::countr_zero(capacity));
  size_ = 0;
  for (const Slot& s : old) {
    if (s.zone != kEmpty) {
      insert(s.hash, s.zone);
    }
  }
}

}  // namespace amap::app
