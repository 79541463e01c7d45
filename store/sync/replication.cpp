// SPDX-License-Identifier: MIT
#include "store/sync/replication.h"

#include <utility>

#include "store/sync/keys.h"

namespace amap::store::sync {

namespace {

std::string as_text(const std::vector<std::uint8_t>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

std::uint64_t u64(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) {
    return 0;
  }
  const auto& v = j[key];
  return v.is_string() ? std::stoull(v.get<std::string>()) : v.get<std::uint64_t>();
}

}  // namespace

Replication etcd_replication(std::shared_ptr<EtcdClient> client, std::string prefix) {
  return [client = std::move(client), prefix = std::move(prefix)](
             std::uint64_t replica_revision, std::span<const RawWrite> writes) {
    const std::string key = base64_encode(prefix);
    const std::string end = base64_encode(range_end(prefix));
    nlohmann::json puts = nlohmann::json::array();
    for (const RawWrite& w : writes) {
      puts.push_back({{"request_put",
                       {{"key", base64_encode(etcd_key(prefix, w.is_prefix,
                                                       Bytes(w.key.data(), w.key.size())))},
                        {"value", base64_encode(as_text(w.value))}}}});
    }
    const nlohmann::json txn = {{"compare",
                                 {{{"target", "MOD"},
                                   {"key", key},
                                   {"range_end", end},
                                   {"result", "LESS"},
                                   {"mod_revision", std::to_string(replica_revision + 1)}}}},
                                {"success", std::move(puts)},
                                {"failure",
                                 {{{"request_range",
                                    {{"key", key},
                                     {"range_end", end},
                                     {"limit", 1},
                                     {"sort_order", "DESCEND"},
                                     {"sort_target", "MOD"},
                                     {"keys_only", true}}}}}}};
    nlohmann::json r;
    try {
      r = client->call("/v3/kv/txn", txn);
    } catch (const EtcdError& e) {
      const std::string what = e.what();
      if (what.find("too many operations") != std::string::npos) {
        throw EtcdError(e.kind(), what + " (" + std::to_string(writes.size()) +
                                      " values in one transaction: raise etcd's --max-txn-ops)");
      }
      if (what.find("too large") != std::string::npos) {
        throw EtcdError(e.kind(), what + " (raise etcd's --max-request-bytes)");
      }
      throw;
    }
    ReplicationResult out;
    if (r.value("succeeded", false)) {
      return out;
    }
    out.applied = false;
    out.source_revision = replica_revision + 1;
    const auto& responses = r.value("responses", nlohmann::json::array());
    if (!responses.empty()) {
      const auto& kvs = responses[0]
                            .value("response_range", nlohmann::json::object())
                            .value("kvs", nlohmann::json::array());
      if (!kvs.empty()) {
        out.source_revision = u64(kvs[0], "mod_revision");
      }
    }
    return out;
  };
}

}  // namespace amap::store::sync
