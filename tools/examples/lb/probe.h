// SPDX-License-Identifier: MIT
#pragma once
// Health and load probes of the lb example, run on its background tasks (never on a DNS
// worker). All the front-ends of one service are probed at once over real sockets, and the
// whole round ends within the probe timeout.
//
// tcp:  healthy when a TCP connection to address:port is accepted; load 0.
// http: "GET <path> HTTP/1.0" to address:port; healthy when the status is 2xx and the body
//       starts with a number (optionally after whitespace), which is the load. Anything else
//       (a refused or reset connection, a non-2xx status, no number, a timeout) is down.

#include <cstdint>
#include <stop_token>
#include <string>
#include <vector>

#include "tools/examples/lb/config.h"

namespace amap::lb {

struct ProbeResult {
  bool healthy = false;
  double load = 0;
  std::string why;  // when not healthy: what failed (for the log)
};

/// Probes every backend in parallel; result i is for backends[i]. Returns early (the
/// unfinished ones down, "stopped") when `stop` is requested.
std::vector<ProbeResult> probe_all(const std::vector<BackendConfig>& backends,
                                   const ProbeConfig& probe, const std::stop_token& stop);

/// Parses an HTTP/1.x response: the status must be 2xx and the body must start with a
/// number. Exposed for tests.
ProbeResult parse_http_response(std::string_view response);

}  // namespace amap::lb
