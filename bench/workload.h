// SPDX-License-Identifier: MIT
#pragma once
// Deterministic workloads shared by the hot-path suite (automap_bench) and the query-file
// generator of the end-to-end harness (automap_gen_queries): a loaded mapper, seeded streams
// of distinct query names per class, synthetic configurations with many prefixes, and DNS
// query packets. Setup code: allocates freely and throws std::runtime_error on bad input.
//
//   auto env = amap::bench::load_file("conf/automap.yaml");
//   amap::bench::generate(*env.mapper, amap::bench::QueryClass::ptr4, 1000, 42,
//                         [](const amap::dns::Name& n, amap::dns::RRType t) { ... });

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mapper/app/app.h"
#include "mapper/config/config.h"
#include "mapper/dns/name.h"
#include "mapper/dns/rrtype.h"
#include "mapper/engine/mapper.h"

namespace amap::bench {

/// A configuration compiled into a mapper and installed into an app, as automapd does.
struct Env {
  std::shared_ptr<const mapper::Mapper> mapper;
  std::shared_ptr<app::App> app;
};

/// Loads, builds and installs; throws std::runtime_error listing every config error. With
/// open_store false the config's LMDB override store is not opened (pure synthesis).
Env load_file(const std::string& path, bool open_store = false);
Env load_text(const std::string& yaml, const std::string& file = "<bench>",
              bool open_store = false);

/// Classes of queries the harness measures separately.
enum class QueryClass : std::uint8_t {
  ptr4,      // full in-addr.arpa name of an address with a synthesized PTR
  ptr6,      // full ip6.arpa name (32 nibbles) of an address with a synthesized PTR
  a,         // canonical forward name of an IPv4 address that resolves forward
  aaaa,      // same for IPv6
  nxdomain,  // a name inside a forward zone that no template produces (NXDOMAIN)
};
std::string_view to_string(QueryClass c) noexcept;
std::optional<QueryClass> query_class_from(std::string_view text) noexcept;
/// The query type a class is asked with (PTR, A, AAAA; A for nxdomain).
dns::RRType query_type(QueryClass c) noexcept;

using Sink = std::function<void(const dns::Name& name, dns::RRType type)>;

/// Produces `count` distinct names of class `c`, each checked against the mapper (a ptr4 name
/// really synthesizes a PTR, an A name really resolves, an nxdomain name really does not
/// exist). Addresses are drawn from the rules that qualify (uniformly over rules, then
/// uniformly inside the prefix) with std::mt19937_64(seed). Throws when the configuration
/// has no rule for the class or distinct names run out.
/// With allow_fewer, a count above 90% of the addresses the rules hold is lowered to that and
/// the number actually produced is returned; otherwise that throws.
std::size_t generate(const mapper::Mapper& m, QueryClass c, std::size_t count, std::uint64_t seed,
                     const Sink& sink, bool allow_fewer = false);
/// generate() into a vector.
std::vector<dns::Name> names(const mapper::Mapper& m, QueryClass c, std::size_t count,
                             std::uint64_t seed);

/// A YAML configuration with `count` distinct prefixes (alternating IPv4 /26 inside 10/8 and
/// IPv6 /56 inside 2001:db8::/32, with a few template shapes), for load-time measurements.
std::string many_prefixes_yaml(std::size_t count, std::uint64_t seed);

/// A standard query (RD=0, QDCOUNT=1), optionally with an EDNS0 OPT of payload 1232.
std::vector<std::uint8_t> encode_query(const dns::Name& qname, dns::RRType qtype, std::uint16_t id,
                                       bool edns);

/// A permutation of 0..n-1 shuffled with std::mt19937(seed): the visiting order of inputs.
std::vector<std::uint32_t> shuffled_order(std::size_t n, std::uint32_t seed);

}  // namespace amap::bench
