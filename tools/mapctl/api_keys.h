// SPDX-License-Identifier: MIT
#pragma once
// The HTTP API's key file (http.api_keys_file): one key a line, stored as a scrypt hash
// (OpenSSL 3 libcrypto, EVP_PBE_scrypt) with its own random salt, never the key itself:
//
//   # NAME ROLE scrypt$N$r$p$SALT$HASH (hex)
//   ipam rw scrypt$16384$8$1$5f0c...$9a1e...
//
// `mapctl api-key add NAME [--rw]` makes a key, prints it once and appends its line; automapd
// checks an X-API-Key header against every line (constant-time compare, CRYPTO_memcmp).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace amap::mapctl::api_keys {

enum class Role : std::uint8_t { read_only, read_write };

/// "ro" / "rw".
std::string_view role_name(Role r) noexcept;

struct Key {
  std::string name;
  Role role = Role::read_only;
  std::uint64_t n = 0;  // scrypt cost parameters
  std::uint32_t r = 0;
  std::uint32_t p = 0;
  std::vector<unsigned char> salt;
  std::vector<unsigned char> hash;
  std::size_t line = 0;
};

/// scrypt's defaults here: N=2^14, r=8, p=1 (16 MiB, tens of milliseconds a check; automapd
/// remembers a key once checked, so only the first request with it pays).
inline constexpr std::uint64_t kScryptN = 16384;
inline constexpr std::uint32_t kScryptR = 8;
inline constexpr std::uint32_t kScryptP = 1;

/// Parses a key file's text; throws std::runtime_error "FILE:LINE: why" on a bad line or a
/// name given twice.
std::vector<Key> parse(std::string_view text, const std::string& file);
/// Reads and parses a key file; throws std::runtime_error naming the file and why.
std::vector<Key> read(const std::string& path);

/// A new random key (32 bytes from RAND_bytes, as 64 hex digits).
std::string new_secret();
/// The file line (without the newline) for `secret`, with a new random salt.
std::string hash_line(const std::string& name, Role role, std::string_view secret);
/// Whether `secret` is `key`'s (scrypt with its salt and cost, then CRYPTO_memcmp).
bool matches(const Key& key, std::string_view secret);

/// A name is [A-Za-z0-9._-]{1,64}: "" when it is one, else why not.
std::string name_problem(std::string_view name);

/// `mapctl api-key add|del|list` on `path` (exit status; messages to stdout and stderr).
int add(const std::string& path, const std::string& name, Role role, bool json);
int del(const std::string& path, const std::string& name);
int list(const std::string& path, bool json);

}  // namespace amap::mapctl::api_keys
