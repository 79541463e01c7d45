// SPDX-License-Identifier: MIT
// Fuzz target: mapper/core/template. Input layout:
//   byte 0      bit 0: family (0 IPv4, 1 IPv6); the other bits are ignored
//   byte 1      prefix length (modulo 33 / 129)
//   4/16 bytes  prefix address (host bits are masked off)
//   text        the template, up to the first '\n'
//   lines       one per '\n': each is parsed as a name and matched, and its first 16 bytes
//               (zero-padded) give an address inside the prefix that is rendered
// Invariants: compile() never crashes; a compiled template renders every address of its
// prefix to a valid hostname that parses back to that address (matches and, when
// self_contained(), matches_any_prefix); an accepted name renders back to itself.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "mapper/core/template.h"

namespace {

namespace dns = amap::dns;
namespace mapper = amap::mapper;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

/// The address of the prefix whose host bits come from `line` (first 16 bytes, zero-padded).
dns::IpAddress address_in(const dns::Prefix& p, std::string_view line) {
  std::array<std::uint8_t, 16> b{};
  std::memcpy(b.data(), line.data(), line.size() < b.size() ? line.size() : b.size());
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    hi = (hi << 8) | b[i];
    lo = (lo << 8) | b[i + 8];
  }
  const auto host = dns::IpAddress::from_u128(p.family(), hi, lo);
  // network bits from the prefix, host bits from the input
  std::array<std::uint8_t, 16> out{};
  for (std::size_t i = 0; i < host.byte_len(); ++i) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    std::uint8_t net_mask = 0;
    if (p.length >= first_bit + 8) {
      net_mask = 0xFF;
    } else if (p.length > first_bit) {
      net_mask = static_cast<std::uint8_t>(0xFFU << (8 - (p.length - first_bit)));
    }
    out[i] = static_cast<std::uint8_t>((p.address.bytes()[i] & net_mask) |
                                       (host.bytes()[i] & ~net_mask));
  }
  if (p.family() == dns::Family::v4) {
    return dns::IpAddress::v4((std::uint32_t{out[0]} << 24) | (std::uint32_t{out[1]} << 16) |
                              (std::uint32_t{out[2]} << 8) | std::uint32_t{out[3]});
  }
  return dns::IpAddress::v6(out);
}

void round_trip(const mapper::Template& t, const dns::IpAddress& a) {
  char text[mapper::Template::kMaxText + 1];
  const std::size_t n = t.render(a, text, sizeof text);
  check(n > 0 && n <= mapper::Template::kMaxText);
  const std::string_view rendered(text, n);
  check(mapper::hostname_problem(rendered).empty());
  dns::Name name;
  check(t.render(a, name));
  const auto parsed = dns::Name::from_text(rendered);
  check(parsed.has_value() && *parsed == name && name.label_count() == t.label_count());
  check(name.is_subdomain_of(t.suffix()));
  const auto back = t.matches(name);
  check(back.has_value() && *back == a);
  const auto back_checked = t.matches(name, mapper::Template::Suffix::checked);
  check(back_checked.has_value() && *back_checked == a);
  if (t.self_contained()) {
    const auto any = t.matches_any_prefix(name);
    check(any.has_value() && *any == a);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const bool v6 = (data[0] & 1) != 0;
  const std::size_t addr_len = v6 ? 16 : 4;
  if (size < 2 + addr_len) {
    return 0;
  }
  const auto length = static_cast<std::uint8_t>(data[1] % (v6 ? 129 : 33));
  std::array<std::uint8_t, 16> b{};
  std::memcpy(b.data(), data + 2, addr_len);
  const dns::IpAddress raw =
      v6 ? dns::IpAddress::v6(b)
         : dns::IpAddress::v4((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                              (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]});
  const dns::Prefix prefix{raw.masked(length), length};

  std::string_view rest(reinterpret_cast<const char*>(data) + 2 + addr_len, size - 2 - addr_len);
  const std::size_t eol = rest.find('\n');
  const std::string_view text = rest.substr(0, eol);
  rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);

  (void)mapper::hostname_problem(text);
  // Few validation samples: the fuzzer's own addresses below do the rest, faster.
  const auto t = mapper::Template::compile(text, prefix, 2);
  if (!t) {
    check(!t.error().empty());
    return 0;
  }
  check(t->prefix() == prefix && !t->text().empty());
  round_trip(*t, prefix.address);
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    round_trip(*t, address_in(prefix, line));
    if (const auto name = dns::Name::from_text(line)) {
      if (const auto a = t->matches(*name)) {
        // Only the canonical spelling is accepted: rendering the address gives the name back.
        check(prefix.contains(*a));
        dns::Name again;
        check(t->render(*a, again) && again == *name);
      }
      if (t->self_contained()) {
        const auto any = t->matches_any_prefix(*name);
        const auto in = t->matches(*name);
        check(!in || (any && *any == *in));
      }
    }
  }
  return 0;
}
