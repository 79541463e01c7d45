// SPDX-License-Identifier: MIT
// automap_null_udp: the do-nothing UDP responder of bench/automap-bench.
//
//   automap_null_udp --port N [--address 127.0.0.1]
//
// Answers every datagram of at least 12 bytes with itself, QR set and RCODE REFUSED, through
// the same I/O loop as automapd serve's UDP workers: one thread blocking in
// recvmmsg(MSG_WAITFORONE) for up to 32 datagrams, one sendmmsg for their answers. It does no
// DNS work at all, so its CPU per query at a given offered load is what the kernel's UDP
// path, the sleeps and the wake-ups cost any UDP server on this machine: the floor under the
// servers compared (automapd serve, Knot). Runs until SIGTERM/SIGINT.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr unsigned kBatch = 32;
constexpr std::size_t kSlot = 65536;

int usage() {
  std::fprintf(stderr, "usage: automap_null_udp --port N [--address 127.0.0.1]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long port = -1;
  std::string address = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      char* end = nullptr;
      port = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || port < 1 || port > 65535) {
        return usage();
      }
    } else if (arg == "--address" && i + 1 < argc) {
      address = argv[++i];
    } else {
      return usage();
    }
  }
  if (port < 0) {
    return usage();
  }
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, address.c_str(), &local.sin_addr) != 1) {
    std::fprintf(stderr, "automap_null_udp: not an IPv4 address: %s\n", address.c_str());
    return 2;
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    std::fprintf(stderr, "automap_null_udp: bind %s:%ld: %s\n", address.c_str(), port,
                 std::strerror(errno));
    return 1;
  }

  std::vector<std::uint8_t> buf(kBatch * kSlot);
  std::array<sockaddr_in, kBatch> peer{};
  std::array<iovec, kBatch> rx_iov{};
  std::array<iovec, kBatch> tx_iov{};
  std::array<mmsghdr, kBatch> rx{};
  std::array<mmsghdr, kBatch> tx{};
  for (unsigned i = 0; i < kBatch; ++i) {
    rx_iov[i] = iovec{buf.data() + i * kSlot, kSlot};
    rx[i].msg_hdr.msg_iov = &rx_iov[i];
    rx[i].msg_hdr.msg_iovlen = 1;
    rx[i].msg_hdr.msg_name = &peer[i];
    tx[i].msg_hdr.msg_iov = &tx_iov[i];
    tx[i].msg_hdr.msg_iovlen = 1;
  }
  for (;;) {
    for (unsigned i = 0; i < kBatch; ++i) {
      rx[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    const int n = ::recvmmsg(fd, rx.data(), kBatch, MSG_WAITFORONE, nullptr);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      std::fprintf(stderr, "automap_null_udp: recvmmsg: %s\n", std::strerror(errno));
      return 1;
    }
    unsigned count = 0;
    for (unsigned i = 0; i < static_cast<unsigned>(n); ++i) {
      std::uint8_t* msg = buf.data() + i * kSlot;
      if (rx[i].msg_len < 12 || (msg[2] & 0x80) != 0) {
        continue;  // too short for a header, or a response
      }
      msg[2] = static_cast<std::uint8_t>(msg[2] | 0x80);        // QR
      msg[3] = static_cast<std::uint8_t>((msg[3] & 0xF0) | 5);  // RCODE REFUSED
      tx[count].msg_hdr.msg_name = &peer[i];
      tx[count].msg_hdr.msg_namelen = rx[i].msg_hdr.msg_namelen;
      tx_iov[count] = iovec{msg, rx[i].msg_len};
      ++count;
    }
    unsigned done = 0;
    while (done < count) {
      const int m = ::sendmmsg(fd, tx.data() + done, count - done, 0);
      if (m < 0 && errno == EINTR) {
        continue;
      }
      done += m > 0 ? static_cast<unsigned>(m) : 1;  // a failed message is skipped
    }
  }
}
