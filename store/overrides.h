// SPDX-License-Identifier: MIT
#pragma once
// Operator overrides kept in LMDB: a single address -> PTR name (or "none" = NXDOMAIN), or a
// prefix -> hostname template (or "none"), each with an optional TTL. The umbrella header of
// the store's API (store/README.md says which file holds what):
//
//   OverrideStore   read-write, used by mapctl / the control socket. Throws StoreError.
//                   store/writer.h
//   OverrideReader  read-only, one per worker thread; begin() / find_*() / end() per query.
//                   Lookups are noexcept and do not allocate. store/reader.h
//   OverrideDb      the environment plus database handles, opened once per process and shared
//                   by the store and all readers of that process. store/environment.h

#include "store/codec.h"        // IWYU pragma: export
#include "store/environment.h"  // IWYU pragma: export
#include "store/reader.h"       // IWYU pragma: export
#include "store/remap_gate.h"   // IWYU pragma: export
#include "store/validate.h"     // IWYU pragma: export
#include "store/write_rules.h"  // IWYU pragma: export
#include "store/writer.h"       // IWYU pragma: export
