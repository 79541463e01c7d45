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

AddressFilter::AddressFilter(std::size_t expected_entries, std::uint64_t txn_id) : txn_id_(txn_id) {
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
  auto f = std::make_shared<AddressFilter>(reader.address_key_count(), reader.txn_id());
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
    : db_(std::move(db)), options_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
}

AddressFilterKeeper::~AddressFilterKeeper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_relaxed);
  }
  cv_.notify_all();
  thread_.join();
}

std::shared_ptr<const AddressFilter> AddressFilterKeeper::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

void AddressFilterKeeper::run() {
  using Clock = std::chrono::steady_clock;
  using std::chrono::milliseconds;
  std::unique_ptr<OverrideReader> reader;
  // mdb_env_info reads the meta pages through the map, which a remap (adopt_map_size) unmaps:
  // like a transaction, the poll runs inside a slot of the remap gate.
  RemapGate& gate = db_->gate();
  struct HeldSlot {
    RemapGate& gate;
    RemapGate::Slot* slot = nullptr;
    ~HeldSlot() { gate.release(slot); }
  } held{gate};
  bool have = false;            // a filter is published
  std::uint64_t built_txn = 0;  // its txn id
  std::uint64_t seen_txn = 0;   // the last txn id a poll saw
  bool stale = false;           // seen a txn id other than built_txn since the last build
  Clock::time_point stale_since{};
  Clock::time_point last_move{};
  Clock::time_point next_build{};  // the gap after the previous build
  Clock::time_point next_reader_check = Clock::now() + milliseconds(options_.reader_check_ms);
  Clock::time_point next_replaced_check{};
  std::string replaced_reported;  // the last replacement logged

  for (bool first = true;; first = false) {
    if (!first) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, milliseconds(options_.poll_ms), [this] { return stopping(); });
    }
    if (stopping()) {
      return;
    }
    try {
      if (held.slot == nullptr) {
        held.slot = gate.acquire();
      }
      std::uint64_t last = 0;  // a hint, read without a txn
      gate.enter(*held.slot);
      try {
        last = db_->env().info().last_txn_id;
      } catch (...) {
        gate.leave(*held.slot);
        throw;
      }
      gate.leave(*held.slot);
      const Clock::time_point now = Clock::now();
      // Reader slots left by killed processes (the pipe coprocesses, mapctl) are reclaimed
      // here, not per query: mdb_reader_check probes each owner's lock.
      if (now >= next_reader_check) {
        next_reader_check = now + milliseconds(options_.reader_check_ms);
        if (const int dead = db_->reader_check(); dead > 0 && options_.on_error) {
          options_.on_error("override store: reclaimed " + std::to_string(dead) +
                            " reader slots of processes that died");
        }
      }
      if (now >= next_replaced_check) {
        next_replaced_check = now + milliseconds(options_.replaced_check_ms);
        std::string what = db_->env().replaced();
        if (what != replaced_reported) {
          replaced_reported = what;
          if (!what.empty() && options_.on_error) {
            options_.on_error("override store: " + what +
                              " under the running server, which still answers from the file "
                              "it opened: restart it to serve the new one");
          }
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
      if (!reader) {
        reader = std::make_unique<OverrideReader>(db_);
      }
      const Clock::time_point start = Clock::now();
      reader->begin();
      std::shared_ptr<const AddressFilter> f;
      try {
        f = AddressFilter::build(*reader, [this] { return stopping(); });
      } catch (...) {
        reader->end();
        throw;
      }
      reader->end();  // never keep a snapshot while idle
      const Clock::time_point end = Clock::now();
      next_build = end + (end - start) * options_.build_gap_factor;
      if (!f) {
        continue;  // cancelled (stopping, or a remap waited): retried at the next poll
      }
      have = true;
      built_txn = f->txn_id();
      stale = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        current_ = std::move(f);
        generation_.fetch_add(1, std::memory_order_release);
      }
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
