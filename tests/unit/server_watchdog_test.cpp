// SPDX-License-Identifier: MIT
// Server::stalled(), what the watchdog pings depend on: quiet while the worker threads go
// round, idle or not; naming the UDP worker or the TCP thread stuck in a handler; quiet again
// once it moves.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "backend/server/server.h"
#include "tests/unit/wire_test_app.h"
#include "tests/unit/wire_test_util.h"

namespace amap::server {
namespace {

using std::chrono::milliseconds;

struct Gate {
  std::atomic<int> entered{0};
  std::atomic<bool> release{false};
};

/// The wire test app plus slow.hello.example. TXT, whose handler waits for the gate (10 s at
/// most, so a failing test still ends).
std::shared_ptr<app::App> gated_app(const std::shared_ptr<Gate>& gate) {
  auto app = testapp::make_wire_test_app();
  app->route(app::Match().name("slow.hello.example.").type(dns::rrtype::TXT),
             [gate](const app::Request&, app::Answer& ans) noexcept {
               ++gate->entered;
               const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
               while (!gate->release && std::chrono::steady_clock::now() < until) {
                 std::this_thread::sleep_for(milliseconds(1));
               }
               ans.txt("slow");
               return app::Outcome::hit;
             });
  return app;
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

wiretest::Bytes slow_query() {
  wiretest::Query q;
  q.qname = "slow.hello.example.";
  q.qtype = 16;
  return q.build();
}

/// Polls stalled() until `pred` holds for its answer (5 s at most); returns the last answer.
template <class Pred>
std::string wait_stalled(const Server& s, milliseconds max_age, Pred pred) {
  std::string last = s.stalled(max_age);
  for (int i = 0; i < 500 && !pred(last); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
    last = s.stalled(max_age);
  }
  return last;
}

TEST(ServerWatchdog, IdleWorkersAreAliveAStuckUdpWorkerIsNamed) {
  auto gate = std::make_shared<Gate>();
  ServeOptions o;
  o.listen = {"127.0.0.1:0"};
  o.threads = 1;
  o.tcp = false;
  Server s(gated_app(gate), o);
  s.start();
  // Idle for longer than max_age: the receive timeout still brings the worker round.
  std::this_thread::sleep_for(milliseconds(800));
  EXPECT_EQ(s.stalled(milliseconds(500)), "");

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in to = loopback(s.ports()[0]);
  const auto q = slow_query();
  ASSERT_EQ(::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(q.size()));
  const std::string stuck =
      wait_stalled(s, milliseconds(500), [](const std::string& r) { return !r.empty(); });
  EXPECT_EQ(gate->entered, 1);
  EXPECT_EQ(
      stuck.rfind("udp worker of 127.0.0.1:" + std::to_string(s.ports()[0]) + " silent for ", 0),
      0U)
      << stuck;

  gate->release = true;
  EXPECT_EQ(wait_stalled(s, milliseconds(500), [](const std::string& r) { return r.empty(); }), "");
  ::close(fd);
  s.stop();
}

TEST(ServerWatchdog, AStuckTcpThreadIsNamed) {
  auto gate = std::make_shared<Gate>();
  ServeOptions o;
  o.listen = {"127.0.0.1:0"};
  o.threads = 1;
  o.udp = false;
  Server s(gated_app(gate), o);
  s.start();
  EXPECT_EQ(s.stalled(milliseconds(500)), "");

  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in to = loopback(s.ports()[0]);
  ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to), 0);
  const auto q = slow_query();
  wiretest::Bytes framed{static_cast<std::uint8_t>(q.size() >> 8),
                         static_cast<std::uint8_t>(q.size() & 0xff)};
  framed.insert(framed.end(), q.begin(), q.end());
  ASSERT_EQ(::send(fd, framed.data(), framed.size(), 0), static_cast<ssize_t>(framed.size()));
  for (int i = 0; i < 5000 && gate->entered < 1; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_EQ(gate->entered, 1);
  const std::string stuck =
      wait_stalled(s, milliseconds(300), [](const std::string& r) { return !r.empty(); });
  EXPECT_EQ(stuck.rfind("tcp thread silent for ", 0), 0U) << stuck;

  gate->release = true;
  EXPECT_EQ(wait_stalled(s, milliseconds(300), [](const std::string& r) { return r.empty(); }), "");
  ::close(fd);
  s.stop();
}

}  // namespace
}  // namespace amap::server
