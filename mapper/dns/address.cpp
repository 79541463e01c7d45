// SPDX-License-Identifier: MIT
#include "mapper/dns/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace amap::dns {

namespace {

/// Dotted quad exactly as glibc's inet_pton(AF_INET) takes it: four decimal octets of at most
/// 255, no leading zeros ("01" is refused), nothing else. In a hot path (every pipe line
/// carries the client address), so no copy to a NUL-terminated buffer.
bool parse_v4(std::string_view text, std::uint32_t& out) noexcept {
  std::uint32_t value = 0;
  unsigned octet = 0;
  unsigned octets = 0;
  bool digit = false;
  for (const char ch : text) {
    if (ch >= '0' && ch <= '9') {
      if (digit && octet == 0) {
        return false;  // leading zero
      }
      octet = octet * 10 + static_cast<unsigned>(ch - '0');
      if (octet > 255) {
        return false;
      }
      if (!digit) {
        if (++octets > 4) {
          return false;
        }
        digit = true;
      }
    } else if (ch == '.' && digit && octets < 4) {
      value = (value << 8) | octet;
      octet = 0;
      digit = false;
    } else {
      return false;
    }
  }
  if (octets != 4 || !digit) {
    return false;
  }
  out = (value << 8) | octet;
  return true;
}

std::size_t put_decimal_octet(char* p, unsigned v) noexcept {
  if (v >= 100) {
    p[0] = static_cast<char>('0' + v / 100);
    p[1] = static_cast<char>('0' + v / 10 % 10);
    p[2] = static_cast<char>('0' + v % 10);
    return 3;
  }
  if (v >= 10) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
    return 2;
  }
  p[0] = static_cast<char>('0' + v);
  return 1;
}

std::size_t put_dotted_quad(char* p, const std::uint8_t* b) noexcept {
  return write_v4_text(
      p,
      (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3],
      '.');
}

/// The text glibc's inet_ntop(AF_INET6) gives, byte for byte (tests compare the two): the
/// first longest run of two or more zero groups becomes "::", groups in lower-case hex
/// without leading zeros, and the last 32 bits as a dotted quad after six zero groups
/// ("::1.2.3.4") or five and ffff ("::ffff:1.2.3.4").
std::size_t put_v6(char* p, const std::uint8_t* b) noexcept {
  std::array<std::uint16_t, 8> words;
  for (std::size_t i = 0; i < 8; ++i) {
    words[i] = static_cast<std::uint16_t>((unsigned{b[2 * i]} << 8) | b[2 * i + 1]);
  }
  const ZeroGroups run = longest_zero_groups(words, 0, 8);
  const int best = run.start;
  const int best_len = static_cast<int>(run.len);
  std::size_t n = 0;
  for (int i = 0; i < 8; ++i) {
    if (best >= 0 && i >= best && i < best + best_len) {
      if (i == best) {
        p[n++] = ':';
      }
      continue;
    }
    if (i != 0) {
      p[n++] = ':';
    }
    if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xFFFFU))) {
      return n + put_dotted_quad(p + n, b + 12);
    }
    n += write_hex_group(p + n, words[static_cast<std::size_t>(i)]);
  }
  if (best >= 0 && best + best_len == 8) {
    p[n++] = ':';
  }
  return n;
}

}  // namespace

ZeroGroups longest_zero_groups(const std::array<std::uint16_t, 8>& groups, std::size_t from,
                               std::size_t to) noexcept {
  ZeroGroups best;
  for (std::size_t i = from; i < to;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < to && groups[j] == 0) {
      ++j;
    }
    if (j - i >= 2 && j - i > best.len) {
      best = ZeroGroups{static_cast<int>(i), j - i};
    }
    i = j;
  }
  return best;
}

std::size_t write_v4_text(char* out, std::uint32_t host_order, char separator) noexcept {
  std::size_t n = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (shift != 24) {
      out[n++] = separator;
    }
    n += put_decimal_octet(out + n, (host_order >> shift) & 0xFFU);
  }
  return n;
}

std::size_t write_hex_group(char* out, unsigned group) noexcept {
  constexpr char kHex[] = "0123456789abcdef";
  const unsigned digits = group >= 0x1000 ? 4 : group >= 0x100 ? 3 : group >= 0x10 ? 2 : 1;
  for (unsigned d = digits; d-- > 0;) {
    *out++ = kHex[(group >> (4 * d)) & 0xFU];
  }
  return digits;
}

Result<IpAddress> IpAddress::parse_dropping_zone(std::string_view text) noexcept {
  return parse(text.substr(0, text.find('%')));
}

Result<IpAddress> IpAddress::parse(std::string_view text) noexcept {
  if (text.find('%') != std::string_view::npos) {
    return fail(Errc::zone_id);
  }
  if (text.empty() || text.size() >= kMaxTextLen) {
    return fail(Errc::bad_address);
  }
  if (text.find(':') == std::string_view::npos) {
    std::uint32_t v = 0;
    if (!parse_v4(text, v)) {
      return fail(Errc::bad_address);
    }
    return IpAddress::v4(v);
  }
  char buf[kMaxTextLen];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::array<std::uint8_t, 16> b{};
  if (inet_pton(AF_INET6, buf, b.data()) != 1) {
    return fail(Errc::bad_address);
  }
  return IpAddress::v6(b);
}

std::size_t IpAddress::to_text(char* out, std::size_t cap) const noexcept {
  if (cap < kMaxTextLen) {
    if (cap > 0) {
      out[0] = '\0';
    }
    return 0;
  }
  // By hand rather than inet_ntop, which formats through sprintf: this is on the pipe's
  // per-answer path (A and AAAA contents).
  const std::size_t n = is_v4() ? put_dotted_quad(out, bytes_.data()) : put_v6(out, bytes_.data());
  out[n] = '\0';
  return n;
}

std::string IpAddress::to_string() const {
  char buf[kMaxTextLen];
  return std::string(buf, to_text(buf, sizeof buf));
}

Result<Prefix> Prefix::parse(std::string_view text, bool allow_host_bits) noexcept {
  if (text.find('%') != std::string_view::npos) {
    return fail(Errc::zone_id);  // before or after the length
  }
  const auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) {
    return fail(addr.error());
  }
  unsigned len = addr->bits();
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto* end = digits.data() + digits.size();
    auto [ptr, ec] = std::from_chars(digits.data(), end, len);
    if (digits.empty() || ec != std::errc{} || ptr != end || len > addr->bits()) {
      return fail(Errc::bad_prefix_length);
    }
  }
  const IpAddress masked = addr->masked(len);
  if (!allow_host_bits && masked != *addr) {
    return fail(Errc::host_bits_set);
  }
  return Prefix{masked, static_cast<std::uint8_t>(len)};
}

std::string Prefix::to_string() const {
  return address.to_string() + "/" + std::to_string(length);
}

}  // namespace amap::dns
