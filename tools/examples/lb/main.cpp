// SPDX-License-Identifier: MIT
// lb: a DNS load balancer. Answers A/AAAA for its configured service names with the N least
// loaded healthy front-ends, which background tasks probe (TCP connect or HTTP GET of a load
// figure). See README.md beside this file.
//
//   lb -c lb.yaml --listen 127.0.0.1:5353      (standalone)
//   lb -c lb.yaml                              (PowerDNS pipe coprocess: pipe-command=...)
//   lb -c lb.yaml --check                      (check the config, print its errors, exit)
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "backend/run.h"
#include "tools/examples/lb/lb.h"

namespace {

amap::lb::Config load_or_report(const std::string& file, bool& ok) {
  amap::lb::LoadResult r = amap::lb::load_file(file);
  for (const auto& e : r.errors) {
    std::fprintf(stderr, "%s\n", e.to_string().c_str());
  }
  ok = r.ok();
  return std::move(r.config);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"lb: answers service names with the least loaded healthy front-ends"};
  std::string file;
  bool check = false;
  cli.add_option("-c,--config", file, "YAML configuration")->required();
  cli.add_flag("--check", check, "check the configuration, print every error, and exit");
  amap::RunSettings settings;
  settings.pipe.banner = "automap lb";
  // Answers may prefer front-ends by client region, so they hold for the client's ECS subnet
  // only: PowerDNS learns that through the ECS scope. (The settings are fixed before the
  // config is read, so this holds for services without regions too: correct, less cached.)
  settings.pipe.ecs_scope = amap::pipe::EcsScope::source;
  return amap::run(
      cli, argc, argv,
      [&] {
        bool ok = false;
        amap::lb::Config config = load_or_report(file, ok);
        if (check) {
          std::exit(ok ? 0 : 1);  // nothing to clean up yet
        }
        if (!ok) {
          throw std::runtime_error(file + ": configuration has errors");
        }
        return amap::lb::make_app(std::move(config));
      },
      settings);
}
