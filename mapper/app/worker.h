// SPDX-License-Identifier: MIT
#pragma once
// The worker context: what one front-end thread keeps for one App, passed explicitly to
// every query (wire::handle(worker, ...), pipe::Session(worker), App::resolve(worker, ...)).
//
//   amap::app::App app;
//   const auto key = app.slot<Counter>();          // at build time: a typed slot
//   app.route(Match(), [key](const Request&, Answer&, Worker& w) noexcept {
//     ++w.get(key).hits;                           // no lookup, no allocation
//     return Outcome::miss;
//   });
//   amap::app::Worker worker(app);                 // per thread: every slot made once
//   worker.begin_batch();                          // UDP: one recvmmsg batch
//   ... app.resolve(worker, req, worker.answer()) ...
//   worker.end_batch();                            // slots release what they kept
//
// A slot's type may have `void begin_batch() noexcept` and `void end_batch() noexcept`; the
// worker calls them on every slot. Inside a batch a slot may keep costly state from one query
// to the next (the mapper keeps one LMDB read transaction, so a batch is answered from one
// snapshot of the override store); outside a batch (TCP, the pipe, tests) nothing is kept
// between queries.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mapper/app/answer.h"

namespace amap::app {

class App;
class Worker;

/// A typed key to a per-worker slot, returned by App::slot<T>() when the app is built.
template <class T>
class Slot {
 public:
  Slot() = default;
  std::uint32_t index() const noexcept { return index_; }

 private:
  friend class App;
  explicit Slot(std::uint32_t index) noexcept : index_(index) {}
  std::uint32_t index_ = ~0U;
};

class Worker {
 public:
  /// Makes every slot the app reserved (this allocates; queries then do not). The app must
  /// outlive the worker and gets no new slots after it.
  explicit Worker(const App& app, std::size_t max_records = Answer::kDefaultMaxRecords,
                  std::size_t arena_bytes = Answer::kDefaultArenaBytes);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  const App& app() const noexcept { return app_; }
  /// The answer storage of this worker, sized once and reused for every query.
  Answer& answer() noexcept { return answer_; }

  /// The state of `slot`: an index into an array, no lookup.
  template <class T>
  T& get(Slot<T> slot) noexcept {
    return *static_cast<T*>(slots_[slot.index()]);
  }

  /// Queries answered between begin_batch() and end_batch() arrived together (one recvmmsg):
  /// slots may keep state across them. Calls nest; the outermost pair counts.
  void begin_batch() noexcept;
  void end_batch() noexcept;
  bool in_batch() const noexcept { return batch_depth_ != 0; }

 private:
  const App& app_;
  Answer answer_;
  std::vector<void*> slots_;
  unsigned batch_depth_ = 0;
};

/// begin_batch() now, end_batch() at the end of the scope.
class BatchScope {
 public:
  explicit BatchScope(Worker& worker) noexcept : worker_(worker) { worker_.begin_batch(); }
  ~BatchScope() { worker_.end_batch(); }
  BatchScope(const BatchScope&) = delete;
  BatchScope& operator=(const BatchScope&) = delete;

 private:
  Worker& worker_;
};

}  // namespace amap::app
