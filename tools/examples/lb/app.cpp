// SPDX-License-Identifier: MIT
#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "mapper/app/log.h"
#include "mapper/app/snapshot.h"
#include "tools/examples/lb/lb.h"
#include "tools/examples/lb/probe.h"

namespace amap::lb {
namespace {

/// What the last probe round of one service found: its healthy front-ends, least loaded
/// first (ties in config order).
struct ServiceState {
  struct Up {
    std::uint32_t backend;  // index in ServiceConfig::backends
    double load;
  };
  std::vector<Up> up;
};

/// What the handlers read: one immutable value for all services, replaced whole by the probe
/// tasks (Snapshot), so a query never takes a lock.
struct State {
  std::vector<ServiceState> services;
};

struct Balancer {
  explicit Balancer(Config c) : config(std::move(c)), was_healthy(config.services.size()) {
    for (std::size_t i = 0; i < config.services.size(); ++i) {
      was_healthy[i].assign(config.services[i].backends.size(), -1);
    }
    auto empty = std::make_shared<State>();
    empty->services.resize(config.services.size());
    state.publish(std::move(empty));
  }

  /// One probe round of service `i` (its background task), then a new State.
  void probe(std::size_t i, const std::stop_token& stop) {
    const ServiceConfig& svc = config.services[i];
    const std::vector<ProbeResult> results = probe_all(svc.backends, svc.probe, stop);
    if (stop.stop_requested()) {
      return;  // a cut-short round says nothing about the front-ends
    }
    ServiceState next;
    for (std::size_t b = 0; b < results.size(); ++b) {
      if (results[b].healthy) {
        next.up.push_back({static_cast<std::uint32_t>(b), results[b].load});
      }
    }
    std::stable_sort(
        next.up.begin(), next.up.end(),
        [](const ServiceState::Up& x, const ServiceState::Up& y) { return x.load < y.load; });
    std::lock_guard<std::mutex> lock(publish_mu);  // tasks of several services publish here
    for (std::size_t b = 0; b < results.size(); ++b) {
      const int now = results[b].healthy ? 1 : 0;
      if (was_healthy[i][b] != now) {
        const BackendConfig& be = svc.backends[b];
        log::info("probe " + svc.name.to_string() + ": " + be.address.to_string() + " port " +
                  std::to_string(be.port) + (now == 1 ? " up" : " down: " + results[b].why));
        was_healthy[i][b] = now;
      }
    }
    auto copy = std::make_shared<State>(*state.current());
    copy->services[i] = std::move(next);
    state.publish(std::move(copy));
  }

  const Config config;
  app::Snapshot<State> state;
  std::mutex publish_mu;
  std::vector<std::vector<int>> was_healthy;  // -1 unknown, 0 down, 1 up; under publish_mu
};

/// The query path: up to `count` addresses, front-ends whose region holds the client first,
/// least loaded first within each group. No allocation and no lock: it walks the snapshot's
/// sorted list at most twice and writes into the answer's preallocated storage.
/// Every front-end down and no fallback configured: SERVFAIL (Outcome::error), so resolvers
/// retry later rather than cache an empty answer (the probe logs the down transitions).
app::Outcome answer(const ServiceConfig& svc, const ServiceState& st, const dns::IpAddress& client,
                    app::Answer& ans) noexcept {
  if (st.up.empty()) {
    if (svc.fallback.empty()) {
      return app::Outcome::error;
    }
    for (const dns::IpAddress& a : svc.fallback) {
      ans.address(a, svc.ttl);
    }
    return app::Outcome::hit;
  }
  auto near = [&](const ServiceState::Up& u) {
    for (const dns::Prefix& p : svc.backends[u.backend].regions) {
      if (p.contains(client)) {
        return true;
      }
    }
    return false;
  };
  std::uint32_t n = 0;
  for (int pass = 0; pass < 2 && n < svc.count; ++pass) {
    for (const ServiceState::Up& u : st.up) {
      if (n == svc.count) {
        break;
      }
      if (near(u) == (pass == 0)) {
        ans.address(svc.backends[u.backend].address, svc.ttl);
        ++n;
      }
    }
  }
  return app::Outcome::hit;
}

}  // namespace

app::App make_app(Config config) {
  auto lb = std::make_shared<Balancer>(std::move(config));
  app::App app;
  app.zone(lb->config.zone.to_string());
  // Each worker keeps its own view of the probe results: refreshed only after a probe round
  // published, with no lock and no allocation per query.
  const auto view_slot = app.slot<app::Snapshot<State>::View>();
  for (std::size_t i = 0; i < lb->config.services.size(); ++i) {
    const ServiceConfig& svc = lb->config.services[i];
    app.route(app::Match().name(svc.name.to_string()),
              [lb, i, view_slot](const app::Request& req, app::Answer& ans,
                                 app::Worker& worker) noexcept {
                const ServiceConfig& s = lb->config.services[i];
                if (req.qtype != s.type && req.qtype != dns::rrtype::ANY) {
                  return app::Outcome::nodata;  // the name exists for every type
                }
                const State* state = worker.get(view_slot).get(lb->state);
                return answer(s, state->services[i], req.client_address(), ans);
              });
    app.every(
        svc.probe.interval, [lb, i](const std::stop_token& stop) { lb->probe(i, stop); },
        "probe " + svc.name.to_string());
  }
  return app;
}

}  // namespace amap::lb
