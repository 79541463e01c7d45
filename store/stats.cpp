// SPDX-License-Identifier: MIT
// OverrideStore::stats: counts from one read txn, the rest from the LMDB API.
#include <cstring>

#include "store/format.h"
#include "store/writer.h"

namespace amap::store {

using format::DecodeError;

std::optional<StoreCounts> detail::counts_in(MDB_txn* txn, const OverrideDb::Dbis& dbis) {
  MDB_val k{format::kMetaCounts.size(), const_cast<char*>(format::kMetaCounts.data())};
  MDB_val v{};
  if (mdb_get(txn, dbis.meta.handle(), &k, &v) != 0) {
    return std::nullopt;
  }
  Bytes data;
  bool deleted = false;
  StoreCounts c;
  if (decode_simple(Bytes(static_cast<const std::uint8_t*>(v.mv_data), v.mv_size), data, deleted) !=
          DecodeError::ok ||
      deleted || !decode_counts(data, c)) {
    return std::nullopt;
  }
  return c;
}

std::optional<StoreCounts> OverrideStore::counts() const {
  const ScopedRead r(*db_);
  return detail::counts_in(r.txn().get(), db_->dbis());
}

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
    s.kept_counts = detail::counts_in(r.txn().get(), db_->dbis());
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
  s.readers = db_->env().readers_in_use();
  return s;
}

}  // namespace amap::store
