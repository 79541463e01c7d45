// SPDX-License-Identifier: MIT
#pragma once
// DNS Cookies for the standalone server: RFC 7873, with server cookies built as RFC 9018
// (the interoperable format, so servers of an anycast set that share the secret accept each
// other's cookies):
//
//   server cookie = version 1 | reserved (3) | timestamp (4, Unix seconds)
//                   | SipHash-2-4(secret, client cookie | version | reserved | timestamp |
//                                 client address (4 or 16 bytes))
//
// The secret rotates every `rotate` seconds without any coordination: the secret of period
// N = floor(unix time / rotate) is derived from the master secret (SipHash-2-4 keyed with it
// over N and which half). Cookies made with the previous period's
// secret are still accepted (RFC 9018 4.4's overlap), so one made just before a rotation
// keeps working for its whole hour. Servers sharing a `secret_file` derive the same secrets.
//
// SipHash-2-4 is implemented here (siphash24): a fixed 64-bit function of a 16-byte key,
// allocation-free. OpenSSL's EVP_MAC would allocate a context per use, which the per-query
// path forbids.

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "mapper/dns/address.h"
#include "mapper/wire/handle.h"

namespace amap::server {

using CookieSecret = std::array<std::uint8_t, 16>;

struct CookieOptions {
  bool enabled = false;
  /// The master secret (from cookies.secret_file, or random at start).
  CookieSecret secret{};
  /// Seconds between secret rotations (at least 60).
  std::uint32_t rotate_seconds = 86400;
};

/// SipHash-2-4 of `message` with `key` (Aumasson and Bernstein), as a little-endian 64-bit
/// value (the reference implementation's output bytes are this value in little-endian order).
std::uint64_t siphash24(const CookieSecret& key, std::span<const std::uint8_t> message) noexcept;

inline constexpr std::array<std::uint8_t, 3> kNoReserved{};

/// The RFC 9018 server cookie for `client_cookie` and `client` at `timestamp`, made with
/// `secret`; `reserved` are the three reserved bytes (zero in cookies we make; checked with
/// the bytes the client returned, RFC 9018 4.2).
void make_server_cookie(const CookieSecret& secret,
                        std::span<const std::uint8_t, wire::kClientCookieSize> client_cookie,
                        const dns::IpAddress& client, std::uint32_t timestamp,
                        std::span<std::uint8_t, wire::kServerCookieSize> out,
                        std::span<const std::uint8_t, 3> reserved = kNoReserved) noexcept;

/// Reads a secret file: 32 hex digits (128 bits), surrounding whitespace allowed. Throws
/// std::runtime_error naming the path and what is wrong.
CookieSecret read_cookie_secret(const std::string& path);
/// 16 random bytes (std::random_device).
CookieSecret random_cookie_secret();

class CookieJar final : public wire::CookieSigner {
 public:
  /// Throws std::invalid_argument when rotate_seconds < 60.
  explicit CookieJar(const CookieOptions& options);

  /// wire::CookieSigner, with the wall clock.
  bool sign(std::span<const std::uint8_t, wire::kClientCookieSize> client_cookie,
            std::span<const std::uint8_t> server, const dns::IpAddress& client,
            std::span<std::uint8_t, wire::kServerCookieSize> out) const noexcept override;
  /// The same at `now` (Unix seconds): tests.
  bool sign_at(std::span<const std::uint8_t, wire::kClientCookieSize> client_cookie,
               std::span<const std::uint8_t> server, const dns::IpAddress& client,
               std::uint64_t now,
               std::span<std::uint8_t, wire::kServerCookieSize> out) const noexcept;

  /// The secret in use during rotation period `period`.
  CookieSecret period_secret(std::uint64_t period) const noexcept;
  std::uint32_t rotate_seconds() const noexcept { return rotate_; }

  /// RFC 9018 4.3: a server cookie is accepted for an hour, and from up to five minutes in the
  /// future (clock skew between anycast servers); one older than half an hour is renewed.
  static constexpr std::uint32_t kMaxAge = 3600;
  static constexpr std::uint32_t kMaxSkew = 300;
  static constexpr std::uint32_t kRenewAge = 1800;

 private:
  CookieSecret master_;
  std::uint32_t rotate_;
};

}  // namespace amap::server
