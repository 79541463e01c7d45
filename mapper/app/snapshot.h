// SPDX-License-Identifier: MIT
#pragma once
// Snapshot<T> for apps: an immutable T published by a writer (a background task, a reload)
// and read by handlers without a lock through a per-thread View. The implementation lives
// in mapper/sync/snapshot.h, which the store uses too.
//
//   app::Snapshot<Table> table;                  // shared by the writer and the readers
//   table.publish(std::make_shared<const Table>(...));        // background thread
//   const Table* t = view.get(table);            // per query (a Snapshot<Table>::View)

#include "mapper/sync/snapshot.h"

namespace amap::app {

template <class T>
using Snapshot = sync::Snapshot<const T>;

}  // namespace amap::app
