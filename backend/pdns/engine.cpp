// SPDX-License-Identifier: MIT
// The C++20 side of the module's facade (engine.h): automap's engine behind a C++17 interface.
#include "backend/pdns/engine.h"

#include <span>
#include <utility>
#include <vector>

#include "mapper/app/app.h"
#include "mapper/app/background.h"
#include "mapper/app/worker.h"
#include "mapper/engine/load.h"
#include "mapper/engine/mapper.h"

namespace amap::pdnsmod {

struct Engine::Impl {
  std::shared_ptr<const mapper::Mapper> mapper;
  app::App app;
  std::vector<std::string> apexes;
  // Started last and stopped first: the store's keeper (address filter, a replaced store).
  std::unique_ptr<app::BackgroundRunner> background;
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  if (impl_ && impl_->background) {
    impl_->background->stop();
  }
}

std::shared_ptr<const Engine> Engine::load(const std::string& config_path, std::string& error) {
  mapper::LoadAndBuildOptions options;
  // As automapd pipe: the store is read at every query (overrides live), created on first
  // start; the module lives as long as pdns_server, so the address filter pays.
  options.store = mapper::LoadAndBuildOptions::Store::create;
  options.address_filter = true;
  config::Diagnostics diagnostics;
  auto built = mapper::load_and_build(config_path, options, diagnostics);
  if (!built) {
    diagnostics.print([&error](const std::string& line) {
      if (!error.empty()) {
        error += '\n';
      }
      error += line;
    });
    if (error.empty()) {
      error = config_path + ": configuration rejected";
    }
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->mapper = std::move(built);
  mapper::Mapper::install(impl->mapper, impl->app);
  char text[dns::Name::kMaxText + 1];
  for (const app::Zone& z : impl->app.zones()) {
    impl->apexes.emplace_back(text, z.apex.to_text(text, sizeof text));
  }
  impl->background = std::make_unique<app::BackgroundRunner>(impl->app.background_tasks());
  return std::shared_ptr<const Engine>(new Engine(std::move(impl)));
}

std::size_t Engine::zone_count() const noexcept {
  return impl_->apexes.size();
}

const std::string& Engine::zone_apex(std::size_t i) const noexcept {
  return impl_->apexes[i];
}

int Engine::zone_at(const std::uint8_t* wire, std::size_t len) const noexcept {
  auto name = dns::Name::from_wire(std::span<const std::uint8_t>(wire, len));
  if (!name) {
    return -1;
  }
  const app::Zone* z = impl_->app.find_zone(*name);
  if (z == nullptr || !(z->apex == *name)) {
    return -1;
  }
  return static_cast<int>(z - impl_->app.zones().data());
}

struct Lookup::Impl {
  explicit Impl(const app::App& app) : worker(app) { request.frontend = app::Frontend::pipe; }
  app::Worker worker;
  app::Request request;
  // Indices into worker.answer().records() of the answer-section rows.
  std::vector<std::uint16_t> rows;
};

Lookup::Lookup(std::shared_ptr<const Engine> engine)
    : engine_(std::move(engine)), impl_(std::make_unique<Impl>(engine_->impl().app)) {
  impl_->rows.reserve(app::Answer::kDefaultMaxRecords);
}

Lookup::~Lookup() = default;

Found Lookup::run(const std::uint8_t* wire, std::size_t len, std::uint16_t qtype) noexcept {
  zone_ = -1;
  impl_->rows.clear();
  app::Request& req = impl_->request;
  std::size_t used = 0;
  if (req.qname.assign_wire(std::span<const std::uint8_t>(wire, len), used) != Errc::ok ||
      used != len) {
    return Found::none;
  }
  req.qtype = dns::RRType(qtype);
  const app::App& app = engine_->impl().app;
  app::Answer& ans = impl_->worker.answer();
  const app::Outcome outcome = app.answer(impl_->worker, req, ans, app::App::Need::records);
  if (ans.zone != nullptr) {
    zone_ = static_cast<int>(ans.zone - app.zones().data());
  }
  if (outcome == app::Outcome::error) {
    return Found::error;
  }
  const auto records = ans.records();
  for (std::size_t i = 0; i < records.size(); ++i) {
    // Only rows that answer the question (App::answer filtered them by type); PowerDNS has
    // no other sections here.
    if (records[i].section == app::Section::answer) {
      impl_->rows.push_back(static_cast<std::uint16_t>(i));
    }
  }
  if (!impl_->rows.empty()) {
    return Found::records;
  }
  // nodata: the name exists (an empty non-terminal, or other types only). A 4.7 backend says
  // so with an ENT row, which PowerDNS turns into NODATA rather than NXDOMAIN.
  return outcome == app::Outcome::nodata || outcome == app::Outcome::hit ? Found::empty
                                                                         : Found::none;
}

std::size_t Lookup::size() const noexcept {
  return impl_->rows.size();
}

RecordView Lookup::record(std::size_t i) const noexcept {
  const app::Answer& ans = impl_->worker.answer();
  const app::Record& r = ans.records()[impl_->rows[i]];
  const auto rdata = ans.rdata(r);
  return RecordView{r.type.value, r.ttl, rdata.data(), rdata.size()};
}

namespace {

bool read_u32(std::span<const std::uint8_t> in, std::size_t& at, std::uint32_t& v) noexcept {
  if (in.size() < at + 4) {
    return false;
  }
  v = (std::uint32_t{in[at]} << 24) | (std::uint32_t{in[at + 1]} << 16) |
      (std::uint32_t{in[at + 2]} << 8) | std::uint32_t{in[at + 3]};
  at += 4;
  return true;
}

}  // namespace

bool Lookup::soa(std::size_t i, Soa& out) noexcept {
  const Engine::Impl& e = engine_->impl();
  if (i >= e.app.zones().size()) {
    return false;
  }
  const dns::Name& apex = e.app.zones()[i].apex;
  if (run(apex.wire().data(), apex.wire().size(), dns::rrtype::SOA.value) != Found::records) {
    return false;
  }
  for (std::size_t k = 0; k < size(); ++k) {
    const RecordView r = record(k);
    if (r.type != dns::rrtype::SOA.value) {
      continue;
    }
    const std::span<const std::uint8_t> rdata(r.rdata, r.rdata_len);
    std::size_t at = 0;
    std::size_t used = 0;
    auto mname = dns::Name::read_wire(rdata, used);
    if (!mname) {
      return false;
    }
    at += used;
    auto rname = dns::Name::read_wire(rdata.subspan(at), used);
    if (!rname) {
      return false;
    }
    at += used;
    char text[dns::Name::kMaxText + 1];
    try {
      out.mname.assign(text, mname->to_text(text, sizeof text));
      out.rname.assign(text, rname->to_text(text, sizeof text));
    } catch (...) {
      return false;
    }
    out.ttl = r.ttl;
    return read_u32(rdata, at, out.serial) && read_u32(rdata, at, out.refresh) &&
           read_u32(rdata, at, out.retry) && read_u32(rdata, at, out.expire) &&
           read_u32(rdata, at, out.minimum);
  }
  return false;
}

}  // namespace amap::pdnsmod
