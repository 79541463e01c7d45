// SPDX-License-Identifier: MIT
// amap::server in-process: listen-address parsing, ephemeral ports, UDP and TCP round trips,
// hot app replacement and clean stop.

#include "backend/server/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/wire_test_app.h"
#include "tests/unit/wire_test_util.h"

namespace amap::server {
namespace {

TEST(Endpoint, ParsesAddressesAndPorts) {
  auto a = Endpoint::parse("127.0.0.1:5353");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 5353);
  EXPECT_EQ(a->to_string(), "127.0.0.1:5353");
  auto b = Endpoint::parse("[::1]:53");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->address.is_v6());
  EXPECT_EQ(b->to_string(), "[::1]:53");
  EXPECT_EQ(Endpoint::parse("0.0.0.0:0")->port, 0);
  for (const char* bad : {"", "127.0.0.1", "::1:53", "[127.0.0.1]:53", "[::1]53", "1.2.3.4:65536",
                          "1.2.3.4:-1", "1.2.3.4:5x", "host:53", "[::1]:"}) {
    EXPECT_FALSE(Endpoint::parse(bad)) << bad;
  }
}

TEST(Server, RejectsBadListenStrings) {
  ServeOptions o;
  o.listen = {"localhost:53"};
  EXPECT_THROW(Server(testapp::make_wire_test_app(), o), std::invalid_argument);
}

wiretest::Bytes udp_query(std::uint16_t port, const wiretest::Bytes& q) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  timeval tv{5, 0};  // generous: sanitizer builds on a loaded 2-core machine are slow
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  wiretest::Bytes out(65535);
  const ssize_t n = ::recv(fd, out.data(), out.size(), 0);
  ::close(fd);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

wiretest::Bytes tcp_query(std::uint16_t port, const wiretest::Bytes& q) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};  // generous: sanitizer builds on a loaded 2-core machine are slow
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  wiretest::Bytes out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    wiretest::Bytes msg;
    wiretest::put16(msg, static_cast<unsigned>(q.size()));
    msg.insert(msg.end(), q.begin(), q.end());
    ::send(fd, msg.data(), msg.size(), 0);
    std::uint8_t len[2];
    if (::recv(fd, len, 2, MSG_WAITALL) == 2) {
      out.resize(static_cast<std::size_t>((len[0] << 8) | len[1]));
      out.resize(static_cast<std::size_t>(
          std::max<ssize_t>(0, ::recv(fd, out.data(), out.size(), MSG_WAITALL))));
    }
  }
  ::close(fd);
  return out;
}

TEST(Server, ServesUdpAndTcpOnEphemeralPortAndSwapsApps) {
  ServeOptions o;
  o.listen = {"127.0.0.1:0"};
  o.threads = 2;
  Server s(testapp::make_wire_test_app(), o);
  s.start();
  ASSERT_EQ(s.ports().size(), 1U);
  const std::uint16_t port = s.ports()[0];
  EXPECT_NE(port, 0);
  EXPECT_EQ(s.local_endpoints()[0].to_string(), "127.0.0.1:" + std::to_string(port));

  wiretest::Query q;
  q.qtype = 16;
  auto r = wiretest::decode(udp_query(port, q.build()));
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(r.answer.size(), 1U);
  q.qname = "big.hello.example.";
  r = wiretest::decode(tcp_query(port, q.build()));
  EXPECT_EQ(r.answer.size(), 40U);

  // Swap in an app without hello.example.: now REFUSED.
  auto other = std::make_shared<app::App>();
  other->zone("other.example.");
  const std::uint64_t g = s.generation();
  s.replace_app(other);
  EXPECT_EQ(s.generation(), g + 1);
  q.qname = "hello.example.";
  // Both workers may answer: ask a few times.
  for (int i = 0; i < 4; ++i) {
    r = wiretest::decode(udp_query(port, q.build()));
    EXPECT_EQ(r.rcode(), 5U);
  }
  s.stop();
  s.stop();  // idempotent
  const Stats st = s.counters();
  EXPECT_EQ(st.udp.received, 5U);
  EXPECT_EQ(st.tcp.received, 1U);
  EXPECT_EQ(st.tcp_accepted, 1U);
}

TEST(Server, BindFailureThrows) {
  ServeOptions o;
  o.listen = {"192.0.2.254:0"};  // not a local address
  Server s(testapp::make_wire_test_app(), o);
  EXPECT_THROW(s.start(), std::runtime_error);  // boost::system::system_error
}

}  // namespace
}  // namespace amap::server
