// SPDX-License-Identifier: MIT
#pragma once
// The DNS message layer shared by every wire front-end (UDP, TCP, tests, fuzzers): a strict
// query parser and a response encoder with name compression. No allocation, no exceptions:
// the compression table is a fixed array and all output goes through a bounded WireWriter.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "mapper/app/answer.h"
#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "mapper/dns/rrtype.h"

namespace amap::wire {

inline constexpr std::size_t kHeaderSize = 12;
/// Classic DNS over UDP limit without EDNS (RFC 1035 4.2.1).
inline constexpr std::uint16_t kMinUdpPayload = 512;
/// Default EDNS buffer we advertise and cap at: fits the smallest IPv6 MTU (DNS flag day 2020).
inline constexpr std::uint16_t kDefaultUdpPayload = 1232;
/// Largest DNS message (TCP length prefix is 16 bits).
inline constexpr std::size_t kMaxMessage = 65535;

namespace opcode {
inline constexpr std::uint8_t QUERY = 0;
inline constexpr std::uint8_t NOTIFY = 4;
inline constexpr std::uint8_t UPDATE = 5;
}  // namespace opcode

/// What the parser decided about a message it could not accept as a normal query.
enum class ParseError : std::uint8_t {
  none = 0,
  too_short,  // < 12 bytes: drop (no id to answer to)
  response,   // QR=1: drop (never answer a response, avoids reflection loops)
  formerr,    // answer FORMERR
  notimp,     // opcode other than QUERY: answer NOTIMP
};

/// True when the message must be dropped without an answer.
constexpr bool is_drop(ParseError e) noexcept {
  return e == ParseError::too_short || e == ParseError::response;
}

/// EDNS0 (RFC 6891) as found in the query's OPT record.
struct Edns {
  bool present = false;
  std::uint8_t version = 0;
  std::uint16_t udp_payload = 0;  // the requestor's payload size, as sent
  bool dnssec_ok = false;         // DO bit (RFC 3225), echoed in the response
  std::uint8_t opt_count = 0;     // number of OPT records seen (2+ is FORMERR)
  /// EDNS Client Subnet (RFC 7871): source prefix (host bits verified zero).
  bool has_ecs = false;
  dns::Prefix ecs;
  std::uint8_t ecs_scope = 0;
  /// DNS COOKIE (RFC 7873), the first COOKIE option: the client cookie (8 bytes) and the
  /// server cookie (8 to 32 bytes) as sent. Any other length only sets `cookie_malformed`
  /// (FORMERR when the server implements cookies; ignored otherwise, like any option).
  bool has_cookie = false;
  bool cookie_malformed = false;
  std::uint8_t cookie_len = 0;  // 8 + the server cookie's length
  std::array<std::uint8_t, 40> cookie{};
  /// An empty NSID option (RFC 5001 2.1): the client asks for the server's identifier. An NSID
  /// option with a payload is not a request (RFC 5001 2.3) and is ignored.
  bool nsid = false;
};

/// The longest NSID payload automap sends (RFC 5001 sets none; Knot and BIND take any size).
inline constexpr std::size_t kMaxNsid = 128;

/// COOKIE option lengths (RFC 7873 4): a client cookie, then an optional server cookie.
inline constexpr std::size_t kClientCookieSize = 8;
inline constexpr std::size_t kMinServerCookieSize = 8;
inline constexpr std::size_t kMaxServerCookieSize = 32;
/// The server cookie automap sends (RFC 9018: version, reserved, timestamp, 8-byte hash).
inline constexpr std::size_t kServerCookieSize = 16;

/// A parsed query. When `error != none`, the fields are filled as far as parsing got:
/// `id` and the flags always (for >= 12 bytes), the question only when `has_question`, the
/// OPT only when `edns.present` (error answers echo what parsed, as NSD does).
struct ParsedQuery {
  ParseError error = ParseError::none;
  std::uint16_t id = 0;
  std::uint8_t opcode = 0;
  bool rd = false;          // recursion desired: echoed
  bool cd = false;          // checking disabled: read, but cleared in answers
  std::uint16_t flags = 0;  // the raw second header word
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;

  bool has_question = false;
  dns::Name qname;  // the case as received
  dns::RRType qtype;
  std::uint16_t qclass = 0;

  Edns edns;

  bool ok() const noexcept { return error == ParseError::none; }
};

/// Parses and validates a query. Never reads outside `msg`; parse time is linear in its size.
/// Decisions (see README "Behaviour"): < 12 bytes and QR=1 are dropped; opcode != QUERY is
/// NOTIMP; QDCOUNT != 1, ANCOUNT/NSCOUNT != 0, a compressed/oversized/cut question name, two
/// OPTs, an OPT with a non-root owner, a malformed option or ECS, a bad pointer in any parsed
/// name, or trailing bytes are FORMERR. Other additional records are bounds-checked and
/// ignored (we implement no TSIG).
ParsedQuery parse_query(std::span<const std::uint8_t> msg) noexcept;

/// Size limit for a UDP answer: the client's EDNS payload clamped to [512, server_max], or
/// 512 without EDNS (RFC 6891 6.2.3 and 6.2.5).
constexpr std::size_t udp_limit(const ParsedQuery& q,
                                std::uint16_t server_max = kDefaultUdpPayload) noexcept {
  if (!q.edns.present) {
    return kMinUdpPayload;
  }
  std::size_t p = q.edns.udp_payload < kMinUdpPayload ? kMinUdpPayload : q.edns.udp_payload;
  const std::size_t cap = server_max < kMinUdpPayload ? kMinUdpPayload : server_max;
  return p < cap ? p : cap;
}

struct EncodeOptions {
  /// Payload size we advertise in our OPT.
  std::uint16_t our_payload = kDefaultUdpPayload;
  /// Force TC=1 with empty sections (ANY over UDP policy).
  bool force_truncate = false;
  /// When set, the OPT of the answer carries a COOKIE option with these bytes: the client
  /// cookie and our server cookie (kClientCookieSize + kServerCookieSize).
  const std::uint8_t* cookie = nullptr;
  /// Not empty: the OPT of the answer carries an NSID option with these bytes (RFC 5001), at
  /// most kMaxNsid.
  std::string_view nsid;
};

/// Encodes the answer for `q` into `out`, at most `limit` bytes. Header: same id and opcode,
/// QR=1, AA from the answer, RD echoed, RA/AD/Z/CD cleared; the question as received; the
/// answer/authority/additional sections with name compression; an OPT (version 0) when the
/// query had one. If the message does not fit: over UDP TC=1 with the question (and OPT) and
/// empty sections; over TCP a SERVFAIL (a 64 KiB answer cannot be truncated usefully).
/// Returns the length written, 0 if even the header does not fit.
std::size_t encode_response(const ParsedQuery& q, const app::Answer& ans,
                            std::span<std::uint8_t> out, std::size_t limit, bool tcp,
                            const EncodeOptions& options = {}) noexcept;

/// Encodes an error answer (FORMERR, NOTIMP, REFUSED, SERVFAIL, BADVERS) with no records:
/// flags cleared except QR and RD, the question if it parsed, an OPT (version 0) if the
/// query's OPT parsed. BADVERS needs an OPT (its upper bits live there).
std::size_t encode_error(const ParsedQuery& q, app::Rcode rcode, std::span<std::uint8_t> out,
                         const EncodeOptions& options = {}) noexcept;

/// Rewrites a response that encode_response/encode_error wrote (`len` bytes in `msg`) in place
/// into its truncated form, as the rate limiter's slip sends it: TC=1, the other flags and the
/// question kept, the answer and authority sections and every additional record but the OPT
/// removed. Returns the new length (the header alone, TC=1 and no question, if the message
/// cannot be walked).
std::size_t truncate_response(std::span<std::uint8_t> msg, std::size_t len) noexcept;

}  // namespace amap::wire
