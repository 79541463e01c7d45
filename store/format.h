// SPDX-License-Identifier: MIT
#pragma once
// The on-disk format of the override store: binary keys and versioned values. Pure functions
// on byte buffers, no LMDB calls, no allocation. The layout is documented in store/README.md.
//
// Every value = Lightning Stream native header (24 bytes + 8 * N extension bytes, big-endian)
// followed by the application payload, which starts with its own version byte.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "mapper/dns/address.h"

namespace amap::store::format {

using Bytes = std::span<const std::uint8_t>;

// ---- Lightning Stream native header (ls:docs/schema-native.md) ----
inline constexpr std::size_t kHeaderSize = 24;
inline constexpr std::uint8_t kHeaderVersion = 0;  // the only version LS defines
inline constexpr std::uint8_t kFlagDeleted = 0x01;
inline constexpr std::size_t kExtensionBlockSize = 8;

// ---- application payload ----
inline constexpr std::uint8_t kPayloadVersion = 1;
/// Stored in meta "schema_version"; a writer refuses a store with a newer schema.
inline constexpr std::uint32_t kSchemaVersion = 1;

// ---- keys ----
inline constexpr std::size_t kMaxAddressKey = 17;        // family + 16 bytes
inline constexpr std::size_t kMaxPrefixKey = 18;         // family + 16 bytes + length
inline constexpr std::size_t kOverridePayloadFixed = 6;  // version, kind, ttl(4)
/// Upper bound for a target (name or template) text; keeps values small and bounded.
inline constexpr std::size_t kMaxTargetText = 1024;

/// Meta keys (plain ASCII). No key or DBI name starts with "_sync" (reserved by LS).
inline constexpr std::string_view kMetaSchemaVersion = "schema_version";
inline constexpr std::string_view kMetaPrefixLengths4 = "prefix_lengths/4";
inline constexpr std::string_view kMetaPrefixLengths6 = "prefix_lengths/6";
/// u64 bumped by every transaction that changes a prefix override, so readers can keep
/// derived state (compiled templates, the forward index) until it moves.
inline constexpr std::string_view kMetaPrefixGeneration = "prefix_generation";
/// u64 seconds (unix time) of the last committed write, at least the previous value + 1, then
/// u64 the config digest of the writer (WriteRules::config_digest; 0: kept from before). The
/// SOA serial derives from it (mapper/config/README.md, "SOA serial").
inline constexpr std::string_view kMetaLastChange = "last_change";
/// 6 u64: live and tombstone keys of addr, prefix and name (store::StoreCounts), updated by
/// every write transaction; absent on a store written before it existed (the next write
/// counts them once).
inline constexpr std::string_view kMetaCounts = "counts";
/// u64 the etcd revision a sync node (store/sync) applied last: the store holds etcd's content
/// under the configured prefix as of that revision. Absent (0) on a store that never synced.
inline constexpr std::string_view kMetaSyncRevision = "sync_revision";
/// Bitmap sizes: bit L (MSB first) set = a prefix override of length L exists.
inline constexpr std::size_t kLengthBitmap4 = 5;   // lengths 0..32
inline constexpr std::size_t kLengthBitmap6 = 17;  // lengths 0..128

struct Header {
  std::uint64_t timestamp_ns = 0;
  std::uint64_t txn_id = 0;
  std::uint8_t version = kHeaderVersion;
  std::uint8_t flags = 0;
  std::uint16_t extension_blocks = 0;

  bool deleted() const noexcept { return (flags & kFlagDeleted) != 0; }
};

/// Why a stored value could not be used. Readers skip such values and count them.
enum class DecodeError : std::uint8_t {
  ok = 0,
  truncated_header,             // shorter than 24 + 8 * N bytes
  unsupported_header_version,   // LS header version != 0
  unsupported_payload_version,  // application payload version != kPayloadVersion
  truncated_payload,
  bad_kind,
  bad_key,
};
std::string_view decode_error_message(DecodeError e) noexcept;

/// Writes the 24-byte header (no extensions) into out[0..24).
void encode_header(std::uint8_t* out, std::uint64_t timestamp_ns, std::uint64_t txn_id,
                   std::uint8_t flags) noexcept;
/// Parses the header and returns the application payload after it (extensions skipped).
DecodeError decode_header(Bytes value, Header& header, Bytes& payload) noexcept;

void store_be16(std::uint8_t* out, std::uint16_t v) noexcept;
void store_be32(std::uint8_t* out, std::uint32_t v) noexcept;
void store_be64(std::uint8_t* out, std::uint64_t v) noexcept;
std::uint16_t load_be16(const std::uint8_t* in) noexcept;
std::uint32_t load_be32(const std::uint8_t* in) noexcept;
std::uint64_t load_be64(const std::uint8_t* in) noexcept;

/// 1 byte family (4 or 6) + 4 or 16 address bytes. Returns the key length (5 or 17).
std::size_t address_key(const dns::IpAddress& a, std::uint8_t* out) noexcept;
/// family + masked address bytes + length byte. Returns 6 or 18.
std::size_t prefix_key(const dns::IpAddress& network, std::uint8_t length,
                       std::uint8_t* out) noexcept;
bool parse_address_key(Bytes key, dns::IpAddress& out) noexcept;
bool parse_prefix_key(Bytes key, dns::Prefix& out) noexcept;
/// A key for messages: the address or prefix it encodes, else its printable bytes ('?' for
/// the others).
std::string key_text(Bytes key);

inline Bytes as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace amap::store::format
