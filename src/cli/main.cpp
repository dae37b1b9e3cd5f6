#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

namespace {

// Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`.
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The first word of the command line that is not an option (nor the value of a global option
// that takes one), or "" when there is none.
std::string FirstCommandWord(CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") return i + 1 < argc ? argv[i + 1] : "";
    if (arg.empty() || arg.front() != '-') return arg;
    if (arg.find('=') != std::string::npos) continue;
    try {
      const CLI::Option* option = app.get_option(arg);
      if (option->get_expected_max() > 0) ++i;  // its value follows
    } catch (const CLI::OptionNotFound&) {
    }
  }
  return "";
}

// "unknown command 'serach' (did you mean 'search'?)" when the command word names no
// subcommand; "" when it does or there is none.
std::string UnknownCommandMessage(CLI::App& app, int argc, char** argv) {
  const std::string word = FirstCommandWord(app, argc, argv);
  if (word.empty()) return "";
  std::string best;
  std::size_t best_distance = 0;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    const std::string& name = sub->get_name();
    if (name == word) return "";
    const std::size_t distance = EditDistance(word, name);
    if (best.empty() || distance < best_distance) {
      best = name;
      best_distance = distance;
    }
  }
  std::string message = "unknown command '";
  message += word;
  message += '\'';
  if (!best.empty() && best_distance <= std::max<std::size_t>(2, word.size() / 3)) {
    message += " (did you mean '";
    message += best;
    message += "'?)";
  }
  message += "; see sieve --help";
  return message;
}

}  // namespace

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
                 "Index directory (default: $SIEVE_INDEX, else index.dir of sieve.toml, else "
                 ".sieve)");
  app.add_option("--store", global.store,
                 "Vector store URI: faiss:DIR (default: the index directory), "
                 "qdrant://HOST:PORT/COLLECTION or qdrants://... (default: $SIEVE_VECTOR_STORE, "
                 "else index.store of sieve.toml)");
  app.add_option("--config", global.config_file,
                 "Configuration file (default: ./sieve.toml, else "
                 "$XDG_CONFIG_HOME/sieve/sieve.toml)");
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
  RegisterServeCommand(app, global, action);
  RegisterWatchCommand(app, global, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0) {
      if (std::string unknown = UnknownCommandMessage(app, argc, argv); !unknown.empty()) {
        std::cerr << "sieve: " << unknown << "\n";
        return kExitUsage;
      }
    }
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
    global.tracing = tracing.get();
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
