// SPDX-License-Identifier: MIT
#pragma once
// How the store's keys live in etcd: PREFIX + "addr/" or "prefix/" + the LMDB key in lower-case
// hex (so etcd's byte order is the store's address order), and base64 for the JSON gateway.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/codec.h"

namespace amap::store::sync {

/// PREFIX + "addr/" (or "prefix/") + hex(key).
std::string etcd_key(std::string_view prefix, bool is_prefix, Bytes key);

/// An etcd key read back: which database and the LMDB key. nullopt for a key that is not ours.
struct StoreKey {
  bool is_prefix = false;
  std::vector<std::uint8_t> key;
};
std::optional<StoreKey> parse_etcd_key(std::string_view prefix, std::string_view etcd_key);

/// The end of etcd's range of every key starting with `prefix` (its last byte plus one).
std::string range_end(std::string_view prefix);

// Generations (store/sync/README.md, "Imports beyond one etcd transaction"). The overrides
// live under a generation's root; PREFIX + "_generation" names the current one. Absent, it is
// generation "" whose root is PREFIX itself (the layout of the first version, kept as is).
// Every other key of ours sorts before PREFIX + "addr/", so a root's data range holds only
// its own addr/ and prefix/ keys.

/// PREFIX + "_generation": the pointer; its value is the current generation's name.
std::string generation_key(std::string_view prefix);
/// PREFIX for generation "", else PREFIX + "_g/" + gen + "/".
std::string generation_root(std::string_view prefix, std::string_view gen);
/// PREFIX + "_s/" + gen: the marker of a generation being staged or retired.
std::string marker_key(std::string_view prefix, std::string_view gen);
/// [root + "addr/", range_end(root + "prefix/")): every value of one generation.
struct KeyRange {
  std::string begin;
  std::string end;
};
KeyRange data_range(std::string_view root);

std::string base64_encode(std::string_view data);
/// nullopt for text that is not base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace amap::store::sync
