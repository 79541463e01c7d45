// SPDX-License-Identifier: MIT
#pragma once
// The write rules every OverrideStore write follows beyond a value's own syntax (store/README.md,
// "Write rules"): no name shared by two addresses, no colliding templates. The types a writer
// passes and gets back, and the collision search that the writer and `mapctl check` share.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mapper/core/template.h"
#include "mapper/dns/address.h"
#include "store/lmdb.h"

namespace amap::store {

/// A forward template of the configuration, which a prefix override must not collide with
/// (mapper::templates_collide). Only templates that are not self-contained can collide, so a
/// writer needs to pass only those.
struct ConfigTemplate {
  mapper::Template name;  // compiled for its prefix
  std::string origin;     // where it comes from, for messages ("automap.yaml:12 prefixes[3]")
};

/// The rules every write of an OverrideStore follows beyond a value's own syntax. The store
/// checks them inside the write transaction, against the state the transaction leaves, so
/// every writer (mapctl add and import, an API, a sync node) gets the same answer:
/// - two prefix overrides, or a prefix override and a configured prefix, must not have
///   colliding templates (mapper::templates_collide), always;
/// - two addresses' overrides must not give the same name, unless `allow_shared_names`: then
///   the latest write (Change::seq) wins the name's forward answer.
struct WriteRules {
  std::vector<ConfigTemplate> config_templates;
  bool allow_shared_names = false;
  /// config::Config::digest of the writer's configuration, recorded with the last change
  /// (format::kMetaLastChange); 0 keeps the recorded one.
  std::uint64_t config_digest = 0;
};

/// One broken write rule, as WriteConflictError reports it.
struct WriteConflict {
  enum class Kind : std::uint8_t { shared_name, template_collision };
  Kind kind = Kind::shared_name;
  dns::Prefix key;  // the written key (an address has the full length)
  bool is_prefix = false;
  std::uint64_t seq = 0;  // Change::seq of that write (its position for an unnumbered batch)
  std::string subject;    // the shared name, or the colliding template's text
  /// The other side: an address ("10.1.1.1"), "the override 10.20.1.0/24" or "the configured
  /// prefix 10.20.1.0/24 (automap.yaml:12 prefixes[3])".
  std::string other;
  bool other_in_config = false;
  std::uint64_t other_seq = 0;  // Change::seq of the other side if this batch wrote it, else 0

  /// The whole sentence; `other_where` follows the other side (" in the store", " (line 3)").
  std::string message(std::string_view other_where) const;
  /// message() with " in the store" or " (in the same batch)" as it applies.
  std::string message() const;
};

/// The write broke WriteRules; the transaction was aborted, nothing changed.
class WriteConflictError : public StoreError {
 public:
  explicit WriteConflictError(std::vector<WriteConflict> conflicts);
  const std::vector<WriteConflict>& conflicts() const noexcept { return conflicts_; }

 private:
  std::vector<WriteConflict> conflicts_;
};

/// The collisions (mapper::templates_collide) among the given live prefix overrides and the
/// configured templates, for `mapctl check`: one message per colliding pair. A configured
/// template whose prefix carries an override of its own is replaced by it and not counted.
std::vector<std::string> find_template_collisions(
    std::span<const std::pair<dns::Prefix, std::string>> prefix_templates,
    std::span<const ConfigTemplate> config_templates);

namespace detail {

/// One side of a possible template collision: a prefix override or a configured prefix.
struct TemplateOwner {
  const mapper::Template* name = nullptr;
  dns::Prefix prefix;
  const std::string* origin = nullptr;  // a configured prefix; nullptr for an override
  bool written = false;                 // changed (or, for config, uncovered) by this write
  std::uint64_t seq = 0;

  std::string describe() const {
    return origin != nullptr ? "the configured prefix " + prefix.to_string() + " (" + *origin + ")"
                             : "the override " + prefix.to_string();
  }
};

/// Groups the owners by (family, template text) and calls report(owner, other) for every
/// colliding pair (mapper::templates_collide) worth reporting: with `only_written`, each
/// written owner against the first of its group, which is an unwritten one when there is
/// one, else the earliest written; without, every member against the first.
void for_each_collision(
    std::vector<TemplateOwner>& owners, bool only_written,
    const std::function<void(const TemplateOwner& owner, const TemplateOwner& other)>& report);

/// A stored template compiled for the collision rule (which reads only the text, the family
/// and whether it is self-contained: no sample addresses needed). Empty if it does not
/// compile (the servers ignore such an override) or is self-contained (never collides).
std::optional<mapper::Template> collision_candidate(std::string_view text, const dns::Prefix& p);

}  // namespace detail
}  // namespace amap::store
