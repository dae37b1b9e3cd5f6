#include "nn/thread_pool.h"

#include "nn/kernels.h"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace sieve::nn {
namespace {
// The pool whose worker runs on this thread (null elsewhere): a nested ParallelFor on the same
// pool runs inline instead of waiting for workers that may all be waiting too.
thread_local const ThreadPool* tls_worker_of = nullptr;

// How long a worker with nothing to do, or a caller waiting for its chunks, polls before it
// sleeps on a condition variable. A forward pass issues its next kernel within microseconds, and
// waking a sleeping thread costs a futex call on each side and tens of microseconds before it
// runs: ~100 kernels per forward pass made that a tenth of a short query's time. Between
// requests the threads sleep.
constexpr std::chrono::microseconds kSpin{60};

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Polls `ready` until it returns true or kSpin has passed; returns its last value.
template <typename Ready>
bool SpinUntil(const Ready& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (ready()) return true;
      CpuRelax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}
// Linux wakes a sleeping thread on the CPU of the thread that woke it when it can ("wake
// affine"). For a worker that is the caller's CPU: the two then share one CPU for milliseconds,
// until load balancing moves one, while another CPU idles. Measured here: a short query after an
// idle pause took 2x as long on 2 threads as back to back, i.e. no faster than on 1 thread. A
// worker that wakes on its caller's CPU therefore moves itself off it (an affinity mask without
// that CPU, then the old mask back: the thread stays where it went).
void LeaveCallersCpu(int caller_cpu) {
#if defined(__linux__)
  if (caller_cpu < 0 || caller_cpu >= CPU_SETSIZE || ::sched_getcpu() != caller_cpu) return;
  cpu_set_t allowed;
  if (::pthread_getaffinity_np(::pthread_self(), sizeof(allowed), &allowed) != 0) return;
  cpu_set_t elsewhere = allowed;
  CPU_CLR(caller_cpu, &elsewhere);
  if (CPU_COUNT(&elsewhere) == 0) return;
  if (::pthread_setaffinity_np(::pthread_self(), sizeof(elsewhere), &elsewhere) != 0) return;
  ::pthread_setaffinity_np(::pthread_self(), sizeof(allowed), &allowed);
#else
  (void)caller_cpu;
#endif
}
}  // namespace

struct ThreadPool::Job {
  const RangeFn* fn = nullptr;
  std::size_t n = 0;
  std::size_t chunks = 0;
  std::atomic<std::size_t> next{0};  // next chunk to claim
  std::atomic<std::size_t> done{0};  // chunks finished
  int caller_cpu = -1;               // the CPU the caller was on when it queued the job
  std::mutex mutex;                  // with `finished`: sleeping until done == chunks
  std::condition_variable finished;
};

ThreadPool::ThreadPool(std::size_t threads) {
  // The kernels' threads are these: OpenBLAS runs on the calling thread (and its own idle
  // workers stop polling now rather than through a process's start).
  UseSingleThreadedGemm();
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
  if (job.done.fetch_add(finished, std::memory_order_acq_rel) + finished == job.chunks) {
    // The lock orders this with a waiter between its last check and its sleep.
    std::lock_guard<std::mutex> lock(job.mutex);
    job.finished.notify_all();
  }
}

void ThreadPool::WorkerLoop() {
  tls_worker_of = this;
  for (;;) {
    SpinUntil([this] { return queued_.load(std::memory_order_relaxed) > 0; });
    std::shared_ptr<Job> job;
    bool slept = false;
    bool idle_wake = false;  // woken by Wake() with nothing to do yet
    int waker_cpu = -1;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!stop_ && queue_.empty()) {
        ++sleeping_;
        const std::size_t generation = wake_generation_;
        wake_.wait(lock, [this, generation] {
          return stop_ || !queue_.empty() || wake_generation_ != generation;
        });
        --sleeping_;
        slept = true;
        idle_wake = queue_.empty() && !stop_;
        waker_cpu = wake_cpu_;
      }
      if (!idle_wake) {
        if (queue_.empty()) return;  // stopping
        job = queue_.front();
        // Every chunk claimed: nobody else needs to see this job.
        if (job->next.load(std::memory_order_relaxed) + 1 >= job->chunks) queue_.pop_front();
        queued_.store(queue_.size(), std::memory_order_relaxed);
      }
    }
    if (idle_wake) {  // woken by Wake(): get off the waker's CPU, then poll again
      LeaveCallersCpu(waker_cpu);
      continue;
    }
    if (slept) LeaveCallersCpu(job->caller_cpu);
    RunChunks(*job);
  }
}

void ThreadPool::ParallelFor(std::size_t n, const RangeFn& fn, std::size_t chunks_per_thread) {
  if (n == 0) return;
  const std::size_t chunks = std::min(n, size() * std::max<std::size_t>(1, chunks_per_thread));
  if (chunks == 1 || tls_worker_of == this) {
    fn(0, n);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  job->chunks = chunks;
#if defined(__linux__)
  job->caller_cpu = ::sched_getcpu();
#endif
  std::size_t sleeping = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(job);
    queued_.store(queue_.size(), std::memory_order_relaxed);
    sleeping = sleeping_;
  }
  // Spinning workers see the job without a wake-up; sleeping ones need one each.
  const std::size_t wake = std::min(sleeping, chunks - 1);
  if (wake >= workers_.size()) {
    wake_.notify_all();
  } else {
    for (std::size_t i = 0; i < wake; ++i) wake_.notify_one();
  }
  RunChunks(*job);
  {
    // Whatever is left in the queue of this job has no unclaimed chunks now.
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = std::find(queue_.begin(), queue_.end(), job);
    if (it != queue_.end()) queue_.erase(it);
    queued_.store(queue_.size(), std::memory_order_relaxed);
  }
  const auto all_done = [&job] { return job->done.load(std::memory_order_acquire) == job->chunks; };
  if (SpinUntil(all_done)) return;
  std::unique_lock<std::mutex> lock(job->mutex);
  job->finished.wait(lock, all_done);
}

void ThreadPool::Wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (sleeping_ == 0) return;
    ++wake_generation_;
#if defined(__linux__)
    wake_cpu_ = ::sched_getcpu();
#endif
  }
  wake_.notify_all();
}

void WakeWorkers(ThreadPool* pool) {
  if (pool != nullptr) pool->Wake();
}

void ParallelFor(ThreadPool* pool, std::size_t n, const ThreadPool::RangeFn& fn,
                 std::size_t chunks_per_thread) {
  if (n == 0) return;
  if (pool == nullptr || pool->size() == 1) {
    fn(0, n);
    return;
  }
  pool->ParallelFor(n, fn, chunks_per_thread);
}

std::size_t Parallelism(const ThreadPool* pool) {
  return pool == nullptr ? 1 : pool->size();
}

}  // namespace sieve::nn
