// SPDX-License-Identifier: MIT
#include "store/bus_guard.h"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>

namespace amap::store {
namespace {

// A process maps few stores (one per OverrideDb, plus a replacement while it is reopened).
constexpr int kSlots = 16;
constexpr std::size_t kPathBytes = 512;

// A slot is free when `owner` is 0. The owner claims it with a CAS, writes the path, then
// publishes the range with a release store of `end`; the handler reads `end` first
// (acquire), so it never sees a range without its path.
struct Slot {
  std::atomic<int> owner{0};
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
  char path[kPathBytes]{};
};

std::array<Slot, kSlots> slots;
std::atomic<const char*> program_name{"automap"};
std::atomic<bool> installed{false};
struct sigaction previous {};

void put(const char* s) noexcept {
  const std::size_t n = std::strlen(s);
  // Best effort: nothing else can be done about a failed write in a fatal signal handler.
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, s, n);
}

void on_bus(int sig, siginfo_t* info, void* context) {
  const auto at = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (Slot& slot : slots) {
    const std::uintptr_t end = slot.end.load(std::memory_order_acquire);
    if (end != 0 && at >= slot.begin.load(std::memory_order_relaxed) && at < end) {
      put(program_name.load(std::memory_order_relaxed));
      put(": fatal: the store file ");
      put(slot.path);
      put(" shrank under the running process (truncated in place, or copied over instead of "
          "replaced by a rename): a page it still maps is gone (SIGBUS). Restore the store "
          "from a backup or rebuild it (mapctl import / the etcd sync); replace a store with "
          "a rename, never by writing into the live file\n");
      ::_exit(kBusGuardExitCode);
    }
  }
  // Not a store's map: what would have happened without the guard.
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN &&
      previous.sa_handler != nullptr) {
    previous.sa_handler(sig);
    return;
  }
  // Default action: restore it and return; the faulting access runs again and dumps core.
  ::signal(SIGBUS, SIG_DFL);
}

}  // namespace

void install_bus_guard(const char* program) noexcept {
  program_name.store(program, std::memory_order_relaxed);
  if (installed.exchange(true)) {
    return;
  }
  struct sigaction action {};
  action.sa_sigaction = on_bus;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &previous);
}

int register_store_map(std::uintptr_t begin, std::uintptr_t end, const char* data_file) noexcept {
  for (int i = 0; i < kSlots; ++i) {
    Slot& slot = slots[static_cast<std::size_t>(i)];
    int free = 0;
    if (slot.owner.compare_exchange_strong(free, 1, std::memory_order_acq_rel)) {
      std::strncpy(slot.path, data_file, kPathBytes - 1);
      slot.path[kPathBytes - 1] = '\0';
      slot.begin.store(begin, std::memory_order_relaxed);
      slot.end.store(end, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

void update_store_map(int slot, std::uintptr_t begin, std::uintptr_t end) noexcept {
  if (slot < 0 || slot >= kSlots) {
    return;
  }
  Slot& s = slots[static_cast<std::size_t>(slot)];
  s.end.store(0, std::memory_order_release);
  s.begin.store(begin, std::memory_order_relaxed);
  s.end.store(end, std::memory_order_release);
}

void unregister_store_map(int slot) noexcept {
  if (slot < 0 || slot >= kSlots) {
    return;
  }
  Slot& s = slots[static_cast<std::size_t>(slot)];
  s.end.store(0, std::memory_order_release);
  s.begin.store(0, std::memory_order_relaxed);
  s.owner.store(0, std::memory_order_release);
}

}  // namespace amap::store
