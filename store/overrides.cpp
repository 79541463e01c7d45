// SPDX-License-Identifier: MIT
#include "store/overrides.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <utility>

namespace amap::store {

using format::DecodeError;

std::string_view to_string(OverrideKind k) noexcept {
  switch (k) {
    case OverrideKind::name:
      return "name";
    case OverrideKind::name_template:
      return "template";
    case OverrideKind::none:
      return "none";
  }
  return "unknown";
}

// ------------------------------------------------------------------------------------ Change

Change Change::put_address(const dns::IpAddress& a, Override v) {
  return {Op::put, false, dns::Prefix{a, static_cast<std::uint8_t>(a.bits())}, std::move(v)};
}
Change Change::put_prefix(const dns::Prefix& p, Override v) {
  return {Op::put, true, p, std::move(v)};
}
Change Change::erase_address(const dns::IpAddress& a) {
  return {Op::erase, false, dns::Prefix{a, static_cast<std::uint8_t>(a.bits())}, {}};
}
Change Change::erase_prefix(const dns::Prefix& p) {
  return {Op::erase, true, p, {}};
}

// ------------------------------------------------------------------------------------ decoding

DecodeError decode_override(Bytes value, OverrideView& out, bool& deleted) noexcept {
  format::Header h;
  Bytes payload;
  if (const DecodeError e = format::decode_header(value, h, payload); e != DecodeError::ok) {
    return e;
  }
  deleted = h.deleted();
  if (deleted) {
    return DecodeError::ok;  // tombstone: payload is empty and ignored
  }
  if (payload.empty()) {
    return DecodeError::truncated_payload;
  }
  if (payload[0] != format::kPayloadVersion) {
    return DecodeError::unsupported_payload_version;
  }
  if (payload.size() < format::kOverridePayloadFixed) {
    return DecodeError::truncated_payload;
  }
  const std::uint8_t kind = payload[1];
  if (kind < static_cast<std::uint8_t>(OverrideKind::name) ||
      kind > static_cast<std::uint8_t>(OverrideKind::none)) {
    return DecodeError::bad_kind;
  }
  out.kind = static_cast<OverrideKind>(kind);
  out.ttl = format::load_be32(payload.data() + 2);
  const Bytes text = payload.subspan(format::kOverridePayloadFixed);
  out.target = std::string_view(reinterpret_cast<const char*>(text.data()), text.size());
  out.timestamp_ns = h.timestamp_ns;
  return DecodeError::ok;
}

namespace {

/// Decodes a meta or name-index value: header, then version byte, then data.
DecodeError decode_simple(Bytes value, Bytes& data, bool& deleted) noexcept {
  format::Header h;
  Bytes payload;
  if (const DecodeError e = format::decode_header(value, h, payload); e != DecodeError::ok) {
    return e;
  }
  deleted = h.deleted();
  if (deleted) {
    return DecodeError::ok;
  }
  if (payload.empty()) {
    return DecodeError::truncated_payload;
  }
  if (payload[0] != format::kPayloadVersion) {
    return DecodeError::unsupported_payload_version;
  }
  data = payload.subspan(1);
  return DecodeError::ok;
}

[[noreturn]] void throw_decode(std::string_view db, Bytes key, DecodeError e) {
  throw StoreError("override store: \"" + std::string(db) + "\" entry " + format::key_text(key) +
                       ": " + std::string(format::decode_error_message(e)),
                   MDB_CORRUPTED);
}

/// Lower-cased wire form of a name, the key of the "name" database.
std::size_t name_key(const dns::Name& n, std::uint8_t* out) noexcept {
  const auto wire = n.wire();
  for (std::size_t i = 0; i < wire.size(); ++i) {
    out[i] = dns::ascii_lower(wire[i]);
  }
  return wire.size();
}

std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string_view meta_lengths_key(dns::Family f) noexcept {
  return f == dns::Family::v4 ? format::kMetaPrefixLengths4 : format::kMetaPrefixLengths6;
}

bool bitmap_has(Bytes bitmap, unsigned len) noexcept {
  const std::size_t byte = len / 8;
  return byte < bitmap.size() && ((bitmap[byte] >> (7 - len % 8)) & 1U) != 0;
}

/// Validates a put and returns the value as it should be stored (canonical name text).
Override normalize(const Override& v) {
  Override out = v;
  switch (v.kind) {
    case OverrideKind::name: {
      auto n = dns::Name::from_text(v.target);
      if (!n) {
        throw StoreError("override target \"" + v.target +
                         "\" is not a valid DNS name: " + std::string(errc_message(n.error())));
      }
      if (n->is_root()) {
        throw StoreError("override target must not be the root name");
      }
      out.target = n->to_string(true);
      break;
    }
    case OverrideKind::name_template:
      if (v.target.empty()) {
        throw StoreError("override template is empty");
      }
      break;
    case OverrideKind::none:
      out.target.clear();
      break;
    default:
      throw StoreError("override has an unknown kind");
  }
  if (out.target.size() > format::kMaxTargetText) {
    throw StoreError("override target is longer than " + std::to_string(format::kMaxTargetText) +
                     " characters");
  }
  return out;
}

void check_prefix(const dns::Prefix& p) {
  if (p.length > p.address.bits()) {
    throw StoreError("prefix " + p.address.to_string() + "/" + std::to_string(p.length) + ": " +
                     std::string(errc_message(Errc::bad_prefix_length)));
  }
  if (p.address.masked(p.length) != p.address) {
    throw StoreError("prefix " + p.to_string() + ": " +
                     std::string(errc_message(Errc::host_bits_set)));
  }
}

/// A read txn inside the remap gate, adopting a map grown by another process when needed.
class ScopedRead {
 public:
  explicit ScopedRead(const OverrideDb& db) : gate_(db.gate()) {
    int rc = ReadTxn::try_begin(db.env(), txn_);
    if (rc == MDB_MAP_RESIZED) {
      gate_.leave();
      const_cast<OverrideDb&>(db).adopt_map_size();  // NOLINT
      gate_.enter();
      rc = ReadTxn::try_begin(db.env(), txn_);
    }
    if (rc != 0) {
      throw_lmdb("mdb_txn_begin(read-only) (" + db.env().path() + ")", rc);
    }
  }
  const ReadTxn& txn() const noexcept { return txn_; }

 private:
  GateScope gate_;  // declared first: left after the txn is gone
  ReadTxn txn_;
};

/// LMDB's default key order (mdb_cmp_memn): bytes, then the shorter key first.
bool lmdb_key_less(Bytes a, Bytes b) noexcept {
  const int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  return c != 0 ? c < 0 : a.size() < b.size();
}

/// The largest key of a database as a write transaction sees it, kept current by the writer
/// so that keys beyond it can be written with MDB_APPEND: LMDB then fills pages left to right
/// instead of searching, splitting and dirtying pages all over the tree. Tracking pays off
/// only for writes in ascending key order (an import into an empty store); otherwise a key
/// falls at or below the tail and takes the ordinary path.
class Tail {
 public:
  /// True if `key` sorts after every key in the database, which then has `key` as its last.
  bool extend(WriteTxn& txn, Dbi dbi, Bytes key) {
    if (!known_) {
      Cursor c = Cursor::open(txn.get(), dbi);
      if (c.last()) {
        // A last key longer than any we write (Lightning Stream, corruption): never append.
        unusable_ = c.key().size() > key_.size();
        if (!unusable_) {
          remember(c.key());
        }
      }
      known_ = true;
    }
    if (unusable_ || key.size() > key_.size() ||
        (len_ != 0 && !lmdb_key_less(Bytes(key_.data(), len_), key))) {
      return false;
    }
    remember(key);
    return true;
  }

 private:
  void remember(Bytes key) noexcept {
    len_ = key.size();
    std::memcpy(key_.data(), key.data(), len_);
  }

  bool known_ = false;
  bool unusable_ = false;  // the last key is longer than any key we write
  std::size_t len_ = 0;    // 0: the database is empty
  std::array<std::uint8_t, dns::Name::kMaxWire> key_{};
};

/// One side of a possible template collision: a prefix override or a configured prefix.
struct TemplateOwner {
  const mapper::Template* name = nullptr;
  dns::Prefix prefix;
  const std::string* origin = nullptr;  // a configured prefix; nullptr for an override
  bool written = false;                 // changed (or, for config, uncovered) by this write
  std::uint64_t seq = 0;

  std::string describe() const {
    return origin != nullptr ? "the configured prefix " + prefix.to_string() + " (" + *origin + ")"
                             : "the override " + prefix.to_string();
  }
};

/// Groups the owners by (family, template text) and calls report(owner, other) for every
/// colliding pair (mapper::templates_collide) worth reporting: with `only_written`, each
/// written owner against the first of its group, which is an unwritten one when there is
/// one, else the earliest written; without, every member against the first.
template <class Report>
void for_each_collision(std::vector<TemplateOwner>& owners, bool only_written, Report&& report) {
  std::sort(owners.begin(), owners.end(), [](const TemplateOwner& a, const TemplateOwner& b) {
    const auto fa = a.prefix.family();
    const auto fb = b.prefix.family();
    if (fa != fb) {
      return fa < fb;
    }
    if (const int c = a.name->text().compare(b.name->text()); c != 0) {
      return c < 0;
    }
    if (a.written != b.written) {
      return !a.written;  // stored and configured first
    }
    if ((a.origin != nullptr) != (b.origin != nullptr)) {
      return a.origin != nullptr;  // the configuration first: overrides are reported against it
    }
    if (a.seq != b.seq) {
      return a.seq < b.seq;
    }
    return a.prefix.address < b.prefix.address ||
           (a.prefix.address == b.prefix.address && a.prefix.length < b.prefix.length);
  });
  for (std::size_t first = 0; first < owners.size();) {
    std::size_t end = first + 1;
    while (end < owners.size() && owners[end].prefix.family() == owners[first].prefix.family() &&
           owners[end].name->text() == owners[first].name->text()) {
      ++end;
    }
    for (std::size_t k = first + 1; k < end; ++k) {
      if ((!only_written || owners[k].written) &&
          mapper::templates_collide(*owners[first].name, *owners[k].name)) {
        report(owners[k], owners[first]);
      }
    }
    first = end;
  }
}

/// A stored template compiled for the collision rule (which reads only the text, the family
/// and whether it is self-contained: no sample addresses needed). Empty if it does not
/// compile (the servers ignore such an override) or is self-contained (never collides).
std::optional<mapper::Template> collision_candidate(std::string_view text, const dns::Prefix& p) {
  auto t = mapper::Template::compile(text, p, /*samples=*/0);
  if (!t || t->self_contained()) {
    return std::nullopt;
  }
  return std::move(*t);
}

/// All the writes of one transaction: one timestamp, the txn id in every header, tombstones
/// for deletes, the name index and the prefix-length bitmaps kept consistent.
///
/// Changes to the name index are collected while addresses are written and applied in
/// finish(), sorted by name: the address pass writes `addr` in address order, the name pass
/// writes `name` in name order, so both trees are written front to back (appended when the
/// keys lie beyond their end). Applying them later gives the same result as applying each at
/// once: an index entry depends only on the earlier changes to the same name, and the sort
/// is stable per name.
class TxnWriter {
 public:
  TxnWriter(const OverrideDb& db, WriteTxn& txn, const WriteRules& rules)
      : d_(db.dbis()), txn_(txn), rules_(rules), ts_(now_ns()), id_(txn.id()) {}

  void put_address(const dns::IpAddress& a, const Override& raw, std::uint64_t seq = 0) {
    seq_ = seq;
    std::array<std::uint8_t, format::kMaxAddressKey> key{};
    const Bytes k(key.data(), format::address_key(a, key.data()));
    const OverrideKind kind = raw.kind;
    std::string_view target;
    std::array<std::uint8_t, dns::Name::kMaxWire> nkey{};
    std::size_t nkey_len = 0;
    if (kind == OverrideKind::name) {
      const dns::Name n = checked_name(raw.target);
      target = canonical(n);
      nkey_len = name_key(n, nkey.data());
    } else {
      target = checked_target(raw);
    }
    if (addr_tail_.extend(txn_, d_.addr, k)) {
      write_override(d_.addr, k, kind, raw.ttl, target, MDB_APPEND);  // nothing to replace
    } else {
      const std::optional<Override> old = get_live(d_.addr, "addr", k);
      if (old && old->kind == OverrideKind::name &&
          !(kind == OverrideKind::name && dns::iequals(old->target, target))) {
        if (const auto n = dns::Name::from_text(old->target)) {
          std::array<std::uint8_t, dns::Name::kMaxWire> okey{};
          name_op(NameOp::drop, Bytes(okey.data(), name_key(*n, okey.data())), k);
        }
      }
      write_override(d_.addr, k, kind, raw.ttl, target, 0);
    }
    if (kind == OverrideKind::name) {
      name_op(NameOp::put, Bytes(nkey.data(), nkey_len), k);
    }
  }

  bool erase_address(const dns::IpAddress& a, std::uint64_t seq = 0) {
    seq_ = seq;
    std::array<std::uint8_t, format::kMaxAddressKey> key{};
    const Bytes k(key.data(), format::address_key(a, key.data()));
    const std::optional<Override> old = get_live(d_.addr, "addr", k);
    if (!old) {
      return false;
    }
    write_value(d_.addr, k, format::kFlagDeleted, {});
    if (old->kind == OverrideKind::name) {
      if (const auto n = dns::Name::from_text(old->target)) {
        std::array<std::uint8_t, dns::Name::kMaxWire> nkey{};
        name_op(NameOp::drop, Bytes(nkey.data(), name_key(*n, nkey.data())), k);
      }
    }
    return true;
  }

  void put_prefix(const dns::Prefix& p, const Override& raw, std::uint64_t seq = 0) {
    check_prefix(p);
    const Override v = normalize(raw);
    std::array<std::uint8_t, format::kMaxPrefixKey> key{};
    const Bytes k(key.data(), format::prefix_key(p.address, p.length, key.data()));
    write_override(d_.prefix, k, v.kind, v.ttl, v.target, 0);
    touch(p.family());
    written_prefixes_.emplace_back(p, seq);
  }

  bool erase_prefix(const dns::Prefix& p, std::uint64_t seq = 0) {
    check_prefix(p);
    written_prefixes_.emplace_back(p, seq);
    std::array<std::uint8_t, format::kMaxPrefixKey> key{};
    const Bytes k(key.data(), format::prefix_key(p.address, p.length, key.data()));
    if (!get_live(d_.prefix, "prefix", k)) {
      return false;
    }
    write_value(d_.prefix, k, format::kFlagDeleted, {});
    touch(p.family());
    return true;
  }

  /// Applies the collected name-index changes and rewrites the prefix-length bitmaps of the
  /// families whose prefixes changed. Throws WriteConflictError when the writes broke the
  /// WriteRules (the caller then aborts the transaction).
  void finish() {
    flush_names();
    check_template_collisions();
    if (!conflicts_.empty()) {
      throw WriteConflictError(std::move(conflicts_));
    }
    if (touched4_) {
      rebuild_lengths(dns::Family::v4);
    }
    if (touched6_) {
      rebuild_lengths(dns::Family::v6);
    }
    if (touched4_ || touched6_) {
      bump_prefix_generation();
    }
    record_last_change();
  }

  /// format::kMetaLastChange: max(previous + 1, now) seconds, so that it rises with every
  /// commit even within one second, and the writer's config digest.
  void record_last_change() {
    const Bytes key = format::as_bytes(format::kMetaLastChange);
    std::uint64_t seconds = 0;
    std::uint64_t digest = 0;
    if (auto cur = txn_.find(d_.meta, key)) {
      Bytes data;
      bool deleted = false;
      if (decode_simple(*cur, data, deleted) == DecodeError::ok && !deleted && data.size() == 16) {
        seconds = format::load_be64(data.data()) + 1;
        digest = format::load_be64(data.data() + 8);
      }
    }
    seconds = std::max<std::uint64_t>(seconds, ts_ / 1000000000U);
    if (rules_.config_digest != 0) {
      digest = rules_.config_digest;
    }
    std::array<std::uint8_t, 17> payload{};
    payload[0] = format::kPayloadVersion;
    format::store_be64(payload.data() + 1, seconds);
    format::store_be64(payload.data() + 9, digest);
    write_value(d_.meta, key, 0, Bytes(payload.data(), payload.size()));
  }

  void bump_prefix_generation() {
    const Bytes key = format::as_bytes(format::kMetaPrefixGeneration);
    std::uint64_t generation = 0;
    if (auto cur = txn_.find(d_.meta, key)) {
      Bytes data;
      bool deleted = false;
      if (decode_simple(*cur, data, deleted) == DecodeError::ok && !deleted && data.size() == 8) {
        generation = format::load_be64(data.data());
      }
    }
    std::array<std::uint8_t, 9> payload{};
    payload[0] = format::kPayloadVersion;
    format::store_be64(payload.data() + 1, generation + 1);
    write_value(d_.meta, key, 0, Bytes(payload.data(), payload.size()));
  }

  void rebuild_lengths(dns::Family f) {
    const std::size_t size = f == dns::Family::v4 ? format::kLengthBitmap4 : format::kLengthBitmap6;
    std::array<std::uint8_t, 1 + format::kLengthBitmap6> payload{};
    payload[0] = format::kPayloadVersion;
    std::uint8_t* bitmap = payload.data() + 1;
    {
      Cursor c = Cursor::open(txn_.get(), d_.prefix);
      const std::uint8_t start = static_cast<std::uint8_t>(f);
      for (bool ok = c.seek(Bytes(&start, 1)); ok && c.key()[0] == start; ok = c.next()) {
        dns::Prefix p;
        if (!format::parse_prefix_key(c.key(), p)) {
          throw_decode("prefix", c.key(), DecodeError::bad_key);
        }
        OverrideView view;
        bool deleted = false;
        if (const DecodeError e = decode_override(c.value(), view, deleted); e != DecodeError::ok) {
          throw_decode("prefix", c.key(), e);
        }
        if (!deleted) {
          bitmap[p.length / 8] |= static_cast<std::uint8_t>(0x80U >> (p.length % 8));
        }
      }
    }
    const Bytes key = format::as_bytes(meta_lengths_key(f));
    const Bytes fresh(payload.data(), 1 + size);
    if (auto cur = txn_.find(d_.meta, key)) {
      Bytes data;
      bool deleted = false;
      if (decode_simple(*cur, data, deleted) == DecodeError::ok && !deleted &&
          data.size() == size && std::memcmp(data.data(), bitmap, size) == 0) {
        return;  // unchanged
      }
    }
    write_value(d_.meta, key, 0, fresh);
  }

  void write_value(Dbi dbi, Bytes key, std::uint8_t flags, Bytes payload, unsigned put_flags = 0) {
    buf_.resize(format::kHeaderSize + payload.size());
    format::encode_header(buf_.data(), ts_, id_, flags);
    if (!payload.empty()) {
      std::memcpy(buf_.data() + format::kHeaderSize, payload.data(), payload.size());
    }
    txn_.put(dbi, key, Bytes(buf_.data(), buf_.size()), put_flags);
  }

 private:
  /// A pending change to the name index: `put` points the name at the address; `drop`
  /// tombstones the name if it still points at the address (another address may have taken
  /// it over since). The name key and then the address key are kept in names_.
  static constexpr std::size_t kHeadBytes = 16;
  struct NameOp {
    enum Kind : std::uint8_t { put, drop };
    // The name key's first 16 bytes as big-endian numbers, zero-padded: sorting compares
    // these and reads names_ (at random, slow) only for two longer names with equal heads.
    std::array<std::uint64_t, 2> head{};
    std::uint64_t offset = 0;  // into names_
    std::uint64_t order = 0;   // Change::seq of the write: the latest write wins the name
    std::uint32_t seq = 0;     // order of arrival, to keep changes to one name in order
    std::uint8_t name_len = 0;
    std::uint8_t addr_len = 0;
    Kind kind = put;
  };

  void touch(dns::Family f) noexcept { (f == dns::Family::v4 ? touched4_ : touched6_) = true; }

  /// A name target, validated as normalize() does.
  static dns::Name checked_name(std::string_view text) {
    auto n = dns::Name::from_text(text);
    if (!n) {
      throw StoreError("override target \"" + std::string(text) +
                       "\" is not a valid DNS name: " + std::string(errc_message(n.error())));
    }
    if (n->is_root()) {
      throw StoreError("override target must not be the root name");
    }
    return *n;
  }

  /// The canonical text of a name (trailing dot), in a buffer reused for every put.
  std::string_view canonical(const dns::Name& n) {
    text_.resize(dns::Name::kMaxText);
    text_.resize(n.to_text(text_.data(), text_.size(), true));
    check_length(text_);
    return text_;
  }

  /// The stored target of a template or none override (names use checked_name).
  std::string_view checked_target(const Override& v) {
    switch (v.kind) {
      case OverrideKind::name_template:
        if (v.target.empty()) {
          throw StoreError("override template is empty");
        }
        check_length(v.target);
        return v.target;
      case OverrideKind::none:
        return {};
      default:
        throw StoreError("override has an unknown kind");
    }
  }

  static void check_length(std::string_view target) {
    if (target.size() > format::kMaxTargetText) {
      throw StoreError("override target is longer than " + std::to_string(format::kMaxTargetText) +
                       " characters");
    }
  }

  void write_override(Dbi dbi, Bytes key, OverrideKind kind, std::uint32_t ttl,
                      std::string_view target, unsigned put_flags) {
    buf_.assign(format::kHeaderSize + format::kOverridePayloadFixed + target.size(), 0);
    format::encode_header(buf_.data(), ts_, id_, 0);
    std::uint8_t* p = buf_.data() + format::kHeaderSize;
    p[0] = format::kPayloadVersion;
    p[1] = static_cast<std::uint8_t>(kind);
    format::store_be32(p + 2, ttl);
    if (!target.empty()) {
      std::memcpy(p + format::kOverridePayloadFixed, target.data(), target.size());
    }
    txn_.put(dbi, key, Bytes(buf_.data(), buf_.size()), put_flags);
  }

  /// The live value under key, copied (views into a write txn may move on the next put).
  std::optional<Override> get_live(Dbi dbi, std::string_view db, Bytes key) {
    const auto raw = txn_.find(dbi, key);
    if (!raw) {
      return std::nullopt;
    }
    OverrideView view;
    bool deleted = false;
    if (const DecodeError e = decode_override(*raw, view, deleted); e != DecodeError::ok) {
      throw_decode(db, key, e);
    }
    if (deleted) {
      return std::nullopt;
    }
    return view.to_override();
  }

  void name_op(NameOp::Kind kind, Bytes name, Bytes addr) {
    NameOp op;
    std::array<std::uint8_t, kHeadBytes> head{};
    std::memcpy(head.data(), name.data(), std::min(kHeadBytes, name.size()));
    op.head = {format::load_be64(head.data()), format::load_be64(head.data() + 8)};
    op.offset = names_.size();
    op.seq = static_cast<std::uint32_t>(name_ops_.size());
    op.order = seq_;
    op.name_len = static_cast<std::uint8_t>(name.size());
    op.addr_len = static_cast<std::uint8_t>(addr.size());
    op.kind = kind;
    names_.insert(names_.end(), name.begin(), name.end());
    names_.insert(names_.end(), addr.begin(), addr.end());
    name_ops_.push_back(op);
  }

  Bytes op_name(const NameOp& op) const noexcept {
    return {names_.data() + op.offset, op.name_len};
  }
  Bytes op_addr(const NameOp& op) const noexcept {
    return {names_.data() + op.offset + op.name_len, op.addr_len};
  }

  /// Compares two names in LMDB's key order: <0, 0, >0.
  int compare_names(const NameOp& a, const NameOp& b) const noexcept {
    if (a.head != b.head) {
      return a.head < b.head ? -1 : 1;  // zero padding keeps this consistent with LMDB's order
    }
    if (a.name_len > kHeadBytes && b.name_len > kHeadBytes) {
      const std::size_t n = std::min(a.name_len, b.name_len) - kHeadBytes;
      if (const int c =
              std::memcmp(op_name(a).data() + kHeadBytes, op_name(b).data() + kHeadBytes, n);
          c != 0) {
        return c;
      }
    }
    // Equal heads and one name no longer than a head: it is a prefix of the other.
    return static_cast<int>(a.name_len) - static_cast<int>(b.name_len);
  }

  /// Applies the pending name-index changes in name order, one write per name.
  void flush_names() {
    std::sort(name_ops_.begin(), name_ops_.end(), [this](const NameOp& a, const NameOp& b) {
      const int c = compare_names(a, b);
      if (c != 0) {
        return c < 0;
      }
      return a.order != b.order ? a.order < b.order : a.seq < b.seq;
    });
    std::array<std::uint8_t, 1 + format::kMaxAddressKey> payload{};
    payload[0] = format::kPayloadVersion;
    constexpr std::size_t kAhead = 16;  // names_ is in address order, read in name order
    for (std::size_t i = 0; i < name_ops_.size();) {
      const NameOp& first = name_ops_[i];
      const Bytes name = op_name(first);
      const bool beyond = name_tail_.extend(txn_, d_.name, name);
      // The entry as the ops leave it: which address owns the name (empty: nobody). Read
      // from the store only when a drop or the shared-name rule needs to know.
      bool loaded = beyond;
      Bytes owner;
      bool dirty = false;
      // Every address that gives the name once the ops are done, for the shared-name rule.
      holders_.clear();
      if (!loaded && !rules_.allow_shared_names) {
        owner = stored_owner(name);
        loaded = true;
        if (!owner.empty()) {
          holders_.push_back(Holder{owner, 0, false});
        }
      }
      for (; i < name_ops_.size(); ++i) {
        if (i + kAhead < name_ops_.size()) {
          __builtin_prefetch(names_.data() + name_ops_[i + kAhead].offset);
        }
        const NameOp& op = name_ops_[i];
        if (compare_names(op, first) != 0) {
          break;
        }
        const Bytes addr = op_addr(op);
        auto held = std::find_if(holders_.begin(), holders_.end(), [&](const Holder& h) {
          return h.addr.size() == addr.size() &&
                 std::memcmp(h.addr.data(), addr.data(), addr.size()) == 0;
        });
        if (op.kind == NameOp::put) {
          if (held == holders_.end()) {
            holders_.push_back(Holder{addr, op.order, true});
          } else {
            held->order = op.order;
            held->written = true;
          }
          owner = addr;
          loaded = true;
          dirty = true;
          continue;
        }
        if (held != holders_.end()) {
          holders_.erase(held);
        }
        if (!loaded) {
          owner = stored_owner(name);
          loaded = true;
        }
        if (owner.size() == addr.size() &&
            std::memcmp(owner.data(), addr.data(), addr.size()) == 0) {
          owner = {};
          dirty = true;
        }
      }
      if (holders_.size() > 1 && !rules_.allow_shared_names) {
        report_shared_name(name);
      }
      if (!dirty) {
        continue;
      }
      const unsigned put_flags = beyond ? MDB_APPEND : 0U;
      if (owner.empty()) {
        write_value(d_.name, name, format::kFlagDeleted, {}, put_flags);
      } else {
        std::memcpy(payload.data() + 1, owner.data(), owner.size());
        write_value(d_.name, name, 0, Bytes(payload.data(), 1 + owner.size()), put_flags);
      }
    }
    name_ops_.clear();
    names_.clear();
  }

  /// The address key the name index entry of `name` holds (empty if none or a tombstone),
  /// copied, as the view would not survive the next put.
  Bytes stored_owner(Bytes name) {
    const auto raw = txn_.find(d_.name, name);
    if (!raw) {
      return {};
    }
    Bytes data;
    bool deleted = false;
    if (const DecodeError e = decode_simple(*raw, data, deleted); e != DecodeError::ok) {
      throw_decode("name", name, e);
    }
    if (deleted || data.size() > owner_.size()) {
      return {};
    }
    std::memcpy(owner_.data(), data.data(), data.size());
    return {owner_.data(), data.size()};
  }

  /// An address that gives a name, while the name's ops are applied.
  struct Holder {
    Bytes addr;
    std::uint64_t order = 0;
    bool written = false;  // by this transaction
  };

  /// Reports the holders_ of `name` (more than one) as conflicts: each address written by
  /// this transaction against the first holder (the stored one, else the earliest write).
  void report_shared_name(Bytes name) {
    std::stable_sort(holders_.begin(), holders_.end(), [](const Holder& a, const Holder& b) {
      return a.written != b.written ? !a.written : a.order < b.order;
    });
    std::string name_text = "?";
    if (auto n = dns::Name::from_wire(name)) {
      name_text = n->to_string(true);
    }
    dns::IpAddress other;
    (void)format::parse_address_key(holders_[0].addr, other);
    for (std::size_t k = 1; k < holders_.size(); ++k) {
      WriteConflict c;
      c.kind = WriteConflict::Kind::shared_name;
      dns::IpAddress a;
      (void)format::parse_address_key(holders_[k].addr, a);
      c.key = dns::Prefix{a, static_cast<std::uint8_t>(a.bits())};
      c.seq = holders_[k].order;
      c.other = other.to_string();
      c.other_seq = holders_[0].written ? holders_[0].order : 0;
      c.subject = name_text;
      conflicts_.push_back(std::move(c));
    }
  }

  /// The template-collision rule (WriteRules, mapper::templates_collide) for the prefixes
  /// this transaction changed, against the state it leaves: every live prefix override and
  /// every configured template that no override of the same prefix replaces.
  void check_template_collisions() {
    if (written_prefixes_.empty()) {
      return;
    }
    // Sorted lookups: a big import writes many prefixes, and the store may hold many.
    const auto less = [](const dns::Prefix& a, const dns::Prefix& b) {
      return a.address != b.address ? a.address < b.address : a.length < b.length;
    };
    std::stable_sort(written_prefixes_.begin(), written_prefixes_.end(),
                     [&](const auto& a, const auto& b) { return less(a.first, b.first); });
    const auto written = [&](const dns::Prefix& p) -> const std::uint64_t* {
      // The last write of a prefix counts (the stable sort keeps their order).
      auto it =
          std::upper_bound(written_prefixes_.begin(), written_prefixes_.end(), p,
                           [&](const dns::Prefix& x, const auto& e) { return less(x, e.first); });
      if (it == written_prefixes_.begin() || !((it - 1)->first == p)) {
        return nullptr;
      }
      return &(it - 1)->second;
    };
    std::vector<mapper::Template> compiled;  // stored templates that can collide
    std::vector<dns::Prefix> overridden;     // every live prefix override
    {
      Cursor c = Cursor::open(txn_.get(), d_.prefix);
      for (bool ok = c.first(); ok; ok = c.next()) {
        dns::Prefix p;
        OverrideView view;
        bool deleted = false;
        if (!format::parse_prefix_key(c.key(), p) ||
            decode_override(c.value(), view, deleted) != DecodeError::ok || deleted) {
          continue;  // unreadable entries are reported by readers and mapctl check
        }
        overridden.push_back(p);
        if (view.kind == OverrideKind::name_template) {
          if (auto t = collision_candidate(view.target, p)) {
            compiled.push_back(std::move(*t));
          }
        }
      }
    }
    std::sort(overridden.begin(), overridden.end(), less);
    std::vector<TemplateOwner> owners;
    owners.reserve(compiled.size() + rules_.config_templates.size());
    for (const mapper::Template& t : compiled) {
      const std::uint64_t* seq = written(t.prefix());
      owners.push_back(TemplateOwner{&t, t.prefix(), nullptr, seq != nullptr, seq ? *seq : 0});
    }
    for (const ConfigTemplate& ct : rules_.config_templates) {
      const dns::Prefix& p = ct.name.prefix();
      if (ct.name.self_contained() ||
          std::binary_search(overridden.begin(), overridden.end(), p, less)) {
        continue;  // never collides, or replaced by an override of the same prefix
      }
      // Uncovered by this write (its override erased): it is back, and counts as written.
      const std::uint64_t* seq = written(p);
      owners.push_back(TemplateOwner{&ct.name, p, &ct.origin, seq != nullptr, seq ? *seq : 0});
    }
    for_each_collision(owners, /*only_written=*/true,
                       [&](const TemplateOwner& w, const TemplateOwner& other) {
                         WriteConflict c;
                         c.kind = WriteConflict::Kind::template_collision;
                         c.key = w.prefix;
                         c.is_prefix = true;
                         c.seq = w.seq;
                         c.other = other.describe();
                         c.other_in_config = other.origin != nullptr;
                         c.other_seq = other.written ? other.seq : 0;
                         c.subject = w.name->text();
                         conflicts_.push_back(std::move(c));
                       });
  }

  const OverrideDb::Dbis& d_;
  WriteTxn& txn_;
  const WriteRules& rules_;
  std::uint64_t seq_ = 0;  // Change::seq of the write being applied
  std::vector<Holder> holders_;
  std::vector<std::pair<dns::Prefix, std::uint64_t>> written_prefixes_;
  std::vector<WriteConflict> conflicts_;
  std::uint64_t ts_;
  std::uint64_t id_;
  bool touched4_ = false;
  bool touched6_ = false;
  std::vector<std::uint8_t> buf_;
  std::string text_;
  Tail addr_tail_;
  Tail name_tail_;
  std::vector<NameOp> name_ops_;
  std::vector<std::uint8_t> names_;  // name and address keys of name_ops_
  std::array<std::uint8_t, format::kMaxAddressKey> owner_{};
};

/// Runs fn(TxnWriter&) in one write transaction and commits; any exception aborts it.
/// Begins a write transaction inside `gate`, adopting a map another process grew.
WriteTxn begin_write(OverrideDb& db, GateScope& gate) {
  try {
    return WriteTxn::begin(db.env());
  } catch (const StoreError& e) {
    if (e.code() != MDB_MAP_RESIZED) {
      throw;
    }
    gate.leave();
    db.adopt_map_size();
    gate.enter();
    return WriteTxn::begin(db.env());
  }
}

template <class Fn>
auto with_write(OverrideDb& db, const WriteRules& rules, Fn&& fn, bool commit = true) {
  GateScope gate(db.gate());
  WriteTxn txn = begin_write(db, gate);
  TxnWriter w(db, txn, rules);
  auto result = fn(w);
  w.finish();
  if (commit) {
    txn.commit();
  }
  return result;  // else the WriteTxn aborts
}

std::uint32_t read_schema_version(const OverrideDb::Dbis& d, MDB_txn* raw, bool& present) {
  MDB_val k{format::kMetaSchemaVersion.size(),
            const_cast<char*>(format::kMetaSchemaVersion.data())};  // NOLINT
  MDB_val v{};
  const int rc = mdb_get(raw, d.meta.handle(), &k, &v);
  present = false;
  if (rc == MDB_NOTFOUND) {
    return 0;
  }
  if (rc != 0) {
    throw_lmdb("mdb_get(meta schema_version)", rc);
  }
  Bytes data;
  bool deleted = false;
  const Bytes value(static_cast<const std::uint8_t*>(v.mv_data), v.mv_size);
  if (const DecodeError e = decode_simple(value, data, deleted); e != DecodeError::ok) {
    throw_decode("meta", format::as_bytes(format::kMetaSchemaVersion), e);
  }
  if (deleted || data.size() < 4) {
    throw_decode("meta", format::as_bytes(format::kMetaSchemaVersion),
                 DecodeError::truncated_payload);
  }
  present = true;
  return format::load_be32(data.data());
}

void check_schema(std::uint32_t version, const std::string& path) {
  if (version > format::kSchemaVersion) {
    throw StoreError("override store " + path + " has schema version " + std::to_string(version) +
                     " but this build supports up to " + std::to_string(format::kSchemaVersion) +
                     ": upgrade automap");
  }
}

// ---- per-process registry: an environment is opened at most once per process ----
struct Registry {
  std::mutex mu;
  std::map<std::tuple<dev_t, ino_t, pid_t>, std::weak_ptr<OverrideDb>> open;
};
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

// ----------------------------------------------------------------------------------- RemapGate

RemapGate::Slot* RemapGate::acquire() {
  std::lock_guard g(mu_);
  for (auto& slot : slots_) {
    if (!slot->in_use) {
      slot->in_use = true;
      return slot.get();
    }
  }
  slots_.push_back(std::make_unique<Slot>());
  slots_.back()->in_use = true;
  return slots_.back().get();
}

void RemapGate::release(Slot* slot) noexcept {
  if (slot == nullptr) {
    return;
  }
  std::lock_guard g(mu_);
  slot->busy.store(false, std::memory_order_release);
  slot->in_use = false;
  slot->txn = nullptr;
}

void RemapGate::attach(Slot* slot, ReadTxn* txn) noexcept {
  if (slot != nullptr) {
    std::lock_guard g(mu_);
    slot->txn = txn;
  }
}

void RemapGate::abort_all_txns() noexcept {
  for (const auto& slot : slots_) {
    if (slot->in_use && slot->txn != nullptr) {
      slot->txn->abort();
    }
  }
}

void RemapGate::enter(Slot& slot) noexcept {
  for (;;) {
    slot.busy.store(true, std::memory_order_seq_cst);
    if (!pending_.load(std::memory_order_seq_cst)) {
      return;
    }
    // A remap is running: step aside until it is done (rare; bounded by the remapper).
    slot.busy.store(false, std::memory_order_seq_cst);
    while (pending_.load(std::memory_order_acquire)) {
      std::this_thread::yield();
    }
  }
}

void RemapGate::exclusive(const std::function<void()>& fn, unsigned wait_ms,
                          std::string_view purpose) {
  std::lock_guard g(mu_);  // one remapper at a time; no slot changes meanwhile
  pending_.store(true, std::memory_order_seq_cst);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (const auto& slot : slots_) {
    while (slot->busy.load(std::memory_order_seq_cst)) {
      if (std::chrono::steady_clock::now() > deadline) {
        pending_.store(false, std::memory_order_seq_cst);
        throw StoreError("cannot " + std::string(purpose) +
                         ": a transaction of this process stayed open for more than " +
                         std::to_string(wait_ms) + " ms");
      }
      std::this_thread::yield();
    }
  }
  try {
    fn();
  } catch (...) {
    pending_.store(false, std::memory_order_seq_cst);
    throw;
  }
  pending_.store(false, std::memory_order_seq_cst);
}

// ---------------------------------------------------------------------------------- OverrideDb

std::shared_ptr<OverrideDb> OverrideDb::open(const StoreOptions& options) {
  Registry& reg = registry();
  // Declared before the lock: if opening fails, the half-built object is destroyed (and its
  // deleter takes the registry lock) only after the lock is released.
  std::shared_ptr<OverrideDb> db;
  std::unique_lock guard(reg.mu);

  EnvOptions eo;
  eo.path = options.path;
  eo.map_size = options.map_size;
  eo.max_readers = options.max_readers != 0 ? options.max_readers : default_max_readers();
  eo.read_only = options.read_only;
  eo.no_meta_sync = options.no_meta_sync;
  eo.max_dbs = kDefaultMaxDbs;
  eo.verify_pages = options.verify_pages;

  // Look the directory up by identity. A missing one cannot be open yet (Env::open creates
  // it for writers, and removes it again if the creation fails).
  struct stat st {};
  if (!options.path.empty() && ::stat(options.path.c_str(), &st) == 0) {
    const auto id = std::make_tuple(st.st_dev, st.st_ino, ::getpid());
    if (auto it = reg.open.find(id); it != reg.open.end()) {
      if (auto existing = it->second.lock()) {
        if (existing->read_only() && !options.read_only) {
          throw StoreError("override store " + options.path +
                           " is already open read-only in this process");
        }
        return existing;
      }
      reg.open.erase(it);
    }
  }

  // Close under the registry lock so a reopen never overlaps a close (fcntl locks).
  db = std::shared_ptr<OverrideDb>(new OverrideDb(), [](OverrideDb* p) {
    std::lock_guard g(registry().mu);
    delete p;
  });
  static std::atomic<std::uint64_t> next_serial{1};
  db->serial_ = next_serial.fetch_add(1, std::memory_order_relaxed);
  db->env_ = Env::open(eo);

  if (options.read_only) {
    ReadTxn txn = ReadTxn::begin(db->env_);
    try {
      db->dbis_.addr = Dbi::open(txn.get(), "addr", 0);
      db->dbis_.prefix = Dbi::open(txn.get(), "prefix", 0);
      db->dbis_.name = Dbi::open(txn.get(), "name", 0);
      db->dbis_.meta = Dbi::open(txn.get(), "meta", 0);
    } catch (const StoreError& e) {
      if (e.code() == MDB_NOTFOUND) {
        throw StoreError("override store " + options.path +
                             " is not initialised (missing databases): create it with mapctl",
                         MDB_NOTFOUND);
      }
      throw;
    }
    bool present = false;
    check_schema(read_schema_version(db->dbis_, txn.get(), present), options.path);
    // Committing the read txn makes the DBI handles usable by later transactions.
    txn.commit();
  } else {
    try {
      WriteTxn txn = WriteTxn::begin(db->env_);
      db->dbis_.addr = Dbi::open(txn.get(), "addr", MDB_CREATE);
      db->dbis_.prefix = Dbi::open(txn.get(), "prefix", MDB_CREATE);
      db->dbis_.name = Dbi::open(txn.get(), "name", MDB_CREATE);
      db->dbis_.meta = Dbi::open(txn.get(), "meta", MDB_CREATE);
      bool present = false;
      const std::uint32_t version = read_schema_version(db->dbis_, txn.get(), present);
      check_schema(version, options.path);
      if (!present) {
        const WriteRules rules;
        TxnWriter w(*db, txn, rules);
        std::array<std::uint8_t, 5> payload{format::kPayloadVersion};
        format::store_be32(payload.data() + 1, format::kSchemaVersion);
        w.write_value(db->dbis_.meta, format::as_bytes(format::kMetaSchemaVersion), 0, payload);
      }
      txn.commit();
    } catch (const StoreError&) {
      // A store this open created and could not initialise (a full disk) is removed again:
      // a half-written data.mdb would be refused as damaged by every later open.
      if (db->env_.created()) {
        db->env_.close_and_remove_created();
      }
      throw;
    }
  }

  if (::stat(options.path.c_str(), &st) == 0) {
    reg.open[std::make_tuple(st.st_dev, st.st_ino, ::getpid())] = db;
  }
  return db;
}

std::shared_ptr<OverrideDb> OverrideDb::reopen(const StoreOptions& options, const OverrideDb& old) {
  {
    Registry& reg = registry();
    std::lock_guard guard(reg.mu);
    for (auto it = reg.open.begin(); it != reg.open.end();) {
      const auto held = it->second.lock();
      it = held.get() == &old || !held ? reg.open.erase(it) : std::next(it);
    }
  }
  return open(options);
}

void OverrideDb::retire() {
  gate_.exclusive(
      [this] {
        gate_.abort_all_txns();
        {
          std::lock_guard g(spare_mu_);
          spare_.clear();
        }
        retired_.store(true, std::memory_order_release);
        env_.close();  // mdb_env_close frees this process's reader slots
      },
      5000, "close the replaced store");
}

void OverrideDb::adopt_map_size() {
  gate_.exclusive([this] { env_.adopt_map_size(); });
}

// ------------------------------------------------------------------------- write-rule checks

std::string WriteConflict::message(std::string_view other_where) const {
  const std::string where(other_where);
  if (kind == Kind::shared_name) {
    return "the name " + subject + " is already the override of " + other + where +
           ": two addresses cannot share one name, as only one of them can have its forward "
           "answer; give each address its own name, or allow shared names (mapctl: --force), "
           "and the latest write wins the forward answer";
  }
  return mapper::collision_message(subject, "the override " + key.to_string(), other + where);
}

std::string WriteConflict::message() const {
  if (other_seq != 0) {
    return message(" (in the same batch)");
  }
  return message(other_in_config ? "" : " in the store");
}

namespace {
std::string conflicts_text(const std::vector<WriteConflict>& conflicts) {
  std::string s = conflicts.empty() ? std::string("write rules broken") : conflicts[0].message();
  if (conflicts.size() > 1) {
    s += " (and " + std::to_string(conflicts.size() - 1) + " more conflicts)";
  }
  return s;
}
}  // namespace

WriteConflictError::WriteConflictError(std::vector<WriteConflict> conflicts)
    : StoreError(conflicts_text(conflicts)), conflicts_(std::move(conflicts)) {}

std::vector<std::string> find_template_collisions(
    std::span<const std::pair<dns::Prefix, std::string>> prefix_templates,
    std::span<const ConfigTemplate> config_templates) {
  std::vector<mapper::Template> compiled;
  for (const auto& [p, text] : prefix_templates) {
    if (!text.empty()) {
      if (auto t = collision_candidate(text, p)) {
        compiled.push_back(std::move(*t));
      }
    }
  }
  std::vector<TemplateOwner> owners;
  for (const mapper::Template& t : compiled) {
    owners.push_back(TemplateOwner{&t, t.prefix(), nullptr, false, 0});
  }
  for (const ConfigTemplate& ct : config_templates) {
    const dns::Prefix& p = ct.name.prefix();
    const bool replaced =
        std::any_of(prefix_templates.begin(), prefix_templates.end(),
                    [&](const std::pair<dns::Prefix, std::string>& o) { return o.first == p; });
    if (!ct.name.self_contained() && !replaced) {
      owners.push_back(TemplateOwner{&ct.name, p, &ct.origin, false, 0});
    }
  }
  std::vector<std::string> out;
  for_each_collision(
      owners, /*only_written=*/false, [&](const TemplateOwner& a, const TemplateOwner& b) {
        out.push_back(mapper::collision_message(a.name->text(), a.describe(), b.describe()));
      });
  return out;
}

void OverrideDb::reserve_reader_slots(unsigned count) {
  std::lock_guard g(spare_mu_);
  reserved_.store(std::max(count, reserved_.load(std::memory_order_relaxed)),
                  std::memory_order_relaxed);
  while (spare_.size() < count) {
    ReadTxn txn;
    if (const int rc = ReadTxn::try_begin(env_, txn); rc != 0) {
      throw_lmdb("reserving " + std::to_string(count) + " reader slots (" + env_.path() + ")", rc);
    }
    txn.reset();  // keeps the slot, holds no snapshot
    spare_.push_back(std::move(txn));
  }
}

void OverrideDb::take_reader_slot(ReadTxn& out) noexcept {
  std::lock_guard g(spare_mu_);
  if (!spare_.empty()) {
    out = std::move(spare_.back());
    spare_.pop_back();
  }
}

void OverrideDb::return_reader_slot(ReadTxn& txn) noexcept {
  if (!txn.valid()) {
    return;
  }
  txn.reset();
  std::lock_guard g(spare_mu_);
  try {
    spare_.push_back(std::move(txn));
  } catch (...) {
    txn.abort();  // no memory: give the slot back to LMDB instead
  }
}

// ------------------------------------------------------------------------------- OverrideStore

OverrideStore::OverrideStore(const StoreOptions& options) {
  StoreOptions o = options;
  o.read_only = false;
  db_ = OverrideDb::open(o);
}

OverrideStore::OverrideStore(std::shared_ptr<OverrideDb> db) : db_(std::move(db)) {
  if (!db_ || db_->read_only()) {
    throw StoreError("OverrideStore needs a read-write OverrideDb");
  }
}

void OverrideStore::set_write_rules(WriteRules rules) {
  rules_ = std::make_shared<const WriteRules>(std::move(rules));
}

void OverrideStore::put_address(const dns::IpAddress& a, const Override& v) {
  with_write(*db_, *rules_, [&](TxnWriter& w) {
    w.put_address(a, v);
    return 0;
  });
}

void OverrideStore::put_prefix(const dns::Prefix& p, const Override& v) {
  with_write(*db_, *rules_, [&](TxnWriter& w) {
    w.put_prefix(p, v);
    return 0;
  });
}

bool OverrideStore::erase_address(const dns::IpAddress& a) {
  return with_write(*db_, *rules_, [&](TxnWriter& w) { return w.erase_address(a); });
}

bool OverrideStore::erase_prefix(const dns::Prefix& p) {
  return with_write(*db_, *rules_, [&](TxnWriter& w) { return w.erase_prefix(p); });
}

ApplyResult OverrideStore::apply(std::span<const Change> changes, bool dry_run) {
  // Writing in key order lets LMDB fill pages left to right instead of splitting and
  // dirtying pages all over the tree (a 10M-line import: several times faster). The sort is
  // stable, so repeated changes to one key keep their order; it is still one transaction.
  // mapctl import hands over changes already in this order.
  std::vector<std::uint32_t> order(changes.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  const auto key_order = [&](std::uint32_t a, std::uint32_t b) {
    const Change& x = changes[a];
    const Change& y = changes[b];
    if (x.is_prefix != y.is_prefix) {
      return x.is_prefix < y.is_prefix;
    }
    if (x.key.address != y.key.address) {
      return x.key.address < y.key.address;
    }
    return x.key.length < y.key.length;
  };
  if (!std::is_sorted(order.begin(), order.end(), key_order)) {
    std::stable_sort(order.begin(), order.end(), key_order);
  }
  // Change::seq orders the writes for "the latest write wins"; without it, the batch order.
  const bool batch_order =
      std::all_of(changes.begin(), changes.end(), [](const Change& c) { return c.seq == 0; });
  return with_write(
      *db_, *rules_,
      [&](TxnWriter& w) {
        ApplyResult r;
        for (const std::uint32_t i : order) {
          const Change& c = changes[i];
          const std::uint64_t seq = batch_order ? i + std::uint64_t{1} : c.seq;
          if (c.op == Change::Op::put) {
            if (c.is_prefix) {
              w.put_prefix(c.key, c.value, seq);
            } else {
              w.put_address(c.key.address, c.value, seq);
            }
            ++r.written;
          } else {
            const bool removed =
                c.is_prefix ? w.erase_prefix(c.key, seq) : w.erase_address(c.key.address, seq);
            r.erased += removed ? 1 : 0;
          }
        }
        return r;
      },
      !dry_run);
}

void OverrideStore::rebuild_meta() {
  with_write(*db_, *rules_, [&](TxnWriter& w) {
    w.rebuild_lengths(dns::Family::v4);
    w.rebuild_lengths(dns::Family::v6);
    return 0;
  });
}

namespace {
std::optional<Override> read_override(const OverrideDb& db, Dbi dbi, std::string_view name,
                                      Bytes key) {
  ScopedRead r(db);
  Bytes raw;
  const int rc = r.txn().get(dbi, key, raw);
  if (rc == MDB_NOTFOUND) {
    return std::nullopt;
  }
  if (rc != 0) {
    throw_lmdb("mdb_get", rc);
  }
  OverrideView view;
  bool deleted = false;
  if (const DecodeError e = decode_override(raw, view, deleted); e != DecodeError::ok) {
    throw_decode(name, key, e);
  }
  if (deleted) {
    return std::nullopt;
  }
  return view.to_override();
}
}  // namespace

std::optional<Override> OverrideStore::get_address(const dns::IpAddress& a) const {
  std::array<std::uint8_t, format::kMaxAddressKey> key{};
  return read_override(*db_, db_->dbis().addr, "addr",
                       Bytes(key.data(), format::address_key(a, key.data())));
}

std::optional<Override> OverrideStore::get_prefix(const dns::Prefix& p) const {
  check_prefix(p);
  std::array<std::uint8_t, format::kMaxPrefixKey> key{};
  return read_override(*db_, db_->dbis().prefix, "prefix",
                       Bytes(key.data(), format::prefix_key(p.address, p.length, key.data())));
}

std::optional<dns::IpAddress> OverrideStore::get_name(const dns::Name& n) const {
  ScopedRead r(*db_);
  std::array<std::uint8_t, dns::Name::kMaxWire> key{};
  const Bytes k(key.data(), name_key(n, key.data()));
  Bytes raw;
  const int rc = r.txn().get(db_->dbis().name, k, raw);
  if (rc == MDB_NOTFOUND) {
    return std::nullopt;
  }
  if (rc != 0) {
    throw_lmdb("mdb_get", rc);
  }
  Bytes data;
  bool deleted = false;
  if (const DecodeError e = decode_simple(raw, data, deleted); e != DecodeError::ok) {
    throw_decode("name", k, e);
  }
  if (deleted) {
    return std::nullopt;
  }
  dns::IpAddress a;
  if (!format::parse_address_key(data, a)) {
    throw_decode("name", k, DecodeError::bad_key);
  }
  return a;
}

std::size_t OverrideStore::list(std::optional<dns::Prefix> within, std::size_t limit,
                                const std::function<void(const ListEntry&)>& fn) const {
  if (within) {
    check_prefix(*within);
  }
  ScopedRead r(*db_);
  Cursor ca = Cursor::open(r.txn().get(), db_->dbis().addr);
  Cursor cp = Cursor::open(r.txn().get(), db_->dbis().prefix);

  // Next live entry of one cursor inside `within`; false at the end of the range.
  auto advance = [&](Cursor& c, bool is_prefix, bool ok, ListEntry& out) {
    for (; ok; ok = c.next()) {
      dns::Prefix p;
      bool parsed = false;
      if (is_prefix) {
        parsed = format::parse_prefix_key(c.key(), p);
      } else {
        parsed = format::parse_address_key(c.key(), p.address);
        p.length = static_cast<std::uint8_t>(p.address.bits());
      }
      if (!parsed) {
        throw_decode(is_prefix ? "prefix" : "addr", c.key(), DecodeError::bad_key);
      }
      if (within) {
        if (!within->contains(p.address)) {
          return false;  // keys are in address order: the range is over
        }
        if (p.length < within->length) {
          continue;  // a wider prefix starting at the same address
        }
      }
      bool deleted = false;
      OverrideView view;
      if (const DecodeError e = decode_override(c.value(), view, deleted); e != DecodeError::ok) {
        throw_decode(is_prefix ? "prefix" : "addr", c.key(), e);
      }
      if (deleted) {
        continue;
      }
      out.is_prefix = is_prefix;
      out.prefix = p;
      out.value = view;
      return true;
    }
    return false;
  };

  bool has_a = false;
  bool has_p = false;
  ListEntry ea;
  ListEntry ep;
  if (within) {
    std::array<std::uint8_t, format::kMaxPrefixKey> key{};
    const std::size_t n = format::address_key(within->address, key.data());
    has_a = advance(ca, false, ca.seek(Bytes(key.data(), n)), ea);
    key[n] = 0;
    has_p = advance(cp, true, cp.seek(Bytes(key.data(), n + 1)), ep);
  } else {
    has_a = advance(ca, false, ca.first(), ea);
    has_p = advance(cp, true, cp.first(), ep);
  }

  std::size_t count = 0;
  while ((has_a || has_p) && (limit == 0 || count < limit)) {
    // A prefix sorts before an address equal to its network address.
    const bool take_prefix = has_p && (!has_a || ep.prefix.address <= ea.prefix.address);
    if (take_prefix) {
      fn(ep);
      has_p = advance(cp, true, cp.next(), ep);
    } else {
      fn(ea);
      has_a = advance(ca, false, ca.next(), ea);
    }
    ++count;
  }
  return count;
}

PurgeResult OverrideStore::purge_tombstones(std::uint64_t cutoff_ns, std::size_t per_txn) {
  PurgeResult r;
  per_txn = std::max<std::size_t>(per_txn, 1);
  const OverrideDb::Dbis& d = db_->dbis();
  for (const Dbi dbi : {d.addr, d.prefix, d.name}) {
    std::vector<std::uint8_t> resume;  // the first key not looked at yet (empty: the start)
    bool more = true;
    while (more) {
      GateScope gate(db_->gate());
      WriteTxn txn = begin_write(*db_, gate);
      std::vector<std::vector<std::uint8_t>> doomed;
      std::size_t kept = 0;
      more = false;
      {
        Cursor c = Cursor::open(txn.get(), dbi);
        for (bool ok = resume.empty() ? c.first() : c.seek(resume); ok; ok = c.next()) {
          if (doomed.size() == per_txn) {
            resume.assign(c.key().begin(), c.key().end());
            more = true;
            break;
          }
          format::Header h;
          Bytes payload;
          if (format::decode_header(c.value(), h, payload) != DecodeError::ok || !h.deleted()) {
            continue;  // live, or not ours to judge (mapctl check reports undecodable values)
          }
          if (h.timestamp_ns < cutoff_ns) {
            doomed.emplace_back(c.key().begin(), c.key().end());
          } else {
            ++kept;
          }
        }
      }
      for (const auto& key : doomed) {
        txn.del(dbi, key);
      }
      txn.commit();
      ++r.transactions;
      r.purged += doomed.size();
      r.kept += kept;
    }
  }
  return r;
}

namespace {
struct ReaderCount {
  unsigned lines = 0;
  unsigned active = 0;
};
int count_reader_line(const char* msg, void* ctx) {
  auto* rc = static_cast<ReaderCount*>(ctx);
  // mdb_reader_list prints a header line, then "pid thread txnid" per slot ("-" = idle), or
  // "(no active readers)".
  std::string_view line(msg);
  if (line.find("pid") != std::string_view::npos || line.find('(') != std::string_view::npos) {
    return 0;
  }
  ++rc->lines;
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  if (!line.empty() && line.back() != '-') {
    ++rc->active;
  }
  return 0;
}
}  // namespace

StoreStats OverrideStore::stats(std::uint64_t tombstone_cutoff_ns) const {
  StoreStats s;
  EnvInfo info;
  {
    ScopedRead r(*db_);
    auto scan = [&](Dbi dbi, std::size_t& live) {
      Cursor c = Cursor::open(r.txn().get(), dbi);
      for (bool ok = c.first(); ok; ok = c.next()) {
        format::Header h;
        Bytes payload;
        if (format::decode_header(c.value(), h, payload) == DecodeError::ok && h.deleted()) {
          ++s.tombstones;
          s.expired_tombstones += h.timestamp_ns < tombstone_cutoff_ns ? 1 : 0;
          if (s.oldest_tombstone_ns == 0 || h.timestamp_ns < s.oldest_tombstone_ns) {
            s.oldest_tombstone_ns = h.timestamp_ns;
          }
        } else {
          ++live;
        }
      }
    };
    scan(db_->dbis().addr, s.address_overrides);
    scan(db_->dbis().prefix, s.prefix_overrides);
    scan(db_->dbis().name, s.names);
    // LMDB's freelist (FREE_DBI, handle 0): each value is a page list that starts with its
    // length, as `mdb_stat -f` counts it.
    {
      Cursor c = Cursor::open(r.txn().get(), Dbi(0));
      for (bool ok = c.first(); ok; ok = c.next()) {
        if (c.value().size() >= sizeof(std::size_t)) {
          std::size_t n = 0;
          std::memcpy(&n, c.value().data(), sizeof n);
          s.free_pages += n;
        }
      }
    }
    // mdb_env_info reads the meta pages through the map: inside the read scope, which holds
    // a slot of the remap gate, so that no other thread's adopt_map_size unmaps it meanwhile.
    info = db_->env().info();
  }
  s.map_size = info.map_size;
  s.page_size = info.page_size;
  s.used_pages = info.last_page + 1;
  s.used_bytes = info.used_bytes;
  s.last_txn_id = info.last_txn_id;
  s.max_readers = info.max_readers;
  ReaderCount rc;
  if (mdb_reader_list(db_->env().get(), &count_reader_line, &rc) >= 0) {
    s.readers = rc.lines;
    s.active_readers = rc.active;
  }
  return s;
}

// ------------------------------------------------------------------------------ OverrideReader

OverrideReader OverrideReader::open(const std::string& path, unsigned max_readers) {
  StoreOptions o;
  o.path = path;
  o.read_only = true;
  o.max_readers = max_readers;
  return OverrideReader(OverrideDb::open(o));
}

OverrideReader::OverrideReader(std::shared_ptr<OverrideDb> db) : db_(std::move(db)) {
  if (!db_) {
    throw StoreError("OverrideReader needs an open OverrideDb");
  }
  slot_ = db_->gate().acquire();
  db_->gate().attach(slot_, &txn_);
}

OverrideReader::OverrideReader(OverrideReader&& other) noexcept
    : db_(std::move(other.db_)),
      txn_(std::move(other.txn_)),
      slot_(std::exchange(other.slot_, nullptr)),
      error_count_(other.error_count_),
      last_error_(other.last_error_),
      lookup_failures_(other.lookup_failures_),
      last_lookup_error_(other.last_lookup_error_) {
  if (db_) {
    db_->gate().attach(slot_, &txn_);
  }
}

// The txn of an idle reader may be aborted by OverrideDb::retire on another thread: touch it
// only inside the gate.
void OverrideReader::detach() noexcept {
  if (!db_ || slot_ == nullptr) {
    return;
  }
  end();
  RemapGate& gate = db_->gate();
  gate.enter(*slot_);
  if (!db_->retired()) {
    db_->return_reader_slot(txn_);
  }
  gate.leave(*slot_);
  gate.release(slot_);
  slot_ = nullptr;
}

OverrideReader& OverrideReader::operator=(OverrideReader&& other) noexcept {
  if (this != &other) {
    detach();
    db_ = std::move(other.db_);
    txn_ = std::move(other.txn_);
    slot_ = std::exchange(other.slot_, nullptr);
    if (db_) {
      db_->gate().attach(slot_, &txn_);
    }
    error_count_ = other.error_count_;
    last_error_ = other.last_error_;
    lookup_failures_ = other.lookup_failures_;
    last_lookup_error_ = other.last_lookup_error_;
  }
  return *this;
}

OverrideReader::~OverrideReader() {
  detach();
}

void OverrideReader::begin() {
  if (txn_.active()) {
    return;
  }
  RemapGate& gate = db_->gate();
  gate.enter(*slot_);
  if (db_->retired()) {
    gate.leave(*slot_);
    throw StoreError("override store was replaced and is being reopened");
  }
  if (!txn_.valid()) {
    db_->take_reader_slot(txn_);  // first begin of this reader: a reserved slot, if any
  }
  int rc = txn_.valid() ? txn_.renew() : ReadTxn::try_begin(db_->env(), txn_);
  if (rc == MDB_MAP_RESIZED) {
    // Another process grew the map: drop our reader slot, adopt the size, start over.
    txn_.abort();
    gate.leave(*slot_);
    db_->adopt_map_size();
    gate.enter(*slot_);
    rc = ReadTxn::try_begin(db_->env(), txn_);
  }
  if (rc != 0) {
    txn_.abort();
    gate.leave(*slot_);
    throw_lmdb("mdb_txn_renew (" + db_->env().path() + ")", rc);
  }
}

void OverrideReader::end() noexcept {
  if (slot_ == nullptr) {
    return;  // moved from
  }
  txn_.reset();
  db_->gate().leave(*slot_);
}

namespace {
std::atomic<std::uint64_t> g_lookup_failures{0};
}  // namespace

std::uint64_t OverrideReader::lookup_failures_total() noexcept {
  return g_lookup_failures.load(std::memory_order_relaxed);
}

bool OverrideReader::found(int rc) noexcept {
  if (rc == 0) {
    return true;
  }
  if (rc != MDB_NOTFOUND) {
    ++lookup_failures_;
    last_lookup_error_ = rc;
    g_lookup_failures.fetch_add(1, std::memory_order_relaxed);
  }
  return false;
}

bool OverrideReader::live_override(Bytes raw, OverrideView& out) noexcept {
  bool deleted = false;
  if (const DecodeError e = decode_override(raw, out, deleted); e != DecodeError::ok) {
    note_error(e);
    return false;
  }
  return !deleted;
}

bool OverrideReader::live_simple(Bytes raw, Bytes& out) noexcept {
  bool deleted = false;
  if (const DecodeError e = decode_simple(raw, out, deleted); e != DecodeError::ok) {
    note_error(e);
    return false;
  }
  return !deleted;
}

std::optional<OverrideView> OverrideReader::find_address(const dns::IpAddress& a) noexcept {
  std::array<std::uint8_t, format::kMaxAddressKey> key{};
  Bytes raw;
  OverrideView view;
  if (!found(
          txn_.get(db_->dbis().addr, Bytes(key.data(), format::address_key(a, key.data())), raw)) ||
      !live_override(raw, view)) {
    return std::nullopt;
  }
  return view;
}

std::size_t OverrideReader::for_each_prefix(
    const std::function<void(const PrefixOverrideView&)>& fn) {
  std::size_t n = 0;
  Cursor c = Cursor::open(txn_.get(), db_->dbis().prefix);
  for (bool ok = c.first(); ok; ok = c.next()) {
    PrefixOverrideView view;
    if (!format::parse_prefix_key(c.key(), view.prefix)) {
      note_error(DecodeError::bad_key);
      continue;
    }
    if (live_override(c.value(), view.value)) {
      fn(view);
      ++n;
    }
  }
  return n;
}

std::size_t OverrideReader::address_key_count() {
  MDB_stat st{};
  if (const int rc = mdb_stat(txn_.get(), db_->dbis().addr.handle(), &st); rc != 0) {
    throw_lmdb("mdb_stat(addr)", rc);
  }
  return st.ms_entries;
}

bool OverrideReader::for_each_address_key(const std::function<bool(Bytes)>& fn) {
  Cursor c = Cursor::open(txn_.get(), db_->dbis().addr);
  for (bool ok = c.first(); ok; ok = c.next()) {
    if (!fn(c.key())) {
      return false;
    }
  }
  return true;
}

std::uint64_t OverrideReader::prefix_generation() noexcept {
  Bytes raw;
  Bytes data;
  if (!found(txn_.get(db_->dbis().meta, format::as_bytes(format::kMetaPrefixGeneration), raw)) ||
      !live_simple(raw, data) || data.size() != 8) {
    return 0;
  }
  return format::load_be64(data.data());
}

LastChange OverrideReader::last_change() noexcept {
  Bytes raw;
  Bytes data;
  if (!found(txn_.get(db_->dbis().meta, format::as_bytes(format::kMetaLastChange), raw)) ||
      !live_simple(raw, data) || data.size() != 16) {
    return {};
  }
  return LastChange{format::load_be64(data.data()), format::load_be64(data.data() + 8)};
}

std::optional<PrefixOverrideView> OverrideReader::find_prefix(const dns::IpAddress& a) noexcept {
  Bytes raw;
  Bytes bitmap;
  if (!found(txn_.get(db_->dbis().meta, format::as_bytes(meta_lengths_key(a.family())), raw)) ||
      !live_simple(raw, bitmap)) {
    return std::nullopt;
  }
  // One exact get per prefix length present, longest first.
  std::array<std::uint8_t, format::kMaxPrefixKey> key{};
  for (unsigned len = a.bits() + 1; len-- > 0;) {
    if (!bitmap_has(bitmap, len)) {
      continue;
    }
    const auto l8 = static_cast<std::uint8_t>(len);
    PrefixOverrideView out;
    if (!found(txn_.get(db_->dbis().prefix,
                        Bytes(key.data(), format::prefix_key(a, l8, key.data())), raw)) ||
        !live_override(raw, out.value)) {
      continue;
    }
    out.prefix = dns::Prefix{a.masked(len), l8};
    return out;
  }
  return std::nullopt;
}

std::optional<dns::IpAddress> OverrideReader::find_name(const dns::Name& n) noexcept {
  std::array<std::uint8_t, dns::Name::kMaxWire> key{};
  Bytes raw;
  Bytes data;
  if (!found(txn_.get(db_->dbis().name, Bytes(key.data(), name_key(n, key.data())), raw)) ||
      !live_simple(raw, data)) {
    return std::nullopt;
  }
  dns::IpAddress a;
  if (!format::parse_address_key(data, a)) {
    note_error(DecodeError::bad_key);
    return std::nullopt;
  }
  return a;
}

}  // namespace amap::store
