// SPDX-License-Identifier: MIT
#pragma once
// Operator overrides kept in LMDB: a single address -> PTR name (or "none" = NXDOMAIN), or a
// prefix -> hostname template (or "none"), each with an optional TTL.
//
//   OverrideStore   read-write, used by mapctl / the control socket. Throws StoreError.
//   OverrideReader  read-only, one per worker thread; begin() / find_*() / end() per query.
//                   Lookups are noexcept and do not allocate.
//   OverrideDb      the environment plus database handles, opened once per process and shared
//                   by the store and all readers of that process.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mapper/core/template.h"
#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "store/format.h"
#include "store/lmdb.h"

namespace amap::store {

enum class OverrideKind : std::uint8_t {
  name = 1,           // target is a DNS name ("mail.customer.example.")
  name_template = 2,  // target is a hostname template ("cust42-{ip}.biz.pool.example.net.")
  none = 3,           // no target: answer NXDOMAIN
};
std::string_view to_string(OverrideKind k) noexcept;

/// An override as the writer supplies it.
struct Override {
  OverrideKind kind = OverrideKind::none;
  std::uint32_t ttl = 0;  // 0 = use the configured default
  std::string target;     // presentation format; empty for none

  static Override name(std::string_view n, std::uint32_t ttl = 0) {
    return {OverrideKind::name, ttl, std::string(n)};
  }
  static Override name_template(std::string_view t, std::uint32_t ttl = 0) {
    return {OverrideKind::name_template, ttl, std::string(t)};
  }
  static Override none(std::uint32_t ttl = 0) { return {OverrideKind::none, ttl, {}}; }

  friend bool operator==(const Override&, const Override&) = default;
};

/// An override as stored: target points into the LMDB map (valid until the txn ends).
struct OverrideView {
  OverrideKind kind = OverrideKind::none;
  std::uint32_t ttl = 0;
  std::string_view target;
  std::uint64_t timestamp_ns = 0;  // when it was written (Lightning Stream header)

  Override to_override() const { return {kind, ttl, std::string(target)}; }
};

struct PrefixOverrideView {
  dns::Prefix prefix;
  OverrideView value;
};

/// One row of OverrideStore::list().
struct ListEntry {
  bool is_prefix = false;
  dns::Prefix prefix;  // for an address override: the address with length 32 or 128
  OverrideView value;
};

/// One change of a batch.
struct Change {
  enum class Op : std::uint8_t { put, erase };
  Op op = Op::put;
  bool is_prefix = false;
  dns::Prefix key;  // addresses use the full length (32/128)
  Override value;   // ignored for erase
  /// When the change was made, for "the latest write wins" among changes that share a name
  /// (with WriteRules::allow_shared_names) and for conflict reports: mapctl import gives the
  /// line number. 0 for all changes of a batch means their position in the batch.
  std::uint64_t seq = 0;

  static Change put_address(const dns::IpAddress& a, Override v);
  static Change put_prefix(const dns::Prefix& p, Override v);
  static Change erase_address(const dns::IpAddress& a);
  static Change erase_prefix(const dns::Prefix& p);
};

/// Collects changes for OverrideStore::apply (one transaction, all or nothing).
class WriteBatch {
 public:
  void put_address(const dns::IpAddress& a, Override v) {
    changes_.push_back(Change::put_address(a, std::move(v)));
  }
  void put_prefix(const dns::Prefix& p, Override v) {
    changes_.push_back(Change::put_prefix(p, std::move(v)));
  }
  void erase_address(const dns::IpAddress& a) { changes_.push_back(Change::erase_address(a)); }
  void erase_prefix(const dns::Prefix& p) { changes_.push_back(Change::erase_prefix(p)); }
  std::span<const Change> changes() const noexcept { return changes_; }
  std::size_t size() const noexcept { return changes_.size(); }
  bool empty() const noexcept { return changes_.empty(); }
  void clear() noexcept { changes_.clear(); }

 private:
  std::vector<Change> changes_;
};

struct ApplyResult {
  std::size_t written = 0;  // puts
  std::size_t erased = 0;   // erases that removed a live entry
};

struct StoreStats {
  std::size_t address_overrides = 0;  // live entries (tombstones not counted)
  std::size_t prefix_overrides = 0;
  std::size_t names = 0;                  // live reverse-index entries
  std::size_t tombstones = 0;             // deleted markers kept for Lightning Stream
  std::size_t expired_tombstones = 0;     // of those, written before stats()'s cutoff
  std::uint64_t oldest_tombstone_ns = 0;  // 0: none
  std::size_t free_pages = 0;  // pages LMDB's freelist holds for reuse (inside used_pages)
  std::size_t map_size = 0;
  std::size_t page_size = 0;
  std::size_t used_pages = 0;
  std::size_t used_bytes = 0;
  std::uint64_t last_txn_id = 0;
  unsigned readers = 0;         // reader slots owned by processes (mdb_reader_list)
  unsigned active_readers = 0;  // of those, slots with an open snapshot
  unsigned max_readers = 0;
};

/// A forward template of the configuration, which a prefix override must not collide with
/// (mapper::templates_collide). Only templates that are not self-contained can collide, so a
/// writer needs to pass only those.
struct ConfigTemplate {
  mapper::Template name;  // compiled for its prefix
  std::string origin;     // where it comes from, for messages ("automap.yaml:12 prefixes[3]")
};

/// The rules every write of an OverrideStore follows beyond a value's own syntax. The store
/// checks them inside the write transaction, against the state the transaction leaves, so
/// every writer (mapctl add and import, an API, a sync node) gets the same answer:
/// - two prefix overrides, or a prefix override and a configured prefix, must not have
///   colliding templates (mapper::templates_collide), always;
/// - two addresses' overrides must not give the same name, unless `allow_shared_names`: then
///   the latest write (Change::seq) wins the name's forward answer.
struct WriteRules {
  std::vector<ConfigTemplate> config_templates;
  bool allow_shared_names = false;
  /// config::Config::digest of the writer's configuration, recorded with the last change
  /// (format::kMetaLastChange); 0 keeps the recorded one.
  std::uint64_t config_digest = 0;
};

/// format::kMetaLastChange as read back (both 0 before the first write).
struct LastChange {
  std::uint64_t seconds = 0;
  std::uint64_t config_digest = 0;
};

/// One broken write rule, as WriteConflictError reports it.
struct WriteConflict {
  enum class Kind : std::uint8_t { shared_name, template_collision };
  Kind kind = Kind::shared_name;
  dns::Prefix key;  // the written key (an address has the full length)
  bool is_prefix = false;
  std::uint64_t seq = 0;  // Change::seq of that write (its position for an unnumbered batch)
  std::string subject;    // the shared name, or the colliding template's text
  /// The other side: an address ("10.1.1.1"), "the override 10.20.1.0/24" or "the configured
  /// prefix 10.20.1.0/24 (automap.yaml:12 prefixes[3])".
  std::string other;
  bool other_in_config = false;
  std::uint64_t other_seq = 0;  // Change::seq of the other side if this batch wrote it, else 0

  /// The whole sentence; `other_where` follows the other side (" in the store", " (line 3)").
  std::string message(std::string_view other_where) const;
  /// message() with " in the store" or " (in the same batch)" as it applies.
  std::string message() const;
};

/// The write broke WriteRules; the transaction was aborted, nothing changed.
class WriteConflictError : public StoreError {
 public:
  explicit WriteConflictError(std::vector<WriteConflict> conflicts);
  const std::vector<WriteConflict>& conflicts() const noexcept { return conflicts_; }

 private:
  std::vector<WriteConflict> conflicts_;
};

/// What OverrideStore::purge_tombstones did.
struct PurgeResult {
  std::size_t purged = 0;        // tombstones deleted
  std::size_t kept = 0;          // tombstones younger than the cutoff
  std::size_t transactions = 0;  // write transactions used
};

struct StoreOptions {
  std::string path;
  std::size_t map_size = kDefaultMapSize;
  /// Reader slots of the store (store.max_readers); 0 = default_max_readers(). The first
  /// process to open the store sizes the table.
  unsigned max_readers = 0;
  bool read_only = false;
  bool no_meta_sync = false;
  /// Walk every page of data.mdb before opening it and refuse damage (store/verify.h). The
  /// servers set it: they read the whole store anyway, and a damaged page must not crash them.
  bool verify_pages = false;
};

/// Keeps LMDB's map from being remapped (mdb_env_set_mapsize after another process grew it)
/// while this process has a transaction open, without a lock on the per-query path. Every
/// holder of transactions owns a Slot on its own cache line and marks it busy around each
/// transaction: one store and one load, no shared write. A remap raises `pending`, waits
/// (bounded) until every slot is idle, remaps, and lowers it; holders that enter meanwhile
/// wait for it. The store/load pairs are sequentially consistent (Dekker), so either the
/// holder sees `pending` or the remapper sees `busy`.
class RemapGate {
 public:
  struct alignas(64) Slot {
    std::atomic<bool> busy{false};
    bool in_use = false;     // guarded by the gate's mutex
    ReadTxn* txn = nullptr;  // a reader's reused txn, for OverrideDb::retire (the mutex too)
  };

  RemapGate() = default;
  RemapGate(const RemapGate&) = delete;
  RemapGate& operator=(const RemapGate&) = delete;

  /// A slot for one holder (a reader, or one getter/write call). Takes the mutex: not for
  /// the per-query path.
  Slot* acquire();
  void release(Slot* slot) noexcept;
  /// Tells the gate where the slot's holder keeps its txn (it moved), for abort_all_txns.
  void attach(Slot* slot, ReadTxn* txn) noexcept;

  /// Marks the slot busy before a transaction starts. Waits only while a remap runs.
  void enter(Slot& slot) noexcept;
  void leave(Slot& slot) noexcept { slot.busy.store(false, std::memory_order_release); }

  /// Runs fn() while no transaction of this process is open. The caller's own slots must be
  /// idle; throws StoreError if some transaction stays open longer than `wait_ms`.
  void exclusive(const std::function<void()>& fn, unsigned wait_ms = 5000,
                 std::string_view purpose = "adopt the grown LMDB map");
  /// Aborts every attached txn (all idle). Only inside exclusive(), which holds the mutex.
  void abort_all_txns() noexcept;
  /// True while a remap waits for this process's transactions to end: a long scan that holds
  /// a snapshot should give up.
  bool remap_pending() const noexcept { return pending_.load(std::memory_order_acquire); }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<bool> pending_{false};
};

/// A slot held busy for the lifetime of a scope (getters and writes, not the query path).
class GateScope {
 public:
  explicit GateScope(RemapGate& gate) : gate_(gate), slot_(gate.acquire()) { gate_.enter(*slot_); }
  GateScope(const GateScope&) = delete;
  GateScope& operator=(const GateScope&) = delete;
  ~GateScope() {
    gate_.leave(*slot_);
    gate_.release(slot_);
  }
  void leave() noexcept { gate_.leave(*slot_); }
  void enter() noexcept { gate_.enter(*slot_); }

 private:
  RemapGate& gate_;
  RemapGate::Slot* slot_;
};

/// The environment and the four databases. Opened once per process and path (a registry keyed
/// by device and inode returns the same object, as LMDB forbids opening an environment twice in
/// one process); a read-write instance also serves readers.
class OverrideDb {
 public:
  struct Dbis {
    Dbi addr;
    Dbi prefix;
    Dbi name;
    Dbi meta;
  };

  static std::shared_ptr<OverrideDb> open(const StoreOptions& options);
  /// Opens the store at options.path again after its data.mdb was replaced under `old`
  /// (store/README.md, "A store replaced under a running server"): the registry forgets
  /// `old`, so a new environment is opened, unless another caller has already reopened it.
  static std::shared_ptr<OverrideDb> reopen(const StoreOptions& options, const OverrideDb& old);

  OverrideDb(const OverrideDb&) = delete;
  OverrideDb& operator=(const OverrideDb&) = delete;
  ~OverrideDb() = default;

  const Env& env() const noexcept { return env_; }
  /// Unique in the process: tells environments apart that had the same address.
  std::uint64_t serial() const noexcept { return serial_; }
  /// Closes the environment while readers may still hold this object: waits (at most 5 s)
  /// until no transaction of the process is open on it, aborts every reader's txn and the
  /// kept slots, and closes it. Readers then fail in begin() ("was replaced"). Needed when a
  /// new data.mdb must be opened next to the same lock.mdb (LMDB allows one environment per
  /// lock file and process). Throws StoreError when a transaction stays open.
  void retire();
  /// True after retire(): env() is closed.
  bool retired() const noexcept { return retired_.load(std::memory_order_acquire); }
  /// Reader slots reserve_reader_slots took (a reopen reserves as many).
  unsigned reserved_reader_slots() const noexcept {
    return reserved_.load(std::memory_order_relaxed);
  }
  const Dbis& dbis() const noexcept { return dbis_; }
  bool read_only() const noexcept { return env_.read_only(); }
  /// Clears reader slots of dead processes (call at start and about once a minute).
  int reader_check() { return env_.reader_check(); }

  /// Every transaction of this process is opened inside the gate; adopting a map grown by
  /// another process (mdb_env_set_mapsize(0) remaps, invalidating views) waits for them.
  RemapGate& gate() const noexcept { return gate_; }
  /// Adopts the new map size after MDB_MAP_RESIZED. The caller's slots must be idle.
  void adopt_map_size();

  /// Takes `count` LMDB reader slots now and keeps them for this process's readers, so that a
  /// running server never needs a new slot (other processes may have taken the rest). A
  /// reader's txn goes back here when the reader is destroyed (a reload keeps the slots).
  /// Throws StoreError (MDB_READERS_FULL: "raise store.max_readers") when they cannot be had.
  void reserve_reader_slots(unsigned count);
  /// For OverrideReader: a kept slot (a reset txn) into `out`, if there is one.
  void take_reader_slot(ReadTxn& out) noexcept;
  /// For OverrideReader: keeps the txn's slot for the next reader.
  void return_reader_slot(ReadTxn& txn) noexcept;

 private:
  OverrideDb() = default;

  Env env_;
  Dbis dbis_;
  std::uint64_t serial_ = 0;
  std::atomic<bool> retired_{false};
  std::atomic<unsigned> reserved_{0};
  mutable RemapGate gate_;
  std::mutex spare_mu_;
  std::vector<ReadTxn> spare_;  // reset txns: reader slots kept for this process (after env_)
};

/// Read-write access. Not thread-safe: use one per thread (writes are serialized by LMDB).
class OverrideStore {
 public:
  /// Opens or creates the store (creating the directory). Throws StoreError.
  explicit OverrideStore(const StoreOptions& options);
  explicit OverrideStore(std::shared_ptr<OverrideDb> db);

  /// The rules the following writes follow (WriteRules); the default allows no shared names
  /// and checks templates against the other stored overrides only.
  void set_write_rules(WriteRules rules);
  const WriteRules& write_rules() const noexcept { return *rules_; }

  /// Throw WriteConflictError when a write breaks the WriteRules, StoreError otherwise.
  void put_address(const dns::IpAddress& a, const Override& v);
  void put_prefix(const dns::Prefix& p, const Override& v);
  bool erase_address(const dns::IpAddress& a);
  bool erase_prefix(const dns::Prefix& p);
  std::optional<Override> get_address(const dns::IpAddress& a) const;
  std::optional<Override> get_prefix(const dns::Prefix& p) const;
  /// Forward index: which address override currently owns this name.
  std::optional<dns::IpAddress> get_name(const dns::Name& n) const;

  /// Applies all changes in one write transaction: all or nothing. With `dry_run` every check
  /// runs (WriteConflictError lists every conflict at once) but the transaction is aborted.
  ApplyResult apply(std::span<const Change> changes, bool dry_run = false);
  ApplyResult apply(const WriteBatch& batch) { return apply(batch.changes()); }

  /// Calls fn for address and prefix overrides in address order (family, address bytes; a
  /// prefix before an address equal to its network, shorter prefixes first), optionally only
  /// those inside `within`, at most `limit` entries (0 = no limit). Returns how many were
  /// listed. Views are valid only inside fn.
  std::size_t list(std::optional<dns::Prefix> within, std::size_t limit,
                   const std::function<void(const ListEntry&)>& fn) const;

  /// `tombstone_cutoff_ns` (ns since the epoch) counts the tombstones written before it as
  /// expired_tombstones.
  StoreStats stats(std::uint64_t tombstone_cutoff_ns = 0) const;
  /// Deletes (mdb_del: the key is gone) the tombstones of `addr`, `prefix` and `name` written
  /// before `cutoff_ns`, in write transactions of at most `per_txn` deletions, so that a map
  /// that is nearly full can still be purged (each commit frees pages for the next). Readers
  /// see no difference: a missing key reads as a tombstone does. The freed pages go to LMDB's
  /// freelist and are reused by later writes; the file does not shrink (store/README.md).
  PurgeResult purge_tombstones(std::uint64_t cutoff_ns, std::size_t per_txn = 10000);
  /// Recomputes the prefix-length bitmaps from the prefix database (e.g. after a Lightning
  /// Stream merge from several writers).
  void rebuild_meta();

  const std::shared_ptr<OverrideDb>& db() const noexcept { return db_; }

 private:
  std::shared_ptr<OverrideDb> db_;
  std::shared_ptr<const WriteRules> rules_ = std::make_shared<const WriteRules>();
};

/// The collisions (mapper::templates_collide) among the given live prefix overrides and the
/// configured templates, for `mapctl check`: one message per colliding pair. A configured
/// template whose prefix carries an override of its own is replaced by it and not counted.
std::vector<std::string> find_template_collisions(
    std::span<const std::pair<dns::Prefix, std::string>> prefix_templates,
    std::span<const ConfigTemplate> config_templates);

/// Read-only access for one worker thread. Usage per query: begin(); find_*(); end().
/// Views returned by find_* point into the map and are valid until end().
class OverrideReader {
 public:
  /// Opens the store read-only (shared per process). Throws StoreError with a clear message
  /// when the store does not exist yet.
  static OverrideReader open(const std::string& path, unsigned max_readers = 0);
  explicit OverrideReader(std::shared_ptr<OverrideDb> db);

  OverrideReader(OverrideReader&& other) noexcept;
  OverrideReader& operator=(OverrideReader&& other) noexcept;
  ~OverrideReader();

  /// Takes a fresh snapshot (renews the reused txn). Sees every commit made before the call,
  /// by any process. Throws StoreError only for environment errors (reader table full...).
  void begin();
  /// Releases the snapshot. Never stay between begin() and end() while idle.
  void end() noexcept;
  bool in_txn() const noexcept { return txn_.active(); }

  std::optional<OverrideView> find_address(const dns::IpAddress& a) noexcept;
  /// The longest prefix override covering `a`.
  std::optional<PrefixOverrideView> find_prefix(const dns::IpAddress& a) noexcept;
  /// Calls `fn` for every live prefix override in the current snapshot, in key order.
  /// For rebuilding derived state, not for the per-query path.
  std::size_t for_each_prefix(const std::function<void(const PrefixOverrideView&)>& fn);
  /// Number of keys in the `addr` table of the current snapshot (live and tombstones).
  std::size_t address_key_count();
  /// Calls `fn` for every key of the `addr` table (live or tombstone) of the current snapshot,
  /// in key order, until it returns false. Returns false if it was stopped. Not for the
  /// per-query path.
  bool for_each_address_key(const std::function<bool(Bytes)>& fn);
  /// Changes whenever a transaction changed a prefix override (0 before the first one).
  std::uint64_t prefix_generation() noexcept;
  /// The last committed write's time and config digest (format::kMetaLastChange).
  LastChange last_change() noexcept;
  /// The address whose override names `n` (case-insensitive).
  std::optional<dns::IpAddress> find_name(const dns::Name& n) noexcept;

  /// Lookups that failed in LMDB (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, a value outside the map:
  /// a damaged page). Such a lookup cannot tell "no override", so the caller must answer an
  /// error (SERVFAIL), never synthesis. last_lookup_error() is the LMDB code.
  std::uint64_t lookup_failures() const noexcept { return lookup_failures_; }
  int last_lookup_error() const noexcept { return last_lookup_error_; }
  /// Lookup failures of every reader of the process.
  static std::uint64_t lookup_failures_total() noexcept;

  /// Values skipped because they could not be decoded (unknown version, corrupt).
  std::uint64_t error_count() const noexcept { return error_count_; }
  format::DecodeError last_error() const noexcept { return last_error_; }
  std::string_view last_error_message() const noexcept {
    return format::decode_error_message(last_error_);
  }
  const std::shared_ptr<OverrideDb>& db() const noexcept { return db_; }
  /// Snapshot id of the current txn (0 outside begin/end).
  std::uint64_t txn_id() const noexcept { return txn_.id(); }

 private:
  /// Decodes a value; false for tombstones and for undecodable values (counted).
  bool live_override(Bytes raw, OverrideView& out) noexcept;
  bool live_simple(Bytes raw, Bytes& out) noexcept;
  /// Gives the txn's slot back to the db and the gate slot (destructor, move assignment).
  void detach() noexcept;
  void note_error(format::DecodeError e) noexcept {
    last_error_ = e;
    ++error_count_;
  }
  /// The LMDB code of a lookup; true when it found the key.
  bool found(int rc) noexcept;

  std::shared_ptr<OverrideDb> db_;
  ReadTxn txn_;
  RemapGate::Slot* slot_ = nullptr;
  std::uint64_t error_count_ = 0;
  format::DecodeError last_error_ = format::DecodeError::ok;
  std::uint64_t lookup_failures_ = 0;
  int last_lookup_error_ = 0;
};

/// Decodes an address/prefix value. On success `deleted` tells whether it is a tombstone.
format::DecodeError decode_override(Bytes value, OverrideView& out, bool& deleted) noexcept;

}  // namespace amap::store
