// SPDX-License-Identifier: MIT
#pragma once
// A 128-bit unsigned value as two uint64 halves, for address arithmetic without __int128
// (which -Wpedantic rejects). IPv4 addresses live in the low 32 bits of `lo`.

#include <cstdint>

#include "mapper/dns/address.h"

namespace amap::mapper {

struct U128 {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;

  static constexpr U128 of(const dns::IpAddress& a) noexcept { return U128{a.hi(), a.lo()}; }
  constexpr dns::IpAddress to_address(dns::Family f) const noexcept {
    return dns::IpAddress::from_u128(f, hi, lo);
  }
  constexpr bool is_zero() const noexcept { return (hi | lo) == 0; }

  friend constexpr U128 operator&(U128 a, U128 b) noexcept { return {a.hi & b.hi, a.lo & b.lo}; }
  friend constexpr U128 operator|(U128 a, U128 b) noexcept { return {a.hi | b.hi, a.lo | b.lo}; }
  friend constexpr U128 operator^(U128 a, U128 b) noexcept { return {a.hi ^ b.hi, a.lo ^ b.lo}; }
  friend constexpr U128 operator~(U128 a) noexcept { return {~a.hi, ~a.lo}; }
  friend constexpr bool operator==(U128, U128) noexcept = default;
  friend constexpr bool operator<(U128 a, U128 b) noexcept {
    return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
  }

  /// this = this * 10 + digit; false on overflow past 128 bits.
  constexpr bool mul10_add(unsigned digit) noexcept {
    std::uint64_t limbs[4] = {lo & 0xFFFFFFFFU, lo >> 32, hi & 0xFFFFFFFFU, hi >> 32};
    std::uint64_t carry = digit;
    for (auto& l : limbs) {
      const std::uint64_t v = l * 10U + carry;
      l = v & 0xFFFFFFFFU;
      carry = v >> 32;
    }
    lo = limbs[0] | (limbs[1] << 32);
    hi = limbs[2] | (limbs[3] << 32);
    return carry == 0;
  }
  /// this = this / d; returns the remainder. d must be non-zero and < 2^32.
  constexpr std::uint32_t divmod(std::uint32_t d) noexcept {
    std::uint64_t limbs[4] = {hi >> 32, hi & 0xFFFFFFFFU, lo >> 32, lo & 0xFFFFFFFFU};
    std::uint64_t rem = 0;
    for (auto& l : limbs) {
      const std::uint64_t cur = (rem << 32) | l;
      l = cur / d;
      rem = cur % d;
    }
    hi = (limbs[0] << 32) | limbs[1];
    lo = (limbs[2] << 32) | limbs[3];
    return static_cast<std::uint32_t>(rem);
  }
};

/// All address bits of a family (v4: the low 32 bits).
constexpr U128 family_mask(dns::Family f) noexcept {
  return f == dns::Family::v4 ? U128{0, 0xFFFFFFFFULL} : U128{~0ULL, ~0ULL};
}

/// The network mask of a /len prefix in family f (len clamped to the family's width).
constexpr U128 network_mask(dns::Family f, unsigned len) noexcept {
  if (f == dns::Family::v4) {
    if (len == 0) {
      return {};
    }
    if (len >= 32) {
      return {0, 0xFFFFFFFFULL};
    }
    return {0, (0xFFFFFFFFULL << (32 - len)) & 0xFFFFFFFFULL};
  }
  if (len == 0) {
    return {};
  }
  if (len >= 128) {
    return {~0ULL, ~0ULL};
  }
  if (len <= 64) {
    return {~0ULL << (64 - len), 0};
  }
  return {~0ULL, len == 128 ? ~0ULL : ~0ULL << (128 - len)};
}

/// The host part mask of a /len prefix.
constexpr U128 host_mask(dns::Family f, unsigned len) noexcept {
  return family_mask(f) & ~network_mask(f, len);
}

}  // namespace amap::mapper
