// SPDX-License-Identifier: MIT
// app::Worker: typed slots made once per worker, reached by handlers without a lookup; batch
// hooks run on every slot, once for the outermost begin/end pair.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "mapper/app/app.h"
#include "mapper/app/testing.h"
#include "mapper/app/worker.h"

namespace amap::app {
namespace {

struct Counter {
  int queries = 0;
  int begins = 0;
  int ends = 0;
  void begin_batch() noexcept { ++begins; }
  void end_batch() noexcept { ++ends; }
};

struct Plain {  // no batch hooks
  int value = 0;
};

Request request_for(const char* qname) {
  return testing::make_request(qname, "TXT");
}

TEST(Worker, EachWorkerHasItsOwnSlotsMadeOnce) {
  App app;
  app.zone("w.example.");
  int made = 0;
  const Slot<Counter> counter = app.slot<Counter>([&made] {
    ++made;
    return std::make_unique<Counter>();
  });
  const Slot<Plain> plain = app.slot<Plain>();
  EXPECT_NE(counter.index(), plain.index());
  app.route(Match().type("TXT"), [counter](const Request&, Answer& ans, Worker& w) noexcept {
    ++w.get(counter).queries;
    ans.txt("counted");
    return Outcome::hit;
  });

  Worker one(app);
  Worker two(app);
  EXPECT_EQ(made, 2);
  const Request req = request_for("a.w.example.");
  for (int i = 0; i < 3; ++i) {
    app.resolve(one, req, one.answer());
    EXPECT_EQ(one.answer().rcode, Rcode::noerror);
  }
  app.resolve(two, req, two.answer());
  EXPECT_EQ(one.get(counter).queries, 3);
  EXPECT_EQ(two.get(counter).queries, 1);
  EXPECT_EQ(made, 2);  // queries make nothing
  one.get(plain).value = 7;
  EXPECT_EQ(two.get(plain).value, 0);
  EXPECT_EQ(&one.app(), &app);
}

TEST(Worker, BatchHooksRunOnceForTheOutermostPair) {
  App app;
  const Slot<Counter> a = app.slot<Counter>();
  const Slot<Counter> b = app.slot<Counter>();
  Worker w(app);
  EXPECT_FALSE(w.in_batch());
  w.end_batch();  // outside a batch: nothing
  EXPECT_EQ(w.get(a).ends, 0);
  {
    const BatchScope outer(w);
    EXPECT_TRUE(w.in_batch());
    { const BatchScope inner(w); }
    EXPECT_TRUE(w.in_batch());
    EXPECT_EQ(w.get(a).begins, 1);
    EXPECT_EQ(w.get(a).ends, 0);
  }
  EXPECT_FALSE(w.in_batch());
  EXPECT_EQ(w.get(a).begins, 1);
  EXPECT_EQ(w.get(a).ends, 1);
  EXPECT_EQ(w.get(b).begins, 1);
  EXPECT_EQ(w.get(b).ends, 1);
}

TEST(Worker, AFailingSlotFactoryFailsTheWorkerCleanly) {
  App app;
  int alive = 0;
  struct Tracked {
    explicit Tracked(int& n) : count(n) { ++count; }
    ~Tracked() { --count; }
    int& count;
  };
  app.slot<Tracked>([&alive] { return std::make_unique<Tracked>(alive); });
  app.slot<Plain>([]() -> std::unique_ptr<Plain> { throw std::runtime_error("no room"); });
  EXPECT_THROW(Worker w(app), std::runtime_error);
  EXPECT_EQ(alive, 0);  // the slot made before the failure is gone again
}

}  // namespace
}  // namespace amap::app
