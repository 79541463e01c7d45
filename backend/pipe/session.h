// SPDX-License-Identifier: MIT
#pragma once
// The PowerDNS pipe backend protocol, coprocess side, for any amap::app::App.
//
// A Session turns one input line from PowerDNS into the reply lines, in a buffer it owns and
// reuses, so a warmed-up session never allocates. serve() (serve.h) runs a Session over
// stdin/stdout; tests drive handle_line() directly.
//
//   amap::app::Worker worker(app);
//   amap::pipe::Session s(worker);
//   s.handle_line("HELO\t3");                                    // "OK\t<banner>\n"
//   s.handle_line("Q\thello.example\tIN\tANY\t-1\t192.0.2.1\t192.0.2.53\t192.0.2.1/32");
//
// Lines PowerDNS 4.7 sends (pipebackend.cc; TAB-separated, '\n'-terminated):
//
//   HELO <abi>                                                   abi = pipe-abi-version
//   Q <qname> <qclass> <qtype> <id> <remote>                     ABI 1      (6 fields)
//   Q <qname> <qclass> <qtype> <id> <remote> <local>             ABI 2      (7 fields)
//   Q <qname> <qclass> <qtype> <id> <remote> <local> <ecs>       ABI 3..5   (8 fields)
//   AXFR <id>                                                    ABI 1..3
//   AXFR <id> <zone>                                             ABI 4..5
//   CMD <text>                                                   ABI 5 (pdnsutil backend-cmd)
//
// and the replies we write:
//
//   OK <banner>                                                  HELO with abi 1..5
//   FAIL                                                         HELO otherwise; then one more
//                                                                line is read and the session
//                                                                ends (done(), status 1)
//   DATA <qname> <qclass> <qtype> <ttl> <id> <content>           ABI 1, 2
//   DATA <scope> <auth> <qname> <qclass> <qtype> <ttl> <id> <content>   ABI 3..5
//   END                                                          end of data (alone: no data)
//   LOG <reason> + FAIL                                          malformed or unexpected line
//   FAIL                                                         handler error, overflow
//
// qname is printed without its trailing dot (root is "."), in the case it was asked in. MX
// and SRV content puts the priority in its own field ("10\tmail.example."), because
// PowerDNS rebuilds their content from exactly two fields.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backend/pipe/counters.h"
#include "mapper/app/app.h"
#include "mapper/app/worker.h"
#include "mapper/dns/writer.h"

namespace amap::pipe {

inline constexpr int kMinAbi = 1;
inline constexpr int kMaxAbi = 5;

/// The scopebits field of ABI 3+ DATA lines (PowerDNS copies it into the ECS scope of the
/// response).
enum class EcsScope : std::uint8_t {
  /// Always 0: the answer is valid for every client. Right for apps whose answers do not
  /// depend on the client.
  zero,
  /// The ECS source prefix length when the query carried ECS, else 0. Right for apps that
  /// tailor every answer to Request::client_address() (e.g. whoami). The zone's apex SOA and
  /// NS records keep scope 0.
  source,
};

struct Options {
  /// Text after "OK\t" in the handshake reply; PowerDNS only logs it.
  std::string banner = "automap pipe backend";
  EcsScope ecs_scope = EcsScope::zero;
  /// Capacity of the reply buffer, allocated once. A reply that does not fit is a FAIL.
  /// (The answer's records and RDATA live in the Worker, sized when it is made.)
  std::size_t max_reply_bytes = std::size_t{1} << 20;
  /// Seconds on a monotonic clock, for the uptime in "CMD stats"; nullptr = steady_clock.
  /// Tests set a fixed clock so that transcripts are reproducible.
  std::uint64_t (*clock)() noexcept = nullptr;
  /// Where every input line is counted by verb (counters.h: the mapped counter file of
  /// pipe.counters_dir, read by /metrics elsewhere); nullptr = a block of the session's own.
  /// Must outlive the session.
  LineCounts* lines = nullptr;
};

/// Counters of one coprocess (PowerDNS runs one coprocess per distributor thread, so each
/// process reports its own share).
struct Stats {
  /// Query types 0..kTypeSlots-2 (up to CAA, 257) are counted by value; the last slot
  /// counts all others.
  static constexpr std::size_t kTypeSlots = 259;

  std::uint64_t queries = 0;    // well-formed Q lines
  std::uint64_t failures = 0;   // Q lines answered FAIL (handler error, overflow)
  std::uint64_t malformed = 0;  // lines answered LOG + FAIL
  std::uint64_t axfr = 0;
  std::uint64_t commands = 0;
  std::array<std::uint64_t, kTypeSlots> by_qtype{};
};

class Session {
 public:
  /// Answers with `worker` (its app and answer storage), which must outlive the session.
  explicit Session(app::Worker& worker, Options options = {});
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Handles one line without its '\n' (a trailing '\r' is ignored) and returns the reply:
  /// zero or more complete lines. The view stays valid until the next call.
  std::string_view handle_line(std::string_view line) noexcept;
  /// The reply to a line the reader had to drop because it was longer than its buffer.
  std::string_view handle_oversized_line(std::size_t limit) noexcept;

  /// True once the session is over: after an unsupported HELO and the line that follows it.
  bool done() const noexcept { return state_ == State::closed; }
  /// Process exit status to use when the session ends: 0, or 1 after an unsupported HELO.
  int exit_status() const noexcept { return failed_handshake_ ? 1 : 0; }
  /// The negotiated ABI version, 0 before a successful HELO.
  int abi() const noexcept { return abi_; }
  const Stats& stats() const noexcept { return stats_; }
  /// Input lines by verb (the block of Options::lines, or the session's own).
  const LineCounts& lines() const noexcept { return *lines_; }

 private:
  enum class State : std::uint8_t { handshake, serving, closing, closed };
  static constexpr std::size_t kMaxFields = 9;  // 8 is the most any line has; 9 = "too many"
  using Fields = std::array<std::string_view, kMaxFields>;

  void on_helo(const Fields& f, std::size_t n) noexcept;
  void on_query(const Fields& f, std::size_t n) noexcept;
  void on_axfr(const Fields& f, std::size_t n) noexcept;
  void on_command(std::string_view line, std::size_t n) noexcept;
  /// The DATA rows and END. `qname_text`: the qname as PowerDNS sent it (no trailing dot)
  /// when it needs no escaping, else empty (the rows then print the name themselves).
  void write_records(const Fields& f, std::string_view qname_text) noexcept;
  /// LOG <what><detail> then FAIL, replacing whatever the reply held.
  void log_fail(std::string_view what, std::string_view detail = {}) noexcept;
  /// log_fail for a malformed or unexpected input line (counted as malformed).
  void reject(std::string_view what, std::string_view detail = {}) noexcept;
  void write_stats() noexcept;
  std::string_view finish() noexcept;
  std::uint64_t now() const noexcept;

  app::Worker& worker_;
  Options options_;
  State state_ = State::handshake;
  bool failed_handshake_ = false;
  int abi_ = 0;
  std::uint64_t started_ = 0;
  Stats stats_;
  LineCounts own_lines_;
  LineCounts* lines_;
  app::Request request_;
  std::vector<char> reply_;
  dns::TextWriter out_;
};

}  // namespace amap::pipe
