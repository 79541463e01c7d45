// SPDX-License-Identifier: MIT
#pragma once
// mapctl's verbs. run() parses the command line (CLI11) and dispatches; the verbs print to
// stdout (results) and stderr (errors, warnings, progress) and return the exit code:
// 0 success, 1 error (not found, invalid data, store errors), 2 usage.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace amap::mapctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

struct PurgeOptions {
  bool enabled = false;
  std::string pdns_control = "pdns_control";
  std::string socket_dir;  // passed as --socket-dir= when set
};

struct Options {
  std::string config = "/etc/automap/automap.yaml";
  bool json = false;
  bool force = false;
  PurgeOptions purge;

  std::string key;             // add/del/get: ADDR|PREFIX; list: optional PREFIX
  std::string within;          // del --within PREFIX: every override inside it
  std::string from;            // del --from FILE: the keys listed in it
  std::string replace_within;  // import --replace-within PREFIX: make the store equal the file
  std::string target;          // add: NAME|TEMPLATE
  bool none = false;
  std::optional<std::uint32_t> ttl;
  std::size_t limit = 0;

  std::string file;      // import/export
  std::string format;    // "", csv, jsonl
  bool dry_run = false;  // import, del --within/--from
  std::size_t max_errors = 100;

  std::string qname;  // lookup
  std::string qtype;

  std::optional<std::uint64_t> retention_s;  // compact: instead of store.tombstone_retention
  bool deep = false;                         // check --deep: walk every page and value of the store

  std::string api_key_verb;  // api-key: add, del, list
  std::string api_key_name;
  bool rw = false;            // api-key add --rw
  std::string keys_file;      // api-key --file: instead of the config's http.api_keys_file
  std::string algorithm;      // key generate: ecdsap256sha256 | ed25519 (default: the config's)
  bool zsk = false;           // key generate --zsk: a zone-signing key (no SEP flag)
  bool publish_only = false;  // key generate --publish-only: DNSKEY served, not signing yet
  std::string zone;           // key ds ZONE
  std::uint32_t tag = 0;      // key publish|activate|retire TAG
  std::int64_t propagation_delay = 3600;  // key activate/retire: seconds beyond the TTL
};

int cmd_add(const Options& o);
int cmd_del(const Options& o);
int cmd_get(const Options& o);
int cmd_list(const Options& o);
int cmd_import(const Options& o);
int cmd_export(const Options& o);
int cmd_lookup(const Options& o);
int cmd_check(const Options& o);
int cmd_stats(const Options& o);
int cmd_compact(const Options& o);
int cmd_api_key(const Options& o);
int cmd_key_generate(const Options& o);
int cmd_key_list(const Options& o);
int cmd_key_ds(const Options& o);
int cmd_key_import(const Options& o);
/// key publish | activate | retire (`verb`).
int cmd_key_step(const Options& o, std::string_view verb);

/// The whole program: CLI11 parsing (errors -> exit 2) and dispatch.
int run(int argc, char** argv);

}  // namespace amap::mapctl
