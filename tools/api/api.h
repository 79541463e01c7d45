// SPDX-License-Identifier: MIT
#pragma once
// The provisioning API of automapd serve (issue 12 section 4), under /api/v1/ on the HTTP
// listener (backend/http): overrides listed, put, deleted and imported, lookups and store
// statistics, through the same operations as mapctl (tools/mapctl/ops.h). Runs on the HTTP
// thread only, one request at a time; never on a DNS worker. See tools/api/README.md.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "backend/http/http_server.h"
#include "mapper/engine/mapper.h"

namespace amap::api {

class Api {
 public:
  /// `current` returns the mapper of the configuration automapd serves now (a reload changes
  /// it); `config_file` is that configuration's path.
  Api(std::function<std::shared_ptr<const mapper::Mapper>()> current, std::string config_file);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  /// Answers one request under /api/.
  http::Response handle(const http::Request& request);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace amap::api
