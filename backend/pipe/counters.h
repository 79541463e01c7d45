// SPDX-License-Identifier: MIT
#pragma once
// Line counters of the pipe coprocesses, for a /metrics that lives in another process.
//
// PowerDNS starts one `automapd pipe` per backend thread; none of them serves HTTP. With
// `pipe: { counters_dir: DIR }` each one keeps its counters in a small file of its own,
// DIR/pipe-<pid>.counters, mapped shared: counting a line is a relaxed store into the
// mapping (no syscall, no allocation, no lock). The process that serves /metrics
// (`automapd serve` or `sync`) sums the files of live processes with sum_counter_files() and
// removes those of dead ones.
//
//   auto file = amap::pipe::CounterFile::create("/run/automap/pipe");  // throws on failure
//   options.lines = &file->lines();                                   // the Session counts
//   ...
//   amap::pipe::CounterTotals t = amap::pipe::sum_counter_files("/run/automap/pipe");
//
// The file (native byte order; only read on the same host):
//
//   offset 0   magic "AMAPPIPE" (8 bytes)
//          8   version (u32) = kCounterFileVersion      12  verb count (u32) = kVerbCount
//         16   pid (u64)                                24  process start time (u64): field 22
//                                                           of /proc/<pid>/stat, clock ticks
//                                                           since boot, so a reused pid is told
//                                                           apart
//         32   one u64 per verb, in Verb order, updated with relaxed atomic stores
//
// It is written under a temporary name (.pipe-<pid>.tmp) and renamed into place, so a reader
// never sees a half-written header, and removed when the coprocess ends cleanly.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace amap::pipe {

/// What a line is counted as: its verb when it was accepted, `bad` when it was answered
/// LOG + FAIL (malformed, unknown tag, before HELO, oversized, CMD below ABI 5).
enum class Verb : std::uint8_t { helo, q, axfr, cmd, bad };
inline constexpr std::size_t kVerbCount = 5;
/// The label values, in Verb order: the tags of the protocol, and "bad".
inline constexpr std::array<std::string_view, kVerbCount> kVerbNames = {"HELO", "Q", "AXFR", "CMD",
                                                                        "bad"};
inline constexpr std::uint32_t kCounterFileVersion = 1;

/// One coprocess's counts. Written by the session thread only; read by others (through the
/// file) with atomic loads.
struct alignas(8) LineCounts {
  std::array<std::uint64_t, kVerbCount> lines{};
  /// Adds one line: a relaxed load and store (one writer), no locked instruction.
  void add(Verb v) noexcept;
  std::uint64_t get(Verb v) const noexcept;
};

/// This process's counter file, mapped shared. Removed (unlinked) by the destructor.
class CounterFile {
 public:
  /// Creates DIR/pipe-<pid>.counters with the header and zero counts. Throws
  /// std::runtime_error naming the path and the reason (a missing or read-only directory).
  static std::unique_ptr<CounterFile> create(const std::string& dir);
  ~CounterFile();
  CounterFile(const CounterFile&) = delete;
  CounterFile& operator=(const CounterFile&) = delete;

  LineCounts& lines() noexcept { return *lines_; }
  const std::string& path() const noexcept { return path_; }

 private:
  CounterFile(std::string path, void* map) noexcept;
  std::string path_;
  void* map_;
  LineCounts* lines_;
};

/// The sum over the live coprocesses' files.
struct CounterTotals {
  std::uint64_t processes = 0;  // files of live processes summed
  std::array<std::uint64_t, kVerbCount> lines{};
  std::uint64_t pruned = 0;  // files of dead processes removed by this call
};

/// Sums DIR's counter files whose process is alive with the start time the file records, and
/// removes those whose process is gone (or whose pid now belongs to another process); files
/// that are not ours are left alone. A missing directory sums to zero.
CounterTotals sum_counter_files(const std::string& dir) noexcept;

/// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); 0 when the process
/// does not exist, has ended (a zombie) or the file cannot be read. pid 0: this process.
std::uint64_t process_start_time(long pid = 0) noexcept;

}  // namespace amap::pipe
