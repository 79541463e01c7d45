// SPDX-License-Identifier: MIT
#pragma once
// A thin RAII layer over the LMDB C API. It owns handles and turns LMDB error codes into
// StoreError exceptions on the writer side; the read side offers noexcept calls that return
// the LMDB code or an empty optional so DNS lookups never throw or allocate.
//
// Rules followed (see store/README.md): MDB_NOTLS always (read txns are reset/renewed and may
// hop threads), never MDB_WRITEMAP, full sync unless the caller opts into MDB_NOMETASYNC,
// FD_CLOEXEC on the data file, mdb_reader_check at open.

#include <lmdb.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace amap::store {

/// Raw bytes as LMDB stores them (keys and values). Values point into the memory map and
/// are only 2-byte aligned: read multi-byte fields with memcpy or byte shifts.
using Bytes = std::span<const std::uint8_t>;

/// Writer-side and should-never-happen errors. what() names the failing LMDB call.
class StoreError : public std::runtime_error {
 public:
  StoreError(const std::string& what, int code = 0) : std::runtime_error(what), code_(code) {}
  /// The LMDB or errno code, 0 when the error did not come from LMDB.
  int code() const noexcept { return code_; }

 private:
  int code_;
};

/// Throws StoreError "<call>: <explanation> (<mdb_strerror>)". map_size is used for the
/// MDB_MAP_FULL advice.
[[noreturn]] void throw_lmdb(std::string_view call, int rc, std::size_t map_size = 0);

/// Why this process cannot open the store in `dir` ("" when nothing is refused), checked as
/// its effective user and groups: the first directory it cannot search, else lock.mdb (rw:
/// every reader, a read-only one too, takes a slot in LMDB's lock file), else data.mdb (r for
/// a reader, rw for a writer). The sentence names the file, its owner and mode, the user and
/// the missing access, and the fix. Env::open throws it (EACCES); `automapd checkconf
/// --as-user` prints it.
std::string permission_problem(const std::string& dir, bool read_only);
/// "64 KiB", "4 GiB", "1536 MiB": a size as an operator would write it.
std::string format_size(std::size_t bytes);
/// "12.5 MiB": a size rounded for reading.
std::string human_size(std::uint64_t bytes);
/// " (the filesystem holding DIR is full: 12 KiB free)" or " (DIR: 3.2 GiB free)" for a
/// write that failed with EIO or ENOSPC; LMDB reports a short write (a full disk) as EIO.
std::string space_note(const std::string& dir, int rc);

inline constexpr std::size_t kDefaultMapSize = std::size_t{4} << 30;  // 4 GiB
inline constexpr unsigned kDefaultMaxReaders = 512;  // the least default_max_readers() gives
/// The reader slots a store gets when the config does not set store.max_readers: 512, or 4
/// per core and 64 more on machines with more than 112 cores. A server holds one slot per
/// worker thread (one UDP thread per core and listen address by default, plus TCP and the
/// filter keeper), each pipe coprocess one or two, each mapctl one while it runs.
unsigned default_max_readers() noexcept;
inline constexpr unsigned kDefaultMaxDbs = 8;

struct EnvOptions {
  /// Directory holding data.mdb and lock.mdb. Created (with parents) by writers.
  std::string path;
  /// Size of the memory map = the maximum database size. Ignored for read-only opens, which
  /// adopt the size the writer configured.
  std::size_t map_size = kDefaultMapSize;
  unsigned max_dbs = kDefaultMaxDbs;
  /// Reader slots shared by all processes; must cover every worker thread of every process.
  unsigned max_readers = kDefaultMaxReaders;
  bool read_only = false;
  /// Opt-in MDB_NOMETASYNC: keeps integrity but a system crash may lose the last commit.
  bool no_meta_sync = false;
  /// File mode for data.mdb/lock.mdb when they are created.
  /// Mode of the files a writer creates, whatever the umask; their group is the directory's
  /// when it is setgid. Readers need rw on lock.mdb and r on data.mdb.
  unsigned file_mode = 0660;
  /// Before mapping, walk every page of data.mdb (store/verify.h) and refuse a damaged file.
  /// The meta pages are always checked against the file size; this reads the whole tree.
  bool verify_pages = false;
};

struct EnvInfo {
  std::size_t map_size = 0;
  std::size_t page_size = 0;
  std::size_t last_page = 0;   // highest page number in use
  std::size_t used_bytes = 0;  // (last_page + 1) * page_size
  std::uint64_t last_txn_id = 0;
  unsigned max_readers = 0;
};

/// An open LMDB environment. Move-only. Open each environment at most once per process
/// (LMDB's fcntl locking breaks otherwise) and never use it in a child after fork().
class Env {
 public:
  Env() noexcept = default;
  /// Opens (and for writers creates) the environment. Throws StoreError with the path and the
  /// failing call; a missing directory for a read-only open gives a clear "does not exist".
  /// An existing data.mdb is checked before it is mapped (store/verify.h): an empty,
  /// truncated or foreign file is refused, never taken as a new store. lock.mdb is
  /// preallocated, so a full filesystem is ENOSPC here and not SIGBUS in LMDB.
  static Env open(const EnvOptions& options);

  Env(Env&& other) noexcept;
  Env& operator=(Env&& other) noexcept;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env();

  MDB_env* get() const noexcept { return env_; }
  explicit operator bool() const noexcept { return env_ != nullptr; }
  bool read_only() const noexcept { return read_only_; }
  const std::string& path() const noexcept { return path_; }

  /// Current map size (may have been grown by another process).
  std::size_t map_size() const noexcept;
  EnvInfo info() const;
  /// Reader slots owned by a process now (idle or in a snapshot), slots of dead processes
  /// included until reader_check() clears them. Counted from mdb_reader_list's calls, not
  /// its text; one pass over the table (no lock), not for the per-query path.
  unsigned readers_in_use() const noexcept;
  /// Clears reader slots left by dead processes; returns how many were cleared.
  int reader_check();
  /// Adopts a map size changed by another process (after MDB_MAP_RESIZED). Only call with no
  /// transaction of this process active.
  void adopt_map_size();
  /// True when [p, p + n) lies inside the memory map: a value of a damaged page can point
  /// anywhere, and reading it would crash the reader.
  bool in_map(const void* p, std::size_t n) const noexcept {
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t begin = map_begin_.load(std::memory_order_relaxed);
    const std::uintptr_t end = map_end_.load(std::memory_order_relaxed);
    return at >= begin && at <= end && n <= end - at;
  }
  /// Empty while path/data.mdb is still the file this environment mapped; otherwise what
  /// happened to it ("removed", "replaced: inode 12 -> 34"). One stat() call.
  std::string replaced() const;
  /// True when path/lock.mdb is still the lock file this environment opened. LMDB allows one
  /// environment per lock file and process, so a data.mdb replaced next to a kept lock.mdb
  /// can be opened only after this environment is closed.
  bool lock_file_kept() const;
  /// True when this open created data.mdb (a new store).
  bool created() const noexcept { return created_ != 0; }
  /// Closes the environment (mdb_env_close) and keeps its path and file identities, which
  /// other threads may still read (replaced(), lock_file_kept()).
  void close() noexcept;
  /// Closes the environment and removes what this open created (data.mdb, lock.mdb, the
  /// directory), so that a failed creation leaves nothing a later open would misread.
  void close_and_remove_created() noexcept;

 private:
  MDB_env* env_ = nullptr;
  bool read_only_ = false;
  std::string path_;
  unsigned created_ = 0;        // kCreated* bits
  std::uint64_t data_dev_ = 0;  // the data.mdb that is mapped
  std::uint64_t data_ino_ = 0;
  std::uint64_t lock_dev_ = 0;  // the lock.mdb that was opened
  std::uint64_t lock_ino_ = 0;
  // The memory map, refreshed at open and by adopt_map_size (no txn of the process is open).
  std::atomic<std::uintptr_t> map_begin_{0};
  std::atomic<std::uintptr_t> map_end_{0};
  int bus_slot_ = -1;  // the map's slot in store/bus_guard.h, -1 when not registered
  void note_map() noexcept;
  void forget_map() noexcept;
};

/// A named database handle. Plain value; LMDB handles need no closing.
class Dbi {
 public:
  constexpr Dbi() noexcept = default;
  constexpr explicit Dbi(MDB_dbi dbi) noexcept : dbi_(dbi) {}
  /// Opens (flags may include MDB_CREATE) inside txn. Throws StoreError naming the database.
  static Dbi open(MDB_txn* txn, const char* name, unsigned flags);
  constexpr MDB_dbi handle() const noexcept { return dbi_; }

 private:
  MDB_dbi dbi_ = 0;
};

/// A read-only transaction meant for reuse: begin once, then reset()/renew() per query.
class ReadTxn {
 public:
  ReadTxn() noexcept = default;
  /// mdb_txn_begin(MDB_RDONLY). Throws StoreError on failure.
  static ReadTxn begin(const Env& env);
  /// Like begin but returns the LMDB code (0 on success) instead of throwing. When the reader
  /// table is full, slots of dead processes are reclaimed (mdb_reader_check) and it retries.
  static int try_begin(const Env& env, ReadTxn& out) noexcept;

  ReadTxn(ReadTxn&& other) noexcept;
  ReadTxn& operator=(ReadTxn&& other) noexcept;
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;
  ~ReadTxn();

  /// Releases the snapshot but keeps the handle (and reader slot) for renew().
  void reset() noexcept;
  /// Takes a fresh snapshot; returns 0 or the LMDB code (MDB_MAP_RESIZED, MDB_READERS_FULL...).
  int renew() noexcept;
  void abort() noexcept;
  /// Ends the txn keeping the DBI handles opened in it (needed once after mdb_dbi_open).
  void commit();

  bool valid() const noexcept { return txn_ != nullptr; }
  bool active() const noexcept { return active_ && txn_ != nullptr; }
  MDB_txn* get() const noexcept { return txn_; }
  std::uint64_t id() const noexcept;

  /// Exact lookup. Returns 0, MDB_NOTFOUND or another LMDB code; `out` points into the map.
  /// A value that does not lie inside the map (a damaged page) is MDB_CORRUPTED.
  int get(Dbi dbi, Bytes key, Bytes& out) const noexcept;
  std::optional<Bytes> find(Dbi dbi, Bytes key) const noexcept;

 private:
  MDB_txn* txn_ = nullptr;
  const Env* env_ = nullptr;
  bool active_ = false;
};

/// A write transaction. The destructor aborts unless commit() succeeded.
class WriteTxn {
 public:
  WriteTxn() noexcept = default;
  /// mdb_txn_begin for writing. Throws StoreError; returns MDB_MAP_RESIZED to the caller via
  /// StoreError::code() so it can adopt the new size and retry.
  static WriteTxn begin(const Env& env);

  WriteTxn(WriteTxn&& other) noexcept;
  WriteTxn& operator=(WriteTxn&& other) noexcept;
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;
  ~WriteTxn();

  /// Commits. The handle is cleared first: whatever mdb_txn_commit returns, the txn is gone.
  void commit();
  void abort() noexcept;

  bool valid() const noexcept { return txn_ != nullptr; }
  MDB_txn* get() const noexcept { return txn_; }
  std::uint64_t id() const noexcept;

  std::optional<Bytes> find(Dbi dbi, Bytes key) const;
  void put(Dbi dbi, Bytes key, Bytes value, unsigned flags = 0);
  /// Returns false when the key did not exist.
  bool del(Dbi dbi, Bytes key);
  /// Empties the database (mdb_drop, keeping the handle).
  void clear(Dbi dbi);

 private:
  /// throw_lmdb, with the free space of the store's filesystem for EIO and ENOSPC.
  [[noreturn]] void throw_write(const char* call, int rc) const;

  MDB_txn* txn_ = nullptr;
  const Env* env_ = nullptr;
};

/// A cursor over one database inside a transaction. Close it before the transaction ends
/// (the destructor does that).
class Cursor {
 public:
  Cursor() noexcept = default;
  static Cursor open(MDB_txn* txn, Dbi dbi);

  Cursor(Cursor&& other) noexcept;
  Cursor& operator=(Cursor&& other) noexcept;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor();

  /// Positions on the first key >= key. Returns false at the end.
  bool seek(Bytes key);
  bool first();
  bool next();
  bool last();
  bool prev();
  Bytes key() const noexcept { return key_; }
  Bytes value() const noexcept { return value_; }

 private:
  bool move(MDB_cursor_op op, const MDB_val* at);

  MDB_cursor* cursor_ = nullptr;
  Bytes key_;
  Bytes value_;
};

}  // namespace amap::store
