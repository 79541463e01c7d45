// SPDX-License-Identifier: MIT
#include "tools/examples/lb/probe.h"

// Asio 1.18's scheduler trips GCC 12's flow-based -Wnull-dereference once inlined (as in
// backend/server/server.cpp): Boost's code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio.hpp>
#pragma GCC diagnostic pop
#include <charconv>
#include <cmath>
#include <memory>

namespace amap::lb {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

/// A front-end answers a load figure in a few bytes; more is not read.
constexpr std::size_t kMaxResponse = std::size_t{16} * 1024;

struct Conn {
  Conn(asio::io_context& ctx, ProbeResult& r) : socket(ctx), result(r) {}
  tcp::socket socket;
  std::string request;
  std::string response;
  ProbeResult& result;
  bool finished = false;

  void fail(const std::string& why) {
    if (!finished) {
      finished = true;
      result = ProbeResult{false, 0, why};
    }
    boost::system::error_code ignored;
    socket.close(ignored);
  }
};

tcp::endpoint endpoint_of(const BackendConfig& b) {
  if (b.address.is_v4()) {
    return {asio::ip::address_v4(b.address.v4_value()), b.port};
  }
  asio::ip::address_v6::bytes_type bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = b.address.bytes()[i];
  }
  return {asio::ip::address_v6(bytes), b.port};
}

void read_all(const std::shared_ptr<Conn>& c) {
  auto buf = asio::dynamic_buffer(c->response, kMaxResponse);
  asio::async_read(c->socket, buf, [c](const boost::system::error_code& ec, std::size_t) {
    // HTTP/1.0: the server closes after the body, so EOF is the normal end.
    if (ec && ec != asio::error::eof) {
      if (c->response.size() >= kMaxResponse) {
        c->fail("response longer than " + std::to_string(kMaxResponse) + " bytes");
      } else {
        c->fail("read: " + ec.message());
      }
      return;
    }
    if (!c->finished) {
      c->finished = true;
      c->result = parse_http_response(c->response);
    }
    boost::system::error_code ignored;
    c->socket.close(ignored);
  });
}

}  // namespace

ProbeResult parse_http_response(std::string_view response) {
  // "HTTP/1.1 200 OK\r\n" ... "\r\n\r\n" body
  if (response.size() < 12 || response.substr(0, 7) != "HTTP/1." || response[8] != ' ') {
    return {false, 0, "not an HTTP/1.x response"};
  }
  const char c = response[9];
  if (c != '2') {
    return {false, 0, "HTTP status " + std::string(response.substr(9, 3))};
  }
  const auto end = response.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return {false, 0, "no end of headers"};
  }
  std::string_view body = response.substr(end + 4);
  while (!body.empty() && (body.front() == ' ' || body.front() == '\t' || body.front() == '\r' ||
                           body.front() == '\n')) {
    body.remove_prefix(1);
  }
  double load = 0;
  const auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), load);
  if (ec != std::errc{} || !std::isfinite(load) || load < 0) {
    return {false, 0, "the body does not start with a load figure (a number >= 0)"};
  }
  return {true, load, {}};
}

std::vector<ProbeResult> probe_all(const std::vector<BackendConfig>& backends,
                                   const ProbeConfig& probe, const std::stop_token& stop) {
  std::vector<ProbeResult> results(backends.size());
  asio::io_context ctx;
  std::vector<std::shared_ptr<Conn>> conns;
  for (std::size_t i = 0; i < backends.size(); ++i) {
    auto c = std::make_shared<Conn>(ctx, results[i]);
    conns.push_back(c);
    if (probe.kind == ProbeKind::http) {
      // HTTP/1.0 and Connection: close: no chunked body, the server closes at its end.
      c->request = "GET " + probe.path + " HTTP/1.0\r\nHost: " + backends[i].address.to_string() +
                   "\r\nUser-Agent: automap-lb\r\nConnection: close\r\n\r\n";
    }
    c->socket.async_connect(
        endpoint_of(backends[i]), [c, &probe](const boost::system::error_code& ec) {
          if (ec) {
            c->fail("connect: " + ec.message());
            return;
          }
          if (probe.kind == ProbeKind::tcp) {
            c->finished = true;
            c->result = ProbeResult{true, 0, {}};
            boost::system::error_code ignored;
            c->socket.close(ignored);
            return;
          }
          asio::async_write(c->socket, asio::buffer(c->request),
                            [c](const boost::system::error_code& wec, std::size_t) {
                              if (wec) {
                                c->fail("write: " + wec.message());
                                return;
                              }
                              read_all(c);
                            });
        });
  }
  asio::steady_timer deadline(ctx, probe.timeout);
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) {
      for (const auto& c : conns) {
        c->fail("timeout after " + std::to_string(probe.timeout.count()) + " ms");
      }
    }
  });
  // A stop request (shutdown) ends the round at once.
  const std::stop_callback on_stop(stop, [&ctx] { ctx.stop(); });
  std::size_t left = conns.size();
  while (left > 0 && !ctx.stopped()) {
    ctx.run_one();
    left = 0;
    for (const auto& c : conns) {
      left += c->finished ? 0U : 1U;
    }
  }
  deadline.cancel();
  for (const auto& c : conns) {
    c->fail("stopped");  // only those not finished change
  }
  return results;
}

}  // namespace amap::lb
