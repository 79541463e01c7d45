// SPDX-License-Identifier: MIT
#pragma once
// A small HTTP/1.1 server for monitoring (GET /metrics, GET /health) and the provisioning API
// (/api/..., tools/api), on Boost.Beast with its own thread and io_context: never on a DNS
// worker.
//
//   amap::http::Routes routes{{"/health", [] { return Response{200, "application/json", "{}"}; }}};
//   amap::http::HttpServer http({"127.0.0.1:9153"}, routes);   // binds now, or throws
//
// One request per connection (Connection: close), which Prometheus handles. The routes: GET
// and HEAD only (405 otherwise), no body (413), the query string ignored; unknown paths 404.
// Every path under /api/ goes to the ApiHandler when there is one, any method, with a body of
// at most Limits::max_body_bytes (413 above). Bounded: the request head (8 KiB), the open
// connections (further ones are closed at once) and the time one connection may take.

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
  std::string allow;  // the Allow header of a 405
};

/// A request to the ApiHandler.
struct Request {
  std::string method;        // "GET", "PUT", ...
  std::string path;          // the target without the query string, not decoded
  std::string query;         // after '?', not decoded; "" without one
  std::string api_key;       // the X-API-Key header; "" without one
  std::string content_type;  // the Content-Type header
  std::string body;
};

/// Answers every path under /api/; called on the HTTP thread, one at a time.
using ApiHandler = std::function<Response(const Request&)>;

/// Path ("/metrics") to what answers it; called on the HTTP thread, one at a time.
using Routes = std::map<std::string, std::function<Response()>, std::less<>>;

struct Limits {
  std::size_t max_connections = 16;
  std::size_t max_request_bytes = 8192;     // the request head
  std::size_t max_body_bytes = 0;           // an /api/ request's body (http.max_body)
  std::chrono::milliseconds timeout{5000};  // reading a request, then writing the answer
};

class HttpServer {
 public:
  /// Binds every address ("ADDR:PORT", as server::Endpoint::parse takes it; port 0 picks
  /// one) and starts the thread. Throws std::runtime_error "cannot listen on http ADDR:
  /// why" (std::invalid_argument for a malformed address), with nothing left open.
  HttpServer(const std::vector<std::string>& listen, Routes routes, Limits limits = {},
             ApiHandler api = {});
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
