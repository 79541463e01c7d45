// SPDX-License-Identifier: MIT
#include "store/lmdb.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "store/bus_guard.h"
#include "store/verify.h"

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
      msg +=
          "all LMDB reader slots of the store are in use by running processes (`mdb_stat -r "
          "DIR` lists them): raise store.max_readers in the config (it takes effect once every "
          "process has closed the store)";
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

namespace {

constexpr unsigned kCreatedDir = 1;
constexpr unsigned kCreatedData = 2;
constexpr unsigned kCreatedLock = 4;

/// LMDB's lock file for max_readers slots: a 128-byte header (two cache lines less one
/// reader) plus one 64-byte reader per slot (mdb.c: sizeof(MDB_txninfo) + (n-1) readers).
off_t lock_file_size(unsigned max_readers) {
  return static_cast<off_t>(128 + 64 * static_cast<std::uint64_t>(max_readers));
}

/// LMDB maps lock.mdb and writes through the map: on a full filesystem (tmpfs, a sparse
/// file) that is SIGBUS inside mdb_env_open. Allocating its blocks first turns that into
/// ENOSPC here.
void preallocate_lock_file(const std::string& dir, unsigned max_readers, unsigned mode,
                           unsigned& created) {
  const std::string lock = dir + "/lock.mdb";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd >= 0) {
    created |= kCreatedLock;
    (void)::fchmod(fd, static_cast<mode_t>(mode));  // whatever the umask: readers write it
  } else if (errno == EEXIST) {
    fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) {
    return;  // no write access (a read-only mount...): mdb_env_open reports it
  }
  struct stat st {};
  const off_t need = lock_file_size(max_readers);
  int rc = 0;
  if (::fstat(fd, &st) == 0 && st.st_blocks * 512 < std::max(need, st.st_size)) {
    rc = ::posix_fallocate(fd, 0, std::max(need, st.st_size));
  }
  ::close(fd);
  if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
    throw StoreError("cannot allocate " + lock + " (" +
                         format_size(static_cast<std::size_t>(need)) + ")" + space_note(dir, rc) +
                         " (" + std::strerror(rc) + ")",
                     rc);
  }
}

/// "pdns (uid 103)": the effective user, as permissions judge it.
std::string effective_user() {
  const uid_t uid = ::geteuid();
  const passwd* pw = ::getpwuid(uid);  // startup only: no thread reads the passwd table then
  return (pw != nullptr ? std::string(pw->pw_name) + " " : std::string()) + "(uid " +
         std::to_string(uid) + ")";
}

/// "root:automap 0640" for a file or directory.
std::string owner_and_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return "unreadable";
  }
  const passwd* pw = ::getpwuid(st.st_uid);
  const group* gr = ::getgrgid(st.st_gid);
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return (pw != nullptr ? std::string(pw->pw_name) : std::to_string(st.st_uid)) + ":" +
         (gr != nullptr ? std::string(gr->gr_name) : std::to_string(st.st_gid)) + " " + mode;
}

}  // namespace

std::string permission_problem(const std::string& dir, bool read_only) {
  // Only a refusal is a finding: EROFS (a read-only mount) is handled by LMDB for readers,
  // ENOENT by the caller.
  const auto refused = [](const std::string& path, int mode) {
    return ::faccessat(AT_FDCWD, path.c_str(), mode, AT_EACCESS) != 0 &&
           (errno == EACCES || errno == EPERM);
  };
  const std::string who = effective_user();
  const passwd* pw = ::getpwuid(::geteuid());
  const std::string name = pw != nullptr ? pw->pw_name : std::to_string(::geteuid());
  const std::string fix = ": give " + name + " access through the store's group: `adduser " + name +
                          " automap` (the package's group; the directory is setgid 2770 "
                          "so the files mapctl creates get its group, mode 0660), then "
                          "restart the service (store/README.md, Permissions)";
  // The first ancestor the user cannot search hides the store.
  std::filesystem::path walk;
  for (const auto& part : std::filesystem::path(dir)) {
    walk /= part;
    if (refused(walk.string(), X_OK)) {
      return "the store " + dir + " cannot be opened by user " + who + ": the directory " +
             walk.string() + " (" + owner_and_mode(walk.string()) +
             ") does not let it in (search permission, x)" + fix;
    }
  }
  struct Need {
    std::string file;
    int mode;
    const char* why;
  };
  const std::string lock = dir + "/lock.mdb";
  const std::string data = dir + "/data.mdb";
  struct stat st {};
  std::vector<Need> needs;
  if (::stat(lock.c_str(), &st) == 0) {
    needs.push_back({lock, R_OK | W_OK,
                     "read and write access (rw): every reader, read-only ones too, takes a "
                     "reader slot in it (LMDB's lock file)"});
  } else {
    needs.push_back({dir, W_OK | X_OK,
                     "write access (w) to create lock.mdb, which every reader needs (LMDB's "
                     "lock file)"});
  }
  if (::stat(data.c_str(), &st) == 0) {
    needs.push_back({data, read_only ? R_OK : R_OK | W_OK,
                     read_only ? "read access (r): automapd maps it read-only"
                               : "read and write access (rw) to write overrides"});
  } else if (!read_only) {
    needs.push_back({dir, W_OK | X_OK, "write access (w) to create data.mdb"});
  }
  for (const Need& n : needs) {
    if (refused(n.file, n.mode)) {
      return "the store " + dir + " cannot be opened by user " + who + ": " + n.file + " (" +
             owner_and_mode(n.file) + ") does not give it " + n.why + fix;
    }
  }
  return {};
}

namespace {

/// The files a writer creates get options.file_mode whatever the umask (a root umask of 022
/// or 077 would leave the group without the write access readers need on lock.mdb); their
/// group is the directory's when it is setgid (the kernel does that).
void set_created_mode(const std::string& file, unsigned mode) {
  (void)::chmod(file.c_str(), static_cast<mode_t>(mode));
}

/// An empty data.mdb is a store being created by another process for a moment, or a
/// damaged one: wait briefly for a creator before judging it.
void wait_for_creator(const std::string& data, const std::string& lock) {
  struct stat st {};
  for (int i = 0; i < 20 && ::stat(lock.c_str(), &st) == 0; ++i) {
    if (::stat(data.c_str(), &st) == 0 && st.st_size != 0) {
      return;
    }
    ::usleep(50 * 1000);
  }
}

}  // namespace

std::string human_size(std::uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (unit + 1 < std::size(units) && value >= 1024) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", value, units[unit]);
  }
  return buf;
}

std::string space_note(const std::string& dir, int rc) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) {
    return rc == ENOSPC ? ": the filesystem holding " + dir + " is full" : std::string();
  }
  const std::uint64_t avail = std::uint64_t{vfs.f_bavail} * vfs.f_frsize;
  const std::uint64_t total = std::uint64_t{vfs.f_blocks} * vfs.f_frsize;
  const std::string sizes = human_size(avail) + " free of " + human_size(total);
  // A short write, which LMDB reports as EIO, leaves the disk (almost) full.
  constexpr std::uint64_t kFullBelow = std::uint64_t{1} << 20;
  if (rc == ENOSPC || avail < kFullBelow) {
    return ": the filesystem holding " + dir + " is full (" + sizes + ")";
  }
  return ": write error (" + sizes + " on the filesystem holding " + dir + ")";
}

Env Env::open(const EnvOptions& options) {
  namespace fs = std::filesystem;
  const std::string& path = options.path;
  if (path.empty()) {
    throw StoreError("store path is empty: set store.path in the config");
  }
  const std::string data = path + "/data.mdb";
  const std::string lock = path + "/lock.mdb";
  Env env;
  env.path_ = path;
  env.read_only_ = options.read_only;
  std::error_code ec;
  if (fs::exists(path, ec) || ec.value() == EACCES) {
    // Say which file, which user and which access, instead of LMDB's bare EACCES.
    if (std::string why = permission_problem(path, options.read_only); !why.empty()) {
      throw StoreError(why, EACCES);
    }
  }
  if (options.read_only) {
    if (!fs::is_directory(path, ec)) {
      throw StoreError(
          "override store " + path + " does not exist: create it with mapctl (or check store.path)",
          ENOENT);
    }
    if (!fs::exists(data, ec)) {
      throw StoreError("override store " + path +
                           " has no data.mdb yet: create it with mapctl (or check store.path)",
                       ENOENT);
    }
  } else if (!fs::exists(path, ec)) {
    fs::create_directories(path, ec);
    if (ec) {
      throw StoreError("cannot create store directory " + path + ": " + ec.message(), ec.value());
    }
    env.created_ |= kCreatedDir;
  }
  try {
    struct statfs sfs {};
    if (::statfs(path.c_str(), &sfs) == 0 && static_cast<long>(sfs.f_type) == kNfsSuperMagic) {
      throw StoreError("store " + path +
                       " is on NFS: LMDB needs a local filesystem (its locks and mmap do not "
                       "work over NFS)");
    }
    // Only a missing data.mdb makes a new store. An existing one is checked before LMDB maps
    // it: a truncated file would be SIGBUS at the first touch of a missing page.
    struct stat st {};
    if (::stat(data.c_str(), &st) == 0) {
      if (st.st_size == 0) {
        wait_for_creator(data, lock);
      }
      if (options.verify_pages) {
        const PageReport report = check_pages(data, 5);
        if (!report.ok()) {
          std::string msg = data + " is damaged (" + std::to_string(report.damage_total) +
                            " problems; `mapctl check --deep` lists them all): ";
          msg += report.damage.front();
          throw StoreError(msg + ": " + kRecoveryHint, MDB_CORRUPTED);
        }
      } else {
        check_data_file(data);
      }
    } else if (errno != ENOENT) {
      const int e = errno;
      throw StoreError("cannot stat " + data + ": " + std::generic_category().message(e), e);
    } else if (!options.read_only) {
      env.created_ |= kCreatedData;
    }
    preallocate_lock_file(path, options.max_readers, options.file_mode, env.created_);

    int rc = mdb_env_create(&env.env_);
    if (rc != 0) {
      env.env_ = nullptr;
      throw_lmdb("mdb_env_create", rc);
    }
    auto fail = [&](const char* call, int code) {
      if (code == EIO || code == ENOSPC) {
        throw StoreError(std::string(call) + " (" + path + ") failed" + space_note(path, code) +
                             " (" + mdb_strerror(code) + ")",
                         code);
      }
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
    if ((env.created_ & kCreatedData) != 0) {
      set_created_mode(data, options.file_mode);
    }
    mdb_filehandle_t fd = -1;
    if (mdb_env_get_fd(env.env_, &fd) == 0 && fd >= 0) {
      const int fdflags = ::fcntl(fd, F_GETFD);
      if (fdflags >= 0) {
        ::fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC);
      }
    }
    env.reader_check();
    env.note_map();
    struct stat mapped {};
    if (fd >= 0 && ::fstat(fd, &mapped) == 0) {
      env.data_dev_ = mapped.st_dev;
      env.data_ino_ = mapped.st_ino;
    }
    if (::stat(lock.c_str(), &mapped) == 0) {
      env.lock_dev_ = mapped.st_dev;
      env.lock_ino_ = mapped.st_ino;
    }
  } catch (...) {
    env.close_and_remove_created();
    throw;
  }
  return env;
}

std::string Env::replaced() const {
  struct stat st {};
  if (data_ino_ == 0) {
    return {};
  }
  if (::stat((path_ + "/data.mdb").c_str(), &st) != 0) {
    return path_ + "/data.mdb was removed";
  }
  if (st.st_dev != data_dev_ || st.st_ino != data_ino_) {
    return path_ + "/data.mdb was replaced (inode " + std::to_string(data_ino_) + " -> " +
           std::to_string(st.st_ino) + ")";
  }
  return {};
}

bool Env::lock_file_kept() const {
  struct stat st {};
  return lock_ino_ != 0 && ::stat((path_ + "/lock.mdb").c_str(), &st) == 0 &&
         st.st_dev == lock_dev_ && st.st_ino == lock_ino_;
}

void Env::close() noexcept {
  if (env_ != nullptr) {
    mdb_env_close(env_);
    env_ = nullptr;
  }
  forget_map();
}

void Env::close_and_remove_created() noexcept {
  close();
  if ((created_ & kCreatedData) != 0) {
    ::unlink((path_ + "/data.mdb").c_str());
  }
  if ((created_ & kCreatedLock) != 0) {
    ::unlink((path_ + "/lock.mdb").c_str());
  }
  if ((created_ & kCreatedDir) != 0) {
    ::rmdir(path_.c_str());  // only if empty
  }
  created_ = 0;
}

Env::Env(Env&& other) noexcept
    : env_(std::exchange(other.env_, nullptr)),
      read_only_(other.read_only_),
      path_(std::move(other.path_)),
      created_(std::exchange(other.created_, 0U)),
      data_dev_(other.data_dev_),
      data_ino_(other.data_ino_),
      lock_dev_(other.lock_dev_),
      lock_ino_(other.lock_ino_),
      map_begin_(other.map_begin_.load()),
      map_end_(other.map_end_.load()),
      bus_slot_(std::exchange(other.bus_slot_, -1)) {}

Env& Env::operator=(Env&& other) noexcept {
  if (this != &other) {
    close();
    env_ = std::exchange(other.env_, nullptr);
    read_only_ = other.read_only_;
    path_ = std::move(other.path_);
    created_ = std::exchange(other.created_, 0U);
    data_dev_ = other.data_dev_;
    data_ino_ = other.data_ino_;
    lock_dev_ = other.lock_dev_;
    lock_ino_ = other.lock_ino_;
    map_begin_ = other.map_begin_.load();
    map_end_ = other.map_end_.load();
    bus_slot_ = std::exchange(other.bus_slot_, -1);
  }
  return *this;
}

Env::~Env() {
  close();
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
  return out;
}

namespace {
/// mdb_reader_list calls back once per reader slot that a process owns, after one call for a
/// header line, or once alone ("no active readers") when no slot is owned. Counting the calls
/// gives the slots in use without reading the text, which LMDB does not promise a format for.
/// (mdb_env_info's me_numreaders is only the table's high-water mark.)
int count_call(const char* /*line*/, void* ctx) {
  ++*static_cast<unsigned*>(ctx);
  return 0;
}
}  // namespace

unsigned Env::readers_in_use() const noexcept {
  unsigned calls = 0;
  if (env_ == nullptr || mdb_reader_list(env_, &count_call, &calls) < 0) {
    return 0;
  }
  return calls > 1 ? calls - 1 : 0;
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
  note_map();
}

void Env::note_map() noexcept {
  // mdb_env_info's me_mapaddr is only set for MDB_FIXEDMAP: find the map of data.mdb in
  // /proc/self/maps (the registry keeps it the only map of that file in the process).
  map_begin_.store(0, std::memory_order_relaxed);
  map_end_.store(UINTPTR_MAX, std::memory_order_relaxed);  // unknown: no bound
  struct stat st {};
  if (env_ == nullptr || ::stat((path_ + "/data.mdb").c_str(), &st) != 0) {
    return;
  }
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) {
    return;
  }
  char line[512];
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    unsigned long long begin = 0;
    unsigned long long end = 0;
    unsigned long long offset = 0;
    unsigned long long inode = 0;
    unsigned major = 0;
    unsigned minor = 0;
    if (std::sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &begin, &end, &offset, &major, &minor,
                    &inode) == 6 &&
        inode == st.st_ino && offset == 0 && makedev(major, minor) == st.st_dev) {
      map_begin_.store(static_cast<std::uintptr_t>(begin), std::memory_order_relaxed);
      map_end_.store(static_cast<std::uintptr_t>(end), std::memory_order_relaxed);
      if (bus_slot_ < 0) {
        bus_slot_ =
            register_store_map(static_cast<std::uintptr_t>(begin), static_cast<std::uintptr_t>(end),
                               (path_ + "/data.mdb").c_str());
      } else {
        update_store_map(bus_slot_, static_cast<std::uintptr_t>(begin),
                         static_cast<std::uintptr_t>(end));
      }
      break;
    }
  }
  std::fclose(maps);
}

void Env::forget_map() noexcept {
  unregister_store_map(std::exchange(bus_slot_, -1));
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

unsigned default_max_readers() noexcept {
  const unsigned cores = std::thread::hardware_concurrency();
  return std::max(kDefaultMaxReaders, 4 * cores + 64);
}

int ReadTxn::try_begin(const Env& env, ReadTxn& out) noexcept {
  out.abort();
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &txn);
  if (rc == MDB_READERS_FULL) {
    int dead = 0;
    if (mdb_reader_check(env.get(), &dead) == 0 && dead > 0) {
      rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &txn);
    }
  }
  if (rc != 0) {
    return rc;
  }
  out.txn_ = txn;
  out.env_ = &env;
  out.active_ = true;
  return 0;
}

ReadTxn ReadTxn::begin(const Env& env) {
  ReadTxn t;
  const int rc = try_begin(env, t);
  if (rc != 0) {
    throw_lmdb("mdb_txn_begin(read-only) (" + env.path() + ")", rc);
  }
  return t;
}

ReadTxn::ReadTxn(ReadTxn&& other) noexcept
    : txn_(std::exchange(other.txn_, nullptr)),
      env_(other.env_),
      active_(std::exchange(other.active_, false)) {}

ReadTxn& ReadTxn::operator=(ReadTxn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = std::exchange(other.txn_, nullptr);
    env_ = other.env_;
    active_ = std::exchange(other.active_, false);
  }
  return *this;
}

ReadTxn::~ReadTxn() {
  abort();
}

// reset() and abort() look at active_ first: OverrideDb::retire aborts the txn of an idle
// reader (not active) from another thread, under the remap gate, and must not race with it.
void ReadTxn::reset() noexcept {
  if (active_ && txn_ != nullptr) {
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
  if (active_) {
    active_ = false;
  }
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
    if (env_ != nullptr && !env_->in_map(v.mv_data, v.mv_size)) {
      return MDB_CORRUPTED;
    }
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
    throw_write("mdb_txn_commit", rc);
  }
}

void WriteTxn::throw_write(const char* call, int rc) const {
  if ((rc == EIO || rc == ENOSPC) && env_ != nullptr) {
    // LMDB turns a short write (the disk filled up) into EIO: say what it most likely is.
    throw StoreError(std::string(call) + ": writing the store failed" +
                         space_note(env_->path(), rc) +
                         "; nothing was committed, the store keeps its previous content (" +
                         mdb_strerror(rc) + ")",
                     rc);
  }
  throw_lmdb(call, rc, env_ != nullptr ? env_->map_size() : 0);
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
    throw_write("mdb_put", rc);  // a put may spill dirty pages to the file
  }
}

bool WriteTxn::del(Dbi dbi, Bytes key) {
  MDB_val k = to_val(key);
  const int rc = mdb_del(txn_, dbi.handle(), &k, nullptr);
  if (rc == MDB_NOTFOUND) {
    return false;
  }
  if (rc != 0) {
    throw_write("mdb_del", rc);
  }
  return true;
}

void WriteTxn::clear(Dbi dbi) {
  if (const int rc = mdb_drop(txn_, dbi.handle(), 0); rc != 0) {
    throw_write("mdb_drop", rc);
  }
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
