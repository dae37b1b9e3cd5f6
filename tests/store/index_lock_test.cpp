#include "store/index_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace sieve::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class IndexLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve_lock_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(IndexLockTest, ASecondWriterWaitsThenFailsBusyNamingTheHolder) {
  auto first = IndexWriteLock::Acquire(dir_, 0ms);  // creates the folder
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(fs::exists(dir_ / kIndexLockFile));
  const auto start = std::chrono::steady_clock::now();
  auto second = IndexWriteLock::Acquire(dir_, 200ms);  // same process, other descriptor
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kBusy);
  EXPECT_THAT(second.status().message(),
              HasSubstr("index " + dir_.string() + " is being written by another process (pid " +
                        std::to_string(::getpid()) + ")"));
}

TEST_F(IndexLockTest, ReleasedOnDestructionAndHandedToAWaiter) {
  std::optional<IndexWriteLock> first;
  {
    auto acquired = IndexWriteLock::Acquire(dir_, 0ms);
    ASSERT_TRUE(acquired.ok());
    first.emplace(std::move(*acquired));
  }
  std::thread release([&] {
    std::this_thread::sleep_for(100ms);
    first.reset();
  });
  auto waiter = IndexWriteLock::Acquire(dir_, 10s);
  release.join();
  ASSERT_TRUE(waiter.ok()) << waiter.status().ToString();
  EXPECT_TRUE(waiter->held());
  IndexWriteLock moved = std::move(*waiter);
  EXPECT_TRUE(moved.held());
  EXPECT_FALSE(IndexWriteLock::Acquire(dir_, 0ms).ok());
}

// Readers' housekeeping: the lock only when free, never created, and it excludes writers while
// held.
TEST_F(IndexLockTest, TryAcquireIfIdleTakesOnlyAFreeLockAndCreatesNothing) {
  EXPECT_FALSE(IndexWriteLock::TryAcquireIfIdle(dir_).has_value());  // no folder
  EXPECT_FALSE(fs::exists(dir_));
  fs::create_directories(dir_);
  EXPECT_FALSE(IndexWriteLock::TryAcquireIfIdle(dir_).has_value());  // never written: no LOCK
  EXPECT_FALSE(fs::exists(dir_ / kIndexLockFile));
  {
    auto writer = IndexWriteLock::Acquire(dir_, 0ms);
    ASSERT_TRUE(writer.ok());
    EXPECT_FALSE(IndexWriteLock::TryAcquireIfIdle(dir_).has_value());  // a writer at work
  }
  auto idle = IndexWriteLock::TryAcquireIfIdle(dir_);
  ASSERT_TRUE(idle.has_value());
  EXPECT_TRUE(idle->held());
  EXPECT_FALSE(IndexWriteLock::Acquire(dir_, 0ms).ok());  // a writer waits for it
  idle.reset();
  EXPECT_TRUE(IndexWriteLock::Acquire(dir_, 0ms).ok());
}

TEST_F(IndexLockTest, AKilledHolderLeavesNoLock) {
  fs::create_directories(dir_);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = IndexWriteLock::Acquire(dir_, 0ms);
    char c = lock.ok() ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    ::pause();
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  auto busy = IndexWriteLock::Acquire(dir_, 0ms);
  EXPECT_EQ(busy.status().code(), StatusCode::kBusy);
  EXPECT_THAT(busy.status().message(), HasSubstr("(pid " + std::to_string(child) + ")"));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_TRUE(IndexWriteLock::Acquire(dir_, 1s).ok());
}

}  // namespace
}  // namespace sieve::store
