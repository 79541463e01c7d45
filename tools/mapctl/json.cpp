// SPDX-License-Identifier: MIT
#include "tools/mapctl/json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace amap::mapctl::json {
namespace {

bool is_cont(unsigned char c) noexcept {
  return (c & 0xC0) == 0x80;
}

/// Length of the valid UTF-8 sequence starting at s[i] (2..4), or 0 when it is not valid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto at = [&](std::size_t k) -> unsigned char {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
  };
  const unsigned char c = at(0);
  if (c >= 0xC2 && c <= 0xDF) {
    return is_cont(at(1)) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return (at(1) >= lo && at(1) <= hi && is_cont(at(2))) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return (at(1) >= lo && at(1) <= hi && is_cont(at(2)) && is_cont(at(3))) ? 4 : 0;
  }
  return 0;
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  static constexpr char kHex[] = "0123456789abcdef";
  const auto escape = [&](unsigned char c) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      out += "\\\\";
      ++i;
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x80) {
      escape(c);
      ++i;
    } else if (const std::size_t n = utf8_sequence(text, i);
               n != 0 && text.substr(i, n) != "\xEF\xBB\xBF") {
      out.append(text.substr(i, n));
      i += n;
    } else {
      for (const std::size_t end = i + std::max<std::size_t>(n, 1); i < end; ++i) {
        escape(static_cast<unsigned char>(text[i]));
      }
    }
  }
  return out;
}

namespace {

/// `s` with every byte that is not part of valid UTF-8 replaced by its Latin-1 character.
bool make_utf8(std::string& s) {
  std::size_t i = 0;
  while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) {
    ++i;
  }
  if (i == s.size()) {
    return false;  // ASCII: nothing to do (the usual case)
  }
  std::string out = s.substr(0, i);
  bool changed = false;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (const std::size_t n = utf8_sequence(s, i); n != 0) {
      out.append(s, i, n);
      i += n;
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
      changed = true;
      ++i;
    }
  }
  if (changed) {
    s = std::move(out);
  }
  return changed;
}

/// Every string (and key) of `j` made valid UTF-8; false when nothing had to change.
bool fix_strings(Json& j) {
  bool changed = false;
  if (j.is_string()) {
    return make_utf8(j.get_ref<std::string&>());
  }
  if (j.is_array()) {
    for (auto& v : j) {
      changed = fix_strings(v) || changed;
    }
  } else if (j.is_object()) {
    Json fixed = Json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string k = it.key();
      changed = make_utf8(k) || changed;
      Json v = it.value();
      changed = fix_strings(v) || changed;
      fixed[k] = std::move(v);
    }
    if (changed) {
      j = std::move(fixed);
    }
  }
  return changed;
}

std::string dump_valid(const Json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::strict);
}

}  // namespace

std::string dump(const Json& value) {
  try {
    return dump_valid(value);
  } catch (const Json::type_error&) {
    Json copy = value;  // a string with bytes that are not UTF-8: rare, so only then
    fix_strings(copy);
    return dump_valid(copy);
  }
}

std::string quote(std::string_view text) {
  return dump(Json(std::string(text)));
}

double rounded(double d) {
  if (!std::isfinite(d)) {
    return 0.0;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", d);
  return std::strtod(buf, nullptr);
}

bool parse_flat_object(std::string_view text, std::vector<Member>& members, std::string& error) {
  members.clear();
  std::set<std::string, std::less<>> seen;
  std::string duplicate;
  Json j;
  try {
    // The callback sees every key as it is read: a key given twice is refused, not overwritten.
    j = Json::parse(text, [&](int d, Json::parse_event_t event, Json& parsed) {
      if (event == Json::parse_event_t::key && d == 1 && duplicate.empty() &&
          !seen.insert(parsed.get<std::string>()).second) {
        duplicate = parsed.get<std::string>();
      }
      return true;
    });
  } catch (const Json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while
    // parsing value - invalid literal; last read: 'tru'": keep what follows " - ".
    std::string why = e.what();
    if (const auto dash = why.find(" - "); dash != std::string::npos) {
      why = why.substr(dash + 3);
    }
    error = "column " + std::to_string(std::max<std::size_t>(e.byte, 1)) + ": " + why;
    return false;
  }
  if (!j.is_object()) {
    error = "column 1: expected '{' (one JSON object per line)";
    return false;
  }
  if (!duplicate.empty()) {
    error = "the key \"" + printable(duplicate) + "\" is given twice";
    return false;
  }
  members.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    Member m;
    m.key = it.key();
    const Json& v = it.value();
    if (v.is_string()) {
      m.value.type = Value::Type::string;
      m.value.text = v.get<std::string>();
    } else if (v.is_number()) {
      m.value.type = Value::Type::number;
      m.value.text = v.dump();
    } else if (v.is_boolean()) {
      m.value.type = Value::Type::boolean;
      m.value.boolean = v.get<bool>();
    } else if (v.is_null()) {
      m.value.type = Value::Type::null;
    } else {
      error = "the value of \"" + printable(m.key) +
              "\" is an object or array: only strings, numbers, true, false and null";
      return false;
    }
    members.push_back(std::move(m));
  }
  return true;
}

}  // namespace amap::mapctl::json
