// SPDX-License-Identifier: MIT
#include "store/sync/etcd_client.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
// Asio 1.18's scheduler trips GCC 12's flow-based -Wnull-dereference once inlined (as in
// backend/http/http_server.cpp): Boost's code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#pragma GCC diagnostic pop
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace amap::store::sync {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
namespace ssl = net::ssl;
using Clock = std::chrono::steady_clock;

struct EtcdClient::Tls {
  ssl::context ctx{ssl::context::tls_client};
};

namespace {

/// A transport failure of one member (connection refused, reset, timed out).
struct Transport : std::runtime_error {
  explicit Transport(const std::string& what, bool r = false)
      : std::runtime_error(what), refused(r) {}
  bool refused;  // nothing listens (ECONNREFUSED), or its certificate does not verify
};

/// One connection to one member: plain TCP, or TLS over it.
struct Conn {
  net::io_context ioc;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  explicit Conn(EtcdClient::Tls* t) {
    if (t != nullptr) {
      tls.emplace(ioc, t->ctx);
    } else {
      plain.emplace(ioc);
    }
  }
  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  /// Calls f(stream) with the stream the HTTP layer reads and writes.
  template <class F>
  void io(F&& f) {
    if (tls) {
      f(*tls);
    } else {
      f(*plain);
    }
  }
};

/// Runs the connection's io_context until `done`, checking `stop` every 50 ms; on stop closes
/// the socket so the pending operation ends (operation_aborted) and returns false.
bool run_until(Conn& c, const bool& done, const std::atomic<bool>* stop) {
  c.ioc.restart();
  while (!done) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      c.tcp().close();
      c.ioc.restart();
      c.ioc.run();
      return false;
    }
    c.ioc.run_for(std::chrono::milliseconds(50));
  }
  return true;
}

bool is_ip_literal(const std::string& host) {
  beast::error_code ec;
  (void)net::ip::make_address(host, ec);
  return !ec;
}

/// The TLS handshake, the server's certificate checked against the CAs and `name` (an IP
/// address literal is checked against the certificate's IP addresses). Throws Transport.
void handshake(Conn& c, const std::string& host, const std::string& server_name,
               const std::atomic<bool>* stop) {
  const std::string name = server_name.empty() ? host : server_name;
  SSL* ssl = c.tls->native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_ip_literal(name)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    SSL_set_tlsext_host_name(ssl, name.c_str());  // SNI: names only (RFC 6066)
  }
  c.tls->set_verify_mode(ssl::verify_peer);
  beast::error_code ec;
  bool done = false;
  c.tls->async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  if (!run_until(c, done, stop)) {
    throw Transport("stopped");
  }
  if (ec) {
    const long v = SSL_get_verify_result(ssl);  // NOLINT(google-runtime-int): OpenSSL's type
    if (v != X509_V_OK) {
      throw Transport(std::string("TLS: the server certificate does not verify (as ") + name +
                          "): " + X509_verify_cert_error_string(v),
                      true);
    }
    throw Transport(
        ec == beast::error::timeout ? "TLS handshake timed out" : "TLS handshake: " + ec.message(),
        ec.category() == net::error::get_ssl_category());
  }
}

void split(const std::string& endpoint, std::string& host, std::string& port) {
  const auto colon = endpoint.rfind(':');
  host = endpoint.substr(0, colon);
  port = endpoint.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
}

/// Connects to `endpoint` within `connect_timeout` (the TLS handshake included). Throws
/// Transport.
void connect(Conn& c, const std::string& endpoint, const EtcdOptions& o,
             std::chrono::milliseconds connect_timeout, const std::atomic<bool>* stop) {
  std::string host;
  std::string port;
  split(endpoint, host, port);
  tcp::resolver resolver(c.ioc);
  beast::error_code ec;
  const auto results = resolver.resolve(host, port, ec);
  if (ec) {
    throw Transport("cannot resolve " + host + ": " + ec.message());
  }
  c.tcp().expires_after(connect_timeout);
  bool done = false;
  c.tcp().async_connect(results, [&](beast::error_code e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  if (!run_until(c, done, stop)) {
    throw Transport("stopped");
  }
  if (ec) {
    throw Transport(ec == beast::error::timeout ? "connect timed out" : ec.message(),
                    ec == net::error::connection_refused);
  }
  if (c.tls) {
    handshake(c, host, o.server_name, stop);
  }
}

http::request<http::string_body> post(const std::string& endpoint, std::string_view path,
                                      std::string body, const std::string& token) {
  http::request<http::string_body> req{http::verb::post, std::string(path), 11};
  req.set(http::field::host, endpoint);
  req.set(http::field::content_type, "application/json");
  if (!token.empty()) {
    req.set(http::field::authorization, token);  // etcd's gateway: the token as it is
  }
  // etcd's WithRequireLeader through the gateway (grpc-gateway turns Grpc-Metadata-*
  // headers into gRPC metadata): a member without a leader (cut off from the quorum) says so
  // at once (503 "etcdserver: no leader", tried elsewhere) instead of holding a request until
  // its timeout, and refuses a watch, or cancels it when it loses the leader.
  req.set("Grpc-Metadata-hasleader", "true");
  req.keep_alive(false);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

void write(Conn& c, http::request<http::string_body>& req, const std::atomic<bool>* stop) {
  beast::error_code ec;
  bool done = false;
  c.io([&](auto& stream) {
    http::async_write(stream, req, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
  });
  if (!run_until(c, done, stop)) {
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

/// What to do about an authentication refusal, or "". Without a user, etcd's gateway under
/// --client-cert-auth says "permission denied" (its own certificate's CN is taken for the
/// user) where a plain member says "user name is empty".
std::string auth_hint(const std::string& msg, bool has_user) {
  const bool denied = msg.find("permission denied") != std::string::npos;
  if (msg.find("user name is empty") != std::string::npos || (denied && !has_user)) {
    return " (etcd has authentication on: set store.sync.etcd.user and password_file)";
  }
  if (denied) {
    return " (the etcd user needs a role with readwrite on the prefix)";
  }
  return "";
}

/// OpenSSL's reason for the last failure ("no such file", "key values mismatch").
std::string ssl_reason() {
  const unsigned long e = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  ERR_clear_error();
  if (e == 0) {
    return std::strerror(errno);
  }
  const char* r = ERR_reason_error_string(e);
  return r != nullptr ? r : "OpenSSL error " + std::to_string(e);
}

std::unique_ptr<EtcdClient::Tls> make_tls(const EtcdOptions& o) {
  auto t = std::make_unique<EtcdClient::Tls>();
  SSL_CTX* ctx = t->ctx.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (o.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      throw std::runtime_error("etcd TLS: the system's CA certificates: " + ssl_reason());
    }
  } else if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1) {
    throw std::runtime_error("etcd TLS: CA file " + o.ca_file + ": " + ssl_reason());
  }
  if (!o.cert_file.empty() && SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1) {
    throw std::runtime_error("etcd TLS: client certificate " + o.cert_file + ": " + ssl_reason());
  }
  if (!o.key_file.empty()) {
    if (SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw std::runtime_error("etcd TLS: client key " + o.key_file + ": " + ssl_reason());
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      throw std::runtime_error("etcd TLS: client key " + o.key_file + " does not match " +
                               o.cert_file + ": " + ssl_reason());
    }
  }
  return t;
}

std::string read_password(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw EtcdError(EtcdError::Kind::refused,
                    "etcd password file " + path + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string p = text.str();
  while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) {
    p.pop_back();
  }
  return p;
}

}  // namespace

bool invalid_token(const std::string& what) {
  return what.find("invalid auth token") != std::string::npos;
}

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {
  if (options_.endpoints.empty()) {
    throw std::invalid_argument("etcd: no endpoints");
  }
  if (options_.tls) {
    tls_ = make_tls(options_);
  }
}

EtcdClient::~EtcdClient() = default;

const std::string& EtcdClient::token(const std::atomic<bool>* stop) {
  if (token_.empty() && !options_.user.empty()) {
    const nlohmann::json body = {{"name", options_.user},
                                 {"password", read_password(options_.password_file)}};
    try {
      token_ = call_once("/v3/auth/authenticate", body.dump(), false, stop).value("token", "");
    } catch (const EtcdError& e) {
      if (e.kind() != EtcdError::Kind::refused) {
        throw;
      }
      throw EtcdError(e.kind(), std::string(e.what()) + " (as user " + options_.user + ")");
    }
    if (token_.empty()) {
      throw EtcdError(EtcdError::Kind::refused,
                      "etcd gave no token to user " + options_.user + " (is auth enabled?)");
    }
  }
  return token_;
}

nlohmann::json EtcdClient::call(std::string_view path, const nlohmann::json& body,
                                const std::atomic<bool>* stop) {
  const std::string payload = body.dump();
  try {
    return call_once(path, payload, true, stop);
  } catch (const EtcdError& e) {
    // A token etcd forgot (simple tokens expire after --auth-token-ttl idle, and a restarted
    // member knows none): authenticate again, once. The request was refused, not applied.
    if (options_.user.empty() || !invalid_token(e.what())) {
      throw;
    }
  }
  token_.clear();
  return call_once(path, payload, true, stop);
}

nlohmann::json EtcdClient::call_once(std::string_view path, const std::string& payload, bool auth,
                                     const std::atomic<bool>* stop) {
  const auto deadline = Clock::now() + options_.timeout;
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
        Conn c(tls_.get());
        connect(c, ep, options_, std::min(left, options_.connect_timeout), stop);
        c.tcp().expires_at(deadline);
        auto req = post(ep, path, payload, auth ? token(stop) : std::string());
        write(c, req, stop);
        beast::flat_buffer buf;
        http::response_parser<http::string_body> parser;
        parser.body_limit(std::uint64_t{1} << 31U);
        beast::error_code ec;
        bool done = false;
        c.io([&](auto& stream) {
          http::async_read(stream, buf, parser, [&](beast::error_code e, std::size_t) {
            ec = e;
            done = true;
          });
        });
        if (!run_until(c, done, stop)) {
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
        std::string msg = error_text(j, res.body());
        msg += auth_hint(msg, !options_.user.empty());
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
    // Every member refused the connection (or its certificate) three rounds running: nothing
    // will change, so say so now rather than at the timeout (a slow member or an election
    // keeps the full timeout).
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
  Impl(EtcdClient& c, const std::atomic<bool>& s) : client(c), conn(c.tls()), stop(s) {}
  EtcdClient& client;
  Conn conn;
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  std::string pending;      // bytes received after the last complete line
  std::size_t scanned = 0;  // bytes of `pending` known to hold no newline
  std::string endpoint;
  std::vector<std::string> no_leader;  // members passed over before this one
  const std::atomic<bool>& stop;
  std::array<char, 65536> chunk{};

  /// Reads more body bytes into `pending`. False on stop. Throws EtcdError.
  bool read_more() {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    beast::error_code ec;
    bool done = false;
    conn.io([&](auto& stream) {
      http::async_read_some(stream, buf, parser, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    // A quiet stream: every probe interval, ask the member whether it still has a leader
    // (a member cut off from the quorum keeps the stream open; etcd cancels a hasleader
    // watch only after three election timeouts without one, and its gateway passes that on
    // late).
    const auto interval = client.options().leader_probe;
    for (auto next_probe = Clock::now() + interval;;) {
      conn.ioc.restart();
      while (!done && Clock::now() < next_probe) {
        if (stop.load(std::memory_order_relaxed)) {
          conn.tcp().close();
          conn.ioc.restart();
          conn.ioc.run();
          return false;
        }
        conn.ioc.run_for(std::chrono::milliseconds(50));
      }
      if (done) {
        break;
      }
      if (interval.count() > 0 && !has_leader()) {
        conn.tcp().close();
        conn.ioc.restart();
        conn.ioc.run();
        throw EtcdError(EtcdError::Kind::no_leader,
                        "etcd " + endpoint + " has no leader (cut off from the quorum?)");
      }
      next_probe = Clock::now() + (interval.count() > 0 ? interval : std::chrono::hours(1));
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

  /// POST /v3/maintenance/status to the watched member alone: false when it answers with no
  /// leader. A member that does not answer in time counts as having none.
  bool has_leader() {
    try {
      Conn c(client.tls());
      const EtcdOptions& o = client.options();
      connect(c, endpoint, o, o.connect_timeout, &stop);
      c.tcp().expires_after(o.connect_timeout);
      auto req = post(endpoint, "/v3/maintenance/status", "{}", client.token(&stop));
      write(c, req, &stop);
      beast::flat_buffer b;
      http::response<http::string_body> res;
      beast::error_code ec;
      bool done = false;
      c.io([&](auto& stream) {
        http::async_read(stream, b, res, [&](beast::error_code e, std::size_t) {
          ec = e;
          done = true;
        });
      });
      if (!run_until(c, done, &stop) || ec) {
        return stop.load();  // stopping: not a verdict
      }
      const auto j = nlohmann::json::parse(res.body(), nullptr, false);
      if (!j.is_object() || j.contains("error")) {
        // hasleader: a member without one refuses the request with "no leader". Any other
        // refusal is no answer about the leader: the stream will tell.
        return error_text(j, res.body()).find("no leader") == std::string::npos;
      }
      const auto& leader = j.value("leader", nlohmann::json());
      return leader.is_string() ? leader.get<std::string>() != "0" && !leader.empty()
                                : leader.is_number() && leader.get<std::uint64_t>() != 0;
    } catch (const std::exception&) {
      return stop.load();
    }
  }

  /// The next message's "result"; nullopt on stop. Throws EtcdError.
  std::optional<nlohmann::json> next() {
    for (;;) {
      // A big transaction is one message of many MB: never rescan what was scanned.
      const auto nl = pending.find('\n', scanned);
      scanned = nl == std::string::npos ? pending.size() : 0;
      if (nl != std::string::npos) {
        nlohmann::json j =
            nlohmann::json::parse(pending.data(), pending.data() + nl, nullptr, false);
        pending.erase(0, nl + 1);
        if (!j.is_object()) {
          throw EtcdError(EtcdError::Kind::refused,
                          "etcd " + endpoint + ": unreadable watch message");
        }
        if (j.contains("error")) {
          const std::string msg = error_text(j["error"], "");
          throw EtcdError(msg.find("no leader") != std::string::npos ? EtcdError::Kind::no_leader
                                                                     : EtcdError::Kind::refused,
                          "etcd " + endpoint + ": watch: " + msg);
        }
        return j.value("result", nlohmann::json::object());
      }
      if (!read_more()) {
        return std::nullopt;
      }
    }
  }
};

EtcdWatch::EtcdWatch(EtcdClient& client, const nlohmann::json& create,
                     const std::atomic<bool>& stop) {
  const EtcdOptions& o = client.options();
  const std::size_t n = o.endpoints.size();
  std::string why;
  const std::string body = nlohmann::json{{"create_request", create}}.dump();
  const std::size_t first = client.preferred();
  bool reauthenticated = false;
  std::vector<std::string> no_leader;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (first + k) % n;
    const std::string& ep = o.endpoints[i];
    auto impl = std::make_unique<Impl>(client, stop);
    impl->endpoint = ep;
    try {
      connect(impl->conn, ep, o, o.connect_timeout, &stop);
      impl->conn.tcp().expires_after(o.timeout);
      auto req = post(ep, "/v3/watch", body, client.token(&stop));
      write(impl->conn, req, &stop);
      impl->parser.body_limit(boost::none);
      beast::error_code ec;
      bool done = false;
      impl->conn.io([&](auto& stream) {
        http::async_read_header(stream, impl->buf, impl->parser,
                                [&](beast::error_code e, std::size_t) {
                                  ec = e;
                                  done = true;
                                });
      });
      if (!run_until(impl->conn, done, &stop)) {
        throw Transport("stopped");
      }
      if (ec) {
        throw Transport(ec.message());
      }
      if (const unsigned status = impl->parser.get().result_int(); status != 200) {
        // An error status comes with its reason (503 "etcdserver: no leader": the member
        // lost the quorum; hasleader made it say so).
        std::string text;
        try {
          while (text.size() < 4096 && !impl->parser.is_done() && impl->read_more()) {
            text = impl->pending;
          }
        } catch (const EtcdError&) {
          text = impl->pending;
        }
        const auto j = nlohmann::json::parse(text, nullptr, false);
        const std::string msg =
            j.is_object() && j.contains("error") ? error_text(j["error"], text) : text;
        if (msg.find("no leader") != std::string::npos) {
          throw EtcdError(EtcdError::Kind::no_leader, "etcd " + ep + ": watch: " + msg);
        }
        throw Transport("HTTP " + std::to_string(status) + (msg.empty() ? "" : ": " + msg));
      }
      // The first message says whether the member took the watch ("created"), or why not
      // (no leader, a rejected token, no permission on the prefix).
      const auto created = impl->next();
      if (!created) {
        throw Transport("stopped");
      }
      if (created->value("canceled", false)) {
        const std::string reason = created->value("cancel_reason", std::string());
        throw EtcdError(
            reason.find("no leader") != std::string::npos ? EtcdError::Kind::no_leader
                                                          : EtcdError::Kind::refused,
            "etcd " + ep + " refused the watch: " + reason + auth_hint(reason, !o.user.empty()));
      }
      impl->conn.tcp().expires_never();  // a watch is quiet while nothing changes
      impl->no_leader = std::move(no_leader);
      client.prefer(i);
      impl_ = std::move(impl);
      return;
    } catch (const Transport& e) {
      why += (why.empty() ? "" : "; ") + ep + ": " + e.what();
      if (stop.load()) {
        break;
      }
    } catch (const EtcdError& e) {
      if (invalid_token(e.what()) && !reauthenticated) {
        client.drop_token();
        reauthenticated = true;
        --k;  // the same member again, with a new token
        continue;
      }
      if (e.kind() == EtcdError::Kind::refused) {
        throw;
      }
      if (e.kind() == EtcdError::Kind::no_leader) {
        no_leader.push_back(ep);
      }
      why += (why.empty() ? "" : "; ") + std::string(e.what());
      if (stop.load()) {
        break;
      }
    }
  }
  throw EtcdError(EtcdError::Kind::unreachable, "etcd unreachable for a watch: " + why);
}

EtcdWatch::~EtcdWatch() = default;

const std::vector<std::string>& EtcdWatch::no_leader() const noexcept {
  return impl_->no_leader;
}

const std::string& EtcdWatch::endpoint() const noexcept {
  return impl_->endpoint;
}

std::optional<nlohmann::json> EtcdWatch::next() {
  return impl_->next();
}

}  // namespace amap::store::sync
