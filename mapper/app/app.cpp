// SPDX-License-Identifier: MIT
#include "mapper/app/app.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

#include "mapper/app/log.h"

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

bool Match::matches(const Request& req) const noexcept {
  if (has_type_ && req.qtype != type_ && req.qtype != dns::rrtype::ANY) {
    return false;
  }
  if (has_class_ && req.qclass != class_) {
    return false;
  }
  if (has_name_ && !(req.qname == name_)) {
    return false;
  }
  if (has_domain_ && !req.qname.is_subdomain_of(domain_)) {
    return false;
  }
  if (!remote_.empty() && !any_contains(remote_, req.remote)) {
    return false;
  }
  if (!local_.empty() && !any_contains(local_, req.local)) {
    return false;
  }
  if (!ecs_.empty() && !(req.has_ecs && any_contains(ecs_, req.ecs.address))) {
    return false;
  }
  return true;
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

App& App::route(Match match, Handler handler, Existence existence) {
  if (!handler) {
    throw std::invalid_argument("route: empty handler");
  }
  routes_.push_back(Route{std::move(match), std::move(handler)});
  all_report_existence_ = all_report_existence_ && existence == Existence::reported;
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

void App::run_handlers(const Request& req, Answer& ans) const {
  for (const Route& r : routes_) {
    if (r.match.matches(req) && r.handler(req, ans) == Flow::final) {
      return;
    }
  }
}

bool App::lookup(const Request& req, Answer& ans) const noexcept {
  ans.reset(req.qname, default_ttl);
  const Zone* zone = find_zone(req.qname);
  ans.zone = zone;
  if (zone == nullptr) {
    return true;  // not ours: no data
  }
  const bool at_apex = req.qname == zone->apex;
  const bool any = req.qtype == dns::rrtype::ANY;
  if (at_apex && (any || req.qtype == dns::rrtype::SOA)) {
    ans.soa(zone->soa(), zone->authority->soa_ttl);
  }
  if (req.qtype == dns::rrtype::SOA) {
    return !ans.overflow();  // SOA comes from the zone declaration only
  }
  if (at_apex && (any || req.qtype == dns::rrtype::NS)) {
    for (const auto& ns : zone->authority->ns) {
      ans.ns(ns, zone->authority->ns_ttl);
    }
  }
  try {
    run_handlers(req, ans);
  } catch (const std::exception& e) {
    log::error(std::string("handler failed for ") + req.qname.to_string() + ": " + e.what());
    return false;
  } catch (...) {
    log::error("handler failed for " + req.qname.to_string() + ": unknown exception");
    return false;
  }
  return !ans.overflow();
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

bool answers_qtype(const Record& r, dns::RRType qtype) noexcept {
  return r.type == qtype || qtype == dns::rrtype::ANY || r.type == dns::rrtype::CNAME;
}

void App::resolve(const Request& req, Answer& ans) const noexcept {
  if (req.qclass != dns::rrclass::IN && req.qclass != dns::rrclass::ANY) {
    ans.reset(req.qname, default_ttl);
    ans.rcode = Rcode::refused;
    return;
  }
  const bool ok = lookup(req, ans);
  const Zone* zone = ans.zone;
  if (zone == nullptr) {
    ans.rcode = Rcode::refused;
    return;
  }
  if (!ok) {
    ans.rollback({0, 0});
    ans.rcode = Rcode::servfail;
    return;
  }
  ans.authoritative = true;

  // Keep only the answer-section records that answer the question; the others still prove
  // that the name exists (NODATA rather than NXDOMAIN).
  bool other_types = false;
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
    other_types = true;
    return false;
  });
  if (answered) {
    ans.rcode = Rcode::noerror;
    return;
  }

  bool exists = req.qname == zone->apex || ans.exists() || other_types;
  // Handlers filtered by type (by their Match or inside) added nothing; ask them as ANY to
  // learn if the name exists. Not needed when every handler reports existence itself and
  // they ran: lookup() runs none for SOA.
  const bool handlers_told = all_report_existence_ && req.qtype != dns::rrtype::SOA;
  if (!exists && req.qtype != dns::rrtype::ANY && !handlers_told) {
    Request probe = req;
    probe.qtype = dns::rrtype::ANY;
    const Answer::Mark m = ans.mark();
    try {
      run_handlers(probe, ans);
    } catch (...) {
      ans.rollback({0, 0});
      ans.rcode = Rcode::servfail;
      ans.authoritative = false;
      return;
    }
    for (const Record& r : ans.records().subspan(m.records)) {
      if (r.section == Section::answer && r.owner == req.qname) {
        exists = true;
      }
    }
    exists = exists || ans.exists();
    ans.rollback(m);
  }
  ans.rcode = exists ? Rcode::noerror : Rcode::nxdomain;
  // RFC 2308 section 3: negative answers carry the zone's SOA in the authority section.
  ans.add(
      zone->apex, dns::rrtype::SOA, zone->negative_ttl(),
      [&](dns::WireWriter& w) { dns::rdata::soa(w, zone->soa()); }, Section::authority);
  if (ans.overflow()) {
    ans.rollback({0, 0});
    ans.rcode = Rcode::servfail;
  }
}

}  // namespace amap::app
