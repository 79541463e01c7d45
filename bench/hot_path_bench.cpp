// SPDX-License-Identifier: MIT
// The hot-path suite (issue 6): per-query costs of the mapper and of the two front-end paths,
// on deterministic workloads built once outside the timed loops. Every case visits its inputs
// through a fixed shuffled order (so branch predictors and caches see a realistic spread),
// passes every result through DoNotOptimize and reports items per second.
//
//   automap_bench --benchmark_filter='BM_(Reverse|Forward)' --benchmark_repetitions=5
//
// The configuration is conf/automap.yaml of the source tree unless AMAP_BENCH_CONFIG names
// another file. Workload sizes are the benchmark argument: 65536 distinct inputs (mostly out
// of L1/L2, like a server facing many clients) and 1024 (all cache-resident).
//
// The LMDB override cases (BM_Override*) build a 1M-entry store in a temp folder ($TMPDIR or
// /tmp, about 300 MB, a few seconds) the first time one of them runs, and remove it at exit.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "backend/pipe/session.h"
#include "backend/server/cookies.h"
#include "backend/server/rrl.h"
#include "bench/workload.h"
#include "mapper/app/worker.h"
#include "mapper/core/prefix_table.h"
#include "mapper/core/reverse_name.h"
#include "mapper/wire/handle.h"
#include "store/overrides.h"

namespace {

using amap::bench::QueryClass;
namespace dns = amap::dns;
namespace mapper = amap::mapper;

constexpr std::uint64_t kSeed = 42;

// --- shared setup ----------------------------------------------------------------------------

const amap::bench::Env& example_env() {
  static const amap::bench::Env env = [] {
    const char* path = std::getenv("AMAP_BENCH_CONFIG");
    return amap::bench::load_file(path != nullptr && *path != '\0' ? path
                                                                   : AMAP_BENCH_DEFAULT_CONFIG);
  }();
  return env;
}

/// The same shape of configuration with `count` prefixes (many_prefixes_yaml).
const amap::bench::Env& scaled_env(std::size_t count) {
  static std::map<std::size_t, std::unique_ptr<amap::bench::Env>> cache;
  auto& slot = cache[count];
  if (!slot) {
    slot = std::make_unique<amap::bench::Env>(
        amap::bench::load_text(amap::bench::many_prefixes_yaml(count, kSeed), "<scaled>"));
  }
  return *slot;
}

struct NamePool {
  std::vector<dns::Name> names;
  std::vector<std::uint32_t> order;
};

const NamePool& name_pool(const amap::bench::Env& env, QueryClass c, std::size_t n) {
  static std::map<std::tuple<const void*, QueryClass, std::size_t>, std::unique_ptr<NamePool>>
      cache;
  auto& slot = cache[{env.mapper.get(), c, n}];
  if (!slot) {
    auto pool = std::make_unique<NamePool>();
    pool->names = amap::bench::names(*env.mapper, c, n, kSeed + static_cast<std::uint64_t>(c));
    pool->order = amap::bench::shuffled_order(n, static_cast<std::uint32_t>(kSeed));
    slot = std::move(pool);
  }
  return *slot;
}

/// Runs a case body; setup failures (a configuration without such names, ...) become a
/// skipped case with the message instead of terminating the whole run.
template <class Body>
void guarded(benchmark::State& state, Body&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

/// Runs `op` over the pool in shuffled order, one input per iteration.
template <class Op>
void visit(benchmark::State& state, const NamePool& pool, Op&& op) {
  const std::size_t n = pool.order.size();
  std::size_t i = 0;
  for (auto _ : state) {
    op(pool.names[pool.order[i]]);
    if (++i == n) {
      i = 0;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

mapper::Synthesis::Status expected_status(QueryClass c) {
  switch (c) {
    case QueryClass::ptr4:
    case QueryClass::ptr6:
      return mapper::Synthesis::Status::ptr;
    case QueryClass::a:
    case QueryClass::aaaa:
      return mapper::Synthesis::Status::address;
    case QueryClass::nxdomain:
      return mapper::Synthesis::Status::nxdomain;
  }
  return mapper::Synthesis::Status::nxdomain;
}

void synthesize_case(benchmark::State& state, const amap::bench::Env& env, QueryClass c) {
  guarded(state, [&] {
    const auto& pool = name_pool(env, c, static_cast<std::size_t>(state.range(0)));
    const mapper::Mapper& m = *env.mapper;
    mapper::Mapper::Context context(m);  // what a worker's slot holds
    if (m.synthesize(context, pool.names[0]).status != expected_status(c)) {
      state.SkipWithError("workload does not synthesize as expected");
      return;
    }
    visit(state, pool, [&](const dns::Name& n) {
      auto s = m.synthesize(context, n);
      benchmark::DoNotOptimize(s);
    });
  });
}

// --- mapper: name -> answer -------------------------------------------------------------------

/// Full in-addr.arpa name -> PTR target (Mapper::synthesize: parse, prefix match, render).
void BM_ReversePtrV4(benchmark::State& state) {
  synthesize_case(state, example_env(), QueryClass::ptr4);
}
/// Full ip6.arpa name (32 nibble labels) -> PTR target.
void BM_ReversePtrV6(benchmark::State& state) {
  synthesize_case(state, example_env(), QueryClass::ptr6);
}
/// Canonical forward name -> IPv4 address (template parse, re-render check, FCrDNS rule check).
void BM_ForwardV4(benchmark::State& state) {
  synthesize_case(state, example_env(), QueryClass::a);
}
/// Same for IPv6 ({ip} form).
void BM_ForwardV6(benchmark::State& state) {
  synthesize_case(state, example_env(), QueryClass::aaaa);
}
/// A name in a forward zone that no template produces (NXDOMAIN).
void BM_ForwardNx(benchmark::State& state) {
  synthesize_case(state, example_env(), QueryClass::nxdomain);
}
BENCHMARK(BM_ReversePtrV4)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_ReversePtrV6)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_ForwardV4)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_ForwardV6)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_ForwardNx)->Arg(1 << 16);

constexpr std::size_t kScalePool = 1 << 14;

// The same operations against a configuration of many prefixes (many_prefixes_yaml): shows
// how per-query cost grows with the prefix list. Argument: number of prefixes.
void BM_ReversePtrV4AtScale(benchmark::State& state) {
  guarded(state, [&] {
    const auto& env = scaled_env(static_cast<std::size_t>(state.range(0)));
    const auto& pool = name_pool(env, QueryClass::ptr4, kScalePool);
    mapper::Mapper::Context context(*env.mapper);
    visit(state, pool, [&](const dns::Name& n) {
      auto s = env.mapper->synthesize(context, n);
      benchmark::DoNotOptimize(s);
    });
  });
}
void BM_ForwardV4AtScale(benchmark::State& state) {
  guarded(state, [&] {
    const auto& env = scaled_env(static_cast<std::size_t>(state.range(0)));
    const auto& pool = name_pool(env, QueryClass::a, kScalePool);
    mapper::Mapper::Context context(*env.mapper);
    visit(state, pool, [&](const dns::Name& n) {
      auto s = env.mapper->synthesize(context, n);
      benchmark::DoNotOptimize(s);
    });
  });
}
BENCHMARK(BM_ReversePtrV4AtScale)->Arg(1000)->Arg(100000);
BENCHMARK(BM_ForwardV4AtScale)->Arg(1000)->Arg(100000);

// --- components, to attribute the totals above ----------------------------------------------

void parse_reverse_case(benchmark::State& state, QueryClass c) {
  guarded(state, [&] {
    const auto& pool = name_pool(example_env(), c, static_cast<std::size_t>(state.range(0)));
    visit(state, pool, [&](const dns::Name& n) {
      auto r = mapper::parse_reverse_name(n);
      benchmark::DoNotOptimize(r);
    });
  });
}
/// parse_reverse_name only.
void BM_ParseReverseV4(benchmark::State& state) {
  parse_reverse_case(state, QueryClass::ptr4);
}
void BM_ParseReverseV6(benchmark::State& state) {
  parse_reverse_case(state, QueryClass::ptr6);
}
BENCHMARK(BM_ParseReverseV4)->Arg(1 << 16);
BENCHMARK(BM_ParseReverseV6)->Arg(1 << 16);

void ptr_for_case(benchmark::State& state, QueryClass c) {
  guarded(state, [&] {
    const auto& env = example_env();
    const auto& pool = name_pool(env, c, static_cast<std::size_t>(state.range(0)));
    std::vector<dns::IpAddress> addrs;
    for (const auto& n : pool.names) {
      addrs.push_back(mapper::parse_reverse_name(n)->address);
    }
    mapper::Mapper::Context context(*env.mapper);
    std::size_t i = 0;
    for (auto _ : state) {
      auto s = env.mapper->ptr_for(context, addrs[pool.order[i]]);
      benchmark::DoNotOptimize(s);
      if (++i == addrs.size()) {
        i = 0;
      }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  });
}
/// Address -> PTR target: prefix match plus Template::render into a Name (no name parsing).
void BM_PtrForV4(benchmark::State& state) {
  ptr_for_case(state, QueryClass::ptr4);
}
void BM_PtrForV6(benchmark::State& state) {
  ptr_for_case(state, QueryClass::ptr6);
}
BENCHMARK(BM_PtrForV4)->Arg(1 << 16);
BENCHMARK(BM_PtrForV6)->Arg(1 << 16);

void matches_case(benchmark::State& state, QueryClass c) {
  guarded(state, [&] {
    const auto& env = example_env();
    const auto& pool = name_pool(env, c, static_cast<std::size_t>(state.range(0)));
    // The template that produced each name.
    std::vector<const mapper::Template*> templates;
    for (const auto& n : pool.names) {
      templates.push_back(&*env.mapper->synthesize(n).rule->name);
    }
    std::size_t i = 0;
    for (auto _ : state) {
      const std::uint32_t k = pool.order[i];
      auto a = templates[k]->matches(pool.names[k]);
      benchmark::DoNotOptimize(a);
      if (++i == templates.size()) {
        i = 0;
      }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  });
}
/// Template::matches alone (parse + re-render check) on the right template.
void BM_TemplateMatchesV4(benchmark::State& state) {
  matches_case(state, QueryClass::a);
}
void BM_TemplateMatchesV6(benchmark::State& state) {
  matches_case(state, QueryClass::aaaa);
}
BENCHMARK(BM_TemplateMatchesV4)->Arg(1 << 16);
BENCHMARK(BM_TemplateMatchesV6)->Arg(1 << 16);

// --- longest-prefix match ---------------------------------------------------------------------

struct LpmWorkload {
  mapper::PrefixTable table;
  std::vector<dns::IpAddress> probes;  // half inside a random prefix, half anywhere
  std::vector<std::uint32_t> order;
};

const LpmWorkload& lpm_workload(dns::Family family, std::size_t count) {
  static std::map<std::pair<dns::Family, std::size_t>, std::unique_ptr<LpmWorkload>> cache;
  auto& slot = cache[{family, count}];
  if (slot) {
    return *slot;
  }
  slot = std::make_unique<LpmWorkload>();
  std::mt19937_64 rng(kSeed + count);
  const bool v4 = family == dns::Family::v4;
  // ISP-like lengths: IPv4 /16../30, IPv6 /32../64.
  std::uniform_int_distribution<unsigned> len_dist(v4 ? 16U : 32U, v4 ? 30U : 64U);
  auto random_address = [&] {
    if (v4) {
      return dns::IpAddress::v4(static_cast<std::uint32_t>(rng()));
    }
    const std::uint64_t hi = rng();
    return dns::IpAddress::from_u128(dns::Family::v6, hi, rng());
  };
  std::set<std::pair<dns::IpAddress, unsigned>> seen;
  std::vector<dns::Prefix> prefixes;
  mapper::PrefixTable::Builder builder;
  while (prefixes.size() < count) {
    const unsigned len = len_dist(rng);
    const dns::Prefix p{random_address().masked(len), static_cast<std::uint8_t>(len)};
    if (!seen.insert({p.address, len}).second) {
      continue;
    }
    builder.insert(p, static_cast<std::uint32_t>(prefixes.size()));
    prefixes.push_back(p);
  }
  auto built = builder.build();
  if (!built) {
    std::fprintf(stderr, "prefix table: %s\n", built.error().c_str());
    std::abort();
  }
  slot->table = std::move(*built);
  constexpr std::size_t kProbes = 1 << 16;
  std::uniform_int_distribution<std::size_t> pick(0, prefixes.size() - 1);
  for (std::size_t i = 0; i < kProbes; ++i) {
    dns::IpAddress a = random_address();
    if (i % 2 == 0) {
      // Keep the prefix bits of a random prefix, random host bits.
      const dns::Prefix& p = prefixes[pick(rng)];
      const auto hi_keep = p.length >= 64 ? ~0ULL : (p.length == 0 ? 0 : ~0ULL << (64 - p.length));
      if (v4) {
        const std::uint32_t mask = p.length == 0 ? 0 : ~0U << (32 - p.length);
        a = dns::IpAddress::v4((p.address.v4_value() & mask) | (a.v4_value() & ~mask));
      } else {
        const auto lo_keep =
            p.length <= 64 ? 0ULL : (p.length >= 128 ? ~0ULL : ~0ULL << (128 - p.length));
        a = dns::IpAddress::from_u128(dns::Family::v6,
                                      (p.address.hi() & hi_keep) | (a.hi() & ~hi_keep),
                                      (p.address.lo() & lo_keep) | (a.lo() & ~lo_keep));
      }
    }
    slot->probes.push_back(a);
  }
  slot->order = amap::bench::shuffled_order(kProbes, static_cast<std::uint32_t>(kSeed));
  return *slot;
}

void lpm_case(benchmark::State& state, dns::Family family) {
  guarded(state, [&] {
    const auto& w = lpm_workload(family, static_cast<std::size_t>(state.range(0)));
    std::size_t i = 0;
    std::size_t hits = 0;
    for (auto _ : state) {
      const auto* e = w.table.lookup(w.probes[w.order[i]]);
      benchmark::DoNotOptimize(e);
      hits += e != nullptr ? 1 : 0;
      if (++i == w.order.size()) {
        i = 0;
      }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["hit_share"] =
        static_cast<double>(hits) /
        static_cast<double>(std::max<std::int64_t>(1, state.iterations()));
  });
}
/// PrefixTable::lookup over N random IPv4 prefixes (/16../30).
void BM_Lpm(benchmark::State& state) {
  lpm_case(state, dns::Family::v4);
}
/// Same over N random IPv6 prefixes (/32../64).
void BM_LpmV6(benchmark::State& state) {
  lpm_case(state, dns::Family::v6);
}
BENCHMARK(BM_Lpm)->RangeMultiplier(10)->Range(1, 100000);
BENCHMARK(BM_LpmV6)->RangeMultiplier(10)->Range(1, 100000);

// --- front-end paths ----------------------------------------------------------------------

/// PowerDNS pipe lines ("Q\tname\tIN\tTYPE\t-1\t192.0.2.1", ABI 1) for a pool of names.
std::vector<std::string> pipe_lines(const NamePool& pool, std::string_view qtype) {
  std::vector<std::string> lines;
  lines.reserve(pool.names.size());
  for (const auto& n : pool.names) {
    lines.push_back("Q\t" + n.to_string(false) + "\tIN\t" + std::string(qtype) + "\t-1\t192.0.2.1");
  }
  return lines;
}

void pipe_case(benchmark::State& state, QueryClass c, std::string_view qtype,
               std::string_view expect_prefix) {
  guarded(state, [&] {
    const auto& env = example_env();
    const auto& pool = name_pool(env, c, static_cast<std::size_t>(state.range(0)));
    const auto lines = pipe_lines(pool, qtype);
    amap::app::Worker pipe_worker(*env.app);
    amap::pipe::Session session(pipe_worker);
    if (session.handle_line("HELO\t1").substr(0, 2) != "OK") {
      state.SkipWithError("HELO refused");
      return;
    }
    const std::string_view first = session.handle_line(lines[0]);
    if (first.substr(0, expect_prefix.size()) != expect_prefix) {
      state.SkipWithError(("unexpected reply: " + std::string(first)).c_str());
      return;
    }
    std::size_t i = 0;
    std::size_t bytes = 0;
    for (auto _ : state) {
      const std::string_view reply = session.handle_line(lines[pool.order[i]]);
      benchmark::DoNotOptimize(reply.data());
      bytes += reply.size();
      if (++i == lines.size()) {
        i = 0;
      }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  });
}
// PowerDNS asks the backend with qtype ANY (its lookups are per name), so do we.
void BM_PipeQuery(benchmark::State& state, QueryClass c) {
  pipe_case(state, c, "ANY", "DATA");
}
BENCHMARK_CAPTURE(BM_PipeQuery, ptr4, QueryClass::ptr4)->Arg(1 << 16);
BENCHMARK_CAPTURE(BM_PipeQuery, ptr6, QueryClass::ptr6)->Arg(1 << 16);
BENCHMARK_CAPTURE(BM_PipeQuery, a, QueryClass::a)->Arg(1 << 16);
BENCHMARK_CAPTURE(BM_PipeQuery, aaaa, QueryClass::aaaa)->Arg(1 << 16);

/// PowerDNS's SOA probe for a name below an apex: the pipe answers a bare END.
void BM_SoaProbePipe(benchmark::State& state, QueryClass c) {
  pipe_case(state, c, "SOA", "END");
}
BENCHMARK_CAPTURE(BM_SoaProbePipe, ptr4, QueryClass::ptr4)->Arg(1 << 16);
BENCHMARK_CAPTURE(BM_SoaProbePipe, ptr6, QueryClass::ptr6)->Arg(1 << 16);

/// The same probe through App::answer as the pipe calls it (no pipe parsing or formatting).
void BM_SoaProbeLookup(benchmark::State& state, QueryClass c) {
  guarded(state, [&] {
    const auto& env = example_env();
    const auto& pool = name_pool(env, c, static_cast<std::size_t>(state.range(0)));
    amap::app::Worker worker(*env.app);
    amap::app::Answer& answer = worker.answer();
    amap::app::Request req;
    req.qtype = dns::rrtype::SOA;
    req.frontend = amap::app::Frontend::pipe;
    req.remote = dns::IpAddress::v4(0xC0000201U);
    visit(state, pool, [&](const dns::Name& n) {
      req.qname = n;
      const bool ok = env.app->answer(worker, req, answer, amap::app::App::Need::records) !=
                      amap::app::Outcome::error;
      benchmark::DoNotOptimize(ok);
      benchmark::DoNotOptimize(answer.size());
    });
  });
}
BENCHMARK_CAPTURE(BM_SoaProbeLookup, ptr4, QueryClass::ptr4)->Arg(1 << 16);
BENCHMARK_CAPTURE(BM_SoaProbeLookup, ptr6, QueryClass::ptr6)->Arg(1 << 16);

struct PacketPool {
  std::vector<std::uint8_t> bytes;
  std::vector<std::uint32_t> offsets;  // packet k is bytes[offsets[k], offsets[k + 1])
};

/// Query packets for a pool of names (one per name, random ids), encoded before timing.
PacketPool encode_packets(const NamePool& pool, dns::RRType qtype, bool edns) {
  PacketPool packets;
  std::mt19937 rng(static_cast<std::uint32_t>(kSeed));
  for (const auto& n : pool.names) {
    packets.offsets.push_back(static_cast<std::uint32_t>(packets.bytes.size()));
    const auto q = amap::bench::encode_query(n, qtype, static_cast<std::uint16_t>(rng()), edns);
    packets.bytes.insert(packets.bytes.end(), q.begin(), q.end());
  }
  packets.offsets.push_back(static_cast<std::uint32_t>(packets.bytes.size()));
  return packets;
}

/// Runs wire::handle over the pool's packets in shuffled order, after checking that the
/// first response has the expected rcode (and one answer unless NXDOMAIN is expected).
void wire_loop(benchmark::State& state, const amap::bench::Env& env, const NamePool& pool,
               dns::RRType qtype, bool edns, unsigned want_rcode) {
  const PacketPool packets = encode_packets(pool, qtype, edns);
  amap::app::Worker worker(*env.app);
  std::vector<std::uint8_t> out(amap::wire::kMaxMessage);
  amap::wire::Counters counters;
  const dns::IpAddress remote = dns::IpAddress::v4(0x7F000001U);
  const dns::IpAddress local = dns::IpAddress::v4(0x7F000001U);
  auto packet = [&](std::uint32_t k) {
    return std::span<const std::uint8_t>(packets.bytes.data() + packets.offsets[k],
                                         packets.offsets[k + 1] - packets.offsets[k]);
  };
  const std::size_t first = amap::wire::handle(worker, packet(0), amap::wire::Transport::udp,
                                               remote, local, out, counters);
  const unsigned rcode = first >= 4 ? (out[3] & 0x0FU) : 99U;
  const unsigned ancount = first >= 8 ? (unsigned{out[6]} << 8 | out[7]) : 0U;
  if (first == 0 || rcode != want_rcode || (want_rcode == 0 && ancount != 1)) {
    state.SkipWithError("unexpected response to the first query");
    return;
  }
  std::size_t i = 0;
  std::size_t bytes = 0;
  for ([[maybe_unused]] auto _ : state) {
    const std::size_t len = amap::wire::handle(
        worker, packet(pool.order[i]), amap::wire::Transport::udp, remote, local, out, counters);
    benchmark::DoNotOptimize(len);
    benchmark::ClobberMemory();
    bytes += len;
    if (++i == pool.order.size()) {
      i = 0;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

/// Query packet -> response bytes through wire::handle (what each UDP worker runs per packet).
void BM_WireQuery(benchmark::State& state, QueryClass c, bool edns) {
  guarded(state, [&] {
    const auto& env = example_env();
    const auto& pool = name_pool(env, c, static_cast<std::size_t>(state.range(0)));
    wire_loop(state, env, pool, amap::bench::query_type(c), edns,
              c == QueryClass::nxdomain ? 3U : 0U);
  });
}
BENCHMARK_CAPTURE(BM_WireQuery, ptr4, QueryClass::ptr4, false)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK_CAPTURE(BM_WireQuery, ptr6, QueryClass::ptr6, false)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK_CAPTURE(BM_WireQuery, a, QueryClass::a, false)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK_CAPTURE(BM_WireQuery, aaaa, QueryClass::aaaa, false)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK_CAPTURE(BM_WireQuery, nxdomain, QueryClass::nxdomain, false)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK_CAPTURE(BM_WireQuery, ptr4_edns, QueryClass::ptr4, true)->Arg(1 << 16)->Arg(1 << 10);

/// What the UDP worker runs per packet with response rate limiting: wire::handle, then the
/// limiter's check of the answer (server.cpp). Arg 0: RRL off (the same loop without the
/// check, the baseline of this run); 1: on, every query from another /24 (65536 prefixes, so
/// the shared table is visited all over and nothing is limited); 2: on, every client
/// whitelisted (one whitelist entry: the check returns before the table); 3: on, every query
/// from one /24 over the rate (the limited path: slip 2, half rewritten with TC=1).
void BM_WireRrl(benchmark::State& state) {
  guarded(state, [&] {
    const auto& env = example_env();
    const auto& pool = name_pool(env, QueryClass::ptr4, 1 << 16);
    const PacketPool packets =
        encode_packets(pool, amap::bench::query_type(QueryClass::ptr4), false);
    const auto mode = state.range(0);
    amap::server::RrlOptions options;
    options.enabled = true;
    options.responses_per_second = mode == 3 ? 10 : 1000000;
    options.slip = 2;
    if (mode == 2) {
      options.whitelist = {*dns::Prefix::parse("10.0.0.0/8")};
    }
    amap::server::ResponseRateLimiter rrl(options);
    amap::server::RrlCounters rrl_counters;
    amap::app::Worker worker(*env.app);
    std::vector<std::uint8_t> out(amap::wire::kMaxMessage);
    amap::wire::Counters counters;
    const dns::IpAddress local = dns::IpAddress::v4(0x7F000001U);
    std::vector<dns::IpAddress> clients;
    for (std::uint32_t k = 0; k < (1U << 16); ++k) {
      clients.push_back(dns::IpAddress::v4(mode == 3 ? 0x0A000001U : 0x0A000001U + (k << 8)));
    }
    std::size_t i = 0;
    std::uint64_t now_ns = 1'000'000'000;
    for (auto _ : state) {
      const std::uint32_t k = pool.order[i];
      const auto packet = std::span<const std::uint8_t>(
          packets.bytes.data() + packets.offsets[k], packets.offsets[k + 1] - packets.offsets[k]);
      std::size_t len = amap::wire::handle(worker, packet, amap::wire::Transport::udp, clients[k],
                                           local, out, counters);
      if (mode != 0) {
        len = rrl.limit_answer(clients[k], out, len, now_ns, rrl_counters);
      }
      benchmark::DoNotOptimize(len);
      benchmark::ClobberMemory();
      now_ns += 1000;  // 1M queries/s of simulated time
      if (++i == pool.order.size()) {
        i = 0;
      }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["limited"] = static_cast<double>(rrl_counters.limited);
  });
}
BENCHMARK(BM_WireRrl)->DenseRange(0, 3);

/// wire::handle of EDNS PTR queries with DNS Cookies on (arg 0: the queries carry no cookie,
/// the cost of having cookies on for everybody else; 1: a client cookie only, a new server
/// cookie is made; 2: a valid server cookie, checked and sent back).
void BM_WireCookie(benchmark::State& state) {
  guarded(state, [&] {
    const auto& env = example_env();
    const auto& pool = name_pool(env, QueryClass::ptr4, 1 << 16);
    const auto mode = state.range(0);
    amap::server::CookieOptions co;
    co.enabled = true;
    co.secret = amap::server::random_cookie_secret();
    const amap::server::CookieJar jar(co);
    amap::wire::Policy policy;
    policy.cookies = &jar;
    const dns::IpAddress client = dns::IpAddress::v4(0xC0000207U);
    const dns::IpAddress local = dns::IpAddress::v4(0x7F000001U);
    // The cookie option the queries carry: the client cookie, then the server cookie the
    // jar gives this client now.
    std::vector<std::uint8_t> cookie = {1, 2, 3, 4, 5, 6, 7, 8};
    if (mode == 2) {
      std::array<std::uint8_t, amap::wire::kServerCookieSize> server{};
      (void)jar.sign(std::span<const std::uint8_t, 8>(cookie.data(), 8), {}, client, server);
      cookie.insert(cookie.end(), server.begin(), server.end());
    }
    PacketPool packets;
    std::mt19937 rng(static_cast<std::uint32_t>(kSeed));
    for (const auto& n : pool.names) {
      packets.offsets.push_back(static_cast<std::uint32_t>(packets.bytes.size()));
      auto q = amap::bench::encode_query(n, amap::bench::query_type(QueryClass::ptr4),
                                         static_cast<std::uint16_t>(rng()), true);
      if (mode != 0) {
        // The OPT is the last record and has no options: set its RDLENGTH, append COOKIE.
        const std::size_t rdlen = 4 + cookie.size();
        q[q.size() - 2] = static_cast<std::uint8_t>(rdlen >> 8);
        q[q.size() - 1] = static_cast<std::uint8_t>(rdlen);
        q.insert(q.end(), {0, 10, 0, static_cast<std::uint8_t>(cookie.size())});
        q.insert(q.end(), cookie.begin(), cookie.end());
      }
      packets.bytes.insert(packets.bytes.end(), q.begin(), q.end());
    }
    packets.offsets.push_back(static_cast<std::uint32_t>(packets.bytes.size()));
    amap::app::Worker worker(*env.app);
    std::vector<std::uint8_t> out(amap::wire::kMaxMessage);
    amap::wire::Counters counters;
    std::size_t valid = 0;
    std::size_t i = 0;
    for (auto _ : state) {
      const std::uint32_t k = pool.order[i];
      const auto packet = std::span<const std::uint8_t>(
          packets.bytes.data() + packets.offsets[k], packets.offsets[k + 1] - packets.offsets[k]);
      amap::wire::QueryInfo info;
      const std::size_t len = amap::wire::handle(worker, packet, amap::wire::Transport::udp, client,
                                                 local, out, counters, policy, &info);
      valid += info.valid_server_cookie ? 1 : 0;
      benchmark::DoNotOptimize(len);
      benchmark::ClobberMemory();
      if (++i == pool.order.size()) {
        i = 0;
      }
    }
    if (counters.rcode(amap::app::Rcode::noerror) != counters.answered ||
        (mode == 2) != (valid == static_cast<std::size_t>(state.iterations()))) {
      state.SkipWithError("unexpected answers");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  });
}
BENCHMARK(BM_WireCookie)->DenseRange(0, 2);

/// The limiter's check alone, per answer: arg 1, 65536 client /24s in turn (none limited);
/// arg 3, one /24 over the rate (every check limited).
void BM_RrlCheck(benchmark::State& state) {
  const auto mode = state.range(0);
  amap::server::RrlOptions options;
  options.enabled = true;
  options.responses_per_second = mode == 3 ? 10 : 1000000;
  amap::server::ResponseRateLimiter rrl(options);
  amap::server::RrlCounters counters;
  std::vector<dns::IpAddress> clients;
  std::mt19937 rng(static_cast<std::uint32_t>(kSeed));
  for (std::uint32_t k = 0; k < (1U << 16); ++k) {
    clients.push_back(dns::IpAddress::v4(
        mode == 3 ? 0x0A000001U : 0x0A000001U + static_cast<std::uint32_t>(rng() << 8)));
  }
  std::size_t i = 0;
  std::uint64_t now_ns = 1'000'000'000;
  for ([[maybe_unused]] auto _ : state) {
    benchmark::DoNotOptimize(rrl.check(clients[i], 0, now_ns, counters));
    now_ns += 1000;
    i = (i + 1) & 0xFFFF;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_RrlCheck)->Arg(1)->Arg(3);

// --- LMDB override store -------------------------------------------------------------------

constexpr std::size_t kStoreEntries = 1000000;  // address overrides in the store
constexpr std::size_t kStoreBatch = 100000;     // per OverrideStore::apply transaction

/// One prefix (10.0.0.0/8) holding every address of the store cases, and an IPv6 one.
std::string store_yaml(const std::string& store_path) {
  return "soa: { mname: ns1.example.net., rname: hostmaster.example.net., refresh: 10800,\n"
         "       retry: 3600, expire: 604800, minimum: 3600, ttl: 3600 }\n"
         "ns: [ns1.example.net., ns2.example.net.]\n"
         "ttl: 3600\n"
         "zones:\n"
         "  - name: pool.example.net.\n"
         "prefixes:\n"
         "  - { prefix: 10.0.0.0/8, name: \"ip-{a}-{b}-{c}-{d}.pool.example.net.\", ttl: 86400 }\n"
         "  - { prefix: \"2001:db8::/32\", name: \"{ip}.v6.pool.example.net.\" }\n"
         "store: { path: \"" +
         store_path + "\", map_size: 2GiB }\n";
}

/// A temp store of kStoreEntries address overrides (distinct random addresses of 10.0.0.0/8,
/// each with its own name, written in batches through OverrideStore::apply), a mapper that
/// opens it read-only as automapd does, the same with the address filter (as automapd runs
/// it; built before the cases run), and one over the same prefixes without the store.
/// Built once, on first use; the folder is removed at exit.
struct StoreWorkload {
  std::string dir;
  amap::bench::Env with_store;
  amap::bench::Env with_filter;
  amap::bench::Env without_store;
  std::vector<std::uint32_t> overridden;  // in random order
  std::vector<std::uint32_t> plain;       // distinct addresses of 10/8 without an override

  StoreWorkload() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/automap-bench-store-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + templ + " failed");
    }
    dir = templ;
    const std::string path = dir + "/store";

    std::mt19937_64 rng(kSeed);
    std::vector<bool> taken(std::size_t{1} << 24);
    auto draw = [&](std::vector<std::uint32_t>& into, std::size_t count) {
      while (into.size() < count) {
        const auto host = static_cast<std::uint32_t>(rng() & 0xFFFFFFU);
        if (!taken[host]) {
          taken[host] = true;
          into.push_back((10U << 24) | host);
        }
      }
    };
    draw(overridden, kStoreEntries);
    draw(plain, std::size_t{1} << 16);

    {
      amap::store::StoreOptions options;
      options.path = path;
      options.map_size = std::size_t{2} << 30;
      amap::store::OverrideStore st(options);
      amap::store::WriteBatch batch;
      char target[64];
      for (std::size_t i = 0; i < overridden.size(); ++i) {
        std::snprintf(target, sizeof target, "host-%zu.customer.example.", i);
        batch.put_address(dns::IpAddress::v4(overridden[i]),
                          amap::store::Override::name(target, 300));
        if (batch.size() == kStoreBatch || i + 1 == overridden.size()) {
          st.apply(batch);
          batch.clear();
        }
      }
      if (st.stats().address_overrides != kStoreEntries) {
        throw std::runtime_error("the store does not hold every override");
      }
    }  // closed: the mapper opens it read-only, as the servers do
    const std::string yaml = store_yaml(path);
    with_store = amap::bench::load_text(yaml, "<store bench>", /*open_store=*/true);
    without_store = amap::bench::load_text(yaml, "<store bench>", /*open_store=*/false);
    if (!with_store.mapper->has_store()) {
      throw std::runtime_error("the mapper did not open the store");
    }
    with_filter = filtered_env(yaml, path);
  }

  /// A mapper with BuildOptions::address_filter, once its filter covers the store's snapshot.
  static amap::bench::Env filtered_env(const std::string& yaml, const std::string& path) {
    auto loaded = amap::config::load_text(yaml, "<store bench>");
    amap::config::Diagnostics errors;
    mapper::Mapper::BuildOptions options;
    options.address_filter = true;
    auto m = mapper::Mapper::build(loaded.config, errors, options);
    if (!m) {
      throw std::runtime_error("the filtered store mapper did not build");
    }
    auto reader = amap::store::OverrideReader::open(path);
    reader.begin();
    const std::uint64_t txn = reader.txn_id();
    reader.end();
    for (int i = 0; i < 6000; ++i) {
      if (auto f = m->address_filter(); f && f->txn_id() == txn) {
        amap::bench::Env env;
        env.mapper = m;
        env.app = std::make_shared<amap::app::App>();
        mapper::Mapper::install(m, *env.app);
        return env;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("the address filter was not built within 60 s");
  }
  StoreWorkload(const StoreWorkload&) = delete;
  StoreWorkload& operator=(const StoreWorkload&) = delete;
  ~StoreWorkload() {
    with_store = {};
    with_filter = {};
    without_store = {};
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  /// Reverse names of the first n addresses of `from`, in a shuffled visiting order.
  static NamePool pool(const std::vector<std::uint32_t>& from, std::size_t n) {
    if (n > from.size()) {
      throw std::runtime_error("pool larger than the address list");
    }
    NamePool p;
    p.names.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      p.names.push_back(mapper::to_reverse_name(dns::IpAddress::v4(from[i])));
    }
    p.order = amap::bench::shuffled_order(n, static_cast<std::uint32_t>(kSeed));
    return p;
  }
};

const StoreWorkload& store_workload() {
  static const std::unique_ptr<StoreWorkload> w = std::make_unique<StoreWorkload>();
  return *w;
}

enum class StoreProbe : std::uint8_t { hit, miss, no_store, hit_filtered, miss_filtered };

const NamePool& store_pool(StoreProbe probe, std::size_t n) {
  static std::map<std::pair<bool, std::size_t>, std::unique_ptr<NamePool>> cache;
  const bool hit = probe == StoreProbe::hit || probe == StoreProbe::hit_filtered;
  auto& slot = cache[{hit, n}];
  if (!slot) {
    const auto& w = store_workload();
    slot = std::make_unique<NamePool>(StoreWorkload::pool(hit ? w.overridden : w.plain, n));
  }
  return *slot;
}

const amap::bench::Env& store_env(StoreProbe probe) {
  const auto& w = store_workload();
  switch (probe) {
    case StoreProbe::no_store:
      return w.without_store;
    case StoreProbe::hit_filtered:
    case StoreProbe::miss_filtered:
      return w.with_filter;
    case StoreProbe::hit:
    case StoreProbe::miss:
      break;
  }
  return w.with_store;
}

/// batch != 0: every `batch` queries share one batch of the context, as the UDP server's
/// queries of one recvmmsg call do (one LMDB snapshot for all of them).
void store_case(benchmark::State& state, StoreProbe probe, unsigned batch = 0) {
  guarded(state, [&] {
    const auto& pool = store_pool(probe, static_cast<std::size_t>(state.range(0)));
    const mapper::Mapper& m = *store_env(probe).mapper;
    // Also the warm-up: the first call with a context opens its reader and session.
    mapper::Mapper::Context context(m);
    const auto s = m.synthesize(context, pool.names[0]);
    const bool hit = probe == StoreProbe::hit || probe == StoreProbe::hit_filtered;
    const auto want =
        hit ? mapper::Synthesis::Source::address_override : mapper::Synthesis::Source::config;
    if (s.status != mapper::Synthesis::Status::ptr || s.source != want) {
      state.SkipWithError("the store workload does not synthesize as expected");
      return;
    }
    unsigned queries = 0;
    visit(state, pool, [&](const dns::Name& n) {
      if (batch != 0 && queries == 0) {
        context.begin_batch();
      }
      auto r = m.synthesize(context, n);
      benchmark::DoNotOptimize(r);
      if (batch != 0 && ++queries == batch) {
        context.end_batch();
        queries = 0;
      }
    });
    context.end_batch();
  });
}
/// Mapper::synthesize on the reverse name of an address with an override in a 1M-entry
/// store: read txn renew/reset, the prefix-generation check, the addr get, the target parse.
void BM_OverrideHit(benchmark::State& state) {
  store_case(state, StoreProbe::hit);
}
/// The same for addresses of the same prefix without an override (the addr get misses, the
/// config template renders the PTR). Minus BM_OverrideNoStore: what the store adds.
void BM_OverrideMiss(benchmark::State& state) {
  store_case(state, StoreProbe::miss);
}
/// The miss names against the same prefixes with no store: the baseline of the two above.
void BM_OverrideNoStore(benchmark::State& state) {
  store_case(state, StoreProbe::no_store);
}
/// Hit and miss with 32 queries per worker batch (the server's recvmmsg batch): the read
/// transaction's setup is paid once per batch instead of once per query.
void BM_OverrideHitBatch32(benchmark::State& state) {
  store_case(state, StoreProbe::hit, 32);
}
void BM_OverrideMissBatch32(benchmark::State& state) {
  store_case(state, StoreProbe::miss, 32);
}
/// With BuildOptions::address_filter (automapd's setting), the filter built from the current
/// snapshot: a miss whose address the filter rules out skips the addr B-tree (and with it
/// LMDB's refresh of the addr table record); ~1% false positives still search it.
void BM_OverrideHitFiltered(benchmark::State& state) {
  store_case(state, StoreProbe::hit_filtered);
}
void BM_OverrideMissFiltered(benchmark::State& state) {
  store_case(state, StoreProbe::miss_filtered);
}
void BM_OverrideMissFilteredBatch32(benchmark::State& state) {
  store_case(state, StoreProbe::miss_filtered, 32);
}
BENCHMARK(BM_OverrideHit)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_OverrideMiss)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_OverrideNoStore)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_OverrideHitBatch32)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_OverrideMissBatch32)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_OverrideHitFiltered)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_OverrideMissFiltered)->Arg(1 << 16)->Arg(1 << 10);
BENCHMARK(BM_OverrideMissFilteredBatch32)->Arg(1 << 16)->Arg(1 << 10);

/// The same three through wire::handle (query packet -> response bytes).
void BM_OverrideWire(benchmark::State& state, StoreProbe probe) {
  guarded(state, [&] {
    const auto& pool = store_pool(probe, static_cast<std::size_t>(state.range(0)));
    wire_loop(state, store_env(probe), pool, dns::rrtype::PTR, false, 0U);
  });
}
BENCHMARK_CAPTURE(BM_OverrideWire, hit, StoreProbe::hit)->Arg(1 << 16);
BENCHMARK_CAPTURE(BM_OverrideWire, miss, StoreProbe::miss)->Arg(1 << 16);
BENCHMARK_CAPTURE(BM_OverrideWire, no_store, StoreProbe::no_store)->Arg(1 << 16);
BENCHMARK_CAPTURE(BM_OverrideWire, miss_filtered, StoreProbe::miss_filtered)->Arg(1 << 16);

// Parts of the above, through store::OverrideReader directly (the same environment the
// mapper opened), to show where a miss spends its time.
enum class ReaderStep : std::uint8_t {
  txn,             // begin() + end(): mdb_txn_renew + mdb_txn_reset, the remap gate
  txn_generation,  // + prefix_generation(): the meta get the mapper does on every query
  txn_gen_find,    // + find_address(): what Mapper::synthesize does with the store on a miss
  find_held,       // find_address() alone, inside one snapshot held over the whole loop
};

void BM_StoreReader(benchmark::State& state, ReaderStep step, bool hit) {
  guarded(state, [&] {
    const auto& w = store_workload();
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto& from = hit ? w.overridden : w.plain;
    std::vector<dns::IpAddress> addrs;
    for (std::size_t i = 0; i < n; ++i) {
      addrs.push_back(dns::IpAddress::v4(from[i]));
    }
    const auto order = amap::bench::shuffled_order(n, static_cast<std::uint32_t>(kSeed));
    auto reader = amap::store::OverrideReader::open(w.dir + "/store");
    reader.begin();
    if (reader.find_address(addrs[0]).has_value() != hit) {
      state.SkipWithError("the store does not hold what the workload says");
      return;
    }
    if (step != ReaderStep::find_held) {
      reader.end();
    }
    std::size_t i = 0;
    std::size_t found = 0;
    for (auto _ : state) {
      const dns::IpAddress& a = addrs[order[i]];
      switch (step) {
        case ReaderStep::txn:
          reader.begin();
          reader.end();
          break;
        case ReaderStep::txn_generation: {
          reader.begin();
          auto g = reader.prefix_generation();
          benchmark::DoNotOptimize(g);
          reader.end();
          break;
        }
        case ReaderStep::txn_gen_find: {
          reader.begin();
          auto g = reader.prefix_generation();
          benchmark::DoNotOptimize(g);
          found += reader.find_address(a).has_value() ? 1U : 0U;
          reader.end();
          break;
        }
        case ReaderStep::find_held:
          found += reader.find_address(a).has_value() ? 1U : 0U;
          break;
      }
      if (++i == n) {
        i = 0;
      }
    }
    reader.end();
    benchmark::DoNotOptimize(found);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  });
}
BENCHMARK_CAPTURE(BM_StoreReader, txn, ReaderStep::txn, false)->Arg(1 << 10);
BENCHMARK_CAPTURE(BM_StoreReader, txn_generation, ReaderStep::txn_generation, false)->Arg(1 << 10);
BENCHMARK_CAPTURE(BM_StoreReader, txn_gen_find_miss, ReaderStep::txn_gen_find, false)
    ->Arg(1 << 16)
    ->Arg(1 << 10);
BENCHMARK_CAPTURE(BM_StoreReader, find_held_miss, ReaderStep::find_held, false)
    ->Arg(1 << 16)
    ->Arg(1 << 10);
BENCHMARK_CAPTURE(BM_StoreReader, find_held_hit, ReaderStep::find_held, true)
    ->Arg(1 << 16)
    ->Arg(1 << 10);

// --- configuration load ---------------------------------------------------------------------

/// load_and_build + Mapper::install of N prefixes (many_prefixes_yaml), one
/// iteration, wall-clock seconds. The goal: 100k prefixes in <= 1 s.
void BM_LoadPrefixes(benchmark::State& state) {
  guarded(state, [&] {
    const auto count = static_cast<std::size_t>(state.range(0));
    const std::string yaml = amap::bench::many_prefixes_yaml(count, kSeed);
    char path[] = "/tmp/automap-bench-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) {
      state.SkipWithError("mkstemp failed");
      return;
    }
    close(fd);
    {
      std::ofstream f(path, std::ios::binary);
      f << yaml;
    }
    std::size_t rules = 0;
    for (auto _ : state) {
      auto env = amap::bench::load_file(path);
      rules = env.mapper->rules().size();
      benchmark::DoNotOptimize(env);
    }
    std::remove(path);
    if (rules != count) {
      state.SkipWithError("not every prefix was loaded");
      return;
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
    state.counters["prefixes"] = static_cast<double>(count);
  });
}
BENCHMARK(BM_LoadPrefixes)
    ->Arg(10000)
    ->Arg(100000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

}  // namespace
