// SPDX-License-Identifier: MIT
// automapd: the auto-mapping appliance. One binary, three jobs:
//   automapd serve    -c FILE [--listen ADDR:PORT]...   standalone UDP/TCP server
//   automapd pipe     -c FILE                            PowerDNS pipe coprocess
//   automapd checkconf -c FILE                           validate the configuration only
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "automap/version.h"
#include "backend/pipe/serve.h"
#include "backend/pipe/session.h"
#include "backend/server/server.h"
#include "mapper/app/log.h"
#include "mapper/engine/mapper.h"
#include "store/lmdb.h"
#include "store/overrides.h"
#include "tools/unknown_verb.h"

namespace {

// Start-up of `serve`: until serve() puts its own handlers in place, SIGINT/SIGTERM end the
// process at once with exit 0, as they would a moment later (the config can take seconds to
// load). Creating a new store defers them until it is done, so no half-created store is left.
// SIGHUP is ignored then: the file is being read already.
std::atomic<int> startup_critical{0};
std::atomic<int> startup_pending_signal{0};

void write_stderr(const char* text) noexcept {
  // Async-signal-safe: write(2) only.
  const std::size_t len = std::strlen(text);
  [[maybe_unused]] const ssize_t ignored = ::write(STDERR_FILENO, text, len);
}

[[noreturn]] void exit_during_startup(int sig) noexcept {
  write_stderr(sig == SIGINT ? "automapd: info: stopping on SIGINT during start-up\n"
                             : "automapd: info: stopping on SIGTERM during start-up\n");
  ::_exit(0);
}

extern "C" void on_startup_signal(int sig) {
  if (sig == SIGHUP) {
    write_stderr("automapd: info: SIGHUP during start-up: ignored (the config is being loaded)\n");
    return;
  }
  if (startup_critical.load() != 0) {
    startup_pending_signal.store(sig);
    return;
  }
  exit_during_startup(sig);
}

void handle_startup_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_startup_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    ::sigaction(sig, &sa, nullptr);
  }
}

/// Defers the start-up stop (above) for its lifetime.
struct StartupCritical {
  StartupCritical() { startup_critical.fetch_add(1); }
  ~StartupCritical() {
    if (startup_critical.fetch_sub(1) == 1 && startup_pending_signal.load() != 0) {
      exit_during_startup(startup_pending_signal.load());
    }
  }
  StartupCritical(const StartupCritical&) = delete;
  StartupCritical& operator=(const StartupCritical&) = delete;
};

/// Where `serve` listens when neither --listen nor the config's `listen:` says.
std::vector<std::string> default_listen() {
  return {"127.0.0.1:5353", "[::1]:5353"};
}

amap::server::TcpLimits tcp_limits(const amap::config::TcpConfig& c) {
  amap::server::TcpLimits t;
  t.max_connections = c.max_connections;
  t.max_connections_per_client = c.max_connections_per_client;
  t.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
  t.busy_idle_timeout = std::chrono::milliseconds(c.busy_idle_timeout_ms);
  t.io_timeout = std::chrono::milliseconds(c.io_timeout_ms);
  return t;
}

struct Loaded {
  std::shared_ptr<const amap::mapper::Mapper> mapper;
  std::shared_ptr<const amap::app::App> app;
};

/// The servers only read the store, but create it on first start so that they can open it.
/// Read-only first: in a running server (SIGHUP) the per-process registry already holds this
/// environment read-only and hands the same one back, where a read-write open is refused (LMDB
/// allows one environment per path and process). Only a store that is missing (no directory,
/// no data.mdb) or was never initialised (no databases) is created; any other failure is
/// reported as it is, never papered over by creating a new store.
std::shared_ptr<amap::store::OverrideDb> open_or_create_store(const amap::config::StoreConfig& c) {
  amap::store::StoreOptions options;
  options.path = c.path;
  options.map_size = c.map_size;
  options.max_readers = c.max_readers;
  // Servers read every page: walk them all before mapping, so a damaged file is refused here.
  options.verify_pages = true;
  options.read_only = true;
  try {
    return amap::store::OverrideDb::open(options);
  } catch (const amap::store::StoreError& e) {
    if (e.code() != ENOENT && e.code() != MDB_NOTFOUND) {
      throw;
    }
  }
  options.read_only = false;
  {
    const StartupCritical no_stop_while_creating;
    amap::store::OverrideStore create(options);  // closed again: the servers open it read-only
  }
  options.read_only = true;
  return amap::store::OverrideDb::open(options);
}

/// Loads and checks the configuration; on errors prints every one (file:line:col: path:
/// message) through `report` and returns an empty result. Without `make_app` (checkconf) the
/// app is not made: declaring the zones checks nothing more, and their table would be the
/// largest part of the peak memory (400 bytes a zone).
template <class Report>
Loaded load(const std::string& file, bool open_store, Report&& report, bool make_app = true) {
  // Templates compile while the file is still being parsed; build takes them.
  amap::mapper::TemplateCompiler templates(amap::mapper::TemplateCompiler::Prefixes::taken);
  auto loaded = amap::config::load_file(file, templates.load_options());
  std::vector<amap::config::Error> errors = std::move(loaded.errors);
  std::shared_ptr<const amap::mapper::Mapper> mapper;
  // Held until the mapper is built, which then gets this very environment from the registry.
  std::shared_ptr<amap::store::OverrideDb> store;
  if (errors.empty() && open_store && loaded.config.store.present) {
    try {
      store = open_or_create_store(loaded.config.store);
    } catch (const std::exception& e) {
      errors.push_back(amap::config::Error{file, loaded.config.store.mark, "store.path", e.what()});
    }
  }
  {
    // Built even after errors above: its own (templates) come out in the same run.
    amap::mapper::Mapper::BuildOptions options;
    options.open_store = open_store && errors.empty();
    // Only the servers (pipe, serve) open the store, and they live long: keep the address
    // filter so override misses skip LMDB.
    options.address_filter = options.open_store;
    options.templates = &templates;
    mapper = amap::mapper::Mapper::build(std::move(loaded.config), errors, options);
  }
  if (!errors.empty()) {
    for (const auto& e : errors) {
      report(e.to_string());
    }
    return {};
  }
  if (!make_app) {
    return {mapper, nullptr};
  }
  auto app = std::make_shared<amap::app::App>();
  amap::mapper::Mapper::install(mapper, *app);
  return {mapper, std::move(app)};
}

void print_error(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"automapd: synthesized PTR, A and AAAA for ISP address space"};
  cli.require_subcommand(1);
  cli.set_version_flag(
      "--version", std::string("automapd ") + amap::kVersion + " (git " + amap::kGitDescribe + ")");
  std::string config = "/etc/automap/automap.yaml";

  auto* check = cli.add_subcommand("checkconf", "Validate the configuration and exit");
  check->add_option("-c,--config", config, "YAML configuration")->capture_default_str();

  auto* pipe = cli.add_subcommand("pipe", "Serve as a PowerDNS pipe backend coprocess");
  pipe->add_option("-c,--config", config, "YAML configuration")->capture_default_str();

  auto* serve = cli.add_subcommand("serve", "Serve DNS over UDP and TCP");
  serve->add_option("-c,--config", config, "YAML configuration")->capture_default_str();
  std::vector<std::string> listen;
  serve->add_option("--listen", listen,
                    "ADDR:PORT to listen on (repeatable; replaces the config's listen:)");
  unsigned threads = 0;
  serve->add_option("--threads", threads,
                    "UDP worker threads per listen address (default: one per core; at most 1024)");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (amap::tools::report_unknown_verb(cli, "automapd")) {
      return 2;
    }
    // CLI11's own codes (105, 106, 109, ...) mean "usage" here: exit 2, as mapctl does.
    // --help and --version are 0.
    return cli.exit(e) == 0 ? 0 : 2;
  }
  amap::log::set_program("automapd");
  if (*serve) {
    handle_startup_signals();
    if (threads > amap::server::kMaxThreads) {
      amap::log::error("--threads " + std::to_string(threads) + ": at most " +
                       std::to_string(amap::server::kMaxThreads) +
                       " UDP worker threads per listen address (0 = one per core)");
      return 1;
    }
  }

  if (*check) {
    Loaded l = load(config, /*open_store=*/false, print_error, /*make_app=*/false);
    if (!l.mapper) {
      return 1;
    }
    std::printf("%s: ok: %zu prefixes, %zu forward zones, %zu reverse zones, store: %s\n",
                config.c_str(), l.mapper->rules().size(), l.mapper->forward_zones().size(),
                l.mapper->reverse_zone_count(),
                l.mapper->config().store.present ? l.mapper->config().store.path.c_str()
                                                 : "none (no overrides)");
    return 0;
  }

  Loaded l =
      load(config, /*open_store=*/true, [](const std::string& line) { amap::log::error(line); });
  if (!l.mapper) {
    amap::log::error("configuration rejected: " + config);
    return 1;
  }

  // Every thread that queries the store holds a reader slot; take them all now, so that other
  // processes filling the reader table can never make a running server fail (issue 17.8).
  const auto reserve_readers = [&](unsigned count) {
    try {
      l.mapper->reserve_store_readers(count);
      return true;
    } catch (const std::exception& e) {
      amap::log::error(e.what());
      return false;
    }
  };

  if (*pipe) {
    if (!reserve_readers(2)) {  // the session thread and the filter keeper
      return 1;
    }
    // PowerDNS closing the pipe must be a clean EPIPE exit, not death by SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    ::malloc_trim(0);  // see serve below
    // PowerDNS only logs the banner ("Backend launched with banner: ..."): one line, no tab.
    amap::pipe::Options pipe_options;
    pipe_options.banner = std::string("automap pipe backend ") + amap::kVersion;
    amap::app::Worker worker(*l.app);
    amap::pipe::Session session(worker, pipe_options);
    return amap::pipe::serve(session, STDIN_FILENO, STDOUT_FILENO);
  }

  amap::server::ServeOptions options;
  options.listen = !listen.empty() ? listen : l.mapper->config().listen;
  if (options.listen.empty()) {
    options.listen = default_listen();
  }
  options.threads = threads;
  const amap::server::TcpLimits tcp = tcp_limits(l.mapper->config().tcp);
  options.max_tcp_connections = tcp.max_connections;
  options.max_tcp_connections_per_client = tcp.max_connections_per_client;
  options.tcp_idle_timeout = tcp.idle_timeout;
  options.tcp_busy_idle_timeout = tcp.busy_idle_timeout;
  options.tcp_io_timeout = tcp.io_timeout;
  if (const amap::config::RrlConfig& r = l.mapper->config().rrl; r.present) {
    options.rrl.enabled = true;
    options.rrl.responses_per_second = r.responses_per_second;
    options.rrl.slip = r.slip;
    options.rrl.ipv4_prefix = r.ipv4_prefix;
    options.rrl.ipv6_prefix = r.ipv6_prefix;
    options.rrl.whitelist = r.whitelist;
    options.rrl.table_size = r.table_size;
  }
  if (const amap::config::CookiesConfig& c = l.mapper->config().cookies; c.present && c.enabled) {
    options.cookies.enabled = true;
    options.cookies.rotate_seconds = c.rotate;
    try {
      options.cookies.secret = c.secret_file.empty()
                                   ? amap::server::random_cookie_secret()
                                   : amap::server::read_cookie_secret(c.secret_file);
    } catch (const std::exception& e) {
      amap::log::error(std::string(config) + ": " + e.what());
      return 1;
    }
  }
  {
    const unsigned per_address = threads != 0 ? threads : std::thread::hardware_concurrency();
    // UDP workers on every listen address, the TCP thread and the filter keeper.
    if (!reserve_readers(std::max(1U, per_address) * static_cast<unsigned>(options.listen.size()) +
                         2)) {
      return 1;
    }
  }
  // SIGHUP: the new configuration is loaded and checked fully first; on any error the old
  // one keeps serving and the errors are logged with their file:line. A changed `listen:` is
  // bound by serve() before the new app replaces the old one (unless --listen was given,
  // which stays in force); serve() logs "reloaded app" once both are done.
  const bool listen_from_config = listen.empty();
  options.reload = [config, listen_from_config]() -> amap::server::Reload {
    Loaded next =
        load(config, /*open_store=*/true, [](const std::string& line) { amap::log::error(line); });
    if (!next.app) {
      amap::log::error("reload rejected, still serving the previous configuration");
      return {};
    }
    std::vector<std::string> addresses;
    if (listen_from_config) {
      addresses = next.mapper->config().listen;
      if (addresses.empty()) {
        addresses = default_listen();
      }
    }
    amap::log::info("loaded " + config);
    amap::server::Reload reload{next.app, std::move(addresses)};
    reload.tcp = tcp_limits(next.mapper->config().tcp);
    return reload;
  };
  // Loading a large config frees a lot (the YAML document, validation scratch); hand it back to
  // the system rather than keep it in the heap for the life of the server.
  ::malloc_trim(0);
  return amap::server::serve(l.app, options);
}
