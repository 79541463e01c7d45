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

struct State {
  std::shared_ptr<amap::app::App> app = amap::testapp::make_wire_test_app();
  amap::app::Answer scratch;
  std::vector<std::uint8_t> out = std::vector<std::uint8_t>(amap::wire::kMaxMessage);
  amap::wire::Counters counters;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static State s;
  const std::span<const std::uint8_t> in(data, size);
  const auto remote = amap::dns::IpAddress::v4(0xC0000263);
  const auto local = amap::dns::IpAddress::v4(0x7F000001);
  for (const auto t : {amap::wire::Transport::udp, amap::wire::Transport::tcp}) {
    const std::size_t n =
        amap::wire::handle(*s.app, in, t, remote, local, s.scratch, s.out, s.counters);
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
