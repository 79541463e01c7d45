// SPDX-License-Identifier: MIT
// Snapshot<T>: publish / View refresh semantics, and readers racing a publisher (run it under
// the tsan preset: the View must need no lock on the read path and see only whole values).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "mapper/app/snapshot.h"

namespace {

using amap::app::Snapshot;

struct Pair {
  int a;
  int b;  // always -a: a torn or freed value shows as a != -b
};

TEST(Snapshot, EmptyUntilPublished) {
  Snapshot<int> s;
  Snapshot<int>::View v;
  EXPECT_EQ(s.version(), 0U);
  EXPECT_EQ(v.get(s), nullptr);
  s.emplace(7);
  ASSERT_NE(v.get(s), nullptr);
  EXPECT_EQ(*v.get(s), 7);
  EXPECT_EQ(v.version(), s.version());
}

TEST(Snapshot, ViewRefreshesOnlyWhenTheVersionMoves) {
  Snapshot<int> s(std::make_shared<const int>(1));
  Snapshot<int>::View v;
  const int* first = v.get(s);
  EXPECT_EQ(*first, 1);
  EXPECT_EQ(v.get(s), first);  // same object, no refresh
  s.emplace(2);
  const int* second = v.get(s);
  EXPECT_NE(second, first);
  EXPECT_EQ(*second, 2);
}

TEST(Snapshot, ViewKeepsItsValueAliveUntilItRefreshes) {
  Snapshot<int> s(std::make_shared<const int>(1));
  Snapshot<int>::View v;
  std::weak_ptr<const int> old = s.current();
  v.get(s);
  s.emplace(2);
  EXPECT_FALSE(old.expired());  // the view still holds version 1
  v.get(s);
  EXPECT_TRUE(old.expired());
}

TEST(Snapshot, OneViewServesTwoSnapshots) {
  Snapshot<int> x(std::make_shared<const int>(10));
  Snapshot<int> y(std::make_shared<const int>(20));
  Snapshot<int>::View v;  // as a thread_local in a handler shared by two apps would be
  EXPECT_EQ(*v.get(x), 10);
  EXPECT_EQ(*v.get(y), 20);
  EXPECT_EQ(*v.get(x), 10);
  EXPECT_NE(x.version(), y.version());  // versions are process-wide
}

TEST(Snapshot, PublishNullClears) {
  Snapshot<int> s(std::make_shared<const int>(1));
  Snapshot<int>::View v;
  EXPECT_NE(v.get(s), nullptr);
  s.publish(nullptr);
  EXPECT_EQ(v.get(s), nullptr);
}

// sync::Snapshot of a non-const T: a shared object its readers use through a non-const handle
// (the store's OverrideDb); held() hands the reader the owning pointer, with the version of
// exactly that value.
TEST(Snapshot, NonConstSharedObjectAndHeldPointer) {
  amap::sync::Snapshot<int> s(std::make_shared<int>(1));
  amap::sync::Snapshot<int>::View v;
  int* p = v.get(s);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(v.held().get(), p);
  EXPECT_EQ(v.version(), s.version());
  *p = 5;  // the readers share one object
  EXPECT_EQ(*s.current(), 5);
  const std::shared_ptr<int> kept = v.held();
  s.publish(nullptr);
  EXPECT_EQ(v.get(s), nullptr);
  EXPECT_EQ(v.held(), nullptr);
  EXPECT_EQ(*kept, 5);  // an owner of the old value keeps it
  v.reset();
  EXPECT_EQ(v.version(), 0U);
}

TEST(Snapshot, ReadersRaceAPublisher) {
  Snapshot<Pair> s(std::make_shared<const Pair>(Pair{0, 0}));
  constexpr int kPublishes = 2000;
  std::atomic<bool> done{false};
  std::atomic<long> bad{0};
  std::vector<std::thread> readers;
  readers.reserve(3);
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      Snapshot<Pair>::View v;
      int last = 0;
      while (!done.load(std::memory_order_relaxed)) {
        const Pair* p = v.get(s);
        if (p == nullptr || p->a != -p->b || p->a < last) {
          bad.fetch_add(1);  // torn, freed, or went back in time
        }
        if (p != nullptr) {
          last = p->a;
        }
      }
    });
  }
  for (int i = 1; i <= kPublishes; ++i) {
    s.emplace(Pair{i, -i});
  }
  done = true;
  for (auto& r : readers) {
    r.join();
  }
  EXPECT_EQ(bad.load(), 0);
  Snapshot<Pair>::View v;
  EXPECT_EQ(v.get(s)->a, kPublishes);
}

}  // namespace
