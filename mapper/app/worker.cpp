// SPDX-License-Identifier: MIT
#include "mapper/app/worker.h"

#include "mapper/app/app.h"

namespace amap::app {

Worker::Worker(const App& app, std::size_t max_records, std::size_t arena_bytes)
    : app_(app), answer_(max_records, arena_bytes) {
  slots_.reserve(app.slots_.size());
  try {
    for (const App::SlotSpec& s : app.slots_) {
      slots_.push_back(s.make());
    }
  } catch (...) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      app.slots_[i].destroy(slots_[i]);
    }
    throw;
  }
}

Worker::~Worker() {
  if (batch_depth_ != 0) {
    batch_depth_ = 1;
    end_batch();
  }
  for (std::size_t i = slots_.size(); i-- > 0;) {
    app_.slots_[i].destroy(slots_[i]);
  }
}

void Worker::begin_batch() noexcept {
  if (batch_depth_++ != 0) {
    return;
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (auto* hook = app_.slots_[i].begin_batch) {
      hook(slots_[i]);
    }
  }
}

void Worker::end_batch() noexcept {
  if (batch_depth_ == 0 || --batch_depth_ != 0) {
    return;
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (auto* hook = app_.slots_[i].end_batch) {
      hook(slots_[i]);
    }
  }
}

}  // namespace amap::app
