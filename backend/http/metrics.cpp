// SPDX-License-Identifier: MIT
#include "backend/http/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>

namespace amap::http {

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void Exposition::sample(std::string_view name, std::string_view labels, std::uint64_t value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    out_ += labels;
    out_ += '}';
  }
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void Exposition::sample(std::string_view name, std::string_view labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    out_ += labels;
    out_ += '}';
  }
  out_ += ' ';
  std::array<char, 64> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  out_.append(buf.data(), ec == std::errc{} ? end : buf.data());
  out_ += '\n';
}

std::string label_value(std::string_view v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

/// The rcode names CoreDNS and NSD use; others by number.
std::string rcode_name(std::size_t r) {
  static constexpr std::array<const char*, 11> kNames{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                      "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                                      "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (r < kNames.size()) {
    return kNames[r];
  }
  return r == 16 ? "BADVERS" : std::to_string(r);
}

std::string qtype_name(std::size_t bucket) {
  if (bucket >= wire::kCountedQtypes.size()) {
    return "other";
  }
  char buf[16];
  return std::string(dns::RRType(wire::kCountedQtypes[bucket]).to_text(buf));
}

/// Always listed, even at zero, so that a dashboard's rate() has a series from the start.
bool always_listed(std::size_t r) {
  return r <= 5;
}

/// A bucket bound in seconds as Prometheus clients write it: "1e-05" is valid too, but the
/// fixed form reads better on a dashboard ("0.00001").
std::string seconds_label(std::uint32_t us) {
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(),
                                       static_cast<double>(us) / 1e6, std::chars_format::fixed);
  return std::string(buf.data(), ec == std::errc{} ? end : buf.data());
}

void write_durations(Exposition& out, const char* proto, const server::Durations& d) {
  const std::string base = std::string("proto=\"") + proto + "\"";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < d.counts.size(); ++i) {
    cumulative += d.counts[i];
    const std::string le = i < server::Durations::kBoundsUs.size()
                               ? seconds_label(server::Durations::kBoundsUs[i])
                               : std::string("+Inf");
    out.sample("automap_dns_request_duration_seconds_bucket", base + ",le=\"" + le + "\"",
               cumulative);
  }
  out.sample("automap_dns_request_duration_seconds_sum", base, static_cast<double>(d.sum_ns) / 1e9);
  out.sample("automap_dns_request_duration_seconds_count", base, cumulative);
}

/// Online signing (mapper/dnssec), UDP and TCP together, by algorithm. Zero when DNSSEC is
/// off.
void write_signing_metrics(Exposition& out, const server::Stats& st) {
  app::SigningCounters sum = st.udp.signing;
  sum += st.tcp.signing;
  static constexpr std::array<const char*, app::SigningCounters::kAlgorithms.size()> kNames{
      "ecdsap256sha256", "ed25519"};
  using Per = app::SigningCounters::PerAlgorithm;
  const std::array<std::tuple<const char*, std::uint64_t Per::*, const char*>, 5> families{{
      {"automap_dnssec_signatures_total", &Per::signatures,
       "RRSIGs made (signed on a signature cache miss), by DNSSEC algorithm."},
      {"automap_dnssec_cache_hits_total", &Per::cache_hits,
       "RRSIGs served from a worker's signature cache, by DNSSEC algorithm."},
      {"automap_dnssec_cache_misses_total", &Per::cache_misses,
       "RRSIGs not in the worker's signature cache (then signed, or failed), by DNSSEC "
       "algorithm."},
      {"automap_dnssec_cache_evictions_total", &Per::cache_evictions,
       "Cached RRSIGs dropped for a new one, by DNSSEC algorithm of the new one."},
      {"automap_dnssec_signing_failures_total", &Per::failures,
       "Signatures that failed (the RRset went without that RRSIG), by DNSSEC algorithm."},
  }};
  for (const auto& [name, field, help] : families) {
    out.family(name, "counter", help);
    for (std::size_t i = 0; i < kNames.size(); ++i) {
      out.sample(name, std::string("algorithm=\"") + kNames[i] + "\"", sum.by_algorithm[i].*field);
    }
  }
}

}  // namespace

void write_server_metrics(Exposition& out, const server::Stats& st, std::uint64_t generation) {
  const std::pair<const char*, const wire::Counters*> protos[] = {{"udp", &st.udp},
                                                                  {"tcp", &st.tcp}};
  out.family("automap_dns_requests_total", "counter", "DNS messages received, by transport.");
  for (const auto& [proto, c] : protos) {
    out.sample("automap_dns_requests_total", std::string("proto=\"") + proto + "\"", c->received);
  }
  out.family("automap_dns_queries_total", "counter",
             "DNS queries whose question parsed, by transport, client address family and qtype "
             "(a fixed set, the rest as other).");
  for (const auto& [proto, c] : protos) {
    for (std::size_t f = 0; f < c->qtypes.size(); ++f) {
      for (std::size_t i = 0; i < c->qtypes[f].size(); ++i) {
        out.sample("automap_dns_queries_total",
                   std::string("proto=\"") + proto + "\",family=\"" + (f == 0 ? "1" : "2") +
                       "\",qtype=\"" + qtype_name(i) + "\"",
                   c->qtypes[f][i]);
      }
    }
  }
  out.family("automap_dns_responses_total", "counter",
             "DNS responses produced, by transport and rcode (before rate limiting).");
  for (const auto& [proto, c] : protos) {
    for (std::size_t r = 0; r < c->rcodes.size(); ++r) {
      if (c->rcodes[r] != 0 || always_listed(r)) {
        out.sample("automap_dns_responses_total",
                   std::string("proto=\"") + proto + "\",rcode=\"" + rcode_name(r) + "\"",
                   c->rcodes[r]);
      }
    }
  }
  out.family("automap_dns_answers_total", "counter",
             "DNS answers by where they came from: synthesized (a template), override (the "
             "store), negative (NXDOMAIN or NODATA), refused.");
  static constexpr std::array<const char*, wire::kAnswerSources> kSources{"synthesized", "override",
                                                                          "negative", "refused"};
  for (const auto& [proto, c] : protos) {
    for (std::size_t i = 0; i < kSources.size(); ++i) {
      out.sample("automap_dns_answers_total",
                 std::string("proto=\"") + proto + "\",source=\"" + kSources[i] + "\"",
                 c->sources[i]);
    }
  }
  write_signing_metrics(out, st);
  out.family("automap_dns_request_duration_seconds", "histogram",
             "Time from a request's arrival to its answer's send, by transport (UDP: per "
             "recvmmsg batch, every datagram counted with its batch's time).");
  write_durations(out, "udp", st.udp_durations);
  write_durations(out, "tcp", st.tcp_durations);
  out.family("automap_dns_responses_truncated_total", "counter",
             "DNS responses sent with TC=1, by transport.");
  for (const auto& [proto, c] : protos) {
    out.sample("automap_dns_responses_truncated_total", std::string("proto=\"") + proto + "\"",
               c->truncated);
  }
  out.family("automap_dns_requests_dropped_total", "counter",
             "DNS messages dropped unanswered, by transport and reason.");
  for (const auto& [proto, c] : protos) {
    out.sample("automap_dns_requests_dropped_total",
               std::string("proto=\"") + proto + "\",reason=\"short\"", c->dropped_short);
    out.sample("automap_dns_requests_dropped_total",
               std::string("proto=\"") + proto + "\",reason=\"response\"", c->dropped_response);
  }
  out.sample("automap_dns_requests_dropped_total", "proto=\"tcp\",reason=\"bad_length\"",
             st.tcp_bad_length);

  out.family("automap_tcp_connections_accepted_total", "counter", "TCP connections accepted.");
  out.sample("automap_tcp_connections_accepted_total", "", st.tcp_accepted);
  out.family("automap_tcp_connections", "gauge", "TCP connections open now.");
  out.sample("automap_tcp_connections", "", st.tcp_current);
  out.family("automap_tcp_connections_rejected_total", "counter",
             "TCP connections closed at once, by the cap they were over.");
  out.sample("automap_tcp_connections_rejected_total", "reason=\"max_connections\"",
             st.tcp_rejected);
  out.sample("automap_tcp_connections_rejected_total", "reason=\"per_client\"",
             st.tcp_rejected_per_client);
  out.family("automap_tcp_timeouts_total", "counter",
             "TCP connections closed by a timeout, by kind (busy: idle ones closed early under "
             "pressure).");
  out.sample("automap_tcp_timeouts_total", "kind=\"idle_or_io\"",
             st.tcp_timeouts - st.tcp_busy_timeouts);
  out.sample("automap_tcp_timeouts_total", "kind=\"busy\"", st.tcp_busy_timeouts);

  out.family("automap_udp_batches_total", "counter", "recvmmsg calls that returned datagrams.");
  out.sample("automap_udp_batches_total", "", st.udp_batches);
  out.family("automap_udp_errors_total", "counter", "UDP socket errors, by kind.");
  out.sample("automap_udp_errors_total", "kind=\"recv\"", st.udp_recv_errors);
  out.sample("automap_udp_errors_total", "kind=\"send\"", st.send_errors);
  out.sample("automap_udp_errors_total", "kind=\"send_buffer_full\"", st.udp_send_dropped);

  out.family("automap_rrl_responses_total", "counter",
             "UDP answers over the response rate limit, by action (limited = slipped + "
             "dropped).");
  out.sample("automap_rrl_responses_total", "action=\"limited\"", st.rrl.limited);
  out.sample("automap_rrl_responses_total", "action=\"slipped\"", st.rrl.slipped);
  out.sample("automap_rrl_responses_total", "action=\"dropped\"", st.rrl.dropped);

  out.family("automap_reloads_total", "counter", "SIGHUP reloads, by result.");
  out.sample("automap_reloads_total", "result=\"success\"", st.reloads_ok);
  out.sample("automap_reloads_total", "result=\"failure\"", st.reloads_failed);
  out.family("automap_reload_last_success_timestamp_seconds", "gauge",
             "Unix time of the last successful reload (or of the start).");
  out.sample("automap_reload_last_success_timestamp_seconds", "",
             static_cast<std::uint64_t>(st.last_reload_ok_unix));
  out.family("automap_config_serial", "gauge",
             "The serial of the configuration and store served (the SOA serial).");
  out.sample("automap_config_serial", "", st.config_serial);
  out.family("automap_app_generation", "gauge",
             "The app generation being served: 1 at start, +1 per successful reload.");
  out.sample("automap_app_generation", "", generation);
}

namespace {

double process_start_unix() {
  // /proc/self/stat field 22: start time in clock ticks after boot; /proc/stat btime: boot.
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream fields(line.substr(close + 2));
  std::string f;
  unsigned long long ticks = 0;
  for (int i = 3; i <= 22 && fields >> f; ++i) {
    if (i == 22) {
      ticks = std::stoull(f);
    }
  }
  std::ifstream proc_stat("/proc/stat");
  unsigned long long btime = 0;
  while (std::getline(proc_stat, line)) {
    if (line.rfind("btime ", 0) == 0) {
      btime = std::stoull(line.substr(6));
    }
  }
  return static_cast<double>(btime) +
         static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  unsigned long long size = 0;
  unsigned long long resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::uint64_t open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) {
    return 0;
  }
  std::uint64_t n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') {
      ++n;
    }
  }
  ::closedir(d);
  return n - 1;  // the directory being read
}

}  // namespace

void write_process_metrics(Exposition& out, std::string_view version) {
  out.family("automap_build_info", "gauge", "Always 1; the version in a label.");
  out.sample("automap_build_info", "version=\"" + label_value(version) + "\"", std::uint64_t{1});
  static const double start = process_start_unix();  // first scrape; it never changes
  out.family("automap_process_start_time_seconds", "gauge", "Unix time the process started.");
  out.sample("automap_process_start_time_seconds", "", start);
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  out.family("automap_process_cpu_seconds_total", "counter", "User and system CPU time used.");
  out.sample("automap_process_cpu_seconds_total", "", cpu);
  out.family("automap_process_resident_memory_bytes", "gauge", "Resident set size.");
  out.sample("automap_process_resident_memory_bytes", "", resident_bytes());
  out.family("automap_process_open_fds", "gauge", "Open file descriptors.");
  out.sample("automap_process_open_fds", "", open_fds());
}

}  // namespace amap::http
