// SPDX-License-Identifier: MIT
#include "mapper/app/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace amap::log {
namespace {

char g_program[32] = "automap";
std::atomic<int> g_min_level{static_cast<int>(Level::info)};
std::atomic<bool> g_journal{false};

/// JOURNAL_STREAM is "DEV:INO" in decimal; true when it names stderr's st_dev and st_ino.
bool stderr_is_journal() noexcept {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) {
    return false;
  }
  const std::string_view text(env);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  const char* end = text.data() + text.size();
  const auto d = std::from_chars(text.data(), text.data() + colon, dev);
  const auto i = std::from_chars(text.data() + colon + 1, end, ino);
  if (d.ec != std::errc{} || d.ptr != text.data() + colon || i.ec != std::errc{} || i.ptr != end) {
    return false;
  }
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) {
    return false;
  }
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

/// syslog(3) priorities: LOG_ERR 3, LOG_WARNING 4, LOG_NOTICE 5, LOG_INFO 6, LOG_DEBUG 7.
char priority_digit(Level l) noexcept {
  switch (l) {
    case Level::debug:
      return '7';
    case Level::info:
      return '6';
    case Level::notice:
      return '5';
    case Level::warning:
      return '4';
    case Level::error:
      return '3';
  }
  return '6';
}

}  // namespace

std::string_view level_name(Level l) noexcept {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::notice:
      return "notice";
    case Level::warning:
      return "warning";
    case Level::error:
      return "error";
  }
  return "?";
}

void set_program(std::string_view name) {
  const std::size_t n = std::min(name.size(), sizeof g_program - 1);
  std::memcpy(g_program, name.data(), n);
  g_program[n] = '\0';
  g_journal.store(stderr_is_journal(), std::memory_order_relaxed);
}

void set_level(Level level) noexcept {
  g_min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

Level level() noexcept {
  return static_cast<Level>(g_min_level.load(std::memory_order_relaxed));
}

bool to_journal() noexcept {
  return g_journal.load(std::memory_order_relaxed);
}

void line(Level level, std::string_view message) noexcept {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) {
    return;
  }
  char buf[1024];
  std::size_t n = 0;
  auto put = [&](std::string_view s) {
    const std::size_t k = std::min(s.size(), sizeof buf - 1 - n);
    std::memcpy(buf + n, s.data(), k);
    n += k;
  };
  if (to_journal()) {
    const char prefix[] = {'<', priority_digit(level), '>'};
    put(std::string_view(prefix, sizeof prefix));
  } else {
    put(g_program);
    put(": ");
    put(level_name(level));
    put(": ");
  }
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
