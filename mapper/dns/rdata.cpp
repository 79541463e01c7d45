// SPDX-License-Identifier: MIT
#include "mapper/dns/rdata.h"

#include <array>

namespace amap::dns {
namespace rdata {

void a(WireWriter& w, const IpAddress& v4) noexcept {
  w.bytes(std::span<const std::uint8_t>(v4.bytes().data(), 4));
}

void aaaa(WireWriter& w, const IpAddress& v6) noexcept {
  w.bytes(std::span<const std::uint8_t>(v6.bytes().data(), 16));
}

void name(WireWriter& w, const Name& target) noexcept {
  w.bytes(target.wire());
}

void mx(WireWriter& w, std::uint16_t preference, const Name& exchange) noexcept {
  w.u16(preference);
  w.bytes(exchange.wire());
}

void txt(WireWriter& w, std::span<const std::string_view> strings) noexcept {
  for (std::string_view s : strings) {
    do {
      const std::size_t n = s.size() > 255 ? 255 : s.size();
      w.u8(static_cast<std::uint8_t>(n));
      w.bytes(s.substr(0, n));
      s.remove_prefix(n);
    } while (!s.empty());
  }
}

void txt(WireWriter& w, std::string_view text) noexcept {
  const std::array<std::string_view, 1> one{text};
  txt(w, one);
}

void soa(WireWriter& w, const Soa& soa) noexcept {
  dns::rdata::soa(w, soa, soa.serial);
}

void soa(WireWriter& w, const Soa& soa, std::uint32_t serial) noexcept {
  w.bytes(soa.mname.wire());
  w.bytes(soa.rname.wire());
  w.u32(serial);
  w.u32(soa.refresh);
  w.u32(soa.retry);
  w.u32(soa.expire);
  w.u32(soa.minimum);
}

void srv(WireWriter& w, std::uint16_t priority, std::uint16_t weight, std::uint16_t port,
         const Name& target) noexcept {
  w.u16(priority);
  w.u16(weight);
  w.u16(port);
  w.bytes(target.wire());
}

void caa(WireWriter& w, std::uint8_t flags, std::string_view tag, std::string_view value) noexcept {
  w.u8(flags);
  w.u8(static_cast<std::uint8_t>(tag.size()));
  w.bytes(tag);
  w.bytes(value);
}

}  // namespace rdata

namespace {

std::uint16_t get16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}
std::uint32_t get32(std::span<const std::uint8_t> b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

void put_name(TextWriter& out, const Name& n) noexcept {
  out.put_with([&](char* p, std::size_t cap) { return n.to_text(p, cap); });
}

/// A character-string in quotes with '"' and '\' escaped and non-printables as \DDD.
void put_quoted(TextWriter& out, std::span<const std::uint8_t> s) noexcept {
  out.put('"');
  for (const std::uint8_t c : s) {
    if (c == '"' || c == '\\') {
      out.put('\\');
      out.put(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7F) {
      out.put('\\');
      out.put(static_cast<char>('0' + c / 100));
      out.put(static_cast<char>('0' + (c / 10) % 10));
      out.put(static_cast<char>('0' + c % 10));
    } else {
      out.put(static_cast<char>(c));
    }
  }
  out.put('"');
}

bool generic(std::span<const std::uint8_t> rd, TextWriter& out) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  out.put("\\# ");
  out.put_uint(rd.size());
  if (!rd.empty()) {
    out.put(' ');
  }
  for (const std::uint8_t c : rd) {
    out.put(kHex[c >> 4]);
    out.put(kHex[c & 15]);
  }
  return out.ok();
}

}  // namespace

bool rdata_to_text(RRType type, std::span<const std::uint8_t> rd, TextWriter& out) noexcept {
  const std::size_t start = out.size();
  auto bad = [&] {
    out.truncate(start);
    return false;
  };
  std::size_t used = 0;
  if (type == rrtype::A || type == rrtype::AAAA) {
    const std::size_t len = type == rrtype::A ? 4 : 16;
    if (rd.size() != len) {
      return bad();
    }
    std::array<std::uint8_t, 16> b{};
    for (std::size_t i = 0; i < len; ++i) {
      b[i] = rd[i];
    }
    const IpAddress addr = len == 4 ? IpAddress::v4(get32(rd, 0)) : IpAddress::v6(b);
    out.put_with([&](char* p, std::size_t cap) { return addr.to_text(p, cap); });
  } else if (type == rrtype::PTR || type == rrtype::CNAME || type == rrtype::NS ||
             type == rrtype::DNAME) {
    auto n = Name::read_wire(rd, used);
    if (!n || used != rd.size()) {
      return bad();
    }
    put_name(out, *n);
  } else if (type == rrtype::MX) {
    if (rd.size() < 3) {
      return bad();
    }
    auto n = Name::read_wire(rd.subspan(2), used);
    if (!n || used + 2 != rd.size()) {
      return bad();
    }
    out.put_uint(get16(rd, 0));
    out.put(' ');
    put_name(out, *n);
  } else if (type == rrtype::SRV) {
    if (rd.size() < 7) {
      return bad();
    }
    auto n = Name::read_wire(rd.subspan(6), used);
    if (!n || used + 6 != rd.size()) {
      return bad();
    }
    out.put_uint(get16(rd, 0));
    out.put(' ');
    out.put_uint(get16(rd, 2));
    out.put(' ');
    out.put_uint(get16(rd, 4));
    out.put(' ');
    put_name(out, *n);
  } else if (type == rrtype::SOA) {
    auto m = Name::read_wire(rd, used);
    if (!m) {
      return bad();
    }
    std::size_t used2 = 0;
    auto r = Name::read_wire(rd.subspan(used), used2);
    if (!r || used + used2 + 20 != rd.size()) {
      return bad();
    }
    put_name(out, *m);
    out.put(' ');
    put_name(out, *r);
    for (std::size_t i = 0; i < 5; ++i) {
      out.put(' ');
      out.put_uint(get32(rd, used + used2 + 4 * i));
    }
  } else if (type == rrtype::TXT || type == rrtype::SPF) {
    std::size_t pos = 0;
    if (rd.empty()) {
      return bad();
    }
    while (pos < rd.size()) {
      const std::size_t len = rd[pos];
      if (pos + 1 + len > rd.size()) {
        return bad();
      }
      if (pos != 0) {
        out.put(' ');
      }
      put_quoted(out, rd.subspan(pos + 1, len));
      pos += 1 + len;
    }
  } else if (type == rrtype::CAA) {
    if (rd.size() < 2 || rd.size() < 2U + rd[1] || rd[1] == 0) {
      return bad();
    }
    out.put_uint(rd[0]);
    out.put(' ');
    out.put(std::string_view(reinterpret_cast<const char*>(rd.data() + 2), rd[1]));
    out.put(' ');
    put_quoted(out, rd.subspan(2U + rd[1]));
  } else {
    return generic(rd, out) || bad();
  }
  return out.ok() || bad();
}

std::size_t compressible_names(RRType type, std::span<const std::uint8_t> rd,
                               std::size_t (&offsets)[2]) noexcept {
  std::size_t used = 0;
  if (type == rrtype::NS || type == rrtype::CNAME || type == rrtype::PTR) {
    offsets[0] = 0;
    return 1;
  }
  if (type == rrtype::MX) {
    offsets[0] = 2;
    return rd.size() > 2 ? 1 : 0;
  }
  if (type == rrtype::SOA) {
    if (!Name::read_wire(rd, used)) {
      return 0;
    }
    offsets[0] = 0;
    offsets[1] = used;
    return 2;
  }
  return 0;
}

}  // namespace amap::dns
