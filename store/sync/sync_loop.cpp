// SPDX-License-Identifier: MIT
#include "store/sync/sync_loop.h"

#include <algorithm>
#include <optional>

#include "store/sync/keys.h"
#include "store/writer.h"

namespace amap::store::sync {

using Clock = std::chrono::steady_clock;

struct SyncLoop::State {
  StoreOptions store;
  SyncOptions options;
  std::unique_ptr<EtcdClient> client;  // the sync thread's (made by the constructor)
  std::atomic<bool> stop{false};
  mutable std::mutex mu;
  SyncStatus status;                  // under mu (staleness computed in status())
  Clock::time_point current_since{};  // under mu: when it last was current (connected)
  std::string last_endpoint;          // sync thread only: the member watched last

  void log(bool error, const std::string& line) const {
    if (options.log) {
      options.log(error, line);
    }
  }
  template <class Fn>
  void update(Fn&& fn) {
    const std::lock_guard<std::mutex> lock(mu);
    fn(status);
  }
  void set_connected(bool c, const std::string& endpoint = {}) {
    const std::lock_guard<std::mutex> lock(mu);
    if (status.connected || c) {
      current_since = Clock::now();
    }
    status.connected = c;
    status.endpoint = endpoint;
  }
};

namespace {

std::uint64_t u64(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) {
    return 0;
  }
  const auto& v = j[key];
  return v.is_string() ? std::stoull(v.get<std::string>()) : v.get<std::uint64_t>();
}

Bytes as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// What a put did.
enum class Put : std::uint8_t { applied, bad, other };

/// Applies one kv (a put) of the generation under `root` in `txn`: `other` for a key that is
/// not one of its values (another generation's, a marker, another application's), `bad` for
/// one that does not decode.
Put put_kv(ReplicaTxn& txn, const std::string& root, const nlohmann::json& kv) {
  const auto key = base64_decode(kv.value("key", std::string()));
  if (!key) {
    return Put::bad;
  }
  const auto sk = parse_etcd_key(root, *key);
  if (!sk) {
    return Put::other;
  }
  const auto value = base64_decode(kv.value("value", std::string()));
  if (!value) {
    return Put::bad;
  }
  return txn.put(sk->is_prefix, Bytes(sk->key.data(), sk->key.size()), as_bytes(*value))
             ? Put::applied
             : Put::bad;
}

/// The generation pointer (store/sync/keys.h) at `revision` (0: now): its value, its
/// mod_revision and the revision read.
struct Generation {
  std::string gen;
  std::uint64_t mod = 0;
  std::uint64_t revision = 0;
};
Generation read_generation(SyncLoop::State& s, EtcdClient& client, std::uint64_t revision) {
  nlohmann::json req = {{"key", base64_encode(generation_key(s.options.prefix))}};
  if (revision != 0) {
    req["revision"] = std::to_string(revision);
  }
  const nlohmann::json r = client.call("/v3/kv/range", req, &s.stop);
  Generation g;
  g.revision = u64(r.value("header", nlohmann::json::object()), "revision");
  if (revision != 0) {
    g.revision = revision;
  }
  const auto& kvs = r.value("kvs", nlohmann::json::array());
  if (!kvs.empty()) {
    g.gen = base64_decode(kvs[0].value("value", std::string())).value_or(std::string());
    g.mod = u64(kvs[0], "mod_revision");
  }
  return g;
}

/// The current generation (its pointer read first), paged at the pointer read's revision
/// into one full ReplicaTxn. Returns the revision; `gen` is the generation loaded. Throws
/// EtcdError (compacted while paging: the caller starts again) or StoreError.
std::uint64_t full_load(SyncLoop::State& s, EtcdClient& client, OverrideStore& st,
                        std::string& gen) {
  const Generation g = read_generation(s, client, 0);
  const std::uint64_t revision = g.revision;
  const std::string root = generation_root(s.options.prefix, g.gen);
  const KeyRange range = data_range(root);
  const std::string end = base64_encode(range.end);
  ReplicaTxn txn(st, /*full=*/true);
  std::string from = range.begin;
  std::size_t keys = 0;
  std::size_t bad = 0;
  const auto t0 = Clock::now();
  for (;;) {
    const nlohmann::json req = {{"key", base64_encode(from)},
                                {"range_end", end},
                                {"limit", s.options.page},
                                {"revision", std::to_string(revision)}};
    const nlohmann::json r = client.call("/v3/kv/range", req, &s.stop);
    const auto& kvs = r.value("kvs", nlohmann::json::array());
    for (const auto& kv : kvs) {
      bad += put_kv(txn, root, kv) == Put::bad ? 1U : 0U;
    }
    keys += kvs.size();
    if (!r.value("more", false) || kvs.empty()) {
      break;
    }
    from = base64_decode(kvs.back().value("key", std::string())).value_or(std::string());
    from += '\0';  // the next key after the last one
  }
  txn.commit(revision);
  gen = g.gen;
  s.update([&](SyncStatus& x) {
    ++x.full_loads;
    x.bad_values += bad;
    x.revision = revision;
  });
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  s.log(false, "store sync: loaded " + std::to_string(keys) + " keys from etcd at revision " +
                   std::to_string(revision) +
                   (g.gen.empty() ? std::string() : " (generation " + g.gen + ")") + " in " +
                   std::to_string(ms) + " ms" +
                   (bad != 0 ? " (" + std::to_string(bad) + " undecodable values skipped)" : ""));
  return revision;
}

/// Why a watch ended without an error.
enum class WatchEnd : std::uint8_t { stopped, compacted, switched };

/// Watches from `revision` + 1 the values of generation `gen` until stop, compaction or a
/// generation switch (returns why), or an error (throws). Events of other keys under the
/// prefix (a staging, a retired generation being deleted) advance the reported revision but
/// change nothing, so they commit nothing either.
WatchEnd watch(SyncLoop::State& s, EtcdClient& client, OverrideStore& st, std::uint64_t revision,
               const std::string& gen, std::uint64_t& held) {
  const std::string& prefix = s.options.prefix;
  const std::string root = generation_root(prefix, gen);
  const std::string pointer = generation_key(prefix);
  const nlohmann::json create = {{"key", base64_encode(prefix)},
                                 {"range_end", base64_encode(range_end(prefix))},
                                 {"start_revision", std::to_string(revision + 1)}};
  EtcdWatch w(client, create, s.stop);
  for (const std::string& ep : w.no_leader()) {
    s.log(true,
          "store sync: etcd " + ep + " has no leader (cut off from the quorum?): passed over");
  }
  if (!w.no_leader().empty()) {
    s.update([&](SyncStatus& x) { x.no_leader += w.no_leader().size(); });
  }
  if (w.endpoint() != s.last_endpoint) {
    s.log(false, "store sync: watching etcd " + w.endpoint() + " from revision " +
                     std::to_string(revision + 1));
    s.last_endpoint = w.endpoint();
  }
  s.set_connected(true, w.endpoint());
  while (auto msg = w.next()) {
    if (const std::uint64_t c = u64(*msg, "compact_revision"); c != 0) {
      s.log(true, "store sync: etcd compacted past revision " + std::to_string(revision) +
                      " (compacted up to " + std::to_string(c) + "): full resync");
      return WatchEnd::compacted;
    }
    if (msg->value("canceled", false)) {
      throw EtcdError(EtcdError::Kind::refused,
                      "etcd canceled the watch: " + msg->value("cancel_reason", std::string()));
    }
    const auto& events = msg->value("events", nlohmann::json::array());
    if (events.empty()) {
      continue;  // created, progress
    }
    std::optional<ReplicaTxn> txn;
    std::size_t bad = 0;
    std::uint64_t seen = revision;
    for (const auto& ev : events) {
      const auto& kv = ev.value("kv", nlohmann::json::object());
      const std::uint64_t mod = u64(kv, "mod_revision");
      const bool del = ev.value("type", std::string("PUT")) == "DELETE";
      const auto key = base64_decode(kv.value("key", std::string()));
      if (key && *key == pointer) {
        const std::string now =
            del ? std::string()
                : base64_decode(kv.value("value", std::string())).value_or(std::string());
        if (now != gen) {
          // A staged import switched the generation: load it whole, in one transaction, as
          // after a compaction (what this message held before is in it too).
          s.log(false, "store sync: etcd switched to generation " +
                           (now.empty() ? std::string("\"\"") : now) + " at revision " +
                           std::to_string(mod) + ": full load");
          return WatchEnd::switched;
        }
        seen = std::max(seen, mod);
        continue;
      }
      const auto sk = key ? parse_etcd_key(root, *key) : std::nullopt;
      if (!sk) {
        seen = std::max(seen, mod);  // not a value of this generation
        continue;
      }
      if (!txn) {
        txn.emplace(st, /*full=*/false);
      }
      revision = std::max(revision, mod);
      if (del) {
        txn->erase(sk->is_prefix, Bytes(sk->key.data(), sk->key.size()));
      } else {
        const auto value = base64_decode(kv.value("value", std::string()));
        bad += value && txn->put(sk->is_prefix, Bytes(sk->key.data(), sk->key.size()),
                                 as_bytes(*value))
                   ? 0U
                   : 1U;
      }
    }
    if (txn) {
      revision = std::max(revision, seen);
      txn->commit(revision);
      held = revision;  // the store's revision, still within generation `gen`
    }
    s.update([&](SyncStatus& x) {
      x.batches += txn ? 1U : 0U;
      x.bad_values += bad;
      x.revision = std::max(revision, seen);
    });
  }
  return WatchEnd::stopped;
}

void run(SyncLoop::State& s) {
  std::unique_ptr<OverrideStore> st;
  EtcdClient& client = *s.client;
  std::chrono::milliseconds backoff(100);
  bool need_full = false;
  std::string gen;                 // the generation the store holds
  std::uint64_t gen_revision = 0;  // the store's revision when `gen` was known for it
  std::string last_logged;
  while (!s.stop.load()) {
    try {
      if (!st) {
        st = std::make_unique<OverrideStore>(s.store);
      }
      std::uint64_t revision = st->sync_revision();
      s.update([&](SyncStatus& x) { x.revision = std::max(x.revision, revision); });
      if (revision != 0 && !need_full && gen_revision != revision) {
        // A restart (or a reconnect after a commit): the generation the store holds is the
        // one the pointer named at its revision; moved since, the watch sees the switch.
        gen = read_generation(s, client, revision).gen;
        gen_revision = revision;
      }
      if (revision == 0 || need_full) {
        revision = full_load(s, client, *st, gen);
        gen_revision = revision;
        need_full = false;
      }
      backoff = std::chrono::milliseconds(100);
      if (!last_logged.empty()) {
        s.log(false, "store sync: etcd reachable again");
        last_logged.clear();
      }
      need_full = watch(s, client, *st, revision, gen, gen_revision) != WatchEnd::stopped;
      s.set_connected(false);
      continue;
    } catch (const std::exception& e) {
      s.set_connected(false);
      const auto* ee = dynamic_cast<const EtcdError*>(&e);
      need_full = need_full || (ee != nullptr && ee->kind() == EtcdError::Kind::compacted);
      // A member cut off from the quorum dropped the watch: the next one takes it (the next
      // EtcdWatch skips members without a leader).
      const bool no_leader = ee != nullptr && ee->kind() == EtcdError::Kind::no_leader;
      s.update([&](SyncStatus& x) {
        ++x.errors;
        x.no_leader += no_leader ? 1U : 0U;
        x.last_error = e.what();
      });
      if (s.stop.load()) {
        break;
      }
      if (last_logged != e.what()) {
        s.log(true, std::string("store sync: ") + e.what() + "; serving the store as of revision " +
                        std::to_string(s.status.revision) + ", retrying");
        last_logged = e.what();
      }
    }
    const auto until = Clock::now() + backoff;
    while (!s.stop.load() && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

}  // namespace

SyncLoop::SyncLoop(const StoreOptions& store, SyncOptions options)
    : state_(std::make_shared<State>()) {
  state_->store = store;
  state_->store.read_only = false;
  state_->options = std::move(options);
  state_->client = std::make_unique<EtcdClient>(state_->options.etcd);  // throws: bad TLS files
  state_->current_since = Clock::now();
  thread_ = std::thread([s = state_] { run(*s); });
}

SyncLoop::~SyncLoop() {
  state_->stop.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
}

SyncStatus SyncLoop::status() const {
  const std::lock_guard<std::mutex> lock(state_->mu);
  SyncStatus s = state_->status;
  if (!s.connected) {
    s.staleness_s = std::chrono::duration<double>(Clock::now() - state_->current_since).count();
  }
  s.degraded = s.staleness_s > static_cast<double>(state_->options.max_staleness.count());
  return s;
}

}  // namespace amap::store::sync
