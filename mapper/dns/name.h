// SPDX-License-Identifier: MIT
#pragma once
// DNS names held in uncompressed wire form in a fixed buffer: no allocation, cheap to copy.
// Comparison is case-insensitive (RFC 4343) but the original spelling is kept, so answers
// echo the question's case as received.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "mapper/dns/result.h"

namespace amap::dns {

/// ASCII-only lower-casing, as DNS requires (bytes >= 0x80 are left alone).
constexpr std::uint8_t ascii_lower(std::uint8_t c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + ('a' - 'A')) : c;
}
bool iequals(std::string_view a, std::string_view b) noexcept;
/// Case-insensitive (ASCII) equality of n bytes of wire names, eight at a time; length bytes
/// compare exactly (they are below 'A').
bool iequal_wire(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) noexcept;

class Name {
 public:
  static constexpr std::size_t kMaxWire = 255;
  static constexpr std::size_t kMaxLabel = 63;
  static constexpr std::size_t kMaxLabels = 127;
  /// Longest presentation form: every octet escaped as \DDD, plus dots.
  static constexpr std::size_t kMaxText = 4 * kMaxWire + 2;

  /// The root name ".".
  constexpr Name() noexcept { wire_[0] = 0; }
  // Copies move only the bytes in use (a name is usually far shorter than its buffer).
  Name(const Name& other) noexcept { copy_from(other); }
  Name& operator=(const Name& other) noexcept {
    if (this != &other) {
      copy_from(other);
    }
    return *this;
  }
  ~Name() = default;

  /// Parses a presentation-format name. The trailing dot is optional (PowerDNS sends names
  /// without it); "" and "." are the root. Escapes: \X and \DDD.
  static Result<Name> from_text(std::string_view text) noexcept;
  /// Builds the name in place from a plain hostname (labels of 1..63 bytes above 0x20
  /// separated by dots, no escapes, trailing dot optional), as templates render them:
  /// `fill(char* out, size_t cap)` writes the text and returns its length (0: failure). No
  /// intermediate copy. Returns false, leaving the root, if the text is not such a hostname
  /// or is too long.
  template <class Fill>
  bool fill_hostname(Fill&& fill) noexcept {
    // The text goes to wire_[1..]: each dot then sits exactly where the next label's length
    // byte belongs, and a trailing dot where the root label's zero goes.
    const std::size_t n = fill(reinterpret_cast<char*>(wire_.data() + 1), kMaxWire - 1);
    if (n == 0 || n > kMaxWire - 1 || !index_hostname(n)) {
      wire_[0] = 0;
      wire_len_ = 1;
      label_count_ = 0;
      return false;
    }
    return true;
  }
  /// Reads an uncompressed wire name at the start of `in` (RDATA, a question); sets `used`
  /// to its length. Compression pointers are an error (Errc::bad_pointer).
  static Result<Name> read_wire(std::span<const std::uint8_t> in, std::size_t& used) noexcept;
  /// Same, into this name (no copy of the result). Returns Errc::ok or the error; on error
  /// the name is the root.
  Errc assign_wire(std::span<const std::uint8_t> in, std::size_t& used) noexcept;
  /// Reads an uncompressed wire name that must fill `wire` exactly.
  static Result<Name> from_wire(std::span<const std::uint8_t> wire) noexcept;

  std::span<const std::uint8_t> wire() const noexcept { return {wire_.data(), wire_len_}; }
  std::size_t wire_len() const noexcept { return wire_len_; }
  /// Number of labels, not counting the root.
  std::size_t label_count() const noexcept { return label_count_; }
  bool is_root() const noexcept { return label_count_ == 0; }
  /// Label i, counted from the left (0 is the leftmost label), without its length byte.
  std::string_view label(std::size_t i) const noexcept {
    if (i >= label_count_) {
      return {};
    }
    const std::size_t off = offsets_[i];
    return {reinterpret_cast<const char*>(wire_.data() + off + 1), wire_[off]};
  }
  /// Offset in wire() of label i's length byte (i < label_count()).
  std::size_t label_offset(std::size_t i) const noexcept { return offsets_[i]; }
  /// The name made of the last n labels (n >= label_count() gives a copy).
  Name suffix(std::size_t n) const noexcept;
  /// This name without its leftmost label (root stays root).
  Name parent() const noexcept { return suffix(label_count_ == 0 ? 0 : label_count_ - 1); }
  /// True when this name equals `zone` or lies below it (label boundary, case-insensitive).
  bool is_subdomain_of(const Name& zone) const noexcept;
  /// Prepends one label; fails if the result would be too long.
  Status prepend(std::string_view label) noexcept;

  /// Presentation form with trailing dot; returns length written (0 if cap is too small).
  std::size_t to_text(char* out, std::size_t cap, bool trailing_dot = true) const noexcept;
  std::string to_string(bool trailing_dot = true) const;

  /// Case-insensitive hash, consistent with operator==.
  std::size_t hash() const noexcept;
  friend bool operator==(const Name& a, const Name& b) noexcept;

 private:
  void index_labels() noexcept;
  bool index_hostname(std::size_t text_len) noexcept;
  void copy_from(const Name& other) noexcept {
    if (other.wire_len_ <= kShortWire && other.label_count_ <= kShortLabels) {
      // Most names: fixed-size copies the compiler inlines, instead of two library calls.
      // Bytes past the used ones are copied as they are (unsigned char, so that is fine).
      std::memcpy(wire_.data(), other.wire_.data(), kShortWire);
      std::memcpy(offsets_.data(), other.offsets_.data(), kShortLabels);
    } else {
      std::memcpy(wire_.data(), other.wire_.data(), other.wire_len_);
      std::memcpy(offsets_.data(), other.offsets_.data(), other.label_count_);
    }
    wire_len_ = other.wire_len_;
    label_count_ = other.label_count_;
  }

  static constexpr std::size_t kShortWire = 64;
  static constexpr std::size_t kShortLabels = 32;

  // The sizes come first, so that they share a cache line with a short name's bytes.
  std::uint8_t wire_len_ = 1;
  std::uint8_t label_count_ = 0;
  // Only wire_[0, wire_len_) and offsets_[0, label_count_) are meaningful; the rest is
  // left uninitialized on purpose (names are built and copied per query).
  std::array<std::uint8_t, kMaxWire> wire_;
  std::array<std::uint8_t, kMaxLabels + 1> offsets_;
};

/// Case-insensitive hashes of the suffixes of `name`, computed right to left in one pass:
/// out[k] is the hash of the suffix made of the last k labels (out[0] is the root), for k up
/// to min(label_count(), max_labels); the rest of `out` is not written. The whole name hashes
/// to out[name.label_count()], so an index keyed by suffix_hash(apex) can be probed for every
/// suffix of a query name without copying names. The values are only meant for in-process
/// indexes (they depend on byte order).
using SuffixHashes = std::array<std::uint64_t, Name::kMaxLabels + 1>;
void suffix_hashes(const Name& name, SuffixHashes& out,
                   std::size_t max_labels = Name::kMaxLabels) noexcept;
std::uint64_t suffix_hash(const Name& name) noexcept;

struct NameHash {
  std::size_t operator()(const Name& n) const noexcept { return n.hash(); }
};

}  // namespace amap::dns
