// SPDX-License-Identifier: MIT
// The lb example in-process: the HTTP response parser, config errors with line:col, and the
// app over a real TCP probe (a listening socket here): answers before and after the first
// probe round, and no allocation per query once its worker's View is warm.
#include "tools/examples/lb/lb.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "mapper/app/background.h"
#include "mapper/app/testing.h"
#include "tests/unit/alloc_counter.h"
#include "tools/examples/lb/probe.h"

namespace {

using amap::lb::parse_http_response;

TEST(LbProbe, ParsesTheLoadFromA2xxBody) {
  auto r = parse_http_response("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n12.5\n");
  EXPECT_TRUE(r.healthy);
  EXPECT_DOUBLE_EQ(r.load, 12.5);
  r = parse_http_response("HTTP/1.1 204 No Content\r\n\r\n \n7 requests");
  EXPECT_TRUE(r.healthy);
  EXPECT_DOUBLE_EQ(r.load, 7);
}

TEST(LbProbe, AnythingElseIsDown) {
  EXPECT_FALSE(parse_http_response("HTTP/1.0 503 Service Unavailable\r\n\r\n1").healthy);
  EXPECT_EQ(parse_http_response("HTTP/1.0 503 Service Unavailable\r\n\r\n1").why,
            "HTTP status 503");
  EXPECT_FALSE(parse_http_response("HTTP/1.0 200 OK\r\n\r\nbusy").healthy);
  EXPECT_FALSE(parse_http_response("HTTP/1.0 200 OK\r\n\r\n-1").healthy);
  EXPECT_FALSE(parse_http_response("HTTP/1.0 200 OK\r\nno end of headers 1").healthy);
  EXPECT_FALSE(parse_http_response("SSH-2.0-OpenSSH_9.2\r\n").healthy);
  EXPECT_FALSE(parse_http_response("").healthy);
}

TEST(LbConfig, ErrorsCarryLineAndColumn) {
  const auto r = amap::lb::load_text(
      "zone: lb.example.\n"
      "services:\n"
      "  - name: www.lb.example.\n"
      "    count: 100\n"
      "    probe: { type: tcp, path: /x }\n"
      "    backends: [{ address: 192.0.2.1, prot: 80 }]\n",
      "lb.yaml");
  ASSERT_EQ(r.errors.size(), 3U);
  EXPECT_EQ(r.errors[0].to_string(),
            "lb.yaml:4:12: services[0].count: expected an integer from 1 to 64");
  EXPECT_EQ(r.errors[1].to_string(), "lb.yaml:5:31: services[0].probe.path: only for type: http");
  EXPECT_EQ(r.errors[2].to_string(),
            "lb.yaml:6:38: services[0].backends[0].prot: unknown key; did you mean 'port'?");
}

TEST(LbConfig, YamlSyntaxError) {
  const auto r = amap::lb::load_text("zone: [\n", "lb.yaml");
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].to_string().rfind("lb.yaml:2:1: ", 0), 0U) << r.errors[0].to_string();
}

/// A TCP listener on 127.0.0.1 (the kernel completes handshakes into the backlog: enough for
/// the tcp probe).
struct Listener {
  explicit Listener(std::uint32_t host = INADDR_LOOPBACK) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(host);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 64) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "listener";
    }
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
  int fd = -1;
  std::uint16_t port = 0;
};

TEST(LbApp, AnswersFromTheProbesWithoutAllocating) {
  Listener up;
  std::uint16_t closed_port = 0;
  {
    Listener gone;  // a port nothing listens on once it is closed
    closed_port = gone.port;
  }
  const std::string yaml =
      "zone: lb.example.\n"
      "services:\n"
      "  - name: www.lb.example.\n"
      "    count: 2\n"
      "    ttl: 3\n"
      "    probe: { type: tcp, interval: 10s, timeout: 500ms }\n"
      "    backends:\n"
      "      - { address: 127.0.0.1, port: " +
      std::to_string(closed_port) +
      " }\n"
      "      - { address: 127.0.0.1, port: " +
      std::to_string(up.port) + " }\n";
  auto cfg = amap::lb::load_text(yaml, "lb.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.errors[0].to_string();
  const amap::app::App app = amap::lb::make_app(std::move(cfg.config));

  // Before the first probe round every front-end counts as down: no fallback -> SERVFAIL.
  auto r = amap::app::testing::query(app, "www.lb.example.", "A");
  EXPECT_EQ(r.rcode, amap::app::Rcode::servfail);

  amap::app::BackgroundRunner runner(app.background_tasks());
  ASSERT_TRUE(runner.wait_first_runs(std::chrono::seconds(5)));
  r = amap::app::testing::query(app, "www.lb.example.", "A");
  ASSERT_EQ(r.rcode, amap::app::Rcode::noerror);
  ASSERT_EQ(r.answer.size(), 1U);  // only one is up
  EXPECT_EQ(r.answer[0], "www.lb.example. 3 IN A 127.0.0.1");
  r = amap::app::testing::query(app, "www.lb.example.", "AAAA");
  EXPECT_EQ(r.rcode, amap::app::Rcode::noerror);
  EXPECT_TRUE(r.answer.empty());

  const amap::app::Request req = amap::app::testing::make_request("www.lb.example.", "A");
  amap::app::Worker worker(app);
  amap::app::Answer& ans = worker.answer();
  app.resolve(worker, req, ans);  // warms this worker's View
  const std::size_t before = amap::testing::allocation_count();
  for (int i = 0; i < 1000; ++i) {
    app.resolve(worker, req, ans);
  }
  EXPECT_EQ(amap::testing::allocation_count() - before, 0U);
  EXPECT_EQ(ans.rcode, amap::app::Rcode::noerror);
  EXPECT_EQ(ans.size(), 1U);
}

TEST(LbApp, ClientsInARegionPreferItsFrontEnd) {
  Listener first;                // 127.0.0.1
  Listener second(0x7F000002U);  // 127.0.0.2
  const std::string yaml =
      "zone: lb.example.\n"
      "services:\n"
      "  - name: www.lb.example.\n"
      "    probe: { type: tcp, interval: 10s, timeout: 500ms }\n"
      "    backends:\n"
      "      - { address: 127.0.0.1, port: " +
      std::to_string(first.port) +
      " }\n"
      "      - { address: 127.0.0.2, port: " +
      std::to_string(second.port) + ", regions: [192.0.2.0/24] }\n";
  auto cfg = amap::lb::load_text(yaml, "lb.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.errors[0].to_string();
  const amap::app::App app = amap::lb::make_app(std::move(cfg.config));
  amap::app::BackgroundRunner runner(app.background_tasks());
  ASSERT_TRUE(runner.wait_first_runs(std::chrono::seconds(5)));

  amap::app::testing::QueryOptions far;
  far.remote = "203.0.113.1";
  auto r = amap::app::testing::query(app, "www.lb.example.", "A", far);
  ASSERT_EQ(r.answer.size(), 1U);  // count 1; equal loads (tcp): config order
  EXPECT_EQ(r.answer[0], "www.lb.example. 5 IN A 127.0.0.1");

  amap::app::testing::QueryOptions near;
  near.remote = "192.0.2.1";  // the source address is in the second one's region
  r = amap::app::testing::query(app, "www.lb.example.", "A", near);
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0], "www.lb.example. 5 IN A 127.0.0.2");

  amap::app::testing::QueryOptions via_ecs;  // far away, but its ECS subnet is in the region
  via_ecs.remote = "203.0.113.1";
  via_ecs.ecs = "192.0.2.0/24";
  r = amap::app::testing::query(app, "www.lb.example.", "A", via_ecs);
  ASSERT_EQ(r.answer.size(), 1U);
  EXPECT_EQ(r.answer[0], "www.lb.example. 5 IN A 127.0.0.2");
}

}  // namespace
