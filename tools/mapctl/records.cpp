// SPDX-License-Identifier: MIT
#include "tools/mapctl/records.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>

#include "mapper/core/template.h"
#include "tools/mapctl/json.h"

namespace amap::mapctl {
namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string single_quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

/// Orders keys as the store lists them: family, address bytes, prefix before address.
template <class T>
bool key_less(const T& a, const T& b) noexcept {
  if (auto c = a.key.address <=> b.key.address; c != 0) {
    return c < 0;
  }
  if (a.is_prefix != b.is_prefix) {
    return a.is_prefix;
  }
  return a.key.length < b.key.length;
}

template <class T>
bool same_key(const T& a, const T& b) noexcept {
  return a.is_prefix == b.is_prefix && a.key == b.key;
}

void append_csv_field(std::string& out, std::string_view f) {
  const bool needs_quotes = f.find_first_of(",\"\r\n") != std::string_view::npos ||
                            (!f.empty() && (f.front() == ' ' || f.front() == '\t' ||
                                            f.back() == ' ' || f.back() == '\t'));
  if (!needs_quotes) {
    out += f;
    return;
  }
  out += '"';
  for (const char c : f) {
    if (c == '"') {
      out += '"';
    }
    out += c;
  }
  out += '"';
}

}  // namespace

std::optional<Format> format_from_name(std::string_view name) noexcept {
  if (name == "csv") {
    return Format::csv;
  }
  if (name == "jsonl" || name == "json") {
    return Format::jsonl;
  }
  return std::nullopt;
}

Format format_for_path(std::string_view path, Format fallback) noexcept {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() &&
           dns::iequals(path.substr(path.size() - suffix.size()), suffix);
  };
  if (ends_with(".jsonl") || ends_with(".json")) {
    return Format::jsonl;
  }
  if (ends_with(".csv")) {
    return Format::csv;
  }
  return fallback;
}

std::string_view format_name(Format f) noexcept {
  return f == Format::csv ? "csv" : "jsonl";
}

std::string Key::to_string() const {
  return is_prefix ? prefix.to_string() : prefix.address.to_string();
}

bool parse_key(std::string_view text, Key& out, std::string& error) {
  text = trim(text);
  if (text.empty()) {
    error = "missing address or prefix";
    return false;
  }
  const bool is_prefix = text.find('/') != std::string_view::npos;
  auto p = dns::Prefix::parse(text);
  if (!p) {
    error = "bad " + std::string(is_prefix ? "prefix " : "address ") + single_quoted(text) + ": " +
            std::string(errc_message(p.error()));
    if (p.error() == Errc::host_bits_set) {
      if (auto loose = dns::Prefix::parse(text, true)) {
        error += " (did you mean " + loose->to_string() + "?)";
      }
    } else if (p.error() == Errc::zone_id) {
      // The message says it all; the generic hint below would suggest the text is no address.
    } else if (p.error() == Errc::bad_prefix_length) {
      error += " (IPv4 allows /0 to /32, IPv6 /0 to /128)";
    } else if (!is_prefix) {
      error +=
          " (expected an IPv4/IPv6 address such as 192.0.2.1, or a prefix such as "
          "2001:db8:1200::/56)";
    }
    return false;
  }
  out.is_prefix = is_prefix;
  out.prefix = *p;
  return true;
}

std::optional<store::OverrideKind> parse_kind(std::string_view text) noexcept {
  text = trim(text);
  if (text == "name") {
    return store::OverrideKind::name;
  }
  if (text == "template") {
    return store::OverrideKind::name_template;
  }
  if (text == "none") {
    return store::OverrideKind::none;
  }
  return std::nullopt;
}

bool parse_ttl(std::string_view text, std::uint32_t& out, std::string& error) {
  text = trim(text);
  out = 0;
  if (text.empty()) {
    return true;
  }
  std::uint64_t v = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec == std::errc::result_out_of_range || (ec == std::errc{} && ptr == end && v > kMaxTtl)) {
    error = "ttl " + single_quoted(text) + " is above " + std::to_string(kMaxTtl) +
            " (the RFC 2181 maximum)";
    return false;
  }
  if (ec != std::errc{} || ptr != end) {
    error = "ttl " + single_quoted(text) +
            " is not a number of seconds (use 0 or leave it empty for the configured TTL)";
    return false;
  }
  out = static_cast<std::uint32_t>(v);
  return true;
}

// ----------------------------------------------------------------------------------- Validator

Validator::Validator(std::shared_ptr<const mapper::Mapper> mapper, std::string config_file,
                     bool force)
    : mapper_(std::move(mapper)), config_file_(std::move(config_file)), force_(force) {}

std::string Validator::coverage_problem(const Key& k) const {
  if (!k.is_prefix) {
    if (mapper_->rule_for(k.address()) != nullptr) {
      return {};
    }
    return k.to_string() + " is outside every prefix configured in " + config_file_ +
           ", so automap never answers for it: add a prefix covering it under 'prefixes:' "
           "there, or pass --force to store it anyway";
  }
  for (const auto& r : mapper_->rules()) {
    if (r.prefix.contains(k.prefix)) {
      return {};
    }
  }
  return k.to_string() + " is not inside any prefix configured in " + config_file_ +
         ", so automap would not answer for all of it: add a prefix covering it under "
         "'prefixes:' there, or pass --force to store it anyway";
}

bool Validator::check(Record& r, std::string& error) const {
  store::Override& v = r.value;
  // Only built for messages: formatting the key for every valid line costs time on big imports.
  const auto key = [&r] { return r.key.to_string(); };
  switch (v.kind) {
    case store::OverrideKind::none:
      if (!v.target.empty()) {
        error = "kind none takes no target (found " + single_quoted(v.target) +
                "): leave the target empty, or use kind " + (r.key.is_prefix ? "template" : "name");
        return false;
      }
      break;
    case store::OverrideKind::name: {
      if (r.key.is_prefix) {
        error = "kind name is for a single address, but " + key() +
                " is a prefix: use kind template with a template such as "
                "cust-{ip}.example.net., or give a single address";
        return false;
      }
      if (v.target.empty()) {
        error = "kind name needs a target name (or use kind none for NXDOMAIN)";
        return false;
      }
      if (v.target.find('{') != std::string::npos) {
        error = single_quoted(v.target) + " looks like a template, but " + key() +
                " is a single address, which takes a plain name: write " + key() + "/" +
                std::to_string(r.key.address().bits()) + " to give it a template";
        return false;
      }
      if (const auto why = mapper::hostname_problem(v.target); !why.empty()) {
        error =
            "name " + single_quoted(v.target) + " is not a valid host name: " + std::string(why);
        return false;
      }
      if (v.target.back() != '.') {
        v.target += '.';  // names are always absolute
      }
      const auto n = dns::Name::from_text(v.target);
      if (!n) {
        error = "name " + single_quoted(v.target) + ": " + std::string(errc_message(n.error()));
        return false;
      }
      // Only names inside a forward zone can be synthesized names (the config requires
      // forward templates to lie in one), so the others skip the lookup.
      if (!force_ && mapper_->in_forward_zone(*n)) {
        const mapper::Synthesis s = mapper_->synthesize(*n);
        if (s.status == mapper::Synthesis::Status::address && s.address != r.key.address()) {
          error = "name " + single_quoted(v.target) + " is already the synthesized name of " +
                  s.address.to_string() + " (prefix " + s.prefix.to_string() +
                  "): as the override of " + key() +
                  " it would take that name's forward answer away from " + s.address.to_string() +
                  ": choose another name, or pass --force";
          return false;
        }
      }
      break;
    }
    case store::OverrideKind::name_template: {
      if (!r.key.is_prefix) {
        error = "kind template needs a prefix, but " + key() + " is a single address: write " +
                key() + "/" + std::to_string(r.key.address().bits()) +
                ", or use kind name with a plain name";
        return false;
      }
      if (v.target.empty()) {
        error = "kind template needs a template (or use kind none for NXDOMAIN)";
        return false;
      }
      auto t = mapper::Template::compile(v.target, r.key.prefix);
      if (!t) {
        error = "template " + single_quoted(v.target) + " for " + key() + ": " + t.error();
        return false;
      }
      break;
    }
    default:
      error = "unknown kind";
      return false;
  }
  // The store's own rules (the same check every store write applies): target length, TTL.
  store::CheckedOverride checked;
  if (std::string why = store::check_override(v, checked_text_, checked); !why.empty()) {
    error = std::move(why);
    return false;
  }
  if (!force_) {
    if (std::string why = coverage_problem(r.key); !why.empty()) {
      error = std::move(why);
      return false;
    }
  }
  return true;
}

// -------------------------------------------------------------------------------------- CSV

bool split_csv(std::string_view line, std::vector<std::string>& fields, std::string& error) {
  std::size_t n = 0;
  std::size_t i = 0;
  auto next_field = [&]() -> std::string& {
    if (n == fields.size()) {
      fields.emplace_back();
    }
    std::string& f = fields[n++];
    f.clear();
    return f;
  };
  for (;;) {
    std::string& f = next_field();
    // Leading blanks before a quote are allowed.
    std::size_t j = i;
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) {
      ++j;
    }
    if (j < line.size() && line[j] == '"') {
      i = j + 1;
      for (;;) {
        if (i >= line.size()) {
          error = "column " + std::to_string(j + 1) + ": unterminated quoted field";
          fields.resize(n);
          return false;
        }
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            f += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        f += line[i++];
      }
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
        ++i;
      }
      if (i < line.size() && line[i] != ',') {
        error = "column " + std::to_string(i + 1) + ": text after a closing quote";
        fields.resize(n);
        return false;
      }
    } else {
      const std::size_t comma = line.find(',', i);
      const std::size_t end = comma == std::string_view::npos ? line.size() : comma;
      f.assign(trim(line.substr(i, end - i)));
      i = end;
    }
    if (i >= line.size()) {
      break;
    }
    ++i;  // the comma
  }
  fields.resize(n);
  return true;
}

// ----------------------------------------------------------------------------------- import

namespace {

/// A valid line. Its target waits in the parser's arena: sorting small fixed-size entries,
/// and creating the targets' strings only afterwards, in key order, keeps a big import's
/// later passes (the store writes, freeing) walking memory in order.
struct Entry {
  dns::Prefix key;
  bool is_prefix = false;
  store::OverrideKind kind = store::OverrideKind::none;
  std::uint32_t ttl = 0;
  std::uint32_t target_len = 0;
  std::size_t target_at = 0;  // offset in the arena
  std::size_t line = 0;
};

class ImportParser {
 public:
  ImportParser(Format format, const Validator& v, ParsedFile& out)
      : format_(format), validator_(v), out_(out) {}

  void line(std::size_t number, std::string_view text) {
    if (!text.empty() && text.back() == '\r') {
      text.remove_suffix(1);
    }
    const std::string_view t = trim(text);
    if (t.empty() || t.front() == '#') {
      return;
    }
    ++out_.records;
    if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
      // Not text: a NUL would also cut every later message short. UTF-16 has one per ASCII
      // character.
      error_ = "a NUL byte at column " + std::to_string(nul + 1) +
               ": the file is not UTF-8 text (UTF-16? save it as UTF-8)";
      add_error(number);
      return;
    }
    Record& r = record_;
    bool ok = format_ == Format::csv ? from_csv(text, r) : from_json(t, r);
    if (!ok) {
      if (format_ == Format::csv && out_.records == 1 && header_) {
        --out_.records;  // the header line
        return;
      }
      add_error(number);
      return;
    }
    if (!validator_.check(r, error_)) {
      add_error(number);
      return;
    }
    Entry e;
    e.line = number;
    e.is_prefix = r.key.is_prefix;
    e.key = r.key.prefix;
    e.kind = r.value.kind;
    e.ttl = r.value.ttl;
    e.target_at = arena_.size();
    e.target_len = static_cast<std::uint32_t>(r.value.target.size());
    arena_ += r.value.target;
    entries_.push_back(e);
  }

  void finish() {
    std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
      if (same_key(a, b)) {
        return a.line < b.line;
      }
      return key_less(a, b);
    });
    for (std::size_t i = 1; i < entries_.size(); ++i) {
      if (same_key(entries_[i - 1], entries_[i])) {
        const Key k{entries_[i].is_prefix, entries_[i].key};
        // Report against the first occurrence so a key repeated many times names its origin.
        std::size_t first = i - 1;
        while (first > 0 && same_key(entries_[first - 1], entries_[i])) {
          --first;
        }
        out_.errors.push_back({entries_[i].line, k.to_string() + " is already given on line " +
                                                     std::to_string(entries_[first].line) +
                                                     ": give each address or prefix once"});
      }
    }
    std::stable_sort(out_.errors.begin(), out_.errors.end(),
                     [](const LineError& a, const LineError& b) { return a.line < b.line; });
    if (out_.errors.empty()) {
      out_.changes.reserve(entries_.size());
      constexpr std::size_t kAhead = 16;  // key order jumps around the arena: fetch ahead
      for (std::size_t i = 0; i < entries_.size(); ++i) {
        if (i + kAhead < entries_.size()) {
          __builtin_prefetch(arena_.data() + entries_[i + kAhead].target_at);
        }
        const Entry& e = entries_[i];
        store::Change& c = out_.changes.emplace_back();
        c.op = store::Change::Op::put;
        c.is_prefix = e.is_prefix;
        c.key = e.key;
        c.value.kind = e.kind;
        c.value.ttl = e.ttl;
        c.value.target.assign(arena_, e.target_at, e.target_len);
        c.seq = e.line;  // the later line wins a shared name (--force); conflicts name it
      }
    }
    entries_.clear();
    entries_.shrink_to_fit();
    arena_ = std::string();
  }

  void reserve(std::size_t n) { entries_.reserve(n); }

 private:
  void add_error(std::size_t number) { out_.errors.push_back({number, std::move(error_)}); }

  bool from_csv(std::string_view text, Record& r) {
    header_ = false;
    if (!split_csv(text, fields_, error_)) {
      return false;
    }
    if (out_.records == 1 && !fields_.empty() && fields_[0] == "address_or_prefix") {
      header_ = true;
      return false;
    }
    if (fields_.size() < 3 || fields_.size() > 4) {
      error_ = "expected 3 or 4 comma-separated fields (" + std::string(kCsvHeader) + "), found " +
               std::to_string(fields_.size());
      return false;
    }
    return fill(r, fields_[0], fields_[1], fields_[2], fields_.size() == 4 ? fields_[3] : "");
  }

  bool fill(Record& r, std::string_view key, std::string_view kind, std::string_view target,
            std::string_view ttl) {
    if (!parse_key(key, r.key, error_)) {
      return false;
    }
    const auto k = parse_kind(kind);
    if (!k) {
      error_ = "unknown kind " + single_quoted(kind) + ": use name, template or none";
      return false;
    }
    r.value.kind = *k;
    r.value.target.assign(trim(target));
    return parse_ttl(ttl, r.value.ttl, error_);
  }

  bool from_json(std::string_view text, Record& r) {
    std::string perr;
    if (!json::parse_flat_object(text, members_, perr)) {
      error_ = "invalid JSON: " + perr;
      return false;
    }
    const json::Value* key = nullptr;
    const json::Value* kind = nullptr;
    const json::Value* target = nullptr;
    const json::Value* ttl = nullptr;
    for (const auto& m : members_) {
      if (m.key == "address_or_prefix") {
        key = &m.value;
      } else if (m.key == "kind") {
        kind = &m.value;
      } else if (m.key == "target") {
        target = &m.value;
      } else if (m.key == "ttl") {
        ttl = &m.value;
      } else if (m.key == "updated") {
        // written by `list --json`; ignored
      } else {
        error_ = "unknown key \"" + m.key + "\": expected address_or_prefix, kind, target and ttl";
        return false;
      }
    }
    using T = json::Value::Type;
    if (key == nullptr || key->type != T::string) {
      error_ = "\"address_or_prefix\" (a string) is required";
      return false;
    }
    if (kind == nullptr || kind->type != T::string) {
      error_ = "\"kind\" (\"name\", \"template\" or \"none\") is required";
      return false;
    }
    if (target != nullptr && target->type != T::string && target->type != T::null) {
      error_ = "\"target\" must be a string (or null for kind none)";
      return false;
    }
    if (ttl != nullptr && ttl->type != T::number && ttl->type != T::null) {
      error_ = "\"ttl\" must be a number of seconds";
      return false;
    }
    if (ttl != nullptr && ttl->type == T::number &&
        ttl->text.find_first_of(".eE-") != std::string::npos) {
      error_ = "\"ttl\" " + ttl->text + " is not a whole number of seconds in 0.." +
               std::to_string(kMaxTtl);
      return false;
    }
    return fill(r, key->text, kind->text,
                target != nullptr && target->type == T::string ? std::string_view(target->text)
                                                               : std::string_view(),
                ttl != nullptr && ttl->type == T::number ? std::string_view(ttl->text)
                                                         : std::string_view());
  }

  Format format_;
  const Validator& validator_;
  ParsedFile& out_;
  std::vector<Entry> entries_;
  std::string arena_;  // the targets of entries_, in line order
  Record record_;
  std::string error_;
  std::vector<std::string> fields_;
  std::vector<json::Member> members_;
  bool header_ = false;
};

}  // namespace

ParsedFile parse_import(std::string_view data, Format format, const Validator& validator,
                        const std::function<void(std::size_t, std::size_t)>& progress) {
  ParsedFile out;
  // A UTF-8 byte order mark (editors on Windows write one) is no part of the first line.
  if (data.starts_with("\xEF\xBB\xBF")) {
    data.remove_prefix(3);
  }
  ImportParser p(format, validator, out);
  p.reserve(data.size() / 40 + 16);
  std::size_t pos = 0;
  std::size_t number = 0;
  while (pos < data.size()) {
    const void* nl = std::memchr(data.data() + pos, '\n', data.size() - pos);
    const std::size_t end =
        nl == nullptr ? data.size()
                      : static_cast<std::size_t>(static_cast<const char*>(nl) - data.data());
    ++number;
    p.line(number, data.substr(pos, end - pos));
    pos = end + 1;
    if (progress && (number & 0xFFF) == 0) {
      progress(std::min(pos, data.size()), number);
    }
  }
  out.lines = number;
  p.finish();
  if (progress) {
    progress(data.size(), number);
  }
  return out;
}

// ----------------------------------------------------------------------------------- export

void append_record(std::string& out, Format format, const Key& key, store::OverrideKind kind,
                   std::string_view target, std::uint32_t ttl) {
  char kbuf[dns::IpAddress::kMaxTextLen + 8];
  std::size_t klen = key.prefix.address.to_text(kbuf, sizeof kbuf);
  if (key.is_prefix) {
    kbuf[klen++] = '/';
    auto [ptr, ec] = std::to_chars(kbuf + klen, kbuf + sizeof kbuf, unsigned{key.prefix.length});
    klen = static_cast<std::size_t>(ptr - kbuf);
    (void)ec;
  }
  const std::string_view k(kbuf, klen);
  char tbuf[16];
  auto [tend, tec] = std::to_chars(tbuf, tbuf + sizeof tbuf, ttl);
  (void)tec;
  const std::string_view t(tbuf, static_cast<std::size_t>(tend - tbuf));
  if (format == Format::csv) {
    out += k;
    out += ',';
    out += store::to_string(kind);
    out += ',';
    append_csv_field(out, target);
    out += ',';
    out += t;
    out += '\n';
    return;
  }
  out += "{\"address_or_prefix\":\"";
  out += k;
  out += "\",\"kind\":\"";
  out += store::to_string(kind);
  out += "\",\"target\":";
  out += json::quote(target);
  out += ",\"ttl\":";
  out += t;
  out += "}\n";
}

std::string format_timestamp(std::uint64_t ns) {
  if (ns == 0) {
    return {};
  }
  const auto secs = static_cast<std::time_t>(ns / 1000000000ULL);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

}  // namespace amap::mapctl
