// SPDX-License-Identifier: MIT
#include "mapper/app/app.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace amap::app {
namespace {

dns::Name parse_name(std::string_view text, std::string_view what) {
  auto n = dns::Name::from_text(text);
  if (!n) {
    throw std::invalid_argument(std::string(what) + " '" + std::string(text) +
                                "': " + std::string(errc_message(n.error())));
  }
  return *n;
}

dns::Prefix parse_cidr(std::string_view text) {
  auto p = dns::Prefix::parse(text, /*allow_host_bits=*/false);
  if (!p) {
    throw std::invalid_argument("CIDR '" + std::string(text) +
                                "': " + std::string(errc_message(p.error())));
  }
  return *p;
}

bool any_contains(const std::vector<dns::Prefix>& prefixes, const dns::IpAddress& a) noexcept {
  for (const auto& p : prefixes) {
    if (p.contains(a)) {
      return true;
    }
  }
  return false;
}

}  // namespace

Match& Match::name(std::string_view fqdn) {
  name_ = parse_name(fqdn, "name");
  has_name_ = true;
  return *this;
}

Match& Match::domain(std::string_view domain) {
  domain_ = parse_name(domain, "domain");
  has_domain_ = true;
  return *this;
}

Match& Match::type(dns::RRType type) {
  type_ = type;
  has_type_ = true;
  return *this;
}

Match& Match::type(std::string_view mnemonic) {
  auto t = dns::RRType::from_text(mnemonic);
  if (!t) {
    throw std::invalid_argument("unknown record type '" + std::string(mnemonic) + "'");
  }
  return type(*t);
}

Match& Match::qclass(std::uint16_t cls) {
  class_ = cls;
  has_class_ = true;
  return *this;
}

Match& Match::remote(std::string_view cidr) {
  remote_.push_back(parse_cidr(cidr));
  return *this;
}

Match& Match::local(std::string_view cidr) {
  local_.push_back(parse_cidr(cidr));
  return *this;
}

Match& Match::ecs(std::string_view cidr) {
  ecs_.push_back(parse_cidr(cidr));
  return *this;
}

Match::Fit Match::fit(const Request& req) const noexcept {
  if (has_class_ && req.qclass != class_) {
    return Fit::no;
  }
  if (has_name_ && !(req.qname == name_)) {
    return Fit::no;
  }
  if (has_domain_ && !req.qname.is_subdomain_of(domain_)) {
    return Fit::no;
  }
  if (!remote_.empty() && !any_contains(remote_, req.remote)) {
    return Fit::no;
  }
  if (!local_.empty() && !any_contains(local_, req.local)) {
    return Fit::no;
  }
  if (!ecs_.empty() && !(req.has_ecs && any_contains(ecs_, req.ecs.address))) {
    return Fit::no;
  }
  if (has_type_ && req.qtype != type_ && req.qtype != dns::rrtype::ANY) {
    return has_name_ ? Fit::other_type_of_name : Fit::no;
  }
  return Fit::yes;
}

Zone& App::zone(std::string_view apex) {
  Zone z;
  z.apex = parse_name(apex, "zone");
  dns::Soa& soa = z.authority->soa;
  soa.mname = z.apex;
  soa.rname = z.apex;
  if (!soa.mname.prepend("ns1") || !soa.rname.prepend("hostmaster")) {
    throw std::invalid_argument("zone '" + std::string(apex) + "': name too long for its SOA");
  }
  z.authority->ns.push_back(soa.mname);
  return add_zone(std::move(z));
}

Zone& App::add_zone(Zone zone) {
  const std::uint64_t h = dns::suffix_hash(zone.apex);
  Zone* same = nullptr;
  zone_index_.find(h, [&](std::uint32_t k) {
    if (!(zones_[k].apex == zone.apex)) {
      return false;
    }
    same = &zones_[k];
    return true;
  });
  if (same != nullptr) {
    *same = std::move(zone);
    return *same;
  }
  max_apex_labels_ = std::max(max_apex_labels_, zone.apex.label_count());
  zones_.push_back(std::move(zone));
  zone_index_.insert(h, static_cast<std::uint32_t>(zones_.size() - 1));
  return zones_.back();
}

void App::reserve_zones(std::size_t count) {
  zones_.reserve(count);
  zone_index_.reserve(count);
}

App& App::add_route(Match match, Handler handler) {
  if (!handler) {
    throw std::invalid_argument("route: empty handler");
  }
  routes_.push_back(Route{std::move(match), std::move(handler)});
  return *this;
}

const Zone* App::find_zone(const dns::Name& name) const noexcept {
  if (zones_.empty()) {
    return nullptr;
  }
  const std::size_t labels = std::min(name.label_count(), max_apex_labels_);
  dns::SuffixHashes hashes;
  dns::suffix_hashes(name, hashes, labels);
  const Zone* found = nullptr;
  for (std::size_t k = labels + 1; k-- > 0;) {
    zone_index_.find(hashes[k], [&](std::uint32_t i) {
      const Zone& z = zones_[i];
      if (z.apex.label_count() != k || !name.is_subdomain_of(z.apex)) {
        return false;  // a hash collision
      }
      found = &z;
      return true;
    });
    if (found != nullptr) {
      return found;
    }
  }
  return nullptr;
}

Outcome App::run_handlers(Worker& worker, const Request& req, Answer& ans,
                          bool& exists) const noexcept {
  for (const Route& r : routes_) {
    switch (r.match.fit(req)) {
      case Match::Fit::no:
        continue;
      case Match::Fit::other_type_of_name:
        exists = true;  // a route of this very name serves other types: NODATA
        continue;
      case Match::Fit::yes:
        break;
    }
    switch (r.handler(req, ans, worker)) {
      case Outcome::hit:
      case Outcome::nodata:
        exists = true;
        return Outcome::hit;
      case Outcome::miss:
        continue;
      case Outcome::error:
        return Outcome::error;
    }
  }
  return Outcome::miss;
}

Outcome App::answer(Worker& worker, const Request& req, Answer& ans, Need need) const noexcept {
  ans.reset(req.qname, default_ttl);
  const Zone* zone = find_zone(req.qname);
  ans.zone = zone;
  if (zone == nullptr) {
    return Outcome::miss;  // not ours: no data
  }
  const bool at_apex = req.qname == zone->apex;
  const bool any = req.qtype == dns::rrtype::ANY;
  const bool soa_question = req.qtype == dns::rrtype::SOA;
  if (at_apex && (any || soa_question)) {
    ans.soa(zone->soa(), zone->authority->soa_ttl, zone->serial(worker));
  }
  if (soa_question && need == Need::records) {
    if (ans.overflow()) {
      ans.rollback({0, 0});
      return Outcome::error;
    }
    return at_apex ? Outcome::hit : Outcome::miss;
  }
  if (at_apex && (any || req.qtype == dns::rrtype::NS)) {
    for (const auto& ns : zone->authority->ns) {
      ans.ns(ns, zone->authority->ns_ttl);
    }
  }
  const Answer::Mark from_handlers = ans.mark();
  bool exists = at_apex;
  if (run_handlers(worker, req, ans, exists) == Outcome::error) {
    ans.rollback({0, 0});
    return Outcome::error;
  }
  if (soa_question) {
    // SOA comes from the zone declaration only; what the handlers added there only tells
    // whether the name exists (PowerDNS asks SOA at every label on its way up to the apex).
    for (const Record& r : ans.records().subspan(from_handlers.records)) {
      exists = exists || (r.section == Section::answer && r.owner == req.qname);
    }
    ans.rollback(from_handlers);
  }
  // Keep only the answer-section records that answer the question; the others still prove
  // that the name exists (NODATA rather than NXDOMAIN).
  bool answered = false;
  ans.retain_if([&](const Record& r) {
    if (r.section != Section::answer) {
      return true;
    }
    if (!(r.owner == req.qname)) {
      return false;
    }
    if (answers_qtype(r, req.qtype)) {
      answered = true;
      return true;
    }
    exists = true;
    return false;
  });
  if (ans.overflow()) {
    ans.rollback({0, 0});
    return Outcome::error;
  }
  return answered ? Outcome::hit : exists ? Outcome::nodata : Outcome::miss;
}

bool answers_qtype(const Record& r, dns::RRType qtype) noexcept {
  return r.type == qtype || qtype == dns::rrtype::ANY || r.type == dns::rrtype::CNAME;
}

void App::resolve(Worker& worker, const Request& req, Answer& ans) const noexcept {
  if (req.qclass != dns::rrclass::IN && req.qclass != dns::rrclass::ANY) {
    ans.reset(req.qname, default_ttl);
    ans.rcode = Rcode::refused;
    return;
  }
  const Outcome outcome = answer(worker, req, ans);
  const Zone* zone = ans.zone;
  if (zone == nullptr) {
    ans.rcode = Rcode::refused;
    return;
  }
  switch (outcome) {
    case Outcome::error:
      ans.rcode = Rcode::servfail;
      return;
    case Outcome::hit:
      ans.authoritative = true;
      ans.rcode = Rcode::noerror;
      return;
    case Outcome::nodata:
    case Outcome::miss:
      break;
  }
  ans.authoritative = true;
  ans.rcode = outcome == Outcome::nodata ? Rcode::noerror : Rcode::nxdomain;
  // RFC 2308 section 3: negative answers carry the zone's SOA in the authority section.
  const std::uint32_t serial = zone->serial(worker);
  ans.add(
      zone->apex, dns::rrtype::SOA, zone->negative_ttl(),
      [&](dns::WireWriter& w) { dns::rdata::soa(w, zone->soa(), serial); }, Section::authority);
  if (ans.overflow()) {
    ans.rollback({0, 0});
    ans.rcode = Rcode::servfail;
    ans.authoritative = false;
  }
}

App& App::every(std::chrono::milliseconds interval, std::function<void(std::stop_token)> fn,
                std::string name) {
  if (interval.count() <= 0 || !fn) {
    throw std::invalid_argument("every(): the interval must be positive and the task set");
  }
  tasks_.push_back(BackgroundTask{std::move(name), interval, std::move(fn)});
  return *this;
}

App& App::every(std::chrono::milliseconds interval, std::function<void()> fn, std::string name) {
  if (!fn) {
    throw std::invalid_argument("every(): no task");
  }
  return every(
      interval, [f = std::move(fn)](const std::stop_token&) { f(); }, std::move(name));
}

}  // namespace amap::app
