// nn/thread_pool.h: the threads that run the encoder's kernels.
//
// A ThreadPool is owned by whoever creates it (the engine owns one sized from its configuration);
// there is no global pool. ParallelFor(n, fn) splits [0, n) into contiguous chunks, runs them on
// the pool's workers and on the calling thread, and returns when every chunk is done.
//
// Thread-safety: ParallelFor may be called from several threads at once (many model sessions
// share one pool); their chunks are interleaved on the workers, and each caller always works on
// its own chunks too, so a busy pool slows a caller down but never blocks it. Idle workers, and a
// caller waiting for its chunks, poll for ~60 µs before they sleep (a forward pass issues its
// kernels back to back; waking a sleeping thread costs more than a small kernel). A ParallelFor
// called from inside one of this pool's workers runs inline on that worker (no deadlock).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sieve::nn {

class ThreadPool {
 public:
  using RangeFn = std::function<void(std::size_t begin, std::size_t end)>;

  // `threads` is the parallelism of a ParallelFor, the calling thread included: the pool starts
  // threads - 1 workers. 0 and 1 both mean "run everything on the calling thread".
  explicit ThreadPool(std::size_t threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  // Joins the workers. No ParallelFor may be running.
  ~ThreadPool();

  // Wakes the sleeping workers without giving them work: they poll for the next ParallelFor for
  // the usual ~60 µs, then sleep again. A forward pass calls it first, so that its first kernel
  // does not wait for them to wake (and move off the caller's CPU). Cheap when none sleeps.
  void Wake();

  // Parallelism of a ParallelFor (workers + the caller), at least 1.
  std::size_t size() const { return workers_.size() + 1; }

  // Calls fn(begin, end) over disjoint ranges covering [0, n): at most size() · chunks_per_thread
  // chunks of nearly equal length, claimed one at a time by whichever thread is free (more chunks
  // than threads balance uneven progress, e.g. a core shared with another process), in any order,
  // on any of the threads. Returns after every call returned. fn must not throw. n == 0 calls
  // nothing.
  void ParallelFor(std::size_t n, const RangeFn& fn, std::size_t chunks_per_thread = 1);

 private:
  struct Job;
  void WorkerLoop();
  static void RunChunks(Job& job);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;  // jobs with chunks nobody has claimed yet
  std::atomic<std::size_t> queued_{0};      // queue_.size(), for workers polling without the lock
  std::size_t sleeping_ = 0;                // workers waiting on wake_; guarded by mutex_
  std::size_t wake_generation_ = 0;         // bumped by Wake(); guarded by mutex_
  int wake_cpu_ = -1;                       // the CPU Wake() was called on; guarded by mutex_
  bool stop_ = false;
};

// pool->ParallelFor(n, fn), or fn(0, n) on the calling thread when pool is null or of size 1.
void ParallelFor(ThreadPool* pool, std::size_t n, const ThreadPool::RangeFn& fn,
                 std::size_t chunks_per_thread = 1);

// pool->Wake() when pool is not null.
void WakeWorkers(ThreadPool* pool);

// Number of chunks ParallelFor(pool, n, ...) would use at most: min(n, parallelism).
std::size_t Parallelism(const ThreadPool* pool);

}  // namespace sieve::nn
