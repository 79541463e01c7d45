// SPDX-License-Identifier: MIT
#pragma once
// Batches: queries a front-end received together (one recvmmsg call of a UDP worker) and
// answers before it waits again.
//
//   {
//     amap::app::Batch batch;          // this thread starts a batch
//     for (each datagram) wire::handle(app, ...);
//   }                                  // outermost Batch ends: end-of-batch hooks run
//
// Inside a batch, per-thread state that is costly to take per query may be kept from one
// query to the next and released when the batch ends: the mapper keeps one LMDB read
// transaction (one snapshot of the override store) for the whole batch instead of opening
// one per query. Everything in a batch is answered from the same snapshot; a change
// committed meanwhile is seen by the next batch. Outside a batch (TCP, the pipe backend,
// tests) nothing is kept between queries.
//
// No allocation, lock or exception: a thread-local depth and a fixed array of hooks.

namespace amap::app {

class Batch {
 public:
  Batch() noexcept;
  ~Batch();
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
};

/// True while this thread is inside a Batch.
bool in_batch() noexcept;

/// Runs `hook` on this thread when its outermost Batch ends; once per batch however often it
/// is registered. Returns false (and does not register) outside a batch or when the thread's
/// fixed table of hooks is full; the caller must then release its state itself.
bool at_batch_end(void (*hook)()) noexcept;

}  // namespace amap::app
