// SPDX-License-Identifier: MIT
#pragma once
// The override value codec: the value types (Override, OverrideView) and how they are encoded
// in LMDB values behind the Lightning Stream header (store/format.h has the header, the keys
// and the constants). Pure functions, no LMDB calls; the decoders are noexcept and do not
// allocate (the per-query reader uses them).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "store/format.h"

namespace amap::store {

using Bytes = std::span<const std::uint8_t>;

enum class OverrideKind : std::uint8_t {
  name = 1,           // target is a DNS name ("mail.customer.example.")
  name_template = 2,  // target is a hostname template ("cust42-{ip}.biz.pool.example.net.")
  none = 3,           // no target: answer NXDOMAIN
};
std::string_view to_string(OverrideKind k) noexcept;

/// An override as the writer supplies it.
struct Override {
  OverrideKind kind = OverrideKind::none;
  std::uint32_t ttl = 0;  // 0 = use the configured default
  std::string target;     // presentation format; empty for none

  static Override name(std::string_view n, std::uint32_t ttl = 0) {
    return {OverrideKind::name, ttl, std::string(n)};
  }
  static Override name_template(std::string_view t, std::uint32_t ttl = 0) {
    return {OverrideKind::name_template, ttl, std::string(t)};
  }
  static Override none(std::uint32_t ttl = 0) { return {OverrideKind::none, ttl, {}}; }

  friend bool operator==(const Override&, const Override&) = default;
};

/// An override as stored: target points into the LMDB map (valid until the txn ends).
struct OverrideView {
  OverrideKind kind = OverrideKind::none;
  std::uint32_t ttl = 0;
  std::string_view target;
  std::uint64_t timestamp_ns = 0;  // when it was written (Lightning Stream header)

  Override to_override() const { return {kind, ttl, std::string(target)}; }
};

struct PrefixOverrideView {
  dns::Prefix prefix;
  OverrideView value;
};

// The decoders and key helpers below are inline: the per-query reader calls them for every
// lookup (bitmap_has once per prefix length), so they must not cost a call into another
// translation unit.

/// Decodes an address/prefix value. On success `deleted` tells whether it is a tombstone.
inline format::DecodeError decode_override(Bytes value, OverrideView& out, bool& deleted) noexcept {
  format::Header h;
  Bytes payload;
  if (const format::DecodeError e = format::decode_header(value, h, payload);
      e != format::DecodeError::ok) {
    return e;
  }
  deleted = h.deleted();
  if (deleted) {
    return format::DecodeError::ok;  // tombstone: payload is empty and ignored
  }
  if (payload.empty()) {
    return format::DecodeError::truncated_payload;
  }
  if (payload[0] != format::kPayloadVersion) {
    return format::DecodeError::unsupported_payload_version;
  }
  if (payload.size() < format::kOverridePayloadFixed) {
    return format::DecodeError::truncated_payload;
  }
  const std::uint8_t kind = payload[1];
  if (kind < static_cast<std::uint8_t>(OverrideKind::name) ||
      kind > static_cast<std::uint8_t>(OverrideKind::none)) {
    return format::DecodeError::bad_kind;
  }
  out.kind = static_cast<OverrideKind>(kind);
  out.ttl = format::load_be32(payload.data() + 2);
  const Bytes text = payload.subspan(format::kOverridePayloadFixed);
  out.target = std::string_view(reinterpret_cast<const char*>(text.data()), text.size());
  out.timestamp_ns = h.timestamp_ns;
  return format::DecodeError::ok;
}

/// Decodes a meta or name-index value: header, then version byte, then `data`.
inline format::DecodeError decode_simple(Bytes value, Bytes& data, bool& deleted) noexcept {
  format::Header h;
  Bytes payload;
  if (const format::DecodeError e = format::decode_header(value, h, payload);
      e != format::DecodeError::ok) {
    return e;
  }
  deleted = h.deleted();
  if (deleted) {
    return format::DecodeError::ok;
  }
  if (payload.empty()) {
    return format::DecodeError::truncated_payload;
  }
  if (payload[0] != format::kPayloadVersion) {
    return format::DecodeError::unsupported_payload_version;
  }
  data = payload.subspan(1);
  return format::DecodeError::ok;
}

/// Encodes a whole value into `out`: the header (`flags`: 0 or format::kFlagDeleted), then
/// `payload` as is (empty for a tombstone).
void encode_value(std::vector<std::uint8_t>& out, std::uint64_t timestamp_ns, std::uint64_t txn_id,
                  std::uint8_t flags, Bytes payload);
/// Encodes a live address/prefix override: header, payload version, kind, ttl, target.
void encode_override(std::vector<std::uint8_t>& out, std::uint64_t timestamp_ns,
                     std::uint64_t txn_id, OverrideKind kind, std::uint32_t ttl,
                     std::string_view target);

/// The key of the "name" database: the lower-cased wire form of `n` (at most
/// dns::Name::kMaxWire bytes into `out`). Returns its length.
inline std::size_t name_key(const dns::Name& n, std::uint8_t* out) noexcept {
  const auto wire = n.wire();
  for (std::size_t i = 0; i < wire.size(); ++i) {
    out[i] = dns::ascii_lower(wire[i]);
  }
  return wire.size();
}
/// The meta key of a family's prefix-length bitmap.
inline std::string_view meta_lengths_key(dns::Family f) noexcept {
  return f == dns::Family::v4 ? format::kMetaPrefixLengths4 : format::kMetaPrefixLengths6;
}
/// Whether prefix length `len` is set in a prefix-length bitmap (MSB first).
inline bool bitmap_has(Bytes bitmap, unsigned len) noexcept {
  const std::size_t byte = len / 8;
  return byte < bitmap.size() && ((unsigned{bitmap[byte]} >> (7 - len % 8)) & 1U) != 0;
}

/// The timestamp of a write transaction: CLOCK_REALTIME in ns since the epoch.
std::uint64_t now_ns() noexcept;

/// Throws StoreError (MDB_CORRUPTED) naming the database, the key and what is wrong.
[[noreturn]] void throw_decode(std::string_view db, Bytes key, format::DecodeError e);

/// format::kMetaLastChange as read back (both 0 before the first write).
struct LastChange {
  std::uint64_t seconds = 0;
  std::uint64_t config_digest = 0;
};

/// format::kMetaCounts: the keys of the three tables, live and tombstones, kept by every write
/// transaction (so /metrics and `mapctl stats` need no scan of a big store).
struct StoreCounts {
  std::uint64_t addresses = 0;  // live address overrides
  std::uint64_t address_tombstones = 0;
  std::uint64_t prefixes = 0;  // live prefix overrides
  std::uint64_t prefix_tombstones = 0;
  std::uint64_t names = 0;  // live name-index entries
  std::uint64_t name_tombstones = 0;

  std::uint64_t tombstones() const noexcept {
    return address_tombstones + prefix_tombstones + name_tombstones;
  }
  friend bool operator==(const StoreCounts&, const StoreCounts&) noexcept = default;
};
inline constexpr std::size_t kCountsSize = std::size_t{6} * 8;
/// The payload of meta counts after its version byte (6 u64, big-endian, in field order).
void encode_counts(const StoreCounts& c, std::uint8_t* out) noexcept;
bool decode_counts(Bytes data, StoreCounts& out) noexcept;

}  // namespace amap::store
