// SPDX-License-Identifier: MIT
#pragma once
// The automap YAML configuration as plain structs. Loading is strict (unknown keys, duplicate
// keys, wrong types and bad values are errors) and reports every error at once as
// "file:line:col: key.path: message". Templates are compiled later by the mapper, which adds
// its own errors with the marks kept here.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "mapper/dns/rdata.h"

namespace amap::config {

/// 1-based position in the YAML file.
struct Mark {
  int line = 0;
  int column = 0;
};

struct Error {
  std::string file;
  Mark mark;
  std::string path;  // "prefixes[2].name"
  std::string message;
  std::string to_string() const;
};

struct SoaConfig {
  dns::Soa soa;              // serial: from the file or derived from the load time
  std::uint32_t ttl = 3600;  // TTL of the SOA record itself
  bool serial_given = false;
};

struct ZoneConfig {
  dns::Name name;
  Mark mark;
};

struct PrefixConfig {
  dns::Prefix prefix;
  std::string name_template;  // empty when blank
  std::optional<std::uint32_t> ttl;
  bool blank = false;      // no synthesis: NXDOMAIN both ways
  bool forward = true;     // the synthesized name resolves forward (A/AAAA)
  bool reverse = true;     // PTR is synthesized
  bool classless = false;  // also serve RFC 2317 names for IPv4 prefixes longer than /24
  Mark mark;               // of the list item
  Mark name_mark;          // of the name template value
  std::string path;        // "prefixes[3]"
};

struct StoreConfig {
  bool present = false;
  std::string path;
  std::uint64_t map_size = 4ULL << 30;
  /// LMDB reader slots shared by every process on the store; 0 = store::default_max_readers().
  unsigned max_readers = 0;
  Mark mark;
};

struct Config {
  std::string file;
  SoaConfig soa;
  std::vector<dns::Name> ns;
  std::uint32_t ns_ttl = 3600;  // = soa.ttl
  std::vector<ZoneConfig> zones;
  std::vector<PrefixConfig> prefixes;
  StoreConfig store;
  std::vector<std::string> listen;
  std::uint32_t default_ttl = 3600;  // TTL of synthesized records when a prefix gives none
};

struct LoadResult {
  Config config;
  std::vector<Error> errors;
  bool ok() const noexcept { return errors.empty(); }
};

struct LoadOptions {
  /// Called for each prefix that passes its checks, in list order, with its index in
  /// Config::prefixes: from one thread at a time (a worker while the rest of the file is
  /// parsed, or the calling thread), always before load returns. Work on the prefixes can
  /// start early this way (the engine compiles their templates). Also called when the file
  /// has errors elsewhere.
  std::function<void(const PrefixConfig&, std::size_t index)> on_prefix;
};

/// Loads and checks a file. Never throws for bad input: everything lands in errors.
LoadResult load_file(const std::string& path, const LoadOptions& options = {});
/// Same from text (file is only used in messages).
LoadResult load_text(const std::string& text, const std::string& file = "<text>",
                     const LoadOptions& options = {});

/// "4GiB", "512MiB", "1048576" -> bytes.
std::optional<std::uint64_t> parse_size(const std::string& text);

}  // namespace amap::config
