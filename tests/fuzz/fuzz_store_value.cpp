// SPDX-License-Identifier: MIT
// Fuzz target: the override store's value and key codec, through its public functions only
// (store/overrides.h: decode_override; store/format.h: decode_header, encode_header,
// parse_address_key, address_key, parse_prefix_key, prefix_key, key_text). Byte 0 picks what
// the rest is: 0 mod 3 an address/prefix value, 1 an address key, 2 a prefix key.
// Invariants: decoding never reads outside the value; a decoded value is exactly the header,
// its extension blocks and the payload layout of store/README.md (re-encoded here from the
// decoded fields and compared byte for byte); a key that parses encodes back to itself.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "store/format.h"
#include "store/overrides.h"

namespace {

namespace format = amap::store::format;
using format::Bytes;
using format::DecodeError;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void check_value(Bytes value) {
  amap::store::OverrideView view;
  bool deleted = false;
  const DecodeError e = amap::store::decode_override(value, view, deleted);
  check(!format::decode_error_message(e).empty());
  format::Header h;
  Bytes payload;
  const DecodeError he = format::decode_header(value, h, payload);
  if (e == DecodeError::truncated_header || e == DecodeError::unsupported_header_version) {
    check(he == e);
    return;
  }
  check(he == DecodeError::ok);
  check(payload.data() + payload.size() == value.data() + value.size());
  check(payload.size() + format::kHeaderSize + format::kExtensionBlockSize * h.extension_blocks ==
        value.size());
  // The header encodes back to the same fields (encode_header writes no extension blocks).
  std::array<std::uint8_t, format::kHeaderSize> header{};
  format::encode_header(header.data(), h.timestamp_ns, h.txn_id, h.flags);
  format::Header h2;
  Bytes empty;
  check(format::decode_header(Bytes(header.data(), header.size()), h2, empty) == DecodeError::ok);
  check(empty.empty() && h2.timestamp_ns == h.timestamp_ns && h2.txn_id == h.txn_id &&
        h2.flags == h.flags && h2.extension_blocks == 0);
  check(std::memcmp(header.data(), value.data(), 18) == 0);
  if (e != DecodeError::ok || deleted) {
    check(deleted == h.deleted());
    return;
  }
  // Payload: version, kind, ttl (big-endian u32), target text.
  check(view.timestamp_ns == h.timestamp_ns);
  check(view.kind == amap::store::OverrideKind::name ||
        view.kind == amap::store::OverrideKind::name_template ||
        view.kind == amap::store::OverrideKind::none);
  check(!amap::store::to_string(view.kind).empty());
  std::array<std::uint8_t, format::kOverridePayloadFixed> fixed{};
  fixed[0] = format::kPayloadVersion;
  fixed[1] = static_cast<std::uint8_t>(view.kind);
  format::store_be32(fixed.data() + 2, view.ttl);
  check(payload.size() == fixed.size() + view.target.size() &&
        std::memcmp(payload.data(), fixed.data(), fixed.size()) == 0);
  // The target is the rest of the payload, in place.
  check(reinterpret_cast<const std::uint8_t*>(view.target.data()) == payload.data() + fixed.size());
  check(view.to_override().target == view.target);
}

void check_address_key(Bytes key) {
  amap::dns::IpAddress a;
  (void)format::key_text(key);
  if (!format::parse_address_key(key, a)) {
    return;
  }
  std::array<std::uint8_t, format::kMaxAddressKey> out{};
  const std::size_t n = format::address_key(a, out.data());
  check(n == key.size() && std::memcmp(out.data(), key.data(), n) == 0);
  check(format::key_text(key) == a.to_string());
}

void check_prefix_key(Bytes key) {
  amap::dns::Prefix p;
  (void)format::key_text(key);
  if (!format::parse_prefix_key(key, p)) {
    return;
  }
  check(p.length <= p.address.bits() && p.address.masked(p.length) == p.address);
  std::array<std::uint8_t, format::kMaxPrefixKey> out{};
  const std::size_t n = format::prefix_key(p.address, p.length, out.data());
  check(n == key.size() && std::memcmp(out.data(), key.data(), n) == 0);
  // A 5- or 17-byte key can be both; key_text() reads it as an address first.
  amap::dns::IpAddress a;
  check(format::parse_address_key(key, a) || format::key_text(key) == p.to_string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) {
    return 0;
  }
  // An exactly sized copy, so that a read past the end is caught by ASan under libFuzzer.
  const std::vector<std::uint8_t> rest(data + 1, data + size);
  const Bytes in(rest.data(), rest.size());
  switch (data[0] % 3) {
    case 0:
      check_value(in);
      break;
    case 1:
      check_address_key(in);
      break;
    default:
      check_prefix_key(in);
      break;
  }
  return 0;
}
