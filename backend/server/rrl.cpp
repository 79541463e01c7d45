// SPDX-License-Identifier: MIT
#include "backend/server/rrl.h"

#include <random>
#include <stdexcept>
#include <string>

#include "mapper/sync/counter.h"
#include "mapper/wire/message.h"

namespace amap::server {

namespace {

constexpr std::uint64_t kSecondNs = 1'000'000'000;
constexpr std::size_t kMaxTableSize = std::size_t{1} << 26;
constexpr std::uint8_t kServfail = 2;

/// splitmix64's finalizer: every input bit reaches every output bit.
constexpr std::uint64_t mix(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

/// The top `len` bits of a 64-bit word (len 0..64).
constexpr std::uint64_t top_bits(unsigned len) noexcept {
  return len == 0 ? 0 : ~std::uint64_t{0} << (64 - len);
}

}  // namespace

ResponseRateLimiter::ResponseRateLimiter(const RrlOptions& options) : options_(options) {
  if (options_.responses_per_second == 0 || options_.responses_per_second > kSecondNs) {
    throw std::invalid_argument("rrl: responses_per_second must be 1 to 1000000000");
  }
  if (options_.ipv4_prefix > 32 || options_.ipv6_prefix > 128) {
    throw std::invalid_argument("rrl: ipv4_prefix must be 0..32 and ipv6_prefix 0..128");
  }
  if (options_.table_size == 0 || options_.table_size > kMaxTableSize) {
    throw std::invalid_argument("rrl: table_size must be 1 to " + std::to_string(kMaxTableSize));
  }
  interval_ns_ = kSecondNs / options_.responses_per_second;
  burst_ns_ = kSecondNs;
  // IPv4 addresses are 32-bit values: their mask lives in the low half of the word.
  v4_mask_ = top_bits(options_.ipv4_prefix) >> 32;
  v6_hi_mask_ = top_bits(options_.ipv6_prefix < 64 ? options_.ipv6_prefix : 64);
  v6_lo_mask_ = top_bits(options_.ipv6_prefix > 64 ? options_.ipv6_prefix - 64U : 0U);
  std::random_device rd;
  seed_ = (std::uint64_t{rd()} << 32) ^ rd();
  std::size_t size = 1;
  while (size < options_.table_size) {
    size <<= 1;
  }
  mask_ = size - 1;
  table_ = std::make_unique<std::atomic<std::uint64_t>[]>(size);  // value-initialized: 0
}

std::size_t ResponseRateLimiter::bucket_of(const dns::IpAddress& client) const noexcept {
  std::uint64_t h = 0;
  if (client.is_v4()) {
    h = mix((client.v4_value() & v4_mask_) ^ seed_);
  } else {
    // A different first step keeps an IPv6 prefix of zeros from aliasing 0.0.0.0/N.
    h = mix(mix((client.hi() & v6_hi_mask_) ^ ~seed_) ^ (client.lo() & v6_lo_mask_));
  }
  return static_cast<std::size_t>(h) & mask_;
}

bool ResponseRateLimiter::exempt(const dns::IpAddress& client) const noexcept {
  for (const dns::Prefix& p : options_.whitelist) {
    if (p.contains(client)) {
      return true;
    }
  }
  return false;
}

RrlVerdict ResponseRateLimiter::check(const dns::IpAddress& client, std::uint8_t rcode,
                                      std::uint64_t now_ns, RrlCounters& counters) noexcept {
  if (!options_.whitelist.empty() && exempt(client)) {
    return RrlVerdict::send;
  }
  std::atomic<std::uint64_t>& bucket = table_[bucket_of(client)];
  std::uint64_t tat = bucket.load(std::memory_order_relaxed);
  for (;;) {
    // GCRA: the answer is due at max(tat, now); it is within the rate while that stays no
    // more than the burst (one second of answers) ahead of now.
    const std::uint64_t next = (tat > now_ns ? tat : now_ns) + interval_ns_;
    if (next - now_ns > burst_ns_) {
      break;
    }
    // A failed CAS reloads `tat` (another worker answered the same prefix): try again.
    if (bucket.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
      return RrlVerdict::send;
    }
  }
  sync::bump(counters.limited);
  if (options_.slip != 0 && counters.limited % options_.slip == 0 && rcode != kServfail) {
    sync::bump(counters.slipped);
    return RrlVerdict::slip;
  }
  sync::bump(counters.dropped);
  return RrlVerdict::drop;
}

std::size_t ResponseRateLimiter::limit_answer(const dns::IpAddress& client,
                                              std::span<std::uint8_t> out, std::size_t len,
                                              std::uint64_t now_ns,
                                              RrlCounters& counters) noexcept {
  const auto rcode = static_cast<std::uint8_t>(out[3] & 0x0FU);
  switch (check(client, rcode, now_ns, counters)) {
    case RrlVerdict::send:
      return len;
    case RrlVerdict::slip:
      return wire::truncate_response(out, len);
    case RrlVerdict::drop:
      break;
  }
  return 0;
}

std::string ResponseRateLimiter::describe() const {
  return "responses_per_second=" + std::to_string(options_.responses_per_second) +
         " slip=" + std::to_string(options_.slip) +
         " ipv4_prefix=" + std::to_string(options_.ipv4_prefix) +
         " ipv6_prefix=" + std::to_string(options_.ipv6_prefix) +
         " whitelist=" + std::to_string(options_.whitelist.size()) +
         " table=" + std::to_string(buckets());
}

}  // namespace amap::server
