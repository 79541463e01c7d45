// SPDX-License-Identifier: MIT
#pragma once
// The routing core: "Flask for DNS". An App holds zones (apex, SOA, NS) and an ordered list of
// handlers, each guarded by a Match. Front-ends (in-process, PowerDNS pipe, UDP/TCP) own one
// Worker per thread, build a Request, call answer() or resolve(), and encode the Answer.
//
//   amap::app::App app;
//   app.zone("hello.example.");
//   app.route(Match().name("hello.example.").type(dns::rrtype::TXT),
//             [](const Request&, Answer& ans) noexcept {
//               ans.txt("Hello World!");
//               return Outcome::hit;
//             });

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mapper/app/answer.h"
#include "mapper/app/background.h"
#include "mapper/app/request.h"
#include "mapper/app/worker.h"
#include "mapper/dns/rdata.h"
#include "mapper/dns/suffix_index.h"

namespace amap::app {

/// What a handler tells the router, as Knot's module hooks do (its HIT, NODATA, MISS, ERROR).
enum class Outcome : std::uint8_t {
  /// The name is this handler's and it added what answers the question (pdnsapp's FINAL):
  /// no later handler runs. Records of other types it added prove the name exists.
  hit,
  /// The name is this handler's but has nothing for this question (an empty non-terminal, a
  /// name with other types only): NODATA, not NXDOMAIN. No later handler runs.
  nodata,
  /// Not this handler's name, or not done: the next matching handler runs. Records it added
  /// stay (pdnsapp's CONT: several handlers add to one answer, the last returns hit). When
  /// every handler missed and nothing answers, the name does not exist (NXDOMAIN).
  miss,
  /// The handler could not answer (a store it reads failed): SERVFAIL (pipe: FAIL) for this
  /// query, whatever was added. No later handler runs.
  error,
};

/// A handler as the router keeps it. App::route also takes a callable without the Worker
/// argument. Handlers are noexcept: they report failure with Outcome::error.
using Handler = std::function<Outcome(const Request&, Answer&, Worker&)>;

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

  bool matches(const Request& req) const noexcept { return fit(req) == Fit::yes; }

  enum class Fit : std::uint8_t {
    no,
    yes,
    /// Only the type differs, and the match names its name exactly: the name exists (the
    /// handler serves other types there), so the question is NODATA rather than NXDOMAIN.
    other_type_of_name,
  };
  Fit fit(const Request& req) const noexcept;

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

/// A zone's SOA serial that follows live data (the mapper: the override store's last change),
/// asked for each answer that carries the SOA (an SOA or ANY question at the apex, negative
/// answers), never for positive answers. noexcept, and no allocation, lock or exception on a
/// warm worker: it may keep what it needs in a slot of the worker.
class SerialSource {
 public:
  virtual ~SerialSource() = default;
  /// The serial to serve now; `configured` is ZoneAuthority::soa.serial.
  virtual std::uint32_t serial(Worker& worker, std::uint32_t configured) const noexcept = 0;
};

/// SOA and NS of a zone. Zones declared alike share one (the mapper's thousands of derived
/// reverse zones share a single one), so a zone costs little more than its apex.
struct ZoneAuthority {
  dns::Soa soa;
  std::uint32_t soa_ttl = 3600;
  std::vector<dns::Name> ns;
  std::uint32_t ns_ttl = 3600;
  /// Without one, soa.serial is served.
  std::shared_ptr<const SerialSource> serial_source;
};

/// A zone the app is authoritative for. SOA is answered only at its apex.
struct Zone {
  dns::Name apex;
  std::shared_ptr<ZoneAuthority> authority = std::make_shared<ZoneAuthority>();
  /// Opaque value for the app (the mapper stores what kind of zone this is).
  std::uint32_t user_data = 0;

  const dns::Soa& soa() const noexcept { return authority->soa; }
  /// The serial to serve in this worker's answer now (ZoneAuthority::serial_source).
  std::uint32_t serial(Worker& worker) const noexcept {
    const ZoneAuthority& a = *authority;
    return a.serial_source ? a.serial_source->serial(worker, a.soa.serial) : a.soa.serial;
  }
  /// RFC 2308 section 3: the TTL of the SOA in negative answers is min(SOA TTL, MINIMUM).
  std::uint32_t negative_ttl() const noexcept {
    return authority->soa_ttl < authority->soa.minimum ? authority->soa_ttl
                                                       : authority->soa.minimum;
  }
};

/// What online signing did, per DNSSEC algorithm (index of kAlgorithms), for the /metrics
/// families automap_dnssec_*. One thread writes a set (sync::bump), any may read it
/// (sync::peek); the server sums them at scrape.
struct SigningCounters {
  /// The algorithms counted: ECDSA P-256 (13) and Ed25519 (15), those mapper/dnssec signs with.
  static constexpr std::array<std::uint8_t, 2> kAlgorithms{13, 15};
  static constexpr std::size_t index(std::uint8_t algorithm) noexcept {
    return algorithm == kAlgorithms[1] ? 1 : 0;
  }
  struct PerAlgorithm {
    std::uint64_t signatures = 0;       // RRSIGs made (cryptography run)
    std::uint64_t cache_hits = 0;       // RRSIGs served from the worker's signature cache
    std::uint64_t cache_misses = 0;     // RRSIGs not in the cache (then signed or failed)
    std::uint64_t cache_evictions = 0;  // cached RRSIGs dropped to make room for a new one
    std::uint64_t failures = 0;         // signing failed: the RRset went without that RRSIG
  };
  std::array<PerAlgorithm, kAlgorithms.size()> by_algorithm{};

  SigningCounters& operator+=(const SigningCounters& o) noexcept {
    for (std::size_t i = 0; i < by_algorithm.size(); ++i) {
      by_algorithm[i].signatures += o.by_algorithm[i].signatures;
      by_algorithm[i].cache_hits += o.by_algorithm[i].cache_hits;
      by_algorithm[i].cache_misses += o.by_algorithm[i].cache_misses;
      by_algorithm[i].cache_evictions += o.by_algorithm[i].cache_evictions;
      by_algorithm[i].failures += o.by_algorithm[i].failures;
    }
    return *this;
  }
};

/// Online DNSSEC signing of the wire front-ends' answers (mapper/dnssec implements it). The
/// standalone server calls it after resolve() for a query with DO=1 (RFC 3225), and for a
/// DNSKEY or ANY question whatever DO says (the DNSKEY RRset exists at every signed apex).
/// It adds records to the answer; it must not allocate, lock or throw on a warm worker.
class AnswerSigner {
 public:
  virtual ~AnswerSigner() = default;
  /// `counters`: the calling thread's (sync::bump), kept by the front-end across reloads.
  virtual void sign(Worker& worker, const Request& req, Answer& ans, bool dnssec_ok,
                    SigningCounters& counters) const noexcept = 0;
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
  /// Appends a handler; handlers run in registration order. `handler` is a noexcept callable
  /// `Outcome(const Request&, Answer&, Worker&)` or `Outcome(const Request&, Answer&)`.
  template <class F>
  App& route(Match match, F&& handler) {
    using Fn = std::decay_t<F>;
    if constexpr (std::is_invocable_v<Fn&, const Request&, Answer&, Worker&>) {
      static_assert(std::is_nothrow_invocable_r_v<Outcome, Fn&, const Request&, Answer&, Worker&>,
                    "a handler is noexcept and returns app::Outcome");
      return add_route(std::move(match), Handler(std::forward<F>(handler)));
    } else {
      static_assert(std::is_nothrow_invocable_r_v<Outcome, Fn&, const Request&, Answer&>,
                    "a handler is noexcept and returns app::Outcome");
      return add_route(std::move(match),
                       Handler([h = Fn(std::forward<F>(handler))](const Request& req, Answer& ans,
                                                                  Worker&) mutable noexcept {
                         return h(req, ans);
                       }));
    }
  }

  /// Reserves a per-worker slot of type T: every Worker of this app makes one with `make`
  /// (a callable returning std::unique_ptr<T>) when it is constructed, and a handler reaches
  /// it with worker.get(slot). T may have `begin_batch() noexcept` / `end_batch() noexcept`.
  template <class T, class Make>
  Slot<T> slot(Make make) {
    SlotSpec spec;
    spec.make = [m = std::move(make)]() -> void* {
      std::unique_ptr<T> p = m();
      return p.release();
    };
    spec.destroy = [](void* p) noexcept { delete static_cast<T*>(p); };
    if constexpr (requires(T & t) { t.begin_batch(); }) {
      spec.begin_batch = [](void* p) noexcept { static_cast<T*>(p)->begin_batch(); };
    }
    if constexpr (requires(T & t) { t.end_batch(); }) {
      spec.end_batch = [](void* p) noexcept { static_cast<T*>(p)->end_batch(); };
    }
    slots_.push_back(std::move(spec));
    return Slot<T>(static_cast<std::uint32_t>(slots_.size() - 1));
  }
  template <class T>
  Slot<T> slot() {
    return slot<T>([] { return std::make_unique<T>(); });
  }

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

  /// Answers the question, for every front-end: the zone's SOA and NS (at the apex only,
  /// from the zone declaration), then the matching handlers' records, of which the answer
  /// section keeps only those owned by the qname that answer the qtype (same type, ANY or
  /// CNAME). Sets ans.zone (nullptr outside our zones: miss, nothing run). Returns
  ///   hit     records answer the question;
  ///   nodata  none do, but the name exists (the apex, a handler's hit or nodata, records of
  ///           other types, a route for this exact name with another type);
  ///   miss    the name does not exist (or is not ours);
  ///   error   a handler failed or the answer overflowed: the answer is emptied.
  /// No negative logic: the pipe writes these records as they are (PowerDNS does the rest).
  ///
  /// `need`: Need::records when only the records matter (the pipe): an SOA question below an
  /// apex then returns miss at once, running no handler (PowerDNS asks SOA at every label on
  /// its way up to the apex, several times per query, and only the zone answers SOA).
  enum class Need : std::uint8_t { existence, records };
  Outcome answer(Worker& worker, const Request& req, Answer& ans,
                 Need need = Need::existence) const noexcept;

  /// Full authoritative semantics for the wire front-ends and tests, from answer(): REFUSED
  /// outside our zones, AA, NXDOMAIN vs NODATA with the SOA in authority (RFC 2308),
  /// SERVFAIL on error. Sets ans.rcode, ans.authoritative and ans.zone.
  void resolve(Worker& worker, const Request& req, Answer& ans) const noexcept;

  /// TTL for records whose handler gave none (pdnsapp used 86400).
  std::uint32_t default_ttl = 86400;

  /// The signer of this app's zones (nullptr: unsigned). It owns what it reserved with
  /// slot(), so it is set while the app is built, before any Worker exists.
  void set_signer(std::shared_ptr<const AnswerSigner> signer) { signer_ = std::move(signer); }
  const AnswerSigner* signer() const noexcept { return signer_.get(); }

 private:
  friend class Worker;
  struct SlotSpec {
    std::function<void*()> make;
    void (*destroy)(void*) noexcept = nullptr;
    void (*begin_batch)(void*) noexcept = nullptr;
    void (*end_batch)(void*) noexcept = nullptr;
  };

  App& add_route(Match match, Handler handler);
  /// Runs the matching handlers; sets `exists` when one says the name exists.
  Outcome run_handlers(Worker& worker, const Request& req, Answer& ans,
                       bool& exists) const noexcept;

  std::vector<Zone> zones_;
  dns::SuffixIndex zone_index_;      // suffix_hash(apex) -> index in zones_
  std::size_t max_apex_labels_ = 0;  // no zone index entry has a longer suffix
  struct Route {
    Match match;
    Handler handler;
  };
  std::vector<Route> routes_;
  std::vector<BackgroundTask> tasks_;
  std::vector<SlotSpec> slots_;
  std::shared_ptr<const AnswerSigner> signer_;
};

/// True when `r` answers a question of type `qtype` (same type, ANY, or a CNAME).
bool answers_qtype(const Record& r, dns::RRType qtype) noexcept;

}  // namespace amap::app
