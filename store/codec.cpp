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

DecodeError decode_override(Bytes value, OverrideView& out, bool& deleted) noexcept {
  format::Header h;
  Bytes payload;
  if (const DecodeError e = format::decode_header(value, h, payload); e != DecodeError::ok) {
    return e;
  }
  deleted = h.deleted();
  if (deleted) {
    return DecodeError::ok;  // tombstone: payload is empty and ignored
  }
  if (payload.empty()) {
    return DecodeError::truncated_payload;
  }
  if (payload[0] != format::kPayloadVersion) {
    return DecodeError::unsupported_payload_version;
  }
  if (payload.size() < format::kOverridePayloadFixed) {
    return DecodeError::truncated_payload;
  }
  const std::uint8_t kind = payload[1];
  if (kind < static_cast<std::uint8_t>(OverrideKind::name) ||
      kind > static_cast<std::uint8_t>(OverrideKind::none)) {
    return DecodeError::bad_kind;
  }
  out.kind = static_cast<OverrideKind>(kind);
  out.ttl = format::load_be32(payload.data() + 2);
  const Bytes text = payload.subspan(format::kOverridePayloadFixed);
  out.target = std::string_view(reinterpret_cast<const char*>(text.data()), text.size());
  out.timestamp_ns = h.timestamp_ns;
  return DecodeError::ok;
}

DecodeError decode_simple(Bytes value, Bytes& data, bool& deleted) noexcept {
  format::Header h;
  Bytes payload;
  if (const DecodeError e = format::decode_header(value, h, payload); e != DecodeError::ok) {
    return e;
  }
  deleted = h.deleted();
  if (deleted) {
    return DecodeError::ok;
  }
  if (payload.empty()) {
    return DecodeError::truncated_payload;
  }
  if (payload[0] != format::kPayloadVersion) {
    return DecodeError::unsupported_payload_version;
  }
  data = payload.subspan(1);
  return DecodeError::ok;
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

std::size_t name_key(const dns::Name& n, std::uint8_t* out) noexcept {
  const auto wire = n.wire();
  for (std::size_t i = 0; i < wire.size(); ++i) {
    out[i] = dns::ascii_lower(wire[i]);
  }
  return wire.size();
}

std::string_view meta_lengths_key(dns::Family f) noexcept {
  return f == dns::Family::v4 ? format::kMetaPrefixLengths4 : format::kMetaPrefixLengths6;
}

bool bitmap_has(Bytes bitmap, unsigned len) noexcept {
  const std::size_t byte = len / 8;
  return byte < bitmap.size() && ((bitmap[byte] >> (7 - len % 8)) & 1U) != 0;
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
