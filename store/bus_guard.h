// SPDX-License-Identifier: MIT
#pragma once
// A store file shrunk under a running process: a clear fatal line instead of a bare SIGBUS.
//
// LMDB reads data.mdb through a shared memory map. When the file is truncated in place while
// it is mapped (`truncate -s`, `: > data.mdb`, a copy over it with `cp` instead of a rename),
// the next read of a page past the new end raises SIGBUS: the kernel has no page to give.
// LMDB documents this; no read can be made safe against it. What the process can do is name
// the cause: the guard's handler checks whether the faulting address lies inside the map of
// a store this process opened and, if so, writes "PROGRAM: fatal: the store file DIR/data.mdb
// shrank under the running process ..." to stderr and exits with kBusGuardExitCode (a service
// manager restarts it, and the restart's open check refuses the damaged file by name). Any
// other SIGBUS goes to the handler that was there before (the default: a core dump).

#include <cstdint>

namespace amap::store {

/// EX_IOERR of sysexits.h: an I/O error on a file.
inline constexpr int kBusGuardExitCode = 74;

/// Installs the SIGBUS handler once per process (later calls change only the program name).
/// `program` must outlive the process (a string literal). Idempotent and thread-safe.
void install_bus_guard(const char* program) noexcept;

/// The mapped ranges the handler knows, written by Env (store/lmdb.cpp) when it maps or
/// remaps data.mdb and cleared when it closes. Lock-free: the handler reads them from any
/// thread. Returns a slot, or -1 when all slots are taken (the fault then stays a SIGBUS).
int register_store_map(std::uintptr_t begin, std::uintptr_t end, const char* data_file) noexcept;
void update_store_map(int slot, std::uintptr_t begin, std::uintptr_t end) noexcept;
void unregister_store_map(int slot) noexcept;

}  // namespace amap::store
