// SPDX-License-Identifier: MIT
#include "store/format.h"

#include <cstring>

namespace amap::store::format {

std::string_view decode_error_message(DecodeError e) noexcept {
  switch (e) {
    case DecodeError::ok:
      return "ok";
    case DecodeError::truncated_header:
      return "value shorter than its Lightning Stream header (corrupt)";
    case DecodeError::unsupported_header_version:
      return "value has an unsupported Lightning Stream header version (this build reads 0)";
    case DecodeError::unsupported_payload_version:
      return "value has an unsupported payload version (written by a newer automap?)";
    case DecodeError::truncated_payload:
      return "value payload is truncated (corrupt)";
    case DecodeError::bad_kind:
      return "value has an unknown override kind";
    case DecodeError::bad_key:
      return "malformed key";
  }
  return "unknown decode error";
}

void store_be16(std::uint8_t* out, std::uint16_t v) noexcept {
  out[0] = static_cast<std::uint8_t>(v >> 8);
  out[1] = static_cast<std::uint8_t>(v);
}
void store_be32(std::uint8_t* out, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) {
    out[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
  }
}
void store_be64(std::uint8_t* out, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
  }
}
std::uint16_t load_be16(const std::uint8_t* in) noexcept {
  return static_cast<std::uint16_t>((in[0] << 8) | in[1]);
}
std::uint32_t load_be32(const std::uint8_t* in) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v = (v << 8) | in[i];
  }
  return v;
}
std::uint64_t load_be64(const std::uint8_t* in) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | in[i];
  }
  return v;
}

void encode_header(std::uint8_t* out, std::uint64_t timestamp_ns, std::uint64_t txn_id,
                   std::uint8_t flags) noexcept {
  store_be64(out, timestamp_ns);
  store_be64(out + 8, txn_id);
  out[16] = kHeaderVersion;
  out[17] = flags;
  std::memset(out + 18, 0, 4);  // reserved
  store_be16(out + 22, 0);      // no extension blocks: writers MUST NOT add any
}

DecodeError decode_header(Bytes value, Header& header, Bytes& payload) noexcept {
  if (value.size() < kHeaderSize) {
    return DecodeError::truncated_header;
  }
  const std::uint8_t* p = value.data();
  header.timestamp_ns = load_be64(p);
  header.txn_id = load_be64(p + 8);
  header.version = p[16];
  header.flags = p[17];
  header.extension_blocks = load_be16(p + 22);
  if (header.version != kHeaderVersion) {
    return DecodeError::unsupported_header_version;
  }
  const std::size_t total = kHeaderSize + kExtensionBlockSize * header.extension_blocks;
  if (value.size() < total) {
    return DecodeError::truncated_header;
  }
  payload = value.subspan(total);
  return DecodeError::ok;
}

std::size_t address_key(const dns::IpAddress& a, std::uint8_t* out) noexcept {
  out[0] = static_cast<std::uint8_t>(a.family());
  std::memcpy(out + 1, a.bytes().data(), a.byte_len());
  return 1 + a.byte_len();
}

std::size_t prefix_key(const dns::IpAddress& network, std::uint8_t length,
                       std::uint8_t* out) noexcept {
  const dns::IpAddress masked = network.masked(length);
  const std::size_t n = address_key(masked, out);
  out[n] = length;
  return n + 1;
}

namespace {
bool parse_family_bytes(Bytes key, std::size_t extra, dns::IpAddress& out) noexcept {
  if (key.empty()) {
    return false;
  }
  if (key[0] == 4 && key.size() == 5 + extra) {
    out = dns::IpAddress::v4(load_be32(key.data() + 1));
    return true;
  }
  if (key[0] == 6 && key.size() == 17 + extra) {
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), key.data() + 1, 16);
    out = dns::IpAddress::v6(b);
    return true;
  }
  return false;
}
}  // namespace

bool parse_address_key(Bytes key, dns::IpAddress& out) noexcept {
  return parse_family_bytes(key, 0, out);
}

bool parse_prefix_key(Bytes key, dns::Prefix& out) noexcept {
  dns::IpAddress a;
  if (!parse_family_bytes(key, 1, a)) {
    return false;
  }
  const std::uint8_t len = key[key.size() - 1];
  if (len > a.bits() || a.masked(len) != a) {
    return false;
  }
  out.address = a;
  out.length = len;
  return true;
}

std::string key_text(Bytes key) {
  dns::IpAddress a;
  dns::Prefix p;
  if (parse_address_key(key, a)) {
    return a.to_string();
  }
  if (parse_prefix_key(key, p)) {
    return p.to_string();
  }
  std::string out;
  for (const std::uint8_t c : key) {
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  return out;
}

}  // namespace amap::store::format
