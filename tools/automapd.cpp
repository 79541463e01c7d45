// SPDX-License-Identifier: MIT
// automapd: the auto-mapping appliance, a thin main on amap::run (backend/run.h), which owns
// the front-ends (serve, pipe), their signals, SIGHUP reload and systemd notify. Four jobs:
//   automapd serve    -c FILE [--listen ADDR:PORT]...   standalone UDP/TCP server
//   automapd pipe     -c FILE                            PowerDNS pipe coprocess
//   automapd checkconf -c FILE [--as-user USER]          validate the configuration (and, as
//                                                        USER, open the store as pipe would)
//   automapd sync     -c FILE                            store.sync.etcd's loop alone (for
//                                                        PowerDNS nodes: pipe, module)
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "automap/version.h"
#include "backend/http/http_server.h"
#include "backend/http/metrics.h"
#include "backend/pipe/counters.h"
#include "backend/run.h"
#include "mapper/app/log.h"
#include "mapper/dnssec/signer.h"
#include "mapper/engine/load.h"
#include "mapper/engine/mapper.h"
#include "store/bus_guard.h"
#include "store/reader.h"
#include "store/sync/sync_loop.h"
#include "store/verify.h"
#include "tools/api/api.h"
#include "tools/mapctl/ops.h"
#include "tools/unknown_verb.h"

namespace {

amap::server::TcpLimits tcp_limits(const amap::config::TcpConfig& c) {
  amap::server::TcpLimits t;
  t.max_connections = c.max_connections;
  t.max_connections_per_client = c.max_connections_per_client;
  t.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
  t.busy_idle_timeout = std::chrono::milliseconds(c.busy_idle_timeout_ms);
  t.io_timeout = std::chrono::milliseconds(c.io_timeout_ms);
  return t;
}

amap::log::Level log_level(amap::config::LogLevel l) {
  switch (l) {
    case amap::config::LogLevel::debug:
      return amap::log::Level::debug;
    case amap::config::LogLevel::info:
      return amap::log::Level::info;
    case amap::config::LogLevel::notice:
      return amap::log::Level::notice;
    case amap::config::LogLevel::warning:
      return amap::log::Level::warning;
    case amap::config::LogLevel::error:
      return amap::log::Level::error;
  }
  return amap::log::Level::info;
}

/// Loads and checks the configuration (load_and_build); on errors logs every one
/// (file:line:col: path: message) through `report` and returns nullptr.
template <class Report>
std::shared_ptr<const amap::mapper::Mapper> load(const std::string& file, bool open_store,
                                                 Report&& report, bool writable_with_api = false) {
  amap::mapper::LoadAndBuildOptions options;
  if (open_store) {
    // The servers only read the store, but create it on first start so that they can open
    // it; they live long: keep the address filter so override misses skip LMDB.
    options.store = amap::mapper::LoadAndBuildOptions::Store::create;
    options.address_filter = true;
    // A stop signal during the creation waits for it: no half-created store is left.
    options.guard_store_creation = [] { return std::make_shared<amap::StartupCritical>(); };
    // serve with the HTTP API: its writer shares this process's one store environment.
    options.writable_with_api = writable_with_api;
  }
  amap::config::Diagnostics diagnostics;
  auto mapper = amap::mapper::load_and_build(file, options, diagnostics);
  if (!mapper) {
    diagnostics.print(report);
  }
  return mapper;
}

/// The store the configuration loaded last names (for /health and /metrics; a reload may
/// change it). Read on the HTTP thread only, written by the loader.
struct Monitored {
  std::mutex mu;
  std::string store_path;  // empty: no store
  /// The mapper served (its app owns it): the address filter's count, the reader table, and
  /// the store the API (tools/api) writes through.
  std::weak_ptr<const amap::mapper::Mapper> mapper;
  /// store.sync.etcd's loop, started with the listeners (serve only; kept across reloads).
  std::shared_ptr<amap::store::sync::SyncLoop> sync;
};
Monitored& monitored() {
  static Monitored m;
  return m;
}

/// The store's state from data.mdb's meta pages (pread, nothing mapped): the same check a
/// server makes before it maps the file. Empty `why`: readable.
struct StoreState {
  bool present = false;
  std::string why;
  amap::store::DataFile file;
};
StoreState store_state() {
  StoreState s;
  {
    const std::lock_guard<std::mutex> lock(monitored().mu);
    if (monitored().store_path.empty()) {
      return s;
    }
    s.file.path = monitored().store_path + "/data.mdb";
  }
  s.present = true;
  try {
    s.file = amap::store::check_data_file(s.file.path);
  } catch (const std::exception& e) {
    s.why = e.what();
  }
  return s;
}

std::shared_ptr<amap::store::sync::SyncLoop> sync_loop() {
  const std::lock_guard<std::mutex> lock(monitored().mu);
  return monitored().sync;
}

/// store.sync.etcd's files readable and its TLS settings loadable (each error logged through
/// `out`, file:line for the files): false when the sync loop could not start.
bool check_etcd(const amap::config::Config& c, const std::function<void(const std::string&)>& out) {
  if (!c.store.etcd.present) {
    return true;
  }
  amap::config::Diagnostics files;
  amap::config::check_etcd_files(c, files);
  if (!files.ok()) {
    files.print(out);
    return false;
  }
  try {
    amap::store::sync::EtcdClient probe(
        amap::mapctl::etcd_options(c.store.etcd));  // loads the TLS files
  } catch (const std::exception& e) {
    out(c.file + ":" + std::to_string(c.store.etcd.mark.line) + ": store.sync.etcd: " + e.what());
    return false;
  }
  return true;
}

/// store.sync.etcd: the loop that keeps the store equal to etcd, on its own thread.
std::shared_ptr<amap::store::sync::SyncLoop> start_sync(const amap::config::StoreConfig& c) {
  amap::store::StoreOptions so;
  so.path = c.path;
  so.map_size = c.map_size;
  so.max_readers = c.max_readers;
  amap::store::sync::SyncOptions o;
  o.etcd = amap::mapctl::etcd_options(c.etcd);
  o.prefix = c.etcd.prefix;
  o.max_staleness = std::chrono::seconds(c.etcd.max_staleness_s);
  o.log = [](bool error, const std::string& line) {
    if (error) {
      amap::log::warning(line);
    } else {
      amap::log::info(line);
    }
  };
  return std::make_shared<amap::store::sync::SyncLoop>(so, std::move(o));
}

/// The sync loop's families (only with store.sync).
void write_sync_metrics(amap::http::Exposition& out, const amap::store::sync::SyncStatus& s) {
  out.family("automap_sync_up", "gauge", "1 while a watch on etcd streams: the store is current.");
  out.sample("automap_sync_up", "", std::uint64_t{s.connected ? 1U : 0U});
  out.family("automap_sync_revision", "gauge", "The etcd revision the store holds.");
  out.sample("automap_sync_revision", "", s.revision);
  out.family("automap_sync_staleness_seconds", "gauge",
             "0 while current; else seconds since the store was last known current.");
  out.sample("automap_sync_staleness_seconds", "", s.staleness_s);
  out.family("automap_sync_full_loads_total", "counter",
             "Full loads from etcd (a new store, or etcd compacted past its revision).");
  out.sample("automap_sync_full_loads_total", "", s.full_loads);
  out.family("automap_sync_batches_total", "counter", "Watch messages applied to the store.");
  out.sample("automap_sync_batches_total", "", s.batches);
  out.family("automap_sync_errors_total", "counter",
             "Failed connections, broken watch streams and failed store writes.");
  out.sample("automap_sync_errors_total", "", s.errors);
  out.family("automap_sync_bad_values_total", "counter",
             "etcd values that did not decode as overrides (skipped).");
  out.sample("automap_sync_bad_values_total", "", s.bad_values);
  out.family("automap_sync_no_leader_total", "counter",
             "etcd members passed over for the watch as they had no leader (cut off from the "
             "quorum); the loop watches another member.");
  out.sample("automap_sync_no_leader_total", "", s.no_leader);
}

/// The pipe coprocesses' lines (pipe.counters_dir): the sum over the live ones' files.
void write_pipe_metrics(amap::http::Exposition& out, const amap::pipe::CounterTotals& t) {
  out.family("automap_pipe_processes", "gauge",
             "Live `automapd pipe` coprocesses with a counter file in pipe.counters_dir.");
  out.sample("automap_pipe_processes", "", t.processes);
  out.family("automap_pipe_lines_total", "counter",
             "Lines from PowerDNS to the live pipe coprocesses, by verb (bad: answered LOG + "
             "FAIL). A coprocess that ends takes its share with it, as a restarted process does.");
  for (std::size_t i = 0; i < amap::pipe::kVerbCount; ++i) {
    out.sample("automap_pipe_lines_total",
               "verb=\"" + std::string(amap::pipe::kVerbNames[i]) + "\"", t.lines[i]);
  }
}

/// The HTTP listener: /metrics, /health and the API of `serve` (`server`), or /metrics and
/// /health of `automapd sync` (no server: the store and the sync loop only, no API).
/// `counters_dir`: pipe.counters_dir, whose coprocess files /metrics sums (empty: none).
std::shared_ptr<void> start_http(const amap::config::HttpConfig& config,
                                 const std::string& config_file, amap::server::Server* server,
                                 const std::string& counters_dir) {
  amap::http::Routes routes;
  routes["/metrics"] = [server, counters_dir] {
    amap::http::Exposition out;
    if (server != nullptr) {
      amap::http::write_server_metrics(out, server->counters(), server->generation());
    }
    const StoreState st = store_state();
    if (st.present) {
      out.family("automap_store_up", "gauge",
                 "1 when data.mdb's meta pages are readable and consistent with the file.");
      out.sample("automap_store_up", "", std::uint64_t{st.why.empty() ? 1U : 0U});
      if (st.why.empty()) {
        out.family("automap_store_map_size_bytes", "gauge", "The store's LMDB map size.");
        out.sample("automap_store_map_size_bytes", "", st.file.current().map_size);
        out.family("automap_store_used_bytes", "gauge",
                   "Bytes the newest snapshot of the store uses (last page + 1, in pages).");
        out.sample("automap_store_used_bytes", "", st.file.used_bytes());
        out.family("automap_store_last_txn_id", "gauge",
                   "The id of the store's last committed write transaction.");
        out.sample("automap_store_last_txn_id", "", st.file.current().txn_id);
      }
      std::shared_ptr<const amap::mapper::Mapper> mapper;
      {
        const std::lock_guard<std::mutex> lock(monitored().mu);
        mapper = monitored().mapper.lock();
      }
      if (mapper) {
        // Kept in the store's meta by every write (no scan per scrape), read by the filter
        // keeper at each commit it sees.
        if (const auto counts = mapper->store_counts()) {
          out.family("automap_store_overrides", "gauge",
                     "Live overrides in the store, by kind (address or prefix).");
          out.sample("automap_store_overrides", "kind=\"address\"", counts->addresses);
          out.sample("automap_store_overrides", "kind=\"prefix\"", counts->prefixes);
          out.family("automap_store_tombstones", "gauge",
                     "Deleted-entry markers kept for replication peers (addresses, prefixes, "
                     "names); `mapctl compact` purges those older than "
                     "store.tombstone_retention.");
          out.sample("automap_store_tombstones", "", counts->tombstones());
        }
        if (const auto slots = mapper->reader_slots(); slots.max != 0) {
          out.family("automap_store_reader_slots", "gauge",
                     "LMDB reader slots of the store: used (owned by a process now, counted "
                     "every second) and max (store.max_readers).");
          out.sample("automap_store_reader_slots", "state=\"used\"", std::uint64_t{slots.used});
          out.sample("automap_store_reader_slots", "state=\"max\"", std::uint64_t{slots.max});
        }
      }
    }
    if (const auto sync = sync_loop()) {
      write_sync_metrics(out, sync->status());
    }
    if (!counters_dir.empty()) {
      write_pipe_metrics(out, amap::pipe::sum_counter_files(counters_dir));
    }
    amap::http::write_process_metrics(
        out, std::string(amap::kVersion) + " (git " + amap::kGitDescribe + ")");
    return amap::http::Response{200, "text/plain; version=0.0.4; charset=utf-8", out.take(), {}};
  };
  routes["/health"] = [server] {
    std::string why;
    if (server != nullptr && server->stopped()) {
      why = "the DNS listeners are closed";
    } else if (server != nullptr && server->local_endpoints().empty()) {
      why = "no DNS listener is bound";
    } else if (const StoreState st = store_state(); st.present && !st.why.empty()) {
      why = "store unreadable: " + st.why;
    }
    if (why.empty()) {
      if (const auto sync = sync_loop()) {
        // Still answering from the last applied state: degraded, not down (200).
        if (const auto s = sync->status(); s.degraded) {
          return amap::http::Response{
              200,
              "application/json",
              nlohmann::ordered_json{
                  {"status", "degraded"},
                  {"reason", "the store is " + std::to_string(static_cast<long>(s.staleness_s)) +
                                 " s stale (etcd revision " + std::to_string(s.revision) +
                                 "): " + s.last_error}}
                      .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
                  "\n",
              {}};
        }
      }
      return amap::http::Response{200, "application/json", "{\"status\":\"ok\"}\n", {}};
    }
    return amap::http::Response{
        503,
        "application/json",
        nlohmann::ordered_json{{"status", "unavailable"}, {"reason", why}}.dump(
            -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
            "\n",
        {}};
  };
  // /api/v1/...: answered on this same HTTP thread; off (404) without http.api_keys_file.
  auto api = std::make_shared<amap::api::Api>(
      [] {
        const std::lock_guard<std::mutex> lock(monitored().mu);
        return monitored().mapper.lock();
      },
      config_file);
  amap::http::Limits limits;
  limits.max_body_bytes = static_cast<std::size_t>(config.max_body);
  limits.timeout = std::chrono::seconds(config.timeout_s);
  if (server == nullptr) {
    return std::make_shared<amap::http::HttpServer>(config.listen, std::move(routes), limits);
  }
  return std::make_shared<amap::http::HttpServer>(
      config.listen, std::move(routes), limits,
      [api](const amap::http::Request& r) { return api->handle(r); });
}

/// dnssec.enabled: the keys of dnssec.keys, or nullopt after reporting (as
/// "file:line:col: dnssec.keys: what is wrong") why they cannot be used: a zone that should be
/// signed is never served unsigned.
template <class Report>
std::optional<std::vector<amap::dnssec::Key>> load_keys(const amap::config::Config& c,
                                                        Report&& report) {
  try {
    auto keys = amap::dnssec::load_keys(c.dnssec.keys);
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    if (std::none_of(keys.begin(), keys.end(),
                     [&](const amap::dnssec::Key& k) { return k.timing.active(now); })) {
      throw std::runtime_error(c.dnssec.keys + ": no key is active now (mapctl key list)");
    }
    return keys;
  } catch (const std::exception& e) {
    amap::config::Diagnostic d{c.file, c.dnssec.mark, "dnssec.keys", e.what(),
                               amap::config::Severity::error};
    report(d.to_string());
    return std::nullopt;
  }
}

/// `serve` and `pipe` (at start and on SIGHUP): the mapper's app and the server settings of
/// the configuration.
amap::Loaded load_service(const std::string& config, const amap::LoadContext& context) {
  auto mapper = load(
      config, /*open_store=*/true, [](const std::string& line) { amap::log::error(line); },
      /*writable_with_api=*/context.front == amap::Front::serve);
  if (!mapper) {
    if (!context.reload) {
      amap::log::error("configuration rejected: " + config);
    }
    return {};
  }
  if (context.reload) {
    amap::log::info("loaded " + config);
  } else if (context.front == amap::Front::serve &&
             !check_etcd(mapper->config(),
                         [](const std::string& line) { amap::log::error(line); })) {
    amap::log::error("configuration rejected: " + config);
    return {};
  }
  auto app = std::make_shared<amap::app::App>();
  amap::mapper::Mapper::install(mapper, *app);
  const amap::config::Config& c = mapper->config();
  // Online signing is the standalone server's (PowerDNS signs what a pipe backend gives it).
  if (context.front == amap::Front::serve && c.dnssec.present && c.dnssec.enabled) {
    auto keys = load_keys(c, [](const std::string& line) { amap::log::error(line); });
    if (!keys) {
      if (!context.reload) {
        amap::log::error("configuration rejected: " + config);
      }
      return {};
    }
    amap::dnssec::SignerOptions so;
    so.validity = c.dnssec.validity;
    so.inception_offset = c.dnssec.inception_offset;
    so.cache_entries = c.dnssec.cache_entries;
    try {
      amap::dnssec::Signer::install(*app, std::move(*keys), std::move(so));
    } catch (const std::exception& e) {
      amap::log::error(c.file + ": dnssec.keys: " + e.what());
      return {};
    }
  }
  amap::Loaded l;
  l.app = std::move(app);
  l.listen = c.listen;
  l.tcp = tcp_limits(c.tcp);
  l.user = c.user;
  l.group = c.group;
  l.serial = c.soa.soa.serial;  // derived from the config and the store (mapper/config README)
  amap::log::set_level(log_level(c.log_level));
  // Every thread that queries the store holds a reader slot; take them all now, so that other
  // processes filling the reader table can never make a running server fail (issue 17.8).
  l.reserve = [mapper](unsigned threads) {
    try {
      mapper->reserve_store_readers(threads + 1);  // and the filter keeper
      return true;
    } catch (const std::exception& e) {
      amap::log::error(e.what());
      return false;
    }
  };
  if (context.front == amap::Front::serve) {
    const std::lock_guard<std::mutex> lock(monitored().mu);
    monitored().store_path = c.store.present ? c.store.path : std::string();
    monitored().mapper = mapper;
  }
  l.pipe_counters_dir = c.pipe_counters_dir;
  l.start_options = [mapper, config](amap::server::ServeOptions& options) {
    const amap::config::HttpConfig& h = mapper->config().http;
    const std::string pipe_dir = mapper->config().pipe_counters_dir;
    const amap::config::StoreConfig& sc = mapper->config().store;
    if (!h.listen.empty() || sc.etcd.present) {
      options.attach = [h, sc, config, pipe_dir](amap::server::Server& server) {
        // The sync loop first: /health and /metrics report it from the first scrape.
        if (sc.etcd.present) {
          auto sync = start_sync(sc);
          const std::lock_guard<std::mutex> lock(monitored().mu);
          monitored().sync = std::move(sync);
        }
        std::shared_ptr<void> http =
            h.listen.empty() ? nullptr : start_http(h, config, &server, pipe_dir);
        return std::shared_ptr<void>(nullptr, [http](void*) mutable {
          http.reset();
          std::shared_ptr<amap::store::sync::SyncLoop> sync;
          {
            const std::lock_guard<std::mutex> lock(monitored().mu);
            sync = std::move(monitored().sync);
          }
          sync.reset();  // stops and joins the loop
        });
      };
    }
    const amap::config::IdentityConfig& id = mapper->config().identity;
    options.policy.nsid = id.nsid;
    options.policy.server_id = id.id;
    options.policy.version = id.version;
    if (const amap::config::RrlConfig& r = mapper->config().rrl; r.present) {
      options.rrl.enabled = true;
      options.rrl.responses_per_second = r.responses_per_second;
      options.rrl.slip = r.slip;
      options.rrl.ipv4_prefix = r.ipv4_prefix;
      options.rrl.ipv6_prefix = r.ipv6_prefix;
      options.rrl.whitelist = r.whitelist;
      options.rrl.table_size = r.table_size;
    }
    if (const amap::config::CookiesConfig& k = mapper->config().cookies; k.present && k.enabled) {
      options.cookies.enabled = true;
      options.cookies.rotate_seconds = k.rotate;
      try {
        options.cookies.secret = k.secret_file.empty()
                                     ? amap::server::random_cookie_secret()
                                     : amap::server::read_cookie_secret(k.secret_file);
      } catch (const std::exception& e) {
        amap::log::error(config + ": " + e.what());
        return false;
      }
    }
    return true;
  };
  return l;
}

/// checkconf --as-user: in a child that drops to `user` (its groups too, as pdns_server's
/// coprocess runs), opens the store read-only and takes a snapshot, as `automapd pipe` does.
/// Prints what is wrong (the file, its owner and mode, the missing access) and returns 1.
int check_store_as(const std::string& user, const amap::config::Config& c) {
  if (!c.store.present) {
    std::printf("store: none configured: nothing to open as %s\n", user.c_str());
    return 0;
  }
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) {
    std::fprintf(stderr, "automapd checkconf: --as-user %s: no such user\n", user.c_str());
    return 1;
  }
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  if (::geteuid() != 0 && ::geteuid() != uid) {
    std::fprintf(stderr, "automapd checkconf: --as-user %s needs root (to switch users)\n",
                 user.c_str());
    return 1;
  }
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "automapd checkconf: fork: %s\n", std::strerror(errno));
    return 1;
  }
  if (pid == 0) {
    if (::geteuid() == 0 &&
        (::initgroups(user.c_str(), gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) {
      std::fprintf(stderr, "automapd checkconf: cannot become %s: %s\n", user.c_str(),
                   std::strerror(errno));
      std::_Exit(1);
    }
    try {
      auto reader = amap::store::OverrideReader::open(c.store.path, c.store.max_readers);
      reader.begin();
      reader.end();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "automapd checkconf: as user %s: %s\n", user.c_str(), e.what());
      std::fflush(stderr);
      std::_Exit(1);
    }
    std::printf("store %s: ok: user %s can open it read-only (r on data.mdb, rw on lock.mdb)\n",
                c.store.path.c_str(), user.c_str());
    std::fflush(stdout);
    std::_Exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/// checkconf: the mapper only, no store and no app (declaring the zones checks nothing more,
/// and their table would be the largest part of the peak memory, 400 bytes a zone); with
/// --as-user, the store too, as that user.
int checkconf(const std::string& config, const std::string& as_user) {
  auto mapper = load(config, /*open_store=*/false,
                     [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
  if (!mapper) {
    return 1;
  }
  if (const amap::config::Config& c = mapper->config();
      c.dnssec.present && c.dnssec.enabled &&
      !load_keys(c, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); })) {
    return 1;
  }
  if (!check_etcd(mapper->config(),
                  [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); })) {
    return 1;
  }
  std::printf(
      "%s: ok: %zu prefixes, %zu forward zones, %zu reverse zones, store: %s\n", config.c_str(),
      mapper->rules().size(), mapper->forward_zones().size(), mapper->reverse_zone_count(),
      mapper->config().store.present ? mapper->config().store.path.c_str() : "none (no overrides)");
  if (!as_user.empty()) {
    return check_store_as(as_user, mapper->config());
  }
  return 0;
}

/// `automapd sync`: the sync loop of store.sync.etcd alone (and http's /metrics and /health),
/// for nodes that answer through PowerDNS: its pipe coprocesses (one per PowerDNS thread) and
/// the module read the store this process keeps. Runs until SIGTERM or SIGINT.
int sync_only(const std::string& config) {
  const auto to_log = [](const std::string& line) { amap::log::error(line); };
  // Blocked before any thread starts, so that every thread inherits the mask and only
  // sigwait below takes them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto mapper = load(config, /*open_store=*/false, to_log);
  if (!mapper) {
    amap::log::error("configuration rejected: " + config);
    return 1;
  }
  const amap::config::Config& c = mapper->config();
  if (!c.store.etcd.present) {
    amap::log::error(config + ": automapd sync needs store.sync.etcd (the etcd cluster to " +
                     "follow); without it there is nothing to sync");
    return 1;
  }
  if (!check_etcd(c, to_log)) {
    amap::log::error("configuration rejected: " + config);
    return 1;
  }
  std::shared_ptr<void> http;
  try {
    auto sync = start_sync(c.store);
    {
      const std::lock_guard<std::mutex> lock(monitored().mu);
      monitored().store_path = c.store.path;
      monitored().sync = std::move(sync);
    }
    if (!c.http.listen.empty()) {
      http = start_http(c.http, config, nullptr, c.pipe_counters_dir);
    }
  } catch (const std::exception& e) {
    amap::log::error(e.what());
    return 1;
  }
  amap::log::info("syncing " + c.store.path + " from etcd (" +
                  std::to_string(c.store.etcd.endpoints.size()) + " members)");
  int sig = 0;
  sigwait(&stop_signals, &sig);
  amap::log::info(std::string("stopping on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
  http.reset();
  std::shared_ptr<amap::store::sync::SyncLoop> sync;
  {
    const std::lock_guard<std::mutex> lock(monitored().mu);
    sync = std::move(monitored().sync);
  }
  sync.reset();  // stops and joins the loop
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  amap::store::install_bus_guard("automapd");
  std::string config = "/etc/automap/automap.yaml";
  amap::Service service;
  service.name = "automapd";
  service.description = "automapd: synthesized PTR, A and AAAA for ISP address space";
  service.version = std::string("automapd ") + amap::kVersion + " (git " + amap::kGitDescribe + ")";
  std::string as_user;
  service.options = [&config, &as_user](CLI::App& verb) {
    verb.add_option("-c,--config", config, "YAML configuration")->capture_default_str();
    if (verb.get_name() == "checkconf") {
      verb.add_option("--as-user", as_user,
                      "Also open the store read-only as USER (root only), as `automapd pipe` "
                      "under pdns_server would, and say what is wrong");
    }
  };
  service.verbs.push_back({"checkconf", "Validate the configuration and exit",
                           [&config, &as_user] { return checkconf(config, as_user); }});
  service.verbs.push_back(
      {"sync",
       "Keep the store equal to etcd (store.sync.etcd) and serve http's /metrics and /health, "
       "nothing else: for PowerDNS nodes (pipe, module), which read that store",
       [&config] { return sync_only(config); }});
  service.listen_help = "ADDR:PORT to listen on (repeatable; replaces the config's listen:)";
  service.load = [&config](const amap::LoadContext& context) {
    return load_service(config, context);
  };
  // PowerDNS only logs the banner ("Backend launched with banner: ..."): one line, no tab.
  service.pipe.banner = std::string("automap pipe backend ") + amap::kVersion;
  service.unknown_verb = [](CLI::App& cli) {
    return amap::tools::report_unknown_verb(cli, "automapd");
  };
  return amap::run(argc, argv, service);
}
