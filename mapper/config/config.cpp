// SPDX-License-Identifier: MIT
#include "mapper/config/config.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <streambuf>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

namespace amap::config {

namespace {

/// Length of the valid UTF-8 sequence of a printable character at text[i] (2..4), else 0:
/// a stray or overlong byte, a surrogate, past U+10FFFF, a C1 control (U+0080..U+009F) or a
/// bidirectional control, which could reorder what a terminal shows.
std::size_t printable_utf8_length(std::string_view text, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned lead = byte(i);
  const std::size_t n = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
  if (n == 0 || lead > 0xF4 || i + n > text.size()) {
    return 0;
  }
  std::uint32_t cp = lead & (0x7FU >> n);
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0U) != 0x80U) {
      return 0;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3FU);
  }
  constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  const bool bad = cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
                   (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
                   (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
  return bad ? 0 : n;
}

}  // namespace

std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates,
                          std::size_t max_distance) {
  // Optimal string alignment distance over three rolling rows (short words: keys, verbs).
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<std::size_t> before(b.size() + 1);
    std::vector<std::size_t> prev(b.size() + 1);
    std::vector<std::size_t> cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
      prev[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
          cur[j] = std::min(cur[j], before[j - 2] + 1);
        }
      }
      before.swap(prev);
      prev.swap(cur);
    }
    return prev[b.size()];
  };
  std::string best;
  std::size_t best_distance = max_distance + 1;
  bool tie = false;
  for (const std::string_view c : candidates) {
    const std::size_t d = distance(word, c);
    if (d < best_distance) {
      best = std::string(c);
      best_distance = d;
      tie = false;
    } else if (d == best_distance) {
      tie = true;
    }
  }
  // A distance as long as the word itself is no resemblance ("x" is 1 edit from "ns").
  if (best.empty() || tie || best_distance >= word.size()) {
    return {};
  }
  return best;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
    } else if (const std::size_t n = c >= 0x80 ? printable_utf8_length(text, i) : 0; n != 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      constexpr char kHex[] = "0123456789ABCDEF";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xFU];
      ++i;
    }
  }
  return out;
}

void Diagnostics::append(Diagnostics&& other) {
  entries_.reserve(entries_.size() + other.entries_.size());
  for (Diagnostic& d : other.entries_) {
    add(std::move(d));
  }
  other.entries_.clear();
  other.errors_ = 0;
}

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (mark.line > 0) {
    out += ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column);
  }
  out += ": ";
  if (!path.empty()) {
    out += path + ": ";
  }
  // The message may quote the file's bytes (a bad name, binary YAML): never raw to a terminal
  // or a log.
  return printable(out + message);
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

std::optional<std::uint64_t> parse_duration(const std::string& text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr == text.data()) {
    return std::nullopt;
  }
  const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "s") {
    mult = 1;
  } else if (unit == "m") {
    mult = 60;
  } else if (unit == "h") {
    mult = 3600;
  } else if (unit == "d") {
    mult = 86400;
  } else {
    return std::nullopt;
  }
  // At most 100 years: the store compares against nanoseconds since the epoch.
  if (value > 3155760000ULL / mult) {
    return std::nullopt;
  }
  return value * mult;
}

namespace {

struct PrefixHash {
  std::size_t operator()(const dns::Prefix& p) const noexcept {
    std::uint64_t h = p.address.hi() * 0x9E3779B97F4A7C15ULL ^ p.address.lo();
    h = (h ^ (h >> 29)) * 0xBF58476D1CE4E5B9ULL;
    return static_cast<std::size_t>(h ^ (h >> 32) ^ p.length ^ (p.address.is_v4() ? 0x100U : 0U));
  }
};

/// A YAML document as the loader reads it: kind, position, scalar text and children of each
/// node, in three flat arrays built from yaml-cpp's parser events. It costs a fraction of
/// YAML::Load's tree of shared nodes, which dominated loading 100k prefixes.
///
/// With stream_prefixes(), the items of the top-level `prefixes:` list do not go into the
/// document: every kBatchItems of them go, as the roots of a document of their own (a batch),
/// to a sink that checks them on another thread while the parse goes on (PrefixStream).
class Document : public YAML::EventHandler {
 public:
  enum class Kind : std::uint8_t { null, scalar, sequence, map };
  static constexpr std::size_t kBatchItems = 1024;
  /// Takes a batch of list items; `last` with the one that ends the list.
  using BatchSink = std::function<void(std::unique_ptr<Document> batch, bool last)>;

 private:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFU;
  struct Raw {
    Kind kind;
    Mark mark;
    std::uint32_t begin = 0;  // scalar: into text_; collection: into kids_
    std::uint32_t count = 0;  // scalar: characters; sequence: elements; map: keys + values
  };

 public:
  /// A node of the document, read like a YAML::Node: an absent key or index gives an
  /// undefined node that tests false. Valid while its document lives.
  class Node {
   public:
    Node() = default;
    explicit operator bool() const noexcept { return doc_ != nullptr; }
    bool IsNull() const noexcept { return is(Kind::null); }
    bool IsScalar() const noexcept { return is(Kind::scalar); }
    bool IsSequence() const noexcept { return is(Kind::sequence); }
    bool IsMap() const noexcept { return is(Kind::map); }
    Mark mark() const noexcept { return doc_ != nullptr ? raw().mark : Mark{}; }
    /// The text of a scalar, else "".
    std::string_view Scalar() const noexcept {
      // doc_ is tested here too: clang-analyzer does not follow it through IsScalar().
      return doc_ != nullptr && IsScalar()
                 ? std::string_view(doc_->text_).substr(raw().begin, raw().count)
                 : std::string_view();
    }
    /// Elements of a sequence, pairs of a map.
    std::size_t size() const noexcept {
      return IsSequence() ? raw().count : IsMap() ? raw().count / 2 : 0;
    }
    Node operator[](std::size_t i) const noexcept { return IsSequence() ? child(i) : Node(); }
    /// The `prefixes:` list whose items went to the batch sink (it has none here).
    bool IsStreamed() const noexcept { return doc_ != nullptr && doc_->streamed_ == index_; }
    Node key(std::size_t i) const noexcept { return IsMap() ? child(2 * i) : Node(); }
    Node value(std::size_t i) const noexcept { return IsMap() ? child(2 * i + 1) : Node(); }
    /// The value of the first scalar key equal to `key` (as yaml-cpp does with duplicates).
    Node operator[](std::string_view key_text) const noexcept {
      for (std::size_t i = 0; i < size(); ++i) {
        const Node k = key(i);
        if (k.IsScalar() && k.Scalar() == key_text) {
          return value(i);
        }
      }
      return Node();
    }

   private:
    friend class Document;
    Node(const Document* doc, std::uint32_t index) : doc_(doc), index_(index) {}
    const Raw& raw() const noexcept { return doc_->nodes_[index_]; }
    bool is(Kind k) const noexcept { return doc_ != nullptr && raw().kind == k; }
    Node child(std::size_t i) const noexcept {
      return i < raw().count ? Node(doc_, doc_->kids_[raw().begin + i]) : Node();
    }
    const Document* doc_ = nullptr;
    std::uint32_t index_ = 0;
  };

  /// The first document's root; undefined when the text holds none.
  Node root() const noexcept { return roots_.empty() ? Node() : Node(this, roots_[0]); }
  /// A batch's list items.
  std::size_t items() const noexcept { return roots_.size(); }
  Node item(std::size_t i) const noexcept { return Node(this, roots_[i]); }

  /// The text parsed, for check_quote_closes_on_its_line (none: no check).
  void set_source(std::string_view source) noexcept { source_ = source; }

  /// Sends the items of the top-level `prefixes:` list (the first such key, as Node's
  /// operator[] finds it) to `sink`. Only for a text without anchors: an alias could not
  /// reach across batches.
  void stream_prefixes(BatchSink sink) { sink_ = std::move(sink); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (batch_) {
      batch_->add(mark, Kind::null, anchor);
      return item_done();
    }
    add(mark, Kind::null, anchor);
  }
  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override {
    prefixes_value_next_ = false;
    // The anchored node itself, as in yaml-cpp (the parser rejects unknown anchors).
    auto it = anchors_.find(anchor);
    if (it != anchors_.end()) {
      place(it->second);
    }
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    check_quote_closes_on_its_line(mark);
    if (batch_) {
      batch_->scalar(mark, anchor, value);
      return item_done();
    }
    // A key of the root map is every other child of it.
    const bool root_key = open_.size() == 1 && nodes_[open_[0].node].kind == Kind::map &&
                          (pending_.size() - open_[0].first_pending) % 2 == 0;
    scalar(mark, anchor, value);
    if (root_key && sink_ && !prefixes_key_seen_ && value == "prefixes") {
      prefixes_key_seen_ = true;
      prefixes_value_next_ = true;
    }
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    if (batch_) {
      return batch_->open(batch_->add(mark, Kind::sequence, anchor));
    }
    const bool stream = std::exchange(prefixes_value_next_, false);
    const std::uint32_t index = add(mark, Kind::sequence, anchor);
    open(index);
    if (stream) {
      streamed_ = index;
      batch_ = std::make_unique<Document>();
    }
  }
  void OnSequenceEnd() override {
    if (batch_ && batch_->open_.empty()) {
      sink_(std::move(batch_), true);  // the end of the streamed list
    } else if (batch_) {
      batch_->close();
      return item_done();
    }
    close();
  }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    if (batch_) {
      return batch_->open(batch_->add(mark, Kind::map, anchor));
    }
    open(add(mark, Kind::map, anchor));
  }
  void OnMapEnd() override {
    if (batch_) {
      batch_->close();
      return item_done();
    }
    close();
  }

 private:
  struct Open {
    std::uint32_t node;
    std::size_t first_pending;  // its children so far: pending_[first_pending..]
  };

  std::uint32_t add(const YAML::Mark& m, Kind kind, YAML::anchor_t anchor) {
    prefixes_value_next_ = false;
    const auto index = static_cast<std::uint32_t>(nodes_.size());
    nodes_.push_back(Raw{kind, m.line < 0 ? Mark{} : Mark{m.line + 1, m.column + 1}});
    if (anchor != YAML::NullAnchor) {
      anchors_[anchor] = index;
    }
    place(index);
    return index;
  }
  void scalar(const YAML::Mark& mark, YAML::anchor_t anchor, const std::string& value) {
    Raw& r = nodes_[add(mark, Kind::scalar, anchor)];
    r.begin = static_cast<std::uint32_t>(text_.size());
    r.count = static_cast<std::uint32_t>(value.size());
    text_ += value;
  }
  void place(std::uint32_t index) {
    if (open_.empty()) {
      roots_.push_back(index);
    } else {
      pending_.push_back(index);
    }
  }
  void open(std::uint32_t index) { open_.push_back(Open{index, pending_.size()}); }
  /// A collection's children become one contiguous run of kids_.
  void close() {
    const Open o = open_.back();
    open_.pop_back();
    Raw& r = nodes_[o.node];
    r.begin = static_cast<std::uint32_t>(kids_.size());
    r.count = static_cast<std::uint32_t>(pending_.size() - o.first_pending);
    kids_.insert(kids_.end(), pending_.begin() + static_cast<std::ptrdiff_t>(o.first_pending),
                 pending_.end());
    pending_.resize(o.first_pending);
  }

  /// YAML lets a quoted scalar run over lines, so a quote left open swallows the keys after
  /// it up to the next quote, and the damage showed up as a template error somewhere else.
  /// No value of this schema spans lines: a quoted one must close on the line it opens, and
  /// the error points at the opening quote. (yaml-cpp's mark of a quoted scalar is its quote.)
  void check_quote_closes_on_its_line(const YAML::Mark& mark) const {
    if (mark.pos < 0 || static_cast<std::size_t>(mark.pos) >= source_.size()) {
      return;
    }
    const auto open = static_cast<std::size_t>(mark.pos);
    const char quote = source_[open];
    if (quote != '"' && quote != '\'') {
      return;
    }
    for (std::size_t i = open + 1; i < source_.size(); ++i) {
      const char c = source_[i];
      if (c == '\n' || c == '\r') {
        break;
      }
      if (quote == '"' && c == '\\') {
        if (i + 1 < source_.size() && source_[i + 1] != '\n' && source_[i + 1] != '\r') {
          ++i;  // an escaped character, the quote included
        }
        continue;
      }
      if (c == quote) {
        if (quote == '\'' && i + 1 < source_.size() && source_[i + 1] == '\'') {
          ++i;  // '' is a quote inside single quotes
          continue;
        }
        return;
      }
    }
    throw YAML::ParserException(mark, std::string("unterminated quote: the ") +
                                          (quote == '"' ? "double" : "single") +
                                          "-quoted string opened here does not close on its "
                                          "line (a quoted value must close on the line it opens)");
  }

  /// After an event inside the streamed list: when it completed an item, a full batch goes.
  void item_done() {
    if (batch_->open_.empty() && batch_->roots_.size() == kBatchItems) {
      sink_(std::exchange(batch_, std::make_unique<Document>()), false);
    }
  }

  std::vector<Raw> nodes_;
  std::vector<std::uint32_t> kids_;
  std::string text_;
  std::vector<std::uint32_t> roots_;  // the document's root; a batch's list items
  std::vector<Open> open_;
  std::vector<std::uint32_t> pending_;  // children of the open collections, innermost last
  std::map<YAML::anchor_t, std::uint32_t> anchors_;
  // Streaming of the `prefixes:` list.
  BatchSink sink_;
  bool prefixes_key_seen_ = false;
  bool prefixes_value_next_ = false;  // the last node added is the first `prefixes` key
  std::uint32_t streamed_ = kNone;    // the list, once its start is seen
  std::unique_ptr<Document> batch_;   // while inside the list: the items so far
  std::string_view source_;
};

/// Stops the parse at the start of a second document: a config is one document, and what
/// followed a `---` was once ignored without a word.
class SecondDocument : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    throw YAML::ParserException(mark,
                                "a second YAML document starts here: a configuration is one "
                                "document (remove this '---' and what follows it, or merge it "
                                "into the first)");
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

using Node = Document::Node;

/// The prefixes checked so far, in list order.
struct PrefixList {
  std::vector<PrefixConfig> items;
  std::unordered_map<dns::Prefix, int, PrefixHash> seen;  // prefix -> line, for duplicates
  std::size_t next = 0;                                   // index of the next list item
  std::size_t accepted = 0;                               // items that passed their checks
};

/// A streamed `prefixes:` list, checked: the loader takes it in place of the list.
struct StreamedPrefixes {
  PrefixList list;
  Diagnostics errors;
};

class Loader {
 public:
  Loader(std::string file, Diagnostics& errors, const LoadOptions& options,
         StreamedPrefixes* streamed = nullptr)
      : file_(std::move(file)), errors_(errors), options_(options), streamed_(streamed) {}

  void error(const Node& at, const std::string& path, const std::string& message) {
    errors_.error(file_, at.mark(), path, message);
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
    for (std::size_t i = 0; i < n.size(); ++i) {
      const Node key_n = n.key(i);
      const std::string_view key = key_n.Scalar();
      auto kpath = [&] { return path.empty() ? std::string(key) : path + "." + std::string(key); };
      bool known = false;
      for (auto a : allowed) {
        known = known || a == key;
      }
      if (!known) {
        std::string list;
        for (auto a : allowed) {
          list += (list.empty() ? "" : ", ") + std::string(a);
        }
        const std::string near = closest_match(key, std::vector<std::string_view>(allowed));
        error(key_n, kpath(),
              "unknown key" + (near.empty() ? std::string() : " (did you mean '" + near + "'?)") +
                  " (expected one of: " + list + ")");
      }
      const auto dup = std::find_if(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(nseen),
                                    [&](const Seen& x) { return x.key == key; });
      if (dup != seen.begin() + static_cast<std::ptrdiff_t>(nseen)) {
        error(key_n, kpath(),
              "duplicate key (first given at line " + std::to_string(dup->line) + ")");
      } else if (nseen < seen.size()) {
        seen[nseen++] = Seen{key, key_n.mark().line};
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
    const std::string s(n.Scalar());
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
      const std::string_view s = n.Scalar();
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
            "bad domain name '" + std::string(n.Scalar()) +
                "': " + std::string(errc_message(parsed.error())));
      return std::nullopt;
    }
    if (n.Scalar().back() != '.') {
      error(n, path,
            "domain name '" + std::string(n.Scalar()) + "' must be absolute (end with a dot)");
      return std::nullopt;
    }
    return *parsed;
  }

  void load(const Node& root, Config& c) {
    if (!root || root.IsNull()) {
      errors_.error(file_, {}, "", "empty configuration");
      return;
    }
    if (!check_map(root, "",
                   {"soa", "ns", "zones", "prefixes", "store", "listen", "tcp", "ttl", "rrl",
                    "cookies", "log", "user", "group", "http", "dnssec", "identity", "pipe"})) {
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
    load_http(root, c);
    load_tcp(root, c);
    load_rrl(root, c);
    load_cookies(root, c);
    load_dnssec(root, c);
    load_log(root, c);
    load_user(root, c);
    load_identity(root, c);
    load_pipe(root, c);
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
      // Without an explicit serial, the load time: it grows on every reload. With a store,
      // Mapper::build replaces it by the store's last change (the same on every node).
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
      c.zones_complete = false;
      return;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string path = "zones[" + std::to_string(i) + "]";
      if (!check_map(n[i], path, {"name"})) {
        c.zones_complete = false;
        continue;
      }
      if (!n[i]["name"]) {
        error(n[i], path + ".name", "required");
        c.zones_complete = false;
        continue;
      }
      if (auto v = name(n[i]["name"], path + ".name")) {
        for (const auto& z : c.zones) {
          if (z.name == *v) {
            error(n[i]["name"], path + ".name",
                  "zone listed twice (first at line " + std::to_string(z.mark.line) + ")");
          }
        }
        c.zones.push_back(ZoneConfig{*v, n[i].mark()});
      } else {
        c.zones_complete = false;
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
    if (n.IsStreamed()) {
      // Checked while the parse went on, with the same add_prefix: its errors come here.
      c.prefixes = std::move(streamed_->list.items);
      c.prefixes_not_kept = options_.prefixes == nullptr ? 0 : streamed_->list.accepted;
      errors_.append(std::move(streamed_->errors));
      return;
    }
    PrefixList list;
    list.seen.reserve(n.size());
    if (options_.prefixes == nullptr) {
      list.items.reserve(n.size());
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
      add_prefix(n[i], list);
    }
    c.prefixes = std::move(list.items);
    c.prefixes_not_kept = options_.prefixes == nullptr ? 0 : list.accepted;
  }

 public:
  /// Checks the next item of the `prefixes:` list and adds it to `list` when good.
  void add_prefix(const Node& item, PrefixList& list) {
    const std::size_t i = list.next++;
    const std::string path = "prefixes[" + std::to_string(i) + "]";
    if (!check_map(item, path,
                   {"prefix", "name", "ttl", "blank", "forward", "reverse", "classless"})) {
      return;
    }
    const Node& prefix_n = item["prefix"];
    const Node& name_n = item["name"];
    const Node& ttl_n = item["ttl"];
    const Node& blank_n = item["blank"];
    const Node& forward_n = item["forward"];
    const Node& reverse_n = item["reverse"];
    const Node& classless_n = item["classless"];
    PrefixConfig p;
    p.mark = item.mark();
    p.path = path;
    p.index = i;
    bool ok = true;
    if (!prefix_n || !prefix_n.IsScalar()) {
      error(item, path + ".prefix", "required: an IPv4 or IPv6 CIDR such as 10.0.0.0/8");
      ok = false;
    } else if (prefix_n.Scalar().find('/') == std::string_view::npos) {
      // Prefix::parse would take a bare address as a /32 or /128: too easy a slip here.
      error(prefix_n, path + ".prefix",
            "prefix '" + std::string(prefix_n.Scalar()) +
                "' has no length: write it as ADDRESS/LENGTH (10.0.0.0/8; /32 or /128 for one "
                "address)");
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
              "bad prefix '" + std::string(prefix_n.Scalar()) +
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
        p.name_mark = name_n.mark();
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
      auto [it, fresh] = list.seen.emplace(p.prefix, p.mark.line);
      if (!fresh) {
        error(prefix_n, path + ".prefix",
              "prefix " + p.prefix.to_string() + " is already configured at line " +
                  std::to_string(it->second));
        ok = false;
      }
    }
    if (ok) {
      ++list.accepted;
      if (options_.prefixes != nullptr) {
        options_.prefixes->take(p);
      } else {
        list.items.push_back(std::move(p));
      }
    }
  }

 private:
  void load_store(const Node& root, Config& c) {
    const Node& n = root["store"];
    if (!n) {
      return;
    }
    if (!check_map(n, "store",
                   {"path", "map_size", "tombstone_retention", "max_readers", "sync"})) {
      return;
    }
    load_sync(n["sync"], c);
    c.store.present = true;
    c.store.mark = n.mark();
    if (!n["path"] || !n["path"].IsScalar() || n["path"].Scalar().empty()) {
      error(n, "store.path", "required: the directory of the LMDB store");
    } else {
      c.store.path = std::string(n["path"].Scalar());
    }
    if (n["map_size"]) {
      auto v =
          n["map_size"].IsScalar() ? parse_size(std::string(n["map_size"].Scalar())) : std::nullopt;
      if (!v || *v < (1ULL << 16)) {
        error(n["map_size"], "store.map_size",
              "expected a size of at least 64KiB such as 4GiB, 512MiB or a byte count");
      } else {
        c.store.map_size = *v;
      }
    }
    if (const Node& r = n["tombstone_retention"]) {
      auto v = r.IsScalar() ? parse_duration(std::string(r.Scalar())) : std::nullopt;
      if (!v) {
        error(r, "store.tombstone_retention",
              "expected a duration such as 7d, 36h, 90m or a number of seconds (0: no replication "
              "peers, tombstones may go at once)");
      } else {
        c.store.tombstone_retention_s = *v;
      }
    }
    if (n["max_readers"]) {
      unsigned v = 0;
      const std::string text(n["max_readers"].IsScalar() ? n["max_readers"].Scalar()
                                                         : std::string_view{});
      const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || v < 16 ||
          v > 65536) {
        error(n["max_readers"], "store.max_readers",
              "expected a number of LMDB reader slots from 16 to 65536");
      } else {
        c.store.max_readers = v;
      }
    }
  }

  /// store.sync: { etcd: { endpoints: [HOST:PORT...], prefix, max_staleness, timeout, tls: {
  /// ca, cert, key, server_name }, user, password_file } }.
  void load_sync(const Node& n, Config& c) {
    if (!n) {
      return;
    }
    if (!check_map(n, "store.sync", {"etcd"})) {
      return;
    }
    const Node& e = n["etcd"];
    if (!e) {
      error(n, "store.sync.etcd", "required: the etcd cluster that holds the overrides");
      return;
    }
    if (!check_map(
            e, "store.sync.etcd",
            {"endpoints", "prefix", "max_staleness", "timeout", "tls", "user", "password_file"})) {
      return;
    }
    EtcdSyncConfig& s = c.store.etcd;
    s.present = true;
    s.mark = e.mark();
    const Node& eps = e["endpoints"];
    if (!eps || !eps.IsSequence() || eps.size() == 0) {
      error(eps ? eps : e, "store.sync.etcd.endpoints",
            "required: a list of the members' client addresses HOST:PORT such as "
            "127.0.0.1:2379");
    } else {
      int scheme = 0;  // of the first endpoint: 1 http, 2 https
      for (std::size_t i = 0; i < eps.size(); ++i) {
        const std::string path = "store.sync.etcd.endpoints[" + std::to_string(i) + "]";
        std::string text(eps[i].IsScalar() ? eps[i].Scalar() : std::string_view{});
        int this_scheme = 1;
        if (text.rfind("http://", 0) == 0) {
          text.erase(0, 7);
        } else if (text.rfind("https://", 0) == 0) {
          text.erase(0, 8);
          this_scheme = 2;
        }
        const auto colon = text.rfind(':');
        unsigned port = 0;
        const bool port_ok =
            colon != std::string::npos && colon > 0 &&
            std::from_chars(text.data() + colon + 1, text.data() + text.size(), port).ec ==
                std::errc{} &&
            port > 0 && port < 65536 &&
            text.find_first_not_of("0123456789", colon + 1) == std::string::npos;
        if (!port_ok) {
          error(eps[i], path,
                "expected HOST:PORT, http://HOST:PORT or https://HOST:PORT such as "
                "127.0.0.1:2379");
        } else if (scheme != 0 && this_scheme != scheme) {
          error(eps[i], path, "every endpoint must be http or every one https (TLS)");
        } else {
          scheme = this_scheme;
          s.endpoints.push_back(text);
        }
      }
      s.tls = scheme == 2;
    }
    load_etcd_tls(e, s);
    const Node& user = e["user"];
    const Node& pw = e["password_file"];
    if (user && (!user.IsScalar() || user.Scalar().empty())) {
      error(user, "store.sync.etcd.user", "expected an etcd user name");
    } else if (user) {
      s.user = std::string(user.Scalar());
    }
    if (pw && (!pw.IsScalar() || pw.Scalar().empty())) {
      error(pw, "store.sync.etcd.password_file",
            "expected the path of a file that holds the user's password");
    } else if (pw) {
      s.password_file = {std::string(pw.Scalar()), pw.mark()};
    }
    if (user && !pw) {
      error(user, "store.sync.etcd.user",
            "needs password_file: the file that holds the password (never in this file)");
    } else if (pw && !user) {
      error(pw, "store.sync.etcd.password_file", "needs user: the etcd user it is the password of");
    }
    if (const Node& p = e["prefix"]) {
      if (!p.IsScalar() || p.Scalar().empty() || p.Scalar().back() != '/') {
        error(p, "store.sync.etcd.prefix", "expected a key prefix ending in '/' such as /automap/");
      } else {
        s.prefix = std::string(p.Scalar());
      }
    }
    if (const Node& m = e["max_staleness"]) {
      auto v = m.IsScalar() ? parse_duration(std::string(m.Scalar())) : std::nullopt;
      if (!v || *v == 0) {
        error(m, "store.sync.etcd.max_staleness",
              "expected a duration of at least 1s such as 60s, 5m or a number of seconds");
      } else {
        s.max_staleness_s = *v;
      }
    }
    if (const Node& t = e["timeout"]) {
      auto v = t.IsScalar() ? parse_duration(std::string(t.Scalar())) : std::nullopt;
      if (!v || *v == 0 || *v > 3600) {
        error(t, "store.sync.etcd.timeout",
              "expected a duration from 1s to 1h such as 10s (one request to etcd)");
      } else {
        s.timeout_ms = *v * 1000;
      }
    }
  }

  /// store.sync.etcd.tls: { ca, cert, key, server_name } (https:// endpoints).
  void load_etcd_tls(const Node& e, EtcdSyncConfig& s) {
    const Node& t = e["tls"];
    if (!t) {
      return;
    }
    if (!check_map(t, "store.sync.etcd.tls", {"ca", "cert", "key", "server_name"})) {
      return;
    }
    if (!s.tls && !s.endpoints.empty()) {
      error(t, "store.sync.etcd.tls", "the endpoints are http: write them https://HOST:PORT");
    }
    const auto file = [&](const char* key, EtcdSyncConfig::File& f) {
      if (const Node& v = t[key]) {
        if (!v.IsScalar() || v.Scalar().empty()) {
          error(v, std::string("store.sync.etcd.tls.") + key, "expected the path of a PEM file");
        } else {
          f = {std::string(v.Scalar()), v.mark()};
        }
      }
    };
    file("ca", s.ca);
    file("cert", s.cert);
    file("key", s.key);
    if (t["cert"] && !t["key"]) {
      error(t["cert"], "store.sync.etcd.tls.cert", "needs key: the client certificate's key");
    } else if (t["key"] && !t["cert"]) {
      error(t["key"], "store.sync.etcd.tls.key", "needs cert: the client certificate");
    }
    if (const Node& v = t["server_name"]) {
      if (!v.IsScalar() || v.Scalar().empty()) {
        error(v, "store.sync.etcd.tls.server_name",
              "expected the host name (or IP address) the members' certificates carry");
      } else {
        s.server_name = std::string(v.Scalar());
      }
    }
  }

  void load_listen(const Node& root, Config& c) {
    load_addresses(root["listen"], "listen", c.listen);
  }

  /// http: { listen: [ADDR:PORT...] }: the metrics and health listener (backend/http).
  void load_http(const Node& root, Config& c) {
    const Node& n = root["http"];
    if (!n) {
      return;
    }
    if (!check_map(n, "http", {"listen", "api_keys_file", "max_body", "timeout"})) {
      return;
    }
    c.http.present = true;
    load_addresses(n["listen"], "http.listen", c.http.listen);
    if (const Node& k = n["api_keys_file"]) {
      if (!k.IsScalar() || k.Scalar().empty()) {
        error(k, "http.api_keys_file",
              "expected the path of the API key file (`mapctl api-key add NAME` writes it)");
      } else {
        c.http.api_keys_file = std::string(k.Scalar());
      }
    }
    if (const Node& b = n["max_body"]) {
      auto v = b.IsScalar() ? parse_size(std::string(b.Scalar())) : std::nullopt;
      if (!v || *v < 1024 || *v > (1ULL << 30)) {
        error(b, "http.max_body",
              "expected a size from 1KiB to 1GiB such as 16MiB (the largest API request body)");
      } else {
        c.http.max_body = *v;
      }
    }
    if (const Node& t = n["timeout"]) {
      auto v = t.IsScalar() ? parse_duration(std::string(t.Scalar())) : std::nullopt;
      if (!v || *v < 1 || *v > 3600) {
        error(t, "http.timeout",
              "expected a duration from 1s to 1h such as 30s (reading one request, then writing "
              "its answer)");
      } else {
        c.http.timeout_s = static_cast<std::uint32_t>(*v);
      }
    }
  }

  /// A list of ADDR:PORT at `key` into `out`.
  void load_addresses(const Node& n, const std::string& key, std::vector<std::string>& out) {
    if (!n) {
      return;
    }
    if (!n.IsSequence()) {
      error(n, key, "expected a list of ADDR:PORT such as 127.0.0.1:5353 or [::1]:5353");
      return;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string path = key + "[" + std::to_string(i) + "]";
      if (!n[i].IsScalar()) {
        error(n[i], path, "expected ADDR:PORT");
        continue;
      }
      const std::string s(n[i].Scalar());
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
        std::string host = colon == std::string::npos ? s : s.substr(0, colon);
        std::transform(host.begin(), host.end(), host.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        if (host == "localhost" || host == "localhost.") {
          // Not resolved: /etc/hosts decides whether it is 127.0.0.1, ::1 or both.
          error(n[i], path,
                "'" + s + "': names are not resolved, use 127.0.0.1:" + digits +
                    " or [::1]:" + digits + " (list both for both)");
        } else {
          error(n[i], path, "'" + s + "' is not ADDR:PORT (IPv6 as [::1]:5353)");
        }
        continue;
      }
      out.push_back(s);
    }
  }

  void load_tcp(const Node& root, Config& c) {
    const Node& n = root["tcp"];
    if (!n) {
      return;
    }
    if (!check_map(n, "tcp",
                   {"max_connections", "max_connections_per_client", "idle_timeout_ms",
                    "busy_idle_timeout_ms", "io_timeout_ms"})) {
      return;
    }
    // Each value with its own range; a zero timeout would close every connection at once.
    auto get = [&](const char* key, std::uint32_t& out, std::uint32_t min, std::uint32_t max) {
      const Node& v = n[key];
      if (!v) {
        return;
      }
      const std::string path = std::string("tcp.") + key;
      if (auto x = u32(v, path, max)) {
        if (*x < min) {
          error(v, path, "must be at least " + std::to_string(min));
        } else {
          out = *x;
        }
      }
    };
    get("max_connections", c.tcp.max_connections, 1, 65535);
    get("max_connections_per_client", c.tcp.max_connections_per_client, 0, 65535);
    get("idle_timeout_ms", c.tcp.idle_timeout_ms, 1, 3600000);
    get("busy_idle_timeout_ms", c.tcp.busy_idle_timeout_ms, 1, 3600000);
    get("io_timeout_ms", c.tcp.io_timeout_ms, 1, 3600000);
    if (c.tcp.max_connections_per_client > c.tcp.max_connections) {
      error(n["max_connections_per_client"], "tcp.max_connections_per_client",
            "is larger than tcp.max_connections (" + std::to_string(c.tcp.max_connections) + ")");
    }
  }

  void load_rrl(const Node& root, Config& c) {
    const Node& n = root["rrl"];
    if (!n) {
      return;
    }
    if (!check_map(n, "rrl",
                   {"responses_per_second", "slip", "ipv4_prefix", "ipv6_prefix", "whitelist",
                    "table_size"})) {
      return;
    }
    RrlConfig& r = c.rrl;
    r.present = true;
    if (n["responses_per_second"]) {
      if (auto v = u32(n["responses_per_second"], "rrl.responses_per_second", 1000000)) {
        if (*v == 0) {
          error(n["responses_per_second"], "rrl.responses_per_second",
                "must be at least 1 (remove the rrl: block to turn rate limiting off)");
        } else {
          r.responses_per_second = *v;
        }
      }
    }
    if (n["slip"]) {
      if (auto v = u32(n["slip"], "rrl.slip", 100)) {
        r.slip = *v;
      }
    }
    if (n["ipv4_prefix"]) {
      if (auto v = u32(n["ipv4_prefix"], "rrl.ipv4_prefix", 32)) {
        r.ipv4_prefix = static_cast<std::uint8_t>(*v);
      }
    }
    if (n["ipv6_prefix"]) {
      if (auto v = u32(n["ipv6_prefix"], "rrl.ipv6_prefix", 128)) {
        r.ipv6_prefix = static_cast<std::uint8_t>(*v);
      }
    }
    if (n["table_size"]) {
      if (auto v = u32(n["table_size"], "rrl.table_size", 1U << 26)) {
        if (*v == 0) {
          error(n["table_size"], "rrl.table_size", "must be at least 1");
        } else {
          r.table_size = *v;
        }
      }
    }
    const Node& wl = n["whitelist"];
    if (!wl) {
      return;
    }
    if (!wl.IsSequence()) {
      error(wl, "rrl.whitelist", "expected a list of client prefixes such as 192.0.2.0/24");
      return;
    }
    for (std::size_t i = 0; i < wl.size(); ++i) {
      const std::string path = "rrl.whitelist[" + std::to_string(i) + "]";
      if (!wl[i].IsScalar()) {
        error(wl[i], path, "expected a prefix such as 192.0.2.0/24 or 2001:db8::/32");
        continue;
      }
      const std::string_view text = wl[i].Scalar();
      auto parsed = dns::Prefix::parse(text);
      if (!parsed || text.find('/') == std::string_view::npos) {
        error(wl[i], path,
              "bad prefix '" + std::string(text) + "': " +
                  (parsed ? std::string("give its length (ADDR/LEN)")
                          : std::string(errc_message(parsed.error()))));
        continue;
      }
      r.whitelist.push_back(*parsed);
    }
  }

  void load_cookies(const Node& root, Config& c) {
    const Node& n = root["cookies"];
    if (!n || !check_map(n, "cookies", {"enabled", "secret_file", "rotate"})) {
      return;
    }
    CookiesConfig& k = c.cookies;
    k.present = true;
    if (n["enabled"]) {
      if (auto v = boolean(n["enabled"], "cookies.enabled")) {
        k.enabled = *v;
      }
    }
    if (n["secret_file"]) {
      if (!n["secret_file"].IsScalar() || n["secret_file"].Scalar().empty()) {
        error(n["secret_file"], "cookies.secret_file",
              "expected the path of a file holding 32 hex digits");
      } else {
        k.secret_file = std::string(n["secret_file"].Scalar());
      }
    }
    if (n["rotate"]) {
      if (auto v = u32(n["rotate"], "cookies.rotate")) {
        if (*v < 60) {
          error(n["rotate"], "cookies.rotate", "must be at least 60 (seconds)");
        } else {
          k.rotate = *v;
        }
      }
    }
  }

  void load_dnssec(const Node& root, Config& c) {
    const Node& n = root["dnssec"];
    if (!n || !check_map(n, "dnssec",
                         {"enabled", "algorithm", "keys", "validity", "inception_offset",
                          "cache_entries"})) {
      return;
    }
    DnssecConfig& d = c.dnssec;
    d.present = true;
    d.mark = n.mark();
    if (n["enabled"]) {
      if (auto v = boolean(n["enabled"], "dnssec.enabled")) {
        d.enabled = *v;
      }
    }
    if (const Node& a = n["algorithm"]) {
      const std::string_view text = a.IsScalar() ? a.Scalar() : std::string_view();
      if (dns::iequals(text, "ecdsap256sha256") || text == "13") {
        d.algorithm = 13;
      } else if (dns::iequals(text, "ed25519") || text == "15") {
        d.algorithm = 15;
      } else {
        error(a, "dnssec.algorithm", "expected ecdsap256sha256 (13) or ed25519 (15)");
      }
    }
    if (const Node& k = n["keys"]; !k || !k.IsScalar() || k.Scalar().empty()) {
      error(k ? k : n, "dnssec.keys",
            "required: the directory of the zone keys (mapctl key generate makes one)");
    } else {
      d.keys = std::string(k.Scalar());
    }
    auto duration = [&](const char* key, std::uint32_t& out, std::uint64_t min, std::uint64_t max) {
      const Node& v = n[key];
      if (!v) {
        return;
      }
      auto s = v.IsScalar() ? parse_duration(std::string(v.Scalar())) : std::nullopt;
      if (!s || *s < min || *s > max) {
        error(v, std::string("dnssec.") + key,
              "expected a duration such as 7d, 36h, 90m or a number of seconds, from " +
                  std::to_string(min) + " to " + std::to_string(max) + " s");
      } else {
        out = static_cast<std::uint32_t>(*s);
      }
    };
    duration("validity", d.validity, 2ULL * 3600, 90ULL * 86400);
    duration("inception_offset", d.inception_offset, 0, 86400);
    if (n["cache_entries"]) {
      if (auto v = u32(n["cache_entries"], "dnssec.cache_entries", 1U << 24)) {
        d.cache_entries = *v;
      }
    }
  }

  void load_log(const Node& root, Config& c) {
    const Node& n = root["log"];
    if (!n || !check_map(n, "log", {"level"})) {
      return;
    }
    if (const Node& l = n["level"]) {
      const std::string_view text = l.IsScalar() ? l.Scalar() : std::string_view();
      constexpr std::string_view kLevels[] = {"debug", "info", "notice", "warning", "error"};
      const auto* it = std::find(std::begin(kLevels), std::end(kLevels), text);
      if (it == std::end(kLevels)) {
        error(l, "log.level", "expected debug, info, notice, warning or error");
      } else {
        c.log_level = static_cast<LogLevel>(it - std::begin(kLevels));
      }
    }
  }

  void load_user(const Node& root, Config& c) {
    for (const char* key : {"user", "group"}) {
      const Node& n = root[key];
      if (!n) {
        continue;
      }
      if (!n.IsScalar() || n.Scalar().empty()) {
        error(n, key, std::string("expected the name of a system ") + key);
        continue;
      }
      (std::string_view(key) == "user" ? c.user : c.group) = std::string(n.Scalar());
    }
    if (!c.group.empty() && c.user.empty()) {
      error(root["group"], "group", "needs user: (the group applies when dropping to that user)");
    }
  }

  /// identity: { nsid, id, version }: each a string of printable ASCII, off while absent.
  /// pipe: { counters_dir: PATH }: where each `automapd pipe` coprocess keeps its line
  /// counters (backend/pipe/counters.h) for the /metrics of `serve` or `sync`.
  void load_pipe(const Node& root, Config& c) {
    const Node& n = root["pipe"];
    if (!n || !check_map(n, "pipe", {"counters_dir"})) {
      return;
    }
    if (const Node& d = n["counters_dir"]) {
      if (!d.IsScalar() || d.Scalar().empty() || d.Scalar().front() != '/') {
        error(d, "pipe.counters_dir",
              "expected an absolute directory path such as /run/automap/pipe (writable by the "
              "PowerDNS user, readable by automapd)");
      } else {
        c.pipe_counters_dir = std::string(d.Scalar());
      }
    }
  }

  void load_identity(const Node& root, Config& c) {
    const Node& n = root["identity"];
    if (!n || !check_map(n, "identity", {"nsid", "id", "version"})) {
      return;
    }
    const struct {
      const char* key;
      std::string* out;
      std::size_t max;
    } fields[] = {{"nsid", &c.identity.nsid, kMaxNsidBytes},
                  {"id", &c.identity.id, 255},
                  {"version", &c.identity.version, 255}};
    for (const auto& f : fields) {
      const Node& v = n[f.key];
      if (!v) {
        continue;
      }
      const std::string path = std::string("identity.") + f.key;
      const std::string_view text = v.IsScalar() ? v.Scalar() : std::string_view();
      const bool printable_ascii =
          std::all_of(text.begin(), text.end(), [](char ch) { return ch >= 0x20 && ch < 0x7F; });
      if (!v.IsScalar() || text.empty() || text.size() > f.max || !printable_ascii) {
        error(v, path, "expected 1 to " + std::to_string(f.max) + " characters of printable ASCII");
        continue;
      }
      *f.out = std::string(text);
    }
  }

  std::string file_;
  Diagnostics& errors_;
  const LoadOptions& options_;
  StreamedPrefixes* streamed_;
};

/// Checks the batches of a streamed `prefixes:` list on a second thread, in order, while
/// yaml-cpp parses the rest of the file on the calling thread (its scanner is most of the
/// load time). The hand-off is a short bounded queue of whole batches. A list of one batch
/// is checked on the calling thread: small files start no thread.
class PrefixStream {
 public:
  PrefixStream(const std::string& file, const LoadOptions& options)
      : loader_(file, result_.errors, options) {}
  PrefixStream(const PrefixStream&) = delete;
  PrefixStream& operator=(const PrefixStream&) = delete;
  ~PrefixStream() { stop(/*drop=*/true); }  // after a parse error: what is queued is moot

  /// From the parser thread.
  void push(std::unique_ptr<Document> batch, bool last) {
    if (!worker_.joinable()) {
      if (!last && !no_thread_) {
        try {
          worker_ = std::thread([this] { run(); });
        } catch (const std::system_error&) {
          no_thread_ = true;  // then every batch is checked here
        }
      }
      if (!worker_.joinable()) {
        check(*batch);
        return;
      }
    }
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return queue_.size() < kMaxQueued; });
    queue_.push_back(std::move(batch));
    cv_.notify_all();
  }

  /// Once the parse is over: waits for the checks of every batch pushed.
  StreamedPrefixes finish() {
    stop(/*drop=*/false);
    if (failure_) {
      std::rethrow_exception(failure_);
    }
    return std::move(result_);
  }

 private:
  static constexpr std::size_t kMaxQueued = 8;

  void check(const Document& batch) {
    for (std::size_t i = 0; i < batch.items(); ++i) {
      loader_.add_prefix(batch.item(i), result_.list);
    }
  }

  void run() {
    for (;;) {
      std::unique_ptr<Document> batch;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) {
          return;
        }
        batch = std::move(queue_.front());
        queue_.pop_front();
        cv_.notify_all();
      }
      if (!failure_) {
        try {
          check(*batch);
        } catch (...) {
          failure_ = std::current_exception();  // read after join
        }
      }
    }
  }

  void stop(bool drop) {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      if (drop) {
        queue_.clear();
      }
    }
    cv_.notify_all();
    if (worker_.joinable()) {
      worker_.join();
    }
  }

  StreamedPrefixes result_;  // the worker's (or the calling thread's) until finish()
  Loader loader_;
  std::exception_ptr failure_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Document>> queue_;  // guarded by mu_
  bool closed_ = false;                          // guarded by mu_
  std::thread worker_;
  bool no_thread_ = false;
};

/// An istream over a string the caller keeps, without the copy std::istringstream makes.
class TextBuf : public std::streambuf {
 public:
  explicit TextBuf(const std::string& text) {
    char* begin = const_cast<char*>(text.data());  // only read: no put area is set
    setg(begin, begin, begin + text.size());
  }
};

/// What a path is, when it is not a file the loader reads ("" for a regular file or a pipe).
std::string not_a_config_file(mode_t mode) {
  if (S_ISREG(mode) || S_ISFIFO(mode)) {
    return "";
  }
  if (S_ISDIR(mode)) {
    return "is a directory";
  }
  if (S_ISCHR(mode)) {
    return "is a character device (a terminal, /dev/zero...), not a file: give a file or a pipe";
  }
  if (S_ISBLK(mode)) {
    return "is a block device, not a file";
  }
  if (S_ISSOCK(mode)) {
    return "is a socket, not a file";
  }
  return "is not a regular file";
}

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

std::string mib_text(std::size_t bytes) {
  return std::to_string(bytes >> 20) + " MiB";
}

/// A pipe or FIFO, read as a stream: each read waits at most `idle` for data, so a FIFO that
/// no writer ever opens (or one that stalls) ends in an error instead of blocking forever.
/// The descriptor is non-blocking; poll() on a FIFO opened that way reports nothing until a
/// writer has come, then data or the end once it has gone.
std::string read_stream(int fd, const LoadOptions& options, std::string& text) {
  std::array<char, 1 << 16> chunk;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(options.stream_idle_timeout.count()));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready < 0) {
      return "cannot read: " + errno_text(errno);
    }
    if (ready == 0) {
      return "a pipe that gave no data for " + std::to_string(options.stream_idle_timeout.count()) +
             " ms (" + std::to_string(text.size()) + " bytes read; is anything writing to it?)";
    }
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      continue;
    }
    if (n < 0) {
      return "cannot read: " + errno_text(errno);
    }
    if (n == 0) {
      return "";
    }
    if (text.size() + static_cast<std::size_t>(n) > options.max_bytes) {
      return "larger than the limit of " + mib_text(options.max_bytes) + " for a configuration";
    }
    text.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

/// A regular file of `size` bytes at open. Reads at most one byte more: a file that grows,
/// shrinks or is rewritten while it is read is an error, never a mix of two versions.
std::string read_regular(int fd, const struct stat& at_open, const LoadOptions& options,
                         std::string& text) {
  const auto size = static_cast<std::size_t>(at_open.st_size);
  if (size > options.max_bytes) {
    return "is " + std::to_string(size) + " bytes, larger than the limit of " +
           mib_text(options.max_bytes) + " for a configuration";
  }
  text.resize(size + 1);
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return "cannot read: " + errno_text(errno);
    }
    if (n == 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  struct stat now {};
  const bool same = got == size && ::fstat(fd, &now) == 0 && now.st_size == at_open.st_size &&
                    now.st_mtim.tv_sec == at_open.st_mtim.tv_sec &&
                    now.st_mtim.tv_nsec == at_open.st_mtim.tv_nsec;
  if (!same) {
    return "changed while it was read (" + std::to_string(size) + " bytes at open, " +
           (got > size ? "more" : std::to_string(got)) +
           " read): load it again once it is written whole (write a new file and rename it "
           "over the old one)";
  }
  text.resize(size);
  return "";
}

}  // namespace

namespace {
std::string read_file_or_why(const std::string& path, const LoadOptions& options,
                             std::string& text) {
  text.clear();
  // stat first: a device is refused without being opened (opening one can have effects).
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return "cannot open: " + errno_text(errno);
  }
  if (std::string what = not_a_config_file(st.st_mode); !what.empty()) {
    return what;
  }
  // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return "cannot open: " + errno_text(errno);
  }
  std::string why;
  if (::fstat(fd, &st) != 0) {
    why = "cannot read: " + errno_text(errno);
  } else if (why = not_a_config_file(st.st_mode); why.empty()) {  // replaced since stat()
    why =
        S_ISFIFO(st.st_mode) ? read_stream(fd, options, text) : read_regular(fd, st, options, text);
  }
  ::close(fd);
  if (!why.empty()) {
    text.clear();
  }
  return why;
}
}  // namespace

bool read_config_file(const std::string& path, const LoadOptions& options, std::string& text,
                      Diagnostics& diagnostics) {
  std::string why = read_file_or_why(path, options, text);
  if (why.empty()) {
    return true;
  }
  diagnostics.error(path, {}, "", std::move(why));
  return false;
}

LoadResult load_text(const std::string& text, const std::string& file, const LoadOptions& options) {
  LoadResult r;
  r.config.file = file;
  std::uint64_t digest = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (const char ch : text) {
    digest = (digest ^ static_cast<unsigned char>(ch)) * 0x100000001b3ULL;
  }
  r.config.digest = digest != 0 ? digest : 1;
  try {
    TextBuf buf(text);
    std::istream in(&buf);
    YAML::Parser parser(in);
    Document doc;
    PrefixStream stream(file, options);
    // Without anchors (no '&' at all) no alias can reach from one batch into another.
    if (text.find('&') == std::string::npos) {
      doc.stream_prefixes(
          [&](std::unique_ptr<Document> batch, bool last) { stream.push(std::move(batch), last); });
    }
    std::string_view source(text);
    if (source.substr(0, 3) == "\xEF\xBB\xBF") {
      source.remove_prefix(3);  // yaml-cpp's positions start after a UTF-8 byte order mark
    }
    doc.set_source(source);
    parser.HandleNextDocument(doc);
    SecondDocument second;
    parser.HandleNextDocument(second);  // throws at the start of one
    StreamedPrefixes streamed = stream.finish();
    Loader(file, r.errors, options, &streamed).load(doc.root(), r.config);
  } catch (const YAML::Exception& e) {
    r.errors.error(file, Mark{e.mark.line + 1, e.mark.column + 1}, "", e.msg);
  }
  return r;
}

void check_etcd_files(const Config& c, Diagnostics& diagnostics) {
  const EtcdSyncConfig& e = c.store.etcd;
  if (!e.present) {
    return;
  }
  const std::pair<const EtcdSyncConfig::File*, const char*> files[] = {
      {&e.ca, "store.sync.etcd.tls.ca"},
      {&e.cert, "store.sync.etcd.tls.cert"},
      {&e.key, "store.sync.etcd.tls.key"},
      {&e.password_file, "store.sync.etcd.password_file"}};
  for (const auto& [f, path] : files) {
    if (f->path.empty()) {
      continue;
    }
    struct stat st {};
    const int fd = ::open(f->path.c_str(), O_RDONLY | O_CLOEXEC);
    std::string why;
    if (fd < 0) {
      why = std::strerror(errno);
    } else if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      why = "not a regular file";
    }
    if (fd >= 0) {
      ::close(fd);
    }
    if (!why.empty()) {
      diagnostics.error(c.file, f->mark, path, f->path + ": cannot read: " + why);
    }
  }
}

LoadResult load_file(const std::string& path, const LoadOptions& options) {
  std::string text;
  LoadResult r;
  if (!read_config_file(path, options, text, r.errors)) {
    r.config.file = path;
    return r;
  }
  return load_text(text, path, options);
}

}  // namespace amap::config
