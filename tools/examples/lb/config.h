// SPDX-License-Identifier: MIT
#pragma once
// The lb example's YAML configuration (README.md beside this file). Loading is strict: unknown
// keys, wrong types and bad values are errors, all reported at once as
// "file:line:col: key.path: message" (amap::config::Error, as automapd reports its own).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "mapper/config/config.h"
#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "mapper/dns/rrtype.h"

namespace amap::lb {

enum class ProbeKind : std::uint8_t { tcp, http };

struct ProbeConfig {
  ProbeKind kind = ProbeKind::tcp;
  std::string path = "/";  // http: GET this; the body starts with the load figure
  std::chrono::milliseconds interval{2000};
  std::chrono::milliseconds timeout{1000};
};

struct BackendConfig {
  dns::IpAddress address;  // answered, and probed
  std::uint16_t port = 80;
  /// Clients (their address, or the EDNS Client Subnet address) in these prefixes prefer this
  /// front-end.
  std::vector<dns::Prefix> regions;
};

struct ServiceConfig {
  dns::Name name;
  dns::RRType type = dns::rrtype::A;  // A or AAAA: every address below is of that family
  std::uint32_t count = 1;            // answer with at most this many front-ends
  std::uint32_t ttl = 5;
  ProbeConfig probe;
  std::vector<BackendConfig> backends;
  /// Answered when every front-end is down; empty: SERVFAIL.
  std::vector<dns::IpAddress> fallback;
  std::string path;  // "services[0]", for logs
};

struct Config {
  dns::Name zone;
  std::vector<ServiceConfig> services;
};

struct LoadResult {
  Config config;
  config::Diagnostics errors;
  bool ok() const noexcept { return errors.ok(); }
};

LoadResult load_file(const std::string& path);
LoadResult load_text(const std::string& text, const std::string& file = "<text>");

}  // namespace amap::lb
