// server: `sieve serve`, an HTTP front end over sieve::Engine (cpp-httplib). A thin layer: it
// parses requests, calls the engine, and writes the engine's answers in the shapes clients know
// (OpenAI embeddings and chat completions, Cohere/Jina and TEI rerank, TEI embed/tokenize/info),
// plus Sieve's own /v1/query and /v1/documents, /metrics (Prometheus text), /openapi.json and a
// web page at /. Every endpoint is listed with its shapes in docs/server.md and /openapi.json.
//
// What the server adds to the engine, and nothing else: authentication (Bearer keys, a read key
// and an admin key for document writes, compared in constant time), CORS when configured, body
// size limits, a deadline per request (the RequestContext's), dynamic batching of concurrent
// embedding requests and of concurrent rerank requests (a token budget per batch and a short
// wait), bounded queues that answer 429
// with Retry-After when full, one writer queue for document uploads and deletes, metrics, and a
// graceful stop that lets requests in flight finish.
//
// Errors are JSON: {"error": {"message", "type", "code"}} with a 4xx status for anything the
// client sent wrong, 429/503 (with Retry-After) when busy, 504 when the deadline passes.
//
// Thread-safety: Serve() runs on one thread and blocks; Stop() and port() may be called from any
// thread (Stop() from a signal-watching thread is the intended use). The Engine must outlive the
// Server.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "core/log.h"
#include "core/status.h"
#include "sieve/sieve.h"
#include "trace/trace.h"

namespace sieve::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;          // 0 = any free port (port() says which after Bind)
  std::string api_key;      // "" = reads need no key
  std::string admin_key;    // "" = document writes need what reads need
  std::string cors_origin;  // "" = no CORS headers
  std::size_t max_body_bytes = 32u << 20;
  // The embedding batcher and the rerank batcher each use these four.
  std::size_t max_batch_tokens = 8192;    // tokens per embedding (rerank) batch
  std::chrono::milliseconds max_wait{0};  // how long a batch waits for more requests
  std::size_t max_queue = 256;            // waiting model requests (and writes) before 429
  // Embedding (rerank) batches computed at once. Each batch already uses the engine's inference
  // threads, so one keeps the cores busy and lets batches grow while it computes.
  std::size_t batch_workers = 1;
  std::chrono::milliseconds timeout{60000};  // per request
  std::size_t threads =
      0;  // HTTP workers; 0 = max(64, 4 x cores): each keep-alive connection holds one
  std::size_t max_inputs = 2048;  // texts per embedding request, documents per rerank
  // Uploaded files are written here (created when missing); "" = <index.dir>/uploads.
  std::filesystem::path upload_dir;
  // Also gets every span of every request (an exporter, e.g. trace::Tracing::tracer()); null =
  // spans only feed /metrics. Not owned; must outlive the Server. Each request is one trace
  // (continuing the caller's when it sends a W3C `traceparent` header) whose root span is
  // "METHOD /route" with http.* attributes; its id is sent back in a `traceresponse` header.
  Tracer* tracer = nullptr;
  // The exporters' counters (spans exported, failed, dropped, queued), shown in /metrics; empty =
  // no exporter. Called from request threads: must be thread-safe (trace::Tracing::stats is).
  std::function<trace::ExporterStats()> trace_stats;
  Logger logger;  // one line per request at info level, errors at warning level
};

// ServerOptions from the configuration's [server] section (keys and flags in
// docs/configuration.md); API keys come from SIEVE_API_KEY and SIEVE_ADMIN_KEY.
ServerOptions OptionsFromConfig(const config::Config& config);

class Server {
 public:
  // Checks the options and sets up the routes; binds nothing yet.
  static Result<std::unique_ptr<Server>> Create(Engine& engine, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the models (a model the configuration names must load) and binds host:port.
  Status Bind();
  // The bound port (after Bind), else 0. Any thread.
  int port() const;
  // Serves until Stop(); then waits for requests in flight and queued work to finish. Call once,
  // after Bind.
  Status Serve();
  // Stops accepting connections; Serve() returns once requests in flight are done. Any thread;
  // idempotent.
  void Stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sieve::server
