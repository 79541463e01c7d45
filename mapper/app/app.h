// SPDX-License-Identifier: MIT
#pragma once
// The routing core: "Flask for DNS". An App holds zones (apex, SOA, NS) and an ordered list of
// handlers, each guarded by a Match. Front-ends (in-process, PowerDNS pipe, UDP/TCP) build a
// Request, call lookup() or resolve(), and encode the Answer.
//
//   amap::app::App app;
//   app.zone("hello.example.");
//   app.route(Match().name("hello.example.").type(dns::rrtype::TXT),
//             [](const Request&, Answer& ans) { ans.txt("Hello World!"); return Flow::final; });

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mapper/app/answer.h"
#include "mapper/app/background.h"
#include "mapper/app/request.h"
#include "mapper/dns/rdata.h"
#include "mapper/dns/suffix_index.h"

namespace amap::app {

/// What a handler tells the router: keep running later handlers (pdnsapp's CONT) or stop
/// (pdnsapp's FINAL).
enum class Flow : std::uint8_t { cont, final };

using Handler = std::function<Flow(const Request&, Answer&)>;

/// Conditions a request must meet for a handler to run. All given conditions must hold;
/// list-valued ones (remote, local, ecs) hold when any of their prefixes matches.
class Match {
 public:
  /// Exact name, case-insensitive.
  Match& name(std::string_view fqdn);
  /// The domain itself or any name below it, on a label boundary ("example." does not match
  /// "badexample.").
  Match& domain(std::string_view domain);
  /// Query type; a query for ANY matches every handler, as in pdnsapp.
  Match& type(dns::RRType type);
  Match& type(std::string_view mnemonic);
  Match& qclass(std::uint16_t cls);
  /// The client's address lies in the CIDR (repeatable).
  Match& remote(std::string_view cidr);
  /// The local address the query arrived on lies in the CIDR (repeatable).
  Match& local(std::string_view cidr);
  /// The query carries EDNS Client Subnet whose address lies in the CIDR (repeatable).
  Match& ecs(std::string_view cidr);

  bool matches(const Request& req) const noexcept;

 private:
  bool has_name_ = false;
  bool has_domain_ = false;
  bool has_type_ = false;
  bool has_class_ = false;
  dns::Name name_;
  dns::Name domain_;
  dns::RRType type_;
  std::uint16_t class_ = dns::rrclass::IN;
  std::vector<dns::Prefix> remote_;
  std::vector<dns::Prefix> local_;
  std::vector<dns::Prefix> ecs_;
};

/// SOA and NS of a zone. Zones declared alike share one (the mapper's thousands of derived
/// reverse zones share a single one), so a zone costs little more than its apex.
struct ZoneAuthority {
  dns::Soa soa;
  std::uint32_t soa_ttl = 3600;
  std::vector<dns::Name> ns;
  std::uint32_t ns_ttl = 3600;
};

/// A zone the app is authoritative for. SOA is answered only at its apex.
struct Zone {
  dns::Name apex;
  std::shared_ptr<ZoneAuthority> authority = std::make_shared<ZoneAuthority>();
  /// Opaque value for the app (the mapper stores what kind of zone this is).
  std::uint32_t user_data = 0;

  const dns::Soa& soa() const noexcept { return authority->soa; }
  /// RFC 2308 section 3: the TTL of the SOA in negative answers is min(SOA TTL, MINIMUM).
  std::uint32_t negative_ttl() const noexcept {
    return authority->soa_ttl < authority->soa.minimum ? authority->soa_ttl
                                                       : authority->soa.minimum;
  }
};

class App {
 public:
  /// Declares a zone with a default SOA (ns1.<apex>, hostmaster.<apex>) and NS ns1.<apex>,
  /// in an authority of its own. Throws std::invalid_argument on a bad name. Returns the zone
  /// for further changes (`zone.authority->soa.minimum = 300`).
  Zone& zone(std::string_view apex);
  /// Declares a fully specified zone; replaces one with the same apex.
  Zone& add_zone(Zone zone);
  /// Room for `count` zones in all, so declaring many (a mapper's derived reverse zones)
  /// does not regrow the zone list and its index.
  void reserve_zones(std::size_t count);
  /// How a handler treats names it knows.
  enum class Existence : std::uint8_t {
    /// It may add records for some qtypes only (the usual handler): when a name gets no
    /// record, resolve() asks the handlers again as ANY to tell NODATA from NXDOMAIN.
    by_records,
    /// It calls Answer::set_exists() for every name it knows, whatever the qtype, so a name
    /// it leaves without records and without set_exists() does not exist: no second ask.
    reported,
  };
  /// Appends a handler; handlers run in registration order.
  App& route(Match match, Handler handler, Existence existence = Existence::by_records);

  /// Registers a background task (mapper/app/background.h): `fn` runs on a thread of its own,
  /// never on a DNS worker, at once when the front-end starts and then every `interval`,
  /// until the front-end stops. It shares state with handlers through a Snapshot
  /// (mapper/app/snapshot.h). What it captures must own what it uses (a shared_ptr), since a
  /// task that does not stop in time is left running while the process exits.
  App& every(std::chrono::milliseconds interval, std::function<void(std::stop_token)> fn,
             std::string name = "task");
  App& every(std::chrono::milliseconds interval, std::function<void()> fn,
             std::string name = "task");
  const std::vector<BackgroundTask>& background_tasks() const noexcept { return tasks_; }

  /// The zone with the longest apex at or above `name`, or nullptr.
  const Zone* find_zone(const dns::Name& name) const noexcept;
  const std::vector<Zone>& zones() const noexcept { return zones_; }

  /// Raw records for the question, as the PowerDNS pipe wants them: the zone's SOA (at the
  /// apex only) and NS (at the apex), then every matching handler's records. No negative
  /// logic. SOA queries below an apex return at once with nothing (PowerDNS walks up one
  /// label at a time looking for the apex). Returns false if a handler threw or the answer
  /// overflowed; the answer is then unusable.
  bool lookup(const Request& req, Answer& ans) const noexcept;

  /// Full authoritative semantics for the wire front-ends and tests: REFUSED outside our
  /// zones, AA, NXDOMAIN vs NODATA with the SOA in authority (RFC 2308), SERVFAIL when a
  /// handler fails. Sets ans.rcode, ans.authoritative and ans.zone.
  void resolve(const Request& req, Answer& ans) const noexcept;

  /// TTL for records whose handler gave none (pdnsapp used 86400).
  std::uint32_t default_ttl = 86400;

 private:
  void run_handlers(const Request& req, Answer& ans) const;

  std::vector<Zone> zones_;
  dns::SuffixIndex zone_index_;      // suffix_hash(apex) -> index in zones_
  std::size_t max_apex_labels_ = 0;  // no zone index entry has a longer suffix
  struct Route {
    Match match;
    Handler handler;
  };
  std::vector<Route> routes_;
  bool all_report_existence_ = true;
  std::vector<BackgroundTask> tasks_;  // every route was added with Existence::reported
};

/// True when `r` answers a question of type `qtype` (same type, ANY, or a CNAME).
bool answers_qtype(const Record& r, dns::RRType qtype) noexcept;

}  // namespace amap::app
