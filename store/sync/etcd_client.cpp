// SPDX-License-Identifier: MIT
#include "store/sync/etcd_client.h"

#include <array>
#include <thread>
// Asio 1.18's scheduler trips GCC 12's flow-based -Wnull-dereference once inlined (as in
// backend/http/http_server.cpp): Boost's code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

namespace amap::store::sync {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

/// A transport failure of one member (connection refused, reset, timed out).
struct Transport : std::runtime_error {
  explicit Transport(const std::string& what, bool r = false)
      : std::runtime_error(what), refused(r) {}
  bool refused;  // nothing listens (ECONNREFUSED)
};

/// Runs `ioc` until `done`, checking `stop` every 50 ms; on stop closes the stream so the
/// pending operation ends (operation_aborted) and returns false.
bool run_until(net::io_context& ioc, const bool& done, beast::tcp_stream& stream,
               const std::atomic<bool>* stop) {
  ioc.restart();
  while (!done) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      stream.close();
      ioc.restart();
      ioc.run();
      return false;
    }
    ioc.run_for(std::chrono::milliseconds(50));
  }
  return true;
}

void split(const std::string& endpoint, std::string& host, std::string& port) {
  const auto colon = endpoint.rfind(':');
  host = endpoint.substr(0, colon);
  port = endpoint.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
}

/// Connects `stream` to `endpoint` within `connect_timeout`. Throws Transport.
void connect(net::io_context& ioc, beast::tcp_stream& stream, const std::string& endpoint,
             std::chrono::milliseconds connect_timeout, const std::atomic<bool>* stop) {
  std::string host;
  std::string port;
  split(endpoint, host, port);
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  const auto results = resolver.resolve(host, port, ec);
  if (ec) {
    throw Transport("cannot resolve " + host + ": " + ec.message());
  }
  stream.expires_after(connect_timeout);
  bool done = false;
  stream.async_connect(results, [&](beast::error_code e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  if (!run_until(ioc, done, stream, stop)) {
    throw Transport("stopped");
  }
  if (ec) {
    throw Transport(ec == beast::error::timeout ? "connect timed out" : ec.message(),
                    ec == net::error::connection_refused);
  }
}

http::request<http::string_body> post(const std::string& endpoint, std::string_view path,
                                      std::string body) {
  http::request<http::string_body> req{http::verb::post, std::string(path), 11};
  req.set(http::field::host, endpoint);
  req.set(http::field::content_type, "application/json");
  req.keep_alive(false);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

void write(net::io_context& ioc, beast::tcp_stream& stream, http::request<http::string_body>& req,
           const std::atomic<bool>* stop) {
  beast::error_code ec;
  bool done = false;
  http::async_write(stream, req, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!run_until(ioc, done, stream, stop)) {
    throw Transport("stopped");
  }
  if (ec) {
    throw Transport(ec == beast::error::timeout ? "timed out" : ec.message());
  }
}

/// etcd's gRPC status in a gateway error body: 14 unavailable (no leader, leader changed),
/// 4 deadline exceeded. Worth asking another member.
bool retriable(const nlohmann::json& j) {
  const int code = j.value("code", 0);
  const std::string msg = j.value("message", j.value("error", std::string()));
  return code == 14 || code == 4 || msg.find("leader") != std::string::npos ||
         msg.find("timed out") != std::string::npos;
}

std::string error_text(const nlohmann::json& j, const std::string& raw) {
  std::string msg = j.is_object() ? j.value("message", j.value("error", std::string())) : "";
  return msg.empty() ? raw.substr(0, 200) : msg;
}

}  // namespace

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {
  if (options_.endpoints.empty()) {
    throw std::invalid_argument("etcd: no endpoints");
  }
}

nlohmann::json EtcdClient::call(std::string_view path, const nlohmann::json& body,
                                const std::atomic<bool>* stop) {
  const auto deadline = Clock::now() + options_.timeout;
  const std::string payload = body.dump();
  std::vector<std::string> why(options_.endpoints.size());
  const std::size_t n = options_.endpoints.size();
  for (unsigned round = 0;; ++round) {
    std::size_t refused = 0;  // members that refused the connection in this round
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (preferred_ + k) % n;
      const std::string& ep = options_.endpoints[i];
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        break;
      }
      try {
        net::io_context ioc;
        beast::tcp_stream stream(ioc);
        connect(ioc, stream, ep, std::min(left, options_.connect_timeout), stop);
        stream.expires_at(deadline);
        auto req = post(ep, path, payload);
        write(ioc, stream, req, stop);
        beast::flat_buffer buf;
        http::response_parser<http::string_body> parser;
        parser.body_limit(std::uint64_t{1} << 31U);
        beast::error_code ec;
        bool done = false;
        http::async_read(stream, buf, parser, [&](beast::error_code e, std::size_t) {
          ec = e;
          done = true;
        });
        if (!run_until(ioc, done, stream, stop)) {
          throw Transport("stopped");
        }
        if (ec) {
          throw Transport(ec == beast::error::timeout ? "no answer in time" : ec.message());
        }
        const auto& res = parser.get();
        nlohmann::json j = nlohmann::json::parse(res.body(), nullptr, false);
        if (res.result_int() == 200 && j.is_object() && !j.contains("error")) {
          preferred_ = i;
          return j;
        }
        if (j.is_object() && retriable(j)) {
          why[i] = error_text(j, res.body());
          continue;
        }
        const std::string msg = error_text(j, res.body());
        throw EtcdError(msg.find("compacted") != std::string::npos ? EtcdError::Kind::compacted
                                                                   : EtcdError::Kind::refused,
                        "etcd " + ep + " refused " + std::string(path) + ": " + msg);
      } catch (const Transport& e) {
        why[i] = e.what();
        refused += e.refused ? 1U : 0U;
        if (stop != nullptr && stop->load()) {
          throw EtcdError(EtcdError::Kind::unreachable, "stopped");
        }
      }
    }
    // Every member refused the connection three rounds running: nothing listens, so say so
    // now rather than at the timeout (a slow member or an election keeps the full timeout).
    if (refused == n && round >= 2) {
      break;
    }
    if (Clock::now() + std::chrono::milliseconds(100) >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100U + 100U * round, 500U)));
  }
  std::string msg = "etcd unreachable (every member tried for " +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       Clock::now() - (deadline - options_.timeout))
                                       .count()) +
                    " ms):";
  for (std::size_t i = 0; i < n; ++i) {
    msg += " " + options_.endpoints[i] + ": " + (why[i].empty() ? "not tried" : why[i]) +
           (i + 1 < n ? ";" : "");
  }
  throw EtcdError(EtcdError::Kind::unreachable, msg);
}

// ---------------------------------------------------------------------------------- EtcdWatch

struct EtcdWatch::Impl {
  explicit Impl(const std::atomic<bool>& s) : stream(ioc), stop(s) {}
  net::io_context ioc;
  beast::tcp_stream stream;
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  std::string pending;      // bytes received after the last complete line
  std::size_t scanned = 0;  // bytes of `pending` known to hold no newline
  std::string endpoint;
  const std::atomic<bool>& stop;
  std::array<char, 65536> chunk{};

  /// Reads more body bytes into `pending`. False on stop. Throws EtcdError.
  bool read_more() {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    beast::error_code ec;
    bool done = false;
    http::async_read_some(stream, buf, parser, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(ioc, done, stream, &stop)) {
      return false;
    }
    if (ec && ec != http::error::need_buffer) {
      throw EtcdError(EtcdError::Kind::unreachable,
                      "etcd " + endpoint + ": the watch stream broke: " + ec.message());
    }
    pending.append(chunk.data(), chunk.size() - parser.get().body().size);
    if (parser.is_done() && pending.find('\n', scanned) == std::string::npos) {
      throw EtcdError(EtcdError::Kind::unreachable,
                      "etcd " + endpoint + ": the watch stream ended");
    }
    return true;
  }
};

EtcdWatch::EtcdWatch(EtcdClient& client, const nlohmann::json& create,
                     const std::atomic<bool>& stop) {
  const EtcdOptions& o = client.options();
  const std::size_t n = o.endpoints.size();
  std::string why;
  const std::string body = nlohmann::json{{"create_request", create}}.dump();
  for (std::size_t k = 0; k < n; ++k) {
    const std::string& ep = o.endpoints[(client.preferred() + k) % n];
    auto impl = std::make_unique<Impl>(stop);
    impl->endpoint = ep;
    try {
      connect(impl->ioc, impl->stream, ep, o.connect_timeout, &stop);
      impl->stream.expires_after(o.timeout);
      auto req = post(ep, "/v3/watch", body);
      write(impl->ioc, impl->stream, req, &stop);
      impl->parser.body_limit(boost::none);
      beast::error_code ec;
      bool done = false;
      http::async_read_header(impl->stream, impl->buf, impl->parser,
                              [&](beast::error_code e, std::size_t) {
                                ec = e;
                                done = true;
                              });
      if (!run_until(impl->ioc, done, impl->stream, &stop)) {
        throw Transport("stopped");
      }
      if (ec) {
        throw Transport(ec.message());
      }
      if (impl->parser.get().result_int() != 200) {
        throw Transport("HTTP " + std::to_string(impl->parser.get().result_int()));
      }
      impl->stream.expires_never();  // a watch is quiet while nothing changes
      impl_ = std::move(impl);
      return;
    } catch (const Transport& e) {
      why += (why.empty() ? "" : "; ") + ep + ": " + e.what();
      if (stop.load()) {
        break;
      }
    }
  }
  throw EtcdError(EtcdError::Kind::unreachable, "etcd unreachable for a watch: " + why);
}

EtcdWatch::~EtcdWatch() = default;

const std::string& EtcdWatch::endpoint() const noexcept {
  return impl_->endpoint;
}

std::optional<nlohmann::json> EtcdWatch::next() {
  for (;;) {
    // A big transaction is one message of many MB: never rescan what was scanned.
    const auto nl = impl_->pending.find('\n', impl_->scanned);
    impl_->scanned = nl == std::string::npos ? impl_->pending.size() : 0;
    if (nl != std::string::npos) {
      nlohmann::json j =
          nlohmann::json::parse(impl_->pending.data(), impl_->pending.data() + nl, nullptr, false);
      impl_->pending.erase(0, nl + 1);
      if (!j.is_object()) {
        throw EtcdError(EtcdError::Kind::refused,
                        "etcd " + impl_->endpoint + ": unreadable watch message");
      }
      if (j.contains("error")) {
        throw EtcdError(EtcdError::Kind::refused,
                        "etcd " + impl_->endpoint + ": watch: " + error_text(j["error"], ""));
      }
      return j.value("result", nlohmann::json::object());
    }
    if (!impl_->read_more()) {
      return std::nullopt;
    }
  }
}

}  // namespace amap::store::sync
