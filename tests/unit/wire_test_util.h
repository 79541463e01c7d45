// SPDX-License-Identifier: MIT
#pragma once
// Test helpers: a query builder that can also produce broken messages, and an independent
// response decoder (written from RFC 1035, not from mapper/wire) to check what we encode.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace amap::wiretest {

using Bytes = std::vector<std::uint8_t>;

inline void put16(Bytes& b, unsigned v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xFFFF);
}
/// "www.example." -> wire labels (no escapes; test names only).
inline Bytes name_wire(std::string_view text) {
  Bytes b;
  if (text == ".") {
    return Bytes{0};
  }
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) {
      dot = text.size();
    }
    b.push_back(static_cast<std::uint8_t>(dot - start));
    for (std::size_t i = start; i < dot; ++i) {
      b.push_back(static_cast<std::uint8_t>(text[i]));
    }
    start = dot + 1;
  }
  b.push_back(0);
  return b;
}

struct Query {
  std::uint16_t id = 0x1234;
  std::uint16_t flags = 0x0100;  // RD
  std::string qname = "hello.example.";
  std::uint16_t qtype = 1;
  std::uint16_t qclass = 1;
  bool edns = false;
  std::uint16_t payload = 1232;
  std::uint8_t version = 0;
  bool dnssec_ok = false;
  Bytes options;  // raw EDNS options

  Bytes build() const {
    Bytes b;
    put16(b, id);
    put16(b, flags);
    put16(b, 1);
    put16(b, 0);
    put16(b, 0);
    put16(b, edns ? 1 : 0);
    const Bytes n = name_wire(qname);
    b.insert(b.end(), n.begin(), n.end());
    put16(b, qtype);
    put16(b, qclass);
    if (edns) {
      append_opt(b);
    }
    return b;
  }
  void append_opt(Bytes& b) const {
    b.push_back(0);
    put16(b, 41);
    put16(b, payload);
    put32(b, (std::uint32_t{version} << 16) | (dnssec_ok ? 0x8000U : 0U));
    put16(b, static_cast<unsigned>(options.size()));
    b.insert(b.end(), options.begin(), options.end());
  }
};

struct Rr {
  std::string name;
  std::uint16_t type = 0;
  std::uint16_t rclass = 0;
  std::uint32_t ttl = 0;
  Bytes rdata;             // raw
  std::string rdata_name;  // decoded target for NS/CNAME/PTR/MX (after the preference)/SOA mname
};

struct Response {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t qd = 0, an = 0, ns = 0, ar = 0;
  std::string qname;  // case as on the wire
  std::uint16_t qtype = 0, qclass = 0;
  std::vector<Rr> answer, authority, additional;
  std::size_t size = 0;

  unsigned rcode() const { return flags & 0x0F; }
  bool qr() const { return (flags & 0x8000) != 0; }
  bool aa() const { return (flags & 0x0400) != 0; }
  bool tc() const { return (flags & 0x0200) != 0; }
  bool rd() const { return (flags & 0x0100) != 0; }
  unsigned opcode() const { return (flags >> 11) & 0x0F; }
  bool has_opt() const {
    for (const Rr& r : additional) {
      if (r.type == 41) {
        return true;
      }
    }
    return false;
  }
  /// The OPT record, or an empty record (type 0) when there is none.
  Rr opt() const {
    for (const Rr& r : additional) {
      if (r.type == 41) {
        return r;
      }
    }
    return Rr{};
  }
  /// Full 12-bit rcode (OPT upper bits included).
  unsigned ext_rcode() const { return rcode() | ((opt().ttl >> 24) << 4); }
};

/// Decodes a name with compression; throws on anything invalid (loops, forward pointers).
inline std::string read_name(const Bytes& m, std::size_t& pos) {
  std::string out;
  std::size_t p = pos;
  bool jumped = false;
  int hops = 0;
  while (true) {
    if (p >= m.size()) {
      throw std::runtime_error("name past end");
    }
    const std::uint8_t l = m[p];
    if ((l & 0xC0) == 0xC0) {
      if (p + 1 >= m.size() || ++hops > 64) {
        throw std::runtime_error("bad pointer");
      }
      const std::size_t t = ((l & 0x3FU) << 8) | m[p + 1];
      if (t >= p) {
        throw std::runtime_error("forward pointer");
      }
      if (!jumped) {
        pos = p + 2;
      }
      jumped = true;
      p = t;
      continue;
    }
    if (l > 63) {
      throw std::runtime_error("bad label");
    }
    if (l == 0) {
      if (!jumped) {
        pos = p + 1;
      }
      return out.empty() ? "." : out;
    }
    if (p + 1 + l > m.size()) {
      throw std::runtime_error("label past end");
    }
    out.append(reinterpret_cast<const char*>(&m[p + 1]), l);
    out.push_back('.');
    p += 1U + l;
  }
}

inline Response decode(const Bytes& m) {
  if (m.size() < 12) {
    throw std::runtime_error("short");
  }
  auto g16 = [&](std::size_t at) {
    if (at + 2 > m.size()) {
      throw std::runtime_error("past end");
    }
    return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
  };
  Response r;
  r.size = m.size();
  r.id = g16(0);
  r.flags = g16(2);
  r.qd = g16(4);
  r.an = g16(6);
  r.ns = g16(8);
  r.ar = g16(10);
  std::size_t p = 12;
  for (unsigned i = 0; i < r.qd; ++i) {
    r.qname = read_name(m, p);
    r.qtype = g16(p);
    r.qclass = g16(p + 2);
    p += 4;
  }
  auto section = [&](unsigned count, std::vector<Rr>& out) {
    for (unsigned i = 0; i < count; ++i) {
      Rr rr;
      rr.name = read_name(m, p);
      rr.type = g16(p);
      rr.rclass = g16(p + 2);
      rr.ttl = (std::uint32_t{g16(p + 4)} << 16) | g16(p + 6);
      const std::uint16_t len = g16(p + 8);
      p += 10;
      if (p + len > m.size()) {
        throw std::runtime_error("rdata past end");
      }
      const std::size_t end = p + len;
      rr.rdata.assign(m.begin() + static_cast<long>(p), m.begin() + static_cast<long>(end));
      std::size_t q = p;
      if (rr.type == 2 || rr.type == 5 || rr.type == 12 || rr.type == 6) {
        rr.rdata_name = read_name(m, q);
      } else if (rr.type == 15) {
        q += 2;
        rr.rdata_name = read_name(m, q);
      }
      if (rr.type == 6) {
        (void)read_name(m, q);
        q += 20;
      }
      if (q > end) {
        throw std::runtime_error("rdata names overrun rdlength");
      }
      p = end;
      out.push_back(std::move(rr));
    }
  };
  section(r.an, r.answer);
  section(r.ns, r.authority);
  section(r.ar, r.additional);
  if (p != m.size()) {
    throw std::runtime_error("trailing bytes");
  }
  return r;
}

}  // namespace amap::wiretest
