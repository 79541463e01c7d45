// SPDX-License-Identifier: MIT
#pragma once
// The auto-mapping engine: a prefix policy table (most specific prefix wins) of hostname
// templates, blank ranges and flags, with its derived reverse zones. It answers, for any name
// in its zones, what automap synthesizes there; `install` plugs it into an app::App so every
// front-end (pipe, UDP/TCP, in-process) serves the same answers.
//
//   amap::config::Diagnostics diagnostics;
//   auto mapper = amap::mapper::load_and_build("conf/automap.yaml", {}, diagnostics);  // load.h
//   amap::app::App app;
//   amap::mapper::Mapper::install(mapper, app);   // zones, a handler and a per-worker slot

#include <cstdint>
#include <memory>
#include <mutex>
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

/// The engine's side of config::PrefixSink: given to the loader as LoadOptions::prefixes (by
/// load_and_build, mapper/engine/load.h), it compiles each prefix's template as the loader
/// hands it over, on the loader's worker thread while yaml-cpp parses the rest of the file,
/// and keeps the prefix as the rule build will use (~100 bytes a prefix instead of ~400 for
/// Config::prefixes and a copy). Pass it to Mapper::build in BuildOptions::templates, which
/// takes its rules (once) instead of compiling again: the same compiles, in the same order.
class TemplateCompiler final : public config::PrefixSink {
 public:
  TemplateCompiler();
  ~TemplateCompiler() override;
  TemplateCompiler(const TemplateCompiler&) = delete;
  TemplateCompiler& operator=(const TemplateCompiler&) = delete;

  void take(const config::PrefixConfig& prefix) override;

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
  std::string_view template_text;  // valid until the next call with the same Context
};

class Mapper {
  struct Session;  // a Context's state (mapper.cpp)

 public:
  struct BuildOptions {
    /// Open the LMDB store named in the config (read-only) and answer its overrides.
    bool open_store = true;
    /// Keep an in-memory filter of the store's address overrides, rebuilt by a background
    /// thread of this mapper, so that most override misses skip LMDB (store/README.md,
    /// "Negative filter"). For long-running servers; off for one-shot tools and most tests.
    bool address_filter = false;
    store::FilterKeeperOptions filter_options;
    /// The sink the config was loaded with (see TemplateCompiler), or nullptr: build takes
    /// the prefixes from there when Config::prefixes is empty.
    TemplateCompiler* templates = nullptr;
  };

  /// Compiles templates, derives reverse zones, checks cross-field rules and opens the store.
  /// Errors are added to `diagnostics` with the file:line:col of the offending key; returns
  /// nullptr when it adds any. The mapper keeps the config: pass it with std::move when done
  /// with it. load_and_build (load.h) reads, loads and builds in one call.
  static std::shared_ptr<const Mapper> build(config::Config config,
                                             config::Diagnostics& diagnostics,
                                             const BuildOptions& options);
  static std::shared_ptr<const Mapper> build(config::Config config,
                                             config::Diagnostics& diagnostics) {
    return build(std::move(config), diagnostics, BuildOptions{});
  }

  /// What one thread keeps for this mapper between queries: a reused LMDB read transaction
  /// (kept from one query to the next inside a Worker batch, else ended after each call),
  /// the store's runtime prefix overrides compiled and indexed, this thread's view of the
  /// address filter. install() reserves one per app::Worker (a slot of the app); a tool makes
  /// its own. One thread at a time.
  class Context {
   public:
    explicit Context(const Mapper& mapper);
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    /// Called by app::Worker::begin_batch/end_batch: inside a batch the snapshot is kept.
    void begin_batch() noexcept { in_batch_ = true; }
    void end_batch() noexcept;
    /// Address-override lookups that the filter answered without LMDB.
    std::uint64_t filter_skips() const noexcept;

   private:
    friend class Mapper;
    const Mapper* mapper_;
    std::unique_ptr<Session> session_;
    bool in_batch_ = false;
  };

  /// Declares the forward and reverse zones (SOA/NS from the config), a per-worker Context
  /// slot, and a handler that answers from synthesize(): hit (PTR/A/AAAA of the question),
  /// nodata (the name exists), miss (not a name of this mapper: the next handler runs, so
  /// several mappers share one app), error (the store failed: SERVFAIL). The app keeps a
  /// reference to this mapper. Returns the slot, for worker.get(slot).
  static app::Slot<Context> install(const std::shared_ptr<const Mapper>& mapper, app::App& app);

  /// The mapper's answer for a name inside one of its zones: overrides from the store first,
  /// then the most specific prefix (config or runtime override). No allocation once `context`
  /// has warmed up; one short LMDB read transaction per call outside a batch.
  Synthesis synthesize(Context& context, const dns::Name& qname) const noexcept;
  /// The same with a Context of this mapper kept for these calls (tools; one at a time,
  /// serialized by a mutex; template_text is valid until the next such call).
  Synthesis synthesize(const dns::Name& qname) const;
  /// The PTR of an address, as synthesize() gives it for the address's reverse name.
  Synthesis ptr_for(Context& context, const dns::IpAddress& address) const noexcept;
  Synthesis ptr_for(const dns::IpAddress& address) const;

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
  /// The store's reader table as the filter keeper last polled it (zeros without the filter).
  store::AddressFilterKeeper::ReaderSlots reader_slots() const noexcept;
  /// The store's meta counts as the filter keeper last read them (nullopt without the
  /// filter, before its first poll, or on a store no write has counted yet).
  std::optional<store::StoreCounts> store_counts() const;
  /// Where a rule comes from: "conf/automap.yaml:12 prefixes[1]".
  std::string origin_of(const Rule& rule) const;
  /// The rules an override store's writer must follow with this configuration: its forward
  /// templates that can collide with a prefix override (store::WriteRules).
  store::WriteRules write_rules(bool allow_shared_names) const;
  /// The most specific config rule for an address, or nullptr (overrides not considered).
  const Rule* rule_for(const dns::IpAddress& address) const noexcept;
  /// True when `name` is inside one of the forward zones.
  bool in_forward_zone(const dns::Name& name) const noexcept;

 private:
  Synthesis reverse(const ReverseName& name, Session* session) const noexcept;
  Synthesis address_ptr(const dns::IpAddress& address, Session* session) const noexcept;
  Synthesis forward(const dns::Name& qname, Session* session) const noexcept;
  bool has_synthesis_inside(const dns::Prefix& range) const noexcept;
  Session* open_session(Context& context) const noexcept;
  /// The SOA serial of the store's snapshot as this context sees it (without soa.serial):
  /// derived from its last change when the snapshot's txn id moved, else the cached one.
  std::uint32_t live_serial(Context& context, std::uint32_t configured) const noexcept;
  /// The zones' app::SerialSource with a store: live_serial of the worker's context.
  class StoreSerial final : public app::SerialSource {
   public:
    StoreSerial(std::shared_ptr<const Mapper> mapper, app::Slot<Context> slot);
    std::uint32_t serial(app::Worker& worker, std::uint32_t configured) const noexcept override;

   private:
    std::shared_ptr<const Mapper> mapper_;
    app::Slot<Context> slot_;
  };
  /// Runs `lookup(session)` (a Synthesis prvalue) with the context's store snapshot and turns a
  /// failed LMDB lookup into Status::failed. Its one named result is what every path returns,
  /// so the Synthesis (a Name inside) is built in the caller's slot, never copied.
  template <class Lookup>
  Synthesis in_session(Context& context, Lookup&& lookup) const noexcept;

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
  mutable std::mutex tool_mu_;                                 // guards tool_context_
  mutable std::unique_ptr<Context> tool_context_;  // synthesize/ptr_for without a Context
};

}  // namespace amap::mapper
