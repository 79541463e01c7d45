// SPDX-License-Identifier: MIT
#include "store/address_filter.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <exception>
#include <utility>

#include "store/format.h"
#include "store/overrides.h"
#include "store/verify.h"

namespace amap::store {
namespace {

/// A 64-bit finalizer (xor-shift-multiply): every input bit affects every output bit.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dULL;
  x ^= x >> 33;
  return x;
}

/// Hash of a key of up to 17 bytes: 8-byte chunks (the last one zero-padded), chained.
std::uint64_t hash_key(Bytes key) noexcept {
  std::uint64_t h = mix64(0x9e3779b97f4a7c15ULL ^ key.size());
  for (std::size_t i = 0; i < key.size(); i += 8) {
    std::uint64_t chunk = 0;
    std::memcpy(&chunk, key.data() + i, std::min<std::size_t>(8, key.size() - i));
    h = mix64(h ^ chunk);
  }
  return h;
}

}  // namespace

AddressFilter::AddressFilter(std::size_t expected_entries, std::uint64_t txn_id,
                             std::uint64_t db_serial)
    : txn_id_(txn_id), db_serial_(db_serial) {
  const std::size_t bits = std::max<std::size_t>(expected_entries, 1) * kBitsPerEntry;
  blocks_ = (bits + 511) / 512;
  bits_ = std::make_unique<Block[]>(blocks_);  // value-initialized: all zero
}

// The block is picked from the high 32 bits of h (a multiply-shift, no modulo; fine up to
// 2^32 blocks = 256 GiB); the 7 bit positions inside it are 9-bit fields of a second,
// remixed hash.
std::size_t AddressFilter::block_index(std::uint64_t h) const noexcept {
  return static_cast<std::size_t>(((h >> 32) * blocks_) >> 32);
}

void AddressFilter::add(Bytes key) noexcept {
  const std::uint64_t h = hash_key(key);
  Block& b = bits_[block_index(h)];
  std::uint64_t g = mix64(h + 0x632be59bd9b4e019ULL);
  for (unsigned i = 0; i < kBitsPerKey; ++i, g >>= 9) {
    const unsigned bit = static_cast<unsigned>(g & 511U);
    b.words[bit >> 6] |= std::uint64_t{1} << (bit & 63U);
  }
  ++entries_;
}

bool AddressFilter::may_contain(Bytes key) const noexcept {
  const std::uint64_t h = hash_key(key);
  const Block& b = bits_[block_index(h)];
  std::uint64_t g = mix64(h + 0x632be59bd9b4e019ULL);
  bool all = true;
  for (unsigned i = 0; i < kBitsPerKey; ++i, g >>= 9) {
    const unsigned bit = static_cast<unsigned>(g & 511U);
    all = all && (b.words[bit >> 6] & (std::uint64_t{1} << (bit & 63U))) != 0;
  }
  return all;
}

bool AddressFilter::may_contain(const dns::IpAddress& a) const noexcept {
  std::array<std::uint8_t, format::kMaxAddressKey> key{};
  return may_contain(Bytes(key.data(), format::address_key(a, key.data())));
}

std::shared_ptr<const AddressFilter> AddressFilter::build(OverrideReader& reader,
                                                          const std::function<bool()>& cancelled) {
  // Count and keys come from the same snapshot, so the size fits what is added.
  auto f = std::make_shared<AddressFilter>(reader.address_key_count(), reader.txn_id(),
                                           reader.db()->serial());
  const RemapGate& gate = reader.db()->gate();
  std::size_t n = 0;
  const bool complete = reader.for_each_address_key([&](Bytes key) {
    // Holding the snapshot would stall a remap (another process grew the map) for the whole
    // scan: give up instead and let the keeper retry.
    if ((++n & 4095U) == 0 && (gate.remap_pending() || (cancelled && cancelled()))) {
      return false;
    }
    f->add(key);
    return true;
  });
  if (!complete) {
    return nullptr;
  }
  return f;
}

// ------------------------------------------------------------------------- AddressFilterKeeper

AddressFilterKeeper::AddressFilterKeeper(std::shared_ptr<OverrideDb> db,
                                         FilterKeeperOptions options)
    : db_(std::move(db)), options_(std::move(options)), db_snapshot_(db_) {
  thread_ = std::thread([this] { run(); });
}

AddressFilterKeeper::~AddressFilterKeeper() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_.store(true, std::memory_order_relaxed);
  }
  stop_cv_.notify_all();
  thread_.join();
  reader_.reset();
  if (poll_slot_ != nullptr) {
    db_->gate().release(poll_slot_);
  }
}

// A store replaced under the server: the new data.mdb gets the checks of a start (the page
// walk) before the old one is let go. With a new lock.mdb too (the directory was replaced)
// the new environment opens next to the old one, and the query threads switch at their next
// query; the old one closes when the last of them let go. With the same lock.mdb (a data.mdb
// moved in) LMDB allows no second environment: the old one is closed first (retire), and the
// threads answer SERVFAIL for that moment. Opening then takes the lock file's exclusive lock
// if no other process has it open, and LMDB resets the lock table, including the txn id it
// carries from the old file.
void AddressFilterKeeper::reopen_store(const std::string& what) {
  const StoreOptions& o = *options_.reopen;
  const std::string data = o.path + "/data.mdb";
  if (o.verify_pages) {
    const PageReport report = check_pages(data, 5);
    if (!report.ok()) {
      throw StoreError(
          data + " is damaged (" + std::to_string(report.damage_total) +
              " problems; `mapctl check --deep` lists them all): " + report.damage.front(),
          MDB_CORRUPTED);
    }
  } else {
    check_data_file(data);
  }
  reader_.reset();
  if (poll_slot_ != nullptr) {
    db_->gate().release(poll_slot_);
    poll_slot_ = nullptr;
  }
  const std::shared_ptr<OverrideDb> old = db_;
  if (!old->retired() && old->env().lock_file_kept()) {
    db_snapshot_.publish(nullptr);
    try {
      old->retire();
    } catch (...) {
      db_snapshot_.publish(old);
      throw;
    }
  }
  std::shared_ptr<OverrideDb> next = OverrideDb::reopen(o, *old);
  if (const unsigned slots = old->reserved_reader_slots(); slots != 0) {
    next->reserve_reader_slots(slots);
  }
  db_ = std::move(next);
  filter_.publish(nullptr);  // no filter of the old store for the new one
  db_snapshot_.publish(db_);
  reopens_.fetch_add(1, std::memory_order_relaxed);
  if (options_.on_info) {
    options_.on_info("override store reopened: " + what + "; now serving the new file (txn " +
                     std::to_string(db_->env().info().last_txn_id) + ")");
  }
}

std::optional<StoreCounts> AddressFilterKeeper::counts() const {
  const std::lock_guard<std::mutex> lock(counts_mu_);
  return counts_;
}

void AddressFilterKeeper::run() {
  using Clock = std::chrono::steady_clock;
  using std::chrono::milliseconds;
  // mdb_env_info reads the meta pages through the map, which a remap (adopt_map_size) unmaps:
  // like a transaction, the poll runs inside a slot of the remap gate (poll_slot_).
  bool have = false;            // a filter is published
  std::uint64_t built_txn = 0;  // its txn id
  std::uint64_t seen_txn = 0;   // the last txn id a poll saw
  bool stale = false;           // seen a txn id other than built_txn since the last build
  Clock::time_point stale_since{};
  Clock::time_point last_move{};
  Clock::time_point next_build{};  // the gap after the previous build
  Clock::time_point next_reader_check = Clock::now() + milliseconds(options_.reader_check_ms);
  Clock::time_point next_readers_count{};
  std::uint64_t counted_txn = ~0ULL;  // the snapshot counts_ was read from
  Clock::time_point next_replaced_check{};
  std::string replaced_reported;  // the last replacement or failed reopen logged
  std::string reopen_what;        // the replacement the last reopen attempt was for
  unsigned reopen_delay_ms = options_.replaced_check_ms;
  Clock::time_point next_reopen{};

  for (bool first = true;; first = false) {
    if (!first) {
      std::unique_lock<std::mutex> lock(stop_mu_);
      stop_cv_.wait_for(lock, milliseconds(options_.poll_ms), [this] { return stopping(); });
    }
    if (stopping()) {
      return;
    }
    try {
      Clock::time_point now = Clock::now();
      if (now >= next_replaced_check || db_->retired()) {
        next_replaced_check = now + milliseconds(options_.replaced_check_ms);
        // A store retired by another keeper (an old mapper's, during a reload) also counts.
        const std::string what =
            db_->retired() ? std::string("the store was replaced") : db_->env().replaced();
        if (what.empty()) {
          replaced_reported.clear();
        } else if (!options_.reopen) {
          if (what != replaced_reported && options_.on_error) {
            options_.on_error("override store: " + what +
                              " under the running server, which still answers from the file "
                              "it opened: restart it to serve the new one");
          }
          replaced_reported = what;
        } else if (what != reopen_what || now >= next_reopen) {
          // A new replacement is tried at once; a refused one again after a growing delay.
          if (what != reopen_what) {
            reopen_delay_ms = options_.replaced_check_ms;
          }
          reopen_what = what;
          try {
            reopen_store(what);
            replaced_reported.clear();
            reopen_what.clear();
            have = false;         // build a filter of the new store at once
            counted_txn = ~0ULL;  // and read its counts
            stale = false;
            next_build = {};
          } catch (const std::exception& e) {
            next_reopen = now + milliseconds(reopen_delay_ms);
            reopen_delay_ms = std::min(reopen_delay_ms * 2, db_->retired() ? 2000U : 30000U);
            std::string message =
                "override store: " + what + ", but it cannot be opened: " + e.what() +
                (db_->retired() ? "; no store is open, answering SERVFAIL (retried)"
                                : "; still serving the file opened before (retried)");
            if (message != replaced_reported && options_.on_error) {
              options_.on_error(message);
            }
            replaced_reported = std::move(message);
          }
        }
      }
      if (db_->retired()) {
        continue;
      }
      RemapGate& gate = db_->gate();
      if (poll_slot_ == nullptr) {
        poll_slot_ = gate.acquire();
      }
      std::uint64_t last = 0;  // a hint, read without a txn
      gate.enter(*poll_slot_);
      try {
        const EnvInfo info = db_->env().info();
        last = info.last_txn_id;
        readers_max_.store(info.max_readers, std::memory_order_relaxed);
      } catch (...) {
        gate.leave(*poll_slot_);
        throw;
      }
      gate.leave(*poll_slot_);
      now = Clock::now();
      if (now >= next_readers_count) {
        next_readers_count = now + milliseconds(options_.readers_count_ms);
        readers_used_.store(db_->env().readers_in_use(), std::memory_order_relaxed);
      }
      if (last != counted_txn) {
        // The meta counts of the newest commit: one mdb_get in a short snapshot.
        if (!reader_) {
          reader_ = std::make_unique<OverrideReader>(db_);
        }
        reader_->begin();
        std::optional<StoreCounts> c = reader_->counts();
        counted_txn = reader_->txn_id();
        reader_->end();
        const std::lock_guard<std::mutex> lock(counts_mu_);
        counts_ = c;
      }
      // Reader slots left by killed processes (the pipe coprocesses, mapctl) are reclaimed
      // here, not per query: mdb_reader_check probes each owner's lock.
      if (now >= next_reader_check) {
        next_reader_check = now + milliseconds(options_.reader_check_ms);
        if (const int dead = db_->reader_check(); dead > 0 && options_.on_error) {
          options_.on_error("override store: reclaimed " + std::to_string(dead) +
                            " reader slots of processes that died");
        }
      }
      if (have && last == built_txn) {
        continue;
      }
      if (!stale) {
        stale = true;
        stale_since = now;
        last_move = now;
        seen_txn = last;
      } else if (last != seen_txn) {
        last_move = now;
        seen_txn = last;
      }
      // Debounce: wait for the writes to pause (or not too long), and keep a gap between
      // full scans. Without any filter yet, build as soon as the gap allows.
      const bool quiet = now - last_move >= milliseconds(options_.quiet_ms);
      const bool overdue = now - stale_since >= milliseconds(options_.max_stale_ms);
      if (!(quiet || overdue || !have) || now < next_build) {
        continue;
      }
      if (!reader_) {
        reader_ = std::make_unique<OverrideReader>(db_);
      }
      const Clock::time_point start = Clock::now();
      reader_->begin();
      std::shared_ptr<const AddressFilter> f;
      try {
        f = AddressFilter::build(*reader_, [this] { return stopping(); });
      } catch (...) {
        reader_->end();
        throw;
      }
      reader_->end();  // never keep a snapshot while idle
      const Clock::time_point end = Clock::now();
      next_build = end + (end - start) * options_.build_gap_factor;
      if (!f) {
        continue;  // cancelled (stopping, or a remap waited): retried at the next poll
      }
      have = true;
      built_txn = f->txn_id();
      stale = false;
      filter_.publish(std::move(f));
      builds_.fetch_add(1, std::memory_order_relaxed);
    } catch (const std::exception& e) {
      next_build = Clock::now() + milliseconds(options_.max_stale_ms);
      if (options_.on_error) {
        options_.on_error(std::string("override filter build failed (retried): ") + e.what());
      }
    }
  }
}

}  // namespace amap::store
