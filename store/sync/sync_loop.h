// SPDX-License-Identifier: MIT
#pragma once
// automapd's sync loop (store.sync.etcd): one thread that keeps the local LMDB store equal to
// what etcd holds under the prefix (store/sync/README.md, "Nodes"):
//   - meta sync_revision 0 (a new or deleted store), or etcd compacted past it: a paged range
//     read at one revision, written in one ReplicaTxn(full) (readers see the old content until
//     it commits);
//   - then a watch from that revision + 1, each message's events in one ReplicaTxn;
//   - a broken stream or an unreachable cluster: retry on the next member (backoff up to 1 s),
//     resuming from the stored revision, while the servers keep answering from the store.
// Never on a DNS worker; the servers see each commit at their next query.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/environment.h"
#include "store/sync/etcd_client.h"

namespace amap::store::sync {

struct SyncOptions {
  EtcdOptions etcd;
  std::string prefix = "/automap/";
  std::chrono::seconds max_staleness{60};
  /// Keys per range request of a full load. etcd 3.4 walks every key from the page start to
  /// the range end for each request (its count), so a page costs O(keys left): large pages.
  std::size_t page = 10000;
  /// Log lines (error: true for failures). Called on the sync thread.
  std::function<void(bool error, const std::string&)> log;
};

/// What /metrics and /health report.
struct SyncStatus {
  bool connected = false;      // a watch is streaming: the store is current
  std::uint64_t revision = 0;  // the etcd revision the store holds
  double staleness_s = 0;      // 0 while connected; else since the last moment it was current
  bool degraded = false;       // staleness past max_staleness
  std::uint64_t full_loads = 0;
  std::uint64_t batches = 0;     // watch messages applied
  std::uint64_t errors = 0;      // failed connections, broken streams, failed writes
  std::uint64_t bad_values = 0;  // etcd values that did not decode (skipped)
  std::uint64_t no_leader = 0;   // members passed over for a watch: no leader (cut off)
  std::string endpoint;          // the member streaming
  std::string last_error;
};

class SyncLoop {
 public:
  /// Starts the thread on the store `options` name (opened read-write). Throws
  /// std::runtime_error when the TLS files do not load.
  SyncLoop(const StoreOptions& store, SyncOptions options);
  /// Stops and joins (within ~100 ms).
  ~SyncLoop();
  SyncLoop(const SyncLoop&) = delete;
  SyncLoop& operator=(const SyncLoop&) = delete;

  SyncStatus status() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace amap::store::sync
