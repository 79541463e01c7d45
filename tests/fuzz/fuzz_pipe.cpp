// SPDX-License-Identifier: MIT
// Fuzz target: the PowerDNS pipe line protocol (pipe::Session::handle_line).
//
// Input: one selector byte, then the bytes PowerDNS would write on the coprocess's stdin.
// Selector & 3: 0 = hello example, 1 = whoami example (ECS scope = source), 2 and 3 = the
// mapper on conf/automap.yaml (no store). The rest is split on '\n' and fed line by line to
// a fresh Session (so a HELO is usually the first line; seeds start with one), as serve()
// does; a line longer than 64 KiB goes through handle_oversized_line() like serve() drops it.
//
// Invariants checked on every reply (abort() on violation):
//  - the reply is made of complete lines;
//  - a HELO line gets exactly "OK\t<banner>\n" or "FAIL\n" (at any time: a second HELO
//    renegotiates);
//  - any other reply ends with "END\n" or "FAIL\n", except the empty reply to the one line
//    read after a failed handshake, after which the session is done;
//  - each line starts with DATA, LOG, END, FAIL (or is CMD text), and DATA lines have the
//    exact field count of the negotiated ABI (one more for MX/SRV) with auth = 1;
//  - no control character other than TAB and the line feeds reaches the output.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/pipe/session.h"
#include "mapper/engine/load.h"
#include "mapper/engine/mapper.h"
#include "tools/examples/examples.h"

namespace {

constexpr std::size_t kMaxLine = 65536;  // serve()'s limit

std::shared_ptr<const amap::app::App> mapper_app() {
  amap::config::Diagnostics errors;
  auto mapper = amap::mapper::load_and_build(AMAP_SOURCE_ROOT "/conf/automap.yaml", {}, errors);
  if (!mapper) {
    std::abort();  // the shipped configuration must load
  }
  auto app = std::make_shared<amap::app::App>();
  amap::mapper::Mapper::install(mapper, *app);
  return app;
}

struct Apps {
  amap::app::App hello = amap::examples::hello_app();
  amap::app::App whoami = amap::examples::whoami_app();
  std::shared_ptr<const amap::app::App> mapper = mapper_app();
};

[[noreturn]] void violated() {
  std::abort();
}

/// The tag (first field) is HELO. Session treats a HELO at any time as a (re)handshake:
/// PowerDNS sends it once, and answering another one the same way is harmless.
bool is_helo(std::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line.substr(0, 4) == "HELO" && (line.size() == 4 || line[4] == '\t');
}

void check_reply(std::string_view line, std::string_view reply, bool was_closing, int abi) {
  const bool helo = is_helo(line);
  if (reply.empty() != was_closing) {
    violated();  // exactly the line after a failed handshake gets no reply
  }
  if (reply.empty()) {
    return;
  }
  if (reply.back() != '\n') {
    violated();
  }
  for (const char ch : reply) {
    const auto u = static_cast<unsigned char>(ch);
    if ((u < 0x20 && ch != '\t' && ch != '\n') || u == 0x7F) {
      violated();
    }
  }
  if (helo) {
    if (reply != "FAIL\n" && reply.substr(0, 3) != "OK\t") {
      violated();
    }
    if (reply.substr(0, 3) == "OK\t" && reply.find('\n') != reply.size() - 1) {
      violated();  // PowerDNS reads exactly one line as the banner
    }
    return;
  }
  const bool ends_end = reply.size() >= 4 && reply.substr(reply.size() - 4) == "END\n" &&
                        (reply.size() == 4 || reply[reply.size() - 5] == '\n');
  const bool ends_fail = reply.size() >= 5 && reply.substr(reply.size() - 5) == "FAIL\n" &&
                         (reply.size() == 5 || reply[reply.size() - 6] == '\n');
  if (!ends_end && !ends_fail) {
    violated();
  }
  const bool command =
      line.substr(0, 3) == "CMD" && (line.size() == 3 || line[3] == '\t' || line.substr(3) == "\r");
  std::size_t start = 0;
  while (start < reply.size()) {
    const std::size_t nl = reply.find('\n', start);
    const std::string_view l = reply.substr(start, nl - start);
    start = nl + 1;
    if (l == "END" || l == "FAIL" || l.substr(0, 4) == "LOG\t") {
      continue;
    }
    if (l.substr(0, 5) != "DATA\t") {
      if (command) {
        continue;  // CMD replies are free text lines
      }
      violated();
    }
    std::vector<std::string_view> f;
    std::size_t s = 0;
    for (;;) {
      const std::size_t tab = l.find('\t', s);
      f.push_back(l.substr(s, tab == std::string_view::npos ? std::string_view::npos : tab - s));
      if (tab == std::string_view::npos) {
        break;
      }
      s = tab + 1;
    }
    const std::size_t base = abi >= 3 ? 9 : 7;
    const std::size_t type_at = abi >= 3 ? 5 : 3;
    if (f.size() < base) {
      violated();
    }
    const bool two_field = f[type_at] == "MX" || f[type_at] == "SRV";
    if (f.size() != base + (two_field ? 1 : 0)) {
      violated();
    }
    if (abi >= 3 && f[2] != "1") {
      violated();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Apps apps;
  if (size == 0) {
    return 0;
  }
  const unsigned which = data[0] & 3U;
  const amap::app::App& app = which == 0 ? apps.hello : which == 1 ? apps.whoami : *apps.mapper;
  amap::pipe::Options options;
  options.max_reply_bytes = std::size_t{1} << 16;  // small: also reach the overflow path
  options.clock = []() noexcept -> std::uint64_t { return 1000; };
  if (which == 1) {
    options.ecs_scope = amap::pipe::EcsScope::source;
  }
  amap::app::Worker worker(app);
  amap::pipe::Session session(worker, options);

  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool closing = false;  // a HELO was answered FAIL: one more line is read, then done
  std::size_t start = 0;
  while (start < in.size() && !session.done()) {
    std::size_t nl = in.find('\n', start);
    if (nl == std::string_view::npos) {
      nl = in.size();  // a final line without '\n' (serve() would wait; handle it anyway)
    }
    const std::string_view line = in.substr(start, nl - start);
    start = nl + 1;
    const std::string_view reply = line.size() > kMaxLine ? session.handle_oversized_line(kMaxLine)
                                                          : session.handle_line(line);
    check_reply(line, reply, closing, session.abi());
    if (closing && !session.done()) {
      violated();  // the line after a failed handshake ends the session
    }
    closing = !closing && is_helo(line) && reply == "FAIL\n";
  }
  return 0;
}
