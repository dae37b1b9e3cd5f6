#include "core/context.h"

#include <random>

namespace sieve {

const char* SpanKindName(SpanKind kind) {
  switch (kind) {
    case SpanKind::kInternal:
      return "INTERNAL";
    case SpanKind::kChain:
      return "CHAIN";
    case SpanKind::kEmbedding:
      return "EMBEDDING";
    case SpanKind::kRetriever:
      return "RETRIEVER";
    case SpanKind::kReranker:
      return "RERANKER";
    case SpanKind::kLlm:
      return "LLM";
  }
  return "INTERNAL";
}

namespace {

// splitmix64: a small, good generator for ids (not for secrets).
std::uint64_t SplitMix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

RequestContext::RequestContext() {
  std::random_device device;
  rng_state_ = (static_cast<std::uint64_t>(device()) << 32) ^ device() ^
               static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  for (std::size_t i = 0; i < trace_id_.size(); i += 8) {
    std::uint64_t word = SplitMix(rng_state_);
    for (std::size_t b = 0; b < 8; ++b)
      trace_id_[i + b] = static_cast<std::uint8_t>(word >> (8 * b));
  }
}

std::optional<std::chrono::milliseconds> RequestContext::remaining() const {
  if (!deadline_) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - Clock::now());
}

Status RequestContext::Check() const {
  if (stop_.stop_requested()) return Status::Cancelled("request cancelled");
  if (deadline_ && Clock::now() >= *deadline_) return Status::Timeout("request deadline passed");
  return Status::Ok();
}

void RequestContext::set_trace_parent(const std::array<std::uint8_t, 16>& trace_id,
                                      std::uint64_t parent_span_id) {
  trace_id_ = trace_id;
  remote_parent_ = parent_span_id;
}

std::uint64_t RequestContext::NewSpanId() {
  std::uint64_t id = 0;
  while (id == 0) id = SplitMix(rng_state_);
  return id;
}

Span RequestContext::StartSpan(std::string name, SpanKind kind) {
  SpanData data;
  data.trace_id = trace_id_;
  data.span_id = NewSpanId();
  data.parent_span_id = current_span_ != 0 ? current_span_ : remote_parent_;
  data.name = std::move(name);
  data.kind = kind;
  data.start = std::chrono::system_clock::now();
  const std::uint64_t previous = current_span_;
  current_span_ = data.span_id;
  return Span(this, std::move(data), previous);
}

Span::Span(RequestContext* context, SpanData data, std::uint64_t previous_current)
    : context_(context),
      data_(std::move(data)),
      steady_start_(std::chrono::steady_clock::now()),
      previous_current_(previous_current) {}

Span::Span(Span&& other) noexcept
    : context_(std::exchange(other.context_, nullptr)),
      data_(std::move(other.data_)),
      steady_start_(other.steady_start_),
      previous_current_(other.previous_current_) {}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    End();
    context_ = std::exchange(other.context_, nullptr);
    data_ = std::move(other.data_);
    steady_start_ = other.steady_start_;
    previous_current_ = other.previous_current_;
  }
  return *this;
}

Span::~Span() {
  End();
}

void Span::SetAttribute(std::string key, AttributeValue value) {
  if (context_ == nullptr || !context_->recording()) return;
  data_.attributes.emplace_back(std::move(key), std::move(value));
}

double Span::elapsed_ms() const {
  if (context_ == nullptr) return data_.duration_ms;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - steady_start_)
      .count();
}

void Span::End(const Status& status) {
  if (context_ == nullptr) return;
  data_.duration_ms = elapsed_ms();
  data_.status = status;
  if (context_->current_span_ == data_.span_id) context_->current_span_ = previous_current_;
  if (context_->tracer_ != nullptr) context_->tracer_->OnEnd(data_);
  context_ = nullptr;
}

void RecordingTracer::OnEnd(const SpanData& span) {
  std::lock_guard<std::mutex> lock(mutex_);
  spans_.push_back(span);
}

std::vector<SpanData> RecordingTracer::spans() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return spans_;
}

void RecordingTracer::Clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  spans_.clear();
}

}  // namespace sieve
