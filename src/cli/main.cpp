#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "trace/trace.h"

namespace sieve::cli {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kInternal:
      return kExitInternal;
    default:
      return kExitInput;
  }
}

int ReportError(const Status& status) {
  std::cerr << "sieve: " << status.message() << "\n";
  return ExitCodeFor(status);
}

}  // namespace sieve::cli

int main(int argc, char** argv) {
  using namespace sieve::cli;
  CLI::App app{
      "Sieve: retrieval-augmented generation in C++ (BM25 + bi-encoder recall, "
      "cross-encoder rerank, cited answers).\n"
      "Exit codes: 0 success, 1 usage error, 2 input error (or items skipped), "
      "3 internal error."};
  app.set_version_flag("--version", std::string("sieve ") + SIEVE_VERSION);
  app.require_subcommand(1);
  GlobalOptions global;
  app.add_option("--index", global.index_dir,
                 "Index directory (default: index.dir of sieve.toml, $SIEVE_INDEX, else .sieve)");
  app.add_flag("--json", global.json, "Machine-readable JSON output");
  app.add_flag("-v,--verbose", global.verbose, "Say more (e.g. when inputs are truncated)");
  app.add_option("--trace-file", global.trace_file,
                 "Append each request's spans to PATH as OTLP-JSON lines");
  app.add_option("--otlp-endpoint", global.otlp_endpoint,
                 "Export spans over OTLP/HTTP (protobuf) to this collector, e.g. "
                 "http://127.0.0.1:6006 (default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "
                 "$OTEL_EXPORTER_OTLP_ENDPOINT, $PHOENIX_COLLECTOR_ENDPOINT)");

  // Global options may also follow the subcommand: `sieve search q --json`.
  app.fallthrough();
  Action action;
  RegisterIndexCommands(app, global, action);
  RegisterEvalCommand(app, global, action);
  RegisterTokenizeCommand(app, global, action);
  RegisterModelCommands(app, global, action);
  RegisterHubCommands(app, global, action);
  RegisterAskCommand(app, global, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!action) return kExitUsage;

  // Tracing: the exporters run beside the command and get a few seconds to send at exit.
  auto trace_config = sieve::trace::ConfigFromEnvironment(
      sieve::trace::ProcessEnvironment(), {global.otlp_endpoint, global.trace_file, ""});
  if (!trace_config.ok()) return ReportError(trace_config.status());
  std::unique_ptr<sieve::trace::Tracing> tracing;
  if (trace_config->enabled()) {
    sieve::Logger logger([](sieve::LogLevel, std::string_view message) {
      std::cerr << "sieve: note: " << message << "\n";
    });
    auto created = sieve::trace::Tracing::Create(*trace_config, logger);
    if (!created.ok()) return ReportError(created.status());
    tracing = std::move(created).value();
    global.tracer = tracing->tracer();
  }
  int code = kExitInternal;
  try {
    code = action();
  } catch (const std::exception& e) {
    std::cerr << "sieve: internal error: " << e.what() << "\n";
  }
  if (tracing) {
    const sieve::Status flushed = tracing->Shutdown(std::chrono::seconds(5));
    if (!flushed.ok()) std::cerr << "sieve: note: " << flushed.message() << "\n";
  }
  return code;
}
