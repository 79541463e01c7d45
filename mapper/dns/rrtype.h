// SPDX-License-Identifier: MIT
#pragma once
// Record types and classes by number and mnemonic, including the RFC 3597 "TYPE65535" form.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mapper/dns/result.h"

namespace amap::dns {

/// A record type: any 16-bit value is valid; the named constants are the common ones.
struct RRType {
  std::uint16_t value = 0;

  constexpr RRType() noexcept = default;
  constexpr explicit RRType(std::uint16_t v) noexcept : value(v) {}
  friend constexpr bool operator==(RRType, RRType) noexcept = default;

  /// "A", "aaaa", "TYPE65535" (case-insensitive).
  static Result<RRType> from_text(std::string_view text) noexcept;
  /// The mnemonic, or "TYPEnnn" written into `buf` for types without one.
  std::string_view to_text(char (&buf)[16]) const noexcept;
};

namespace rrtype {
inline constexpr RRType A{1};
inline constexpr RRType NS{2};
inline constexpr RRType CNAME{5};
inline constexpr RRType SOA{6};
inline constexpr RRType PTR{12};
inline constexpr RRType HINFO{13};
inline constexpr RRType MX{15};
inline constexpr RRType TXT{16};
inline constexpr RRType AAAA{28};
inline constexpr RRType SRV{33};
inline constexpr RRType NAPTR{35};
inline constexpr RRType DNAME{39};
inline constexpr RRType OPT{41};
inline constexpr RRType DS{43};
inline constexpr RRType SSHFP{44};
inline constexpr RRType RRSIG{46};
inline constexpr RRType NSEC{47};
inline constexpr RRType DNSKEY{48};
inline constexpr RRType NSEC3{50};
inline constexpr RRType NSEC3PARAM{51};
inline constexpr RRType TLSA{52};
inline constexpr RRType SVCB{64};
inline constexpr RRType HTTPS{65};
inline constexpr RRType SPF{99};
inline constexpr RRType IXFR{251};
inline constexpr RRType AXFR{252};
inline constexpr RRType ANY{255};
inline constexpr RRType CAA{257};
}  // namespace rrtype

/// Record classes (RFC 1035 3.2.4, RFC 6895).
namespace rrclass {
inline constexpr std::uint16_t IN = 1;
inline constexpr std::uint16_t CH = 3;
inline constexpr std::uint16_t HS = 4;
inline constexpr std::uint16_t NONE = 254;
inline constexpr std::uint16_t ANY = 255;
}  // namespace rrclass

/// "IN", "CH", "CLASS3"; returns false for anything else.
Result<std::uint16_t> rrclass_from_text(std::string_view text) noexcept;
std::string_view rrclass_to_text(std::uint16_t cls, char (&buf)[16]) noexcept;

}  // namespace amap::dns
