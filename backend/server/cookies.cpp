// SPDX-License-Identifier: MIT
#include "backend/server/cookies.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>

#include "mapper/dns/hex.h"

namespace amap::server {

namespace {

constexpr std::uint64_t rotl(std::uint64_t x, unsigned b) noexcept {
  return (x << b) | (x >> (64 - b));
}

std::uint64_t load_le64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (unsigned i = 0; i < 8; ++i) {
    v |= std::uint64_t{p[i]} << (8 * i);
  }
  return v;
}

struct SipState {
  std::uint64_t v0, v1, v2, v3;
  void round() noexcept {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
  void absorb(std::uint64_t m) noexcept {  // 2 compression rounds
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

/// The hash input of RFC 9018 4.2 is at most 8 + 8 + 16 bytes.
constexpr std::size_t kMaxHashInput = wire::kClientCookieSize + 8 + 16;

}  // namespace

std::uint64_t siphash24(const CookieSecret& key, std::span<const std::uint8_t> message) noexcept {
  const std::uint64_t k0 = load_le64(key.data());
  const std::uint64_t k1 = load_le64(key.data() + 8);
  SipState s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
             k1 ^ 0x7465646279746573ULL};
  const std::size_t full = message.size() / 8 * 8;
  for (std::size_t i = 0; i < full; i += 8) {
    s.absorb(load_le64(message.data() + i));
  }
  // The last block: the remaining bytes, little-endian, with the length's low byte on top.
  std::uint64_t last = std::uint64_t{message.size() & 0xFFU} << 56;
  for (std::size_t i = full; i < message.size(); ++i) {
    last |= std::uint64_t{message[i]} << (8 * (i - full));
  }
  s.absorb(last);
  s.v2 ^= 0xFF;
  for (int i = 0; i < 4; ++i) {
    s.round();
  }
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void make_server_cookie(const CookieSecret& secret,
                        std::span<const std::uint8_t, wire::kClientCookieSize> client_cookie,
                        const dns::IpAddress& client, std::uint32_t timestamp,
                        std::span<std::uint8_t, wire::kServerCookieSize> out,
                        std::span<const std::uint8_t, 3> reserved) noexcept {
  out[0] = 1;  // version
  std::copy(reserved.begin(), reserved.end(), out.begin() + 1);
  for (unsigned i = 0; i < 4; ++i) {
    out[4 + i] = static_cast<std::uint8_t>(timestamp >> (24 - 8 * i));
  }
  // Client Cookie | Version | Reserved | Timestamp | Client-IP
  std::array<std::uint8_t, kMaxHashInput> input;
  auto it = std::copy(client_cookie.begin(), client_cookie.end(), input.begin());
  it = std::copy(out.begin(), out.begin() + 8, it);
  it = std::copy_n(client.bytes().begin(), client.byte_len(), it);
  const std::uint64_t hash = siphash24(
      secret,
      std::span<const std::uint8_t>(input.data(), static_cast<std::size_t>(it - input.begin())));
  for (unsigned i = 0; i < 8; ++i) {
    out[8 + i] = static_cast<std::uint8_t>(hash >> (8 * i));  // little-endian, as the reference
  }
}

CookieSecret read_cookie_secret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cookies.secret_file " + path +
                             ": cannot open: " + std::strerror(errno));
  }
  std::string text;
  // A secret file is 32 hex digits: read a bounded amount, so a wrong path (a device, a
  // huge file) cannot make this read forever.
  text.resize(256);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  const auto not_space = [](char c) { return c != ' ' && c != '\t' && c != '\n' && c != '\r'; };
  const auto first = std::find_if(text.begin(), text.end(), not_space);
  const auto last = std::find_if(text.rbegin(), text.rend(), not_space).base();
  const std::string hex = first < last ? std::string(first, last) : std::string();
  CookieSecret secret{};
  bool ok = hex.size() == 2 * secret.size();
  for (std::size_t i = 0; ok && i < secret.size(); ++i) {
    const int hi = dns::hex_digit_value(hex[2 * i]);
    const int lo = dns::hex_digit_value(hex[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    secret[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  if (!ok) {
    throw std::runtime_error("cookies.secret_file " + path +
                             ": expected 32 hex digits (a 128-bit secret), e.g. from "
                             "'openssl rand -hex 16'");
  }
  return secret;
}

CookieSecret random_cookie_secret() {
  std::random_device rd;
  CookieSecret s{};
  for (std::size_t i = 0; i < s.size(); i += 4) {
    const std::uint32_t r = rd();
    for (std::size_t j = 0; j < 4; ++j) {
      s[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
  }
  return s;
}

CookieJar::CookieJar(const CookieOptions& options)
    : master_(options.secret), rotate_(options.rotate_seconds) {
  if (rotate_ < 60) {
    throw std::invalid_argument("cookies: rotate must be at least 60 seconds");
  }
}

CookieSecret CookieJar::period_secret(std::uint64_t period) const noexcept {
  std::array<std::uint8_t, 9> input{};
  for (unsigned i = 0; i < 8; ++i) {
    input[i] = static_cast<std::uint8_t>(period >> (8 * i));
  }
  CookieSecret out{};
  for (std::uint8_t half = 0; half < 2; ++half) {
    input[8] = half;
    const std::uint64_t h = siphash24(master_, input);
    for (unsigned i = 0; i < 8; ++i) {
      out[8 * half + i] = static_cast<std::uint8_t>(h >> (8 * i));
    }
  }
  return out;
}

bool CookieJar::sign(std::span<const std::uint8_t, wire::kClientCookieSize> client_cookie,
                     std::span<const std::uint8_t> server, const dns::IpAddress& client,
                     std::span<std::uint8_t, wire::kServerCookieSize> out) const noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return sign_at(client_cookie, server, client, static_cast<std::uint64_t>(ts.tv_sec), out);
}

bool CookieJar::sign_at(std::span<const std::uint8_t, wire::kClientCookieSize> client_cookie,
                        std::span<const std::uint8_t> server, const dns::IpAddress& client,
                        std::uint64_t now,
                        std::span<std::uint8_t, wire::kServerCookieSize> out) const noexcept {
  const auto now32 = static_cast<std::uint32_t>(now);  // RFC 9018: serial number arithmetic
  const std::uint64_t period = now / rotate_;
  bool valid = false;
  bool reusable = false;
  if (server.size() == wire::kServerCookieSize && server[0] == 1) {
    const std::uint32_t stamp = (std::uint32_t{server[4]} << 24) |
                                (std::uint32_t{server[5]} << 16) | (std::uint32_t{server[6]} << 8) |
                                server[7];
    const auto age = static_cast<std::int32_t>(now32 - stamp);
    if (age <= static_cast<std::int32_t>(kMaxAge) && age >= -static_cast<std::int32_t>(kMaxSkew)) {
      const auto reserved = server.subspan<1, 3>();
      std::array<std::uint8_t, wire::kServerCookieSize> expect;
      for (const std::uint64_t p : {period, period - 1}) {
        make_server_cookie(period_secret(p), client_cookie, client, stamp, expect, reserved);
        if (std::equal(expect.begin(), expect.end(), server.begin())) {
          valid = true;
          // Sent back as it is while it is young, ours of this period, and in our format.
          reusable = p == period && age >= 0 && age < static_cast<std::int32_t>(kRenewAge) &&
                     reserved[0] == 0 && reserved[1] == 0 && reserved[2] == 0;
          break;
        }
      }
    }
  }
  if (reusable) {
    std::copy(server.begin(), server.end(), out.begin());
  } else {
    make_server_cookie(period_secret(period), client_cookie, client, now32, out);
  }
  return valid;
}

}  // namespace amap::server
