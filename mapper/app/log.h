// SPDX-License-Identifier: MIT
#pragma once
// One line per event on stderr ("automap: level=error msg=..."), never stdout: stdout belongs
// to the PowerDNS pipe protocol.

#include <string_view>

namespace amap::log {

enum class Level { debug, info, warning, error };

void set_program(std::string_view name);
/// Writes one line with a single write(2) so lines from threads do not interleave.
void line(Level level, std::string_view message) noexcept;
inline void info(std::string_view m) noexcept {
  line(Level::info, m);
}
inline void warning(std::string_view m) noexcept {
  line(Level::warning, m);
}
inline void error(std::string_view m) noexcept {
  line(Level::error, m);
}

}  // namespace amap::log
