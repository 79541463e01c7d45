// SPDX-License-Identifier: MIT
#pragma once
// The little JSON mapctl needs: a string escaper and writer for its --json output, and a
// parser for one flat JSON object per line (the JSON lines import format).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace amap::mapctl::json {

/// Appends `text` as a JSON string literal (with the quotes) to `out`. Escapes '"', '\\' and
/// every control character below 0x20 (short forms \n \t \r \b \f, else \u00XX) and DEL.
/// Valid UTF-8 passes through unchanged; a byte that is not part of a valid UTF-8 sequence is
/// written as \u00XX (its Latin-1 reading), so the output is always valid JSON.
void append_string(std::string& out, std::string_view text);
std::string quote(std::string_view text);

/// `text` made safe to print on a terminal or in a log line: control bytes (including NUL, which
/// would cut a C string short), DEL, a byte that is not part of valid UTF-8 and the invisible
/// byte order mark become \xNN, a backslash becomes \\; valid UTF-8 stays as it is.
std::string printable(std::string_view text);

/// Builds one JSON document into a string; the caller keeps the structure valid.
///   Writer w; w.begin_object(); w.key("a").value(1); w.end_object(); w.str()
class Writer {
 public:
  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(std::string_view k);
  Writer& value(std::string_view s);
  Writer& value(const char* s) { return value(std::string_view(s)); }
  Writer& value(const std::string& s) { return value(std::string_view(s)); }
  Writer& value(std::uint64_t n);
  Writer& value(std::int64_t n);
  Writer& value(unsigned n) { return value(static_cast<std::uint64_t>(n)); }
  Writer& value(int n) { return value(static_cast<std::int64_t>(n)); }
  Writer& value(double d);
  Writer& value(bool b);
  Writer& null();
  /// Inserts already-serialized JSON.
  Writer& raw(std::string_view json);

  const std::string& str() const noexcept { return out_; }
  std::string take() { return std::move(out_); }
  void clear() {
    out_.clear();
    first_.clear();
    after_key_ = false;
  }

 private:
  void separator();

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

/// A scalar of a flat object.
struct Value {
  enum class Type : std::uint8_t { string, number, boolean, null };
  Type type = Type::null;
  std::string text;  // the decoded string, or the number as written
  bool boolean = false;
};

struct Member {
  std::string key;
  Value value;
};

/// Parses one JSON object whose values are strings, numbers, booleans or null (no nesting).
/// On error returns false and sets `error` to what is wrong and the 1-based column.
/// `members` is cleared first; its storage is reused across calls.
bool parse_flat_object(std::string_view text, std::vector<Member>& members, std::string& error);

}  // namespace amap::mapctl::json
