// SPDX-License-Identifier: MIT
#include "bench/workload.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <stdexcept>
#include <unordered_set>

#include "mapper/core/reverse_name.h"
#include "mapper/engine/load.h"

namespace amap::bench {
namespace {

Env finish(const std::shared_ptr<const mapper::Mapper>& m, const config::Diagnostics& errors) {
  if (!errors.ok() || !m) {
    std::string text = "configuration rejected:";
    for (const auto& e : errors) {
      text += "\n  " + e.to_string();
    }
    throw std::runtime_error(text);
  }
  Env env;
  env.mapper = m;
  env.app = std::make_shared<app::App>();
  mapper::Mapper::install(m, *env.app);
  return env;
}

struct Key {
  std::uint64_t hi;
  std::uint64_t lo;
  friend bool operator==(const Key&, const Key&) = default;
};
struct KeyHash {
  std::size_t operator()(const Key& k) const noexcept {
    return static_cast<std::size_t>((k.hi * 0x9E3779B97F4A7C15ULL) ^ (k.lo + (k.lo >> 29)));
  }
};

/// A uniformly random address inside `p`.
dns::IpAddress random_inside(const dns::Prefix& p, std::mt19937_64& rng) {
  const std::uint64_t r_hi = rng();
  const std::uint64_t r_lo = rng();
  const unsigned len = p.length;
  if (p.address.is_v4()) {
    const std::uint32_t host = len >= 32 ? 0U : (len == 0 ? 0xFFFFFFFFU : (0xFFFFFFFFU >> len));
    const auto v = static_cast<std::uint32_t>(p.address.lo() | (r_lo & host));
    return dns::IpAddress::v4(v);
  }
  std::uint64_t hi_mask = 0;
  std::uint64_t lo_mask = 0;
  if (len < 64) {
    hi_mask = len == 0 ? ~0ULL : (~0ULL >> len);
    lo_mask = ~0ULL;
  } else if (len < 128) {
    lo_mask = ~0ULL >> (len - 64);
  }
  return dns::IpAddress::from_u128(dns::Family::v6, p.address.hi() | (r_hi & hi_mask),
                                   p.address.lo() | (r_lo & lo_mask));
}

bool qualifies(const mapper::Rule& r, QueryClass c) {
  if (r.blank || !r.name) {
    return false;
  }
  switch (c) {
    case QueryClass::ptr4:
      return r.prefix.address.is_v4() && r.reverse;
    case QueryClass::ptr6:
      return r.prefix.address.is_v6() && r.reverse;
    case QueryClass::a:
      return r.prefix.address.is_v4() && r.forward;
    case QueryClass::aaaa:
      return r.prefix.address.is_v6() && r.forward;
    case QueryClass::nxdomain:
      return false;
  }
  return false;
}

void to_hex(std::uint64_t v, int digits, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) {
    out.push_back(kHex[(v >> (4 * i)) & 0xF]);
  }
}

}  // namespace

Env load_file(const std::string& path, bool open_store) {
  // As automapd loads: templates compile while the file is parsed.
  mapper::LoadAndBuildOptions options;
  options.store = open_store ? mapper::LoadAndBuildOptions::Store::existing
                             : mapper::LoadAndBuildOptions::Store::none;
  config::Diagnostics errors;
  auto m = mapper::load_and_build(path, options, errors);
  return finish(m, errors);
}

Env load_text(const std::string& yaml, const std::string& file, bool open_store) {
  config::LoadResult loaded = config::load_text(yaml, file);
  std::shared_ptr<const mapper::Mapper> m;
  if (loaded.errors.ok()) {
    mapper::Mapper::BuildOptions options;
    options.open_store = open_store;
    m = mapper::Mapper::build(std::move(loaded.config), loaded.errors, options);
  }
  return finish(m, loaded.errors);
}

std::string_view to_string(QueryClass c) noexcept {
  switch (c) {
    case QueryClass::ptr4:
      return "ptr4";
    case QueryClass::ptr6:
      return "ptr6";
    case QueryClass::a:
      return "a";
    case QueryClass::aaaa:
      return "aaaa";
    case QueryClass::nxdomain:
      return "nxdomain";
  }
  return "?";
}

std::optional<QueryClass> query_class_from(std::string_view text) noexcept {
  for (auto c : {QueryClass::ptr4, QueryClass::ptr6, QueryClass::a, QueryClass::aaaa,
                 QueryClass::nxdomain}) {
    if (text == to_string(c)) {
      return c;
    }
  }
  return std::nullopt;
}

dns::RRType query_type(QueryClass c) noexcept {
  switch (c) {
    case QueryClass::ptr4:
    case QueryClass::ptr6:
      return dns::rrtype::PTR;
    case QueryClass::aaaa:
      return dns::rrtype::AAAA;
    case QueryClass::a:
    case QueryClass::nxdomain:
      return dns::rrtype::A;
  }
  return dns::rrtype::A;
}

std::size_t generate(const mapper::Mapper& m, QueryClass c, std::size_t count, std::uint64_t seed,
                     const Sink& sink, bool allow_fewer) {
  mapper::Mapper::Context context(m);  // one for the whole run: no reader per name
  std::mt19937_64 rng(seed);
  const dns::RRType type = query_type(c);
  const std::size_t max_attempts = count * 50 + 10000;

  if (c == QueryClass::nxdomain) {
    if (m.forward_zones().empty()) {
      throw std::runtime_error("no forward zone in the configuration: no nxdomain names");
    }
    // "nx-<counter>-<random>" never matches a template of the example configurations; each
    // candidate is checked anyway.
    std::size_t made = 0;
    std::string label;
    for (std::size_t i = 0; made < count; ++i) {
      if (i >= max_attempts) {
        throw std::runtime_error("could not build enough nxdomain names");
      }
      const auto& zone = m.forward_zones()[i % m.forward_zones().size()];
      label = "nx-";
      to_hex(i, 8, label);
      label.push_back('-');
      to_hex(rng(), 6, label);
      dns::Name n = zone;
      if (!n.prepend(label)) {
        continue;
      }
      if (m.synthesize(context, n).status != mapper::Synthesis::Status::nxdomain) {
        continue;
      }
      sink(n, type);
      ++made;
    }
    return made;
  }

  std::vector<const mapper::Rule*> rules;
  for (const auto& r : m.rules()) {
    if (qualifies(r, c)) {
      rules.push_back(&r);
    }
  }
  if (rules.empty()) {
    throw std::runtime_error("the configuration has no prefix that synthesizes " +
                             std::string(to_string(c)) + " names");
  }
  // Distinct names are drawn at random: keep well below the number of addresses available
  // (an upper bound: more specific rules may take some of them), or drawing never ends.
  double capacity = 0;
  for (const auto* r : rules) {
    const unsigned host = r->prefix.address.bits() - r->prefix.length;
    capacity += host >= 60 ? 1e18 : static_cast<double>(std::uint64_t{1} << host);
  }
  const auto limit = static_cast<std::size_t>(std::min(capacity * 0.9, 1e15));
  if (count > limit) {
    if (!allow_fewer) {
      throw std::runtime_error("asked for " + std::to_string(count) + " distinct " +
                               std::string(to_string(c)) + " names, but the prefixes hold about " +
                               std::to_string(static_cast<std::uint64_t>(capacity)) + " addresses");
    }
    count = limit;
  }
  std::unordered_set<Key, KeyHash> seen;
  seen.reserve(count * 2);
  std::uniform_int_distribution<std::size_t> pick(0, rules.size() - 1);
  std::size_t made = 0;
  for (std::size_t attempt = 0; made < count; ++attempt) {
    if (attempt >= max_attempts) {
      throw std::runtime_error("could not build " + std::to_string(count) + " distinct " +
                               std::string(to_string(c)) + " names (prefixes too small?)");
    }
    const mapper::Rule& r = *rules[pick(rng)];
    const dns::IpAddress addr = random_inside(r.prefix, rng);
    // Only the most specific rule answers: a more specific blank or other prefix wins.
    if (m.rule_for(addr) != &r) {
      continue;
    }
    if (!seen.insert(Key{addr.hi(), addr.lo()}).second) {
      continue;
    }
    dns::Name n;
    if (c == QueryClass::ptr4 || c == QueryClass::ptr6) {
      n = mapper::to_reverse_name(addr);
      if (m.synthesize(context, n).status != mapper::Synthesis::Status::ptr) {
        continue;
      }
    } else {
      if (!r.name->render(addr, n)) {
        continue;
      }
      const auto s = m.synthesize(context, n);
      if (s.status != mapper::Synthesis::Status::address || !(s.address == addr)) {
        continue;
      }
    }
    sink(n, type);
    ++made;
  }
  return made;
}

std::vector<dns::Name> names(const mapper::Mapper& m, QueryClass c, std::size_t count,
                             std::uint64_t seed) {
  std::vector<dns::Name> out;
  out.reserve(count);
  generate(m, c, count, seed, [&](const dns::Name& n, dns::RRType) { out.push_back(n); });
  return out;
}

std::string many_prefixes_yaml(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string y;
  y.reserve(count * 80 + 1024);
  y += "soa: { mname: ns1.example.net., rname: hostmaster.example.net., refresh: 10800,\n"
       "       retry: 3600, expire: 604800, minimum: 3600, ttl: 3600 }\n"
       "ns: [ns1.example.net., ns2.example.net.]\n"
       "ttl: 3600\n"
       "zones:\n"
       "  - name: pool.example.net.\n"
       "prefixes:\n";
  // Distinct blocks: /26 number k inside 10.0.0.0/8 (2^18 of them), /56 number k inside
  // 2001:db8::/32 (2^24). Keys drawn without repetition.
  const std::size_t v4_count = (count + 1) / 2;
  const std::size_t v6_count = count / 2;
  if (v4_count > (std::size_t{1} << 18) || v6_count > (std::size_t{1} << 24)) {
    throw std::runtime_error("many_prefixes_yaml: too many prefixes");
  }
  std::unordered_set<std::uint32_t> used4;
  std::unordered_set<std::uint32_t> used6;
  static constexpr const char* kV4Templates[] = {
      "ip-{a}-{b}-{c}-{d}.pool.example.net.",
      "dyn-{ip}.pool.example.net.",
      "h{hex}.pool.example.net.",
  };
  static constexpr const char* kV6Templates[] = {
      "{ip}.v6.pool.example.net.",
      "h{hex}.v6.pool.example.net.",
  };
  char buf[128];
  for (std::size_t i = 0; i < count; ++i) {
    const bool v4 = (i % 2 == 0 && used4.size() < v4_count) || used6.size() >= v6_count;
    if (v4) {
      std::uint32_t k = 0;
      do {
        k = static_cast<std::uint32_t>(rng() & 0x3FFFFU);
      } while (!used4.insert(k).second);
      const std::uint32_t addr = (10U << 24) | (k << 6);
      std::snprintf(buf, sizeof buf, "10.%u.%u.%u/26", (addr >> 16) & 0xFF, (addr >> 8) & 0xFF,
                    addr & 0xFF);
      y += "  - { prefix: ";
      y += buf;
      y += ", name: \"";
      y += kV4Templates[i / 2 % 3];
      y += "\" }\n";
    } else {
      std::uint32_t k = 0;
      do {
        k = static_cast<std::uint32_t>(rng() & 0xFFFFFFU);
      } while (!used6.insert(k).second);
      // 2001:0db8:KKKK:KK00::/56
      std::snprintf(buf, sizeof buf, "2001:db8:%x:%x00::/56", (k >> 8) & 0xFFFF, k & 0xFF);
      y += "  - { prefix: \"";
      y += buf;
      y += "\", name: \"";
      y += kV6Templates[i / 2 % 2];
      y += "\" }\n";
    }
  }
  return y;
}

std::vector<std::uint8_t> encode_query(const dns::Name& qname, dns::RRType qtype, std::uint16_t id,
                                       bool edns) {
  std::vector<std::uint8_t> m;
  auto u16 = [&](std::uint16_t v) {
    m.push_back(static_cast<std::uint8_t>(v >> 8));
    m.push_back(static_cast<std::uint8_t>(v));
  };
  u16(id);
  u16(0);  // QUERY, RD=0
  u16(1);
  u16(0);
  u16(0);
  u16(edns ? 1 : 0);
  const auto wire = qname.wire();
  m.insert(m.end(), wire.begin(), wire.end());
  u16(qtype.value);
  u16(dns::rrclass::IN);
  if (edns) {
    m.push_back(0);  // root owner
    u16(dns::rrtype::OPT.value);
    u16(1232);  // payload
    u16(0);     // extended rcode, version
    u16(0);     // flags
    u16(0);     // rdlength
  }
  return m;
}

std::vector<std::uint32_t> shuffled_order(std::size_t n, std::uint32_t seed) {
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0U);
  std::mt19937 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

}  // namespace amap::bench
