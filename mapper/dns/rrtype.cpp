// SPDX-License-Identifier: MIT
#include "mapper/dns/rrtype.h"

#include <array>
#include <charconv>

#include "mapper/dns/name.h"

namespace amap::dns {
namespace {

struct TypeName {
  std::uint16_t value;
  std::string_view text;
};

constexpr std::array kTypeNames{
    TypeName{1, "A"},           TypeName{2, "NS"},      TypeName{5, "CNAME"},
    TypeName{6, "SOA"},         TypeName{12, "PTR"},    TypeName{13, "HINFO"},
    TypeName{15, "MX"},         TypeName{16, "TXT"},    TypeName{17, "RP"},
    TypeName{18, "AFSDB"},      TypeName{28, "AAAA"},   TypeName{29, "LOC"},
    TypeName{33, "SRV"},        TypeName{35, "NAPTR"},  TypeName{36, "KX"},
    TypeName{37, "CERT"},       TypeName{39, "DNAME"},  TypeName{41, "OPT"},
    TypeName{42, "APL"},        TypeName{43, "DS"},     TypeName{44, "SSHFP"},
    TypeName{45, "IPSECKEY"},   TypeName{46, "RRSIG"},  TypeName{47, "NSEC"},
    TypeName{48, "DNSKEY"},     TypeName{49, "DHCID"},  TypeName{50, "NSEC3"},
    TypeName{51, "NSEC3PARAM"}, TypeName{52, "TLSA"},   TypeName{53, "SMIMEA"},
    TypeName{55, "HIP"},        TypeName{59, "CDS"},    TypeName{60, "CDNSKEY"},
    TypeName{61, "OPENPGPKEY"}, TypeName{62, "CSYNC"},  TypeName{63, "ZONEMD"},
    TypeName{64, "SVCB"},       TypeName{65, "HTTPS"},  TypeName{99, "SPF"},
    TypeName{108, "EUI48"},     TypeName{109, "EUI64"}, TypeName{249, "TKEY"},
    TypeName{250, "TSIG"},      TypeName{251, "IXFR"},  TypeName{252, "AXFR"},
    TypeName{255, "ANY"},       TypeName{256, "URI"},   TypeName{257, "CAA"},
};

Result<std::uint16_t> parse_generic(std::string_view text, std::string_view prefix) noexcept {
  if (text.size() <= prefix.size() || !iequals(text.substr(0, prefix.size()), prefix)) {
    return fail(Errc::bad_type);
  }
  const auto digits = text.substr(prefix.size());
  if (digits.size() > 1 && digits[0] == '0') {
    return fail(Errc::bad_type);
  }
  unsigned v = 0;
  const auto* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, v);
  if (ec != std::errc{} || ptr != end || v > 0xFFFF) {
    return fail(Errc::bad_type);
  }
  return static_cast<std::uint16_t>(v);
}

std::string_view generic_text(std::string_view prefix, std::uint16_t v, char (&buf)[16]) noexcept {
  std::size_t n = prefix.copy(buf, prefix.size());
  auto [ptr, ec] = std::to_chars(buf + n, buf + sizeof buf, v);
  (void)ec;
  return {buf, static_cast<std::size_t>(ptr - buf)};
}

}  // namespace

Result<RRType> RRType::from_text(std::string_view text) noexcept {
  // PowerDNS asks the pipe with upper-case ANY and SOA nearly every time: spare the scan.
  if (text == "ANY") {
    return rrtype::ANY;
  }
  if (text == "SOA") {
    return rrtype::SOA;
  }
  for (const auto& t : kTypeNames) {
    if (iequals(t.text, text)) {
      return RRType{t.value};
    }
  }
  auto v = parse_generic(text, "TYPE");
  if (!v) {
    return fail(Errc::bad_type);
  }
  return RRType{*v};
}

std::string_view RRType::to_text(char (&buf)[16]) const noexcept {
  for (const auto& t : kTypeNames) {
    if (t.value == value) {
      return t.text;
    }
  }
  return generic_text("TYPE", value, buf);
}

Result<std::uint16_t> rrclass_from_text(std::string_view text) noexcept {
  if (iequals(text, "IN")) {
    return rrclass::IN;
  }
  if (iequals(text, "CH")) {
    return rrclass::CH;
  }
  if (iequals(text, "HS")) {
    return rrclass::HS;
  }
  if (iequals(text, "NONE")) {
    return rrclass::NONE;
  }
  if (iequals(text, "ANY")) {
    return rrclass::ANY;
  }
  auto v = parse_generic(text, "CLASS");
  if (!v) {
    return fail(Errc::bad_class);
  }
  return *v;
}

std::string_view rrclass_to_text(std::uint16_t cls, char (&buf)[16]) noexcept {
  switch (cls) {
    case rrclass::IN:
      return "IN";
    case rrclass::CH:
      return "CH";
    case rrclass::HS:
      return "HS";
    case rrclass::NONE:
      return "NONE";
    case rrclass::ANY:
      return "ANY";
    default:
      return generic_text("CLASS", cls, buf);
  }
}

}  // namespace amap::dns
