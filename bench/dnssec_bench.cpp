// SPDX-License-Identifier: MIT
// Online DNSSEC signing through wire::handle, as a UDP worker runs it: a query packet with
// DO=1 for a PTR name to the response bytes. Arg 0 of each case: 0 = unsigned (the same
// packets without DO, the baseline), 1 = signed, every name's RRSIG in the cache (1024
// names, warmed), 2 = signed on a cache miss (the smallest cache, four entries, and 65536
// names: the signature is made for every query), per algorithm. hit_share: cache hits per
// RRSIG served.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "mapper/dnssec/signer.h"
#include "mapper/wire/handle.h"

namespace {

namespace dns = amap::dns;

std::vector<std::uint8_t> packet(const std::string& qname, bool dnssec_ok) {
  std::vector<std::uint8_t> p = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
  const auto n = *dns::Name::from_text(qname);
  p.insert(p.end(), n.wire().begin(), n.wire().end());
  const std::uint8_t tail[] = {0,
                               12,
                               0,
                               1,  // PTR IN
                               0,
                               0,
                               41,
                               0x04,
                               0xD0,
                               0,
                               0,  // OPT, 1232
                               static_cast<std::uint8_t>(dnssec_ok ? 0x80 : 0),
                               0,
                               0,
                               0};
  p.insert(p.end(), std::begin(tail), std::end(tail));
  return p;
}

void run(benchmark::State& state, amap::dnssec::Algorithm alg) {
  const auto mode = state.range(0);
  amap::app::App app;
  app.zone("10.in-addr.arpa.");
  const auto target = *dns::Name::from_text("host-10-1-2-3.pool.example.net.");
  app.route(amap::app::Match().domain("10.in-addr.arpa.").type("PTR"),
            [target](const amap::app::Request&, amap::app::Answer& ans) noexcept {
              ans.ptr(target, 3600);
              return amap::app::Outcome::hit;
            });
  std::vector<amap::dnssec::Key> keys;
  keys.push_back(amap::dnssec::Key::generate(alg, amap::dnssec::kFlagsKsk));
  amap::dnssec::SignerOptions options;
  options.cache_entries = mode == 2 ? 1 : 16384;
  amap::dnssec::Signer::install(app, std::move(keys), options);
  amap::app::Worker worker(app);
  const std::size_t names = mode == 2 ? 65536 : 1024;
  std::vector<std::vector<std::uint8_t>> packets;
  for (std::size_t i = 0; i < names; ++i) {
    packets.push_back(
        packet(std::to_string(i & 0xFFU) + "." + std::to_string(i >> 8) + ".1.10.in-addr.arpa.",
               mode != 0));
  }
  std::vector<std::uint8_t> out(amap::wire::kMaxMessage);
  amap::wire::Counters counters;
  const auto local = dns::IpAddress::v4(0x7F000001U);
  for (const auto& p : packets) {  // warm the cache (mode 1)
    benchmark::DoNotOptimize(
        amap::wire::handle(worker, p, amap::wire::Transport::udp, local, local, out, counters));
  }
  const auto& stats =
      counters.signing
          .by_algorithm[amap::app::SigningCounters::index(static_cast<std::uint8_t>(alg))];
  const auto hits = stats.cache_hits;
  const auto made = stats.signatures;
  std::size_t i = 0;
  for (auto _ : state) {
    (void)_;
    benchmark::DoNotOptimize(amap::wire::handle(worker, packets[i], amap::wire::Transport::udp,
                                                local, local, out, counters));
    i = i + 1 == packets.size() ? 0 : i + 1;
  }
  const auto served = static_cast<double>(stats.cache_hits - hits + stats.signatures - made);
  state.counters["hit_share"] =
      served > 0 ? static_cast<double>(stats.cache_hits - hits) / served : 0.0;
}

void BM_DnssecEcdsaP256(benchmark::State& state) {
  run(state, amap::dnssec::Algorithm::ecdsap256sha256);
}
void BM_DnssecEd25519(benchmark::State& state) {
  run(state, amap::dnssec::Algorithm::ed25519);
}
BENCHMARK(BM_DnssecEcdsaP256)->DenseRange(0, 2);
BENCHMARK(BM_DnssecEd25519)->DenseRange(0, 2);

}  // namespace
