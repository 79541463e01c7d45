// SPDX-License-Identifier: MIT
#include "backend/run.h"

#include <csignal>
#include <exception>
#include <optional>
#include <string_view>

#include "backend/pipe/serve.h"
#include "backend/server/server.h"
#include "mapper/app/log.h"

#ifndef AMAP_VERSION
#define AMAP_VERSION "unknown"
#endif

namespace amap {
namespace {

struct Mode {
  bool pipe = false;
  std::vector<std::string> listen;
};

std::string_view base_name(const char* path) {
  std::string_view p = path != nullptr ? path : "automap";
  const auto slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

/// Adds the framework options and parses. Returns an exit status when run() must stop here
/// (--help, --version, a command-line error).
std::optional<int> parse(CLI::App& cli, int argc, char** argv, Mode& mode) {
  log::set_program(base_name(argc > 0 ? argv[0] : nullptr));
  auto* pipe = cli.add_flag("--pipe", mode.pipe,
                            "serve as a PowerDNS pipe backend coprocess on stdin/stdout "
                            "(the default)");
  auto* listen = cli.add_option("--listen", mode.listen,
                                "serve DNS over UDP and TCP on ADDR:PORT (repeatable)");
  pipe->excludes(listen);
  cli.set_version_flag("--version", "automap " AMAP_VERSION);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  return std::nullopt;
}

int serve(const app::App& app, const Mode& mode, const RunSettings& settings) {
  if (!mode.listen.empty()) {
    server::ServeOptions options;
    options.listen = mode.listen;
    return server::serve(app, options);
  }
  // A vanished PowerDNS must show up as EPIPE on write (clean exit), not kill us silently.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    pipe::Session session(app, settings.pipe);
    return pipe::serve(session, /*in_fd=*/0, /*out_fd=*/1);
  } catch (const std::exception& e) {
    log::error(std::string("pipe backend failed to start: ") + e.what());
    return 1;
  }
}

}  // namespace

int run(CLI::App& cli, int argc, char** argv, const AppBuilder& build,
        const RunSettings& settings) {
  Mode mode;
  if (auto rc = parse(cli, argc, argv, mode)) {
    return *rc;
  }
  std::optional<app::App> app;
  try {
    app.emplace(build());
  } catch (const std::exception& e) {
    log::error(std::string("cannot start: ") + e.what());
    return 1;
  }
  return serve(*app, mode, settings);
}

int run(const app::App& app, int argc, char** argv, const RunSettings& settings) {
  CLI::App cli{"automap DNS application"};
  Mode mode;
  if (auto rc = parse(cli, argc, argv, mode)) {
    return *rc;
  }
  return serve(app, mode, settings);
}

}  // namespace amap
