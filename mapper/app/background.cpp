// SPDX-License-Identifier: MIT
#include "mapper/app/background.h"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "mapper/app/log.h"

namespace amap::app {

// Shared by the runner and the task's thread, so a thread left running after a timed-out
// stop still owns everything it touches.
struct BackgroundRunner::Worker {
  explicit Worker(BackgroundTask t) : task(std::move(t)) {}

  BackgroundTask task;
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  bool stopping = false;   // guarded by mu
  bool done = false;       // guarded by mu
  std::uint64_t runs = 0;  // guarded by mu
  std::stop_source stop;
  std::thread thread;

  void loop() {
    using clock = std::chrono::steady_clock;
    const auto interval = task.interval.count() > 0 ? task.interval : std::chrono::milliseconds(1);
    for (;;) {
      const auto started = clock::now();
      try {
        task.run(stop.get_token());
      } catch (const std::exception& e) {
        log::error("background task " + task.name + " failed: " + e.what());
      } catch (...) {
        log::error("background task " + task.name + " failed: unknown exception");
      }
      std::unique_lock<std::mutex> lock(mu);
      ++runs;
      cv.notify_all();
      if (cv.wait_until(lock, started + interval, [this] { return stopping; })) {
        break;
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  }
};

BackgroundRunner::BackgroundRunner(const std::vector<BackgroundTask>& tasks,
                                   std::chrono::milliseconds join_timeout)
    : join_timeout_(join_timeout) {
  workers_.reserve(tasks.size());
  try {
    for (const BackgroundTask& t : tasks) {
      auto w = std::make_shared<Worker>(t);
      w->thread = std::thread([w] { w->loop(); });
      workers_.push_back(std::move(w));
    }
  } catch (...) {
    stop();
    throw;
  }
}

BackgroundRunner::~BackgroundRunner() {
  stop();
}

bool BackgroundRunner::stop() noexcept {
  if (stopped_) {
    return true;
  }
  stopped_ = true;
  for (const auto& w : workers_) {
    {
      std::lock_guard<std::mutex> lock(w->mu);
      w->stopping = true;
    }
    w->stop.request_stop();
    w->cv.notify_all();
  }
  const auto deadline = std::chrono::steady_clock::now() + join_timeout_;
  bool all = true;
  for (const auto& w : workers_) {
    bool done = false;
    {
      std::unique_lock<std::mutex> lock(w->mu);
      done = w->cv.wait_until(lock, deadline, [&] { return w->done; });
    }
    if (done) {
      w->thread.join();  // it only returns from loop() now
    } else {
      all = false;
      log::warning("background task " + w->task.name + " did not stop within " +
                   std::to_string(join_timeout_.count()) + " ms; left running");
      w->thread.detach();  // it holds its Worker: nothing it uses goes away
    }
  }
  return all;
}

bool BackgroundRunner::wait_first_runs(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& w : workers_) {
    std::unique_lock<std::mutex> lock(w->mu);
    if (!w->cv.wait_until(lock, deadline, [&] { return w->runs > 0 || w->done; })) {
      return false;
    }
  }
  return true;
}

std::uint64_t BackgroundRunner::runs(std::size_t i) const noexcept {
  std::lock_guard<std::mutex> lock(workers_[i]->mu);
  return workers_[i]->runs;
}

}  // namespace amap::app
