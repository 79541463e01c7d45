// SPDX-License-Identifier: MIT
#pragma once
// The progress line of mapctl import and export on a terminal:
//
//   mapctl import: checking big.csv: 2400000 lines, 810000 lines/s, 24%, ETA 9 s
//
// redrawn in place (\r) on stderr at most 4 times a second, and erased at the end. Nothing at
// all is written when stderr is not a terminal (a pipe, a file, the journal).

#include <chrono>
#include <cstdint>
#include <string>

namespace amap::mapctl {

class Progress {
 public:
  /// `label`: "mapctl import: checking FILE". `enabled`: stderr is a terminal (tty_stderr()).
  Progress(std::string label, bool enabled);
  ~Progress() { clear(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// `lines` done so far; `fraction` of the whole done (0..1), or negative when the total is
  /// not known (no percentage and no ETA then). Cheap when called often: one clock read, and
  /// a redraw only once 250 ms have passed since the last one (the first call draws).
  void update(std::uint64_t lines, double fraction = -1);
  /// Erases the line (once something was drawn).
  void clear();

  static bool tty_stderr();

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace amap::mapctl
