// SPDX-License-Identifier: MIT
#pragma once
// The entry point an application's main() hands its arguments to. It parses the command
// line (the framework's options or verbs plus any the app registered), loads the app and
// serves it as a PowerDNS pipe coprocess on stdin/stdout or as a standalone UDP/TCP server,
// with one set of front-end behaviours for every app: stop signals during start-up, SIGHUP
// reload (the app loaded again, checked fully first; on failure the old one keeps serving),
// systemd notify and watchdog (backend/server), the server settings an app's loader gives.
//
// Two command-line shapes:
//
//   1. Flags, for a small app (tools/examples):
//        APP [--pipe] [APP OPTIONS]                 pipe coprocess (the default)
//        APP --listen ADDR:PORT... [--threads N]    standalone server; SIGHUP rebuilds the app
//        APP --version
//
//      int main(int argc, char** argv) {                         // the simplest app
//        amap::app::App app;
//        app.zone("hello.example.");
//        ...
//        return amap::run(app, argc, argv);
//      }
//
//      int main(int argc, char** argv) {                         // an app with its own options
//        CLI::App cli{"hello"};
//        std::string zone = "hello.example.";
//        cli.add_option("--zone", zone, "zone to serve");
//        return amap::run(cli, argc, argv, [&] { return make_app(zone); });
//      }
//
//   2. Verbs, for an appliance (automapd): a Service with a loader and its own verbs.
//        APP serve [--listen ADDR:PORT]... [--threads N] [APP OPTIONS]
//        APP pipe [APP OPTIONS]
//        APP VERB [APP OPTIONS]                     the app's own verbs (automapd checkconf)
//        APP --version
//      Exit status: 0 success, 1 error (a rejected app, a bind failure), 2 usage.
//
// The app's background tasks (App::every) run beside either front-end from the start and are
// stopped, with a bounded wait, when serving ends; a SIGHUP rebuild starts the new app's tasks
// and stops the old ones.
// PowerDNS splits pipe-command on single spaces with no shell, so use "--zone x", not quotes.

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/pipe/session.h"
#include "backend/server/server.h"
#include "mapper/app/app.h"

namespace amap {

/// Builds the app after the command line is parsed, so the app's options can shape it.
/// May throw (std::exception): run() then prints the message and exits with status 1.
using AppBuilder = std::function<app::App()>;

/// Front-end settings an app chooses in code (not on the command line).
struct RunSettings {
  pipe::Options pipe;
};

/// Adds the framework options to `cli`, parses argv, builds the app and serves it. Returns
/// the exit status for main(): 0 at end of input or after SIGTERM, 1 for startup errors or an
/// unsupported pipe ABI, CLI11's code for command-line errors (help: 0). With --listen, SIGHUP
/// calls `build` again and serves the new app (a throw keeps the old one).
int run(CLI::App& cli, int argc, char** argv, const AppBuilder& build,
        const RunSettings& settings = {});

/// The same for an app built before main() parses anything (only the framework options;
/// SIGHUP reloads nothing).
int run(const app::App& app, int argc, char** argv, const RunSettings& settings = {});

// ------------------------------------------------------------------------- verbs (services)

/// The front-end a Service is loaded for.
enum class Front : std::uint8_t { serve, pipe };

/// What a Service's loader makes: the app and the server settings of its configuration.
struct Loaded {
  /// nullptr: the load failed, its errors logged already (start: exit 1; reload: the old app
  /// keeps serving).
  std::shared_ptr<const app::App> app;
  /// `serve` without --listen: the addresses to serve; empty = Service::default_listen. On a
  /// reload a changed list is bound before the new app replaces the old one.
  std::vector<std::string> listen;
  /// `serve`: TCP limits, applied at start and again on every reload.
  server::TcpLimits tcp;
  /// `serve`, at start only (not on reload): fills what else the configuration sets (rate
  /// limiting, cookies). False: a start-up error, logged already (exit 1).
  std::function<bool(server::ServeOptions&)> start_options;
  /// Takes, before serving, what `threads` query threads need (the store's reader slots), so
  /// that a running server never waits for them. False: logged already (exit 1).
  std::function<bool(unsigned threads)> reserve;
  /// `serve`, at start: the account to run as once every listener is bound and `reserve` has
  /// run (the store open), before READY=1: drop_privileges (backend/privileges.h). A refusal
  /// stops the server (exit 1). Empty: no drop. Reloads then run as that user: what they read
  /// (the config, the store) must be readable by it.
  std::string user;
  std::string group;  // with user: the primary group instead of the account's
  /// `serve`: the serial of what the app serves (automapd: the SOA serial), shown in the
  /// STATUS= lines and /metrics; 0: none (server::ServeOptions::serial).
  std::uint64_t serial = 0;
  /// `pipe`: the directory of the per-process line counter files (backend/pipe/counters.h);
  /// empty: not kept. A file that cannot be made is logged and the coprocess serves anyway.
  std::string pipe_counters_dir;
};

/// Why the loader is called.
struct LoadContext {
  Front front = Front::serve;
  bool reload = false;  // SIGHUP (serve only)
};

/// An app verb besides serve and pipe (automapd checkconf): given the Service's options.
struct Verb {
  std::string name;
  std::string description;
  std::function<int()> run;  // the exit status
};

struct Service {
  std::string name;         // in log lines and usage messages ("automapd")
  std::string description;  // the first line of --help
  std::string version;      // what --version prints
  /// Adds the app's options (automapd: -c FILE) to every verb, serve and pipe included.
  std::function<void(CLI::App& verb)> options;
  /// Loads the app: for the front-end chosen, at start, and on each SIGHUP of `serve`. Called
  /// once the command line is parsed.
  std::function<Loaded(const LoadContext&)> load;
  /// The app's own verbs, listed before pipe and serve.
  std::vector<Verb> verbs;
  /// Help texts of the front-end verbs and their options.
  std::string serve_description = "Serve DNS over UDP and TCP";
  std::string pipe_description = "Serve as a PowerDNS pipe backend coprocess";
  std::string listen_help = "ADDR:PORT to listen on (repeatable)";
  std::string threads_help =
      "UDP worker threads per listen address (default: one per core; at most 1024)";
  std::vector<std::string> default_listen{"127.0.0.1:5353", "[::1]:5353"};
  pipe::Options pipe;
  /// After a command-line error with no verb recognised: may report the word that is no verb
  /// (e.g. with "did you mean") and return true, then run() exits 2 without CLI11's message.
  std::function<bool(CLI::App& cli)> unknown_verb;
};

/// Parses argv into one verb and runs it: `serve` and `pipe` load the app through
/// service.load and serve it; an app verb runs its function. Returns the exit status for
/// main(): 0 (also --help, --version, and a stop by SIGINT/SIGTERM), 1 error, 2 usage.
int run(int argc, char** argv, const Service& service);

/// While one exists, SIGINT/SIGTERM during the start-up of `serve` (before the server's own
/// handlers) are held back, then stop the process when the last one goes: for work that must
/// not be left half done (automapd creating its store).
class StartupCritical {
 public:
  StartupCritical();
  ~StartupCritical();
  StartupCritical(const StartupCritical&) = delete;
  StartupCritical& operator=(const StartupCritical&) = delete;
};

}  // namespace amap
