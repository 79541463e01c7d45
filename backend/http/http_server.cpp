// SPDX-License-Identifier: MIT
#include "backend/http/http_server.h"

#include <array>
#include <atomic>
// Asio 1.18's scheduler trips GCC 12's flow-based -Wnull-dereference once inlined (as in
// backend/server/server.cpp): Boost's code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop
#include <stdexcept>
#include <thread>
#include <utility>

#include "mapper/app/log.h"

namespace amap::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::Impl {
  Routes routes;
  ApiHandler api;
  Limits limits;
  std::size_t open = 0;  // HTTP thread only (and ctx's destructor, for queued sessions)
  std::atomic<std::uint64_t> rejected{0};
  std::vector<server::Endpoint> endpoints;
  asio::io_context ctx{1};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // before ctx goes
  std::thread thread;

  void accept(tcp::acceptor& acceptor);
  Response answer(const bhttp::request<bhttp::string_body>& req) const;
  bool is_api(std::string_view target) const { return api && target.starts_with("/api/"); }
};

namespace {

/// One connection: read one request, answer, close.
struct Session : std::enable_shared_from_this<Session> {
  Session(HttpServer::Impl& server, tcp::socket socket) : srv(server), stream(std::move(socket)) {
    parser.header_limit(static_cast<std::uint32_t>(srv.limits.max_request_bytes));
    // Checked against Content-Length as the head is parsed: the API's limit (when there is an
    // API); the monitoring routes take no body at all (on_header).
    parser.body_limit(srv.api ? srv.limits.max_body_bytes : 0);
  }
  ~Session() { --srv.open; }

  void start() {
    stream.expires_after(srv.limits.timeout);
    bhttp::async_read_header(
        stream, buffer, parser,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  static bool too_large(beast::error_code ec) {
    return ec == bhttp::error::header_limit || ec == bhttp::error::body_limit ||
           ec == bhttp::error::buffer_overflow;
  }

  void on_header(beast::error_code ec) {
    if (too_large(ec)) {
      write(too_large_response(), false);
      return;
    }
    if (ec) {
      return;  // timeout, reset, malformed: just close
    }
    const auto t = parser.get().target();
    if (!srv.is_api(std::string_view(t.data(), t.size())) &&
        (parser.chunked() || parser.content_length().value_or(0) != 0)) {
      write(too_large_response(), false);  // the monitoring routes take no body
      return;
    }
    bhttp::async_read(
        stream, buffer, parser,
        [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
  }

  Response too_large_response() const {
    // A body over the limit is found once the head is parsed (Content-Length), so the target
    // is known: the API's clients get a JSON reason.
    if (!srv.is_api(target_of(parser.get()))) {
      return Response{413, "text/plain; charset=utf-8", "request too large\n", {}};
    }
    return Response{413,
                    "application/json",
                    "{\"error\":\"the request body is larger than http.max_body (" +
                        std::to_string(srv.limits.max_body_bytes) + " bytes)\"}\n",
                    {}};
  }

  static std::string_view target_of(const bhttp::request<bhttp::string_body>& req) {
    const auto t = req.target();
    return {t.data(), t.size()};
  }

  void on_read(beast::error_code ec) {
    if (too_large(ec)) {
      write(too_large_response(), false);
      return;
    }
    if (ec) {
      return;
    }
    const auto& req = parser.get();
    write(srv.answer(req), req.method() == bhttp::verb::head);
  }

  void write(Response r, bool head_only) {
    res.result(r.status);
    res.version(11);
    res.set(bhttp::field::server, "automap");
    res.set(bhttp::field::content_type, r.content_type);
    res.set(bhttp::field::cache_control, "no-store");
    if (!r.allow.empty()) {
      res.set(bhttp::field::allow, r.allow);
    }
    res.keep_alive(false);
    res.content_length(r.body.size());
    if (!head_only) {
      res.body() = std::move(r.body);
    }
    stream.expires_after(srv.limits.timeout);  // the handler may have taken a while
    bhttp::async_write(stream, res, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        return;
      }
      beast::error_code ignored;
      self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->drain();
    });
  }

  /// Reads what the client still sends (a body that was not read) until it closes, so that
  /// closing with unread data does not reset the connection and lose the answer on its way.
  void drain() {
    stream.async_read_some(asio::buffer(scratch),
                           [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (!ec) {
                               self->drain();
                             }
                           });
  }

  HttpServer::Impl& srv;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bhttp::request_parser<bhttp::string_body> parser;
  bhttp::response<bhttp::string_body> res;
  std::array<char, 4096> scratch{};
};

}  // namespace

Response HttpServer::Impl::answer(const bhttp::request<bhttp::string_body>& req) const {
  const auto full = req.target();
  std::string_view target(full.data(), full.size());
  const std::size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (is_api(path)) {
    Request r;
    const auto m = req.method_string();
    r.method.assign(m.data(), m.size());
    r.path.assign(path);
    if (q != std::string_view::npos) {
      r.query.assign(target.substr(q + 1));
    }
    if (const auto k = req.find("X-API-Key"); k != req.end()) {
      r.api_key.assign(k->value().data(), k->value().size());
    }
    if (const auto c = req.find(bhttp::field::content_type); c != req.end()) {
      r.content_type.assign(c->value().data(), c->value().size());
    }
    r.body = req.body();
    try {
      return api(r);
    } catch (const std::exception& e) {
      log::error(std::string("http ") + std::string(path) + ": " + e.what());
      return {500, "application/json", "{\"error\":\"internal error (logged)\"}\n", {}};
    }
  }
  const auto route = routes.find(path);
  if (route == routes.end()) {
    return {404, "text/plain; charset=utf-8", "not found\n", {}};
  }
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
    return {405, "text/plain; charset=utf-8", "method not allowed\n", "GET, HEAD"};
  }
  try {
    return route->second();
  } catch (const std::exception& e) {
    log::error(std::string("http ") + std::string(path) + ": " + e.what());
    return {500, "text/plain; charset=utf-8", "internal error\n", {}};
  }
}

void HttpServer::Impl::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (!ec) {
      if (open >= limits.max_connections) {
        rejected.fetch_add(1, std::memory_order_relaxed);
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        ++open;
        std::make_shared<Session>(*this, std::move(socket))->start();
      }
    }
    accept(acceptor);
  });
}

HttpServer::HttpServer(const std::vector<std::string>& listen, Routes routes, Limits limits,
                       ApiHandler api)
    : impl_(std::make_unique<Impl>()) {
  impl_->routes = std::move(routes);
  impl_->api = std::move(api);
  impl_->limits = limits;
  for (const std::string& text : listen) {
    const auto ep = server::Endpoint::parse(text);
    if (!ep) {
      throw std::invalid_argument("bad http listen address '" + text +
                                  "' (ADDR:PORT, IPv6 as [::1]:9153)");
    }
    try {
      const tcp::endpoint where(asio::ip::make_address(ep->address.to_string()), ep->port);
      auto acceptor = std::make_unique<tcp::acceptor>(impl_->ctx);
      acceptor->open(where.protocol());
      acceptor->set_option(asio::socket_base::reuse_address(true));
      if (where.address().is_v6()) {
        acceptor->set_option(asio::ip::v6_only(true));
      }
      acceptor->bind(where);
      acceptor->listen(64);
      const tcp::endpoint bound = acceptor->local_endpoint();
      server::Endpoint b{ep->address, bound.port()};
      impl_->endpoints.push_back(b);
      log::info("listening http " + b.to_string());
      impl_->acceptors.push_back(std::move(acceptor));
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot listen on http " + text + ": " + e.code().message());
    }
  }
  for (auto& a : impl_->acceptors) {
    impl_->accept(*a);
  }
  impl_->thread = std::thread([impl = impl_.get()] { impl->ctx.run(); });
}

HttpServer::~HttpServer() {
  impl_->ctx.stop();
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
}

std::vector<server::Endpoint> HttpServer::local_endpoints() const {
  return impl_->endpoints;
}

std::uint64_t HttpServer::rejected() const noexcept {
  return impl_->rejected.load(std::memory_order_relaxed);
}

}  // namespace amap::http
