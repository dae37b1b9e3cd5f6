// core/context.h: per-request state that travels through every stage: deadline, cancellation,
// and the tracing hook (spans with timings and attributes).
//
// A RequestContext belongs to one request and is used by one thread at a time (the thread
// running that request); it is never shared between requests. Stages call ctx.Check() between
// units of work and return its Status (kTimeout or kCancelled) when the request should stop, and
// open a Span for their work:
//
//   Span span = ctx.StartSpan("retrieve.lexical", SpanKind::kRetriever);
//   span.SetAttribute("k", std::int64_t{50});
//   ... work ...
//   span.End(status);   // or let it end when it goes out of scope
//
// Spans nest: a span started while another is open in the same context becomes its child. When
// a span ends, the context's Tracer (if any) receives its SpanData. The default is no tracer: a
// span then costs two clock reads. Tracers are shared across requests and threads, so
// Tracer::OnEnd must be thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/status.h"

namespace sieve {

// The OpenInference span kinds (what Phoenix displays); kInternal for everything else.
enum class SpanKind { kInternal, kChain, kEmbedding, kRetriever, kReranker, kLlm };
const char* SpanKindName(SpanKind kind);  // "CHAIN", "EMBEDDING", ... ("INTERNAL" for kInternal)

using AttributeValue =
    std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;

// A finished span, as handed to Tracer::OnEnd.
struct SpanData {
  std::array<std::uint8_t, 16> trace_id{};
  std::uint64_t span_id = 0;
  std::uint64_t parent_span_id = 0;  // 0 = root of its trace (or of this process's part of it)
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  std::chrono::system_clock::time_point start;  // wall clock, for exporters
  double duration_ms = 0;                       // from a steady clock
  std::vector<std::pair<std::string, AttributeValue>> attributes;
  Status status;  // OK unless the span ended with an error
};

class Tracer {
 public:
  virtual ~Tracer() = default;
  // Called once for each span when it ends, from the thread that ended it. Must be thread-safe
  // and must not block for long (exporters queue and return).
  virtual void OnEnd(const SpanData& span) = 0;
  // Whether this tracer uses span attributes. A tracer that only reads names and timings returns
  // false: Span::SetAttribute then drops attributes and stages skip building costly ones
  // (RequestContext::recording()).
  virtual bool records_attributes() const { return true; }
};

class RequestContext;

// An open span. Movable, not copyable; ends (with OK status) when destroyed if End() was not
// called. Only valid while its RequestContext lives.
class Span {
 public:
  Span() = default;  // an inert span: every call does nothing
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span();

  void SetAttribute(std::string key, AttributeValue value);
  // Ends the span; later calls do nothing. `status` marks it failed when not OK.
  void End(const Status& status = Status::Ok());
  // Milliseconds since the span started (its duration once ended).
  double elapsed_ms() const;
  std::uint64_t span_id() const { return data_.span_id; }
  bool active() const { return context_ != nullptr; }

 private:
  friend class RequestContext;
  Span(RequestContext* context, SpanData data, std::uint64_t previous_current);

  RequestContext* context_ = nullptr;
  SpanData data_;
  std::chrono::steady_clock::time_point steady_start_;
  std::uint64_t previous_current_ = 0;  // the context's current span before this one
};

class RequestContext {
 public:
  using Clock = std::chrono::steady_clock;

  // No deadline, no cancellation, no tracer; a fresh random trace id.
  RequestContext();
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  // The request must finish before `deadline`; Check() returns kTimeout after it.
  void set_deadline(Clock::time_point deadline) { deadline_ = deadline; }
  void set_timeout(std::chrono::milliseconds timeout) { deadline_ = Clock::now() + timeout; }
  const std::optional<Clock::time_point>& deadline() const { return deadline_; }
  // Time left before the deadline (nullopt when there is none; zero or negative once passed).
  std::optional<std::chrono::milliseconds> remaining() const;

  // Cancellation: once `token` is stop-requested, Check() returns kCancelled.
  void set_stop_token(std::stop_token token) { stop_ = std::move(token); }
  const std::stop_token& stop_token() const { return stop_; }

  // OK, or kCancelled / kTimeout naming what stopped the request.
  Status Check() const;
  bool stopped() const { return !Check().ok(); }

  // Non-owning; the tracer must outlive the context. Null = no tracing.
  void set_tracer(Tracer* tracer) { tracer_ = tracer; }
  Tracer* tracer() const { return tracer_; }
  // True when span attributes reach a tracer that uses them: stages check it before building
  // costly attributes (retrieved documents, prompts).
  bool recording() const { return tracer_ != nullptr && tracer_->records_attributes(); }

  // Continue a caller's trace (W3C traceparent): spans get this trace id, and roots get
  // `parent_span_id` as their parent.
  void set_trace_parent(const std::array<std::uint8_t, 16>& trace_id, std::uint64_t parent_span_id);
  const std::array<std::uint8_t, 16>& trace_id() const { return trace_id_; }

  // Opens a span, child of the span currently open in this context (if any).
  Span StartSpan(std::string name, SpanKind kind = SpanKind::kInternal);

 private:
  friend class Span;
  std::uint64_t NewSpanId();

  std::optional<Clock::time_point> deadline_;
  std::stop_token stop_;
  Tracer* tracer_ = nullptr;
  std::array<std::uint8_t, 16> trace_id_{};
  std::uint64_t remote_parent_ = 0;
  std::uint64_t current_span_ = 0;
  std::uint64_t rng_state_ = 0;
};

// A Tracer that keeps every span it receives (thread-safe); for `--json` timings and tests.
class RecordingTracer : public Tracer {
 public:
  void OnEnd(const SpanData& span) override;
  std::vector<SpanData> spans() const;  // in the order they ended
  void Clear();

 private:
  mutable std::mutex mutex_;
  std::vector<SpanData> spans_;
};

}  // namespace sieve
