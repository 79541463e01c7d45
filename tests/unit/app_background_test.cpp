// SPDX-License-Identifier: MIT
// BackgroundRunner and App::every: first run at once, the interval, a throwing task, a
// clean stop that wakes waiting tasks, and the bounded stop of a task that ignores its token.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "mapper/app/app.h"
#include "mapper/app/background.h"
#include "mapper/app/snapshot.h"

namespace {

using namespace std::chrono_literals;
using amap::app::App;
using amap::app::BackgroundRunner;

TEST(Background, FirstRunAtOnceThenEveryInterval) {
  auto count = std::make_shared<std::atomic<int>>(0);
  App app;
  app.every(200ms, [count] { count->fetch_add(1); });
  ASSERT_EQ(app.background_tasks().size(), 1U);
  const auto t0 = std::chrono::steady_clock::now();
  BackgroundRunner runner(app.background_tasks());
  ASSERT_TRUE(runner.wait_first_runs(2s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 150ms);  // not after one interval
  std::this_thread::sleep_for(700ms);
  const int n = count->load();
  EXPECT_GE(n, 3);  // 1 + 700 ms / 200 ms, with slack for a loaded machine
  EXPECT_LE(n, 6);  // and not a busy loop
  EXPECT_TRUE(runner.stop());
  const int after = count->load();
  std::this_thread::sleep_for(250ms);
  EXPECT_EQ(count->load(), after);  // stopped means stopped
}

TEST(Background, StopWakesAWaitingTaskAtOnce) {
  App app;
  app.every(std::chrono::hours(1), [] {});
  BackgroundRunner runner(app.background_tasks());
  ASSERT_TRUE(runner.wait_first_runs(2s));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(runner.stop());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST(Background, AThrowingTaskRunsAgain) {
  auto count = std::make_shared<std::atomic<int>>(0);
  App app;
  app.every(20ms, [count] {
    count->fetch_add(1);
    throw std::runtime_error("probe failed");
  });
  BackgroundRunner runner(app.background_tasks());
  for (int i = 0; i < 200 && count->load() < 3; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GE(count->load(), 3);
  EXPECT_GE(runner.runs(0), 2U);
}

TEST(Background, TheStopTokenEndsALongRun) {
  App app;
  app.every(10ms, [](const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      std::this_thread::sleep_for(1ms);
    }
  });
  BackgroundRunner runner(app.background_tasks(), 2s);
  std::this_thread::sleep_for(30ms);
  EXPECT_TRUE(runner.stop());
}

TEST(Background, StopIsBoundedForATaskThatIgnoresIt) {
  auto release = std::make_shared<std::atomic<bool>>(false);
  App app;
  app.every(10ms, [release] {
    while (!release->load()) {
      std::this_thread::sleep_for(1ms);
    }
  });
  auto runner = std::make_unique<BackgroundRunner>(app.background_tasks(), 100ms);
  std::this_thread::sleep_for(20ms);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(runner->stop());  // detached, reported
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  runner.reset();
  release->store(true);  // the detached thread still owns its task: it ends cleanly
  std::this_thread::sleep_for(50ms);
}

TEST(Background, EveryRejectsANonPositiveInterval) {
  App app;
  EXPECT_THROW(app.every(0ms, [] {}), std::invalid_argument);
}

TEST(Background, TaskFeedsHandlersThroughASnapshot) {
  auto state = std::make_shared<amap::app::Snapshot<int>>();
  auto n = std::make_shared<std::atomic<int>>(0);
  App app;
  app.every(10ms, [state, n] { state->emplace(n->fetch_add(1) + 1); });
  BackgroundRunner runner(app.background_tasks());
  ASSERT_TRUE(runner.wait_first_runs(2s));
  amap::app::Snapshot<int>::View view;
  const int* first = view.get(*state);
  ASSERT_NE(first, nullptr);
  const int seen = *first;
  for (int i = 0; i < 200 && *view.get(*state) == seen; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GT(*view.get(*state), seen);
}

}  // namespace
