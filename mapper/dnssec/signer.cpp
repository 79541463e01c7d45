// SPDX-License-Identifier: MIT
#include "mapper/dnssec/signer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

#include "mapper/dns/writer.h"

namespace amap::dnssec {

namespace {

/// NXNAME (RFC 9824): in the bitmap of the NSEC that denies a name's existence.
constexpr std::uint16_t kNxname = 128;

constexpr std::uint64_t rotl(std::uint64_t v, int r) noexcept {
  return (v << r) | (v >> (64 - r));
}
constexpr std::uint64_t fmix(std::uint64_t k) noexcept {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

/// Two 64-bit hashes of `data` (the cache key). Not cryptographic: a collision can only make
/// a validator see a bad signature (bogus), never make it accept data we did not sign.
void hash128(std::span<const std::uint8_t> data, std::uint64_t& h1, std::uint64_t& h2) noexcept {
  h1 = 0x9E3779B97F4A7C15ULL ^ data.size();
  h2 = 0xC2B2AE3D27D4EB4FULL + data.size();
  std::size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, data.data() + i, 8);
    h1 = rotl(h1 ^ (w * 0x87C37B91114253D5ULL), 31) * 0x4CF5AD432745937FULL;
    h2 = rotl(h2 + w, 27) * 0x52DCE729ULL + h1;
  }
  std::uint64_t w = 0;
  std::memcpy(&w, data.data() + i, data.size() - i);
  h1 = fmix(h1 ^ (w * 0x87C37B91114253D5ULL));
  h2 = fmix(h2 + w + h1);
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
  std::uint8_t* p = w.data() + start;
  for (std::size_t i = from; i < to; ++i) {
    p[i] = dns::ascii_lower(p[i]);
  }
}

void lower_name(const dns::Name& n, dns::WireWriter& w) noexcept {
  for (const std::uint8_t c : n.wire()) {
    w.u8(dns::ascii_lower(c));
  }
}

}  // namespace

struct Signer::State {
  explicit State(std::size_t entries) : cache(entries), mru(entries / 2), mask(entries - 1) {}
  struct Entry {
    std::uint64_t h1 = 0;
    std::uint64_t h2 = 0;
    std::array<std::uint8_t, kSignatureSize> sig{};
  };
  app::Answer probe{64, 8192};                                        // the types at a NODATA name
  std::vector<std::uint8_t> data = std::vector<std::uint8_t>(70000);  // the signed data
  std::vector<std::uint8_t> rdatas = std::vector<std::uint8_t>(70000);  // canonical RDATAs
  std::array<std::uint32_t, app::Answer::kDefaultMaxRecords> rd_off{};
  std::array<std::uint16_t, app::Answer::kDefaultMaxRecords> rd_len{};
  std::array<std::uint16_t, app::Answer::kDefaultMaxRecords> order{};
  std::vector<Entry> cache;       // sets of two ways
  std::vector<std::uint8_t> mru;  // per set: the way used last
  std::size_t mask;
  SignerStats stats;
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
  std::size_t entries = 2;
  while (entries < options.cache_entries) {
    entries <<= 1;
  }
  s->options_ = std::move(options);
  s->slot_ = app.slot<State>([entries] { return std::make_unique<State>(entries); });
  app.set_signer(s);
  return s;
}

SignerStats Signer::stats(app::Worker& worker) const noexcept {
  return worker.get(slot_).stats;
}

void Signer::sign(app::Worker& worker, const app::Request& req, app::Answer& ans,
                  bool dnssec_ok) const noexcept {
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
  const std::int64_t step = std::min<std::int64_t>(86400, options_.validity / 4);
  const std::int64_t window = now - now % step;
  const auto inception = static_cast<std::uint32_t>(window - options_.inception_offset);
  const auto expiration = static_cast<std::uint32_t>(window + options_.validity);
  const std::size_t n = ans.size();
  for (std::size_t i = 0; i < n; ++i) {
    const app::Record first = ans.records()[i];
    if (first.section == app::Section::additional || first.type == dns::rrtype::RRSIG) {
      continue;
    }
    auto same = [&](const app::Record& r) {
      return r.section == first.section && r.type == first.type && r.owner == first.owner;
    };
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j) {
      seen = same(ans.records()[j]);
    }
    if (seen) {
      continue;
    }
    // The RRset's RDATAs in canonical form, in canonical order (RFC 4034 6.3), duplicates
    // dropped.
    dns::WireWriter rw(st.rdatas);
    std::size_t count = 0;
    for (std::size_t j = i; j < n; ++j) {
      const app::Record& r = ans.records()[j];
      if (!same(r) || count >= st.order.size()) {
        continue;
      }
      st.rd_off[count] = static_cast<std::uint32_t>(rw.size());
      canonical_rdata(r.type, ans.rdata(r), rw);
      st.rd_len[count] = static_cast<std::uint16_t>(rw.size() - st.rd_off[count]);
      st.order[count] = static_cast<std::uint16_t>(count);
      ++count;
    }
    if (!rw.ok()) {
      continue;
    }
    auto rd = [&](std::uint16_t k) {
      return std::span<const std::uint8_t>(st.rdatas.data() + st.rd_off[k], st.rd_len[k]);
    };
    std::sort(st.order.begin(), st.order.begin() + static_cast<std::ptrdiff_t>(count),
              [&](std::uint16_t a, std::uint16_t b) {
                const auto x = rd(a);
                const auto y = rd(b);
                return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
              });
    const std::vector<std::size_t>& signers = first.type == dns::rrtype::DNSKEY ? ksk_ : zsk_;
    for (const std::size_t ki : signers) {
      const Key& key = keys_[ki];
      dns::WireWriter w(st.data);
      w.u16(first.type.value);
      w.u8(static_cast<std::uint8_t>(key.algorithm()));
      w.u8(static_cast<std::uint8_t>(first.owner.label_count()));
      w.u32(first.ttl);
      w.u32(expiration);
      w.u32(inception);
      w.u16(key.tag());
      lower_name(zone->apex, w);
      const std::size_t header = w.size();
      for (std::size_t k = 0; k < count; ++k) {
        const auto r = rd(st.order[k]);
        if (k > 0 && std::ranges::equal(r, rd(st.order[k - 1]))) {
          continue;
        }
        lower_name(first.owner, w);
        w.u16(first.type.value);
        w.u16(first.rclass);
        w.u32(first.ttl);
        w.u16(static_cast<std::uint16_t>(r.size()));
        w.bytes(r);
      }
      if (!w.ok()) {
        continue;
      }
      std::uint64_t h1 = 0;
      std::uint64_t h2 = 0;
      hash128(w.written(), h1, h2);
      // Two ways per set, least recently used replaced: a hit in either way; a miss takes
      // the way not used last (so two RRsets of one set both stay).
      const std::size_t set_at = h1 & st.mask & ~std::size_t{1};
      std::size_t way = 2;
      for (std::size_t w2 = 0; w2 < 2; ++w2) {
        const State::Entry& c = st.cache[set_at + w2];
        if (c.h1 == h1 && c.h2 == h2) {
          way = w2;
        }
      }
      const bool hit = way < 2;
      std::uint8_t& mru = st.mru[set_at >> 1];
      if (!hit) {
        way = mru ^ 1U;
      }
      mru = static_cast<std::uint8_t>(way);
      State::Entry& e = st.cache[set_at + way];
      if (hit) {
        ++st.stats.cache_hits;
      } else if (key.sign(w.written(), e.sig)) {
        e.h1 = h1;
        e.h2 = h2;
      } else {
        e.h1 = e.h2 = 0;
        ++st.stats.sign_failures;
        continue;
      }
      ++st.stats.signatures;
      ans.add(
          first.owner, dns::rrtype::RRSIG, first.ttl,
          [&](dns::WireWriter& out) {
            out.bytes(std::span<const std::uint8_t>(st.data.data(), header));
            out.bytes(e.sig);
          },
          first.section);
    }
  }
  if (ans.overflow()) {
    ans.rollback({0, 0});
    ans.rcode = app::Rcode::servfail;
  }
}

}  // namespace amap::dnssec
