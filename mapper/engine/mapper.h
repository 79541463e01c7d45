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
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mapper/app/app.h"
#include "mapper/config/config.h"
#include "mapper/core/prefix_table.h"
#include "mapper/core/reverse_name.h"
#include "mapper/core/template.h"

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
  std::string origin;  // "conf/automap.yaml:12 prefixes[1]", for explanations
};

/// Kinds of zones the mapper declares (stored in app::Zone::user_data).
enum class ZoneKind : std::uint32_t { forward = 1, reverse = 2 };

/// What the mapper has at a name.
struct Synthesis {
  enum class Status : std::uint8_t {
    nxdomain,  // nothing here and nothing below (RFC 8020)
    exists,    // an empty non-terminal or a name with no synthesized data: NODATA
    ptr,       // a reverse name with a PTR: target, ttl, rule, address
    address,   // a forward name with an A or AAAA: address, ttl, rule
  };
  Status status = Status::nxdomain;
  dns::Name target;
  dns::IpAddress address;
  std::uint32_t ttl = 0;
  const Rule* rule = nullptr;
};

class Mapper {
 public:
  /// Compiles templates, derives reverse zones, checks cross-field rules. Errors are appended
  /// with the file:line:col of the offending key; returns nullptr when there are any.
  static std::shared_ptr<const Mapper> build(const config::Config& config,
                                             std::vector<config::Error>& errors);

  /// Declares the forward and reverse zones (SOA/NS from the config) and a handler that
  /// answers from synthesize(). The app keeps a reference to this mapper.
  static void install(const std::shared_ptr<const Mapper>& mapper, app::App& app);

  /// The mapper's answer for a name inside one of its zones. No allocation.
  Synthesis synthesize(const dns::Name& qname) const noexcept;
  /// The PTR target of an address (most specific rule), or nullptr rule when none/blank.
  Synthesis ptr_for(const dns::IpAddress& address) const noexcept;

  const std::vector<Rule>& rules() const noexcept { return rules_; }
  const std::vector<dns::Name>& reverse_zones() const noexcept { return reverse_zones_; }
  const std::vector<dns::Name>& forward_zones() const noexcept { return forward_zones_; }
  const config::Config& config() const noexcept { return config_; }
  /// The most specific rule for an address, or nullptr.
  const Rule* rule_for(const dns::IpAddress& address) const noexcept;

 private:
  Synthesis reverse(const ReverseName& name) const noexcept;
  Synthesis forward(const dns::Name& qname) const noexcept;
  bool has_synthesis_inside(const dns::Prefix& range) const noexcept;

  config::Config config_;
  std::vector<Rule> rules_;
  PrefixTable table_;  // value = index into rules_
  std::vector<dns::Name> reverse_zones_;
  std::vector<dns::Name> forward_zones_;
  // Forward templates grouped by their literal suffix ("pool.example.net.").
  std::unordered_multimap<dns::Name, std::uint32_t, dns::NameHash> by_suffix_;
  // Every template suffix and its ancestors inside a forward zone: these names exist as
  // empty non-terminals (NODATA, not NXDOMAIN).
  std::unordered_set<dns::Name, dns::NameHash> forward_ents_;
  std::size_t max_suffix_labels_ = 0;
};

}  // namespace amap::mapper
