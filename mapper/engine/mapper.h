// SPDX-License-Identifier: MIT
#pragma once
// The auto-mapping engine: a prefix policy table (most specific prefix wins) of hostname
// templates, blank ranges and flags, with its derived reverse zones. It answers, for any name
// in its zones, what automap synthesizes there; `install` plugs it into an app::App so every
// front-end (pipe, UDP/TCP, in-process) serves the same answers.
//
//   auto loaded = amap::config::load_file("conf/automap.yaml");
//   std::vector<amap::config::Error> errors;
//   auto mapper = amap::mapper::Mapper::build(loaded.config, errors);
//   amap::app::App app;
//   mapper->install(app);

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mapper/app/app.h"
#include "mapper/config/config.h"
#include "mapper/core/prefix_table.h"
#include "mapper/core/reverse_name.h"
#include "mapper/core/template.h"
#include "mapper/dns/suffix_index.h"
#include "store/address_filter.h"
#include "store/overrides.h"

namespace amap::mapper {

/// One configured prefix and its policy.
struct Rule {
  dns::Prefix prefix;
  std::optional<Template> name;  // absent for blank prefixes
  std::uint32_t ttl = 3600;
  bool blank = false;
  bool forward = true;
  bool reverse = true;
  bool classless = false;
  std::uint32_t group = ~0U;  // forward group (forward rules only)
};

/// Where a rule comes from: its line and its index in `prefixes:` (the key path
/// "prefixes[index]" is made from it when needed, not kept per prefix).
struct RuleOrigin {
  int line = 0;
  std::uint32_t index = 0;
};

/// A derived reverse zone as its prefix: the octet (IPv4) or nibble (IPv6) boundary at or
/// above a rule's prefix, or for a classless rule its RFC 2317 block. Zones nest as these
/// prefixes do.
struct ReverseZone {
  dns::Prefix prefix;
  bool classless = false;

  dns::Name name() const noexcept { return reverse_zone_for(prefix, classless); }
  friend bool operator==(const ReverseZone&, const ReverseZone&) noexcept = default;
};

/// Kinds of zones the mapper declares (stored in app::Zone::user_data).
enum class ZoneKind : std::uint32_t { forward = 1, reverse = 2 };

/// Compiles the templates of a config's prefixes while the config is still being read (on the
/// loader's worker thread, while yaml-cpp parses the rest of the file): load with
/// load_options(), then pass it to Mapper::build in BuildOptions::templates, which takes these
/// templates instead of compiling them again. They are the ones build would make itself: the
/// same compiles, in the same order.
///
/// Prefixes::taken makes it the compact hand-off of the servers and checkconf: the loader
/// then leaves Config::prefixes empty and hands each prefix to this compiler only, which keeps
/// it as the rule build will use (~100 bytes a prefix instead of ~400 for the list and a copy).
class TemplateCompiler {
 public:
  enum class Prefixes : bool {
    kept_in_config,  // Config::prefixes as usual; build checks the templates are theirs
    taken,           // Config::prefixes empty: build takes the prefixes from here (once)
  };
  explicit TemplateCompiler(Prefixes prefixes = Prefixes::kept_in_config);
  ~TemplateCompiler();
  TemplateCompiler(const TemplateCompiler&) = delete;
  TemplateCompiler& operator=(const TemplateCompiler&) = delete;

  /// Options for config::load_file; this compiler must outlive the load.
  config::LoadOptions load_options();

 private:
  friend class Mapper;
  struct State;
  std::unique_ptr<State> state_;
};

/// What the mapper has at a name, and where it came from (for `mapctl lookup`).
struct Synthesis {
  enum class Status : std::uint8_t {
    nxdomain,  // nothing here and nothing below (RFC 8020)
    exists,    // an empty non-terminal or a name with no synthesized data: NODATA
    ptr,       // a reverse name with a PTR: target, ttl, address
    address,   // a forward name with an A or AAAA: address, ttl
    failed,    // the override store could not be read: SERVFAIL rather than a wrong answer
  };
  enum class Source : std::uint8_t {
    none,
    config,            // a prefix of the YAML configuration (rule)
    address_override,  // a per-address override from the store
    prefix_override,   // a per-prefix override from the store (prefix, template_text)
  };
  Status status = Status::nxdomain;
  Source source = Source::none;
  dns::Name target;
  dns::IpAddress address;
  std::uint32_t ttl = 0;
  const Rule* rule = nullptr;      // the config rule, when source == config
  dns::Prefix prefix;              // the prefix that decided (config or override)
  std::string_view template_text;  // valid until the next call on this thread
};

class Mapper {
 public:
  struct BuildOptions {
    /// Open the LMDB store named in the config (read-only) and answer its overrides.
    bool open_store = true;
    /// Keep an in-memory filter of the store's address overrides, rebuilt by a background
    /// thread of this mapper, so that most override misses skip LMDB (store/README.md,
    /// "Negative filter"). For long-running servers; off for one-shot tools and most tests.
    bool address_filter = false;
    store::FilterKeeperOptions filter_options;
    /// Templates compiled while the config was read (see TemplateCompiler), or nullptr.
    TemplateCompiler* templates = nullptr;
  };

  /// Compiles templates, derives reverse zones, checks cross-field rules and opens the store.
  /// Errors are appended with the file:line:col of the offending key; returns nullptr when
  /// there are any. The mapper keeps the config: pass it with std::move when done with it.
  static std::shared_ptr<const Mapper> build(config::Config config,
                                             std::vector<config::Error>& errors,
                                             const BuildOptions& options);
  static std::shared_ptr<const Mapper> build(config::Config config,
                                             std::vector<config::Error>& errors) {
    return build(std::move(config), errors, BuildOptions{});
  }

  /// Declares the forward and reverse zones (SOA/NS from the config) and a handler that
  /// answers from synthesize(). The app keeps a reference to this mapper.
  static void install(const std::shared_ptr<const Mapper>& mapper, app::App& app);

  /// The mapper's answer for a name inside one of its zones: overrides from the store first,
  /// then the most specific prefix (config or runtime override). No allocation once the
  /// calling thread has warmed up; one short LMDB read transaction per call.
  Synthesis synthesize(const dns::Name& qname) const noexcept;
  /// The PTR of an address, as synthesize() gives it for the address's reverse name.
  Synthesis ptr_for(const dns::IpAddress& address) const noexcept;

  const std::vector<Rule>& rules() const noexcept { return rules_; }
  /// The derived reverse zones, parents first, then in config order. Names are made on each
  /// call: the app keeps the zones' names, the mapper only their prefixes.
  std::vector<dns::Name> reverse_zones() const;
  /// How many reverse zones there are, without making their names.
  std::size_t reverse_zone_count() const noexcept { return reverse_zones_.size(); }
  const std::vector<dns::Name>& forward_zones() const noexcept { return forward_zones_; }
  /// The configuration built from, except its prefix list, which rules() holds compiled (the
  /// list was most of the mapper's memory with 100k prefixes).
  const config::Config& config() const noexcept { return config_; }
  bool has_store() const noexcept { return has_store_; }
  /// Takes `count` reader slots of the store now, one per thread that will query it, so that
  /// a running server never waits for a slot other processes hold. Throws StoreError.
  void reserve_store_readers(unsigned count) const;
  /// The address filter currently published (nullptr: none yet, or not enabled).
  std::shared_ptr<const store::AddressFilter> address_filter() const;
  /// Address-override lookups that the filter answered without LMDB, on the calling thread.
  static std::uint64_t thread_filter_skips() noexcept;
  /// Where a rule comes from: "conf/automap.yaml:12 prefixes[1]".
  std::string origin_of(const Rule& rule) const;
  /// The rules an override store's writer must follow with this configuration: its forward
  /// templates that can collide with a prefix override (store::WriteRules).
  store::WriteRules write_rules(bool allow_shared_names) const;
  /// The most specific config rule for an address, or nullptr (overrides not considered).
  const Rule* rule_for(const dns::IpAddress& address) const noexcept;
  /// True when `name` is inside one of the forward zones.
  bool in_forward_zone(const dns::Name& name) const noexcept;

  struct Session;  // per-thread store state (mapper.cpp)

 private:
  Synthesis reverse(const ReverseName& name, Session* session) const noexcept;
  Synthesis address_ptr(const dns::IpAddress& address, Session* session) const noexcept;
  Synthesis forward(const dns::Name& qname, Session* session) const noexcept;
  bool has_synthesis_inside(const dns::Prefix& range) const noexcept;
  Session* open_session() const noexcept;

  config::Config config_;  // without prefixes
  std::vector<Rule> rules_;
  std::vector<RuleOrigin> origins_;  // same index as rules_, for origin_of
  PrefixTable table_;                // value = index into rules_
  std::vector<ReverseZone> reverse_zones_;
  std::vector<dns::Name> forward_zones_;
  // Forward rules grouped by template text: a name is parsed once per group, then the
  // longest-prefix match picks the rule (self-contained templates), so the cost does not grow
  // with the number of prefixes sharing a template. Indexed by dns::suffix_hash(suffix).
  struct ForwardGroup {
    dns::Name suffix;
    std::uint32_t representative = 0;  // a rule of the group
    bool self_contained = false;       // see Template::self_contained()
    std::vector<std::uint32_t> members;
  };
  std::vector<ForwardGroup> forward_groups_;
  dns::SuffixIndex groups_by_suffix_;  // suffix_hash(suffix) -> index in forward_groups_
  // Every template suffix and its ancestors inside a forward zone: these names exist as
  // empty non-terminals (NODATA, not NXDOMAIN).
  std::unordered_set<dns::Name, dns::NameHash> forward_ents_;
  std::size_t max_suffix_labels_ = 0;
  bool has_store_ = false;
  // Without the keeper only: the keeper holds the store, and publishes a new one when the
  // store was replaced under the server (the query threads switch at their next query).
  std::shared_ptr<store::OverrideDb> store_;
  std::unique_ptr<store::AddressFilterKeeper> filter_keeper_;  // with address_filter only
  std::uint64_t id_ = 0;  // tells per-thread store sessions of different mappers apart
};

}  // namespace amap::mapper
