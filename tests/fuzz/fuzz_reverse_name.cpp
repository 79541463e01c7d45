// SPDX-License-Identifier: MIT
// Fuzz target: mapper/core/reverse_name. Byte 0 picks what the rest is:
//   0 mod 3  a name in presentation form ("3.2.1.10.in-addr.arpa.", escapes allowed)
//   1 mod 3  a name in uncompressed wire form
//   2 mod 3  an address: byte 1 bit 0 the family, byte 2 an RFC 2317 length, then 4/16 bytes
// Invariants: both parse_reverse_name overloads agree; a parsed name gives no bits beyond
// `bits`; the name is exactly the one to_reverse_name (complete) or reverse_zone_for
// (partial: the zone apex) builds back from the result; an address survives
// to_reverse_name -> parse_reverse_name.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>

#include "mapper/core/reverse_name.h"

namespace {

namespace dns = amap::dns;
namespace mapper = amap::mapper;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void check_name(const dns::Name& name) {
  const auto r = mapper::parse_reverse_name(name);
  mapper::ReverseName in_place;
  const amap::Errc e = mapper::parse_reverse_name(name, in_place);
  check(e == r.error());
  if (!r) {
    check(e == amap::Errc::not_found || e == amap::Errc::malformed);
    return;
  }
  check(in_place.family == r->family && in_place.address == r->address &&
        in_place.bits == r->bits && in_place.classless_length == r->classless_length);
  const mapper::ReverseName& v = *r;
  check(v.address.family() == v.family && v.bits <= v.address.bits());
  check(v.address.masked(v.bits) == v.address);
  check(v.classless_length == 0 ||
        (v.family == dns::Family::v4 && v.classless_length >= 25 && v.classless_length <= 32));
  // A classless name without the final octet label is the block apex ("0/26.2.1.10..."),
  // even for "N/32", whose bits say complete().
  const bool apex = v.classless_length != 0 && name.label_count() == 2 + 4;
  if (apex) {
    check(v.bits == v.classless_length);
    check(mapper::reverse_zone_for(v.classless_block(), true) == name);
  } else if (v.complete()) {
    check(mapper::to_reverse_name(v.address, v.classless_length) == name);
  } else {
    check(mapper::reverse_zone_for(v.prefix()) == name);
  }
}

void check_address(std::span<const std::uint8_t> in) {
  if (in.size() < 2) {
    return;
  }
  const bool v6 = (in[0] & 1) != 0;
  const std::uint8_t classless = in[1];
  in = in.subspan(2);
  if (in.size() < (v6 ? 16U : 4U)) {
    return;
  }
  std::array<std::uint8_t, 16> b{};
  std::memcpy(b.data(), in.data(), v6 ? 16 : 4);
  const dns::IpAddress a =
      v6 ? dns::IpAddress::v6(b)
         : dns::IpAddress::v4((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                              (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]});
  const dns::Name name = mapper::to_reverse_name(a, classless);
  const auto r = mapper::parse_reverse_name(name);
  check(r.has_value() && r->complete() && r->address == a);
  const bool cl = !v6 && classless >= 25 && classless <= 32;
  check(r->classless_length == (cl ? classless : 0));
  check_name(name);
  // Every zone apex above the address parses back to that prefix.
  for (unsigned len = 0; len <= a.bits(); len += v6 ? 4U : 8U) {
    const dns::Prefix p{a.masked(len), static_cast<std::uint8_t>(len)};
    const auto z = mapper::parse_reverse_name(mapper::reverse_zone_for(p));
    check(z.has_value() && z->prefix() == p);
  }
  if (cl) {
    const dns::Prefix block{a.masked(classless), classless};
    const auto z = mapper::parse_reverse_name(mapper::reverse_zone_for(block, true));
    check(z.has_value() && z->classless_length == classless && z->classless_block() == block);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) {
    return 0;
  }
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
      if (const auto name = dns::Name::from_text(text)) {
        check_name(*name);
      }
      break;
    }
    case 1:
      if (const auto name = dns::Name::from_wire(rest)) {
        check_name(*name);
      }
      break;
    default:
      check_address(rest);
      break;
  }
  return 0;
}
