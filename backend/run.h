// SPDX-License-Identifier: MIT
#pragma once
// The entry point an application's main() hands its arguments to. It parses the command
// line (the framework's options plus any the app registered), builds the app and serves it:
// by default as a PowerDNS pipe coprocess on stdin/stdout.
//
//   int main(int argc, char** argv) {                         // the simplest app
//     amap::app::App app;
//     app.zone("hello.example.");
//     ...
//     return amap::run(app, argc, argv);
//   }
//
//   int main(int argc, char** argv) {                         // an app with its own options
//     CLI::App cli{"hello"};
//     std::string zone = "hello.example.";
//     cli.add_option("--zone", zone, "zone to serve");
//     return amap::run(cli, argc, argv, [&] { return make_app(zone); });
//   }
//
// Framework options:
//   --pipe                 PowerDNS pipe coprocess on stdin/stdout (the default)
//   --listen ADDR:PORT     standalone UDP/TCP server (repeatable; backend/server)
//   --version
// PowerDNS splits pipe-command on single spaces with no shell, so use "--zone x", not quotes.

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "backend/pipe/session.h"
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
/// unsupported pipe ABI, CLI11's code for command-line errors (help: 0).
int run(CLI::App& cli, int argc, char** argv, const AppBuilder& build,
        const RunSettings& settings = {});

/// The same for an app built before main() parses anything (only the framework options).
int run(const app::App& app, int argc, char** argv, const RunSettings& settings = {});

}  // namespace amap
