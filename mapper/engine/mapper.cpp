// SPDX-License-Identifier: MIT
#include "mapper/engine/mapper.h"

#include <algorithm>

#include "mapper/core/reverse_name.h"

namespace amap::mapper {
namespace {

std::string origin_of(const config::Config& c, const config::PrefixConfig& p) {
  return c.file + ":" + std::to_string(p.mark.line) + " " + p.path;
}

dns::IpAddress range_end(const dns::Prefix& p) {
  // The last address of the prefix: all host bits set.
  const unsigned bits = p.address.bits();
  const unsigned host = bits - p.length;
  std::uint64_t hi = p.address.hi();
  std::uint64_t lo = p.address.lo();
  if (p.address.is_v4()) {
    lo |= host >= 32 ? 0xFFFFFFFFULL : ((1ULL << host) - 1);
  } else if (host >= 64) {
    lo = ~0ULL;
    hi |= host >= 128 ? ~0ULL : ((1ULL << (host - 64)) - 1);
  } else {
    lo |= host == 0 ? 0 : ((1ULL << host) - 1);
  }
  return dns::IpAddress::from_u128(p.family(), hi, lo);
}

}  // namespace

std::shared_ptr<const Mapper> Mapper::build(const config::Config& config,
                                            std::vector<config::Error>& errors) {
  auto m = std::make_shared<Mapper>();
  m->config_ = config;
  const std::size_t errors_before = errors.size();
  auto error = [&](config::Mark mark, const std::string& path, const std::string& msg) {
    errors.push_back(config::Error{config.file, mark, path, msg});
  };

  for (const auto& z : config.zones) {
    m->forward_zones_.push_back(z.name);
  }

  PrefixTable::Builder builder;
  for (const auto& p : config.prefixes) {
    Rule r;
    r.prefix = p.prefix;
    r.ttl = p.ttl.value_or(config.default_ttl);
    r.blank = p.blank;
    r.forward = p.forward && !p.blank;
    r.reverse = p.reverse && !p.blank;
    r.classless = p.classless;
    r.origin = origin_of(config, p);
    if (!p.blank) {
      auto t = Template::compile(p.name_template, p.prefix);
      if (!t) {
        error(p.name_mark, p.path + ".name", t.error());
        continue;
      }
      r.name = std::move(*t);
      if (r.forward) {
        const dns::Name& suffix = r.name->suffix();
        const bool in_zone = std::any_of(m->forward_zones_.begin(), m->forward_zones_.end(),
                                         [&](const dns::Name& z) { return suffix.is_subdomain_of(z); });
        if (!in_zone) {
          error(p.name_mark, p.path + ".name",
                "names of this template lie outside every zone under 'zones:', so they cannot "
                "resolve forward: add their zone to 'zones:' or set 'forward: false'");
          continue;
        }
      }
    }
    builder.insert(r.prefix, static_cast<std::uint32_t>(m->rules_.size()));
    m->rules_.push_back(std::move(r));
  }
  if (errors.size() != errors_before) {
    return nullptr;
  }
  auto table = builder.build();
  if (!table) {
    error({}, "prefixes", table.error());
    return nullptr;
  }
  m->table_ = std::move(*table);

  // Reverse zones: the octet/nibble boundary at or above each prefix, merged so that no
  // zone lies inside another.
  std::vector<dns::Name> apexes;
  for (const Rule& r : m->rules_) {
    apexes.push_back(reverse_zone_for(r.prefix, r.classless));
  }
  std::sort(apexes.begin(), apexes.end(), [](const dns::Name& a, const dns::Name& b) {
    return a.label_count() < b.label_count();
  });
  for (const auto& a : apexes) {
    const bool covered = std::any_of(m->reverse_zones_.begin(), m->reverse_zones_.end(),
                                     [&](const dns::Name& z) { return a.is_subdomain_of(z); });
    if (!covered) {
      m->reverse_zones_.push_back(a);
    }
  }

  // Forward index and the empty non-terminals above each template's names.
  for (std::uint32_t i = 0; i < m->rules_.size(); ++i) {
    const Rule& r = m->rules_[i];
    if (!r.forward) {
      continue;
    }
    const dns::Name& suffix = r.name->suffix();
    m->by_suffix_.emplace(suffix, i);
    m->max_suffix_labels_ = std::max(m->max_suffix_labels_, suffix.label_count());
    for (dns::Name n = suffix;; n = n.parent()) {
      const bool in_zone = std::any_of(m->forward_zones_.begin(), m->forward_zones_.end(),
                                       [&](const dns::Name& z) { return n.is_subdomain_of(z); });
      if (!in_zone) {
        break;
      }
      m->forward_ents_.insert(n);
      if (n.is_root()) {
        break;
      }
    }
  }
  return m;
}

void Mapper::install(const std::shared_ptr<const Mapper>& mapper, app::App& app) {
  const config::Config& c = mapper->config_;
  auto declare = [&](const dns::Name& apex, ZoneKind kind) {
    app::Zone z;
    z.apex = apex;
    z.soa = c.soa.soa;
    z.soa_ttl = c.soa.ttl;
    z.ns = c.ns;
    z.ns_ttl = c.ns_ttl;
    z.user_data = static_cast<std::uint32_t>(kind);
    app.add_zone(std::move(z));
  };
  for (const auto& z : mapper->forward_zones_) {
    declare(z, ZoneKind::forward);
  }
  for (const auto& z : mapper->reverse_zones_) {
    declare(z, ZoneKind::reverse);
  }
  app.default_ttl = c.default_ttl;
  app.route(app::Match(), [mapper](const app::Request& req, app::Answer& ans) {
    const Synthesis s = mapper->synthesize(req.qname);
    const bool any = req.qtype == dns::rrtype::ANY;
    switch (s.status) {
      case Synthesis::Status::nxdomain:
        break;
      case Synthesis::Status::exists:
        ans.set_exists();
        break;
      case Synthesis::Status::ptr:
        ans.set_exists();
        if (any || req.qtype == dns::rrtype::PTR) {
          ans.ptr(s.target, s.ttl);
        }
        break;
      case Synthesis::Status::address: {
        ans.set_exists();
        const dns::RRType family_type = s.address.is_v4() ? dns::rrtype::A : dns::rrtype::AAAA;
        if (any || req.qtype == family_type) {
          ans.address(s.address, s.ttl);
        }
        break;
      }
    }
    return app::Flow::final;
  });
}

const Rule* Mapper::rule_for(const dns::IpAddress& address) const noexcept {
  const auto* e = table_.lookup(address);
  return e == nullptr ? nullptr : &rules_[e->value];
}

Synthesis Mapper::ptr_for(const dns::IpAddress& address) const noexcept {
  Synthesis s;
  const Rule* r = rule_for(address);
  s.rule = r;
  if (r == nullptr || !r->reverse || !r->name->render(address, s.target)) {
    return s;
  }
  s.status = Synthesis::Status::ptr;
  s.address = address;
  s.ttl = r->ttl;
  return s;
}

Synthesis Mapper::synthesize(const dns::Name& qname) const noexcept {
  auto rn = parse_reverse_name(qname);
  if (rn.has_value()) {
    return reverse(*rn);
  }
  if (rn.error() == Errc::not_found) {
    return forward(qname);
  }
  return Synthesis{};  // under in-addr.arpa/ip6.arpa but no octet or nibble: nothing here
}

bool Mapper::has_synthesis_inside(const dns::Prefix& range) const noexcept {
  // Entries are sorted by address: look at those that start inside the range.
  const auto entries = table_.entries(range.family());
  const dns::IpAddress last = range_end(range);
  auto it = std::lower_bound(entries.begin(), entries.end(), range.address,
                             [](const PrefixTable::Entry& e, const dns::IpAddress& a) {
                               return e.prefix.address < a;
                             });
  for (; it != entries.end() && !(last < it->prefix.address); ++it) {
    if (it->prefix.length > range.length && rules_[it->value].reverse) {
      return true;
    }
  }
  return false;
}

Synthesis Mapper::reverse(const ReverseName& name) const noexcept {
  Synthesis s;
  const ReverseName* rn = &name;
  if (rn->classless_length != 0) {
    // RFC 2317 names exist only inside a prefix configured with classless: true.
    const auto* e = table_.lookup_exact(rn->classless_block());
    if (e == nullptr || !rules_[e->value].classless) {
      return s;
    }
  }
  if (rn->complete()) {
    return ptr_for(rn->address);
  }
  // A partial name: an empty non-terminal when some synthesized address lies below it.
  const dns::Prefix range = rn->prefix();
  const auto* covering = table_.lookup(rn->address, range.length);
  if ((covering != nullptr && rules_[covering->value].reverse) || has_synthesis_inside(range)) {
    s.status = Synthesis::Status::exists;
  }
  return s;
}

Synthesis Mapper::forward(const dns::Name& qname) const noexcept {
  Synthesis s;
  const std::size_t labels = qname.label_count();
  const std::size_t from = std::min(labels, max_suffix_labels_);
  for (std::size_t k = from + 1; k-- > 0;) {
    const dns::Name suffix = qname.suffix(k);
    auto [first, last] = by_suffix_.equal_range(suffix);
    for (auto it = first; it != last; ++it) {
      const Rule& r = rules_[it->second];
      if (r.name->label_count() != labels) {
        continue;
      }
      auto addr = r.name->matches(qname);
      if (!addr) {
        continue;
      }
      // Only the most specific prefix of the address answers forward, so names that a
      // more specific (or blank) prefix took over do not resolve (FCrDNS holds).
      if (rule_for(*addr) != &r) {
        continue;
      }
      s.status = Synthesis::Status::address;
      s.address = *addr;
      s.ttl = r.ttl;
      s.rule = &r;
      return s;
    }
  }
  if (forward_ents_.count(qname) != 0) {
    s.status = Synthesis::Status::exists;
  }
  return s;
}

}  // namespace amap::mapper
