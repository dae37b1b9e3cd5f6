#include "server/queues.h"

#include <algorithm>
#include <utility>

namespace sieve::server {

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
  const std::size_t workers = std::max<std::size_t>(1, options_.workers);
  for (std::size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { Work(); });
}

EmbedBatcher::~EmbedBatcher() {
  Stop();
}

void EmbedBatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

Result<EmbedResponse> EmbedBatcher::Embed(const std::vector<std::string>& texts,
                                          const std::vector<std::size_t>& tokens, bool is_query,
                                          RequestContext& ctx) {
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
  auto finished = [&] { return job->remaining == 0; };
  Status waited;
  while (!finished()) {
    if (ctx.deadline()) {
      job_done_.wait_until(lock, std::min(*ctx.deadline(), RequestContext::Clock::now() +
                                                               std::chrono::milliseconds(100)));
    } else {
      job_done_.wait_for(lock, std::chrono::milliseconds(100));
    }
    waited = ctx.Check();
    if (!waited.ok() && !finished()) {
      job->abandoned = true;
      break;
    }
  }
  --waiting_jobs_;
  metrics_.SetQueueDepth("embed", waiting_jobs_);
  if (!finished()) return waited;
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
    // Wait for company until the budget fills or the first text has waited max_wait.
    const auto deadline = std::chrono::steady_clock::now() + options_.max_wait;
    auto queued_tokens = [&] {
      std::size_t sum = 0;
      for (const auto& item : items_) sum += item.job->tokens[item.index];
      return sum;
    };
    while (!stopping_ && queued_tokens() < options_.max_batch_tokens &&
           std::chrono::steady_clock::now() < deadline) {
      if (work_ready_.wait_until(lock, deadline) == std::cv_status::timeout) break;
      if (items_.empty()) break;
    }
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
