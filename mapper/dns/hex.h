// SPDX-License-Identifier: MIT
#pragma once

namespace amap::dns {

/// The value of one hexadecimal digit, either case; -1 for any other character. For the
/// configuration-time readers of hex text (the cookie secret file, %XX in an API path); the
/// per-query name readers have their own lower-case tables (mapper/core).
constexpr int hex_digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace amap::dns
