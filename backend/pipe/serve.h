// SPDX-License-Identifier: MIT
#pragma once
// The coprocess loop: reads lines from a file descriptor with read(2) into one reused buffer,
// hands each to a Session and writes each reply with write(2) as soon as it is ready, so the
// reply to every query is flushed before the next read. Partial lines and several lines per
// read are fine; a line longer than the buffer is dropped and answered LOG + FAIL.

#include <cstddef>

#include "backend/pipe/session.h"

namespace amap::pipe {

struct ServeOptions {
  /// Longest accepted input line. PowerDNS lines are at most ~1.1 KB (a 255-octet name
  /// escaped as \DDD plus addresses), so this is generous.
  std::size_t max_line = std::size_t{64} * 1024;
};

/// Serves until end of input or until the session ends (unsupported HELO). Returns the exit
/// status: 0 on end of input or when the reader went away (EPIPE), 1 after an unsupported
/// HELO or on a read/write error. Never throws. SIGPIPE should be ignored by the caller
/// (amap::run does) so that a vanished PowerDNS is an EPIPE, not a signal.
int serve(Session& session, int in_fd, int out_fd, const ServeOptions& options = {}) noexcept;

}  // namespace amap::pipe
