#include "nn/thread_pool.h"

#include <algorithm>

namespace sieve::nn {
namespace {
// The pool whose worker runs on this thread (null elsewhere): a nested ParallelFor on the same
// pool runs inline instead of waiting for workers that may all be waiting too.
thread_local const ThreadPool* tls_worker_of = nullptr;
}  // namespace

struct ThreadPool::Job {
  const RangeFn* fn = nullptr;
  std::size_t n = 0;
  std::size_t chunks = 0;
  std::atomic<std::size_t> next{0};  // next chunk to claim
  std::mutex mutex;
  std::condition_variable finished;
  std::size_t done = 0;  // chunks finished; guarded by mutex
};

ThreadPool::ThreadPool(std::size_t threads) {
  const std::size_t workers = threads > 1 ? threads - 1 : 0;
  workers_.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::RunChunks(Job& job) {
  std::size_t finished = 0;
  for (;;) {
    const std::size_t chunk = job.next.fetch_add(1, std::memory_order_relaxed);
    if (chunk >= job.chunks) break;
    const std::size_t begin = chunk * job.n / job.chunks;
    const std::size_t end = (chunk + 1) * job.n / job.chunks;
    (*job.fn)(begin, end);
    ++finished;
  }
  if (finished == 0) return;
  std::lock_guard<std::mutex> lock(job.mutex);
  job.done += finished;
  if (job.done == job.chunks) job.finished.notify_all();
}

void ThreadPool::WorkerLoop() {
  tls_worker_of = this;
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      job = queue_.front();
      // Every chunk claimed: nobody else needs to see this job.
      if (job->next.load(std::memory_order_relaxed) + 1 >= job->chunks) queue_.pop_front();
    }
    RunChunks(*job);
  }
}

void ThreadPool::ParallelFor(std::size_t n, const RangeFn& fn) {
  if (n == 0) return;
  const std::size_t chunks = std::min(n, size());
  if (chunks == 1 || tls_worker_of == this) {
    fn(0, n);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  job->chunks = chunks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(job);
  }
  if (chunks - 1 >= workers_.size()) {
    wake_.notify_all();
  } else {
    for (std::size_t i = 0; i + 1 < chunks; ++i) wake_.notify_one();
  }
  RunChunks(*job);
  {
    // Whatever is left in the queue of this job has no unclaimed chunks now.
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = std::find(queue_.begin(), queue_.end(), job);
    if (it != queue_.end()) queue_.erase(it);
  }
  std::unique_lock<std::mutex> lock(job->mutex);
  job->finished.wait(lock, [&job] { return job->done == job->chunks; });
}

void ParallelFor(ThreadPool* pool, std::size_t n, const ThreadPool::RangeFn& fn) {
  if (n == 0) return;
  if (pool == nullptr || pool->size() == 1) {
    fn(0, n);
    return;
  }
  pool->ParallelFor(n, fn);
}

std::size_t Parallelism(const ThreadPool* pool) {
  return pool == nullptr ? 1 : pool->size();
}

}  // namespace sieve::nn
