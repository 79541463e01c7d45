// SPDX-License-Identifier: MIT
// Fuzz target: arbitrary bytes through wire::handle() over UDP and TCP. Every produced
// response keeps the query id, has QR set and respects the UDP size cap.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "mapper/wire/handle.h"
#include "tests/unit/wire_test_app.h"

namespace {

/// A stand-in for the server's CookieJar (which lives in amap::server): enough to drive the
/// wire layer's COOKIE paths (FORMERR for bad lengths, the option in every kind of answer).
class FuzzCookies final : public amap::wire::CookieSigner {
 public:
  bool sign(std::span<const std::uint8_t, amap::wire::kClientCookieSize> client,
            std::span<const std::uint8_t> server, const amap::dns::IpAddress&,
            std::span<std::uint8_t, amap::wire::kServerCookieSize> out) const noexcept override {
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = client[i % client.size()];
    }
    return server.size() == out.size() && server[0] == 1;
  }
};

struct State {
  std::shared_ptr<amap::app::App> app = amap::testapp::make_wire_test_app();
  std::unique_ptr<amap::app::Worker> worker = std::make_unique<amap::app::Worker>(*app);
  std::vector<std::uint8_t> out = std::vector<std::uint8_t>(amap::wire::kMaxMessage);
  amap::wire::Counters counters;
  FuzzCookies cookies;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static State s;
  const std::span<const std::uint8_t> in(data, size);
  const auto remote = amap::dns::IpAddress::v4(0xC0000263);
  const auto local = amap::dns::IpAddress::v4(0x7F000001);
  amap::wire::Policy with_cookies;
  with_cookies.cookies = &s.cookies;
  const amap::wire::Policy plain;
  struct Pass {
    amap::wire::Transport t;
    const amap::wire::Policy& policy;
  };
  // UDP and TCP, then both again with DNS Cookies on.
  for (const Pass& pass :
       {Pass{amap::wire::Transport::udp, plain}, Pass{amap::wire::Transport::tcp, plain},
        Pass{amap::wire::Transport::udp, with_cookies},
        Pass{amap::wire::Transport::tcp, with_cookies}}) {
    const auto t = pass.t;
    const std::size_t n =
        amap::wire::handle(*s.worker, in, t, remote, local, s.out, s.counters, pass.policy);
    if (n == 0) {
      continue;
    }
    // Invariants: header present, same id, QR=1, UDP answers within the 1232 cap.
    if (n < 12 || size < 12 || s.out[0] != data[0] || s.out[1] != data[1] ||
        (s.out[2] & 0x80) == 0 || (t == amap::wire::Transport::udp && n > 1232)) {
      std::abort();
    }
  }
  return 0;
}
