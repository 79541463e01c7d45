// SPDX-License-Identifier: MIT
#include "mapper/app/log.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace amap::log {
namespace {

char g_program[32] = "automap";
// Debug lines are compiled in for development but not written by default.
constexpr Level kMinLevel = Level::info;

std::string_view level_name(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warning:
      return "warning";
    case Level::error:
      return "error";
  }
  return "?";
}

}  // namespace

void set_program(std::string_view name) {
  const std::size_t n = std::min(name.size(), sizeof g_program - 1);
  std::memcpy(g_program, name.data(), n);
  g_program[n] = '\0';
}

void line(Level level, std::string_view message) noexcept {
  if (static_cast<int>(level) < static_cast<int>(kMinLevel)) {
    return;
  }
  char buf[1024];
  std::size_t n = 0;
  auto put = [&](std::string_view s) {
    const std::size_t k = std::min(s.size(), sizeof buf - 1 - n);
    std::memcpy(buf + n, s.data(), k);
    n += k;
  };
  put(g_program);
  put(": ");
  put(level_name(level));
  put(": ");
  // Keep it one line: control characters from untrusted input are replaced.
  for (char c : message) {
    if (n >= sizeof buf - 1) {
      break;
    }
    buf[n++] = (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  buf[n++] = '\n';
  const ssize_t rc = ::write(STDERR_FILENO, buf, n);
  (void)rc;
}

}  // namespace amap::log
