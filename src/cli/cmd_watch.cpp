// `sieve watch FOLDER...`: an initial sync, then the folders' changes followed (inotify,
// debounced; sieve/watch.h) until SIGTERM or SIGINT. Each sync prints one summary line.
#include <atomic>
#include <chrono>
#include <filesystem>
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
#include "engine/json.h"
#include "sieve/watch.h"

namespace sieve::cli {

Status CheckWatchFolders(const std::vector<std::string>& folders) {
  for (const auto& folder : folders) {
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec)) {
      return Status::InvalidArgument(folder + ": not a folder (watch follows folders)");
    }
  }
  return Status::Ok();
}

namespace {

struct WatchCommand {
  std::vector<std::string> folders;
  std::vector<std::string> tags;
  std::string type;
  std::size_t quiet_ms = 500;
  std::size_t max_delay_ms = 5000;
  double settle_s = 30;
  double rescan_s = 60;
  std::optional<double> max_file_mb;
  std::optional<std::string> embed_model;
  std::optional<std::string> precision;
};

int RunWatch(const WatchCommand& cmd, const GlobalOptions& global) {
  ConfigFlags flags;
  if (cmd.max_file_mb) flags.Set("ingest.max_file_mb", std::to_string(*cmd.max_file_mb));
  if (cmd.embed_model) flags.Set("models.embed", *cmd.embed_model);
  if (cmd.precision) flags.Set("models.precision", *cmd.precision);
  auto config = LoadCommandConfig(global, flags.overrides);
  if (!config.ok()) return ReportError(config.status());
  if (Status folders = CheckWatchFolders(cmd.folders); !folders.ok()) return ReportError(folders);
  if (cmd.max_delay_ms < cmd.quiet_ms) {
    return ReportError(Status::InvalidArgument("--max-delay-ms must be at least --quiet-ms"));
  }
  InstallStopSignals();
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());

  auto mutex = std::make_shared<std::mutex>();
  WatchOptions watch;
  watch.folders.assign(cmd.folders.begin(), cmd.folders.end());
  watch.tags = cmd.tags;
  watch.type = cmd.type;
  watch.quiet = std::chrono::milliseconds(cmd.quiet_ms);
  watch.max_delay = std::chrono::milliseconds(cmd.max_delay_ms);
  watch.settle = std::chrono::milliseconds(static_cast<std::int64_t>(cmd.settle_s * 1000));
  watch.rescan = std::chrono::milliseconds(static_cast<std::int64_t>(cmd.rescan_s * 1000));
  watch.ignore.push_back(config::IndexDir(*config));
  watch.logger = Logger([mutex](LogLevel level, std::string_view message) {
    std::lock_guard<std::mutex> lock(*mutex);
    std::cerr << "sieve: " << (level == LogLevel::kWarning ? "warning: " : "note: ") << message
              << "\n";
  });
  const bool json = global.json;
  auto noted = std::make_shared<std::set<std::string>>();  // failures and notes are printed once
  watch.on_sync = [json, mutex, noted](const WatchSync& sync) {
    std::lock_guard<std::mutex> lock(*mutex);
    if (json) {
      nlohmann::json out = sync.status.ok() ? engine::ToJson(sync.response) : nlohmann::json{};
      out["reason"] = sync.reason;
      out["deferred"] = sync.deferred;
      if (!sync.status.ok()) out["error"] = sync.status.message();
      std::cout << engine::Dump(out) << std::endl;
    } else {
      PrintWatchSync(sync, *noted);
    }
  };
  std::cerr << "sieve: watching " << cmd.folders.size()
            << (cmd.folders.size() == 1 ? " folder" : " folders") << " (index "
            << config::IndexDir(*config).string() << "; Ctrl-C or SIGTERM stops)" << std::endl;

  std::stop_source stop;
  std::atomic<bool> done{false};
  std::thread stopper([&done, &stop] {
    while (!done.load()) {
      if (StopSignal() != 0) stop.request_stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  RequestContext ctx;
  ctx.set_stop_token(stop.get_token());
  ctx.set_tracer(global.tracer);
  Status watched = Watch(**engine, watch, ctx);
  done = true;
  stopper.join();
  if (!watched.ok()) return ReportError(watched);
  std::cerr << "sieve: stopped" << std::endl;
  return kExitOk;
}

}  // namespace

void RegisterWatchCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto cmd = std::make_shared<WatchCommand>();
  auto* sub = app.add_subcommand(
      "watch",
      "Sync folders like `ingest`, then follow their changes (inotify) until Ctrl-C or SIGTERM: "
      "new and changed files ingested, vanished ones deleted, moved ones followed without "
      "re-embedding; files still being written wait until closed");
  sub->add_option("folders", cmd->folders, "Folders to follow")->required();
  sub->add_option("--tag", cmd->tags, "Tag the documents (repeatable; replaces their tags)");
  sub->add_option("--type", cmd->type, "Read every file as this type")
      ->check(CLI::IsMember({"text", "markdown", "html", "pdf", "man", "beir"}));
  sub->add_option("--quiet-ms", cmd->quiet_ms,
                  "Sync once no change came for this long (default 500)")
      ->check(NonNegativeCount());
  sub->add_option("--max-delay-ms", cmd->max_delay_ms,
                  "Sync at most this long after the first change, even while changes go on "
                  "(default 5000)")
      ->check(NonNegativeCount());
  sub->add_option("--settle-s", cmd->settle_s,
                  "A file left open by its writer is read once nothing was written to it for "
                  "this long (default 30)")
      ->check(PositiveAmount());
  sub->add_option("--rescan-s", cmd->rescan_s,
                  "Full sync interval once the inotify watch limit is reached (default 60)")
      ->check(PositiveAmount());
  sub->add_option("--max-file-mb", cmd->max_file_mb,
                  "Skip files larger than this (default: ingest.max_file_mb, 100)")
      ->check(PositiveAmount());
  sub->add_option("--embed-model", cmd->embed_model,
                  "Bi-encoder for the new chunks: folder or Hub id (default: the index's)");
  AddPrecisionOption(sub, cmd->precision);
  sub->callback(
      [cmd, &global, &action] { action = [cmd, &global] { return RunWatch(*cmd, global); }; });
}

}  // namespace sieve::cli
