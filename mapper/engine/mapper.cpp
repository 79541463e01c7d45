// SPDX-License-Identifier: MIT
#include "mapper/engine/mapper.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <exception>
#include <stdexcept>
#include <unordered_map>

#include "mapper/app/log.h"
#include "mapper/core/reverse_name.h"

namespace amap::mapper {
namespace {

bool any_zone_contains(const std::vector<dns::Name>& zones, const dns::Name& n) {
  return std::any_of(zones.begin(), zones.end(),
                     [&](const dns::Name& z) { return n.is_subdomain_of(z); });
}

/// Labels of a reverse zone's name (in-addr.arpa. and ip6.arpa. have two).
std::size_t label_count(const ReverseZone& z) noexcept {
  if (z.classless) {
    return 6;  // "N/L.c.b.a.in-addr.arpa."
  }
  return 2 + z.prefix.length / (z.prefix.address.is_v4() ? 8U : 4U);
}

struct ReverseZoneHash {
  std::size_t operator()(const ReverseZone& k) const noexcept {
    const dns::IpAddress& a = k.prefix.address;
    std::uint64_t h = a.hi() * 0x9E3779B97F4A7C15ULL ^ a.lo();
    h = (h ^ (h >> 29)) * 0xBF58476D1CE4E5B9ULL;
    return static_cast<std::size_t>(h ^ (h >> 32) ^ (std::uint64_t{k.prefix.length} << 1) ^
                                    (k.classless ? 1U : 0U));
  }
};

/// A template text with its family and, where it matters, its prefix length.
struct TemplateKey {
  std::string_view text;
  bool v4 = false;
  std::uint8_t length = 0;
  friend bool operator==(const TemplateKey&, const TemplateKey&) noexcept = default;
};

struct TemplateKeyHash {
  std::size_t operator()(const TemplateKey& k) const noexcept {
    return std::hash<std::string_view>{}(k.text) ^ (std::size_t{k.length} << 1 | k.v4);
  }
};

/// Compiles prefix templates, once per shape (template text, family, prefix length): the
/// full sample check runs for the first prefix of a shape, the others get a copy checked on
/// their first and last address. A shape whose first compile failed is compiled again for
/// each prefix (no samples).
class ShapeCompiler {
 public:
  Outcome<Template> compile(const config::PrefixConfig& p) {
    const TemplateKey key{p.name_template, p.prefix.address.is_v4(), p.prefix.length};
    if (auto it = shapes_.find(key); it != shapes_.end()) {
      return it->second ? it->second->for_prefix(p.prefix, 0)
                        : Template::compile(p.name_template, p.prefix, 0);
    }
    auto t = Template::compile(p.name_template, p.prefix);
    // The key's text must outlive the caller's config: keep it with the entry.
    auto text = std::make_unique<std::string>(p.name_template);
    const TemplateKey owned{*text, key.v4, key.length};
    texts_.push_back(std::move(text));
    shapes_.emplace(owned, t ? std::optional<Template>(*t) : std::nullopt);
    return t;
  }

 private:
  std::vector<std::unique_ptr<std::string>> texts_;
  std::unordered_map<TemplateKey, std::optional<Template>, TemplateKeyHash> shapes_;
};

/// The key path of the index-th item of `prefixes:`, as config::PrefixConfig::path has it.
std::string prefix_path(std::size_t index) {
  return "prefixes[" + std::to_string(index) + "]";
}

ReverseZone zone_of(const Rule& r) {
  const dns::Prefix& p = r.prefix;
  if (r.classless && p.address.is_v4() && p.length > 24) {
    return ReverseZone{p, true};
  }
  const unsigned step = p.address.is_v4() ? 8 : 4;
  const auto len = static_cast<std::uint8_t>(p.length / step * step);
  return ReverseZone{dns::Prefix{p.address.masked(len), len}, false};
}

}  // namespace

/// The prefixes of a config as build takes them: compact, in list order, and with no string
/// per prefix (an error's key path is made from the index; templates share their text).
struct PrefixRecords {
  std::vector<Rule> rules;      // ttl: as given (see ttl_given); name: empty when it failed
  std::vector<bool> ttl_given;  // false: build sets the config's default TTL
  std::vector<RuleOrigin> origins;
  std::vector<config::Mark> name_marks;
  std::vector<std::pair<std::size_t, std::string>> failures;  // (position, compile error)

  void reserve(std::size_t n) {
    rules.reserve(n);
    ttl_given.reserve(n);
    origins.reserve(n);
    name_marks.reserve(n);
  }
  /// Adds a prefix that passed the loader's checks; `name` is its compiled template (none
  /// for a blank prefix).
  void add(const config::PrefixConfig& p, std::optional<Outcome<Template>> name) {
    Rule r;
    r.prefix = p.prefix;
    r.ttl = p.ttl.value_or(0);
    r.blank = p.blank;
    r.forward = p.forward && !p.blank;
    r.reverse = p.reverse && !p.blank;
    r.classless = p.classless;
    if (name) {
      if (*name) {
        r.name = std::move(**name);
      } else {
        failures.emplace_back(rules.size(), name->error());
      }
    }
    rules.push_back(std::move(r));
    ttl_given.push_back(p.ttl.has_value());
    origins.push_back(RuleOrigin{p.mark.line, static_cast<std::uint32_t>(p.index)});
    name_marks.push_back(p.name_mark);
  }
};

struct TemplateCompiler::State {
  ShapeCompiler shapes;
  PrefixRecords records;       // every prefix the loader accepted
  bool records_taken = false;  // by a build (good for one)
};

TemplateCompiler::TemplateCompiler() : state_(std::make_unique<State>()) {}
TemplateCompiler::~TemplateCompiler() = default;

void TemplateCompiler::take(const config::PrefixConfig& p) {
  state_->records.add(p, p.blank ? std::nullopt : std::optional(state_->shapes.compile(p)));
}

/// A prefix override from the store, compiled once per store generation.
struct RuntimeRule {
  dns::Prefix prefix;
  bool none = false;
  std::optional<Template> name;
  std::uint32_t ttl = 0;  // 0: the config's default TTL
  std::string text;
};

/// What one Context keeps for its mapper's store: a reused read transaction and the runtime
/// prefix overrides, compiled and indexed, rebuilt only when their generation moves.
struct Mapper::Session {
  bool open = false;             // reader set up for db_version (else: start over)
  std::uint64_t db_version = 0;  // of the keeper's published store
  store::AddressFilterKeeper::DbSnapshot::View db;  // this thread's copy of the published store
  std::optional<store::OverrideReader> reader;
  std::uint64_t generation = ~0ULL;
  std::uint64_t checked_txn = ~0ULL;  // snapshot whose generation was last checked
  std::uint64_t serial_txn = ~0ULL;   // snapshot `serial` was derived from
  std::uint32_t serial = 0;           // the SOA serial of that snapshot
  std::vector<RuntimeRule> rules;
  PrefixTable table;           // value = index into rules
  dns::SuffixIndex by_suffix;  // suffix_hash -> index in rules
  std::size_t max_suffix_labels = 0;
  store::AddressFilterKeeper::FilterView filter;  // this thread's copy of the published filter
  const store::AddressFilter* snapshot_filter = nullptr;  // filter of the current snapshot
  std::uint64_t filter_skips = 0;                         // misses answered by the filter

  /// The address override of `a` in the current snapshot. The filter is trusted only when it
  /// was built from this very snapshot (same txn id = same data, whoever wrote it).
  std::optional<store::OverrideView> find_address(const dns::IpAddress& a) noexcept {
    if (snapshot_filter != nullptr && !snapshot_filter->may_contain(a)) {
      ++filter_skips;
      return std::nullopt;
    }
    return reader->find_address(a);
  }

  const RuntimeRule* rule_for(const dns::IpAddress& a) const noexcept {
    const auto* e = table.lookup(a);
    return e == nullptr ? nullptr : &rules[e->value];
  }

  void rebuild(std::uint64_t new_generation) {
    rules.clear();
    by_suffix.clear();
    max_suffix_labels = 0;
    PrefixTable::Builder builder;
    reader->for_each_prefix([&](const store::PrefixOverrideView& v) {
      RuntimeRule r;
      r.prefix = v.prefix;
      r.ttl = v.value.ttl;
      r.text = std::string(v.value.target);
      if (v.value.kind == store::OverrideKind::none) {
        r.none = true;
      } else {
        auto t = Template::compile(r.text, r.prefix);
        if (!t) {
          log::warning("override for " + r.prefix.to_string() + " ignored: template \"" + r.text +
                       "\": " + t.error());
          return;
        }
        r.name = std::move(*t);
      }
      builder.insert(r.prefix, static_cast<std::uint32_t>(rules.size()));
      rules.push_back(std::move(r));
    });
    auto built = builder.build();
    table = built ? std::move(*built) : PrefixTable{};
    for (std::uint32_t i = 0; i < rules.size(); ++i) {
      if (rules[i].name) {
        by_suffix.insert(dns::suffix_hash(rules[i].name->suffix()), i);
        max_suffix_labels = std::max(max_suffix_labels, rules[i].name->suffix().label_count());
      }
    }
    generation = new_generation;
  }
};

Mapper::Context::Context(const Mapper& mapper)
    : mapper_(&mapper), session_(std::make_unique<Session>()) {}

Mapper::Context::~Context() = default;

void Mapper::Context::end_batch() noexcept {
  in_batch_ = false;
  if (session_->reader && session_->reader->in_txn()) {
    session_->reader->end();
  }
}

std::uint64_t Mapper::Context::filter_skips() const noexcept {
  return session_->filter_skips;
}

namespace {

/// The SOA serial without soa.serial, with a store (mapper/config/README.md, "SOA serial"):
/// the store's last change in unix seconds, + 1 while the config differs from the one the
/// last writer (mapctl) recorded. Equal on every node with the same store and config; RFC 1982
/// arithmetic: it wraps modulo 2^32.
std::uint32_t soa_serial(const store::LastChange& last, std::uint64_t config_digest) {
  const std::uint64_t serial = last.seconds + (last.config_digest == config_digest ? 0U : 1U);
  return static_cast<std::uint32_t>(serial & 0xFFFFFFFFU);
}

}  // namespace

std::shared_ptr<const Mapper> Mapper::build(config::Config source, config::Diagnostics& diagnostics,
                                            const BuildOptions& options) {
  auto m = std::make_shared<Mapper>();
  m->config_ = std::move(source);
  const config::Config& config = m->config_;
  const std::size_t errors_before = diagnostics.error_count();
  auto error = [&](config::Mark mark, const std::string& path, const std::string& msg) {
    diagnostics.error(config.file, mark, path, msg);
  };

  for (const auto& z : config.zones) {
    m->forward_zones_.push_back(z.name);
  }

  PrefixRecords records;
  TemplateCompiler::State* early =
      options.templates != nullptr ? options.templates->state_.get() : nullptr;
  if (early != nullptr && config.prefixes.empty() && config.prefixes_not_kept != 0) {
    // The loader handed the prefixes to the compiler only: take its records as they are.
    // (Not when the config has none: a syntax error can stop the parse after the loader
    // handed some over, and those are not part of the config.)
    if (early->records_taken || early->records.rules.size() != config.prefixes_not_kept) {
      error({}, "prefixes",
            "internal: the prefixes loaded with this compiler were taken already, or are not "
            "this config's");
      return nullptr;
    }
    records = std::move(early->records);
    early->records = PrefixRecords{};
    early->records_taken = true;
  } else {
    ShapeCompiler shapes;
    records.reserve(config.prefixes.size());
    for (const config::PrefixConfig& p : config.prefixes) {
      records.add(p, p.blank ? std::nullopt : std::optional(shapes.compile(p)));
    }
    // The records hold all that is needed of the prefixes from now on (swap: `= {}` would
    // keep the capacity).
    std::vector<config::PrefixConfig>().swap(m->config_.prefixes);
  }

  // The records become the rules in place: those with an error are left out.
  PrefixTable::Builder builder;
  std::size_t good = 0;
  std::size_t next_failure = 0;
  for (std::size_t k = 0; k < records.rules.size(); ++k) {
    Rule& r = records.rules[k];
    const config::Mark name_mark = records.name_marks[k];
    const std::uint32_t index = records.origins[k].index;
    if (!records.ttl_given[k]) {
      r.ttl = config.default_ttl;
    }
    if (next_failure < records.failures.size() && records.failures[next_failure].first == k) {
      error(name_mark, prefix_path(index) + ".name", records.failures[next_failure++].second);
      continue;
    }
    // With a zone missing (its entry had an error), this check would blame the template.
    if (r.forward && config.zones_complete &&
        !any_zone_contains(m->forward_zones_, r.name->suffix())) {
      error(name_mark, prefix_path(index) + ".name",
            "names of this template lie outside every zone under 'zones:', so they cannot "
            "resolve forward: add their zone to 'zones:' or set 'forward: false'");
      continue;
    }
    builder.insert(r.prefix, static_cast<std::uint32_t>(good));
    if (good != k) {
      records.rules[good] = std::move(r);
      records.origins[good] = records.origins[k];
      records.name_marks[good] = name_mark;
    }
    ++good;
  }
  records.rules.erase(records.rules.begin() + static_cast<std::ptrdiff_t>(good),
                      records.rules.end());
  records.origins.resize(good);
  records.name_marks.resize(good);
  m->rules_ = std::move(records.rules);
  m->origins_ = std::move(records.origins);
  // The mark of each rule's template, for the collision check below.
  const std::vector<config::Mark> name_marks = std::move(records.name_marks);
  records = PrefixRecords{};
  // No return on the errors above: the checks below (template collisions) still run on the
  // good rules, so that one run reports every error of the file.
  {
    auto table = builder.build();
    if (!table) {
      error({}, "prefixes", table.error());
      return nullptr;
    }
    m->table_ = std::move(*table);
    builder = PrefixTable::Builder();  // its copy of the entries goes now
  }

  // Reverse zones: the octet/nibble boundary at or above each prefix, merged so that no
  // zone lies inside another. Zones nest as their prefixes do, so no names are needed. The
  // scratch below goes at the end of this block, before the forward index is made.
  {
    std::vector<ReverseZone> zones;
    zones.reserve(m->rules_.size());
    for (const Rule& r : m->rules_) {
      zones.push_back(zone_of(r));
    }
    // Parents first; the order of the configuration among zones of the same depth.
    std::stable_sort(zones.begin(), zones.end(), [](const ReverseZone& a, const ReverseZone& b) {
      return label_count(a) < label_count(b);
    });
    std::unordered_set<ReverseZone, ReverseZoneHash> kept;
    kept.reserve(zones.size());
    std::array<std::bitset<129>, 2> kept_lengths;  // [v4, v6]: lengths of the kept plain zones
    for (const ReverseZone& z : zones) {
      const bool v4 = z.prefix.address.is_v4();
      const unsigned step = v4 ? 8 : 4;
      bool covered = kept.count(z) != 0;  // the zone of an earlier prefix
      for (unsigned len = 0; len < z.prefix.length && !covered; len += step) {
        const auto l = static_cast<std::uint8_t>(len);
        covered = kept_lengths[v4 ? 0 : 1][len] &&
                  kept.count(ReverseZone{dns::Prefix{z.prefix.address.masked(l), l}, false}) != 0;
      }
      if (!covered) {
        kept.insert(z);
        if (!z.classless) {
          kept_lengths[v4 ? 0 : 1].set(z.prefix.length);
        }
        m->reverse_zones_.push_back(z);
      }
    }
    m->reverse_zones_.shrink_to_fit();
  }

  // Forward index and the empty non-terminals above each template's names.
  std::unordered_map<TemplateKey, std::uint32_t, TemplateKeyHash> group_of;
  for (std::uint32_t i = 0; i < m->rules_.size(); ++i) {
    const Rule& r = m->rules_[i];
    if (!r.forward) {
      continue;
    }
    const dns::Name& suffix = r.name->suffix();
    // One group per distinct template (and family): a query parses a name once per group.
    const TemplateKey key{r.name->text(), r.prefix.address.is_v4(), 0};
    auto [it, fresh] = group_of.emplace(key, static_cast<std::uint32_t>(m->forward_groups_.size()));
    if (fresh) {
      m->forward_groups_.push_back(ForwardGroup{suffix, i, r.name->self_contained(), {}});
      m->groups_by_suffix_.insert(dns::suffix_hash(suffix), it->second);
    }
    ForwardGroup& g = m->forward_groups_[it->second];
    g.self_contained = g.self_contained && r.name->self_contained();
    g.members.push_back(i);
    m->rules_[i].group = it->second;
    m->max_suffix_labels_ = std::max(m->max_suffix_labels_, suffix.label_count());
    if (!fresh) {
      continue;  // its empty non-terminals are in already
    }
    for (dns::Name n = suffix;; n = n.parent()) {
      if (!any_zone_contains(m->forward_zones_, n)) {
        break;
      }
      m->forward_ents_.insert(n);
      if (n.is_root()) {
        break;
      }
    }
  }

  // A template whose tokens do not give the whole address ({d} only, {offset}) renders the
  // same names in every prefix that uses it: forward lookups could not tell them apart. The
  // members of a group share the text, so the first two decide (the store's writers apply the
  // same templates_collide to overrides).
  for (const ForwardGroup& g : m->forward_groups_) {
    if (g.members.size() > 1 &&
        templates_collide(*m->rules_[g.members[0]].name, *m->rules_[g.members[1]].name)) {
      const RuleOrigin& first = m->origins_[g.members[0]];
      const RuleOrigin& second = m->origins_[g.members[1]];
      error(name_marks[g.members[1]], prefix_path(second.index) + ".name",
            collision_message(m->rules_[g.members[0]].name->text(),
                              "prefixes " + m->rules_[g.members[0]].prefix.to_string() + " (line " +
                                  std::to_string(first.line) + ")",
                              m->rules_[g.members[1]].prefix.to_string()));
    }
  }
  if (diagnostics.error_count() != errors_before) {
    return nullptr;
  }

  if (options.open_store && config.store.present) {
    try {
      store::StoreOptions so;
      so.path = config.store.path;
      so.map_size = config.store.map_size;
      so.max_readers = config.store.max_readers;
      so.read_only = true;
      // The servers read the whole store anyway (the filter scans every address): walk its
      // pages first, so that a damaged file is refused here instead of crashing a worker.
      so.verify_pages = options.address_filter;
      m->store_ = store::OverrideDb::open(so);
      m->has_store_ = true;
      if (!config.soa.serial_given) {
        store::OverrideReader reader(m->store_);
        reader.begin();
        // A store never written keeps the load time, as without a store.
        if (const store::LastChange last = reader.last_change(); last.seconds != 0) {
          m->config_.soa.soa.serial = soa_serial(last, config.digest);
        }
        reader.end();
      }
      if (options.address_filter) {
        store::FilterKeeperOptions fo = options.filter_options;
        if (!fo.on_error) {
          fo.on_error = [](const std::string& message) { log::warning(message); };
        }
        if (!fo.on_info) {
          fo.on_info = [](const std::string& message) { log::info(message); };
        }
        fo.reopen = so;  // a store replaced under the server is opened again, checked alike
        m->filter_keeper_ =
            std::make_unique<store::AddressFilterKeeper>(std::move(m->store_), std::move(fo));
      }
    } catch (const std::exception& e) {
      error(config.store.mark, "store.path", e.what());
      return nullptr;
    }
  }
  return m;
}

app::Slot<Mapper::Context> Mapper::install(const std::shared_ptr<const Mapper>& mapper,
                                           app::App& app) {
  const config::Config& c = mapper->config_;
  // Every zone of the mapper has the config's SOA and NS: one shared authority.
  auto authority = std::make_shared<app::ZoneAuthority>();
  authority->soa = c.soa.soa;
  authority->soa_ttl = c.soa.ttl;
  authority->ns = c.ns;
  authority->ns_ttl = c.ns_ttl;
  app.reserve_zones(app.zones().size() + mapper->forward_zones_.size() +
                    mapper->reverse_zones_.size());
  auto declare = [&](const dns::Name& apex, ZoneKind kind) {
    // All members given: no default authority is made just to be replaced.
    app.add_zone(app::Zone{apex, authority, static_cast<std::uint32_t>(kind)});
  };
  for (const auto& z : mapper->forward_zones_) {
    declare(z, ZoneKind::forward);
  }
  for (const auto& z : mapper->reverse_zones_) {
    declare(z.name(), ZoneKind::reverse);
  }
  app.default_ttl = c.default_ttl;
  // Each worker of the app gets a Context of its own for this mapper: two mappers in one app
  // keep their state side by side.
  const app::Slot<Context> slot =
      app.slot<Context>([m = mapper.get()] { return std::make_unique<Context>(*m); });
  if (mapper->has_store_ && !c.soa.serial_given) {
    authority->serial_source = std::make_shared<StoreSerial>(mapper, slot);
  }
  app.route(app::Match(), [mapper, slot](const app::Request& req, app::Answer& ans,
                                         app::Worker& worker) noexcept {
    const Synthesis s = mapper->synthesize(worker.get(slot), req.qname);
    const bool any = req.qtype == dns::rrtype::ANY;
    if (s.source == Synthesis::Source::address_override ||
        s.source == Synthesis::Source::prefix_override) {
      ans.source = app::DataSource::stored;  // counted as an override answer
    }
    switch (s.status) {
      case Synthesis::Status::failed:
        // Never answer from synthesis alone when an override might say otherwise.
        return app::Outcome::error;
      case Synthesis::Status::nxdomain:
        return app::Outcome::miss;  // not ours: a later handler (another mapper) may know it
      case Synthesis::Status::exists:
        return app::Outcome::nodata;
      case Synthesis::Status::ptr:
        if (any || req.qtype == dns::rrtype::PTR) {
          ans.ptr(s.target, s.ttl);
          return app::Outcome::hit;
        }
        return app::Outcome::nodata;
      case Synthesis::Status::address: {
        const dns::RRType family_type = s.address.is_v4() ? dns::rrtype::A : dns::rrtype::AAAA;
        if (any || req.qtype == family_type) {
          ans.address(s.address, s.ttl);
          return app::Outcome::hit;
        }
        return app::Outcome::nodata;
      }
    }
    return app::Outcome::error;
  });
  return slot;
}

std::uint32_t Mapper::live_serial(Context& context, std::uint32_t configured) const noexcept {
  Session* s = open_session(context);
  if (s == nullptr) {
    return configured;  // the store cannot be read now: the serial of the last load
  }
  // Derived once per snapshot and worker: an SOA, ANY or negative answer of an unchanged
  // store compares one txn id; LMDB gives every commit a new one, whoever wrote it.
  if (const std::uint64_t txn = s->reader->txn_id(); txn != s->serial_txn) {
    const store::LastChange last = s->reader->last_change();
    s->serial = last.seconds != 0 ? soa_serial(last, config_.digest) : configured;
    s->serial_txn = txn;
  }
  const std::uint32_t serial = s->serial;
  if (!context.in_batch_) {
    s->reader->end();
  }
  return serial;
}

Mapper::StoreSerial::StoreSerial(std::shared_ptr<const Mapper> mapper, app::Slot<Context> slot)
    : mapper_(std::move(mapper)), slot_(slot) {}

std::uint32_t Mapper::StoreSerial::serial(app::Worker& worker,
                                          std::uint32_t configured) const noexcept {
  return mapper_->live_serial(worker.get(slot_), configured);
}

std::vector<dns::Name> Mapper::reverse_zones() const {
  std::vector<dns::Name> names;
  names.reserve(reverse_zones_.size());
  for (const auto& z : reverse_zones_) {
    names.push_back(z.name());
  }
  return names;
}

std::string Mapper::origin_of(const Rule& rule) const {
  const RuleOrigin& o = origins_[static_cast<std::size_t>(&rule - rules_.data())];
  return config_.file + ":" + std::to_string(o.line) + " " + prefix_path(o.index);
}

store::WriteRules Mapper::write_rules(bool allow_shared_names) const {
  store::WriteRules w;
  w.allow_shared_names = allow_shared_names;
  w.config_digest = config_.digest;  // recorded with the change: the SOA serial's input
  for (const Rule& r : rules_) {
    // Only these can collide (templates_collide); checkconf allows one per text and family.
    if (r.name && r.forward && !r.name->self_contained()) {
      w.config_templates.push_back(store::ConfigTemplate{*r.name, origin_of(r)});
    }
  }
  return w;
}

const Rule* Mapper::rule_for(const dns::IpAddress& address) const noexcept {
  const auto* e = table_.lookup(address);
  return e == nullptr ? nullptr : &rules_[e->value];
}

void Mapper::reserve_store_readers(unsigned count) const {
  if (filter_keeper_) {
    if (const auto db = filter_keeper_->db().current()) {
      db->reserve_reader_slots(count);
    }
  } else if (store_) {
    store_->reserve_reader_slots(count);
  }
}

std::shared_ptr<const store::AddressFilter> Mapper::address_filter() const {
  return filter_keeper_ ? filter_keeper_->current() : nullptr;
}

store::AddressFilterKeeper::ReaderSlots Mapper::reader_slots() const noexcept {
  return filter_keeper_ ? filter_keeper_->reader_slots()
                        : store::AddressFilterKeeper::ReaderSlots{};
}

std::optional<store::StoreCounts> Mapper::store_counts() const {
  return filter_keeper_ ? filter_keeper_->counts() : std::nullopt;
}

bool Mapper::in_forward_zone(const dns::Name& name) const noexcept {
  return any_zone_contains(forward_zones_, name);
}

Mapper::Session* Mapper::open_session(Context& context) const noexcept {
  Session& s = *context.session_;
  try {
    // The keeper publishes a new store when the old one was replaced under the server; one
    // load per query, the snapshot's mutex only when it moved.
    bool moved = false;
    if (filter_keeper_) {
      s.db.get(filter_keeper_->db());
      moved = s.db.version() != s.db_version;
    }
    if (!s.open || moved) {
      // First use of this context, or a reopened store: start over. This is the warm-up
      // that allocates; later calls reuse everything.
      s.reader.reset();
      std::shared_ptr<store::OverrideDb> db = filter_keeper_ ? s.db.held() : store_;
      s.open = true;
      s.db_version = s.db.version();
      s.generation = ~0ULL;
      s.checked_txn = ~0ULL;
      s.serial_txn = ~0ULL;
      s.filter.reset();
      if (db) {
        s.reader.emplace(std::move(db));
      }
    }
    if (!s.reader) {
      return nullptr;  // a replaced store is being switched (same lock.mdb): SERVFAIL
    }
    if (!s.reader->in_txn()) {
      s.reader->begin();  // else: kept from an earlier query of this Worker batch
    }
    // The prefix generation can only move with a new write transaction.
    if (s.reader->txn_id() != s.checked_txn) {
      const std::uint64_t generation = s.reader->prefix_generation();
      if (generation != s.generation) {
        s.rebuild(generation);
      }
      s.checked_txn = s.reader->txn_id();
    }
    s.snapshot_filter = nullptr;
    if (filter_keeper_) {
      const store::AddressFilter* f = s.filter.get(filter_keeper_->filter());
      if (f != nullptr && f->txn_id() == s.reader->txn_id() &&
          f->db_serial() == s.reader->db()->serial()) {
        s.snapshot_filter = f;
      }
    }
    return &s;
  } catch (const std::exception& e) {
    if (s.reader && s.reader->in_txn()) {
      s.reader->end();
    }
    s.open = false;
    log::error(std::string("override store unreadable: ") + e.what());
    return nullptr;
  }
}

namespace {
Synthesis failed_synthesis() noexcept {
  Synthesis failed;
  failed.status = Synthesis::Status::failed;
  return failed;
}
}  // namespace

namespace {
/// A lookup that failed in LMDB (a damaged page) cannot say "no override": the query fails
/// (SERVFAIL), it is counted, and the first failures and then every power of two are logged.
[[gnu::cold, gnu::noinline]] void log_lookup_failure(const store::OverrideReader& reader) noexcept {
  const std::uint64_t total = store::OverrideReader::lookup_failures_total();
  if ((total & (total - 1)) == 0) {
    try {
      log::error("override store lookup failed (" +
                 std::string(mdb_strerror(reader.last_lookup_error())) + "): answering SERVFAIL; " +
                 std::to_string(total) + " failed lookups so far; run `mapctl check --deep`");
    } catch (...) {  // logging must not turn an error answer into a crash
    }
  }
}

/// True when a lookup failed since `failures_before` was read (the check is inline: it runs on
/// every query; the logging is out of line).
inline bool lookup_failed(const store::OverrideReader* reader,
                          std::uint64_t failures_before) noexcept {
  if (reader == nullptr || reader->lookup_failures() == failures_before) [[likely]] {
    return false;
  }
  log_lookup_failure(*reader);
  return true;
}
}  // namespace

template <class Lookup>
Synthesis Mapper::in_session(Context& context, Lookup&& lookup) const noexcept {
  Session* session = has_store_ ? open_session(context) : nullptr;
  const store::OverrideReader* reader = session != nullptr ? &*session->reader : nullptr;
  const std::uint64_t failures = reader != nullptr ? reader->lookup_failures() : 0;
  Synthesis s = has_store_ && session == nullptr ? failed_synthesis() : lookup(session);
  if (lookup_failed(reader, failures)) [[unlikely]] {
    s = failed_synthesis();
  }
  // Outside a Worker batch the snapshot goes now; inside, the queries of the batch share it
  // (end_batch ends it), which saves LMDB's per-transaction setup (the renew and the lookup
  // of the table's record in the main DB, ~140 ns) on every query but the first.
  if (session != nullptr && !context.in_batch_) {
    session->reader->end();
  }
  return s;
}

Synthesis Mapper::ptr_for(Context& context, const dns::IpAddress& address) const noexcept {
  if (context.mapper_ != this) {
    return failed_synthesis();  // another mapper's context: a caller bug, never a guess
  }
  return in_session(context, [&](Session* session) { return address_ptr(address, session); });
}

Synthesis Mapper::ptr_for(const dns::IpAddress& address) const {
  const std::lock_guard<std::mutex> lock(tool_mu_);
  if (!tool_context_) {
    tool_context_ = std::make_unique<Context>(*this);
  }
  return ptr_for(*tool_context_, address);
}

Synthesis Mapper::synthesize(Context& context, const dns::Name& qname) const noexcept {
  if (context.mapper_ != this) {
    return failed_synthesis();  // another mapper's context: a caller bug, never a guess
  }
  ReverseName rn;
  const Errc parsed = parse_reverse_name(qname, rn);
  if (parsed == Errc::ok) {
    return in_session(context, [&](Session* session) { return reverse(rn, session); });
  }
  if (parsed == Errc::not_found) {
    return in_session(context, [&](Session* session) { return forward(qname, session); });
  }
  return Synthesis{};  // under in-addr.arpa/ip6.arpa but no octet or nibble: nothing here
}

Synthesis Mapper::synthesize(const dns::Name& qname) const {
  const std::lock_guard<std::mutex> lock(tool_mu_);
  if (!tool_context_) {
    tool_context_ = std::make_unique<Context>(*this);
  }
  return synthesize(*tool_context_, qname);
}

bool Mapper::has_synthesis_inside(const dns::Prefix& range) const noexcept {
  return table_.any_inside(range, [this](std::uint32_t i) { return rules_[i].reverse; });
}

Synthesis Mapper::reverse(const ReverseName& rn, Session* session) const noexcept {
  Synthesis s;
  if (rn.classless_length != 0) {
    // RFC 2317 names exist only inside a prefix configured with classless: true.
    const auto* e = table_.lookup_exact(rn.classless_block());
    if (e == nullptr || !rules_[e->value].classless) {
      return s;
    }
  }
  if (rn.complete()) {
    return address_ptr(rn.address, session);
  }
  // A partial name: an empty non-terminal when some synthesized address lies below it.
  const dns::Prefix range = rn.prefix();
  const auto* covering = table_.lookup(rn.address, range.length);
  if ((covering != nullptr && rules_[covering->value].reverse) || has_synthesis_inside(range)) {
    s.status = Synthesis::Status::exists;
  }
  return s;
}

Synthesis Mapper::address_ptr(const dns::IpAddress& address, Session* session) const noexcept {
  Synthesis s;
  s.address = address;
  const Rule* rule = rule_for(address);
  const RuntimeRule* runtime = session != nullptr ? session->rule_for(address) : nullptr;
  // Runtime prefix overrides join the longest-prefix match: the most specific prefix wins,
  // whichever source it came from (an override wins a tie).
  if (runtime != nullptr && rule != nullptr && runtime->prefix.length < rule->prefix.length) {
    runtime = nullptr;
  }
  const std::uint32_t base_ttl = rule != nullptr ? rule->ttl : config_.default_ttl;

  if (session != nullptr) {
    if (auto o = session->find_address(address)) {
      s.source = Synthesis::Source::address_override;
      s.prefix = dns::Prefix{address, static_cast<std::uint8_t>(address.bits())};
      if (o->kind == store::OverrideKind::none) {
        return s;  // "none": NXDOMAIN for this PTR
      }
      auto target = dns::Name::from_text(o->target);
      if (o->kind == store::OverrideKind::name && target) {
        s.status = Synthesis::Status::ptr;
        s.target = *target;
        s.ttl = o->ttl != 0 ? o->ttl : base_ttl;
        return s;
      }
      // An address override that is not a valid name cannot be served; fall through to the
      // prefix policy rather than answering garbage (mapctl never writes one).
    }
  }
  if (runtime != nullptr) {
    s.source = Synthesis::Source::prefix_override;
    s.prefix = runtime->prefix;
    s.template_text = runtime->text;
    if (runtime->none || !runtime->name->render(address, s.target)) {
      return s;
    }
    s.status = Synthesis::Status::ptr;
    s.ttl = runtime->ttl != 0 ? runtime->ttl : base_ttl;
    return s;
  }
  s.rule = rule;
  if (rule == nullptr) {
    return s;
  }
  s.source = Synthesis::Source::config;
  s.prefix = rule->prefix;
  if (!rule->reverse || !rule->name->render(address, s.target)) {
    return s;
  }
  s.template_text = rule->name->text();
  s.status = Synthesis::Status::ptr;
  s.ttl = rule->ttl;
  return s;
}

Synthesis Mapper::forward(const dns::Name& qname, Session* session) const noexcept {
  Synthesis s;
  if (session != nullptr) {
    // An address override's name answers forward too (FCrDNS for overrides), as long as the
    // address still carries that name.
    if (auto a = session->reader->find_name(qname)) {
      auto o = session->reader->find_address(*a);
      if (o && o->kind == store::OverrideKind::name) {
        auto target = dns::Name::from_text(o->target);
        if (target && *target == qname) {
          const Rule* rule = rule_for(*a);
          s.status = Synthesis::Status::address;
          s.source = Synthesis::Source::address_override;
          s.address = *a;
          s.prefix = dns::Prefix{*a, static_cast<std::uint8_t>(a->bits())};
          s.ttl = o->ttl != 0 ? o->ttl : (rule != nullptr ? rule->ttl : config_.default_ttl);
          return s;
        }
      }
    }
  }
  const std::size_t labels = qname.label_count();

  // The effective policy of an address: the most specific of config rule and runtime
  // override. A name answers only if the template that parsed it is that policy's. `r` is
  // rule_for(a), which the caller has at hand.
  auto decides = [&](const dns::IpAddress& a, const Rule* r, const Rule* rule,
                     const RuntimeRule* runtime) {
    const RuntimeRule* rt = session != nullptr ? session->rule_for(a) : nullptr;
    if (rt != nullptr && r != nullptr && rt->prefix.length < r->prefix.length) {
      rt = nullptr;
    }
    return rt != nullptr ? (rt == runtime && runtime != nullptr) : (r == rule && rule != nullptr);
  };

  // Hashes only as far left as the longest suffix of any index needs.
  const std::size_t from = std::min(labels, max_suffix_labels_);
  const std::size_t rfrom = session != nullptr ? std::min(labels, session->max_suffix_labels) : 0;
  dns::SuffixHashes hashes;
  dns::suffix_hashes(qname, hashes, std::max(from, rfrom));
  for (std::size_t k = from + 1; k-- > 0;) {
    const bool found = groups_by_suffix_.find(hashes[k], [&](std::uint32_t gi) {
      const ForwardGroup& g = forward_groups_[gi];
      if (g.suffix.label_count() != k || !qname.is_subdomain_of(g.suffix)) {
        return false;  // a hash collision
      }
      const Rule* hit = nullptr;
      const Rule* covering = nullptr;  // rule_for(*addr)
      std::optional<dns::IpAddress> addr;
      if (g.self_contained) {
        // Parse once; the longest-prefix match then says which prefix the address belongs
        // to, and that prefix must use this very template.
        addr = rules_[g.representative].name->matches_any_prefix(qname, Template::Suffix::checked);
        covering = addr ? rule_for(*addr) : nullptr;
        hit = covering != nullptr && covering->group == gi ? covering : nullptr;
      } else {
        for (const std::uint32_t i : g.members) {
          addr = rules_[i].name->matches(qname, Template::Suffix::checked);
          if (addr) {
            hit = &rules_[i];
            covering = rule_for(*addr);
            break;
          }
        }
      }
      // Only the most specific prefix of the address answers forward, so names that a
      // more specific (or blank) prefix took over do not resolve (FCrDNS holds).
      if (hit == nullptr || !decides(*addr, covering, hit, nullptr)) {
        return false;
      }
      s.status = Synthesis::Status::address;
      s.source = Synthesis::Source::config;
      s.address = *addr;
      s.ttl = hit->ttl;
      s.rule = hit;
      s.prefix = hit->prefix;
      s.template_text = hit->name->text();
      return true;
    });
    if (found) {
      return s;
    }
  }
  if (session != nullptr && !session->rules.empty()) {
    for (std::size_t k = rfrom + 1; k-- > 0;) {
      const bool found = session->by_suffix.find(hashes[k], [&](std::uint32_t ri) {
        const RuntimeRule& rt = session->rules[ri];
        if (rt.name->label_count() != labels || rt.name->suffix().label_count() != k ||
            !qname.is_subdomain_of(rt.name->suffix())) {
          return false;
        }
        auto addr = rt.name->matches(qname, Template::Suffix::checked);
        if (!addr) {
          return false;
        }
        const Rule* covering = rule_for(*addr);
        if (!decides(*addr, covering, nullptr, &rt)) {
          return false;
        }
        s.status = Synthesis::Status::address;
        s.source = Synthesis::Source::prefix_override;
        s.address = *addr;
        s.ttl = rt.ttl != 0 ? rt.ttl : (covering != nullptr ? covering->ttl : config_.default_ttl);
        s.prefix = rt.prefix;
        s.template_text = rt.text;
        return true;
      });
      if (found) {
        return s;
      }
    }
  }
  if (forward_ents_.count(qname) != 0) {
    s.status = Synthesis::Status::exists;
  }
  return s;
}

}  // namespace amap::mapper
