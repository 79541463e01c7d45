// SPDX-License-Identifier: MIT
#pragma once
// Checks of data.mdb that LMDB itself does not make, so that a damaged file is reported
// instead of crashing the reader:
//
//   check_data_file  reads the two meta pages with pread, before anything is mapped, and
//                    checks them against the file (an empty or truncated file would be a
//                    silent new store or a SIGBUS at the first touch of the map);
//   check_pages      walks every page reachable from the newest meta page (pread only) and
//                    validates what LMDB trusts blindly: page numbers, node offsets, child
//                    pages, overflow runs, key order, tree depth, the counts in each table's
//                    record, and that no page is both in use and on the free list.
//
// The on-disk layout is LMDB 0.9's (lmdb.h has no public definition of it): native byte
// order, a 16-byte page header, MDB_meta after it on pages 0 and 1.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace amap::store {

/// A table's record (LMDB's MDB_db) as it is stored in a meta page or in the main table.
struct DbRecord {
  std::uint32_t pad = 0;  // the page size, in the free table's record of a meta page
  std::uint16_t flags = 0;
  std::uint16_t depth = 0;
  std::uint64_t branch_pages = 0;
  std::uint64_t leaf_pages = 0;
  std::uint64_t overflow_pages = 0;
  std::uint64_t entries = 0;
  std::uint64_t root = 0;  // kNoPage for an empty table
};
inline constexpr std::uint64_t kNoPage = ~std::uint64_t{0};

struct MetaPage {
  std::uint64_t map_size = 0;
  DbRecord free_db;
  DbRecord main_db;
  std::uint64_t last_page = 0;  // the highest page number in use
  std::uint64_t txn_id = 0;
};

struct DataFile {
  std::string path;  // .../data.mdb
  std::uint64_t size = 0;
  std::uint32_t page_size = 0;
  MetaPage meta[2];
  unsigned newest = 0;  // the meta page LMDB uses: the one with the higher txn id
  const MetaPage& current() const noexcept { return meta[newest]; }
  /// Bytes the newest snapshot needs: (last page + 1) x page size.
  std::uint64_t used_bytes() const noexcept { return (current().last_page + 1) * page_size; }
};

/// "restore it from a copy ... or rebuild it ...": appended to every damage message.
extern const char* const kRecoveryHint;

/// Reads data.mdb's two meta pages with pread and checks them against the file: not empty,
/// at least two pages, magic, format version, page size, and the newest snapshot's last page
/// and table roots within the file. Nothing is mapped. Throws StoreError (MDB_INVALID or
/// MDB_CORRUPTED) naming the file and what is wrong.
DataFile check_data_file(const std::string& data_path);

struct PageReport {
  std::uint64_t txn_id = 0;         // the snapshot that was walked
  std::uint64_t pages = 0;          // pages visited, meta pages not counted
  std::vector<std::string> damage;  // the first max_messages problems
  std::uint64_t damage_total = 0;
  struct Table {
    std::string name;  // "(free list)", "(main)" or the named table
    std::uint64_t entries = 0;
    std::uint64_t root = kNoPage;
  };
  std::vector<Table> tables;
  bool ok() const noexcept { return damage_total == 0; }
};

/// Walks every page of the newest snapshot: the free table, the main table and each named
/// table. check_data_file runs first (and throws as it does). A writer may commit while the
/// walk runs; when a problem shows and the snapshot may have been overwritten meanwhile, the
/// walk is repeated on the new one.
PageReport check_pages(const std::string& data_path, std::size_t max_messages = 20);

class OverrideDb;

struct ValueReport {
  std::uint64_t values = 0;         // values read and decoded, in all four tables
  std::vector<std::string> damage;  // the first max_messages problems
  std::uint64_t damage_total = 0;
  bool ok() const noexcept { return damage_total == 0; }
};

/// Reads every key and value of the four tables in one snapshot (run it after check_pages
/// found the pages sound): keys and values decode, address values are names or none, prefix
/// values are templates or none, each live name-index entry points at a live address override
/// with that very name, the schema version is present and the prefix-length bitmaps match
/// the prefix table.
ValueReport check_values(const OverrideDb& db, std::size_t max_messages = 20);

}  // namespace amap::store
