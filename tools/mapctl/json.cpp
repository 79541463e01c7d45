// SPDX-License-Identifier: MIT
#include "tools/mapctl/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace amap::mapctl::json {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_u00(std::string& out, unsigned char c) {
  out += "\\u00";
  out += kHex[c >> 4];
  out += kHex[c & 0xF];
}

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

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  Parser(std::string_view text, std::string& error) : s_(text), error_(error) {}

  bool object(std::vector<Member>& members) {
    members.clear();
    ws();
    if (!eat('{')) {
      return fail("expected '{' (one JSON object per line)");
    }
    ws();
    if (eat('}')) {
      return end();
    }
    for (;;) {
      ws();
      if (peek() != '"') {
        return fail("expected a string key");
      }
      Member m;
      if (!string(m.key)) {
        return false;
      }
      for (const Member& other : members) {
        if (other.key == m.key) {
          return fail("duplicate key \"" + m.key + "\"");
        }
      }
      ws();
      if (!eat(':')) {
        return fail("expected ':' after the key");
      }
      ws();
      if (!value(m.value)) {
        return false;
      }
      members.push_back(std::move(m));
      ws();
      if (eat(',')) {
        continue;
      }
      if (eat('}')) {
        return end();
      }
      return fail("expected ',' or '}'");
    }
  }

 private:
  char peek() const noexcept { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool eat(char c) noexcept {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void ws() noexcept {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n')) {
      ++i_;
    }
  }
  bool fail(const std::string& what) {
    error_ = "column " + std::to_string(i_ + 1) + ": " + what;
    return false;
  }
  bool end() {
    ws();
    if (i_ != s_.size()) {
      return fail("unexpected text after the object");
    }
    return true;
  }

  bool hex4(std::uint32_t& out) {
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = peek();
      std::uint32_t d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return fail("bad \\u escape: 4 hex digits expected");
      }
      out = (out << 4) | d;
      ++i_;
    }
    return true;
  }

  bool string(std::string& out) {
    out.clear();
    ++i_;  // opening quote
    for (;;) {
      if (i_ >= s_.size()) {
        return fail("unterminated string");
      }
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return fail("control character inside a string (escape it)");
      }
      if (c != '\\') {
        out += c;
        ++i_;
        continue;
      }
      ++i_;
      const char e = peek();
      ++i_;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) {
            return false;
          }
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t lo = 0;
            if (!eat('\\') || !eat('u') || !hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) {
              return fail("lone UTF-16 surrogate in \\u escape");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail("lone UTF-16 surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --i_;
          return fail("bad escape sequence");
      }
    }
  }

  bool value(Value& v) {
    const char c = peek();
    if (c == '"') {
      v.type = Value::Type::string;
      return string(v.text);
    }
    if (c == '{' || c == '[') {
      return fail("nested objects and arrays are not supported here");
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      const std::size_t start = i_;
      eat('-');
      if (eat('0')) {
      } else if (peek() >= '1' && peek() <= '9') {
        while (peek() >= '0' && peek() <= '9')
          ++i_;
      } else {
        return fail("bad number");
      }
      if (eat('.')) {
        if (!(peek() >= '0' && peek() <= '9'))
          return fail("bad number");
        while (peek() >= '0' && peek() <= '9')
          ++i_;
      }
      if (eat('e') || eat('E')) {
        if (!eat('+'))
          eat('-');
        if (!(peek() >= '0' && peek() <= '9'))
          return fail("bad number");
        while (peek() >= '0' && peek() <= '9')
          ++i_;
      }
      v.type = Value::Type::number;
      v.text.assign(s_.substr(start, i_ - start));
      return true;
    }
    struct Literal {
      std::string_view word;
      Value::Type type;
      bool b;
    };
    static constexpr Literal kLiterals[] = {{"true", Value::Type::boolean, true},
                                            {"false", Value::Type::boolean, false},
                                            {"null", Value::Type::null, false}};
    for (const Literal& lit : kLiterals) {
      if (s_.substr(i_, lit.word.size()) == lit.word) {
        i_ += lit.word.size();
        v.type = lit.type;
        v.boolean = lit.b;
        v.text.clear();
        return true;
      }
    }
    return fail("expected a value (string, number, true, false or null)");
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string& error_;
};

}  // namespace

void append_string(std::string& out, std::string_view text) {
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(text, i);
      if (n == 0) {
        append_u00(out, c);
        ++i;
      } else {
        out.append(text.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          append_u00(out, c);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

std::string quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_string(out, text);
  return out;
}

void Writer::separator() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) {
      out_ += ',';
    }
    first_.back() = false;
  }
}

Writer& Writer::begin_object() {
  separator();
  out_ += '{';
  first_.push_back(true);
  return *this;
}
Writer& Writer::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}
Writer& Writer::begin_array() {
  separator();
  out_ += '[';
  first_.push_back(true);
  return *this;
}
Writer& Writer::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}
Writer& Writer::key(std::string_view k) {
  separator();
  append_string(out_, k);
  out_ += ':';
  after_key_ = true;
  return *this;
}
Writer& Writer::value(std::string_view s) {
  separator();
  append_string(out_, s);
  return *this;
}
Writer& Writer::value(std::uint64_t n) {
  separator();
  out_ += std::to_string(n);
  return *this;
}
Writer& Writer::value(std::int64_t n) {
  separator();
  out_ += std::to_string(n);
  return *this;
}
Writer& Writer::value(double d) {
  separator();
  if (!std::isfinite(d)) {
    out_ += "null";
    return *this;
  }
  char buf[32];
  const int len = std::snprintf(buf, sizeof buf, "%.4g", d);
  out_.append(buf, static_cast<std::size_t>(len));
  return *this;
}
Writer& Writer::value(bool b) {
  separator();
  out_ += b ? "true" : "false";
  return *this;
}
Writer& Writer::null() {
  separator();
  out_ += "null";
  return *this;
}
Writer& Writer::raw(std::string_view json) {
  separator();
  out_ += json;
  return *this;
}

bool parse_flat_object(std::string_view text, std::vector<Member>& members, std::string& error) {
  Parser p(text, error);
  return p.object(members);
}

}  // namespace amap::mapctl::json
