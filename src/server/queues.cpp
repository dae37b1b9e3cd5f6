#include "server/queues.h"

#include <algorithm>
#include <set>
#include <utility>

namespace sieve::server {

namespace {

// The worker's wait before it takes a batch: until the queued items' tokens reach the budget,
// the first item has waited max_wait, the queue empties or the batcher stops. `lock` holds the
// batcher's mutex; `items` are its queue (each item's tokens: item.job->tokens[item.index]).
template <typename Items>
void WaitForCompany(std::unique_lock<std::mutex>& lock, std::condition_variable& work_ready,
                    const Items& items, const BatcherOptions& options, const bool& stopping) {
  const auto deadline = std::chrono::steady_clock::now() + options.max_wait;
  auto queued_tokens = [&] {
    std::size_t sum = 0;
    for (const auto& item : items) sum += item.job->tokens[item.index];
    return sum;
  };
  while (!stopping && queued_tokens() < options.max_batch_tokens &&
         std::chrono::steady_clock::now() < deadline) {
    if (work_ready.wait_until(lock, deadline) == std::cv_status::timeout) break;
    if (items.empty()) break;
  }
}

// The caller's wait for its own job: until every item is done, or the request's deadline or
// cancellation (checked at least every 100 ms) ends it first; the job is then marked abandoned
// (workers skip its items) and that status returned. `lock` holds the batcher's mutex.
template <typename Job>
Status WaitForJob(std::unique_lock<std::mutex>& lock, std::condition_variable& job_done, Job& job,
                  RequestContext& ctx) {
  while (job.remaining != 0) {
    if (ctx.deadline()) {
      job_done.wait_until(lock, std::min(*ctx.deadline(), RequestContext::Clock::now() +
                                                              std::chrono::milliseconds(100)));
    } else {
      job_done.wait_for(lock, std::chrono::milliseconds(100));
    }
    Status waited = ctx.Check();
    if (!waited.ok() && job.remaining != 0) {
      job.abandoned = true;
      return waited;
    }
  }
  return Status::Ok();
}

// A batcher's workers: at least one thread running `work`.
template <typename Work>
void StartWorkers(std::size_t workers, std::vector<std::thread>& threads, Work work) {
  for (std::size_t i = 0; i < std::max<std::size_t>(1, workers); ++i) threads.emplace_back(work);
}

// Sets `stopping` under `mutex`, wakes the workers and joins them. Idempotent.
void StopWorkers(std::mutex& mutex, bool& stopping, std::condition_variable& work_ready,
                 std::vector<std::thread>& threads) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping && threads.empty()) return;
    stopping = true;
  }
  work_ready.notify_all();
  for (auto& thread : threads) {
    if (thread.joinable()) thread.join();
  }
  threads.clear();
}

}  // namespace

struct EmbedBatcher::Job {
  std::vector<std::string> texts;
  std::vector<std::size_t> tokens;
  bool is_query = false;
  std::vector<std::vector<float>> vectors;
  std::size_t remaining = 0;
  bool abandoned = false;  // the caller stopped waiting: skip what is left
  Status status;
  EmbedResponse meta;  // model, dimension, ... of the first batch
  bool has_meta = false;
};

EmbedBatcher::EmbedBatcher(Engine& engine, BatcherOptions options, Metrics& metrics)
    : engine_(engine), options_(options), metrics_(metrics) {
  StartWorkers(options_.workers, threads_, [this] { Work(); });
}

EmbedBatcher::~EmbedBatcher() {
  Stop();
}

void EmbedBatcher::Stop() {
  StopWorkers(mutex_, stopping_, work_ready_, threads_);
}

Result<EmbedResponse> EmbedBatcher::Embed(const std::vector<std::string>& texts,
                                          const std::vector<std::size_t>& tokens, bool is_query,
                                          RequestContext& ctx) {
  // The request's view of its embedding: queued, batched with others' texts, computed. (The
  // batch itself runs in a context of its own, shared by the requests it serves.)
  Span span = ctx.StartSpan("embed.batched", SpanKind::kEmbedding);
  span.SetAttribute("sieve.texts", static_cast<std::int64_t>(texts.size()));
  auto job = std::make_shared<Job>();
  job->texts = texts;
  job->tokens = tokens;
  job->tokens.resize(texts.size(), 1);
  job->is_query = is_query;
  job->vectors.resize(texts.size());
  job->remaining = texts.size();
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_) return Status::Unavailable("the server is stopping");
  if (waiting_jobs_ >= options_.max_queue) {
    metrics_.AddRejected("embed");
    return Status::Busy("too many embedding requests waiting (" +
                        std::to_string(options_.max_queue) + ")");
  }
  if (texts.empty()) return EmbedResponse{};
  ++waiting_jobs_;
  metrics_.SetQueueDepth("embed", waiting_jobs_);
  for (std::size_t i = 0; i < texts.size(); ++i) items_.push_back({job, i});
  work_ready_.notify_all();
  const Status waited = WaitForJob(lock, job_done_, *job, ctx);
  --waiting_jobs_;
  metrics_.SetQueueDepth("embed", waiting_jobs_);
  if (!waited.ok()) return waited;  // abandoned: deadline or cancellation
  if (!job->status.ok()) return job->status;
  EmbedResponse response = job->meta;
  response.vectors = std::move(job->vectors);
  response.tokens = 0;
  for (std::size_t t : job->tokens) response.tokens += t;
  return response;
}

void EmbedBatcher::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_ready_.wait(lock, [&] { return stopping_ || !items_.empty(); });
    if (items_.empty()) {
      if (stopping_) return;
      continue;
    }
    WaitForCompany(lock, work_ready_, items_, options_, stopping_);
    if (items_.empty()) continue;
    // Take texts in order, of one kind (query or document), up to the budget.
    std::vector<Item> batch;
    std::size_t tokens = 0;
    const bool is_query = items_.front().job->is_query;
    for (auto it = items_.begin(); it != items_.end();) {
      if (it->job->abandoned) {
        if (--it->job->remaining == 0) job_done_.notify_all();
        it = items_.erase(it);
        continue;
      }
      const std::size_t t = it->job->tokens[it->index];
      if (it->job->is_query != is_query) {
        ++it;
        continue;
      }
      if (!batch.empty() && tokens + t > options_.max_batch_tokens) break;
      tokens += t;
      batch.push_back(std::move(*it));
      it = items_.erase(it);
    }
    if (batch.empty()) continue;
    EmbedRequest request;
    request.is_query = is_query;
    request.texts.reserve(batch.size());
    for (const auto& item : batch) request.texts.push_back(item.job->texts[item.index]);
    lock.unlock();
    RequestContext ctx;
    auto result = engine_.Embed(request, ctx);
    metrics_.ObserveBatch(batch.size(), tokens);
    lock.lock();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Job& job = *batch[i].job;
      if (result.ok()) {
        job.vectors[batch[i].index] = std::move(result->vectors[i]);
        if (!job.has_meta) {
          job.meta = *result;
          job.meta.vectors.clear();
          job.has_meta = true;
        }
      } else if (job.status.ok()) {
        job.status = result.status();
      }
      --job.remaining;
    }
    job_done_.notify_all();
  }
}

struct RerankBatcher::Job {
  RerankRequest request;
  std::vector<std::size_t> tokens;
  std::vector<RerankResult> scores;  // by document
  std::size_t remaining = 0;
  bool abandoned = false;  // the caller stopped waiting: skip what is left
  Status status;
  std::string model;
};

RerankBatcher::RerankBatcher(Engine& engine, BatcherOptions options, Metrics& metrics)
    : engine_(engine), options_(options), metrics_(metrics) {
  StartWorkers(options_.workers, threads_, [this] { Work(); });
}

RerankBatcher::~RerankBatcher() {
  Stop();
}

void RerankBatcher::Stop() {
  StopWorkers(mutex_, stopping_, work_ready_, threads_);
}

Result<RerankResponse> RerankBatcher::Rerank(const RerankRequest& request,
                                             const std::vector<std::size_t>& tokens,
                                             RequestContext& ctx) {
  // The request's view of its reranking: queued, batched with others' pairs, scored. (The batch
  // itself runs in a context of its own, shared by the requests it serves.)
  Span span = ctx.StartSpan("rerank.batched", SpanKind::kReranker);
  span.SetAttribute("sieve.documents", static_cast<std::int64_t>(request.documents.size()));
  auto job = std::make_shared<Job>();
  job->request = request;
  job->tokens = tokens;
  job->tokens.resize(request.documents.size(), 1);
  job->scores.resize(request.documents.size());
  job->remaining = request.documents.size();
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_) return Status::Unavailable("the server is stopping");
  if (waiting_jobs_ >= options_.max_queue) {
    metrics_.AddRejected("rerank");
    return Status::Busy("too many rerank requests waiting (" + std::to_string(options_.max_queue) +
                        ")");
  }
  if (request.documents.empty()) return RerankResponse{};
  ++waiting_jobs_;
  metrics_.SetQueueDepth("rerank", waiting_jobs_);
  for (std::size_t i = 0; i < request.documents.size(); ++i) items_.push_back({job, i});
  work_ready_.notify_all();
  const Status waited = WaitForJob(lock, job_done_, *job, ctx);
  --waiting_jobs_;
  metrics_.SetQueueDepth("rerank", waiting_jobs_);
  if (!waited.ok()) return waited;  // abandoned: deadline or cancellation
  if (!job->status.ok()) return job->status;
  RerankResponse response;
  response.model = job->model;
  response.results = std::move(job->scores);
  for (std::size_t t : job->tokens) response.tokens += t;
  lock.unlock();
  RankRerankResults(response.results, request.top_n);
  if (ctx.recording()) {
    span.SetAttribute("reranker.model_name", response.model);
    span.SetAttribute("reranker.query", request.query);
    span.SetAttribute("reranker.top_k", static_cast<std::int64_t>(request.top_n));
    for (std::size_t i = 0; i < response.results.size(); ++i) {
      const RerankResult& r = response.results[i];
      const std::string prefix = "reranker.output_documents." + std::to_string(i) + ".document.";
      span.SetAttribute(prefix + "id", std::to_string(r.index));
      span.SetAttribute(prefix + "score", r.score);
    }
  }
  return response;
}

void RerankBatcher::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_ready_.wait(lock, [&] { return stopping_ || !items_.empty(); });
    if (items_.empty()) {
      if (stopping_) return;
      continue;
    }
    WaitForCompany(lock, work_ready_, items_, options_, stopping_);
    if (items_.empty()) continue;
    // Take pairs in order, whatever their query, up to the budget.
    std::vector<Item> batch;
    std::size_t tokens = 0;
    while (!items_.empty()) {
      Item& front = items_.front();
      if (front.job->abandoned) {
        if (--front.job->remaining == 0) job_done_.notify_all();
        items_.pop_front();
        continue;
      }
      const std::size_t t = front.job->tokens[front.index];
      if (!batch.empty() && tokens + t > options_.max_batch_tokens) break;
      tokens += t;
      batch.push_back(std::move(front));
      items_.pop_front();
    }
    if (batch.empty()) continue;
    // The jobs (held by the batch) keep the strings alive while the lock is released.
    std::vector<RerankPair> pairs;
    pairs.reserve(batch.size());
    std::set<const Job*> jobs;
    for (const auto& item : batch) {
      pairs.push_back({item.job->request.query, item.job->request.documents[item.index]});
      jobs.insert(item.job.get());
    }
    lock.unlock();
    RequestContext ctx;
    auto result = engine_.ScorePairs(pairs, ctx);
    metrics_.ObserveRerankBatch(batch.size(), tokens, jobs.size());
    lock.lock();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Job& job = *batch[i].job;
      if (result.ok()) {
        RerankResult& r = job.scores[batch[i].index];
        r = result->scores[i];
        r.index = batch[i].index;
        if (job.model.empty()) job.model = result->model;
      } else if (job.status.ok()) {
        job.status = result.status();
      }
      --job.remaining;
    }
    job_done_.notify_all();
  }
}

struct WriteQueue::Task {
  std::function<void()> work;
  bool done = false;
};

WriteQueue::WriteQueue(std::size_t max_queue, Metrics& metrics)
    : max_queue_(max_queue), metrics_(metrics), thread_([this] { Work(); }) {}

WriteQueue::~WriteQueue() {
  Stop();
}

void WriteQueue::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status WriteQueue::Run(std::function<void()> work, RequestContext& ctx) {
  auto task = std::make_shared<Task>();
  task->work = std::move(work);
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_) return Status::Unavailable("the server is stopping");
  if (tasks_.size() >= max_queue_) {
    metrics_.AddRejected("write");
    return Status::Busy("too many document writes waiting (" + std::to_string(max_queue_) + ")");
  }
  tasks_.push_back(task);
  metrics_.SetQueueDepth("write", tasks_.size());
  ready_.notify_one();
  while (!task->done) {
    done_.wait_for(lock, std::chrono::milliseconds(100));
    Status check = ctx.Check();
    if (!check.ok() && !task->done) return check;
  }
  return Status::Ok();
}

void WriteQueue::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    ready_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, nothing left
    auto task = tasks_.front();
    lock.unlock();
    task->work();
    lock.lock();
    tasks_.pop_front();
    metrics_.SetQueueDepth("write", tasks_.size());
    task->done = true;
    done_.notify_all();
  }
}

}  // namespace sieve::server
