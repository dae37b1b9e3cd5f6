#include "engine/session_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sieve::engine {
namespace {

struct Session {
  int id = 0;
};

TEST(SessionPoolTest, MakesAtMostCapacityAndReusesReturnedSessions) {
  std::atomic<int> made{0};
  SessionPool<Session> pool(
      [&made]() -> Result<std::unique_ptr<Session>> {
        return std::make_unique<Session>(Session{++made});
      },
      2);
  RequestContext ctx;
  {
    auto a = pool.Acquire(ctx);
    auto b = pool.Acquire(ctx);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE((*a)->id, (*b)->id);
    EXPECT_EQ(pool.created(), 2u);
    // A third request waits; with a deadline that passes, it fails with kTimeout.
    RequestContext hurried;
    hurried.set_timeout(std::chrono::milliseconds(30));
    auto c = pool.Acquire(hurried);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kTimeout);
  }
  auto again = pool.Acquire(ctx);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(made.load(), 2);  // reused, not made anew
}

TEST(SessionPoolTest, CancelledWaitStops) {
  SessionPool<Session> pool(
      []() -> Result<std::unique_ptr<Session>> { return std::make_unique<Session>(); }, 1);
  RequestContext ctx;
  auto held = pool.Acquire(ctx);
  ASSERT_TRUE(held.ok());
  std::stop_source stop;
  RequestContext cancelled;
  cancelled.set_stop_token(stop.get_token());
  std::thread canceller([&stop] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stop.request_stop();
  });
  auto waited = pool.Acquire(cancelled);
  canceller.join();
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.status().code(), StatusCode::kCancelled);
}

TEST(SessionPoolTest, FactoryErrorsAreReturnedAndDoNotUseUpCapacity) {
  std::atomic<int> calls{0};
  SessionPool<Session> pool(
      [&calls]() -> Result<std::unique_ptr<Session>> {
        if (++calls == 1) return Status::NotFound("model gone");
        return std::make_unique<Session>();
      },
      1);
  RequestContext ctx;
  auto failed = pool.Acquire(ctx);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(pool.Acquire(ctx).ok());
}

TEST(SessionPoolTest, ManyThreadsShareFewSessionsWithoutOverlap) {
  SessionPool<Session> pool(
      []() -> Result<std::unique_ptr<Session>> { return std::make_unique<Session>(); }, 3);
  std::atomic<int> in_use{0};
  std::atomic<int> max_in_use{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        RequestContext ctx;
        auto lease = pool.Acquire(ctx);
        ASSERT_TRUE(lease.ok());
        const int now = ++in_use;
        int seen = max_in_use.load();
        while (now > seen && !max_in_use.compare_exchange_weak(seen, now)) {
        }
        (*lease)->id += 1;  // a data race here if two threads held one session
        --in_use;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_in_use.load(), 3);
  EXPECT_LE(pool.created(), 3u);
}

}  // namespace
}  // namespace sieve::engine
