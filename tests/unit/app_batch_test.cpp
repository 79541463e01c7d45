// SPDX-License-Identifier: MIT
// app::Batch: end-of-batch hooks run once, on the thread, when the outermost batch ends.
#include <gtest/gtest.h>

#include <thread>

#include "mapper/app/batch.h"

namespace amap::app {
namespace {

thread_local int t_first_runs = 0;
thread_local int t_second_runs = 0;
void first_hook() {
  ++t_first_runs;
}
void second_hook() {
  ++t_second_runs;
}

TEST(Batch, HooksRunOnceWhenTheOutermostBatchEnds) {
  t_first_runs = t_second_runs = 0;
  EXPECT_FALSE(in_batch());
  EXPECT_FALSE(at_batch_end(&first_hook));  // outside a batch: the caller cleans up itself
  {
    const Batch outer;
    EXPECT_TRUE(in_batch());
    EXPECT_TRUE(at_batch_end(&first_hook));
    {
      const Batch inner;
      EXPECT_TRUE(at_batch_end(&first_hook));  // the same hook again: still once
      EXPECT_TRUE(at_batch_end(&second_hook));
    }
    EXPECT_TRUE(in_batch());
    EXPECT_EQ(t_first_runs, 0);  // the inner batch ending runs nothing
  }
  EXPECT_FALSE(in_batch());
  EXPECT_EQ(t_first_runs, 1);
  EXPECT_EQ(t_second_runs, 1);
  {
    const Batch next;  // hooks do not carry over to the next batch
  }
  EXPECT_EQ(t_first_runs, 1);
}

TEST(Batch, IsPerThread) {
  const Batch mine;
  bool other_in_batch = true;
  bool other_registered = true;
  std::thread t([&] {
    other_in_batch = in_batch();
    other_registered = at_batch_end(&first_hook);
  });
  t.join();
  EXPECT_FALSE(other_in_batch);
  EXPECT_FALSE(other_registered);
  EXPECT_TRUE(in_batch());
}

void hook_0() {}
void hook_1() {}
void hook_2() {}
void hook_3() {}
void hook_4() {}
void hook_5() {}
void hook_6() {}
void hook_7() {}
void hook_8() {}

TEST(Batch, AFullHookTableRefusesInsteadOfAllocating) {
  const Batch b;
  for (void (*h)() : {hook_0, hook_1, hook_2, hook_3, hook_4, hook_5, hook_6, hook_7}) {
    EXPECT_TRUE(at_batch_end(h));
  }
  EXPECT_FALSE(at_batch_end(&hook_8));
  EXPECT_TRUE(at_batch_end(&hook_3));  // already there
}

}  // namespace
}  // namespace amap::app
