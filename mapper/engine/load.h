// SPDX-License-Identifier: MIT
#pragma once
// load_and_build: the one "read the file, load it, build the engine" of automapd (every
// subcommand and SIGHUP reload), mapctl (every command) and amap::run's reloadable apps.
// Every error of every step lands in one config::Diagnostics.
//
//   amap::config::Diagnostics diagnostics;
//   auto mapper = amap::mapper::load_and_build(path, {}, diagnostics);
//   if (!mapper) { for (const auto& d : diagnostics) print(d.to_string()); return 1; }

#include <functional>
#include <memory>
#include <string>

#include "mapper/config/config.h"
#include "mapper/engine/mapper.h"

namespace amap::mapper {

struct LoadAndBuildOptions {
  enum class Store : std::uint8_t {
    none,      // overrides not read (checkconf, mapctl's synthesis-only commands)
    existing,  // the config's store read-only, when its data.mdb exists (mapctl lookup)
    create,    // the servers: created when missing (never over a damaged one), then opened
               // read-only with every page checked first
  };
  Store store = Store::none;
  /// Keep the in-memory filter of address overrides (Mapper::BuildOptions::address_filter):
  /// for the long-running servers.
  bool address_filter = false;
  /// Store::create: held (the object it returns) while a new store is being created, e.g. to
  /// defer a stop signal so that no half-created store is left. May be empty.
  std::function<std::shared_ptr<void>()> guard_store_creation;
  /// Store::create: open the store read-write when the configuration turns the HTTP API on
  /// (http.api_keys_file), so that the API's writer shares the process's one environment
  /// (automapd serve). The queries still read it through read-only transactions.
  bool writable_with_api = false;
};

/// Reads `path` (config::read_config_file), loads it (the prefixes go straight to the
/// engine's TemplateCompiler, compiled while the rest of the file is parsed), opens or
/// creates the store as asked and builds the mapper. Build runs even when the file has errors
/// of its own, so one run reports them all. Returns nullptr after adding every error to
/// `diagnostics`.
std::shared_ptr<const Mapper> load_and_build(const std::string& path,
                                             const LoadAndBuildOptions& options,
                                             config::Diagnostics& diagnostics);

}  // namespace amap::mapper
