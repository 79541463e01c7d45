// SPDX-License-Identifier: LicenseRef-GPL-2.0-only-with-OpenSSL-exception (LICENSE here)
// libautomapbackend.so: automap as an in-process PowerDNS backend (launch=automap). Compiled
// as C++17 against the headers of the exact Debian pdns source of the installed pdns_server;
// it reaches automap only through engine.h (C++17), never through automap's C++20 headers.
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "backend/pdns/engine.h"
#include "backend/pdns/guard.h"
#include "pdns/dnsbackend.hh"
#include "pdns/dnspacket.hh"
#include "pdns/dnsrecords.hh"
#include "pdns/logger.hh"

namespace {

using amap::pdnsmod::Engine;
using amap::pdnsmod::Found;

// The loaded configuration per config path, shared by every backend instance (PowerDNS makes
// one per distributor thread and more for its own jobs). A reload (rediscover / reload)
// swaps it and bumps the generation; each instance notices at its next lookup and makes its
// worker anew there, off the common path.
struct Loaded {
  std::shared_ptr<const Engine> engine;
  std::atomic<unsigned> generation{0};
};
std::mutex g_mu;                                          // guards g_loaded's map and swaps
std::map<std::string, std::unique_ptr<Loaded>> g_loaded;  // never erased: instances point in

Loaded& loaded_for(const std::string& path) {
  const std::lock_guard<std::mutex> lock(g_mu);
  auto& slot = g_loaded[path];
  if (!slot) {
    std::string error;
    auto engine = Engine::load(path, error);
    if (!engine) {
      g_loaded.erase(path);
      throw PDNSException("automap backend: configuration " + path + " rejected:\n" + error);
    }
    slot = std::make_unique<Loaded>();
    slot->engine = std::move(engine);
    g_log << Logger::Info << "automap backend: loaded " << path << " ("
          << slot->engine->zone_count() << " zones)" << std::endl;
  }
  return *slot;
}

/// Reloads `path` into `loaded`: on any error the old engine keeps serving.
bool reload_engine(const std::string& path, Loaded& loaded, std::string& message) {
  std::string error;
  auto engine = Engine::load(path, error);
  if (!engine) {
    message =
        "automap backend: reload of " + path + " rejected, the old configuration stays:\n" + error;
    return false;
  }
  {
    const std::lock_guard<std::mutex> lock(g_mu);
    loaded.engine = std::move(engine);
    loaded.generation.fetch_add(1, std::memory_order_release);
  }
  message = "automap backend: reloaded " + path;
  return true;
}

class AutomapBackend : public DNSBackend {
 public:
  explicit AutomapBackend(const std::string& suffix) {
    setArgPrefix("automap" + suffix);
    d_path = getArg("config");
    d_loaded = &loaded_for(d_path);
    refresh();
    d_ent = ENTRecordContent::make("");
  }

  void lookup(const QType& qtype, const DNSName& qdomain, int zoneId, DNSPacket* /*pkt*/) override {
    (void)zoneId;
    if (d_loaded->generation.load(std::memory_order_acquire) != d_generation) {
      refresh();
    }
    d_pos = 0;
    d_qname = qdomain;
    const auto& wire = qdomain.getStorage();
    d_found = d_lookup->run(reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size(),
                            qtype.getCode());
    if (d_found == Found::error) {
      // PowerDNS answers SERVFAIL for a DBException and keeps the backend.
      throw DBException("automap backend: lookup of " + qdomain.toLogString() +
                        " failed (store unreadable or answer overflow)");
    }
  }

  bool get(DNSZoneRecord& zr) override {
    const int zone = d_lookup->zone();
    if (d_found == Found::empty) {
      // One empty non-terminal row (qtype 0, ENT): the name exists, with nothing here.
      d_found = Found::none;
      fill_header(zr, zone, QType::ENT, 0);
      zr.dr.d_content = d_ent;
      return true;
    }
    if (d_found != Found::records || d_pos >= d_lookup->size()) {
      return false;
    }
    const amap::pdnsmod::RecordView r = d_lookup->record(d_pos++);
    fill_header(zr, zone, r.type, r.ttl);
    zr.dr.d_content = make_content(r);
    return true;
  }

  bool get(DNSResourceRecord& rr) override {
    DNSZoneRecord zr;
    if (!get(zr)) {
      return false;
    }
    rr = DNSResourceRecord::fromWire(zr.dr);
    rr.auth = zr.auth;
    rr.domain_id = zr.domain_id;
    return true;
  }

  // AXFR: a synthesized zone has no finite list; refusing beats a zone of just SOA and NS
  // that would make a secondary NXDOMAIN everything.
  bool list(const DNSName& /*target*/, int /*domain_id*/, bool /*include_disabled*/) override {
    return false;
  }

  bool getSOA(const DNSName& name, SOAData& sd) override {
    const auto& wire = name.getStorage();
    const int zone = d_lookup->engine()->zone_at(reinterpret_cast<const std::uint8_t*>(wire.data()),
                                                 wire.size());
    amap::pdnsmod::Soa soa;
    if (zone < 0 || !d_lookup->soa(static_cast<std::size_t>(zone), soa)) {
      return false;
    }
    sd.qname = name;
    sd.nameserver = DNSName(soa.mname);
    sd.hostmaster = DNSName(soa.rname);
    sd.ttl = soa.ttl;
    sd.serial = soa.serial;
    sd.refresh = soa.refresh;
    sd.retry = soa.retry;
    sd.expire = soa.expire;
    sd.minimum = soa.minimum;
    sd.db = this;
    sd.domain_id = zone + 1;
    return true;
  }

  // The zone cache (zone-cache-refresh-interval, on by default) lists the zones at start,
  // every interval and on `pdns_control rediscover`.
  void getAllDomains(std::vector<DomainInfo>* domains, bool getSerial,
                     bool /*include_disabled*/) override {
    const auto& engine = d_lookup->engine();
    for (std::size_t i = 0; i < engine->zone_count(); ++i) {
      DomainInfo di;
      fill_domain(i, di, getSerial);
      domains->push_back(std::move(di));
    }
  }

  bool getDomainInfo(const DNSName& domain, DomainInfo& di, bool getSerial) override {
    const auto& wire = domain.getStorage();
    const int zone = d_lookup->engine()->zone_at(reinterpret_cast<const std::uint8_t*>(wire.data()),
                                                 wire.size());
    if (zone < 0) {
      return false;
    }
    fill_domain(static_cast<std::size_t>(zone), di, getSerial);
    return true;
  }

  // DNSSEC denial needs the zone's names in order, which a synthesized zone does not have.
  // PowerDNS's default for this call aborts the process; refuse instead (a zone given keys
  // through another backend then gets no NSEC/NSEC3 proof, not a crash).
  bool getBeforeAndAfterNamesAbsolute(uint32_t /*id*/, const DNSName& /*qname*/,
                                      DNSName& /*unhashed*/, DNSName& /*before*/,
                                      DNSName& /*after*/) override {
    return false;
  }

  // pdns_control rediscover / reload: read the YAML again (checked fully first).
  void rediscover(std::string* status) override {
    std::string message;
    const bool ok = reload_engine(d_path, *d_loaded, message);
    g_log << (ok ? Logger::Info : Logger::Error) << message << std::endl;
    if (status != nullptr) {
      *status += message + "\n";
    }
  }
  void reload() override {
    std::string message;
    const bool ok = reload_engine(d_path, *d_loaded, message);
    g_log << (ok ? Logger::Info : Logger::Error) << message << std::endl;
  }

  std::string directBackendCmd(const std::string& query) override {
    if (query == "version") {
      return "automap " AMAP_VERSION " module for pdns " AMAP_PDNS_VERSION_TEXT "\n";
    }
    if (query == "zones") {
      std::string out;
      for (std::size_t i = 0; i < d_lookup->engine()->zone_count(); ++i) {
        out += d_lookup->engine()->zone_apex(i) + "\n";
      }
      return out;
    }
    return "unknown command '" + query + "', try: version, zones\n";
  }

 private:
  void refresh() {
    std::shared_ptr<const Engine> engine;
    {
      const std::lock_guard<std::mutex> lock(g_mu);
      engine = d_loaded->engine;
      d_generation = d_loaded->generation.load(std::memory_order_relaxed);
    }
    d_lookup = std::make_unique<amap::pdnsmod::Lookup>(std::move(engine));
    d_found = Found::none;
  }

  void fill_header(DNSZoneRecord& zr, int zone, std::uint16_t type, std::uint32_t ttl) const {
    zr.domain_id = zone + 1;
    zr.auth = true;
    zr.scopeMask = 0;
    zr.dr.d_name = d_qname;
    zr.dr.d_type = type;
    zr.dr.d_class = QClass::IN;
    zr.dr.d_ttl = ttl;
    zr.dr.d_place = DNSResourceRecord::ANSWER;
  }

  std::shared_ptr<DNSRecordContent> make_content(const amap::pdnsmod::RecordView& r) const {
    switch (r.type) {
      case QType::A:
        if (r.rdata_len == 4) {
          std::uint32_t ip = 0;  // network order, as ARecordContent keeps it
          std::memcpy(&ip, r.rdata, 4);
          return std::make_shared<ARecordContent>(ip);
        }
        break;
      case QType::AAAA:
        if (r.rdata_len == 16) {
          ComboAddress ca;
          ca.sin6.sin6_family = AF_INET6;
          std::memcpy(ca.sin6.sin6_addr.s6_addr, r.rdata, 16);
          return std::make_shared<AAAARecordContent>(ca);
        }
        break;
      case QType::PTR:
        return std::make_shared<PTRRecordContent>(DNSName(reinterpret_cast<const char*>(r.rdata),
                                                          static_cast<int>(r.rdata_len), 0, false));
      default:
        break;
    }
    // SOA and NS at an apex, anything else: PowerDNS parses the wire RDATA itself.
    return DNSRecordContent::deserialize(
        d_qname, r.type, std::string(reinterpret_cast<const char*>(r.rdata), r.rdata_len));
  }

  void fill_domain(std::size_t i, DomainInfo& di, bool get_serial) {
    di.zone = DNSName(d_lookup->engine()->zone_apex(i));
    di.id = static_cast<std::uint32_t>(i + 1);
    di.backend = this;
    di.kind = DomainInfo::Native;
    if (get_serial) {
      amap::pdnsmod::Soa soa;
      if (d_lookup->soa(i, soa)) {
        di.serial = soa.serial;
      }
    }
  }

  std::string d_path;
  Loaded* d_loaded = nullptr;
  unsigned d_generation = 0;
  std::unique_ptr<amap::pdnsmod::Lookup> d_lookup;
  std::shared_ptr<DNSRecordContent> d_ent;
  DNSName d_qname;
  Found d_found = Found::none;
  std::size_t d_pos = 0;
};

class AutomapFactory : public BackendFactory {
 public:
  AutomapFactory() : BackendFactory("automap") {}
  void declareArguments(const std::string& suffix) override {
    declare(suffix, "config", "automap's YAML configuration file", "/etc/automap/automap.yaml");
  }
  DNSBackend* make(const std::string& suffix) override { return new AutomapBackend(suffix); }
};

// Registration at load: only when this is the pdns_server the module was built against. A
// module compiled against other headers would load and corrupt memory silently; refusing
// leaves "automap" unknown, and PowerDNS stops at launch= with "unknown backend".
class Loader {
 public:
  Loader() {
    std::string why;
    if (!amap::pdnsmod::host_matches(why)) {
      g_log << Logger::Critical << "FATAL: automap backend not registered: " << why << std::endl;
      return;
    }
    BackendMakers().report(new AutomapFactory);
    g_log << Logger::Info << "[automapbackend] automap " AMAP_VERSION
          << " backend for pdns " AMAP_PDNS_VERSION_TEXT " registered" << std::endl;
  }
};

const Loader g_loader;

}  // namespace
