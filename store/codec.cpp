// SPDX-License-Identifier: MIT
#include "store/codec.h"

#include <cstring>
#include <ctime>

#include "store/lmdb.h"

namespace amap::store {

using format::DecodeError;

std::string_view to_string(OverrideKind k) noexcept {
  switch (k) {
    case OverrideKind::name:
      return "name";
    case OverrideKind::name_template:
      return "template";
    case OverrideKind::none:
      return "none";
  }
  return "unknown";
}

void encode_value(std::vector<std::uint8_t>& out, std::uint64_t timestamp_ns, std::uint64_t txn_id,
                  std::uint8_t flags, Bytes payload) {
  out.resize(format::kHeaderSize + payload.size());
  format::encode_header(out.data(), timestamp_ns, txn_id, flags);
  if (!payload.empty()) {
    std::memcpy(out.data() + format::kHeaderSize, payload.data(), payload.size());
  }
}

void encode_override(std::vector<std::uint8_t>& out, std::uint64_t timestamp_ns,
                     std::uint64_t txn_id, OverrideKind kind, std::uint32_t ttl,
                     std::string_view target) {
  out.assign(format::kHeaderSize + format::kOverridePayloadFixed + target.size(), 0);
  format::encode_header(out.data(), timestamp_ns, txn_id, 0);
  std::uint8_t* p = out.data() + format::kHeaderSize;
  p[0] = format::kPayloadVersion;
  p[1] = static_cast<std::uint8_t>(kind);
  format::store_be32(p + 2, ttl);
  if (!target.empty()) {
    std::memcpy(p + format::kOverridePayloadFixed, target.data(), target.size());
  }
}

void encode_counts(const StoreCounts& c, std::uint8_t* out) noexcept {
  const std::uint64_t fields[] = {c.addresses, c.address_tombstones,
                                  c.prefixes,  c.prefix_tombstones,
                                  c.names,     c.name_tombstones};
  for (const std::uint64_t f : fields) {
    format::store_be64(out, f);
    out += 8;
  }
}

bool decode_counts(Bytes data, StoreCounts& out) noexcept {
  if (data.size() != kCountsSize) {
    return false;
  }
  std::uint64_t* fields[] = {&out.addresses, &out.address_tombstones,
                             &out.prefixes,  &out.prefix_tombstones,
                             &out.names,     &out.name_tombstones};
  const std::uint8_t* p = data.data();
  for (std::uint64_t* f : fields) {
    *f = format::load_be64(p);
    p += 8;
  }
  return true;
}

std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

void throw_decode(std::string_view db, Bytes key, DecodeError e) {
  throw StoreError("override store: \"" + std::string(db) + "\" entry " + format::key_text(key) +
                       ": " + std::string(format::decode_error_message(e)),
                   MDB_CORRUPTED);
}

}  // namespace amap::store
