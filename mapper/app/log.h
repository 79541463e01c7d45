// SPDX-License-Identifier: MIT
#pragma once
// One line per event on stderr, never stdout: stdout belongs to the PowerDNS pipe protocol.
//   automapd: info: listening udp 127.0.0.1:5353 ...         (a terminal, a file, a pipe)
//   <6>listening udp 127.0.0.1:5353 ...                        (stderr is the journal)
// stderr is the journal when JOURNAL_STREAM ("DEV:INO", set by systemd for a unit whose
// StandardError= is the journal) names the device and inode of the stderr we hold, as
// sd_journal_stream_fd(3) documents: then each line starts with its syslog priority (<3>
// error ... <7> debug, which journald strips and records) and carries no name or time of ours
// (journald adds both). A JOURNAL_STREAM inherited by a child whose stderr was redirected
// does not match, and the plain form is used.

#include <string_view>

namespace amap::log {

enum class Level { debug, info, notice, warning, error };

/// The program name of the plain form; also looks again whether stderr is the journal
/// (call it once at start, before threads log).
void set_program(std::string_view name);
/// Lines below `level` are not written (default: info). Safe from any thread.
void set_level(Level level) noexcept;
Level level() noexcept;
/// "debug", "info", "notice", "warning", "error".
std::string_view level_name(Level level) noexcept;
/// True when lines go to the journal with priority prefixes (see above).
bool to_journal() noexcept;
/// Writes one line with a single write(2) so lines from threads do not interleave.
void line(Level level, std::string_view message) noexcept;
inline void debug(std::string_view m) noexcept {
  line(Level::debug, m);
}
inline void info(std::string_view m) noexcept {
  line(Level::info, m);
}
inline void notice(std::string_view m) noexcept {
  line(Level::notice, m);
}
inline void warning(std::string_view m) noexcept {
  line(Level::warning, m);
}
inline void error(std::string_view m) noexcept {
  line(Level::error, m);
}

}  // namespace amap::log
