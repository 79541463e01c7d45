// SPDX-License-Identifier: MIT
#include "backend/pipe/session.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <utility>

#include "mapper/dns/result.h"

#ifndef AMAP_VERSION
#define AMAP_VERSION "unknown"
#endif

namespace amap::pipe {
namespace {

// Room kept free at the end of the reply buffer so that a "LOG reply too large" + FAIL
// always fits after an overflow.
constexpr std::size_t kReserve = 256;
// Longest excerpt of an offending line quoted in a LOG reason.
constexpr std::size_t kQuoteMax = 64;

std::uint64_t steady_seconds() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

/// Splits on every TAB (empty fields are kept, so "a\t\tb" has three fields). Returns the
/// field count; a count of Fields' size means "that many or more".
template <std::size_t N>
std::size_t split_fields(std::string_view line, std::array<std::string_view, N>& out) noexcept {
  // One pass over the bytes: a pipe line is ~50 bytes, where a memchr call per field costs
  // more than it saves.
  std::size_t n = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\t') {
      out[n++] = line.substr(start, i - start);
      start = i + 1;
      if (n == N) {
        return n;
      }
    }
  }
  out[n++] = line.substr(start);
  return n;
}

/// Sets `name` from the text PowerDNS sent. Plain hostnames (no escapes, no control or
/// non-ASCII bytes: nearly every query) take a copy-and-index fast path; then `echo` is the
/// text to_text would print for the name, so the reply can repeat it. Anything else goes
/// through the full parser and leaves `echo` empty.
Errc parse_qname(std::string_view text, dns::Name& name, std::string_view& echo) noexcept {
  echo = {};
  bool plain = !text.empty() && text != ".";  // the root: the full parser knows it
  const bool filled = plain && name.fill_hostname([&](char* p, std::size_t cap) -> std::size_t {
    if (text.size() > cap) {
      return 0;
    }
    bool high = false;  // 0x7F..0xFF: to_text would print \DDD
    for (std::size_t i = 0; i < text.size(); ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      high |= c >= 0x7F;
      p[i] = static_cast<char>(c);
    }
    plain = !high;
    return plain ? text.size() : 0;
  });
  if (filled) {
    echo = text.back() == '.' ? text.substr(0, text.size() - 1) : text;
    return Errc::ok;
  }
  auto parsed = dns::Name::from_text(text);
  if (!parsed) {
    return parsed.error();
  }
  name = *parsed;
  return Errc::ok;
}

bool parse_i64(std::string_view s, std::int64_t& v) noexcept {
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  return !s.empty() && ec == std::errc{} && ptr == end;
}

/// Writes `s`, cut to kQuoteMax characters, TABs as spaces and other control characters as
/// '?', so a LOG line
/// stays one harmless line whatever the input held.
void put_sanitized(dns::TextWriter& w, std::string_view s) noexcept {
  const bool cut = s.size() > kQuoteMax;
  for (const char ch : s.substr(0, kQuoteMax)) {
    const auto c = static_cast<unsigned char>(ch);
    w.put(ch == '\t' ? ' ' : (c < 0x20 || c == 0x7F) ? '?' : ch);
  }
  if (cut) {
    w.put("...");
  }
}

std::string_view type_text(dns::RRType t, char (&buf)[16]) noexcept {
  return t.to_text(buf);
}

}  // namespace

Session::Session(app::Worker& worker, Options options)
    : worker_(worker),
      options_(std::move(options)),
      lines_(options_.lines != nullptr ? options_.lines : &own_lines_),
      reply_(options_.max_reply_bytes < 2 * kReserve ? 2 * kReserve : options_.max_reply_bytes) {
  request_.frontend = app::Frontend::pipe;
  started_ = now();
}

std::uint64_t Session::now() const noexcept {
  return options_.clock != nullptr ? options_.clock() : steady_seconds();
}

std::string_view Session::finish() noexcept {
  return out_.view();
}

void Session::reject(std::string_view what, std::string_view detail) noexcept {
  ++stats_.malformed;
  lines_->add(Verb::bad);
  log_fail(what, detail);
}

void Session::log_fail(std::string_view what, std::string_view detail) noexcept {
  out_ = dns::TextWriter(reply_.data(), reply_.size());
  out_.put("LOG\t");
  out_.put(what);
  put_sanitized(out_, detail);
  out_.put("\nFAIL\n");
}

std::string_view Session::handle_oversized_line(std::size_t limit) noexcept {
  out_ = dns::TextWriter(reply_.data(), reply_.size() - kReserve);
  if (state_ == State::closing || state_ == State::closed) {
    state_ = State::closed;
    return finish();
  }
  char buf[64];
  dns::TextWriter w(buf, sizeof buf);
  w.put("line longer than ");
  w.put_uint(limit);
  w.put(" bytes, dropped");
  reject(w.view());
  return finish();
}

std::string_view Session::handle_line(std::string_view line) noexcept {
  out_ = dns::TextWriter(reply_.data(), reply_.size() - kReserve);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (state_ == State::closing || state_ == State::closed) {
    // After FAILing the handshake, PowerDNS expects us to read one more line and go away.
    state_ = State::closed;
    return finish();
  }
  if (line.empty()) {
    reject("empty line");
    return finish();
  }
  Fields f;
  const std::size_t n = split_fields(line, f);
  const std::string_view tag = f[0];
  const std::uint64_t malformed = stats_.malformed;
  Verb verb = Verb::bad;
  if (tag == "HELO") {
    verb = Verb::helo;
    on_helo(f, n);
  } else if (state_ == State::handshake) {
    reject("expected HELO first, got: ", line);
  } else if (tag == "Q") {
    verb = Verb::q;
    on_query(f, n);
  } else if (tag == "AXFR") {
    verb = Verb::axfr;
    on_axfr(f, n);
  } else if (tag == "CMD") {
    verb = Verb::cmd;
    on_command(line, n);
  } else {
    reject("unknown line: ", line);
  }
  // A line answered LOG + FAIL counts as bad (already counted by reject), the others by verb.
  if (stats_.malformed == malformed) {
    lines_->add(verb);
  }
  return finish();
}

void Session::on_helo(const Fields& f, std::size_t n) noexcept {
  // The reply to HELO is exactly one line: PowerDNS reads one line as the banner, so a LOG
  // here would be taken for the banner and the FAIL for the answer to the first query.
  std::int64_t abi = 0;
  if (n == 2 && parse_i64(f[1], abi) && abi >= kMinAbi && abi <= kMaxAbi) {
    abi_ = static_cast<int>(abi);
    state_ = State::serving;
    out_.put("OK\t");
    out_.put(options_.banner);
    out_.put("\n");
    return;
  }
  abi_ = 0;
  state_ = State::closing;
  failed_handshake_ = true;
  out_.put("FAIL\n");
}

void Session::on_query(const Fields& f, std::size_t n) noexcept {
  // Field layout per ABI (pipebackend.cc, PipeBackend::lookup):
  //   0 Q  1 qname  2 qclass  3 qtype  4 id  5 remote  [6 local, ABI 2+]  [7 ecs, ABI 3+]
  const std::size_t want = abi_ == 1 ? 6 : abi_ == 2 ? 7 : 8;
  if (n != want) {
    char buf[64];
    dns::TextWriter w(buf, sizeof buf);
    w.put_uint(n >= kMaxFields ? want + 1 : n);
    w.put(n >= kMaxFields ? "+ fields, ABI " : " fields, ABI ");
    w.put_uint(static_cast<std::uint64_t>(abi_));
    w.put(" expects ");
    w.put_uint(want);
    reject("Q line has ", w.view());
    return;
  }
  app::Request& req = request_;
  std::string_view qname_text;
  if (f[1].empty() || parse_qname(f[1], req.qname, qname_text) != Errc::ok) {
    reject("bad qname: ", f[1].empty() ? "(empty; the root is \".\")" : f[1]);
    return;
  }
  auto qclass = dns::rrclass_from_text(f[2]);
  if (!qclass) {
    reject("bad qclass: ", f[2]);
    return;
  }
  auto qtype = dns::RRType::from_text(f[3]);
  if (!qtype) {
    reject("bad qtype: ", f[3]);
    return;
  }
  std::int64_t id = 0;
  if (!parse_i64(f[4], id)) {
    reject("bad zone id: ", f[4]);
    return;
  }
  // PowerDNS writes a link-local client with its zone id ("fe80::1%eth0").
  auto remote = dns::IpAddress::parse_dropping_zone(f[5]);
  if (!remote) {
    reject("bad remote address: ", f[5]);
    return;
  }
  req.qclass = *qclass;
  req.qtype = *qtype;
  req.zone_id = id;
  req.remote = *remote;
  req.local = dns::IpAddress::v4(0);
  req.has_ecs = false;
  if (abi_ >= 2) {
    auto local = dns::IpAddress::parse_dropping_zone(f[6]);
    if (!local) {
      reject("bad local address: ", f[6]);
      return;
    }
    req.local = *local;
  }
  if (abi_ >= 3) {
    // PowerDNS sends the ECS source prefix when the query had ECS (and edns-subnet-processing
    // is on), else "<remote>/32" or "/128". "0.0.0.0/0" comes with internal queries; a /0
    // ECS also means "do not tailor" (RFC 7871 7.1.2), so it is no ECS either.
    auto ecs = dns::Prefix::parse(f[7], /*allow_host_bits=*/true);
    if (!ecs) {
      reject("bad edns-subnet: ", f[7]);
      return;
    }
    req.has_ecs =
        ecs->length != 0 && (ecs->length < ecs->address.bits() || !(ecs->address == req.remote));
    if (req.has_ecs) {
      req.ecs = *ecs;
    }
  }
  ++stats_.queries;
  ++stats_.by_qtype[std::min<std::size_t>(req.qtype.value, Stats::kTypeSlots - 1)];

  // Records only: PowerDNS does the negative logic (and walks up with SOA questions).
  if (worker_.app().answer(worker_, req, worker_.answer(), app::App::Need::records) ==
      app::Outcome::error) {
    ++stats_.failures;
    out_.put("FAIL\n");
    return;
  }
  write_records(f, qname_text);
}

void Session::write_records(const Fields& f, std::string_view qname_text) noexcept {
  const app::Request& req = request_;
  const std::uint64_t ecs_scope =
      options_.ecs_scope == EcsScope::source && req.has_ecs ? req.ecs.length : 0;
  const app::Answer& answer = worker_.answer();
  const app::Zone* zone = answer.zone;
  char owner[dns::Name::kMaxText + 1];
  char tbuf[16];
  for (const app::Record& r : answer.records()) {
    // App::answer kept in the answer section only what answers the question (PowerDNS does
    // the DNS logic: it asks ANY most of the time). The pipe has no other sections.
    if (r.section != app::Section::answer) {
      continue;
    }
    out_.put("DATA\t");
    if (abi_ >= 3) {
      // The zone's own SOA and NS do not depend on the client: always scope 0.
      const bool zone_record = (r.type == dns::rrtype::SOA || r.type == dns::rrtype::NS) &&
                               zone != nullptr && r.owner == zone->apex;
      out_.put_uint(zone_record ? 0 : ecs_scope);
      out_.put("\t1\t");
    }
    // Every answer-section row is owned by the qname: repeat PowerDNS's own text.
    out_.put(!qname_text.empty()
                 ? qname_text
                 : std::string_view(owner, r.owner.to_text(owner, sizeof owner, false)));
    out_.put('\t');
    out_.put(dns::rrclass_to_text(r.rclass, tbuf));
    out_.put('\t');
    out_.put(type_text(r.type, tbuf));
    out_.put('\t');
    out_.put_uint(r.ttl);
    out_.put('\t');
    out_.put(f[4]);
    out_.put('\t');
    const std::size_t content = out_.size();
    const auto rdata = answer.rdata(r);
    if (!dns::rdata_to_text(r.type, rdata, out_)) {
      // rdata_to_text fails on malformed RDATA and on a full buffer alike; its text is at
      // most 8 bytes per RDATA byte (TXT \DDD escapes and quotes), so tell them apart by room.
      if (reply_.size() - kReserve - content < 8 * rdata.size() + 64) {
        out_.put(std::string_view(reply_.data(), reply_.size()));  // make the overflow sticky
        break;
      }
      ++stats_.failures;
      log_fail("handler produced malformed RDATA of type ", type_text(r.type, tbuf));
      return;
    }
    if (r.type == dns::rrtype::MX || r.type == dns::rrtype::SRV) {
      // PowerDNS takes MX/SRV content as exactly "<field 6> <field 7>": the priority must be
      // a field of its own ("10\tmail.example.", "0\t5 5060 sip.example.").
      const std::string_view written = out_.view().substr(content);
      const std::size_t sp = written.find(' ');
      if (sp != std::string_view::npos) {
        reply_[content + sp] = '\t';
      }
    }
    out_.put('\n');
  }
  out_.put("END\n");
  if (!out_.ok()) {
    ++stats_.failures;
    log_fail("reply larger than the reply buffer for ", f[1]);
  }
}

void Session::on_axfr(const Fields& f, std::size_t n) noexcept {
  // AXFR <id> (ABI 1..3), AXFR <id> <zone> (ABI 4+). Synthesized zones have no finite list
  // of records, and listing only the apex SOA/NS would hand a secondary an empty zone that
  // NXDOMAINs everything, so the transfer is always empty. Ship disable-axfr=yes.
  const std::size_t want = abi_ >= 4 ? 3 : 2;
  std::int64_t id = 0;
  if (n != want) {
    reject(abi_ >= 4 ? "AXFR line needs <id> <zone> on ABI 4+"
                     : "AXFR line needs <id> (and no zone) on ABI 1..3");
    return;
  }
  if (!parse_i64(f[1], id)) {
    reject("bad AXFR zone id: ", f[1]);
    return;
  }
  if (want == 3 && !dns::Name::from_text(f[2])) {
    reject("bad AXFR zone: ", f[2]);
    return;
  }
  ++stats_.axfr;
  out_.put("END\n");
}

void Session::on_command(std::string_view line, std::size_t n) noexcept {
  // CMD <text> comes from "pdnsutil backend-cmd" on ABI 5 only (older ABIs are answered by
  // PowerDNS itself). PowerDNS prints every line up to END, so even errors end with END.
  if (abi_ < 5) {
    const char digit[2] = {static_cast<char>('0' + abi_), '\0'};
    reject("CMD needs pipe-abi-version 5, this session speaks ABI ", digit);
    return;
  }
  ++stats_.commands;
  std::string_view cmd = n >= 2 ? line.substr(4) : std::string_view{};
  while (!cmd.empty() && (cmd.front() == ' ' || cmd.front() == '\t')) {
    cmd.remove_prefix(1);
  }
  while (!cmd.empty() && (cmd.back() == ' ' || cmd.back() == '\t')) {
    cmd.remove_suffix(1);
  }
  if (cmd == "version") {
    out_.put("automap " AMAP_VERSION ", pipe ABI ");
    out_.put_uint(static_cast<std::uint64_t>(abi_));
    out_.put("\n");
  } else if (cmd == "stats") {
    write_stats();
  } else if (cmd == "help") {
    out_.put(
        "help: this list\nversion: program version and pipe ABI\n"
        "stats: counters of this coprocess (key=value)\n");
  } else if (cmd.empty()) {
    out_.put("no command given, try: help, version, stats\n");
  } else {
    out_.put("unknown command '");
    put_sanitized(out_, cmd);
    out_.put("', try: help, version, stats\n");
  }
  out_.put("END\n");
}

void Session::write_stats() noexcept {
  auto kv = [&](std::string_view key, std::uint64_t v) {
    out_.put(key);
    out_.put('=');
    out_.put_uint(v);
    out_.put('\n');
  };
  kv("queries", stats_.queries);
  kv("failures", stats_.failures);
  kv("malformed", stats_.malformed);
  kv("axfr", stats_.axfr);
  kv("commands", stats_.commands);
  const std::uint64_t t = now();
  kv("uptime_seconds", t >= started_ ? t - started_ : 0);
  char tbuf[16];
  for (std::size_t i = 0; i + 1 < Stats::kTypeSlots; ++i) {
    if (stats_.by_qtype[i] != 0) {
      out_.put("qtype_");
      out_.put(type_text(dns::RRType(static_cast<std::uint16_t>(i)), tbuf));
      out_.put('=');
      out_.put_uint(stats_.by_qtype[i]);
      out_.put('\n');
    }
  }
  if (stats_.by_qtype.back() != 0) {
    kv("qtype_other", stats_.by_qtype.back());
  }
}

}  // namespace amap::pipe
