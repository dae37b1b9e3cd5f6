// trace/trace.h: exporting the spans of RequestContexts (core/context.h) to a collector.
//
//   auto tracing = trace::Tracing::Create(trace::ConfigFromEnvironment(getenv_fn, flags), log);
//   ctx.set_tracer((*tracing)->tracer());     // null when tracing is off
//   ... requests ...
//   (*tracing)->Shutdown(std::chrono::seconds(5));   // flushes what is queued, bounded
//
// Two exporters, each behind its own background thread (BatchTracer): OTLP/HTTP with protobuf
// encoding (POST <endpoint> with Content-Type application/x-protobuf; Arize Phoenix, the
// OpenTelemetry Collector, Jaeger...) and a file of OTLP-JSON lines (one ExportTraceServiceRequest
// per line, as the Collector's file exporter writes them). A request never waits for either:
// Tracer::OnEnd copies the span into a bounded queue and returns; when the queue is full the span
// is dropped and counted (ExporterStats). Each span carries the OpenInference attribute
// `openinference.span.kind` from its SpanKind (nothing for kInternal).
//
// Thread-safety: every method of BatchTracer, MultiTracer and Tracing may be called from any
// thread at once. The free functions are pure.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/context.h"
#include "core/http.h"
#include "core/log.h"
#include "core/status.h"

namespace sieve::trace {

// ---- W3C trace context ----

struct TraceParent {
  std::array<std::uint8_t, 16> trace_id{};
  std::uint64_t span_id = 0;  // the caller's span: the parent of this process's roots
  bool sampled = false;       // trace-flags bit 0
};

// Parses a `traceparent` header ("00-<32 hex>-<16 hex>-<2 hex>"). nullopt when invalid: wrong
// length or separators, upper-case or non-hex digits, version ff, all-zero trace or span id, or
// a version 00 header with trailing data (later versions may carry more after a '-').
std::optional<TraceParent> ParseTraceParent(std::string_view header);
// "00-<trace id>-<span id>-01" (or -00 when not sampled).
std::string FormatTraceParent(const std::array<std::uint8_t, 16>& trace_id, std::uint64_t span_id,
                              bool sampled = true);
// Lower-case hex of a trace id (32 digits) and of a span id (16 digits, most significant first:
// the same bytes the OTLP encodings carry).
std::string TraceIdHex(const std::array<std::uint8_t, 16>& trace_id);
std::string SpanIdHex(std::uint64_t span_id);

// ---- sampling ----

struct Sampler {
  enum class Kind { kAlwaysOn, kAlwaysOff, kTraceIdRatio };
  Kind kind = Kind::kAlwaysOn;
  double ratio = 1.0;  // kTraceIdRatio: the share of traces kept, in [0,1]
  // Decided from the trace id alone, so every span of a trace (in every process using the same
  // ratio) gets the same answer: the low 8 bytes, big-endian, shifted right once, < ratio * 2^63.
  bool Sampled(const std::array<std::uint8_t, 16>& trace_id) const;
};

// ---- encodings ----

using Attributes = std::vector<std::pair<std::string, AttributeValue>>;

struct Resource {
  Attributes attributes;  // service.name, service.version, openinference.project.name, ...
  std::string scope_name = "sieve";
  std::string scope_version;
};

// An ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1) holding `spans` under one
// ResourceSpans and one ScopeSpans, in protobuf wire format. Ids are bytes (16 and 8; an absent
// parent is omitted), times fixed64 nanoseconds since the Unix epoch (end = start + duration),
// OTLP kind INTERNAL, status OK or ERROR with "<code>: <message>", attributes typed (a string
// list becomes an ArrayValue) plus `openinference.span.kind`.
std::string EncodeProtobuf(const Resource& resource, const std::vector<SpanData>& spans);
// The same request in OTLP-JSON (hex ids, int64 and times as decimal strings, enums as numbers),
// on one line without a trailing newline.
std::string EncodeJson(const Resource& resource, const std::vector<SpanData>& spans);

// ---- exporters ----

// Where a batch of spans goes. Called from one background thread at a time.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  // Sends one batch; `ctx` carries the shutdown deadline and cancellation (no tracer). OK when
  // the destination accepted it.
  virtual Status Export(const std::vector<SpanData>& spans, RequestContext& ctx) = 0;
};

struct OtlpHttpOptions {
  std::string endpoint;  // the full traces URL, e.g. http://127.0.0.1:6006/v1/traces
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. authorization
  http::Timeouts timeouts{std::chrono::milliseconds(2000), std::chrono::milliseconds(10000)};
  // Retries connection errors, 5xx, 408 and 429 (honouring Retry-After), as http::RetryPolicy.
  http::RetryPolicy retry;
};
// POSTs EncodeProtobuf batches. A non-2xx answer (after retries) fails the batch.
std::unique_ptr<SpanSink> MakeOtlpHttpSink(OtlpHttpOptions options, Resource resource);
// Appends one EncodeJson line per batch to `path` (created if missing), flushed after each line.
Result<std::unique_ptr<SpanSink>> MakeJsonFileSink(const std::string& path, Resource resource);

// Counters of one exporter; each only grows.
struct ExporterStats {
  std::uint64_t spans_queued = 0;       // accepted by OnEnd
  std::uint64_t spans_exported = 0;     // in batches the sink accepted
  std::uint64_t spans_failed = 0;       // in batches the sink failed (after its retries)
  std::uint64_t spans_dropped = 0;      // refused by OnEnd: queue full or after Shutdown
  std::uint64_t spans_sampled_out = 0;  // not kept by the sampler (not an error)
  std::uint64_t batches_exported = 0;
  std::uint64_t batches_failed = 0;
  std::size_t queue_size = 0;  // spans waiting now
  std::string last_error;      // of the last failed batch ("" when none failed)
};

struct BatchOptions {
  std::size_t max_queue = 2048;           // spans waiting; OnEnd drops beyond this
  std::size_t max_batch = 512;            // spans per Export call
  std::chrono::milliseconds delay{1000};  // a partial batch waits at most this long
  Sampler sampler;
};

// A Tracer that queues ended spans and hands them in batches to a sink from its own thread.
class BatchTracer : public Tracer {
 public:
  BatchTracer(std::unique_ptr<SpanSink> sink, BatchOptions options, Logger logger = {});
  ~BatchTracer() override;  // Shutdown(0): what is still queued is counted as dropped
  BatchTracer(const BatchTracer&) = delete;
  BatchTracer& operator=(const BatchTracer&) = delete;

  // Samples, copies the span into the queue and returns; never waits for the exporter thread
  // (the queue's mutex is held only to push or to take a batch).
  void OnEnd(const SpanData& span) override;
  // Waits until every span queued before this call has been exported or failed, at most
  // `timeout`. kTimeout when the wait ran out.
  Status Flush(std::chrono::milliseconds timeout);
  // Exports what is queued within `timeout` (an export in flight is cancelled when it runs out;
  // spans left are counted as dropped), then stops the thread. Later OnEnd calls drop. Idempotent.
  Status Shutdown(std::chrono::milliseconds timeout);
  ExporterStats stats() const;

 private:
  void Run();

  std::unique_ptr<SpanSink> sink_;
  BatchOptions options_;
  Logger logger_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the exporter thread: work, flush or shutdown
  std::condition_variable done_;  // Flush callers: progress
  std::vector<SpanData> queue_;
  ExporterStats stats_;
  std::chrono::steady_clock::time_point oldest_;  // when the oldest queued span arrived
  std::uint64_t finished_ = 0;                    // spans exported + failed + dropped at shutdown
  std::uint64_t flush_until_ = 0;  // Flush: send partial batches until finished_ reaches this
  bool in_flight_ = false;         // an Export call is running
  bool stopping_ = false;
  std::optional<std::chrono::steady_clock::time_point> stop_deadline_;
  std::stop_source cancel_;  // cancels the export in flight
  std::thread thread_;
};

// Hands each span to several tracers (non-owning; they must outlive it).
class MultiTracer : public Tracer {
 public:
  explicit MultiTracer(std::vector<Tracer*> tracers) : tracers_(std::move(tracers)) {}
  void OnEnd(const SpanData& span) override;

 private:
  std::vector<Tracer*> tracers_;
};

// ---- configuration ----

struct TraceConfig {
  std::string otlp_endpoint;  // full traces URL; "" = no OTLP export
  std::vector<std::pair<std::string, std::string>> otlp_headers;
  std::string trace_file;  // "" = no file
  Resource resource;
  BatchOptions batch;
  http::RetryPolicy retry;
  bool enabled() const { return !otlp_endpoint.empty() || !trace_file.empty(); }
};

// Values the command line or server flags give; each wins over the environment.
struct TraceFlags {
  std::string otlp_endpoint;  // a base URL ("http://host:4318": /v1/traces is added) or a full
                              // URL ending in /v1/traces
  std::string trace_file;
  std::string service_name;
};

// Reads a variable: its value, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// The configuration from `flags` and the standard variables:
//   endpoint: flag > OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) > OTEL_EXPORTER_OTLP_ENDPOINT
//     (+ "/v1/traces") > PHOENIX_COLLECTOR_ENDPOINT (+ "/v1/traces" unless it ends so); none:
//     no OTLP export. OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn OTLP off.
//   headers: OTEL_EXPORTER_OTLP_TRACES_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS ("k=v,k2=v2",
//     percent-decoded), plus "authorization: Bearer $PHOENIX_API_KEY" when set.
//   resource: OTEL_RESOURCE_ATTRIBUTES ("k=v,..."), service.name from flag > OTEL_SERVICE_NAME >
//     OTEL_RESOURCE_ATTRIBUTES > "sieve", service.version and telemetry.sdk.*, and
//     openinference.project.name from PHOENIX_PROJECT_NAME (the project Phoenix files traces in).
//   sampler: OTEL_TRACES_SAMPLER always_on | always_off | traceidratio (+ OTEL_TRACES_SAMPLER_ARG,
//     default 1.0), and the parentbased_* forms taken as their root sampler.
//   queue: OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_SCHEDULE_DELAY (ms).
// kInvalidArgument names the variable when a value does not parse.
Result<TraceConfig> ConfigFromEnvironment(const EnvLookup& env, const TraceFlags& flags = {});
// An EnvLookup over the process environment (std::getenv).
EnvLookup ProcessEnvironment();

// What one process installs: the exporters a TraceConfig asks for and one Tracer over them.
class Tracing {
 public:
  // Opens the trace file and starts the exporter threads. Fails when the file cannot be opened.
  static Result<std::unique_ptr<Tracing>> Create(const TraceConfig& config, Logger logger = {});
  ~Tracing();  // Shutdown(0) of anything still running

  // The Tracer to install on RequestContexts; null when the config enables nothing.
  Tracer* tracer() { return tracer_; }
  // Summed over the exporters (zeros when none).
  ExporterStats stats() const;
  Status Flush(std::chrono::milliseconds timeout);
  // Flushes and stops every exporter within `timeout` in all.
  Status Shutdown(std::chrono::milliseconds timeout);

 private:
  Tracing() = default;
  std::vector<std::unique_ptr<BatchTracer>> exporters_;
  std::unique_ptr<MultiTracer> multi_;
  Tracer* tracer_ = nullptr;
};

}  // namespace sieve::trace
