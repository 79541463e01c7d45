// SPDX-License-Identifier: MIT
#include "backend/pipe/counters.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace amap::pipe {
namespace {

constexpr char kMagic[8] = {'A', 'M', 'A', 'P', 'P', 'I', 'P', 'E'};
constexpr std::string_view kPrefix = "pipe-";
constexpr std::string_view kSuffix = ".counters";
constexpr std::string_view kTmpPrefix = ".pipe-";
constexpr std::string_view kTmpSuffix = ".tmp";

struct Header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t verbs;
  std::uint64_t pid;
  std::uint64_t start_time;
};
static_assert(sizeof(Header) == 32);

struct Layout {
  Header header;
  LineCounts counts;
};
constexpr std::size_t kFileSize = sizeof(Layout);
static_assert(kFileSize == 32 + 8 * kVerbCount);
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);

std::string errno_text() {
  return std::strerror(errno);
}

/// The pid in "<prefix><pid><suffix>", or 0.
long pid_in(std::string_view name, std::string_view prefix, std::string_view suffix) noexcept {
  if (name.size() <= prefix.size() + suffix.size() || name.substr(0, prefix.size()) != prefix ||
      name.substr(name.size() - suffix.size()) != suffix) {
    return 0;
  }
  const std::string_view digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  long pid = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  return ec == std::errc{} && ptr == digits.data() + digits.size() && pid > 0 ? pid : 0;
}

/// Adds the counts of the file at `path` if it is pid's and pid still runs with the start
/// time it records. Returns false when the file is stale (remove it), true otherwise (summed,
/// or not ours / unreadable: left alone).
bool add_file(const std::string& path, long pid, CounterTotals& t) noexcept {
  const std::uint64_t alive_since = process_start_time(pid);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return true;  // gone meanwhile, or not readable: nothing to sum
  }
  struct stat st {};
  void* map = MAP_FAILED;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<std::size_t>(st.st_size) == kFileSize) {
    map = ::mmap(nullptr, kFileSize, PROT_READ, MAP_SHARED, fd, 0);
  }
  ::close(fd);
  if (map == MAP_FAILED) {
    return true;  // not a counter file of this version
  }
  const auto* file = static_cast<const Layout*>(map);
  bool keep = true;
  if (std::memcmp(file->header.magic, kMagic, sizeof kMagic) == 0 &&
      file->header.version == kCounterFileVersion && file->header.verbs == kVerbCount &&
      file->header.pid == static_cast<std::uint64_t>(pid)) {
    if (alive_since != 0 && alive_since == file->header.start_time) {
      ++t.processes;
      for (std::size_t i = 0; i < kVerbCount; ++i) {
        t.lines[i] += file->counts.get(static_cast<Verb>(i));
      }
    } else {
      keep = false;  // the process is gone, or its pid belongs to another one now
    }
  }
  ::munmap(map, kFileSize);
  return keep;
}

}  // namespace

void LineCounts::add(Verb v) noexcept {
  std::atomic_ref<std::uint64_t> n(lines[static_cast<std::size_t>(v)]);
  n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

std::uint64_t LineCounts::get(Verb v) const noexcept {
  // atomic_ref needs a non-const object; the load does not write.
  std::atomic_ref<std::uint64_t> n(const_cast<std::uint64_t&>(lines[static_cast<std::size_t>(v)]));
  return n.load(std::memory_order_relaxed);
}

std::uint64_t process_start_time(long pid) noexcept {
  char path[64];
  if (pid == 0) {
    std::snprintf(path, sizeof path, "/proc/self/stat");
  } else {
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  }
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) {
    return 0;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so count from the last ')'.
  const std::string_view text(buf, static_cast<std::size_t>(n));
  const std::size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) {
    return 0;
  }
  std::string_view rest = text.substr(paren + 1);
  // A zombie (ended, not yet reaped) or dead process has ended: it counts no more.
  if (const std::size_t st = rest.find_first_not_of(' ');
      st == std::string_view::npos || rest[st] == 'Z' || rest[st] == 'X') {
    return 0;
  }
  // Field 3 (state) is the first after ')'; field 22 (starttime) the 20th.
  for (int field = 3; field <= 22; ++field) {
    const std::size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) {
      return 0;
    }
    rest.remove_prefix(start);
    const std::size_t end = std::min(rest.find(' '), rest.size());
    if (field == 22) {
      std::uint64_t v = 0;
      const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + end, v);
      return ec == std::errc{} && ptr == rest.data() + end ? v : 0;
    }
    rest.remove_prefix(end);
  }
  return 0;
}

CounterFile::CounterFile(std::string path, void* map) noexcept
    : path_(std::move(path)), map_(map), lines_(&static_cast<Layout*>(map)->counts) {}

CounterFile::~CounterFile() {
  ::unlink(path_.c_str());
  ::munmap(map_, kFileSize);
}

std::unique_ptr<CounterFile> CounterFile::create(const std::string& dir) {
  const long pid = ::getpid();
  const std::string tmp =
      dir + "/" + std::string(kTmpPrefix) + std::to_string(pid) + std::string(kTmpSuffix);
  const std::string path =
      dir + "/" + std::string(kPrefix) + std::to_string(pid) + std::string(kSuffix);
  const std::uint64_t started = process_start_time();
  if (started == 0) {
    throw std::runtime_error("pipe.counters_dir: cannot read /proc/self/stat");
  }
  // A leftover of an earlier process with this pid is ours to replace.
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    throw std::runtime_error("pipe.counters_dir: cannot create " + tmp + ": " + errno_text());
  }
  void* map = MAP_FAILED;
  if (::ftruncate(fd, static_cast<off_t>(kFileSize)) == 0) {
    map = ::mmap(nullptr, kFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  const std::string why = errno_text();
  ::close(fd);
  if (map == MAP_FAILED) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("pipe.counters_dir: cannot size or map " + tmp + ": " + why);
  }
  auto* file = static_cast<Layout*>(map);
  std::memcpy(file->header.magic, kMagic, sizeof kMagic);
  file->header.version = kCounterFileVersion;
  file->header.verbs = static_cast<std::uint32_t>(kVerbCount);
  file->header.pid = static_cast<std::uint64_t>(pid);
  file->header.start_time = started;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string rename_why = errno_text();
    ::unlink(tmp.c_str());
    ::munmap(map, kFileSize);
    throw std::runtime_error("pipe.counters_dir: cannot rename " + tmp + " to " + path + ": " +
                             rename_why);
  }
  return std::unique_ptr<CounterFile>(new CounterFile(path, map));
}

CounterTotals sum_counter_files(const std::string& dir) noexcept {
  CounterTotals t;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return t;
  }
  try {
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name(e->d_name);
      std::string path = dir + "/";
      path += name;
      if (const long pid = pid_in(name, kPrefix, kSuffix); pid != 0) {
        if (!add_file(path, pid, t) && ::unlink(path.c_str()) == 0) {
          ++t.pruned;
        }
      } else if (const long tmp_pid = pid_in(name, kTmpPrefix, kTmpSuffix);
                 tmp_pid != 0 && process_start_time(tmp_pid) == 0 && ::unlink(path.c_str()) == 0) {
        ++t.pruned;  // a creation cut short by a crash
      }
    }
  } catch (...) {
    // std::bad_alloc building a path: return what was summed so far.
  }
  ::closedir(d);
  return t;
}

}  // namespace amap::pipe
