// cli: the `sieve` command line. main.cpp builds the CLI11 app; each cmd_*.cpp adds its
// subcommands through one Register* function declared here.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/context.h"
#include "core/status.h"

namespace sieve::trace {
class Tracing;
}  // namespace sieve::trace

namespace sieve::cli {

// Exit codes promised by `sieve --help`.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;
inline constexpr int kExitInput = 2;  // bad input; with ingest: something was skipped
inline constexpr int kExitInternal = 3;

struct GlobalOptions {
  std::optional<std::string> index_dir;  // --index: wins over index.dir and SIEVE_INDEX
  std::optional<std::string> store;      // --store: wins over index.store, SIEVE_VECTOR_STORE
  std::string config_file;               // --config: the sieve.toml to read ("" = search)
  bool json = false;
  bool verbose = false;
  // --trace-file PATH / --otlp-endpoint URL (with the OTEL_* and PHOENIX_* variables,
  // trace/trace.h): main starts the exporters after parsing and sets `tracer`; every command puts
  // it on its RequestContexts (null: no tracing). main flushes the exporters before exit.
  std::string trace_file;
  std::string otlp_endpoint;
  Tracer* tracer = nullptr;
  const trace::Tracing* tracing = nullptr;  // the exporters behind `tracer` (their counters)
};

// The configuration a command runs with: the file (--config, else the search of
// config/config.h), then SIEVE_* variables, then `overrides` (the command's own flags as
// ("section.key", value)), then --index as index.dir.
Result<config::Config> LoadCommandConfig(const GlobalOptions& global,
                                         config::Overrides overrides = {});

// Validators for count flags: a whole number of at least 1 (PositiveCount) or 0
// (NonNegativeCount). "-1" is refused with a message naming the flag, never wrapped around.
CLI::Validator PositiveCount();
CLI::Validator NonNegativeCount();
// A number (fractions allowed) greater than 0.
CLI::Validator PositiveAmount();

// --precision fp32|int8 on `sub` into `target`; the commands that take it set models.precision
// from it (ConfigFlags::Set("models.precision", ...)).
void AddPrecisionOption(CLI::App* sub, std::optional<std::string>& target);

// The action a parsed subcommand runs; it returns the process exit code.
using Action = std::function<int()>;

// Each Register* adds subcommands to `app`. When one of them is chosen on the command line, its
// parse callback stores what to run in `action`. Options live in objects captured by the action.
void RegisterIndexCommands(CLI::App& app, const GlobalOptions& global,
                           Action& action);  // ingest search stats check delete
void RegisterEvalCommand(CLI::App& app, const GlobalOptions& global, Action& action);
void RegisterTokenizeCommand(CLI::App& app, const GlobalOptions& global, Action& action);
void RegisterModelCommands(CLI::App& app, const GlobalOptions& global,
                           Action& action);  // embed rerank
void RegisterHubCommands(CLI::App& app, const GlobalOptions& global,
                         Action& action);  // models pull/list
void RegisterAskCommand(CLI::App& app, const GlobalOptions& global, Action& action);
void RegisterServeCommand(CLI::App& app, const GlobalOptions& global, Action& action);
void RegisterWatchCommand(CLI::App& app, const GlobalOptions& global, Action& action);

// kInvalidArgument unless every path is a folder (`watch`, `serve --watch`).
Status CheckWatchFolders(const std::vector<std::string>& folders);

// Maps a failed Status to an exit code and prints "sieve: <message>" on stderr.
int ReportError(const Status& status);
int ExitCodeFor(const Status& status);

}  // namespace sieve::cli
