// SPDX-License-Identifier: MIT
#pragma once
// mapctl's data model: keys (an address or a prefix), override records, their validation
// against the configuration, and the CSV / JSON lines file formats used by import and export.
// Pure code (no store access), so it is unit-tested directly.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mapper/dns/address.h"
#include "mapper/engine/mapper.h"
#include "store/overrides.h"

namespace amap::mapctl {

enum class Format : std::uint8_t { csv, jsonl };

/// "csv", "jsonl" (or "json") -> Format.
std::optional<Format> format_from_name(std::string_view name) noexcept;
/// The format a file name implies: ".jsonl" / ".json" -> jsonl, anything else -> fallback.
Format format_for_path(std::string_view path, Format fallback = Format::csv) noexcept;
std::string_view format_name(Format f) noexcept;

/// The CSV header line (without the newline).
inline constexpr std::string_view kCsvHeader = "address_or_prefix,kind,target,ttl";

/// Largest TTL accepted (RFC 2181 section 8): the store's rule.
inline constexpr std::uint32_t kMaxTtl = store::kMaxTtl;

/// What an override is attached to: one address, or a CIDR prefix.
struct Key {
  bool is_prefix = false;
  dns::Prefix prefix;  // an address has the full length (32 or 128)

  const dns::IpAddress& address() const noexcept { return prefix.address; }
  /// "10.1.2.3" or "10.0.0.0/8".
  std::string to_string() const;
  friend bool operator==(const Key&, const Key&) noexcept = default;
};

/// Parses "10.1.2.3", "2001:db8::1", "10.0.0.0/8", "2001:db8:1200::/56". A "/" makes it a
/// prefix (even /32 or /128). On failure `error` says what is wrong and how to fix it
/// ("... has bits set beyond the prefix length (did you mean 10.0.0.0/8?)").
bool parse_key(std::string_view text, Key& out, std::string& error);

/// Parses a kind name: "name", "template", "none".
std::optional<store::OverrideKind> parse_kind(std::string_view text) noexcept;

/// Parses a TTL ("" = 0 = the configured default). Error: "ttl 'x' ...".
bool parse_ttl(std::string_view text, std::uint32_t& out, std::string& error);

struct Record {
  Key key;
  store::Override value;
};

/// Checks records against the configuration: target syntax per kind (names: hostname rules,
/// at most 255 octets, made absolute; templates: Template::compile for the prefix), kind
/// versus key, and that the key lies inside a configured prefix (unless `force`); then the
/// store's own value rules (store::check_override: target length, TTL), as every write applies.
class Validator {
 public:
  /// `mapper` is built from the configuration without the store (synthesis only).
  Validator(std::shared_ptr<const mapper::Mapper> mapper, std::string config_file, bool force);

  /// Normalizes `r` (a name gets its trailing dot) and returns true, or sets `error`.
  bool check(Record& r, std::string& error) const;
  /// Only the "inside a configured prefix" rule (ignores `force`); "" when inside.
  std::string coverage_problem(const Key& k) const;

  const mapper::Mapper& mapper() const noexcept { return *mapper_; }
  bool force() const noexcept { return force_; }

 private:
  std::shared_ptr<const mapper::Mapper> mapper_;
  std::string config_file_;
  bool force_ = false;
  mutable std::string checked_text_;  // store::check_override's buffer, reused per record
};

/// One import failure, before the file name is prepended.
struct LineError {
  std::size_t line = 0;
  std::string message;
};

struct ParsedFile {
  std::vector<store::Change> changes;  // sorted by key
  std::vector<LineError> errors;       // sorted by line
  std::size_t lines = 0;               // lines read (including blank, comment and header)
  std::size_t records = 0;             // data lines
};

/// Parses and validates a whole import file held in memory. Every line is checked and every
/// problem collected (with its line number); `changes` is meaningful only when `errors` is
/// empty. A key given twice is an error on the later line. `progress` (may be empty) is
/// called now and then with the number of bytes consumed.
///
/// CSV: `address_or_prefix,kind,target,ttl`; an optional header line (the first data line,
/// when its first field is "address_or_prefix"), blank lines and lines starting with '#' are
/// skipped; the ttl column may be left out or empty (= default); fields may be
/// double-quoted with "" for a quote.
/// JSON lines: one object per line with the keys address_or_prefix, kind, target (string or
/// null; may be left out for none), ttl (number, may be left out) and, ignored, updated.
ParsedFile parse_import(std::string_view data, Format format, const Validator& validator,
                        const std::function<void(std::size_t, std::size_t)>& progress = {});

/// Splits one CSV line into fields (RFC 4180 quoting, no embedded newlines). Fields are
/// trimmed of surrounding blanks unless quoted. Returns false with `error` set.
bool split_csv(std::string_view line, std::vector<std::string>& fields, std::string& error);

/// One export line (with '\n') for an override, appended to `out`.
void append_record(std::string& out, Format format, const Key& key, store::OverrideKind kind,
                   std::string_view target, std::uint32_t ttl);

/// "2024-05-01T12:00:00Z" for a Lightning Stream timestamp (ns since the epoch); "" for 0.
std::string format_timestamp(std::uint64_t ns);

}  // namespace amap::mapctl
