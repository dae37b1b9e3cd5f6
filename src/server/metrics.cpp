#include "server/metrics.h"

#include <cstdio>

namespace sieve::server {
namespace {

std::string Number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.9g", value);
  return buffer;
}

// Prometheus label values escape backslash, quote and newline.
std::string Label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void Histogram::Observe(double value, const std::array<double, 14>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (value <= bounds[i]) ++buckets_[i];
  }
  ++count_;
  sum_ += value;
}

void Histogram::Render(std::string& out, const std::string& name, const std::string& labels,
                       const std::array<double, 14>& bounds) const {
  const std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    out += name + "_bucket{" + labels + sep + "le=\"" + Number(bounds[i]) + "\"} " +
           std::to_string(buckets_[i]) + "\n";
  }
  out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(count_) + "\n";
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + Number(sum_) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

void Metrics::ObserveRequest(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{endpoint, status}];
  latency_[endpoint].Observe(seconds, Histogram::kSecondsBounds);
}

void Metrics::ObserveStage(const std::string& stage, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  stages_[stage].Observe(seconds, Histogram::kSecondsBounds);
}

void Metrics::ObserveBatch(std::size_t texts, std::size_t tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  batch_texts_.Observe(static_cast<double>(texts), Histogram::kCountBounds);
  batch_tokens_.Observe(static_cast<double>(tokens), Histogram::kCountBounds);
}

void Metrics::ObserveRerankBatch(std::size_t pairs, std::size_t tokens, std::size_t requests) {
  std::lock_guard<std::mutex> lock(mutex_);
  rerank_batch_pairs_.Observe(static_cast<double>(pairs), Histogram::kCountBounds);
  rerank_batch_tokens_.Observe(static_cast<double>(tokens), Histogram::kCountBounds);
  rerank_batch_requests_.Observe(static_cast<double>(requests), Histogram::kCountBounds);
}

void Metrics::AddTokens(const std::string& endpoint, std::size_t tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  tokens_[endpoint] += tokens;
}

void Metrics::SetQueueDepth(const std::string& queue, std::size_t depth) {
  std::lock_guard<std::mutex> lock(mutex_);
  queue_depth_[queue] = depth;
}

void Metrics::AddRejected(const std::string& queue) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++rejected_[queue];
}

std::string Metrics::Render(const IndexGauges& index) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  out += "# HELP sieve_http_requests_total HTTP requests by endpoint and status.\n";
  out += "# TYPE sieve_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "sieve_http_requests_total{endpoint=\"" + Label(key.first) + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  out +=
      "# HELP sieve_http_request_duration_seconds Time to the response (streams: to the start).\n";
  out += "# TYPE sieve_http_request_duration_seconds histogram\n";
  for (const auto& [endpoint, h] : latency_) {
    h.Render(out, "sieve_http_request_duration_seconds", "endpoint=\"" + Label(endpoint) + "\"",
             Histogram::kSecondsBounds);
  }
  out += "# HELP sieve_stage_duration_seconds Engine pipeline stages (the request spans).\n";
  out += "# TYPE sieve_stage_duration_seconds histogram\n";
  for (const auto& [stage, h] : stages_) {
    h.Render(out, "sieve_stage_duration_seconds", "stage=\"" + Label(stage) + "\"",
             Histogram::kSecondsBounds);
  }
  out += "# HELP sieve_batch_texts Texts per embedding batch.\n";
  out += "# TYPE sieve_batch_texts histogram\n";
  batch_texts_.Render(out, "sieve_batch_texts", "", Histogram::kCountBounds);
  out += "# HELP sieve_batch_tokens Tokens per embedding batch.\n";
  out += "# TYPE sieve_batch_tokens histogram\n";
  batch_tokens_.Render(out, "sieve_batch_tokens", "", Histogram::kCountBounds);
  out += "# HELP sieve_rerank_batch_pairs (Query, document) pairs per rerank batch.\n";
  out += "# TYPE sieve_rerank_batch_pairs histogram\n";
  rerank_batch_pairs_.Render(out, "sieve_rerank_batch_pairs", "", Histogram::kCountBounds);
  out += "# HELP sieve_rerank_batch_tokens Tokens per rerank batch.\n";
  out += "# TYPE sieve_rerank_batch_tokens histogram\n";
  rerank_batch_tokens_.Render(out, "sieve_rerank_batch_tokens", "", Histogram::kCountBounds);
  out += "# HELP sieve_rerank_batch_requests Requests whose pairs a rerank batch held.\n";
  out += "# TYPE sieve_rerank_batch_requests histogram\n";
  rerank_batch_requests_.Render(out, "sieve_rerank_batch_requests", "", Histogram::kCountBounds);
  out += "# HELP sieve_tokens_total Model input tokens by endpoint.\n";
  out += "# TYPE sieve_tokens_total counter\n";
  for (const auto& [endpoint, n] : tokens_) {
    out += "sieve_tokens_total{endpoint=\"" + Label(endpoint) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP sieve_queue_depth Requests waiting in each queue.\n";
  out += "# TYPE sieve_queue_depth gauge\n";
  for (const auto& [queue, n] : queue_depth_) {
    out += "sieve_queue_depth{queue=\"" + Label(queue) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP sieve_queue_rejected_total Requests refused because a queue was full.\n";
  out += "# TYPE sieve_queue_rejected_total counter\n";
  for (const auto& [queue, n] : rejected_) {
    out += "sieve_queue_rejected_total{queue=\"" + Label(queue) + "\"} " + std::to_string(n) + "\n";
  }
  if (index.known) {
    out +=
        "# HELP sieve_index_documents Documents in the index.\n# TYPE sieve_index_documents "
        "gauge\n";
    out += "sieve_index_documents " + std::to_string(index.documents) + "\n";
    out += "# HELP sieve_index_chunks Chunks in the index.\n# TYPE sieve_index_chunks gauge\n";
    out += "sieve_index_chunks " + std::to_string(index.chunks) + "\n";
    out += "# HELP sieve_index_vectors Vectors in the index.\n# TYPE sieve_index_vectors gauge\n";
    out += "sieve_index_vectors " + std::to_string(index.vectors) + "\n";
    out += "# HELP sieve_index_bytes Bytes of the documents.\n# TYPE sieve_index_bytes gauge\n";
    out += "sieve_index_bytes " + std::to_string(index.bytes) + "\n";
  }
  return out;
}

}  // namespace sieve::server
