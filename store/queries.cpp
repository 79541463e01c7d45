// SPDX-License-Identifier: MIT
// OverrideStore's reads: get_address, get_prefix, get_name and list, each in one read txn
// inside the remap gate (ScopedRead). Errors throw StoreError; not for the per-query path.
#include <array>

#include "store/format.h"
#include "store/validate.h"
#include "store/writer.h"

namespace amap::store {

using format::DecodeError;

namespace {
std::optional<Override> read_override(const OverrideDb& db, Dbi dbi, std::string_view name,
                                      Bytes key) {
  ScopedRead r(db);
  Bytes raw;
  const int rc = r.txn().get(dbi, key, raw);
  if (rc == MDB_NOTFOUND) {
    return std::nullopt;
  }
  if (rc != 0) {
    throw_lmdb("mdb_get", rc);
  }
  OverrideView view;
  bool deleted = false;
  if (const DecodeError e = decode_override(raw, view, deleted); e != DecodeError::ok) {
    throw_decode(name, key, e);
  }
  if (deleted) {
    return std::nullopt;
  }
  return view.to_override();
}
}  // namespace

std::optional<Override> OverrideStore::get_address(const dns::IpAddress& a) const {
  std::array<std::uint8_t, format::kMaxAddressKey> key{};
  return read_override(*db_, db_->dbis().addr, "addr",
                       Bytes(key.data(), format::address_key(a, key.data())));
}

std::optional<Override> OverrideStore::get_prefix(const dns::Prefix& p) const {
  checked_prefix(p);
  std::array<std::uint8_t, format::kMaxPrefixKey> key{};
  return read_override(*db_, db_->dbis().prefix, "prefix",
                       Bytes(key.data(), format::prefix_key(p.address, p.length, key.data())));
}

std::optional<dns::IpAddress> OverrideStore::get_name(const dns::Name& n) const {
  ScopedRead r(*db_);
  std::array<std::uint8_t, dns::Name::kMaxWire> key{};
  const Bytes k(key.data(), name_key(n, key.data()));
  Bytes raw;
  const int rc = r.txn().get(db_->dbis().name, k, raw);
  if (rc == MDB_NOTFOUND) {
    return std::nullopt;
  }
  if (rc != 0) {
    throw_lmdb("mdb_get", rc);
  }
  Bytes data;
  bool deleted = false;
  if (const DecodeError e = decode_simple(raw, data, deleted); e != DecodeError::ok) {
    throw_decode("name", k, e);
  }
  if (deleted) {
    return std::nullopt;
  }
  dns::IpAddress a;
  if (!format::parse_address_key(data, a)) {
    throw_decode("name", k, DecodeError::bad_key);
  }
  return a;
}

std::size_t OverrideStore::list(std::optional<dns::Prefix> within, std::size_t limit,
                                const std::function<void(const ListEntry&)>& fn,
                                const std::optional<ListKey>& after) const {
  if (within) {
    checked_prefix(*within);
  }
  ScopedRead r(*db_);
  return detail::list_in(r.txn().get(), db_->dbis(), within, limit, fn, after);
}

bool ListKey::before(const ListKey& other) const noexcept {
  if (prefix.address != other.prefix.address) {
    return prefix.address <= other.prefix.address;
  }
  // At one address: prefixes first, shorter ones first, then the address itself.
  const unsigned rank = is_prefix ? prefix.length : 256U;
  const unsigned other_rank = other.is_prefix ? other.prefix.length : 256U;
  return rank < other_rank;
}

std::size_t detail::list_in(MDB_txn* txn, const OverrideDb::Dbis& dbis,
                            std::optional<dns::Prefix> within, std::size_t limit,
                            const std::function<void(const ListEntry&)>& fn,
                            const std::optional<ListKey>& after) {
  Cursor ca = Cursor::open(txn, dbis.addr);
  Cursor cp = Cursor::open(txn, dbis.prefix);

  // Next live entry of one cursor inside `within`; false at the end of the range.
  auto advance = [&](Cursor& c, bool is_prefix, bool ok, ListEntry& out) {
    for (; ok; ok = c.next()) {
      dns::Prefix p;
      bool parsed = false;
      if (is_prefix) {
        parsed = format::parse_prefix_key(c.key(), p);
      } else {
        parsed = format::parse_address_key(c.key(), p.address);
        p.length = static_cast<std::uint8_t>(p.address.bits());
      }
      if (!parsed) {
        throw_decode(is_prefix ? "prefix" : "addr", c.key(), DecodeError::bad_key);
      }
      if (within) {
        if (!within->contains(p.address)) {
          return false;  // keys are in address order: the range is over
        }
        if (p.length < within->length) {
          continue;  // a wider prefix starting at the same address
        }
      }
      bool deleted = false;
      OverrideView view;
      if (const DecodeError e = decode_override(c.value(), view, deleted); e != DecodeError::ok) {
        throw_decode(is_prefix ? "prefix" : "addr", c.key(), e);
      }
      if (deleted || (after && !after->before(ListKey{is_prefix, p}))) {
        continue;
      }
      out.is_prefix = is_prefix;
      out.prefix = p;
      out.value = view;
      return true;
    }
    return false;
  };

  bool has_a = false;
  bool has_p = false;
  ListEntry ea;
  ListEntry ep;
  // Start at the later of within's and after's address: the keys before it are skipped by a
  // seek, not read.
  std::optional<dns::IpAddress> start;
  if (within) {
    start = within->address;
  }
  if (after && (!start || *start <= after->prefix.address)) {
    start = after->prefix.address;
  }
  if (start) {
    std::array<std::uint8_t, format::kMaxPrefixKey> key{};
    const std::size_t n = format::address_key(*start, key.data());
    has_a = advance(ca, false, ca.seek(Bytes(key.data(), n)), ea);
    key[n] = 0;
    has_p = advance(cp, true, cp.seek(Bytes(key.data(), n + 1)), ep);
  } else {
    has_a = advance(ca, false, ca.first(), ea);
    has_p = advance(cp, true, cp.first(), ep);
  }

  std::size_t count = 0;
  while ((has_a || has_p) && (limit == 0 || count < limit)) {
    // A prefix sorts before an address equal to its network address.
    const bool take_prefix = has_p && (!has_a || ep.prefix.address <= ea.prefix.address);
    if (take_prefix) {
      fn(ep);
      has_p = advance(cp, true, cp.next(), ep);
    } else {
      fn(ea);
      has_a = advance(ca, false, ca.next(), ea);
    }
    ++count;
  }
  return count;
}

}  // namespace amap::store
