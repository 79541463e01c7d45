// SPDX-License-Identifier: MIT
#pragma once
// The one set of rules for an override's value and key, which every write path of the store
// (OverrideStore::put_*, erase_*, apply) and mapctl's record parser apply, so that all say the
// same about the same value.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "store/codec.h"

namespace amap::store {

/// The largest TTL an override may have (RFC 2181 section 8: 2^31 - 1).
inline constexpr std::uint32_t kMaxTtl = 2147483647U;

/// An override that passed check_override: what the store keeps of it.
struct CheckedOverride {
  /// The stored target: a name in canonical text (trailing dot), a template as given, none
  /// empty (a target given with none is dropped).
  std::string_view target;
  std::optional<dns::Name> name;  // kind name: the parsed name
};

/// Checks an override's value: a known kind; a name is a valid DNS name and not the root; a
/// template is not empty (the mapper core compiles it); the stored target is at most
/// format::kMaxTargetText characters; the TTL is at most kMaxTtl. Returns the first broken
/// rule's message, or an empty string. On success fills `out`, whose target views `v.target`
/// or `buffer` (a name's canonical text; reused between calls, so a writer allocates only
/// until it is big enough).
std::string check_override(const Override& v, std::string& buffer, CheckedOverride& out);
/// check_override, throwing StoreError with its message.
CheckedOverride checked_override(const Override& v, std::string& buffer);

/// Checks a prefix key: a length within the family, no host bits set. Returns the message or
/// an empty string.
std::string check_prefix(const dns::Prefix& p);
/// check_prefix, throwing StoreError with its message.
void checked_prefix(const dns::Prefix& p);

}  // namespace amap::store
