// SPDX-License-Identifier: MIT
#include "backend/pipe/serve.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "mapper/app/log.h"
#include "mapper/dns/writer.h"

namespace amap::pipe {
namespace {

void log_errno(std::string_view what) noexcept {
  char buf[256];
  dns::TextWriter w(buf, sizeof buf);
  w.put("pipe: ");
  w.put(what);
  w.put(": ");
  w.put(std::string_view(std::strerror(errno)));
  log::error(w.view());
}

enum class WriteResult { ok, closed, error };

WriteResult write_all(int fd, std::string_view data) noexcept {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EPIPE) {
        return WriteResult::closed;
      }
      log_errno("write to PowerDNS failed");
      return WriteResult::error;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return WriteResult::ok;
}

}  // namespace

int serve(Session& session, int in_fd, int out_fd, const ServeOptions& options) noexcept {
  // One allocation for the life of the loop. Lines live in buf[begin, end); `scan` is where
  // the search for the next '\n' resumes, so a partial line is never rescanned.
  std::vector<char> buf;
  try {
    buf.resize(options.max_line + 1);
  } catch (...) {
    log::error("pipe: cannot allocate the input buffer");
    return 1;
  }
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t scan = 0;
  bool dropping = false;  // inside a line longer than the buffer

  auto reply = [&](std::string_view r) {
    const WriteResult w = write_all(out_fd, r);
    return w == WriteResult::ok ? -1 : (w == WriteResult::closed ? 0 : 1);
  };

  for (;;) {
    // Handle every complete line already buffered.
    while (true) {
      const void* nl = std::memchr(buf.data() + scan, '\n', end - scan);
      if (nl == nullptr) {
        break;
      }
      const auto at = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data());
      const std::string_view line(buf.data() + begin, at - begin);
      begin = scan = at + 1;
      const std::string_view r =
          dropping ? session.handle_oversized_line(options.max_line) : session.handle_line(line);
      dropping = false;
      if (const int rc = reply(r); rc >= 0) {
        return rc;
      }
      if (session.done()) {
        return session.exit_status();
      }
    }
    // Keep the partial line, moved to the front.
    if (begin == end) {
      begin = end = scan = 0;
    } else if (begin > 0) {
      std::memmove(buf.data(), buf.data() + begin, end - begin);
      end -= begin;
      scan -= begin;
      begin = 0;
    }
    if (end == buf.size()) {
      dropping = true;  // no '\n' in a full buffer: drop up to the next '\n'
      begin = end = scan = 0;
    }
    const ssize_t n = ::read(in_fd, buf.data() + end, buf.size() - end);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      log_errno("read from PowerDNS failed");
      return 1;
    }
    if (n == 0) {
      // End of input: a last line without '\n' still gets its answer.
      if (end > begin) {
        const std::string_view line(buf.data() + begin, end - begin);
        const std::string_view r =
            dropping ? session.handle_oversized_line(options.max_line) : session.handle_line(line);
        if (const int rc = reply(r); rc >= 0) {
          return rc;
        }
      } else if (dropping) {
        (void)reply(session.handle_oversized_line(options.max_line));
      }
      return session.exit_status();
    }
    end += static_cast<std::size_t>(n);
  }
}

}  // namespace amap::pipe
