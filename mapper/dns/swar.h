// SPDX-License-Identifier: MIT
#pragma once
// Eight bytes of a name at a time in one 64-bit word (SWAR), for the per-query loops over
// names: case-insensitive compare and hash (name.cpp), lower-case-and-check of template text
// (mapper/core/template.cpp). Words are loaded with the first byte in the low bits whatever
// the host's byte order, so byte i of a word is always bits 8i..8i+7.

#include <bit>
#include <cstdint>
#include <cstring>

namespace amap::dns::swar {

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
inline constexpr std::uint64_t kLow7 = 0x7F7F7F7F7F7F7F7FULL;

/// Eight bytes at p, p[0] in the low byte.
inline std::uint64_t load8(const void* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) {
    v = __builtin_bswap64(v);
  }
  return v;
}

/// The n (1..7) bytes that end at `end`, the first of them in the low byte, the rest 0. The
/// eight bytes before `end` must be readable: the load ends where the bytes end.
inline std::uint64_t load_last(const void* end, std::size_t n) noexcept {
  return load8(static_cast<const unsigned char*>(end) - 8) >> (64 - 8 * n);
}

/// The inverse of load8: the low byte of v goes to p[0].
inline void store8(void* p, std::uint64_t v) noexcept {
  if constexpr (std::endian::native == std::endian::big) {
    v = __builtin_bswap64(v);
  }
  std::memcpy(p, &v, sizeof v);
}

/// The high bit of every byte of x in [lo, hi] (lo >= 1, hi <= 0x7F); bytes of 0x80 and up
/// are never in. Sums of the low seven bits and a constant below 0x80 never carry into the
/// next byte.
constexpr std::uint64_t bytes_in(std::uint64_t x, unsigned lo, unsigned hi) noexcept {
  const std::uint64_t low7 = x & kLow7;
  const std::uint64_t at_least_lo = low7 + kOnes * (0x80U - lo);
  const std::uint64_t above_hi = low7 + kOnes * (0x7FU - hi);
  return at_least_lo & ~above_hi & ~x & kHighBits;
}

/// ASCII lower case of eight bytes: 'A'..'Z' get 0x20 added, every other byte stays.
constexpr std::uint64_t lower8(std::uint64_t x) noexcept {
  return x | (bytes_in(x, 'A', 'Z') >> 2);  // 0x80 >> 2 is 'a' - 'A'
}

}  // namespace amap::dns::swar
