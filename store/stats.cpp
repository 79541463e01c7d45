// SPDX-License-Identifier: MIT
// OverrideStore::stats: counts from one read txn, the rest from the LMDB API.
#include <cstring>

#include "store/format.h"
#include "store/writer.h"

namespace amap::store {

using format::DecodeError;

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

}  // namespace amap::store
