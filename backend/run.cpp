// SPDX-License-Identifier: MIT
#include "backend/run.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>
#include <thread>

#include "backend/pipe/counters.h"
#include "backend/pipe/serve.h"
#include "backend/privileges.h"
#include "mapper/app/background.h"
#include "mapper/app/log.h"

#ifndef AMAP_VERSION
#define AMAP_VERSION "unknown"
#endif

namespace amap {
namespace {

// Start-up of `serve`: until server::serve() puts its own handlers in place, SIGINT/SIGTERM
// end the process at once with exit 0, as they would a moment later (loading can take
// seconds). A StartupCritical defers them until it is gone. SIGHUP is ignored then: the app
// is being loaded already.
std::atomic<int> startup_critical{0};
std::atomic<int> startup_pending_signal{0};
// The start of the signal handler's info lines ("automapd: info: ", or "<6>" when stderr is
// the journal: mapper/app/log.h), set once before the handlers are installed.
char startup_prefix[80] = "automap: info: ";

void write_stderr(const char* text) noexcept {
  // Async-signal-safe: write(2) only.
  [[maybe_unused]] const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
}

[[noreturn]] void exit_during_startup(int sig) noexcept {
  write_stderr(startup_prefix);
  write_stderr(sig == SIGINT ? "stopping on SIGINT during start-up\n"
                             : "stopping on SIGTERM during start-up\n");
  ::_exit(0);
}

extern "C" void on_startup_signal(int sig) {
  if (sig == SIGHUP) {
    write_stderr(startup_prefix);
    write_stderr("SIGHUP during start-up: ignored (the config is being loaded)\n");
    return;
  }
  if (startup_critical.load() != 0) {
    startup_pending_signal.store(sig);
    return;
  }
  exit_during_startup(sig);
}

void handle_startup_signals(std::string_view program) {
  const std::string prefix =
      log::to_journal() ? std::string("<6>") : std::string(program) + ": info: ";
  const std::size_t n = std::min(prefix.size(), sizeof startup_prefix - 1);
  std::memcpy(startup_prefix, prefix.data(), n);
  startup_prefix[n] = '\0';
  struct sigaction sa {};
  sa.sa_handler = on_startup_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    ::sigaction(sig, &sa, nullptr);
  }
}

std::string_view base_name(const char* path) {
  std::string_view p = path != nullptr ? path : "automap";
  const auto slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

bool check_threads(unsigned threads) {
  if (threads <= server::kMaxThreads) {
    return true;
  }
  log::error("--threads " + std::to_string(threads) + ": at most " +
             std::to_string(server::kMaxThreads) +
             " UDP worker threads per listen address (0 = one per core)");
  return false;
}

/// The `serve` front-end: the first load, the server options from it, the reload, serve().
/// `listen` from the command line replaces the loaded addresses (and stays on reload).
int serve_front(const std::function<Loaded(const LoadContext&)>& load,
                const std::vector<std::string>& listen, unsigned threads,
                const std::vector<std::string>& default_listen) {
  Loaded first = load(LoadContext{Front::serve, false});
  if (!first.app) {
    return 1;
  }
  server::ServeOptions options;
  options.listen = !listen.empty() ? listen : first.listen;
  if (options.listen.empty()) {
    options.listen = default_listen;
  }
  options.threads = threads;
  options.max_tcp_connections = first.tcp.max_connections;
  options.max_tcp_connections_per_client = first.tcp.max_connections_per_client;
  options.tcp_idle_timeout = first.tcp.idle_timeout;
  options.tcp_busy_idle_timeout = first.tcp.busy_idle_timeout;
  options.tcp_io_timeout = first.tcp.io_timeout;
  options.serial = first.serial;
  if (first.start_options && !first.start_options(options)) {
    return 1;
  }
  if (first.reserve) {
    const unsigned per_address = threads != 0 ? threads : std::thread::hardware_concurrency();
    // UDP workers on every listen address and the TCP thread.
    if (!first.reserve(std::max(1U, per_address) * static_cast<unsigned>(options.listen.size()) +
                       1)) {
      return 1;
    }
  }
  if (!first.user.empty()) {
    options.started = [user = first.user, group = first.group] {
      log::info(drop_privileges(user, group));
    };
  }
  // SIGHUP: the app is loaded and checked fully first; on any error the old one keeps
  // serving. A changed listen list is bound by serve() before the new app replaces the old
  // one (unless --listen was given, which stays in force); serve() logs "reloaded app" once
  // both are done.
  const bool listen_from_load = listen.empty();
  // The app's background tasks (App::every) run off the DNS workers while it is served. A
  // reloaded app starts its own tasks at once (their first run warms its state) and the old
  // app's tasks stop (bounded wait) as it is replaced.
  auto background = std::make_shared<std::unique_ptr<app::BackgroundRunner>>(
      std::make_unique<app::BackgroundRunner>(first.app->background_tasks()));
  options.reload = [load, listen_from_load, default_listen, background]() -> server::Reload {
    Loaded next = load(LoadContext{Front::serve, true});
    if (!next.app) {
      log::error("reload rejected, still serving the previous configuration");
      return {};
    }
    *background = std::make_unique<app::BackgroundRunner>(next.app->background_tasks());
    std::vector<std::string> addresses;
    if (listen_from_load) {
      addresses = next.listen.empty() ? default_listen : next.listen;
    }
    server::Reload reload{next.app, std::move(addresses)};
    reload.tcp = next.tcp;
    if (next.serial != 0) {
      reload.serial = next.serial;
    }
    return reload;
  };
  // Loading a large app frees a lot (a YAML document, validation scratch): hand it back to the
  // system rather than keep it in the heap for the life of the server.
  ::malloc_trim(0);
  return server::serve(first.app, options);
}

/// The `pipe` front-end: PowerDNS coprocess on stdin/stdout.
int pipe_front(const Loaded& loaded, const pipe::Options& pipe_options) {
  if (!loaded.app) {
    return 1;
  }
  if (loaded.reserve && !loaded.reserve(1)) {  // the session thread
    return 1;
  }
  // A vanished PowerDNS must show up as EPIPE on write (clean exit), not kill us silently.
  std::signal(SIGPIPE, SIG_IGN);
  ::malloc_trim(0);  // see serve_front
  // The app's background tasks run beside the session; end of input stops them.
  const app::BackgroundRunner background(loaded.app->background_tasks());
  try {
    // Counting is for /metrics served elsewhere: a file that cannot be made must not stop
    // the answers.
    std::unique_ptr<pipe::CounterFile> counters;
    pipe::Options options = pipe_options;
    if (!loaded.pipe_counters_dir.empty()) {
      try {
        counters = pipe::CounterFile::create(loaded.pipe_counters_dir);
        options.lines = &counters->lines();
      } catch (const std::exception& e) {
        log::warning(std::string(e.what()) + "; the lines of this process are not counted");
      }
    }
    app::Worker worker(*loaded.app);
    pipe::Session session(worker, options);
    return pipe::serve(session, /*in_fd=*/0, /*out_fd=*/1);
  } catch (const std::exception& e) {
    log::error(std::string("pipe backend failed to start: ") + e.what());
    return 1;
  }
}

// ------------------------------------------------------------------------------ flags shape

struct Mode {
  bool pipe = false;
  std::vector<std::string> listen;
  unsigned threads = 0;
};

/// Adds the framework options and parses. Returns an exit status when run() must stop here
/// (--help, --version, a command-line error).
std::optional<int> parse(CLI::App& cli, int argc, char** argv, Mode& mode) {
  log::set_program(base_name(argc > 0 ? argv[0] : nullptr));
  auto* pipe = cli.add_flag("--pipe", mode.pipe,
                            "serve as a PowerDNS pipe backend coprocess on stdin/stdout "
                            "(the default)");
  auto* listen = cli.add_option("--listen", mode.listen,
                                "serve DNS over UDP and TCP on ADDR:PORT (repeatable)");
  auto* threads = cli.add_option("--threads", mode.threads,
                                 "with --listen: UDP worker threads per listen address "
                                 "(default: one per core; at most 1024)");
  pipe->excludes(listen);
  pipe->excludes(threads);
  cli.set_version_flag("--version", "automap " AMAP_VERSION);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  return std::nullopt;
}

/// An app built once; `build` again on each reload when given.
std::function<Loaded(const LoadContext&)> app_loader(std::shared_ptr<const app::App> first,
                                                     const AppBuilder* build) {
  return [first = std::move(first), build](const LoadContext& context) mutable -> Loaded {
    Loaded l;
    if (!context.reload) {
      l.app = std::move(first);
      return l;
    }
    if (build == nullptr) {
      log::info("SIGHUP: the app was built before main() parsed anything; nothing to reload");
      return l;
    }
    try {
      l.app = std::make_shared<const app::App>((*build)());
    } catch (const std::exception& e) {
      log::error(std::string("cannot rebuild the app: ") + e.what());
    }
    return l;
  };
}

int serve_flags(std::shared_ptr<const app::App> app, const AppBuilder* build, const Mode& mode,
                const RunSettings& settings, std::string_view program) {
  if (!mode.listen.empty()) {
    if (!check_threads(mode.threads)) {
      return 1;
    }
    handle_startup_signals(program);
    return serve_front(app_loader(std::move(app), build), mode.listen, mode.threads, {});
  }
  Loaded l;
  l.app = std::move(app);
  return pipe_front(l, settings.pipe);
}

}  // namespace

StartupCritical::StartupCritical() {
  startup_critical.fetch_add(1);
}

StartupCritical::~StartupCritical() {
  if (startup_critical.fetch_sub(1) == 1 && startup_pending_signal.load() != 0) {
    exit_during_startup(startup_pending_signal.load());
  }
}

int run(CLI::App& cli, int argc, char** argv, const AppBuilder& build,
        const RunSettings& settings) {
  Mode mode;
  if (auto rc = parse(cli, argc, argv, mode)) {
    return *rc;
  }
  std::shared_ptr<const app::App> app;
  try {
    app = std::make_shared<const app::App>(build());
  } catch (const std::exception& e) {
    log::error(std::string("cannot start: ") + e.what());
    return 1;
  }
  return serve_flags(std::move(app), &build, mode, settings,
                     base_name(argc > 0 ? argv[0] : nullptr));
}

int run(const app::App& app, int argc, char** argv, const RunSettings& settings) {
  CLI::App cli{"automap DNS application"};
  Mode mode;
  if (auto rc = parse(cli, argc, argv, mode)) {
    return *rc;
  }
  // Not owned: the app outlives this call.
  std::shared_ptr<const app::App> borrowed(&app, [](const app::App*) {});
  return serve_flags(std::move(borrowed), nullptr, mode, settings,
                     base_name(argc > 0 ? argv[0] : nullptr));
}

// ------------------------------------------------------------------------------ verbs shape

int run(int argc, char** argv, const Service& service) {
  CLI::App cli{service.description};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", service.version);
  std::vector<std::pair<CLI::App*, const Verb*>> own;
  for (const Verb& v : service.verbs) {
    CLI::App* sub = cli.add_subcommand(v.name, v.description);
    if (service.options) {
      service.options(*sub);
    }
    own.emplace_back(sub, &v);
  }
  CLI::App* pipe = cli.add_subcommand("pipe", service.pipe_description);
  if (service.options) {
    service.options(*pipe);
  }
  CLI::App* serve = cli.add_subcommand("serve", service.serve_description);
  if (service.options) {
    service.options(*serve);
  }
  std::vector<std::string> listen;
  serve->add_option("--listen", listen, service.listen_help);
  unsigned threads = 0;
  serve->add_option("--threads", threads, service.threads_help);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (service.unknown_verb && service.unknown_verb(cli)) {
      return 2;
    }
    // CLI11's own codes (105, 106, 109, ...) mean "usage" here: exit 2. --help and --version
    // are 0.
    return cli.exit(e) == 0 ? 0 : 2;
  }
  log::set_program(service.name);
  if (*serve) {
    handle_startup_signals(service.name);
    if (!check_threads(threads)) {
      return 1;
    }
    return serve_front(service.load, listen, threads, service.default_listen);
  }
  if (*pipe) {
    return pipe_front(service.load(LoadContext{Front::pipe, false}), service.pipe);
  }
  for (const auto& [sub, verb] : own) {
    if (*sub) {
      return verb->run();
    }
  }
  return 2;  // not reached: require_subcommand(1)
}

}  // namespace amap
