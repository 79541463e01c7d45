// SPDX-License-Identifier: MIT
#pragma once
// Prometheus text exposition (format 0.0.4) of the server's counters and the process.
// Families are named like CoreDNS's and NSD's with an `automap_` prefix; counters end in
// _total; every family has HELP and TYPE lines. Nothing here runs on a DNS worker: the
// counters are summed when scraped (server::Server::counters()).

#include <cstdint>
#include <string>
#include <string_view>

#include "backend/server/server.h"

namespace amap::http {

/// Writes families and samples in the text format.
class Exposition {
 public:
  /// Starts a family: "# HELP name help" and "# TYPE name type" (counter, gauge, histogram:
  /// its samples are name_bucket{le=...}, name_sum and name_count).
  void family(std::string_view name, std::string_view type, std::string_view help);
  /// One sample of the current family; `labels` is `key="value",...` (values escaped by the
  /// caller) or empty.
  void sample(std::string_view name, std::string_view labels, double value);
  void sample(std::string_view name, std::string_view labels, std::uint64_t value);
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

/// The DNS server's families: requests, responses by rcode, drops, TCP connections, UDP
/// batches and errors, RRL, reloads (automap_dns_* and automap_*).
void write_server_metrics(Exposition& out, const server::Stats& stats, std::uint64_t generation);
/// automap_build_info{version} and the process: start time, CPU, RSS, open fds.
void write_process_metrics(Exposition& out, std::string_view version);

/// A label value escaped for the text format (backslash, double quote, newline).
std::string label_value(std::string_view v);

}  // namespace amap::http
