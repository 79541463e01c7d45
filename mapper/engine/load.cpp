// SPDX-License-Identifier: MIT
#include "mapper/engine/load.h"

#include <cerrno>
#include <exception>
#include <filesystem>
#include <system_error>

#include "store/lmdb.h"
#include "store/overrides.h"

namespace amap::mapper {
namespace {

/// Store::create. Read-only first: in a running server (SIGHUP) the per-process registry
/// already holds this environment read-only and hands the same one back, where a read-write
/// open is refused (LMDB allows one environment per path and process). Only a store that is
/// missing (no directory, no data.mdb) or was never initialised (no databases) is created;
/// any other failure is reported as it is, never papered over by creating a new store.
struct OpenOptions {
  bool writable = false;
  std::function<std::shared_ptr<void>()> guard_store_creation;
};
std::shared_ptr<store::OverrideDb> open_or_create_store(const config::StoreConfig& c,
                                                        const OpenOptions& options) {
  store::StoreOptions so;
  so.path = c.path;
  so.map_size = c.map_size;
  so.max_readers = c.max_readers;
  // Servers read every page: walk them all before mapping, so a damaged file is refused here.
  so.verify_pages = true;
  if (options.writable || c.etcd.present) {
    // One read-write environment for the servers and the writer in this process: the API's
    // (tools/api) or a sync node's loop (store/sync; the store is created when missing). The
    // registry hands the read queries this same environment. A store already open read-only
    // in the process (the API turned on by a reload) is refused with its reason.
    so.read_only = false;
    const std::shared_ptr<void> guard =
        options.guard_store_creation ? options.guard_store_creation() : nullptr;
    return store::OverrideDb::open(so);
  }
  so.read_only = true;
  try {
    return store::OverrideDb::open(so);
  } catch (const store::StoreError& e) {
    if (e.code() != ENOENT && e.code() != MDB_NOTFOUND) {
      throw;
    }
  }
  so.read_only = false;
  {
    const std::shared_ptr<void> guard =
        options.guard_store_creation ? options.guard_store_creation() : nullptr;
    store::OverrideStore create(so);  // closed again: the servers open it read-only
  }
  so.read_only = true;
  return store::OverrideDb::open(so);
}

bool store_exists(const config::StoreConfig& c) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(c.path) / "data.mdb", ec);
}

}  // namespace

std::shared_ptr<const Mapper> load_and_build(const std::string& path,
                                             const LoadAndBuildOptions& options,
                                             config::Diagnostics& diagnostics) {
  // The loader hands each accepted prefix to the compiler only (Config::prefixes stays
  // empty): its template compiles while the rest of the file is parsed, and build takes the
  // compiled rules as they are.
  TemplateCompiler templates;
  config::LoadOptions load_options;
  load_options.prefixes = &templates;
  config::LoadResult loaded = config::load_file(path, load_options);
  const std::size_t errors_before = diagnostics.error_count();
  diagnostics.append(std::move(loaded.errors));
  const bool load_ok = diagnostics.error_count() == errors_before;

  Mapper::BuildOptions build;
  build.templates = &templates;
  build.open_store = false;  // not after an error: the file's own come first
  // Held until the mapper is built, which then gets this very environment from the registry.
  std::shared_ptr<store::OverrideDb> store;
  const config::StoreConfig& sc = loaded.config.store;
  if (load_ok && sc.present && options.store == LoadAndBuildOptions::Store::create) {
    try {
      store = open_or_create_store(
          sc, OpenOptions{options.writable_with_api && !loaded.config.http.api_keys_file.empty(),
                          options.guard_store_creation});
      build.open_store = true;
    } catch (const std::exception& e) {
      diagnostics.error(path, sc.mark, "store.path", e.what());
    }
  } else if (load_ok && sc.present && options.store == LoadAndBuildOptions::Store::existing) {
    build.open_store = store_exists(sc);
  }
  build.address_filter = build.open_store && options.address_filter;
  // Built even after errors above: its own (templates) come out in the same run.
  auto mapper = Mapper::build(std::move(loaded.config), diagnostics, build);
  if (diagnostics.error_count() != errors_before) {
    return nullptr;
  }
  return mapper;
}

}  // namespace amap::mapper
