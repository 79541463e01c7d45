// SPDX-License-Identifier: MIT
#pragma once
// A client of etcd 3.4's v3 JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/watch; keys and
// values base64) over plain HTTP/1.1 with Boost.Beast: no gRPC stack, no generated code. Each
// request is one connection to one member; a member that does not answer, or answers
// "unavailable" (no leader, leader changed), is skipped for the next one until the request's
// timeout.
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
};

class EtcdError : public std::runtime_error {
 public:
  enum class Kind : std::uint8_t {
    unreachable,  // no member answered (the message lists each member and why)
    refused,      // a member answered with an error (the message is etcd's)
    compacted,    // the requested revision was compacted
  };
  EtcdError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

class EtcdClient {
 public:
  explicit EtcdClient(EtcdOptions options);
  /// POSTs `body` to `path` and returns the JSON answer. Throws EtcdError. `stop`, when set,
  /// cuts the wait short (EtcdError unreachable "stopped").
  nlohmann::json call(std::string_view path, const nlohmann::json& body,
                      const std::atomic<bool>* stop = nullptr);
  const EtcdOptions& options() const noexcept { return options_; }
  /// The member that answered last (first tried next time).
  std::size_t preferred() const noexcept { return preferred_; }

 private:
  EtcdOptions options_;
  std::size_t preferred_ = 0;
};

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

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace amap::store::sync
