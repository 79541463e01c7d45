// SPDX-License-Identifier: MIT
#pragma once
// The example apps as functions, so tests can run them in-process. Each example's .cpp holds
// the app and its main(); the amap_examples library builds the same files without main().

#include <string_view>

#include "mapper/app/app.h"

namespace amap::examples {

/// TXT "Hello World!" at the apex of `zone` (for TXT and ANY), plus the zone's SOA and NS.
/// Throws std::invalid_argument on a bad zone name.
app::App hello_app(std::string_view zone = "hello.example.");

/// At the apex of `zone`: the querying client's address as A (IPv4) or AAAA (IPv6) and as
/// TXT ("192.0.2.1", or "198.51.100.0/24 via ECS" when the query carried EDNS Client Subnet).
/// TTL 0: every answer is for one client only.
app::App whoami_app(std::string_view zone = "whoami.example.");

}  // namespace amap::examples
