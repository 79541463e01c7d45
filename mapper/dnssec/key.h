// SPDX-License-Identifier: MIT
#pragma once
// DNSSEC zone keys (RFC 4034 2, RFC 6605, RFC 8080) on OpenSSL 3 libcrypto, kept in the files
// BIND's dnssec-keygen writes (K<zone>+<alg>+<tag>.key and .private, "Private-key-format:
// v1.3"), so keys made by dnssec-keygen or ldns-keygen can be used as they are and automap's
// keys can be taken to BIND. One key set serves every zone automap serves: the owner name in
// a .key file is only a label (mapctl writes the first forward zone).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mapper/dns/name.h"

struct evp_pkey_st;

namespace amap::dnssec {

/// DNSSEC algorithm numbers (IANA): the two automap signs with.
enum class Algorithm : std::uint8_t { ecdsap256sha256 = 13, ed25519 = 15 };

/// "ECDSAP256SHA256" / "ED25519", as BIND names them.
const char* algorithm_name(Algorithm a) noexcept;

/// Both algorithms make 64-byte signatures (ECDSA: r and s, 32 bytes each, RFC 6605 4).
inline constexpr std::size_t kSignatureSize = 64;

/// DNSKEY flags: ZONE (256), plus SEP (1) for a key-signing key or a combined signing key.
inline constexpr std::uint16_t kFlagsZsk = 256;
inline constexpr std::uint16_t kFlagsKsk = 257;

/// The BIND key timing metadata (seconds since the epoch; 0: not set). A key is published
/// (its DNSKEY served) from `publish` until `remove`, and signs from `activate` until
/// `inactive`. Unset `publish`/`activate` mean "from the start".
struct Timing {
  std::int64_t created = 0;
  std::int64_t publish = 0;
  std::int64_t activate = 0;
  std::int64_t inactive = 0;
  std::int64_t remove = 0;

  bool published(std::int64_t now) const noexcept {
    return publish <= now && (remove == 0 || now < remove);
  }
  bool active(std::int64_t now) const noexcept {
    return published(now) && activate <= now && (inactive == 0 || now < inactive);
  }
};

class Key {
 public:
  /// A new key pair (flags kFlagsKsk for a CSK or KSK, kFlagsZsk for a ZSK). Throws
  /// std::runtime_error when OpenSSL fails.
  static Key generate(Algorithm algorithm, std::uint16_t flags);
  /// Reads `base` + ".private" and `base` + ".key" (base: ".../Kzone+013+12345"). Throws
  /// std::runtime_error naming the file and what is wrong with it (missing, unreadable, not
  /// a key of a supported algorithm, a public key that does not match the private one).
  static Key load(const std::string& base);
  /// Writes `dir`/K<owner>+<alg>+<tag>.key and .private (mode 0600, created exclusively:
  /// an existing file is an error). Returns the base path written. Throws std::runtime_error.
  std::string save(const std::string& dir, const dns::Name& owner) const;
  /// Rewrites the .private file's timing lines (the key itself unchanged).
  void save_timing() const;

  Algorithm algorithm() const noexcept { return algorithm_; }
  std::uint16_t flags() const noexcept { return flags_; }
  bool sep() const noexcept { return (flags_ & 1U) != 0; }
  /// The key tag (RFC 4034 appendix B).
  std::uint16_t tag() const noexcept { return tag_; }
  /// The DNSKEY RDATA: flags, protocol 3, algorithm, public key.
  const std::vector<std::uint8_t>& dnskey_rdata() const noexcept { return dnskey_; }
  /// The DS digest (type 2, SHA-256) of this key at `owner` (RFC 4509).
  std::vector<std::uint8_t> ds_sha256(const dns::Name& owner) const;
  /// Signs `data` into `out` (RFC 4034 3.1.8.1 signature field). Returns false when OpenSSL
  /// fails. Allocates inside OpenSSL: only on a signature cache miss.
  bool sign(std::span<const std::uint8_t> data,
            std::span<std::uint8_t, kSignatureSize> out) const noexcept;

  Timing timing;
  /// The path the key was loaded from or saved to, without ".key"/".private".
  std::string base;

 private:
  Algorithm algorithm_ = Algorithm::ecdsap256sha256;
  std::uint16_t flags_ = kFlagsKsk;
  std::uint16_t tag_ = 0;
  std::vector<std::uint8_t> dnskey_;
  std::vector<std::uint8_t> private_;  // the raw private key (32 bytes for both algorithms)
  std::shared_ptr<evp_pkey_st> pkey_;

  void finish(evp_pkey_st* pkey);
};

/// Every key of a keys directory (each K*.private with its .key), sorted by tag. Throws
/// std::runtime_error ("DIR: ...", "FILE: ...") when the directory cannot be read, holds no
/// key, or a key cannot be loaded.
std::vector<Key> load_keys(const std::string& dir);

/// Reads a BIND/ldns key pair (`base`.private and `base`.key; `base` may also end in one of
/// those extensions) for `mapctl key import`. Throws std::runtime_error like Key::load.
Key import_key(std::string base);

/// Base64 (RFC 4648) without line breaks, and back (nullopt-like: false on bad input).
std::string base64(std::span<const std::uint8_t> data);
bool unbase64(std::string_view text, std::vector<std::uint8_t>& out);
/// "YYYYMMDDHHMMSS" (UTC) for BIND's timing fields, and back (0 on bad input).
std::string timestamp(std::int64_t unix_seconds);
std::int64_t parse_timestamp(std::string_view text) noexcept;

}  // namespace amap::dnssec
