// SPDX-License-Identifier: MIT
// hello: the pdnsapp "Hello World" in automap. Answers TXT "Hello World!" at the apex of its
// zone, for TXT and ANY questions.
//
//   hello --zone hello.example.          (PowerDNS: pipe-command=/path/to/hello --zone ...)
#include "tools/examples/examples.h"

#ifndef AMAP_EXAMPLES_NO_MAIN
#include <CLI/CLI.hpp>
#include <string>

#include "backend/run.h"
#endif

namespace amap::examples {

app::App hello_app(std::string_view zone) {
  app::App app;
  // The zone gives PowerDNS a SOA (ns1.<zone>, hostmaster.<zone>) and NS ns1.<zone> at the
  // apex; without a zone PowerDNS would not know the app is authoritative (REFUSED).
  app.zone(zone);
  // Match().type(TXT) also matches ANY questions, as pdnsapp's @match(type='TXT') did.
  app.route(app::Match().name(zone).type(dns::rrtype::TXT),
            [](const app::Request&, app::Answer& ans) noexcept {
              ans.txt("Hello World!");  // TTL: the app default, 86400 as in pdnsapp
              return app::Outcome::hit;
            });
  return app;
}

}  // namespace amap::examples

#ifndef AMAP_EXAMPLES_NO_MAIN
int main(int argc, char** argv) {
  CLI::App cli{"hello: answers TXT \"Hello World!\" at the apex of its zone"};
  std::string zone = "hello.example.";
  cli.add_option("--zone", zone, "zone to serve")->capture_default_str();
  return amap::run(cli, argc, argv, [&] { return amap::examples::hello_app(zone); });
}
#endif
