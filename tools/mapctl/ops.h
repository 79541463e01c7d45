// SPDX-License-Identifier: MIT
#pragma once
// The override operations both front ends run: mapctl's verbs (commands.cpp) and the HTTP API
// of automapd serve (tools/api). Same validation, same messages, same store writes; each front
// end only turns an OpResult into its own output (exit status and lines, or an HTTP status and
// a JSON body).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mapper/config/config.h"
#include "mapper/engine/mapper.h"
#include "store/sync/etcd_client.h"
#include "store/writer.h"
#include "tools/mapctl/json.h"
#include "tools/mapctl/records.h"

namespace amap::mapctl {

using json::Json;

/// A loaded configuration: the file, its settings and its mapper.
struct Loaded {
  std::string file;
  config::Config config;  // the mapper's (without the prefix list, which it holds compiled)
  std::shared_ptr<const mapper::Mapper> mapper;
};

/// How an operation ended. mapctl: ok/created exit 0, usage 2, the others 1. The API: 200,
/// 201, 400, 404, 409 (the store's write rules refused it), 500, 503 (unavailable: etcd, the
/// source of truth with store.sync, could not be reached or refused the write).
enum class Outcome : std::uint8_t {
  ok,
  created,
  bad_request,
  not_found,
  conflict,
  failed,
  unavailable
};

struct OpResult {
  Outcome outcome = Outcome::ok;
  /// What went wrong, one message each (mapctl prints "mapctl: error: M"); for an import the
  /// line-numbered ones are in `lines` and `errors` holds the summary.
  std::vector<std::string> errors;
  std::vector<LineError> lines;
  std::vector<std::string> warnings;
  Json body = Json::object();  // the --json / API answer
  std::string text;            // mapctl's text answer (without the final newline)

  bool ok() const noexcept { return outcome == Outcome::ok || outcome == Outcome::created; }
  static OpResult fail(Outcome o, std::string message) {
    OpResult r;
    r.outcome = o;
    r.errors.push_back(std::move(message));
    return r;
  }
};

/// Sends the store's writes to etcd when `c` has store.sync.etcd (one transaction each, or a
/// staged generation for a large import: store/sync/README.md); nothing otherwise. mapctl and
/// the API both call it, so both take the same path.
void use_source_of_truth(store::OverrideStore& st, const config::StoreConfig& c);
/// The etcd client's options from store.sync.etcd (endpoints, timeout, TLS, user): what
/// mapctl, the API and automapd's sync loop connect with.
store::sync::EtcdOptions etcd_options(const config::EtcdSyncConfig& e);

/// One override as JSON: {"address_or_prefix","kind","target","ttl"[,"updated"]}.
Json row_json(const Key& k, store::OverrideKind kind, std::string_view target, std::uint32_t ttl,
              std::uint64_t updated_ns);

/// add / PUT: checks the key and the value (Validator: names, templates, coverage unless
/// `force`) into `record`; bad_request with the message otherwise. Touches no store.
OpResult check_put(const Loaded& l, const std::string& key, bool none, const std::string& target,
                   std::uint32_t ttl, bool force, Record& record);
/// Writes a checked record: created (added) or ok (replaced); conflict when the store's write
/// rules refuse it (a shared name without force, colliding templates).
OpResult put(store::OverrideStore& st, const Record& record);

/// del / DELETE of one key: not_found when there is none; conflict when the delete would bring
/// back a configured template that collides.
OpResult del(store::OverrideStore& st, const Key& k);

/// import / POST import: parse_import, then one transaction (`within`: a sync). Bad lines:
/// bad_request with `lines` and a summary; conflicts with the write rules: conflict, the same.
/// `file` names the input in the messages.
OpResult import(const Loaded& l, store::OverrideStore& st, std::string_view data, Format format,
                const std::string& file, bool force, bool dry_run,
                const std::optional<dns::Prefix>& within);

/// lookup: what automap answers for an address or name, and why. `body` is mapctl lookup
/// --json's object, `text` its text form.
OpResult lookup(const Loaded& l, const std::string& qname_or_address, std::string qtype);

/// stats: `body` as mapctl stats --json, `text` as mapctl stats.
OpResult stats(const Loaded& l, const store::OverrideStore& st);

/// Whether a key lies inside `p`: an address in it, or a prefix in it at least as long.
bool inside(const dns::Prefix& p, bool is_prefix, const dns::Prefix& key);

}  // namespace amap::mapctl
