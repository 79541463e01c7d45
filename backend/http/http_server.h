// SPDX-License-Identifier: MIT
#pragma once
// A small HTTP/1.1 server for monitoring (GET /metrics, GET /health), on Boost.Beast with its
// own thread and io_context: never on a DNS worker.
//
//   amap::http::Routes routes{{"/health", [] { return Response{200, "application/json", "{}"}; }}};
//   amap::http::HttpServer http({"127.0.0.1:9153"}, routes);   // binds now, or throws
//
// One request per connection (Connection: close), which Prometheus handles; GET and HEAD
// only (405 otherwise), unknown paths 404, the query string ignored. Bounded: the request
// head (8 KiB, no body), the open connections (further ones are closed at once) and the time
// one connection may take.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/server/server.h"

namespace amap::http {

struct Response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

/// Path ("/metrics") to what answers it; called on the HTTP thread, one at a time.
using Routes = std::map<std::string, std::function<Response()>, std::less<>>;

struct Limits {
  std::size_t max_connections = 16;
  std::size_t max_request_bytes = 8192;
  std::chrono::milliseconds timeout{5000};  // a whole connection: read, answer, write
};

class HttpServer {
 public:
  /// Binds every address ("ADDR:PORT", as server::Endpoint::parse takes it; port 0 picks
  /// one) and starts the thread. Throws std::runtime_error "cannot listen on http ADDR:
  /// why" (std::invalid_argument for a malformed address), with nothing left open.
  HttpServer(const std::vector<std::string>& listen, Routes routes, Limits limits = {});
  /// Stops the thread and closes every socket.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::vector<server::Endpoint> local_endpoints() const;
  /// Connections closed at once because max_connections were open.
  std::uint64_t rejected() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace amap::http
