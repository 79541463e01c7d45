// SPDX-License-Identifier: MIT
#pragma once
// Response rate limiting (RRL) for the standalone server's UDP answers, after NSD and Knot:
// at most `responses_per_second` answers per second to one client prefix (/24 for IPv4, /56
// for IPv6 by default); of the answers over the limit, every `slip`-th goes out truncated
// (TC=1, empty sections: a real client retries over TCP, which proves its address) and the
// others are dropped. TCP is never limited. Whitelisted client prefixes are exempt.
//
// One table is shared by every UDP worker, so the limit holds per prefix whatever worker the
// kernel's SO_REUSEPORT hash picks for a datagram. Each bucket is one 64-bit atomic holding
// the GCRA "theoretical arrival time" (the token bucket in one number): admitting an answer
// moves it on by 1/rate s, and an answer is over the limit when that would put it more than
// one second (`responses_per_second` answers of burst) ahead of now. No allocation, lock or
// exception per check: a hash of the masked client address, one load and one CAS.
//
//   amap::server::RrlOptions o;
//   o.enabled = true;
//   amap::server::ResponseRateLimiter rrl(o);
//   switch (rrl.check(client, rcode, now_ns, worker_counters)) { ... }

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mapper/dns/address.h"

namespace amap::server {

struct RrlOptions {
  bool enabled = false;
  /// Answers per second per client prefix (NSD suggests 200; Knot 50 per address).
  std::uint32_t responses_per_second = 200;
  /// Every slip-th limited answer is sent with TC=1, the others dropped. 0 = drop all,
  /// 1 = truncate all (NSD rrl-slip, Knot slip).
  std::uint32_t slip = 2;
  /// Client addresses are grouped by these prefix lengths (NSD: 24 and 64).
  std::uint8_t ipv4_prefix = 24;
  std::uint8_t ipv6_prefix = 56;
  /// Clients in these prefixes are never limited (checked in order; meant for a few entries).
  std::vector<dns::Prefix> whitelist;
  /// Buckets in the shared table, rounded up to a power of two (8 bytes each). Prefixes whose
  /// hashes collide share a bucket (so they are limited together, never less).
  std::size_t table_size = 1U << 17;
};

/// Per-worker counters (summed when read). limited = slipped + dropped.
struct RrlCounters {
  std::uint64_t limited = 0;  // answers over the rate
  std::uint64_t slipped = 0;  // of those, sent truncated
  std::uint64_t dropped = 0;  // of those, not sent
  RrlCounters& operator+=(const RrlCounters& o) noexcept {
    limited += o.limited;
    slipped += o.slipped;
    dropped += o.dropped;
    return *this;
  }
};

enum class RrlVerdict : std::uint8_t {
  send,  // under the limit (or exempt): send the answer as it is
  slip,  // over the limit: send it truncated (wire::truncate_response)
  drop,  // over the limit: send nothing
};

class ResponseRateLimiter {
 public:
  /// Throws std::invalid_argument for a rate of 0, a prefix length out of range or a
  /// table_size of 0 or above 2^26.
  explicit ResponseRateLimiter(const RrlOptions& options);

  /// Accounts one UDP answer with header rcode `rcode` to `client` at `now_ns` (a monotonic
  /// clock in nanoseconds; the server reads it once per batch) and says what to do with it.
  /// A SERVFAIL over the limit is dropped even when its turn to slip comes: it cannot be
  /// truncated usefully. `counters` are the calling worker's (its limited count also paces
  /// the slip). Thread-safe: any number of workers may call it at once.
  RrlVerdict check(const dns::IpAddress& client, std::uint8_t rcode, std::uint64_t now_ns,
                   RrlCounters& counters) noexcept;

  /// True when `client` is in the whitelist.
  bool exempt(const dns::IpAddress& client) const noexcept;
  /// The UDP hook: checks the answer of `len` bytes in `out` (its rcode read from the header)
  /// and returns the length to send: `len`, the truncated length (rewritten in place), or 0
  /// to drop it.
  std::size_t limit_answer(const dns::IpAddress& client, std::span<std::uint8_t> out,
                           std::size_t len, std::uint64_t now_ns, RrlCounters& counters) noexcept;

  /// "responses_per_second=20 slip=2 ipv4_prefix=24 ipv6_prefix=56 whitelist=1 table=131072"
  std::string describe() const;
  const RrlOptions& options() const noexcept { return options_; }
  std::size_t buckets() const noexcept { return mask_ + 1; }

 private:
  std::size_t bucket_of(const dns::IpAddress& client) const noexcept;

  RrlOptions options_;
  std::uint64_t interval_ns_;  // 1 s / rate: how far one answer moves a bucket on
  std::uint64_t burst_ns_;     // 1 s: how far ahead of now a bucket may run
  std::uint64_t v4_mask_;      // the client prefix masks
  std::uint64_t v6_hi_mask_;
  std::uint64_t v6_lo_mask_;
  std::uint64_t seed_;  // random per process: a client cannot aim at another's bucket
  std::size_t mask_;
  /// Per bucket: the theoretical arrival time (ns, the check clock) of the next answer at
  /// the configured rate; 0 = unused. Relaxed atomics: each bucket is independent.
  std::unique_ptr<std::atomic<std::uint64_t>[]> table_;
};

}  // namespace amap::server
