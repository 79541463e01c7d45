// SPDX-License-Identifier: MIT
#include "tools/mapctl/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <utility>

namespace amap::mapctl {

namespace {
constexpr auto kInterval = std::chrono::milliseconds(250);
}  // namespace

Progress::Progress(std::string label, bool enabled)
    : label_(std::move(label)),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_(start_ - kInterval) {}  // the first update draws

bool Progress::tty_stderr() {
  return ::isatty(STDERR_FILENO) == 1;
}

void Progress::update(std::uint64_t lines, double fraction) {
  if (!enabled_) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < kInterval) {
    return;
  }
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(lines) / elapsed : 0;
  std::string text = label_ + ": " + std::to_string(lines) + " lines, " +
                     std::to_string(static_cast<std::uint64_t>(rate)) + " lines/s";
  if (fraction >= 0 && fraction <= 1) {
    text += ", " + std::to_string(static_cast<unsigned>(fraction * 100)) + "%";
    if (fraction > 0) {
      const double eta = elapsed * (1 - fraction) / fraction;
      text += ", ETA " + std::to_string(std::llround(eta)) + " s";
    }
  }
  // \r back to the start, the text, then erase what a longer previous line left.
  std::fprintf(stderr, "\r%s\033[K", text.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::clear() {
  if (drawn_) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace amap::mapctl
