// SPDX-License-Identifier: MIT
#include "mapper/config/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <unordered_map>

namespace amap::config {

std::string Error::to_string() const {
  std::string out = file;
  if (mark.line > 0) {
    out += ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column);
  }
  out += ": ";
  if (!path.empty()) {
    out += path + ": ";
  }
  return out + message;
}

std::optional<std::uint64_t> parse_size(const std::string& text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr == text.data()) {
    return std::nullopt;
  }
  const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  std::uint64_t mult = 1;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "KiB" || unit == "K") {
    mult = 1ULL << 10;
  } else if (unit == "MiB" || unit == "M") {
    mult = 1ULL << 20;
  } else if (unit == "GiB" || unit == "G") {
    mult = 1ULL << 30;
  } else if (unit == "TiB" || unit == "T") {
    mult = 1ULL << 40;
  } else {
    return std::nullopt;
  }
  if (value > UINT64_MAX / mult) {
    return std::nullopt;
  }
  return value * mult;
}

namespace {

/// Family, address bytes and length: equal for equal prefixes.
std::string prefix_key(const dns::Prefix& p) {
  std::string k(18, '\0');
  k[0] = static_cast<char>(p.family());
  for (std::size_t i = 0; i < 16; ++i) {
    k[i + 1] = static_cast<char>(p.address.bytes()[i]);
  }
  k[17] = static_cast<char>(p.length);
  return k;
}

/// The part of a YAML node the loader reads: kind, position, scalar text and children. Built
/// from yaml-cpp's parser events, it costs a fraction of YAML::Load's tree of shared nodes,
/// which dominated loading 100k prefixes. Reads like YAML::Node: an absent key gives an
/// undefined node that tests false.
struct Node {
  enum class Kind : std::uint8_t { undefined, null, scalar, sequence, map };
  Kind kind = Kind::undefined;
  Mark mark;
  std::string scalar;       // scalars only
  std::vector<Node> items;  // sequence: the elements; map: key, value, key, value, ...

  explicit operator bool() const noexcept { return kind != Kind::undefined; }
  bool IsNull() const noexcept { return kind == Kind::null; }
  bool IsScalar() const noexcept { return kind == Kind::scalar; }
  bool IsSequence() const noexcept { return kind == Kind::sequence; }
  bool IsMap() const noexcept { return kind == Kind::map; }
  const std::string& Scalar() const noexcept { return scalar; }
  std::size_t size() const noexcept { return kind == Kind::map ? items.size() / 2 : items.size(); }
  const Node& operator[](std::size_t i) const noexcept { return items[i]; }
  /// The value of the first scalar key equal to `key` (as yaml-cpp does with duplicates).
  const Node& operator[](std::string_view key) const noexcept {
    static const Node absent;
    if (kind == Kind::map) {
      for (std::size_t i = 0; i < items.size(); i += 2) {
        if (items[i].IsScalar() && items[i].scalar == key) {
          return items[i + 1];
        }
      }
    }
    return absent;
  }
};

/// Builds a Node tree from parser events. Aliases get a copy of their anchored node.
class TreeBuilder : public YAML::EventHandler {
 public:
  Node root;

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    done(add(mark, Node::Kind::null), anchor);
  }
  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    Node copy = it != anchors_.end() ? it->second : Node{Node::Kind::null, {}, {}, {}};
    place(std::move(copy));
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    Node& n = add(mark, Node::Kind::scalar);
    n.scalar = value;
    done(n, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open_.push_back({&add(mark, Node::Kind::sequence), anchor});
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open_.push_back({&add(mark, Node::Kind::map), anchor});
  }
  void OnMapEnd() override { close(); }

 private:
  static Mark to_mark(const YAML::Mark& m) {
    return m.line < 0 ? Mark{} : Mark{m.line + 1, m.column + 1};
  }
  /// Appends to the innermost open collection (children are only added to the innermost, so
  /// the pointers kept in open_ stay valid).
  Node& place(Node n) {
    if (open_.empty()) {
      root = std::move(n);
      return root;
    }
    auto& items = open_.back().node->items;
    items.push_back(std::move(n));
    return items.back();
  }
  Node& add(const YAML::Mark& mark, Node::Kind kind) {
    Node n;
    n.kind = kind;
    n.mark = to_mark(mark);
    return place(std::move(n));
  }
  void done(const Node& n, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) {
      anchors_[anchor] = n;
    }
  }
  void close() {
    const Open o = open_.back();
    open_.pop_back();
    done(*o.node, o.anchor);
  }

  struct Open {
    Node* node;
    YAML::anchor_t anchor;
  };
  std::vector<Open> open_;
  std::map<YAML::anchor_t, Node> anchors_;
};

class Loader {
 public:
  Loader(std::string file, std::vector<Error>& errors) : file_(std::move(file)), errors_(errors) {}

  void error(const Node& at, const std::string& path, const std::string& message) {
    errors_.push_back(Error{file_, at.mark, path, message});
  }

  /// Checks a mapping: every key known, none repeated. Returns false if `n` is not a map.
  bool check_map(const Node& n, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
    if (!n.IsMap()) {
      error(n, path, "expected a mapping");
      return false;
    }
    // Maps in this schema have a handful of keys: a small array beats a std::map, and the
    // key path is built only for an error (this runs once per prefix, 100k times).
    struct Seen {
      std::string_view key;
      int line;
    };
    std::array<Seen, 16> seen{};
    std::size_t nseen = 0;
    for (std::size_t i = 0; i < n.items.size(); i += 2) {
      const Node& key_n = n.items[i];
      const std::string& key = key_n.Scalar();
      auto kpath = [&] { return path.empty() ? key : path + "." + key; };
      bool known = false;
      for (auto a : allowed) {
        known = known || a == key;
      }
      if (!known) {
        std::string list;
        for (auto a : allowed) {
          list += (list.empty() ? "" : ", ") + std::string(a);
        }
        error(key_n, kpath(), "unknown key (expected one of: " + list + ")");
      }
      const auto dup = std::find_if(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(nseen),
                                    [&](const Seen& x) { return x.key == key; });
      if (dup != seen.begin() + static_cast<std::ptrdiff_t>(nseen)) {
        error(key_n, kpath(),
              "duplicate key (first given at line " + std::to_string(dup->line) + ")");
      } else if (nseen < seen.size()) {
        seen[nseen++] = Seen{key, key_n.mark.line};
      }
    }
    return true;
  }

  std::optional<std::uint32_t> u32(const Node& n, const std::string& path,
                                   std::uint32_t max = 0x7FFFFFFF) {
    if (!n.IsScalar()) {
      error(n, path, "expected a number");
      return std::nullopt;
    }
    const std::string& s = n.Scalar();
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || ptr != s.data() + s.size() || s.empty()) {
      error(n, path, "expected a non-negative integer, got '" + s + "'");
      return std::nullopt;
    }
    if (v > max) {
      error(n, path, "value " + s + " is larger than " + std::to_string(max));
      return std::nullopt;
    }
    return static_cast<std::uint32_t>(v);
  }

  std::optional<bool> boolean(const Node& n, const std::string& path) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "yes" || s == "on") {
        return true;
      }
      if (s == "false" || s == "no" || s == "off") {
        return false;
      }
    }
    error(n, path, "expected true or false");
    return std::nullopt;
  }

  std::optional<dns::Name> name(const Node& n, const std::string& path) {
    if (!n.IsScalar() || n.Scalar().empty()) {
      error(n, path, "expected a domain name");
      return std::nullopt;
    }
    auto parsed = dns::Name::from_text(n.Scalar());
    if (!parsed) {
      error(n, path,
            "bad domain name '" + n.Scalar() + "': " + std::string(errc_message(parsed.error())));
      return std::nullopt;
    }
    if (n.Scalar().back() != '.') {
      error(n, path, "domain name '" + n.Scalar() + "' must be absolute (end with a dot)");
      return std::nullopt;
    }
    return *parsed;
  }

  void load(const Node& root, Config& c) {
    if (!root || root.IsNull()) {
      errors_.push_back(Error{file_, {}, "", "empty configuration"});
      return;
    }
    if (!check_map(root, "", {"soa", "ns", "zones", "prefixes", "store", "listen", "ttl"})) {
      return;
    }
    if (root["ttl"]) {
      if (auto v = u32(root["ttl"], "ttl")) {
        c.default_ttl = *v;
      }
    }
    load_soa(root, c);
    c.ns_ttl = c.soa.ttl;  // apex NS records share the SOA's TTL
    load_ns(root, c);
    load_zones(root, c);
    load_prefixes(root, c);
    load_store(root, c);
    load_listen(root, c);
  }

 private:
  void load_soa(const Node& root, Config& c) {
    const Node& n = root["soa"];
    if (!n) {
      error(root, "soa", "required: soa { mname, rname, refresh, retry, expire, minimum, ttl }");
      return;
    }
    if (!check_map(n, "soa",
                   {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"})) {
      return;
    }
    auto& s = c.soa;
    for (const char* key : {"mname", "rname"}) {
      if (!n[key]) {
        error(n, std::string("soa.") + key, "required");
      } else if (auto v = name(n[key], std::string("soa.") + key)) {
        (std::string_view(key) == "mname" ? s.soa.mname : s.soa.rname) = *v;
      }
    }
    struct Field {
      const char* key;
      std::uint32_t* target;
    };
    for (Field f :
         {Field{"refresh", &s.soa.refresh}, Field{"retry", &s.soa.retry},
          Field{"expire", &s.soa.expire}, Field{"minimum", &s.soa.minimum}, Field{"ttl", &s.ttl}}) {
      if (n[f.key]) {
        if (auto v = u32(n[f.key], std::string("soa.") + f.key)) {
          *f.target = *v;
        }
      }
    }
    if (n["serial"]) {
      if (auto v = u32(n["serial"], "soa.serial", 0xFFFFFFFFU)) {
        s.soa.serial = *v;
        s.serial_given = true;
      }
    } else {
      // Without an explicit serial, the load time: it grows on every reload.
      s.soa.serial = static_cast<std::uint32_t>(std::time(nullptr));
    }
  }

  void load_ns(const Node& root, Config& c) {
    const Node& n = root["ns"];
    if (!n) {
      error(root, "ns", "required: a list of name servers");
      return;
    }
    if (!n.IsSequence() || n.size() == 0) {
      error(n, "ns", "expected a non-empty list of name server names");
      return;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (auto v = name(n[i], "ns[" + std::to_string(i) + "]")) {
        c.ns.push_back(*v);
      }
    }
  }

  void load_zones(const Node& root, Config& c) {
    const Node& n = root["zones"];
    if (!n) {
      return;
    }
    if (!n.IsSequence()) {
      error(n, "zones", "expected a list of { name: ZONE. }");
      return;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string path = "zones[" + std::to_string(i) + "]";
      if (!check_map(n[i], path, {"name"})) {
        continue;
      }
      if (!n[i]["name"]) {
        error(n[i], path + ".name", "required");
        continue;
      }
      if (auto v = name(n[i]["name"], path + ".name")) {
        for (const auto& z : c.zones) {
          if (z.name == *v) {
            error(n[i]["name"], path + ".name",
                  "zone listed twice (first at line " + std::to_string(z.mark.line) + ")");
          }
        }
        c.zones.push_back(ZoneConfig{*v, n[i].mark});
      }
    }
  }

  void load_prefixes(const Node& root, Config& c) {
    const Node& n = root["prefixes"];
    if (!n) {
      return;
    }
    if (!n.IsSequence()) {
      error(n, "prefixes", "expected a list of { prefix: CIDR, name: TEMPLATE }");
      return;
    }
    std::unordered_map<std::string, int> seen;  // prefix key -> line, for duplicates
    c.prefixes.reserve(n.size());
    for (std::size_t i = 0; i < n.size(); ++i) {
      const Node& item = n[i];
      const std::string path = "prefixes[" + std::to_string(i) + "]";
      if (!check_map(item, path,
                     {"prefix", "name", "ttl", "blank", "forward", "reverse", "classless"})) {
        continue;
      }
      const Node& prefix_n = item["prefix"];
      const Node& name_n = item["name"];
      const Node& ttl_n = item["ttl"];
      const Node& blank_n = item["blank"];
      const Node& forward_n = item["forward"];
      const Node& reverse_n = item["reverse"];
      const Node& classless_n = item["classless"];
      PrefixConfig p;
      p.mark = item.mark;
      p.path = path;
      bool ok = true;
      if (!prefix_n || !prefix_n.IsScalar()) {
        error(item, path + ".prefix", "required: an IPv4 or IPv6 CIDR such as 10.0.0.0/8");
        ok = false;
      } else {
        auto parsed = dns::Prefix::parse(prefix_n.Scalar());
        if (!parsed) {
          std::string hint;
          if (parsed.error() == Errc::host_bits_set) {
            auto loose = dns::Prefix::parse(prefix_n.Scalar(), true);
            hint = loose ? " (did you mean " + loose->to_string() + "?)" : "";
          }
          error(prefix_n, path + ".prefix",
                "bad prefix '" + prefix_n.Scalar() +
                    "': " + std::string(errc_message(parsed.error())) + hint);
          ok = false;
        } else {
          p.prefix = *parsed;
        }
      }
      if (blank_n) {
        p.blank = boolean(blank_n, path + ".blank").value_or(false);
      }
      if (forward_n) {
        p.forward = boolean(forward_n, path + ".forward").value_or(true);
      }
      if (reverse_n) {
        p.reverse = boolean(reverse_n, path + ".reverse").value_or(true);
      }
      if (classless_n) {
        p.classless = boolean(classless_n, path + ".classless").value_or(false);
      }
      if (ttl_n) {
        p.ttl = u32(ttl_n, path + ".ttl");
      }
      if (name_n) {
        if (!name_n.IsScalar() || name_n.Scalar().empty()) {
          error(name_n, path + ".name", "expected a hostname template string");
          ok = false;
        } else {
          p.name_template = name_n.Scalar();
          p.name_mark = name_n.mark;
        }
      }
      if (p.blank && name_n) {
        error(name_n, path + ".name", "a blank prefix has no name template: remove one");
        ok = false;
      } else if (!p.blank && !name_n) {
        error(item, path, "needs a name template (name: ...) or blank: true");
        ok = false;
      }
      if (ok && p.classless && (!p.prefix.address.is_v4() || p.prefix.length <= 24)) {
        error(classless_n, path + ".classless",
              "RFC 2317 classless names apply only to IPv4 prefixes longer than /24");
        ok = false;
      }
      if (ok) {
        auto [it, fresh] = seen.emplace(prefix_key(p.prefix), p.mark.line);
        if (!fresh) {
          error(prefix_n, path + ".prefix",
                "prefix " + p.prefix.to_string() + " is already configured at line " +
                    std::to_string(it->second));
          ok = false;
        }
      }
      if (ok) {
        c.prefixes.push_back(std::move(p));
      }
    }
  }

  void load_store(const Node& root, Config& c) {
    const Node& n = root["store"];
    if (!n) {
      return;
    }
    if (!check_map(n, "store", {"path", "map_size"})) {
      return;
    }
    c.store.present = true;
    c.store.mark = n.mark;
    if (!n["path"] || !n["path"].IsScalar() || n["path"].Scalar().empty()) {
      error(n, "store.path", "required: the directory of the LMDB store");
    } else {
      c.store.path = n["path"].Scalar();
    }
    if (n["map_size"]) {
      auto v = n["map_size"].IsScalar() ? parse_size(n["map_size"].Scalar()) : std::nullopt;
      if (!v || *v < (1ULL << 16)) {
        error(n["map_size"], "store.map_size",
              "expected a size of at least 64KiB such as 4GiB, 512MiB or a byte count");
      } else {
        c.store.map_size = *v;
      }
    }
  }

  void load_listen(const Node& root, Config& c) {
    const Node& n = root["listen"];
    if (!n) {
      return;
    }
    if (!n.IsSequence()) {
      error(n, "listen", "expected a list of ADDR:PORT such as 127.0.0.1:5353 or [::1]:5353");
      return;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string path = "listen[" + std::to_string(i) + "]";
      if (!n[i].IsScalar()) {
        error(n[i], path, "expected ADDR:PORT");
        continue;
      }
      const std::string& s = n[i].Scalar();
      const auto colon = s.rfind(':');
      std::string addr = colon == std::string::npos ? "" : s.substr(0, colon);
      if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') {
        addr = addr.substr(1, addr.size() - 2);
      } else if (addr.find(':') != std::string::npos) {
        addr.clear();  // IPv6 needs brackets
      }
      unsigned port = 0;
      const std::string digits = colon == std::string::npos ? "" : s.substr(colon + 1);
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
      if (addr.empty() || !dns::IpAddress::parse(addr) || digits.empty() || ec != std::errc{} ||
          ptr != digits.data() + digits.size() || port > 65535) {
        error(n[i], path, "'" + s + "' is not ADDR:PORT (IPv6 as [::1]:5353)");
        continue;
      }
      c.listen.push_back(s);
    }
  }

  std::string file_;
  std::vector<Error>& errors_;
};

}  // namespace

LoadResult load_text(const std::string& text, const std::string& file) {
  LoadResult r;
  r.config.file = file;
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    TreeBuilder tree;
    parser.HandleNextDocument(tree);  // the first document, as YAML::Load reads
    Loader(file, r.errors).load(tree.root, r.config);
  } catch (const YAML::Exception& e) {
    r.errors.push_back(Error{file, Mark{e.mark.line + 1, e.mark.column + 1}, "", e.msg});
  }
  return r;
}

LoadResult load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    LoadResult r;
    r.config.file = path;
    r.errors.push_back(Error{path, {}, "", "cannot open file"});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_text(ss.str(), path);
}

}  // namespace amap::config
