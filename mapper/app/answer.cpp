// SPDX-License-Identifier: MIT
#include "mapper/app/answer.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace amap::app {

Answer::Answer(std::size_t max_records, std::size_t arena_bytes)
    : records_(max_records), arena_(arena_bytes) {}

void Answer::reset(const dns::Name& default_owner, std::uint32_t default_ttl) noexcept {
  count_ = 0;
  arena_used_ = 0;
  owner_ = default_owner;
  default_ttl_ = default_ttl;
  overflow_ = false;
  rclass_ = dns::rrclass::IN;
  rcode = Rcode::noerror;
  authoritative = false;
  zone = nullptr;
  source = DataSource::synthesized;
}

dns::WireWriter Answer::begin_rdata() noexcept {
  // RDLENGTH is 16 bits, so one record never needs more than 65535 bytes of the arena.
  const std::size_t room = std::min<std::size_t>(arena_.size() - arena_used_, 0xFFFF);
  return dns::WireWriter(std::span<std::uint8_t>(arena_.data() + arena_used_, room));
}

Answer& Answer::commit(const dns::Name& owner, dns::RRType type, std::uint32_t ttl,
                       const dns::WireWriter& w, Section section) noexcept {
  if (!w.ok() || count_ == records_.size()) {
    overflow_ = true;
    return *this;
  }
  Record& r = records_[count_++];
  r.owner = owner;
  r.type = type;
  r.rclass = rclass_;
  r.ttl = ttl == kDefaultTtl ? default_ttl_ : ttl;
  r.rdata_offset = static_cast<std::uint32_t>(arena_used_);
  r.rdata_length = static_cast<std::uint16_t>(w.size());
  r.section = section;
  arena_used_ += w.size();
  return *this;
}

Answer& Answer::add_raw(const dns::Name& owner, dns::RRType type, std::uint32_t ttl,
                        std::span<const std::uint8_t> rdata, Section section) noexcept {
  return add(
      owner, type, ttl, [&](dns::WireWriter& w) { w.bytes(rdata); }, section);
}

void Answer::rollback(Mark mark) noexcept {
  if (mark.records <= count_) {
    count_ = mark.records;
    arena_used_ = mark.arena;
  }
}

Answer& Answer::a(const dns::IpAddress& v4, std::uint32_t ttl) noexcept {
  if (!v4.is_v4()) {
    overflow_ = true;  // a programming error in the handler: report as a failed answer
    return *this;
  }
  return add(owner_, dns::rrtype::A, ttl, [&](dns::WireWriter& w) { dns::rdata::a(w, v4); });
}

Answer& Answer::aaaa(const dns::IpAddress& v6, std::uint32_t ttl) noexcept {
  if (!v6.is_v6()) {
    overflow_ = true;
    return *this;
  }
  return add(owner_, dns::rrtype::AAAA, ttl, [&](dns::WireWriter& w) { dns::rdata::aaaa(w, v6); });
}

Answer& Answer::address(const dns::IpAddress& addr, std::uint32_t ttl) noexcept {
  return addr.is_v4() ? a(addr, ttl) : aaaa(addr, ttl);
}

Answer& Answer::ptr(const dns::Name& target, std::uint32_t ttl) noexcept {
  return add(owner_, dns::rrtype::PTR, ttl,
             [&](dns::WireWriter& w) { dns::rdata::name(w, target); });
}

Answer& Answer::cname(const dns::Name& target, std::uint32_t ttl) noexcept {
  return add(owner_, dns::rrtype::CNAME, ttl,
             [&](dns::WireWriter& w) { dns::rdata::name(w, target); });
}

Answer& Answer::ns(const dns::Name& target, std::uint32_t ttl) noexcept {
  return add(owner_, dns::rrtype::NS, ttl,
             [&](dns::WireWriter& w) { dns::rdata::name(w, target); });
}

Answer& Answer::mx(std::uint16_t preference, const dns::Name& exchange,
                   std::uint32_t ttl) noexcept {
  return add(owner_, dns::rrtype::MX, ttl,
             [&](dns::WireWriter& w) { dns::rdata::mx(w, preference, exchange); });
}

Answer& Answer::txt(std::string_view text, std::uint32_t ttl) noexcept {
  return add(owner_, dns::rrtype::TXT, ttl, [&](dns::WireWriter& w) { dns::rdata::txt(w, text); });
}

Answer& Answer::srv(std::uint16_t priority, std::uint16_t weight, std::uint16_t port,
                    const dns::Name& target, std::uint32_t ttl) noexcept {
  return add(owner_, dns::rrtype::SRV, ttl,
             [&](dns::WireWriter& w) { dns::rdata::srv(w, priority, weight, port, target); });
}

Answer& Answer::caa(std::uint8_t flags, std::string_view tag, std::string_view value,
                    std::uint32_t ttl) noexcept {
  return add(owner_, dns::rrtype::CAA, ttl,
             [&](dns::WireWriter& w) { dns::rdata::caa(w, flags, tag, value); });
}

Answer& Answer::soa(const dns::Soa& soa, std::uint32_t ttl, std::uint32_t serial) noexcept {
  return add(owner_, dns::rrtype::SOA, ttl,
             [&](dns::WireWriter& w) { dns::rdata::soa(w, soa, serial); });
}

Answer& Answer::soa(const dns::Soa& soa, std::uint32_t ttl) noexcept {
  return add(owner_, dns::rrtype::SOA, ttl, [&](dns::WireWriter& w) { dns::rdata::soa(w, soa); });
}

}  // namespace amap::app
