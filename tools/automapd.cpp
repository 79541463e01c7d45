// SPDX-License-Identifier: MIT
// automapd: the auto-mapping appliance. One binary, three jobs:
//   automapd serve    -c FILE [--listen ADDR:PORT]...   standalone UDP/TCP server
//   automapd pipe     -c FILE                            PowerDNS pipe coprocess
//   automapd checkconf -c FILE                           validate the configuration only
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "backend/pipe/serve.h"
#include "backend/pipe/session.h"
#include "backend/server/server.h"
#include "mapper/app/log.h"
#include "mapper/engine/mapper.h"

namespace {

struct Loaded {
  std::shared_ptr<const amap::mapper::Mapper> mapper;
  std::shared_ptr<const amap::app::App> app;
};

/// Loads and checks the configuration; on errors prints every one (file:line:col: path:
/// message) through `report` and returns an empty result.
template <class Report>
Loaded load(const std::string& file, bool open_store, Report&& report) {
  // Templates compile while the file is still being parsed; build takes them.
  amap::mapper::TemplateCompiler templates;
  auto loaded = amap::config::load_file(file, templates.load_options());
  std::vector<amap::config::Error> errors = std::move(loaded.errors);
  std::shared_ptr<const amap::mapper::Mapper> mapper;
  if (errors.empty() && open_store && loaded.config.store.present) {
    // The servers only read the store; create it on first start so they can open it.
    try {
      amap::store::StoreOptions options;
      options.path = loaded.config.store.path;
      options.map_size = loaded.config.store.map_size;
      options.max_readers = loaded.config.store.max_readers;
      amap::store::OverrideStore create(options);
    } catch (const std::exception& e) {
      errors.push_back(amap::config::Error{file, loaded.config.store.mark, "store.path", e.what()});
    }
  }
  if (errors.empty()) {
    amap::mapper::Mapper::BuildOptions options;
    options.open_store = open_store;
    // Only the servers (pipe, serve) open the store, and they live long: keep the address
    // filter so override misses skip LMDB.
    options.address_filter = open_store;
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

  CLI11_PARSE(cli, argc, argv);
  amap::log::set_program("automapd");

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
    amap::pipe::Session session(*l.app);
    return amap::pipe::serve(session, STDIN_FILENO, STDOUT_FILENO);
  }

  amap::server::ServeOptions options;
  options.listen = !listen.empty() ? listen : l.mapper->config().listen;
  if (options.listen.empty()) {
    options.listen = {"127.0.0.1:5353", "[::1]:5353"};
  }
  options.threads = threads;
  {
    const unsigned per_address = threads != 0 ? threads : std::thread::hardware_concurrency();
    // UDP workers on every listen address, the TCP thread and the filter keeper.
    if (!reserve_readers(std::max(1U, per_address) * static_cast<unsigned>(options.listen.size()) +
                         2)) {
      return 1;
    }
  }
  // SIGHUP: the new configuration is loaded and checked fully first; on any error the old
  // one keeps serving and the errors are logged with their file:line.
  options.reload = [config]() -> std::shared_ptr<const amap::app::App> {
    Loaded next =
        load(config, /*open_store=*/true, [](const std::string& line) { amap::log::error(line); });
    if (!next.app) {
      amap::log::error("reload rejected, still serving the previous configuration");
      return nullptr;
    }
    amap::log::info("reloaded " + config);
    return next.app;
  };
  // Loading a large config frees a lot (the YAML document, validation scratch); hand it back to
  // the system rather than keep it in the heap for the life of the server.
  ::malloc_trim(0);
  return amap::server::serve(l.app, options);
}
