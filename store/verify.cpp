// SPDX-License-Identifier: MIT
#include "store/verify.h"

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <system_error>

#include "store/codec.h"
#include "store/environment.h"
#include "store/format.h"
#include "store/lmdb.h"

namespace amap::store {

const char* const kRecoveryHint =
    "restore the store from a copy (mdb_copy -c of the last good store), or rebuild it with "
    "`mapctl import` of an export (store/README.md, \"Recovery\")";

namespace {

// LMDB 0.9's on-disk layout (mdb.c): the page header, then MDB_meta on the meta pages.
constexpr std::size_t kPageHeader = 16;  // mp_pgno 8, mp_pad 2, mp_flags 2, lower 2, upper 2
constexpr std::size_t kNodeHeader = 8;   // mn_lo 2, mn_hi 2, mn_flags 2, mn_ksize 2
constexpr std::size_t kDbRecordSize = 48;
constexpr std::size_t kMetaSize = 4 + 4 + 8 + 8 + 2 * kDbRecordSize + 8 + 8;
constexpr std::uint32_t kMagic = 0xBEEFC0DE;
constexpr std::uint32_t kDataVersion = 1;
constexpr std::uint16_t kPageBranch = 0x01;
constexpr std::uint16_t kPageLeaf = 0x02;
constexpr std::uint16_t kPageOverflow = 0x04;
constexpr std::uint16_t kPageMeta = 0x08;
constexpr std::uint16_t kPageLeaf2 = 0x20;
constexpr std::uint16_t kPageSubpage = 0x40;
constexpr std::uint16_t kPageKinds =
    kPageBranch | kPageLeaf | kPageOverflow | kPageMeta | kPageLeaf2 | kPageSubpage;
constexpr std::uint16_t kNodeBigData = 0x01;
constexpr std::uint16_t kNodeSubData = 0x02;
constexpr std::uint16_t kNodeDupData = 0x04;
constexpr unsigned kMaxDepth = 64;

template <class T>
T load(const std::uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

DbRecord parse_db(const std::uint8_t* p) noexcept {
  DbRecord d;
  d.pad = load<std::uint32_t>(p);
  d.flags = load<std::uint16_t>(p + 4);
  d.depth = load<std::uint16_t>(p + 6);
  d.branch_pages = load<std::uint64_t>(p + 8);
  d.leaf_pages = load<std::uint64_t>(p + 16);
  d.overflow_pages = load<std::uint64_t>(p + 24);
  d.entries = load<std::uint64_t>(p + 32);
  d.root = load<std::uint64_t>(p + 40);
  return d;
}

[[noreturn]] void refuse(const std::string& path, const std::string& what, int code) {
  throw StoreError(path + " " + what + ": " + kRecoveryHint, code);
}

/// pread of exactly n bytes; false at a short read.
bool read_at(int fd, std::uint8_t* out, std::size_t n, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      return false;
    }
    done += static_cast<std::size_t>(got);
  }
  return true;
}

class Fd {
 public:
  explicit Fd(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) {
      const int e = errno;
      throw StoreError("cannot open " + path + ": " + std::generic_category().message(e), e);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { ::close(fd_); }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

DataFile read_data_file(int fd, const std::string& path) {
  DataFile df;
  df.path = path;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    throw StoreError("cannot stat " + path + ": " + std::generic_category().message(e), e);
  }
  if (!S_ISREG(st.st_mode)) {
    refuse(path, "is not a regular file", MDB_INVALID);
  }
  df.size = static_cast<std::uint64_t>(st.st_size);
  if (df.size == 0) {
    refuse(path,
           "is empty (0 bytes), so every override is gone; an existing data.mdb is never "
           "taken as a new store",
           MDB_INVALID);
  }
  std::uint8_t buf[kPageHeader + kMetaSize];
  const auto parse_meta = [&](unsigned index, std::uint64_t offset) {
    const std::string which = "meta page " + std::to_string(index);
    if (!read_at(fd, buf, sizeof buf, offset)) {
      refuse(path,
             "is truncated: " + std::to_string(df.size) + " bytes, too short for its " + which,
             MDB_INVALID);
    }
    const auto pgno = load<std::uint64_t>(buf);
    const auto flags = load<std::uint16_t>(buf + 10);
    const std::uint8_t* m = buf + kPageHeader;
    if (load<std::uint32_t>(m) != kMagic) {
      refuse(path,
             (index == 0 ? "is not an LMDB data file (no LMDB magic number in "
                         : "is damaged (no LMDB magic number in ") +
                 which + ")",
             MDB_INVALID);
    }
    if (const auto v = load<std::uint32_t>(m + 4); v != kDataVersion) {
      refuse(path,
             "has LMDB data format version " + std::to_string(v) + " in its " + which +
                 ", this LMDB reads version " + std::to_string(kDataVersion),
             MDB_VERSION_MISMATCH);
    }
    if (pgno != index || (flags & kPageMeta) == 0) {
      refuse(path, "is damaged: the header of its " + which + " is wrong", MDB_CORRUPTED);
    }
    MetaPage& meta = df.meta[index];
    meta.map_size = load<std::uint64_t>(m + 16);
    meta.free_db = parse_db(m + 24);
    meta.main_db = parse_db(m + 24 + kDbRecordSize);
    meta.last_page = load<std::uint64_t>(m + 24 + 2 * kDbRecordSize);
    meta.txn_id = load<std::uint64_t>(m + 32 + 2 * kDbRecordSize);
  };
  parse_meta(0, 0);
  df.page_size = df.meta[0].free_db.pad;
  const std::uint32_t ps = df.page_size;
  if (ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0) {
    refuse(path, "is damaged: page size " + std::to_string(ps) + " in meta page 0", MDB_CORRUPTED);
  }
  if (df.size < 2ULL * ps) {
    refuse(path,
           "is truncated: " + std::to_string(df.size) + " bytes, less than its two meta pages (" +
               std::to_string(2ULL * ps) + " bytes)",
           MDB_INVALID);
  }
  parse_meta(1, ps);
  df.newest = df.meta[1].txn_id > df.meta[0].txn_id ? 1 : 0;
  const MetaPage& cur = df.current();
  const std::string which =
      " (meta page " + std::to_string(df.newest) + ", txn " + std::to_string(cur.txn_id) + ")";
  if (cur.last_page < 1 || cur.last_page > (std::uint64_t{1} << 48)) {
    refuse(path, "is damaged: last page number " + std::to_string(cur.last_page) + which,
           MDB_CORRUPTED);
  }
  if (df.used_bytes() > df.size) {
    refuse(path,
           "is truncated: the newest snapshot" + which + " uses " +
               std::to_string(cur.last_page + 1) + " pages (" + std::to_string(df.used_bytes()) +
               " bytes) but the file has " + std::to_string(df.size) + " bytes",
           MDB_CORRUPTED);
  }
  for (const auto& [name, db] : {std::pair{"free", cur.free_db}, std::pair{"main", cur.main_db}}) {
    if (db.root != kNoPage && (db.root < 2 || db.root > cur.last_page)) {
      refuse(path,
             std::string("is damaged: the ") + name + " table's root page " +
                 std::to_string(db.root) + " lies outside pages 2-" +
                 std::to_string(cur.last_page) + which,
             MDB_CORRUPTED);
    }
  }
  return df;
}

/// LMDB's default key order (mdb_cmp_memn): bytes, then the shorter key first.
int compare_keys(const std::vector<std::uint8_t>& a, const std::uint8_t* b, std::size_t bn) {
  const std::size_t n = std::min(a.size(), bn);
  const int c = n == 0 ? 0 : std::memcmp(a.data(), b, n);
  if (c != 0) {
    return c;
  }
  return a.size() < bn ? -1 : (a.size() > bn ? 1 : 0);
}

/// One walk over one snapshot.
class Walker {
 public:
  Walker(int fd, const DataFile& df, PageReport& report, std::size_t max_messages)
      : fd_(fd),
        ps_(df.page_size),
        last_(df.current().last_page),
        in_use_(last_ + 1, false),
        free_(last_ + 1, false),
        report_(report),
        max_messages_(max_messages) {}

  void run(const MetaPage& meta) {
    walk_table("(free list)", meta.free_db, Kind::free_list);
    walk_table("(main)", meta.main_db, Kind::main);
    // Named tables are found in the main table's leaves; walk them after it.
    for (std::size_t i = 0; i < named_.size(); ++i) {
      const auto [name, db] = named_[i];
      walk_table(name, db, Kind::named);
    }
    std::uint64_t both = 0;
    std::uint64_t first = 0;
    for (std::uint64_t p = 2; p <= last_; ++p) {
      if (in_use_[p] && free_[p]) {
        first = both++ == 0 ? p : first;
      }
    }
    if (both != 0) {
      table_ = "(free list)";
      damage(std::to_string(both) + " pages are both in use and on the free list (first: page " +
             std::to_string(first) + "); the next write would overwrite live data");
    }
  }

 private:
  enum class Kind { free_list, main, named };

  void damage(const std::string& what) {
    ++report_.damage_total;
    if (report_.damage.size() < max_messages_) {
      report_.damage.push_back("table " + table_ + ": " + what);
    }
  }

  /// Marks a page as reached; false (reported) when it is out of range or reached twice.
  bool claim(std::uint64_t pgno, const std::string& from) {
    if (pgno < 2 || pgno > last_) {
      damage(from + " points to page " + std::to_string(pgno) + ", outside pages 2-" +
             std::to_string(last_));
      return false;
    }
    if (in_use_[pgno]) {
      damage(from + " points to page " + std::to_string(pgno) + ", which is reached twice");
      return false;
    }
    in_use_[pgno] = true;
    ++report_.pages;
    return true;
  }

  bool read_page(std::uint64_t pgno, std::vector<std::uint8_t>& buf) {
    buf.resize(ps_);
    if (!read_at(fd_, buf.data(), ps_, pgno * ps_)) {
      damage("page " + std::to_string(pgno) + " cannot be read (the file shrank?)");
      return false;
    }
    return true;
  }

  void walk_table(const std::string& name, const DbRecord& db, Kind kind) {
    table_ = name;
    kind_ = kind;
    counts_ = {};
    have_last_key_ = false;
    lower_bound_.reset();
    if (db.root == kNoPage) {
      if (db.entries != 0 || db.depth != 0) {
        damage("empty, but its record says " + std::to_string(db.entries) + " entries");
      }
      report_.tables.push_back({name, 0, kNoPage});
      return;
    }
    if (db.depth == 0 || db.depth > kMaxDepth) {
      damage("bad tree depth " + std::to_string(db.depth));
      return;
    }
    if (claim(db.root, "the table record")) {
      walk_page(db.root, 1, db.depth);
    }
    const auto check = [&](const char* what, std::uint64_t stored, std::uint64_t found) {
      if (stored != found) {
        damage(std::string("its record says ") + std::to_string(stored) + " " + what +
               ", the walk found " + std::to_string(found));
      }
    };
    check("entries", db.entries, counts_.entries);
    check("branch pages", db.branch_pages, counts_.branch);
    check("leaf pages", db.leaf_pages, counts_.leaf);
    check("overflow pages", db.overflow_pages, counts_.overflow);
    report_.tables.push_back({name, counts_.entries, db.root});
  }

  void walk_page(std::uint64_t pgno, unsigned depth, unsigned tree_depth) {
    std::vector<std::uint8_t> buf;
    if (!read_page(pgno, buf)) {
      return;
    }
    const std::uint8_t* p = buf.data();
    const std::string at = "page " + std::to_string(pgno);
    const auto stored = load<std::uint64_t>(p);
    const auto flags = static_cast<std::uint16_t>(load<std::uint16_t>(p + 10) & kPageKinds);
    const auto lower = load<std::uint16_t>(p + 12);
    const auto upper = load<std::uint16_t>(p + 14);
    if (stored != pgno) {
      damage(at + " holds the header of page " + std::to_string(stored));
      return;
    }
    const bool leaf = flags == kPageLeaf;
    if (!leaf && flags != kPageBranch) {
      damage(at + " is neither a branch nor a leaf page (flags 0x" + hex(flags) + ")");
      return;
    }
    if (leaf != (depth == tree_depth)) {
      damage(at + (leaf ? " is a leaf at depth " : " is a branch at depth ") +
             std::to_string(depth) + " of a tree of depth " + std::to_string(tree_depth));
      return;
    }
    if (lower < kPageHeader || (lower & 1U) != 0 || upper > ps_ || lower > upper) {
      damage(at + " has bad free-space bounds (lower " + std::to_string(lower) + ", upper " +
             std::to_string(upper) + ")");
      return;
    }
    const std::size_t keys = (lower - kPageHeader) / 2;
    if (leaf ? keys == 0 : keys < 2) {
      damage(at + " has " + std::to_string(keys) + " keys");
      return;
    }
    ++(leaf ? counts_.leaf : counts_.branch);
    for (std::size_t i = 0; i < keys; ++i) {
      const std::string node = at + " node " + std::to_string(i);
      const auto off = load<std::uint16_t>(p + kPageHeader + 2 * i);
      if (off < upper || (off & 1U) != 0 || off + kNodeHeader > ps_) {
        damage(node + " lies at a bad offset " + std::to_string(off));
        return;
      }
      const std::uint8_t* n = p + off;
      const auto lo = load<std::uint16_t>(n);
      const auto hi = load<std::uint16_t>(n + 2);
      const auto nflags = load<std::uint16_t>(n + 4);
      const auto ksize = load<std::uint16_t>(n + 6);
      const std::size_t key_end = off + kNodeHeader + ksize;
      if (key_end > ps_) {
        damage(node + ": its key of " + std::to_string(ksize) + " bytes runs past the page end");
        return;
      }
      const std::uint8_t* key = n + kNodeHeader;
      if (!leaf) {
        const std::uint64_t child = lo | (std::uint64_t{hi} << 16) | (std::uint64_t{nflags} << 32);
        // Key 0 of a branch is implicit; key i bounds the keys of child i from below.
        if (i > 0) {
          if (!check_key(node, key, ksize, /*separator=*/true)) {
            return;
          }
          lower_bound_.emplace(key, key + ksize);
        }
        if (claim(child, node)) {
          walk_page(child, depth + 1, tree_depth);
        }
        continue;
      }
      if (!check_key(node, key, ksize, false)) {
        return;
      }
      ++counts_.entries;
      const std::uint64_t dsize = lo | (std::uint64_t{hi} << 16);
      if ((nflags & ~(kNodeBigData | kNodeSubData | kNodeDupData)) != 0 ||
          (nflags & kNodeDupData) != 0) {
        damage(node + " has bad node flags 0x" + hex(nflags));
        return;
      }
      const std::uint8_t* data = p + key_end;
      if ((nflags & kNodeBigData) != 0) {
        if (key_end + 8 > ps_) {
          damage(node + ": its overflow page number runs past the page end");
          return;
        }
        walk_overflow(node, load<std::uint64_t>(data), dsize);
        continue;
      }
      if (key_end + dsize > ps_) {
        damage(node + ": its value of " + std::to_string(dsize) + " bytes runs past the page end");
        return;
      }
      if ((nflags & kNodeSubData) != 0) {
        if (kind_ != Kind::main || dsize != kDbRecordSize) {
          damage(node + " claims to be a named table where none can be");
          return;
        }
        named_.emplace_back(std::string(reinterpret_cast<const char*>(key), ksize), parse_db(data));
        continue;
      }
      if (kind_ == Kind::free_list) {
        check_free_value(node, data, dsize);
      }
    }
  }

  /// Keys ascend strictly along the walk. A branch separator lies above every key before it
  /// and at or below every key after it.
  bool check_key(const std::string& node, const std::uint8_t* key, std::size_t n, bool separator) {
    if (kind_ == Kind::free_list && n != 8) {
      damage(node + " has a free-list key of " + std::to_string(n) + " bytes (8 expected)");
      return false;
    }
    const auto compare = [&](const std::vector<std::uint8_t>& a) {
      if (kind_ == Kind::free_list && a.size() == 8) {
        const auto x = load<std::uint64_t>(a.data());
        const auto y = load<std::uint64_t>(key);
        return x < y ? -1 : (x > y ? 1 : 0);
      }
      return compare_keys(a, key, n);
    };
    if (have_last_key_ && compare(last_key_) >= 0) {
      damage(node + ": keys out of order");
      return false;
    }
    if (separator) {
      return true;
    }
    if (lower_bound_ && compare(*lower_bound_) > 0) {
      damage(node + ": a key below its branch separator");
      return false;
    }
    last_key_.assign(key, key + n);
    have_last_key_ = true;
    lower_bound_.reset();
    return true;
  }

  void walk_overflow(const std::string& node, std::uint64_t pgno, std::uint64_t dsize) {
    std::vector<std::uint8_t> buf;
    if (!claim(pgno, node) || !read_page(pgno, buf)) {
      return;
    }
    const auto stored = load<std::uint64_t>(buf.data());
    const auto flags = load<std::uint16_t>(buf.data() + 10);
    const auto pages = load<std::uint32_t>(buf.data() + 12);
    if (stored != pgno || (flags & kPageKinds) != kPageOverflow || pages == 0 ||
        pgno + pages - 1 > last_ || std::uint64_t{pages} * ps_ - kPageHeader < dsize) {
      damage(node + ": overflow page " + std::to_string(pgno) + " is damaged (" +
             std::to_string(pages) + " pages for " + std::to_string(dsize) + " bytes)");
      return;
    }
    for (std::uint64_t p = pgno + 1; p < pgno + pages; ++p) {
      if (!claim(p, node + " (overflow run)")) {
        return;
      }
    }
    counts_.overflow += pages;
  }

  /// A free-list value: a count, then that many page numbers.
  void check_free_value(const std::string& node, const std::uint8_t* data, std::uint64_t dsize) {
    if (dsize < 8 || dsize % 8 != 0 || load<std::uint64_t>(data) != dsize / 8 - 1) {
      damage(node + ": a free-list entry of " + std::to_string(dsize) + " bytes is malformed");
      return;
    }
    for (std::uint64_t i = 1; i < dsize / 8; ++i) {
      const auto pg = load<std::uint64_t>(data + 8 * i);
      if (pg < 2 || pg > last_) {
        damage(node + ": free page " + std::to_string(pg) + " lies outside pages 2-" +
               std::to_string(last_));
        return;
      }
      free_[pg] = true;
    }
  }

  static std::string hex(unsigned v) {
    char b[8];
    std::snprintf(b, sizeof b, "%x", v);
    return b;
  }

  struct Counts {
    std::uint64_t branch = 0;
    std::uint64_t leaf = 0;
    std::uint64_t overflow = 0;
    std::uint64_t entries = 0;
  };

  int fd_;
  std::uint64_t ps_;
  std::uint64_t last_;
  std::vector<bool> in_use_;
  std::vector<bool> free_;
  PageReport& report_;
  std::size_t max_messages_;
  std::string table_;
  Kind kind_ = Kind::main;
  Counts counts_;
  std::vector<std::uint8_t> last_key_;
  bool have_last_key_ = false;
  std::optional<std::vector<std::uint8_t>> lower_bound_;
  std::vector<std::pair<std::string, DbRecord>> named_;
};

}  // namespace

DataFile check_data_file(const std::string& data_path) {
  const Fd fd(data_path);
  return read_data_file(fd.get(), data_path);
}

PageReport check_pages(const std::string& data_path, std::size_t max_messages) {
  const Fd fd(data_path);
  PageReport report;
  for (int attempt = 0;; ++attempt) {
    const DataFile df = read_data_file(fd.get(), data_path);
    report = PageReport{};
    report.txn_id = df.current().txn_id;
    Walker(fd.get(), df, report, max_messages).run(df.current());
    if (report.ok() || attempt == 4) {
      return report;
    }
    // Pages of snapshot T can be reused from txn T+2 on (LMDB keeps the last two metas and
    // frees T's pages in T+1). If no such commit happened, the damage is real.
    const DataFile after = read_data_file(fd.get(), data_path);
    if (after.current().txn_id <= report.txn_id + 1) {
      return report;
    }
  }
}

namespace {

/// A meta or name-index value (decode_simple); `live` is false for a tombstone.
format::DecodeError decode_live(Bytes value, Bytes& data, bool& live) noexcept {
  bool deleted = false;
  const format::DecodeError e = decode_simple(value, data, deleted);
  live = e == format::DecodeError::ok && !deleted;
  return e;
}

}  // namespace

ValueReport check_values(const OverrideDb& db, std::size_t max_messages) {
  ValueReport r;
  const auto damage = [&](std::string_view table, Bytes key, const std::string& what) {
    ++r.damage_total;
    if (r.damage.size() < max_messages) {
      r.damage.push_back("table " + std::string(table) + ", key " + format::key_text(key) + ": " +
                         what);
    }
  };
  const OverrideDb::Dbis& d = db.dbis();
  GateScope gate(db.gate());
  ReadTxn txn = ReadTxn::begin(db.env());
  const auto walk = [&](Dbi dbi, const auto& fn) {
    Cursor c = Cursor::open(txn.get(), dbi);
    for (bool ok = c.first(); ok; ok = c.next()) {
      ++r.values;
      fn(c.key(), c.value());
    }
  };
  const auto override_of = [&](std::string_view table, Bytes key, Bytes value, OverrideView& v) {
    bool deleted = false;
    if (const auto e = decode_override(value, v, deleted); e != format::DecodeError::ok) {
      damage(table, key, std::string(format::decode_error_message(e)));
      return false;
    }
    return !deleted;
  };
  try {
    walk(d.addr, [&](Bytes key, Bytes value) {
      dns::IpAddress a;
      OverrideView v;
      if (!format::parse_address_key(key, a)) {
        damage("addr", key, "not an address key");
      } else if (override_of("addr", key, value, v)) {
        if (v.kind == OverrideKind::name_template) {
          damage("addr", key, "an address override holds a template");
        } else if (v.kind == OverrideKind::name && !dns::Name::from_text(v.target)) {
          damage("addr", key, "the name is not a valid DNS name");
        }
      }
    });
    std::array<std::array<std::uint8_t, format::kLengthBitmap6>, 2> lengths{};
    walk(d.prefix, [&](Bytes key, Bytes value) {
      dns::Prefix p;
      OverrideView v;
      if (!format::parse_prefix_key(key, p) || p.address.masked(p.length) != p.address) {
        damage("prefix", key, "not a prefix key");
      } else if (override_of("prefix", key, value, v)) {
        if (v.kind == OverrideKind::name) {
          damage("prefix", key, "a prefix override holds a host name");
        }
        lengths[p.address.is_v4() ? 0 : 1][p.length / 8] |=
            static_cast<std::uint8_t>(0x80U >> (p.length % 8));
      }
    });
    walk(d.name, [&](Bytes key, Bytes value) {
      Bytes data;
      bool live = false;
      dns::IpAddress a;
      if (const auto e = decode_live(value, data, live); e != format::DecodeError::ok) {
        damage("name", key, std::string(format::decode_error_message(e)));
        return;
      }
      if (!live) {
        return;
      }
      if (!format::parse_address_key(data, a)) {
        damage("name", key, "does not hold an address key");
        return;
      }
      // The address must be a live name override with this very name.
      const auto raw = txn.find(d.addr, data);
      OverrideView v;
      bool deleted = false;
      if (!raw || decode_override(*raw, v, deleted) != format::DecodeError::ok || deleted ||
          v.kind != OverrideKind::name) {
        damage("name", key, "points at " + a.to_string() + ", which has no name override");
        return;
      }
      const auto n = dns::Name::from_text(v.target);
      std::array<std::uint8_t, dns::Name::kMaxWire> want{};
      if (!n || !std::ranges::equal(Bytes(want.data(), name_key(*n, want.data())), key)) {
        damage("name", key,
               "points at " + a.to_string() + ", whose name is " + std::string(v.target));
      }
    });
    bool schema = false;
    walk(d.meta, [&](Bytes key, Bytes value) {
      Bytes data;
      bool live = false;
      if (const auto e = decode_live(value, data, live); e != format::DecodeError::ok) {
        damage("meta", key, std::string(format::decode_error_message(e)));
        return;
      }
      const std::string_view k(reinterpret_cast<const char*>(key.data()), key.size());
      if (k == format::kMetaSchemaVersion) {
        schema = live && data.size() == 4;
      }
    });
    if (!schema) {
      damage("meta", format::as_bytes(format::kMetaSchemaVersion), "missing or malformed");
    }
    for (std::size_t f = 0; f < 2; ++f) {
      const std::string_view k = f == 0 ? format::kMetaPrefixLengths4 : format::kMetaPrefixLengths6;
      const std::size_t size = f == 0 ? format::kLengthBitmap4 : format::kLengthBitmap6;
      const auto raw = txn.find(d.meta, format::as_bytes(k));
      Bytes data;
      bool live = false;
      if (raw && decode_live(*raw, data, live) == format::DecodeError::ok && live &&
          data.size() != size) {
        damage("meta", format::as_bytes(k), "the bitmap has a wrong size");
        continue;
      }
      const bool any = std::any_of(lengths[f].begin(), lengths[f].begin() + size,
                                   [](std::uint8_t b) { return b != 0; });
      const bool same =
          (!raw || !live) ? !any : std::memcmp(data.data(), lengths[f].data(), size) == 0;
      if (!same) {
        damage("meta", format::as_bytes(k),
               "does not match the prefix table, so lookups miss prefix overrides: rebuild it "
               "(OverrideStore::rebuild_meta)");
      }
    }
  } catch (const StoreError& e) {
    ++r.damage_total;
    r.damage.push_back(std::string("reading the store failed: ") + e.what());
  }
  return r;
}

}  // namespace amap::store
