// SPDX-License-Identifier: MIT
#include "mapper/core/reverse_name.h"

#include <array>
#include <charconv>
#include <string_view>

namespace amap::mapper {
namespace {

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

/// Canonical decimal 0..max: no leading zeros, no sign, 1..3 digits.
bool parse_small_decimal(std::string_view s, unsigned max, unsigned& out) noexcept {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) {
    return false;
  }
  unsigned v = 0;
  for (const char c : s) {
    if (!is_digit(c)) {
      return false;
    }
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) {
    return false;
  }
  out = v;
  return true;
}

/// Byte -> the value of that hex digit (either case), or 16 when it is not one. A table:
/// nibble names mix digits and letters at random, so branches would mispredict.
constexpr std::array<std::uint8_t, 256> kNibbleValue = [] {
  std::array<std::uint8_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    const unsigned l = dns::ascii_lower(static_cast<std::uint8_t>(c));
    t[c] = static_cast<std::uint8_t>(
        c >= '0' && c <= '9' ? c - '0' : (l >= 'a' && l <= 'f' ? l - 'a' + 10 : 16U));
  }
  return t;
}();

/// Case-insensitive comparison with a lower-case literal.
constexpr bool equals_lower(std::string_view s, std::string_view lower) noexcept {
  if (s.size() != lower.size()) {
    return false;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (dns::ascii_lower(static_cast<std::uint8_t>(s[i])) != static_cast<std::uint8_t>(lower[i])) {
      return false;
    }
  }
  return true;
}

std::size_t put(char* out, std::size_t n, std::string_view s) noexcept {
  for (const char c : s) {
    out[n++] = c;
  }
  return n;
}

std::size_t put_dec(char* out, std::size_t n, unsigned v) noexcept {
  const auto r = std::to_chars(out + n, out + n + 4, v);
  return static_cast<std::size_t>(r.ptr - out);
}

dns::Name make_name(const char* text, std::size_t n) noexcept {
  auto name = dns::Name::from_text(std::string_view(text, n));
  return name ? *name : dns::Name{};  // cannot fail: at most 73 octets
}

/// Writes the first `labels` octets (v4) or nibbles (v6) of `a`, most specific first, then
/// the tree's suffix; `classless` inserts "N/L" after the fourth octet.
dns::Name build(const dns::IpAddress& a, unsigned labels, std::uint8_t classless) noexcept {
  char buf[128];
  std::size_t n = 0;
  const auto& b = a.bytes();
  if (a.is_v4()) {
    for (unsigned i = labels; i-- > 0;) {
      if (i == 3 && classless != 0) {
        n = put_dec(buf, n, b[3]);
        n = put(buf, n, ".");
        n = put_dec(buf, n, b[3] & static_cast<unsigned>(0xFF00U >> (classless - 24)));
        n = put(buf, n, "/");
        n = put_dec(buf, n, classless);
        n = put(buf, n, ".");
        continue;
      }
      n = put_dec(buf, n, b[i]);
      n = put(buf, n, ".");
    }
    n = put(buf, n, "in-addr.arpa.");
  } else {
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned i = labels; i-- > 0;) {
      const unsigned byte = b[i / 2];
      buf[n++] = kHex[(i % 2 == 0) ? (byte >> 4) : (byte & 0xFU)];
      buf[n++] = '.';
    }
    n = put(buf, n, "ip6.arpa.");
  }
  return make_name(buf, n);
}

}  // namespace

Errc parse_reverse_name(const dns::Name& name, ReverseName& r) noexcept {
  // Every field of r is set on success; it is filled in place (see IpAddress::set_v4).
  const std::size_t count = name.label_count();
  if (count < 2 || !equals_lower(name.label(count - 1), "arpa")) {
    return Errc::not_found;
  }
  const std::string_view tree = name.label(count - 2);
  const std::size_t labels = count - 2;  // address labels, rightmost = most significant
  r.classless_length = 0;
  if (equals_lower(tree, "in-addr")) {
    std::uint32_t address = 0;  // in a register, not bytes: see IpAddress::set_v4
    unsigned block_first = 0;   // N of an RFC 2317 "N/L" label
    r.family = dns::Family::v4;
    if (labels > 5) {
      return Errc::malformed;
    }
    unsigned octets = 0;
    for (std::size_t k = 0; k < labels; ++k) {
      const std::string_view l = name.label(labels - 1 - k);
      unsigned v = 0;
      if (parse_small_decimal(l, 255, v)) {
        if (octets == 4) {
          return Errc::malformed;
        }
        if (octets == 3 && r.classless_length != 0) {
          const unsigned host = 0xFFU >> (r.classless_length - 24);
          if ((v & ~host) != block_first) {
            return Errc::malformed;  // outside the classless block
          }
        }
        address |= v << (24 - 8 * octets++);  // the 4th octet lies inside N, so | is fine
        continue;
      }
      const std::size_t slash = l.find('/');
      if (k != 3 || slash == std::string_view::npos) {
        return Errc::malformed;
      }
      // RFC 2317 "N/L": N is the block's first value of the fourth octet.
      unsigned first = 0;
      unsigned len = 0;
      if (!parse_small_decimal(l.substr(0, slash), 255, first) ||
          !parse_small_decimal(l.substr(slash + 1), 32, len) || len < 25) {
        return Errc::malformed;
      }
      const unsigned host = 0xFFU >> (len - 24);
      if ((first & host) != 0) {
        return Errc::malformed;
      }
      r.classless_length = static_cast<std::uint8_t>(len);
      block_first = first;
      address |= first;  // the fourth octet (k == 3: three octets came before)
    }
    if (labels == 5 && r.classless_length == 0) {
      return Errc::malformed;
    }
    r.bits = octets == 4 ? 32U : (r.classless_length != 0 ? r.classless_length : 8U * octets);
    r.address.set_v4(address);
    return Errc::ok;
  }
  if (equals_lower(tree, "ip6")) {
    r.family = dns::Family::v6;
    // Nibble labels are one character each, so they take two wire bytes each and "ip6"
    // starts at 2 * labels exactly when every one of them has length 1.
    if (labels > 32 || name.label_offset(count - 2) != 2 * labels) {
      return Errc::malformed;
    }
    const std::uint8_t* w = name.wire().data();
    // Nibble k (0 = most significant) is the label at index labels - 1 - k; nibbles the
    // name does not give are zero.
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    unsigned bad = 0;
    for (std::size_t k = 0; k < labels; ++k) {
      const std::uint8_t* l = w + 2 * (labels - 1 - k);
      const unsigned v = l[0] == 1 ? kNibbleValue[l[1]] : 16U;
      bad |= v;
      if (k < 16) {
        hi |= std::uint64_t{v & 0xFU} << (60 - 4 * k);
      } else {
        lo |= std::uint64_t{v & 0xFU} << (60 - 4 * (k - 16));
      }
    }
    if (bad > 15) {
      return Errc::malformed;  // some label is not a hex digit
    }
    r.bits = static_cast<unsigned>(4 * labels);
    r.address.set_v6(hi, lo);
    return Errc::ok;
  }
  return Errc::not_found;
}

Result<ReverseName> parse_reverse_name(const dns::Name& name) noexcept {
  ReverseName r;
  const Errc e = parse_reverse_name(name, r);
  if (e != Errc::ok) {
    return fail(e);
  }
  return r;
}

dns::Name to_reverse_name(const dns::IpAddress& a, std::uint8_t classless_length) noexcept {
  if (a.is_v4()) {
    const bool cl = classless_length >= 25 && classless_length <= 32;
    return build(a, 4, cl ? classless_length : 0);
  }
  return build(a, 32, 0);
}

dns::Name reverse_zone_for(const dns::Prefix& p, bool classless) noexcept {
  const dns::IpAddress a = p.address.masked(p.length);
  if (a.is_v4()) {
    const unsigned len = p.length > 32 ? 32U : p.length;
    if (classless && len > 24) {
      // Apex "N/L.c.b.a.in-addr.arpa.": three octet labels plus the block label.
      char buf[64];
      std::size_t n = 0;
      const auto& b = a.bytes();
      n = put_dec(buf, n, b[3]);
      n = put(buf, n, "/");
      n = put_dec(buf, n, len);
      n = put(buf, n, ".");
      for (unsigned i = 3; i-- > 0;) {
        n = put_dec(buf, n, b[i]);
        n = put(buf, n, ".");
      }
      n = put(buf, n, "in-addr.arpa.");
      return make_name(buf, n);
    }
    return build(a, len / 8, 0);
  }
  const unsigned len = p.length > 128 ? 128U : p.length;
  return build(a, len / 4, 0);
}

}  // namespace amap::mapper
