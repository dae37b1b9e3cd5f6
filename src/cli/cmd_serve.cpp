// `sieve serve`: the HTTP server (src/server) on the configured index and models, until SIGTERM
// or SIGINT; requests in flight finish before it exits.
#include <atomic>
#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "cli/command.h"
#include "cli/engine_cli.h"
#include "server/server.h"
#include "sieve/watch.h"

namespace sieve::cli {
namespace {

struct ServeCommand {
  std::optional<std::string> host;
  std::optional<int> port;
  std::optional<std::string> api_key;
  std::optional<std::string> admin_key;
  std::optional<std::string> cors_origin;
  std::optional<std::size_t> max_body_mb;
  std::optional<std::size_t> max_batch_tokens;
  std::optional<std::size_t> max_wait_ms;
  std::optional<std::size_t> max_queue;
  std::optional<double> timeout_s;
  std::optional<std::size_t> threads;
  std::optional<std::size_t> batch_workers;
  std::optional<std::string> embed_model;
  std::optional<std::string> rerank_model;
  std::optional<std::string> precision;
  std::vector<std::string> watch;  // folders to follow while serving
};

int RunServe(const ServeCommand& cmd, const GlobalOptions& global) {
  ConfigFlags flags;
  if (cmd.host) flags.Set("server.host", *cmd.host);
  if (cmd.port) flags.Set("server.port", std::to_string(*cmd.port));
  if (cmd.cors_origin) flags.Set("server.cors_origin", *cmd.cors_origin);
  if (cmd.max_body_mb) flags.Set("server.max_body_mb", std::to_string(*cmd.max_body_mb));
  if (cmd.max_batch_tokens) {
    flags.Set("server.max_batch_tokens", std::to_string(*cmd.max_batch_tokens));
  }
  if (cmd.max_wait_ms) flags.Set("server.max_wait_ms", std::to_string(*cmd.max_wait_ms));
  if (cmd.max_queue) flags.Set("server.max_queue", std::to_string(*cmd.max_queue));
  if (cmd.timeout_s) flags.Set("server.timeout", std::to_string(*cmd.timeout_s));
  if (cmd.threads) flags.Set("server.threads", std::to_string(*cmd.threads));
  if (cmd.batch_workers) {
    flags.Set("server.batch_workers", std::to_string(*cmd.batch_workers));
  }
  if (cmd.embed_model) flags.Set("models.embed", *cmd.embed_model);
  if (cmd.rerank_model) flags.Set("models.rerank", *cmd.rerank_model);
  if (cmd.precision) flags.Set("models.precision", *cmd.precision);
  auto config = LoadCommandConfig(global, flags.overrides);
  if (!config.ok()) return ReportError(config.status());
  if (Status folders = CheckWatchFolders(cmd.watch); !folders.ok()) return ReportError(folders);

  InstallStopSignals();  // SIGTERM and SIGINT set a flag the stopper thread polls

  auto mutex = std::make_shared<std::mutex>();
  const bool verbose = global.verbose;
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());

  server::ServerOptions options = server::OptionsFromConfig(*config);
  if (cmd.api_key) options.api_key = *cmd.api_key;
  if (cmd.admin_key) options.admin_key = *cmd.admin_key;
  options.tracer = global.tracer;
  if (global.tracing != nullptr) {
    options.trace_stats = [tracing = global.tracing] { return tracing->stats(); };
  }  // --otlp-endpoint, --trace-file, OTEL_*/PHOENIX_* variables
  options.logger = Logger([verbose, mutex](LogLevel level, std::string_view message) {
    if (!verbose && level != LogLevel::kWarning) return;
    std::lock_guard<std::mutex> lock(*mutex);
    std::cerr << "sieve: " << (level == LogLevel::kWarning ? "warning: " : "") << message << "\n";
  });
  auto server = server::Server::Create(**engine, options);
  if (!server.ok()) return ReportError(server.status());
  Status bound = (*server)->Bind();
  if (!bound.ok()) return ReportError(bound);
  std::cerr << "sieve: serving http://" << options.host << ":" << (*server)->port() << "/ (index "
            << config::IndexDir(*config).string() << "; Ctrl-C or SIGTERM stops)" << std::endl;

  // --watch: the folders are followed on a thread of their own; its syncs are engine writes,
  // serialised with the uploads of the writer queue by the engine's writer lock.
  std::stop_source stop_watch;
  std::thread folder_watcher;
  if (!cmd.watch.empty()) {
    WatchOptions watch;
    watch.folders.assign(cmd.watch.begin(), cmd.watch.end());
    watch.ignore.push_back(config::IndexDir(*config));
    if (!options.upload_dir.empty()) watch.ignore.push_back(options.upload_dir);
    watch.logger = options.logger;
    auto noted = std::make_shared<std::set<std::string>>();  // failures and notes are printed once
    watch.on_sync = [mutex, noted](const WatchSync& sync) {
      std::lock_guard<std::mutex> lock(*mutex);
      PrintWatchSync(sync, *noted);
    };
    Engine* eng = engine->get();
    folder_watcher = std::thread([eng, watch = std::move(watch), mutex, tracer = global.tracer,
                                  token = stop_watch.get_token()] {
      RequestContext ctx;
      ctx.set_stop_token(token);
      ctx.set_tracer(tracer);
      Status watched = Watch(*eng, watch, ctx);
      if (!watched.ok()) {
        std::lock_guard<std::mutex> lock(*mutex);
        std::cerr << "sieve: warning: watch stopped: " << watched.message() << std::endl;
      }
    });
    std::cerr << "sieve: watching " << cmd.watch.size()
              << (cmd.watch.size() == 1 ? " folder" : " folders") << std::endl;
  }

  std::atomic<bool> done{false};
  server::Server* raw = server->get();
  std::thread watcher([&done, raw] {
    while (!done.load()) {
      // Asked again until Serve returns: a stop that lands before listening starts is lost.
      if (StopSignal() != 0) raw->Stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  Status served = (*server)->Serve();
  done = true;
  watcher.join();
  stop_watch.request_stop();
  if (folder_watcher.joinable()) folder_watcher.join();
  if (!served.ok()) return ReportError(served);
  std::cerr << "sieve: stopped" << std::endl;
  return kExitOk;
}

}  // namespace

void RegisterServeCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto cmd = std::make_shared<ServeCommand>();
  auto* sub = app.add_subcommand(
      "serve",
      "HTTP server: OpenAI/TEI/Cohere-compatible embeddings and rerank, /v1/query and chat "
      "completions with citations, documents, /metrics, /openapi.json and a web page at /");
  sub->add_option("--host", cmd->host, "Address to listen on (default 127.0.0.1)");
  sub->add_option("--port", cmd->port, "Port (default 8080; 0 = any free port)")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--api-key", cmd->api_key,
                  "Bearer key every request needs (default: $SIEVE_API_KEY; none = open)");
  sub->add_option("--admin-key", cmd->admin_key,
                  "Bearer key document uploads and deletes need (default: $SIEVE_ADMIN_KEY)");
  sub->add_option("--cors-origin", cmd->cors_origin, "Origin allowed by CORS (default: none)");
  sub->add_option("--max-body-mb", cmd->max_body_mb, "Largest request body in MiB (default 32)");
  sub->add_option("--max-batch-tokens", cmd->max_batch_tokens,
                  "Tokens per embedding or rerank batch (default 8192)");
  sub->add_option(
      "--max-wait-ms", cmd->max_wait_ms,
      "How long a batch waits for more requests (default 0: batches form while the model is busy)");
  sub->add_option("--max-queue", cmd->max_queue,
                  "Waiting requests before 429 + Retry-After (default 256)");
  sub->add_option("--timeout-s", cmd->timeout_s, "Seconds a request may take (default 60)");
  sub->add_option("--threads", cmd->threads, "HTTP worker threads (default: automatic)");
  sub->add_option("--batch-workers", cmd->batch_workers,
                  "Embedding (and rerank) batches computed at once (default 1)");
  sub->add_option("--embed-model", cmd->embed_model, "Bi-encoder: folder or Hub id");
  sub->add_option("--rerank-model", cmd->rerank_model, "Cross-encoder: folder or Hub id");
  AddPrecisionOption(sub, cmd->precision);
  sub->add_option("--watch", cmd->watch,
                  "Also sync this folder and follow its changes while serving, as `sieve watch` "
                  "does (repeatable)");
  sub->callback(
      [cmd, &global, &action] { action = [cmd, &global] { return RunServe(*cmd, global); }; });
}

}  // namespace sieve::cli
