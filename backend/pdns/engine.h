// SPDX-License-Identifier: MIT
#pragma once
// A narrow C++17 facade over the automap engine, for the PowerDNS module: PowerDNS's headers
// are C++17 (Debian builds pdns with -std=c++17) and automap's are C++20, so the module's own
// translation units include this header and PowerDNS's, never an automap header. engine.cpp
// (C++20) implements it on amap::mapper and amap::app; it holds no PowerDNS code.
//
//   std::string error;
//   auto engine = amap::pdnsmod::Engine::load("/etc/automap/automap.yaml", error);
//   amap::pdnsmod::Lookup lookup(engine);           // one per PowerDNS backend instance
//   lookup.run(qname_wire, qname_len, qtype);        // no allocation once made
//   for (std::size_t i = 0; i < lookup.size(); ++i) use(lookup.record(i));

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace amap::pdnsmod {

/// One loaded configuration: the app (zones and the mapper) and its background tasks (the
/// store's keeper thread), which run while the Engine lives.
class Engine {
 public:
  /// Reads, checks and builds `config_path` as `automapd pipe` does (the store opened, created
  /// when missing). nullptr on error, with every error in `error` (one line each).
  static std::shared_ptr<const Engine> load(const std::string& config_path, std::string& error);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  std::size_t zone_count() const noexcept;
  /// The apex of zone `i` in presentation form, with the trailing dot.
  const std::string& zone_apex(std::size_t i) const noexcept;
  /// The zone whose apex is exactly this uncompressed wire name (case-insensitive), or -1.
  int zone_at(const std::uint8_t* wire, std::size_t len) const noexcept;

  struct Impl;
  const Impl& impl() const noexcept { return *impl_; }

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// A record of the last answer: owned by the question's name (PowerDNS's own DNSName is used
/// as the owner); RDATA in uncompressed wire form, valid until the next run().
struct RecordView {
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  const std::uint8_t* rdata = nullptr;
  std::size_t rdata_len = 0;
};

/// What run() found.
enum class Found : std::uint8_t {
  records,  // record(0..size()-1) answer the question
  empty,    // the name exists but nothing answers: an empty non-terminal row for PowerDNS
  none,     // no such name (or not ours): no rows
  error,    // the store failed or the answer overflowed: PowerDNS should SERVFAIL
};

/// The SOA of a zone, as PowerDNS's SOAData wants it (names in presentation form).
struct Soa {
  std::string mname;
  std::string rname;
  std::uint32_t ttl = 0;
  std::uint32_t serial = 0;
  std::uint32_t refresh = 0;
  std::uint32_t retry = 0;
  std::uint32_t expire = 0;
  std::uint32_t minimum = 0;
};

/// The per-thread part: one app::Worker (answer storage and the mapper's context). One per
/// PowerDNS backend instance; PowerDNS uses an instance from one thread at a time.
class Lookup {
 public:
  explicit Lookup(std::shared_ptr<const Engine> engine);
  ~Lookup();
  Lookup(const Lookup&) = delete;
  Lookup& operator=(const Lookup&) = delete;

  const std::shared_ptr<const Engine>& engine() const noexcept { return engine_; }

  /// Answers `qtype` (255 = ANY) at the uncompressed wire name `wire`, records only: an SOA
  /// question below an apex finds nothing at once (PowerDNS walks up the labels).
  Found run(const std::uint8_t* wire, std::size_t len, std::uint16_t qtype) noexcept;
  std::size_t size() const noexcept;
  RecordView record(std::size_t i) const noexcept;
  /// The zone the last run() answered in (index for Engine::zone_apex), or -1.
  int zone() const noexcept { return zone_; }

  /// The SOA of zone `i` as the engine answers it now (the serial follows the store).
  bool soa(std::size_t i, Soa& out) noexcept;

 private:
  struct Impl;
  std::shared_ptr<const Engine> engine_;
  std::unique_ptr<Impl> impl_;
  int zone_ = -1;
};

}  // namespace amap::pdnsmod
