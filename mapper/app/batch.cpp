// SPDX-License-Identifier: MIT
#include "mapper/app/batch.h"

#include <array>
#include <cstddef>

namespace amap::app {

namespace {

struct BatchState {
  static constexpr std::size_t kMaxHooks = 8;
  unsigned depth = 0;
  std::array<void (*)(), kMaxHooks> hooks{};
  std::size_t hook_count = 0;
};

thread_local BatchState t_batch;

}  // namespace

Batch::Batch() noexcept {
  ++t_batch.depth;
}

Batch::~Batch() {
  BatchState& b = t_batch;
  if (--b.depth != 0) {
    return;
  }
  // A hook may start another batch of its own; take the list first.
  const std::size_t n = b.hook_count;
  const auto hooks = b.hooks;
  b.hook_count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    hooks[i]();
  }
}

bool in_batch() noexcept {
  return t_batch.depth != 0;
}

bool at_batch_end(void (*hook)()) noexcept {
  BatchState& b = t_batch;
  if (b.depth == 0) {
    return false;
  }
  for (std::size_t i = 0; i < b.hook_count; ++i) {
    if (b.hooks[i] == hook) {
      return true;
    }
  }
  if (b.hook_count == b.hooks.size()) {
    return false;
  }
  b.hooks[b.hook_count++] = hook;
  return true;
}

}  // namespace amap::app
