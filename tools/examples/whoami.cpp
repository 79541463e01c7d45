// SPDX-License-Identifier: MIT
// whoami: tells clients the address they ask from. At the apex of its zone it answers A (IPv4
// client) or AAAA (IPv6 client) with that address, and TXT with it as text; when the query
// carries EDNS Client Subnet, the ECS address is used and the TXT says so.
//
//   whoami --zone whoami.example.
//   dig @ns whoami.example. TXT      ->  "192.0.2.1"
//   dig @ns whoami.example. TXT +subnet=198.51.100.0/24   ->  "198.51.100.0/24 via ECS"
#include "mapper/dns/writer.h"
#include "tools/examples/examples.h"

#ifndef AMAP_EXAMPLES_NO_MAIN
#include <CLI/CLI.hpp>
#include <string>

#include "backend/run.h"
#endif

namespace amap::examples {

app::App whoami_app(std::string_view zone) {
  app::App app;
  app.zone(zone);
  app.route(app::Match().name(zone), [](const app::Request& req, app::Answer& ans) noexcept {
    // TTL 0: the answer is for this client only; no cache should hand it to another.
    constexpr std::uint32_t kTtl = 0;
    const dns::IpAddress& addr = req.client_address();  // the ECS address when present
    const bool any = req.qtype == dns::rrtype::ANY;
    if (addr.is_v4() && (any || req.qtype == dns::rrtype::A)) {
      ans.a(addr, kTtl);
    }
    if (addr.is_v6() && (any || req.qtype == dns::rrtype::AAAA)) {
      ans.aaaa(addr, kTtl);
    }
    if (any || req.qtype == dns::rrtype::TXT) {
      char buf[dns::IpAddress::kMaxTextLen + 16];  // on the stack: no allocation per query
      dns::TextWriter text(buf, sizeof buf);
      text.put_with([&](char* p, std::size_t cap) { return addr.to_text(p, cap); });
      if (req.has_ecs) {
        text.put('/');
        text.put_uint(req.ecs.length);
        text.put(" via ECS");
      }
      ans.txt(text.view(), kTtl);
    }
    return app::Outcome::hit;
  });
  return app;
}

}  // namespace amap::examples

#ifndef AMAP_EXAMPLES_NO_MAIN
int main(int argc, char** argv) {
  CLI::App cli{"whoami: answers A/AAAA/TXT with the querying client's address"};
  std::string zone = "whoami.example.";
  cli.add_option("--zone", zone, "zone to serve")->capture_default_str();
  amap::RunSettings settings;
  // Every answer depends on the client, so tell PowerDNS (and resolvers, through the ECS
  // scope) that it holds for the client's ECS subnet only.
  settings.pipe.ecs_scope = amap::pipe::EcsScope::source;
  settings.pipe.banner = "automap whoami";
  return amap::run(
      cli, argc, argv, [&] { return amap::examples::whoami_app(zone); }, settings);
}
#endif
