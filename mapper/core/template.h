// SPDX-License-Identifier: MIT
#pragma once
// Hostname templates, used in both directions: address -> name (PTR targets, render) and
// name -> address (A/AAAA, parse). A template is compiled once for one prefix; see README.md
// for the token table and the exact {ip} rule.
//
//   auto t = Template::compile("ip-{a}-{b}-{c}-{d}.pool.example.net.", prefix);
//   t->render(addr, buf, sizeof buf);      // "ip-10-1-2-3.pool.example.net."
//   t->matches(name);                      // optional<IpAddress>, canonical names only

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mapper/core/outcome.h"
#include "mapper/dns/address.h"
#include "mapper/dns/name.h"

namespace amap::mapper {

enum class TokenKind : std::uint8_t {
  a,       // first IPv4 octet, decimal
  b,       // second
  c,       // third
  d,       // fourth
  ip,      // v4 10-1-2-3, v6 Knot reverse-short form 2001-db8--1
  full,    // v4 10-1-2-3, v6 2001-0db8-0000-0000-0000-0000-0000-0001
  hex,     // 8 / 32 lowercase hex digits
  offset,  // decimal offset of the address inside the prefix
};

/// The token's name as written between braces ("a", "ip", ...).
std::string_view token_name(TokenKind k) noexcept;

/// Writes the {ip} text of an address (the Knot 3.2 `reverse-short: on` form) and returns
/// its length (at most 39; `out` needs room for that). No NUL is written.
std::size_t write_ip_token(const dns::IpAddress& a, char* out) noexcept;

/// Checks a presentation-form hostname ("a.b.c." or "a.b.c"): labels of 1..63 characters of
/// [a-z0-9-] (upper case allowed), no leading or trailing '-', no "--" at positions 3-4 of a
/// label, at most 255 octets in wire form. Returns "" when valid, else what is wrong.
std::string_view hostname_problem(std::string_view text) noexcept;

class Template {
 public:
  /// Longest rendered text: 255 wire octets -> at most 254 characters with the trailing dot.
  static constexpr std::size_t kMaxText = 254;
  /// Addresses checked by compile() besides the first and last of the prefix.
  static constexpr unsigned kValidationSamples = 64;

  Template() = default;

  /// Compiles `text` for `prefix`. Every failure names what is wrong and where (1-based
  /// columns). The result is validated by rendering and re-parsing the first, last and
  /// kValidationSamples pseudo-random addresses of the prefix.
  static Outcome<Template> compile(std::string_view text, const dns::Prefix& prefix,
                                   unsigned samples = kValidationSamples);
  /// Exactly compile(text(), prefix, samples), cheaper for a prefix of this template's family
  /// and length: every check of compile but the sample addresses depends only on the text,
  /// the family and the length, so only those are redone. Copies share the suffix name.
  Outcome<Template> for_prefix(const dns::Prefix& prefix,
                               unsigned samples = kValidationSamples) const;

  /// Writes the name of `addr` in presentation form with the trailing dot, no NUL. Returns the
  /// length, or 0 when `addr` is not inside the prefix or `cap` is too small.
  std::size_t render(const dns::IpAddress& addr, char* out, std::size_t cap) const noexcept;
  /// Same, into a Name. False when `addr` is not inside the prefix.
  bool render(const dns::IpAddress& addr, dns::Name& out) const noexcept;

  /// Inverse of render: the address whose name this is, only for the canonical spelling
  /// (render(address) equals `name`, case-insensitively). Literals compare case-insensitively;
  /// token values must be in range, consistent with each other (a token used twice), and the
  /// address must lie inside the prefix. Total on any input.
  ///
  /// Suffix::checked: the caller has already found `name` below suffix() (case-insensitively,
  /// as dns::Name::is_subdomain_of does), so those labels are not read again.
  enum class Suffix : bool { unchecked, checked };
  std::optional<dns::IpAddress> matches(const dns::Name& name,
                                        Suffix suffix = Suffix::unchecked) const noexcept;

  /// True when the tokens alone give every address bit (no {offset}, no bits taken from the
  /// prefix): the same text then parses to the same address whatever prefix it was compiled
  /// for, so one parse serves every prefix sharing this template.
  bool self_contained() const noexcept { return shape_ != nullptr && shape_->self_contained; }
  /// matches() without the check that the address lies inside this template's prefix; only
  /// meaningful when self_contained().
  std::optional<dns::IpAddress> matches_any_prefix(
      const dns::Name& name, Suffix suffix = Suffix::unchecked) const noexcept;

  const dns::Prefix& prefix() const noexcept { return prefix_; }
  /// The template as compiled (literals lower-cased).
  const std::string& text() const noexcept { return shape_ ? shape_->text : kEmptyText; }
  /// Literal text after the last token, e.g. ".pool.example.net." or "x.example.".
  std::string_view literal_suffix() const noexcept;
  /// The whole labels of literal_suffix(), e.g. "pool.example.net." (the root when the last
  /// label holds a token): every rendered name lies below it.
  const dns::Name& suffix() const noexcept { return shape_ ? shape_->suffix : kRoot; }
  /// Every rendered name has exactly this many labels.
  std::size_t label_count() const noexcept { return shape_ ? shape_->label_count : 0; }
  /// True when the template contains this token.
  bool uses(TokenKind k) const noexcept;

 private:
  struct Piece {
    bool token = false;
    TokenKind kind = TokenKind::a;
    std::uint16_t offset = 0;  // literal: into Shape::text
    std::uint16_t length = 0;  // literal length
  };

  std::optional<dns::IpAddress> parse_name(const dns::Name& name, bool check_prefix,
                                           Suffix suffix) const noexcept;
  /// `lower` is the lower-cased text of the name but its last `known_tail` characters, which
  /// end the last literal piece and are known to match.
  bool parse_text(std::string_view lower, std::size_t known_tail, dns::IpAddress& out,
                  bool check_prefix) const noexcept;
  std::string validate(unsigned samples) const;

  /// What depends only on the text and the family: shared, immutable, by the copies
  /// for_prefix makes, so that the prefixes of a large config that use one template hold one
  /// text, one piece list and one suffix name (a name is 385 bytes), not a copy each.
  struct Shape {
    std::string text;
    std::vector<Piece> pieces;  // never empty once compiled
    dns::Name suffix;
    std::size_t label_count = 0;
    bool self_contained = false;
  };

  std::shared_ptr<const Shape> shape_;  // nullptr: not compiled (default-constructed)
  dns::Prefix prefix_{};
  static inline const dns::Name kRoot{};
  static inline const std::string kEmptyText{};
};

/// The one rule for forward-name collisions, shared by `automapd checkconf` (two prefixes of
/// the YAML), the override store's writers (an override against the config and against the
/// other stored overrides) and `mapctl check` (collisions already stored).
///
/// Two forward templates collide when they have the same text (compared as compiled:
/// literals lower-cased) in the same family, on two different prefixes, and that text does
/// not give the whole address (not self_contained(): {d} alone, {offset}, a /32 with literal
/// text only). Every name one of them renders then parses in both prefixes, to two different
/// addresses, so a forward lookup cannot tell which one is meant and FCrDNS breaks for one of
/// them. Self-contained templates never collide this way: the name gives the address, and only
/// the most specific prefix of that address answers for it. Two *different* texts that can
/// render the same name (`x{d}` and `x1{d}`) are not detected by this rule.
bool templates_collide(const Template& a, const Template& b) noexcept;

/// Why two templates of this text collide, for error messages: "A and B share the template
/// T, whose tokens do not give the whole address, so their names collide ...". `a_what` and
/// `b_what` describe the two owners ("prefixes 10.20.1.0/24 (line 12)", "the override ...").
std::string collision_message(std::string_view text, std::string_view a_what,
                              std::string_view b_what);

}  // namespace amap::mapper
