// SPDX-License-Identifier: MIT
#pragma once
// Offline testing of an App (pdnsapp's "offline testing"): build a request, call the app,
// read the records back as text. Convenience over speed: this API allocates.
//
//   auto r = amap::app::testing::query(app, "hello.example.", "TXT");
//   EXPECT_EQ(r.answer[0], "hello.example. 86400 IN TXT \"Hello World!\"");

#include <string>
#include <string_view>
#include <vector>

#include "mapper/app/app.h"

namespace amap::app::testing {

struct QueryOptions {
  std::string remote = "192.0.2.1";
  std::string local = "192.0.2.53";
  std::string ecs;  // "198.51.100.0/24" to send EDNS Client Subnet
  std::uint16_t qclass = dns::rrclass::IN;
  Frontend frontend = Frontend::in_process;
};

struct QueryResult {
  Rcode rcode = Rcode::noerror;
  bool authoritative = false;
  std::vector<std::string> answer;
  std::vector<std::string> authority;
  std::vector<std::string> additional;
};

/// Builds a Request; throws std::invalid_argument on bad text.
Request make_request(std::string_view qname, std::string_view qtype,
                     const QueryOptions& options = {});
/// Runs App::resolve (full DNS semantics) with a Worker of its own and renders the sections.
QueryResult query(const App& app, std::string_view qname, std::string_view qtype = "A",
                  const QueryOptions& options = {});
/// The same with the caller's Worker (of that app): its slots keep their state from one query
/// to the next, and a batch the caller opened on it holds.
QueryResult query(Worker& worker, std::string_view qname, std::string_view qtype = "A",
                  const QueryOptions& options = {});
/// Runs App::answer and renders its answer section, as the pipe backend sends it ("FAIL" on
/// error).
std::vector<std::string> lookup(const App& app, std::string_view qname,
                                std::string_view qtype = "ANY", const QueryOptions& options = {});
/// "owner ttl IN TYPE rdata" for one record.
std::string record_text(const Answer& ans, const Record& r);
std::string_view rcode_name(Rcode rcode) noexcept;

}  // namespace amap::app::testing
