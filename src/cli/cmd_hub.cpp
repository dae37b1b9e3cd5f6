// `sieve models pull|list|path`: the Hugging Face Hub cache from the command line.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/command.h"
#include "models/hub.h"

namespace sieve::cli {
namespace {

std::string HumanSize(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

// One line per file on stderr, redrawn in place at most every 100 ms.
class ProgressBar {
 public:
  void Update(const models::PullProgress& progress) {
    auto now = std::chrono::steady_clock::now();
    bool finished = progress.done >= progress.total;
    if (progress.file != file_) {
      if (!file_.empty() && !ended_) std::cerr << "\n";
      file_ = progress.file;
      ended_ = false;
    } else if (ended_ || (!finished && now - last_draw_ < std::chrono::milliseconds(100))) {
      return;
    }
    last_draw_ = now;
    int percent =
        progress.total == 0 ? 100 : static_cast<int>(100.0 * progress.done / progress.total);
    constexpr int kWidth = 30;
    std::string bar(static_cast<std::size_t>(kWidth * percent / 100), '#');
    bar.resize(kWidth, '.');
    std::cerr << "\r\033[K" << file_ << " [" << bar << "] " << percent << "% "
              << HumanSize(progress.done) << " / " << HumanSize(progress.total) << std::flush;
    if (finished) {
      std::cerr << "\n";
      ended_ = true;
    }
  }
  ~ProgressBar() {
    if (!file_.empty() && !ended_) std::cerr << "\n";
  }

 private:
  std::string file_;
  bool ended_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

struct PullArgs {
  std::string spec;
  std::vector<std::string> include;
  std::string cache_dir;
  double timeout_seconds = 0;
  int retries = 4;
};

int RunPull(const PullArgs& args, const GlobalOptions& global) {
  auto id = models::ParseHubModelId(args.spec);
  if (!id.ok()) return ReportError(id.status());
  models::PullOptions options;
  options.cache_dir = args.cache_dir;
  options.include = args.include;
  options.timeout_seconds = args.timeout_seconds;
  options.max_retries = args.retries;
  std::unique_ptr<ProgressBar> bar;
  if (::isatty(STDERR_FILENO) != 0) {
    bar = std::make_unique<ProgressBar>();
    options.progress = [&bar](const models::PullProgress& p) { bar->Update(p); };
  }
  auto result = models::PullModel(id->repo_id, id->revision, options);
  bar.reset();
  if (!result.ok()) return ReportError(result.status());
  for (const auto& warning : result->warnings) std::cerr << "sieve: warning: " << warning << "\n";
  if (global.json) {
    nlohmann::json out = {{"repo_id", result->repo_id},
                          {"revision", result->revision},
                          {"commit", result->commit},
                          {"path", result->snapshot_dir.string()},
                          {"warnings", result->warnings}};
    out["files"] = nlohmann::json::array();
    for (const auto& file : result->files) {
      out["files"].push_back({{"name", file.name},
                              {"size", file.size},
                              {"etag", file.etag},
                              {"downloaded", file.downloaded}});
    }
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << result->snapshot_dir.string() << "\n";
  }
  return kExitOk;
}

int RunList(const std::string& cache_dir, const GlobalOptions& global) {
  auto models = models::ListCachedModels(cache_dir);
  if (!models.ok()) return ReportError(models.status());
  if (global.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& model : *models) {
      nlohmann::json refs = nlohmann::json::object();
      for (const auto& [ref, commit] : model.refs) refs[ref] = commit;
      out.push_back({{"repo_id", model.repo_id},
                     {"path", model.repo_dir.string()},
                     {"refs", refs},
                     {"snapshots", model.snapshots},
                     {"size_bytes", model.size_bytes}});
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (models->empty()) {
    std::cerr << "no models in " << (cache_dir.empty() ? models::HubCacheDir().string() : cache_dir)
              << "\n";
    return kExitOk;
  }
  for (const auto& model : *models) {
    std::string revisions;
    for (const auto& [ref, commit] : model.refs) {
      revisions += (revisions.empty() ? "" : " ") + ref + "=" + commit.substr(0, 8);
    }
    if (revisions.empty()) revisions = std::to_string(model.snapshots.size()) + " snapshot(s)";
    std::cout << model.repo_id << "\t" << revisions << "\t" << HumanSize(model.size_bytes) << "\n";
  }
  return kExitOk;
}

int RunPath(const std::string& spec, const std::string& cache_dir, const GlobalOptions& global) {
  models::ResolveOptions options;
  options.cache_dir = cache_dir;
  auto path = models::ResolveModel(spec, options);
  if (!path.ok()) return ReportError(path.status());
  if (global.json) {
    std::cout << nlohmann::json{{"spec", spec}, {"path", path->string()}}.dump(2) << "\n";
  } else {
    std::cout << path->string() << "\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterHubCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto* models = app.add_subcommand(
      "models", "Hugging Face Hub models: download them, list the cache, find their folder");
  models->require_subcommand(1);
  const GlobalOptions* globals = &global;

  auto pull_args = std::make_shared<PullArgs>();
  auto* pull = models->add_subcommand(
      "pull",
      "Download a model from the Hub ($HF_ENDPOINT, token from $HF_TOKEN) into the Hugging Face "
      "cache ($HF_HUB_CACHE or $HF_HOME/hub); prints its folder. Resumes interrupted downloads.");
  pull->add_option("model", pull_args->spec, "ORG/NAME[@REVISION], e.g. BAAI/bge-small-en-v1.5")
      ->required();
  pull->add_option("--include", pull_args->include,
                   "Also fetch files matching this glob (repeatable), e.g. 'onnx/*'")
      ->allow_extra_args(false);
  pull->add_option("--timeout", pull_args->timeout_seconds,
                   "Seconds to wait for a connection or for data (default: "
                   "$HF_HUB_DOWNLOAD_TIMEOUT or 10)")
      ->check(CLI::NonNegativeNumber);
  pull->add_option("--retries", pull_args->retries, "Retries of a failed request")
      ->capture_default_str()
      ->check(NonNegativeCount());
  pull->add_option("--cache-dir", pull_args->cache_dir, "Hub cache folder (default: as Python)");
  pull->callback([&action, pull_args, globals] {
    action = [pull_args, globals] { return RunPull(*pull_args, *globals); };
  });

  auto list_cache = std::make_shared<std::string>();
  auto* list = models->add_subcommand("list", "List the models in the Hugging Face cache");
  list->add_option("--cache-dir", *list_cache, "Hub cache folder (default: as Python)");
  list->callback([&action, list_cache, globals] {
    action = [list_cache, globals] { return RunList(*list_cache, *globals); };
  });

  auto path_spec = std::make_shared<std::string>();
  auto path_cache = std::make_shared<std::string>();
  auto* path = models->add_subcommand(
      "path", "Print the folder of a model: a folder, or a Hub id in the cache (no download)");
  path->add_option("model", *path_spec, "Folder or ORG/NAME[@REVISION]")->required();
  path->add_option("--cache-dir", *path_cache, "Hub cache folder (default: as Python)");
  path->callback([&action, path_spec, path_cache, globals] {
    action = [path_spec, path_cache, globals] {
      return RunPath(*path_spec, *path_cache, *globals);
    };
  });
}

}  // namespace sieve::cli
