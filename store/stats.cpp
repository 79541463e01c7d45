// SPDX-License-Identifier: MIT
// OverrideStore::stats: counts from one read txn, the rest from the LMDB API.
#include <cstring>

#include "store/format.h"
#include "store/writer.h"

namespace amap::store {

using format::DecodeError;

namespace {
/// mdb_reader_list calls back once per reader slot that a process owns, after one call for a
/// header line, or once alone ("no active readers") when no slot is owned. Counting the calls
/// gives the slots in use without reading the text, which LMDB does not promise a format for.
int count_call(const char* /*line*/, void* ctx) {
  ++*static_cast<unsigned*>(ctx);
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
  unsigned calls = 0;
  if (mdb_reader_list(db_->env().get(), &count_call, &calls) >= 0) {
    s.readers = calls > 1 ? calls - 1 : 0;
  }
  return s;
}

}  // namespace amap::store
