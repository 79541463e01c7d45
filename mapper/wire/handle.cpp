// SPDX-License-Identifier: MIT
#include "mapper/wire/handle.h"

#include <algorithm>

namespace amap::wire {

Counters& Counters::operator+=(const Counters& o) noexcept {
  received += o.received;
  dropped_short += o.dropped_short;
  dropped_response += o.dropped_response;
  answered += o.answered;
  truncated += o.truncated;
  for (std::size_t i = 0; i < rcodes.size(); ++i) {
    rcodes[i] += o.rcodes[i];
  }
  for (std::size_t f = 0; f < qtypes.size(); ++f) {
    for (std::size_t i = 0; i < qtypes[f].size(); ++i) {
      qtypes[f][i] += o.qtypes[f][i];
    }
  }
  for (std::size_t i = 0; i < sources.size(); ++i) {
    sources[i] += o.sources[i];
  }
  signing += o.signing;
  return *this;
}

namespace {

using sync::bump;

void count_source(Counters& c, AnswerSource s) noexcept {
  bump(c.sources[static_cast<std::size_t>(s)]);
}

std::size_t count_answer(Counters& c, app::Rcode rcode, std::size_t len,
                         std::span<const std::uint8_t> out) noexcept {
  if (len == 0) {
    return 0;
  }
  bump(c.answered);
  // The header rcode is authoritative (an oversized TCP answer became SERVFAIL); BADVERS
  // lives partly in the OPT.
  const std::size_t rc =
      rcode == app::Rcode::badvers ? static_cast<std::size_t>(rcode) : (out[3] & 0x0FU);
  bump(c.rcodes[rc]);
  if ((out[2] & 0x02U) != 0) {
    bump(c.truncated);
  }
  return len;
}

std::size_t error(Counters& c, const ParsedQuery& q, app::Rcode rcode, std::span<std::uint8_t> out,
                  const EncodeOptions& eo) noexcept {
  const std::size_t len = count_answer(c, rcode, encode_error(q, rcode, out, eo), out);
  if (len != 0 && rcode == app::Rcode::refused) {
    count_source(c, AnswerSource::refused);
  }
  return len;
}

/// The source of an answer App::resolve (or the ANY policy) made, once encoded.
std::size_t count_resolved(Counters& c, const app::Answer& ans, std::size_t len,
                           std::span<const std::uint8_t> out) noexcept {
  if (count_answer(c, ans.rcode, len, out) == 0) {
    return 0;
  }
  switch (ans.rcode) {
    case app::Rcode::refused:
      count_source(c, AnswerSource::refused);
      break;
    case app::Rcode::nxdomain:
      count_source(c, AnswerSource::negative);
      break;
    case app::Rcode::noerror: {
      bool answers = false;
      for (const app::Record& r : ans.records()) {
        answers = answers || r.section == app::Section::answer;
      }
      count_source(c, !answers                                ? AnswerSource::negative
                      : ans.source == app::DataSource::stored ? AnswerSource::stored
                                                              : AnswerSource::synthesized);
      break;
    }
    default:
      break;  // SERVFAIL and the like: an error, not an answer of any source
  }
  return len;
}

/// The configured text for a CH TXT identity query (RFC 4892), or null.
const std::string* chaos_text(const ParsedQuery& q, const Policy& policy) noexcept {
  if (q.qtype != dns::rrtype::TXT && q.qtype != dns::rrtype::ANY) {
    return nullptr;
  }
  const auto is = [&q](std::string_view name) {
    const auto n = dns::Name::from_text(name);
    return n && *n == q.qname;
  };
  if (!policy.server_id.empty() && (is("id.server.") || is("hostname.bind."))) {
    return &policy.server_id;
  }
  if (!policy.version.empty() && (is("version.bind.") || is("version.server."))) {
    return &policy.version;
  }
  return nullptr;
}

}  // namespace

std::size_t handle(app::Worker& worker, std::span<const std::uint8_t> query, Transport transport,
                   const dns::IpAddress& remote, const dns::IpAddress& local,
                   std::span<std::uint8_t> out, Counters& counters, const Policy& policy,
                   QueryInfo* info) noexcept {
  const app::App& app = worker.app();
  app::Answer& scratch = worker.answer();
  bump(counters.received);
  const ParsedQuery q = parse_query(query);
  EncodeOptions eo;
  eo.our_payload = policy.udp_payload_max;
  switch (q.error) {
    case ParseError::none:
      break;
    case ParseError::too_short:
      bump(counters.dropped_short);
      return 0;
    case ParseError::response:
      bump(counters.dropped_response);
      return 0;
    case ParseError::formerr:
      return error(counters, q, app::Rcode::formerr, out, eo);
    case ParseError::notimp:
      return error(counters, q, app::Rcode::notimp, out, eo);
  }
  bump(counters.qtypes[remote.is_v4() ? 0 : 1][qtype_bucket(q.qtype.value)]);
  // DNS Cookies (RFC 7873 5.2): the answer carries the client cookie and our server cookie.
  std::array<std::uint8_t, kClientCookieSize + kServerCookieSize> cookie;
  if (policy.cookies != nullptr && q.edns.has_cookie) {
    if (q.edns.cookie_malformed) {
      return error(counters, q, app::Rcode::formerr, out, eo);
    }
    const auto sent = std::span<const std::uint8_t>(q.edns.cookie.data(), q.edns.cookie_len);
    std::copy_n(sent.begin(), kClientCookieSize, cookie.begin());
    const bool valid = policy.cookies->sign(
        sent.first<kClientCookieSize>(), sent.subspan(kClientCookieSize), remote,
        std::span<std::uint8_t, kServerCookieSize>(cookie.data() + kClientCookieSize,
                                                   kServerCookieSize));
    if (info != nullptr) {
      info->valid_server_cookie = valid;
    }
    eo.cookie = cookie.data();
  }
  if (q.edns.nsid && !policy.nsid.empty()) {
    eo.nsid = std::string_view(policy.nsid).substr(0, kMaxNsid);  // RFC 5001 2.2
  }
  // RFC 6891 6.1.3: a version we do not implement gets BADVERS and our version (0).
  if (q.edns.present && q.edns.version > 0) {
    return error(counters, q, app::Rcode::badvers, out, eo);
  }
  const bool udp = transport == Transport::udp;
  if (q.qclass == dns::rrclass::CH) {
    if (const std::string* text = chaos_text(q, policy); text != nullptr) {
      // RFC 4892: one TXT in class CH, TTL 0, authoritative, as Knot and NSD answer it.
      scratch.reset(q.qname, 0);
      scratch.record_class(dns::rrclass::CH);
      scratch.txt(std::string_view(*text).substr(0, 255), 0);
      scratch.authoritative = true;
      const std::size_t limit = udp ? udp_limit(q, policy.udp_payload_max) : kMaxMessage;
      return count_answer(counters, scratch.rcode,
                          encode_response(q, scratch, out, limit, !udp, eo), out);
    }
  }
  if (q.qclass != dns::rrclass::IN && q.qclass != dns::rrclass::ANY) {
    return error(counters, q, app::Rcode::refused, out, eo);
  }
  if (q.qtype == dns::rrtype::AXFR || q.qtype == dns::rrtype::IXFR) {
    // Zone transfer needs TCP (AXFR over UDP is NOTIMP as in Knot); even there, synthesized
    // zones cannot be enumerated, so REFUSED.
    const bool notimp = udp && q.qtype == dns::rrtype::AXFR;
    return error(counters, q, notimp ? app::Rcode::notimp : app::Rcode::refused, out, eo);
  }

  app::Request req;
  req.qname = q.qname;
  req.qtype = q.qtype;
  req.qclass = q.qclass;
  req.remote = remote;
  req.local = local;
  req.has_ecs = q.edns.has_ecs;
  req.ecs = q.edns.ecs;
  req.frontend = udp ? app::Frontend::udp : app::Frontend::tcp;

  const std::size_t limit = udp ? udp_limit(q, policy.udp_payload_max) : kMaxMessage;
  if (udp && q.qtype == dns::rrtype::ANY && policy.any_over_udp == AnyPolicy::truncate) {
    scratch.reset(q.qname, app.default_ttl);
    if (app.find_zone(q.qname) == nullptr) {
      return error(counters, q, app::Rcode::refused, out, eo);
    }
    scratch.authoritative = true;
    eo.force_truncate = true;
    // TC=1 and no records: not an answer of any source (the client asks again over TCP).
    return count_answer(counters, scratch.rcode, encode_response(q, scratch, out, limit, false, eo),
                        out);
  }

  app.resolve(worker, req, scratch);
  if (udp && q.qtype == dns::rrtype::ANY && scratch.rcode == app::Rcode::noerror) {
    // RFC 8482 minimal answer: keep the first answer RRset only.
    bool have = false;
    dns::RRType first;
    scratch.retain_if([&](const app::Record& r) {
      if (r.section != app::Section::answer) {
        return true;
      }
      if (!have) {
        have = true;
        first = r.type;
      }
      return r.type == first;
    });
  }
  // DNSSEC (mapper/dnssec): RRSIGs, NSEC and DNSKEY for DO=1; the DNSKEY RRset also for DO=0.
  // DO=0 answers of every other type do not reach the signer.
  if (const app::AnswerSigner* signer = app.signer();
      signer != nullptr && scratch.authoritative &&
      (q.edns.dnssec_ok || q.qtype == dns::rrtype::DNSKEY || q.qtype == dns::rrtype::ANY)) {
    signer->sign(worker, req, scratch, q.edns.dnssec_ok, counters.signing);
  }
  return count_resolved(counters, scratch, encode_response(q, scratch, out, limit, !udp, eo), out);
}

}  // namespace amap::wire
