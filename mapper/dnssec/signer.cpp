// SPDX-License-Identifier: MIT
#include "mapper/dnssec/signer.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <stdexcept>

#include "mapper/dns/writer.h"
#include "mapper/sync/counter.h"

namespace amap::dnssec {

namespace {

/// NXNAME (RFC 9824): in the bitmap of the NSEC that denies a name's existence.
constexpr std::uint16_t kNxname = 128;

/// The cache key's hash (a set index and a filter before the exact comparison): two lanes of
/// eight bytes each, multiply and rotate, so the multiplications of the lanes overlap; the
/// set index takes the high bits of the last product. Not cryptographic, and need not be: a
/// hit also compares the whole key.
std::uint64_t hash_key(std::span<const std::uint8_t> data) noexcept {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  constexpr std::uint64_t kMul2 = 0xC2B2AE3D27D4EB4FULL;
  std::uint64_t a = kMul2 ^ data.size();
  std::uint64_t b = kMul;
  std::size_t i = 0;
  for (; i + 16 <= data.size(); i += 16) {
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    std::memcpy(&x, data.data() + i, 8);
    std::memcpy(&y, data.data() + i + 8, 8);
    a = std::rotl((a ^ x) * kMul, 29);
    b = std::rotl((b ^ y) * kMul2, 31);
  }
  std::array<std::uint8_t, 16> tail{};
  std::memcpy(tail.data(), data.data() + i, data.size() - i);
  std::uint64_t x = 0;
  std::uint64_t y = 0;
  std::memcpy(&x, tail.data(), 8);
  std::memcpy(&y, tail.data() + 8, 8);
  return ((a ^ x) * kMul) ^ std::rotl((b ^ y) * kMul2, 32);
}

/// Lower-cases the ASCII letters of `n` bytes, eight at a time: per byte, bit 7 of
/// (b | 0x80) - 'A' says b & 0x7F >= 'A', that of (b | 0x80) - ('Z' + 1) says it is above
/// 'Z'; no borrow crosses a byte. Bytes >= 0x80 stay as they are.
void lower_in_place(std::uint8_t* p, std::size_t n) noexcept {
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  auto lower8 = [](std::uint64_t w) {
    const std::uint64_t ge_a = (w | kHigh) - 0x4141414141414141ULL;
    const std::uint64_t gt_z = (w | kHigh) - 0x5B5B5B5B5B5B5B5BULL;
    return w | ((ge_a & ~gt_z & ~w & kHigh) >> 2);
  };
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p + i, 8);
    w = lower8(w);
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) {
    p[i] = dns::ascii_lower(p[i]);
  }
}

/// The RDATA of `type` in canonical form (RFC 4034 6.2, RFC 6840 5.1): the domain names in
/// it lower-cased, for the types automap serves.
void canonical_rdata(dns::RRType type, std::span<const std::uint8_t> rd,
                     dns::WireWriter& w) noexcept {
  const std::size_t start = w.size();
  w.bytes(rd);
  if (!w.ok()) {
    return;
  }
  std::size_t from = 0;
  std::size_t to = 0;
  if (type == dns::rrtype::NS || type == dns::rrtype::CNAME || type == dns::rrtype::PTR) {
    to = rd.size();
  } else if (type == dns::rrtype::SOA && rd.size() > 20) {
    to = rd.size() - 20;  // MNAME and RNAME, then five 32-bit fields
  } else if (type == dns::rrtype::MX && rd.size() > 2) {
    from = 2;
    to = rd.size();
  }
  // Length bytes are at most 63, below 'A': lower-casing every byte of a name is safe.
  if (to > from) {
    lower_in_place(w.data() + start + from, to - from);
  }
}

void lower_name(const dns::Name& n, dns::WireWriter& w) noexcept {
  const std::size_t start = w.size();
  w.bytes(n.wire());
  if (w.ok()) {
    lower_in_place(w.data() + start, n.wire().size());
  }
}

}  // namespace

/// The per-worker signature cache: a log of entries (appended in a ring of bytes, the oldest
/// overwritten) and a four-way set-associative index into it. An entry is its header, its key
/// (the RRset: lower-cased owner, type, class, TTL, then each RDATA in canonical form and
/// order with its length) and the RRSIG RDATA to serve, encoded. One index line and the entry
/// are all a hit reads; it compares the whole key, so a signature is never served for other
/// data than it signed.
struct Signer::State {
  static constexpr std::size_t kWays = 4;
  static constexpr std::size_t kLogBytesPerEntry = 192;  // a PTR entry is 150-250 bytes

  struct Way {
    std::uint64_t hash = 0;
    std::uint64_t at = 0;  // the entry's log position + 1 (0: empty)
  };
  struct alignas(64) Set {
    std::array<Way, kWays> way{};
  };
  struct Head {
    std::uint32_t expiration = 0;
    std::uint16_t key_len = 0;
    std::uint16_t rrsig_len = 0;
    std::uint32_t key_index = 0;  // which signing key
    std::uint32_t pad = 0;
    const app::Zone* zone = nullptr;  // the signer's name
  };

  explicit State(std::size_t entries)
      : sets(entries / kWays), set_mask(entries / kWays - 1), log(entries * kLogBytesPerEntry) {}

  /// Whether the entry at log position `pos` has not been overwritten since.
  bool live(std::uint64_t pos) const noexcept { return head - pos <= log.size(); }
  std::uint8_t* entry(std::uint64_t pos) noexcept { return log.data() + pos % log.size(); }
  /// Room for `size` bytes at the log's head (an entry never wraps around): its position.
  std::uint64_t append(std::size_t size) noexcept {
    if (head % log.size() + size > log.size()) {
      head += log.size() - head % log.size();
    }
    const std::uint64_t pos = head;
    head += size;
    return pos;
  }

  app::Answer probe{64, 8192};                                        // the types at a NODATA name
  std::vector<std::uint8_t> key = std::vector<std::uint8_t>(70000);   // the cache key
  std::vector<std::uint8_t> data = std::vector<std::uint8_t>(70000);  // the signed data
  std::vector<std::uint8_t> rdatas = std::vector<std::uint8_t>(70000);  // canonical RDATAs
  std::array<std::uint8_t, 18 + dns::Name::kMaxWire + kSignatureSize> rrsig{};
  std::array<std::uint32_t, app::Answer::kDefaultMaxRecords> rd_off{};
  std::array<std::uint16_t, app::Answer::kDefaultMaxRecords> rd_len{};
  std::array<std::uint16_t, app::Answer::kDefaultMaxRecords> order{};
  std::vector<Set> sets;
  std::size_t set_mask;
  std::vector<std::uint8_t> log;
  std::uint64_t head = 0;   // bytes appended to the log so far
  std::int64_t window = 0;  // the current validity period: [window, window_end)
  std::int64_t window_end = 0;
};

std::shared_ptr<const Signer> Signer::install(app::App& app, std::vector<Key> keys,
                                              SignerOptions options) {
  auto s = std::shared_ptr<Signer>(new Signer());
  const std::int64_t now =
      options.now ? options.now() : static_cast<std::int64_t>(std::time(nullptr));
  for (Key& k : keys) {
    if (k.timing.published(now)) {
      s->keys_.push_back(std::move(k));
    }
  }
  bool have_sep = false;
  bool have_zsk = false;
  for (const Key& k : s->keys_) {
    if (k.timing.active(now)) {
      have_sep = have_sep || k.sep();
      have_zsk = have_zsk || !k.sep();
    }
  }
  // A CSK (SEP flag, no separate ZSK) signs everything; with a separate active ZSK the SEP
  // keys sign only the DNSKEY RRset.
  for (std::size_t i = 0; i < s->keys_.size(); ++i) {
    const Key& k = s->keys_[i];
    if (!k.timing.active(now)) {
      continue;
    }
    if (k.sep() || !have_sep) {
      s->ksk_.push_back(i);
    }
    if (!k.sep() || !have_zsk) {
      s->zsk_.push_back(i);
    }
  }
  if (s->ksk_.empty() || s->zsk_.empty()) {
    throw std::invalid_argument(
        "no published and active key to sign with (mapctl key list shows the keys' timing)");
  }
  std::size_t entries = State::kWays;
  while (entries < options.cache_entries) {
    entries <<= 1;
  }
  s->options_ = std::move(options);
  s->slot_ = app.slot<State>([entries] { return std::make_unique<State>(entries); });
  app.set_signer(s);
  return s;
}

void Signer::sign(app::Worker& worker, const app::Request& req, app::Answer& ans, bool dnssec_ok,
                  app::SigningCounters& counters) const noexcept {
  const app::Zone* zone = ans.zone;
  if (zone == nullptr || ans.rcode == app::Rcode::servfail || ans.rcode == app::Rcode::refused) {
    return;
  }
  State& st = worker.get(slot_);
  const bool at_apex = req.qname == zone->apex;
  const std::uint32_t key_ttl = zone->authority->soa_ttl;
  if (at_apex && ans.rcode == app::Rcode::noerror &&
      (req.qtype == dns::rrtype::DNSKEY || req.qtype == dns::rrtype::ANY)) {
    if (req.qtype == dns::rrtype::DNSKEY) {
      ans.retain_if([](const app::Record& r) { return r.section != app::Section::authority; });
    }
    for (const Key& k : keys_) {
      ans.add_raw(req.qname, dns::rrtype::DNSKEY, key_ttl, k.dnskey_rdata());
    }
  }
  if (!dnssec_ok) {
    if (ans.overflow()) {
      ans.rollback({0, 0});
      ans.rcode = app::Rcode::servfail;
    }
    return;
  }

  // Compact denial (RFC 9824): NODATA and nonexistent names alike get NOERROR and one NSEC
  // at the query name, covering nothing but that name.
  const bool answered =
      std::any_of(ans.records().begin(), ans.records().end(),
                  [](const app::Record& r) { return r.section == app::Section::answer; });
  if (!answered) {
    std::array<std::array<std::uint8_t, 32>, 2> bits{};
    auto set = [&](std::uint16_t t) {
      if (t < 512) {
        bits[t >> 8][(t & 0xFFU) >> 3] |= static_cast<std::uint8_t>(0x80U >> (t & 7U));
      }
    };
    set(dns::rrtype::RRSIG.value);
    set(dns::rrtype::NSEC.value);
    if (ans.rcode == app::Rcode::nxdomain) {
      ans.rcode = app::Rcode::noerror;
      set(kNxname);
    } else {
      app::Request probe = req;
      probe.qtype = dns::rrtype::ANY;
      worker.app().answer(worker, probe, st.probe);
      for (const app::Record& r : st.probe.records()) {
        if (r.section == app::Section::answer && r.owner == req.qname) {
          set(r.type.value);
        }
      }
      if (at_apex) {
        set(dns::rrtype::DNSKEY.value);
      }
    }
    dns::Name next = req.qname;
    if (!next.prepend(std::string_view("\0", 1))) {
      next = req.qname;  // a 254-byte name has no successor below it: the NSEC covers nothing
    }
    ans.add(
        req.qname, dns::rrtype::NSEC, zone->negative_ttl(),
        [&](dns::WireWriter& w) {
          lower_name(next, w);
          for (std::size_t win = 0; win < bits.size(); ++win) {
            std::size_t len = bits[win].size();
            while (len > 0 && bits[win][len - 1] == 0) {
              --len;
            }
            if (len > 0) {
              w.u8(static_cast<std::uint8_t>(win));
              w.u8(static_cast<std::uint8_t>(len));
              w.bytes(std::span<const std::uint8_t>(bits[win].data(), len));
            }
          }
        },
        app::Section::authority);
  }

  // An RRSIG per RRset of the answer and authority sections, per signing key.
  const std::int64_t now =
      options_.now ? options_.now() : static_cast<std::int64_t>(std::time(nullptr));
  if (now < st.window || now >= st.window_end) {  // a division once per period, not per query
    const std::int64_t step =
        std::max<std::int64_t>(1, std::min<std::int64_t>(86400, options_.validity / 4));
    st.window = now - now % step;
    st.window_end = st.window + step;
  }
  const std::int64_t window = st.window;
  const auto inception = static_cast<std::uint32_t>(window - options_.inception_offset);
  const auto expiration = static_cast<std::uint32_t>(window + options_.validity);
  const std::size_t n = ans.size();
  for (std::size_t i = 0; i < n; ++i) {
    // The records are not moved while RRSIGs are added (the answer's storage is fixed).
    const app::Record& first = ans.records()[i];
    if (first.section == app::Section::additional || first.type == dns::rrtype::RRSIG) {
      continue;
    }
    auto same = [&](const app::Record& r) {
      return &r == &first ||
             (r.section == first.section && r.type == first.type && r.owner == first.owner);
    };
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j) {
      seen = same(ans.records()[j]);
    }
    if (seen) {
      continue;
    }
    // The cache key: the owner, type, class and TTL (RFC 4034 6.2: the owner lower-cased),
    // then the RRset's RDATAs, each with its length, in canonical form and order (RFC 4034
    // 6.3), duplicates dropped. The signed data is made of the same parts.
    std::size_t count = 0;
    for (std::size_t j = i; j < n && count < st.order.size(); ++j) {
      count += same(ans.records()[j]) ? 1U : 0U;
    }
    dns::WireWriter kw(st.key);
    lower_name(first.owner, kw);
    kw.u16(first.type.value);
    // The set is chosen by owner and type alone, so its index line is fetched while the rest
    // of the key is built.
    const std::uint64_t set_hash = hash_key(kw.written());
    State::Set& set = st.sets[(set_hash >> 40) & st.set_mask];
    __builtin_prefetch(&set);
    const std::size_t owner_type = kw.size();
    kw.u16(first.rclass);
    kw.u32(first.ttl);
    const std::size_t rr_prefix = kw.size();
    if (count == 1) {
      // One record (most answers): nothing to sort.
      const std::size_t at = kw.size();
      kw.u16(0);
      canonical_rdata(first.type, ans.rdata(first), kw);
      kw.patch_u16(at, static_cast<std::uint16_t>(kw.size() - at - 2));
    } else {
      dns::WireWriter rw(st.rdatas);
      std::size_t k = 0;
      for (std::size_t j = i; j < n && k < count; ++j) {
        const app::Record& r = ans.records()[j];
        if (!same(r)) {
          continue;
        }
        st.rd_off[k] = static_cast<std::uint32_t>(rw.size());
        canonical_rdata(r.type, ans.rdata(r), rw);
        st.rd_len[k] = static_cast<std::uint16_t>(rw.size() - st.rd_off[k]);
        st.order[k] = static_cast<std::uint16_t>(k);
        ++k;
      }
      if (!rw.ok()) {
        continue;
      }
      auto rd = [&](std::uint16_t x) {
        return std::span<const std::uint8_t>(st.rdatas.data() + st.rd_off[x], st.rd_len[x]);
      };
      std::sort(st.order.begin(), st.order.begin() + static_cast<std::ptrdiff_t>(count),
                [&](std::uint16_t a, std::uint16_t b) {
                  const auto x = rd(a);
                  const auto y = rd(b);
                  return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
                });
      for (std::size_t x = 0; x < count; ++x) {
        const auto r = rd(st.order[x]);
        if (x > 0 && std::ranges::equal(r, rd(st.order[x - 1]))) {
          continue;
        }
        kw.u16(static_cast<std::uint16_t>(r.size()));
        kw.bytes(r);
      }
    }
    if (!kw.ok()) {
      continue;
    }
    const std::span<const std::uint8_t> key = kw.written();
    const std::uint64_t key_hash = hash_key(key.subspan(owner_type)) ^ set_hash;
    const std::vector<std::size_t>& signers = first.type == dns::rrtype::DNSKEY ? ksk_ : zsk_;
    for (const std::size_t ki : signers) {
      const Key& key_used = keys_[ki];
      app::SigningCounters::PerAlgorithm& count_alg =
          counters.by_algorithm[app::SigningCounters::index(
              static_cast<std::uint8_t>(key_used.algorithm()))];
      const std::uint64_t h = key_hash ^ (std::uint64_t{expiration} << 16) ^ ki;
      const std::uint8_t* found = nullptr;
      State::Head eh;
      for (State::Way& way : set.way) {
        if (way.hash != h || way.at == 0 || !st.live(way.at - 1)) {
          continue;
        }
        const std::uint8_t* e = st.entry(way.at - 1);
        std::memcpy(&eh, e, sizeof eh);
        if (eh.expiration == expiration && eh.key_index == ki && eh.zone == zone &&
            eh.key_len == key.size() && std::memcmp(e + sizeof eh, key.data(), key.size()) == 0) {
          found = e;
          if (st.head - (way.at - 1) > st.log.size() / 2) {
            // In use and in the older half of the log: moved to its head, so a hot entry is
            // never overwritten (a copy, no cryptography).
            const std::size_t size = (sizeof eh + eh.key_len + eh.rrsig_len + 7) & ~std::size_t{7};
            const std::uint64_t pos = st.append(size);
            std::memmove(st.entry(pos), e, size);
            way.at = pos + 1;
            found = st.entry(pos);
          }
          break;
        }
      }
      if (found != nullptr) {
        sync::bump(count_alg.cache_hits);
        ans.add_raw(first.owner, dns::rrtype::RRSIG, first.ttl,
                    std::span<const std::uint8_t>(found + sizeof eh + eh.key_len, eh.rrsig_len),
                    first.section);
        continue;
      }
      sync::bump(count_alg.cache_misses);
      // RFC 4034 3.1.8.1: the RRSIG RDATA without its signature, then every RR of the set
      // (owner, type, class, TTL, RDLENGTH, RDATA) in canonical form and order.
      dns::WireWriter w(st.data);
      w.u16(first.type.value);
      w.u8(static_cast<std::uint8_t>(key_used.algorithm()));
      w.u8(static_cast<std::uint8_t>(first.owner.label_count()));
      w.u32(first.ttl);
      w.u32(expiration);
      w.u32(inception);
      w.u16(key_used.tag());
      lower_name(zone->apex, w);
      const std::size_t header = w.size();
      for (std::size_t at = rr_prefix; at + 2 <= key.size();) {
        const std::size_t len = (std::size_t{key[at]} << 8) | key[at + 1];
        w.bytes(key.first(rr_prefix));
        w.bytes(key.subspan(at, 2 + len));
        at += 2 + len;
      }
      if (!w.ok()) {
        continue;
      }
      std::span<std::uint8_t, kSignatureSize> sig(st.rrsig.data() + header, kSignatureSize);
      if (!key_used.sign(w.written(), sig)) {
        sync::bump(count_alg.failures);
        continue;
      }
      sync::bump(count_alg.signatures);
      std::memcpy(st.rrsig.data(), st.data.data(), header);
      const auto rrsig = std::span<const std::uint8_t>(st.rrsig.data(), header + kSignatureSize);
      ans.add_raw(first.owner, dns::rrtype::RRSIG, first.ttl, rrsig, first.section);
      // Cached when it fits a quarter of the log, in an empty or stale way, else in the way
      // written longest ago.
      eh = State::Head{expiration,
                       static_cast<std::uint16_t>(key.size()),
                       static_cast<std::uint16_t>(rrsig.size()),
                       static_cast<std::uint32_t>(ki),
                       0,
                       zone};
      const std::size_t size = (sizeof eh + key.size() + rrsig.size() + 7) & ~std::size_t{7};
      if (key.size() > 0xFFFF || size > st.log.size() / 4) {
        continue;
      }
      State::Way* victim = &set.way[0];
      for (State::Way& way : set.way) {
        if (way.at == 0 || !st.live(way.at - 1)) {
          victim = &way;
          break;
        }
        if (way.at < victim->at) {
          victim = &way;
        }
      }
      if (victim->at != 0) {
        sync::bump(count_alg.cache_evictions);
      }
      const std::uint64_t pos = st.append(size);
      std::uint8_t* e = st.entry(pos);
      std::memcpy(e, &eh, sizeof eh);
      std::memcpy(e + sizeof eh, key.data(), key.size());
      std::memcpy(e + sizeof eh + key.size(), rrsig.data(), rrsig.size());
      *victim = State::Way{h, pos + 1};
    }
  }
  if (ans.overflow()) {
    ans.rollback({0, 0});
    ans.rcode = app::Rcode::servfail;
  }
}

}  // namespace amap::dnssec
