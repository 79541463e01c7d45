// SPDX-License-Identifier: MIT
#pragma once
// mapctl's JSON, on nlohmann-json (Debian's nlohmann-json3-dev): the --json output of the verbs
// and the HTTP API (tools/api) are built as `ordered_json` (keys stay in the order written)
// and serialized by dump(); the JSON lines import reads one flat object per line through
// parse_flat_object. printable() is for terminals and logs, not JSON.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace amap::mapctl::json {

using Json = nlohmann::ordered_json;

/// One line of JSON (no newline): compact, UTF-8 kept as it is, control characters escaped.
/// A string byte that is not part of valid UTF-8 is taken as Latin-1 (0xFF is written as the
/// character U+00FF), so the output always parses and nothing is dropped.
std::string dump(const Json& value);
/// `text` as a JSON string literal (with the quotes), as dump() writes it.
std::string quote(std::string_view text);
/// A number as the text output shows it: four significant digits (0.0123, 30.18).
double rounded(double d);

/// `text` made safe to print on a terminal or in a log line: control bytes (including NUL, which
/// would cut a C string short), DEL, a byte that is not part of valid UTF-8 and the invisible
/// byte order mark become \xNN, a backslash becomes \\; valid UTF-8 stays as it is.
std::string printable(std::string_view text);

/// A scalar of a flat object.
struct Value {
  enum class Type : std::uint8_t { string, number, boolean, null };
  Type type = Type::null;
  std::string text;  // the decoded string, or the number (as nlohmann writes it: 300, -5, 1.5)
  bool boolean = false;
};

struct Member {
  std::string key;
  Value value;
};

/// Parses one JSON object whose values are strings, numbers, booleans or null (no nesting, no
/// key twice). On error returns false and sets `error` to the 1-based column and what is
/// wrong. `members` is cleared first.
bool parse_flat_object(std::string_view text, std::vector<Member>& members, std::string& error);

}  // namespace amap::mapctl::json
