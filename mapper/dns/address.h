// SPDX-License-Identifier: MIT
#pragma once
// IPv4/IPv6 addresses and prefixes as plain values: 16 bytes plus a family, no allocation.

#include <array>
#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mapper/dns/result.h"

namespace amap::dns {

enum class Family : std::uint8_t { v4 = 4, v6 = 6 };

/// An IPv4 or IPv6 address. IPv4 lives in bytes()[0..3], the rest is zero.
class IpAddress {
 public:
  static constexpr std::size_t kMaxTextLen = 46;  // INET6_ADDRSTRLEN incl. NUL

  constexpr IpAddress() noexcept = default;
  static constexpr IpAddress v4(std::uint32_t host_order) noexcept {
    IpAddress a;
    a.set_v4(host_order);
    return a;
  }
  static constexpr IpAddress v6(const std::array<std::uint8_t, 16>& b) noexcept {
    IpAddress a;
    a.family_ = Family::v6;
    a.bytes_ = b;
    return a;
  }
  /// In-place forms of v4() and v6() (from the upper and lower 64 bits).
  constexpr void set_v4(std::uint32_t host_order) noexcept { set(Family::v4, 0, host_order); }
  constexpr void set_v6(std::uint64_t hi, std::uint64_t lo) noexcept { set(Family::v6, hi, lo); }
  /// Parses dotted-quad IPv4 or any RFC 4291 IPv6 text form. An interface zone id
  /// ("fe80::1%eth0") is an error (Errc::zone_id): this type cannot keep it, and a config,
  /// an override or a listen address must not silently lose it.
  static Result<IpAddress> parse(std::string_view text) noexcept;
  /// The same, but a "%zone" suffix is dropped: for the client and local addresses that
  /// PowerDNS sends on the pipe ("fe80::1%eth0"), where only the address matters.
  static Result<IpAddress> parse_dropping_zone(std::string_view text) noexcept;

  constexpr Family family() const noexcept { return family_; }
  constexpr bool is_v4() const noexcept { return family_ == Family::v4; }
  constexpr bool is_v6() const noexcept { return family_ == Family::v6; }
  /// Number of address bits: 32 or 128.
  constexpr unsigned bits() const noexcept { return is_v4() ? 32U : 128U; }
  constexpr std::size_t byte_len() const noexcept { return is_v4() ? 4U : 16U; }
  constexpr const std::array<std::uint8_t, 16>& bytes() const noexcept { return bytes_; }
  constexpr std::uint32_t v4_value() const noexcept {
    return (std::uint32_t{bytes_[0]} << 24) | (std::uint32_t{bytes_[1]} << 16) |
           (std::uint32_t{bytes_[2]} << 8) | std::uint32_t{bytes_[3]};
  }
  /// Upper and lower 64 bits of the address as a 128-bit number (IPv4: value in the low bits).
  constexpr std::uint64_t hi() const noexcept { return is_v4() ? 0 : load64(0); }
  constexpr std::uint64_t lo() const noexcept { return is_v4() ? v4_value() : load64(8); }
  static constexpr IpAddress from_u128(Family f, std::uint64_t hi, std::uint64_t lo) noexcept {
    if (f == Family::v4) {
      return v4(static_cast<std::uint32_t>(lo));
    }
    IpAddress a;
    a.set_v6(hi, lo);
    return a;
  }
  /// Bit i counted from the most significant bit (0 = first bit of the address).
  constexpr bool bit(unsigned i) const noexcept {
    return ((unsigned{bytes_[i / 8]} >> (7 - i % 8)) & 1U) != 0;
  }
  /// The address with every bit from `len` on cleared.
  constexpr IpAddress masked(unsigned len) const noexcept {
    IpAddress a = *this;
    for (unsigned i = 0; i < 16; ++i) {
      const unsigned start = i * 8;
      if (start >= len) {
        a.bytes_[i] = 0;
      } else if (len - start < 8) {
        a.bytes_[i] &= static_cast<std::uint8_t>(0xFFU << (8 - (len - start)));
      }
    }
    return a;
  }

  /// Writes the RFC 5952 text form (IPv6 compressed, lower case) and a NUL; returns the length.
  std::size_t to_text(char* out, std::size_t cap) const noexcept;
  std::string to_string() const;

  friend constexpr bool operator==(const IpAddress&, const IpAddress&) noexcept = default;
  friend constexpr std::strong_ordering operator<=>(const IpAddress& a,
                                                    const IpAddress& b) noexcept {
    if (auto c = a.family_ <=> b.family_; c != 0) {
      return c;
    }
    for (std::size_t i = 0; i < 16; ++i) {
      if (auto c = a.bytes_[i] <=> b.bytes_[i]; c != 0) {
        return c;
      }
    }
    return std::strong_ordering::equal;
  }

 private:
  /// The 16 bytes are made in registers and stored at once: built byte by byte in memory,
  /// the first 16-byte copy of the address would stall (a wide load cannot be forwarded from
  /// narrow stores), and addresses are copied right after they are parsed.
  constexpr void set(Family f, std::uint64_t hi, std::uint64_t lo) noexcept {
    family_ = f;
    const std::uint64_t first = f == Family::v4 ? (lo << 32) : hi;  // IPv4 in bytes 0..3
    const std::uint64_t second = f == Family::v4 ? 0 : lo;
    bytes_ = std::bit_cast<std::array<std::uint8_t, 16>>(
        std::array<std::uint64_t, 2>{big_endian(first), big_endian(second)});
  }
  static constexpr std::uint64_t big_endian(std::uint64_t v) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
      v = ((v & 0x00FF00FF00FF00FFULL) << 8) | ((v >> 8) & 0x00FF00FF00FF00FFULL);
      v = ((v & 0x0000FFFF0000FFFFULL) << 16) | ((v >> 16) & 0x0000FFFF0000FFFFULL);
      v = (v << 32) | (v >> 32);
    }
    return v;
  }
  constexpr std::uint64_t load64(std::size_t at) const noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      v = (v << 8) | bytes_[at + i];
    }
    return v;
  }

  std::array<std::uint8_t, 16> bytes_{};
  Family family_ = Family::v4;
};

/// Pieces of address text forms, shared by IpAddress (RFC 5952 as glibc writes it) and the
/// mapper's {ip} token (Knot's reverse-short form, 10-1-2-3 for IPv4).
struct ZeroGroups {
  int start = -1;       // first group of the run, -1 if none
  std::size_t len = 0;  // groups in it
};
/// The longest run of at least 2 zero groups within groups [from, to), the leftmost on a tie.
ZeroGroups longest_zero_groups(const std::array<std::uint16_t, 8>& groups, std::size_t from,
                               std::size_t to) noexcept;
/// `group` in lower-case hex without leading zeros ("0" for zero); returns the length (1..4).
std::size_t write_hex_group(char* out, unsigned group) noexcept;
/// IPv4 `host_order` as four decimal octets joined by `separator` ('.', or '-' for the
/// mapper's {ip} token); returns the length (7..15).
std::size_t write_v4_text(char* out, std::uint32_t host_order, char separator) noexcept;

/// A CIDR prefix. `parse` is strict: host bits beyond the length are an error.
struct Prefix {
  IpAddress address;
  std::uint8_t length = 0;

  /// "10.0.0.0/8", "2001:db8::/32"; a bare address means /32 or /128 (the config asks for
  /// the length itself). A zone id is an error, as in IpAddress::parse.
  static Result<Prefix> parse(std::string_view text, bool allow_host_bits = false) noexcept;

  constexpr bool contains(const IpAddress& a) const noexcept {
    return a.family() == address.family() && a.masked(length) == address;
  }
  constexpr bool contains(const Prefix& p) const noexcept {
    return p.length >= length && contains(p.address);
  }
  constexpr Family family() const noexcept { return address.family(); }
  std::string to_string() const;

  friend constexpr bool operator==(const Prefix&, const Prefix&) noexcept = default;
};

}  // namespace amap::dns
