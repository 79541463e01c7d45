// SPDX-License-Identifier: MIT
#pragma once
// Shared helpers of the pipe tests: the example apps with the settings their main() uses,
// and line utilities.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backend/pipe/session.h"
#include "tools/examples/examples.h"

namespace amap::pipe::test {

/// A clock frozen at 1000 s, so "CMD stats" prints uptime_seconds=0 in transcripts.
inline std::uint64_t frozen_clock() noexcept {
  return 1000;
}

/// Session options matching tools/examples/<name>.cpp's main().
inline Options example_options(std::string_view app_name) {
  Options o;
  o.clock = &frozen_clock;
  if (app_name == "whoami") {
    o.ecs_scope = EcsScope::source;
    o.banner = "automap whoami";
  }
  return o;
}

inline app::App example_app(std::string_view app_name) {
  return app_name == "whoami" ? examples::whoami_app() : examples::hello_app();
}

inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = s.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

}  // namespace amap::pipe::test
