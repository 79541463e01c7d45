// SPDX-License-Identifier: MIT
#pragma once
// Background tasks of an app: work that keeps its state fresh (health probes, polling a
// source) and runs off the DNS workers. An app registers them with App::every(); the
// front-end runner (amap::run, for the pipe and the standalone server) starts a
// BackgroundRunner before it serves and destroys it when serving ends (SIGTERM, end of input).
//
//   app.every(std::chrono::seconds(2), [state](std::stop_token stop) { state->probe(stop); });
//
// Each task gets a thread of its own: its first run starts at once, the next one `interval`
// after the previous run began (or at once when a run took longer). A task that throws is
// logged and runs again at its next time. Stopping asks every task to stop (its stop_token),
// wakes the waiting ones and waits a bounded time for them; a task still running then is left
// to finish on its own (the process is ending) and reported.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

namespace amap::app {

struct BackgroundTask {
  std::string name;  // for the log
  std::chrono::milliseconds interval{1000};
  /// Long runs should look at the token and return early once stop is requested.
  std::function<void(std::stop_token)> run;
};

class BackgroundRunner {
 public:
  /// Starts one thread per task; each runs its task at once.
  explicit BackgroundRunner(const std::vector<BackgroundTask>& tasks,
                            std::chrono::milliseconds join_timeout = std::chrono::seconds(5));
  BackgroundRunner(const BackgroundRunner&) = delete;
  BackgroundRunner& operator=(const BackgroundRunner&) = delete;
  /// stop().
  ~BackgroundRunner();

  /// Asks every task to stop and waits at most the join timeout for all of them in total.
  /// Returns true when every thread ended (false: some were detached, and logged). Idempotent.
  bool stop() noexcept;

  /// Waits until every task has finished its first run, at most `timeout`. True if all did.
  bool wait_first_runs(std::chrono::milliseconds timeout) const;

  /// Completed runs of task `i` (in registration order).
  std::uint64_t runs(std::size_t i) const noexcept;
  std::size_t size() const noexcept { return workers_.size(); }

 private:
  struct Worker;
  std::vector<std::shared_ptr<Worker>> workers_;
  std::chrono::milliseconds join_timeout_;
  bool stopped_ = false;
};

}  // namespace amap::app
