// SPDX-License-Identifier: MIT
// automap_null_pipe: the do-nothing PowerDNS pipe coprocess used as the baseline by
// bench/automap-bench. It answers HELO with OK and every other line with a bare END, using one
// read() and one write() per request, so "PowerDNS + this" is the cost of PowerDNS and the pipe
// protocol alone; "PowerDNS + automapd pipe" divided by it is what automap adds.

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace {

bool write_all(const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(STDOUT_FILENO, p, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

int main() {
  static char in[1 << 16];
  static char out[1 << 16];
  std::size_t have = 0;
  bool line_start = true;  // the next byte starts a line
  bool helo = false;       // the current line starts with "HELO"
  for (;;) {
    const ssize_t r = ::read(STDIN_FILENO, in, sizeof in);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return 0;
    }
    std::size_t o = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(r); ++i) {
      if (line_start) {
        have = 0;
        helo = false;
        line_start = false;
      }
      if (have < 4) {
        helo = (have == 0 || helo) && in[i] == "HELO"[have];
        ++have;
      }
      if (in[i] == '\n') {
        const char* reply = (helo && have == 4) ? "OK\tautomap null pipe\n" : "END\n";
        const std::size_t len = std::strlen(reply);
        if (o + len > sizeof out) {
          if (!write_all(out, o)) {
            return 1;
          }
          o = 0;
        }
        std::memcpy(out + o, reply, len);
        o += len;
        line_start = true;
      }
    }
    if (o > 0 && !write_all(out, o)) {
      return 1;
    }
  }
}
