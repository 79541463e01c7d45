// SPDX-License-Identifier: MIT
#include "mapper/wire/message.h"

#include <algorithm>
#include <array>

#include "mapper/dns/rdata.h"
#include "mapper/dns/writer.h"

namespace amap::wire {
namespace {

constexpr std::uint16_t kFlagQr = 0x8000;
constexpr std::uint16_t kFlagAa = 0x0400;
constexpr std::uint16_t kFlagTc = 0x0200;
constexpr std::uint16_t kFlagRd = 0x0100;
constexpr std::uint16_t kFlagCd = 0x0010;
constexpr std::uint16_t kEcsOption = 8;      // RFC 7871
constexpr std::uint16_t kCookieOption = 10;  // RFC 7873
constexpr std::uint16_t kNsidOption = 3;     // RFC 5001
constexpr std::size_t kCookieOptionSize = 4 + kClientCookieSize + kServerCookieSize;
constexpr std::size_t kOptFixed = 11;  // root owner + type + class + ttl + rdlength

std::uint16_t get16(std::span<const std::uint8_t> m, std::size_t at) noexcept {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}
std::uint32_t get32(std::span<const std::uint8_t> m, std::size_t at) noexcept {
  return (std::uint32_t{m[at]} << 24) | (std::uint32_t{m[at + 1]} << 16) |
         (std::uint32_t{m[at + 2]} << 8) | std::uint32_t{m[at + 3]};
}

/// Validates a possibly compressed name at `pos` and moves `pos` past it. Pointers must point
/// strictly backwards and not into the header, so every walk terminates (RFC 1035 4.1.4;
/// Knot rejects forward pointers for the same reason).
bool skip_name(std::span<const std::uint8_t> m, std::size_t& pos, bool& is_root) noexcept {
  std::size_t p = pos;
  std::size_t total = 1;
  bool jumped = false;
  is_root = true;
  while (true) {
    if (p >= m.size()) {
      return false;
    }
    const std::uint8_t len = m[p];
    if (len == 0) {
      if (!jumped) {
        pos = p + 1;
      }
      return true;
    }
    if ((len & 0xC0) == 0xC0) {
      if (p + 1 >= m.size()) {
        return false;
      }
      const std::size_t target = (std::size_t{len & 0x3FU} << 8) | m[p + 1];
      if (target >= p || target < kHeaderSize) {
        return false;
      }
      if (!jumped) {
        pos = p + 2;
        jumped = true;
      }
      p = target;
      continue;
    }
    if (len > dns::Name::kMaxLabel) {
      return false;  // 0x40 and 0x80 label types (RFC 6891 deprecated them)
    }
    is_root = false;
    total += 1U + len;
    if (total > dns::Name::kMaxWire) {
      return false;
    }
    p += 1U + len;
  }
}

/// ECS option body (RFC 7871 section 6): FORMERR on an unknown family, a source length over
/// the family's width, the wrong number of address octets, or address bits set past the
/// source prefix length.
bool parse_ecs(std::span<const std::uint8_t> d, Edns& e) noexcept {
  if (d.size() < 4 || e.has_ecs) {
    return false;
  }
  const std::uint16_t family = get16(d, 0);
  const std::uint8_t source = d[2];
  const std::uint8_t scope = d[3];
  std::size_t width = 0;
  if (family == 1) {
    width = 32;
  } else if (family == 2) {
    width = 128;
  } else {
    return false;
  }
  if (source > width || scope > width) {
    return false;
  }
  const std::size_t octets = (std::size_t{source} + 7) / 8;
  if (d.size() - 4 != octets) {
    return false;
  }
  std::array<std::uint8_t, 16> b{};
  for (std::size_t i = 0; i < octets; ++i) {
    b[i] = d[4 + i];
  }
  if (source % 8 != 0 && octets > 0) {
    const auto mask = static_cast<std::uint8_t>(0xFFU >> (source % 8));
    if ((b[octets - 1] & mask) != 0) {
      return false;
    }
  }
  dns::IpAddress addr;
  if (family == 1) {
    addr = dns::IpAddress::v4((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                              (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]});
  } else {
    addr = dns::IpAddress::v6(b);
  }
  e.has_ecs = true;
  e.ecs = dns::Prefix{addr, source};
  e.ecs_scope = scope;
  return true;
}

bool parse_opt(std::span<const std::uint8_t> m, std::uint16_t rclass, std::uint32_t ttl,
               std::size_t rd_at, std::size_t rd_len, Edns& e) noexcept {
  e.udp_payload = rclass;
  e.version = static_cast<std::uint8_t>(ttl >> 16);
  e.dnssec_ok = (ttl & 0x8000U) != 0;
  std::size_t p = rd_at;
  const std::size_t end = rd_at + rd_len;
  while (p < end) {
    if (end - p < 4) {
      return false;
    }
    const std::uint16_t code = get16(m, p);
    const std::uint16_t len = get16(m, p + 2);
    p += 4;
    if (end - p < len) {
      return false;
    }
    // Unknown options are ignored and never echoed (RFC 6891 6.1.2, RFC 8906 8).
    if (code == kEcsOption && !parse_ecs(m.subspan(p, len), e)) {
      return false;
    }
    if (code == kNsidOption && len == 0) {
      e.nsid = true;
    }
    if (code == kCookieOption && !e.has_cookie) {
      e.has_cookie = true;
      const bool client_only = len == kClientCookieSize;
      const bool with_server = len >= kClientCookieSize + kMinServerCookieSize &&
                               len <= kClientCookieSize + kMaxServerCookieSize;
      e.cookie_malformed = !client_only && !with_server;
      if (!e.cookie_malformed) {
        e.cookie_len = static_cast<std::uint8_t>(len);
        std::copy_n(m.begin() + static_cast<std::ptrdiff_t>(p), len, e.cookie.begin());
      }
    }
    p += len;
  }
  return true;
}

/// Writes `name` with compression against names already in the message. Entries are offsets
/// of label starts written earlier in this message, each with the uncompressed length of the
/// name from there on (only entries of the same length can match); matching is
/// case-insensitive.
class Compressor {
 public:
  static constexpr std::size_t kMaxEntries = 256;

  Compressor() noexcept {
    head_.fill(kNoEntry);
    tail_.fill(kNoEntry);
  }

  /// `name` is a whole uncompressed wire name (it ends with the root label).
  void write(dns::WireWriter& w, std::span<const std::uint8_t> name) noexcept {
    // The label starts of this name become targets only once the whole name is written:
    // matching against a half-written name would read past it (and could loop on names
    // such as 0.0.0.0...ip6.arpa whose suffixes repeat).
    if (!wrote_first_ && w.ok() && w.capacity() - w.size() >= name.size()) {
      // Nothing to point to yet (the question): the name goes out whole, as the loop below
      // would write it. Its label starts become targets only when a later name could use
      // them (see index_first): a v6 PTR question has 34, its answer's target none.
      wrote_first_ = true;
      first_at_ = static_cast<std::uint16_t>(w.size());
      // The root has no label to point to (and a pointer would be longer than its one byte).
      first_len_ =
          name.size() > 1 && first_at_ < 0x3FFF ? static_cast<std::uint8_t>(name.size()) : 0;
      w.bytes(name);
      return;
    }
    wrote_first_ = true;
    if (first_len_ != 0) {
      const std::uint8_t* msg = w.data();
      if (name.size() == first_len_ && dns::iequal_wire(msg + first_at_, name.data(), first_len_)) {
        w.u16(static_cast<std::uint16_t>(0xC000U | first_at_));  // the question itself
        return;
      }
      if (shares_top_label(msg + first_at_, first_len_, name)) {
        index_first(msg);
      }
    }
    struct Pending {
      std::uint16_t at;
      std::uint8_t rest;
    };
    std::array<Pending, dns::Name::kMaxLabels> pending;  // [0, npending) is used
    std::size_t npending = 0;
    std::size_t off = 0;
    bool pointed = false;
    while (w.ok() && name[off] != 0) {
      const auto rest = static_cast<std::uint8_t>(name.size() - off);
      const std::size_t hit = find(w, name.data() + off, rest);
      if (hit != kNone) {
        w.u16(static_cast<std::uint16_t>(0xC000U | hit));
        pointed = true;
        break;
      }
      const std::size_t here = w.size();
      const std::size_t len = 1U + name[off];
      w.bytes(name.subspan(off, len));
      if (w.ok() && here < 0x3FFF && npending < pending.size()) {
        pending[npending++] = Pending{static_cast<std::uint16_t>(here), rest};
      }
      off += len;
    }
    if (!pointed) {
      w.u8(0);
    }
    for (std::size_t i = 0; w.ok() && i < npending && n_ < kMaxEntries; ++i) {
      add(pending[i].at, pending[i].rest, !pointed);
    }
  }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  static constexpr std::uint16_t kNoEntry = 0xFFFF;
  static constexpr std::size_t kBuckets = 64;  // by rest % 64

  struct Entry {
    std::uint16_t at;    // offset of the label in the message
    std::uint8_t rest;   // uncompressed length of the name from that label on
    bool flat;           // written out whole from `at` to the root: no pointer in between
    std::uint16_t next;  // next entry of the same bucket, oldest first
  };

  /// Whether `name` could share a suffix (other than the root) with the first name, which
  /// holds `len` bytes at `first`: then both end in the same top label, i.e. the first name
  /// ends with the bytes of `name`'s top label and the root. Never false when they do.
  static bool shares_top_label(const std::uint8_t* first, std::size_t len,
                               std::span<const std::uint8_t> name) noexcept {
    std::size_t top = 0;  // offset of name's last label
    for (std::size_t off = 0; name[off] != 0; off += 1U + name[off]) {
      top = off;
    }
    const std::size_t tail = name.size() - top;  // length byte, label, root
    return name[0] != 0 && tail <= len &&
           dns::iequal_wire(first + len - tail, name.data() + top, tail);
  }

  /// Makes the first name's label starts targets, ahead of any entry added since: it is the
  /// earliest name in the message, and each chain stays in message order.
  void index_first(const std::uint8_t* msg) noexcept {
    std::array<std::uint16_t, dns::Name::kMaxLabels> starts;
    std::size_t count = 0;
    for (std::size_t off = 0; msg[first_at_ + off] != 0 && count < starts.size();
         off += 1U + msg[first_at_ + off]) {
      starts[count++] = static_cast<std::uint16_t>(off);
    }
    for (std::size_t k = count; k-- > 0 && n_ < kMaxEntries;) {
      const std::uint16_t at = static_cast<std::uint16_t>(first_at_ + starts[k]);
      const auto rest = static_cast<std::uint8_t>(first_len_ - starts[k]);
      const std::size_t b = rest % kBuckets;
      const auto i = static_cast<std::uint16_t>(n_++);
      entries_[i] = Entry{at, rest, true, head_[b]};
      head_[b] = i;
      if (tail_[b] == kNoEntry) {
        tail_[b] = i;
      }
    }
    first_len_ = 0;  // indexed: found through the chains from now on
  }

  // Only suffixes of the same length can match, so entries are chained by length: a v6
  // question alone gives 34 entries, and each label of each later name would scan them all.
  void add(std::uint16_t at, std::uint8_t rest, bool flat) noexcept {
    const std::size_t b = rest % kBuckets;
    const auto i = static_cast<std::uint16_t>(n_++);
    entries_[i] = Entry{at, rest, flat, kNoEntry};
    if (tail_[b] == kNoEntry) {
      head_[b] = i;
    } else {
      entries_[tail_[b]].next = i;
    }
    tail_[b] = i;
  }

  std::size_t find(dns::WireWriter& w, const std::uint8_t* suffix,
                   std::uint8_t rest) const noexcept {
    const std::uint8_t* msg = w.data();
    for (std::uint16_t i = head_[rest % kBuckets]; i != kNoEntry; i = entries_[i].next) {
      const Entry& e = entries_[i];
      // A flat entry is plain bytes: the same length and bytes (any case) is the same name.
      if (e.rest == rest &&
          (e.flat ? dns::iequal_wire(msg + e.at, suffix, rest) : equal_at(msg, e.at, suffix))) {
        return e.at;  // the earliest, as a front-to-back scan would find
      }
    }
    return kNone;
  }

  // Both sides are names we wrote ourselves (valid labels, backward pointers only).
  static bool equal_at(const std::uint8_t* msg, std::size_t at, const std::uint8_t* name) noexcept {
    std::size_t q = 0;
    while (true) {
      std::uint8_t l = msg[at];
      while ((l & 0xC0) == 0xC0) {
        at = (std::size_t{l & 0x3FU} << 8) | msg[at + 1];
        l = msg[at];
      }
      if (l != name[q]) {
        return false;
      }
      if (l == 0) {
        return true;
      }
      for (std::size_t k = 1; k <= l; ++k) {
        if (dns::ascii_lower(msg[at + k]) != dns::ascii_lower(name[q + k])) {
          return false;
        }
      }
      at += 1U + l;
      q += 1U + l;
    }
  }

  // Only [0, n_) is used; not zeroed, as this is built for every response.
  std::array<Entry, kMaxEntries> entries_;
  std::array<std::uint16_t, kBuckets> head_;  // per bucket: oldest entry
  std::array<std::uint16_t, kBuckets> tail_;  // newest entry
  std::size_t n_ = 0;
  bool wrote_first_ = false;
  std::uint16_t first_at_ = 0;  // the first name (the question), while not indexed:
  std::uint8_t first_len_ = 0;  // its offset and length; 0 once indexed (or none)
};

/// Length of the uncompressed wire name at the start of `in`, or 0 when there is none (cut
/// short, a pointer or another label type, longer than 255 octets).
std::size_t uncompressed_name_length(std::span<const std::uint8_t> in) noexcept {
  std::size_t pos = 0;
  while (pos < in.size() && pos < dns::Name::kMaxWire) {
    const std::uint8_t len = in[pos];
    if (len == 0) {
      return pos + 1;
    }
    if (len > dns::Name::kMaxLabel) {
      return 0;
    }
    pos += 1U + len;
  }
  return 0;
}

void write_record(dns::WireWriter& w, Compressor& c, const app::Answer& ans,
                  const app::Record& r) noexcept {
  c.write(w, r.owner.wire());
  w.u16(r.type.value);
  w.u16(r.rclass);
  w.u32(r.ttl);
  const std::size_t len_at = w.size();
  w.u16(0);
  const std::size_t start = w.size();
  const std::span<const std::uint8_t> rd = ans.rdata(r);
  std::size_t offsets[2] = {0, 0};
  const std::size_t names = dns::compressible_names(r.type, rd, offsets);
  std::size_t cur = 0;
  for (std::size_t i = 0; i < names; ++i) {
    const std::size_t at = offsets[i];
    if (at < cur || at >= rd.size()) {
      break;
    }
    const std::size_t used = uncompressed_name_length(rd.subspan(at));
    if (used == 0) {
      break;  // not a name after all: copy the rest verbatim
    }
    w.bytes(rd.subspan(cur, at - cur));
    c.write(w, rd.subspan(at, used));
    cur = at + used;
  }
  w.bytes(rd.subspan(cur));
  if (w.ok()) {
    w.patch_u16(len_at, static_cast<std::uint16_t>(w.size() - start));
  }
}

std::size_t opt_size(const ParsedQuery& q, bool with_ecs, const EncodeOptions& o) noexcept {
  if (!q.edns.present) {
    return 0;
  }
  std::size_t n = kOptFixed + (o.cookie != nullptr ? kCookieOptionSize : 0) +
                  (o.nsid.empty() ? 0 : 4 + o.nsid.size());
  if (with_ecs && q.edns.has_ecs) {
    n += 8 + (std::size_t{q.edns.ecs.length} + 7) / 8;
  }
  return n;
}

void write_opt(dns::WireWriter& w, const ParsedQuery& q, std::uint16_t rcode, bool with_ecs,
               const EncodeOptions& o) noexcept {
  const std::uint8_t* cookie = o.cookie;
  w.u8(0);  // root owner
  w.u16(dns::rrtype::OPT.value);
  w.u16(o.our_payload);
  // TTL: extended rcode (upper 8 bits of the 12-bit rcode), version 0, DO echoed (RFC 3225).
  const std::uint32_t ttl = (std::uint32_t{static_cast<std::uint8_t>(rcode >> 4)} << 24) |
                            (q.edns.dnssec_ok ? 0x8000U : 0U);
  w.u32(ttl);
  const bool ecs = with_ecs && q.edns.has_ecs;
  const std::size_t ecs_octets = ecs ? (std::size_t{q.edns.ecs.length} + 7) / 8 : 0;
  w.u16(static_cast<std::uint16_t>((ecs ? 8 + ecs_octets : 0) +
                                   (cookie != nullptr ? kCookieOptionSize : 0) +
                                   (o.nsid.empty() ? 0 : 4 + o.nsid.size())));
  if (ecs) {
    // Echo ECS with SCOPE = SOURCE: the answer may depend on the whole source prefix
    // (the app does not report a narrower scope), which is always cache-safe.
    const std::uint8_t src = q.edns.ecs.length;
    w.u16(kEcsOption);
    w.u16(static_cast<std::uint16_t>(4 + ecs_octets));
    w.u16(q.edns.ecs.address.is_v4() ? 1 : 2);
    w.u8(src);
    w.u8(src);
    w.bytes(std::span<const std::uint8_t>(q.edns.ecs.address.bytes().data(), ecs_octets));
  }
  if (cookie != nullptr) {
    w.u16(kCookieOption);
    w.u16(static_cast<std::uint16_t>(kClientCookieSize + kServerCookieSize));
    w.bytes(std::span<const std::uint8_t>(cookie, kClientCookieSize + kServerCookieSize));
  }
  if (!o.nsid.empty()) {
    w.u16(kNsidOption);
    w.u16(static_cast<std::uint16_t>(o.nsid.size()));
    w.bytes(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(o.nsid.data()),
                                          o.nsid.size()));
  }
}

void write_question(dns::WireWriter& w, const ParsedQuery& q, Compressor* c) noexcept {
  if (c != nullptr) {
    c->write(w, q.qname.wire());
  } else {
    w.bytes(q.qname.wire());
  }
  w.u16(q.qtype.value);
  w.u16(q.qclass);
}

void write_header(dns::WireWriter& w, std::uint16_t id, std::uint16_t flags, std::uint16_t qd,
                  std::uint16_t an, std::uint16_t ns, std::uint16_t ar) noexcept {
  w.u16(id);
  w.u16(flags);
  w.u16(qd);
  w.u16(an);
  w.u16(ns);
  w.u16(ar);
}

std::uint16_t base_flags(const ParsedQuery& q, std::uint16_t rcode) noexcept {
  std::uint16_t f = kFlagQr;
  f = static_cast<std::uint16_t>(f | ((q.opcode & 0x0FU) << 11));
  if (q.rd) {
    f |= kFlagRd;
  }
  return static_cast<std::uint16_t>(f | (rcode & 0x0FU));
}

}  // namespace

ParsedQuery parse_query(std::span<const std::uint8_t> m) noexcept {
  ParsedQuery q;
  if (m.size() < kHeaderSize) {
    q.error = ParseError::too_short;
    return q;
  }
  q.id = get16(m, 0);
  q.flags = get16(m, 2);
  q.qdcount = get16(m, 4);
  q.ancount = get16(m, 6);
  q.nscount = get16(m, 8);
  q.arcount = get16(m, 10);
  q.opcode = static_cast<std::uint8_t>((q.flags >> 11) & 0x0FU);
  q.rd = (q.flags & kFlagRd) != 0;
  q.cd = (q.flags & kFlagCd) != 0;
  if ((q.flags & kFlagQr) != 0) {
    q.error = ParseError::response;
    return q;
  }
  // An unknown opcode is NOTIMP whatever else is wrong (RFC 8906 8; Knot, NSD). We still
  // parse as far as possible so the answer can echo the question.
  const ParseError fail = q.opcode == opcode::QUERY ? ParseError::formerr : ParseError::notimp;
  auto finish = [&](ParseError e) {
    q.error = e;
    return q;
  };
  if (q.qdcount > 1) {
    return finish(fail);
  }
  std::size_t p = kHeaderSize;
  if (q.qdcount == 1) {
    // Question name: no compression allowed (nothing precedes it to point to).
    std::size_t used = 0;
    if (q.qname.assign_wire(m.subspan(p), used) != Errc::ok || m.size() - p - used < 4) {
      q.qname = dns::Name{};
      return finish(fail);
    }
    p += used;
    q.qtype = dns::RRType(get16(m, p));
    q.qclass = get16(m, p + 2);
    p += 4;
    q.has_question = true;
  }
  if (q.ancount != 0 || q.nscount != 0) {
    return finish(fail);  // a query carries no answer or authority records (NSD)
  }
  for (std::uint16_t i = 0; i < q.arcount; ++i) {
    bool root = false;
    if (!skip_name(m, p, root) || m.size() - p < 10) {
      q.edns.present = false;
      return finish(fail);
    }
    const std::uint16_t type = get16(m, p);
    const std::uint16_t rclass = get16(m, p + 2);
    const std::uint32_t ttl = get32(m, p + 4);
    const std::uint16_t rdlen = get16(m, p + 8);
    p += 10;
    if (m.size() - p < rdlen) {
      q.edns.present = false;
      return finish(fail);
    }
    if (type == dns::rrtype::OPT.value) {
      ++q.edns.opt_count;
      // RFC 6891 6.1.1: one OPT at most, owned by the root.
      if (q.edns.opt_count > 1 || !root || !parse_opt(m, rclass, ttl, p, rdlen, q.edns)) {
        q.edns.present = false;
        q.edns.has_ecs = false;
        return finish(fail);
      }
      q.edns.present = true;
    }
    p += rdlen;
  }
  if (p != m.size()) {
    return finish(fail);  // trailing bytes
  }
  if (q.qdcount != 1 || q.opcode != opcode::QUERY) {
    return finish(fail);
  }
  return q;
}

std::size_t encode_error(const ParsedQuery& q, app::Rcode rcode, std::span<std::uint8_t> out,
                         const EncodeOptions& options) noexcept {
  const auto rc = static_cast<std::uint16_t>(rcode);
  const bool opt = q.edns.present;
  dns::WireWriter w(out.first(std::min(out.size(), kMaxMessage)));
  write_header(w, q.id, base_flags(q, rc), q.has_question ? 1 : 0, 0, 0, opt ? 1 : 0);
  if (q.has_question) {
    write_question(w, q, nullptr);
  }
  if (opt) {
    write_opt(w, q, rc, false, options);
  }
  return w.ok() ? w.size() : 0;
}

std::size_t encode_response(const ParsedQuery& q, const app::Answer& ans,
                            std::span<std::uint8_t> out, std::size_t limit, bool tcp,
                            const EncodeOptions& options) noexcept {
  const std::size_t cap = std::min({out.size(), limit, kMaxMessage});
  const auto rc = static_cast<std::uint16_t>(ans.rcode);
  const std::size_t opt_len = opt_size(q, true, options);
  if (cap < kHeaderSize + opt_len) {
    return 0;
  }
  dns::WireWriter w(out.first(cap));
  Compressor comp;
  write_header(w, q.id, 0, 0, 0, 0, 0);  // patched below
  std::uint16_t qd = 0;
  if (q.has_question) {
    write_question(w, q, &comp);
    qd = 1;
  }
  const std::size_t after_question = w.size();

  std::uint16_t counts[3] = {0, 0, 0};
  bool truncated = options.force_truncate;
  if (!truncated) {
    for (const app::Section s :
         {app::Section::answer, app::Section::authority, app::Section::additional}) {
      for (const app::Record& r : ans.records()) {
        if (r.section == s) {
          write_record(w, comp, ans, r);
          ++counts[static_cast<std::size_t>(s)];
        }
      }
    }
    truncated = !w.ok() || w.size() + opt_len > cap;
  }
  std::uint16_t flags = base_flags(q, rc);
  if (ans.authoritative) {
    flags |= kFlagAa;
  }
  if (truncated) {
    if (tcp) {
      return encode_error(q, app::Rcode::servfail, out, options);
    }
    // RFC 2181 9 / RFC 1035: TC with the question (and OPT) only; the client retries on TCP.
    w.truncate(after_question);
    counts[0] = counts[1] = counts[2] = 0;
    flags |= kFlagTc;
  }
  if (q.edns.present) {
    write_opt(w, q, rc, true, options);
  }
  if (!w.ok()) {
    return 0;
  }
  w.patch_u16(2, flags);
  w.patch_u16(4, qd);
  w.patch_u16(6, counts[0]);
  w.patch_u16(8, counts[1]);
  w.patch_u16(10, static_cast<std::uint16_t>(counts[2] + (q.edns.present ? 1 : 0)));
  return w.size();
}

std::size_t truncate_response(std::span<std::uint8_t> msg, std::size_t len) noexcept {
  if (len < kHeaderSize || len > msg.size()) {
    return 0;
  }
  const std::span<std::uint8_t> m = msg.first(len);
  const std::uint16_t qd = get16(m, 4);
  const std::size_t records = std::size_t{get16(m, 6)} + get16(m, 8) + get16(m, 10);
  bool root = false;
  std::size_t pos = kHeaderSize;
  bool ok = true;
  for (std::uint16_t i = 0; ok && i < qd; ++i) {
    ok = skip_name(m, pos, root) && len - pos >= 4;
    pos += ok ? 4 : 0;
  }
  const std::size_t after_question = pos;
  std::size_t opt_at = 0;
  std::size_t opt_len = 0;
  for (std::size_t i = 0; ok && i < records; ++i) {
    const std::size_t start = pos;
    ok = skip_name(m, pos, root) && len - pos >= 10;
    if (ok) {
      const std::size_t rdlen = get16(m, pos + 8);
      const bool is_opt = root && get16(m, pos) == dns::rrtype::OPT.value;
      ok = len - pos - 10 >= rdlen;
      pos += 10 + rdlen;
      if (ok && is_opt) {
        opt_at = start;
        opt_len = pos - start;
      }
    }
  }
  const auto put16 = [&m](std::size_t at, std::size_t v) {
    m[at] = static_cast<std::uint8_t>(v >> 8);
    m[at + 1] = static_cast<std::uint8_t>(v);
  };
  put16(2, get16(m, 2) | kFlagTc);
  if (!ok) {
    for (std::size_t at = 4; at < kHeaderSize; at += 2) {
      put16(at, 0);
    }
    return kHeaderSize;
  }
  // The OPT moves down to right after the question (it only ever moves towards the front).
  std::copy(m.begin() + static_cast<std::ptrdiff_t>(opt_at),
            m.begin() + static_cast<std::ptrdiff_t>(opt_at + opt_len),
            m.begin() + static_cast<std::ptrdiff_t>(after_question));
  put16(6, 0);
  put16(8, 0);
  put16(10, opt_len != 0 ? 1 : 0);
  return after_question + opt_len;
}

}  // namespace amap::wire
