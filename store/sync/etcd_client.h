// SPDX-License-Identifier: MIT
#pragma once
// A client of etcd 3.4's v3 JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/watch; keys and
// values base64) over HTTP/1.1 with Boost.Beast, or HTTPS (Asio ssl, OpenSSL: the server's
// certificate and host name verified, an optional client certificate): no gRPC stack, no
// generated code. Each request is one connection to one member; a member that does not answer,
// or answers "unavailable" (no leader, leader changed), is skipped for the next one until the
// request's timeout. With a user, the client authenticates (/v3/auth/authenticate) and sends
// the token as the Authorization header; a token etcd no longer knows (expired) is replaced.
//
//   EtcdClient c({{"127.0.0.1:2379", "127.0.0.1:22379"}, std::chrono::seconds(10)});
//   nlohmann::json r = c.call("/v3/kv/range", {{"key", base64_encode("/automap/")}});

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace amap::store::sync {

struct EtcdOptions {
  std::vector<std::string> endpoints;               // HOST:PORT
  std::chrono::milliseconds timeout{10000};         // one call, every member tried included
  std::chrono::milliseconds connect_timeout{1000};  // one member
  bool tls = false;                                 // https: to every member
  std::string ca_file;      // PEM CAs the servers' certificates must chain to; empty: the system's
  std::string cert_file;    // PEM client certificate (with key_file), for --client-cert-auth
  std::string key_file;     // its private key
  std::string server_name;  // the name the certificates must carry; empty: each endpoint's host
  std::string user;         // etcd authentication; empty: none
  std::string password_file;  // the user's password (read at each authentication)
  /// A quiet watch asks its member this often whether it still has a leader (0: never).
  std::chrono::milliseconds leader_probe{1000};
};

class EtcdError : public std::runtime_error {
 public:
  enum class Kind : std::uint8_t {
    unreachable,  // no member answered (the message lists each member and why)
    refused,      // a member answered with an error (the message is etcd's)
    compacted,    // the requested revision was compacted
    no_leader,    // the member has no leader (cut off from the quorum): try another one
  };
  EtcdError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

class EtcdClient {
 public:
  /// Throws std::runtime_error when a TLS file does not load (named, with OpenSSL's reason).
  explicit EtcdClient(EtcdOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;
  /// POSTs `body` to `path` and returns the JSON answer. Throws EtcdError. `stop`, when set,
  /// cuts the wait short (EtcdError unreachable "stopped").
  nlohmann::json call(std::string_view path, const nlohmann::json& body,
                      const std::atomic<bool>* stop = nullptr);
  const EtcdOptions& options() const noexcept { return options_; }
  /// The member that answered last (first tried next time).
  std::size_t preferred() const noexcept { return preferred_; }
  /// The member to try first next time (a watch moved away from a member without a leader).
  void prefer(std::size_t i) noexcept { preferred_ = i % options_.endpoints.size(); }
  /// The Authorization token (authenticating first when a user is set and there is none
  /// yet); empty without a user. Throws EtcdError.
  const std::string& token(const std::atomic<bool>* stop = nullptr);
  /// Forgets the token (etcd said it is invalid: expired): the next call authenticates.
  void drop_token() noexcept { token_.clear(); }

  struct Tls;
  /// The TLS context (null without tls).
  Tls* tls() const noexcept { return tls_.get(); }

 private:
  nlohmann::json call_once(std::string_view path, const std::string& payload, bool auth,
                           const std::atomic<bool>* stop);
  EtcdOptions options_;
  std::size_t preferred_ = 0;
  std::string token_;
  std::unique_ptr<Tls> tls_;
};

/// True when etcd refused a request for its token (expired or unknown: authenticate again).
bool invalid_token(const std::string& what);

/// A watch stream (POST /v3/watch, one JSON message per line of a chunked response) on the
/// first member that accepts it.
class EtcdWatch {
 public:
  /// Opens the stream with {"create_request": create}. Throws EtcdError.
  EtcdWatch(EtcdClient& client, const nlohmann::json& create, const std::atomic<bool>& stop);
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  /// The next message's "result" object; nullopt once `stop` is set. Throws EtcdError when
  /// the stream breaks (the member went away) or etcd reports an error.
  std::optional<nlohmann::json> next();
  /// HOST:PORT of the member serving the stream.
  const std::string& endpoint() const noexcept;
  /// The members passed over because they had no leader (cut off from the quorum).
  const std::vector<std::string>& no_leader() const noexcept;
  /// The watch asks etcd to cancel it when its member loses the leader (gRPC metadata
  /// hasleader=true through the gateway: etcd's WithRequireLeader), so a member cut off from
  /// the quorum does not keep a quiet stream open; next() then throws EtcdError no_leader.

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace amap::store::sync
