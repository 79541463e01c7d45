// SPDX-License-Identifier: MIT
// OverrideStore's writes: every write transaction goes through one TxnWriter, which validates
// each value (store/validate.h), encodes it (store/codec.h), keeps the name index and the
// prefix-length bitmaps consistent and checks the write rules (store/write_rules.h).
#include "store/writer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>

#include "store/format.h"
#include "store/validate.h"

namespace amap::store {

using detail::collision_candidate;
using detail::for_each_collision;
using detail::TemplateOwner;
using format::DecodeError;

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

namespace {

/// LMDB's default key order (mdb_cmp_memn): bytes, then the shorter key first.
bool lmdb_key_less(Bytes a, Bytes b) noexcept {
  const int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  return c != 0 ? c < 0 : a.size() < b.size();
}

/// What a key held before a write: nothing, a live value or a tombstone (meta counts).
enum class Prior : std::uint8_t { absent, live, dead };

/// The changes of one transaction to the meta counts, applied once at its end.
struct CountDelta {
  enum Table : std::uint8_t { addr = 0, prefix = 1, name = 2 };
  std::array<std::int64_t, 6> v{};  // live and dead of addr, prefix, name (StoreCounts' order)

  /// A key of `t` went from `before` to a live value (dead = false) or a tombstone.
  void wrote(Table t, Prior before, bool dead) noexcept {
    drop(t, before);
    ++v[2U * t + (dead ? 1U : 0U)];
  }
  /// A key of `t` that held `before` is gone (mdb_del).
  void drop(Table t, Prior before) noexcept {
    if (before != Prior::absent) {
      --v[2U * t + (before == Prior::dead ? 1U : 0U)];
    }
  }
  StoreCounts applied_to(const StoreCounts& c) const noexcept {
    const auto add = [](std::uint64_t base, std::int64_t d) {
      // A count cannot go below zero; it would only if meta was written by another program.
      return d < 0 && static_cast<std::uint64_t>(-d) > base
                 ? std::uint64_t{0}
                 : static_cast<std::uint64_t>(static_cast<std::int64_t>(base) + d);
    };
    return {add(c.addresses, v[0]), add(c.address_tombstones, v[1]),
            add(c.prefixes, v[2]),  add(c.prefix_tombstones, v[3]),
            add(c.names, v[4]),     add(c.name_tombstones, v[5])};
  }
};

/// The state of a value as found in a table.
Prior prior_of(std::optional<Bytes> raw) noexcept {
  if (!raw) {
    return Prior::absent;
  }
  format::Header h;
  Bytes payload;
  return format::decode_header(*raw, h, payload) == DecodeError::ok && h.deleted() ? Prior::dead
                                                                                   : Prior::live;
}

/// Counts the keys of the three tables as `txn` sees them: one cursor pass each. A value that
/// does not decode counts as live (mapctl check reports it).
StoreCounts count_keys(MDB_txn* txn, const OverrideDb::Dbis& d) {
  StoreCounts out;
  const auto scan = [&](Dbi dbi, std::uint64_t& live, std::uint64_t& dead) {
    Cursor c = Cursor::open(txn, dbi);
    for (bool ok = c.first(); ok; ok = c.next()) {
      (prior_of(c.value()) == Prior::dead ? dead : live) += 1;
    }
  };
  scan(d.addr, out.addresses, out.address_tombstones);
  scan(d.prefix, out.prefixes, out.prefix_tombstones);
  scan(d.name, out.names, out.name_tombstones);
  return out;
}

/// Writes meta counts at the end of a write transaction: the stored counts with `delta`
/// applied, zero with it when the tables were emptied (`from_zero`), and a full count when
/// meta has none yet (a store written before they existed: counted once, then kept) or
/// `recount`. Called after the transaction's other writes, so a count sees its final state.
void write_counts(WriteTxn& txn, const OverrideDb::Dbis& d, const CountDelta& delta, bool from_zero,
                  bool recount, std::vector<std::uint8_t>& buf, std::uint64_t ts) {
  const Bytes key = format::as_bytes(format::kMetaCounts);
  StoreCounts counts;
  bool have = from_zero;
  if (!from_zero && !recount) {
    if (auto cur = txn.find(d.meta, key)) {
      Bytes data;
      bool deleted = false;
      have = decode_simple(*cur, data, deleted) == DecodeError::ok && !deleted &&
             decode_counts(data, counts);
    }
  }
  counts = have ? delta.applied_to(counts) : count_keys(txn.get(), d);
  std::array<std::uint8_t, 1 + kCountsSize> payload{};
  payload[0] = format::kPayloadVersion;
  encode_counts(counts, payload.data() + 1);
  encode_value(buf, ts, txn.id(), 0, Bytes(payload.data(), payload.size()));
  txn.put(d.meta, key, Bytes(buf.data(), buf.size()));
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

  /// What a put did to the key's live value (ApplyResult's counts).
  enum class Outcome : std::uint8_t { added, replaced, unchanged };

  static bool same(const std::optional<Override>& old, OverrideKind kind, std::uint32_t ttl,
                   std::string_view target) {
    return old->kind == kind && old->ttl == ttl && old->target == target;
  }

  Outcome put_address(const dns::IpAddress& a, const Override& raw, std::uint64_t seq = 0) {
    seq_ = seq;
    Outcome outcome = Outcome::added;
    std::array<std::uint8_t, format::kMaxAddressKey> key{};
    const Bytes k(key.data(), format::address_key(a, key.data()));
    const OverrideKind kind = raw.kind;
    const CheckedOverride checked = checked_override(raw, text_);
    const std::string_view target = checked.target;
    std::array<std::uint8_t, dns::Name::kMaxWire> nkey{};
    const std::size_t nkey_len = checked.name ? name_key(*checked.name, nkey.data()) : 0;
    if (addr_tail_.extend(txn_, d_.addr, k)) {
      write_override(d_.addr, k, kind, raw.ttl, target, MDB_APPEND);  // nothing to replace
      delta_.wrote(CountDelta::addr, Prior::absent, false);
    } else {
      Prior prior = Prior::absent;
      const std::optional<Override> old = get_live(d_.addr, "addr", k, &prior);
      delta_.wrote(CountDelta::addr, prior, false);
      if (old) {
        outcome = same(old, kind, raw.ttl, target) ? Outcome::unchanged : Outcome::replaced;
      }
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
    return outcome;
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
    delta_.wrote(CountDelta::addr, Prior::live, true);
    if (old->kind == OverrideKind::name) {
      if (const auto n = dns::Name::from_text(old->target)) {
        std::array<std::uint8_t, dns::Name::kMaxWire> nkey{};
        name_op(NameOp::drop, Bytes(nkey.data(), name_key(*n, nkey.data())), k);
      }
    }
    return true;
  }

  Outcome put_prefix(const dns::Prefix& p, const Override& raw, std::uint64_t seq = 0) {
    checked_prefix(p);
    const CheckedOverride v = checked_override(raw, text_);
    std::array<std::uint8_t, format::kMaxPrefixKey> key{};
    const Bytes k(key.data(), format::prefix_key(p.address, p.length, key.data()));
    Prior prior = Prior::absent;
    const std::optional<Override> old = get_live(d_.prefix, "prefix", k, &prior);
    delta_.wrote(CountDelta::prefix, prior, false);
    const Outcome outcome = !old                                     ? Outcome::added
                            : same(old, raw.kind, raw.ttl, v.target) ? Outcome::unchanged
                                                                     : Outcome::replaced;
    write_override(d_.prefix, k, raw.kind, raw.ttl, v.target, 0);
    touch(p.family());
    written_prefixes_.emplace_back(p, seq);
    return outcome;
  }

  WriteTxn& txn() noexcept { return txn_; }
  const OverrideDb::Dbis& dbis() const noexcept { return d_; }

  bool erase_prefix(const dns::Prefix& p, std::uint64_t seq = 0) {
    checked_prefix(p);
    written_prefixes_.emplace_back(p, seq);
    std::array<std::uint8_t, format::kMaxPrefixKey> key{};
    const Bytes k(key.data(), format::prefix_key(p.address, p.length, key.data()));
    if (!get_live(d_.prefix, "prefix", k)) {
      return false;
    }
    write_value(d_.prefix, k, format::kFlagDeleted, {});
    delta_.wrote(CountDelta::prefix, Prior::live, true);
    touch(p.family());
    return true;
  }

  /// Applies the collected name-index changes and rewrites the prefix-length bitmaps of the
  /// families whose prefixes changed. Throws WriteConflictError when the writes broke the
  /// WriteRules (the caller then aborts the transaction).
  void finish() {
    flush_names();
    if (skip_rules_) {
      conflicts_.clear();
    } else {
      check_template_collisions();
    }
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
    write_counts(txn_, d_, delta_, cleared_, recount_, buf_, ts_);
  }

  /// Counts the tables anew at finish() instead of trusting meta counts (rebuild_meta).
  void recount() noexcept { recount_ = true; }

  /// format::kMetaLastChange, the SOA serial's input (served serial = seconds, + 1 while the
  /// server's config digest differs from the recorded one):
  /// - a writer: max(previous + 1, now) seconds, so that it rises with every commit even
  ///   within one second, + 1 more when it records another config digest (the serial served
  ///   before had that + 1 for the mismatch), and the writer's config digest;
  /// - a replica (ReplicaTxn): max(previous, the newest timestamp of the values it applied),
  ///   digest kept. A pure function of the replicated values, however the sync loop batches
  ///   them, so every node at one etcd revision has the same; it rises with every source
  ///   transaction because the source's writer stamps its values past the last change its own
  ///   replica had (follow_last_change).
  void record_last_change() {
    const Bytes key = format::as_bytes(format::kMetaLastChange);
    const LastChange prev = read_last_change();
    std::uint64_t seconds = 0;
    std::uint64_t digest = prev.config_digest;
    if (skip_rules_) {
      seconds = std::max(prev.seconds, max_value_ts_ / 1000000000U);
    } else {
      const bool new_digest = rules_.config_digest != 0 && prev.seconds != 0 &&
                              prev.config_digest != rules_.config_digest;
      seconds = std::max<std::uint64_t>(prev.seconds + (new_digest ? 2U : 1U), ts_ / 1000000000U);
      if (rules_.config_digest != 0) {
        digest = rules_.config_digest;
      }
    }
    std::array<std::uint8_t, 17> payload{};
    payload[0] = format::kPayloadVersion;
    format::store_be64(payload.data() + 1, seconds);
    format::store_be64(payload.data() + 9, digest);
    write_value(d_.meta, key, 0, Bytes(payload.data(), payload.size()));
  }

  LastChange read_last_change() const {
    LastChange out;
    if (auto cur = txn_.find(d_.meta, format::as_bytes(format::kMetaLastChange))) {
      Bytes data;
      bool deleted = false;
      if (decode_simple(*cur, data, deleted) == DecodeError::ok && !deleted && data.size() == 16) {
        out.seconds = format::load_be64(data.data());
        out.config_digest = format::load_be64(data.data() + 8);
      }
    }
    return out;
  }

  /// A write whose values go to the source of truth (OverrideStore::set_replication): stamps
  /// them at least one second past the last change this replica holds, so that the replicas'
  /// last change (record_last_change) rises with this transaction.
  void follow_last_change() {
    const std::uint64_t floor = (read_last_change().seconds + 1) * 1000000000U;
    ts_ = std::max(ts_, floor);
  }

  /// ReplicaTxn: a value written with this header timestamp (record_last_change).
  void note_value_time(std::uint64_t ts) noexcept { max_value_ts_ = std::max(max_value_ts_, ts); }

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
    encode_value(buf_, ts_, id_, flags, payload);
    txn_.put(dbi, key, Bytes(buf_.data(), buf_.size()), put_flags);
    captured(dbi, key);
  }

  /// Keeps a copy of every addr and prefix value written from now on (OverrideStore's
  /// Replication sends them instead of committing).
  void capture(std::vector<RawWrite>* out) noexcept { capture_ = out; }

  // ---- a sync node's writes (ReplicaTxn): values as the source of truth holds them ----

  /// Empties addr, prefix and name (a full load) and marks both bitmaps for a rebuild.
  void clear_all() {
    for (const Dbi dbi : {d_.addr, d_.prefix, d_.name}) {
      txn_.clear(dbi);
    }
    touched4_ = touched6_ = true;
    delta_ = {};
    cleared_ = true;
  }

  /// Writes a decoded address value byte for byte, moving its name-index entry as
  /// put_address/erase_address do.
  void put_raw_address(Bytes k, Bytes value, const OverrideView& v, bool deleted) {
    const bool names = !deleted && v.kind == OverrideKind::name;
    if (addr_tail_.extend(txn_, d_.addr, k)) {
      txn_.put(d_.addr, k, value, MDB_APPEND);
      delta_.wrote(CountDelta::addr, Prior::absent, deleted);
    } else {
      Prior prior = Prior::absent;
      const std::optional<Override> old = get_live(d_.addr, "addr", k, &prior);
      delta_.wrote(CountDelta::addr, prior, deleted);
      if (old && old->kind == OverrideKind::name &&
          !(names && dns::iequals(old->target, v.target))) {
        drop_name_of(old->target, k);
      }
      txn_.put(d_.addr, k, value);
    }
    if (names) {
      if (const auto n = dns::Name::from_text(v.target)) {
        std::array<std::uint8_t, dns::Name::kMaxWire> nkey{};
        name_op(NameOp::put, Bytes(nkey.data(), name_key(*n, nkey.data())), k);
      }
    }
  }

  void put_raw_prefix(Bytes k, Bytes value, dns::Family f, bool deleted) {
    delta_.wrote(CountDelta::prefix, prior_of(txn_.find(d_.prefix, k)), deleted);
    txn_.put(d_.prefix, k, value);
    touch(f);
  }

  /// Removes an address or prefix key (mdb_del), and an address's name-index entry.
  void del_raw(bool is_prefix, Bytes k, dns::Family f) {
    if (is_prefix) {
      delta_.drop(CountDelta::prefix, prior_of(txn_.find(d_.prefix, k)));
      if (txn_.del(d_.prefix, k)) {
        touch(f);
      }
      return;
    }
    Prior prior = Prior::absent;
    const std::optional<Override> old = get_live(d_.addr, "addr", k, &prior);
    delta_.drop(CountDelta::addr, prior);
    txn_.del(d_.addr, k);
    if (old && old->kind == OverrideKind::name) {
      drop_name_of(old->target, k);
    }
  }

  /// ReplicaTxn: the source's writer checked the rules; the replica applies what it holds.
  void skip_rules() noexcept { skip_rules_ = true; }

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

  void write_override(Dbi dbi, Bytes key, OverrideKind kind, std::uint32_t ttl,
                      std::string_view target, unsigned put_flags) {
    encode_override(buf_, ts_, id_, kind, ttl, target);
    txn_.put(dbi, key, Bytes(buf_.data(), buf_.size()), put_flags);
    captured(dbi, key);
  }

  void captured(Dbi dbi, Bytes key) {
    if (capture_ == nullptr ||
        (dbi.handle() != d_.addr.handle() && dbi.handle() != d_.prefix.handle())) {
      return;
    }
    capture_->push_back(RawWrite{dbi.handle() == d_.prefix.handle(),
                                 std::vector<std::uint8_t>(key.begin(), key.end()), buf_});
  }

  void drop_name_of(std::string_view target, Bytes addr_key) {
    if (const auto n = dns::Name::from_text(target)) {
      std::array<std::uint8_t, dns::Name::kMaxWire> nkey{};
      name_op(NameOp::drop, Bytes(nkey.data(), name_key(*n, nkey.data())), addr_key);
    }
  }

  /// The live value under key, copied (views into a write txn may move on the next put);
  /// `prior` (if given) says what the key held.
  std::optional<Override> get_live(Dbi dbi, std::string_view db, Bytes key,
                                   Prior* prior = nullptr) {
    const auto raw = txn_.find(dbi, key);
    if (!raw) {
      return std::nullopt;
    }
    OverrideView view;
    bool deleted = false;
    if (const DecodeError e = decode_override(*raw, view, deleted); e != DecodeError::ok) {
      throw_decode(db, key, e);
    }
    if (prior != nullptr) {
      *prior = deleted ? Prior::dead : Prior::live;
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
      Prior prior = Prior::absent;  // what the store held under the name (meta counts)
      bool prior_known = beyond;
      Bytes owner;
      bool dirty = false;
      // Every address that gives the name once the ops are done, for the shared-name rule.
      holders_.clear();
      if (!loaded && !rules_.allow_shared_names) {
        owner = stored_owner(name, &prior);
        loaded = prior_known = true;
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
          owner = stored_owner(name, &prior);
          loaded = prior_known = true;
        }
        if (owner.size() == addr.size() &&
            std::memcmp(owner.data(), addr.data(), addr.size()) == 0) {
          owner = {};
          dirty = true;
        }
      }
      if (holders_.size() > 1 && !rules_.allow_shared_names && !skip_rules_) {
        report_shared_name(name);
      }
      if (!dirty) {
        continue;
      }
      if (!prior_known) {
        prior = prior_of(txn_.find(d_.name, name));
      }
      delta_.wrote(CountDelta::name, prior, owner.empty());
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
  Bytes stored_owner(Bytes name, Prior* prior) {
    const auto raw = txn_.find(d_.name, name);
    *prior = prior_of(raw);
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
  std::string text_;  // a name target's canonical text (checked_override)
  Tail addr_tail_;
  Tail name_tail_;
  std::vector<NameOp> name_ops_;
  std::vector<std::uint8_t> names_;  // name and address keys of name_ops_
  std::array<std::uint8_t, format::kMaxAddressKey> owner_{};
  std::vector<RawWrite>* capture_ = nullptr;
  bool skip_rules_ = false;
  CountDelta delta_;
  std::uint64_t max_value_ts_ = 0;  // ReplicaTxn: the newest value applied
  bool cleared_ = false;            // clear_all: the counts start from zero
  bool recount_ = false;
};

/// ApplyOptions::replace_within: erases, inside the batch's transaction, the live overrides
/// inside `within` that no put of the batch wrote (`order` sorts `changes` by key). They get
/// sequence numbers after the batch's, so a conflict they cause names no line of the input.
void erase_unwritten(TxnWriter& w, std::span<const Change> changes,
                     const std::vector<std::uint32_t>& order, const dns::Prefix& within,
                     ApplyResult& r) {
  const auto less = [](bool ap, const dns::Prefix& a, bool bp, const dns::Prefix& b) {
    if (ap != bp) {
      return ap < bp;
    }
    if (a.address != b.address) {
      return a.address < b.address;
    }
    return a.length < b.length;
  };
  const auto written = [&](const ListEntry& e) {
    auto it =
        std::lower_bound(order.begin(), order.end(), e, [&](std::uint32_t i, const ListEntry& x) {
          return less(changes[i].is_prefix, changes[i].key, x.is_prefix, x.prefix);
        });
    // Any put of the key keeps it (the last change of a key decides its state: an erase
    // after a put was already applied above).
    for (; it != order.end() &&
           !less(e.is_prefix, e.prefix, changes[*it].is_prefix, changes[*it].key);
         ++it) {
      if (changes[*it].op == Change::Op::put) {
        return true;
      }
    }
    return false;
  };
  std::vector<std::pair<bool, dns::Prefix>> doomed;
  detail::list_in(w.txn().get(), w.dbis(), within, 0, [&](const ListEntry& e) {
    if (!written(e)) {
      doomed.emplace_back(e.is_prefix, e.prefix);
    }
  });
  std::uint64_t seq = changes.size();
  for (const Change& c : changes) {
    seq = std::max(seq, c.seq);
  }
  for (const auto& [is_prefix, key] : doomed) {
    ++seq;
    const bool removed = is_prefix ? w.erase_prefix(key, seq) : w.erase_address(key.address, seq);
    r.erased += removed ? 1 : 0;
  }
}

/// meta `sync_revision` as `txn` sees it (0: never synced).
std::uint64_t read_sync_revision(const OverrideDb& db, MDB_txn* txn) {
  MDB_val k{format::kMetaSyncRevision.size(), const_cast<char*>(format::kMetaSyncRevision.data())};
  MDB_val v{};
  if (mdb_get(txn, db.dbis().meta.handle(), &k, &v) != 0) {
    return 0;
  }
  Bytes data;
  bool deleted = false;
  if (decode_simple(Bytes(static_cast<const std::uint8_t*>(v.mv_data), v.mv_size), data, deleted) !=
          DecodeError::ok ||
      deleted || data.size() != 8) {
    return 0;
  }
  return format::load_be64(data.data());
}

/// Runs fn(TxnWriter&) in one write transaction and commits (unless `commit` is false: a dry
/// run); any exception aborts it. With a Replication the checked values go to it instead of
/// the commit; when it says the replica was behind, the transaction runs again once the
/// replica caught up (fn must be safe to run again).
template <class Fn>
auto with_write(OverrideDb& db, const WriteRules& rules, Fn&& fn, bool commit = true,
                const Replication* replication = nullptr, std::chrono::milliseconds catch_up = {}) {
  for (;;) {
    std::vector<RawWrite> writes;
    std::uint64_t replica_revision = 0;
    decltype(fn(std::declval<TxnWriter&>())) result;
    {
      GateScope gate(db.gate());
      WriteTxn txn = begin_write(db, gate);
      TxnWriter w(db, txn, rules);
      const bool replicate = commit && replication != nullptr;
      if (replicate) {
        w.capture(&writes);
        w.follow_last_change();
        replica_revision = read_sync_revision(db, txn.get());
      }
      result = fn(w);
      w.finish();
      if (!replicate) {
        if (commit) {
          txn.commit();
        }
        return result;  // else the WriteTxn aborts
      }
    }  // aborted: the replica changes when the sync loop applies the source's revision
    if (writes.empty()) {
      return result;
    }
    const ReplicationResult r = (*replication)(replica_revision, writes);
    if (r.applied) {
      return result;
    }
    // Wait for the sync loop to bring the replica to the source's revision, then check again.
    // The wait starts now: the call may have used its whole timeout (an answer lost in flight
    // is retried, and then finds its own commit past the replica).
    const auto give_up = std::chrono::steady_clock::now() + catch_up;
    for (;;) {
      std::uint64_t now_at = 0;
      {
        const ScopedRead read(db);
        now_at = read_sync_revision(db, read.txn().get());
      }
      if (now_at >= r.source_revision) {
        break;
      }
      if (std::chrono::steady_clock::now() >= give_up) {
        throw StoreError("the local store is at etcd revision " + std::to_string(now_at) +
                         " but etcd has changes up to revision " +
                         std::to_string(r.source_revision) +
                         ": the write rules need a current replica (is automapd with store.sync "
                         "running on this node?)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

}  // namespace

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

void OverrideStore::set_replication(Replication r, std::chrono::milliseconds catch_up) {
  replication_ = r ? std::make_shared<const Replication>(std::move(r)) : nullptr;
  catch_up_ = catch_up;
}

std::uint64_t OverrideStore::sync_revision() const {
  const ScopedRead read(*db_);
  return read_sync_revision(*db_, read.txn().get());
}

void OverrideStore::put_address(const dns::IpAddress& a, const Override& v) {
  with_write(
      *db_, *rules_,
      [&](TxnWriter& w) {
        w.put_address(a, v);
        return 0;
      },
      true, replication_.get(), catch_up_);
}

void OverrideStore::put_prefix(const dns::Prefix& p, const Override& v) {
  with_write(
      *db_, *rules_,
      [&](TxnWriter& w) {
        w.put_prefix(p, v);
        return 0;
      },
      true, replication_.get(), catch_up_);
}

bool OverrideStore::erase_address(const dns::IpAddress& a) {
  return with_write(
      *db_, *rules_, [&](TxnWriter& w) { return w.erase_address(a); }, true, replication_.get(),
      catch_up_);
}

bool OverrideStore::erase_prefix(const dns::Prefix& p) {
  return with_write(
      *db_, *rules_, [&](TxnWriter& w) { return w.erase_prefix(p); }, true, replication_.get(),
      catch_up_);
}

ApplyResult OverrideStore::apply(std::span<const Change> changes, const ApplyOptions& options) {
  if (options.replace_within) {
    checked_prefix(*options.replace_within);
  }
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
            const TxnWriter::Outcome out = c.is_prefix ? w.put_prefix(c.key, c.value, seq)
                                                       : w.put_address(c.key.address, c.value, seq);
            ++r.written;
            r.added += out == TxnWriter::Outcome::added ? 1 : 0;
            r.replaced += out == TxnWriter::Outcome::replaced ? 1 : 0;
            r.unchanged += out == TxnWriter::Outcome::unchanged ? 1 : 0;
          } else {
            const bool removed =
                c.is_prefix ? w.erase_prefix(c.key, seq) : w.erase_address(c.key.address, seq);
            r.erased += removed ? 1 : 0;
          }
        }
        if (options.replace_within) {
          erase_unwritten(w, changes, order, *options.replace_within, r);
        }
        return r;
      },
      !options.dry_run, replication_.get(), catch_up_);
}

void OverrideStore::rebuild_meta() {
  with_write(*db_, *rules_, [&](TxnWriter& w) {
    w.rebuild_lengths(dns::Family::v4);
    w.rebuild_lengths(dns::Family::v6);
    w.recount();
    return 0;
  });
}

PurgeResult OverrideStore::purge_tombstones(std::uint64_t cutoff_ns, std::size_t per_txn) {
  PurgeResult r;
  per_txn = std::max<std::size_t>(per_txn, 1);
  const OverrideDb::Dbis& d = db_->dbis();
  std::vector<std::uint8_t> buf;
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
      CountDelta delta;
      const auto table = dbi.handle() == d.addr.handle()     ? CountDelta::addr
                         : dbi.handle() == d.prefix.handle() ? CountDelta::prefix
                                                             : CountDelta::name;
      delta.v[2U * table + 1] = -static_cast<std::int64_t>(doomed.size());
      write_counts(txn, d, delta, false, false, buf, now_ns());
      txn.commit();
      ++r.transactions;
      r.purged += doomed.size();
      r.kept += kept;
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------- ReplicaTxn

struct ReplicaTxn::Impl {
  Impl(OverrideStore& st, const WriteRules& r)
      : db(st.db()), gate(db->gate()), txn(begin_write(*db, gate)), rules(r), w(*db, txn, rules) {
    w.skip_rules();
  }
  std::shared_ptr<OverrideDb> db;
  GateScope gate;  // declared before the txn: left after it is gone
  WriteTxn txn;
  WriteRules rules;
  TxnWriter w;
};

ReplicaTxn::ReplicaTxn(OverrideStore& store, bool full) {
  WriteRules rules;
  rules.allow_shared_names = true;  // as the source holds it: the latest write wins
  impl_ = std::make_unique<Impl>(store, rules);
  if (full) {
    impl_->w.clear_all();
  }
}

ReplicaTxn::~ReplicaTxn() = default;

bool ReplicaTxn::put(bool is_prefix, Bytes key, Bytes value) {
  OverrideView view;
  bool deleted = false;
  format::Header h;
  Bytes payload;
  if (decode_override(value, view, deleted) != DecodeError::ok ||
      format::decode_header(value, h, payload) != DecodeError::ok) {
    return false;
  }
  if (is_prefix) {
    dns::Prefix p;
    if (!format::parse_prefix_key(key, p)) {
      return false;
    }
    impl_->w.put_raw_prefix(key, value, p.family(), deleted);
    impl_->w.note_value_time(h.timestamp_ns);
    return true;
  }
  dns::IpAddress a;
  if (!format::parse_address_key(key, a)) {
    return false;
  }
  impl_->w.put_raw_address(key, value, view, deleted);
  impl_->w.note_value_time(h.timestamp_ns);
  return true;
}

void ReplicaTxn::erase(bool is_prefix, Bytes key) {
  dns::Prefix p;
  dns::IpAddress a;
  if (is_prefix ? !format::parse_prefix_key(key, p) : !format::parse_address_key(key, a)) {
    return;
  }
  impl_->w.del_raw(is_prefix, key, is_prefix ? p.family() : a.family());
}

void ReplicaTxn::commit(std::uint64_t revision) {
  impl_->w.finish();
  std::array<std::uint8_t, 9> payload{};
  payload[0] = format::kPayloadVersion;
  format::store_be64(payload.data() + 1, revision);
  impl_->w.write_value(impl_->db->dbis().meta, format::as_bytes(format::kMetaSyncRevision), 0,
                       Bytes(payload.data(), payload.size()));
  impl_->txn.commit();
}

}  // namespace amap::store
