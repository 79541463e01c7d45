// SPDX-License-Identifier: MIT
#include "backend/server/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace amap::server::notify {

bool send(std::string_view state) noexcept {
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (name == nullptr || name[0] == '\0') {
    return false;
  }
  const std::size_t len = std::strlen(name);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (len > sizeof(addr.sun_path) || (name[0] != '/' && name[0] != '@')) {
    return false;
  }
  std::memcpy(addr.sun_path, name, len);
  if (name[0] == '@') {
    addr.sun_path[0] = '\0';  // the abstract namespace: no terminating NUL in the length
  }
  const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  const ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&addr), addr_len);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

std::string reloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                    static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

std::uint64_t watchdog_usec() noexcept {
  const char* pid = std::getenv("WATCHDOG_PID");
  if (pid != nullptr && pid[0] != '\0' &&
      std::strtoll(pid, nullptr, 10) != static_cast<long long>(::getpid())) {
    return 0;
  }
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (usec == nullptr || usec[0] < '1' || usec[0] > '9') {
    return 0;
  }
  char* end = nullptr;
  const unsigned long long v = std::strtoull(usec, &end, 10);
  return *end == '\0' ? v : 0;
}

}  // namespace amap::server::notify
