// SPDX-License-Identifier: MIT
#include "store/sync/replication.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <exception>
#include <random>
#include <thread>
#include <unordered_set>
#include <utility>

#include "store/sync/keys.h"

namespace amap::store::sync {

namespace {

using Json = nlohmann::json;

std::string as_text(const std::vector<std::uint8_t>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

std::uint64_t u64(const Json& j, const char* key) {
  if (!j.contains(key)) {
    return 0;
  }
  const auto& v = j[key];
  return v.is_string() ? std::stoull(v.get<std::string>()) : v.get<std::uint64_t>();
}

std::string decoded(const Json& kv, const char* field) {
  return base64_decode(kv.value(field, std::string())).value_or(std::string());
}

Json put_op(const std::string& key, std::string_view value) {
  return {{"request_put", {{"key", base64_encode(key)}, {"value", base64_encode(value)}}}};
}

Json delete_op(const std::string& key, const std::string& end = {}) {
  Json r = {{"key", base64_encode(key)}};
  if (!end.empty()) {
    r["range_end"] = base64_encode(end);
  }
  return {{"request_delete_range", std::move(r)}};
}

/// The key (or the newest key of [key, end), by mod_revision) with its value.
Json range_op(const std::string& key, const std::string& end = {}) {
  Json r = {{"key", base64_encode(key)}};
  if (!end.empty()) {
    r["range_end"] = base64_encode(end);
    r["limit"] = 1;
    r["sort_order"] = "DESCEND";
    r["sort_target"] = "MOD";
  }
  return {{"request_range", std::move(r)}};
}

/// mod_revision of the key (every key of [key, end)) < `below` (a missing key has 0).
Json mod_below(const std::string& key, std::uint64_t below, const std::string& end = {}) {
  Json c = {{"target", "MOD"},
            {"key", base64_encode(key)},
            {"result", "LESS"},
            {"mod_revision", std::to_string(below)}};
  if (!end.empty()) {
    c["range_end"] = base64_encode(end);
  }
  return c;
}

Json mod_equal(const std::string& key, std::uint64_t rev) {
  return {{"target", "MOD"},
          {"key", base64_encode(key)},
          {"result", "EQUAL"},
          {"mod_revision", std::to_string(rev)}};
}

/// The first kv of the i-th response of a txn (its failure branch's ranges), or null.
const Json* txn_kv(const Json& r, std::size_t i) {
  // find(), not value(): value() returns a copy, and the pointer must point into `r`.
  const auto responses = r.find("responses");
  if (responses == r.end() || !responses->is_array() || i >= responses->size()) {
    return nullptr;
  }
  const Json& op = (*responses)[i];
  const auto range = op.find("response_range");
  if (range == op.end() || !range->is_object()) {
    return nullptr;
  }
  const auto kvs = range->find("kvs");
  if (kvs == range->end() || !kvs->is_array() || kvs->empty()) {
    return nullptr;
  }
  return &(*kvs)[0];
}

/// etcd's limits by default: 128 operations (--max-txn-ops, per branch) and 1.5 MiB a request
/// (--max-request-bytes, measured on the gRPC message, which is smaller than its JSON: raw
/// bytes instead of base64). A write within both goes as one transaction; a larger one is
/// staged in transactions of at most 127 puts (and the marker's) and 1 MiB of JSON.
constexpr std::size_t kMaxOps = 128;
constexpr std::size_t kMaxJson = std::size_t{1} << 20U;
constexpr std::size_t kPage = 10000;  // keys a range page (copying, deleting a generation)
/// A staging whose marker was not renewed for this long is a leftover (a killed mapctl):
/// the next staging removes it. Each chunk renews it.
constexpr std::int64_t kStagingLease = 120;
/// Switches that found another write, in a row, before an import gives up.
constexpr unsigned kMaxRestaging = 3;

/// The generation pointer, read with the revision of the read.
struct Pointer {
  std::string gen;
  std::uint64_t mod = 0;
  std::uint64_t revision = 0;
};

Pointer read_pointer(EtcdClient& c, const std::string& prefix) {
  const Json r = c.call("/v3/kv/range", {{"key", base64_encode(generation_key(prefix))}});
  Pointer p;
  p.revision = u64(r.value("header", Json::object()), "revision");
  const auto& kvs = r.value("kvs", Json::array());
  if (!kvs.empty()) {
    p.gen = decoded(kvs[0], "value");
    p.mod = u64(kvs[0], "mod_revision");
  }
  return p;
}

/// The newest mod_revision in [range) at `revision` (0: now); 0 when it is empty.
std::uint64_t newest(EtcdClient& c, const KeyRange& range, std::uint64_t revision) {
  Json req = {{"key", base64_encode(range.begin)},
              {"range_end", base64_encode(range.end)},
              {"limit", 1},
              {"sort_order", "DESCEND"},
              {"sort_target", "MOD"},
              {"keys_only", true}};
  if (revision != 0) {
    req["revision"] = std::to_string(revision);
  }
  const Json r = c.call("/v3/kv/range", req);
  const auto& kvs = r.value("kvs", Json::array());
  return kvs.empty() ? 0 : u64(kvs[0], "mod_revision");
}

/// Deletes every key of [range) in transactions of at most kPage keys each (one
/// delete_range a page, so no request and no raft entry grows with the store), then `also`
/// (a marker) if given.
void delete_in_pages(EtcdClient& c, const KeyRange& range, const std::string& also = {}) {
  for (;;) {
    const Json r = c.call("/v3/kv/range", {{"key", base64_encode(range.begin)},
                                           {"range_end", base64_encode(range.end)},
                                           {"limit", kPage},
                                           {"keys_only", true}});
    const auto& kvs = r.value("kvs", Json::array());
    if (kvs.empty()) {
      break;
    }
    const bool more = r.value("more", false);
    std::string end = more ? decoded(kvs.back(), "key") + '\0' : range.end;
    c.call("/v3/kv/txn", {{"success", Json::array({delete_op(range.begin, end)})}});
    if (!more) {
      break;
    }
  }
  if (!also.empty()) {
    c.call("/v3/kv/txn", {{"success", Json::array({delete_op(also)})}});
  }
}

std::string new_generation() {
  std::random_device rd;
  const std::uint64_t n = (std::uint64_t{rd()} << 32U) | rd();
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out(16, '0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = kHex[(n >> (60U - 4U * i)) & 15U];
  }
  return out;
}

/// A marker "staging DEADLINE" whose deadline passed.
bool lease_over(std::string_view value, std::int64_t now) {
  constexpr std::string_view kStaging = "staging ";
  if (!value.starts_with(kStaging)) {
    return false;
  }
  value.remove_prefix(kStaging.size());
  std::int64_t deadline = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), deadline);
  return ec == std::errc{} && deadline < now;
}

/// Removes what killed or failed stagings left behind: a generation whose marker says
/// "retired" (its data was being deleted) or "staging" past its lease, and the first
/// layout's keys once a generation is current. Each removal is conditional on the pointer
/// and the marker being as read, so the current generation and a live staging are never
/// touched.
void clean_leftovers(EtcdClient& c, const std::string& prefix, const Pointer& p) {
  const std::string markers = prefix + "_s/";
  const Json r = c.call("/v3/kv/range", {{"key", base64_encode(markers)},
                                         {"range_end", base64_encode(range_end(markers))}});
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  for (const auto& kv : r.value("kvs", Json::array())) {
    const std::string key = decoded(kv, "key");
    const std::string gen = key.substr(markers.size());
    const std::string value = decoded(kv, "value");
    if (gen.empty() || gen == p.gen || (value != "retired" && !lease_over(value, now))) {
      continue;
    }
    // The marker goes first, in the conditional transaction: a chunk of a staging that is
    // still running (its lease renewed meanwhile) fails from then on.
    const Json txn = {{"compare", Json::array({mod_equal(key, u64(kv, "mod_revision")),
                                               mod_equal(generation_key(prefix), p.mod)})},
                      {"success", Json::array({delete_op(key)})}};
    if (c.call("/v3/kv/txn", txn).value("succeeded", false)) {
      delete_in_pages(c, data_range(generation_root(prefix, gen)));
    }
  }
  if (!p.gen.empty() && newest(c, data_range(prefix), 0) != 0) {
    delete_in_pages(c, data_range(prefix));  // the first layout, left by a killed switch
  }
}

/// marker VERSION > 0: the marker exists (a removal as a leftover deletes it first).
Json marker_exists(const std::string& marker) {
  return {{"target", "VERSION"},
          {"key", base64_encode(marker)},
          {"result", "GREATER"},
          {"version", "0"}};
}

std::string staging_value() {
  return "staging " + std::to_string(static_cast<std::int64_t>(std::time(nullptr)) + kStagingLease);
}

/// A new generation being written: first its marker, then the puts in transactions within
/// etcd's default limits, kInFlight of them at a time on their own connections, each
/// renewing the marker and conditional on it still existing (a staging removed as a
/// leftover fails instead of writing on). The puts are of distinct keys and idempotent, so
/// their order does not matter and a retried one does no harm.
class Staging {
 public:
  Staging(EtcdClient& c, const std::string& prefix)
      : c_(c),
        gen_(new_generation()),
        root_(generation_root(prefix, gen_)),
        marker_(marker_key(prefix, gen_)) {
    const Json txn = {{"compare", Json::array({{{"target", "VERSION"},
                                                {"key", base64_encode(marker_)},
                                                {"result", "EQUAL"},
                                                {"version", "0"}}})},
                      {"success", Json::array({put_op(marker_, staging_value())})}};
    if (!c_.call("/v3/kv/txn", txn).value("succeeded", false)) {
      throw EtcdError(EtcdError::Kind::refused, "generation " + gen_ + " exists already");
    }
  }

  const std::string& gen() const noexcept { return gen_; }
  const std::string& root() const noexcept { return root_; }
  const std::string& marker() const noexcept { return marker_; }

  void put(const std::string& key, std::string_view value) {
    Json op = put_op(key, value);
    const std::size_t n = op.dump().size() + 1;
    if (ops_.size() + 1 >= kMaxOps || bytes_ + n > kMaxJson) {
      close_chunk();
    }
    ops_.push_back(std::move(op));
    bytes_ += n;
  }

  /// Sends what is left.
  void flush() {
    close_chunk();
    send();
  }

  /// Best effort: a failed staging's keys (else the next staging removes them), the marker
  /// first so that a chunk still in flight fails.
  void discard() noexcept {
    try {
      c_.call("/v3/kv/txn", {{"success", Json::array({delete_op(marker_)})}});
      delete_in_pages(c_, data_range(root_));
    } catch (const std::exception&) {
    }
  }

 private:
  static constexpr std::size_t kInFlight = 4;

  void close_chunk() {
    if (ops_.empty()) {
      return;
    }
    ops_.push_back(put_op(marker_, staging_value()));
    chunks_.push_back(
        {{"compare", Json::array({marker_exists(marker_)})}, {"success", std::move(ops_)}});
    ops_ = Json::array();
    bytes_ = 0;
    if (chunks_.size() == kInFlight) {
      send();
    }
  }

  /// The chunks gathered, in parallel; the first failure is thrown once all ended.
  void send() {
    std::vector<std::exception_ptr> errors(chunks_.size());
    std::vector<char> refused(chunks_.size(), 0);
    std::vector<std::thread> threads;
    threads.reserve(chunks_.size());
    for (std::size_t i = 0; i < chunks_.size(); ++i) {
      threads.emplace_back([&, i] {
        try {
          EtcdClient own(c_.options());
          refused[i] = own.call("/v3/kv/txn", chunks_[i]).value("succeeded", false) ? 0 : 1;
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    chunks_.clear();
    for (const auto& e : errors) {
      if (e) {
        std::rethrow_exception(e);
      }
    }
    if (std::find(refused.begin(), refused.end(), 1) != refused.end()) {
      throw EtcdError(EtcdError::Kind::refused,
                      "the import staged under " + root_ +
                          " was removed as a leftover while it was written (a pause of more "
                          "than " +
                          std::to_string(kStagingLease) + " s): nothing was applied");
    }
  }

  EtcdClient& c_;
  std::string gen_;
  std::string root_;
  std::string marker_;
  Json ops_ = Json::array();
  std::size_t bytes_ = 0;
  std::vector<Json> chunks_;
};

/// The source revision when the compare of a write failed: the newest of the pointer and
/// the current generation's values (responses 0 and 1 of the failure branch).
ReplicationResult behind(const Json& r, std::uint64_t replica_revision) {
  ReplicationResult out;
  out.applied = false;
  out.source_revision = replica_revision + 1;
  for (std::size_t i = 0; i < 2; ++i) {
    if (const Json* kv = txn_kv(r, i)) {
      out.source_revision = std::max(out.source_revision, u64(*kv, "mod_revision"));
    }
  }
  return out;
}

/// One etcd transaction: the values into the current generation if neither it nor the
/// pointer changed after the replica's revision.
ReplicationResult one_txn(EtcdClient& c, const std::string& prefix, std::uint64_t replica,
                          const Pointer& p, Json puts) {
  const KeyRange range = data_range(generation_root(prefix, p.gen));
  const std::string pointer = generation_key(prefix);
  const Json txn = {
      {"compare", Json::array({mod_below(pointer, replica + 1),
                               mod_below(range.begin, replica + 1, range.end)})},
      {"success", std::move(puts)},
      {"failure", Json::array({range_op(pointer), range_op(range.begin, range.end)})}};
  Json r;
  try {
    r = c.call("/v3/kv/txn", txn);
  } catch (const EtcdError& e) {
    // A cluster run with limits below etcd's defaults.
    const std::string what = e.what();
    if (what.find("too many operations") != std::string::npos) {
      throw EtcdError(e.kind(), what + " (etcd's --max-txn-ops is below its default of 128)");
    }
    if (what.find("too large") != std::string::npos) {
      throw EtcdError(e.kind(), what + " (etcd's --max-request-bytes is below its default)");
    }
    throw;
  }
  if (r.value("succeeded", false)) {
    return {};
  }
  return behind(r, replica);
}

/// The staged path: a new generation holding the current one's values at the pointer read's
/// revision with the writes over them, then one transaction that switches the pointer if
/// nothing changed under the current generation (nor the pointer) after the replica's
/// revision, and finally the old generation deleted.
ReplicationResult staged(EtcdClient& c, const std::string& prefix, std::uint64_t replica,
                         const Pointer& p, std::span<const RawWrite> writes) {
  const std::string old_root = generation_root(prefix, p.gen);
  const KeyRange old = data_range(old_root);
  if (const std::uint64_t n = newest(c, old, p.revision); n > replica) {
    ReplicationResult out;
    out.applied = false;
    out.source_revision = n;
    return out;  // the rules were checked against an old state: the store waits, then again
  }
  clean_leftovers(c, prefix, p);
  Staging s(c, prefix);
  try {
    // The writes, the last one of a key winning, then every other value of the current
    // generation, byte for byte.
    std::unordered_set<std::string> written;
    for (auto it = writes.rbegin(); it != writes.rend(); ++it) {
      std::string rel = etcd_key("", it->is_prefix, Bytes(it->key.data(), it->key.size()));
      if (written.insert(rel).second) {
        s.put(s.root() + rel, as_text(it->value));
      }
    }
    std::string from = old.begin;
    for (;;) {
      const Json r = c.call("/v3/kv/range", {{"key", base64_encode(from)},
                                             {"range_end", base64_encode(old.end)},
                                             {"limit", kPage},
                                             {"revision", std::to_string(p.revision)}});
      const auto& kvs = r.value("kvs", Json::array());
      for (const auto& kv : kvs) {
        const std::string key = decoded(kv, "key");
        if (std::string rel = key.substr(old_root.size()); !written.contains(rel)) {
          s.put(s.root() + rel, decoded(kv, "value"));
        }
      }
      if (!r.value("more", false) || kvs.empty()) {
        break;
      }
      from = decoded(kvs.back(), "key") + '\0';
    }
    s.flush();
  } catch (const EtcdError& e) {
    if (e.kind() != EtcdError::Kind::unreachable) {
      s.discard();  // unreachable: it would wait its own timeout; a later staging removes it
    }
    throw;
  } catch (...) {
    s.discard();
    throw;
  }
  const std::string pointer = generation_key(prefix);
  Json success = Json::array({put_op(pointer, s.gen()), delete_op(s.marker())});
  if (!p.gen.empty()) {
    success.push_back(put_op(marker_key(prefix, p.gen), "retired"));
  }
  const Json txn = {
      {"compare",
       Json::array({mod_below(pointer, replica + 1), mod_below(old.begin, replica + 1, old.end),
                    marker_exists(s.marker())})},
      {"success", std::move(success)},
      {"failure",
       Json::array({range_op(pointer), range_op(old.begin, old.end), range_op(s.marker())})}};
  Json r;
  try {
    r = c.call("/v3/kv/txn", txn);
  } catch (const EtcdError&) {
    // No answer: whether it switched, only the pointer tells. If it cannot be read either,
    // the staging stays, marked, for a later one to remove.
    bool switched = false;
    try {
      switched = read_pointer(c, prefix).gen == s.gen();
    } catch (const EtcdError& e) {
      throw EtcdError(EtcdError::Kind::unreachable,
                      std::string(e.what()) +
                          " (at the switch of the staged import: whether it was applied is "
                          "unknown; the import can simply run again)");
    }
    if (!switched) {
      s.discard();
      throw;
    }
    r = {{"succeeded", true}};
  }
  const Json* now = txn_kv(r, 0);
  if (r.value("succeeded", false) || (now != nullptr && decoded(*now, "value") == s.gen())) {
    // Switched (or our own switch, its answer lost and the call retried). The old generation
    // goes; a failure here leaves it for the next staging to remove.
    try {
      delete_in_pages(c, old, p.gen.empty() ? std::string() : marker_key(prefix, p.gen));
    } catch (const EtcdError&) {
    }
    return {};
  }
  const bool marker_gone = txn_kv(r, 2) == nullptr;
  s.discard();
  if (marker_gone) {
    throw EtcdError(EtcdError::Kind::refused,
                    "the import staged under " + s.root() +
                        " was removed as a leftover before the switch: nothing was applied");
  }
  return behind(r, replica);  // a write meanwhile: the store waits for it, then stages again
}

}  // namespace

Replication etcd_replication(std::shared_ptr<EtcdClient> client, std::string prefix) {
  return [client = std::move(client), prefix = std::move(prefix),
          restaged = std::make_shared<unsigned>(0)](std::uint64_t replica_revision,
                                                    std::span<const RawWrite> writes) {
    const Pointer p = read_pointer(*client, prefix);
    if (p.mod > replica_revision) {
      ReplicationResult out;
      out.applied = false;
      out.source_revision = p.mod;  // a generation switch the replica has not loaded yet
      return out;
    }
    if (writes.size() <= kMaxOps) {
      // One put a key, the last write of it (etcd refuses a txn that names a key twice: an
      // import that changes one address twice).
      const std::string root = generation_root(prefix, p.gen);
      Json puts = Json::array();
      std::unordered_set<std::string> seen;
      for (auto it = writes.rbegin(); it != writes.rend(); ++it) {
        std::string key = etcd_key(root, it->is_prefix, Bytes(it->key.data(), it->key.size()));
        if (seen.insert(key).second) {
          puts.push_back(put_op(key, as_text(it->value)));
        }
      }
      if (puts.dump().size() + 4096 <= kMaxJson) {
        return one_txn(*client, prefix, replica_revision, p, std::move(puts));
      }
    }
    // Other writes meanwhile make a switch fail, and the import is checked and staged
    // again; a bounded number of times, so that steady writes cannot keep it going forever.
    ReplicationResult r;
    try {
      r = staged(*client, prefix, replica_revision, p, writes);
    } catch (...) {
      *restaged = 0;
      throw;
    }
    if (r.applied) {
      *restaged = 0;
    } else if (++*restaged > kMaxRestaging) {
      *restaged = 0;
      throw EtcdError(EtcdError::Kind::refused,
                      "other writes reached etcd while the import was staged, " +
                          std::to_string(kMaxRestaging + 1) +
                          " times running: nothing was applied (run it again when writes pause)");
    }
    return r;
  };
}

}  // namespace amap::store::sync
