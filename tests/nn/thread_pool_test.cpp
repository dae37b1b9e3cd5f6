// nn::ThreadPool: every index once, concurrent callers, nested calls, real parallelism.
#include "nn/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

namespace sieve::nn {
namespace {

// Runs ParallelFor(n) and counts how often each index was covered.
std::vector<int> Coverage(ThreadPool* pool, std::size_t n) {
  std::vector<std::atomic<int>> hits(n);
  std::atomic<std::size_t> calls{0};
  ParallelFor(pool, n, [&](std::size_t begin, std::size_t end) {
    EXPECT_LT(begin, end);
    calls.fetch_add(1);
    for (std::size_t i = begin; i < end; ++i) hits[i].fetch_add(1);
  });
  EXPECT_LE(calls.load(), std::max<std::size_t>(1, Parallelism(pool)));
  std::vector<int> counts;
  for (auto& h : hits) counts.push_back(h.load());
  return counts;
}

// Threads of this process (/proc/self/task).
std::size_t ThreadsOfThisProcess() {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)entry;
    ++count;
  }
  return count;
}

#if defined(__SANITIZE_THREAD__)
constexpr std::size_t kRuntimeThreads = 1;  // ThreadSanitizer's background thread
#else
constexpr std::size_t kRuntimeThreads = 0;
#endif

// OpenBLAS (the pthread build) starts a worker per core when it is loaded, which polls for a
// tenth of a second: a pool's kernels run BLAS on its own threads, so once a pool exists the
// process has no thread but the pool's (here, the caller alone).
TEST(ThreadPoolTest, NoThreadButThePoolsOnceAPoolExists) {
  ThreadPool pool(1);
  EXPECT_EQ(ThreadsOfThisProcess(), 1u + kRuntimeThreads);
  ThreadPool two(2);
  EXPECT_EQ(ThreadsOfThisProcess(), 2u + kRuntimeThreads);
}

TEST(ThreadPoolTest, EveryIndexIsCoveredExactlyOnce) {
  for (std::size_t threads : {0, 1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads > 1 ? threads : 1);
    for (std::size_t n : {0, 1, 2, 3, 7, 100, 1001}) {
      EXPECT_EQ(Coverage(&pool, n), std::vector<int>(n, 1)) << threads << " threads, n " << n;
    }
  }
  EXPECT_EQ(Coverage(nullptr, 5), std::vector<int>(5, 1));
}

TEST(ThreadPoolTest, NullPoolAndSizeOneRunOnTheCallingThread) {
  ThreadPool single(1);
  for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &single}) {
    const auto caller = std::this_thread::get_id();
    std::size_t calls = 0;
    ParallelFor(pool, 10, [&](std::size_t begin, std::size_t end) {
      EXPECT_EQ(std::this_thread::get_id(), caller);
      EXPECT_EQ(begin, 0u);
      EXPECT_EQ(end, 10u);
      ++calls;
    });
    EXPECT_EQ(calls, 1u);
  }
}

TEST(ThreadPoolTest, ChunksRunOnSeveralThreadsAtOnce) {
  ThreadPool pool(2);
  // Each of the two chunks waits (bounded) until the other has started: only possible when a
  // worker runs one while the caller runs the other.
  std::atomic<int> started{0};
  std::atomic<bool> both{true};
  pool.ParallelFor(2, [&](std::size_t, std::size_t) {
    started.fetch_add(1);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started.load() < 2) {
      if (std::chrono::steady_clock::now() > give_up) {
        both = false;
        return;
      }
      std::this_thread::yield();
    }
  });
  EXPECT_TRUE(both.load());
}

TEST(ThreadPoolTest, ConcurrentCallersEachGetAllTheirWork) {
  ThreadPool pool(3);
  constexpr int kCallers = 4, kCalls = 200;
  std::vector<std::thread> callers;
  std::vector<std::size_t> sums(kCallers, 0);
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&pool, &sums, c] {
      for (int call = 0; call < kCalls; ++call) {
        const std::size_t n = 1 + static_cast<std::size_t>((call * 7 + c) % 50);
        std::atomic<std::size_t> sum{0};
        pool.ParallelFor(n, [&](std::size_t begin, std::size_t end) {
          for (std::size_t i = begin; i < end; ++i) sum.fetch_add(i + 1);
        });
        if (sum.load() == n * (n + 1) / 2) ++sums[c];
      }
    });
  }
  for (auto& t : callers) t.join();
  for (int c = 0; c < kCallers; ++c) EXPECT_EQ(sums[c], std::size_t{kCalls}) << "caller " << c;
}

TEST(ThreadPoolTest, NestedCallsDoNotDeadlock) {
  ThreadPool pool(2);
  std::atomic<std::size_t> total{0};
  pool.ParallelFor(4, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      pool.ParallelFor(10, [&](std::size_t b, std::size_t e) { total.fetch_add(e - b); });
    }
  });
  EXPECT_EQ(total.load(), 40u);
}

TEST(ThreadPoolTest, ManyChunksPerThreadCoverTheRangeOnce) {
  ThreadPool pool(3);
  for (const std::size_t n : {1u, 5u, 12u, 13u, 1000u}) {
    std::vector<std::atomic<int>> seen(n);
    std::atomic<std::size_t> calls{0};
    pool.ParallelFor(
        n,
        [&](std::size_t begin, std::size_t end) {
          ++calls;
          for (std::size_t i = begin; i < end; ++i) seen[i].fetch_add(1);
        },
        4);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), 1) << "n " << n << " i " << i;
    EXPECT_EQ(calls.load(), std::min<std::size_t>(n, 12)) << "n " << n;
  }
}

// Workers that sleep (after their polling window), are woken by Wake() with nothing to do, or
// by work, keep giving correct results, and the pool still stops.
TEST(ThreadPoolTest, WakeBetweenSleepsKeepsWorking) {
  ThreadPool pool(2);
  for (int round = 0; round < 20; ++round) {
    if (round % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    pool.Wake();
    if (round % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
    std::atomic<std::size_t> sum{0};
    pool.ParallelFor(64, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) sum.fetch_add(i);
    });
    ASSERT_EQ(sum.load(), 64u * 63u / 2) << "round " << round;
  }
  pool.Wake();
  WakeWorkers(nullptr);  // no pool: nothing to do
}

}  // namespace
}  // namespace sieve::nn
