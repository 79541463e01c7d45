// SPDX-License-Identifier: MIT
#include "mapper/dns/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace amap::dns {

Result<IpAddress> IpAddress::parse(std::string_view text) noexcept {
  if (const auto pct = text.find('%'); pct != std::string_view::npos) {
    text = text.substr(0, pct);
  }
  if (text.empty() || text.size() >= kMaxTextLen) {
    return fail(Errc::bad_address);
  }
  char buf[kMaxTextLen];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (text.find(':') == std::string_view::npos) {
    std::uint8_t b[4];
    if (inet_pton(AF_INET, buf, b) != 1) {
      return fail(Errc::bad_address);
    }
    return IpAddress::v4((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                         (std::uint32_t{b[2]} << 8) | b[3]);
  }
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
  if (inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), out, static_cast<socklen_t>(cap)) ==
      nullptr) {
    out[0] = '\0';
    return 0;
  }
  return std::strlen(out);
}

std::string IpAddress::to_string() const {
  char buf[kMaxTextLen];
  return std::string(buf, to_text(buf, sizeof buf));
}

Result<Prefix> Prefix::parse(std::string_view text, bool allow_host_bits) noexcept {
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
