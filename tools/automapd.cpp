// SPDX-License-Identifier: MIT
// automapd: the auto-mapping appliance. One binary, three jobs:
//   automapd serve    -c FILE [--listen ADDR:PORT]...   standalone UDP/TCP server
//   automapd pipe     -c FILE                            PowerDNS pipe coprocess
//   automapd checkconf -c FILE                           validate the configuration only
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
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
/// message) through `report` and returns an empty result.
template <class Report>
Loaded load(const std::string& file, bool open_store, Report&& report) {
  // Templates compile while the file is still being parsed; build takes them.
  amap::mapper::TemplateCompiler templates;
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
                    "UDP worker threads per listen address (default: one per core)");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
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
    Loaded l = load(config, /*open_store=*/false, print_error);
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

  if (*pipe) {
    // PowerDNS closing the pipe must be a clean EPIPE exit, not death by SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    ::malloc_trim(0);  // see serve below
    // PowerDNS only logs the banner ("Backend launched with banner: ..."): one line, no tab.
    amap::pipe::Options pipe_options;
    pipe_options.banner = std::string("automap pipe backend ") + amap::kVersion;
    amap::pipe::Session session(*l.app, pipe_options);
    return amap::pipe::serve(session, STDIN_FILENO, STDOUT_FILENO);
  }

  amap::server::ServeOptions options;
  options.listen = !listen.empty() ? listen : l.mapper->config().listen;
  if (options.listen.empty()) {
    options.listen = default_listen();
  }
  options.threads = threads;
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
    return {next.app, std::move(addresses)};
  };
  // Loading a large config frees a lot (the YAML document, validation scratch); hand it back to
  // the system rather than keep it in the heap for the life of the server.
  ::malloc_trim(0);
  return amap::server::serve(l.app, options);
}
