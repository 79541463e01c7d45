// SPDX-License-Identifier: MIT
#pragma once
// Record data builders (wire form, uncompressed) and their presentation text.
// Every record in the framework carries its RDATA in wire form; front-ends either copy it
// into a DNS message (compressing the names RFC 3597 allows) or print it for PowerDNS.

#include <cstdint>
#include <span>
#include <string_view>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "mapper/dns/rrtype.h"
#include "mapper/dns/writer.h"

namespace amap::dns {

/// SOA RDATA fields (RFC 1035 3.3.13).
struct Soa {
  Name mname;
  Name rname;
  std::uint32_t serial = 1;
  std::uint32_t refresh = 10800;
  std::uint32_t retry = 3600;
  std::uint32_t expire = 604800;
  std::uint32_t minimum = 3600;
};

namespace rdata {
void a(WireWriter& w, const IpAddress& v4) noexcept;
void aaaa(WireWriter& w, const IpAddress& v6) noexcept;
/// PTR, CNAME, NS, DNAME: a single name.
void name(WireWriter& w, const Name& target) noexcept;
void mx(WireWriter& w, std::uint16_t preference, const Name& exchange) noexcept;
/// One TXT record made of one or more character-strings; longer strings are split at 255.
void txt(WireWriter& w, std::span<const std::string_view> strings) noexcept;
void txt(WireWriter& w, std::string_view text) noexcept;
void soa(WireWriter& w, const Soa& soa) noexcept;
/// The same with another serial than soa.serial (a serial that follows live data).
void soa(WireWriter& w, const Soa& soa, std::uint32_t serial) noexcept;
void srv(WireWriter& w, std::uint16_t priority, std::uint16_t weight, std::uint16_t port,
         const Name& target) noexcept;
void caa(WireWriter& w, std::uint8_t flags, std::string_view tag, std::string_view value) noexcept;
}  // namespace rdata

/// Presentation form of RDATA ("192.0.2.1", "10 mail.example.", "\"Hello World!\"").
/// Unknown types use RFC 3597 "\# len hex". Returns false if it did not fit or is malformed.
bool rdata_to_text(RRType type, std::span<const std::uint8_t> rdata, TextWriter& out) noexcept;

/// Offsets of the names inside RDATA that a DNS message may compress (RFC 3597 section 4:
/// only NS, CNAME, SOA, PTR, MX, and also DNAME targets are never compressed by us).
/// Returns the number of names (0..2) and writes their offsets.
std::size_t compressible_names(RRType type, std::span<const std::uint8_t> rdata,
                               std::size_t (&offsets)[2]) noexcept;

}  // namespace amap::dns
