// SPDX-License-Identifier: MIT
#pragma once
// One DNS message in, one DNS message out (or nothing): the whole query -> response path of
// the wire front-ends, so UDP, TCP, tests and fuzzers share the exact same policy.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "mapper/app/answer.h"
#include "mapper/app/app.h"
#include "mapper/app/worker.h"
#include "mapper/dns/address.h"
#include "mapper/sync/counter.h"
#include "mapper/wire/message.h"

namespace amap::wire {

enum class Transport : std::uint8_t { udp, tcp };

/// What to do with QTYPE=ANY over UDP (RFC 8482 lets servers choose).
enum class AnyPolicy : std::uint8_t {
  /// PowerDNS `any-to-tcp=yes` (its default) and NSD `refuse-any`: TC=1 with an empty answer,
  /// so a real client retries over TCP and a spoofed-source amplifier gains nothing.
  truncate,
  /// RFC 8482 4.2: answer with one RRset of the name (the first one the app produced).
  minimal,
};

/// The server's side of DNS Cookies (RFC 7873, server cookies as RFC 9018), implemented by
/// backend/server/cookies.h. Called from handle() for each query with a well-formed COOKIE
/// option, so it must not allocate, lock or throw.
class CookieSigner {
 public:
  virtual ~CookieSigner() = default;
  /// Checks the server cookie the client returned (`server`: empty when the query had only a
  /// client cookie) for `client`, and writes the server cookie of the answer into `out`.
  /// Returns true when the returned server cookie is valid (made by us for this client cookie
  /// and address, recently enough).
  virtual bool sign(std::span<const std::uint8_t, kClientCookieSize> client_cookie,
                    std::span<const std::uint8_t> server, const dns::IpAddress& client,
                    std::span<std::uint8_t, kServerCookieSize> out) const noexcept = 0;
};

struct Policy {
  /// Our EDNS UDP payload: advertised in every OPT and the cap for UDP answers.
  std::uint16_t udp_payload_max = kDefaultUdpPayload;
  AnyPolicy any_over_udp = AnyPolicy::truncate;
  /// DNS Cookies: null = not implemented (a COOKIE option is ignored like any unknown one).
  const CookieSigner* cookies = nullptr;
  /// The server's identity, each off while empty (Knot's server.nsid and server.identity):
  /// the NSID option (RFC 5001) of an answer to a query with an empty NSID option (at most
  /// kMaxNsid bytes), the TXT of CH id.server. and hostname.bind. (RFC 4892), and the TXT of
  /// CH version.bind. and version.server. (at most 255 bytes each).
  std::string nsid;
  std::string server_id;
  std::string version;
};

/// What handle() learnt about a query that the caller may act on.
struct QueryInfo {
  /// The query returned a valid server cookie: its source address is proven (RRL exempts it).
  bool valid_server_cookie = false;
};

/// The query types counted by name (CoreDNS's and NSD's common set); the rest are `other`
/// (index kCountedQtypes.size()): a bounded label set whatever clients send.
inline constexpr std::array<std::uint16_t, 15> kCountedQtypes{
    1 /*A*/,       2 /*NS*/,    5 /*CNAME*/,  6 /*SOA*/,    12 /*PTR*/,
    15 /*MX*/,     16 /*TXT*/,  28 /*AAAA*/,  33 /*SRV*/,   43 /*DS*/,
    48 /*DNSKEY*/, 64 /*SVCB*/, 65 /*HTTPS*/, 252 /*AXFR*/, 255 /*ANY*/};
inline constexpr std::size_t kQtypeBuckets = kCountedQtypes.size() + 1;
/// The bucket of a query type: its index in kCountedQtypes, else kCountedQtypes.size().
constexpr std::size_t qtype_bucket(std::uint16_t qtype) noexcept {
  for (std::size_t i = 0; i < kCountedQtypes.size(); ++i) {
    if (kCountedQtypes[i] == qtype) {
      return i;
    }
  }
  return kCountedQtypes.size();
}

/// Answers by where their content came from (automap_dns_answers_total{source}).
enum class AnswerSource : std::uint8_t {
  synthesized,  // records the app made (automap: from a template)
  stored,       // records from stored data (automap: an override; Answer::source)
  negative,     // NXDOMAIN or NODATA from the app
  refused,      // REFUSED: outside every zone, or a class other than IN/ANY
};
inline constexpr std::size_t kAnswerSources = 4;

/// Per-message counters, owned by the caller (one per worker; sum them when read). Written by
/// that worker only, through sync::bump (relaxed atomic_ref load and store: no lock prefix), so
/// that another thread may read them meanwhile with sync::peek.
struct Counters {
  std::uint64_t received = 0;              // messages passed to handle()
  std::uint64_t dropped_short = 0;         // < 12 bytes
  std::uint64_t dropped_response = 0;      // QR=1
  std::uint64_t answered = 0;              // responses produced
  std::uint64_t truncated = 0;             // responses with TC=1
  std::array<std::uint64_t, 24> rcodes{};  // responses by rcode (BADVERS = 16)
  /// Queries whose question parsed, by the client's address family (0 IPv4, 1 IPv6) and
  /// qtype_bucket().
  std::array<std::array<std::uint64_t, kQtypeBuckets>, 2> qtypes{};
  /// Answers by AnswerSource (SERVFAIL, FORMERR, NOTIMP and BADVERS are in none of them).
  std::array<std::uint64_t, kAnswerSources> sources{};
  /// Online signing (mapper/dnssec), counted by the app's signer.
  app::SigningCounters signing;

  std::uint64_t dropped() const noexcept { return dropped_short + dropped_response; }
  std::uint64_t rcode(app::Rcode r) const noexcept { return rcodes[static_cast<std::size_t>(r)]; }
  Counters& operator+=(const Counters& o) noexcept;
};

/// Handles one query message and writes the response into `out` (which should hold 65535
/// bytes for TCP; 1232 or more is enough for UDP). Returns the response length, or 0 when the
/// message must be dropped. The app is `worker.app()`; the answer is built in
/// `worker.answer()`. Never throws and never allocates.
///
/// Policy (RFC 8906, pdns/Knot/NSD, see backend/server/README.md):
///  - < 12 bytes or QR=1: drop; malformed: FORMERR; opcode != QUERY: NOTIMP;
///  - EDNS version > 0: BADVERS with an OPT of version 0 and no records;
///  - with `policy.cookies`: a malformed COOKIE option is FORMERR (RFC 7873 5.2.2); a query
///    with a client cookie gets the COOKIE option back with a server cookie; never BADCOOKIE
///    (automap does not require cookies);
///  - an empty NSID option and `policy.nsid` set: the answer's OPT carries it (RFC 5001);
///  - QCLASS CH, QTYPE TXT or ANY, QNAME id.server. or hostname.bind. (`policy.server_id`)
///    or version.bind. or version.server. (`policy.version`), that one set: its TXT, AA;
///  - other QCLASS than IN/ANY: REFUSED;
///  - AXFR over UDP: NOTIMP; IXFR over UDP and AXFR/IXFR over TCP: REFUSED (synthesized zones
///    are not transferable);
///  - ANY over UDP: `policy.any_over_udp` (default TC=1); over TCP the full answer;
///  - otherwise App::resolve (REFUSED outside our zones, AA, NXDOMAIN/NODATA + SOA, ...).
std::size_t handle(app::Worker& worker, std::span<const std::uint8_t> query, Transport transport,
                   const dns::IpAddress& remote, const dns::IpAddress& local,
                   std::span<std::uint8_t> out, Counters& counters, const Policy& policy = {},
                   QueryInfo* info = nullptr) noexcept;

}  // namespace amap::wire
