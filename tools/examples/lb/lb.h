// SPDX-License-Identifier: MIT
#pragma once
// The lb example as a function, so tests can run it in-process: a DNS load balancer that
// answers each configured service name with the addresses of its N least-loaded healthy
// front-ends (README.md beside this file).

#include "mapper/app/app.h"
#include "tools/examples/lb/config.h"

namespace amap::lb {

/// The app: the zone, one route per service, and one background probe task per service
/// (App::every). Until a service's first probe round has ended its front-ends count as down.
app::App make_app(Config config);

}  // namespace amap::lb
