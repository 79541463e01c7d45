// SPDX-License-Identifier: MIT
#pragma once
// The request a handler sees: the question plus who asked and through which front-end.

#include <cstdint>
#include <string_view>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "mapper/dns/rrtype.h"

namespace amap::app {

enum class Frontend : std::uint8_t { in_process, pipe, udp, tcp };

constexpr std::string_view frontend_name(Frontend f) noexcept {
  switch (f) {
    case Frontend::in_process:
      return "in-process";
    case Frontend::pipe:
      return "pipe";
    case Frontend::udp:
      return "udp";
    case Frontend::tcp:
      return "tcp";
  }
  return "?";
}

struct Request {
  dns::Name qname;
  dns::RRType qtype = dns::rrtype::A;
  std::uint16_t qclass = dns::rrclass::IN;
  dns::IpAddress remote;  // the client (PowerDNS: the inner remote address)
  dns::IpAddress local;   // the address the query arrived on (0.0.0.0 if unknown)
  /// EDNS Client Subnet (RFC 7871) source prefix, when the query carried one.
  bool has_ecs = false;
  dns::Prefix ecs;
  /// PowerDNS zone id (-1 when PowerDNS does not know it yet; always -1 off the pipe).
  std::int64_t zone_id = -1;
  Frontend frontend = Frontend::in_process;

  /// The address an answer should be tailored to: the ECS address when present.
  const dns::IpAddress& client_address() const noexcept { return has_ecs ? ecs.address : remote; }
};

}  // namespace amap::app
