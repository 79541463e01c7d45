// SPDX-License-Identifier: MIT
#pragma once
// Reverse-mapping names (in-addr.arpa, ip6.arpa) to and from addresses, including partial
// names (empty non-terminals, RFC 8020) and RFC 2317 classless delegation labels ("0/26").

#include <cstdint>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "mapper/dns/result.h"

namespace amap::mapper {

struct ReverseName {
  dns::Family family = dns::Family::v4;
  /// The address the labels give; bits from `bits` on are zero.
  dns::IpAddress address{};
  /// How many address bits the labels give: v4 8 per octet label (0..32), v6 4 per nibble
  /// label (0..128). An RFC 2317 label "N/L" gives L bits (the block apex).
  unsigned bits = 0;
  /// RFC 2317 block length (25..32) when the name holds a "N/L" label, else 0.
  std::uint8_t classless_length = 0;

  bool complete() const noexcept { return bits == address.bits(); }
  /// The range of addresses the name stands for (a single address when complete()).
  dns::Prefix prefix() const noexcept {
    return dns::Prefix{address, static_cast<std::uint8_t>(bits)};
  }
  /// The RFC 2317 block ("10.0.2.0/26"); only meaningful when classless_length != 0.
  dns::Prefix classless_block() const noexcept {
    return dns::Prefix{address.masked(classless_length), classless_length};
  }
};

/// Parses a name under in-addr.arpa. or ip6.arpa. (any letter case; "in-addr.arpa." itself
/// gives bits 0). Errc::not_found: not under either tree. Errc::malformed: a label is not a
/// canonical decimal octet 0..255 (no leading zeros) / a single hex nibble / a valid "N/L"
/// classless label, or there are too many labels.
Result<ReverseName> parse_reverse_name(const dns::Name& name) noexcept;
/// Same, into `out` (the per-query path: no copy of the result). Returns Errc::ok or the
/// error above; `out` is only meaningful on Errc::ok.
Errc parse_reverse_name(const dns::Name& name, ReverseName& out) noexcept;

/// The full reverse name of an address ("3.2.1.10.in-addr.arpa."). With classless_length in
/// 25..32 and an IPv4 address, the RFC 2317 form "3.0/26.2.1.10.in-addr.arpa.".
dns::Name to_reverse_name(const dns::IpAddress& a, std::uint8_t classless_length = 0) noexcept;

/// The reverse zone apex covering a prefix, on the octet (v4) or nibble (v6) boundary at or
/// above it: 10.20.0.0/22 -> "20.10.in-addr.arpa.", 2001:db8:ff00::/40 ->
/// "0.0.f.f.8.b.d.0.1.0.0.2.ip6.arpa.", /42 -> the same /40 apex. With `classless` and an
/// IPv4 prefix longer than /24, the RFC 2317 apex "0/26.2.0.10.in-addr.arpa.".
dns::Name reverse_zone_for(const dns::Prefix& p, bool classless = false) noexcept;

}  // namespace amap::mapper
