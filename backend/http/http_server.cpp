// SPDX-License-Identifier: MIT
#include "backend/http/http_server.h"

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
  Limits limits;
  std::size_t open = 0;  // HTTP thread only (and ctx's destructor, for queued sessions)
  std::atomic<std::uint64_t> rejected{0};
  std::vector<server::Endpoint> endpoints;
  asio::io_context ctx{1};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // before ctx goes
  std::thread thread;

  void accept(tcp::acceptor& acceptor);
  Response answer(const bhttp::request<bhttp::empty_body>& req) const;
};

namespace {

/// One connection: read one request head, answer, close.
struct Session : std::enable_shared_from_this<Session> {
  Session(HttpServer::Impl& server, tcp::socket socket) : srv(server), stream(std::move(socket)) {
    parser.header_limit(static_cast<std::uint32_t>(srv.limits.max_request_bytes));
    parser.body_limit(0);  // GET and HEAD carry no body
  }
  ~Session() { --srv.open; }

  void start() {
    stream.expires_after(srv.limits.timeout);
    bhttp::async_read(
        stream, buffer, parser,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::header_limit || ec == bhttp::error::body_limit) {
      write(Response{413, "text/plain; charset=utf-8", "request too large\n"}, true);
      return;
    }
    if (ec) {
      return;  // timeout, reset, malformed: just close
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
    if (r.status == 405) {
      res.set(bhttp::field::allow, "GET, HEAD");
    }
    res.keep_alive(false);
    res.content_length(r.body.size());
    if (!head_only) {
      res.body() = std::move(r.body);
    }
    bhttp::async_write(stream, res, [self = shared_from_this()](beast::error_code, std::size_t) {
      beast::error_code ignored;
      self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  HttpServer::Impl& srv;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bhttp::request_parser<bhttp::empty_body> parser;
  bhttp::response<bhttp::string_body> res;
};

}  // namespace

Response HttpServer::Impl::answer(const bhttp::request<bhttp::empty_body>& req) const {
  const auto full = req.target();
  std::string_view target(full.data(), full.size());
  target = target.substr(0, target.find('?'));
  const auto route = routes.find(target);
  if (route == routes.end()) {
    return {404, "text/plain; charset=utf-8", "not found\n"};
  }
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
    return {405, "text/plain; charset=utf-8", "method not allowed\n"};
  }
  try {
    return route->second();
  } catch (const std::exception& e) {
    log::error(std::string("http ") + std::string(target) + ": " + e.what());
    return {500, "text/plain; charset=utf-8", "internal error\n"};
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

HttpServer::HttpServer(const std::vector<std::string>& listen, Routes routes, Limits limits)
    : impl_(std::make_unique<Impl>()) {
  impl_->routes = std::move(routes);
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
