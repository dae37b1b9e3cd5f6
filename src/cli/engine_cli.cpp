#include "cli/engine_cli.h"

#include <signal.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <set>
#include <string>

namespace sieve::cli {
namespace {

// The one piece of process-wide state: a signal handler can only reach a global, and may only
// store to a lock-free atomic.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void OnStopSignal(int sig) {
  g_stop_signal.store(sig);
}

}  // namespace

void InstallStopSignals() {
  // A flag that a thread polls. (Blocking the signals and sigwait-ing is not enough: threads that
  // started before main, such as OpenBLAS's, would still take them.)
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

int StopSignal() {
  return g_stop_signal.load();
}

std::string FormatWatchSync(const WatchSync& sync) {
  std::string line = "watch: " + sync.reason + ": ";
  if (!sync.status.ok()) return line + "sync failed (retrying): " + sync.status.message();
  const IngestResponse& r = sync.response;
  line += std::to_string(r.documents_added) + " new, " + std::to_string(r.documents_replaced) +
          " changed, " + std::to_string(r.documents_unchanged) + " unchanged, " +
          std::to_string(r.documents_moved) + " moved, " + std::to_string(r.documents_deleted) +
          " deleted, " + std::to_string(r.embedded) + " embedded";
  if (!sync.deferred.empty()) {
    line += "; " + std::to_string(sync.deferred.size()) + " still being written";
  }
  line += "; " + std::to_string(r.skipped.size()) + " failed";
  return line;
}

void PrintWatchSync(const WatchSync& sync, std::set<std::string>& printed) {
  std::cerr << "sieve: " << FormatWatchSync(sync) << "\n";
  for (const auto& skipped : sync.response.skipped) {
    std::string line =
        "sieve: skipped " + (skipped.path.empty() ? "" : skipped.path + ": ") + skipped.reason;
    if (printed.insert(line).second) std::cerr << line << "\n";
  }
  for (const auto& note : sync.response.notes) {
    std::string line = "sieve: note: " + note;
    if (printed.insert(line).second) std::cerr << line << "\n";
  }
  std::cerr.flush();
}

Result<std::unique_ptr<Engine>> OpenEngine(const config::Config& config,
                                           const GlobalOptions& global,
                                           const std::function<void(EngineOptions&)>& adjust) {
  EngineOptions options;
  const bool verbose = global.verbose;
  auto mutex = std::make_shared<std::mutex>();
  options.logger = Logger([verbose, mutex](LogLevel level, std::string_view message) {
    if (!verbose && (level == LogLevel::kDebug || level == LogLevel::kInfo)) return;
    std::lock_guard<std::mutex> lock(*mutex);
    std::cerr << "sieve: " << (level == LogLevel::kWarning ? "warning: " : "note: ") << message
              << "\n";
  });
  if (adjust) adjust(options);
  return Engine::Open(config, options);
}

void PrintNotes(const std::vector<std::string>& notes) {
  for (const auto& note : notes) std::cerr << "sieve: note: " << note << "\n";
}

void IngestProgressBar::operator()(const IngestProgress& progress) {
  if (progress.chunks_to_embed == 0) {
    if (!files_ && progress.files_total > 0) {
      files_ = std::make_unique<ProgressBar>(progress.files_total, "files");
    }
    if (files_) files_->Update(progress.files_done, progress.current);
    return;
  }
  files_.reset();
  if (!chunks_)
    chunks_ = std::make_unique<ProgressBar>(progress.chunks_to_embed, "chunks embedded");
  chunks_->Update(progress.chunks_embedded);
  if (progress.chunks_embedded >= progress.chunks_to_embed) chunks_.reset();
}

void IngestProgressBar::Clear() {
  files_.reset();
  chunks_.reset();
}

}  // namespace sieve::cli
