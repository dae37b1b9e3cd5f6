#include "cli/engine_cli.h"

#include <iostream>
#include <mutex>

namespace sieve::cli {

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
