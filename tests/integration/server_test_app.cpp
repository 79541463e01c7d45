// SPDX-License-Identifier: MIT
// The wire test App (tests/unit/wire_test_app.h) served by amap::server, for the integration
// tests: server_test_app --listen 127.0.0.1:0 --listen [::1]:0 [--threads N] [--idle-ms N]
// [--io-ms N] [--max-tcp N]. Logs "listening udp ADDR:PORT" lines on stderr; SIGHUP reloads
// the app; SIGINT/SIGTERM stop it with exit 0.

#include <charconv>
#include <cstdio>
#include <string_view>

#include "backend/server/server.h"
#include "mapper/app/log.h"
#include "tests/unit/wire_test_app.h"

namespace {

bool to_number(std::string_view s, unsigned long& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

int main(int argc, char** argv) {
  amap::log::set_program("server_test_app");
  amap::server::ServeOptions opt;
  opt.listen.clear();
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "missing value for %s\n", argv[i]);
      return 2;
    }
    const std::string_view v = argv[++i];
    unsigned long n = 0;
    if (a == "--listen") {
      opt.listen.emplace_back(v);
    } else if (a != "--listen" && !to_number(v, n)) {
      std::fprintf(stderr, "bad number for %s\n", argv[i - 1]);
      return 2;
    } else if (a == "--threads") {
      opt.threads = static_cast<unsigned>(n);
    } else if (a == "--idle-ms") {
      opt.tcp_idle_timeout = std::chrono::milliseconds(n);
    } else if (a == "--io-ms") {
      opt.tcp_io_timeout = std::chrono::milliseconds(n);
    } else if (a == "--max-tcp") {
      opt.max_tcp_connections = n;
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i - 1]);
      return 2;
    }
  }
  if (opt.listen.empty()) {
    opt.listen.emplace_back("127.0.0.1:0");
  }
  opt.reload = [] {
    return std::shared_ptr<const amap::app::App>(amap::testapp::make_wire_test_app());
  };
  return amap::server::serve(amap::testapp::make_wire_test_app(), opt);
}
