// SPDX-License-Identifier: MIT
#pragma once
// Where handlers put their records. Storage is sized once (per worker) and reused for every
// query, so building an answer never allocates; overflowing it is a sticky error.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "mapper/app/request.h"
#include "mapper/dns/rdata.h"

namespace amap::app {

enum class Section : std::uint8_t { answer, authority, additional };

/// DNS response codes used by the framework (RFC 1035, RFC 6891 for BADVERS).
enum class Rcode : std::uint16_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
  badvers = 16,
};

struct Record {
  dns::Name owner;
  dns::RRType type;
  std::uint16_t rclass = dns::rrclass::IN;
  std::uint32_t ttl = 0;
  std::uint32_t rdata_offset = 0;
  std::uint16_t rdata_length = 0;
  Section section = Section::answer;
};

struct Zone;

/// Where an answer's records came from, for the front-ends' counters
/// (automap_dns_answers_total{source}): a handler that serves stored data says so; anything
/// else counts as synthesized.
enum class DataSource : std::uint8_t { synthesized, stored };

class Answer {
 public:
  static constexpr std::size_t kDefaultMaxRecords = 256;
  static constexpr std::size_t kDefaultArenaBytes = std::size_t{64} * 1024;
  /// TTL value meaning "use the app's default TTL" (real TTLs are below 2^31, RFC 2181).
  static constexpr std::uint32_t kDefaultTtl = 0xFFFFFFFFU;

  explicit Answer(std::size_t max_records = kDefaultMaxRecords,
                  std::size_t arena_bytes = kDefaultArenaBytes);

  /// Clears everything and sets the owner that builders use by default.
  void reset(const dns::Name& default_owner, std::uint32_t default_ttl) noexcept;
  /// The class of the records added from now on (reset() makes it IN): CH for the server's
  /// identity answers (RFC 4892).
  void record_class(std::uint16_t rclass) noexcept { rclass_ = rclass; }

  // Builders. The owner is the query name; kDefaultTtl means "the app's default TTL".
  Answer& a(const dns::IpAddress& v4, std::uint32_t ttl = kDefaultTtl) noexcept;
  Answer& aaaa(const dns::IpAddress& v6, std::uint32_t ttl = kDefaultTtl) noexcept;
  /// A for IPv4, AAAA for IPv6.
  Answer& address(const dns::IpAddress& addr, std::uint32_t ttl = kDefaultTtl) noexcept;
  Answer& ptr(const dns::Name& target, std::uint32_t ttl = kDefaultTtl) noexcept;
  Answer& cname(const dns::Name& target, std::uint32_t ttl = kDefaultTtl) noexcept;
  Answer& ns(const dns::Name& target, std::uint32_t ttl = kDefaultTtl) noexcept;
  Answer& mx(std::uint16_t preference, const dns::Name& exchange,
             std::uint32_t ttl = kDefaultTtl) noexcept;
  Answer& txt(std::string_view text, std::uint32_t ttl = kDefaultTtl) noexcept;
  Answer& srv(std::uint16_t priority, std::uint16_t weight, std::uint16_t port,
              const dns::Name& target, std::uint32_t ttl = kDefaultTtl) noexcept;
  Answer& caa(std::uint8_t flags, std::string_view tag, std::string_view value,
              std::uint32_t ttl = kDefaultTtl) noexcept;
  Answer& soa(const dns::Soa& soa, std::uint32_t ttl = kDefaultTtl) noexcept;
  /// The same with `serial` in place of soa.serial.
  Answer& soa(const dns::Soa& soa, std::uint32_t ttl, std::uint32_t serial) noexcept;

  /// Generic form: `write` gets a WireWriter for the RDATA.
  template <class F>
  Answer& add(const dns::Name& owner, dns::RRType type, std::uint32_t ttl, F&& write,
              Section section = Section::answer) noexcept {
    dns::WireWriter w = begin_rdata();
    write(w);
    return commit(owner, type, ttl, w, section);
  }
  Answer& add_raw(const dns::Name& owner, dns::RRType type, std::uint32_t ttl,
                  std::span<const std::uint8_t> rdata, Section section = Section::answer) noexcept;

  /// Sticky: a record did not fit.
  bool overflow() const noexcept { return overflow_; }
  std::span<const Record> records() const noexcept { return {records_.data(), count_}; }
  std::span<const std::uint8_t> rdata(const Record& r) const noexcept {
    return {arena_.data() + r.rdata_offset, r.rdata_length};
  }
  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  const dns::Name& default_owner() const noexcept { return owner_; }

  /// Drops records added after `mark`.
  struct Mark {
    std::size_t records;
    std::size_t arena;
  };
  Mark mark() const noexcept { return {count_, arena_used_}; }
  void rollback(Mark mark) noexcept;

  /// Keeps only the records for which `keep(record)` is true, in order.
  template <class Pred>
  void retain_if(Pred&& keep) noexcept {
    std::size_t out = 0;
    for (std::size_t i = 0; i < count_; ++i) {
      if (keep(static_cast<const Record&>(records_[i]))) {
        if (out != i) {
          records_[out] = records_[i];
        }
        ++out;
      }
    }
    count_ = out;
  }

  // Filled in by App::answer (zone) and App::resolve (all three) for the front-ends.
  Rcode rcode = Rcode::noerror;
  bool authoritative = false;
  const Zone* zone = nullptr;
  /// Set by a handler (reset() makes it synthesized); read only by the counters.
  DataSource source = DataSource::synthesized;

 private:
  dns::WireWriter begin_rdata() noexcept;
  Answer& commit(const dns::Name& owner, dns::RRType type, std::uint32_t ttl,
                 const dns::WireWriter& w, Section section) noexcept;

  std::vector<Record> records_;
  std::vector<std::uint8_t> arena_;
  std::size_t count_ = 0;
  std::size_t arena_used_ = 0;
  dns::Name owner_;
  std::uint32_t default_ttl_ = 0;
  std::uint16_t rclass_ = dns::rrclass::IN;
  bool overflow_ = false;
};

}  // namespace amap::app
