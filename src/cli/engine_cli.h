// cli/engine_cli.h: how every command reaches the engine: configuration from flags > SIEVE_* >
// sieve.toml > defaults, an Engine opened on it, a logger that prints notes, and the progress bar.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "cli/progress.h"
#include "config/config.h"
#include "sieve/sieve.h"
#include "sieve/watch.h"

namespace sieve::cli {

// Flags of one command that override configuration keys, as ("section.key", value); handed to
// LoadCommandConfig (cli/command.h).
struct ConfigFlags {
  config::Overrides overrides;
  void Set(const char* key, std::string value) { overrides.emplace_back(key, std::move(value)); }
};

// An engine whose logger prints "sieve: note: ..." (and info lines with --verbose) on stderr.
// `adjust` may change the engine options (batch size, input length) before the engine opens.
Result<std::unique_ptr<Engine>> OpenEngine(const config::Config& config,
                                           const GlobalOptions& global,
                                           const std::function<void(EngineOptions&)>& adjust = {});

// The metadata filter of --path-prefix (relative paths are taken from the working directory),
// --type (checked against the known types) and --tag.
Result<Filter> MakeFilter(const std::string& path_prefix, const std::vector<std::string>& types,
                          const std::vector<std::string>& tags);

// Prints each note as "sieve: note: <note>" on stderr.
void PrintNotes(const std::vector<std::string>& notes);

// SIGTERM and SIGINT: after InstallStopSignals they only set a flag, which StopSignal() reads (the
// signal's number; 0 = none yet). `sieve serve` and `sieve watch` poll it to stop cleanly.
void InstallStopSignals();
int StopSignal();

// One line for a sync of `sieve watch` / `serve --watch`: "watch: changes: 1 new, 0 changed, 3
// unchanged, 1 moved, 0 deleted, 2 embedded; 1 still being written; 0 failed", or the error.
std::string FormatWatchSync(const WatchSync& sync);
// Prints that line on stderr, then the sync's failed files and notes, each only the first time
// (`printed` remembers them across syncs).
void PrintWatchSync(const WatchSync& sync, std::set<std::string>& printed);

// Draws ingest/embedding progress on a terminal; the bars exist only while there is work.
class IngestProgressBar {
 public:
  void operator()(const IngestProgress& progress);
  void Clear();

 private:
  std::unique_ptr<ProgressBar> files_;
  std::unique_ptr<ProgressBar> chunks_;
};

}  // namespace sieve::cli
