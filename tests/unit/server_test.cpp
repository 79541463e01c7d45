// SPDX-License-Identifier: MIT
// amap::server in-process: listen-address parsing, ephemeral ports, UDP and TCP round trips,
// hot app replacement, batched UDP (bursts from many clients, v4 and v6) and clean stop.

#include "backend/server/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

/// A socket with a receive timeout and the 127.0.0.1:port address to talk to.
int loopback_socket(int type, std::uint16_t port, sockaddr_in& sa) {
  const int fd = ::socket(AF_INET, type, 0);
  timeval tv{5, 0};  // generous: sanitizer builds on a loaded 2-core machine are slow
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sa = sockaddr_in{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return fd;
}

wiretest::Bytes udp_query(std::uint16_t port, const wiretest::Bytes& q) {
  sockaddr_in sa;
  const int fd = loopback_socket(SOCK_DGRAM, port, sa);
  ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  wiretest::Bytes out(65535);
  const ssize_t n = ::recv(fd, out.data(), out.size(), 0);
  ::close(fd);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

wiretest::Bytes tcp_query(std::uint16_t port, const wiretest::Bytes& q) {
  sockaddr_in sa;
  const int fd = loopback_socket(SOCK_STREAM, port, sa);
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

// A scrape (counters()) on another thread while the workers count: every counter has one
// writer (sync::bump) and is read with sync::peek, so TSan (the tsan preset) sees no race; the
// sums come out exact once the queries are answered. Durations count every UDP datagram.
TEST(Server, CountersAreReadWhileServing) {
  ServeOptions o;
  o.listen = {"127.0.0.1:0"};
  o.threads = 2;
  Server s(testapp::make_wire_test_app(), o);
  s.start();
  const std::uint16_t port = s.ports()[0];
  std::atomic<bool> done{false};
  std::uint64_t scrapes = 0;
  std::thread scraper([&] {
    while (!done.load()) {
      // One scrape reads the counters one after another while the workers count on, so
      // its `answered` may be newer than its `received`; a later scrape's `received` bounds it.
      const Stats st = s.counters();
      const Stats later = s.counters();
      EXPECT_LE(st.udp.answered, later.udp.received);
      ++scrapes;
    }
  });
  wiretest::Query q;
  q.qtype = 16;
  for (int i = 0; i < 50; ++i) {
    (void)udp_query(port, q.build());
  }
  (void)tcp_query(port, q.build());
  done = true;
  scraper.join();
  // A worker records the batch's duration just after its send: the last one may still be on
  // its way when the answer has arrived.
  auto observed = [&s] {
    std::uint64_t n = 0;
    for (const std::uint64_t c : s.counters().udp_durations.counts) {
      n += c;
    }
    return n;
  };
  for (int i = 0; i < 200 && observed() < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const Stats st = s.counters();
  EXPECT_GT(scrapes, 0U);
  EXPECT_EQ(st.udp.received, 50U);
  EXPECT_EQ(st.udp.sources[static_cast<std::size_t>(wire::AnswerSource::synthesized)], 50U);
  EXPECT_EQ(observed(), 50U);
  EXPECT_GT(st.udp_durations.sum_ns, 0U);
  EXPECT_EQ(st.tcp.received, 1U);
  s.stop();
}

// A burst queued while both workers (one per listen address) are busy: every datagram must
// come back to its own client with its own answer, so one recvmmsg batch mixes clients,
// sendmmsg answers several clients at once, and dropped datagrams in the middle of a batch do
// not shift the answers. 162 datagrams on the v4 socket take several full batches.
TEST(Server, AnswersABurstFromManyClientsInBatches) {
  auto app = testapp::make_wire_test_app();
  struct Gate {
    std::atomic<int> entered{0};
    std::atomic<bool> release{false};
  };
  auto gate = std::make_shared<Gate>();
  app->route(app::Match().name("slow.hello.example.").type(dns::rrtype::TXT),
             [gate](const app::Request&, app::Answer& ans) noexcept {
               ++gate->entered;
               const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
               while (!gate->release && std::chrono::steady_clock::now() < until) {
                 std::this_thread::sleep_for(std::chrono::milliseconds(1));
               }
               ans.txt("slow");
               return app::Outcome::hit;
             });

  ServeOptions o;
  o.listen = {"127.0.0.1:0", "[::1]:0"};
  o.threads = 1;
  o.tcp = false;
  Server s(app, o);
  s.start();
  const std::uint16_t port4 = s.ports()[0];
  const std::uint16_t port6 = s.ports()[1];

  sockaddr_in to4{};
  to4.sin_family = AF_INET;
  to4.sin_port = htons(port4);
  to4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in6 to6{};
  to6.sin6_family = AF_INET6;
  to6.sin6_port = htons(port6);
  to6.sin6_addr = in6addr_loopback;
  auto send_to = [&](int fd, bool v6, const wiretest::Bytes& b) {
    const ssize_t n = v6 ? ::sendto(fd, b.data(), b.size(), 0,
                                    reinterpret_cast<const sockaddr*>(&to6), sizeof to6)
                         : ::sendto(fd, b.data(), b.size(), 0,
                                    reinterpret_cast<const sockaddr*>(&to4), sizeof to4);
    ASSERT_EQ(n, static_cast<ssize_t>(b.size()));
  };

  // Block both workers inside a handler.
  const int slow_fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const int slow6_fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
  wiretest::Query slow;
  slow.qname = "slow.hello.example.";
  slow.qtype = 16;
  send_to(slow_fd, false, slow.build());
  send_to(slow6_fd, true, slow.build());
  for (int i = 0; i < 10000 && gate->entered < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(gate->entered, 2);

  // 6 v4 and 2 v6 clients, 25 queries each, sent round robin; each client also sends a
  // response (QR=1) and a 5-byte datagram, which are dropped.
  constexpr std::size_t kClients = 8;
  constexpr std::size_t kPerClient = 25;
  struct Client {
    int fd = -1;
    bool v6 = false;
  };
  std::vector<Client> clients(kClients);
  for (std::size_t c = 0; c < kClients; ++c) {
    clients[c].v6 = c >= 6;
    clients[c].fd = ::socket(clients[c].v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(clients[c].fd, 0);
  }
  // Query k of client c: id = c * 100 + k, TXT of (10 + c * 30 + k) bytes, every third one
  // with EDNS.
  auto size_of = [](std::size_t c, std::size_t k) { return 10 + c * 30 + k; };
  for (std::size_t k = 0; k < kPerClient; ++k) {
    for (std::size_t c = 0; c < kClients; ++c) {
      wiretest::Query q;
      q.id = static_cast<std::uint16_t>(c * 100 + k);
      q.qname = std::to_string(size_of(c, k)) + ".size.hello.example.";
      q.qtype = 16;
      q.edns = k % 3 == 0;
      send_to(clients[c].fd, clients[c].v6, q.build());
      if (k == 10) {
        wiretest::Query r = q;
        r.flags = 0x8100;  // QR=1: dropped
        send_to(clients[c].fd, clients[c].v6, r.build());
        send_to(clients[c].fd, clients[c].v6, wiretest::Bytes{1, 2, 3, 4, 5});  // short
      }
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let loopback queue them all
  gate->release = true;

  auto recv_one = [](int fd) {
    wiretest::Bytes out(65535);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) {  // generous: sanitizer builds on a loaded machine
      return wiretest::Bytes{};
    }
    const ssize_t n = ::recv(fd, out.data(), out.size(), MSG_DONTWAIT);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  };
  for (const int fd : {slow_fd, slow6_fd}) {
    const auto slow_r = wiretest::decode(recv_one(fd));
    EXPECT_EQ(slow_r.qname, "slow.hello.example.");
    EXPECT_EQ(slow_r.answer.size(), 1U);
  }

  for (std::size_t c = 0; c < kClients; ++c) {
    std::vector<int> seen(kPerClient, 0);
    for (std::size_t i = 0; i < kPerClient; ++i) {
      const wiretest::Bytes m = recv_one(clients[c].fd);
      ASSERT_FALSE(m.empty()) << "client " << c << " got " << i << " of " << kPerClient;
      const auto r = wiretest::decode(m);
      const std::size_t k = r.id - c * 100;  // wraps when below: caught next
      ASSERT_TRUE(k < kPerClient) << "client " << c << " got id " << r.id;
      ++seen[k];
      EXPECT_TRUE(r.qr());
      EXPECT_TRUE(r.aa());
      EXPECT_EQ(r.rcode(), 0U);
      EXPECT_EQ(r.qname, std::to_string(size_of(c, k)) + ".size.hello.example.");
      ASSERT_EQ(r.answer.size(), 1U);
      EXPECT_EQ(r.answer[0].rdata.size(), size_of(c, k));
      EXPECT_EQ(r.ar, k % 3 == 0 ? 1U : 0U);  // OPT only when asked
    }
    for (std::size_t k = 0; k < kPerClient; ++k) {
      EXPECT_EQ(seen[k], 1) << "client " << c << " query " << k;
    }
    pollfd p{clients[c].fd, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 50), 0) << "client " << c << ": no answer to the dropped ones";
    ::close(clients[c].fd);
  }
  ::close(slow_fd);
  ::close(slow6_fd);

  s.stop();
  const Stats st = s.counters();
  const std::uint64_t total = 2 + kClients * (kPerClient + 2);
  EXPECT_EQ(st.udp.received, total);
  EXPECT_EQ(st.udp.answered, 2U + kClients * kPerClient);
  EXPECT_EQ(st.udp.dropped_response, static_cast<std::uint64_t>(kClients));
  EXPECT_EQ(st.udp.dropped_short, static_cast<std::uint64_t>(kClients));
  EXPECT_EQ(st.send_errors, 0U);
  EXPECT_EQ(st.udp_send_dropped, 0U);
  // 1 per slow query, then 162 v4 datagrams in 6 batches and 54 v6 ones in 2 (with slack for
  // datagrams that were not queued yet when a worker woke up).
  EXPECT_GE(st.udp_batches, 10U);
  EXPECT_LE(st.udp_batches, 40U);
}

// Binding port 0 with SO_REUSEPORT may return a port another SO_REUSEPORT socket of the same
// user holds, and the two would split its datagrams. With thousands of such sockets held
// here, a server asked for port 0 must still land on a port none of them has.
TEST(Server, PortZeroNeverJoinsAnotherReusePortSocket) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  const rlim_t want = std::min<rlim_t>(lim.rlim_max, 8192);
  lim.rlim_cur = std::max(lim.rlim_cur, want);
  ::setrlimit(RLIMIT_NOFILE, &lim);
  const std::size_t held = lim.rlim_cur > 1100 ? lim.rlim_cur - 1000 : 100;

  std::vector<int> fds;
  std::set<std::uint16_t> taken;
  for (std::size_t i = 0; i < held; ++i) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    int one = 1;
    ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    taken.insert(ntohs(a.sin_port));
    fds.push_back(fd);
  }
  auto app = testapp::make_wire_test_app();
  for (int i = 0; i < 10; ++i) {
    ServeOptions o;
    o.listen = {"127.0.0.1:0"};
    o.threads = 2;
    o.tcp = false;
    Server s(app, o);
    s.start();
    EXPECT_EQ(taken.count(s.ports()[0]), 0U) << "port " << s.ports()[0] << " is shared";
    s.stop();
  }
  for (const int fd : fds) {
    ::close(fd);
  }
}

TEST(Server, BindFailureThrows) {
  ServeOptions o;
  o.listen = {"192.0.2.254:0"};  // not a local address
  Server s(testapp::make_wire_test_app(), o);
  try {
    s.start();
    ADD_FAILURE() << "bind to a foreign address succeeded";
  } catch (const std::runtime_error& e) {
    // Which socket, which address, and why.
    EXPECT_EQ(std::string(e.what()),
              "cannot listen on udp 192.0.2.254:0: Cannot assign requested address");
  }
  EXPECT_TRUE(s.stopped());
}

TEST(Server, RejectsMoreThreadsThanTheBound) {
  ServeOptions o;
  o.listen = {"127.0.0.1:0"};
  o.threads = kMaxThreads + 1;
  try {
    Server s(testapp::make_wire_test_app(), o);
    ADD_FAILURE() << "threads above kMaxThreads accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("above the limit of 1024"), std::string::npos) << e.what();
  }
}

/// The answer's rcode to a TXT query for hello.example. sent over UDP to addr:port, or -1.
int udp_rcode_at(const char* addr, std::uint16_t port) {
  sockaddr_in sa;
  const int fd = loopback_socket(SOCK_DGRAM, port, sa);
  ::inet_pton(AF_INET, addr, &sa.sin_addr);
  wiretest::Query q;
  q.qtype = 16;
  const wiretest::Bytes query = q.build();
  ::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  wiretest::Bytes out(65535);
  const ssize_t n = ::recv(fd, out.data(), out.size(), 0);
  ::close(fd);
  if (n < 12) {
    return -1;
  }
  out.resize(static_cast<std::size_t>(n));
  return static_cast<int>(wiretest::decode(out).rcode());
}

TEST(Server, RebindBindsNewAddressesKeepsCommonOnesAndChangesNothingOnFailure) {
  ServeOptions o;
  o.listen = {"127.0.0.1:0", "127.0.0.2:0"};
  o.threads = 2;
  Server s(testapp::make_wire_test_app(), o);
  s.start();
  const auto before = s.local_endpoints();
  ASSERT_EQ(before.size(), 2U);
  EXPECT_EQ(udp_rcode_at("127.0.0.2", before[1].port), 0);

  s.rebind({"127.0.0.1:0", "127.0.0.3:0"});
  const auto after = s.local_endpoints();
  ASSERT_EQ(after.size(), 2U);
  EXPECT_EQ(after[0].to_string(), before[0].to_string());  // kept: the same socket and port
  EXPECT_EQ(after[1].address.to_string(), "127.0.0.3");
  EXPECT_EQ(udp_rcode_at("127.0.0.1", after[0].port), 0);
  EXPECT_EQ(udp_rcode_at("127.0.0.3", after[1].port), 0);

  // A port held here without SO_REUSEPORT cannot be bound: nothing changes.
  const int blocker = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.4", &sa.sin_addr);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  ::getsockname(blocker, reinterpret_cast<sockaddr*>(&sa), &len);
  const std::string busy = "127.0.0.4:" + std::to_string(ntohs(sa.sin_port));
  try {
    s.rebind({"127.0.0.1:0", busy});
    ADD_FAILURE() << "rebind to a busy port succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot listen on udp " + busy + ": Address already in use");
  }
  ::close(blocker);
  EXPECT_EQ(s.local_endpoints()[1].to_string(), after[1].to_string());
  EXPECT_EQ(udp_rcode_at("127.0.0.3", after[1].port), 0);
  EXPECT_THROW(s.rebind({"nonsense"}), std::invalid_argument);
  EXPECT_THROW(s.rebind({}), std::invalid_argument);
  s.stop();
  EXPECT_EQ(s.counters().udp.received, 4U);  // the retired 127.0.0.2 workers' counts are kept
}

}  // namespace
}  // namespace amap::server
