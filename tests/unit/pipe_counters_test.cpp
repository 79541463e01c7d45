// SPDX-License-Identifier: MIT
// The pipe coprocesses' counter files (backend/pipe/counters.h): made, summed, pruned.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "backend/pipe/counters.h"

namespace amap::pipe {
namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "amap-pipe-XXXXXX").string();
    path = ::mkdtemp(templ.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string str() const { return path.string(); }
};

/// The pid of a process that has ended (a forked child, reaped).
long dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) {
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

/// A counter file written as `pid` with `start_time` and `q` Q lines.
void write_file(const std::filesystem::path& p, long pid, std::uint64_t start_time,
                std::uint64_t q) {
  char buf[32 + 8 * kVerbCount] = {};
  constexpr char kMagic[8] = {'A', 'M', 'A', 'P', 'P', 'I', 'P', 'E'};
  std::memcpy(buf, kMagic, sizeof kMagic);
  const std::uint32_t version = kCounterFileVersion;
  const auto verbs = static_cast<std::uint32_t>(kVerbCount);
  const auto upid = static_cast<std::uint64_t>(pid);
  std::memcpy(buf + 8, &version, 4);
  std::memcpy(buf + 12, &verbs, 4);
  std::memcpy(buf + 16, &upid, 8);
  std::memcpy(buf + 24, &start_time, 8);
  std::memcpy(buf + 32 + 8, &q, 8);  // Verb::q
  std::ofstream(p, std::ios::binary).write(buf, sizeof buf);
}

TEST(pipe_counters, StartTimeOfThisProcess) {
  const std::uint64_t self = process_start_time();
  EXPECT_NE(self, 0U);
  EXPECT_EQ(process_start_time(::getpid()), self);
  EXPECT_EQ(process_start_time(dead_pid()), 0U);
}

TEST(pipe_counters, LiveFileIsSummedAndRemovedAtTheEnd) {
  TempDir dir;
  {
    auto file = CounterFile::create(dir.str());
    EXPECT_EQ(file->path(), dir.str() + "/pipe-" + std::to_string(::getpid()) + ".counters");
    file->lines().add(Verb::q);
    file->lines().add(Verb::q);
    file->lines().add(Verb::bad);
    const CounterTotals t = sum_counter_files(dir.str());
    EXPECT_EQ(t.processes, 1U);
    EXPECT_EQ(t.lines[static_cast<std::size_t>(Verb::q)], 2U);
    EXPECT_EQ(t.lines[static_cast<std::size_t>(Verb::bad)], 1U);
    EXPECT_EQ(t.pruned, 0U);
    EXPECT_FALSE(
        std::filesystem::exists(dir.path / (".pipe-" + std::to_string(::getpid()) + ".tmp")));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path));
}

TEST(pipe_counters, DeadAndReusedPidsArePrunedNotSummed) {
  TempDir dir;
  const long dead = dead_pid();
  write_file(dir.path / ("pipe-" + std::to_string(dead) + ".counters"), dead, 12345, 1000);
  // Our pid, another start time: the pid was reused.
  write_file(dir.path / ("pipe-" + std::to_string(::getpid()) + ".counters"), ::getpid(),
             process_start_time() + 1, 1000);
  write_file(dir.path / (".pipe-" + std::to_string(dead) + ".tmp"), dead, 12345, 1000);
  std::ofstream(dir.path / "README") << "not ours\n";
  std::ofstream(dir.path / "pipe-1.counters") << "short\n";  // pid 1 lives: not ours, kept
  const CounterTotals t = sum_counter_files(dir.str());
  EXPECT_EQ(t.processes, 0U);
  EXPECT_EQ(t.lines[static_cast<std::size_t>(Verb::q)], 0U);
  EXPECT_EQ(t.pruned, 3U);
  EXPECT_TRUE(std::filesystem::exists(dir.path / "README"));
  EXPECT_TRUE(std::filesystem::exists(dir.path / "pipe-1.counters"));
  EXPECT_EQ(sum_counter_files(dir.str() + "/missing").processes, 0U);
}

TEST(pipe_counters, MissingDirectoryIsAClearError) {
  try {
    CounterFile::create("/nonexistent/automap");
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create /nonexistent/automap/.pipe-"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace amap::pipe
