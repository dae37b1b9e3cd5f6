// server/queues.h (internal): dynamic batching of concurrent embedding requests and of concurrent
// rerank requests, and the one queue every document write goes through. All are bounded: a full
// queue answers kBusy.
//
// Thread-safety: every public method may be called from any thread. Stop() finishes the work
// already queued, then joins the threads; later calls answer kUnavailable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics.h"
#include "sieve/sieve.h"

namespace sieve::server {

struct BatcherOptions {
  std::size_t max_batch_tokens = 8192;  // a batch stops growing past this many tokens
  // The first text of a batch waits at most this long for more. 0: a free worker takes what is
  // queued at once; batches still form from the texts that arrive while the workers are busy.
  std::chrono::milliseconds max_wait{0};
  std::size_t max_queue = 256;  // requests waiting; one more gets kBusy
  std::size_t workers = 2;      // batches computed at once (one model, shared)
};

// Merges the texts of concurrent Embed calls into batches of at most max_batch_tokens tokens (a
// request larger than that is split over several batches; a single text larger than that is a
// batch of its own), each computed by one Engine::Embed call.
class EmbedBatcher {
 public:
  EmbedBatcher(Engine& engine, BatcherOptions options, Metrics& metrics);
  ~EmbedBatcher();
  EmbedBatcher(const EmbedBatcher&) = delete;
  EmbedBatcher& operator=(const EmbedBatcher&) = delete;

  // Vectors for `texts` (with their token counts, for the budget). Waits until they are done, the
  // context's deadline passes (kTimeout) or it is cancelled; kBusy when max_queue requests wait.
  Result<EmbedResponse> Embed(const std::vector<std::string>& texts,
                              const std::vector<std::size_t>& tokens, bool is_query,
                              RequestContext& ctx);
  void Stop();

 private:
  struct Job;
  struct Item {
    std::shared_ptr<Job> job;
    std::size_t index = 0;
  };
  void Work();

  Engine& engine_;
  const BatcherOptions options_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable job_done_;
  std::deque<Item> items_;
  std::size_t waiting_jobs_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Merges the (query, document) pairs of concurrent Rerank calls, whatever their queries, into
// batches of at most max_batch_tokens tokens (a request larger than that is split over several
// batches and put together again; a single pair larger than that is a batch of its own), each
// scored by one Engine::ScorePairs call. A request's scores equal Engine::Rerank's up to float
// rounding of the batches' shapes (~1e-6).
class RerankBatcher {
 public:
  RerankBatcher(Engine& engine, BatcherOptions options, Metrics& metrics);
  ~RerankBatcher();
  RerankBatcher(const RerankBatcher&) = delete;
  RerankBatcher& operator=(const RerankBatcher&) = delete;

  // What Engine::Rerank answers for `request` (ranked, top_n applied), given the tokens of each
  // (query, document) pair (Engine::CountRerankTokens) for the budget. Waits until its pairs are
  // scored, the context's deadline passes (kTimeout) or it is cancelled; kBusy when max_queue
  // requests wait.
  Result<RerankResponse> Rerank(const RerankRequest& request,
                                const std::vector<std::size_t>& tokens, RequestContext& ctx);
  void Stop();

 private:
  struct Job;
  struct Item {
    std::shared_ptr<Job> job;
    std::size_t index = 0;
  };
  void Work();

  Engine& engine_;
  const BatcherOptions options_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable job_done_;
  std::deque<Item> items_;
  std::size_t waiting_jobs_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Runs document writes one at a time, in order, on one thread.
class WriteQueue {
 public:
  WriteQueue(std::size_t max_queue, Metrics& metrics);
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Runs `work` on the writer thread and waits for it. kBusy when max_queue writes wait; kTimeout
  // when the context's deadline passes first (the write still runs, later).
  Status Run(std::function<void()> work, RequestContext& ctx);
  void Stop();

 private:
  struct Task;
  void Work();

  const std::size_t max_queue_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable done_;
  std::deque<std::shared_ptr<Task>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sieve::server
