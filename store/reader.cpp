// SPDX-License-Identifier: MIT
#include "store/reader.h"

#include <array>
#include <atomic>
#include <utility>

#include "store/format.h"

namespace amap::store {

using format::DecodeError;

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

std::optional<StoreCounts> OverrideReader::counts() noexcept {
  Bytes raw;
  Bytes data;
  StoreCounts c;
  if (!found(txn_.get(db_->dbis().meta, format::as_bytes(format::kMetaCounts), raw)) ||
      !live_simple(raw, data) || !decode_counts(data, c)) {
    return std::nullopt;
  }
  return c;
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
