// BatchTracer (a bounded queue and one exporter thread), the sinks, MultiTracer and Tracing.
#include <algorithm>
#include <fstream>

#include "trace/trace.h"

namespace sieve::trace {
namespace {

class OtlpHttpSink : public SpanSink {
 public:
  OtlpHttpSink(OtlpHttpOptions options, Resource resource)
      : options_(std::move(options)), resource_(std::move(resource)) {}

  Status Export(const std::vector<SpanData>& spans, RequestContext& ctx) override {
    http::Request request;
    request.method = "POST";
    request.url = options_.endpoint;
    request.headers = options_.headers;
    request.headers.emplace_back("Content-Type", "application/x-protobuf");
    request.body = EncodeProtobuf(resource_, spans);
    request.timeouts = options_.timeouts;
    request.retry = options_.retry;
    request.follow_redirects = false;
    auto response = client_.Send(request, &ctx);
    if (!response.ok()) return response.status();
    if (response->status / 100 != 2) return http::ErrorFromResponse(*response, options_.endpoint);
    return Status::Ok();
  }

 private:
  OtlpHttpOptions options_;
  Resource resource_;
  http::Client client_;
};

class JsonFileSink : public SpanSink {
 public:
  JsonFileSink(std::string path, std::ofstream out, Resource resource)
      : path_(std::move(path)), out_(std::move(out)), resource_(std::move(resource)) {}

  Status Export(const std::vector<SpanData>& spans, RequestContext&) override {
    out_ << EncodeJson(resource_, spans) << '\n';
    out_.flush();
    if (!out_) return Status::IoError("cannot write the trace file " + path_);
    return Status::Ok();
  }

 private:
  std::string path_;
  std::ofstream out_;
  Resource resource_;
};

}  // namespace

std::unique_ptr<SpanSink> MakeOtlpHttpSink(OtlpHttpOptions options, Resource resource) {
  return std::make_unique<OtlpHttpSink>(std::move(options), std::move(resource));
}

Result<std::unique_ptr<SpanSink>> MakeJsonFileSink(const std::string& path, Resource resource) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  if (!out) return Status::IoError("cannot open the trace file " + path);
  return std::unique_ptr<SpanSink>(
      std::make_unique<JsonFileSink>(path, std::move(out), std::move(resource)));
}

// ---- BatchTracer ----

BatchTracer::BatchTracer(std::unique_ptr<SpanSink> sink, BatchOptions options, Logger logger)
    : sink_(std::move(sink)), options_(options), logger_(std::move(logger)) {
  options_.max_queue = std::max<std::size_t>(options_.max_queue, 1);
  options_.max_batch = std::clamp<std::size_t>(options_.max_batch, 1, options_.max_queue);
  queue_.reserve(std::min<std::size_t>(options_.max_queue, 1024));
  thread_ = std::thread([this] { Run(); });
}

BatchTracer::~BatchTracer() {
  (void)Shutdown(std::chrono::milliseconds(0));  // nothing to tell: what is left is counted
}

void BatchTracer::OnEnd(const SpanData& span) {
  if (!options_.sampler.Sampled(span.trace_id)) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.spans_sampled_out;
    return;
  }
  SpanData copy = span;  // outside the lock: the exporter thread never waits for a copy
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() >= options_.max_queue) {
      ++stats_.spans_dropped;
      return;
    }
    if (queue_.empty()) oldest_ = std::chrono::steady_clock::now();
    queue_.push_back(std::move(copy));
    ++stats_.spans_queued;
    wake = queue_.size() == 1 || queue_.size() >= options_.max_batch;
  }
  if (wake) wake_.notify_one();
}

void BatchTracer::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    auto urgent = [this] {
      return stopping_ || queue_.size() >= options_.max_batch || flush_until_ > finished_;
    };
    if (queue_.empty()) {
      if (stopping_) break;
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      continue;
    }
    // A partial batch waits for more spans, at most `delay` after its oldest span arrived.
    if (!urgent()) wake_.wait_until(lock, oldest_ + options_.delay, urgent);
    if (stopping_ && stop_deadline_ && std::chrono::steady_clock::now() >= *stop_deadline_) {
      break;  // Shutdown's time is up: what is left is dropped below
    }
    const std::size_t n = std::min(queue_.size(), options_.max_batch);
    std::vector<SpanData> batch(std::make_move_iterator(queue_.begin()),
                                std::make_move_iterator(queue_.begin() + n));
    queue_.erase(queue_.begin(), queue_.begin() + n);
    if (!queue_.empty()) oldest_ = std::chrono::steady_clock::now();
    in_flight_ = true;
    RequestContext ctx;
    ctx.set_stop_token(cancel_.get_token());
    if (stop_deadline_) ctx.set_deadline(*stop_deadline_);
    lock.unlock();
    const Status status = sink_->Export(batch, ctx);
    if (!status.ok()) {
      logger_.Warning("trace export failed, " + std::to_string(n) +
                      " spans lost: " + status.ToString());
    }
    lock.lock();
    in_flight_ = false;
    if (status.ok()) {
      stats_.spans_exported += n;
      ++stats_.batches_exported;
    } else {
      stats_.spans_failed += n;
      ++stats_.batches_failed;
      stats_.last_error = status.ToString();
    }
    finished_ += n;
    done_.notify_all();
  }
  stats_.spans_dropped += queue_.size();
  finished_ += queue_.size();
  queue_.clear();
  done_.notify_all();
}

Status BatchTracer::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const std::uint64_t target = stats_.spans_queued;
  flush_until_ = std::max(flush_until_, target);
  wake_.notify_one();
  const bool done = done_.wait_for(lock, timeout, [this, target] { return finished_ >= target; });
  if (!done) return Status::Timeout("trace export did not finish in time");
  return Status::Ok();
}

Status BatchTracer::Shutdown(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!thread_.joinable()) return Status::Ok();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!stopping_) {
    stopping_ = true;
    stop_deadline_ = deadline;
  }
  wake_.notify_one();
  const bool drained =
      done_.wait_until(lock, deadline, [this] { return queue_.empty() && !in_flight_; });
  if (!drained) cancel_.request_stop();  // the export in flight returns within milliseconds
  lock.unlock();
  thread_.join();
  lock.lock();
  const std::uint64_t lost = stats_.spans_queued - stats_.spans_exported - stats_.spans_failed;
  if (!drained) {
    return Status::Timeout("trace export did not finish in time; " + std::to_string(lost) +
                           " spans dropped");
  }
  return Status::Ok();
}

ExporterStats BatchTracer::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ExporterStats out = stats_;
  out.queue_size = queue_.size();
  return out;
}

// ---- MultiTracer, Tracing ----

void MultiTracer::OnEnd(const SpanData& span) {
  for (Tracer* tracer : tracers_) tracer->OnEnd(span);
}

Result<std::unique_ptr<Tracing>> Tracing::Create(const TraceConfig& config, Logger logger) {
  std::unique_ptr<Tracing> tracing(new Tracing());
  if (!config.trace_file.empty()) {
    auto sink = MakeJsonFileSink(config.trace_file, config.resource);
    if (!sink.ok()) return sink.status();
    tracing->exporters_.push_back(
        std::make_unique<BatchTracer>(std::move(sink).value(), config.batch, logger));
  }
  if (!config.otlp_endpoint.empty()) {
    OtlpHttpOptions options;
    options.endpoint = config.otlp_endpoint;
    options.headers = config.otlp_headers;
    options.retry = config.retry;
    tracing->exporters_.push_back(std::make_unique<BatchTracer>(
        MakeOtlpHttpSink(std::move(options), config.resource), config.batch, logger));
  }
  if (tracing->exporters_.size() == 1) {
    tracing->tracer_ = tracing->exporters_.front().get();
  } else if (tracing->exporters_.size() > 1) {
    std::vector<Tracer*> tracers;
    for (const auto& e : tracing->exporters_) tracers.push_back(e.get());
    tracing->multi_ = std::make_unique<MultiTracer>(std::move(tracers));
    tracing->tracer_ = tracing->multi_.get();
  }
  return tracing;
}

Tracing::~Tracing() {
  (void)Shutdown(std::chrono::milliseconds(0));  // nothing to tell: what is left is counted
}

ExporterStats Tracing::stats() const {
  ExporterStats sum;
  for (const auto& e : exporters_) {
    const ExporterStats s = e->stats();
    sum.spans_queued += s.spans_queued;
    sum.spans_exported += s.spans_exported;
    sum.spans_failed += s.spans_failed;
    sum.spans_dropped += s.spans_dropped;
    sum.spans_sampled_out += s.spans_sampled_out;
    sum.batches_exported += s.batches_exported;
    sum.batches_failed += s.batches_failed;
    sum.queue_size += s.queue_size;
    if (!s.last_error.empty()) sum.last_error = s.last_error;
  }
  return sum;
}

Status Tracing::Flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Status result;
  for (const auto& e : exporters_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    Status s = e->Flush(std::max(left, std::chrono::milliseconds(0)));
    if (!s.ok() && result.ok()) result = s;
  }
  return result;
}

Status Tracing::Shutdown(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Status result;
  for (const auto& e : exporters_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    Status s = e->Shutdown(std::max(left, std::chrono::milliseconds(0)));
    if (!s.ok() && result.ok()) result = s;
  }
  return result;
}

}  // namespace sieve::trace
