// SPDX-License-Identifier: MIT
#include "store/lmdb.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

namespace amap::store {
namespace {

constexpr long kNfsSuperMagic = 0x6969;

MDB_val to_val(Bytes b) noexcept {
  MDB_val v;
  v.mv_size = b.size();
  // LMDB's API is not const-correct; it never writes through mv_data for keys and inputs.
  v.mv_data = const_cast<std::uint8_t*>(b.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  return v;
}

Bytes from_val(const MDB_val& v) noexcept {
  return {static_cast<const std::uint8_t*>(v.mv_data), v.mv_size};
}

}  // namespace

std::string format_size(std::size_t bytes) {
  constexpr std::size_t kKiB = 1024;
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  std::size_t value = bytes;
  std::size_t unit = 0;
  while (unit + 1 < std::size(units) && value >= kKiB && value % kKiB == 0) {
    value /= kKiB;
    ++unit;
  }
  return std::to_string(value) + " " + units[unit];
}

void throw_lmdb(std::string_view call, int rc, std::size_t map_size) {
  std::string msg(call);
  msg += ": ";
  switch (rc) {
    case MDB_MAP_FULL:
      msg += "store is full (map_size " + format_size(map_size) +
             "): raise store.map_size in the config";
      break;
    case MDB_TXN_FULL:
      msg += "transaction has too many dirty pages: split the import into smaller batches";
      break;
    case MDB_READERS_FULL:
      msg += "all LMDB reader slots are in use: raise store.max_readers in the config";
      break;
    case MDB_MAP_RESIZED:
      msg += "the map was grown by another process";
      break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
      msg += "the database is corrupted";
      break;
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
      msg += "not an LMDB database of a supported version";
      break;
    case ENOSPC:
      msg += "the filesystem is full";
      break;
    default:
      msg += "failed";
      break;
  }
  msg += " (";
  msg += mdb_strerror(rc);
  msg += ")";
  throw StoreError(msg, rc);
}

// ---------------------------------------------------------------------------------------- Env

Env Env::open(const EnvOptions& options) {
  namespace fs = std::filesystem;
  const std::string& path = options.path;
  if (path.empty()) {
    throw StoreError("store path is empty: set store.path in the config");
  }
  std::error_code ec;
  if (options.read_only) {
    if (!fs::is_directory(path, ec)) {
      throw StoreError(
          "override store " + path + " does not exist: create it with mapctl (or check store.path)",
          ENOENT);
    }
    if (!fs::exists(fs::path(path) / "data.mdb", ec)) {
      throw StoreError("override store " + path +
                           " has no data.mdb yet: create it with mapctl (or check store.path)",
                       ENOENT);
    }
  } else {
    fs::create_directories(path, ec);
    if (ec) {
      throw StoreError("cannot create store directory " + path + ": " + ec.message(), ec.value());
    }
  }
  struct statfs sfs {};
  if (::statfs(path.c_str(), &sfs) == 0 && static_cast<long>(sfs.f_type) == kNfsSuperMagic) {
    throw StoreError("store " + path +
                     " is on NFS: LMDB needs a local filesystem (its locks and mmap do not work "
                     "over NFS)");
  }

  Env env;
  env.path_ = path;
  env.read_only_ = options.read_only;
  int rc = mdb_env_create(&env.env_);
  if (rc != 0) {
    env.env_ = nullptr;
    throw_lmdb("mdb_env_create", rc);
  }
  auto fail = [&](const char* call, int code) {
    throw_lmdb(std::string(call) + " (" + path + ")", code, options.map_size);
  };
  if (!options.read_only) {
    if ((rc = mdb_env_set_mapsize(env.env_, options.map_size)) != 0) {
      fail("mdb_env_set_mapsize", rc);
    }
  }
  if ((rc = mdb_env_set_maxreaders(env.env_, options.max_readers)) != 0) {
    fail("mdb_env_set_maxreaders", rc);
  }
  if ((rc = mdb_env_set_maxdbs(env.env_, options.max_dbs)) != 0) {
    fail("mdb_env_set_maxdbs", rc);
  }
  unsigned flags = MDB_NOTLS;
  if (options.read_only) {
    flags |= MDB_RDONLY;
  }
  if (options.no_meta_sync) {
    flags |= MDB_NOMETASYNC;
  }
  if ((rc = mdb_env_open(env.env_, path.c_str(), flags,
                         static_cast<mdb_mode_t>(options.file_mode))) != 0) {
    fail("mdb_env_open", rc);
  }
  mdb_filehandle_t fd = -1;
  if (mdb_env_get_fd(env.env_, &fd) == 0 && fd >= 0) {
    const int fdflags = ::fcntl(fd, F_GETFD);
    if (fdflags >= 0) {
      ::fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC);
    }
  }
  env.reader_check();
  return env;
}

Env::Env(Env&& other) noexcept
    : env_(std::exchange(other.env_, nullptr)),
      read_only_(other.read_only_),
      path_(std::move(other.path_)) {}

Env& Env::operator=(Env&& other) noexcept {
  if (this != &other) {
    if (env_ != nullptr) {
      mdb_env_close(env_);
    }
    env_ = std::exchange(other.env_, nullptr);
    read_only_ = other.read_only_;
    path_ = std::move(other.path_);
  }
  return *this;
}

Env::~Env() {
  if (env_ != nullptr) {
    mdb_env_close(env_);
  }
}

std::size_t Env::map_size() const noexcept {
  MDB_envinfo info{};
  if (env_ == nullptr || mdb_env_info(env_, &info) != 0) {
    return 0;
  }
  return info.me_mapsize;
}

EnvInfo Env::info() const {
  MDB_envinfo ei{};
  int rc = mdb_env_info(env_, &ei);
  if (rc != 0) {
    throw_lmdb("mdb_env_info", rc);
  }
  MDB_stat st{};
  if ((rc = mdb_env_stat(env_, &st)) != 0) {
    throw_lmdb("mdb_env_stat", rc);
  }
  EnvInfo out;
  out.map_size = ei.me_mapsize;
  out.page_size = st.ms_psize;
  out.last_page = ei.me_last_pgno;
  out.used_bytes = (ei.me_last_pgno + 1) * st.ms_psize;
  out.last_txn_id = ei.me_last_txnid;
  out.max_readers = ei.me_maxreaders;
  out.reader_slots_used = ei.me_numreaders;
  return out;
}

int Env::reader_check() {
  int dead = 0;
  const int rc = mdb_reader_check(env_, &dead);
  if (rc != 0) {
    throw_lmdb("mdb_reader_check", rc);
  }
  return dead;
}

void Env::adopt_map_size() {
  const int rc = mdb_env_set_mapsize(env_, 0);
  if (rc != 0) {
    throw_lmdb("mdb_env_set_mapsize", rc);
  }
}

// ---------------------------------------------------------------------------------------- Dbi

Dbi Dbi::open(MDB_txn* txn, const char* name, unsigned flags) {
  MDB_dbi dbi = 0;
  const int rc = mdb_dbi_open(txn, name, flags, &dbi);
  if (rc != 0) {
    throw_lmdb(std::string("mdb_dbi_open(\"") + name + "\")", rc);
  }
  return Dbi(dbi);
}

// ------------------------------------------------------------------------------------ ReadTxn

int ReadTxn::try_begin(const Env& env, ReadTxn& out) noexcept {
  out.abort();
  MDB_txn* txn = nullptr;
  const int rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &txn);
  if (rc != 0) {
    return rc;
  }
  out.txn_ = txn;
  out.active_ = true;
  return 0;
}

ReadTxn ReadTxn::begin(const Env& env) {
  ReadTxn t;
  const int rc = try_begin(env, t);
  if (rc != 0) {
    throw_lmdb("mdb_txn_begin(read-only)", rc);
  }
  return t;
}

ReadTxn::ReadTxn(ReadTxn&& other) noexcept
    : txn_(std::exchange(other.txn_, nullptr)), active_(std::exchange(other.active_, false)) {}

ReadTxn& ReadTxn::operator=(ReadTxn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = std::exchange(other.txn_, nullptr);
    active_ = std::exchange(other.active_, false);
  }
  return *this;
}

ReadTxn::~ReadTxn() {
  abort();
}

void ReadTxn::reset() noexcept {
  if (txn_ != nullptr && active_) {
    mdb_txn_reset(txn_);
    active_ = false;
  }
}

int ReadTxn::renew() noexcept {
  if (txn_ == nullptr) {
    return EINVAL;
  }
  if (active_) {
    return 0;
  }
  const int rc = mdb_txn_renew(txn_);
  active_ = rc == 0;
  return rc;
}

void ReadTxn::abort() noexcept {
  if (txn_ != nullptr) {
    mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
  active_ = false;
}

void ReadTxn::commit() {
  if (txn_ == nullptr) {
    return;
  }
  MDB_txn* txn = std::exchange(txn_, nullptr);
  active_ = false;
  const int rc = mdb_txn_commit(txn);
  if (rc != 0) {
    throw_lmdb("mdb_txn_commit(read-only)", rc);
  }
}

std::uint64_t ReadTxn::id() const noexcept {
  return active() ? static_cast<std::uint64_t>(mdb_txn_id(txn_)) : 0;
}

int ReadTxn::get(Dbi dbi, Bytes key, Bytes& out) const noexcept {
  if (!active()) {
    return EINVAL;
  }
  MDB_val k = to_val(key);
  MDB_val v{};
  const int rc = mdb_get(txn_, dbi.handle(), &k, &v);
  if (rc == 0) {
    out = from_val(v);
  }
  return rc;
}

std::optional<Bytes> ReadTxn::find(Dbi dbi, Bytes key) const noexcept {
  Bytes out;
  if (get(dbi, key, out) != 0) {
    return std::nullopt;
  }
  return out;
}

// ----------------------------------------------------------------------------------- WriteTxn

WriteTxn WriteTxn::begin(const Env& env) {
  if (env.read_only()) {
    throw StoreError("mdb_txn_begin: store " + env.path() + " is open read-only", EACCES);
  }
  WriteTxn t;
  const int rc = mdb_txn_begin(env.get(), nullptr, 0, &t.txn_);
  if (rc != 0) {
    t.txn_ = nullptr;
    throw_lmdb("mdb_txn_begin(write)", rc, env.map_size());
  }
  t.env_ = &env;
  return t;
}

WriteTxn::WriteTxn(WriteTxn&& other) noexcept
    : txn_(std::exchange(other.txn_, nullptr)), env_(other.env_) {}

WriteTxn& WriteTxn::operator=(WriteTxn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = std::exchange(other.txn_, nullptr);
    env_ = other.env_;
  }
  return *this;
}

WriteTxn::~WriteTxn() {
  abort();
}

void WriteTxn::commit() {
  if (txn_ == nullptr) {
    throw StoreError("mdb_txn_commit: no active write transaction", EINVAL);
  }
  // mdb_txn_commit frees the txn even when it fails: never touch the handle again.
  MDB_txn* txn = std::exchange(txn_, nullptr);
  const int rc = mdb_txn_commit(txn);
  if (rc != 0) {
    throw_lmdb("mdb_txn_commit", rc, env_ != nullptr ? env_->map_size() : 0);
  }
}

void WriteTxn::abort() noexcept {
  if (txn_ != nullptr) {
    mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
}

std::uint64_t WriteTxn::id() const noexcept {
  return txn_ != nullptr ? static_cast<std::uint64_t>(mdb_txn_id(txn_)) : 0;
}

std::optional<Bytes> WriteTxn::find(Dbi dbi, Bytes key) const {
  MDB_val k = to_val(key);
  MDB_val v{};
  const int rc = mdb_get(txn_, dbi.handle(), &k, &v);
  if (rc == MDB_NOTFOUND) {
    return std::nullopt;
  }
  if (rc != 0) {
    throw_lmdb("mdb_get", rc);
  }
  return from_val(v);
}

void WriteTxn::put(Dbi dbi, Bytes key, Bytes value, unsigned flags) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  const int rc = mdb_put(txn_, dbi.handle(), &k, &v, flags);
  if (rc != 0) {
    throw_lmdb("mdb_put", rc, env_ != nullptr ? env_->map_size() : 0);
  }
}

bool WriteTxn::del(Dbi dbi, Bytes key) {
  MDB_val k = to_val(key);
  const int rc = mdb_del(txn_, dbi.handle(), &k, nullptr);
  if (rc == MDB_NOTFOUND) {
    return false;
  }
  if (rc != 0) {
    throw_lmdb("mdb_del", rc, env_ != nullptr ? env_->map_size() : 0);
  }
  return true;
}

// ------------------------------------------------------------------------------------- Cursor

Cursor Cursor::open(MDB_txn* txn, Dbi dbi) {
  Cursor c;
  const int rc = mdb_cursor_open(txn, dbi.handle(), &c.cursor_);
  if (rc != 0) {
    c.cursor_ = nullptr;
    throw_lmdb("mdb_cursor_open", rc);
  }
  return c;
}

Cursor::Cursor(Cursor&& other) noexcept
    : cursor_(std::exchange(other.cursor_, nullptr)), key_(other.key_), value_(other.value_) {}

Cursor& Cursor::operator=(Cursor&& other) noexcept {
  if (this != &other) {
    if (cursor_ != nullptr) {
      mdb_cursor_close(cursor_);
    }
    cursor_ = std::exchange(other.cursor_, nullptr);
    key_ = other.key_;
    value_ = other.value_;
  }
  return *this;
}

Cursor::~Cursor() {
  if (cursor_ != nullptr) {
    mdb_cursor_close(cursor_);
  }
}

bool Cursor::move(MDB_cursor_op op, const MDB_val* at) {
  MDB_val k{};
  MDB_val v{};
  if (at != nullptr) {
    k = *at;
  }
  const int rc = mdb_cursor_get(cursor_, &k, &v, op);
  if (rc == MDB_NOTFOUND) {
    key_ = {};
    value_ = {};
    return false;
  }
  if (rc != 0) {
    throw_lmdb("mdb_cursor_get", rc);
  }
  key_ = from_val(k);
  value_ = from_val(v);
  return true;
}

bool Cursor::seek(Bytes key) {
  const MDB_val k = to_val(key);
  return move(MDB_SET_RANGE, &k);
}
bool Cursor::first() {
  return move(MDB_FIRST, nullptr);
}
bool Cursor::next() {
  return move(MDB_NEXT, nullptr);
}
bool Cursor::last() {
  return move(MDB_LAST, nullptr);
}
bool Cursor::prev() {
  return move(MDB_PREV, nullptr);
}

}  // namespace amap::store
