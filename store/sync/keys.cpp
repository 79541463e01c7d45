// SPDX-License-Identifier: MIT
#include "store/sync/keys.h"

#include <array>

namespace amap::store::sync {

namespace {

constexpr std::string_view kAddr = "addr/";
constexpr std::string_view kPrefix = "prefix/";
constexpr std::string_view kHex = "0123456789abcdef";
constexpr std::string_view kB64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

}  // namespace

std::string etcd_key(std::string_view prefix, bool is_prefix, Bytes key) {
  std::string out(prefix);
  out += is_prefix ? kPrefix : kAddr;
  for (const std::uint8_t b : key) {
    out += kHex[b >> 4U];
    out += kHex[b & 15U];
  }
  return out;
}

std::optional<StoreKey> parse_etcd_key(std::string_view prefix, std::string_view k) {
  if (k.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  k.remove_prefix(prefix.size());
  StoreKey out;
  if (k.substr(0, kAddr.size()) == kAddr) {
    k.remove_prefix(kAddr.size());
  } else if (k.substr(0, kPrefix.size()) == kPrefix) {
    k.remove_prefix(kPrefix.size());
    out.is_prefix = true;
  } else {
    return std::nullopt;
  }
  if (k.empty() || k.size() % 2 != 0) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < k.size(); i += 2) {
    const int hi = hex_digit(k[i]);
    const int lo = hex_digit(k[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out.key.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

std::string range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last != 0xFF) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string generation_key(std::string_view prefix) {
  return std::string(prefix) + "_generation";
}

std::string generation_root(std::string_view prefix, std::string_view gen) {
  if (gen.empty()) {
    return std::string(prefix);
  }
  return std::string(prefix) + "_g/" + std::string(gen) + "/";
}

std::string marker_key(std::string_view prefix, std::string_view gen) {
  return std::string(prefix) + "_s/" + std::string(gen);
}

KeyRange data_range(std::string_view root) {
  std::string addr(root);
  addr += kAddr;
  std::string prefix(root);
  prefix += kPrefix;
  return {addr, range_end(prefix)};
}

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const auto n = (std::uint32_t{static_cast<std::uint8_t>(data[i])} << 16U) |
                   (std::uint32_t{static_cast<std::uint8_t>(data[i + 1])} << 8U) |
                   std::uint32_t{static_cast<std::uint8_t>(data[i + 2])};
    out += kB64[(n >> 18U) & 63U];
    out += kB64[(n >> 12U) & 63U];
    out += kB64[(n >> 6U) & 63U];
    out += kB64[n & 63U];
  }
  if (const std::size_t rest = data.size() - i; rest > 0) {
    std::uint32_t n = std::uint32_t{static_cast<std::uint8_t>(data[i])} << 16U;
    if (rest == 2) {
      n |= std::uint32_t{static_cast<std::uint8_t>(data[i + 1])} << 8U;
    }
    out += kB64[(n >> 18U) & 63U];
    out += kB64[(n >> 12U) & 63U];
    out += rest == 2 ? kB64[(n >> 6U) & 63U] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (std::size_t i = 0; i < kB64.size(); ++i) {
    value[static_cast<unsigned char>(kB64[i])] = static_cast<int>(i);
  }
  while (!text.empty() && text.back() == '=') {
    text.remove_suffix(1);
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  unsigned bits = 0;
  for (const char c : text) {
    const int v = value[static_cast<unsigned char>(c)];
    if (v < 0) {
      return std::nullopt;
    }
    acc = (acc << 6U) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFFU);
    }
  }
  return out;
}

}  // namespace amap::store::sync
