// server/metrics.h (internal): counters and latency histograms in Prometheus text format.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "core/context.h"

namespace sieve::server {

// Cumulative histogram with fixed bucket bounds.
class Histogram {
 public:
  static constexpr std::array<double, 14> kSecondsBounds = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  static constexpr std::array<double, 14> kCountBounds = {1,   2,   4,   8,    16,   32,   64,
                                                          128, 256, 512, 1024, 2048, 4096, 8192};
  void Observe(double value, const std::array<double, 14>& bounds);
  // Lines "name_bucket{labels,le=...} n", "name_sum{labels} s", "name_count{labels} n".
  void Render(std::string& out, const std::string& name, const std::string& labels,
              const std::array<double, 14>& bounds) const;

 private:
  std::array<std::uint64_t, 14> buckets_{};
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

// Gauges read at scrape time.
struct IndexGauges {
  bool known = false;
  std::size_t documents = 0;
  std::size_t chunks = 0;
  std::size_t vectors = 0;
  std::uint64_t bytes = 0;
};

class Metrics {
 public:
  void ObserveRequest(const std::string& endpoint, int status, double seconds);
  void ObserveStage(const std::string& stage, double seconds);
  void ObserveBatch(std::size_t texts, std::size_t tokens);
  // A rerank batch: its (query, document) pairs, their tokens, and the requests they came from.
  void ObserveRerankBatch(std::size_t pairs, std::size_t tokens, std::size_t requests);
  void AddTokens(const std::string& endpoint, std::size_t tokens);
  void SetQueueDepth(const std::string& queue, std::size_t depth);
  void AddRejected(const std::string& queue);
  std::string Render(const IndexGauges& index) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::map<std::string, Histogram> stages_;
  Histogram batch_texts_;
  Histogram batch_tokens_;
  Histogram rerank_batch_pairs_;
  Histogram rerank_batch_tokens_;
  Histogram rerank_batch_requests_;
  std::map<std::string, std::uint64_t> tokens_;
  std::map<std::string, std::size_t> queue_depth_;
  std::map<std::string, std::uint64_t> rejected_;
};

// Hands each finished span's duration to Metrics::ObserveStage.
class StageTracer : public Tracer {
 public:
  // `next` (may be null; not owned) gets every span too.
  explicit StageTracer(Metrics& metrics, Tracer* next = nullptr) : metrics_(metrics), next_(next) {}
  void OnEnd(const SpanData& span) override {
    // The root span of a request ("POST /v1/query") is in the request histograms already.
    if (span.name.find(" /") == std::string::npos) {
      metrics_.ObserveStage(span.name, span.duration_ms / 1000.0);
    }
    if (next_ != nullptr) next_->OnEnd(span);
  }
  // Attributes are built only for an exporter.
  bool records_attributes() const override {
    return next_ != nullptr && next_->records_attributes();
  }

 private:
  Metrics& metrics_;
  Tracer* next_;
};

}  // namespace sieve::server
