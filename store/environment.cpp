// SPDX-License-Identifier: MIT
#include "store/environment.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <tuple>
#include <utility>

#include "store/codec.h"
#include "store/format.h"

namespace amap::store {

using format::DecodeError;

namespace {

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
        std::array<std::uint8_t, 5> payload{format::kPayloadVersion};
        format::store_be32(payload.data() + 1, format::kSchemaVersion);
        std::vector<std::uint8_t> value;
        encode_value(value, now_ns(), txn.id(), 0, payload);
        txn.put(db->dbis_.meta, format::as_bytes(format::kMetaSchemaVersion), value);
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

// ---------------------------------------------------------------------------------- ScopedRead

ScopedRead::ScopedRead(const OverrideDb& db) : gate_(db.gate()) {
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

}  // namespace amap::store
